// SPDX-License-Identifier: MIT
/*
 * Bounded MPMC FIFO (the per-slot sequence scheme): slot i is free for the
 * producer of ticket i when seq == i, and full for the consumer of ticket
 * i when seq == i + 1. The CAS on head or tail hands out tickets; the
 * release store on seq publishes the slot. No ABA: tickets never repeat.
 */
#include <errno.h>
#include <stddef.h>

#include "runq_atomic.h"

void rt_atomic_ring_init(struct rt_atomic_ring *r, uint64_t size)
{
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->mask = size - 1;
	for (uint64_t i = 0; i < size; i++)
		atomic_init(&r->slots[i].seq, i);
}

int rt_atomic_ring_push(struct rt_atomic_ring *r, void *item)
{
	uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);

	for (;;) {
		struct rt_atomic_slot *s = &r->slots[pos & r->mask];
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - pos);

		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->tail,
					&pos, pos + 1, memory_order_relaxed,
					memory_order_relaxed)) {
				s->item = item;
				atomic_store_explicit(&s->seq, pos + 1,
						      memory_order_release);
				return 0;
			}
		} else if (diff < 0) {
			return -ENOSPC;
		} else {
			pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
		}
	}
}

void *rt_atomic_ring_pop(struct rt_atomic_ring *r)
{
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);

	for (;;) {
		struct rt_atomic_slot *s = &r->slots[pos & r->mask];
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - (pos + 1));

		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->head,
					&pos, pos + 1, memory_order_relaxed,
					memory_order_relaxed)) {
				void *item = s->item;

				atomic_store_explicit(&s->seq, pos + r->mask + 1,
						      memory_order_release);
				return item;
			}
		} else if (diff < 0) {
			return NULL;
		} else {
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
}

uint64_t rt_atomic_ring_len(struct rt_atomic_ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	return tail > head ? tail - head : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The run queue without rseq: a bounded lock-free MPMC FIFO where every
 * slot carries a sequence number (one CAS per push or pop, any thread).
 */
#ifndef RT_RUNQ_ATOMIC_H
#define RT_RUNQ_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

struct rt_atomic_slot {
	_Atomic uint64_t seq;
	void *item;
};

struct rt_atomic_ring {
	_Atomic uint64_t head __attribute__((aligned(64)));
	_Atomic uint64_t tail __attribute__((aligned(64)));
	uint64_t mask __attribute__((aligned(64)));
	struct rt_atomic_slot slots[];
};

void rt_atomic_ring_init(struct rt_atomic_ring *r, uint64_t size);
int rt_atomic_ring_push(struct rt_atomic_ring *r, void *item);
void *rt_atomic_ring_pop(struct rt_atomic_ring *r);
uint64_t rt_atomic_ring_len(struct rt_atomic_ring *r);

#endif /* RT_RUNQ_ATOMIC_H */

/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU run queues.
 *
 * One bounded FIFO per possible CPU. The queue a thread uses is the one of
 * the CPU it is running on right now, whichever thread that is: in rseq
 * mode push and pop are restartable sequences that commit with one plain
 * store, so they need neither a lock prefix nor a fence. A thief on
 * another CPU fences the owner CPU with a steal flag and a targeted
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) before it touches the
 * queue. Without rseq the same interface runs over lock-free bounded MPMC
 * queues (one CAS per operation).
 */
#ifndef RT_RUNQ_H
#define RT_RUNQ_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86_64/rseq.h"
#include "rtasync.h"

struct rt_runq;
struct rt_atomic_ring;

/*
 * ncpus is the highest possible CPU id plus one, so the rseq cpu_id, which
 * the kernel keeps below that, indexes q[]. Should a thread still see a
 * cpu_id outside it (CPUs made possible after start-up), its pushes and
 * pops go to the spill queue: an atomic MPMC ring any CPU may use. Once
 * anything went there, spilled is set for good, and every queue's length
 * and every empty pop include the spill queue, so nothing is stranded.
 */
struct rt_runqs {
	enum rt_queue_mode mode;	/* RT_QUEUE_RSEQ or RT_QUEUE_ATOMIC */
	unsigned int ncpus;		/* queues, indexed by CPU number */
	unsigned int size;		/* slots per queue */
	struct rt_runq **q;
	const char *reason;		/* why this mode, for humans */
	struct rt_atomic_ring *spill;	/* rseq mode: CPUs beyond ncpus */
	bool spilled;			/* the spill queue was ever used */
};

/* Per-thread tallies the queue operations update; plain, not shared. */
struct rt_runq_stats {
	uint64_t aborts;		/* rseq critical sections restarted */
	uint64_t busy;			/* ops that waited out a thief */
};

/*
 * mode AUTO picks rseq when glibc registered an rseq area and membarrier
 * RSEQ fences can be registered, atomics otherwise. Returns -ENOTSUP for
 * mode RSEQ without rseq, -EINVAL for a size that is not a power of two.
 */
int rt_runqs_init(struct rt_runqs *qs, enum rt_queue_mode mode,
		  unsigned int size);
void rt_runqs_destroy(struct rt_runqs *qs);

/* As rt_runqs_init with ncpus queues, for tests of the spill path. */
int rt__runqs_init_ncpus(struct rt_runqs *qs, enum rt_queue_mode mode,
			 unsigned int size, unsigned int ncpus);
/* The highest CPU in a kernel CPU list ("0-3,8"), or -EINVAL. */
int rt__cpu_list_max(const char *list);

static inline bool rt__runq_spilled(const struct rt_runqs *qs)
{
	return __builtin_expect(__atomic_load_n(&qs->spilled,
						__ATOMIC_RELAXED), 0);
}

int rt__runq_push_slow(struct rt_runqs *qs, void *item,
		       struct rt_runq_stats *st);
void *rt__runq_pop_slow(struct rt_runqs *qs, struct rt_runq_stats *st);

/*
 * Push onto this CPU's queue: 0, or -ENOSPC when it is full. Inline: in
 * rseq mode the common case is one critical section, no call.
 */
static inline int rt_runq_push(struct rt_runqs *qs, void *item,
			       struct rt_runq_stats *st)
{
	if (__builtin_expect(qs->mode == RT_QUEUE_RSEQ, 1)) {
		uint32_t cpu = rt_rseq_cpu();
		int ret;

		if (__builtin_expect(cpu >= qs->ncpus, 0))
			return rt__runq_push_slow(qs, item, st);
		ret = rt_rseq_push((struct rt_rseq_ring *)qs->q[cpu], cpu, item);
		if (__builtin_expect(ret == 0, 1))
			return 0;
		if (ret == -2)
			st->aborts++;
	}
	return rt__runq_push_slow(qs, item, st);
}

/*
 * One pop section on cpu's ring: true when that settles the pop (*item
 * is the item, or NULL: the ring was empty and nothing ever spilled),
 * false when the slow path must finish it, with the section's result in
 * *ret (rt_rseq_pop()).
 */
static inline bool rt__runq_pop_on(struct rt_runqs *qs, struct rt_rseq_ring *r,
				   uint32_t cpu, struct rt_runq_stats *st,
				   void **item, int *ret)
{
	*ret = rt_rseq_pop(r, cpu, item);
	if (__builtin_expect(*ret == 0, 1))
		return true;
	if (*ret == 1 && !rt__runq_spilled(qs)) {
		*item = NULL;
		return true;
	}
	if (*ret == -2)
		st->aborts++;
	return false;
}

/* Pop from this CPU's queue (FIFO): the item, or NULL when empty. */
static inline void *rt_runq_pop(struct rt_runqs *qs, struct rt_runq_stats *st)
{
	if (__builtin_expect(qs->mode == RT_QUEUE_RSEQ, 1)) {
		uint32_t cpu = rt_rseq_cpu();
		void *item;
		int ret;

		if (__builtin_expect(cpu >= qs->ncpus, 0))
			return rt__runq_pop_slow(qs, st);
		if (rt__runq_pop_on(qs, (struct rt_rseq_ring *)qs->q[cpu], cpu,
				    st, &item, &ret))
			return item;
	}
	return rt__runq_pop_slow(qs, st);
}

/*
 * A worker's own pushes and pops go through the CPU it ran on last and
 * that CPU's queue, kept beside the worker (a worker seldom moves): the
 * common case then reads neither the mode, nor the rseq area's cpu_id
 * before the section, nor the queue table. The section itself checks
 * the CPU, so a worker that moved aborts there, and the cache is filled
 * again before the op is retried the usual way; a full or empty ring
 * (with work spilled) or a thief goes straight to the slow path, as the
 * usual way would. ring is NULL until it is filled, and stays NULL
 * outside rseq mode.
 */
struct rt_runq_cache {
	struct rt_rseq_ring *ring;
	uint32_t cpu;
};

void rt__runq_cache_fill(struct rt_runqs *qs, struct rt_runq_cache *c);

/* rt_runq_push() through the worker's cache. */
static inline int rt_runq_push_cached(struct rt_runqs *qs,
				      struct rt_runq_cache *c, void *item,
				      struct rt_runq_stats *st)
{
	if (__builtin_expect(c->ring != NULL, 1)) {
		int ret = rt_rseq_push(c->ring, c->cpu, item);

		if (__builtin_expect(ret == 0, 1))
			return 0;
		if (ret == 1 || ret == -1)	/* full, or a thief: the
						   cache is right */
			return rt__runq_push_slow(qs, item, st);
		if (ret == -2)
			st->aborts++;
	}
	rt__runq_cache_fill(qs, c);
	return rt_runq_push(qs, item, st);
}

/* rt_runq_pop() through the worker's cache. */
static inline void *rt_runq_pop_cached(struct rt_runqs *qs,
				       struct rt_runq_cache *c,
				       struct rt_runq_stats *st)
{
	void *item;
	int ret;

	if (__builtin_expect(c->ring != NULL, 1)) {
		if (rt__runq_pop_on(qs, c->ring, c->cpu, st, &item, &ret))
			return item;
		if (ret == 1 || ret == -1)	/* spilled, or a thief: the
						   cache is right */
			return rt__runq_pop_slow(qs, st);
	}
	rt__runq_cache_fill(qs, c);
	return rt_runq_pop(qs, st);
}

/* The CPU whose queue this thread uses now. */
int rt_runq_cpu(struct rt_runqs *qs);

/* Pops from cpu's queue so far (a racy hint: is its owner moving?). */
uint64_t rt_runq_pops(struct rt_runqs *qs, unsigned int cpu);

/* Items queued on cpu (a racy hint for thieves). */
unsigned int rt_runq_len(struct rt_runqs *qs, unsigned int cpu);

/*
 * Move up to half of cpu's queue (at most max) into out, oldest first.
 * Safe from any thread. Returns how many were taken.
 */
unsigned int rt_runq_steal(struct rt_runqs *qs, unsigned int cpu,
			   void **out, unsigned int max);

#endif /* RT_RUNQ_H */

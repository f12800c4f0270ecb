// SPDX-License-Identifier: MIT
/*
 * Per-CPU run queues: mode selection, the rseq fast paths and stealing.
 *
 * In rseq mode the owner side (any thread on the queue's CPU) never
 * executes an atomic instruction. A thief takes the queue away from its
 * CPU in two steps: it sets the ring's steal flag (an atomic, on the thief
 * side), then membarrier(PRIVATE_EXPEDITED_RSEQ, FLAG_CPU, cpu) makes
 * every critical section in flight on that CPU restart. A restarted or
 * newly started section sees the flag and backs off, so after the fence
 * the thief owns head and tail until it clears the flag.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "runq.h"
#include "runq_atomic.h"

/* Atomic mode: the CPU queue this thread last used. */
static __thread int runq_cpu_cache = -1;

static int sys_membarrier(int cmd, unsigned int flags, int cpu)
{
	return (int)syscall(__NR_membarrier, cmd, flags, cpu);
}

static bool rseq_registered(void)
{
	if (__rseq_size == 0)
		return false;
	/* cpu_id is -1 before registration, -2 when it failed. */
	return (int32_t)rt_rseq_cpu() >= 0;
}

/* Pick the mode and say why, for rt_runtime_queue_reason(). */
static int choose_mode(struct rt_runqs *qs, enum rt_queue_mode want)
{
	if (want == RT_QUEUE_ATOMIC) {
		qs->mode = RT_QUEUE_ATOMIC;
		qs->reason = "atomic queues requested by the configuration";
		return 0;
	}
	if (!rseq_registered()) {
		qs->reason = "glibc registered no rseq area (glibc.pthread.rseq=0 or no kernel support)";
		goto no_rseq;
	}
	if (sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0)) {
		qs->reason = "membarrier RSEQ fences unavailable, so stealing could not be fenced";
		goto no_rseq;
	}
	qs->mode = RT_QUEUE_RSEQ;
	qs->reason = "rseq registered by glibc; membarrier RSEQ fences for steals";
	return 0;
no_rseq:
	if (want == RT_QUEUE_RSEQ)
		return -ENOTSUP;
	qs->mode = RT_QUEUE_ATOMIC;
	return 0;
}

static void *ring_alloc(enum rt_queue_mode mode, unsigned int size)
{
	size_t bytes;
	void *p;

	if (mode == RT_QUEUE_RSEQ)
		bytes = sizeof(struct rt_rseq_ring) + size * sizeof(void *);
	else
		bytes = sizeof(struct rt_atomic_ring) +
			size * sizeof(struct rt_atomic_slot);
	if (posix_memalign(&p, 64, bytes))
		return NULL;
	if (mode == RT_QUEUE_RSEQ) {
		struct rt_rseq_ring *r = p;

		r->head = r->tail = 0;
		r->mask = size - 1;
		r->steal = 0;
	} else {
		rt_atomic_ring_init(p, size);
	}
	return p;
}

int rt_runqs_init(struct rt_runqs *qs, enum rt_queue_mode mode,
		  unsigned int size)
{
	int ret;

	if (size < 2 || (size & (size - 1)))
		return -EINVAL;
	ret = choose_mode(qs, mode);
	if (ret)
		return ret;
	qs->ncpus = (unsigned int)get_nprocs_conf();
	qs->size = size;
	qs->q = calloc(qs->ncpus, sizeof(*qs->q));
	if (!qs->q)
		return -ENOMEM;
	for (unsigned int i = 0; i < qs->ncpus; i++) {
		qs->q[i] = ring_alloc(qs->mode, size);
		if (!qs->q[i]) {
			rt_runqs_destroy(qs);
			return -ENOMEM;
		}
	}
	return 0;
}

void rt_runqs_destroy(struct rt_runqs *qs)
{
	if (!qs->q)
		return;
	for (unsigned int i = 0; i < qs->ncpus; i++)
		free(qs->q[i]);
	free(qs->q);
	qs->q = NULL;
}


/* Atomic mode has no "current CPU" guarantee; any queue is safe, so use
 * the CPU we last saw, refreshed now and then to follow migrations. */
static unsigned int atomic_cpu(struct rt_runqs *qs)
{
	static __thread unsigned int uses;

	if (runq_cpu_cache < 0 || (++uses & 1023) == 0) {
		int cpu = sched_getcpu();

		runq_cpu_cache = cpu < 0 ? 0 : cpu;
	}
	return (unsigned int)runq_cpu_cache % qs->ncpus;
}

/* A thief holds this ring: wait it out (it is brief, but it may be
 * preempted on our CPU, so do not spin forever). */
static void wait_for_thief(struct rt_rseq_ring *r)
{
	for (unsigned int spins = 0;
	     __atomic_load_n(&r->steal, __ATOMIC_ACQUIRE); spins++) {
		if (spins < 64)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

int rt_runq_cpu(struct rt_runqs *qs)
{
	if (qs->mode == RT_QUEUE_RSEQ)
		return (int)rt_rseq_cpu();
	return (int)atomic_cpu(qs);
}

/* The retry loops behind the inline fast paths in runq.h. */
static int rseq_push(struct rt_runqs *qs, void *item, struct rt_runq_stats *st)
{
	for (;;) {
		uint32_t cpu = rt_rseq_cpu();
		struct rt_rseq_ring *r = (struct rt_rseq_ring *)qs->q[cpu];
		int ret = rt_rseq_push(r, cpu, item);

		if (__builtin_expect(ret == 0, 1))
			return 0;
		if (ret == 1)
			return -ENOSPC;
		if (ret == -1) {
			st->busy++;
			wait_for_thief(r);
		} else {
			st->aborts++;
		}
	}
}

static void *rseq_pop(struct rt_runqs *qs, struct rt_runq_stats *st)
{
	for (;;) {
		uint32_t cpu = rt_rseq_cpu();
		struct rt_rseq_ring *r = (struct rt_rseq_ring *)qs->q[cpu];
		void *item;
		int ret = rt_rseq_pop(r, cpu, &item);

		if (__builtin_expect(ret == 0, 1))
			return item;
		if (ret == 1)
			return NULL;
		if (ret == -1) {
			st->busy++;
			wait_for_thief(r);
		} else {
			st->aborts++;
		}
	}
}

int rt__runq_push_slow(struct rt_runqs *qs, void *item,
		       struct rt_runq_stats *st)
{
	if (qs->mode == RT_QUEUE_RSEQ)
		return rseq_push(qs, item, st);
	return rt_atomic_ring_push((struct rt_atomic_ring *)qs->q[atomic_cpu(qs)],
				   item);
}

void *rt__runq_pop_slow(struct rt_runqs *qs, struct rt_runq_stats *st)
{
	if (qs->mode == RT_QUEUE_RSEQ)
		return rseq_pop(qs, st);
	return rt_atomic_ring_pop((struct rt_atomic_ring *)qs->q[atomic_cpu(qs)]);
}

unsigned int rt_runq_len(struct rt_runqs *qs, unsigned int cpu)
{
	if (qs->mode == RT_QUEUE_RSEQ) {
		struct rt_rseq_ring *r = (struct rt_rseq_ring *)qs->q[cpu];
		uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
		uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);

		return tail > head ? (unsigned int)(tail - head) : 0;
	}
	return (unsigned int)rt_atomic_ring_len((struct rt_atomic_ring *)qs->q[cpu]);
}

static unsigned int rseq_steal(struct rt_rseq_ring *r, unsigned int cpu,
			       void **out, unsigned int max)
{
	uint32_t free_flag = 0;
	uint64_t head, len, n;

	if (!__atomic_compare_exchange_n(&r->steal, &free_flag, 1, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return 0;	/* another thief is at it */
	if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
			   MEMBARRIER_CMD_FLAG_CPU, (int)cpu)) {
		__atomic_store_n(&r->steal, 0, __ATOMIC_RELEASE);
		return 0;
	}
	/* The owner CPU is fenced: head and tail are ours until release. */
	head = r->head;
	len = r->tail - head;
	n = (len + 1) / 2;
	if (n > max)
		n = max;
	for (uint64_t i = 0; i < n; i++)
		out[i] = r->slots[(head + i) & r->mask];
	r->head = head + n;
	__atomic_store_n(&r->steal, 0, __ATOMIC_RELEASE);
	return (unsigned int)n;
}

static unsigned int atomic_steal(struct rt_atomic_ring *r, void **out,
				 unsigned int max)
{
	unsigned int n = (unsigned int)((rt_atomic_ring_len(r) + 1) / 2);
	unsigned int got = 0;

	if (n > max)
		n = max;
	while (got < n && (out[got] = rt_atomic_ring_pop(r)))
		got++;
	return got;
}

unsigned int rt_runq_steal(struct rt_runqs *qs, unsigned int cpu,
			   void **out, unsigned int max)
{
	if (cpu >= qs->ncpus || !max || !rt_runq_len(qs, cpu))
		return 0;
	if (qs->mode == RT_QUEUE_RSEQ)
		return rseq_steal((struct rt_rseq_ring *)qs->q[cpu], cpu, out, max);
	return atomic_steal((struct rt_atomic_ring *)qs->q[cpu], out, max);
}

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
#include <stdio.h>
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

int rt__cpu_list_max(const char *list)
{
	long max = -1;

	while (*list && *list != '\n') {
		char *end;
		long v;

		if (*list < '0' || *list > '9')
			return -EINVAL;
		v = strtol(list, &end, 10);
		if (v > INT32_MAX)
			return -EINVAL;
		if (v > max)
			max = v;
		list = end;
		if (*list == '-' || *list == ',')
			list++;
	}
	return max < 0 ? -EINVAL : (int)max;
}

/*
 * Queues for every CPU id the kernel can hand out: the highest possible
 * CPU plus one. get_nprocs_conf() counts the CPUs instead, which is less
 * when the ids have holes (possible = "0-3,8-11").
 */
static unsigned int cpus_possible(void)
{
	char buf[256];
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	int max = -EINVAL;
	int n = get_nprocs_conf();

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			max = rt__cpu_list_max(buf);
		fclose(f);
	}
	if (max + 1 > n)
		n = max + 1;
	return n > 0 ? (unsigned int)n : 1;
}

int rt__runqs_init_ncpus(struct rt_runqs *qs, enum rt_queue_mode mode,
			 unsigned int size, unsigned int ncpus)
{
	int ret;

	if (size < 2 || (size & (size - 1)) || !ncpus)
		return -EINVAL;
	ret = choose_mode(qs, mode);
	if (ret)
		return ret;
	qs->ncpus = ncpus;
	qs->size = size;
	qs->spilled = false;
	qs->spill = NULL;
	qs->q = calloc(qs->ncpus, sizeof(*qs->q));
	if (!qs->q)
		return -ENOMEM;
	for (unsigned int i = 0; i < qs->ncpus; i++) {
		qs->q[i] = ring_alloc(qs->mode, size);
		if (!qs->q[i])
			goto err_destroy;
	}
	if (qs->mode == RT_QUEUE_RSEQ) {
		qs->spill = ring_alloc(RT_QUEUE_ATOMIC, size);
		if (!qs->spill)
			goto err_destroy;
	}
	return 0;
err_destroy:
	rt_runqs_destroy(qs);
	return -ENOMEM;
}

int rt_runqs_init(struct rt_runqs *qs, enum rt_queue_mode mode,
		  unsigned int size)
{
	return rt__runqs_init_ncpus(qs, mode, size, cpus_possible());
}

void rt_runqs_destroy(struct rt_runqs *qs)
{
	if (!qs->q)
		return;
	for (unsigned int i = 0; i < qs->ncpus; i++)
		free(qs->q[i]);
	free(qs->q);
	free(qs->spill);
	qs->q = NULL;
	qs->spill = NULL;
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
	/* any queue will do, so a CPU beyond ncpus just wraps */
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

void rt__runq_cache_fill(struct rt_runqs *qs, struct rt_runq_cache *c)
{
	uint32_t cpu;

	c->ring = NULL;
	if (qs->mode != RT_QUEUE_RSEQ)
		return;
	cpu = rt_rseq_cpu();
	if (cpu < qs->ncpus) {
		c->cpu = cpu;
		c->ring = (struct rt_rseq_ring *)qs->q[cpu];
	}
}

int rt_runq_cpu(struct rt_runqs *qs)
{
	if (qs->mode == RT_QUEUE_RSEQ)
		return (int)rt_rseq_cpu();
	return (int)atomic_cpu(qs);
}

/* A CPU id beyond ncpus: the shared spill queue (see runq.h). */
static int spill_push(struct rt_runqs *qs, void *item)
{
	if (!__atomic_load_n(&qs->spilled, __ATOMIC_RELAXED))
		__atomic_store_n(&qs->spilled, true, __ATOMIC_RELAXED);
	return rt_atomic_ring_push(qs->spill, item);
}

static void *spill_pop(struct rt_runqs *qs)
{
	if (!rt__runq_spilled(qs))
		return NULL;
	return rt_atomic_ring_pop(qs->spill);
}

/* The retry loops behind the inline fast paths in runq.h. */
static int rseq_push(struct rt_runqs *qs, void *item, struct rt_runq_stats *st)
{
	for (;;) {
		uint32_t cpu = rt_rseq_cpu();
		struct rt_rseq_ring *r;
		int ret;

		if (cpu >= qs->ncpus)
			return spill_push(qs, item);
		r = (struct rt_rseq_ring *)qs->q[cpu];
		ret = rt_rseq_push(r, cpu, item);

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
		struct rt_rseq_ring *r;
		void *item;
		int ret;

		if (cpu >= qs->ncpus)
			return spill_pop(qs);
		r = (struct rt_rseq_ring *)qs->q[cpu];
		ret = rt_rseq_pop(r, cpu, &item);
		if (__builtin_expect(ret == 0, 1))
			return item;
		if (ret == 1)
			return spill_pop(qs);
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

static unsigned int rseq_len(struct rt_runqs *qs, unsigned int cpu)
{
	struct rt_rseq_ring *r;
	uint64_t tail, head;

	if (cpu >= qs->ncpus)
		return 0;
	r = (struct rt_rseq_ring *)qs->q[cpu];
	tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	return tail > head ? (unsigned int)(tail - head) : 0;
}

/* In rseq mode the spill queue counts as part of every CPU's queue. */
unsigned int rt_runq_len(struct rt_runqs *qs, unsigned int cpu)
{
	if (qs->mode == RT_QUEUE_RSEQ) {
		unsigned int n = rseq_len(qs, cpu);

		if (rt__runq_spilled(qs))
			n += (unsigned int)rt_atomic_ring_len(qs->spill);
		return n;
	}
	return (unsigned int)rt_atomic_ring_len(
		(struct rt_atomic_ring *)qs->q[cpu % qs->ncpus]);
}

/* How many pops cpu's queue has seen: its owner's progress, for thieves. */
uint64_t rt_runq_pops(struct rt_runqs *qs, unsigned int cpu)
{
	if (cpu >= qs->ncpus)
		return 0;
	if (qs->mode == RT_QUEUE_RSEQ)
		return __atomic_load_n(&((struct rt_rseq_ring *)qs->q[cpu])->head,
				       __ATOMIC_RELAXED);
	return atomic_load_explicit(&((struct rt_atomic_ring *)qs->q[cpu])->head,
				    memory_order_relaxed);
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
	void *q;

	if (cpu >= qs->ncpus || !max)
		return 0;
	q = qs->q[cpu];
	/* not rt_runq_len: the spill queue is no reason to fence a CPU */
	if (qs->mode == RT_QUEUE_RSEQ)
		return rseq_len(qs, cpu) ? rseq_steal(q, cpu, out, max) : 0;
	return rt_atomic_ring_len(q) ? atomic_steal(q, out, max) : 0;
}

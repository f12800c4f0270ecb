/* SPDX-License-Identifier: MIT */
/*
 * runq: a push+pop pair on this CPU's run queue, single thread, the fast
 * path every spawn, yield and wake-up takes. librtasync's queue in rseq
 * mode (restartable sequence, plain stores) against the same queue in
 * atomic mode (lock cmpxchg) and against a ring behind a pthread mutex.
 *
 * A third row takes the call boundary away: the runtime's rseq
 * critical sections (runtime/arch) inlined into the loop, against one
 * inline lock cmpxchg per operation on a ring of the same shape. Together
 * they split the queue's cost into the mechanism and the function around
 * it (mode switch, CPU lookup, stats).
 *
 * The thread is pinned so every pair hits one queue; rseq's correctness
 * does not depend on it, only the stability of the number does.
 */
#include <errno.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "bench_rt.h"
#include "peers.h"
#include "runq.h"
#include "arch/x86_64/rseq.h"

#define PAIRS		10000000
#define QUEUE_SIZE	256

struct q_arg {
	struct rt_runqs qs;
	struct rt_runq_stats st;
	uint64_t n;
};

static double q_sample(void *arg)
{
	struct q_arg *a = arg;
	static int token;
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < a->n; i++) {
		if (rt_runq_push(&a->qs, &token, &a->st) < 0)
			return -ENOSPC;
		if (rt_runq_pop(&a->qs, &a->st) != &token)
			return -EPROTO;
	}
	return (double)(bench_now_ns() - t0) / (double)a->n;
}

/*
 * The ops a worker makes on its own queue (rt_runq_push_cached/pop_cached):
 * the CPU and its ring come from the worker's cache, so neither the mode,
 * nor the rseq area's cpu_id before the section, nor the queue table is
 * read; the section still checks the CPU.
 */
static double cached_sample(void *arg)
{
	struct q_arg *a = arg;
	struct rt_runq_cache c = { NULL, 0 };
	static int token;
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < a->n; i++) {
		if (rt_runq_push_cached(&a->qs, &c, &token, &a->st) < 0)
			return -ENOSPC;
		if (rt_runq_pop_cached(&a->qs, &c, &a->st) != &token)
			return -EPROTO;
	}
	return (double)(bench_now_ns() - t0) / (double)a->n;
}

struct ring_arg {
	struct peer_ring *ring;
	uint64_t n;
};

static double ring_sample(void *arg)
{
	struct ring_arg *a = arg;
	static int token;
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < a->n; i++) {
		if (peer_ring_push(a->ring, &token) < 0)
			return -ENOSPC;
		if (peer_ring_pop(a->ring) != &token)
			return -EPROTO;
	}
	return (double)(bench_now_ns() - t0) / (double)a->n;
}

/* ---- the mechanisms alone, inline ------------------------------------------ */

struct inline_arg {
	struct rt_rseq_ring **rings;	/* one per possible CPU */
	unsigned int ncpus;
	uint64_t n, aborts;
};

static double inline_rseq_sample(void *arg)
{
	struct inline_arg *a = arg;
	static int token;
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < a->n; i++) {
		uint32_t cpu;
		void *item;
		int ret;

		do {
			cpu = rt_rseq_cpu();
			ret = rt_rseq_push(a->rings[cpu], cpu, &token);
		} while (ret == -2 && ++a->aborts);
		if (ret)
			return -EPROTO;
		do {
			cpu = rt_rseq_cpu();
			ret = rt_rseq_pop(a->rings[cpu], cpu, &item);
		} while (ret == -2 && ++a->aborts);
		if (ret || item != &token)
			return -EPROTO;
	}
	return (double)(bench_now_ns() - t0) / (double)a->n;
}

/* One lock cmpxchg per operation, the mechanism of RT_QUEUE_ATOMIC. */
struct cas_ring {
	uint64_t head, tail, mask;
	void *slots[QUEUE_SIZE];
};

static inline int cas_push(struct cas_ring *r, void *item)
{
	uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);

	do {
		if (t - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) > r->mask)
			return -ENOSPC;
		r->slots[t & r->mask] = item;
	} while (!__atomic_compare_exchange_n(&r->tail, &t, t + 1, false,
					      __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	return 0;
}

static inline void *cas_pop(struct cas_ring *r)
{
	uint64_t h = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	void *item;

	do {
		if (h == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE))
			return NULL;
		item = r->slots[h & r->mask];
	} while (!__atomic_compare_exchange_n(&r->head, &h, h + 1, false,
					      __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	return item;
}

struct cas_arg {
	struct cas_ring *ring;
	uint64_t n;
};

static double inline_cas_sample(void *arg)
{
	struct cas_arg *a = arg;
	static int token;
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < a->n; i++) {
		if (cas_push(a->ring, &token) < 0)
			return -ENOSPC;
		if (cas_pop(a->ring) != &token)
			return -EPROTO;
	}
	return (double)(bench_now_ns() - t0) / (double)a->n;
}

/* A cache-line aligned, zeroed block (aligned_alloc wants whole lines). */
static void *line_alloc(size_t size)
{
	size_t bytes = (size + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, bytes);

	if (p)
		memset(p, 0, bytes);
	return p;
}

/* Inline rseq sections vs inline lock cmpxchg: one row. */
static void measure_inline(uint64_t n)
{
	struct inline_arg ia = { .n = n };
	struct cas_arg ca = { .n = n };
	struct bench_result r;
	int err = 0;

	bench_result_init(&r, "runq", "push+pop, rseq sections inlined",
			  "lock cmpxchg per op, inlined", "ns/pair",
			  BENCH_LOWER);
	snprintf(r.label, sizeof(r.label), "rseq vs cmpxchg, inlined");
	ca.ring = line_alloc(sizeof(*ca.ring));
	ia.ncpus = (unsigned int)get_nprocs_conf();
	ia.rings = calloc(ia.ncpus, sizeof(*ia.rings));
	if (!ca.ring || !ia.rings) {
		err = -ENOMEM;
		goto out;
	}
	ca.ring->mask = QUEUE_SIZE - 1;
	for (unsigned int i = 0; i < ia.ncpus; i++) {
		ia.rings[i] = line_alloc(sizeof(struct rt_rseq_ring) +
					 QUEUE_SIZE * sizeof(void *));
		if (!ia.rings[i]) {
			err = -ENOMEM;
			goto out;
		}
		ia.rings[i]->mask = QUEUE_SIZE - 1;
	}
	err = bench_measure(inline_cas_sample, &ca, &r.other);
	if (err < 0)
		bench_note(&r, "cmpxchg ring: %s", strerror(-err));
	if (!__rseq_size || (int32_t)rt_rseq_cpu() < 0) {
		bench_rt_fail(&r, "rseq sections", -ENOTSUP);
		goto out;
	}
	err = bench_measure(inline_rseq_sample, &ia, &r.rt);
	if (err < 0)
		bench_rt_fail(&r, "rseq sections", err);
	bench_note(&r, "the mechanisms without the call around them; "
		   "%llu aborts", (unsigned long long)ia.aborts);
out:
	if (err == -ENOMEM)
		bench_note(&r, "out of memory");
	if (ia.rings)
		for (unsigned int i = 0; i < ia.ncpus; i++)
			free(ia.rings[i]);
	free(ia.rings);
	free(ca.ring);
	bench_emit(&r);
}

/* Measure one queue mode's ops (sample) into st; the reason or error goes
 * to why. */
static int measure_mode(enum rt_queue_mode mode, double (*sample)(void *),
			uint64_t n, struct bench_stat *st, uint64_t *aborts,
			char *why, size_t whylen)
{
	struct q_arg a = { .n = n };
	int err;

	err = rt_runqs_init(&a.qs, mode, QUEUE_SIZE);
	if (err < 0) {
		snprintf(why, whylen, "rt_runqs_init(%s)",
			 rt_queue_mode_name(mode));
		return err;
	}
	snprintf(why, whylen, "%s", a.qs.reason ? a.qs.reason : "");
	err = bench_measure(sample, &a, st);
	*aborts = a.st.aborts;
	rt_runqs_destroy(&a.qs);
	return err;
}

/* A worker's own ops, rseq mode against atomic mode: one row. */
static void measure_cached(uint64_t n)
{
	struct bench_result r;
	uint64_t aborts = 0, unused;
	char why[128];
	int err;

	bench_result_init(&r, "runq", "push+pop, a worker's own ops, rseq",
			  "the same ops, atomic mode", "ns/pair", BENCH_LOWER);
	snprintf(r.label, sizeof(r.label), "runq own ops rseq vs atomic");
	err = measure_mode(RT_QUEUE_RSEQ, cached_sample, n, &r.rt, &aborts,
			   why, sizeof(why));
	if (err < 0)
		bench_rt_fail(&r, why, err);
	else
		bench_note(&r, "rt_runq_push_cached/pop_cached, the path of "
			   "spawn, yield and wake-up on a worker; %llu aborts",
			   (unsigned long long)aborts);
	err = measure_mode(RT_QUEUE_ATOMIC, cached_sample, n, &r.other,
			   &unused, why, sizeof(why));
	if (err < 0)
		bench_note(&r, "atomic mode not measured: %s: %s", why,
			   strerror(-err));
	bench_emit(&r);
}

void bench_runq(void)
{
	uint64_t n = bench_iters(PAIRS, 100000);
	struct ring_arg ring = { .n = n };
	struct bench_result cas, mutex;
	struct bench_stat rseq_st, atomic_st, ring_st;
	uint64_t rseq_aborts = 0, atomic_aborts = 0;
	char rseq_why[128], atomic_why[128];
	int err, rseq_err, atomic_err;
	cpu_set_t mask;
	bool restore = !sched_getaffinity(0, sizeof(mask), &mask);

	bench_result_init(&cas, "runq", "push+pop, rseq (RT_QUEUE_RSEQ)",
			  "lock cmpxchg (RT_QUEUE_ATOMIC)", "ns/pair",
			  BENCH_LOWER);
	cas.target_ratio = 3;
	snprintf(cas.label, sizeof(cas.label), "runq rseq vs lock cmpxchg");
	bench_result_init(&mutex, "runq", "push+pop, rseq (RT_QUEUE_RSEQ)",
			  "ring behind a pthread mutex", "ns/pair",
			  BENCH_LOWER);
	snprintf(mutex.label, sizeof(mutex.label), "runq rseq vs mutex ring");

	err = bench_pin_cpu(bench_cpu());
	if (err < 0)
		bench_note(&cas, "not pinned: %s", strerror(-err));

	rseq_err = measure_mode(RT_QUEUE_RSEQ, q_sample, n, &rseq_st,
				&rseq_aborts, rseq_why, sizeof(rseq_why));
	atomic_err = measure_mode(RT_QUEUE_ATOMIC, q_sample, n, &atomic_st,
				  &atomic_aborts, atomic_why,
				  sizeof(atomic_why));
	err = peer_ring_new(QUEUE_SIZE, &ring.ring);
	if (!err) {
		err = bench_measure(ring_sample, &ring, &ring_st);
		peer_ring_free(ring.ring);
	}

	if (rseq_err < 0) {
		bench_rt_fail(&cas, rseq_why, rseq_err);
		bench_rt_fail(&mutex, rseq_why, rseq_err);
	} else {
		cas.rt = rseq_st;
		mutex.rt = rseq_st;
		bench_note(&cas, "rseq: %s; %llu aborts in %u+1 runs of %llu pairs",
			   rseq_why, (unsigned long long)rseq_aborts,
			   bench_opts.reps, (unsigned long long)n);
	}
	if (atomic_err < 0)
		bench_note(&cas, "atomic mode not measured: %s: %s",
			   atomic_why, strerror(-atomic_err));
	else
		cas.other = atomic_st;
	if (err < 0)
		bench_note(&mutex, "mutex ring: %s", strerror(-err));
	else
		mutex.other = ring_st;
	bench_emit(&cas);
	bench_emit(&mutex);
	measure_cached(n);
	measure_inline(n);
	/* with --no-fork, later topics size their runtimes by this mask */
	if (restore)
		sched_setaffinity(0, sizeof(mask), &mask);
}

/* SPDX-License-Identifier: MIT */
/*
 * call: an async function calling an async function that completes at
 * once, the common case the seeds' "async-to-async call" test measures.
 *
 * librtasync: RT_CALL of a trivial async function in a loop inside a task
 * (push a frame in the task's arena, direct call, pop). Peers: a plain C
 * call of the same body, and the async1 model (heap state machine per
 * call, MoveNext, completion, free). Callees are noinline/noipa so neither
 * side is folded into its loop. Allocations are counted on the calling
 * thread by the malloc counter linked into this binary.
 */
#include <errno.h>
#include <stdio.h>

#include "async1.h"
#include "bench_rt.h"

#define CALLS 20000000

#if defined(__GNUC__) && !defined(__clang__)
#define NOFOLD __attribute__((noinline, noipa))
#else
#define NOFOLD __attribute__((noinline))
#endif

/* ---- librtasync --------------------------------------------------------- */

struct add_frame {
	struct rt_frame frame;
	int64_t a;
};

NOFOLD static RT_ASYNC int64_t add_async(struct rt_task *t, struct rt_frame *frame)
{
	struct add_frame *f = RT_FRAME(frame, struct add_frame);

	RT_BEGIN(t, frame);
	return f->a + 1;
}

struct call_out {
	uint64_t ns, mallocs;
	int64_t sum;
};

struct loop_frame {
	struct rt_frame frame;
	uint64_t n, i, t0, m0;
	int64_t r, sum;
	struct call_out *out;
};

static RT_ASYNC int64_t loop_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct loop_frame *f = RT_FRAME(frame, struct loop_frame);

	RT_BEGIN(t, frame);
	f->m0 = bench_thread_mallocs();
	f->t0 = bench_now_ns();
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_CALL(f->r, add_async, struct add_frame, .a = (int64_t)f->i);
		f->sum += f->r;
	}
	f->out->ns = bench_now_ns() - f->t0;
	f->out->mallocs = bench_thread_mallocs() - f->m0;
	f->out->sum = f->sum;
	return 0;
}

struct rt_arg {
	struct rt_runtime *rt;
	uint64_t n;
	double mallocs;		/* per call, last sample */
};

static int64_t want_sum(uint64_t n)
{
	return (int64_t)(n * (n - 1) / 2 + n);
}

static double rt_sample(void *arg)
{
	struct rt_arg *a = arg;
	struct call_out out = { 0 };
	struct loop_frame lf = { .n = a->n, .out = &out };
	int64_t res;
	int err;

	err = bench_rt_run(a->rt, loop_fn, &lf.frame, sizeof(lf), &res);
	if (err < 0)
		return err;
	if (res < 0)
		return (double)res;
	if (out.sum != want_sum(a->n))
		return -EPROTO;
	a->mallocs = (double)out.mallocs / (double)a->n;
	return (double)out.ns / (double)a->n;
}

/* ---- plain C --------------------------------------------------------------- */

NOFOLD static int64_t add_plain(int64_t a)
{
	return a + 1;
}

static double plain_sample(void *arg)
{
	uint64_t n = *(uint64_t *)arg;
	uint64_t t0 = bench_now_ns();
	int64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		sum += add_plain((int64_t)i);
	t0 = bench_now_ns() - t0;
	if (sum != want_sum(n))
		return -EPROTO;
	return (double)t0 / (double)n;
}

/* ---- async1 ------------------------------------------------------------------ */

struct add_sm {
	struct a1_sm sm;
	int64_t a;
};

NOFOLD static void add_move_next(struct a1_sm *sm)
{
	struct add_sm *s = (struct add_sm *)sm;

	a1_complete(sm, s->a + 1);
}

struct a1_arg {
	uint64_t n;
	double mallocs;
};

static double a1_sample(void *arg)
{
	struct a1_arg *a = arg;
	uint64_t m0 = bench_thread_mallocs();
	uint64_t t0 = bench_now_ns();
	int64_t sum = 0;

	for (uint64_t i = 0; i < a->n; i++) {
		struct add_sm *s = (struct add_sm *)a1_new(sizeof(*s),
							   add_move_next);

		if (!s)
			return -ENOMEM;
		s->a = (int64_t)i;
		a1_start(&s->sm);
		if (s->sm.state != A1_DONE)
			return -EPROTO;	/* never suspends */
		sum += a1_take(&s->sm);
	}
	t0 = bench_now_ns() - t0;
	if (sum != want_sum(a->n))
		return -EPROTO;
	a->mallocs = (double)(bench_thread_mallocs() - m0) / (double)a->n;
	return (double)t0 / (double)a->n;
}

double bench_async1_call_ns(uint64_t n)
{
	struct a1_arg a = { .n = n };

	return a1_sample(&a);
}

void bench_call(void)
{
	uint64_t n = bench_iters(CALLS, 100000);
	struct rt_arg a = { .n = n };
	struct a1_arg a1 = { .n = n };
	struct bench_result plain, async1, allocs;
	int err, rt_err;

	bench_result_init(&plain, "call", "RT_CALL, completes synchronously",
			  "plain C call (noinline)", "ns/call", BENCH_LOWER);
	plain.target_ratio = 0.5;	/* at most 2x a plain call */
	snprintf(plain.label, sizeof(plain.label), "RT_CALL vs plain C call");
	bench_result_init(&async1, "call", "RT_CALL, completes synchronously",
			  "async1: heap task per call", "ns/call",
			  BENCH_LOWER);
	snprintf(async1.label, sizeof(async1.label), "RT_CALL vs async1 call");
	bench_result_init(&allocs, "call", "mallocs per RT_CALL",
			  "async1: mallocs per call", "mallocs",
			  BENCH_LOWER);
	allocs.target_rt = 0;

	err = bench_measure(a1_sample, &a1, &async1.other);
	if (err)
		bench_note(&async1, "async1 peer: %d", err);
	if (bench_mallocs_counted())
		bench_stat_one(&allocs.other, a1.mallocs);

	rt_err = bench_rt_new(1, 0, &a.rt);
	if (rt_err < 0) {
		bench_rt_fail(&plain, "rt_runtime_new", rt_err);
		bench_rt_fail(&async1, "rt_runtime_new", rt_err);
		bench_rt_fail(&allocs, "rt_runtime_new", rt_err);
		goto out;
	}
	/* beside the plain call round by round: the two differ by less
	 * than this VM's speed modes do */
	rt_err = bench_measure_paired(rt_sample, &a, plain_sample, &n, &plain);
	if (rt_err < 0) {
		bench_rt_fail(&plain, "call loop or plain peer", rt_err);
		bench_rt_fail(&async1, "call loop", rt_err);
		bench_rt_fail(&allocs, "call loop", rt_err);
	} else {
		async1.rt = plain.rt;
		if (bench_mallocs_counted())
			bench_stat_one(&allocs.rt, a.mallocs);
	}
	bench_note(&plain, "%llu calls per run", (unsigned long long)n);
	bench_rt_note(&plain, a.rt);
	bench_rt_free(a.rt);
out:
	if (!bench_mallocs_counted())
		bench_note(&allocs, "malloc counter not linked (sanitizer build)");
	else
		bench_note(&allocs, "malloc-family calls on the calling thread "
			   "during the loop, per call");
	bench_emit(&plain);
	bench_emit(&async1);
	bench_emit(&allocs);
}

/* SPDX-License-Identifier: MIT */
/*
 * yield: the cost of giving the CPU away and getting it back.
 *
 * librtasync, one worker: a task doing RT_YIELD() in a loop (requeue on
 * this CPU's run queue, pop, resume at the await's label), and two tasks
 * taking turns (a real switch between two tasks per yield). The thread
 * peer is the same hand-over done by the kernel: two threads ping-ponging
 * one futex word, on one CPU (the honest analogue of one worker) and left
 * to the scheduler on all CPUs (what threads get by default).
 */
#include <errno.h>
#include <stdio.h>

#include "bench_rt.h"
#include "peers.h"

#define YIELDS		5000000
#define PINGPONG_SAME	20000
#define PINGPONG_CROSS	3000

struct yield_frame {
	struct rt_frame frame;
	uint64_t n, i;
	uint64_t t0;
	uint64_t *ns;
};

static RT_ASYNC int64_t yield_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct yield_frame *f = RT_FRAME(frame, struct yield_frame);

	RT_BEGIN(t, frame);
	f->t0 = bench_now_ns();
	for (f->i = 0; f->i < f->n; f->i++)
		RT_YIELD();
	if (f->ns)
		*f->ns = bench_now_ns() - f->t0;
	return 0;
}

/* Spawns two yielders and joins both: ns for n turns each. */
struct pair_frame {
	struct rt_frame frame;
	struct rt_runtime *rt;
	uint64_t n, t0;
	struct rt_task *a, *b;
	int64_t ra, rb;
	uint64_t *ns;
};

static RT_ASYNC int64_t pair_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct pair_frame *f = RT_FRAME(frame, struct pair_frame);
	struct yield_frame y = { .n = f->n };
	int err;

	RT_BEGIN(t, frame);
	RT_CATCH(true);
	f->t0 = bench_now_ns();
	err = rt_task_spawn(f->rt, yield_fn, &y.frame, sizeof(y), &f->a);
	if (err < 0)
		return err;
	err = rt_task_spawn(f->rt, yield_fn, &y.frame, sizeof(y), &f->b);
	if (err < 0) {
		f->rb = err;
		RT_JOIN(f->ra, f->a);
		rt_task_release(f->a);
		return f->rb;
	}
	RT_JOIN(f->ra, f->a);
	RT_JOIN(f->rb, f->b);
	*f->ns = bench_now_ns() - f->t0;
	rt_task_release(f->a);
	rt_task_release(f->b);
	return f->ra < 0 ? f->ra : f->rb;
}

struct rt_arg {
	struct rt_runtime *rt;
	uint64_t n;
};

double bench_yield_loop_ns(struct rt_runtime *rt, uint64_t n)
{
	uint64_t ns = 0;
	struct yield_frame y = { .n = n, .ns = &ns };
	int64_t res;
	int err;

	err = bench_rt_run(rt, yield_fn, &y.frame, sizeof(y), &res);
	if (err < 0)
		return err;
	if (res < 0)
		return (double)res;
	return (double)ns / (double)n;
}

static double loop_sample(void *arg)
{
	struct rt_arg *a = arg;

	return bench_yield_loop_ns(a->rt, a->n);
}

static double pair_sample(void *arg)
{
	struct rt_arg *a = arg;
	uint64_t ns = 0;
	struct pair_frame p = { .rt = a->rt, .n = a->n, .ns = &ns };
	int64_t res;
	int err;

	err = bench_rt_run(a->rt, pair_fn, &p.frame, sizeof(p), &res);
	if (err < 0)
		return err;
	if (res < 0)
		return (double)res;
	return (double)ns / (double)a->n;	/* a turn each: one round trip */
}

struct futex_arg {
	uint64_t n;
	int cpu;
};

static double futex_sample(void *arg)
{
	struct futex_arg *a = arg;

	return peer_futex_pingpong_ns(a->n, a->cpu);
}

void bench_yield(void)
{
	struct futex_arg same = { bench_iters(PINGPONG_SAME, 500), bench_cpu() };
	struct futex_arg cross = { bench_iters(PINGPONG_CROSS, 200), -1 };
	struct rt_arg a = { .n = bench_iters(YIELDS, 10000) };
	struct bench_result loop, pair;
	struct rt_stats s0 = { 0 }, s1 = { 0 };
	int err;

	bench_result_init(&loop, "yield", "RT_YIELD loop, 1 task, 1 worker",
			  "futex ping-pong, 2 threads on 1 CPU", "ns",
			  BENCH_LOWER);
	loop.target_ratio = 100;
	loop.target_rt = 20;
	snprintf(loop.label, sizeof(loop.label), "yield vs futex, 1 CPU");
	bench_result_init(&pair, "yield", "2 tasks taking turns, 1 worker",
			  "futex ping-pong, 2 threads, any CPU", "ns/rtrip",
			  BENCH_LOWER);
	snprintf(pair.label, sizeof(pair.label), "2-task turns vs futex, any CPU");

	err = bench_measure(futex_sample, &same, &loop.other);
	if (err)
		bench_note(&loop, "futex peer: %d", err);
	err = bench_measure(futex_sample, &cross, &pair.other);
	if (err)
		bench_note(&pair, "futex peer: %d", err);

	err = bench_rt_new(1, 0, &a.rt);
	if (err < 0) {
		bench_rt_fail(&loop, "rt_runtime_new", err);
		bench_rt_fail(&pair, "rt_runtime_new", err);
		goto out;
	}
	rt_runtime_stats(a.rt, &s0);
	err = bench_measure(loop_sample, &a, &loop.rt);
	rt_runtime_stats(a.rt, &s1);
	if (err < 0)
		bench_rt_fail(&loop, "yield loop", err);
	bench_note(&loop, "ns per yield vs ns per futex round trip; "
		   "%llu yields, %llu round trips",
		   (unsigned long long)a.n, (unsigned long long)same.n);
	bench_rt_note(&loop, a.rt);
	bench_rt_note_stats(&loop, &s0, &s1);

	a.n /= 2;
	rt_runtime_stats(a.rt, &s0);
	err = bench_measure(pair_sample, &a, &pair.rt);
	rt_runtime_stats(a.rt, &s1);
	if (err < 0)
		bench_rt_fail(&pair, "two yielders", err);
	bench_note(&pair, "one round trip = 2 yields = 2 switches, both sides; "
		   "%llu futex round trips", (unsigned long long)cross.n);
	bench_rt_note_stats(&pair, &s0, &s1);
	bench_rt_free(a.rt);
out:
	bench_emit(&loop);
	bench_emit(&pair);
}

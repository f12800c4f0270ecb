/* SPDX-License-Identifier: MIT */
/*
 * spawn: what one unit of concurrent work costs from birth to reaped
 * result. A root task spawns N trivial child tasks in batches and joins
 * each one (spawn + run + complete + join + release, per task), against
 * pthread_create + pthread_join of a thread that returns at once.
 *
 * Batches keep the run queue within its size, as a server spawning per
 * request would; the batch is small enough for the queue and big enough
 * that the root's join suspends rarely.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_rt.h"
#include "peers.h"

#define SPAWN_TASKS	1000000
#define SPAWN_BATCH	256
#define SPAWN_THREADS	5000

struct child_frame {
	struct rt_frame frame;
	int64_t v;
};

static RT_ASYNC int64_t child_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct child_frame *f = RT_FRAME(frame, struct child_frame);

	RT_BEGIN(t, frame);
	return f->v;
}

struct spawn_out {
	uint64_t ns;
	int64_t sum;
	int err;
};

struct root_frame {
	struct rt_frame frame;
	struct rt_runtime *rt;
	struct rt_task **h;
	uint64_t n, i, j, batch;
	uint64_t t0;
	int64_t r, sum;
	struct spawn_out *out;
};

static RT_ASYNC int64_t root_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct root_frame *f = RT_FRAME(frame, struct root_frame);
	struct child_frame child = { .v = 1 };
	int err;

	RT_BEGIN(t, frame);
	RT_CATCH(true);		/* join errors land in f->r */
	f->t0 = bench_now_ns();
	for (f->i = 0; f->i < f->n; f->i += f->batch) {
		for (f->j = 0; f->j < f->batch; f->j++) {
			err = rt_task_spawn(f->rt, child_fn, &child.frame,
					    sizeof(child), &f->h[f->j]);
			if (err < 0) {
				f->out->err = err;
				f->batch = f->j;	/* reap what we have */
				f->n = 0;
				break;
			}
		}
		for (f->j = 0; f->j < f->batch; f->j++) {
			RT_JOIN(f->r, f->h[f->j]);
			rt_task_release(f->h[f->j]);
			if (f->r < 0 && !f->out->err)
				f->out->err = (int)f->r;
			f->sum += f->r;
		}
	}
	f->out->ns = bench_now_ns() - f->t0;
	f->out->sum = f->sum;
	return 0;
}

struct rt_arg {
	struct rt_runtime *rt;
	struct rt_task *h[SPAWN_BATCH];
	uint64_t n;
	int64_t want;
};

static double rt_sample(void *arg)
{
	struct rt_arg *a = arg;
	struct spawn_out out = { 0 };
	struct root_frame root = {
		.rt = a->rt, .h = a->h, .n = a->n, .batch = SPAWN_BATCH,
		.out = &out,
	};
	int64_t res;
	int err;

	err = bench_rt_run(a->rt, root_fn, &root.frame, sizeof(root), &res);
	if (err < 0)
		return err;
	if (out.err < 0)
		return out.err;
	if (out.sum != a->want) {
		bench_log("spawn: children returned %lld, want %lld",
			  (long long)out.sum, (long long)a->want);
		return -EPROTO;
	}
	return (double)out.ns / (double)a->n;
}

static double thread_sample(void *arg)
{
	return peer_thread_spawn_ns(*(uint64_t *)arg);
}

void bench_spawn(void)
{
	uint64_t nthreads = bench_iters(SPAWN_THREADS, 200);
	struct rt_arg *a = calloc(1, sizeof(*a));
	struct bench_stat threads;
	unsigned int workers[2] = { 1, 0 };
	int err;

	if (!a)
		return;
	a->n = bench_iters(SPAWN_TASKS, SPAWN_BATCH) / SPAWN_BATCH * SPAWN_BATCH;
	a->want = (int64_t)a->n;
	err = bench_measure(thread_sample, &nthreads, &threads);
	if (err)
		bench_log("spawn: pthread peer: %d", err);

	for (int i = 0; i < 2; i++) {
		struct bench_result r;
		struct rt_stats s0 = { 0 }, s1 = { 0 };
		int nw;

		bench_result_init(&r, "spawn", "spawn+run+join",
				  "pthread_create+pthread_join", "ns/task",
				  BENCH_LOWER);
		r.target_ratio = 300;
		r.target_rt = 50;
		r.other = threads;
		err = bench_rt_new(workers[i], 0, &a->rt);
		if (err < 0) {
			bench_rt_fail(&r, "rt_runtime_new", err);
			bench_emit(&r);
			continue;
		}
		nw = rt_runtime_workers(a->rt);
		snprintf(r.name, sizeof(r.name), "spawn+run+join, %d worker%s",
			 nw, nw == 1 ? "" : "s");
		snprintf(r.label, sizeof(r.label), "spawn, %d worker%s vs pthread",
			 nw, nw == 1 ? "" : "s");
		rt_runtime_stats(a->rt, &s0);
		err = bench_measure(rt_sample, a, &r.rt);
		rt_runtime_stats(a->rt, &s1);
		if (err < 0)
			bench_rt_fail(&r, "spawn/join", err);
		bench_note(&r, "%llu tasks per run in batches of %d, %llu threads",
			   (unsigned long long)a->n, SPAWN_BATCH,
			   (unsigned long long)nthreads);
		bench_rt_note(&r, a->rt);
		bench_rt_note_stats(&r, &s0, &s1);
		bench_rt_free(a->rt);
		a->rt = NULL;
		bench_emit(&r);
	}
	free(a);
}

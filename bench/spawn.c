/* SPDX-License-Identifier: MIT */
/*
 * spawn: what one unit of concurrent work costs from birth to reaped
 * result. A root task spawns N trivial child tasks in batches and joins
 * each one (spawn + run + complete + join + release, per task), against
 * pthread_create + pthread_join of a thread that returns at once.
 *
 * Batches keep the run queue within its size, as a server spawning per
 * request would; the batch is small enough for the queue and big enough
 * that the root's join suspends rarely. The tasks are shapes.h's spawn
 * shape, which the peers topic runs against Tokio and Go.
 */
#include <stdio.h>

#include "peers.h"
#include "shapes.h"

#define SPAWN_TASKS	1000000
#define SPAWN_THREADS	5000

struct rt_arg {
	struct rt_runtime *rt;
	uint64_t batches;
};

static double rt_sample(void *arg)
{
	struct rt_arg *a = arg;

	return bench_shape_run(a->rt, bench_shape_find("spawn"), a->batches);
}

static double thread_sample(void *arg)
{
	return peer_thread_spawn_ns(*(uint64_t *)arg);
}

void bench_spawn(void)
{
	uint64_t nthreads = bench_iters(SPAWN_THREADS, 200);
	struct rt_arg args = {
		.batches = bench_iters(SPAWN_TASKS, SHAPE_BATCH) / SHAPE_BATCH,
	}, *a = &args;
	struct bench_stat threads;
	unsigned int workers[2] = { 1, 0 };
	int err;

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
			   (unsigned long long)(a->batches * SHAPE_BATCH),
			   SHAPE_BATCH,
			   (unsigned long long)nthreads);
		bench_rt_note(&r, a->rt);
		bench_rt_note_stats(&r, &s0, &s1);
		bench_rt_free(a->rt);
		a->rt = NULL;
		bench_emit(&r);
	}
}

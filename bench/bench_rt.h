/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the librtasync side of the benchmarks: make a runtime with
 * a given shape, run one root task to completion from the main thread,
 * describe the runtime and its counters in a row's note.
 */
#ifndef RTASYNC_BENCH_RT_H
#define RTASYNC_BENCH_RT_H

#include "bench.h"
#include "rtasync.h"

/* workers 0: the default; task_arena 0: the default. */
int bench_rt_new(unsigned int workers, unsigned int task_arena,
		 struct rt_runtime **out);
/* Shut down and free, logging a failed shutdown. */
void bench_rt_free(struct rt_runtime *rt);

/* Spawn fn over a copy of frame, join it from this (foreign) thread. */
int bench_rt_run(struct rt_runtime *rt, rt_async_fn fn,
		 const struct rt_frame *frame, size_t size, int64_t *result);
/* Spawn fn(arg) as a fiber, join it from this (foreign) thread. */
int bench_rt_run_fiber(struct rt_runtime *rt, rt_fiber_fn fn, void *arg,
		       int64_t *result);

/* "2 workers, rseq queues, ring SINGLE_ISSUER|..." into buf. */
void bench_rt_describe(const struct rt_runtime *rt, char *buf, size_t len);
/* The same into the row's note. */
void bench_rt_note(struct bench_result *r, const struct rt_runtime *rt);

/* The counters a report shows that moved between two snapshots,
 * "steals 3, parks 2" (empty when none did), into buf. */
void bench_rt_stats_str(char *buf, size_t len, const struct rt_stats *a,
			const struct rt_stats *b);
/* The same into the row's note. */
void bench_rt_note_stats(struct bench_result *r, const struct rt_stats *a,
			 const struct rt_stats *b);
/* Add what those counters moved between a and b to sum. */
void bench_rt_stats_add(struct rt_stats *sum, const struct rt_stats *a,
			const struct rt_stats *b);

/* One task doing RT_YIELD() n times on rt: ns per yield (bench/yield.c). */
double bench_yield_loop_ns(struct rt_runtime *rt, uint64_t n);

/*
 * bench/memory.c's default-config case (10k tasks x 100 frames asleep) in
 * a fresh process: RSS growth in MiB, or a negative errno with the reason
 * in why.
 */
double bench_memory_default_mib(char *why, size_t len);

/* Fill a row's librtasync side with "not measured: what: errno". */
void bench_rt_fail(struct bench_result *r, const char *what, int err);

#endif /* RTASYNC_BENCH_RT_H */

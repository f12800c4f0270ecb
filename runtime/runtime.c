// SPDX-License-Identifier: MIT
/*
 * The runtime object: configuration, start-up, drain, shutdown, stats.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "fiber.h"

void rt_config_init(struct rt_config *cfg)
{
	cpu_set_t set;
	int n = 0;

	if (!cfg)
		return;
	if (!sched_getaffinity(0, sizeof(set), &set))
		n = CPU_COUNT(&set);
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = n > 0 ? (unsigned int)n : 1;
	if (cfg->workers > RT_MAX_WORKERS)
		cfg->workers = RT_MAX_WORKERS;
	cfg->pin = true;
	cfg->queue_mode = RT_QUEUE_AUTO;
	cfg->queue_size = 4096;
	cfg->ring_entries = 256;
	cfg->task_arena = 256;
	cfg->spin_us = 50;
	cfg->io_spin_us = 50;	/* 0 saves CPU, costs switches: api.md */
	cfg->max_foreign_backlog = 65536;	/* ~26 MiB of 400-byte tasks */
	cfg->recv_buffers = 256;
	cfg->recv_buffer_size = 4096;
	cfg->fiber_stack = RT_FIBER_STACK_DEFAULT;
	cfg->count_sites = rt_env_is("RTASYNC_COUNT_SITES", "1");
#ifndef RT_NO_COUNTERS
	cfg->long_task_ms = 10;	/* the watchdog counts on the turn counter */
#endif
}

static int config_check(const struct rt_config *cfg)
{
	if (cfg->workers == 0 || cfg->workers > RT_MAX_WORKERS)
		return -EINVAL;
	if (cfg->queue_mode > RT_QUEUE_ATOMIC)
		return -EINVAL;
	if (cfg->queue_size < 2 || (cfg->queue_size & (cfg->queue_size - 1)))
		return -EINVAL;
	if (cfg->ring_entries == 0 || cfg->ring_entries > 32768)
		return -EINVAL;
	/* room for the root frame and a few callees, 16-byte granules */
	if (cfg->task_arena < 64 || cfg->task_arena > (1u << 30) ||
	    cfg->task_arena % 16)
		return -EINVAL;
	/* a provided buffer ring's limits; ids are 16 bits */
	if (!cfg->recv_buffers || cfg->recv_buffers > 32768 ||
	    (cfg->recv_buffers & (cfg->recv_buffers - 1)))
		return -EINVAL;
	if (!cfg->recv_buffer_size || cfg->recv_buffer_size > (1u << 24))
		return -EINVAL;
	if (cfg->fiber_stack && (cfg->fiber_stack < RT_FIBER_STACK_MIN ||
				 cfg->fiber_stack > RT_FIBER_STACK_MAX))
		return -EINVAL;
	return 0;
}

_Atomic uint32_t rt__fork_gen;

/*
 * In the child of fork() only the forking thread exists: the workers of
 * every inherited runtime are gone, so each entry point refuses it with
 * -ECHILD. This thread is no worker either, whatever it was in the parent.
 */
static void forked_child(void)
{
	atomic_fetch_add_explicit(&rt__fork_gen, 1, memory_order_relaxed);
	rt__self = NULL;
	rt__running = NULL;
}

static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, forked_child);
}

int rt_runtime_new(const struct rt_config *cfg, struct rt_runtime **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct rt_config defaults;
	struct rt_runtime *rt;
	int ret;

	if (!out)
		return -EINVAL;
	if (!cfg) {
		rt_config_init(&defaults);
		cfg = &defaults;
	}
	ret = config_check(cfg);
	if (ret)
		return ret;
	rt_fence_init();
	rt_fault_init();
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	pthread_once(&once, watch_forks);
	rt->fork_gen = atomic_load(&rt__fork_gen);
	rt->cfg = *cfg;
	rt->cfg.fiber_stack = rt_fiber_stack_round(cfg->fiber_stack ?
						   cfg->fiber_stack :
						   RT_FIBER_STACK_DEFAULT);
	rt->nworkers = cfg->workers;
	ret = rt_runqs_init(&rt->runqs, cfg->queue_mode, cfg->queue_size);
	if (ret)
		goto err_free;
	rt_overflow_init(&rt->overflow);
	rt_depot_init(&rt->depot);
	pthread_mutex_init(&rt->sources_lock, NULL);
	rt_fiber_depot_init(rt);
	ret = rt_trace_init(&rt->trace, rt->nworkers);
	if (ret)
		goto err_queues;
	ret = rt_workers_start(rt);
	if (ret)
		goto err_trace;
	*out = rt;
	return 0;
err_trace:
	rt_trace_destroy(&rt->trace);
err_queues:
	pthread_mutex_destroy(&rt->sources_lock);
	rt_fiber_depot_destroy(rt);
	rt_depot_destroy(&rt->depot);
	rt_overflow_destroy(&rt->overflow);
	rt_runqs_destroy(&rt->runqs);
err_free:
	free(rt);
	return ret;
}

/*
 * Tasks alive = spawned - completed. Sum the completions first, then the
 * spawns: both only grow and a task completes after it was spawned, so if
 * the sums are equal no task was alive when the second sum started.
 *
 * The drain's caller must also see what the drained tasks wrote. Each
 * worker counts a completion with a release store, after the task's last
 * step (program order; a task that moved between workers brought its
 * earlier writes along through the hand-off, itself release/acquire). An
 * acquire load that reads that count, or a later one the same worker
 * stored after it, synchronizes with the store: everything the task did
 * happens before the drain returns. The same pairing orders the loads of
 * spawned after those of completed, and a spawn counted on one worker
 * before the child completed on another.
 */
static bool runtime_idle(struct rt_runtime *rt)
{
	uint64_t completed = 0, spawned;

	for (unsigned int i = 0; i < rt->nworkers; i++)
		completed += __atomic_load_n(&rt->workers[i].stats->completed,
					     __ATOMIC_ACQUIRE);
	spawned = atomic_load(&rt->foreign_spawned);
	for (unsigned int i = 0; i < rt->nworkers; i++)
		spawned += __atomic_load_n(&rt->workers[i].stats->spawned,
					   __ATOMIC_ACQUIRE);
	return spawned == completed;
}

int rt_runtime_drain(struct rt_runtime *rt)
{
	if (!rt)
		return -EINVAL;
	if (rt_inherited(rt))
		return -ECHILD;
	if (rt__self)
		return -EDEADLK;	/* a worker cannot wait for itself */
	atomic_fetch_add(&rt->drain_waiters, 1);
	for (;;) {
		uint32_t seq = atomic_load(&rt->drain_seq);

		if (runtime_idle(rt))
			break;
		/* Parking workers bump drain_seq; the timeout covers a
		 * worker that finishes the last task without parking. */
		rt_futex_wait(&rt->drain_seq, seq, 1000000);
	}
	atomic_fetch_sub(&rt->drain_waiters, 1);
	return 0;
}

/* rt_runtime.shut: shutdown runs once, whoever calls it and how often. */
enum {
	RT_SHUT_NONE = 0,
	RT_SHUT_RUNNING,	/* one caller drains and joins the workers */
	RT_SHUT_DONE,
};

/* Spawns, wakes and cancels from other threads under way (task.c). */
static void wait_foreign_calls(struct rt_runtime *rt)
{
	uint32_t n;

	while ((n = atomic_load(&rt->foreign_calls)))
		rt_futex_wait(&rt->foreign_calls, n, 1000000);
}

/* Close, drain and stop: done by exactly one caller. */
static void shutdown_once(struct rt_runtime *rt)
{
	atomic_store(&rt->closing, 1);
	wait_foreign_calls(rt);	/* spawns that got past `closing` */
	rt_runtime_drain(rt);	/* cannot fail: rt is set, we are no worker */
	wait_foreign_calls(rt);	/* wakes whose task ended before they rang */
	/* the pool's threads go before the workers, whose doorbells their
	 * wakes ring (the wakes themselves are foreign calls, above) */
	rt_blocking_shutdown(rt);
	rt_workers_stop(rt);
}

/*
 * The first caller moves NONE -> RUNNING and does the work; every other
 * caller, on any thread and at any time, waits on the futex until DONE.
 * Joining the workers twice (or closing their eventfds twice) is what
 * two unguarded callers used to do.
 */
int rt_runtime_shutdown(struct rt_runtime *rt)
{
	uint32_t state = RT_SHUT_NONE;

	if (!rt)
		return -EINVAL;
	if (rt_inherited(rt))
		return -ECHILD;
	if (rt__self)
		return -EDEADLK;
	if (atomic_compare_exchange_strong(&rt->shut, &state,
					   RT_SHUT_RUNNING)) {
		shutdown_once(rt);
		rt_wakers_shutdown(rt);
		atomic_store(&rt->shut, RT_SHUT_DONE);
		rt_futex_wake_all(&rt->shut);
		return 0;
	}
	while (state != RT_SHUT_DONE) {
		rt_futex_wait(&rt->shut, state, 0);
		state = atomic_load(&rt->shut);
	}
	return 0;
}

/*
 * rt_runtime_free() in the child of a fork: free what is plainly this
 * process's copy (the runtime, its worker array, queues and trace area)
 * and close its copies of the descriptors. Leak what the parent's threads
 * may have been changing at the fork (task blocks, caches, the depot,
 * the overflow list, timer heaps; their locks may be held forever) and
 * the io_uring mappings. Once a shutdown had begun before the fork, the
 * workers' descriptors may have been closed and their numbers reused for
 * something else: leave them alone then.
 */
static void free_inherited(struct rt_runtime *rt)
{
	if (atomic_load(&rt->shut) == RT_SHUT_NONE) {
		for (unsigned int i = 0; i < rt->nworkers; i++) {
			close(rt->workers[i].efd);
			close(rt->workers[i].ring_fd);
		}
	}
	free(rt->workers);
	rt_trace_destroy(&rt->trace);
	rt_runqs_destroy(&rt->runqs);
	free(rt);
}

void rt_runtime_free(struct rt_runtime *rt)
{
	if (!rt || rt__self)
		return;
	if (rt_inherited(rt)) {
		free_inherited(rt);
		return;
	}
	rt_runtime_shutdown(rt);
	rt_sources_free(rt);	/* the rings are gone: no CQE can name one */
	pthread_mutex_destroy(&rt->sources_lock);
	rt_workers_free(rt);
	rt_trace_destroy(&rt->trace);
	rt_fiber_depot_destroy(rt);
	rt_depot_destroy(&rt->depot);
	rt_overflow_destroy(&rt->overflow);
	rt_runqs_destroy(&rt->runqs);
	free(rt);
}

int rt_runtime_workers(const struct rt_runtime *rt)
{
	return rt ? (int)rt->nworkers : -EINVAL;
}

enum rt_queue_mode rt_runtime_queue_mode(const struct rt_runtime *rt)
{
	return rt ? rt->runqs.mode : RT_QUEUE_AUTO;
}

const char *rt_queue_mode_name(enum rt_queue_mode mode)
{
	switch (mode) {
	case RT_QUEUE_AUTO:
		return "auto";
	case RT_QUEUE_RSEQ:
		return "rseq";
	case RT_QUEUE_ATOMIC:
		return "atomic";
	}
	return "unknown";
}

const char *rt_runtime_queue_reason(const struct rt_runtime *rt)
{
	return rt ? rt->runqs.reason : NULL;
}

const char *rt_runtime_wake_method(const struct rt_runtime *rt)
{
	return rt ? __atomic_load_n(&rt->wake_reason, __ATOMIC_RELAXED) : NULL;
}

const char *rt_runtime_ring_flags(const struct rt_runtime *rt)
{
	return rt ? rt->ring_desc : NULL;
}

#define RT_STATS_FIELDS (sizeof(struct rt_stats) / sizeof(uint64_t))

/*
 * Sum the workers' counters. Suspensions and yields are derived, after
 * the sums (a step bumps one counter, resumes; rtasync-trace.h).
 */
int rt_runtime_stats(struct rt_runtime *rt, struct rt_stats *out)
{
	uint64_t *sum = (uint64_t *)out;

	if (!rt || !out)
		return -EINVAL;
	if (rt_inherited(rt))
		return -ECHILD;
	memset(out, 0, sizeof(*out));
	for (unsigned int i = 0; i < rt->nworkers; i++) {
		struct rt_worker *w = &rt->workers[i];
		const uint64_t *v = (const uint64_t *)w->stats;

		for (size_t k = 0; k < RT_STATS_FIELDS; k++)
			sum[k] += __atomic_load_n(&v[k], __ATOMIC_RELAXED);
		out->rseq_aborts += __atomic_load_n(&w->qstats.aborts,
						    __ATOMIC_RELAXED);
	}
	out->suspends = rt_trace_suspends(out);
	out->yields = rt_trace_yields(out);
	out->spawned += atomic_load(&rt->foreign_spawned);
	return 0;
}

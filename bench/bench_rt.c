/* SPDX-License-Identifier: MIT */
/*
 * librtasync-side helpers shared by the topics. See bench_rt.h.
 */
#include <stdio.h>
#include <string.h>

#include "bench_rt.h"

int bench_rt_new(unsigned int workers, unsigned int task_arena,
		 struct rt_runtime **out)
{
	struct rt_config cfg;

	rt_config_init(&cfg);
	if (workers)
		cfg.workers = workers;
	if (task_arena)
		cfg.task_arena = task_arena;
	return rt_runtime_new(&cfg, out);
}

void bench_rt_free(struct rt_runtime *rt)
{
	int err;

	if (!rt)
		return;
	err = rt_runtime_shutdown(rt);
	if (err < 0)
		bench_log("rt_runtime_shutdown: %s", strerror(-err));
	rt_runtime_free(rt);
}

static int join_release(struct rt_task *task, int64_t *result)
{
	int err = rt_task_join(task, result);

	rt_task_release(task);
	return err;
}

int bench_rt_run(struct rt_runtime *rt, rt_async_fn fn,
		 const struct rt_frame *frame, size_t size, int64_t *result)
{
	struct rt_task *task;
	int err;

	err = rt_task_spawn(rt, fn, frame, size, &task);
	if (err < 0)
		return err;
	return join_release(task, result);
}

int bench_rt_run_fiber(struct rt_runtime *rt, rt_fiber_fn fn, void *arg,
		       int64_t *result)
{
	struct rt_task *task;
	int err;

	err = rt_fiber_spawn(rt, fn, arg, 0, &task);
	if (err < 0)
		return err;
	return join_release(task, result);
}

void bench_rt_describe(const struct rt_runtime *rt, char *buf, size_t len)
{
	snprintf(buf, len, "%d worker%s, %s queues, ring %s",
		 rt_runtime_workers(rt), rt_runtime_workers(rt) == 1 ? "" : "s",
		 rt_queue_mode_name(rt_runtime_queue_mode(rt)),
		 rt_runtime_ring_flags(rt));
}

void bench_rt_note(struct bench_result *r, const struct rt_runtime *rt)
{
	char buf[160];

	bench_rt_describe(rt, buf, sizeof(buf));
	bench_note(r, "%s", buf);
}

/* The counters a report shows, in the order it shows them. */
#define BENCH_RT_MOVED(X)						\
	X(steals) X(overflows) X(donated) X(parks) X(wakes_msg_ring)	\
	X(wakes_eventfd) X(rseq_aborts)

void bench_rt_stats_str(char *buf, size_t len, const struct rt_stats *a,
			const struct rt_stats *b)
{
	size_t off = 0;

	buf[0] = 0;
#define X(field)							\
	if (b->field != a->field && off < len)				\
		off += (size_t)snprintf(buf + off, len - off, "%s" #field " %llu",\
					off ? ", " : "",		\
					(unsigned long long)(b->field - a->field));
	BENCH_RT_MOVED(X)
#undef X
}

void bench_rt_note_stats(struct bench_result *r, const struct rt_stats *a,
			 const struct rt_stats *b)
{
	char buf[256];

	bench_rt_stats_str(buf, sizeof(buf), a, b);
	if (*buf)
		bench_note(r, "%s", buf);
}

void bench_rt_stats_add(struct rt_stats *sum, const struct rt_stats *a,
			const struct rt_stats *b)
{
#define X(field) sum->field += b->field - a->field;
	BENCH_RT_MOVED(X)
#undef X
}

void bench_rt_fail(struct bench_result *r, const char *what, int err)
{
	r->rt.n = 0;
	bench_note(r, "librtasync not measured: %s: %s", what, strerror(-err));
}

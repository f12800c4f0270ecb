/* SPDX-License-Identifier: MIT */
/*
 * memory: the seeds' GC test, natively. 10,000 suspended tasks, each a
 * chain of 100 async frames, each frame holding one pointer and one int
 * across the await; the innermost frame sleeps (an hour). Measured: RSS
 * growth and malloc heap growth from before the first spawn to when every
 * task is parked, and bytes per frame. Then every task is cancelled: each
 * frame catches, checks that its pointer and int survived, and passes the
 * error on; then the runtime shuts down.
 *
 * Cases, each in a fresh process so RSS starts clean:
 *   librtasync with the default config;
 *   librtasync with cfg.task_arena sized to the chain (100 frames);
 *   the async1 model in C (one malloc'd state machine per frame).
 * The seeds' .NET heap sizes are quoted as peers (not measured here).
 */
#include <errno.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async1.h"
#include "bench_rt.h"

#define MEM_TASKS	10000
#define MEM_DEPTH	100
#define MEM_SLEEP_NS	(3600ull * 1000000000ull)
#define CASE_TIMEOUT_S	12
#define MIB		(1024.0 * 1024.0)

/* The seed's table: managed heap with 10k x 100 frames suspended. */
#define SEED_ASYNC1_MB	130.0
#define SEED_ASYNC2_MB	157.0

static char mem_token;
static _Atomic uint64_t mem_parked, mem_resumed, mem_bad;

static int32_t mem_tag(int32_t depth)
{
	return depth * 7919 + 13;
}

static void mem_check(void *p, int32_t i, int32_t depth)
{
	if (p != &mem_token || i != mem_tag(depth))
		atomic_fetch_add_explicit(&mem_bad, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&mem_resumed, 1, memory_order_relaxed);
}

/* ---- librtasync -------------------------------------------------------------- */

struct mem_frame {
	struct rt_frame frame;
	void *p;		/* live across the await */
	int32_t i;		/* live across the await */
	int32_t depth;
};

static RT_ASYNC int64_t mem_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct mem_frame *f = RT_FRAME(frame, struct mem_frame);
	int64_t r = 0;

	RT_BEGIN(t, frame);
	RT_CATCH(true);		/* resume on cancel, to check the locals */
	f->p = &mem_token;
	f->i = mem_tag(f->depth);
	if (f->depth > 1) {
		RT_CALL(r, mem_fn, struct mem_frame, .depth = f->depth - 1);
	} else {
		atomic_fetch_add_explicit(&mem_parked, 1, memory_order_relaxed);
		RT_AWAIT(r, rt_op_sleep(RT_TASK(), MEM_SLEEP_NS));
	}
	mem_check(f->p, f->i, f->depth);
	return r;
}

struct mem_case {
	const char *name;
	unsigned int task_arena;	/* 0: default */
	bool async1;
};

enum mem_phase { PH_START, PH_MEASURED, PH_CANCELLED, PH_DONE };

struct mem_result {
	int err;
	enum mem_phase phase;
	char why[128];
	uint64_t tasks;			/* spawned */
	uint64_t rss0, rss1, heap0, heap1;
	uint64_t mallocs;		/* during the spawn phase */
	uint64_t parked, resumed, bad;
	uint64_t not_cancelled;		/* joins that returned another result */
	int64_t result;			/* what the first join returned */
	double setup_ms, teardown_ms;
};

static void fail(struct mem_result *o, int err, const char *what)
{
	o->err = err;
	snprintf(o->why, sizeof(o->why), "%s: %s", what, strerror(-err));
}

/* Before the first spawn: the baseline. Returns the start time. */
static uint64_t snap_before(struct mem_result *o)
{
	o->rss0 = bench_rss_bytes();
	o->heap0 = bench_heap_bytes();
	o->mallocs = bench_all_mallocs();
	return bench_now_ns();
}

/* Every task parked: the growth since snap_before(). */
static void snap_after(struct mem_result *o, uint64_t t0)
{
	o->setup_ms = (double)(bench_now_ns() - t0) / 1e6;
	o->rss1 = bench_rss_bytes();
	o->heap1 = bench_heap_bytes();
	o->mallocs = bench_all_mallocs() - o->mallocs;
	o->parked = atomic_load(&mem_parked);
	o->phase = PH_MEASURED;
}

/*
 * Wait until every task is parked in its sleep, up to 10 s: each has
 * reached the innermost frame, and the workers have seen as many steps
 * end in RT_PENDING since s0.
 */
static void wait_parked(struct rt_runtime *rt, const struct rt_stats *s0,
			uint64_t tasks)
{
	uint64_t deadline = bench_now_ns() + 10000000000ull;
	struct rt_stats s = *s0;

	while (bench_now_ns() < deadline) {
		if (atomic_load(&mem_parked) >= tasks &&
		    !rt_runtime_stats(rt, &s) && s.suspends - s0->suspends >= tasks)
			return;
		usleep(1000);
	}
}

static void rt_case(struct mem_case *c, struct mem_result *o)
{
	struct rt_runtime *rt;
	struct rt_stats s0 = { 0 };
	struct rt_task **h;
	uint64_t t0;
	int err;

	err = bench_rt_new(0, c->task_arena, &rt);
	if (err < 0) {
		fail(o, err, "rt_runtime_new");
		return;
	}
	h = calloc(MEM_TASKS, sizeof(*h));
	if (!h) {
		fail(o, -ENOMEM, "calloc");
		bench_rt_free(rt);
		return;
	}
	rt_runtime_stats(rt, &s0);
	t0 = snap_before(o);
	for (o->tasks = 0; o->tasks < MEM_TASKS; o->tasks++) {
		struct mem_frame root = { .depth = MEM_DEPTH };

		err = rt_task_spawn(rt, mem_fn, &root.frame, sizeof(root),
				    &h[o->tasks]);
		if (err < 0) {
			fail(o, err, "rt_task_spawn");
			break;
		}
	}
	wait_parked(rt, &s0, o->tasks);
	snap_after(o, t0);

	t0 = bench_now_ns();
	for (uint64_t i = 0; i < o->tasks; i++) {
		err = rt_task_cancel(h[i]);
		if (err < 0) {
			fail(o, err, "rt_task_cancel");
			return;	/* joins would wait an hour: let exit clean up */
		}
	}
	o->phase = PH_CANCELLED;
	for (uint64_t i = 0; i < o->tasks; i++) {
		int64_t res = 0;

		err = rt_task_join(h[i], &res);
		if (err < 0 && !o->err)
			fail(o, err, "rt_task_join");
		if (i == 0)
			o->result = res;
		if (res != -ECANCELED)
			o->not_cancelled++;
		rt_task_release(h[i]);
	}
	o->resumed = atomic_load(&mem_resumed);
	o->bad = atomic_load(&mem_bad);
	bench_rt_free(rt);
	o->teardown_ms = (double)(bench_now_ns() - t0) / 1e6;
	o->phase = PH_DONE;
	free(h);
}

/* ---- async1 ------------------------------------------------------------------ */

struct mem_sm {
	struct a1_sm sm;
	void *p;
	int32_t i;
	int32_t depth;
	struct a1_sm *awaiting;
};

enum { ST_AWAIT_CHILD = 0, ST_AWAIT_TIMER = 1 };

static struct a1_sm **leaves;
static uint64_t nleaves;

static void mem_move_next(struct a1_sm *sm)
{
	struct mem_sm *s = (struct mem_sm *)sm;
	struct mem_sm *c;
	int64_t r;

	switch (sm->state) {
	case A1_START:
		s->p = &mem_token;
		s->i = mem_tag(s->depth);
		if (s->depth <= 1) {
			/* await a timer: parked until the cancel completes it */
			sm->state = ST_AWAIT_TIMER;
			leaves[nleaves++] = sm;
			atomic_fetch_add_explicit(&mem_parked, 1,
						  memory_order_relaxed);
			return;
		}
		c = (struct mem_sm *)a1_new(sizeof(*c), mem_move_next);
		if (!c) {
			a1_complete(sm, -ENOMEM);
			return;
		}
		c->depth = s->depth - 1;
		a1_start(&c->sm);
		s->awaiting = &c->sm;
		if (!a1_await(sm, &c->sm, ST_AWAIT_CHILD, &r))
			return;
		break;
	case ST_AWAIT_CHILD:
		r = a1_take(s->awaiting);
		break;
	case ST_AWAIT_TIMER:
		r = -ECANCELED;	/* the cancelled timer's result */
		break;
	default:
		return;
	}
	mem_check(s->p, s->i, s->depth);
	a1_complete(sm, r);
}

static void async1_case(struct mem_case *c, struct mem_result *o)
{
	struct a1_sm **roots = calloc(MEM_TASKS, sizeof(*roots));
	uint64_t t0;

	leaves = calloc(MEM_TASKS, sizeof(*leaves));
	if (!roots || !leaves) {
		fail(o, -ENOMEM, "calloc");
		return;
	}
	t0 = snap_before(o);
	for (o->tasks = 0; o->tasks < MEM_TASKS; o->tasks++) {
		struct mem_sm *s = (struct mem_sm *)a1_new(sizeof(*s),
							   mem_move_next);

		if (!s) {
			fail(o, -ENOMEM, "a1_new");
			return;
		}
		s->depth = MEM_DEPTH;
		roots[o->tasks] = &s->sm;
		a1_start(&s->sm);
	}
	snap_after(o, t0);

	t0 = bench_now_ns();
	for (uint64_t i = 0; i < nleaves; i++)
		leaves[i]->move_next(leaves[i]);	/* the timer fires */
	o->phase = PH_CANCELLED;
	for (uint64_t i = 0; i < o->tasks; i++) {
		if (roots[i]->state != A1_DONE || roots[i]->result != -ECANCELED)
			o->not_cancelled++;
		if (i == 0)
			o->result = roots[i]->result;
		a1_free(roots[i]);
	}
	o->resumed = atomic_load(&mem_resumed);
	o->bad = atomic_load(&mem_bad);
	o->teardown_ms = (double)(bench_now_ns() - t0) / 1e6;
	o->phase = PH_DONE;
	free(roots);
	free(leaves);
}

static void case_child(void *arg, void *out)
{
	struct mem_case *c = arg;

	if (c->async1)
		async1_case(c, out);
	else
		rt_case(c, out);
}

/* ---- rows ------------------------------------------------------------------- */

static double frames_total(void)
{
	return (double)MEM_TASKS * MEM_DEPTH;
}

/* Run a case; the RSS growth in MiB, or a negative errno. */
static int run_case(struct mem_case *c, struct mem_result *o)
{
	char why[128] = "";
	int err;

	memset(o, 0, sizeof(*o));
	bench_log("memory: %s", c->name);
	err = bench_in_child(case_child, c, o, sizeof(*o), CASE_TIMEOUT_S,
			     why, sizeof(why));
	if (err < 0 && !o->err) {
		o->err = err;
		snprintf(o->why, sizeof(o->why), "%s", why);
	} else if (err < 0) {
		size_t len = strlen(o->why);

		snprintf(o->why + len, sizeof(o->why) - len, "; then %s", why);
	}
	if (o->phase < PH_MEASURED)
		return o->err ? o->err : -EPROTO;
	return 0;
}

static void case_note(struct bench_result *r, const struct mem_result *o)
{
	bench_note(r, "RSS +%.1f MiB, heap +%.1f MiB, %.1f B/frame RSS; "
		   "%llu tasks parked, %llu mallocs while spawning",
		   (double)(o->rss1 - o->rss0) / MIB,
		   (double)(o->heap1 - o->heap0) / MIB,
		   (double)(o->rss1 - o->rss0) / frames_total(),
		   (unsigned long long)o->parked,
		   (unsigned long long)o->mallocs);
	if (o->phase == PH_DONE)
		bench_note(r, "cancel: %llu frames resumed, %llu corrupt, "
			   "%llu joins not -ECANCELED, %.0f ms",
			   (unsigned long long)o->resumed,
			   (unsigned long long)o->bad,
			   (unsigned long long)o->not_cancelled,
			   o->teardown_ms);
	if (o->err)
		bench_note(r, "%s", o->why);
}

static double rss_mib(const struct mem_result *o)
{
	return (double)(o->rss1 - o->rss0) / MIB;
}

static void set_rss(struct bench_stat *st, const struct mem_result *o, int err)
{
	if (!err)
		bench_stat_one(st, rss_mib(o));
}

double bench_memory_default_mib(char *why, size_t len)
{
	struct mem_case c = { "librtasync, default config", 0, false };
	struct mem_result o;
	int err = run_case(&c, &o);

	if (!err && o.err)	/* measured, then failed: say so, keep it */
		snprintf(why, len, "%s", o.why);
	if (err < 0) {
		snprintf(why, len, "%s", o.why);
		return err;
	}
	return rss_mib(&o);
}

void bench_memory(void)
{
	struct mem_case cases[3] = {
		{ "librtasync, default config", 0, false },
		{ "librtasync, task_arena = 100 frames",
		  MEM_DEPTH * sizeof(struct mem_frame), false },
		{ "async1 model in C", 0, true },
	};
	struct mem_result res[3];
	int err[3];
	struct bench_result r;

	for (int i = 0; i < 3; i++)
		err[i] = run_case(&cases[i], &res[i]);

	bench_result_init(&r, "memory", "10k x 100 frames, default config",
			  "seed: .NET async1 heap", "MiB", BENCH_LOWER);
	r.target_rt = 32;
	set_rss(&r.rt, &res[0], err[0]);
	bench_stat_one(&r.other, SEED_ASYNC1_MB);
	case_note(&r, &res[0]);
	bench_emit(&r);

	bench_result_init(&r, "memory", "10k x 100 frames, default config",
			  "seed: .NET async2 JIT heap", "MiB",
			  BENCH_LOWER);
	r.target_rt = 32;
	set_rss(&r.rt, &res[0], err[0]);
	bench_stat_one(&r.other, SEED_ASYNC2_MB);
	bench_emit(&r);

	bench_result_init(&r, "memory", "10k x 100 frames, task_arena sized",
			  "seed: .NET async2 JIT heap", "MiB",
			  BENCH_LOWER);
	r.target_rt = 32;
	set_rss(&r.rt, &res[1], err[1]);
	bench_stat_one(&r.other, SEED_ASYNC2_MB);
	snprintf(r.label, sizeof(r.label), "memory vs .NET async2 (seed)");
	bench_note(&r, "task_arena %u bytes", cases[1].task_arena);
	case_note(&r, &res[1]);
	bench_emit(&r);

	bench_result_init(&r, "memory", "10k x 100 frames, task_arena sized",
			  "async1 model in C: malloc per frame", "MiB",
			  BENCH_LOWER);
	snprintf(r.label, sizeof(r.label), "memory vs async1 in C");
	set_rss(&r.rt, &res[1], err[1]);
	set_rss(&r.other, &res[2], err[2]);
	bench_note(&r, "async1 model");
	case_note(&r, &res[2]);
	bench_emit(&r);

	bench_result_init(&r, "memory", "bytes per frame, task_arena sized",
			  "async1 model in C: malloc per frame", "B/frame",
			  BENCH_LOWER);
	if (!err[1])
		bench_stat_one(&r.rt, (double)(res[1].rss1 - res[1].rss0) /
					  frames_total());
	if (!err[2])
		bench_stat_one(&r.other, (double)(res[2].rss1 - res[2].rss0) /
					     frames_total());
	bench_note(&r, "RSS growth / 1,000,000 frames; a frame is %zu bytes "
		   "(16-byte header + pointer + 2 ints), an async1 state "
		   "machine %zu + malloc's 16",
		   sizeof(struct mem_frame), sizeof(struct mem_sm));
	bench_emit(&r);
}

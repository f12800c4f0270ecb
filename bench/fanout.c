/* SPDX-License-Identifier: MIT */
/*
 * fanout: does a second worker make in-task fan-out faster? The shapes of
 * shapes.h (a root starts spawners, each spawns and joins batches of 256
 * leaves), run on 1 and on 2 workers, samples interleaved, so the ratio is
 * the speed-up of the second worker. Issue 6's target: >= 1.7x on every
 * shape. The same shapes against Tokio and Go are the peers topic's.
 *
 * Also the shape runner itself (shapes.h), which spawn and peers use.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shapes.h"

#define SPEEDUP_TARGET	1.7

const struct bench_shape bench_shapes[] = {
	{ "spawn", "spawn+run+join", 0, 1024 },
	{ "fanout", "fan-out, 8 spawners", 8, 128 },
	{ "fanout-overflow", "fan-out, 1000 spawners", 1000, 1 },
	{ "fanout-one", "fan-out, 1 spawner", 1, 1024 },
	{ NULL, NULL, 0, 0 },
};

const struct bench_shape *bench_shape_find(const char *name)
{
	for (const struct bench_shape *s = bench_shapes; s->name; s++)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

uint64_t bench_shape_batches(const struct bench_shape *s)
{
	return bench_iters(s->batches, 1);
}

uint64_t bench_shape_tasks(const struct bench_shape *s, uint64_t batches)
{
	uint64_t spawners = s->mids ? s->mids : 1;

	return spawners * batches * SHAPE_BATCH + s->mids;
}

/* ---- the tasks ------------------------------------------------------------ */

struct leaf_frame {
	struct rt_frame frame;
	int64_t v;
};

static RT_ASYNC int64_t leaf_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct leaf_frame *f = RT_FRAME(frame, struct leaf_frame);

	RT_BEGIN(t, frame);
	return f->v;
}

/* Shared by every task of one run. */
struct shape_run {
	struct rt_runtime *rt;
	_Atomic int err;	/* the first error any task saw */
	uint64_t ns;
	int64_t sum;		/* every leaf returns 1 */
};

static void run_fail(struct shape_run *run, int err)
{
	int none = 0;

	atomic_compare_exchange_strong(&run->err, &none, err);
}

/* Spawn batches of leaves into h (SHAPE_BATCH slots), join each in order. */
struct spawner_frame {
	struct rt_frame frame;
	struct shape_run *run;
	struct rt_task **h;
	uint64_t batches, b, n, j;
	int64_t r, sum;
};

static RT_ASYNC int64_t spawner_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct spawner_frame *f = RT_FRAME(frame, struct spawner_frame);
	struct leaf_frame leaf = { .v = 1 };
	int err;

	RT_BEGIN(t, frame);
	RT_CATCH(true);		/* join errors land in f->r */
	for (f->b = 0; f->b < f->batches; f->b++) {
		for (f->n = 0; f->n < SHAPE_BATCH; f->n++) {
			err = rt_task_spawn(f->run->rt, leaf_fn, &leaf.frame,
					    sizeof(leaf), &f->h[f->n]);
			if (err < 0) {
				run_fail(f->run, err);
				f->batches = 0;	/* join what we have, stop */
				break;
			}
		}
		for (f->j = 0; f->j < f->n; f->j++) {
			RT_JOIN(f->r, f->h[f->j]);
			rt_task_release(f->h[f->j]);
			if (f->r < 0)
				run_fail(f->run, (int)f->r);
			else
				f->sum += f->r;
		}
	}
	return f->sum;
}

/*
 * The root: every spawner is spawned before the first is joined, so they
 * all run at once (1000 of them fill a 4096-slot queue many times over).
 */
struct root_frame {
	struct rt_frame frame;
	struct shape_run *run;
	struct rt_task **mh;	/* mids handles */
	struct rt_task **h;	/* SHAPE_BATCH leaf slots per spawner */
	uint64_t mids, batches, n, i, t0;
	int64_t r, sum;
};

static int spawn_mids(struct root_frame *f)
{
	for (f->n = 0; f->n < f->mids; f->n++) {
		struct spawner_frame s = {
			.run = f->run, .h = f->h + f->n * SHAPE_BATCH,
			.batches = f->batches,
		};
		int err = rt_task_spawn(f->run->rt, spawner_fn, &s.frame,
					sizeof(s), &f->mh[f->n]);

		if (err < 0)
			return err;
	}
	return 0;
}

static RT_ASYNC int64_t root_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct root_frame *f = RT_FRAME(frame, struct root_frame);
	int err;

	RT_BEGIN(t, frame);
	RT_CATCH(true);
	f->t0 = bench_now_ns();
	if (!f->mids) {
		RT_CALL(f->sum, spawner_fn, struct spawner_frame,
			.run = f->run, .h = f->h, .batches = f->batches);
	} else {
		err = spawn_mids(f);
		if (err < 0)
			run_fail(f->run, err);
		for (f->i = 0; f->i < f->n; f->i++) {
			RT_JOIN(f->r, f->mh[f->i]);
			rt_task_release(f->mh[f->i]);
			if (f->r < 0)
				run_fail(f->run, (int)f->r);
			else
				f->sum += f->r;
		}
	}
	f->run->ns = bench_now_ns() - f->t0;
	f->run->sum = f->sum;
	return 0;
}

double bench_shape_run(struct rt_runtime *rt, const struct bench_shape *s,
		       uint64_t batches)
{
	uint64_t spawners = s->mids ? s->mids : 1;
	uint64_t leaves = spawners * batches * SHAPE_BATCH;
	struct shape_run run = { .rt = rt };
	struct root_frame root = { .run = &run, .mids = s->mids,
				   .batches = batches };
	int64_t res;
	int err;

	/* handles live outside the frames: a frame is copied at spawn */
	root.h = calloc(spawners * SHAPE_BATCH, sizeof(*root.h));
	root.mh = calloc(spawners, sizeof(*root.mh));
	err = root.h && root.mh ? 0 : -ENOMEM;
	if (!err)
		err = bench_rt_run(rt, root_fn, &root.frame, sizeof(root), &res);
	free(root.h);
	free(root.mh);
	if (!err)
		err = atomic_load(&run.err);
	if (err < 0)
		return err;
	if (run.sum != (int64_t)leaves) {
		bench_log("%s: leaves returned %lld, want %llu", s->name,
			  (long long)run.sum, (unsigned long long)leaves);
		return -EPROTO;
	}
	return (double)run.ns / (double)bench_shape_tasks(s, batches);
}

/* ---- the topic: 2 workers against 1 -------------------------------------- */

struct side {
	unsigned int workers;
	double v[BENCH_MAX_REPS];
	unsigned int n;
	struct rt_stats moved;	/* summed over the measured runs */
	int err;
	char shape[96];		/* the runtime's, for the note */
};

/*
 * One sample on a fresh runtime (an idle runtime left running could spin
 * on a CPU the other one measures on): a quarter-size warm-up run, then
 * the measured one.
 */
static void side_sample(struct side *sd, const struct bench_shape *s,
			uint64_t batches)
{
	struct rt_stats a = { 0 }, b = { 0 };
	struct rt_runtime *rt;
	double v;
	int err;

	if (sd->err)
		return;
	err = bench_rt_new(sd->workers, 0, &rt);
	if (err < 0) {
		sd->err = err;
		return;
	}
	bench_rt_describe(rt, sd->shape, sizeof(sd->shape));
	v = bench_shape_run(rt, s, batches / 4 ? batches / 4 : 1);
	if (v >= 0) {
		rt_runtime_stats(rt, &a);
		v = bench_shape_run(rt, s, batches);
		rt_runtime_stats(rt, &b);
		bench_rt_stats_add(&sd->moved, &a, &b);
	}
	bench_rt_free(rt);
	if (v < 0)
		sd->err = (int)v;
	else
		sd->v[sd->n++] = v;
}

/* The counters that moved on one side; the runtime's shape is noted once. */
static void side_note(struct bench_result *r, const struct side *sd)
{
	char moved[256];

	bench_rt_stats_str(moved, sizeof(moved), &(struct rt_stats){ 0 },
			   &sd->moved);
	bench_note(r, "%u worker%s: %s", sd->workers,
		   sd->workers == 1 ? "" : "s", *moved ? moved : "-");
	if (sd->err)
		bench_note(r, "%u worker%s not measured: %s", sd->workers,
			   sd->workers == 1 ? "" : "s", strerror(-sd->err));
}

static void fanout_shape(const struct bench_shape *s)
{
	uint64_t batches = bench_shape_batches(s);
	struct side one = { .workers = 1 }, two = { .workers = 2 };
	unsigned int reps = bench_opts.reps;
	struct bench_result r;

	bench_result_init(&r, "fanout", "", "librtasync, 1 worker", "ns/task",
			  BENCH_LOWER);
	snprintf(r.name, sizeof(r.name), "%s, 2 workers", s->what);
	snprintf(r.label, sizeof(r.label), "%s: 2 vs 1 worker", s->name);
	r.target_ratio = SPEEDUP_TARGET;
	/* alternate which goes first: neither always follows the other */
	for (unsigned int i = 0; i < reps && i < BENCH_MAX_REPS; i++) {
		side_sample(i % 2 ? &two : &one, s, batches);
		side_sample(i % 2 ? &one : &two, s, batches);
	}
	if (!two.err)
		bench_stat_samples(&r.rt, two.v, two.n);
	if (!one.err)
		bench_stat_samples(&r.other, one.v, one.n);
	r.paired = !one.err && !two.err && one.n == two.n;
	bench_note(&r, "ratio = speed-up of the second worker; %llu tasks "
		   "per run, %llu batch%s of %d per spawner, fresh runtime "
		   "per sample, interleaved", (unsigned long long)
		   bench_shape_tasks(s, batches), (unsigned long long)batches,
		   batches == 1 ? "" : "es", SHAPE_BATCH);
	bench_note(&r, "%s", two.shape);
	side_note(&r, &two);
	side_note(&r, &one);
	bench_emit(&r);
}

void bench_fanout(void)
{
	for (const struct bench_shape *s = bench_shapes; s->name; s++)
		if (s->mids)
			fanout_shape(s);
	bench_fanout_ipi();	/* what a steal or a park attempt costs */
}

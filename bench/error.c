/* SPDX-License-Identifier: MIT */
/*
 * error: an error travelling up a chain of async frames, the seeds'
 * "exception handling at various stack depths" test.
 *
 * A chain of `depth` RT_CALLs whose innermost frame returns -EIO, either
 * at once or after suspending (RT_YIELD) first. The outermost (loop) frame
 * catches. Two ways to carry the error:
 *   flag-skip           no frame in between catches: the runtime passes
 *                       each one by a flag check (async2 in the seed);
 *   resume every frame  every frame catches and returns the error itself,
 *                       as a compiler-emitted catch does (async1).
 * Without suspension both ways are plain C returns, so they should cost
 * the same; with suspension the runtime's resume loop either skips the
 * frames or calls each one. Time-boxed runs, ops/s (one op = one error
 * delivered through the whole chain).
 */
#include <errno.h>
#include <stdio.h>

#include "bench_rt.h"

#define RUN_NS		25000000ull	/* per sample */

struct err_frame {
	struct rt_frame frame;
	int32_t depth;
	bool suspend;
	bool catch_all;
	int64_t r;
};

static RT_ASYNC int64_t err_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct err_frame *f = RT_FRAME(frame, struct err_frame);

	RT_BEGIN(t, frame);
	if (f->depth <= 1) {
		if (f->suspend)
			RT_YIELD();
		return -EIO;
	}
	if (f->catch_all)
		RT_CATCH(true);
	RT_CALL(f->r, err_fn, struct err_frame, .depth = f->depth - 1,
		.suspend = f->suspend, .catch_all = f->catch_all);
	if (f->r < 0)
		return f->r;	/* the "catch { throw; }" of async1 */
	return f->r;
}

struct err_out {
	uint64_t ops, ns;
	int err;
};

struct loop_frame {
	struct rt_frame frame;
	int32_t depth;
	bool suspend, catch_all;
	uint64_t ops, t0, now;
	int k;
	int64_t r;
	struct err_out *out;
};

static RT_ASYNC int64_t loop_fn(struct rt_task *t, struct rt_frame *frame)
{
	struct loop_frame *f = RT_FRAME(frame, struct loop_frame);

	RT_BEGIN(t, frame);
	RT_CATCH(true);
	f->t0 = bench_now_ns();
	do {
		for (f->k = 0; f->k < 16; f->k++) {
			RT_CALL(f->r, err_fn, struct err_frame,
				.depth = f->depth, .suspend = f->suspend,
				.catch_all = f->catch_all);
			if (f->r != -EIO) {
				f->out->err = f->r < 0 ? (int)f->r : -EPROTO;
				return 0;
			}
			f->ops++;
		}
		f->now = bench_now_ns();
	} while (f->now - f->t0 < RUN_NS * bench_opts.scale);
	f->out->ops = f->ops;
	f->out->ns = f->now - f->t0;
	return 0;
}

struct case_arg {
	struct rt_runtime *rt;
	int32_t depth;
	bool suspend, catch_all;
};

static double case_sample(void *arg)
{
	struct case_arg *a = arg;
	struct err_out out = { 0 };
	struct loop_frame lf = {
		.depth = a->depth, .suspend = a->suspend,
		.catch_all = a->catch_all, .out = &out,
	};
	int64_t res;
	int err;

	err = bench_rt_run(a->rt, loop_fn, &lf.frame, sizeof(lf), &res);
	if (err < 0)
		return err;
	if (out.err < 0)
		return out.err;
	return (double)out.ops * 1e9 / (double)out.ns;
}

/* The seed's ops/s at depth 64 (JIT state machine vs async1). */
static void seed_note(struct bench_result *r, int depth, bool suspend)
{
	if (depth != 64)
		return;
	bench_note(r, "seed .NET at 64 frames: %s",
		   suspend ? "Suspend 17,565 ops/s async2 vs 458 async1"
			   : "NoSuspend 3,936 ops/s async2 vs 484 async1");
}

void bench_error(void)
{
	static const int32_t depths[] = { 1, 8, 64 };
	struct rt_runtime *rt = NULL;
	int rt_err;

	rt_err = bench_rt_new(1, 0, &rt);
	for (int s = 0; s < 2; s++) {
		for (unsigned int d = 0; d < sizeof(depths) / sizeof(*depths); d++) {
			struct case_arg a = { rt, depths[d], s == 1, false };
			struct bench_result r;
			char name[64];
			int err;

			snprintf(name, sizeof(name), "depth %d, %s: flag-skip",
				 depths[d], s ? "suspend" : "no suspend");
			bench_result_init(&r, "error", name,
					  "resume every frame (catch+rethrow)",
					  "ops/s", BENCH_HIGHER);
			snprintf(r.label, sizeof(r.label), "error depth %d, %s",
				 depths[d], s ? "suspend" : "no suspend");
			if (rt_err < 0) {
				bench_rt_fail(&r, "rt_runtime_new", rt_err);
				bench_emit(&r);
				continue;
			}
			err = bench_measure(case_sample, &a, &r.rt);
			if (err < 0)
				bench_rt_fail(&r, "flag-skip", err);
			a.catch_all = true;
			err = bench_measure(case_sample, &a, &r.other);
			if (err < 0)
				bench_note(&r, "resume-every-frame: %d", err);
			seed_note(&r, depths[d], s == 1);
			bench_emit(&r);
		}
	}
	if (rt)
		bench_rt_free(rt);
}

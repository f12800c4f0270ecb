/* SPDX-License-Identifier: MIT */
/*
 * Both sides of a fiber switch as inline functions: the fiber's (its
 * blocking calls, runtime/fiber.c) and the worker's, which steps a
 * started fiber inline in the loop that pops tasks (runtime/task.c), as
 * well as in rt_fiber_run.
 *
 * Why inline on the worker's side too: each return executed after a
 * switch pops, from the CPU's return stack predictor, an address the
 * other stack pushed, and misses. A fiber's side returns at least once
 * after its switch (from the blocking call to its caller); if the worker
 * then also returned (from rt_fiber_run, rt_task_step, the task's step)
 * before switching in again, each round trip would pay two misses, about
 * 20 ns on the 2-vCPU EPYC VM, more than the rest of it. Stepped inline,
 * the worker's switch back lands in the frame of its loop, which goes on
 * to the next task and returns nowhere: the fiber's return then finds
 * the address it pushed itself (Documentation/benchmarks.md, fiber).
 */
#ifndef RT_FIBER_STEP_H
#define RT_FIBER_STEP_H

#include "internal.h"
#include "fiber.h"
#include "arch/x86_64/fiber.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/common_interface_defs.h>
#define RT_FIBER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#include <sanitizer/tsan_interface.h>
#define RT_FIBER_TSAN 1
#endif

/* ---- telling the sanitizers which stack is live ------------------------ */
/*
 * ASan must know the bounds of the stack it runs on (and keeps a fake
 * stack per context); TSan keeps a shadow call stack and a clock per
 * context. The worker's side announces the fiber's stack, the fiber's side
 * learns from ASan the stack it came from, to announce it on the way back.
 */

static inline void san_worker_leave(struct rt_fiber *fb, void **fake)
{
#ifdef RT_FIBER_ASAN
	__sanitizer_start_switch_fiber(fake, fb->stack_lo,
				       (size_t)((char *)fb - fb->stack_lo));
#else
	(void)fake;
#endif
#ifdef RT_FIBER_TSAN
	fb->tsan_from = __tsan_get_current_fiber();
	__tsan_switch_to_fiber(fb->tsan_fiber, 0);
#endif
	(void)fb;
}

static inline void san_worker_back(void *fake)
{
#ifdef RT_FIBER_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
	(void)fake;
}

static inline void san_fiber_arrived(struct rt_fiber *fb)
{
#ifdef RT_FIBER_ASAN
	__sanitizer_finish_switch_fiber(fb->asan_fake, &fb->from_bottom,
					&fb->from_size);
#endif
	(void)fb;
}

/* last: the fiber ends, its fake stack can go */
static inline void san_fiber_leave(struct rt_fiber *fb, bool last)
{
#ifdef RT_FIBER_ASAN
	__sanitizer_start_switch_fiber(last ? NULL : &fb->asan_fake,
				       fb->from_bottom, fb->from_size);
#endif
#ifdef RT_FIBER_TSAN
	__tsan_switch_to_fiber(fb->tsan_from, 0);
#endif
	(void)fb;
	(void)last;
}

/* ---- the two sides of a switch ----------------------------------------- */

/* Both directions of one fiber's switches take the same kind. */
static inline __attribute__((always_inline)) void
fiber_switch(struct rt_fiber *fb, void **save_sp, void *to_sp)
{
	rt_arch_fiber_switch(save_sp, to_sp, !fb->share_fpenv);
}

/*
 * The worker's side of a resume. From its loop (loop set, no outer
 * fiber) nothing of a caller's is on this stack: the FP control words
 * to come back to are the worker's own, read once when its thread began,
 * and the switch skips reading them (stmxcsr, about 4 of the ~10 ns a
 * round trip keeping the words takes). The fiber's words are kept as
 * always. A step that changed the worker's words and left them changed
 * finds them reset by the next fiber's switch back: a step cannot count
 * on words it leaves behind anyway, since its task's next step may run
 * on another worker. Called from code (RT_CALL of a fiber, loop NULL)
 * or from an outer fiber, the caller's words are read and kept, as
 * around any call.
 */
static inline __attribute__((always_inline)) void
fiber_switch_in(struct rt_fiber *fb, const struct rt_worker *loop,
		const struct rt_fiber *outer)
{
	if (loop && !outer && !fb->share_fpenv)
		rt_arch_fiber_switch_known(&fb->ret_sp, fb->sp, loop->fpenv);
	else
		fiber_switch(fb, &fb->ret_sp, fb->sp);
}

/*
 * On the worker's side (or an outer fiber's, for RT_CALL_FIBER inside
 * one): run the fiber until it parks or ends. Stackless code the fiber
 * calls trampolines at the fiber stack's own floor. loop: the worker
 * whose loop steps the fiber, or NULL (fiber_switch_in()).
 */
static inline __attribute__((always_inline)) void
fiber_resume(struct rt_task *t, struct rt_fiber *fb,
	     const struct rt_worker *loop)
{
	struct rt_fiber *outer = rt__fiber_now;
	char *limit = t->h.stack_limit;
	void *fake = NULL;

	rt__fiber_now = fb;
	t->h.stack_limit = fb->stack_limit;
	san_worker_leave(fb, &fake);
	fiber_switch_in(fb, loop, outer);
	san_worker_back(fake);
	t->h.stack_limit = limit;
	rt__fiber_now = outer;
}

/* fiber.c: the fiber ended: its result, and its stack back to the pool. */
int64_t rt__fiber_end(struct rt_task *t, struct rt_fiber_frame *ff);

/* rt_fiber_run of a fiber that has started (ff->fiber set); loop: the
 * worker whose loop steps it, or NULL (fiber_resume()). */
static inline __attribute__((always_inline)) int64_t
rt_fiber_step(struct rt_task *t, struct rt_frame *f,
	      const struct rt_worker *loop)
{
	struct rt_fiber_frame *ff = (struct rt_fiber_frame *)f;

	fiber_resume(t, ff->fiber, loop);
	if (likely(!ff->fiber->done))
		return RT_PENDING;
	return rt__fiber_end(t, ff);
}

#endif /* RT_FIBER_STEP_H */

// SPDX-License-Identifier: MIT
/*
 * Fibers: blocking-style C on stacks of their own, run by the stackless
 * machinery unchanged.
 *
 * A fiber is the async function rt_fiber_run over a struct rt_fiber_frame:
 * the root frame of a task made by rt_fiber_spawn, or any frame pushed by
 * RT_CALL_FIBER. Each call of rt_fiber_run switches onto the fiber's stack
 * and comes back when the fiber either finished (the frame returns its
 * result) or parked in an op (the frame returns RT_PENDING, and h.top
 * names it, so the task resumes there); the worker's loop steps a started
 * fiber the same way, inline (fiber_step.h). A blocking call is the op an
 * async function would await: the worker commits it after the switch
 * back, exactly as after a continuation unwound, and whoever wakes the
 * task sets h.ret, which the fiber reads once it is switched into again.
 *
 * So a fiber moves between workers as a task does, and its saved context
 * travels with the task: the worker that parks it writes the context
 * before it commits the op; the hand-off that later makes the task
 * runnable elsewhere (queue, inbox, timer heap, join slot) is release/
 * acquire, as it is for a continuation's frames.
 *
 * Thread-local state is read only before a switch, never after one in the
 * same function: the fiber may wake on another thread, and a compiler may
 * keep the thread pointer it computed before a call (it does not know the
 * call changes threads).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "fiber_step.h"

__thread struct rt_fiber *rt__fiber_now __attribute__((tls_model("initial-exec")));

/* ---- the fiber's side of a switch (the worker's: fiber_step.h) ------- */

/*
 * On the fiber's stack: let the context that resumed us go on (it returns
 * RT_PENDING up to the worker), and come back with the op's result.
 */
static inline __attribute__((always_inline)) int64_t
fiber_park(struct rt_fiber *fb, struct rt_task *t)
{
	san_fiber_leave(fb, false);
	fiber_switch(fb, &fb->sp, fb->ret_sp);
	san_fiber_arrived(fb);
	return t->h.ret;
}

/* The fiber's first frame: never returns, switches away for good. */
static void fiber_main(void *arg)
{
	struct rt_fiber *fb = arg;
	int64_t r;

	san_fiber_arrived(fb);
	r = fb->frame->fn(fb->frame->arg);
	fb->result = r == RT_PENDING ? -EINVAL : r;
	fb->done = true;
	san_fiber_leave(fb, true);
	fiber_switch(fb, &fb->sp, fb->ret_sp);
	__builtin_unreachable();
}

/* Stackless code on a fiber may use the stack down to this floor. */
static char *fiber_stack_limit(struct rt_fiber *fb)
{
	size_t reserve = fb->stack_size / 4;

	if (reserve < (8u << 10))
		reserve = 8u << 10;
	if (reserve > (64u << 10))
		reserve = 64u << 10;
	return fb->stack_lo + reserve;
}

static int fiber_start(struct rt_task *t, struct rt_fiber_frame *ff)
{
	struct rt_worker *w = rt__self;
	struct rt_fiber *fb;
	size_t size;

	if (!ff->fn)
		return -EINVAL;
	if (!w || t != rt__running)
		return -EPERM;
	size = rt_fiber_stack_size(t->rt, ff->stack_size);
	if (!size)
		return -EINVAL;
	fb = rt_fiber_stack_get(t->rt, w, size);
	if (!fb)
		return -ENOMEM;
	if (!w->fiber_guarded) {
		/* without it: no report, the same crash */
		rt_fiber_guard_install();
		w->fiber_guarded = true;
	}
	fb->task = t;
	fb->frame = ff;
	fb->result = 0;
	fb->in_async = 0;
	fb->done = false;
	fb->share_fpenv = t->rt->cfg.fiber_share_fpenv;
	fb->asan_fake = NULL;
	fb->stack_limit = fiber_stack_limit(fb);
	fb->sp = rt_arch_fiber_stack_init((char *)fb, fiber_main, fb);
#ifdef RT_FIBER_TSAN
	fb->tsan_fiber = __tsan_create_fiber(0);
#endif
	/* callee errors are the fiber's to see (rt_call_async) */
	ff->frame.flags |= RT_FRAME_CATCH;
	ff->fiber = fb;
	return 0;
}

static void fiber_finish(struct rt_task *t, struct rt_fiber_frame *ff)
{
	struct rt_fiber *fb = ff->fiber;

	ff->fiber = NULL;
#ifdef RT_FIBER_TSAN
	__tsan_destroy_fiber(fb->tsan_fiber);
#endif
	rt_fiber_stack_put(t->rt, rt__self, fb);
}

int64_t rt__fiber_end(struct rt_task *t, struct rt_fiber_frame *ff)
{
	int64_t r = ff->fiber->result;

	fiber_finish(t, ff);
	return r;
}

int64_t rt_fiber_run(struct rt_task *t, struct rt_frame *f)
{
	struct rt_fiber_frame *ff = (struct rt_fiber_frame *)f;
	int64_t r;

	if (!t || !f)
		return -EINVAL;
	if (!ff->fiber) {
		r = fiber_start(t, ff);
		if (r)
			return r;
	}
	return rt_fiber_step(t, f, NULL);
}

int rt_fiber_spawn(struct rt_runtime *rt, rt_fiber_fn fn, void *arg,
		   size_t stack_size, struct rt_task **handle)
{
	if (!rt || !fn)
		return -EINVAL;
	if (stack_size && !rt_fiber_stack_size(rt, stack_size))
		return -EINVAL;
	return RT_SPAWN(rt, handle, rt_fiber_run, struct rt_fiber_frame,
			.fn = fn, .arg = arg, .stack_size = stack_size);
}


/* ---- blocking calls ------------------------------------------------------ */

/*
 * May the code running now block? Only a fiber's own code may: not a
 * thread without a task (that would wait forever: nothing resumes it),
 * not a stackless frame (its caller chain would be left half-run), also
 * not one that a fiber called through rt_call_async.
 */
static inline __attribute__((always_inline)) int
fiber_enter(struct rt_task **t)
{
	struct rt_fiber *fb = rt__fiber_now;
	struct rt_task *cur = rt__running;

	*t = NULL;
	if (!cur)
		return -EPERM;
	if (!fb || fb->task != cur || fb->in_async)
		return -EDEADLK;
	*t = cur;
	return 0;
}

/* The op suspended: park the fiber where the task resumes (its frame). */
static inline __attribute__((always_inline)) int64_t
fiber_await(int64_t r, struct rt_site *site)
{
	struct rt_fiber *fb;
	struct rt_task *t;

	if (likely(r != RT_PENDING))
		return r;
	fb = rt__fiber_now;
	t = fb->task;
	t->h.top = &fb->frame->frame;
	__atomic_store_n(&t->h.site, site, __ATOMIC_RELEASE);
	return fiber_park(fb, t);
}

int rt__fiber_enter(struct rt_task **t)
{
	return fiber_enter(t);
}

int64_t rt__fiber_await(int64_t r, struct rt_site *site)
{
	return fiber_await(r, site);
}

/*
 * The blocking calls of this file expand RT_FIBER_OP with both halves
 * inlined: a parked fiber then returns through one frame (the call's)
 * after the switch instead of two, and each return after a switch is a
 * likely miss of the return predictor (arch/x86_64/fiber.h).
 */
#define rt__fiber_enter fiber_enter
#define rt__fiber_await fiber_await

bool rt_in_fiber(void)
{
	struct rt_task *t;

	return rt__fiber_enter(&t) == 0;
}

/*
 * The callee runs on this stack, above the fiber's frame in the task's
 * arena. If it suspends, the task resumes at its innermost frame like any
 * stackless chain (h.top is the callee's), on the worker's stack, and the
 * chain's result comes back to rt_fiber_run, which switches in here.
 */
int64_t rt_call_async(rt_async_fn fn, const struct rt_frame *frame,
		      size_t frame_size)
{
	struct rt_frame *callee;
	struct rt_fiber *fb;
	struct rt_task *t;
	int64_t r = rt__fiber_enter(&t);

	if (r)
		return r;
	if (!fn || !frame || frame_size < sizeof(*frame) ||
	    frame_size > UINT16_MAX)
		return -EINVAL;
	fb = rt__fiber_now;
	callee = rt_frame_push(t, &fb->frame->frame, frame_size, 16, fn);
	if (!callee)
		return -ENOMEM;
	memcpy(callee + 1, frame + 1, frame_size - sizeof(*frame));
	fb->in_async++;
	r = fn(t, callee);
	fb->in_async--;
	if (r != RT_PENDING) {
		rt_frame_pop(t, callee);
		return r;
	}
	return fiber_park(fb, t);
}

int64_t rt_yield(void)
{
	return RT_FIBER_OP(t, rt_op_yield(t));
}

int64_t rt_sleep(uint64_t ns)
{
	return RT_FIBER_OP(t, rt_op_sleep(t, ns));
}

int64_t rt_sleep_until(uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_sleep_until(t, deadline_ns));
}

int64_t rt_join(struct rt_task *other)
{
	return RT_FIBER_OP(t, rt_op_join(t, other));
}

int64_t rt_read(int fd, void *buf, size_t len, uint64_t off)
{
	return RT_FIBER_OP(t, rt_op_read(t, fd, buf, len, off, RT_NEVER));
}

int64_t rt_write(int fd, const void *buf, size_t len, uint64_t off)
{
	return RT_FIBER_OP(t, rt_op_write(t, fd, buf, len, off, RT_NEVER));
}

int64_t rt_recv(int fd, void *buf, size_t len, int flags)
{
	return RT_FIBER_OP(t, rt_op_recv(t, fd, buf, len, flags, RT_NEVER));
}

int64_t rt_send(int fd, const void *buf, size_t len, int flags)
{
	return RT_FIBER_OP(t, rt_op_send(t, fd, buf, len, flags, RT_NEVER));
}

int64_t rt_accept(int fd, struct sockaddr *addr, uint32_t *addrlen)
{
	return RT_FIBER_OP(t, rt_op_accept(t, fd, addr, addrlen, RT_NEVER));
}

int64_t rt_connect(int fd, const struct sockaddr *addr, uint32_t addrlen)
{
	return RT_FIBER_OP(t, rt_op_connect(t, fd, addr, addrlen, RT_NEVER));
}

int64_t rt_close(int fd)
{
	return RT_FIBER_OP(t, rt_op_close(t, fd));
}

int64_t rt_shutdown(int fd, int how)
{
	return RT_FIBER_OP(t, rt_op_shutdown(t, fd, how));
}

int64_t rt_poll(int fd, uint32_t events)
{
	return RT_FIBER_OP(t, rt_op_poll(t, fd, events, RT_NEVER));
}

int64_t rt_fsync(int fd)
{
	return RT_FIBER_OP(t, rt_op_fsync(t, fd, 0, RT_NEVER));
}

int64_t rt_openat(int dfd, const char *path, int flags, uint32_t mode)
{
	return RT_FIBER_OP(t, rt_op_openat(t, dfd, path, flags, mode, RT_NEVER));
}

/* SPDX-License-Identifier: MIT */
/*
 * Stackful fibers: plain blocking-style C on a stack of its own, on the
 * same workers, queues and ops as the stackless tasks of rtasync.h (which
 * includes this header). See Documentation/fibers.md.
 *
 * A fiber is a task whose frame runs a function on a pooled stack. A
 * blocking-style call (rt_read, rt_sleep, rt_join, ...) issues the same
 * leaf op an async function awaits; when the op suspends, the fiber
 * switches back to its worker, which parks the task exactly as it parks a
 * continuation, and switches into the fiber again when the task resumes.
 * So cancellation, deadlines, wake-ups, donation and stealing are the
 * tasks' own, and C locals (buffers included) live across every call.
 *
 * Every call returns a negative errno on failure, never sets errno.
 * Called anywhere but in a fiber they fail at once instead of blocking:
 * -EPERM on a thread that runs no task (not a worker), -EDEADLK from a
 * stackless async function on a worker (use the RT_ macros there).
 */
#ifndef RTASYNC_FIBER_H
#define RTASYNC_FIBER_H

#include "rtasync.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A fiber's body: its result, >= 0 (or a pointer) or -errno. */
typedef int64_t (*rt_fiber_fn)(void *arg);

/*
 * Start fn(arg) on a fiber of its own (a task: join it with
 * rt_task_join, RT_JOIN or rt_join). stack_size: usable bytes, 0 for the
 * runtime's fiber_stack; committed only as the fiber touches it.
 */
int rt_fiber_spawn(struct rt_runtime *rt, rt_fiber_fn fn, void *arg,
		   size_t stack_size, struct rt_task **handle);

/* True where a blocking-style call may be made: a fiber's own code (not
 * a stackless function it called). */
bool rt_in_fiber(void);

/*
 * The frame of a fiber run inside a stackless task: RT_CALL_FIBER, or
 * RT_CALL(dst, rt_fiber_run, struct rt_fiber_frame, .fn = , .arg = ,
 * .stack_size = ). rt_fiber_spawn's tasks have one as their root.
 */
struct rt_fiber_frame {
	struct rt_frame frame;
	rt_fiber_fn fn;
	void *arg;
	size_t stack_size;	/* 0: the runtime's fiber_stack */
	struct rt_fiber *fiber;	/* private: NULL until it first runs */
};

int64_t rt_fiber_run(struct rt_task *t, struct rt_frame *f);

/* dst = await body(data), run on a fiber stack: from an async function. */
#define RT_CALL_FIBER(dst, body, data)					\
	RT_CALL(dst, rt_fiber_run, struct rt_fiber_frame, .fn = (body),	\
		.arg = (data))

/* ---- a fiber awaits a stackless async function --------------------------- */

/*
 * Call the async function fn with a copy of frame (frame_size bytes, its
 * first member a struct rt_frame) in the fiber's own task, and return
 * its result: synchronously when it completes without suspending, after
 * the fiber has parked when it suspends.
 */
int64_t rt_call_async(rt_async_fn fn, const struct rt_frame *frame,
		      size_t frame_size);

/* rt_call_async with a frame of type ftype built from initialisers. */
#define RT_CALL_ASYNC(fn, ftype, ...)					\
	({								\
		_Static_assert(offsetof(ftype, frame) == 0,		\
			       "struct rt_frame must come first");	\
		_Static_assert(_Alignof(ftype) <= 16,			\
			       "frames are at most 16-byte aligned");	\
		rt_call_async((fn), &((ftype){ __VA_ARGS__ }).frame,	\
			      sizeof(ftype));				\
	})

/* ---- blocking-style calls -------------------------------------------------- */

int rt__fiber_enter(struct rt_task **t);
int64_t rt__fiber_await(int64_t r, struct rt_site *site);

/*
 * Any leaf op as a blocking call: t names the running task inside op,
 * e.g. RT_FIBER_OP(t, rt_op_recv(t, fd, buf, len, 0, rt_deadline_in(ns))).
 * The op is not evaluated outside a fiber (the call fails instead).
 */
#define RT_FIBER_OP(t, op) RT__FIBER_OP(__COUNTER__, t, op)

#define RT__FIBER_OP(id, t, op)						\
	({								\
		static struct rt_site RT__CAT(rt__fsite_, id) = {	\
			__func__, __FILE__, __LINE__, 0 };		\
		struct rt_task *t;					\
		int64_t RT__CAT(rt__fr_, id) = rt__fiber_enter(&t);	\
		if (!RT__CAT(rt__fr_, id))				\
			RT__CAT(rt__fr_, id) = rt__fiber_await((op),	\
					&RT__CAT(rt__fsite_, id));	\
		RT__CAT(rt__fr_, id);					\
	})

/* The ops of rtasync.h without a deadline, as blocking calls. */
int64_t rt_yield(void);
int64_t rt_sleep(uint64_t ns);
int64_t rt_sleep_until(uint64_t deadline_ns);
int64_t rt_join(struct rt_task *other);
int64_t rt_read(int fd, void *buf, size_t len, uint64_t off);
int64_t rt_write(int fd, const void *buf, size_t len, uint64_t off);
int64_t rt_recv(int fd, void *buf, size_t len, int flags);
int64_t rt_send(int fd, const void *buf, size_t len, int flags);
int64_t rt_accept(int fd, struct sockaddr *addr, uint32_t *addrlen);
int64_t rt_connect(int fd, const struct sockaddr *addr, uint32_t addrlen);
int64_t rt_close(int fd);
int64_t rt_shutdown(int fd, int how);
int64_t rt_poll(int fd, uint32_t events);
int64_t rt_fsync(int fd);
int64_t rt_openat(int dfd, const char *path, int flags, uint32_t mode);

/*
 * The coordination ops of rtasync-sync.h as blocking calls, on the same
 * wait queues as the stackless tasks they meet there. Each waits without
 * a deadline; its _until twin takes one (absolute CLOCK_MONOTONIC, or
 * RT_NEVER). Messages, buffers and select arms may be C locals of the
 * fiber: its stack stays put while it is parked.
 */
int64_t rt_wait(struct rt_waitq *q);
int64_t rt_wait_until(struct rt_waitq *q, uint64_t deadline_ns);
int64_t rt_wait_cond(struct rt_waitq *q, bool (*cond)(void *arg), void *arg);
int64_t rt_wait_cond_until(struct rt_waitq *q, bool (*cond)(void *arg),
			   void *arg, uint64_t deadline_ns);
int64_t rt_waker_wait(struct rt_waker *wk);
int64_t rt_waker_wait_until(struct rt_waker *wk, uint64_t deadline_ns);
int64_t rt_chan_send(struct rt_chan *ch, const void *msg);
int64_t rt_chan_send_until(struct rt_chan *ch, const void *msg,
			   uint64_t deadline_ns);
int64_t rt_chan_recv(struct rt_chan *ch, void *buf);
int64_t rt_chan_recv_until(struct rt_chan *ch, void *buf, uint64_t deadline_ns);
int64_t rt_mutex_lock(struct rt_mutex *m);
int64_t rt_mutex_lock_until(struct rt_mutex *m, uint64_t deadline_ns);
int64_t rt_sem_acquire(struct rt_sem *s);
int64_t rt_sem_acquire_until(struct rt_sem *s, uint64_t deadline_ns);
int64_t rt_event_wait(struct rt_event *e);
int64_t rt_event_wait_until(struct rt_event *e, uint64_t deadline_ns);
int64_t rt_notify_wait(struct rt_notify *n);
int64_t rt_notify_wait_until(struct rt_notify *n, uint64_t deadline_ns);
int64_t rt_oneshot_recv(struct rt_oneshot *o);
int64_t rt_oneshot_recv_until(struct rt_oneshot *o, uint64_t deadline_ns);
int64_t rt_select(struct rt_select_arm *arms, unsigned int n);
int64_t rt_select_until(struct rt_select_arm *arms, unsigned int n,
			uint64_t deadline_ns);
int64_t rt_taskset_next(struct rt_taskset *set, struct rt_task_done *out);
int64_t rt_taskset_next_until(struct rt_taskset *set, struct rt_task_done *out,
			      uint64_t deadline_ns);
int64_t rt_spawn_blocking(rt_blocking_fn fn, void *arg);
int64_t rt_spawn_blocking_until(rt_blocking_fn fn, void *arg,
				uint64_t deadline_ns);

#ifdef __cplusplus
}
#endif

#endif /* RTASYNC_FIBER_H */

/* SPDX-License-Identifier: MIT */
/*
 * librtasync: how tasks coordinate. Included from rtasync.h.
 *
 * Everything here is built on one primitive, the wait queue: a task parks
 * on it (an op returning RT_PENDING, like rt_op_sleep) with an optional
 * deadline, and is woken by any thread. Channels, the mutex, the
 * semaphore, events, oneshots, wakers and select are wait queues with a
 * little state beside them. See Documentation/coordination.md.
 *
 * Ops (rt_op_*) run inside a task and return a result or RT_PENDING; use
 * them through RT_AWAIT. Functions without rt_op_ may be called from any
 * thread, a worker or a plain C thread (not from a signal handler: they
 * take a short spin lock).
 *
 * The structs below are public only so that they can be embedded (in a
 * frame, a global, your own object); their fields are private.
 */
#ifndef RTASYNC_SYNC_H
#define RTASYNC_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rt_task;
struct rt_runtime;

/* A task's place in one wait queue. Private. */
struct rt_waiter {
	struct rt_waiter *next, *prev;
	struct rt_wlist *list;		/* the list it is linked on, or NULL */
	uint32_t *lock;			/* the spin lock guarding list */
	struct rt_task *task;
	void *buf;			/* a message to give or to fill */
	int64_t result;			/* written by the waker that won */
	uint32_t arm;			/* index in its select */
	uint32_t pad;
};

struct rt_wlist {
	struct rt_waiter *head, *tail;
};

/* ---- the wait queue ------------------------------------------------------- */

struct rt_waitq {
	uint32_t lock;
	struct rt_wlist waiters;
};

#define RT_WAITQ_INIT { 0, { NULL, NULL } }
/* wake every waiter: the n of rt_waitq_wake() */
#define RT_WAKE_ALL UINT32_MAX

void rt_waitq_init(struct rt_waitq *q);
/*
 * Park t on q until a wake, the deadline (absolute CLOCK_MONOTONIC, or
 * RT_NEVER) or a cancel. Result: the waker's value, -ETIMEDOUT,
 * -ECANCELED.
 */
int64_t rt_op_wait(struct rt_task *t, struct rt_waitq *q, uint64_t deadline_ns);
/*
 * As rt_op_wait, but cond(arg) is evaluated under q's lock first: when it
 * holds, the result is 0 at once. A waker that makes cond true before it
 * calls rt_waitq_wake() is never missed.
 */
int64_t rt_op_wait_cond(struct rt_task *t, struct rt_waitq *q,
			bool (*cond)(void *arg), void *arg,
			uint64_t deadline_ns);
/* Wake up to n waiters, oldest first, with value (not RT_PENDING): how
 * many woke, or -EINVAL. */
int rt_waitq_wake(struct rt_waitq *q, uint32_t n, int64_t value);
/* Waiters parked on q now (a snapshot). */
int rt_waitq_waiters(struct rt_waitq *q);

/* ---- wakers: leaf ops written outside the library ------------------------ */

struct rt_waker;

/* A waker for t, the running task, to be completed once by anyone. */
int rt_waker_new(struct rt_task *t, struct rt_waker **out);
/*
 * Park t until wk is completed (at once if it already was), the deadline
 * or a cancel. Result: the completion's value, -ETIMEDOUT, -ECANCELED.
 * A waker is waited on once.
 */
int64_t rt_op_waker_wait(struct rt_task *t, struct rt_waker *wk,
			 uint64_t deadline_ns);
/*
 * Complete wk with result (any int64_t but RT_PENDING), from any thread.
 * -EALREADY when it was completed before or its wait already ended
 * (counted in rt_sync_stats.wakers_late), -ESHUTDOWN once its runtime was
 * shut down, -EINVAL for NULL or RT_PENDING.
 */
int rt_waker_wake(struct rt_waker *wk, int64_t result);
/* Drop the caller's handle (the waker lives until both sides let go). */
void rt_waker_release(struct rt_waker *wk);

/* ---- channels ------------------------------------------------------------- */

struct rt_chan;

/* A bounded channel of capacity messages of elem_size bytes each. */
int rt_chan_new(size_t elem_size, size_t capacity, struct rt_chan **out);
/* Free a channel nobody uses any more (no waiter may remain). */
void rt_chan_free(struct rt_chan *ch);
/*
 * Send a copy of *msg; waits while the channel is full. msg must stay
 * valid until the op completes (in a frame, not a C local). Result 0,
 * -EPIPE once closed, -ETIMEDOUT, -ECANCELED.
 */
int64_t rt_op_chan_send(struct rt_task *t, struct rt_chan *ch, const void *msg,
			uint64_t deadline_ns);
/*
 * Receive the oldest message into *buf; waits while the channel is empty.
 * Result 0, -EPIPE once closed and drained, -ETIMEDOUT, -ECANCELED.
 */
int64_t rt_op_chan_recv(struct rt_task *t, struct rt_chan *ch, void *buf,
			uint64_t deadline_ns);
/* From any thread: -EAGAIN where the op would wait. */
int rt_chan_try_send(struct rt_chan *ch, const void *msg);
int rt_chan_try_recv(struct rt_chan *ch, void *buf);
/* No more sends; receivers drain what is queued, then get -EPIPE. */
int rt_chan_close(struct rt_chan *ch);
/* Messages queued now (a snapshot). */
size_t rt_chan_len(struct rt_chan *ch);

/* ---- mutex ----------------------------------------------------------------- */

struct rt_mutex {
	uint32_t lock;
	const void *owner;		/* task, or a thread's token */
	struct rt_wlist waiters;
};

#define RT_MUTEX_INIT { 0, NULL, { NULL, NULL } }

void rt_mutex_init(struct rt_mutex *m);
/* Result 0: t owns m. -EDEADLK if it did already; -ETIMEDOUT, -ECANCELED. */
int64_t rt_op_mutex_lock(struct rt_task *t, struct rt_mutex *m,
			 uint64_t deadline_ns);
/* From any thread; -EBUSY when owned. The owner is the running task, or
 * the calling thread outside tasks. */
int rt_mutex_trylock(struct rt_mutex *m);
/* -EPERM unless the caller owns m; hands it to the oldest waiter. */
int rt_mutex_unlock(struct rt_mutex *m);

/* ---- semaphore ------------------------------------------------------------- */

struct rt_sem {
	uint32_t lock;
	uint32_t pad;
	uint64_t permits, max;
	struct rt_wlist waiters;
};

int rt_sem_init(struct rt_sem *s, uint64_t permits, uint64_t max);
/* Take one permit. Result 0, -ETIMEDOUT, -ECANCELED. */
int64_t rt_op_sem_acquire(struct rt_task *t, struct rt_sem *s,
			  uint64_t deadline_ns);
/* From any thread; -EAGAIN when none is free. */
int rt_sem_try_acquire(struct rt_sem *s);
/* Give n permits back: -EOVERFLOW (nothing given) past max. */
int rt_sem_release(struct rt_sem *s, uint64_t n);
uint64_t rt_sem_available(struct rt_sem *s);

/* ---- events and notify ----------------------------------------------------- */

/* Level-triggered: once set, waits complete until it is reset. */
struct rt_event {
	struct rt_waitq q;
	uint32_t set;
};

#define RT_EVENT_INIT { RT_WAITQ_INIT, 0 }

void rt_event_init(struct rt_event *e);
int64_t rt_op_event_wait(struct rt_task *t, struct rt_event *e,
			 uint64_t deadline_ns);
/* How many waiters it woke. */
int rt_event_set(struct rt_event *e);
void rt_event_reset(struct rt_event *e);

/*
 * Edge-triggered: rt_notify_one() wakes one waiter, or stores one permit
 * that the next wait consumes at once; rt_notify_all() wakes the waiters
 * there are now and stores nothing.
 */
struct rt_notify {
	struct rt_waitq q;
	uint32_t permit;
};

#define RT_NOTIFY_INIT { RT_WAITQ_INIT, 0 }

void rt_notify_init(struct rt_notify *n);
int64_t rt_op_notify_wait(struct rt_task *t, struct rt_notify *n,
			  uint64_t deadline_ns);
void rt_notify_one(struct rt_notify *n);
int rt_notify_all(struct rt_notify *n);

/* ---- oneshot --------------------------------------------------------------- */

/* One value, sent once, received once. */
struct rt_oneshot {
	struct rt_waitq q;
	uint32_t state;
	int64_t value;
};

#define RT_ONESHOT_INIT { RT_WAITQ_INIT, 0, 0 }

void rt_oneshot_init(struct rt_oneshot *o);
/* -EALREADY if a value was sent or the oneshot closed before; -EINVAL for
 * RT_PENDING. */
int rt_oneshot_send(struct rt_oneshot *o, int64_t value);
/* The receiver then gets -EPIPE; -EALREADY when already sent or closed. */
int rt_oneshot_close(struct rt_oneshot *o);
/* Result: the value; -EPIPE when closed; -EALREADY when already received. */
int64_t rt_op_oneshot_recv(struct rt_task *t, struct rt_oneshot *o,
			   uint64_t deadline_ns);

/* ---- select: the first of several ------------------------------------------ */

enum rt_arm_kind {
	RT_ARM_WAITQ = 1,	/* obj: struct rt_waitq */
	RT_ARM_CHAN_RECV,	/* obj: struct rt_chan, buf: where to receive */
	RT_ARM_CHAN_SEND,	/* obj: struct rt_chan, buf: the message */
	RT_ARM_MUTEX,		/* obj: struct rt_mutex */
	RT_ARM_SEM,		/* obj: struct rt_sem */
	RT_ARM_EVENT,		/* obj: struct rt_event */
	RT_ARM_NOTIFY,		/* obj: struct rt_notify */
	RT_ARM_ONESHOT,		/* obj: struct rt_oneshot */
	RT_ARM_TASKSET,		/* obj: struct rt_taskset, buf: a struct
				   rt_task_done to fill */
	/* I/O ops, started by the select; obj: struct rt_io_req */
	RT_ARM_READ,		/* fd, buf, len, off */
	RT_ARM_WRITE,		/* fd, buf, len, off */
	RT_ARM_RECV,		/* fd, buf, len, flags (MSG_*) */
	RT_ARM_SEND,		/* fd, buf, len, flags (MSG_*) */
	RT_ARM_POLL,		/* fd, flags: the poll events (POLLIN...) */
};

/*
 * The I/O op of an arm of kind RT_ARM_READ ... RT_ARM_POLL, read when the
 * select starts it; buf must stay valid until the select ends.
 */
struct rt_io_req {
	int fd;
	int flags;
	void *buf;
	size_t len;
	uint64_t off;		/* read, write: file offset, -1 current */
};

struct rt_select_arm {
	enum rt_arm_kind kind;
	void *obj;
	void *buf;
	int64_t result;		/* out: the arm's result, for the winner */
	struct rt_waiter node;	/* private */
};

/*
 * Wait for the first of n arms (the array stays put until the op ends:
 * keep it in a frame). Exactly one arm completes: the result is its
 * index, its own result in arms[i].result (which may be an error, e.g.
 * -EPIPE). Arms are tried in order, so the lowest ready index wins.
 * -ETIMEDOUT, -ECANCELED; -EINVAL for a bad arm or n 0 or > 64;
 * -EAGAIN when an I/O arm found no submission slot.
 *
 * An I/O arm is started on the worker's ring (not once the deadline has
 * passed) and cancelled (ASYNC_CANCEL) when another arm wins; the select
 * ends only when the kernel is done with every I/O arm's buffer. Each
 * I/O arm's result says what its op did, winner or not: >= 0 a count
 * (the bytes are in its buffer) or the poll events, a negative errno,
 * -ECANCELED when it did nothing (not started, or cancelled in time).
 */
int64_t rt_op_select(struct rt_task *t, struct rt_select_arm *arms,
		     unsigned int n, uint64_t deadline_ns);

/* ---- task names and task-local storage ------------------------------------ */

/* Name a task once (truncated to 31 bytes), from any thread: -EALREADY
 * if it has a name. The name lives as long as the task. */
int rt_task_set_name(struct rt_task *task, const char *name);
/* Its name, "" if none; NULL for NULL. */
const char *rt_task_name(const struct rt_task *task);
/* A new key for task-local values (16 per process): -ENOSPC past that. */
int rt_task_local_key(void);
/* The running task's value for key: -EPERM outside a task, -EINVAL for a
 * key never made. Values are the task's: free them before it returns. */
int rt_task_local_set(int key, void *value);
void *rt_task_local_get(int key);

/* ---- task sets, timed join ---------------------------------------------- */

/* Join-any and join-all: the tasks of a set, in the order they finish. */
struct rt_taskset;

struct rt_task_done {
	uint64_t tag;		/* given to rt_taskset_add */
	int64_t result;		/* the task's result */
};

/* capacity: results kept unread before finished tasks wait to report */
int rt_taskset_new(size_t capacity, struct rt_taskset **out);
/* The set joins task (it takes over the handle). */
int rt_taskset_add(struct rt_taskset *set, struct rt_task *task, uint64_t tag);
/*
 * The next task of the set to finish (join-any); loop until -ENOENT for
 * join-all. -ENOENT: every added task was reported. One reader at a time.
 */
int64_t rt_op_taskset_next(struct rt_task *t, struct rt_taskset *set,
			   struct rt_task_done *out, uint64_t deadline_ns);
/* Tasks added and not reported yet. */
size_t rt_taskset_pending(struct rt_taskset *set);
/* Results not read are dropped; tasks still running finish on their own. */
void rt_taskset_free(struct rt_taskset *set);

/*
 * Wait up to deadline_ns (absolute CLOCK_MONOTONIC) for a task from a
 * plain thread, as rt_task_join. -ETIMEDOUT leaves the task joinable.
 */
int rt_task_join_until(struct rt_task *task, int64_t *result,
		       uint64_t deadline_ns);

/* ---- blocking calls off the workers --------------------------------------- */

typedef int64_t (*rt_blocking_fn)(void *arg);

/*
 * Run fn(arg) on a bounded pool of plain threads (16 by default) and park
 * t until it returns: the result is fn's. A wait that ends first
 * (-ETIMEDOUT, -ECANCELED) leaves fn running if it started; one that had
 * not started is skipped. arg must stay valid until fn returns.
 */
int64_t rt_op_spawn_blocking(struct rt_task *t, rt_blocking_fn fn, void *arg,
			     uint64_t deadline_ns);
/* The pool's size, before its first use: -EBUSY after, -EINVAL for 0. */
int rt_blocking_pool_size(struct rt_runtime *rt, unsigned int threads);

/* ---- counters ---------------------------------------------------------- */

struct rt_sync_stats {
	uint64_t wait_timeouts;	/* waits ended by their deadline */
	uint64_t wait_cancels;	/* waits ended by rt_task_cancel() */
	uint64_t wakers_late;	/* completions of a waker already done */
	uint64_t blocking_jobs;	/* rt_op_spawn_blocking calls run */
	uint64_t blocking_skipped;	/* ... skipped: their wait had ended */
	uint64_t blocking_threads;	/* threads the pool started */
};

int rt_sync_stats(struct rt_runtime *rt, struct rt_sync_stats *out);

/* ---- the await macros ------------------------------------------------------ */

#define RT_WAIT(dst, q) RT_AWAIT(dst, rt_op_wait(RT_TASK(), (q), RT_NEVER))
#define RT_CHAN_SEND(dst, ch, msg)					\
	RT_AWAIT(dst, rt_op_chan_send(RT_TASK(), (ch), (msg), RT_NEVER))
#define RT_CHAN_RECV(dst, ch, buf)					\
	RT_AWAIT(dst, rt_op_chan_recv(RT_TASK(), (ch), (buf), RT_NEVER))
#define RT_MUTEX_LOCK(dst, m)						\
	RT_AWAIT(dst, rt_op_mutex_lock(RT_TASK(), (m), RT_NEVER))
#define RT_SEM_ACQUIRE(dst, s)						\
	RT_AWAIT(dst, rt_op_sem_acquire(RT_TASK(), (s), RT_NEVER))

#ifdef __cplusplus
}
#endif

#endif /* RTASYNC_SYNC_H */

/* SPDX-License-Identifier: MIT */
/*
 * What the coordination primitives (chan.c, sync.c, waker.c, select.c)
 * share with the wait queue core (waitq.c).
 *
 * A primitive is a spin lock, some state, and one or more waiter lists
 * guarded by that lock. Waiting on it is an "arm": a poll that, under the
 * lock, either completes the operation at once or leaves a waiter linked
 * on a list. rt_wait_arms() runs one or several arms (a select) as one op.
 */
#ifndef RT_WAITQ_H
#define RT_WAITQ_H

#include "internal.h"

/* Bits of rt_wait.state; the arm that won is in the top 16 bits. */
enum {
	RT_WS_WAITING = 1u << 0,	/* parked in a waitq op: set when the
					   first waiter is linked, cleared by
					   rt_wait_finish() */
	RT_WS_ARMED = 1u << 1,		/* claimable: cleared by the claim */
	RT_WS_WON = 1u << 2,		/* the claimer has delivered */
	RT_WS_UNWOUND = 1u << 3,	/* the task has unwound (commit) */
	RT_WS_IO_ONE = 1u << 4,		/* I/O arms in flight: a count in
					   bits 4-11, up by the op, down by
					   the ring's owner (io.c) */
	RT_WS_IO_MASK = 0xffu << 4,
	RT_WS_ARM_SHIFT = 16,
};

/* Claimed and unwound: the wait is over once no I/O arm is in flight. */
static inline bool rt_ws_ready(uint32_t s)
{
	return (s & (RT_WS_WON | RT_WS_UNWOUND)) ==
	       (RT_WS_WON | RT_WS_UNWOUND);
}

/* Arms that are no waiter's: what ended the wait instead. */
enum {
	RT_ARM_TIMEOUT = 0xffff,
	RT_ARM_CANCEL = 0xfffe,
	RT_ARM_NOMEM = 0xfffd,
	RT_ARM_AGAIN = 0xfffc,		/* an I/O arm found no SQE */
	RT_ARMS_MAX = 64,
};

/* What a poll found. */
enum rt_poll {
	RT_POLL_WAIT,		/* not ready: link the waiter */
	RT_POLL_READY,		/* done, result in the waiter */
	RT_POLL_LOST,		/* ready, but another arm already won */
};

/* Waiters claimed under a lock, made runnable once it is dropped. */
struct rt_wakeups {
	struct rt_waiter *head;
	int n;
};

struct rt_arm_ops {
	uint32_t *(*lock)(void *obj);
	struct rt_wlist *(*list)(void *obj);
	/* Under the lock. With armed, the waiter's task must be claimed
	 * (rt_arm_take) before anything is consumed. A poll that returns
	 * WAIT has woken nobody: rt_wait_one() keeps the lock past it. */
	enum rt_poll (*poll)(void *obj, struct rt_waiter *w, bool armed,
			     struct rt_wakeups *wk);
	/* Instead of the three above, for an arm that is an operation
	 * started elsewhere (an I/O op): start it; 0 or -errno. */
	int (*start)(struct rt_task *t, void *obj, struct rt_waiter *w);
};

/*
 * How a primitive declares its poll: inline into its own rt_wait_one()
 * calls, where ops->poll is a constant. gcc does call it directly there,
 * but a function whose address the arm table takes stays out of line,
 * and those two calls, with the saves and spills around them, were 100
 * of the 808 instructions of a channel round trip (callgrind). select,
 * timed waits and try_ calls go through the table to the out-of-line
 * copy.
 */
#define RT_POLL_FN static inline __attribute__((always_inline)) enum rt_poll

struct rt_arm {
	const struct rt_arm_ops *ops;
	void *obj;
	struct rt_waiter *node;
};

void rt__spin_lock_slow(uint32_t *lock);

/* A spin lock (waitq.c): one exchange when it is free. */
static inline void rt_spin_lock(uint32_t *lock)
{
	if (likely(!__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)))
		return;
	rt__spin_lock_slow(lock);
}

static inline void rt_spin_unlock(uint32_t *lock)
{
	__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

/*
 * End t's wait for arm, if nobody has (EXACTLY ONE ENDS A WAIT, waitq.c).
 * A claim that finds the task unwound and no I/O arm in flight sets WON
 * in its own CAS (CLAIMED AFTER THE UNWIND): the claimer requeues t.
 * Inline: every wake-up makes one.
 */
static inline bool rt_wait_claim(struct rt_task *t, uint32_t arm)
{
	struct rt_wait *wt = rt_task_wait(t);
	uint32_t s = atomic_load_explicit(&wt->state, memory_order_relaxed);
	uint32_t n;

	do {
		if (!(s & RT_WS_ARMED))
			return false;
		n = (s & (RT_WS_WAITING | RT_WS_UNWOUND | RT_WS_IO_MASK)) |
		    (arm << RT_WS_ARM_SHIFT);
		if ((s & (RT_WS_UNWOUND | RT_WS_IO_MASK)) == RT_WS_UNWOUND)
			n |= RT_WS_WON;
	} while (!atomic_compare_exchange_weak_explicit(&wt->state, &s, n,
			memory_order_acq_rel, memory_order_relaxed));
	return true;
}

void rt__wait_publish_slow(struct rt_task *t, bool foreign);

/*
 * The claimer has delivered: requeue t if it falls to us. WON already
 * set is our own claim's (CLAIMED AFTER THE UNWIND, the common case: a
 * parked task is found unwound): nobody else sets WON in a wait another
 * party claimed, and nobody else writes the state until t runs, so we
 * requeue it with no RMW. foreign: act as a foreign thread would
 * (rt_task_cancel, which may run in a signal handler).
 */
static inline void rt_wait_publish(struct rt_task *t, bool foreign)
{
	if (likely(atomic_load_explicit(&rt_task_wait(t)->state,
					memory_order_relaxed) & RT_WS_WON))
		rt_task_make_runnable(foreign ? NULL : rt__self, t);
	else
		rt__wait_publish_slow(t, foreign);
}

/* Take w out of its list, under its lock; w->list is the caller's. */
static inline void rt__wlist_cut(struct rt_wlist *l, struct rt_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		l->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		l->tail = w->prev;
}

/* Under the list's lock: the oldest waiter whose task this call claimed,
 * unlinked; NULL when none can be. */
static inline struct rt_waiter *rt_wlist_claim(struct rt_wlist *l)
{
	struct rt_waiter *w;

	while ((w = l->head)) {
		bool won;

		rt__wlist_cut(l, w);
		won = rt_wait_claim(w->task, w->arm);
		/* the last touch of a loser's waiter: see NOTHING POINTS */
		__atomic_store_n(&w->list, NULL, __ATOMIC_RELEASE);
		if (won)
			return w;
	}
	return NULL;
}
/* ... and queued on wk to be published, with result. */
bool rt_wlist_wake(struct rt_wlist *l, struct rt_wakeups *wk, int64_t result);
int rt_wlist_wake_all(struct rt_wlist *l, struct rt_wakeups *wk,
		      int64_t result);

static inline void rt_wakeups_add(struct rt_wakeups *wk, struct rt_waiter *w)
{
	w->next = wk->head;
	wk->head = w;
	wk->n++;
}

/* Outside the lock: the waiters' tasks may run now. Most ops wake
 * nobody, the rest mostly one: a test, or one call a task. */
static inline void rt_wakeups_publish(struct rt_wakeups *wk)
{
	struct rt_waiter *w = wk->head;

	while (w) {
		struct rt_waiter *next = w->next;

		rt_wait_publish(w->task, false);
		w = next;
	}
	wk->head = NULL;
}

/* A poll that found its object ready: may it complete? */
static inline bool rt_arm_take(struct rt_waiter *w, bool armed)
{
	return !armed || rt_wait_claim(w->task, w->arm);
}

/* The select arm a waiter belongs to. */
static inline struct rt_select_arm *rt_arm_of(struct rt_waiter *w)
{
	return (struct rt_select_arm *)((char *)w -
					offsetof(struct rt_select_arm, node));
}

/* Readiness of an arm outside any task (try_ calls): the same polls. */
enum rt_poll rt_arm_try(const struct rt_arm_ops *ops, void *obj,
			struct rt_waiter *w);

int64_t rt_wait_arms(struct rt_task *t, const struct rt_arm *arms,
		     unsigned int n, uint64_t deadline_ns, bool select);

/* The running task's own waiter, for one arm with buf; NULL with *err
 * when the op may not run. */
static inline struct rt_waiter *rt__wait_own(struct rt_task *t, void *buf,
					     int64_t *err)
{
	struct rt_task_ext *x;
	struct rt_waiter *w;

	*err = rt_op_check(t);
	if (*err)
		return NULL;
	x = rt_task_ext_get(t);	/* not before the check: t may be NULL */
	if (unlikely(!x)) {
		*err = -ENOMEM;
		return NULL;
	}
	w = &x->wait.node;	/* names t at arm 0 (ONE ARM AT REST) */
	w->buf = buf;
	return w;
}

void rt__wait_finish_slow(struct rt_task *t);

/*
 * On the worker about to resume t: end its wait (waitq.c). Inline, the
 * common end: one waiter, no deadline, no select and no waker, and that
 * waiter won, so its waker unlinked it and nothing is left to undo. The
 * acquire pairs with the claimer's WON (or reaches us through the run
 * queue, CLAIMED AFTER THE UNWIND): what it delivered is visible.
 */
static inline void rt_wait_finish(struct rt_task *t)
{
	struct rt_wait *wt = rt_task_wait(t);
	uint32_t s = atomic_load_explicit(&wt->state, memory_order_acquire);

	if (unlikely((s >> RT_WS_ARM_SHIFT) || wt->timer_worker ||
		     wt->nnodes != 1 || wt->select || wt->waker)) {
		rt__wait_finish_slow(t);
		return;
	}
	t->h.ret = ((struct rt_waiter *)wt->nodes)->result;
	atomic_store_explicit(&wt->state, 0, memory_order_relaxed);
}

int64_t rt__wait_one_timed(struct rt_task *t, const struct rt_arm_ops *ops,
			   void *obj, void *buf, uint64_t deadline_ns);
int64_t rt__wait_park_held(struct rt_task *t, struct rt_wlist *l,
			   uint32_t *lock);

/*
 * One arm with the task's own waiter: the path every channel, lock and
 * event op takes. Inline, so that a primitive's own ops, constants in
 * its file, are called directly: one lock round and no loop when the
 * object is ready. With no deadline a park keeps the lock for the
 * commit (LOCK HELD OVER THE UNWIND, waitq.c).
 */
static inline __attribute__((always_inline)) int64_t
rt_wait_one(struct rt_task *t, const struct rt_arm_ops *ops, void *obj,
	    void *buf, uint64_t deadline_ns)
{
	struct rt_wakeups wk = { NULL, 0 };
	struct rt_waiter *w;
	uint32_t *lock;
	int64_t err;

	if (deadline_ns != RT_NEVER)
		return rt__wait_one_timed(t, ops, obj, buf, deadline_ns);
	w = rt__wait_own(t, buf, &err);
	if (!w)
		return err;
	lock = ops->lock(obj);
	rt_spin_lock(lock);
	if (ops->poll(obj, w, false, &wk) == RT_POLL_WAIT)
		return rt__wait_park_held(t, ops->list(obj), lock);
	rt_spin_unlock(lock);
	rt_wakeups_publish(&wk);
	return w->result;	/* READY: an unarmed poll never loses */
}

/* The arm kinds, for select.c. */
extern const struct rt_arm_ops rt_waitq_arm;
extern const struct rt_arm_ops rt_chan_recv_arm, rt_chan_send_arm;
extern const struct rt_arm_ops rt_mutex_arm, rt_sem_arm;
extern const struct rt_arm_ops rt_event_arm, rt_notify_arm, rt_oneshot_arm;

/* io.c: I/O ops as select arms */
extern const struct rt_arm_ops rt_io_arm;
bool rt_wait_io_done(struct rt_task *t, uint32_t arm);
void rt_io_arms_kick(struct rt_runtime *rt, uint16_t owner);
bool rt_io_arm_started(const struct rt_waiter *w);
int64_t rt_io_arm_result(const struct rt_waiter *w);

void rt__wait_commit_slow(struct rt_worker *w, struct rt_task *t);

/*
 * The step has unwound (task.c): make t's wait claimable. Inline, the
 * common case, LOCK HELD OVER THE UNWIND (waitq.c): the op kept the
 * list's lock, so no waker has seen the waiter yet. The wait becomes
 * claimable already unwound, and every claim of it requeues t at once;
 * the cancel flag is read after the state is set (NO LOST CANCEL). t
 * stays alive until the unlock: a claimer that requeued it elsewhere
 * has it wait in rt_wait_finish() for this lock, to unlink the waiter.
 * A cancel we claim ourselves keeps t parked until our push, after the
 * unlock.
 */
static inline void rt_wait_commit(struct rt_worker *w, struct rt_task *t)
{
	struct rt_wait *wt = rt_task_wait(t);
	uint32_t *lock = wt->held;
	bool cancelled;

	if (unlikely(!lock)) {
		rt__wait_commit_slow(w, t);
		return;
	}
	wt->held = NULL;
	atomic_store_explicit(&wt->state,
			      RT_WS_WAITING | RT_WS_ARMED | RT_WS_UNWOUND,
			      memory_order_relaxed);
	rt_fence_fast();	/* the other side: rt_wait_cancel() */
	cancelled = (atomic_load_explicit(&t->flags, memory_order_relaxed) &
		     RT_TF_CANCEL) && rt_wait_claim(t, RT_ARM_CANCEL);
	rt_spin_unlock(lock);
	if (cancelled)
		rt_worker_push_local(w, t);
}

/* The wait with the task's own waiter on no list, and its suspension. */
void rt_wait_arm_alone(struct rt_task *t);
int64_t rt_wait_suspend(struct rt_task *t, uint64_t deadline_ns);

/* waker.c: the end of a wait on a waker; a waker nobody waits on now */
void rt_waker_finish(struct rt_task *t);
bool rt_waker_abandoned(struct rt_waker *wk);
void rt_waker_ref(struct rt_waker *wk);

/* chan.c, for taskset.c */
void rt_chan_expect(struct rt_chan *ch, _Atomic uint64_t *expect);
uint64_t rt_chan_unreceived(struct rt_chan *ch);

/* taskset.c */
struct rt_chan *rt_taskset_chan(struct rt_taskset *s);

/* blocking.c */
void rt_blocking_stats(struct rt_runtime *rt, struct rt_sync_stats *out);

#endif /* RT_WAITQ_H */

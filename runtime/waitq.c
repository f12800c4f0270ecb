// SPDX-License-Identifier: MIT
/*
 * Wait queues: the one way a task parks until another party wakes it.
 * Every coordination primitive (chan.c, sync.c, waker.c, select.c) is a
 * wait queue, or several, with some state beside them.
 *
 * A waiter (struct rt_waiter) is a task's place on one list; a task has
 * one wait at a time (in its ext, internal.h: allocated by the first op
 * that waits), which may have several waiters (a select, one per arm).
 * Four parties can end a wait: a waker (any thread, holding
 * the list's lock), the deadline (the timer heap of the worker that
 * committed the wait, under that heap's lock), a cancel (any thread, even
 * a signal handler, holding nothing) and the op itself (an arm that was
 * ready while later arms were being linked, or a cancel it saw).
 *
 *   EXACTLY ONE ENDS A WAIT. Whoever ends it first claims it: one CAS
 *   that clears RT_WS_ARMED in the wait's state and records the arm that
 *   won (or TIMEOUT, CANCEL). Only the claimer may deliver (write the
 *   winning waiter's result and message); everyone else backs off
 *   without touching the task again. A permit, a message or a mutex is
 *   handed over only by a waker whose claim succeeded, under the
 *   primitive's lock, so a waiter that times out or is cancelled at the
 *   moment it is woken either got the thing (and resumes with it) or
 *   did not (and the waker gives it to the next waiter): nothing is lost.
 *
 *   EXACTLY ONE REQUEUES. The op links waiters while the task is still
 *   running, so a waker may claim before the task has unwound to its
 *   worker; it must not run twice at once. After delivering, the
 *   claimer sets RT_WS_WON; after unwinding, the task's worker sets
 *   RT_WS_UNWOUND (rt_wait_commit). Both are RMWs on the same word, so
 *   whichever comes second sees the other's bit, and it alone makes the
 *   task runnable. WON is a release, and its reader acquires, so what the
 *   claimer delivered is visible to the task when it resumes.
 *
 *   CLAIMED AFTER THE UNWIND. A claim that finds UNWOUND set (and no
 *   I/O arm in flight) sets WON in the same CAS: the commit is behind
 *   it, so nobody else will read WON, and the claimer alone requeues
 *   the task, with no second RMW, once it has delivered. What it
 *   delivered reaches the task through the run queue (or inbox) it is
 *   pushed on. rt_wait_publish() tells the two cases apart by WON: in
 *   a wait another party claimed, nobody else sets it.
 *
 *   LOCK HELD OVER THE UNWIND. A single wait with no deadline
 *   (rt_wait_one) that must park links its waiter and returns with the
 *   list's lock still held: the step unwinds at once (RT_AWAIT returns
 *   RT_PENDING, a fiber switches to its worker), and rt_wait_commit()
 *   makes the wait claimable as WAITING|ARMED|UNWOUND, reads the cancel
 *   flag, and only then unlocks. A waker needs the lock to find the
 *   waiter, so every claim but a cancel's comes after the unwind and
 *   takes the one-RMW path above; a park costs the lock and no RMW of
 *   the state. The commit's StoreLoad against rt_task_cancel() is the
 *   asymmetric pair of park.c: a compiler barrier here, a membarrier on
 *   the cancel's side when it finds no wait. A task whose code ignored
 *   RT_PENDING and ran on would keep the lock: ops must be awaited.
 *
 *   NO WAKE INTO A BUFFER THE KERNEL HOLDS. A select's I/O arm (io.c)
 *   is an op on a ring: the kernel may write its buffer until its CQE
 *   is reaped. The arms in flight are a count in the state (RT_WS_IO_*),
 *   raised by the op before it unwinds and lowered by the ring's owner
 *   when it reaps each arm's CQE, with the arm's claim in the same RMW
 *   when it won. The requeue condition above becomes WON and UNWOUND
 *   and no I/O in flight, and each party's RMW changes one of the three
 *   (WON and UNWOUND are set once, the count only falls after the op):
 *   the RMW that makes all three hold, exactly one, requeues the task
 *   (wait_settle). The RMW that sets the second of WON and UNWOUND while
 *   arms are in flight kicks their ring's owner (rt_io_arms_kick) to
 *   cancel them: the arms lost, and their CQEs still come. The kicker
 *   names the owner from what it read before its RMW: after it, the
 *   arms may complete on their own, and the task run and be freed.
 *
 *   NO LOST CANCEL. The op sets WAITING|ARMED (seq_cst) before it links
 *   anything, then reads RT_TF_CANCEL (seq_cst); rt_task_cancel() sets
 *   the flag, then reads the state (both seq_cst; see LOCK HELD for the
 *   commit that arms the wait). Either the cancel sees
 *   the wait and claims it, or the op sees the flag and claims it itself.
 *   A cancel that finds no ext has found no wait: the ext is published
 *   (seq_cst CAS) before the state is set (rt_wait_parked()).
 *
 *   NOTHING POINTS AT A FINISHED WAIT. Before the task runs its code
 *   again, rt_wait_finish() takes its deadline out of the timer heap and
 *   unlinks every waiter still on a list, each under the lock that
 *   guards it. A waker reads what it needs of a waiter (task, arm)
 *   before it lets go of it: it unlinks under the lock, tries the claim,
 *   and only then clears w->list with a release store, which finish
 *   reads with acquire before it reuses the waiter's memory. A waiter
 *   still linked keeps the task parked in finish until the lock is free.
 *
 *   ONE ARM AT REST. Between waits a task's wait describes its own
 *   waiter alone (nodes = &node, stride 0, nnodes 1, select 0), and that
 *   waiter names the task at arm 0: rt_wait_init() sets this up when the
 *   ext is made, and rt__wait_finish_slow() puts it back after a wait
 *   that changed it (a select, which links other waiters, always ends
 *   there). So the common op, rt_wait_one(), writes none of it: on a
 *   channel round trip those were 16 of the stores.
 *
 * Who owns the task at each step: its worker until the op returns
 * RT_PENDING and the step unwinds; then nobody (it sits on lists, maybe
 * in a heap) until a claim; the claimer from the claim until WON, or
 * until it finds the task unwound and makes it runnable; then the run
 * queue, the worker that pops it, and rt_wait_finish().
 *
 * tests/model/wait_claim.pml checks these with spin (a waker handing over
 * a permit, the deadline and a cancel racing one parked wait), and
 * select_io.pml the I/O arms (the kernel, the ring's owner and the kick
 * against the same parties), each with injected bugs it must catch.
 *
 * Stackful tasks (fibers) call the same rt_op_* functions: they suspend
 * when an op returns RT_PENDING, unwind to their worker the same way,
 * and find their result in t->h.ret.
 */
#include <sched.h>

#include "waitq.h"

/* ---- the lock ------------------------------------------------------------ */

/*
 * Held for a few dozen instructions (link, unlink, copy a message): a
 * test-and-test-and-set spin, yielding the CPU after a while in case the
 * holder was preempted (more threads than CPUs).
 */
void rt__spin_lock_slow(uint32_t *lock)
{
	unsigned int spins = 0;

	do {
		while (__atomic_load_n(lock, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				__builtin_ia32_pause();
			else
				sched_yield();
		}
	} while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE));
}

/* ---- lists of waiters (under their lock) --------------------------------- */

static void wlist_link(struct rt_wlist *l, uint32_t *lock, struct rt_waiter *w)
{
	w->next = NULL;
	w->prev = l->tail;
	if (l->tail)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
	w->lock = lock;
	__atomic_store_n(&w->list, l, __ATOMIC_RELAXED);
}

bool rt_wlist_wake(struct rt_wlist *l, struct rt_wakeups *wk, int64_t result)
{
	struct rt_waiter *w = rt_wlist_claim(l);

	if (!w)
		return false;
	w->result = result;
	rt_wakeups_add(wk, w);
	return true;
}

int rt_wlist_wake_all(struct rt_wlist *l, struct rt_wakeups *wk,
		      int64_t result)
{
	int n = 0;

	while (rt_wlist_wake(l, wk, result))
		n++;
	return n;
}

/* ---- claiming and requeueing a task (see the top of the file) ----------- */


/*
 * The ring that would hold t's I/O arms, read before an RMW that may end
 * the wait: after it, another party may requeue t (the last arm's CQE, a
 * claimer's WON) and t run and be freed before we looked at it. wait_arm()
 * wrote it before the wait could be claimed, and every caller claimed the
 * wait first (or is its own worker), so the read is ordered after that
 * write.
 */
struct io_owner {
	struct rt_runtime *rt;
	uint16_t id;
};

static struct io_owner io_owner_of(struct rt_task *t)
{
	return (struct io_owner){ t->rt, rt_task_wait(t)->io_worker };
}

/*
 * One RMW took t's state from old to new: does it requeue t (NO WAKE
 * INTO A BUFFER)? Only the RMW after which the wait is over does. If it
 * made the wait ready with I/O arms in flight, it has them cancelled,
 * without touching t, which may be gone by then.
 */
static bool wait_settle(struct io_owner o, uint32_t old, uint32_t new)
{
	if (!rt_ws_ready(new))
		return false;
	if (!(new & RT_WS_IO_MASK))
		return true;
	if (!rt_ws_ready(old))
		rt_io_arms_kick(o.rt, o.id);
	return false;
}

/*
 * The claimer has delivered: does it requeue t? WON already set is its
 * own claim's (CLAIMED AFTER THE UNWIND): nobody else sets WON in a wait
 * another party claimed, and nobody else writes the state until t runs.
 */
static bool wait_delivered(struct rt_task *t)
{
	struct rt_wait *wt = rt_task_wait(t);
	struct io_owner o;
	uint32_t old;

	if (atomic_load_explicit(&wt->state, memory_order_relaxed) & RT_WS_WON)
		return true;
	o = io_owner_of(t);
	old = atomic_fetch_or_explicit(&wt->state, RT_WS_WON,
				       memory_order_acq_rel);
	return wait_settle(o, old, old | RT_WS_WON);
}

/* rt_wait_publish() of a wait claimed before its task unwound
 * (waitq.h): the WON handshake decides who requeues. */
void rt__wait_publish_slow(struct rt_task *t, bool foreign)
{
	if (wait_delivered(t))
		rt_task_make_runnable(foreign ? NULL : rt__self, t);
}

/*
 * On the ring's owner, an I/O arm's CQE reaped: claim the wait for the
 * arm if nobody has, and count the arm out of flight, in one RMW (the
 * owner wrote the arm's result before it). True: requeue t now.
 */
bool rt_wait_io_done(struct rt_task *t, uint32_t arm)
{
	struct io_owner o = io_owner_of(t);
	uint32_t d = (uint32_t)-RT_WS_IO_ONE, old;

	if (rt_wait_claim(t, arm))
		d += RT_WS_WON;
	old = atomic_fetch_add_explicit(&rt_task_wait(t)->state, d,
					memory_order_acq_rel);
	return wait_settle(o, old, old + d);
}

/* rt_wait_commit() of a wait that kept no lock (waitq.h): arm the
 * deadline, then the requeue handshake. */
void rt__wait_commit_slow(struct rt_worker *w, struct rt_task *t)
{
	struct rt_wait *wt = rt_task_wait(t);
	struct io_owner o;
	uint32_t old;

	/* not after the RMW: a claimer may then requeue t, and it end */
	o = io_owner_of(t);

	if (t->deadline != RT_NEVER) {
		if (!rt_sleep_arm(w, t))
			wt->timer_worker = rt_worker_id(w);
		else if (rt_wait_claim(t, RT_ARM_NOMEM))
			atomic_fetch_or_explicit(&wt->state, RT_WS_WON,
						 memory_order_relaxed);
	}
	old = atomic_fetch_or_explicit(&wt->state, RT_WS_UNWOUND,
				       memory_order_acq_rel);
	if (wait_settle(o, old, old | RT_WS_UNWOUND))
		rt_worker_push_local(w, t);
}

/* The timer heap found t's deadline passed (under the heap's lock): may
 * the heap's worker make it runnable? */
bool rt_wait_expire(struct rt_task *t)
{
	return rt_wait_claim(t, RT_ARM_TIMEOUT) && wait_delivered(t);
}

/* From rt_task_cancel(), after it set RT_TF_CANCEL: false if t is not in
 * a waitq op (the other kinds of wait are the caller's). */
bool rt_wait_cancel(struct rt_task *t)
{
	/* NO LOST CANCEL with a commit that kept the lock: it stores the
	 * state, fences only the compiler, then reads the flag; the slow
	 * fence makes that store visible here or our flag visible there */
	if (!rt_wait_parked(t)) {
		rt_fence_slow();
		if (!rt_wait_parked(t))
			return false;
	}
	if (rt_wait_claim(t, RT_ARM_CANCEL))
		rt_wait_publish(t, true);
	return true;
}

/* The wait at rest (ONE ARM AT REST); t's ext is not published yet. */
void rt_wait_init(struct rt_wait *wt, struct rt_task *t)
{
	wt->nodes = (char *)&wt->node;
	wt->stride = 0;
	wt->nnodes = 1;
	wt->select = 0;
	wt->node.task = t;
	wt->node.arm = 0;
}

static struct rt_waiter *wait_node(struct rt_wait *wt, unsigned int i)
{
	return (struct rt_waiter *)(wt->nodes + (size_t)i * wt->stride);
}

/* Unlink w if a waker did not (NOTHING POINTS AT A FINISHED WAIT). */
static void waiter_unlink(struct rt_waiter *w)
{
	struct rt_wlist *l = __atomic_load_n(&w->list, __ATOMIC_ACQUIRE);

	if (!l)
		return;
	rt_spin_lock(w->lock);
	l = __atomic_load_n(&w->list, __ATOMIC_RELAXED);
	if (l) {
		rt__wlist_cut(l, w);
		__atomic_store_n(&w->list, NULL, __ATOMIC_RELAXED);
	}
	rt_spin_unlock(w->lock);
}

static int64_t wait_result(struct rt_task *t, struct rt_wait *wt,
			   uint32_t arm)
{
	struct rt_waiter *w;

	switch (arm) {
	case RT_ARM_TIMEOUT:
		atomic_fetch_add_explicit(&t->rt->wait_timeouts, 1,
					  memory_order_relaxed);
		return -ETIMEDOUT;
	case RT_ARM_CANCEL:
		atomic_fetch_add_explicit(&t->rt->wait_cancels, 1,
					  memory_order_relaxed);
		return -ECANCELED;
	case RT_ARM_NOMEM:
		return -ENOMEM;
	case RT_ARM_AGAIN:
		return -EAGAIN;
	}
	w = wait_node(wt, arm);
	if (!wt->select)
		return w->result;
	rt_arm_of(w)->result = w->result;
	return arm;
}

/*
 * rt_wait_finish() for every other end (waitq.h): a deadline to take
 * out of the heap, waiters still linked, a select, a waker, a timeout
 * or a cancel. Nothing else touches the wait once the heap and the
 * lists have let go of it.
 */
void rt__wait_finish_slow(struct rt_task *t)
{
	struct rt_wait *wt = rt_task_wait(t);
	uint32_t s, arm;

	if (wt->timer_worker) {
		rt_sleep_disarm(t->rt, wt->timer_worker, t);
		wt->timer_worker = 0;
	}
	s = atomic_load_explicit(&wt->state, memory_order_acquire);
	arm = s >> RT_WS_ARM_SHIFT;
	for (unsigned int i = 0; i < wt->nnodes; i++) {
		struct rt_waiter *w = wait_node(wt, i);

		if (i != arm)
			waiter_unlink(w);
		/* what an I/O arm did, also one that lost: its CQE is in */
		if (wt->select && rt_io_arm_started(w))
			rt_arm_of(w)->result = rt_io_arm_result(w);
	}
	if (wt->waker)
		rt_waker_finish(t);
	t->h.ret = wait_result(t, wt, arm);
	rt_wait_init(wt, t);
	atomic_store_explicit(&wt->state, 0, memory_order_relaxed);
}

/* ---- the op ---------------------------------------------------------------- */

static void waiter_init(struct rt_waiter *w, struct rt_task *t, uint32_t arm)
{
	w->task = t;
	w->arm = arm;
	w->list = NULL;
	w->pad = 0;		/* io.c's flags for an I/O arm */
}

/* What rt_wait_finish() reads of a wait, before it can be claimed. */
static void wait_setup(struct rt_wait *wt, const struct rt_arm *arms,
		       unsigned int n, bool select)
{
	wt->nodes = (char *)arms[0].node;
	wt->stride = (uint16_t)(n > 1 ? (char *)arms[1].node -
					(char *)arms[0].node : 0);
	wt->nnodes = (uint16_t)n;
	wt->select = select;
	wt->io_worker = rt_worker_id(rt__self);
}

/* The first waiter is about to be linked: make the wait claimable. */
static void wait_arm(struct rt_task *t, const struct rt_arm *arms,
		     unsigned int n, bool select)
{
	struct rt_wait *wt = rt_task_wait(t);

	wait_setup(wt, arms, n, select);
	atomic_store_explicit(&wt->state, RT_WS_WAITING | RT_WS_ARMED,
			      memory_order_seq_cst);
}

/* A wait with the task's own waiter on no list (waker.c; t has its ext). */
void rt_wait_arm_alone(struct rt_task *t)
{
	struct rt_arm arm = { NULL, NULL, &rt_task_wait(t)->node };

	waiter_init(arm.node, t, 0);
	wait_arm(t, &arm, 1, false);
}

int64_t rt_wait_suspend(struct rt_task *t, uint64_t deadline_ns)
{
	/* NO LOST CANCEL: the flag is read after the wait was armed */
	if ((atomic_load_explicit(&t->flags, memory_order_seq_cst) &
	     RT_TF_CANCEL) && rt_wait_claim(t, RT_ARM_CANCEL))
		rt_wait_publish(t, false);
	t->deadline = deadline_ns;
	t->action = RT_ACT_WAIT;
	return RT_PENDING;
}

static bool expired(uint64_t deadline_ns)
{
	return deadline_ns != RT_NEVER && rt_now_ns() >= deadline_ns;
}

/*
 * Poll the arms in order, linking a waiter for each that is not ready,
 * until one completes. Lower arms win: a later arm is claimed only while
 * no earlier one has been.
 */
int64_t rt_wait_arms(struct rt_task *t, const struct rt_arm *arms,
		     unsigned int n, uint64_t deadline_ns, bool select)
{
	struct rt_wakeups wk = { NULL, 0 };
	unsigned int i, linked = 0;
	int done = -1, late = -1;	/* late: the deadline has passed */
	bool claimed = false;

	if (!rt_task_ext_get(t))
		return -ENOMEM;
	for (i = 0; i < n; i++)
		waiter_init(arms[i].node, t, i);
	for (i = 0; i < n; i++) {
		const struct rt_arm *a = &arms[i];
		uint32_t *lock;
		enum rt_poll p;

		if (a->ops->start) {
			/* never ready at once: started, it is in flight */
			if (late < 0)
				late = expired(deadline_ns);
			if (late)
				continue;
			if (!linked++)
				wait_arm(t, arms, n, select);
			if (!a->ops->start(t, a->obj, a->node))
				continue;
			claimed = rt_wait_claim(t, RT_ARM_AGAIN);
			break;
		}
		lock = a->ops->lock(a->obj);
		rt_spin_lock(lock);
		p = a->ops->poll(a->obj, a->node, linked > 0, &wk);
		if (p == RT_POLL_WAIT) {
			if (late < 0)
				late = expired(deadline_ns);
			if (!late) {
				if (!linked++)
					wait_arm(t, arms, n, select);
				wlist_link(a->ops->list(a->obj), lock, a->node);
			}
		}
		rt_spin_unlock(lock);
		rt_wakeups_publish(&wk);
		if (p == RT_POLL_READY)
			done = (int)i;
		if (p != RT_POLL_WAIT)
			break;
	}
	if (!linked) {
		if (done < 0)
			return -ETIMEDOUT;
		if (!select)
			return arms[done].node->result;
		rt_arm_of(arms[done].node)->result =
			arms[done].node->result;
		return done;
	}
	if (done >= 0 || claimed)
		rt_wait_publish(t, false);	/* we claimed it in the loop */
	return rt_wait_suspend(t, deadline_ns);
}

/* rt_wait_one()'s park: link, and leave the lock to the commit. */
int64_t rt__wait_park_held(struct rt_task *t, struct rt_wlist *l,
			   uint32_t *lock)
{
	struct rt_wait *wt = rt_task_wait(t);

	/* the rest of the wait is already this one (ONE ARM AT REST) */
	wt->io_worker = rt_worker_id(rt__self);
	wlist_link(l, lock, &wt->node);
	wt->held = lock;
	t->deadline = RT_NEVER;
	t->action = RT_ACT_WAIT;
	return RT_PENDING;
}

/* rt_wait_one() with a deadline: rt_wait_arms() for one arm, written
 * out. The lock is dropped before the wait is armed. */
int64_t rt__wait_one_timed(struct rt_task *t, const struct rt_arm_ops *ops,
			   void *obj, void *buf, uint64_t deadline_ns)
{
	struct rt_wakeups wk = { NULL, 0 };
	struct rt_waiter *w;
	bool linked = false;
	uint32_t *lock;
	enum rt_poll p;
	int64_t err;

	w = rt__wait_own(t, buf, &err);
	if (!w)
		return err;
	lock = ops->lock(obj);
	rt_spin_lock(lock);
	p = ops->poll(obj, w, false, &wk);
	if (p == RT_POLL_WAIT && !expired(deadline_ns)) {
		struct rt_arm arm = { ops, obj, w };

		wait_arm(t, &arm, 1, false);
		wlist_link(ops->list(obj), lock, w);
		linked = true;
	}
	rt_spin_unlock(lock);
	rt_wakeups_publish(&wk);
	if (p == RT_POLL_READY)
		return w->result;
	if (!linked)
		return -ETIMEDOUT;	/* the deadline had passed */
	return rt_wait_suspend(t, deadline_ns);
}

enum rt_poll rt_arm_try(const struct rt_arm_ops *ops, void *obj,
			struct rt_waiter *w)
{
	struct rt_wakeups wk = { NULL, 0 };
	uint32_t *lock = ops->lock(obj);
	enum rt_poll p;

	w->task = NULL;
	w->arm = 0;
	rt_spin_lock(lock);
	p = ops->poll(obj, w, false, &wk);
	rt_spin_unlock(lock);
	rt_wakeups_publish(&wk);
	return p;
}

/* ---- the plain wait queue -------------------------------------------------- */

static uint32_t *waitq_lock(void *obj)
{
	return &((struct rt_waitq *)obj)->lock;
}

static struct rt_wlist *waitq_list(void *obj)
{
	return &((struct rt_waitq *)obj)->waiters;
}

RT_POLL_FN waitq_poll(void *obj, struct rt_waiter *w, bool armed,
		      struct rt_wakeups *wk)
{
	(void)obj, (void)w, (void)armed, (void)wk;
	return RT_POLL_WAIT;
}

const struct rt_arm_ops rt_waitq_arm = {
	.lock = waitq_lock, .list = waitq_list, .poll = waitq_poll,
};

/* rt_op_wait_cond's object: the queue and its condition. */
struct cond_obj {
	struct rt_waitq *q;
	bool (*cond)(void *arg);
	void *arg;
};

static uint32_t *cond_lock(void *obj)
{
	return &((struct cond_obj *)obj)->q->lock;
}

static struct rt_wlist *cond_list(void *obj)
{
	return &((struct cond_obj *)obj)->q->waiters;
}

RT_POLL_FN cond_poll(void *obj, struct rt_waiter *w, bool armed,
		     struct rt_wakeups *wk)
{
	struct cond_obj *c = obj;

	(void)wk;
	if (!c->cond(c->arg))
		return RT_POLL_WAIT;
	if (!rt_arm_take(w, armed))
		return RT_POLL_LOST;
	w->result = 0;
	return RT_POLL_READY;
}

static const struct rt_arm_ops cond_arm = {
	.lock = cond_lock, .list = cond_list, .poll = cond_poll,
};

void rt_waitq_init(struct rt_waitq *q)
{
	*q = (struct rt_waitq)RT_WAITQ_INIT;
}

int64_t rt_op_wait(struct rt_task *t, struct rt_waitq *q, uint64_t deadline_ns)
{
	if (!q)
		return -EINVAL;
	return rt_wait_one(t, &rt_waitq_arm, q, NULL, deadline_ns);
}

int64_t rt_op_wait_cond(struct rt_task *t, struct rt_waitq *q,
			bool (*cond)(void *arg), void *arg,
			uint64_t deadline_ns)
{
	struct cond_obj c = { q, cond, arg };

	if (!q || !cond)
		return -EINVAL;
	return rt_wait_one(t, &cond_arm, &c, NULL, deadline_ns);
}

int rt_waitq_wake(struct rt_waitq *q, uint32_t n, int64_t value)
{
	struct rt_wakeups wk = { NULL, 0 };

	if (!q || value == RT_PENDING)
		return -EINVAL;
	rt_spin_lock(&q->lock);
	while ((uint32_t)wk.n < n && rt_wlist_wake(&q->waiters, &wk, value))
		;
	rt_spin_unlock(&q->lock);
	rt_wakeups_publish(&wk);
	return wk.n;
}

int rt_waitq_waiters(struct rt_waitq *q)
{
	int n = 0;

	if (!q)
		return -EINVAL;
	rt_spin_lock(&q->lock);
	for (struct rt_waiter *w = q->waiters.head; w; w = w->next)
		n++;
	rt_spin_unlock(&q->lock);
	return n;
}

int rt_sync_stats(struct rt_runtime *rt, struct rt_sync_stats *out)
{
	if (!rt || !out)
		return -EINVAL;
	out->wait_timeouts = atomic_load(&rt->wait_timeouts);
	out->wait_cancels = atomic_load(&rt->wait_cancels);
	out->wakers_late = atomic_load(&rt->wakers_late);
	rt_blocking_stats(rt, out);
	return 0;
}

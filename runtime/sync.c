// SPDX-License-Identifier: MIT
/*
 * The mutex, the semaphore, events, notify and oneshots: each a spin
 * lock, a little state and one list of waiters (waitq.c).
 *
 * What they share: a release hands the thing over (ownership, a permit,
 * the value) to the oldest waiter it can claim, under the lock, before
 * anyone else could take it; only when no waiter can be claimed does it
 * go back into the state. So a waiter that times out or is cancelled at
 * the moment of its wake-up either owns it (its claim was taken: it
 * resumes with 0) or never did (the release moved on to the next
 * waiter), and nothing is lost or given twice.
 */
#include "waitq.h"

/*
 * Who holds a mutex: the running task, or outside tasks the calling
 * thread (the address of a thread-local byte is unique among live
 * threads).
 */
static __thread char thread_token;

static const void *caller_identity(void)
{
	struct rt_task *t = rt_task_current();

	return t ? (const void *)t : (const void *)&thread_token;
}

/* ---- mutex ------------------------------------------------------------- */

static uint32_t *mutex_lock(void *obj)
{
	return &((struct rt_mutex *)obj)->lock;
}

static struct rt_wlist *mutex_list(void *obj)
{
	return &((struct rt_mutex *)obj)->waiters;
}

RT_POLL_FN mutex_poll(void *obj, struct rt_waiter *w, bool armed,
		      struct rt_wakeups *wk)
{
	struct rt_mutex *m = obj;

	(void)wk;
	if (m->owner && m->owner != w->task)
		return RT_POLL_WAIT;
	if (!rt_arm_take(w, armed))
		return RT_POLL_LOST;
	w->result = m->owner ? -EDEADLK : 0;
	m->owner = w->task;
	return RT_POLL_READY;
}

const struct rt_arm_ops rt_mutex_arm = {
	.lock = mutex_lock, .list = mutex_list, .poll = mutex_poll,
};

void rt_mutex_init(struct rt_mutex *m)
{
	*m = (struct rt_mutex)RT_MUTEX_INIT;
}

int64_t rt_op_mutex_lock(struct rt_task *t, struct rt_mutex *m,
			 uint64_t deadline_ns)
{
	if (!m)
		return -EINVAL;
	return rt_wait_one(t, &rt_mutex_arm, m, NULL, deadline_ns);
}

int rt_mutex_trylock(struct rt_mutex *m)
{
	const void *me = caller_identity();
	int ret = 0;

	if (!m)
		return -EINVAL;
	rt_spin_lock(&m->lock);
	if (m->owner)
		ret = m->owner == me ? -EDEADLK : -EBUSY;
	else
		m->owner = me;
	rt_spin_unlock(&m->lock);
	return ret;
}

int rt_mutex_unlock(struct rt_mutex *m)
{
	struct rt_wakeups wk = { NULL, 0 };
	struct rt_waiter *w;

	if (!m)
		return -EINVAL;
	rt_spin_lock(&m->lock);
	if (m->owner != caller_identity()) {
		rt_spin_unlock(&m->lock);
		return -EPERM;
	}
	w = rt_wlist_claim(&m->waiters);
	m->owner = w ? (const void *)w->task : NULL;
	if (w) {
		w->result = 0;
		rt_wakeups_add(&wk, w);
	}
	rt_spin_unlock(&m->lock);
	rt_wakeups_publish(&wk);
	return 0;
}

/* ---- semaphore ------------------------------------------------------------ */

static uint32_t *sem_lock(void *obj)
{
	return &((struct rt_sem *)obj)->lock;
}

static struct rt_wlist *sem_list(void *obj)
{
	return &((struct rt_sem *)obj)->waiters;
}

RT_POLL_FN sem_poll(void *obj, struct rt_waiter *w, bool armed,
		    struct rt_wakeups *wk)
{
	struct rt_sem *s = obj;

	(void)wk;
	if (!s->permits)
		return RT_POLL_WAIT;
	if (!rt_arm_take(w, armed))
		return RT_POLL_LOST;
	s->permits--;
	w->result = 0;
	return RT_POLL_READY;
}

const struct rt_arm_ops rt_sem_arm = {
	.lock = sem_lock, .list = sem_list, .poll = sem_poll,
};

int rt_sem_init(struct rt_sem *s, uint64_t permits, uint64_t max)
{
	if (!s || !max || permits > max)
		return -EINVAL;
	*s = (struct rt_sem){ .permits = permits, .max = max };
	return 0;
}

int64_t rt_op_sem_acquire(struct rt_task *t, struct rt_sem *s,
			  uint64_t deadline_ns)
{
	if (!s)
		return -EINVAL;
	return rt_wait_one(t, &rt_sem_arm, s, NULL, deadline_ns);
}

int rt_sem_try_acquire(struct rt_sem *s)
{
	struct rt_waiter w = { .buf = NULL };

	if (!s)
		return -EINVAL;
	return rt_arm_try(&rt_sem_arm, s, &w) == RT_POLL_WAIT ? -EAGAIN : 0;
}

int rt_sem_release(struct rt_sem *s, uint64_t n)
{
	struct rt_wakeups wk = { NULL, 0 };

	if (!s)
		return -EINVAL;
	rt_spin_lock(&s->lock);
	if (n > s->max - s->permits) {
		rt_spin_unlock(&s->lock);
		return -EOVERFLOW;
	}
	while (n && rt_wlist_wake(&s->waiters, &wk, 0))
		n--;
	s->permits += n;
	rt_spin_unlock(&s->lock);
	rt_wakeups_publish(&wk);
	return 0;
}

uint64_t rt_sem_available(struct rt_sem *s)
{
	uint64_t n;

	if (!s)
		return 0;
	rt_spin_lock(&s->lock);
	n = s->permits;
	rt_spin_unlock(&s->lock);
	return n;
}

/* ---- event (level) and notify (edge, one stored permit) ----------------- */

static uint32_t *q_lock(void *obj)
{
	return &((struct rt_waitq *)obj)->lock;	/* q comes first */
}

static struct rt_wlist *q_list(void *obj)
{
	return &((struct rt_waitq *)obj)->waiters;
}

RT_POLL_FN event_poll(void *obj, struct rt_waiter *w, bool armed,
		      struct rt_wakeups *wk)
{
	struct rt_event *e = obj;

	(void)wk;
	if (!e->set)
		return RT_POLL_WAIT;
	if (!rt_arm_take(w, armed))
		return RT_POLL_LOST;
	w->result = 0;
	return RT_POLL_READY;
}

const struct rt_arm_ops rt_event_arm = {
	.lock = q_lock, .list = q_list, .poll = event_poll,
};

void rt_event_init(struct rt_event *e)
{
	*e = (struct rt_event)RT_EVENT_INIT;
}

int64_t rt_op_event_wait(struct rt_task *t, struct rt_event *e,
			 uint64_t deadline_ns)
{
	if (!e)
		return -EINVAL;
	return rt_wait_one(t, &rt_event_arm, e, NULL, deadline_ns);
}

/* Set (or reset) under the lock, waking everyone on a set. */
static int event_store(struct rt_event *e, uint32_t set)
{
	struct rt_wakeups wk = { NULL, 0 };

	if (!e)
		return -EINVAL;
	rt_spin_lock(&e->q.lock);
	e->set = set;
	if (set)
		rt_wlist_wake_all(&e->q.waiters, &wk, 0);
	rt_spin_unlock(&e->q.lock);
	rt_wakeups_publish(&wk);
	return wk.n;
}

int rt_event_set(struct rt_event *e)
{
	return event_store(e, 1);
}

void rt_event_reset(struct rt_event *e)
{
	event_store(e, 0);
}

RT_POLL_FN notify_poll(void *obj, struct rt_waiter *w, bool armed,
		       struct rt_wakeups *wk)
{
	struct rt_notify *n = obj;

	(void)wk;
	if (!n->permit)
		return RT_POLL_WAIT;
	if (!rt_arm_take(w, armed))
		return RT_POLL_LOST;
	n->permit = 0;
	w->result = 0;
	return RT_POLL_READY;
}

const struct rt_arm_ops rt_notify_arm = {
	.lock = q_lock, .list = q_list, .poll = notify_poll,
};

void rt_notify_init(struct rt_notify *n)
{
	*n = (struct rt_notify)RT_NOTIFY_INIT;
}

int64_t rt_op_notify_wait(struct rt_task *t, struct rt_notify *n,
			  uint64_t deadline_ns)
{
	if (!n)
		return -EINVAL;
	return rt_wait_one(t, &rt_notify_arm, n, NULL, deadline_ns);
}

void rt_notify_one(struct rt_notify *n)
{
	struct rt_wakeups wk = { NULL, 0 };

	if (!n)
		return;
	rt_spin_lock(&n->q.lock);
	if (!rt_wlist_wake(&n->q.waiters, &wk, 0))
		n->permit = 1;
	rt_spin_unlock(&n->q.lock);
	rt_wakeups_publish(&wk);
}

int rt_notify_all(struct rt_notify *n)
{
	if (!n)
		return -EINVAL;
	return rt_waitq_wake(&n->q, RT_WAKE_ALL, 0);
}

/* ---- oneshot ---------------------------------------------------------------- */

enum {
	ONESHOT_EMPTY,
	ONESHOT_SENT,		/* value waits for its receiver */
	ONESHOT_CLOSED,		/* closed before a value: -EPIPE */
	ONESHOT_TAKEN,		/* received */
};

RT_POLL_FN oneshot_poll(void *obj, struct rt_waiter *w, bool armed,
			struct rt_wakeups *wk)
{
	struct rt_oneshot *o = obj;

	(void)wk;
	if (o->state == ONESHOT_EMPTY)
		return RT_POLL_WAIT;
	if (!rt_arm_take(w, armed))
		return RT_POLL_LOST;
	switch (o->state) {
	case ONESHOT_SENT:
		w->result = o->value;
		o->state = ONESHOT_TAKEN;
		break;
	case ONESHOT_CLOSED:
		w->result = -EPIPE;
		break;
	default:
		w->result = -EALREADY;
		break;
	}
	return RT_POLL_READY;
}

const struct rt_arm_ops rt_oneshot_arm = {
	.lock = q_lock, .list = q_list, .poll = oneshot_poll,
};

void rt_oneshot_init(struct rt_oneshot *o)
{
	*o = (struct rt_oneshot)RT_ONESHOT_INIT;
}

int64_t rt_op_oneshot_recv(struct rt_task *t, struct rt_oneshot *o,
			   uint64_t deadline_ns)
{
	if (!o)
		return -EINVAL;
	return rt_wait_one(t, &rt_oneshot_arm, o, NULL, deadline_ns);
}

/* The one transition out of EMPTY: to a receiver directly, or stored. */
static int oneshot_complete(struct rt_oneshot *o, uint32_t state,
			    int64_t value)
{
	struct rt_wakeups wk = { NULL, 0 };
	int ret = 0;

	rt_spin_lock(&o->q.lock);
	if (o->state != ONESHOT_EMPTY) {
		ret = -EALREADY;
	} else {
		o->state = state;
		o->value = value;
		/* a waiter that got the value has taken it */
		if (state == ONESHOT_SENT &&
		    rt_wlist_wake(&o->q.waiters, &wk, value))
			o->state = ONESHOT_TAKEN;
		/* more than one receiver is a misuse, but none waits forever */
		if (o->state != ONESHOT_SENT)
			rt_wlist_wake_all(&o->q.waiters, &wk,
					  state == ONESHOT_SENT ? -EALREADY :
								  -EPIPE);
	}
	rt_spin_unlock(&o->q.lock);
	rt_wakeups_publish(&wk);
	return ret;
}

int rt_oneshot_send(struct rt_oneshot *o, int64_t value)
{
	if (!o || value == RT_PENDING)
		return -EINVAL;
	return oneshot_complete(o, ONESHOT_SENT, value);
}

int rt_oneshot_close(struct rt_oneshot *o)
{
	if (!o)
		return -EINVAL;
	return oneshot_complete(o, ONESHOT_CLOSED, 0);
}

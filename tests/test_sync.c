// SPDX-License-Identifier: MIT
/*
 * Coordination primitives (include/rtasync-sync.h): the wait queue and
 * what is built on it, each with its bad inputs.
 */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include "internal.h"
#include "rt_test.h"
#include "rtasync-trace.h"
#include "sync_tasks.h"
#include "trace_self.h"

/* Until q has n waiters (a task parks asynchronously). */
static void await_waiters(struct rt_waitq *q, int n)
{
	while (rt_waitq_waiters(q) != n)
		sched_yield();
}

/* ---- wait queue ---------------------------------------------------------- */

struct wait_frame {
	struct rt_frame frame;
	struct rt_waitq *q;
	uint64_t timeout_ns;	/* 0: none */
};

static RT_ASYNC int64_t waiter(struct rt_task *t, struct rt_frame *base)
{
	struct wait_frame *f = RT_FRAME(base, struct wait_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	RT_AWAIT(r, rt_op_wait(t, f->q, f->timeout_ns ?
			       rt_deadline_in(f->timeout_ns) : RT_NEVER));
	return r;
}

static struct rt_task *spawn_waiter(struct rt_runtime *rt, struct rt_waitq *q,
				    uint64_t timeout_ns)
{
	struct rt_task *h = NULL;

	assert_int_equal(RT_SPAWN(rt, &h, waiter, struct wait_frame, .q = q,
				  .timeout_ns = timeout_ns), 0);
	return h;
}

static int64_t join(struct rt_task *h)
{
	int64_t r = INT64_MIN;

	assert_int_equal(rt_task_join(h, &r), 0);
	rt_task_release(h);
	return r;
}

static void test_waitq_wake_one_and_all(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_waitq q = RT_WAITQ_INIT;
	struct rt_task *h[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		h[i] = spawn_waiter(rt, &q, 0);
	await_waiters(&q, 4);
	assert_int_equal(rt_waitq_wake(&q, 1, 42), 1);
	assert_int_equal(rt_waitq_waiters(&q), 3);
	assert_int_equal(rt_waitq_wake(&q, 2, 43), 2);
	assert_int_equal(rt_waitq_wake(&q, RT_WAKE_ALL, 44), 1);
	assert_int_equal(rt_waitq_wake(&q, RT_WAKE_ALL, 45), 0);
	/* oldest first: spawned in order, parked in some order; the sum is
	 * exact whatever it was */
	int64_t sum = 0;
	for (int i = 0; i < 4; i++)
		sum += join(h[i]);
	assert_int_equal(sum, 42 + 43 + 43 + 44);
	assert_int_equal(rt_waitq_wake(&q, 1, RT_PENDING), -EINVAL);
	assert_int_equal(rt_waitq_wake(NULL, 1, 0), -EINVAL);
	rt_runtime_free(rt);
}

static void test_waitq_timeout_and_cancel(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_waitq q = RT_WAITQ_INIT;
	struct rt_sync_stats st;
	uint64_t waits = test_stats(rt).waits;
	struct rt_task *h;
	bool waited;

	(void)state;
	assert_int_equal(join(spawn_waiter(rt, &q, 1000000)), -ETIMEDOUT);
	/* unless the deadline had passed before the wait was armed (the
	 * worker preempted in between, on a loaded machine): then it never
	 * suspended, and is no wait's timeout (rt_sync_stats) */
	waited = test_stats(rt).waits == waits + 1;
	h = spawn_waiter(rt, &q, 0);
	await_waiters(&q, 1);
	assert_int_equal(rt_task_cancel(h), 0);
	assert_int_equal(join(h), -ECANCELED);
	assert_int_equal(rt_waitq_waiters(&q), 0);	/* unlinked */
	/* a wake finds nobody: the cancelled waiter is gone */
	assert_int_equal(rt_waitq_wake(&q, 1, 1), 0);
	assert_int_equal(rt_sync_stats(rt, &st), 0);
	assert_int_equal(st.wait_timeouts, waited);
	assert_int_equal(st.wait_cancels, 1);
	assert_int_equal(rt_sync_stats(NULL, &st), -EINVAL);
	check_still_works(rt);
	rt_runtime_free(rt);
}

static bool flag_set(void *arg)
{
	return atomic_load((atomic_int *)arg) != 0;
}

struct cond_frame {
	struct rt_frame frame;
	struct rt_waitq *q;
	atomic_int *flag;
};

static RT_ASYNC int64_t cond_waiter(struct rt_task *t, struct rt_frame *base)
{
	struct cond_frame *f = RT_FRAME(base, struct cond_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_AWAIT(r, rt_op_wait_cond(t, f->q, flag_set, f->flag, RT_NEVER));
	return r + 10;
}

static void test_waitq_cond(void **state)
{
	struct rt_runtime *rt = test_runtime(1, false);
	struct rt_waitq q = RT_WAITQ_INIT;
	atomic_int flag = 1;
	struct rt_task *h = NULL;

	(void)state;
	/* already true: no wait at all */
	assert_int_equal(TEST_RUN(rt, cond_waiter, struct cond_frame,
				  .q = &q, .flag = &flag), 10);
	atomic_store(&flag, 0);
	assert_int_equal(RT_SPAWN(rt, &h, cond_waiter, struct cond_frame,
				  .q = &q, .flag = &flag), 0);
	await_waiters(&q, 1);
	atomic_store(&flag, 1);
	assert_int_equal(rt_waitq_wake(&q, 1, 5), 1);
	assert_int_equal(join(h), 15);
	rt_runtime_free(rt);
}

/* An op outside its task is refused, like every op. */
static void test_ops_outside_task(void **state)
{
	struct rt_waitq q = RT_WAITQ_INIT;
	struct rt_runtime *rt = test_runtime(1, false);
	struct rt_task *h = spawn_waiter(rt, &q, 0);

	(void)state;
	await_waiters(&q, 1);
	assert_int_equal(rt_op_wait(h, &q, RT_NEVER), -EPERM);
	assert_int_equal(rt_op_wait(NULL, &q, RT_NEVER), -EINVAL);
	assert_int_equal(rt_waitq_wake(&q, 1, 0), 1);
	assert_int_equal(join(h), 0);
	rt_runtime_free(rt);
}

/* ---- channels ------------------------------------------------------------- */

static void test_chan_pump_close_drain(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_task *p = NULL, *c = NULL;
	struct rt_chan *ch;
	int64_t v;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(int64_t), 4, &ch), 0);
	assert_int_equal(RT_SPAWN(rt, &c, consumer, struct pump_frame,
				  .ch = ch), 0);
	assert_int_equal(RT_SPAWN(rt, &p, producer, struct pump_frame,
				  .ch = ch, .n = 100000), 0);
	assert_int_equal(join(p), 100000);
	/* queued messages survive the close: the consumer drains them */
	assert_int_equal(rt_chan_close(ch), 0);
	assert_int_equal(join(c), 100000LL * 100001 / 2);
	assert_int_equal(rt_chan_close(ch), -EALREADY);
	v = 1;
	assert_int_equal(rt_chan_try_send(ch, &v), -EPIPE);
	assert_int_equal(rt_chan_try_recv(ch, &v), -EPIPE);
	rt_chan_free(ch);
	rt_runtime_free(rt);
}

/*
 * RUN NEXT (runtime/internal.h): two tasks in a channel round trip on
 * one worker hand the worker to each other through its run-next slot,
 * off the queue. The slot goes back on the queue when the batch ends,
 * so a task queued behind the pair runs within a batch of steps (two a
 * round trip), not after the pair is done.
 */
struct rtt_echo_frame {
	struct rt_frame frame;
	struct rt_chan *a, *b;
	int64_t v, r;
};

static RT_ASYNC int64_t rtt_echo(struct rt_task *t, struct rt_frame *base)
{
	struct rtt_echo_frame *f = RT_FRAME(base, struct rtt_echo_frame);

	RT_BEGIN(t, base);
	RT_CATCH(true);
	for (;;) {
		RT_CHAN_RECV(f->r, f->a, &f->v);
		if (f->r < 0)
			return f->r == -EPIPE ? 0 : f->r;
		RT_CHAN_SEND(f->r, f->b, &f->v);
		if (f->r < 0)
			return f->r;
	}
}

struct bystander_frame {
	struct rt_frame frame;
	_Atomic int64_t *rtts, *seen;
};

/* Notes how many round trips the pair had made when it got to run. */
static RT_ASYNC int64_t bystander(struct rt_task *t, struct rt_frame *base)
{
	struct bystander_frame *f = RT_FRAME(base, struct bystander_frame);

	RT_BEGIN(t, base);
	atomic_store(f->seen, atomic_load(f->rtts));
	return 0;
}

struct rtt_ping_frame {
	struct rt_frame frame;
	struct rt_chan *a, *b;
	struct rt_task *echo, *by;
	_Atomic int64_t rtts, seen;
	int64_t n, v, r;
};

static RT_ASYNC int64_t rtt_ping(struct rt_task *t, struct rt_frame *base)
{
	struct rtt_ping_frame *f = RT_FRAME(base, struct rtt_ping_frame);
	struct rt_runtime *rt = rt_task_runtime(t);
	int err;

	RT_BEGIN(t, base);
	/* both queued behind this step: the echo, then the bystander */
	err = RT_SPAWN(rt, &f->echo, rtt_echo, struct rtt_echo_frame,
		       .a = f->a, .b = f->b);
	if (!err)
		err = RT_SPAWN(rt, &f->by, bystander, struct bystander_frame,
			       .rtts = &f->rtts, .seen = &f->seen);
	if (err)
		return err;
	for (f->v = 0; f->v < f->n; f->v++) {
		RT_CHAN_SEND(f->r, f->a, &f->v);
		if (f->r < 0)
			return f->r;
		RT_CHAN_RECV(f->r, f->b, &f->v);
		if (f->r < 0)
			return f->r;
		atomic_fetch_add(&f->rtts, 1);
	}
	rt_chan_close(f->a);
	RT_JOIN(f->r, f->echo);
	rt_task_release(f->echo);
	if (f->r < 0)
		return f->r;
	RT_JOIN(f->r, f->by);
	rt_task_release(f->by);
	if (f->r < 0)
		return f->r;
	return atomic_load(&f->seen);	/* the round trips it waited */
}

static void test_chan_round_trips_let_the_queue_run(void **state)
{
	struct rt_runtime *rt = test_runtime(1, false);
	struct rt_chan *a, *b;
	int64_t waited;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(int64_t), 1, &a), 0);
	assert_int_equal(rt_chan_new(sizeof(int64_t), 1, &b), 0);
	waited = TEST_RUN(rt, rtt_ping, struct rtt_ping_frame, .a = a, .b = b,
			  .n = 10 * RT_BATCH);
	print_message("    the bystander ran after %lld round trips\n",
		      (long long)waited);
	/* a batch is RT_BATCH steps, two a round trip */
	assert_in_range(waited, 0, RT_BATCH / 2);
	rt_chan_free(a);
	rt_chan_free(b);
	rt_runtime_free(rt);
}

static void test_chan_try_and_bad_input(void **state)
{
	struct rt_chan *ch;
	int64_t v = 7, out = 0;

	(void)state;
	assert_int_equal(rt_chan_new(0, 4, &ch), -EINVAL);
	assert_int_equal(rt_chan_new(8, 0, &ch), -EINVAL);
	assert_int_equal(rt_chan_new(8, 4, NULL), -EINVAL);
	assert_int_equal(rt_chan_new(SIZE_MAX, 2, &ch), -EOVERFLOW);
	assert_int_equal(rt_chan_new(sizeof(v), 2, &ch), 0);
	assert_int_equal(rt_chan_try_recv(ch, &out), -EAGAIN);
	assert_int_equal(rt_chan_try_send(ch, &v), 0);
	v = 8;
	assert_int_equal(rt_chan_try_send(ch, &v), 0);
	assert_int_equal(rt_chan_try_send(ch, &v), -EAGAIN);	/* full */
	assert_int_equal(rt_chan_len(ch), 2);
	assert_int_equal(rt_chan_try_send(NULL, &v), -EINVAL);
	assert_int_equal(rt_chan_try_send(ch, NULL), -EINVAL);
	assert_int_equal(rt_chan_try_recv(ch, NULL), -EINVAL);
	assert_int_equal(rt_chan_close(ch), 0);
	assert_int_equal(rt_chan_try_send(ch, &v), -EPIPE);
	assert_int_equal(rt_chan_try_recv(ch, &out), 0);
	assert_int_equal(out, 7);
	assert_int_equal(rt_chan_try_recv(ch, &out), 0);
	assert_int_equal(out, 8);
	assert_int_equal(rt_chan_try_recv(ch, &out), -EPIPE);
	assert_int_equal(rt_chan_close(NULL), -EINVAL);
	rt_chan_free(ch);
	rt_chan_free(NULL);
}

struct chan_op_frame {
	struct rt_frame frame;
	struct rt_chan *ch;
	int64_t msg;
	uint64_t timeout_ns;
	bool send;
};

static RT_ASYNC int64_t chan_op(struct rt_task *t, struct rt_frame *base)
{
	struct chan_op_frame *f = RT_FRAME(base, struct chan_op_frame);
	uint64_t dl = f->timeout_ns ? rt_deadline_in(f->timeout_ns) : RT_NEVER;
	int64_t r;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	if (f->send)
		RT_AWAIT(r, rt_op_chan_send(t, f->ch, &f->msg, dl));
	else
		RT_AWAIT(r, rt_op_chan_recv(t, f->ch, &f->msg, dl));
	return r < 0 ? r : f->msg;
}

/* Waiting senders and receivers are woken by close with -EPIPE; a full
 * channel's sender times out and its message is not queued. */
static void test_chan_close_wakes_and_timeouts(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_task *r = NULL, *s = NULL;
	struct rt_chan *ch;
	int64_t v = 1;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(v), 1, &ch), 0);
	assert_int_equal(TEST_RUN(rt, chan_op, struct chan_op_frame,
				  .ch = ch, .timeout_ns = 1000000), -ETIMEDOUT);
	assert_int_equal(RT_SPAWN(rt, &r, chan_op, struct chan_op_frame,
				  .ch = ch), 0);
	while (rt_task_done(r) == false && rt_chan_len(ch) == 0 &&
	       rt_chan_try_send(ch, &v) == -EAGAIN)
		sched_yield();
	/* the receiver got v directly or from the ring */
	assert_int_equal(join(r), 1);
	assert_int_equal(rt_chan_try_send(ch, &v), 0);	/* now full */
	assert_int_equal(TEST_RUN(rt, chan_op, struct chan_op_frame,
				  .ch = ch, .msg = 2, .send = true,
				  .timeout_ns = 1000000), -ETIMEDOUT);
	assert_int_equal(rt_chan_len(ch), 1);
	assert_int_equal(RT_SPAWN(rt, &s, chan_op, struct chan_op_frame,
				  .ch = ch, .msg = 3, .send = true), 0);
	while (!rt_task_done(s) && rt_chan_len(ch) != 1)
		sched_yield();
	assert_int_equal(rt_chan_close(ch), 0);
	assert_int_equal(join(s), -EPIPE);
	assert_int_equal(rt_chan_try_recv(ch, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(TEST_RUN(rt, chan_op, struct chan_op_frame,
				  .ch = ch), -EPIPE);
	rt_chan_free(ch);
	rt_runtime_free(rt);
}

/* ---- mutex, semaphore ------------------------------------------------------- */

static RT_ASYNC int64_t lock_twice(struct rt_task *t, struct rt_frame *base)
{
	struct lock_frame *f = RT_FRAME(base, struct lock_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_MUTEX_LOCK(r, f->m);
	RT_CATCH(true);
	RT_MUTEX_LOCK(r, f->m);
	if (r != -EDEADLK)
		return -EPROTO;
	if (rt_mutex_trylock(f->m) != -EDEADLK)
		return -EPROTO;
	return 0;	/* still owns m */
}

static void test_mutex(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_mutex m = RT_MUTEX_INIT;
	int64_t counter = 0;
	struct rt_task *h[8];

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_int_equal(RT_SPAWN(rt, &h[i], locker, struct lock_frame,
					  .m = &m, .counter = &counter,
					  .n = 1000), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(join(h[i]), 0);
	assert_int_equal(counter, 8000);

	/* a plain thread: trylock, unlock; unlock by a non-owner */
	assert_int_equal(rt_mutex_unlock(&m), -EPERM);	/* unlocked */
	assert_int_equal(rt_mutex_trylock(&m), 0);
	assert_int_equal(rt_mutex_trylock(&m), -EDEADLK);
	assert_int_equal(rt_mutex_unlock(&m), 0);
	assert_int_equal(TEST_RUN(rt, lock_twice, struct lock_frame,
				  .m = &m), 0);
	/* the task finished owning it: nobody else may unlock */
	assert_int_equal(rt_mutex_trylock(&m), -EBUSY);
	assert_int_equal(rt_mutex_unlock(&m), -EPERM);
	assert_int_equal(rt_mutex_trylock(NULL), -EINVAL);
	assert_int_equal(rt_mutex_unlock(NULL), -EINVAL);
	check_still_works(rt);
	rt_runtime_free(rt);
}

struct sem_frame {
	struct rt_frame frame;
	struct rt_sem *s;
	uint64_t timeout_ns;
};

static RT_ASYNC int64_t sem_taker(struct rt_task *t, struct rt_frame *base)
{
	struct sem_frame *f = RT_FRAME(base, struct sem_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_AWAIT(r, rt_op_sem_acquire(t, f->s, f->timeout_ns ?
				      rt_deadline_in(f->timeout_ns) : RT_NEVER));
	return r;
}

static void test_sem(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_sem s;
	struct rt_task *h = NULL;

	(void)state;
	assert_int_equal(rt_sem_init(&s, 3, 2), -EINVAL);
	assert_int_equal(rt_sem_init(&s, 0, 0), -EINVAL);
	assert_int_equal(rt_sem_init(NULL, 0, 1), -EINVAL);
	assert_int_equal(rt_sem_init(&s, 1, 2), 0);
	assert_int_equal(rt_sem_try_acquire(&s), 0);
	assert_int_equal(rt_sem_try_acquire(&s), -EAGAIN);
	assert_int_equal(TEST_RUN(rt, sem_taker, struct sem_frame, .s = &s,
				  .timeout_ns = 1000000), -ETIMEDOUT);
	assert_int_equal(RT_SPAWN(rt, &h, sem_taker, struct sem_frame,
				  .s = &s), 0);
	/* parked or not yet: h gets one permit, one is kept */
	assert_int_equal(rt_sem_release(&s, 2), 0);
	assert_int_equal(join(h), 0);
	assert_int_equal(rt_sem_available(&s), 1);
	assert_int_equal(rt_sem_release(&s, 2), -EOVERFLOW);
	assert_int_equal(rt_sem_available(&s), 1);	/* nothing given */
	assert_int_equal(rt_sem_release(&s, 1), 0);
	assert_int_equal(rt_sem_release(&s, 1), -EOVERFLOW);
	assert_int_equal(rt_sem_available(&s), 2);
	assert_int_equal(rt_sem_release(NULL, 1), -EINVAL);
	rt_runtime_free(rt);
}

/* ---- event, notify, oneshot ---------------------------------------------- */

struct obj_frame {
	struct rt_frame frame;
	void *obj;
	int kind;	/* 0 event, 1 notify, 2 oneshot */
};

static RT_ASYNC int64_t obj_waiter(struct rt_task *t, struct rt_frame *base)
{
	struct obj_frame *f = RT_FRAME(base, struct obj_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	if (f->kind == 0)
		RT_AWAIT(r, rt_op_event_wait(t, f->obj, RT_NEVER));
	else if (f->kind == 1)
		RT_AWAIT(r, rt_op_notify_wait(t, f->obj, RT_NEVER));
	else
		RT_AWAIT(r, rt_op_oneshot_recv(t, f->obj, RT_NEVER));
	return r;
}

static struct rt_task *spawn_obj(struct rt_runtime *rt, void *obj, int kind)
{
	struct rt_task *h = NULL;

	assert_int_equal(RT_SPAWN(rt, &h, obj_waiter, struct obj_frame,
				  .obj = obj, .kind = kind), 0);
	return h;
}

static void test_event_notify(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_event e = RT_EVENT_INIT;
	struct rt_notify n = RT_NOTIFY_INIT;
	struct rt_task *h[3];

	(void)state;
	for (int i = 0; i < 3; i++)
		h[i] = spawn_obj(rt, &e, 0);
	await_waiters(&e.q, 3);
	assert_int_equal(rt_event_set(&e), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(join(h[i]), 0);
	/* set stays set */
	assert_int_equal(join(spawn_obj(rt, &e, 0)), 0);
	rt_event_reset(&e);
	h[0] = spawn_obj(rt, &e, 0);
	await_waiters(&e.q, 1);
	assert_int_equal(rt_event_set(&e), 1);
	assert_int_equal(join(h[0]), 0);

	/* a notify with nobody waiting stores one permit, not two */
	rt_notify_one(&n);
	rt_notify_one(&n);
	assert_int_equal(join(spawn_obj(rt, &n, 1)), 0);
	h[0] = spawn_obj(rt, &n, 1);
	h[1] = spawn_obj(rt, &n, 1);
	await_waiters(&n.q, 2);
	assert_int_equal(rt_notify_all(&n), 2);
	assert_int_equal(join(h[0]), 0);
	assert_int_equal(join(h[1]), 0);
	assert_int_equal(rt_notify_all(&n), 0);	/* stores nothing */
	h[0] = spawn_obj(rt, &n, 1);
	await_waiters(&n.q, 1);
	rt_notify_one(&n);
	assert_int_equal(join(h[0]), 0);
	assert_int_equal(rt_event_set(NULL), -EINVAL);
	assert_int_equal(rt_notify_all(NULL), -EINVAL);
	rt_runtime_free(rt);
}

static void test_oneshot(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_oneshot o = RT_ONESHOT_INIT;
	struct rt_task *h;

	(void)state;
	h = spawn_obj(rt, &o, 2);
	await_waiters(&o.q, 1);
	assert_int_equal(rt_oneshot_send(&o, 99), 0);
	assert_int_equal(join(h), 99);
	assert_int_equal(rt_oneshot_send(&o, 100), -EALREADY);
	assert_int_equal(rt_oneshot_close(&o), -EALREADY);
	assert_int_equal(join(spawn_obj(rt, &o, 2)), -EALREADY);

	rt_oneshot_init(&o);
	assert_int_equal(rt_oneshot_send(&o, 5), 0);	/* before the recv */
	assert_int_equal(join(spawn_obj(rt, &o, 2)), 5);

	rt_oneshot_init(&o);
	h = spawn_obj(rt, &o, 2);
	await_waiters(&o.q, 1);
	assert_int_equal(rt_oneshot_close(&o), 0);
	assert_int_equal(join(h), -EPIPE);
	assert_int_equal(rt_oneshot_send(&o, 1), -EALREADY);
	assert_int_equal(rt_oneshot_send(&o, RT_PENDING), -EINVAL);
	assert_int_equal(rt_oneshot_send(NULL, 1), -EINVAL);
	rt_runtime_free(rt);
}

/* ---- wakers ------------------------------------------------------------------ */

struct waker_frame {
	struct rt_frame frame;
	struct rt_waker **slot;		/* where the test thread finds it */
	atomic_int *ready;
	uint64_t timeout_ns;
	bool wake_first;		/* complete it before waiting */
	struct rt_waker *wk;
};

static RT_ASYNC int64_t waker_user(struct rt_task *t, struct rt_frame *base)
{
	struct waker_frame *f = RT_FRAME(base, struct waker_frame);
	int64_t r;
	int ret;

	RT_BEGIN(t, base);
	ret = rt_waker_new(t, &f->wk);
	if (ret)
		return ret;
	if (f->wake_first && rt_waker_wake(f->wk, 11))
		return -EPROTO;
	*f->slot = f->wk;
	atomic_store(f->ready, 1);
	RT_CATCH(true);
	RT_AWAIT(r, rt_op_waker_wait(t, f->wk, f->timeout_ns ?
				     rt_deadline_in(f->timeout_ns) : RT_NEVER));
	return r;
}

static void test_waker(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_waker *wk = NULL;
	struct rt_sync_stats st;
	struct rt_task *h = NULL;
	atomic_int ready = 0;

	(void)state;
	/* latched: completed before the wait */
	assert_int_equal(TEST_RUN(rt, waker_user, struct waker_frame,
				  .slot = &wk, .ready = &ready,
				  .wake_first = true), 11);
	assert_int_equal(rt_waker_wake(wk, 12), -EALREADY);
	rt_waker_release(wk);

	/* completed from this thread while the task waits */
	atomic_store(&ready, 0);
	assert_int_equal(RT_SPAWN(rt, &h, waker_user, struct waker_frame,
				  .slot = &wk, .ready = &ready), 0);
	while (!atomic_load(&ready))
		sched_yield();
	assert_int_equal(rt_waker_wake(wk, 21), 0);
	assert_int_equal(rt_waker_wake(wk, 22), -EALREADY);	/* twice */
	assert_int_equal(join(h), 21);
	rt_waker_release(wk);

	/* the wait times out; a later completion is late */
	assert_int_equal(TEST_RUN(rt, waker_user, struct waker_frame,
				  .slot = &wk, .ready = &ready,
				  .timeout_ns = 1000000), -ETIMEDOUT);
	assert_int_equal(rt_waker_wake(wk, 31), -EALREADY);
	assert_int_equal(rt_waker_wake(wk, RT_PENDING), -EINVAL);
	assert_int_equal(rt_waker_wake(NULL, 0), -EINVAL);
	assert_int_equal(rt_sync_stats(rt, &st), 0);
	assert_int_equal(st.wakers_late, 3);
	/* kept past its runtime: a clear error, nothing touched */
	rt_runtime_shutdown(rt);
	assert_int_equal(rt_waker_wake(wk, 41), -ESHUTDOWN);
	rt_waker_release(wk);
	assert_int_equal(rt_waker_new(NULL, &wk), -EINVAL);
	rt_runtime_free(rt);
}

/* ---- select -------------------------------------------------------------------- */

struct select_frame {
	struct rt_frame frame;
	struct rt_select_arm arms[3];
	unsigned int n;
	uint64_t timeout_ns;
	int64_t msg[2];
};

static RT_ASYNC int64_t selector(struct rt_task *t, struct rt_frame *base)
{
	struct select_frame *f = RT_FRAME(base, struct select_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	RT_AWAIT(r, rt_op_select(t, f->arms, f->n, f->timeout_ns ?
				 rt_deadline_in(f->timeout_ns) : RT_NEVER));
	if (r < 0)
		return r;
	return r * 1000 + f->arms[r].result +
	       (r < 2 ? *(int64_t *)f->arms[r].buf : 0);
}

static void test_select(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_chan *a, *b;
	struct rt_event e = RT_EVENT_INIT;
	struct select_frame sf = { .n = 3 };
	struct rt_task *h = NULL;
	int64_t v;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(v), 4, &a), 0);
	assert_int_equal(rt_chan_new(sizeof(v), 4, &b), 0);
	/* both channels ready: exactly one message is taken, arm 0's */
	v = 1;
	assert_int_equal(rt_chan_try_send(a, &v), 0);
	v = 2;
	assert_int_equal(rt_chan_try_send(b, &v), 0);

	struct select_frame *f = &sf;
	f->arms[0] = (struct rt_select_arm){ .kind = RT_ARM_CHAN_RECV,
					     .obj = a };
	f->arms[1] = (struct rt_select_arm){ .kind = RT_ARM_CHAN_RECV,
					     .obj = b };
	f->arms[2] = (struct rt_select_arm){ .kind = RT_ARM_EVENT, .obj = &e };
	/* buffers are in the spawned copy of the frame: point there */
	assert_int_equal(RT_SPAWN(rt, &h, selector, struct select_frame,
				  .n = 0), 0);
	assert_int_equal(join(h), -EINVAL);	/* n = 0 */

	assert_int_equal(rt_chan_len(a), 1);
	assert_int_equal(rt_chan_len(b), 1);
	{
		static struct select_frame g;	/* stable buffers */
		int64_t bufs[2];

		g = sf;
		g.arms[0].buf = &bufs[0];
		g.arms[1].buf = &bufs[1];
		assert_int_equal(TEST_RUN(rt, selector, struct select_frame,
					  .arms = { g.arms[0], g.arms[1],
						    g.arms[2] }, .n = 3),
				 0 * 1000 + 0 + 1);
		assert_int_equal(rt_chan_len(a), 0);
		assert_int_equal(rt_chan_len(b), 1);	/* untouched */
		assert_int_equal(TEST_RUN(rt, selector, struct select_frame,
					  .arms = { g.arms[0], g.arms[1],
						    g.arms[2] }, .n = 3),
				 1 * 1000 + 0 + 2);
		/* nothing ready: times out, every waiter unlinked */
		assert_int_equal(TEST_RUN(rt, selector, struct select_frame,
					  .arms = { g.arms[0], g.arms[1],
						    g.arms[2] }, .n = 3,
					  .timeout_ns = 1000000), -ETIMEDOUT);
		assert_int_equal(rt_waitq_waiters(&e.q), 0);
		/* an arm that becomes ready later: the event */
		assert_int_equal(RT_SPAWN(rt, &h, selector,
					  struct select_frame,
					  .arms = { g.arms[0], g.arms[1],
						    g.arms[2] }, .n = 3), 0);
		await_waiters(&e.q, 1);
		assert_int_equal(rt_event_set(&e), 1);
		assert_int_equal(join(h), 2000);
		/* the channel waiters it left were unlinked: a send is
		 * queued, not handed to a task that has gone */
		v = 3;
		assert_int_equal(rt_chan_try_send(a, &v), 0);
		assert_int_equal(rt_chan_len(a), 1);
		/* cancelled while parked on three arms: every waiter
		 * unlinked, nothing taken */
		assert_int_equal(rt_chan_try_recv(a, &v), 0);	/* empty a */
		rt_event_reset(&e);
		assert_int_equal(RT_SPAWN(rt, &h, selector,
					  struct select_frame,
					  .arms = { g.arms[0], g.arms[1],
						    g.arms[2] }, .n = 3), 0);
		await_waiters(&e.q, 1);
		assert_int_equal(rt_task_cancel(h), 0);
		assert_int_equal(join(h), -ECANCELED);
		assert_int_equal(rt_waitq_waiters(&e.q), 0);
		v = 4;
		assert_int_equal(rt_chan_try_send(b, &v), 0);
		assert_int_equal(rt_chan_len(b), 1);	/* queued, not handed */
		/* a bad arm */
		assert_int_equal(TEST_RUN(rt, selector, struct select_frame,
					  .arms = { { .kind = 99, .obj = a } },
					  .n = 1), -EINVAL);
		assert_int_equal(TEST_RUN(rt, selector, struct select_frame,
					  .arms = { { .kind = RT_ARM_CHAN_RECV,
						      .obj = a } },
					  .n = 1), -EINVAL);	/* no buf */
	}
	rt_chan_free(a);
	rt_chan_free(b);
	rt_runtime_free(rt);
}

/*
 * One task's wait is reused op after op (ONE ARM AT REST, waitq.c): a
 * select parks on two arms, then plain waits, one timed out, park on the
 * task's own waiter. Each must end with its own result: a select that
 * left its shape behind would have the next wait read an arm of it.
 */
struct rest_frame {
	struct rt_frame frame;
	struct rt_select_arm arms[2];
	struct rt_waitq *q, *quiet;
	int64_t msg, *r;	/* the four results, in the test's array */
};

static RT_ASYNC int64_t rest_waiter(struct rt_task *t, struct rt_frame *base)
{
	struct rest_frame *f = RT_FRAME(base, struct rest_frame);

	RT_BEGIN(t, base);
	RT_CATCH(true);
	f->arms[0].buf = &f->msg;
	RT_AWAIT(f->r[0], rt_op_select(t, f->arms, 2, RT_NEVER));
	RT_AWAIT(f->r[1], rt_op_wait(t, f->q, RT_NEVER));
	RT_AWAIT(f->r[2], rt_op_wait(t, f->quiet, rt_deadline_in(1000000)));
	RT_AWAIT(f->r[3], rt_op_wait(t, f->q, RT_NEVER));
	return 0;
}

static void test_wait_after_select(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_waitq q = RT_WAITQ_INIT, quiet = RT_WAITQ_INIT;
	struct rt_event e = RT_EVENT_INIT;
	struct rest_frame rf;
	int64_t r[4] = { -1, -1, -1, -1 };
	struct rt_task *h;
	struct rt_chan *a;
	int64_t v = 5;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(int64_t), 1, &a), 0);
	rf = (struct rest_frame){
		.arms = { { .kind = RT_ARM_CHAN_RECV, .obj = a },
			  { .kind = RT_ARM_EVENT, .obj = &e } },
		.q = &q, .quiet = &quiet, .r = r,
	};
	/* the task works on its own copy: the spawned root frame */
	assert_int_equal(rt_task_spawn(rt, rest_waiter, &rf.frame, sizeof(rf),
				       &h), 0);
	await_waiters(&e.q, 1);
	assert_int_equal(rt_event_set(&e), 1);
	await_waiters(&q, 1);
	assert_int_equal(rt_waitq_wake(&q, 1, 71), 1);
	await_waiters(&q, 1);		/* after the timed wait on quiet */
	assert_int_equal(rt_waitq_wake(&q, 1, 72), 1);
	assert_int_equal(join(h), 0);
	assert_int_equal(r[0], 1);		/* the event's arm */
	assert_int_equal(r[1], 71);
	assert_int_equal(r[2], -ETIMEDOUT);
	assert_int_equal(r[3], 72);
	assert_int_equal(rt_waitq_waiters(&quiet), 0);
	assert_int_equal(rt_waitq_waiters(&e.q), 0);
	/* the select's channel waiter is gone: a send is queued */
	assert_int_equal(rt_chan_try_send(a, &v), 0);
	assert_int_equal(rt_chan_len(a), 1);
	rt_chan_free(a);
	rt_runtime_free(rt);
}

/* ---- select over an I/O op ------------------------------------------------------ */

/* What a select with a recv arm saw, for the test to check. */
struct io_sel_out {
	int64_t r;
	int64_t recv_result;
	char buf[16];
};

struct io_sel_frame {
	struct rt_frame frame;
	int fd;
	struct rt_event *ev;	/* an event arm too, when not NULL */
	bool ev_first;		/* ... before the recv arm */
	uint64_t deadline_ns;	/* 0: RT_NEVER */
	struct io_sel_out *out;
	unsigned int n, recv_arm;
	struct rt_io_req req;
	struct rt_select_arm arms[2];
	char buf[16];
};

static RT_ASYNC int64_t io_selector(struct rt_task *t, struct rt_frame *base)
{
	struct io_sel_frame *f = RT_FRAME(base, struct io_sel_frame);
	struct rt_select_arm recv_arm, ev_arm;
	int64_t r;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	f->req = (struct rt_io_req){ .fd = f->fd, .buf = f->buf,
				     .len = sizeof(f->buf) };
	recv_arm = (struct rt_select_arm){ .kind = RT_ARM_RECV, .obj = &f->req };
	ev_arm = (struct rt_select_arm){ .kind = RT_ARM_EVENT, .obj = f->ev };
	f->n = f->ev ? 2 : 1;
	f->recv_arm = f->ev && f->ev_first ? 1 : 0;
	f->arms[f->recv_arm] = recv_arm;
	if (f->ev)
		f->arms[!f->recv_arm] = ev_arm;
	RT_AWAIT(r, rt_op_select(t, f->arms, f->n,
				 f->deadline_ns ? f->deadline_ns : RT_NEVER));
	f->out->r = r;
	f->out->recv_result = f->arms[f->recv_arm].result;
	memcpy(f->out->buf, f->buf, sizeof(f->buf));
	return r;
}

static struct rt_task *spawn_io_selector(struct rt_runtime *rt, int fd,
					 struct rt_event *ev, bool ev_first,
					 uint64_t deadline_ns,
					 struct io_sel_out *out)
{
	struct rt_task *h = NULL;

	memset(out, 0, sizeof(*out));
	assert_int_equal(RT_SPAWN(rt, &h, io_selector, struct io_sel_frame,
				  .fd = fd, .ev = ev, .ev_first = ev_first,
				  .deadline_ns = deadline_ns, .out = out), 0);
	return h;
}

static uint64_t io_count(struct rt_runtime *rt, bool cancelled)
{
	struct rt_stats st;

	assert_int_equal(rt_runtime_stats(rt, &st), 0);
	return cancelled ? st.io_cancelled : st.io_submitted;
}

/* What is left in the socket now, without waiting: its bytes, or "". */
static void drain_now(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
}

static void test_select_io_orders(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_sync_stats ss;
	struct io_sel_out out;
	struct rt_task *h;
	uint64_t sub;
	char rest[16];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

	/* the recv first: it wins with its bytes */
	h = spawn_io_selector(rt, sv[0], NULL, false, 0, &out);
	assert_int_equal(send(sv[1], "hello", 5, 0), 5);
	assert_int_equal(join(h), 0);
	assert_int_equal(out.recv_result, 5);
	assert_memory_equal(out.buf, "hello", 5);

	/* the timer first: -ETIMEDOUT, the recv cancelled having taken
	 * nothing, so the next bytes are all still in the socket */
	assert_int_equal(rt_sync_stats(rt, &ss), 0);
	uint64_t timeouts = ss.wait_timeouts;
	uint64_t cancels = io_count(rt, true);
	sub = io_count(rt, false);
	h = spawn_io_selector(rt, sv[0], NULL, false,
			      rt_deadline_in(1000000), &out);
	assert_int_equal(join(h), -ETIMEDOUT);
	assert_int_equal(out.recv_result, -ECANCELED);
	/* unless the task ran only after the deadline (a loaded machine):
	 * then it started nothing and did not wait */
	bool started = io_count(rt, false) == sub + 1;
	assert_int_equal(io_count(rt, true), cancels + started);
	assert_int_equal(rt_sync_stats(rt, &ss), 0);
	assert_int_equal(ss.wait_timeouts, timeouts + started);
	assert_int_equal(send(sv[1], "world", 5, 0), 5);
	drain_now(sv[0], rest, sizeof(rest));
	assert_string_equal(rest, "world");

	/* a deadline already past: the recv is never started */
	sub = io_count(rt, false);
	h = spawn_io_selector(rt, sv[0], NULL, false, 1, &out);
	assert_int_equal(join(h), -ETIMEDOUT);
	assert_int_equal(out.recv_result, -ECANCELED);
	assert_int_equal(io_count(rt, false), sub);

	/* cancelled with the recv in flight: -ECANCELED, nothing taken */
	sub = io_count(rt, false);
	h = spawn_io_selector(rt, sv[0], NULL, false, 0, &out);
	while (io_count(rt, false) == sub)	/* started: the wait is armed */
		sched_yield();
	assert_int_equal(rt_task_cancel(h), 0);
	assert_int_equal(join(h), -ECANCELED);
	assert_int_equal(out.recv_result, -ECANCELED);
	assert_int_equal(send(sv[1], "x", 1, 0), 1);
	drain_now(sv[0], rest, sizeof(rest));
	assert_string_equal(rest, "x");

	close(sv[0]);
	close(sv[1]);
	rt_runtime_free(rt);
}

/*
 * The recv and another arm ready at once: exactly one wins, and the
 * bytes are either in the losing recv's buffer (its result says how
 * many) or still in the socket; never lost, never both.
 */
static void check_one_winner(const struct io_sel_out *out, int sock,
			     int64_t other, unsigned int *in_buf)
{
	/* the recv is arm 0 in these tests */
	char rest[16];

	drain_now(sock, rest, sizeof(rest));
	if (out->r == other) {
		if (out->recv_result == 2) {
			assert_memory_equal(out->buf, "ab", 2);
			assert_string_equal(rest, "");
			++*in_buf;
		} else {
			assert_int_equal(out->recv_result, -ECANCELED);
			assert_string_equal(rest, "ab");
		}
		return;
	}
	/* the recv won: its bytes, and nothing left */
	assert_int_equal(out->r, 0);
	assert_int_equal(out->recv_result, 2);
	assert_memory_equal(out->buf, "ab", 2);
	assert_string_equal(rest, "");
}

static void test_select_io_at_once(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_event ev = RT_EVENT_INIT;
	unsigned int in_buf = 0;
	struct io_sel_out out;
	char rest[16];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rt_event_set(&ev), 0);

	/* the event is arm 0 and ready: the recv is never started */
	assert_int_equal(send(sv[1], "ab", 2, 0), 2);
	assert_int_equal(join(spawn_io_selector(rt, sv[0], &ev, true, 0,
						&out)), 0);
	assert_int_equal(out.recv_result, -ECANCELED);
	drain_now(sv[0], rest, sizeof(rest));
	assert_string_equal(rest, "ab");

	/* the recv is arm 0, started with its bytes waiting; the event
	 * arm is ready in the same op and wins, the recv is cancelled */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(send(sv[1], "ab", 2, 0), 2);
		assert_int_equal(join(spawn_io_selector(rt, sv[0], &ev, false,
							0, &out)), 1);
		check_one_winner(&out, sv[0], 1, &in_buf);
	}
	print_message("recv lost with its bytes %u of 200 times\n", in_buf);

	close(sv[0]);
	close(sv[1]);
	rt_runtime_free(rt);
}

/* A foreign thread that makes the recv and the event ready together. */
struct racer {
	pthread_t tid;
	int fd;
	struct rt_event *ev;
	_Atomic int go;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(&r->go))
		sched_yield();
	if (send(r->fd, "ab", 2, 0) != 2)
		abort();
	if (r->ev)
		rt_event_set(r->ev);
	return NULL;
}

static void test_select_io_race(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_event ev = RT_EVENT_INIT;
	unsigned int wins[2] = { 0, 0 }, in_buf = 0;
	struct io_sel_out out;
	int sv[2];

	struct rt_sync_stats ss;
	uint64_t timeouts;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* against an event set by the thread that sends */
	for (int i = 0; i < 500; i++) {
		struct racer rc = { .fd = sv[1], .ev = &ev };
		struct rt_task *h;

		rt_event_reset(&ev);
		assert_int_equal(pthread_create(&rc.tid, NULL, racer_main,
						&rc), 0);
		h = spawn_io_selector(rt, sv[0], &ev, false, 0, &out);
		atomic_store(&rc.go, 1);
		int64_t r = join(h);
		pthread_join(rc.tid, NULL);
		assert_true(r == 0 || r == 1);
		wins[r]++;
		check_one_winner(&out, sv[0], 1, &in_buf);
	}
	assert_int_equal(wins[0] + wins[1], 500);
	print_message("vs event: recv won %u, event won %u (recv kept its "
		      "bytes %u)\n", wins[0], wins[1], in_buf);

	/* against a deadline that comes due as the bytes arrive */
	assert_int_equal(rt_sync_stats(rt, &ss), 0);
	timeouts = ss.wait_timeouts;
	wins[0] = wins[1] = in_buf = 0;
	for (int i = 0; i < 500; i++) {
		struct racer rc = { .fd = sv[1] };
		struct rt_task *h;

		assert_int_equal(pthread_create(&rc.tid, NULL, racer_main,
						&rc), 0);
		h = spawn_io_selector(rt, sv[0], NULL, false,
				      rt_deadline_in(100000), &out);
		atomic_store(&rc.go, 1);
		int64_t r = join(h);
		pthread_join(rc.tid, NULL);
		assert_true(r == 0 || r == -ETIMEDOUT);
		wins[r != 0]++;
		check_one_winner(&out, sv[0], -ETIMEDOUT, &in_buf);
	}
	/* a deadline past before the op ran is no wait's timeout */
	assert_int_equal(rt_sync_stats(rt, &ss), 0);
	assert_true(ss.wait_timeouts - timeouts <= wins[1]);
	print_message("vs deadline: recv won %u, deadline won %u (recv kept "
		      "its bytes %u)\n", wins[0], wins[1], in_buf);
	close(sv[0]);
	close(sv[1]);
	rt_runtime_free(rt);
}

/* ---- timed join from a plain thread -------------------------------------------- */

static void test_join_until(void **state)
{
	struct rt_runtime *rt = test_runtime(1, false);
	struct rt_waitq q = RT_WAITQ_INIT;
	struct rt_task *h = spawn_waiter(rt, &q, 0);
	int64_t r = 0;

	(void)state;
	assert_int_equal(rt_task_join_until(h, &r, rt_deadline_in(1000000)),
			 -ETIMEDOUT);
	/* still joinable */
	assert_int_equal(rt_task_join_until(h, &r, rt_now_ns()), -ETIMEDOUT);
	await_waiters(&q, 1);
	assert_int_equal(rt_waitq_wake(&q, 1, 77), 1);
	assert_int_equal(rt_task_join_until(h, &r, RT_NEVER), 0);
	assert_int_equal(r, 77);
	assert_int_equal(rt_task_join_until(h, &r, RT_NEVER), -EALREADY);
	assert_int_equal(rt_task_join_until(NULL, &r, RT_NEVER), -EINVAL);
	rt_task_release(h);
	rt_runtime_free(rt);
}

/* ---- blocking calls --------------------------------------------------------- */

static atomic_int running_calls, max_running;

/* Blocks until its semaphore is posted (NULL: returns at once), then
 * returns 1; counts how many run at once. */
static int64_t blocking_call(void *arg)
{
	int now = atomic_fetch_add(&running_calls, 1) + 1;
	int seen = atomic_load(&max_running);

	while (now > seen && !atomic_compare_exchange_weak(&max_running, &seen,
							    now))
		;
	if (arg)
		while (sem_wait(arg))
			;
	atomic_fetch_sub(&running_calls, 1);
	return 1;
}

struct blocking_frame {
	struct rt_frame frame;
	sem_t *sem;
	uint64_t timeout_ns;
	bool null_fn;
};

static RT_ASYNC int64_t blocker(struct rt_task *t, struct rt_frame *base)
{
	struct blocking_frame *f = RT_FRAME(base, struct blocking_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	RT_AWAIT(r, rt_op_spawn_blocking(t, f->null_fn ? NULL : blocking_call,
					 f->sem, f->timeout_ns ?
					 rt_deadline_in(f->timeout_ns) : RT_NEVER));
	return r;
}

static void test_spawn_blocking(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_sync_stats st;
	struct rt_task *h[32];
	sem_t sem;
	int64_t sum = 0;

	(void)state;
	assert_int_equal(sem_init(&sem, 0, 0), 0);
	assert_int_equal(rt_blocking_pool_size(rt, 0), -EINVAL);
	assert_int_equal(rt_blocking_pool_size(NULL, 4), -EINVAL);
	assert_int_equal(rt_blocking_pool_size(rt, 4), 0);
	assert_int_equal(TEST_RUN(rt, blocker, struct blocking_frame,
				  .null_fn = true), -EINVAL);
	/* 32 calls that block until released: at most 4 at once */
	for (int i = 0; i < 32; i++)
		assert_int_equal(RT_SPAWN(rt, &h[i], blocker,
					  struct blocking_frame, .sem = &sem), 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(sem_post(&sem), 0);
	for (int i = 0; i < 32; i++) {
		int64_t r = join(h[i]);

		if (r != 1)
			print_message("call %d: %lld\n", i, (long long)r);
		sum += r;
	}
	assert_int_equal(sum, 32);
	assert_true(atomic_load(&max_running) <= 4);
	assert_int_equal(rt_blocking_pool_size(rt, 8), -EBUSY);	/* in use */

	/* the wait times out while the call runs: the call finishes alone,
	 * its completion is late */
	assert_int_equal(TEST_RUN(rt, blocker, struct blocking_frame,
				  .sem = &sem, .timeout_ns = 1000000),
			 -ETIMEDOUT);
	assert_int_equal(sem_post(&sem), 0);
	check_still_works(rt);
	assert_int_equal(rt_runtime_shutdown(rt), 0);	/* joins the pool */
	assert_int_equal(rt_sync_stats(rt, &st), 0);
	assert_int_equal(st.blocking_jobs + st.blocking_skipped, 33);
	/* the timed-out call ran (its completion came late), or, on a
	 * machine too busy to start it within 1 ms, was skipped */
	assert_int_equal(st.wakers_late, st.blocking_jobs - 32);
	assert_true(st.blocking_threads >= 1 && st.blocking_threads <= 4);
	sem_destroy(&sem);
	rt_runtime_free(rt);
}

/* A call whose wait ended before a thread took it is never run. */
static void test_spawn_blocking_skipped(void **state)
{
	struct rt_runtime *rt = test_runtime(1, false);
	struct rt_sync_stats st;
	struct rt_task *h = NULL;
	sem_t sem;

	(void)state;
	assert_int_equal(sem_init(&sem, 0, 0), 0);
	assert_int_equal(rt_blocking_pool_size(rt, 1), 0);
	atomic_store(&running_calls, 0);
	assert_int_equal(RT_SPAWN(rt, &h, blocker, struct blocking_frame,
				  .sem = &sem), 0);
	while (!atomic_load(&running_calls))	/* the one thread is busy */
		sched_yield();
	assert_int_equal(TEST_RUN(rt, blocker, struct blocking_frame,
				  .timeout_ns = 1000000), -ETIMEDOUT);
	assert_int_equal(sem_post(&sem), 0);
	assert_int_equal(join(h), 1);
	assert_int_equal(rt_runtime_shutdown(rt), 0);
	assert_int_equal(rt_sync_stats(rt, &st), 0);
	assert_int_equal(st.blocking_jobs, 1);
	assert_int_equal(st.blocking_skipped, 1);
	assert_int_equal(st.blocking_threads, 1);
	sem_destroy(&sem);
	rt_runtime_free(rt);
}

/*
 * The pool in the trace area, where rtasync-trace reads it: exact while
 * two calls block, after they return, and after shutdown. Two calls
 * handed over at once run at once on a pool of two (the second is not
 * queued behind the first's blocking call).
 */
static void test_spawn_blocking_in_trace_area(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	const struct rt_trace_blocking *tb;
	struct rt_trace_header *h;
	struct rt_sync_stats st;
	struct rt_task *t[2];
	struct stat fst;
	sem_t sem;
	int fd;

	(void)state;
	fd = trace_self_area_fd();
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &fst), 0);
	h = mmap(NULL, (size_t)fst.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(h != MAP_FAILED);
	assert_int_equal(h->version, RT_TRACE_VERSION);
	tb = &h->blocking;
	assert_int_equal(tb->max, 0);		/* no pool yet */

	assert_int_equal(sem_init(&sem, 0, 0), 0);
	assert_int_equal(rt_blocking_pool_size(rt, 2), 0);
	atomic_store(&running_calls, 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(RT_SPAWN(rt, &t[i], blocker,
					  struct blocking_frame, .sem = &sem), 0);
	while (atomic_load(&running_calls) != 2)
		sched_yield();
	assert_int_equal(tb->max, 2);
	assert_int_equal(tb->threads, 2);
	assert_int_equal(tb->queued, 2);
	assert_int_equal(tb->started, 2);
	assert_int_equal(tb->completed, 0);
	assert_int_equal(tb->skipped, 0);

	for (int i = 0; i < 2; i++)
		assert_int_equal(sem_post(&sem), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(join(t[i]), 1);
	assert_int_equal(tb->completed, 2);	/* counted before the wake */
	assert_int_equal(rt_runtime_shutdown(rt), 0);
	assert_int_equal(tb->threads, 2);	/* kept past the pool */
	assert_int_equal(rt_sync_stats(rt, &st), 0);
	assert_int_equal(st.blocking_jobs, 2);
	assert_int_equal(st.blocking_threads, 2);
	munmap(h, (size_t)fst.st_size);
	sem_destroy(&sem);
	rt_runtime_free(rt);
}

/* ---- task sets: join-any, join-all ------------------------------------------- */

struct nap_frame {
	struct rt_frame frame;
	uint64_t ns;
	int64_t v;
};

static RT_ASYNC int64_t nap(struct rt_task *t, struct rt_frame *base)
{
	struct nap_frame *f = RT_FRAME(base, struct nap_frame);

	RT_BEGIN(t, base);
	RT_SLEEP(f->ns);
	return f->v;
}

struct join_set_frame {
	struct rt_frame frame;
	struct rt_taskset *set;
	struct rt_task_done d;
	uint64_t seen;		/* bit per tag */
	int64_t sum, r;
	int n;
};

/* join-all: every task once, then -ENOENT */
static RT_ASYNC int64_t join_all(struct rt_task *t, struct rt_frame *base)
{
	struct join_set_frame *f = RT_FRAME(base, struct join_set_frame);

	RT_BEGIN(t, base);
	RT_CATCH(true);
	for (;;) {
		RT_AWAIT(f->r, rt_op_taskset_next(t, f->set, &f->d, RT_NEVER));
		if (f->r == -ENOENT)
			break;
		if (f->r || f->d.tag >= 64 || (f->seen & (1ull << f->d.tag)))
			return -EPROTO;
		f->seen |= 1ull << f->d.tag;
		f->sum += f->d.result;
		f->n++;
	}
	return f->n == 10 ? f->sum : -EPROTO;
}

/* select: a task set against an event, the set wins */
struct set_select_frame {
	struct rt_frame frame;
	struct rt_select_arm arms[2];
	struct rt_task_done d;
	int64_t r;
};

static RT_ASYNC int64_t set_select(struct rt_task *t, struct rt_frame *base)
{
	struct set_select_frame *f = RT_FRAME(base, struct set_select_frame);

	RT_BEGIN(t, base);
	f->arms[1].buf = &f->d;
	RT_AWAIT(f->r, rt_op_select(t, f->arms, 2, rt_deadline_in(10000000000)));
	return f->r == 1 ? (int64_t)f->d.tag * 100 + f->d.result : -EPROTO;
}

static void test_taskset(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_event never = RT_EVENT_INIT;
	struct rt_taskset *set;
	struct rt_task *h;

	(void)state;
	assert_int_equal(rt_taskset_new(0, &set), -EINVAL);
	assert_int_equal(rt_taskset_new(4, NULL), -EINVAL);
	assert_int_equal(rt_taskset_new(4, &set), 0);	/* < 10: watchers wait */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(RT_SPAWN(rt, &h, nap, struct nap_frame,
					  .ns = (uint64_t)(10 - i) * 100000,
					  .v = i + 1), 0);
		assert_int_equal(rt_taskset_add(set, h, (uint64_t)i), 0);
	}
	assert_int_equal(rt_taskset_add(set, NULL, 0), -EINVAL);
	assert_int_equal(TEST_RUN(rt, join_all, struct join_set_frame,
				  .set = set), 55);
	assert_int_equal(rt_taskset_pending(set), 0);
	/* join-any inside a select */
	assert_int_equal(RT_SPAWN(rt, &h, nap, struct nap_frame, .ns = 1000,
				  .v = 7), 0);
	assert_int_equal(rt_taskset_add(set, h, 3), 0);
	assert_int_equal(TEST_RUN(rt, set_select, struct set_select_frame,
				  .arms = { { .kind = RT_ARM_EVENT, .obj = &never },
					    { .kind = RT_ARM_TASKSET,
					      .obj = set } }), 307);
	/* freed with a task still running and one result unread */
	assert_int_equal(RT_SPAWN(rt, &h, nap, struct nap_frame, .ns = 1000,
				  .v = 1), 0);
	assert_int_equal(rt_taskset_add(set, h, 1), 0);
	assert_int_equal(RT_SPAWN(rt, &h, nap, struct nap_frame,
				  .ns = 5000000, .v = 2), 0);
	assert_int_equal(rt_taskset_add(set, h, 2), 0);
	rt_taskset_free(set);
	rt_taskset_free(NULL);
	assert_int_equal(rt_runtime_drain(rt), 0);	/* watchers finish */
	check_still_works(rt);
	rt_runtime_free(rt);
}

/* ---- task names and locals --------------------------------------------------- */

struct local_frame {
	struct rt_frame frame;
	int key;
	int64_t r;
};

/* Its own value survives a suspension; another task's is its own. */
static RT_ASYNC int64_t local_user(struct rt_task *t, struct rt_frame *base)
{
	struct local_frame *f = RT_FRAME(base, struct local_frame);

	RT_BEGIN(t, base);
	if (rt_task_local_get(f->key))
		return -EPROTO;		/* starts empty */
	if (rt_task_local_set(f->key, f) || rt_task_local_set(99, f) != -EINVAL)
		return -EPROTO;
	RT_YIELD();
	if (rt_task_local_get(f->key) != f)
		return -EPROTO;
	if (rt_task_set_name(t, "worker-of-a-very-long-name-beyond-31") ||
	    rt_task_set_name(t, "again") != -EALREADY)
		return -EPROTO;
	return (int64_t)strlen(rt_task_name(t));
}

static void test_names_and_locals(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_waitq q = RT_WAITQ_INIT;
	struct rt_task *h[4];
	int key = rt_task_local_key();

	(void)state;
	assert_true(key >= 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(RT_SPAWN(rt, &h[i], local_user,
					  struct local_frame, .key = key), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(join(h[i]), 31);	/* truncated */
	/* named from this thread, read while it waits */
	h[0] = spawn_waiter(rt, &q, 0);
	assert_string_equal(rt_task_name(h[0]), "");
	assert_int_equal(rt_task_set_name(h[0], "acceptor"), 0);
	assert_string_equal(rt_task_name(h[0]), "acceptor");
	assert_int_equal(rt_task_set_name(h[0], NULL), -EINVAL);
	assert_int_equal(rt_task_set_name(NULL, "x"), -EINVAL);
	assert_null(rt_task_name(NULL));
	await_waiters(&q, 1);
	rt_waitq_wake(&q, 1, 0);
	assert_int_equal(join(h[0]), 0);
	/* outside a task */
	assert_int_equal(rt_task_local_set(key, &q), -EPERM);
	assert_null(rt_task_local_get(key));
	rt_runtime_free(rt);
}

/*
 * A task's wait, name and locals live in a block it allocates on first
 * use, which stays with the task's memory when the runtime gives that
 * memory to the next task: the next task must start without the name and
 * the locals (each freed once, at the end of the task that set them:
 * ASan and the fault test count that), and wait in the same block.
 */
struct reuse_frame {
	struct rt_frame frame;
	struct rt_waitq *q;
	int key;
	int n;
	uintptr_t first;		/* the first kid's task, as a number */
	struct rt_task *kid;
	int64_t r, sum;
};

static RT_ASYNC int64_t reuse_kid(struct rt_task *t, struct rt_frame *base)
{
	struct reuse_frame *f = RT_FRAME(base, struct reuse_frame);

	RT_BEGIN(t, base);
	if (rt_task_name(t)[0] || rt_task_local_get(f->key))
		return -EPROTO;		/* left over from the block's last task */
	if (rt_task_set_name(t, "kid") || rt_task_local_set(f->key, f))
		return -EPROTO;
	RT_AWAIT(f->r, rt_op_wait(t, f->q, RT_NEVER));
	if (strcmp(rt_task_name(t), "kid") || rt_task_local_get(f->key) != f)
		return -EPROTO;
	return f->r;
}

/* One worker: a released task's block is the next spawn's (LIFO cache). */
static RT_ASYNC int64_t reuse_parent(struct rt_task *t, struct rt_frame *base)
{
	struct reuse_frame *f = RT_FRAME(base, struct reuse_frame);
	int ret;

	RT_BEGIN(t, base);
	for (f->n = 0; f->n < 2; f->n++) {
		ret = RT_SPAWN(rt_task_runtime(t), &f->kid, reuse_kid,
			       struct reuse_frame, .q = f->q, .key = f->key);
		if (ret)
			return ret;
		if (!f->n)
			f->first = (uintptr_t)f->kid;
		else if ((uintptr_t)f->kid != f->first)
			return -ESRCH;	/* not reused: the test tests nothing */
		while (rt_waitq_waiters(f->q) != 1)
			RT_YIELD();
		rt_waitq_wake(f->q, 1, 7 + f->n);
		RT_JOIN(f->r, f->kid);
		rt_task_release(f->kid);
		f->sum += f->r;
	}
	return f->sum;
}

static void test_ext_reused(void **state)
{
	struct rt_runtime *rt = test_runtime(1, false);
	struct rt_waitq q = RT_WAITQ_INIT;
	struct rt_task *h;
	int key = rt_task_local_key();

	(void)state;
	assert_true(key >= 0);
	assert_int_equal(RT_SPAWN(rt, &h, reuse_parent, struct reuse_frame,
				  .q = &q, .key = key), 0);
	assert_int_equal(join(h), 7 + 8);
	rt_runtime_free(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waitq_wake_one_and_all),
		cmocka_unit_test(test_waitq_timeout_and_cancel),
		cmocka_unit_test(test_waitq_cond),
		cmocka_unit_test(test_ops_outside_task),
		cmocka_unit_test(test_chan_pump_close_drain),
		cmocka_unit_test(test_chan_round_trips_let_the_queue_run),
		cmocka_unit_test(test_chan_try_and_bad_input),
		cmocka_unit_test(test_chan_close_wakes_and_timeouts),
		cmocka_unit_test(test_mutex),
		cmocka_unit_test(test_sem),
		cmocka_unit_test(test_event_notify),
		cmocka_unit_test(test_oneshot),
		cmocka_unit_test(test_waker),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_wait_after_select),
		cmocka_unit_test(test_select_io_orders),
		cmocka_unit_test(test_select_io_at_once),
		cmocka_unit_test(test_select_io_race),
		cmocka_unit_test(test_join_until),
		cmocka_unit_test(test_spawn_blocking),
		cmocka_unit_test(test_spawn_blocking_skipped),
		cmocka_unit_test(test_spawn_blocking_in_trace_area),
		cmocka_unit_test(test_names_and_locals),
		cmocka_unit_test(test_ext_reused),
		cmocka_unit_test(test_taskset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

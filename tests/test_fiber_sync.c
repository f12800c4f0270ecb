// SPDX-License-Identifier: MIT
/*
 * A fiber's blocking-style coordination calls on the same wait queues as
 * stackless tasks: channels both ways between the two kinds with exact
 * counts and order, one mutex shared by both with an exact counter,
 * deadlines, cancels of a fiber parked on a channel or a mutex with
 * nothing lost, each remaining call once, and the errors outside fibers.
 */
#include <sched.h>
#include <stdatomic.h>

#include "rt_test.h"
#include "sync_tasks.h"

#define N_MSGS 20000
#define N_LOCKS 1000

static int64_t join(struct rt_task *h)
{
	int64_t r = INT64_MIN;

	assert_int_equal(rt_task_join(h, &r), 0);
	rt_task_release(h);
	return r;
}

static struct rt_task *spawn_fiber(struct rt_runtime *rt, rt_fiber_fn fn,
				   void *arg)
{
	struct rt_task *h = NULL;

	assert_int_equal(rt_fiber_spawn(rt, fn, arg, 0, &h), 0);
	return h;
}

/* ---- channels between fibers and stackless tasks ---------------------- */

/* The message is a C local of the fiber: its stack stays put. */
static int64_t fiber_producer(void *arg)
{
	struct rt_chan *ch = arg;
	int64_t r;

	for (int64_t i = 1; i <= N_MSGS; i++) {
		int64_t msg = i;

		r = rt_chan_send(ch, &msg);
		if (r)
			return r;
	}
	return N_MSGS;
}

/* As consumer() of sync_tasks.h: the sum, in order, until -EPIPE. */
static int64_t fiber_consumer(void *arg)
{
	struct rt_chan *ch = arg;
	int64_t sum = 0, msg, r;

	for (int64_t i = 1;; i++) {
		r = rt_chan_recv(ch, &msg);
		if (r == -EPIPE)
			return sum;
		if (r < 0)
			return r;
		if (msg != i)
			return -EPROTO;
		sum += msg;
	}
}

static void test_chan_fiber_to_task(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_task *c = NULL, *p;
	struct rt_chan *ch;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(int64_t), 4, &ch), 0);
	assert_int_equal(RT_SPAWN(rt, &c, consumer, struct pump_frame,
				  .ch = ch), 0);
	p = spawn_fiber(rt, fiber_producer, ch);
	assert_int_equal(join(p), N_MSGS);
	assert_int_equal(rt_chan_close(ch), 0);
	assert_int_equal(join(c), (int64_t)N_MSGS * (N_MSGS + 1) / 2);
	assert_int_equal(rt_chan_len(ch), 0);
	rt_chan_free(ch);
	rt_runtime_free(rt);
}

static void test_chan_task_to_fiber(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_task *p = NULL, *c;
	struct rt_chan *ch;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(int64_t), 4, &ch), 0);
	c = spawn_fiber(rt, fiber_consumer, ch);
	assert_int_equal(RT_SPAWN(rt, &p, producer, struct pump_frame,
				  .ch = ch, .n = N_MSGS), 0);
	assert_int_equal(join(p), N_MSGS);
	assert_int_equal(rt_chan_close(ch), 0);
	assert_int_equal(join(c), (int64_t)N_MSGS * (N_MSGS + 1) / 2);
	rt_chan_free(ch);
	rt_runtime_free(rt);
}

/* ---- one mutex, both kinds -------------------------------------------- */

struct shared_count {
	struct rt_mutex m;
	int64_t counter;	/* guarded by m */
};

/* Each increment is held across a yield, as in sync_tasks.h locker(). */
static int64_t fiber_locker(void *arg)
{
	struct shared_count *sc = arg;
	int64_t r, v;

	for (int i = 0; i < N_LOCKS; i++) {
		r = rt_mutex_lock(&sc->m);
		if (r)
			return r;
		v = sc->counter;
		r = rt_yield();
		sc->counter = v + 1;
		if (rt_mutex_unlock(&sc->m))
			return -EPROTO;
		if (r)
			return r;
	}
	return 0;
}

static void test_mutex_fibers_and_tasks(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct shared_count sc = { RT_MUTEX_INIT, 0 };
	struct rt_task *h[6] = { NULL };

	(void)state;
	for (int i = 0; i < 6; i += 2) {
		h[i] = spawn_fiber(rt, fiber_locker, &sc);
		assert_int_equal(RT_SPAWN(rt, &h[i + 1], locker,
					  struct lock_frame, .m = &sc.m,
					  .counter = &sc.counter,
					  .n = N_LOCKS), 0);
	}
	for (int i = 0; i < 6; i++)
		assert_int_equal(join(h[i]), 0);
	assert_int_equal(sc.counter, 6 * N_LOCKS);
	assert_int_equal(rt_mutex_trylock(&sc.m), 0);
	assert_int_equal(rt_mutex_unlock(&sc.m), 0);
	rt_runtime_free(rt);
}

/* ---- deadlines -------------------------------------------------------- */

struct timed {
	struct rt_chan *ch;	/* capacity 1, full */
	struct rt_chan *empty;
	struct rt_mutex *m;	/* held by the test's thread */
};

static int64_t fiber_times_out(void *arg)
{
	struct timed *tm = arg;
	int64_t v = 7;

	if (rt_chan_recv_until(tm->empty, &v, rt_deadline_in(1000000)) !=
	    -ETIMEDOUT || v != 7)
		return -EPROTO;
	if (rt_chan_send_until(tm->ch, &v, rt_deadline_in(1000000)) !=
	    -ETIMEDOUT)
		return -EPROTO;
	if (rt_mutex_lock_until(tm->m, rt_deadline_in(1000000)) != -ETIMEDOUT)
		return -EPROTO;
	/* a deadline already past: no wait at all */
	return rt_chan_recv_until(tm->empty, &v, rt_now_ns() - 1);
}

static void test_deadlines(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct rt_mutex m = RT_MUTEX_INIT;
	struct timed tm = { .m = &m };
	int64_t v = 1;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(v), 1, &tm.ch), 0);
	assert_int_equal(rt_chan_new(sizeof(v), 1, &tm.empty), 0);
	assert_int_equal(rt_chan_try_send(tm.ch, &v), 0);
	assert_int_equal(rt_mutex_trylock(&m), 0);
	assert_int_equal(join(spawn_fiber(rt, fiber_times_out, &tm)),
			 -ETIMEDOUT);
	/* nothing went in or out on the timeouts; m is still the thread's */
	assert_int_equal(rt_chan_len(tm.ch), 1);
	assert_int_equal(rt_chan_len(tm.empty), 0);
	assert_int_equal(rt_mutex_unlock(&m), 0);
	rt_chan_free(tm.ch);
	rt_chan_free(tm.empty);
	rt_runtime_free(rt);
}

/* ---- cancelling a parked fiber ---------------------------------------- */

struct recv_log {
	struct rt_chan *ch;
	int64_t got, sum;	/* messages received, in order */
	bool order_ok;
};

static int64_t fiber_drains(void *arg)
{
	struct recv_log *log = arg;
	int64_t msg, r;

	log->order_ok = true;
	while ((r = rt_chan_recv(log->ch, &msg)) == 0) {
		log->got++;
		log->order_ok &= msg == log->got;
		log->sum += msg;
	}
	return r;
}

/*
 * The only task of its runtime suspends first in the wait to cancel
 * (what came before it completed at once): wait for that suspension.
 */
static void wait_first_suspend(struct rt_runtime *rt, uint64_t before)
{
	while (test_stats(rt).suspends == before)
		sched_yield();
}

static void test_cancel_parked_on_chan(void **state)
{
	struct rt_runtime *rt = test_runtime(1, false);
	struct recv_log log = { 0 };
	struct rt_sync_stats st;
	struct rt_task *h;
	uint64_t cancels;
	int64_t v;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(v), 16, &log.ch), 0);
	for (v = 1; v <= 10; v++)
		assert_int_equal(rt_chan_try_send(log.ch, &v), 0);
	assert_int_equal(rt_sync_stats(rt, &st), 0);
	cancels = st.wait_cancels;
	h = spawn_fiber(rt, fiber_drains, &log);
	wait_first_suspend(rt, 0);
	assert_int_equal(rt_task_cancel(h), 0);
	assert_int_equal(join(h), -ECANCELED);
	assert_int_equal(rt_sync_stats(rt, &st), 0);
	assert_int_equal(st.wait_cancels, cancels + 1);
	assert_int_equal(log.got, 10);
	assert_int_equal(log.sum, 55);
	assert_true(log.order_ok);
	/* the cancelled waiter took nothing: later messages all arrive */
	for (v = 11; v <= 15; v++)
		assert_int_equal(rt_chan_try_send(log.ch, &v), 0);
	for (int64_t want = 11; want <= 15; want++) {
		assert_int_equal(rt_chan_try_recv(log.ch, &v), 0);
		assert_int_equal(v, want);
	}
	assert_int_equal(rt_chan_try_recv(log.ch, &v), -EAGAIN);
	rt_chan_free(log.ch);
	rt_runtime_free(rt);
}

static int64_t fiber_locks(void *arg)
{
	return rt_mutex_lock(arg);
}

static void test_cancel_parked_on_mutex(void **state)
{
	struct rt_runtime *rt = test_runtime(1, false);
	struct rt_mutex m = RT_MUTEX_INIT;
	struct rt_task *h;

	(void)state;
	assert_int_equal(rt_mutex_trylock(&m), 0);
	h = spawn_fiber(rt, fiber_locks, &m);
	wait_first_suspend(rt, 0);
	assert_int_equal(rt_task_cancel(h), 0);
	assert_int_equal(join(h), -ECANCELED);
	/* not handed to the cancelled fiber: still ours, then free */
	assert_int_equal(rt_mutex_unlock(&m), 0);
	assert_int_equal(rt_mutex_trylock(&m), 0);
	assert_int_equal(rt_mutex_unlock(&m), 0);
	check_still_works(rt);
	rt_runtime_free(rt);
}

/* ---- every other call, once each -------------------------------------- */

struct objs {
	struct rt_waitq q;
	struct rt_sem sem;
	struct rt_event ev;
	struct rt_notify nt;
	struct rt_oneshot os;
	struct rt_chan *ch;
	struct rt_taskset *set;
	atomic_int ready;
};

static bool always(void *arg)
{
	return *(atomic_int *)arg != 0;
}

static int64_t forty_two(void *arg)
{
	return 42 + (int64_t)(intptr_t)arg;
}

static int64_t fiber_completes_waker(void *arg)
{
	return rt_waker_wake(arg, 9) ? -EPROTO : 0;
}

/* Nothing here has a waker yet: each call completes at once or at its
 * deadline. Returns the first mismatch's line, 0 when all matched. */
static int64_t fiber_tour(void *arg)
{
	struct objs *o = arg;
	uint64_t soon = rt_deadline_in(1000000);
	struct rt_select_arm arms[2];
	struct rt_task_done done;
	struct rt_io_req rd;
	struct rt_waker *wk;
	struct rt_task *h;
	int64_t v = 0;
	char buf[8];
	int sv[2];

#define EXPECT(call, want)						\
	do {								\
		if ((call) != (want))					\
			return __LINE__;				\
	} while (0)
	EXPECT(rt_wait_until(&o->q, soon), -ETIMEDOUT);
	EXPECT(rt_wait_cond(&o->q, always, &o->ready), 0);
	EXPECT(rt_wait_cond_until(&o->q, always, &o->ready, RT_NEVER), 0);
	EXPECT(rt_sem_acquire(&o->sem), 0);
	EXPECT(rt_sem_acquire_until(&o->sem, rt_deadline_in(1000000)),
	       -ETIMEDOUT);
	EXPECT(rt_event_wait_until(&o->ev, rt_deadline_in(1000000)),
	       -ETIMEDOUT);
	rt_event_set(&o->ev);
	EXPECT(rt_event_wait(&o->ev), 0);
	EXPECT(rt_event_wait_until(&o->ev, RT_NEVER), 0);
	rt_notify_one(&o->nt);
	EXPECT(rt_notify_wait(&o->nt), 0);
	EXPECT(rt_notify_wait_until(&o->nt, rt_deadline_in(1000000)),
	       -ETIMEDOUT);
	EXPECT(rt_oneshot_send(&o->os, 5), 0);
	EXPECT(rt_oneshot_recv(&o->os), 5);
	EXPECT(rt_oneshot_recv_until(&o->os, RT_NEVER), -EALREADY);
	/* a waker completed by another fiber while this one may be parked */
	EXPECT(rt_waker_new(rt_task_current(), &wk), 0);
	EXPECT(rt_fiber_spawn(rt_task_runtime(rt_task_current()),
			      fiber_completes_waker, wk, 0, NULL), 0);
	EXPECT(rt_waker_wait(wk), 9);
	rt_waker_release(wk);
	EXPECT(rt_waker_new(rt_task_current(), &wk), 0);
	EXPECT(rt_waker_wait_until(wk, rt_deadline_in(1000000)), -ETIMEDOUT);
	rt_waker_release(wk);
	/* select: the channel arm has a message, the queue arm none */
	v = 3;
	EXPECT(rt_chan_try_send(o->ch, &v), 0);
	arms[0] = (struct rt_select_arm){ .kind = RT_ARM_WAITQ, .obj = &o->q };
	arms[1] = (struct rt_select_arm){ .kind = RT_ARM_CHAN_RECV,
					  .obj = o->ch, .buf = &v };
	v = 0;
	EXPECT(rt_select(arms, 2), 1);
	EXPECT(v, 3);
	EXPECT(rt_select_until(arms, 2, rt_deadline_in(1000000)), -ETIMEDOUT);
	EXPECT(rt_select(arms, 0), -EINVAL);
	/* select over a recv, its request and buffer C locals of the fiber */
	EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* valgrind cannot see what io_uring writes: no uninitialised bytes
	 * for it to follow into the compare (as test_fiber.c does) */
	memset(buf, 0, sizeof(buf));
	rd = (struct rt_io_req){ .fd = sv[0], .buf = buf, .len = sizeof(buf) };
	arms[0] = (struct rt_select_arm){ .kind = RT_ARM_RECV, .obj = &rd };
	arms[1] = (struct rt_select_arm){ .kind = RT_ARM_WAITQ, .obj = &o->q };
	EXPECT(send(sv[1], "hi", 2, 0), 2);
	EXPECT(rt_select(arms, 2), 0);
	EXPECT(arms[0].result, 2);
	EXPECT(memcmp(buf, "hi", 2), 0);
	/* nothing to read: the deadline wins, the recv took nothing */
	EXPECT(rt_select_until(arms, 2, rt_deadline_in(1000000)), -ETIMEDOUT);
	EXPECT(arms[0].result, -ECANCELED);
	EXPECT(send(sv[1], "yo", 2, 0), 2);
	EXPECT(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), 2);
	EXPECT(memcmp(buf, "yo", 2), 0);
	close(sv[0]);
	close(sv[1]);
	/* join-any, then join-all's end */
	EXPECT(rt_fiber_spawn(rt_task_runtime(rt_task_current()), forty_two,
			      (void *)1, 0, &h), 0);
	EXPECT(rt_taskset_add(o->set, h, 77), 0);
	EXPECT(rt_taskset_next(o->set, &done), 0);
	EXPECT(done.tag, 77);
	EXPECT(done.result, 43);
	EXPECT(rt_taskset_next_until(o->set, &done, RT_NEVER), -ENOENT);
	EXPECT(rt_spawn_blocking(forty_two, NULL), 42);
	EXPECT(rt_spawn_blocking_until(forty_two, (void *)2, RT_NEVER), 44);
#undef EXPECT
	return 0;
}

static void test_every_call(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct objs o = { .ready = 1 };

	(void)state;
	rt_waitq_init(&o.q);
	assert_int_equal(rt_sem_init(&o.sem, 1, 4), 0);
	rt_event_init(&o.ev);
	rt_notify_init(&o.nt);
	rt_oneshot_init(&o.os);
	assert_int_equal(rt_chan_new(sizeof(int64_t), 2, &o.ch), 0);
	assert_int_equal(rt_taskset_new(4, &o.set), 0);
	assert_int_equal(join(spawn_fiber(rt, fiber_tour, &o)), 0);
	assert_int_equal(rt_chan_len(o.ch), 0);
	assert_int_equal(rt_sem_available(&o.sem), 0);
	rt_taskset_free(o.set);
	rt_chan_free(o.ch);
	rt_runtime_free(rt);
}

/* ---- outside fibers ---------------------------------------------------- */

/* Each call, with objects that would let it complete at once: the error
 * must come before the op is even looked at. */
static int64_t every_call_outside(struct objs *o)
{
	struct rt_select_arm arm = { .kind = RT_ARM_EVENT, .obj = &o->ev };
	struct rt_task_done done;
	int64_t v = 0, want;
	struct rt_mutex m = RT_MUTEX_INIT;

	want = rt_wait(&o->q);
#define SAME(call) do { if ((call) != want) return __LINE__; } while (0)
	SAME(rt_wait_until(&o->q, RT_NEVER));
	SAME(rt_wait_cond(&o->q, always, &o->ready));
	SAME(rt_wait_cond_until(&o->q, always, &o->ready, RT_NEVER));
	SAME(rt_waker_wait(NULL));
	SAME(rt_waker_wait_until(NULL, RT_NEVER));
	SAME(rt_chan_send(o->ch, &v));
	SAME(rt_chan_send_until(o->ch, &v, RT_NEVER));
	SAME(rt_chan_recv(o->ch, &v));
	SAME(rt_chan_recv_until(o->ch, &v, RT_NEVER));
	SAME(rt_mutex_lock(&m));
	SAME(rt_mutex_lock_until(&m, RT_NEVER));
	SAME(rt_sem_acquire(&o->sem));
	SAME(rt_sem_acquire_until(&o->sem, RT_NEVER));
	SAME(rt_event_wait(&o->ev));
	SAME(rt_event_wait_until(&o->ev, RT_NEVER));
	SAME(rt_notify_wait(&o->nt));
	SAME(rt_notify_wait_until(&o->nt, RT_NEVER));
	SAME(rt_oneshot_recv(&o->os));
	SAME(rt_oneshot_recv_until(&o->os, RT_NEVER));
	SAME(rt_select(&arm, 1));
	SAME(rt_select_until(&arm, 1, RT_NEVER));
	SAME(rt_taskset_next(o->set, &done));
	SAME(rt_taskset_next_until(o->set, &done, RT_NEVER));
	SAME(rt_spawn_blocking(forty_two, NULL));
	SAME(rt_spawn_blocking_until(forty_two, NULL, RT_NEVER));
#undef SAME
	/* nothing was taken, sent, received or locked */
	if (rt_mutex_trylock(&m) || rt_mutex_unlock(&m) ||
	    rt_sem_available(&o->sem) != 1 || rt_chan_len(o->ch) != 1)
		return __LINE__;
	return want;
}

struct outside_frame {
	struct rt_frame frame;
	struct objs *o;
};

static RT_ASYNC int64_t stackless_calls(struct rt_task *t,
					struct rt_frame *base)
{
	(void)t;
	return every_call_outside(RT_FRAME(base, struct outside_frame)->o);
}

static void test_outside_fibers(void **state)
{
	struct rt_runtime *rt = test_runtime(2, false);
	struct objs o = { .ready = 1 };
	int64_t v = 1;

	(void)state;
	rt_waitq_init(&o.q);
	assert_int_equal(rt_sem_init(&o.sem, 1, 1), 0);
	rt_event_init(&o.ev);
	assert_int_equal(rt_event_set(&o.ev), 0);
	rt_notify_init(&o.nt);
	rt_notify_one(&o.nt);
	rt_oneshot_init(&o.os);
	assert_int_equal(rt_oneshot_send(&o.os, 1), 0);
	assert_int_equal(rt_chan_new(sizeof(v), 2, &o.ch), 0);
	assert_int_equal(rt_chan_try_send(o.ch, &v), 0);
	assert_int_equal(rt_taskset_new(1, &o.set), 0);
	/* a plain thread: nothing would ever resume it */
	assert_int_equal(every_call_outside(&o), -EPERM);
	/* a stackless task on a worker: use the RT_ macros there */
	assert_int_equal(TEST_RUN(rt, stackless_calls, struct outside_frame,
				  .o = &o), -EDEADLK);
	check_still_works(rt);
	rt_taskset_free(o.set);
	rt_chan_free(o.ch);
	rt_runtime_free(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_fiber_to_task),
		cmocka_unit_test(test_chan_task_to_fiber),
		cmocka_unit_test(test_mutex_fibers_and_tasks),
		cmocka_unit_test(test_deadlines),
		cmocka_unit_test(test_cancel_parked_on_chan),
		cmocka_unit_test(test_cancel_parked_on_mutex),
		cmocka_unit_test(test_every_call),
		cmocka_unit_test(test_outside_fibers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

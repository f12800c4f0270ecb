// SPDX-License-Identifier: MIT
/*
 * The coordination primitives under stress: more workers than CPUs
 * (unpinned, so the kernel preempts them inside the primitives' locks),
 * tasks and plain threads on both sides, and waits that time out or are
 * cancelled at the moment they are woken. Every count is exact.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "rt_test.h"

static unsigned int stress_workers(void)
{
	long cpus = test_online_cpus();

	return (unsigned int)(cpus > 1 ? cpus * 2 : 4);
}

/* ---- a channel, many senders and receivers -------------------------------- */

#define SEND_TASKS 8
#define SEND_THREADS 4
#define SENDERS (SEND_TASKS + SEND_THREADS)
#define RECV_TASKS 4
#define PER_SENDER 100000	/* 1.2 million messages in all */

static _Atomic uint8_t seen[SENDERS][PER_SENDER];

static uint64_t msg_make(uint64_t sender, uint64_t seq)
{
	return sender << 32 | seq;
}

struct send_frame {
	struct rt_frame frame;
	struct rt_chan *ch;
	uint64_t sender, seq, msg;
	int64_t r;
};

static RT_ASYNC int64_t sender_task(struct rt_task *t, struct rt_frame *base)
{
	struct send_frame *f = RT_FRAME(base, struct send_frame);

	RT_BEGIN(t, base);
	for (f->seq = 0; f->seq < PER_SENDER; f->seq++) {
		f->msg = msg_make(f->sender, f->seq);
		RT_CHAN_SEND(f->r, f->ch, &f->msg);
	}
	return 0;
}

struct sender_thread_arg {
	struct rt_chan *ch;
	uint64_t sender;
};

static void *sender_thread(void *p)
{
	struct sender_thread_arg *a = p;

	for (uint64_t seq = 0; seq < PER_SENDER; seq++) {
		uint64_t msg = msg_make(a->sender, seq);
		int ret;

		while ((ret = rt_chan_try_send(a->ch, &msg)) == -EAGAIN)
			sched_yield();
		if (ret)
			return (void *)(intptr_t)ret;
	}
	return NULL;
}

struct recv_frame {
	struct rt_frame frame;
	struct rt_chan *ch;
	uint64_t msg;
	int64_t next[SENDERS];	/* per sender: the next seq at least */
	int64_t count, r;
};

/* Until -EPIPE: each message once, each sender's in order. */
static RT_ASYNC int64_t receiver_task(struct rt_task *t, struct rt_frame *base)
{
	struct recv_frame *f = RT_FRAME(base, struct recv_frame);
	uint64_t sender, seq;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	for (;;) {
		RT_CHAN_RECV(f->r, f->ch, &f->msg);
		if (f->r == -EPIPE)
			return f->count;
		if (f->r < 0)
			return f->r;
		sender = f->msg >> 32;
		seq = f->msg & 0xffffffffu;
		if (sender >= SENDERS || seq >= PER_SENDER ||
		    (int64_t)seq < f->next[sender])
			return -EPROTO;
		f->next[sender] = (int64_t)seq + 1;
		atomic_fetch_add_explicit(&seen[sender][seq], 1,
					  memory_order_relaxed);
		f->count++;
	}
}

static void test_chan_mpmc(void **state)
{
	struct rt_runtime *rt = test_runtime(stress_workers(), false);
	struct sender_thread_arg args[SEND_THREADS];
	struct rt_task *snd[SEND_TASKS], *rcv[RECV_TASKS];
	pthread_t th[SEND_THREADS];
	struct rt_chan *ch;
	int64_t r, total = 0;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(uint64_t), 64, &ch), 0);
	for (int i = 0; i < RECV_TASKS; i++)
		assert_int_equal(RT_SPAWN(rt, &rcv[i], receiver_task,
					  struct recv_frame, .ch = ch), 0);
	for (int i = 0; i < SEND_TASKS; i++)
		assert_int_equal(RT_SPAWN(rt, &snd[i], sender_task,
					  struct send_frame, .ch = ch,
					  .sender = (uint64_t)i), 0);
	for (int i = 0; i < SEND_THREADS; i++) {
		args[i] = (struct sender_thread_arg){ ch,
						      SEND_TASKS + (uint64_t)i };
		assert_int_equal(pthread_create(&th[i], NULL, sender_thread,
						&args[i]), 0);
	}
	for (int i = 0; i < SEND_TASKS; i++) {
		assert_int_equal(rt_task_join(snd[i], &r), 0);
		assert_int_equal(r, 0);
		rt_task_release(snd[i]);
	}
	for (int i = 0; i < SEND_THREADS; i++) {
		void *ret;

		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(rt_chan_close(ch), 0);
	for (int i = 0; i < RECV_TASKS; i++) {
		assert_int_equal(rt_task_join(rcv[i], &r), 0);
		assert_true(r >= 0);
		total += r;
		rt_task_release(rcv[i]);
	}
	assert_int_equal(total, (int64_t)SENDERS * PER_SENDER);
	for (int s = 0; s < SENDERS; s++)
		for (int q = 0; q < PER_SENDER; q++)
			if (atomic_load(&seen[s][q]) != 1)
				fail_msg("message %d of sender %d seen %d times",
					 q, s, atomic_load(&seen[s][q]));
	rt_chan_free(ch);
	rt_runtime_free(rt);
}

/* ---- a mutex: tasks and plain threads ---------------------------------------- */

#define LOCK_TASKS 16
#define LOCK_THREADS 2
#define LOCK_ROUNDS 5000

static int64_t guarded;		/* plain: the mutex is its only guard */
static atomic_int inside;

static bool enter(void)
{
	return atomic_fetch_add(&inside, 1) == 0;
}

static void leave(void)
{
	atomic_fetch_sub(&inside, 1);
}

struct lock_frame {
	struct rt_frame frame;
	struct rt_mutex *m;
	int i;
	int64_t r, v;
};

static RT_ASYNC int64_t lock_task(struct rt_task *t, struct rt_frame *base)
{
	struct lock_frame *f = RT_FRAME(base, struct lock_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < LOCK_ROUNDS; f->i++) {
		RT_MUTEX_LOCK(f->r, f->m);
		if (!enter())
			return -EPROTO;
		f->v = guarded;
		if (f->i % 8 == 0)
			RT_YIELD();	/* hold it across a suspension */
		guarded = f->v + 1;
		leave();
		if (rt_mutex_unlock(f->m))
			return -EPROTO;
	}
	return 0;
}

static void *lock_thread(void *p)
{
	struct rt_mutex *m = p;

	for (int i = 0; i < LOCK_ROUNDS; i++) {
		while (rt_mutex_trylock(m) == -EBUSY)
			sched_yield();
		if (!enter())
			return (void *)1;
		guarded++;
		leave();
		if (rt_mutex_unlock(m))
			return (void *)2;
	}
	return NULL;
}

static void test_mutex_contended(void **state)
{
	struct rt_runtime *rt = test_runtime(stress_workers(), false);
	struct rt_mutex m = RT_MUTEX_INIT;
	struct rt_task *h[LOCK_TASKS];
	pthread_t th[LOCK_THREADS];
	int64_t r;

	(void)state;
	for (int i = 0; i < LOCK_TASKS; i++)
		assert_int_equal(RT_SPAWN(rt, &h[i], lock_task,
					  struct lock_frame, .m = &m), 0);
	for (int i = 0; i < LOCK_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, lock_thread, &m),
				 0);
	for (int i = 0; i < LOCK_TASKS; i++) {
		assert_int_equal(rt_task_join(h[i], &r), 0);
		assert_int_equal(r, 0);
		rt_task_release(h[i]);
	}
	for (int i = 0; i < LOCK_THREADS; i++) {
		void *ret;

		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(guarded, (LOCK_TASKS + LOCK_THREADS) * LOCK_ROUNDS);
	assert_int_equal(rt_mutex_trylock(&m), 0);
	assert_int_equal(rt_mutex_unlock(&m), 0);
	rt_runtime_free(rt);
}

/*
 * ---- no lost permit ----------------------------------------------------------
 * Waiters with deadlines of a few microseconds, a plain thread that
 * releases permits and cancels waiters at random: a permit is either
 * taken by a waiter that then reports it, or still in the semaphore.
 */

#define RACE_TASKS 32
#define RACE_PERMITS 10000

static atomic_int race_stop;
static atomic_long race_taken;

struct race_frame {
	struct rt_frame frame;
	struct rt_sem *s;
	struct rt_mutex *m;
	struct rt_chan *ch;
	uint64_t seed, msg;
	int64_t r;
};

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static RT_ASYNC int64_t race_task(struct rt_task *t, struct rt_frame *base)
{
	struct race_frame *f = RT_FRAME(base, struct race_frame);

	RT_BEGIN(t, base);
	RT_CATCH(true);
	while (!atomic_load_explicit(&race_stop, memory_order_relaxed)) {
		RT_AWAIT(f->r, rt_op_sem_acquire(t, f->s, rt_deadline_in(
				next_rand(&f->seed) % 20000)));
		if (f->r == 0)
			atomic_fetch_add(&race_taken, 1);
		else if (f->r == -ECANCELED)
			return 0;
		else if (f->r != -ETIMEDOUT)
			return f->r;
		/* the same race on the mutex: owned means owned */
		RT_AWAIT(f->r, rt_op_mutex_lock(t, f->m, rt_deadline_in(
				next_rand(&f->seed) % 5000)));
		if (f->r == 0 && rt_mutex_unlock(f->m))
			return -EPROTO;
		if (f->r == -ECANCELED)
			return 0;
		/* ... and on a channel: a message is received or stays */
		RT_AWAIT(f->r, rt_op_chan_recv(t, f->ch, &f->msg,
				rt_deadline_in(next_rand(&f->seed) % 5000)));
		if (f->r == 0)
			atomic_fetch_add(&race_taken, 1);
		if (f->r == -ECANCELED)
			return 0;
	}
	return 0;
}

static struct rt_task *race_spawn(struct rt_runtime *rt, struct rt_sem *s,
				  struct rt_mutex *m, struct rt_chan *ch,
				  uint64_t i)
{
	struct rt_task *h = NULL;

	assert_int_equal(RT_SPAWN(rt, &h, race_task, struct race_frame,
				  .s = s, .m = m, .ch = ch,
				  .seed = i * 7919 + 1), 0);
	return h;
}

static void test_no_lost_permit(void **state)
{
	struct rt_runtime *rt = test_runtime(stress_workers(), false);
	struct rt_mutex m = RT_MUTEX_INIT;
	struct rt_task *h[RACE_TASKS];
	uint64_t seed = 88172645463325252ull, msg = 1;
	long given = 0;
	struct rt_sync_stats st;
	struct rt_chan *ch;
	struct rt_sem s;
	int64_t r;

	(void)state;
	assert_int_equal(rt_sem_init(&s, 0, RACE_PERMITS), 0);
	assert_int_equal(rt_chan_new(sizeof(uint64_t), 8, &ch), 0);
	for (int i = 0; i < RACE_TASKS; i++)
		h[i] = race_spawn(rt, &s, &m, ch, (uint64_t)i);
	/* keep the waiters starved, so most permits are handed to a
	 * parked waiter whose deadline is due about now */
	for (int i = 0, spawned = RACE_TASKS; given < RACE_PERMITS; i++) {
		if (!rt_sem_available(&s)) {
			assert_int_equal(rt_sem_release(&s, 1), 0);
			given++;
		}
		if (!rt_chan_len(ch) && rt_chan_try_send(ch, &msg) == 0)
			given++;
		if (next_rand(&seed) % 256 == 0) {
			int k = (int)(next_rand(&seed) % RACE_TASKS);

			rt_task_cancel(h[k]);
			assert_int_equal(rt_task_join(h[k], &r), 0);
			if (r != -ECANCELED)	/* not cancelled unstarted */
				assert_int_equal(r, 0);
			rt_task_release(h[k]);
			h[k] = race_spawn(rt, &s, &m, ch, (uint64_t)spawned++);
		}
		if (i % 16 == 0)
			sched_yield();
	}
	atomic_store(&race_stop, 1);
	for (int i = 0; i < RACE_TASKS; i++) {
		rt_task_cancel(h[i]);
		assert_int_equal(rt_task_join(h[i], &r), 0);
		if (r != -ECANCELED)
			assert_int_equal(r, 0);
		rt_task_release(h[i]);
	}
	assert_int_equal(rt_sync_stats(rt, &st), 0);
	print_message("%ld taken, %lu timeouts, %lu cancels\n",
		      atomic_load(&race_taken), (unsigned long)st.wait_timeouts,
		      (unsigned long)st.wait_cancels);
	/* exact: every permit and message is taken once or still there */
	assert_int_equal(atomic_load(&race_taken) + (long)rt_sem_available(&s) +
			 (long)rt_chan_len(ch), given);
	assert_int_equal(rt_mutex_trylock(&m), 0);	/* nobody kept it */
	assert_int_equal(rt_mutex_unlock(&m), 0);
	rt_chan_free(ch);
	rt_runtime_free(rt);
}

/* ---- select: several arms ready at once --------------------------------------- */

#define SELECTS 20000

struct select_frame {
	struct rt_frame frame;
	struct rt_select_arm arms[3];
	uint64_t bufs[2];
	int i;
	int64_t r, got;
};

/* Takes exactly SELECTS messages from two channels and an event... */
static RT_ASYNC int64_t select_task(struct rt_task *t, struct rt_frame *base)
{
	struct select_frame *f = RT_FRAME(base, struct select_frame);

	RT_BEGIN(t, base);
	f->arms[0].buf = &f->bufs[0];
	f->arms[1].buf = &f->bufs[1];
	for (f->i = 0; f->i < SELECTS; f->i++) {
		RT_AWAIT(f->r, rt_op_select(t, f->arms, 2, RT_NEVER));
		if (f->arms[f->r].result)
			return -EPROTO;
		f->got++;
	}
	return f->got;
}

struct feed_arg {
	struct rt_chan *ch;
	int n;
};

static void *feed_thread(void *p)
{
	struct feed_arg *a = p;
	uint64_t v = 1;

	for (int i = 0; i < a->n; i++)
		while (rt_chan_try_send(a->ch, &v) == -EAGAIN)
			sched_yield();
	return NULL;
}

static void test_select_exactly_one(void **state)
{
	struct rt_runtime *rt = test_runtime(stress_workers(), false);
	struct rt_chan *a, *b;
	struct rt_task *h = NULL;
	struct feed_arg fa, fb;
	pthread_t ta, tb;
	uint64_t v;
	int64_t r;
	int left = 0;

	(void)state;
	assert_int_equal(rt_chan_new(sizeof(uint64_t), 16, &a), 0);
	assert_int_equal(rt_chan_new(sizeof(uint64_t), 16, &b), 0);
	/* two feeders send SELECTS each; the task takes SELECTS in all */
	fa = (struct feed_arg){ a, SELECTS };
	fb = (struct feed_arg){ b, SELECTS };
	assert_int_equal(RT_SPAWN(rt, &h, select_task, struct select_frame,
				  .arms = { { .kind = RT_ARM_CHAN_RECV, .obj = a },
					    { .kind = RT_ARM_CHAN_RECV,
					      .obj = b } }), 0);
	assert_int_equal(pthread_create(&ta, NULL, feed_thread, &fa), 0);
	assert_int_equal(pthread_create(&tb, NULL, feed_thread, &fb), 0);
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, SELECTS);
	rt_task_release(h);
	/* drain what the feeders still have to send: exactly SELECTS left */
	while (left < SELECTS) {
		if (rt_chan_try_recv(a, &v) == 0 || rt_chan_try_recv(b, &v) == 0)
			left++;
		else
			sched_yield();
	}
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(rt_chan_try_recv(a, &v), -EAGAIN);
	assert_int_equal(rt_chan_try_recv(b, &v), -EAGAIN);
	rt_chan_free(a);
	rt_chan_free(b);
	rt_runtime_free(rt);
}

/* ---- select over a recv: bytes neither lost nor doubled -------------------- */

#define IO_PAIRS 4
#define IO_MSGS 20000		/* per pair, 4 bytes each */

/*
 * One selector per socket pair: a recv arm against a wait queue that
 * the sending thread wakes right after each send, and every third
 * select a deadline of 20 us. Whichever wins, the bytes a recv took are
 * in its result, so the stream put back together is exactly what was
 * sent, in order.
 */
struct io_stress {
	int sv[2];
	struct rt_waitq q;
	uint32_t *got;		/* the stream as received */
	size_t len;		/* bytes of it */
	uint64_t recv_won, other_won;
};

struct io_stress_frame {
	struct rt_frame frame;
	struct io_stress *x;
	struct rt_io_req req;
	struct rt_select_arm arms[2];
	uint64_t i;
	int64_t r;
};

static RT_ASYNC int64_t io_stress_task(struct rt_task *t, struct rt_frame *base)
{
	struct io_stress_frame *f = RT_FRAME(base, struct io_stress_frame);
	struct io_stress *x = f->x;

	RT_BEGIN(t, base);
	RT_CATCH(true);		/* -ETIMEDOUT is an outcome here */
	for (f->i = 0; x->len < IO_MSGS * sizeof(uint32_t); f->i++) {
		f->req = (struct rt_io_req){ .fd = x->sv[0],
			.buf = (char *)x->got + x->len,
			.len = IO_MSGS * sizeof(uint32_t) - x->len };
		f->arms[0] = (struct rt_select_arm){ .kind = RT_ARM_RECV,
						     .obj = &f->req };
		f->arms[1] = (struct rt_select_arm){ .kind = RT_ARM_WAITQ,
						     .obj = &x->q };
		RT_AWAIT(f->r, rt_op_select(t, f->arms, 2, f->i % 3 ?
				RT_NEVER : rt_deadline_in(20000)));
		if (f->r == 0)
			x->recv_won++;
		else if (f->r == 1 || f->r == -ETIMEDOUT)
			x->other_won++;
		else
			return f->r;
		if (f->arms[0].result > 0)
			x->len += (size_t)f->arms[0].result;
		else if (f->arms[0].result != -ECANCELED)
			return f->arms[0].result;	/* EOF or an error */
	}
	return 0;
}

static void *io_stress_sender(void *arg)
{
	struct io_stress *x = arg;

	for (uint32_t i = 0; i < IO_MSGS; i++) {
		if (send(x->sv[1], &i, sizeof(i), MSG_NOSIGNAL) != sizeof(i))
			break;	/* the selector failed: the test says how */
		rt_waitq_wake(&x->q, 1, 0);
	}
	return NULL;
}

static void test_select_io_stream(void **state)
{
	struct rt_runtime *rt = test_runtime(stress_workers(), false);
	struct io_stress x[IO_PAIRS];
	struct rt_task *h[IO_PAIRS];
	pthread_t tid[IO_PAIRS];
	uint64_t recv_won = 0, other_won = 0;

	(void)state;
	for (int p = 0; p < IO_PAIRS; p++) {
		x[p] = (struct io_stress){ .q = RT_WAITQ_INIT };
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x[p].sv), 0);
		x[p].got = calloc(IO_MSGS, sizeof(uint32_t));
		assert_non_null(x[p].got);
		assert_int_equal(RT_SPAWN(rt, &h[p], io_stress_task,
					  struct io_stress_frame, .x = &x[p]), 0);
		assert_int_equal(pthread_create(&tid[p], NULL, io_stress_sender,
						&x[p]), 0);
	}
	for (int p = 0; p < IO_PAIRS; p++) {
		int64_t r = INT64_MIN;

		assert_int_equal(rt_task_join(h[p], &r), 0);
		rt_task_release(h[p]);
		if (r)		/* unblock its sender before failing */
			shutdown(x[p].sv[0], SHUT_RDWR);
		pthread_join(tid[p], NULL);
		if (r)
			print_message("pair %d: %lld after %zu bytes\n", p,
				      (long long)r, x[p].len);
		assert_int_equal(r, 0);
		assert_int_equal(x[p].len, IO_MSGS * sizeof(uint32_t));
		for (uint32_t i = 0; i < IO_MSGS; i++)
			assert_int_equal(x[p].got[i], i);
		recv_won += x[p].recv_won;
		other_won += x[p].other_won;
		close(x[p].sv[0]);
		close(x[p].sv[1]);
		free(x[p].got);
	}
	print_message("%d streams of %d messages: the recv won %llu selects, "
		      "the queue or the deadline %llu\n", IO_PAIRS, IO_MSGS,
		      (unsigned long long)recv_won,
		      (unsigned long long)other_won);
	rt_runtime_free(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_mpmc),
		cmocka_unit_test(test_mutex_contended),
		cmocka_unit_test(test_no_lost_permit),
		cmocka_unit_test(test_select_exactly_one),
		cmocka_unit_test(test_select_io_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

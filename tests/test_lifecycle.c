// SPDX-License-Identifier: MIT
/*
 * Bad input and lifecycle: sizes that would wrap, sleeps past the end of
 * the clock, big root frames, concurrent shutdowns, joins given back by a
 * cancel, fork, signal handlers and a bounded foreign backlog.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "rt_test.h"

static struct rt_runtime *rt;

static int setup(void **state)
{
	rt = test_runtime(0, true);
	return 0;
}

static int teardown(void **state)
{
	rt_runtime_free(rt);
	return 0;
}

struct value_frame {
	struct rt_frame frame;
	int64_t v;
};

static int64_t value(struct rt_task *t, struct rt_frame *base)
{
	return RT_FRAME(base, struct value_frame)->v;
}

static void check_still_works(struct rt_runtime *r)
{
	assert_int_equal(TEST_RUN(r, value, struct value_frame, .v = 7), 7);
}

/* ---- sizes that would wrap ----------------------------------------- */

static void test_spawn_huge_frame(void **state)
{
	static const size_t sizes[] = {
		SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - 64, SIZE_MAX / 2 + 1,
		(size_t)PTRDIFF_MAX, (size_t)1 << 40,
	};
	struct value_frame f = { .v = 1 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct rt_task *h = NULL;

		assert_int_equal(rt_task_spawn(rt, value, &f.frame, sizes[i],
					       &h), -ENOMEM);
		assert_null(h);
	}
	check_still_works(rt);
}

struct push_results {
	int64_t nulls;		/* pushes that returned NULL */
	int64_t top_moved;	/* pushes that moved the arena top anyway */
	int64_t after;		/* an ordinary call afterwards */
};

struct push_frame {
	struct rt_frame frame;
	struct push_results *res;
};

static int64_t push_huge(struct rt_task *t, struct rt_frame *base)
{
	static const size_t sizes[] = {
		SIZE_MAX, SIZE_MAX - 15, SIZE_MAX / 2 + 1, (size_t)1 << 40,
	};
	struct push_frame *f = RT_FRAME(base, struct push_frame);

	RT_BEGIN(t, base);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *top = rt__head(t)->arena_top;

		f->res->nulls += !rt_frame_push(t, base, sizes[i], 8, value);
		f->res->top_moved += rt__head(t)->arena_top != top;
	}
	RT_CALL(f->res->after, value, struct value_frame, .v = 9);
	return 0;
}

static void test_frame_push_huge(void **state)
{
	struct push_results res = { 0 };

	assert_int_equal(TEST_RUN(rt, push_huge, struct push_frame,
				  .res = &res), 0);
	assert_int_equal(res.nulls, 4);
	assert_int_equal(res.top_moved, 0);
	assert_int_equal(res.after, 9);
}

struct forever_frame {
	struct rt_frame frame;
	atomic_int *asleep;
};

static int64_t sleep_forever(struct rt_task *t, struct rt_frame *base)
{
	struct forever_frame *f = RT_FRAME(base, struct forever_frame);
	int64_t r;

	RT_BEGIN(t, base);
	atomic_store(f->asleep, 1);
	RT_AWAIT(r, rt_op_sleep(t, UINT64_MAX));
	return r;
}

/*
 * now + UINT64_MAX saturates: the task sleeps until cancelled. With the
 * sum wrapped it would wake at once with 0 and fire a timer; the pause
 * before the cancel only gives a wrapped deadline the time to show.
 */
static void test_sleep_forever(void **state)
{
	struct rt_stats before = test_stats(rt), after;
	atomic_int asleep = 0;
	struct rt_task *h;
	int64_t r = 0;

	assert_int_equal(RT_SPAWN(rt, &h, sleep_forever, struct forever_frame,
				  .asleep = &asleep), 0);
	while (!atomic_load(&asleep))
		usleep(100);
	usleep(20000);
	assert_false(rt_task_done(h));
	assert_int_equal(rt_task_cancel(h), 0);
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, -ECANCELED);
	rt_task_release(h);
	after = test_stats(rt);
	assert_int_equal(after.timers_fired - before.timers_fired, 0);
	assert_int_equal(after.cancels - before.cancels, 1);
}

/* ---- a root frame larger than a chunk ------------------------------- */

#define BIG_CALLS 1000

struct probe_frame {
	struct rt_frame frame;
	int64_t unused;
};

/* 1 when this frame started a chunk: the push took the slow path. */
static int64_t chunk_first(struct rt_task *t, struct rt_frame *base)
{
	return !!(base->flags & RT_FRAME_CHUNK_FIRST);
}

#define BIG_ROOT(bytes)							\
	struct big_root_##bytes {					\
		struct rt_frame frame;					\
		int64_t calls, slow;					\
		char payload[bytes];					\
	}

BIG_ROOT(4000);
BIG_ROOT(60000);

/* Calls BIG_CALLS callees and counts those that began a chunk. */
#define BIG_ROOT_FN(bytes)						\
static int64_t big_root_fn_##bytes(struct rt_task *t,		\
					    struct rt_frame *base)	\
{									\
	struct big_root_##bytes *f = RT_FRAME(base,			\
					      struct big_root_##bytes);	\
	int64_t r;							\
									\
	RT_BEGIN(t, base);						\
	for (f->calls = 0; f->calls < BIG_CALLS; f->calls++) {		\
		RT_CALL(r, chunk_first, struct probe_frame);		\
		f->slow += r;						\
	}								\
	return f->slow;							\
}

BIG_ROOT_FN(4000)
BIG_ROOT_FN(60000)

static void test_big_root_calls_stay_inline(void **state)
{
	assert_int_equal(TEST_RUN(rt, big_root_fn_4000, struct big_root_4000,
				  .slow = 0), 0);
	assert_int_equal(TEST_RUN(rt, big_root_fn_60000, struct big_root_60000,
				  .slow = 0), 0);
}

/* ---- shutdown from many threads at once ------------------------------ */

#define SHUTTERS 8
#define SHUT_ROUNDS 20

struct shutter {
	pthread_t thread;
	pthread_barrier_t *go;
	struct rt_runtime *rt;
	int ret;
};

static void *shutter_main(void *arg)
{
	struct shutter *s = arg;

	pthread_barrier_wait(s->go);
	s->ret = rt_runtime_shutdown(s->rt);
	return NULL;
}

struct nap_frame {
	struct rt_frame frame;
	uint64_t ns;
};

static int64_t nap(struct rt_task *t, struct rt_frame *base)
{
	struct nap_frame *f = RT_FRAME(base, struct nap_frame);

	RT_BEGIN(t, base);
	RT_SLEEP(f->ns);
	return 0;
}

/* Count this process's open file descriptors. */
static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

/*
 * Eight threads shut one runtime down at once, with tasks still asleep so
 * the first caller is in its drain while the others arrive: every call
 * returns 0 after the workers are gone, each task completed once, and no
 * descriptor was closed twice or left open.
 */
static void test_concurrent_shutdown(void **state)
{
	int fds = open_fds();

	for (int round = 0; round < SHUT_ROUNDS; round++) {
		struct shutter s[SHUTTERS];
		pthread_barrier_t go;
		struct rt_runtime *r = test_runtime(2, false);
		struct rt_stats st;

		for (int i = 0; i < 16; i++)
			assert_int_equal(RT_SPAWN(r, NULL, nap, struct nap_frame,
						  .ns = (uint64_t)i * 100000), 0);
		pthread_barrier_init(&go, NULL, SHUTTERS);
		for (int i = 0; i < SHUTTERS; i++) {
			s[i] = (struct shutter){ .go = &go, .rt = r, .ret = 1 };
			assert_int_equal(pthread_create(&s[i].thread, NULL,
							shutter_main, &s[i]), 0);
		}
		for (int i = 0; i < SHUTTERS; i++) {
			pthread_join(s[i].thread, NULL);
			assert_int_equal(s[i].ret, 0);
		}
		pthread_barrier_destroy(&go);
		st = test_stats(r);
		assert_int_equal(st.spawned, 16);
		assert_int_equal(st.completed, 16);
		assert_int_equal(rt_runtime_shutdown(r), 0);	/* and later */
		rt_runtime_free(r);
	}
	assert_int_equal(open_fds(), fds);
}

/* ---- a cancelled join is given back ---------------------------------- */

struct plain_frame {
	struct rt_frame frame;
};

/* Asleep until cancelled, then returns 42: it catches the cancel. */
static int64_t sleep_then_42(struct rt_task *t, struct rt_frame *base)
{
	int64_t r;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	RT_AWAIT(r, rt_op_sleep(t, UINT64_MAX));
	return r == -ECANCELED ? 42 : -EPROTO;
}

struct joiner_frame {
	struct rt_frame frame;
	struct rt_task *other;
	uint64_t nap_ns;	/* sleep before joining */
};

static int64_t joiner(struct rt_task *t, struct rt_frame *base)
{
	struct joiner_frame *f = RT_FRAME(base, struct joiner_frame);
	int64_t r;

	RT_BEGIN(t, base);
	if (f->nap_ns)
		RT_SLEEP(f->nap_ns);
	RT_JOIN(r, f->other);
	return r;
}

/* Wait until h has suspended at an await (its site is published first). */
static void wait_suspended(struct rt_task *h)
{
	while (!__atomic_load_n(&rt__head(h)->site, __ATOMIC_ACQUIRE))
		usleep(100);
}

/*
 * A waiter cancelled out of RT_JOIN leaves the target joinable: by a task
 * (which gets its result) and then, the join being consumed, not again.
 */
static struct rt_task *target_of_cancelled_join(void)
{
	struct rt_task *target, *w;
	int64_t r = 0;

	assert_int_equal(RT_SPAWN(rt, &target, sleep_then_42,
				  struct plain_frame), 0);
	wait_suspended(target);	/* started: a cancel gets it 42 */
	assert_int_equal(RT_SPAWN(rt, &w, joiner, struct joiner_frame,
				  .other = target), 0);
	wait_suspended(w);
	assert_int_equal(rt_task_cancel(w), 0);
	assert_int_equal(rt_task_join(w, &r), 0);
	assert_int_equal(r, -ECANCELED);
	rt_task_release(w);
	return target;
}

static void test_cancelled_join_given_back(void **state)
{
	struct rt_task *target = target_of_cancelled_join(), *w2;
	int64_t r = 0;

	assert_false(rt_task_done(target));
	assert_int_equal(RT_SPAWN(rt, &w2, joiner, struct joiner_frame,
				  .other = target), 0);
	wait_suspended(w2);
	assert_int_equal(rt_task_cancel(target), 0);
	assert_int_equal(rt_task_join(w2, &r), 0);
	assert_int_equal(r, 42);
	rt_task_release(w2);
	assert_int_equal(rt_task_join(target, &r), -EALREADY);
	rt_task_release(target);
}

/* ... and joinable from a plain thread, after the target completed too. */
static void test_cancelled_join_then_foreign_join(void **state)
{
	struct rt_task *target = target_of_cancelled_join();
	int64_t r = 0;

	assert_int_equal(rt_task_cancel(target), 0);
	assert_int_equal(rt_task_join(target, &r), 0);
	assert_int_equal(r, 42);
	rt_task_release(target);
}

#define JOIN_RACERS 2000

/*
 * Cancels racing completions, commits and the give-back: each waiter got
 * the target's value, and then the target's join is consumed, or it got
 * -ECANCELED, and then the target is still joinable and yields its value.
 */
static void test_cancelled_join_races(void **state)
{
	static struct rt_task *kids[JOIN_RACERS], *waiters[JOIN_RACERS];
	long given_back = 0;

	for (int i = 0; i < JOIN_RACERS; i++) {
		assert_int_equal(RT_SPAWN(rt, &kids[i], value,
					  struct value_frame, .v = i), 0);
		assert_int_equal(RT_SPAWN(rt, &waiters[i], joiner,
					  struct joiner_frame, .other = kids[i],
					  .nap_ns = (uint64_t)(i % 5) * 10000),
				 0);
	}
	for (int i = 0; i < JOIN_RACERS; i++)
		assert_true(rt_task_cancel(waiters[i]) == 0 ||
			    rt_task_done(waiters[i]));
	for (int i = 0; i < JOIN_RACERS; i++) {
		int64_t r, k = -1;

		assert_int_equal(rt_task_join(waiters[i], &r), 0);
		if (r == -ECANCELED) {
			assert_int_equal(rt_task_join(kids[i], &k), 0);
			assert_int_equal(k, i);
			given_back++;
		} else {
			assert_int_equal(r, i);
			assert_int_equal(rt_task_join(kids[i], &k), -EALREADY);
		}
		rt_task_release(waiters[i]);
		rt_task_release(kids[i]);
	}
	assert_int_equal(rt_runtime_drain(rt), 0);
	printf("%ld of %d joins given back\n", given_back, JOIN_RACERS);
}

/* ---- fork ------------------------------------------------------------- */

/*
 * In the child: every call on the inherited runtime fails with -ECHILD,
 * freeing it returns, and a fresh runtime works. Returns 0, or the number
 * of the first check that failed (the exit code the parent reads). No
 * cmocka here: its state belongs to the parent.
 */
static int child_checks(struct rt_task *running, struct rt_task *done)
{
	struct value_frame f = { .v = 3 };
	struct rt_runtime *fresh = NULL;
	struct rt_task *h = NULL;
	struct rt_stats st;
	int64_t r = 0;

	if (rt_task_spawn(rt, value, &f.frame, sizeof(f), &h) != -ECHILD || h)
		return 1;
	if (rt_task_join(running, &r) != -ECHILD)
		return 2;
	if (rt_task_join(done, &r) != -ECHILD || r != 0)
		return 3;
	if (rt_runtime_drain(rt) != -ECHILD)
		return 4;
	if (rt_runtime_shutdown(rt) != -ECHILD)
		return 5;
	if (rt_task_cancel(running) != -ECHILD)
		return 6;
	if (rt_runtime_stats(rt, &st) != -ECHILD)
		return 7;
	rt_runtime_free(rt);
	if (rt_runtime_new(NULL, &fresh) != 0)
		return 8;
	if (rt_task_spawn(fresh, value, &f.frame, sizeof(f), &h) != 0)
		return 9;
	if (rt_task_join(h, &r) != 0 || r != 3)
		return 10;
	rt_task_release(h);
	if (rt_runtime_shutdown(fresh) != 0)
		return 11;
	rt_runtime_free(fresh);
	return 0;
}

static void test_fork_child_gets_echild(void **state)
{
	struct rt_task *running, *done;
	int64_t r = 0;
	int status;
	pid_t pid;

	assert_int_equal(RT_SPAWN(rt, &running, sleep_then_42,
				  struct plain_frame), 0);
	assert_int_equal(RT_SPAWN(rt, &done, value, struct value_frame,
				  .v = 5), 0);
	wait_suspended(running);
	while (!rt_task_done(done))
		usleep(100);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_checks(running, done));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the parent's runtime is untouched */
	assert_int_equal(rt_task_cancel(running), 0);
	assert_int_equal(rt_task_join(running, &r), 0);
	assert_int_equal(r, 42);
	assert_int_equal(rt_task_join(done, &r), 0);
	assert_int_equal(r, 5);
	rt_task_release(running);
	rt_task_release(done);
	check_still_works(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_huge_frame),
		cmocka_unit_test(test_frame_push_huge),
		cmocka_unit_test(test_sleep_forever),
		cmocka_unit_test(test_big_root_calls_stay_inline),
		cmocka_unit_test(test_concurrent_shutdown),
		cmocka_unit_test(test_cancelled_join_given_back),
		cmocka_unit_test(test_cancelled_join_then_foreign_join),
		cmocka_unit_test(test_cancelled_join_races),
		cmocka_unit_test(test_fork_child_gets_echild),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

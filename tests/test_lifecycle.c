// SPDX-License-Identifier: MIT
/*
 * Bad input and lifecycle: sizes that would wrap, sleeps past the end of
 * the clock, big root frames, concurrent shutdowns, joins given back by a
 * cancel, fork, signal handlers and a bounded foreign backlog.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "rt_test.h"
#include "runq.h"

static struct rt_runtime *rt;

/*
 * Under ASan, a malloc above its maximum (1 TiB) aborts the process by
 * default; test_spawn_huge_frame wants the NULL a real malloc returns.
 * Options in ASAN_OPTIONS still come on top of these.
 */
const char *__asan_default_options(void);
__attribute__((used)) const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

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

static RT_ASYNC int64_t push_huge(struct rt_task *t, struct rt_frame *base)
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

static RT_ASYNC int64_t sleep_forever(struct rt_task *t, struct rt_frame *base)
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
static RT_ASYNC int64_t chunk_first(struct rt_task *t, struct rt_frame *base)
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
static RT_ASYNC int64_t big_root_fn_##bytes(struct rt_task *t,		\
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

static RT_ASYNC int64_t nap(struct rt_task *t, struct rt_frame *base)
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

/*
 * Foreign threads spawn while another shuts the runtime down: every spawn
 * either fails with -ESHUTDOWN or its task runs before shutdown returns,
 * so none is queued to workers that are gone (its join would hang).
 */
#define RACERS 3

static atomic_ulong raced_ran;

static RT_ASYNC int64_t raced(struct rt_task *t, struct rt_frame *base)
{
	RT_BEGIN(t, base);
	atomic_fetch_add(&raced_ran, 1);
	return 0;
}

struct racer {
	pthread_t thread;
	struct rt_runtime *rt;
	unsigned long spawned;
	int last;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	struct nap_frame f = { .ns = 0 };

	while ((r->last = rt_task_spawn(r->rt, raced, &f.frame, sizeof(f),
					NULL)) == 0)
		r->spawned++;
	return NULL;
}

static void test_spawns_race_shutdown(void **state)
{
	(void)state;
	for (int round = 0; round < SHUT_ROUNDS; round++) {
		struct rt_runtime *r = test_runtime(2, false);
		struct racer rc[RACERS];
		unsigned long spawned = 0;

		atomic_store(&raced_ran, 0);
		for (int i = 0; i < RACERS; i++) {
			rc[i] = (struct racer){ .rt = r };
			assert_int_equal(pthread_create(&rc[i].thread, NULL,
							racer_main, &rc[i]), 0);
		}
		usleep(2000);
		assert_int_equal(rt_runtime_shutdown(r), 0);
		/* every spawn that succeeded has run, none after shutdown */
		assert_int_equal(atomic_load(&raced_ran), test_stats(r).spawned);
		for (int i = 0; i < RACERS; i++) {
			pthread_join(rc[i].thread, NULL);
			assert_int_equal(rc[i].last, -ESHUTDOWN);
			spawned += rc[i].spawned;
		}
		assert_int_equal(atomic_load(&raced_ran), spawned);
		rt_runtime_free(r);
	}
}

/* ---- a cancelled join is given back ---------------------------------- */

struct plain_frame {
	struct rt_frame frame;
};

/* Asleep until cancelled, then returns 42: it catches the cancel. */
static RT_ASYNC int64_t sleep_then_42(struct rt_task *t, struct rt_frame *base)
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

static RT_ASYNC int64_t joiner(struct rt_task *t, struct rt_frame *base)
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

/*
 * Runtimes made and shut down back to back, more workers than CPUs: in
 * every one, all workers run at once (each of CHURN_WORKERS tasks holds
 * its worker until all of them have arrived), and shutdown returns. A
 * worker that slept through the startup barrier used to be missing for
 * the runtime's life and to hang its shutdown, about once in a thousand
 * starts.
 */
#define CHURN_ROUNDS 400
#define CHURN_WORKERS 4

struct rendezvous_frame {
	struct rt_frame frame;
	atomic_int *arrived;
};

static RT_ASYNC int64_t rendezvous(struct rt_task *t, struct rt_frame *base)
{
	struct rendezvous_frame *f = RT_FRAME(base, struct rendezvous_frame);

	atomic_fetch_add(f->arrived, 1);
	while (atomic_load(f->arrived) < CHURN_WORKERS)
		sched_yield();	/* on 2 CPUs, let the other workers in */
	return (int64_t)rt_task_current() != 0;
}

static void test_runtime_churn(void **state)
{
	for (int round = 0; round < CHURN_ROUNDS; round++) {
		struct rt_runtime *r = test_runtime(CHURN_WORKERS, false);
		struct rt_task *h[CHURN_WORKERS];
		atomic_int arrived = 0;
		int64_t res, sum = 0;

		for (int i = 0; i < CHURN_WORKERS; i++)
			assert_int_equal(RT_SPAWN(r, &h[i], rendezvous,
						  struct rendezvous_frame,
						  .arrived = &arrived), 0);
		for (int i = 0; i < CHURN_WORKERS; i++) {
			assert_int_equal(rt_task_join(h[i], &res), 0);
			sum += res;
			rt_task_release(h[i]);
		}
		assert_int_equal(sum, CHURN_WORKERS);
		assert_int_equal(rt_runtime_shutdown(r), 0);
		rt_runtime_free(r);
	}
}

/* 0 when both ends of the pipe are still open in the child. */
static int child_free_shut(struct rt_runtime *r, const int *pipefd)
{
	rt_runtime_free(r);
	if (fcntl(pipefd[0], F_GETFD) == -1 || fcntl(pipefd[1], F_GETFD) == -1)
		return 1;
	return 0;
}

/*
 * A runtime shut down before the fork closed its descriptors, whose
 * numbers the next open takes again: freeing it in the child must not
 * close what now lives under them.
 */
static void test_fork_after_shutdown(void **state)
{
	struct rt_runtime *r = test_runtime(2, false);
	int pipefd[2], status;
	pid_t pid;

	assert_int_equal(rt_runtime_shutdown(r), 0);
	assert_int_equal(pipe(pipefd), 0);	/* likely reuses their numbers */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_free_shut(r, pipefd));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	rt_runtime_free(r);
}

/* ---- a bounded foreign backlog ---------------------------------------- */

#define BACKLOG_TASKS 2000000
#define BACKLOG_LIMIT 256

static uint8_t *ran;			/* ran[i]: times task i ran */
static atomic_long finished;		/* tasks that ran */

struct count_frame {
	struct rt_frame frame;
	uint32_t index;
};

static RT_ASYNC int64_t count_run(struct rt_task *t, struct rt_frame *base)
{
	struct count_frame *f = RT_FRAME(base, struct count_frame);

	__atomic_fetch_add(&ran[f->index], 1, __ATOMIC_RELAXED);
	atomic_fetch_add(&finished, 1);
	return 0;
}

static struct rt_runtime *backlog_runtime(unsigned int limit)
{
	struct rt_runtime *r = NULL;
	struct rt_config cfg;

	rt_config_init(&cfg);
	cfg.workers = 1;
	cfg.max_foreign_backlog = limit;
	assert_int_equal(rt_runtime_new(&cfg, &r), 0);
	return r;
}

static void check_ran_once(long n)
{
	long wrong = 0;

	for (long i = 0; i < n; i++)
		wrong += ran[i] != 1;
	assert_int_equal(wrong, 0);
}

/*
 * One plain thread spawns 2M tasks against one worker. Tasks spawned and
 * not finished are at most the limit (not started) plus the one the
 * worker is running, after every spawn; each task ran exactly once.
 */
static void test_foreign_backlog_bounded(void **state)
{
	struct rt_runtime *r = backlog_runtime(BACKLOG_LIMIT);
	long peak = 0;
	struct rt_stats st;

	ran = calloc(BACKLOG_TASKS, 1);
	assert_non_null(ran);
	atomic_store(&finished, 0);
	for (uint32_t i = 0; i < BACKLOG_TASKS; i++) {
		long alive;

		assert_int_equal(RT_SPAWN(r, NULL, count_run,
					  struct count_frame, .index = i), 0);
		alive = (long)i + 1 - atomic_load(&finished);
		if (alive > peak)
			peak = alive;
	}
	assert_int_equal(rt_runtime_drain(r), 0);
	printf("peak backlog %ld, limit %d\n", peak, BACKLOG_LIMIT);
	assert_true(peak <= BACKLOG_LIMIT + 1);
	check_ran_once(BACKLOG_TASKS);
	st = test_stats(r);
	assert_int_equal(st.spawned, BACKLOG_TASKS);
	assert_int_equal(st.completed, BACKLOG_TASKS);
	rt_runtime_free(r);
	free(ran);
}

struct gate_frame {
	struct rt_frame frame;
	atomic_int *started, *gate;
};

/* Holds its worker until the gate opens. */
static RT_ASYNC int64_t hold(struct rt_task *t, struct rt_frame *base)
{
	struct gate_frame *f = RT_FRAME(base, struct gate_frame);

	atomic_store(f->started, 1);
	while (!atomic_load(f->gate))
		__builtin_ia32_pause();
	return 0;
}

#define SMALL_LIMIT 4

/* The only worker is held: the limit admits exactly SMALL_LIMIT tasks. */
static void test_try_spawn_eagain(void **state)
{
	struct rt_runtime *r = backlog_runtime(SMALL_LIMIT);
	atomic_int started = 0, gate = 0;
	struct count_frame f = { .index = 0 };

	ran = calloc(SMALL_LIMIT, 1);
	assert_non_null(ran);
	atomic_store(&finished, 0);
	assert_int_equal(RT_SPAWN(r, NULL, hold, struct gate_frame,
				  .started = &started, .gate = &gate), 0);
	while (!atomic_load(&started))
		usleep(100);
	for (uint32_t i = 0; i < SMALL_LIMIT; i++) {
		f.index = i;
		assert_int_equal(rt_task_try_spawn(r, count_run, &f.frame,
						   sizeof(f), NULL), 0);
	}
	assert_int_equal(rt_task_try_spawn(r, count_run, &f.frame, sizeof(f),
					   NULL), -EAGAIN);
	atomic_store(&gate, 1);
	assert_int_equal(rt_runtime_drain(r), 0);
	assert_int_equal(atomic_load(&finished), SMALL_LIMIT);
	check_ran_once(SMALL_LIMIT);
	rt_runtime_free(r);
	free(ran);
}

/* ---- signal handlers ------------------------------------------------- */

static struct rt_task *victim;
static atomic_int handler_ret;

static void cancel_handler(int sig)
{
	atomic_store(&handler_ret, rt_task_cancel(victim));
}

struct raise_frame {
	struct rt_frame frame;
	int sig;
};

/* Raises sig on its worker thread: the handler runs there. */
static RT_ASYNC int64_t raise_here(struct rt_task *t, struct rt_frame *base)
{
	return raise(RT_FRAME(base, struct raise_frame)->sig);
}

/*
 * rt_task_cancel is async-signal-safe: from a handler on a plain thread
 * and on a worker thread, it wakes a sleeping task with -ECANCELED.
 */
static void test_cancel_from_signal_handler(void **state)
{
	struct sigaction sa = { .sa_handler = cancel_handler }, old;
	int64_t r = 0;

	assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
	for (int on_worker = 0; on_worker < 2; on_worker++) {
		assert_int_equal(RT_SPAWN(rt, &victim, sleep_then_42,
					  struct plain_frame), 0);
		wait_suspended(victim);
		atomic_store(&handler_ret, 1);
		if (on_worker)
			assert_int_equal(TEST_RUN(rt, raise_here,
						  struct raise_frame,
						  .sig = SIGUSR2), 0);
		else
			assert_int_equal(raise(SIGUSR2), 0);
		assert_int_equal(atomic_load(&handler_ret), 0);
		assert_int_equal(rt_task_join(victim, &r), 0);
		assert_int_equal(r, 42);
		rt_task_release(victim);
	}
	assert_int_equal(sigaction(SIGUSR2, &old, NULL), 0);
}

static struct rt_runtime *handler_rt;

static void spawn_handler(int sig)
{
	struct count_frame f = { .index = 0 };

	atomic_store(&handler_ret, rt_task_spawn(handler_rt, count_run,
						 &f.frame, sizeof(f), NULL));
}

struct spawner_thread {
	struct rt_runtime *r;
	atomic_int tid, ret;
};

/* Spawns one task into a full backlog: it waits inside rt_task_spawn. */
static void *blocked_spawner(void *arg)
{
	struct spawner_thread *s = arg;
	struct count_frame f = { .index = 1 };

	atomic_store(&s->tid, gettid());
	atomic_store(&s->ret, rt_task_spawn(s->r, count_run, &f.frame,
					    sizeof(f), NULL));
	return NULL;
}

/* The thread's state letter in /proc (S: asleep, here in the futex). */
static char thread_state(int tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] ? p[2] : '?';
}

/*
 * A handler that spawns on a thread it interrupted inside rt_task_spawn
 * (here: waiting for backlog room) gets -EDEADLK instead of re-entering
 * the spawn path; the interrupted spawn then completes normally.
 */
static void test_spawn_in_handler_during_spawn(void **state)
{
	struct sigaction sa = { .sa_handler = spawn_handler }, old;
	struct spawner_thread s = { .tid = 0, .ret = 1 };
	atomic_int started = 0, gate = 0;
	struct count_frame f = { .index = 0 };
	pthread_t th;

	handler_rt = s.r = backlog_runtime(1);
	ran = calloc(2, 1);
	assert_non_null(ran);
	atomic_store(&finished, 0);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(RT_SPAWN(s.r, NULL, hold, struct gate_frame,
				  .started = &started, .gate = &gate), 0);
	while (!atomic_load(&started))
		usleep(100);
	assert_int_equal(rt_task_spawn(s.r, count_run, &f.frame, sizeof(f),
				       NULL), 0);	/* the backlog is full */
	assert_int_equal(pthread_create(&th, NULL, blocked_spawner, &s), 0);
	while (!atomic_load(&s.tid) || thread_state(s.tid) != 'S')
		usleep(100);
	atomic_store(&handler_ret, 1);
	assert_int_equal(pthread_kill(th, SIGUSR1), 0);
	while (atomic_load(&handler_ret) == 1)
		usleep(100);
	assert_int_equal(atomic_load(&handler_ret), -EDEADLK);
	atomic_store(&gate, 1);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&s.ret), 0);
	assert_int_equal(rt_runtime_drain(s.r), 0);
	assert_int_equal(atomic_load(&finished), 2);
	check_ran_once(2);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	rt_runtime_free(s.r);
	free(ran);
}

/* ---- run queues for every possible CPU id ---------------------------- */

static void test_cpu_list_parse(void **state)
{
	assert_int_equal(rt__cpu_list_max("0\n"), 0);
	assert_int_equal(rt__cpu_list_max("0-7\n"), 7);
	assert_int_equal(rt__cpu_list_max("0,2-5,9\n"), 9);
	assert_int_equal(rt__cpu_list_max("0-3,8-11"), 11);
	assert_int_equal(rt__cpu_list_max("12,0-3\n"), 12);
	assert_int_equal(rt__cpu_list_max(""), -EINVAL);
	assert_int_equal(rt__cpu_list_max("\n"), -EINVAL);
	assert_int_equal(rt__cpu_list_max("x"), -EINVAL);
}

/* The queues cover the highest possible CPU id, not only the count. */
static void test_runqs_cover_possible_cpus(void **state)
{
	struct rt_runqs qs;
	char buf[256] = "";
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");

	if (!f) {
		skip();	/* no sysfs: the count is all there is */
		return;
	}
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_int_equal(rt_runqs_init(&qs, RT_QUEUE_AUTO, 16), 0);
	assert_int_equal(qs.ncpus, rt__cpu_list_max(buf) + 1);
	rt_runqs_destroy(&qs);
}

static bool pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return !pthread_setaffinity_np(pthread_self(), sizeof(set), &set) &&
	       sched_getcpu() == cpu;
}

#define SPILL_SIZE 16

/*
 * Queues for CPU 0 only, while this thread runs on CPU 1. In rseq mode its
 * cpu_id is out of range, so pushes and pops take the spill queue
 * (bounded like any queue), which every CPU's length includes and whose
 * items a pop on a CPU in range still finds, in order, after its own. In
 * atomic mode any CPU id maps onto the one queue.
 */
static void test_runq_cpu_out_of_range(void **state)
{
	struct rt_runq_stats st = { 0 };
	struct rt_runqs qs;
	cpu_set_t old;

	assert_int_equal(rt__runqs_init_ncpus(&qs, RT_QUEUE_AUTO, SPILL_SIZE,
					      1), 0);
	assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(old),
						&old), 0);
	if (!CPU_ISSET(0, &old) || !CPU_ISSET(1, &old) || !pin_to(1)) {
		rt_runqs_destroy(&qs);
		skip();	/* needs CPUs 0 and 1 */
		return;
	}
	for (uintptr_t i = 1; i <= SPILL_SIZE; i++)
		assert_int_equal(rt_runq_push(&qs, (void *)i, &st), 0);
	assert_int_equal(rt_runq_push(&qs, (void *)99, &st), -ENOSPC);
	assert_int_equal(rt_runq_len(&qs, 1), SPILL_SIZE);
	assert_int_equal(rt_runq_len(&qs, 0), SPILL_SIZE);
	assert_int_equal(rt_runq_steal(&qs, 1, (void *[4]){ 0 }, 4), 0);
	for (uintptr_t i = 1; i <= SPILL_SIZE / 2; i++)
		assert_ptr_equal(rt_runq_pop(&qs, &st), (void *)i);
	assert_true(pin_to(0));
	assert_int_equal(rt_runq_push(&qs, (void *)100, &st), 0);
	/* rseq: CPU 0's own queue first, then what the spill queue holds */
	if (qs.mode == RT_QUEUE_RSEQ)
		assert_ptr_equal(rt_runq_pop(&qs, &st), (void *)100);
	for (uintptr_t i = SPILL_SIZE / 2 + 1; i <= SPILL_SIZE; i++)
		assert_ptr_equal(rt_runq_pop(&qs, &st), (void *)i);
	if (qs.mode == RT_QUEUE_ATOMIC)
		assert_ptr_equal(rt_runq_pop(&qs, &st), (void *)100);
	assert_null(rt_runq_pop(&qs, &st));
	assert_int_equal(rt_runq_len(&qs, 0), 0);
	pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
	rt_runqs_destroy(&qs);
}

/* ---- what a drain makes visible --------------------------------------- */

#define DRAIN_TASKS 100000

static uint64_t *written;		/* plain memory the tasks write */

struct write_frame {
	struct rt_frame frame;
	uint32_t index;
};

static RT_ASYNC int64_t write_plain(struct rt_task *t, struct rt_frame *base)
{
	struct write_frame *f = RT_FRAME(base, struct write_frame);

	RT_BEGIN(t, base);
	if (f->index & 1)
		RT_YIELD();	/* finish on whichever worker runs it next */
	written[f->index] = 3 * (uint64_t)f->index + 1;
	return 0;
}

/*
 * After rt_runtime_drain() returns, every drained task's plain writes are
 * visible (the completion count is a release store, drain's read an
 * acquire). x86 would show them anyway; the test states the contract and
 * gives a ThreadSanitizer build something to check.
 */
static void test_drain_sees_task_writes(void **state)
{
	long wrong = 0;

	written = calloc(DRAIN_TASKS, sizeof(*written));
	assert_non_null(written);
	for (uint32_t i = 0; i < DRAIN_TASKS; i++)
		assert_int_equal(RT_SPAWN(rt, NULL, write_plain,
					  struct write_frame, .index = i), 0);
	assert_int_equal(rt_runtime_drain(rt), 0);
	for (uint32_t i = 0; i < DRAIN_TASKS; i++)
		wrong += written[i] != 3 * (uint64_t)i + 1;
	assert_int_equal(wrong, 0);
	free(written);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_huge_frame),
		cmocka_unit_test(test_frame_push_huge),
		cmocka_unit_test(test_sleep_forever),
		cmocka_unit_test(test_big_root_calls_stay_inline),
		cmocka_unit_test(test_concurrent_shutdown),
		cmocka_unit_test(test_spawns_race_shutdown),
		cmocka_unit_test(test_cancelled_join_given_back),
		cmocka_unit_test(test_cancelled_join_then_foreign_join),
		cmocka_unit_test(test_cancelled_join_races),
		cmocka_unit_test(test_fork_child_gets_echild),
		cmocka_unit_test(test_fork_after_shutdown),
		cmocka_unit_test(test_runtime_churn),
		cmocka_unit_test(test_foreign_backlog_bounded),
		cmocka_unit_test(test_try_spawn_eagain),
		cmocka_unit_test(test_cancel_from_signal_handler),
		cmocka_unit_test(test_spawn_in_handler_during_spawn),
		cmocka_unit_test(test_cpu_list_parse),
		cmocka_unit_test(test_runqs_cover_possible_cpus),
		cmocka_unit_test(test_runq_cpu_out_of_range),
		cmocka_unit_test(test_drain_sees_task_writes),
	};

	if (getenv("TEST_FILTER"))	/* TEST_FILTER=test_name: run one */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: MIT
/*
 * Tasks across all workers: every task runs exactly once, yields and joins
 * lose nothing, wake-ups cross workers, sleeps and cancellation.
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>

#include "rt_test.h"

#define MILLION 1000000

static struct rt_runtime *rt;
static uint8_t *ran;			/* ran[i]: times task i ran */
static atomic_long extra;		/* runs of an index seen twice */

static int setup(void **state)
{
	rt = test_runtime(0, true);
	ran = calloc(MILLION, 1);
	return ran ? 0 : -1;
}

static int teardown(void **state)
{
	rt_runtime_free(rt);
	free(ran);
	return 0;
}

struct mark_frame {
	struct rt_frame frame;
	uint32_t index;
};

static RT_ASYNC int64_t mark(struct rt_task *t, struct rt_frame *base)
{
	struct mark_frame *f = RT_FRAME(base, struct mark_frame);

	/* Each index is written by one task only, unless one runs twice. */
	if (__atomic_fetch_add(&ran[f->index], 1, __ATOMIC_RELAXED))
		atomic_fetch_add(&extra, 1);
	return 0;
}

static void check_each_ran_once(void)
{
	long missing = 0;

	for (long i = 0; i < MILLION; i++)
		missing += ran[i] == 0;
	assert_int_equal(missing, 0);
	assert_int_equal(atomic_load(&extra), 0);
}

static void test_million_foreign_spawns_run_once(void **state)
{
	struct rt_stats before = test_stats(rt), after;

	memset(ran, 0, MILLION);
	atomic_store(&extra, 0);
	for (uint32_t i = 0; i < MILLION; i++)
		assert_int_equal(RT_SPAWN(rt, NULL, mark, struct mark_frame,
					  .index = i), 0);
	assert_int_equal(rt_runtime_drain(rt), 0);
	check_each_ran_once();
	after = test_stats(rt);
	assert_int_equal(after.spawned - before.spawned, MILLION);
	assert_int_equal(after.completed - before.completed, MILLION);
}

struct spawner_frame {
	struct rt_frame frame;
	uint32_t i;
};

/* Spawns from inside a task go through the rseq queue of its CPU. */
static RT_ASYNC int64_t spawner(struct rt_task *t, struct rt_frame *base)
{
	struct spawner_frame *f = RT_FRAME(base, struct spawner_frame);
	int ret;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < MILLION; f->i++) {
		ret = RT_SPAWN(rt_task_runtime(t), NULL, mark,
			       struct mark_frame, .index = f->i);
		if (ret)
			return ret;
		if (f->i % 1024 == 1023)
			RT_YIELD();	/* let the spawned run; share them */
	}
	return 0;
}

static void test_million_task_spawns_run_once(void **state)
{
	struct rt_stats before = test_stats(rt), after;

	memset(ran, 0, MILLION);
	atomic_store(&extra, 0);
	assert_int_equal(TEST_RUN(rt, spawner, struct spawner_frame), 0);
	assert_int_equal(rt_runtime_drain(rt), 0);
	check_each_ran_once();
	after = test_stats(rt);
	assert_int_equal(after.completed - before.completed, MILLION + 1);
	assert_int_equal(after.yields - before.yields, MILLION / 1024);
}

/* ---- yields ------------------------------------------------------------- */

#define YIELDERS 1000
#define YIELDS 1000
static atomic_long yields_done;

struct yielder_frame {
	struct rt_frame frame;
	int i;
};

static RT_ASYNC int64_t yielder(struct rt_task *t, struct rt_frame *base)
{
	struct yielder_frame *f = RT_FRAME(base, struct yielder_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < YIELDS; f->i++) {
		RT_YIELD();
		atomic_fetch_add_explicit(&yields_done, 1, memory_order_relaxed);
	}
	return f->i;
}

static void test_yields_lose_nothing(void **state)
{
	struct rt_stats before = test_stats(rt), after;
	struct rt_task *h[YIELDERS];
	int64_t sum = 0;

	atomic_store(&yields_done, 0);
	for (int i = 0; i < YIELDERS; i++)
		assert_int_equal(RT_SPAWN(rt, &h[i], yielder,
					  struct yielder_frame), 0);
	for (int i = 0; i < YIELDERS; i++) {
		int64_t r;

		assert_int_equal(rt_task_join(h[i], &r), 0);
		sum += r;
		rt_task_release(h[i]);
	}
	assert_int_equal(sum, (int64_t)YIELDERS * YIELDS);
	assert_int_equal(atomic_load(&yields_done), (long)YIELDERS * YIELDS);
	after = test_stats(rt);
	assert_int_equal(after.yields - before.yields, YIELDERS * YIELDS);
	assert_int_equal(after.completed - before.completed, YIELDERS);
}

/* ---- a worker that moves to another CPU -------------------------------- */

#define MOVES 50
#define YIELDS_PER_MOVE 100

struct mover_frame {
	struct rt_frame frame;
	int cpus[2];		/* the two CPUs it moves between */
	int i;
	int moves;		/* the moves that left a CPU */
};

/* Moves its own worker thread to the other CPU every YIELDS_PER_MOVE
 * yields (a task step runs on the worker thread), MOVES times; returns
 * how many of those left the CPU it was on (the first may not). */
static RT_ASYNC int64_t mover(struct rt_task *t, struct rt_frame *base)
{
	struct mover_frame *f = RT_FRAME(base, struct mover_frame);
	cpu_set_t set;
	int to;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < MOVES * YIELDS_PER_MOVE; f->i++) {
		if (f->i % YIELDS_PER_MOVE == 0) {
			to = f->cpus[f->i / YIELDS_PER_MOVE % 2];
			f->moves += sched_getcpu() != to;
			CPU_ZERO(&set);
			CPU_SET(to, &set);
			if (sched_setaffinity(0, sizeof(set), &set))
				return -errno;
		}
		RT_YIELD();
	}
	return f->moves;
}

/* Two CPUs this thread may run on, or false. */
static bool two_cpus(int cpus[2])
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return false;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n == 2;
}

/*
 * A worker keeps the CPU it ran on and that CPU's queue between ops
 * (struct rt_runq_cache): moved to another CPU, its next op's section
 * sees the other CPU, aborts, and the op is done on the new CPU's queue.
 * Every move costs at least that one abort, and no yield is lost: a
 * second task's turns stay on the CPU left behind until the worker
 * takes them back (it steals from the queue it no longer sits on).
 */
static void test_worker_moved_to_another_cpu(void **state)
{
	struct mover_frame mf = { .frame = { 0 } };
	struct rt_runtime *r;
	struct rt_stats before, after;
	struct rt_task *h[2];
	int64_t res, moves;

	if (!two_cpus(mf.cpus)) {
		print_message("skipped: needs two CPUs in its affinity\n");
		skip();
	}
	r = test_runtime(1, false);
	if (rt_runtime_queue_mode(r) != RT_QUEUE_RSEQ) {
		rt_runtime_free(r);
		print_message("skipped: the queues are not in rseq mode\n");
		skip();
	}
	atomic_store(&yields_done, 0);
	before = test_stats(r);
	assert_int_equal(rt_task_spawn(r, mover, &mf.frame, sizeof(mf), &h[0]),
			 0);
	assert_int_equal(RT_SPAWN(r, &h[1], yielder, struct yielder_frame), 0);
	assert_int_equal(rt_task_join(h[0], &moves), 0);
	assert_in_range(moves, MOVES - 1, MOVES);
	assert_int_equal(rt_task_join(h[1], &res), 0);
	assert_int_equal(res, YIELDS);
	assert_int_equal(atomic_load(&yields_done), YIELDS);
	rt_task_release(h[0]);
	rt_task_release(h[1]);
	after = test_stats(r);
	assert_int_equal(after.yields - before.yields,
			 MOVES * YIELDS_PER_MOVE + YIELDS);
	assert_true(after.rseq_aborts - before.rseq_aborts >= (uint64_t)moves);
	rt_runtime_free(r);
}

/* ---- joins ---------------------------------------------------------------- */

struct child_frame {
	struct rt_frame frame;
	int64_t value;
	uint64_t sleep_ns;
};

static RT_ASYNC int64_t child(struct rt_task *t, struct rt_frame *base)
{
	struct child_frame *f = RT_FRAME(base, struct child_frame);

	RT_BEGIN(t, base);
	if (f->sleep_ns)
		RT_SLEEP(f->sleep_ns);
	else
		RT_YIELD();
	return f->value;
}

#define CHILDREN 200

struct parent_frame {
	struct rt_frame frame;
	struct rt_task *kids[CHILDREN];
	int i;
	int64_t sum;
};

static RT_ASYNC int64_t parent(struct rt_task *t, struct rt_frame *base)
{
	struct parent_frame *f = RT_FRAME(base, struct parent_frame);
	int64_t r;
	int ret;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < CHILDREN; f->i++) {
		ret = RT_SPAWN(rt_task_runtime(t), &f->kids[f->i], child,
			       struct child_frame, .value = f->i,
			       .sleep_ns = (uint64_t)(f->i % 3) * 100000);
		if (ret)
			return ret;
	}
	for (f->i = 0; f->i < CHILDREN; f->i++) {
		RT_JOIN(r, f->kids[f->i]);
		f->sum += r;
		rt_task_release(f->kids[f->i]);
	}
	return f->sum;
}

static void test_joins_collect_every_result(void **state)
{
	/* 200 handles: a root frame larger than the inline arena, so it
	 * starts the task's first chunk */
	struct parent_frame init = { .i = 0 };
	struct rt_task *h;
	int64_t r;

	assert_true(sizeof(init) > 256);
	assert_int_equal(rt_task_spawn(rt, parent, &init.frame, sizeof(init),
				       &h), 0);
	assert_int_equal(rt_task_join(h, &r), 0);
	rt_task_release(h);
	assert_int_equal(r, CHILDREN * (CHILDREN - 1) / 2);
}

/* ---- wake-ups across workers ---------------------------------------------- */

struct waiter_frame {
	struct rt_frame frame;
	struct rt_task *other;
};

static RT_ASYNC int64_t waiter(struct rt_task *t, struct rt_frame *base)
{
	struct waiter_frame *f = RT_FRAME(base, struct waiter_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_JOIN(r, f->other);
	return r;
}

static void test_cross_worker_wakeups(void **state)
{
	struct rt_stats before, after;
	struct rt_runtime *two;
	const int rounds = 50;

	if (test_online_cpus() < 2)
		skip();	/* needs two CPUs: a worker on each */
	two = test_runtime(2, true);
	before = test_stats(two);
	for (int i = 0; i < rounds; i++) {
		struct rt_task *sleeper, *w;
		int64_t r;

		/* Foreign spawns go round robin: one inbox each. */
		assert_int_equal(RT_SPAWN(two, &sleeper, child,
					  struct child_frame, .value = i,
					  .sleep_ns = 2000000), 0);
		assert_int_equal(RT_SPAWN(two, &w, waiter, struct waiter_frame,
					  .other = sleeper), 0);
		assert_int_equal(rt_task_join(w, &r), 0);
		assert_int_equal(r, i);
		rt_task_release(w);
		rt_task_release(sleeper);
	}
	after = test_stats(two);
	/* Both spawns of a round arrive by inbox; a waiter woken by the
	 * sleeper's completion is queued by the worker that completed it,
	 * wherever the waiter ran before, so no inbox carries it. */
	assert_int_equal(after.inbox - before.inbox, 2 * rounds);
	assert_int_equal(after.adopted - before.adopted, 0);
	rt_runtime_free(two);
}

/* ---- sleep ------------------------------------------------------------------ */

#define SLEEPERS 10
static atomic_int order_next;
static int order[SLEEPERS];

struct sleeper_frame {
	struct rt_frame frame;
	int id;
	uint64_t deadline;
};

static RT_ASYNC int64_t sleeper(struct rt_task *t, struct rt_frame *base)
{
	struct sleeper_frame *f = RT_FRAME(base, struct sleeper_frame);

	RT_BEGIN(t, base);
	RT_AWAIT(rt__discard, rt_op_sleep_until(t, f->deadline));
	order[atomic_fetch_add(&order_next, 1)] = f->id;
	/* never early */
	return rt_now_ns() >= f->deadline ? 0 : -ETIME;
}

struct sleepers_frame {
	struct rt_frame frame;
	struct rt_task *h[SLEEPERS];
	int i;
	int64_t sum;
};

/*
 * Spawned from one task on the only worker, the sleepers run in the batch
 * that follows, so all are in the timer heap before any fires: the order
 * they wake in is the heap's, whatever the machine's load. The deadlines
 * are absolute, latest first.
 */
static RT_ASYNC int64_t sleepers(struct rt_task *t, struct rt_frame *base)
{
	struct sleepers_frame *f = RT_FRAME(base, struct sleepers_frame);
	uint64_t now = rt_now_ns();
	int64_t r;
	int ret;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < SLEEPERS; f->i++) {
		ret = RT_SPAWN(rt_task_runtime(t), &f->h[f->i], sleeper,
			       struct sleeper_frame, .id = f->i,
			       .deadline = now + (uint64_t)(SLEEPERS - f->i) *
					   1000000);
		if (ret)
			return ret;
	}
	for (f->i = 0; f->i < SLEEPERS; f->i++) {
		RT_JOIN(r, f->h[f->i]);
		f->sum += r;
		rt_task_release(f->h[f->i]);
	}
	return f->sum;
}

static void test_sleeps_wake_in_deadline_order(void **state)
{
	struct rt_runtime *one = test_runtime(1, true);

	atomic_store(&order_next, 0);
	assert_int_equal(TEST_RUN(one, sleepers, struct sleepers_frame), 0);
	for (int i = 0; i < SLEEPERS; i++)
		assert_int_equal(order[i], SLEEPERS - 1 - i);
	assert_int_equal(test_stats(one).timers_fired, SLEEPERS);
	rt_runtime_free(one);
}

/* ---- cancellation ------------------------------------------------------------ */

static atomic_int body_ran;
static atomic_int cleanup_saw;

struct nap_frame {
	struct rt_frame frame;
	int depth;
};

/* Three frames deep, the innermost asleep for a minute; frame 1 catches. */
static RT_ASYNC int64_t nap(struct rt_task *t, struct rt_frame *base)
{
	struct nap_frame *f = RT_FRAME(base, struct nap_frame);
	int64_t r;

	RT_BEGIN(t, base);
	atomic_store(&body_ran, 1);
	if (f->depth == 2) {
		RT_SLEEP(60ull * 1000000000);
		return 0;
	}
	if (f->depth == 1)
		RT_CATCH(true);
	RT_CALL(r, nap, struct nap_frame, .depth = f->depth + 1);
	if (r < 0) {
		atomic_store(&cleanup_saw, (int)r);
		return r;	/* rethrow after cleaning up */
	}
	return r;
}

/*
 * Wait until n more task steps of rt ended suspended than in before: a
 * count, whatever the load. The count is taken once the step has
 * unwound, so a join has marked its target joined by then.
 */
static void wait_suspends(struct rt_stats before, uint64_t n)
{
	while (test_stats(rt).suspends - before.suspends < n)
		usleep(100);
}

static void test_cancel_suspended_task(void **state)
{
	struct rt_stats before = test_stats(rt);
	struct rt_task *h;
	int64_t r;

	atomic_store(&cleanup_saw, 0);
	assert_int_equal(RT_SPAWN(rt, &h, nap, struct nap_frame), 0);
	wait_suspends(before, 1);	/* asleep for a minute */
	assert_int_equal(rt_task_cancel(h), 0);
	assert_int_equal(rt_task_join(h, &r), 0);
	/* woken by the cancel: the timer would have given 0 */
	assert_int_equal(r, -ECANCELED);
	assert_int_equal(atomic_load(&cleanup_saw), -ECANCELED);
	assert_int_equal(rt_task_cancel(h), -EALREADY);
	rt_task_release(h);
}

/* A task waiting in a join is woken by the cancel, not by the joined. */
static void test_cancel_join_wait(void **state)
{
	struct rt_stats before = test_stats(rt);
	struct rt_task *sleeper, *w;
	int64_t r;

	assert_int_equal(RT_SPAWN(rt, &sleeper, child, struct child_frame,
				  .value = 5, .sleep_ns = 60ull * 1000000000),
			 0);
	assert_int_equal(RT_SPAWN(rt, &w, waiter, struct waiter_frame,
				  .other = sleeper), 0);
	wait_suspends(before, 2);	/* one asleep, one in the join */
	assert_int_equal(rt_task_cancel(w), 0);
	assert_int_equal(rt_task_join(w, &r), 0);
	assert_int_equal(r, -ECANCELED);
	rt_task_release(w);
	/* the joined task goes on; cancelling it ends its sleep */
	assert_false(rt_task_done(sleeper));
	assert_int_equal(rt_task_cancel(sleeper), 0);
	/* w's cancelled join was given back: the sleeper is joinable */
	assert_int_equal(rt_task_join(sleeper, &r), 0);
	assert_int_equal(r, -ECANCELED);
	rt_task_release(sleeper);
	assert_int_equal(rt_runtime_drain(rt), 0);
}

/*
 * Joins cancelled while their children complete: each waiter ends with
 * its child's value or -ECANCELED, none hangs, nothing leaks (ASan).
 */
#define RACERS 2000

static void test_cancel_races_completion(void **state)
{
	static struct rt_task *kids[RACERS], *waiters[RACERS];
	long got_value = 0, got_cancel = 0;

	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(RT_SPAWN(rt, &kids[i], child, struct child_frame,
					  .value = i,
					  .sleep_ns = (uint64_t)(i % 7) * 20000),
				 0);
		assert_int_equal(RT_SPAWN(rt, &waiters[i], waiter,
					  struct waiter_frame, .other = kids[i]),
				 0);
	}
	for (int i = 0; i < RACERS; i += 2)
		assert_true(rt_task_cancel(waiters[i]) == 0 ||
			    rt_task_done(waiters[i]));
	for (int i = 0; i < RACERS; i++) {
		int64_t r;

		assert_int_equal(rt_task_join(waiters[i], &r), 0);
		if (r == -ECANCELED) {
			assert_int_equal(i % 2, 0);
			got_cancel++;
		} else {
			assert_int_equal(r, i);
			got_value++;
		}
		rt_task_release(waiters[i]);
	}
	assert_int_equal(rt_runtime_drain(rt), 0);
	for (int i = 0; i < RACERS; i++)
		rt_task_release(kids[i]);
	assert_int_equal(got_value + got_cancel, RACERS);
	assert_true(got_value >= RACERS / 2);
	printf("%ld joins cancelled, %ld completed first\n", got_cancel,
	       got_value);
}

/*
 * Keeps its worker until the test opens the gate: a busy worker by
 * construction, not for a length of time the test hopes is enough.
 */
static atomic_int gate_open, holding;

struct hold_frame {
	struct rt_frame frame;
};

static RT_ASYNC int64_t hold(struct rt_task *t, struct rt_frame *base)
{
	atomic_store(&holding, 1);
	while (!atomic_load(&gate_open))
		__builtin_ia32_pause();
	return 1;
}

static void test_cancel_before_start(void **state)
{
	struct rt_runtime *one = test_runtime(1, true);
	struct rt_task *busy, *h;
	int64_t r;

	atomic_store(&body_ran, 0);
	atomic_store(&holding, 0);
	atomic_store(&gate_open, 0);
	/* the only worker is held, so h cannot start before the cancel */
	assert_int_equal(RT_SPAWN(one, &busy, hold, struct hold_frame), 0);
	while (!atomic_load(&holding))
		usleep(100);
	assert_int_equal(RT_SPAWN(one, &h, nap, struct nap_frame), 0);
	assert_int_equal(rt_task_cancel(h), 0);
	assert_int_equal(rt_task_cancel(h), 0);	/* idempotent */
	atomic_store(&gate_open, 1);
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, -ECANCELED);
	assert_int_equal(atomic_load(&body_ran), 0);
	assert_int_equal(rt_task_join(busy, &r), 0);
	assert_int_equal(r, 1);
	assert_int_equal(test_stats(one).unstarted, 1);
	rt_task_release(h);
	rt_task_release(busy);
	rt_runtime_free(one);
}

/* ---- the long-task watchdog ------------------------------------------------ */

static atomic_long ticks;

/*
 * Sleeps in 1 ms steps until cancelled: keeps its worker waking up, and
 * every time that worker goes idle again it looks at its peers.
 */
static RT_ASYNC int64_t ticker(struct rt_task *t, struct rt_frame *base)
{
	RT_BEGIN(t, base);
	for (;;) {
		RT_SLEEP(1000000);
		atomic_fetch_add(&ticks, 1);
	}
}

/*
 * Two workers, each with a ticker (foreign spawns go round robin), so
 * whichever worker a task hogs, the other one is awake and watching: a
 * worker already asleep when a long step begins is not woken for it
 * (design.md).
 */
static struct rt_runtime *watched_runtime(unsigned int long_task_ms,
					  struct rt_task *tick[2])
{
	struct rt_runtime *r = NULL;
	struct rt_config cfg;

	rt_config_init(&cfg);
	cfg.workers = 2;
	cfg.long_task_ms = long_task_ms;
	assert_int_equal(rt_runtime_new(&cfg, &r), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(RT_SPAWN(r, &tick[i], ticker,
					  struct hold_frame), 0);
	return r;
}

static void unwatch(struct rt_runtime *r, struct rt_task *tick[2])
{
	for (int i = 0; i < 2; i++) {
		int64_t res;

		assert_int_equal(rt_task_cancel(tick[i]), 0);
		assert_int_equal(rt_task_join(tick[i], &res), 0);
		assert_int_equal(res, -ECANCELED);
		rt_task_release(tick[i]);
	}
	rt_runtime_free(r);
}

#define WATCHER_LOOKS 20

/*
 * One step that keeps its worker until the watchdog noted it, and then
 * until the watchers parked WATCHER_LOOKS more times, each time after
 * looking at it again. Counts, not lengths of time.
 */
static RT_ASYNC int64_t hog(struct rt_task *t, struct rt_frame *base)
{
	struct rt_runtime *r = rt_task_runtime(t);
	struct rt_stats before, s;

	rt_runtime_stats(r, &before);
	do
		rt_runtime_stats(r, &s);
	while (s.long_tasks == before.long_tasks);
	before = s;
	do
		rt_runtime_stats(r, &s);
	while (s.parks - before.parks < WATCHER_LOOKS);
	return 1;
}

/* An idle worker notes a task hogging the other one, once per step. */
static void test_long_task_is_noted(void **state)
{
	struct rt_task *tick[2];
	struct rt_runtime *two;
	struct rt_stats before;

	if (test_online_cpus() < 2)
		skip();	/* the watching worker needs a CPU of its own */
	two = watched_runtime(10, tick);
	before = test_stats(two);
	assert_int_equal(TEST_RUN(two, hog, struct hold_frame), 1);
	assert_int_equal(test_stats(two).long_tasks - before.long_tasks, 1);
	assert_int_equal(TEST_RUN(two, hog, struct hold_frame), 1);
	assert_int_equal(test_stats(two).long_tasks - before.long_tasks, 2);
	unwatch(two, tick);
}

struct yield_until_frame {
	struct rt_frame frame;
	long ticks;
};

static RT_ASYNC int64_t yield_until(struct rt_task *t, struct rt_frame *base)
{
	struct yield_until_frame *f = RT_FRAME(base, struct yield_until_frame);

	RT_BEGIN(t, base);
	while (atomic_load(&ticks) < f->ticks)
		RT_YIELD();
	return 1;
}

/*
 * Short steps are never noted, however long the task lives: a task that
 * yields while the watchers look at it 100 times. Its steps take
 * microseconds; the budget, a second, is beyond any preemption.
 */
static void test_short_steps_are_not_noted(void **state)
{
	struct rt_task *tick[2];
	struct rt_runtime *two;

	if (test_online_cpus() < 2)
		skip();	/* the watching worker needs a CPU of its own */
	two = watched_runtime(1000, tick);
	assert_int_equal(TEST_RUN(two, yield_until, struct yield_until_frame,
				  .ticks = atomic_load(&ticks) + 100), 1);
	assert_int_equal(test_stats(two).long_tasks, 0);
	unwatch(two, tick);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_million_foreign_spawns_run_once),
		cmocka_unit_test(test_million_task_spawns_run_once),
		cmocka_unit_test(test_yields_lose_nothing),
		cmocka_unit_test(test_worker_moved_to_another_cpu),
		cmocka_unit_test(test_joins_collect_every_result),
		cmocka_unit_test(test_cross_worker_wakeups),
		cmocka_unit_test(test_sleeps_wake_in_deadline_order),
		cmocka_unit_test(test_cancel_suspended_task),
		cmocka_unit_test(test_cancel_before_start),
		cmocka_unit_test(test_cancel_join_wait),
		cmocka_unit_test(test_cancel_races_completion),
		cmocka_unit_test(test_long_task_is_noted),
		cmocka_unit_test(test_short_steps_are_not_noted),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

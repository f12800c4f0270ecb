// SPDX-License-Identifier: MIT
/*
 * The scheduler under stress: more workers than CPUs (unpinned, so the
 * kernel preempts and migrates them inside critical sections), tasks that
 * yield, spawn and join across workers, and idle workers that must steal.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "rt_test.h"

#define TREES 64
#define FANOUT 8
#define DEPTH 4		/* 8^0 + ... + 8^4 = 4681 tasks a tree */
#define TREE_TASKS 4681

static atomic_long nodes;

struct tree_frame {
	struct rt_frame frame;
	int depth;
	int i;
	struct rt_task *kids[FANOUT];
	int64_t sum;
};

/* Each node yields, spawns FANOUT children, joins them, returns the
 * size of its subtree. */
static RT_ASYNC int64_t tree(struct rt_task *t, struct rt_frame *base)
{
	struct tree_frame *f = RT_FRAME(base, struct tree_frame);
	int64_t r;
	int ret;

	RT_BEGIN(t, base);
	atomic_fetch_add_explicit(&nodes, 1, memory_order_relaxed);
	RT_YIELD();
	if (f->depth == DEPTH)
		return 1;
	for (f->i = 0; f->i < FANOUT; f->i++) {
		ret = RT_SPAWN(rt_task_runtime(t), &f->kids[f->i], tree,
			       struct tree_frame, .depth = f->depth + 1);
		if (ret)
			return ret;
	}
	f->sum = 1;
	for (f->i = 0; f->i < FANOUT; f->i++) {
		RT_JOIN(r, f->kids[f->i]);
		rt_task_release(f->kids[f->i]);
		f->sum += r;
	}
	return f->sum;
}

static void test_oversubscribed_trees(void **state)
{
	long cpus = test_online_cpus();
	unsigned int workers = (unsigned int)(cpus > 0 ? cpus * 4 : 8);
	struct rt_runtime *rt = test_runtime(workers, false);
	struct rt_task *h[TREES];
	struct rt_stats s;

	atomic_store(&nodes, 0);
	for (int i = 0; i < TREES; i++)
		assert_int_equal(RT_SPAWN(rt, &h[i], tree, struct tree_frame,
					  .depth = 0), 0);
	for (int i = 0; i < TREES; i++) {
		int64_t r;

		assert_int_equal(rt_task_join(h[i], &r), 0);
		assert_int_equal(r, TREE_TASKS);
		rt_task_release(h[i]);
	}
	assert_int_equal(rt_runtime_drain(rt), 0);
	s = test_stats(rt);
	assert_int_equal(atomic_load(&nodes), (long)TREES * TREE_TASKS);
	assert_int_equal(s.completed, (uint64_t)TREES * TREE_TASKS);
	assert_int_equal(s.spawned, (uint64_t)TREES * TREE_TASKS);
	assert_int_equal(s.yields, (uint64_t)TREES * TREE_TASKS);
	printf("%u workers on %ld CPUs (%s): %lu steals, %lu stolen, "
	       "%lu rseq aborts, %lu inbox, %lu msg_ring wakes, %lu parks\n",
	       workers, cpus, rt_queue_mode_name(rt_runtime_queue_mode(rt)),
	       (unsigned long)s.steals, (unsigned long)s.stolen,
	       (unsigned long)s.rseq_aborts, (unsigned long)s.inbox,
	       (unsigned long)s.wakes_msg_ring, (unsigned long)s.parks);
	rt_runtime_free(rt);
}

/* ---- work reaches idle workers ------------------------------------------ */

static atomic_long ran_by_other;

struct busy_frame {
	struct rt_frame frame;
	uint64_t ns;
	pthread_t spawner;
};

static void spin_ns(uint64_t ns)
{
	uint64_t end = rt_now_ns() + ns;

	while (rt_now_ns() < end)
		;
}

static RT_ASYNC int64_t busy(struct rt_task *t, struct rt_frame *base)
{
	struct busy_frame *f = RT_FRAME(base, struct busy_frame);

	spin_ns(f->ns);
	if (!pthread_equal(pthread_self(), f->spawner))
		atomic_fetch_add(&ran_by_other, 1);
	return 0;
}

struct feeder_frame {
	struct rt_frame frame;
	int n, i;
	bool hog;	/* keep the worker after spawning */
};

static RT_ASYNC int64_t feeder(struct rt_task *t, struct rt_frame *base)
{
	struct feeder_frame *f = RT_FRAME(base, struct feeder_frame);
	int ret;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		ret = RT_SPAWN(rt_task_runtime(t), NULL, busy,
			       struct busy_frame, .ns = 2000,
			       .spawner = pthread_self());
		if (ret)
			return ret;
		if (!f->hog && f->i % 512 == 511)
			RT_YIELD();
	}
	if (f->hog)
		spin_ns(100000000);	/* never back at the loop for 100 ms */
	return 0;
}

static struct rt_stats run_feeder(int n, bool hog)
{
	struct rt_runtime *rt = test_runtime(2, true);
	struct rt_stats s;

	atomic_store(&ran_by_other, 0);
	assert_int_equal(TEST_RUN(rt, feeder, struct feeder_frame, .n = n,
				  .hog = hog), 0);
	assert_int_equal(rt_runtime_drain(rt), 0);
	s = test_stats(rt);
	assert_int_equal(s.completed, (uint64_t)n + 1);
	printf("%s: steals %lu, stolen %lu, donated %lu, run elsewhere %ld of %d\n",
	       hog ? "owner stuck" : "owner busy", (unsigned long)s.steals,
	       (unsigned long)s.stolen, (unsigned long)s.donated,
	       atomic_load(&ran_by_other), n);
	rt_runtime_free(rt);
	return s;
}

/* A busy owner hands work over at its batch boundaries (no IPI). */
static void test_busy_worker_shares(void **state)
{
	struct rt_stats s;

	if (test_online_cpus() < 2)
		skip();	/* the idle worker needs a CPU of its own */
	s = run_feeder(20000, false);
	/* Everything was pushed on the feeder's CPU: another worker could
	 * only get it by donation or steal (nothing overflowed). */
	assert_int_equal(s.overflows, 0);
	assert_true(atomic_load(&ran_by_other) > 0);
	assert_true(atomic_load(&ran_by_other) <= (long)(s.stolen + s.donated));
}

/* An owner stuck in a long task never donates: the idle worker must take
 * the queue by a fenced steal, and runs every queued task itself. */
static void test_stuck_worker_is_robbed(void **state)
{
	struct rt_stats s;

	if (test_online_cpus() < 2)
		skip();
	s = run_feeder(100, true);
	assert_true(s.steals > 0);
	assert_int_equal(s.donated, 0);
	assert_int_equal(s.stolen, 100);
	assert_int_equal(atomic_load(&ran_by_other), 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oversubscribed_trees),
		cmocka_unit_test(test_busy_worker_shares),
		cmocka_unit_test(test_stuck_worker_is_robbed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

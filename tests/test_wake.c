// SPDX-License-Identifier: MIT
/*
 * Waking workers (runtime/park.c): the method in use, wakes that fail
 * and fall back to the eventfd, a doorbell that cannot be armed. The
 * whole suite also runs with RTASYNC_WAKE=eventfd (suite "eventfd").
 */
#include <pthread.h>
#include <stdatomic.h>

#include "internal.h"
#include "rt_test.h"

#define TREES 50
#define LEAVES 64

static atomic_uint leaves_ran;

struct leaf_frame {
	struct rt_frame frame;
};

static RT_ASYNC int64_t leaf(struct rt_task *t, struct rt_frame *base)
{
	RT_BEGIN(t, base);
	atomic_fetch_add(&leaves_ran, 1);
	return 1;
}

/*
 * Spawns its leaves and waits: the peer is asleep by then, so a spawn
 * from inside this step rings it, and the leaves spread to it.
 */
struct tree_frame {
	struct rt_frame frame;
	struct rt_task *kids[LEAVES];
	int i;
	int64_t sum;
};

static RT_ASYNC int64_t tree(struct rt_task *t, struct rt_frame *base)
{
	struct tree_frame *f = RT_FRAME(base, struct tree_frame);
	int64_t r;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < LEAVES; f->i++) {
		int err = RT_SPAWN(rt_task_runtime(t), &f->kids[f->i], leaf,
				   struct leaf_frame);

		if (err)
			return err;
	}
	for (f->i = 0; f->i < LEAVES; f->i++) {
		RT_JOIN(r, f->kids[f->i]);
		f->sum += r;
		rt_task_release(f->kids[f->i]);
	}
	return f->sum;
}

/* Wait until every worker of rt is parked: nothing runs anywhere. */
static void wait_all_parked(struct rt_runtime *rt)
{
	for (;;) {
		unsigned int n = 0;

		for (unsigned int i = 0; i < rt->nworkers; i++)
			n += atomic_load(&rt->workers[i].parked);
		if (n == rt->nworkers)
			return;
		usleep(200);
	}
}

/* TREES trees, each started while every worker sleeps. */
static void run_trees(struct rt_runtime *rt)
{
	atomic_store(&leaves_ran, 0);
	for (int i = 0; i < TREES; i++) {
		wait_all_parked(rt);
		assert_int_equal(TEST_RUN(rt, tree, struct tree_frame, .i = 0),
				 LEAVES);
	}
	assert_int_equal(rt_runtime_drain(rt), 0);
	assert_int_equal(atomic_load(&leaves_ran), TREES * LEAVES);
}

static bool forced_eventfd(void)
{
	const char *env = getenv("RTASYNC_WAKE");

	return env && !strcmp(env, "eventfd");
}

static void test_wake_method_reported(void **state)
{
	struct rt_runtime *rt = test_runtime(1, false);
	const char *m = rt_runtime_wake_method(rt);

	(void)state;
	assert_non_null(m);
	if (forced_eventfd())
		assert_string_equal(m, "eventfd: RTASYNC_WAKE=eventfd");
	else
		assert_string_equal(m, "msg_ring: IORING_OP_MSG_RING supported");
	assert_null(rt_runtime_wake_method(NULL));
	rt_runtime_free(rt);
}

/* A spawn from inside a step, with the peer asleep, rings the peer. */
static void test_spawn_in_step_rings_sleeper(void **state)
{
	struct rt_runtime *rt;
	struct rt_stats s;

	(void)state;
	if (test_online_cpus() < 2)
		skip();		/* the peer needs a CPU of its own */
	rt = test_runtime(2, true);
	run_trees(rt);
	s = test_stats(rt);
	assert_int_equal(s.wake_failures, 0);
	if (forced_eventfd()) {
		assert_int_equal(s.wakes_msg_ring, 0);
	} else {
		assert_true(s.wakes_msg_ring >= 1);
	}
	rt_runtime_free(rt);
}

/*
 * Every MSG_RING goes to an fd the kernel refuses: each failure CQE is
 * seen, counted and answered with the eventfd, and no wake-up is lost
 * (every tree completes, drain returns).
 */
static void test_failed_wakes_fall_back(void **state)
{
	uint64_t injected = rt_fault_count(RT_FAULT_WAKE);
	struct rt_runtime *rt;
	struct rt_stats s;

	(void)state;
	if (test_online_cpus() < 2)
		skip();		/* the peer needs a CPU of its own */
	if (forced_eventfd())
		skip();		/* no MSG_RING is sent to fail */
	rt = test_runtime(2, true);
	rt_fault_set(RT_FAULT_WAKE, 1);
	run_trees(rt);
	rt_fault_set(RT_FAULT_WAKE, 0);
	s = test_stats(rt);
	injected = rt_fault_count(RT_FAULT_WAKE) - injected;
	assert_true(injected >= 1);
	assert_int_equal(s.wake_failures, injected);
	assert_int_equal(s.wakes_msg_ring, injected);
	/* -EBADF is no reason to give MSG_RING up */
	assert_string_equal(rt_runtime_wake_method(rt),
			    "msg_ring: IORING_OP_MSG_RING supported");
	rt_runtime_free(rt);
}

/*
 * No SQE is ever to be had: the doorbell cannot be armed, wakes cannot
 * be sent by MSG_RING. Workers then sleep in short slices and wakes go
 * by eventfd alone; foreign spawns and trees still all run.
 */
static void test_no_sqe_for_doorbell(void **state)
{
	uint64_t injected = rt_fault_count(RT_FAULT_SQE);
	struct rt_runtime *rt;
	struct rt_stats s;

	(void)state;
	rt_fault_set(RT_FAULT_SQE, 1);
	rt = test_runtime(2, false);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(RT_SPAWN(rt, NULL, leaf, struct leaf_frame), 0);
	assert_int_equal(rt_runtime_drain(rt), 0);
	run_trees(rt);
	s = test_stats(rt);
	rt_fault_set(RT_FAULT_SQE, 0);
	assert_true(rt_fault_count(RT_FAULT_SQE) - injected >= 2);
	assert_int_equal(s.wakes_msg_ring, 0);
	rt_runtime_free(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wake_method_reported),
		cmocka_unit_test(test_spawn_in_step_rings_sleeper),
		cmocka_unit_test(test_failed_wakes_fall_back),
		cmocka_unit_test(test_no_sqe_for_doorbell),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

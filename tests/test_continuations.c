// SPDX-License-Identifier: MIT
/*
 * The stackless toolkit: synchronous async calls, deep recursion without C
 * recursion, error propagation by flag, arena chunks, awaits in a switch.
 * One worker, so the stats deltas are exact.
 */
#include "rt_test.h"

static struct rt_runtime *rt;

static int setup(void **state)
{
	rt = test_runtime(1, true);
	return 0;
}

static int teardown(void **state)
{
	rt_runtime_free(rt);
	return 0;
}

/* ---- synchronous calls ------------------------------------------------ */

struct add_frame {
	struct rt_frame frame;
	int64_t a, b;
};

static RT_ASYNC int64_t add(struct rt_task *t, struct rt_frame *base)
{
	struct add_frame *f = RT_FRAME(base, struct add_frame);

	return f->a + f->b;
}

struct sum_frame {
	struct rt_frame frame;
	int n, i;
	int64_t acc;
	char *top_before;
	char *top_after;
};

static RT_ASYNC int64_t sum_loop(struct rt_task *t, struct rt_frame *base)
{
	struct sum_frame *f = RT_FRAME(base, struct sum_frame);
	int64_t r;

	RT_BEGIN(t, base);
	f->top_before = rt__head(t)->arena_top;
	for (f->i = 1; f->i <= f->n; f->i++) {
		RT_CALL(r, add, struct add_frame, .a = f->acc, .b = f->i);
		f->acc = r;
	}
	f->top_after = rt__head(t)->arena_top;
	return f->top_after == f->top_before ? f->acc : -EFAULT;
}

static void test_sync_calls_touch_no_queue(void **state)
{
	struct rt_stats before = test_stats(rt), after;
	int64_t r = TEST_RUN(rt, sum_loop, struct sum_frame, .n = 10000);

	assert_int_equal(r, 10000LL * 10001 / 2);
	after = test_stats(rt);
	/* one step, no suspension: 10,000 calls never left the task */
	assert_int_equal(after.resumes - before.resumes, 1);
	assert_int_equal(after.suspends - before.suspends, 0);
	assert_int_equal(after.completed - before.completed, 1);
}

/* ---- deep recursion ---------------------------------------------------- */

struct deep_frame {
	struct rt_frame frame;
	int n;
	bool suspend;
};

static RT_ASYNC int64_t deep(struct rt_task *t, struct rt_frame *base)
{
	struct deep_frame *f = RT_FRAME(base, struct deep_frame);
	int64_t r;

	RT_BEGIN(t, base);
	if (f->n == 0) {
		if (f->suspend)
			RT_SLEEP(1000000);
		return 0;
	}
	RT_CALL(r, deep, struct deep_frame, .n = f->n - 1,
		.suspend = f->suspend);
	return r + 1;
}

static void check_deep(bool suspend)
{
	struct rt_stats before = test_stats(rt), after;
	int64_t r = TEST_RUN(rt, deep, struct deep_frame, .n = 100000,
			     .suspend = suspend);

	assert_int_equal(r, 100000);
	after = test_stats(rt);
	/* the C stack was unwound and the chain resumed from the loop */
	assert_true(after.trampolines - before.trampolines > 0);
	assert_int_equal(after.completed - before.completed, 1);
}

static void test_deep_recursion_sync(void **state)
{
	check_deep(false);
}

static void test_deep_recursion_suspended(void **state)
{
	check_deep(true);
}

/* ---- error propagation -------------------------------------------------- */

#define CHAIN 8
static int after_call[CHAIN + 1];	/* times code after the await ran */
static int64_t caught[CHAIN + 1];

struct chain_frame {
	struct rt_frame frame;
	int depth;
	int catch_at;
	bool suspend;
};

static RT_ASYNC int64_t chain(struct rt_task *t, struct rt_frame *base)
{
	struct chain_frame *f = RT_FRAME(base, struct chain_frame);
	int64_t r;

	RT_BEGIN(t, base);
	if (f->depth == CHAIN) {
		if (f->suspend)
			RT_YIELD();
		return -EIO;
	}
	if (f->depth == f->catch_at)
		RT_CATCH(true);
	RT_CALL(r, chain, struct chain_frame, .depth = f->depth + 1,
		.catch_at = f->catch_at, .suspend = f->suspend);
	after_call[f->depth]++;
	if (r < 0) {
		caught[f->depth] = r;
		return 42;	/* handled: callers see a value */
	}
	return r + 1;
}

static void check_chain(int catch_at, bool suspend, int64_t want)
{
	int64_t r;

	memset(after_call, 0, sizeof(after_call));
	memset(caught, 0, sizeof(caught));
	r = TEST_RUN(rt, chain, struct chain_frame, .depth = 0,
		     .catch_at = catch_at, .suspend = suspend);
	assert_int_equal(r, want);
	for (int d = 0; d < CHAIN; d++) {
		/* frames between the thrower and the catcher never resume */
		int ran = catch_at >= 0 && d <= catch_at;

		assert_int_equal(after_call[d], ran);
		assert_int_equal(caught[d], d == catch_at ? -EIO : 0);
	}
}

static void test_error_skips_unflagged_frames(void **state)
{
	check_chain(-1, false, -EIO);
	check_chain(-1, true, -EIO);
}

static void test_error_resumes_nearest_catch(void **state)
{
	/* frame 3 catches and returns 42; frames 2..0 add one each */
	check_chain(3, false, 45);
	check_chain(3, true, 45);
	check_chain(CHAIN - 1, true, 42 + CHAIN - 1);
	check_chain(0, true, 42);
}

/* ---- big frames across arena chunks ------------------------------------ */

struct big_frame {
	struct rt_frame frame;
	int depth;
	uint32_t fill[1000];
};

static RT_ASYNC int64_t big(struct rt_task *t, struct rt_frame *base)
{
	struct big_frame *f = RT_FRAME(base, struct big_frame);
	int64_t r = 0;

	RT_BEGIN(t, base);
	for (int i = 0; i < 1000; i++)
		f->fill[i] = (uint32_t)(f->depth * 1000 + i);
	if (f->depth < 40)
		RT_CALL(r, big, struct big_frame, .depth = f->depth + 1);
	else
		RT_YIELD();
	/* our locals survived the callee and the suspension */
	for (int i = 0; i < 1000; i++)
		if (f->fill[i] != (uint32_t)(f->depth * 1000 + i))
			return -EFAULT;
	return r + 1;
}

struct big_root {
	struct rt_frame frame;
	int64_t a;
};

static RT_ASYNC int64_t big_twice(struct rt_task *t, struct rt_frame *base)
{
	struct big_root *f = RT_FRAME(base, struct big_root);
	int64_t b;

	RT_BEGIN(t, base);
	RT_CALL(f->a, big, struct big_frame, .depth = 0);
	/* the second descent reuses the spare chunk */
	RT_CALL(b, big, struct big_frame, .depth = 0);
	return f->a * 1000 + b;
}

static void test_frames_span_chunks(void **state)
{
	assert_int_equal(TEST_RUN(rt, big_twice, struct big_root), 41041);
}

/* ---- an await inside a switch ------------------------------------------ */

struct sw_frame {
	struct rt_frame frame;
	int state;
	int64_t acc;
};

static RT_ASYNC int64_t in_switch(struct rt_task *t, struct rt_frame *base)
{
	struct sw_frame *f = RT_FRAME(base, struct sw_frame);
	int64_t r;

	RT_BEGIN(t, base);
	for (f->state = 0; f->state < 4; f->state++) {
		switch (f->state) {
		case 0:
			RT_YIELD();
			f->acc += 1;
			break;
		case 1:
			RT_CALL(r, add, struct add_frame, .a = 10, .b = 0);
			f->acc += r;	/* C locals do not live across awaits */
			RT_YIELD();
			break;
		case 2:
			RT_SLEEP(1000);
			f->acc += 100;
			break;
		default:
			f->acc += 1000;
		}
	}
	return f->acc;
}

static void test_await_inside_switch(void **state)
{
	struct rt_stats before = test_stats(rt), after;

	assert_int_equal(TEST_RUN(rt, in_switch, struct sw_frame), 1111);
	after = test_stats(rt);
	assert_int_equal(after.yields - before.yields, 2);
	assert_int_equal(after.suspends - before.suspends, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_calls_touch_no_queue),
		cmocka_unit_test(test_deep_recursion_sync),
		cmocka_unit_test(test_deep_recursion_suspended),
		cmocka_unit_test(test_error_skips_unflagged_frames),
		cmocka_unit_test(test_error_resumes_nearest_catch),
		cmocka_unit_test(test_frames_span_chunks),
		cmocka_unit_test(test_await_inside_switch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

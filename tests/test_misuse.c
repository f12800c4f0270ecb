// SPDX-License-Identifier: MIT
/*
 * Misuse gets a clear negative errno and leaves the runtime working.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>

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

static void test_bad_config(void **state)
{
	struct rt_runtime *out = NULL;
	struct rt_config cfg;

	assert_int_equal(rt_runtime_new(NULL, NULL), -EINVAL);
	rt_config_init(&cfg);
	cfg.workers = 0;
	assert_int_equal(rt_runtime_new(&cfg, &out), -EINVAL);
	cfg.workers = RT_MAX_WORKERS + 1;
	assert_int_equal(rt_runtime_new(&cfg, &out), -EINVAL);
	rt_config_init(&cfg);
	cfg.queue_size = 1000;		/* not a power of two */
	assert_int_equal(rt_runtime_new(&cfg, &out), -EINVAL);
	rt_config_init(&cfg);
	cfg.task_arena = 100;		/* not in 16-byte granules */
	assert_int_equal(rt_runtime_new(&cfg, &out), -EINVAL);
	rt_config_init(&cfg);
	cfg.ring_entries = 0;
	assert_int_equal(rt_runtime_new(&cfg, &out), -EINVAL);
	assert_null(out);
	check_still_works(rt);
}

static void test_null_arguments(void **state)
{
	struct value_frame f = { .v = 1 };
	struct rt_task *h;

	assert_int_equal(rt_task_spawn(NULL, value, &f.frame, sizeof(f), &h),
			 -EINVAL);
	assert_int_equal(rt_task_spawn(rt, NULL, &f.frame, sizeof(f), &h),
			 -EINVAL);
	assert_int_equal(rt_task_spawn(rt, value, NULL, sizeof(f), &h),
			 -EINVAL);
	assert_int_equal(rt_task_spawn(rt, value, &f.frame, 4, &h), -EINVAL);
	assert_int_equal(rt_task_join(NULL, NULL), -EINVAL);
	assert_int_equal(rt_task_cancel(NULL), -EINVAL);
	assert_int_equal(rt_runtime_stats(rt, NULL), -EINVAL);
	assert_int_equal(rt_runtime_stats(NULL, NULL), -EINVAL);
	assert_int_equal(rt_runtime_drain(NULL), -EINVAL);
	assert_int_equal(rt_runtime_shutdown(NULL), -EINVAL);
	assert_int_equal(rt_runtime_workers(NULL), -EINVAL);
	assert_null(rt_task_runtime(NULL));
	assert_false(rt_task_done(NULL));
	rt_task_release(NULL);
	rt_runtime_free(NULL);
	check_still_works(rt);
}

static void test_await_outside_a_task(void **state)
{
	struct rt_task *h;
	int64_t r;

	assert_int_equal(rt_op_yield(NULL), -EINVAL);
	assert_int_equal(RT_SPAWN(rt, &h, value, struct value_frame, .v = 3), 0);
	/* a valid task, but not the one running on this thread */
	assert_int_equal(rt_op_yield(h), -EPERM);
	assert_int_equal(rt_op_sleep(h, 1000), -EPERM);
	assert_int_equal(rt_op_sleep_until(h, 0), -EPERM);
	assert_int_equal(rt_op_join(h, h), -EPERM);
	assert_null(rt_task_current());
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, 3);
	rt_task_release(h);
	check_still_works(rt);
}

static void test_join_twice(void **state)
{
	struct rt_task *h;
	int64_t r = 0;

	assert_int_equal(RT_SPAWN(rt, &h, value, struct value_frame, .v = 5), 0);
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, 5);
	assert_true(rt_task_done(h));
	r = 0;
	assert_int_equal(rt_task_join(h, &r), -EALREADY);
	assert_int_equal(r, 0);
	rt_task_release(h);
	check_still_works(rt);
}

/* Misuse from inside a task; results land in a struct the test reads. */
struct inside_results {
	struct rt_task *kid;
	int64_t got[7];
};

struct inside_frame {
	struct rt_frame frame;
	struct inside_results *res;
};

static RT_ASYNC int64_t inside(struct rt_task *t, struct rt_frame *base)
{
	struct inside_frame *f = RT_FRAME(base, struct inside_frame);
	struct rt_runtime *own = rt_task_runtime(t);
	int64_t r;

	RT_BEGIN(t, base);
	f->res->got[0] = rt_task_join(f->res->kid, NULL); /* blocks a worker */
	f->res->got[1] = rt_runtime_drain(own);
	f->res->got[2] = rt_runtime_shutdown(own);
	f->res->got[3] = rt_op_join(t, t);		/* joining yourself */
	RT_CATCH(true);
	RT_JOIN(r, f->res->kid);
	f->res->got[4] = r;
	RT_JOIN(r, f->res->kid);			/* a second join */
	f->res->got[5] = r;
	f->res->got[6] = rt_task_current() == t;
	return 0;
}

static void test_misuse_inside_a_task(void **state)
{
	struct inside_results res = { .kid = NULL };

	assert_int_equal(RT_SPAWN(rt, &res.kid, value, struct value_frame,
				  .v = 11), 0);
	assert_int_equal(TEST_RUN(rt, inside, struct inside_frame,
				  .res = &res), 0);
	assert_int_equal(res.got[0], -EDEADLK);
	assert_int_equal(res.got[1], -EDEADLK);
	assert_int_equal(res.got[2], -EDEADLK);
	assert_int_equal(res.got[3], -EDEADLK);
	assert_int_equal(res.got[4], 11);
	assert_int_equal(res.got[5], -EALREADY);
	assert_int_equal(res.got[6], 1);
	rt_task_release(res.kid);
	check_still_works(rt);
}

static void test_spawn_after_shutdown(void **state)
{
	struct rt_runtime *r2 = test_runtime(1, true);
	struct rt_task *h = NULL;

	check_still_works(r2);
	assert_int_equal(rt_runtime_shutdown(r2), 0);
	assert_int_equal(rt_runtime_shutdown(r2), 0);	/* idempotent */
	assert_int_equal(RT_SPAWN(r2, &h, value, struct value_frame, .v = 1),
			 -ESHUTDOWN);
	assert_null(h);
	rt_runtime_free(r2);
	check_still_works(rt);
}

static bool rseq_disabled_by_env(void)
{
	const char *t = getenv("GLIBC_TUNABLES");

	return t && strstr(t, "glibc.pthread.rseq=0");
}

static void test_queue_mode_detection(void **state)
{
	struct rt_runtime *r2 = NULL;
	struct rt_config cfg;
	int ret;

	rt_config_init(&cfg);
	cfg.workers = 1;
	cfg.queue_mode = RT_QUEUE_RSEQ;
	ret = rt_runtime_new(&cfg, &r2);
	if (rseq_disabled_by_env()) {
		assert_int_equal(ret, -ENOTSUP);
		assert_int_equal(rt_runtime_queue_mode(rt), RT_QUEUE_ATOMIC);
	} else {
		assert_int_equal(ret, 0);
		assert_int_equal(rt_runtime_queue_mode(r2), RT_QUEUE_RSEQ);
		assert_int_equal(rt_runtime_queue_mode(rt), RT_QUEUE_RSEQ);
		rt_runtime_free(r2);
	}
	printf("queue mode: %s (%s), ring: %s\n",
	       rt_queue_mode_name(rt_runtime_queue_mode(rt)),
	       rt_runtime_queue_reason(rt), rt_runtime_ring_flags(rt));
	cfg.queue_mode = RT_QUEUE_ATOMIC;
	assert_int_equal(rt_runtime_new(&cfg, &r2), 0);
	assert_int_equal(rt_runtime_queue_mode(r2), RT_QUEUE_ATOMIC);
	check_still_works(r2);
	rt_runtime_free(r2);
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
 * With no file descriptor left, starting a runtime fails with -EMFILE,
 * leaks nothing, and works again once descriptors are back.
 */
static void test_fd_exhaustion(void **state)
{
	struct rt_runtime *r2 = NULL;
	struct rlimit old, low;
	int before = open_fds(), ret;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)before;	/* every further open fails */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	ret = rt_runtime_new(NULL, &r2);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(ret, -EMFILE);
	assert_null(r2);
	assert_int_equal(open_fds(), before);
	check_still_works(rt);
	assert_int_equal(rt_runtime_new(NULL, &r2), 0);
	check_still_works(r2);
	rt_runtime_free(r2);
	assert_int_equal(open_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_null_arguments),
		cmocka_unit_test(test_await_outside_a_task),
		cmocka_unit_test(test_join_twice),
		cmocka_unit_test(test_misuse_inside_a_task),
		cmocka_unit_test(test_spawn_after_shutdown),
		cmocka_unit_test(test_queue_mode_detection),
		cmocka_unit_test(test_fd_exhaustion),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/* Helpers shared by the cmocka tests. */
#ifndef RT_TEST_H
#define RT_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "rtasync.h"

/* A runtime with n workers (0: the default count). */
static inline struct rt_runtime *test_runtime(unsigned int workers, bool pin)
{
	struct rt_runtime *rt = NULL;
	struct rt_config cfg;

	rt_config_init(&cfg);
	if (workers)
		cfg.workers = workers;
	cfg.pin = pin;
	assert_int_equal(rt_runtime_new(&cfg, &rt), 0);
	return rt;
}

static inline struct rt_stats test_stats(struct rt_runtime *rt)
{
	struct rt_stats s;

	assert_int_equal(rt_runtime_stats(rt, &s), 0);
	return s;
}

/* Spawn with a handle and join from this (foreign) thread. */
#define TEST_RUN(rt, fn, ftype, ...)					\
	({								\
		struct rt_task *h_ = NULL;				\
		int64_t res_ = INT64_MIN;				\
		assert_int_equal(RT_SPAWN((rt), &h_, (fn), ftype,	\
					  __VA_ARGS__), 0);		\
		assert_int_equal(rt_task_join(h_, &res_), 0);		\
		rt_task_release(h_);					\
		res_;							\
	})

/* A task that returns its frame's value. */
struct value_frame {
	struct rt_frame frame;
	int64_t v;
};

static RT_ASYNC __attribute__((unused)) int64_t
value(struct rt_task *t, struct rt_frame *base)
{
	(void)t;
	return RT_FRAME(base, struct value_frame)->v;
}

/* The runtime still runs tasks after a misuse. */
static inline void check_still_works(struct rt_runtime *r)
{
	assert_int_equal(TEST_RUN(r, value, struct value_frame, .v = 7), 7);
}

/* Byte k of test data number seed: every byte checkable on its own. */
static inline uint8_t test_pattern(uint32_t seed, size_t k)
{
	return (uint8_t)(seed * 131u + k * 7u + (k >> 8));
}

/* A listener on 127.0.0.1 and an ephemeral port; *a is its address. */
static inline int test_listen(struct sockaddr_in *a, int backlog)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)a, &len), 0);
	return fd;
}

static inline int test_listener(struct sockaddr_in *a)
{
	return test_listen(a, 1024);
}

static inline long test_online_cpus(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN);
}

#endif /* RT_TEST_H */

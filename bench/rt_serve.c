// SPDX-License-Identifier: MIT
/*
 * Acceptor tasks and the process around them (see rt_serve.h).
 *
 * An acceptor is a continuation, or a fiber for a server of fibers
 * (rtasync-httpd --fibers): two loops of a few lines around one
 * accepted(), which decides what an accept's result means, so both
 * kinds behave alike. A multishot accept would feed the same loops.
 *
 * An acceptor that runs out of descriptors (EMFILE, ENFILE) or kernel
 * memory sleeps ACCEPT_BACKOFF_NS before it tries again instead of
 * spinning on the error, and the connection waits in the listen backlog
 * meanwhile: the server recovers once descriptors free up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_serve.h"

#define ACCEPT_BACKOFF_NS 10000000u	/* 10 ms */

/* One acceptor, either kind; rt_serve_main() owns it. */
struct acceptor {
	struct rt_runtime *rt;
	struct rt_task *task;
	rt_serve_spawn_fn spawn;
	int lfd;
	int64_t accepted, backoffs;	/* read once the task is joined */
};

enum accept_next { ACCEPT_AGAIN, ACCEPT_BACKOFF, ACCEPT_STOP };

static bool out_of_resources(int64_t err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS ||
	       err == -ENOMEM;
}

/* What an accept's result means, to an acceptor of either kind. */
static enum accept_next accepted(struct acceptor *a, int64_t fd)
{
	if (fd >= 0) {
		a->accepted++;
		if (a->spawn(a->rt, (int)fd) < 0)
			close((int)fd);
		return ACCEPT_AGAIN;
	}
	if (fd == -ECANCELED)
		return ACCEPT_STOP;
	if (out_of_resources(fd)) {
		a->backoffs++;
		return ACCEPT_BACKOFF;
	}
	/* ECONNABORTED and the like: that connection only */
	return ACCEPT_AGAIN;
}

struct acceptor_frame {
	struct rt_frame frame;
	struct acceptor *a;
};

static RT_ASYNC int64_t acceptor(struct rt_task *t, struct rt_frame *base)
{
	struct acceptor_frame *f = RT_FRAME(base, struct acceptor_frame);
	int64_t fd;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	for (;;) {
		RT_AWAIT(fd, rt_op_accept(t, f->a->lfd, NULL, NULL, RT_NEVER));
		switch (accepted(f->a, fd)) {
		case ACCEPT_STOP:
			return 0;
		case ACCEPT_BACKOFF:
			RT_SLEEP(ACCEPT_BACKOFF_NS);
			break;
		case ACCEPT_AGAIN:
			break;
		}
	}
}

/* The same acceptor as blocking-style C, for servers of fibers. */
static int64_t fiber_acceptor(void *arg)
{
	struct acceptor *a = arg;

	for (;;) {
		switch (accepted(a, rt_accept(a->lfd, NULL, NULL))) {
		case ACCEPT_STOP:
			return 0;
		case ACCEPT_BACKOFF:
			/* cancelled: the next accept says so */
			rt_sleep(ACCEPT_BACKOFF_NS);
			break;
		case ACCEPT_AGAIN:
			break;
		}
	}
}

static void print_stats(struct rt_runtime *rt, const char *name,
			int64_t accepted)
{
	struct rt_stats s;

	if (rt_runtime_stats(rt, &s))
		return;
	fprintf(stderr, "%s: %lld connections; I/O ops %llu submitted, %llu "
		"completed, %llu timed out, %llu cancelled; %llu parks; %llu "
		"CQ overflows\n", name, (long long)accepted,
		(unsigned long long)s.io_submitted,
		(unsigned long long)s.io_completed,
		(unsigned long long)s.io_timeouts,
		(unsigned long long)s.io_cancelled,
		(unsigned long long)s.parks,
		(unsigned long long)s.cq_overflows);
}

static int start_acceptors(struct rt_runtime *rt, int lfd,
			   rt_serve_spawn_fn spawn, bool fibers,
			   struct acceptor *acc, int n)
{
	for (int i = 0; i < n; i++) {
		struct acceptor *a = &acc[i];
		int ret;

		*a = (struct acceptor){ .rt = rt, .spawn = spawn, .lfd = lfd };
		if (fibers)
			ret = rt_fiber_spawn(rt, fiber_acceptor, a, 0,
					     &a->task);
		else
			ret = RT_SPAWN(rt, &a->task, acceptor,
				       struct acceptor_frame, .a = a);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Cancel and join the acceptors: how many connections they took. */
static int64_t stop_acceptors(struct acceptor *acc, int n)
{
	int64_t total = 0, r;

	for (int i = 0; i < n && acc[i].task; i++) {
		rt_task_cancel(acc[i].task);
		if (!rt_task_join(acc[i].task, &r))
			total += acc[i].accepted;
		rt_task_release(acc[i].task);
	}
	return total;
}

int rt_serve_main(const struct srv_opts *o, const char *name,
		  rt_serve_spawn_fn spawn)
{
	struct acceptor acc[RT_MAX_WORKERS] = { 0 };
	struct rt_runtime *rt;
	struct rt_config cfg;
	int lfd, ret, n;

	srv_signals_init();
	lfd = srv_listen(o, name, false);
	rt_config_init(&cfg);
	if (o->workers)
		cfg.workers = o->workers;
	cfg.pin = true;
	if (o->spin_us >= 0)
		cfg.spin_us = (unsigned int)o->spin_us;
	if (o->io_spin_us >= 0)
		cfg.io_spin_us = (unsigned int)o->io_spin_us;
	ret = rt_runtime_new(&cfg, &rt);
	if (ret < 0) {
		fprintf(stderr, "%s: rt_runtime_new: %s\n", name, strerror(-ret));
		return ret;
	}
	n = rt_runtime_workers(rt);
	ret = start_acceptors(rt, lfd, spawn, o->fibers, acc, n);
	if (ret < 0) {
		fprintf(stderr, "%s: spawn: %s\n", name, strerror(-ret));
		return ret;
	}
	srv_wait_stop();
	print_stats(rt, name, stop_acceptors(acc, n));
	/*
	 * Connections are detached tasks, some idle in a keep-alive wait:
	 * the process ends with them, as a server's does.
	 */
	fflush(NULL);
	_exit(0);
}

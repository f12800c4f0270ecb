/* SPDX-License-Identifier: MIT */
/*
 * rtasync-tracer-workload: one librtasync workload in a process of its
 * own, for rtasync-threadcost's "runtime" topic to time with and without
 * the tracer's parts. Built twice: against librtasync, and against
 * librtasync-nocounters (RT_NO_COUNTERS: no always-on counters, site
 * counts or event rings).
 *
 *   rtasync-tracer-workload WORKLOAD N [events | ab [PAIRS]]
 *
 *   yield N   one task yields N times on one worker: ns per yield
 *   spawn N   a task spawns N trivial tasks on one worker: ns per task
 *   timer N   N tasks sleep 1 ms each on the default workers: CPU ns
 *             per wait (the time is all sleep, so CPU is what moves)
 *   io N      two tasks on one worker pass 8 bytes back and forth N
 *             times through two pipes, with io_uring reads and writes;
 *             each read waits for the other's write: CPU ns per wait
 *
 * Protocol: prints "ready" once set up and warmed, waits for a byte on
 * stdin (time to attach an observer or switch event recording on),
 * measures five rounds and prints "value=<median>".
 *
 * With "events" the process switches event recording on in its own trace
 * area, as rtasync-trace would from outside: for runs under callgrind
 * (bench/rtcost-callgrind.sh), where no tool attaches. With "ab [PAIRS]"
 * it runs PAIRS (default 11) rounds with events off and as many with them
 * on, alternating, and prints both medians, their ratio, and the median
 * and quartiles of the ratios of adjacent rounds: an in-run comparison,
 * both variants under the same machine load.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rtasync.h"
#include "rtasync-trace.h"
#include "trace_self.h"

#define ROUNDS 5
#define AB_ROUNDS 11	/* per variant, in "ab" mode, by default */

struct yield_frame {
	struct rt_frame frame;
	long n, i;
};

static RT_ASYNC int64_t yielder(struct rt_task *t, struct rt_frame *base)
{
	struct yield_frame *f = RT_FRAME(base, struct yield_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++)
		RT_YIELD();
	return 0;
}

struct leaf_frame {
	struct rt_frame frame;
};

static RT_ASYNC int64_t leaf(struct rt_task *t, struct rt_frame *base)
{
	return 0;
}

static RT_ASYNC int64_t spawner(struct rt_task *t, struct rt_frame *base)
{
	struct yield_frame *f = RT_FRAME(base, struct yield_frame);
	int ret;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		ret = RT_SPAWN(rt_task_runtime(t), NULL, leaf,
			       struct leaf_frame);
		if (ret)
			return ret;
		if (f->i % 256 == 255)
			RT_YIELD();	/* let them run */
	}
	return 0;
}

struct nap_frame {
	struct rt_frame frame;
};

static RT_ASYNC int64_t nap(struct rt_task *t, struct rt_frame *base)
{
	RT_BEGIN(t, base);
	RT_SLEEP(1000000);
	return 0;
}

/* One side of the io workload: reads wait for the other side's write. */
struct pong_frame {
	struct rt_frame frame;
	int rfd, wfd;
	bool serve;		/* read first */
	long n, i;
	uint64_t v;
	int64_t r;
};

static RT_ASYNC int64_t ponger(struct rt_task *t, struct rt_frame *base)
{
	struct pong_frame *f = RT_FRAME(base, struct pong_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		if (!f->serve || f->i) {
			RT_WRITE(f->r, f->wfd, &f->v, sizeof(f->v), -1);
			if (f->r != sizeof(f->v))
				return f->r < 0 ? f->r : -EIO;
		}
		RT_READ(f->r, f->rfd, &f->v, sizeof(f->v), -1);
		if (f->r != sizeof(f->v))
			return f->r < 0 ? f->r : -EIO;
	}
	if (f->serve)	/* the last answer */
		RT_WRITE(f->r, f->wfd, &f->v, sizeof(f->v), -1);
	return 0;
}

/* n round trips: 2n reads that wait. */
static int run_pingpong(struct rt_runtime *rt, long n)
{
	int a[2], b[2], ret;
	struct rt_task *h[2];
	int64_t r[2] = { 0, 0 };

	if (pipe2(a, O_CLOEXEC))
		return -errno;
	if (pipe2(b, O_CLOEXEC)) {
		ret = -errno;
		goto out_a;
	}
	ret = RT_SPAWN(rt, &h[0], ponger, struct pong_frame, .rfd = a[0],
		       .wfd = b[1], .serve = true, .n = n);
	if (ret)
		goto out_b;
	ret = RT_SPAWN(rt, &h[1], ponger, struct pong_frame, .rfd = b[0],
		       .wfd = a[1], .n = n);
	for (int i = 0; i < 2; i++) {
		if (i == 1 && ret)
			break;
		rt_task_join(h[i], &r[i]);
		rt_task_release(h[i]);
	}
	if (!ret)
		ret = r[0] ? (int)r[0] : (int)r[1];
out_b:
	close(b[0]);
	close(b[1]);
out_a:
	close(a[0]);
	close(a[1]);
	return ret;
}

static uint64_t cpu_ns(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return ((uint64_t)r.ru_utime.tv_sec + (uint64_t)r.ru_stime.tv_sec) *
	       1000000000u + ((uint64_t)r.ru_utime.tv_usec +
			      (uint64_t)r.ru_stime.tv_usec) * 1000u;
}

static int run_root(struct rt_runtime *rt, rt_async_fn fn, long n)
{
	struct rt_task *h;
	int64_t r;
	int ret = RT_SPAWN(rt, &h, fn, struct yield_frame, .n = n);

	if (ret)
		return ret;
	ret = rt_task_join(h, &r);
	rt_task_release(h);
	if (!ret)
		ret = rt_runtime_drain(rt);
	return ret ? ret : (int)r;
}

/* One round of the workload: its metric, or a negative errno. */
static double round_of(struct rt_runtime *rt, const char *wl, long n)
{
	uint64_t t0 = rt_now_ns(), c0 = cpu_ns();
	int ret = 0;

	if (!strcmp(wl, "yield")) {
		ret = run_root(rt, yielder, n);
	} else if (!strcmp(wl, "spawn")) {
		ret = run_root(rt, spawner, n);
	} else if (!strcmp(wl, "io")) {
		ret = run_pingpong(rt, n);
		if (!ret)
			return (double)(cpu_ns() - c0) / (double)(2 * n);
	} else {
		for (long i = 0; i < n && !ret; i++)
			ret = RT_SPAWN(rt, NULL, nap, struct nap_frame);
		if (!ret)
			ret = rt_runtime_drain(rt);
		if (!ret)
			return (double)(cpu_ns() - c0) / (double)n;
	}
	return ret ? ret : (double)(rt_now_ns() - t0) / (double)n;
}

/* This process's trace header, mapped writable as a tool maps it. */
static struct rt_trace_header *own_header(void)
{
	struct rt_trace_header *h;
	int fd = trace_self_area_fd();

	if (fd < 0)
		return NULL;
	h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return h == MAP_FAILED ? NULL : h;	/* kept until exit */
}

/* Event recording on or off, every step recorded (sample shift 0). */
static void events_set(struct rt_trace_header *h, bool on)
{
	__atomic_store_n(&h->sample_shift, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&h->events_enabled, on, __ATOMIC_RELEASE);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_of(double *v, int n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

/*
 * "ab": rounds alternate events off and on in this one process, so both
 * see the same machine; prints both medians and their ratio, and the
 * median and quartiles of each on round's ratio to the off round just
 * before it: a load that changes slower than two rounds cancels there,
 * which on a shared machine makes it the steadier figure.
 */
static int rounds_ab(struct rt_runtime *rt, struct rt_trace_header *h,
		     const char *wl, long n, int pairs)
{
	double *v = calloc(3 * (size_t)pairs, sizeof(*v));
	double *off = v, *on = v + pairs, *ratio = v + 2 * pairs;
	double m_off, m_on;

	if (!v)
		return 1;
	for (int i = 0; i < 2 * pairs; i++) {
		double *slot = i % 2 ? &on[i / 2] : &off[i / 2];

		events_set(h, i % 2);
		*slot = round_of(rt, wl, n);
		if (*slot < 0) {
			free(v);
			return 1;
		}
	}
	events_set(h, false);
	for (int i = 0; i < pairs; i++)
		ratio[i] = on[i] / off[i];
	m_off = median_of(off, pairs);
	m_on = median_of(on, pairs);
	qsort(ratio, pairs, sizeof(*ratio), cmp_double);
	printf("value=%.4f events_off=%.4f events_on=%.4f ratio=%.4f "
	       "pair_ratio=%.4f pair_q1=%.4f pair_q3=%.4f pairs=%d\n",
	       m_on, m_off, m_on, m_on / m_off, ratio[pairs / 2],
	       ratio[pairs / 4], ratio[3 * pairs / 4], pairs);
	free(v);
	return 0;
}

int main(int argc, char **argv)
{
	struct rt_trace_header *h = NULL;
	const char *wl, *mode = argc > 3 ? argv[3] : "";
	struct rt_runtime *rt;
	struct rt_config cfg;
	double v[ROUNDS];
	long n;
	char go;

	if (argc < 3) {
		fprintf(stderr, "usage: %s yield|spawn|timer|io N "
			"[events|ab [PAIRS]]\n", argv[0]);
		return 2;
	}
	wl = argv[1];
	n = atol(argv[2]);
	rt_config_init(&cfg);
	if (strcmp(wl, "timer"))
		cfg.workers = 1;
	if (n <= 0 || rt_runtime_new(&cfg, &rt))
		return 1;
	if (round_of(rt, wl, n) < 0)	/* warm-up */
		return 1;
	if (*mode && !(h = own_header())) {
		fprintf(stderr, "%s: no trace area to record events in\n",
			argv[0]);
		return 1;
	}
	if (!strcmp(mode, "events"))
		events_set(h, true);
	printf("ready\n");
	fflush(stdout);
	if (read(STDIN_FILENO, &go, 1) != 1)
		return 1;
	if (!strcmp(mode, "ab"))
		return rounds_ab(rt, h, wl, n,
				 argc > 4 && atoi(argv[4]) > 0 ? atoi(argv[4]) :
				 AB_ROUNDS);
	for (int i = 0; i < ROUNDS; i++) {
		v[i] = round_of(rt, wl, n);
		if (v[i] < 0)
			return 1;
	}
	printf("value=%.4f\n", median_of(v, ROUNDS));
	rt_runtime_free(rt);
	return 0;
}

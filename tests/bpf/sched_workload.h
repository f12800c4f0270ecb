/* SPDX-License-Identifier: MIT */
/*
 * sched_workload.h - workloads whose scheduling is known in advance: a
 * two-thread pipe ping-pong (one block per thread per round), a CPU
 * spinner, a sleeper.  Shared by the bpf tests (tests/bpf/) and
 * sched-overhead.  Header-only: each user is a single program.
 */
#ifndef RTASYNC_SCHED_WORKLOAD_H
#define RTASYNC_SCHED_WORKLOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct wl_pingpong {
	const char *name;	/* thread name, "pp-a" or "pp-b" */
	int rfd, wfd;
	long rounds;
	bool starts;		/* writes first */
	int cpu;		/* pinned here, -1 = not pinned */
	pid_t tid;
	long vol_before, vol_after;	/* /proc voluntary_ctxt_switches */
	/* /proc/thread-self/schedstat at the end: run delay (ns), waits */
	unsigned long long delay_after, waits_after;
};

/* This thread's voluntary_ctxt_switches as the kernel counts them. */
static inline long wl_thread_vol(void)
{
	char line[256];
	long v = -1;
	FILE *f;

	f = fopen("/proc/thread-self/status", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * This thread's run-queue account as the kernel keeps it (sched_info):
 * the sum of its waits in ns and their count; -1 each where unreadable.
 */
static inline void wl_thread_runq(unsigned long long *delay,
				  unsigned long long *waits)
{
	unsigned long long cpu;
	FILE *f;

	*delay = *waits = -1ULL;
	f = fopen("/proc/thread-self/schedstat", "re");
	if (!f)
		return;
	if (fscanf(f, "%llu %llu %llu", &cpu, delay, waits) != 3)
		*delay = *waits = -1ULL;
	fclose(f);
}

static inline double wl_now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Burn 'ms' of this thread's own CPU time (not wall time). */
static inline void wl_spin_ms(long ms)
{
	double end = wl_now(CLOCK_THREAD_CPUTIME_ID) + ms / 1e3;

	while (wl_now(CLOCK_THREAD_CPUTIME_ID) < end)
		;
}

static inline void wl_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

/*
 * Two threads on two different CPUs (when there are two): neither can
 * preempt the other on a wakeup, so each blocks exactly once per round.
 */
static inline int wl_pingpong_init(struct wl_pingpong pp[2], long rounds)
{
	int ab[2], ba[2];
	cpu_set_t set;
	int i, cpus[2] = { -1, -1 }, n = 0;

	if (pipe(ab) || pipe(ba))
		return -1;
	sched_getaffinity(0, sizeof(set), &set);
	for (i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	if (n < 2)
		cpus[0] = cpus[1] = -1;
	pp[0] = (struct wl_pingpong){ .name = "pp-a", .rfd = ba[0], .wfd = ab[1],
				    .rounds = rounds, .starts = true, .cpu = cpus[0] };
	pp[1] = (struct wl_pingpong){ .name = "pp-b", .rfd = ab[0], .wfd = ba[1],
				    .rounds = rounds, .starts = false, .cpu = cpus[1] };
	return 0;
}

static inline void wl_pingpong_fini(struct wl_pingpong pp[2])
{
	close(pp[0].rfd);
	close(pp[0].wfd);
	close(pp[1].rfd);
	close(pp[1].wfd);
}

static inline void wl_pingpong_run(struct wl_pingpong *pp)
{
	cpu_set_t set;
	char c = 'x';
	long i;

	pthread_setname_np(pthread_self(), pp->name);
	if (pp->cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(pp->cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	pp->tid = gettid();
	pp->vol_before = wl_thread_vol();
	for (i = 0; i < pp->rounds; i++) {
		if (pp->starts && write(pp->wfd, &c, 1) != 1)
			break;
		if (read(pp->rfd, &c, 1) != 1)
			break;
		if (!pp->starts && write(pp->wfd, &c, 1) != 1)
			break;
	}
	pp->vol_after = wl_thread_vol();
	wl_thread_runq(&pp->delay_after, &pp->waits_after);
}

#endif /* RTASYNC_SCHED_WORKLOAD_H */

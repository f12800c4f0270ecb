// SPDX-License-Identifier: MIT
/*
 * sched-workload.c - workloads with known scheduling answers, run under
 * rtasync-trace by the bpf tests:
 *
 *	sched-workload pingpong N	threads "pp-a"/"pp-b" bounce a byte
 *					through two pipes N times: each blocks
 *					once per round, ~2N voluntary switches
 *	sched-workload spin MS		thread "spin" burns MS ms of CPU time
 *	sched-workload sleep MS		thread "sleeper" sleeps MS ms
 *
 * pingpong prints "NAME TID VOL_BEFORE VOL_AFTER" on stderr (stdout is
 * left to the tracer's JSON) from
 * /proc/thread-self/status so the caller can cross-check the kernel's
 * own voluntary_ctxt_switches counts.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sched_workload.h"

static void *pp_main(void *p)
{
	struct wl_pingpong *pp = p;

	wl_pingpong_run(pp);
	return NULL;
}

static int run_pingpong(long n)
{
	struct wl_pingpong pp[2];
	pthread_t th[2];
	int i;

	if (wl_pingpong_init(pp, n))
		return 1;
	for (i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, pp_main, &pp[i]))
			return 1;
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++)
		fprintf(stderr, "%s %d %ld %ld\n", pp[i].name, (int)pp[i].tid,
		       pp[i].vol_before, pp[i].vol_after);
	wl_pingpong_fini(pp);
	return 0;
}

/* Named by itself before it runs, so no report sees it unnamed. */
static void *spin_main(void *p)
{
	pthread_setname_np(pthread_self(), "spin");
	wl_spin_ms(*(long *)p);
	return NULL;
}

static void *sleep_main(void *p)
{
	pthread_setname_np(pthread_self(), "sleeper");
	wl_sleep_ms(*(long *)p);
	return NULL;
}

static int run_thread(void *(*fn)(void *), long ms)
{
	pthread_t th;

	if (pthread_create(&th, NULL, fn, &ms))
		return 1;
	pthread_join(th, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	long n;

	if (argc != 3 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: %s { pingpong N | spin MS | sleep MS }\n",
			argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "pingpong"))
		return run_pingpong(n);
	if (!strcmp(argv[1], "spin"))
		return run_thread(spin_main, n);
	if (!strcmp(argv[1], "sleep"))
		return run_thread(sleep_main, n);
	fprintf(stderr, "unknown workload '%s'\n", argv[1]);
	return 2;
}

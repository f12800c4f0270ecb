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
 *	sched-workload reuse N DIR	child "reuse-a" sleeps 1 ms N times
 *					and exits; an unrelated process
 *					(`forker DIR`, started before the
 *					tracer) gets its pid for "intruder";
 *					then child "reuse-b" gets that pid
 *					too and sleeps N times
 *	sched-workload forker DIR	serves one request of reuse: forks
 *					"intruder" with the pid written to
 *					DIR/req, answers on DIR/ack
 *
 * pingpong prints "NAME TID VOL_BEFORE VOL_AFTER" on stderr (stdout is
 * left to the tracer's JSON) from
 * /proc/thread-self/status so the caller can cross-check the kernel's
 * own voluntary_ctxt_switches counts.
 */
#include <errno.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

/* ---- reuse: one pid for three processes in turn --------------------------- */

/* A child named name with pid `pid` (0: any) that sleeps 1 ms n times. */
static pid_t child_with_pid(pid_t pid, const char *name, long n)
{
	struct clone_args args = { .exit_signal = SIGCHLD };
	pid_t tid[1] = { pid };
	long r;

	if (pid) {
		args.set_tid = (uint64_t)(uintptr_t)tid;
		args.set_tid_size = 1;
	}
	r = syscall(SYS_clone3, &args, sizeof(args));
	if (r)
		return (pid_t)r;	/* the child's pid, or -1 */
	prctl(PR_SET_NAME, name);
	while (n--)
		wl_sleep_ms(1);
	_exit(0);
}

static int reap(pid_t pid)
{
	int status;

	return pid > 0 && waitpid(pid, &status, 0) == pid ? 0 : -1;
}

static int run_forker(const char *dir)
{
	char path[4096], line[32] = "";
	pid_t pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/req", dir);
	f = fopen(path, "r");
	if (!f || !fgets(line, sizeof(line), f))
		return 1;
	fclose(f);
	pid = (pid_t)strtol(line, NULL, 10);
	pid = reap(child_with_pid(pid, "intruder", 20)) ? -errno : pid;
	snprintf(path, sizeof(path), "%s/ack", dir);
	f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "%d\n", (int)pid);
	return fclose(f) ? 1 : 0;
}

/* Ask the forker for an intruder at pid: 0 once it ran, -1 if not. */
static int intruder_at(const char *dir, pid_t pid)
{
	char path[4096], line[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/req", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", (int)pid);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ack", dir);
	f = fopen(path, "r");
	if (!f || !fgets(line, sizeof(line), f))
		return -1;
	fclose(f);
	return strtol(line, NULL, 10) == pid ? 0 : -1;
}

static int run_reuse(long n, const char *dir)
{
	pid_t a, b;

	a = child_with_pid(0, "reuse-a", n);
	if (reap(a))
		return 1;
	if (intruder_at(dir, a)) {
		fprintf(stderr, "reuse skip: pid %d taken meanwhile\n", (int)a);
		return 3;
	}
	b = child_with_pid(a, "reuse-b", n);
	if (reap(b)) {
		fprintf(stderr, "reuse skip: pid %d taken meanwhile\n", (int)a);
		return 3;
	}
	fprintf(stderr, "reuse pid %d\n", (int)a);
	return 0;
}

int main(int argc, char **argv)
{
	long n;

	if (argc == 3 && !strcmp(argv[1], "forker"))
		return run_forker(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "reuse"))
		return run_reuse(strtol(argv[2], NULL, 10), argv[3]);
	if (argc != 3 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: %s { pingpong N | spin MS | sleep MS | "
			"reuse N DIR | forker DIR }\n", argv[0]);
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

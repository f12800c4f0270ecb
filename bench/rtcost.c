/* SPDX-License-Identifier: MIT */
/*
 * runtime: what the tracer's parts cost librtasync itself.
 *
 * Each workload of rtasync-tracer-workload (yield, spawn, timer, io) runs in
 * fresh processes, in four variants interleaved run by run:
 *
 *   none      built without the always-on counters (RT_NO_COUNTERS)
 *   counters  the library as shipped: counters, site counts, running-task
 *             word; event recording off
 *   events    the same with event recording switched on from outside,
 *             as rtasync-trace does (nobody draining: the rings wrap)
 *   sched     counters only, with `sched stat`'s observer attached
 *
 * and each row compares two of them: what the counters cost (issue 3:
 * <= 1% on the yield loop), what recording events costs (issue 8: <= 15%
 * on the yield loop, the worst case, and <= 3% on the timer-wait and
 * I/O-wait workloads), and
 * what the kernel-side observer costs a process that barely switches.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sched_obs.h"
#include "task_area.h"
#include "threadcost.h"

enum variant { V_NONE, V_COUNTERS, V_EVENTS, V_SCHED, V_COUNT };

static const char *const variant_name[V_COUNT] = {
	"built without counters", "counters only, events off",
	"events recorded", "sched stat attached",
};

struct workload {
	const char *key;
	const char *what;
	const char *metric;
	uint64_t n;
	double target_counters;	/* minimum ratio, NAN: none */
	double target_events;
};

static const struct workload workloads[] = {
	{ "yield", "RT_YIELD loop, 1 worker", "ns/yield", 2000000,
	  1 / 1.01, 1 / 1.15 },
	{ "spawn", "spawn+run+complete, 1 worker", "ns/task", 500000,
	  NAN, NAN },
	{ "timer", "10k tasks x 1 ms sleep, 2 workers", "cpu ns/wait", 10000,
	  NAN, 1 / 1.03 },
	{ "io", "pipe ping-pong, io_uring reads, 1 worker", "cpu ns/wait",
	  100000, NAN, 1 / 1.03 },
};

static char workload_dir[PATH_MAX];

static void find_workload_dir(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return;
	self[n] = 0;
	snprintf(workload_dir, sizeof(workload_dir), "%s", dirname(self));
}

/* Start the workload; its stdin and stdout become *to and *from. */
static pid_t start(const struct workload *w, enum variant v, int *to,
		   FILE **from)
{
	char exe[PATH_MAX + 64], n[32];
	char *argv[] = { exe, (char *)w->key, n, NULL };
	int in[2], out[2];
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/rtasync-tracer-workload%s",
		 workload_dir, v == V_NONE ? "-nc" : "");
	snprintf(n, sizeof(n), "%llu",
		 (unsigned long long)bench_iters(w->n, 1000));
	if (pipe2(in, O_CLOEXEC))
		return -errno;
	if (pipe2(out, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	fflush(NULL);
	pid = fork();
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* With our stdin or stdout closed, pipe2() may hand out fd 0
		 * or 1 itself; dup2() onto the same fd keeps O_CLOEXEC, so
		 * clear it instead (the report runs with no stdin in CI). */
		if (in[0] == STDIN_FILENO)
			fcntl(in[0], F_SETFD, 0);
		else
			dup2(in[0], STDIN_FILENO);
		if (out[1] == STDOUT_FILENO)
			fcntl(out[1], F_SETFD, 0);
		else
			dup2(out[1], STDOUT_FILENO);
		execv(exe, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return -errno;
	}
	*to = in[1];
	*from = fdopen(out[0], "r");
	return pid;
}

/* Attach sched stat's observer to pid: it stays until closed. */
static struct sched_obs *observe(pid_t pid)
{
	struct sched_obs_opts oo = { .max_threads = 1024 };
	struct sched_obs *obs = NULL;

	if (sched_obs_open(&obs, &oo) || sched_obs_add_pid(obs, pid) ||
	    sched_obs_attach(obs)) {
		sched_obs_close(obs);
		return NULL;
	}
	return obs;
}

/* One fresh process of one variant: the workload's median, or NAN. */
static double run_once(const struct workload *w, enum variant v)
{
	struct sched_obs *obs = NULL;
	struct task_proc area = { .nareas = 0 };
	double value = NAN;
	uint32_t shift;
	char line[128];
	FILE *from = NULL;
	int to = -1, status;
	pid_t pid = start(w, v, &to, &from);

	if (pid < 0 || !from)
		return NAN;
	if (!fgets(line, sizeof(line), from) || strncmp(line, "ready", 5))
		goto out;
	if (v == V_SCHED && !(obs = observe(pid)))
		goto out;
	if (v == V_EVENTS) {
		if (task_proc_open(&area, pid, true))
			goto out;
		task_events_on(&area, 0, &shift);
	}
	if (write(to, "g", 1) != 1)
		goto out;
	while (fgets(line, sizeof(line), from))
		if (sscanf(line, "value=%lf", &value) == 1)
			break;
out:
	close(to);
	fclose(from);
	waitpid(pid, &status, 0);
	sched_obs_close(obs);
	task_proc_close(&area);
	return value;
}

static void row(struct bench_result *r, const struct workload *w,
		enum variant rt, enum variant peer, const double *s,
		unsigned int n, double target)
{
	bench_result_init(r, "runtime", "", variant_name[peer], w->metric,
			  BENCH_LOWER);
	snprintf(r->name, sizeof(r->name), "%s: %s", w->what,
		 variant_name[rt]);
	bench_stat_samples(&r->rt, &s[rt * BENCH_MAX_REPS], n);
	bench_stat_samples(&r->other, &s[peer * BENCH_MAX_REPS], n);
	r->target_ratio = target;
	if (r->rt.n && r->other.n)
		bench_note(r, "%+.1f%% (medians of %u fresh processes, "
			   "variants interleaved; each process reports the "
			   "median of 5 rounds of %llu)",
			   100.0 * (r->rt.median / r->other.median - 1), n,
			   (unsigned long long)bench_iters(w->n, 1000));
}

static void measure(const struct workload *w)
{
	static double s[V_COUNT * BENCH_MAX_REPS];
	unsigned int reps = bench_opts.reps, got[V_COUNT] = { 0 };
	struct bench_result r;

	if (reps > BENCH_MAX_REPS)
		reps = BENCH_MAX_REPS;
	for (unsigned int i = 0; i < reps; i++) {
		for (int v = 0; v < V_COUNT; v++) {
			double x = run_once(w, (enum variant)v);

			if (x == x)	/* not NAN */
				s[v * BENCH_MAX_REPS + got[v]++] = x;
		}
	}
	row(&r, w, V_COUNTERS, V_NONE, s, got[V_NONE] < got[V_COUNTERS] ?
	    got[V_NONE] : got[V_COUNTERS], w->target_counters);
	bench_emit(&r);
	row(&r, w, V_EVENTS, V_COUNTERS, s, got[V_EVENTS] < got[V_COUNTERS] ?
	    got[V_EVENTS] : got[V_COUNTERS], w->target_events);
	bench_emit(&r);
	row(&r, w, V_SCHED, V_COUNTERS, s, got[V_SCHED] < got[V_COUNTERS] ?
	    got[V_SCHED] : got[V_COUNTERS], NAN);
	bench_emit(&r);
}

void bench_runtime_cost(void)
{
	find_workload_dir();
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		measure(&workloads[i]);
}

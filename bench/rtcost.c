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
 *   events    the shipped library with event recording switched on and
 *             off, round by round, inside one process (the workload's
 *             "ab" mode; nobody draining: the rings wrap)
 *   sched     counters only, with `sched stat`'s observer attached
 *
 * and each row compares two of them: what the counters cost (issue 3:
 * <= 1% on the yield loop), what recording events costs (issue 8: <= 15%
 * on the yield loop, the worst case, and <= 3% on the timer-wait and
 * I/O-wait workloads), and
 * what the kernel-side observer costs a process that barely switches.
 *
 * Events are compared inside one process because the difference sought
 * (a few percent) is smaller than what separates two processes on this
 * VM, whose speed flips between two modes ~1.5x apart: adjacent rounds
 * share the mode, separate processes often do not.
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
#include "threadcost.h"

enum variant { V_NONE, V_COUNTERS, V_EVENTS, V_SCHED, V_COUNT };

static const char *const variant_name[V_COUNT] = {
	"built without counters", "counters only, events off",
	"events recorded", "sched stat attached",
};

#define AB_PAIRS 5	/* events off/on round pairs per "ab" process */

/* What one "ab" process reports beside its events-on median: its
 * events-off median and the median of its adjacent-pair ratios. */
struct ab_result {
	double off, pair_ratio;
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

/* Start the workload; its stdin and stdout become *to and *from. V_EVENTS
 * runs it in "ab" mode: it switches its own events, round by round. */
static pid_t start(const struct workload *w, enum variant v, int *to,
		   FILE **from)
{
	char exe[PATH_MAX + 64], n[32], pairs[16];
	char *argv[] = { exe, (char *)w->key, n, NULL, NULL, NULL };
	int in[2], out[2];
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/rtasync-tracer-workload%s",
		 workload_dir, v == V_NONE ? "-nc" : "");
	snprintf(n, sizeof(n), "%llu",
		 (unsigned long long)bench_iters(w->n, 1000));
	if (v == V_EVENTS) {
		snprintf(pairs, sizeof(pairs), "%d", AB_PAIRS);
		argv[3] = "ab";
		argv[4] = pairs;
	}
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

/*
 * One fresh process of one variant: the workload's median, or NAN; for
 * V_EVENTS, the events-on median, with *ab filled from the same line.
 */
static double run_once(const struct workload *w, enum variant v,
		       struct ab_result *ab)
{
	struct sched_obs *obs = NULL;
	double value = NAN;
	char line[256];
	FILE *from = NULL;
	int to = -1, status;
	pid_t pid = start(w, v, &to, &from);

	if (pid < 0 || !from)
		return NAN;
	if (!fgets(line, sizeof(line), from) || strncmp(line, "ready", 5))
		goto out;
	if (v == V_SCHED && !(obs = observe(pid)))
		goto out;
	if (write(to, "g", 1) != 1)
		goto out;
	while (fgets(line, sizeof(line), from)) {
		if (v == V_EVENTS &&
		    sscanf(line, "value=%lf events_off=%lf events_on=%*f "
			   "ratio=%*f pair_ratio=%lf", &value, &ab->off,
			   &ab->pair_ratio) == 3)
			break;
		if (v != V_EVENTS && sscanf(line, "value=%lf", &value) == 1)
			break;
	}
out:
	close(to);
	fclose(from);
	waitpid(pid, &status, 0);
	sched_obs_close(obs);
	return value;
}

/* paired: s_rt[k] and s_peer[k] from the same round (bench.h) */
static void row(struct bench_result *r, const struct workload *w,
		enum variant rt, enum variant peer, const double *s_rt,
		const double *s_peer, unsigned int n, bool paired,
		double target)
{
	bench_result_init(r, "runtime", "", variant_name[peer], w->metric,
			  BENCH_LOWER);
	snprintf(r->name, sizeof(r->name), "%s: %s", w->what,
		 variant_name[rt]);
	bench_stat_samples(&r->rt, s_rt, n);
	bench_stat_samples(&r->other, s_peer, n);
	r->paired = paired;
	r->target_ratio = target;
	if (!r->rt.n || !r->other.n)
		return;
	bench_note(r, "%+.1f%%", 100.0 * (r->rt.median / r->other.median - 1));
	if (rt != V_EVENTS)
		bench_note(r, "medians of %u fresh processes, variants "
			   "interleaved; each process reports the median of "
			   "5 rounds of %llu", n,
			   (unsigned long long)bench_iters(w->n, 1000));
}

/* Note each process's rounds and how the pairs' ratios spread. */
static void note_ab(struct bench_result *r, const struct workload *w,
		    const struct ab_result *ab, unsigned int n)
{
	double pr[BENCH_MAX_REPS];
	struct bench_stat st;

	for (unsigned int i = 0; i < n; i++)
		pr[i] = ab[i].pair_ratio;
	bench_stat_samples(&st, pr, n);
	bench_note(r, "both variants in each of %u fresh processes, %d "
		   "rounds of %llu each, alternating; the median process's "
		   "adjacent on/off rounds: %+.1f%% (processes %+.1f..%+.1f%%)",
		   n, AB_PAIRS, (unsigned long long)bench_iters(w->n, 1000),
		   100.0 * (st.median - 1), 100.0 * (st.min - 1),
		   100.0 * (st.max - 1));
}

static void measure(const struct workload *w)
{
	static double s[V_COUNT][BENCH_MAX_REPS], ab_off[BENCH_MAX_REPS];
	static struct ab_result ab[BENCH_MAX_REPS];
	unsigned int reps = bench_opts.reps, got[V_COUNT] = { 0 };
	struct bench_result r;
	unsigned int n;

	if (reps > BENCH_MAX_REPS)
		reps = BENCH_MAX_REPS;
	for (unsigned int i = 0; i < reps; i++) {
		for (int v = 0; v < V_COUNT; v++) {
			double x = run_once(w, (enum variant)v,
					    &ab[got[V_EVENTS]]);

			if (x == x)	/* not NAN */
				s[v][got[v]++] = x;
		}
	}
	for (unsigned int i = 0; i < got[V_EVENTS]; i++)
		ab_off[i] = ab[i].off;

	n = got[V_NONE] < got[V_COUNTERS] ? got[V_NONE] : got[V_COUNTERS];
	row(&r, w, V_COUNTERS, V_NONE, s[V_COUNTERS], s[V_NONE], n,
	    got[V_NONE] == reps && got[V_COUNTERS] == reps, w->target_counters);
	bench_emit(&r);

	n = got[V_EVENTS];
	row(&r, w, V_EVENTS, V_COUNTERS, s[V_EVENTS], ab_off, n, true,
	    w->target_events);
	if (n)
		note_ab(&r, w, ab, n);
	bench_emit(&r);

	n = got[V_SCHED] < got[V_COUNTERS] ? got[V_SCHED] : got[V_COUNTERS];
	row(&r, w, V_SCHED, V_COUNTERS, s[V_SCHED], s[V_COUNTERS], n,
	    got[V_SCHED] == reps && got[V_COUNTERS] == reps, NAN);
	bench_emit(&r);
}

void bench_runtime_cost(void)
{
	find_workload_dir();
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		measure(&workloads[i]);
}

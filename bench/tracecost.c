/* SPDX-License-Identifier: MIT */
/*
 * tracer: what `rtasync-trace sched stat` costs a switch-heavy workload.
 * The measurement is bench/sched-overhead's (a two-thread pipe ping-pong
 * with no observer, with the observer tracing another process, and with
 * it tracing the ping-pong, interleaved; end-to-end time per round trip
 * and the BPF programs' own run time per switch). This topic runs it with
 * -j and turns its JSON into report rows, so that the target
 * (<= 250 ns per OS switch) sits in the same table as the rest. The
 * target is checked on the programs' run time, the steadier of the two.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "threadcost.h"

#define TARGET_NS_PER_SWITCH	250.0
#define OUT_MAX			8192

/* The number after "key": in s (our own JSON writer's output), or NAN. */
static double json_num_after(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	if (!s)
		return NAN;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(s, pat);
	return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* Run argv, capture its stdout (at most OUT_MAX-1 bytes); exit status. */
static int run_capture(char *const argv[], char *out, size_t len,
		       unsigned int timeout_s)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_s * 1000000000u;
	size_t have = 0;
	int fds[2], status;
	pid_t pid;

	if (pipe(fds))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		uint64_t now = bench_now_ns();
		ssize_t n;

		if (now >= deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		n = read(fds[0], out + have, len - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		if (have == len - 1)
			break;
	}
	out[have] = 0;
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		return -EINTR;
	return WEXITSTATUS(status);
}

void bench_overhead(void)
{
	char rounds[24], reps[24], out[OUT_MAX];
	char *argv[] = { (char *)tc_opts.sched_overhead, "-j", "-n", rounds,
			 "-r", reps, NULL };
	const char *off, *filtered, *traced;
	struct bench_result r[3];
	double sw;
	int st;

	snprintf(rounds, sizeof(rounds), "%llu",
		 (unsigned long long)bench_iters(tc_opts.pp_rounds, 100));
	snprintf(reps, sizeof(reps), "%u", bench_opts.reps);
	bench_result_init(&r[0], "tracer", "pipe ping-pong, sched stat attached",
			  "no observer attached", "ns/rtrip", BENCH_LOWER);
	bench_result_init(&r[1], "tracer", "sched stat: ns added per OS switch",
			  "-", "ns/switch", BENCH_LOWER);
	bench_result_init(&r[2], "tracer", "sched stat: BPF run time per switch",
			  "-", "ns/switch", BENCH_LOWER);
	/*
	 * The target is checked on the programs' own run time: the end to
	 * end difference rides on cross-CPU wake-ups whose latency on these
	 * VMs moves by more than the observer costs from one run to the next.
	 */
	r[2].target_rt = TARGET_NS_PER_SWITCH;

	st = run_capture(argv, out, sizeof(out), bench_opts.timeout_s);
	off = strstr(out, "\"off\"");
	filtered = strstr(out, "\"filtered\"");
	traced = strstr(out, "\"traced\"");
	if (st || !off || !filtered || !traced) {
		for (int i = 0; i < 3; i++) {
			bench_note(&r[i], "not measured: %s %s", argv[0],
				   st < 0 ? strerror(-st) :
				   st ? "failed (exit status shown above)" :
					"printed no JSON");
			bench_emit(&r[i]);
		}
		return;
	}
	sw = json_num_after(out, "switches_per_round");
	bench_stat_one(&r[0].rt, json_num_after(traced, "ns_per_round"));
	bench_stat_one(&r[0].other, json_num_after(off, "ns_per_round"));
	bench_note(&r[0], "bench/sched-overhead -n %s -r %s: two threads on two "
		   "CPUs, one pipe write+read each way per round trip, %.2f "
		   "context switches per round trip on the machine; modes "
		   "interleaved, medians; with the observer tracing another "
		   "process: %.0f ns/rtrip", rounds, reps, sw,
		   json_num_after(filtered, "ns_per_round"));
	bench_stat_one(&r[1].rt, json_num_after(traced, "extra_ns_per_switch"));
	bench_note(&r[1], "(traced - off) / switches per round trip; "
		   "tracing another process adds %.0f ns; no target here: "
		   "the cross-CPU wake-ups of the ping-pong vary by several "
		   "hundred ns per switch from run to run",
		   json_num_after(filtered, "extra_ns_per_switch"));
	bench_stat_one(&r[2].rt, json_num_after(traced, "bpf_ns_per_switch"));
	bench_note(&r[2], "sched_switch + sched_wakeup programs' run time "
		   "(BPF_STATS_RUN_TIME) per switch; %.0f ns when the switch "
		   "is not a traced thread's",
		   json_num_after(filtered, "bpf_ns_per_switch"));
	for (int i = 0; i < 3; i++)
		bench_emit(&r[i]);
}

/* SPDX-License-Identifier: MIT */
/*
 * rtasync-threadcost: the seeds' thread-cost claim as the eBPF scheduler
 * observer measures it, and what the observer costs.
 *
 *   rtasync-threadcost [-r REPS] [-s SCALE] [-j FILE] [-n WAITS]
 *                      [--pool N] [--sched-overhead PATH] [TOPIC...]
 *
 * Built only with the BPF side (it links tools/rtasync-trace/sched_obs.c); needs root
 * (or CAP_BPF+CAP_PERFMON) and kernel BTF at run time, and says so and
 * exits with 3 (permissions) or 5 (no BTF) when they are missing, like
 * rtasync-trace. Otherwise the exit status is 0 unless the report could
 * not be written: numbers never fail it.
 */
#include <argp.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "threadcost.h"
#include "trace.h"

const struct bench_topic bench_topics[] = {
	{ "threads", "10k concurrent 1 ms waits: thread pool, thread per "
	  "wait, librtasync tasks, measured by the eBPF observer",
	  bench_threadcost, 0 },
	{ "sockets", "the same with socket waits: 10k loopback connections "
	  "each waiting for its answer", bench_threadcost_sockets, 0 },
	{ "tracer", "pipe ping-pong with and without `sched stat` "
	  "(bench/sched-overhead)", bench_overhead, 0 },
	{ "runtime", "what counters, event records and sched stat cost "
	  "the runtime: yield, spawn, timer waits", bench_runtime_cost, 0 },
	{ NULL, NULL, NULL, 0 },
};

struct args {
	struct bench_cli cli;		/* first: the common options' input */
	const char *model_child;
};

enum { OPT_POOL = 0x100, OPT_SCHED_OVERHEAD, OPT_ROUNDS, OPT_MODEL_CHILD };

static const struct argp_option options[] = {
	{ "json", 'j', "FILE", 0, "Write the JSON report to FILE (default "
	  "threadcost-report.json; '-' for stdout, '' for none)", 0 },
	{ "waits", 'n', "N", 0, "Concurrent waits per run (default 10000)", 0 },
	{ "pool", OPT_POOL, "N", 0, "Threads in the blocking pool (default 64)",
	  0 },
	{ "rounds", OPT_ROUNDS, "N", 0, "Ping-pong round trips per run of "
	  "sched-overhead (default 5000)", 0 },
	{ "sched-overhead", OPT_SCHED_OVERHEAD, "PATH", 0, "The sched-overhead "
	  "program (default: sched-overhead next to this one)", 0 },
	{ "model-child", OPT_MODEL_CHILD, "SPEC", OPTION_HIDDEN, "Internal: "
	  "run as one model's process", 0 },
	{ 0 },
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->cli;
		break;
	case 'j':
		a->cli.json = arg;
		break;
	case 'n':
		tc_opts.waits = (unsigned int)bench_parse_num(arg, state);
		break;
	case OPT_POOL:
		tc_opts.pool = (unsigned int)bench_parse_num(arg, state);
		break;
	case OPT_ROUNDS:
		tc_opts.pp_rounds = (unsigned int)bench_parse_num(arg, state);
		break;
	case OPT_SCHED_OVERHEAD:
		tc_opts.sched_overhead = arg;
		break;
	case OPT_MODEL_CHILD:
		a->model_child = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child children[] = {
	{ &bench_common_argp, 0, NULL, 0 },
	{ 0 },
};

static const struct argp argp = {
	.options = options,
	.parser = parse_opt,
	.args_doc = "[TOPIC...]",
	.doc = "The seeds' thread-cost claim measured by librtasync's eBPF "
	       "scheduler observer, and the observer's own cost.\vTopics: "
	       "threads sockets tracer runtime (default: all). Defaults: 5 runs per model, "
	       "each in a fresh process that warms itself up; a 120 s "
	       "timeout per topic. Needs root (or CAP_BPF+CAP_PERFMON) and "
	       "kernel BTF. Ratios > 1 mean librtasync is that many times "
	       "cheaper. See Documentation/benchmarks.md.",
	.children = children,
};

/* sched-overhead, built next to this executable. */
static void default_sched_overhead(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return;
	self[n] = 0;
	snprintf(path, sizeof(path), "%s/sched-overhead",
		 dirname(self));
	tc_opts.sched_overhead = path;
}

int main(int argc, char **argv)
{
	struct bench_report rep = { 0 };
	struct args a = { .cli.json = "threadcost-report.json" };
	int ret;

	bench_prog = "rtasync-threadcost";
	bench_opts.reps = 5;
	bench_opts.timeout_s = 120;
	ret = bench_cli_parse(&argp, argc, argv, &a.cli);
	if (ret)
		return ret < 0;
	if (a.model_child)
		return threadcost_model_child(a.model_child);
	if (!tc_opts.sched_overhead)
		default_sched_overhead();

	if (trace_check_btf()) {
		fprintf(stderr, "rtasync-threadcost: the kernel exports no BTF (%s):"
			" the scheduler observer cannot load\n", TRACE_BTF_PATH);
		return TRACE_EXIT_NO_BTF;
	}
	if (trace_check_privileges()) {
		fprintf(stderr, "rtasync-threadcost: needs root (or CAP_BPF and "
			"CAP_PERFMON) to load the scheduler observer\n");
		return TRACE_EXIT_PERM;
	}

	bench_cli_run(&a.cli, &rep);
	threadcost_print_matrix(&rep);
	ret = bench_cli_write_json(&a.cli, &rep);
	bench_cli_free(&a.cli, &rep);
	return ret;
}

/* SPDX-License-Identifier: MIT */
/*
 * rtasync-bench: librtasync's core benchmarks against their peers, side by
 * side in one run. Prints a table, writes JSON and the data for the chart.
 *
 *   rtasync-bench [-r REPS] [-s SCALE] [-j FILE] [--chart-data FILE] [TOPIC...]
 *
 * Topics run in the order given (all of them by default), each in its own
 * child process. Nothing here ever fails on time: the exit status is 0
 * unless the report could not be written.
 */
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

const struct bench_topic bench_topics[] = {
	{ "spawn", "spawn+run+complete per task vs pthread_create+join",
	  bench_spawn, 0 },
	{ "yield", "yield/resume on one worker vs futex ping-pong",
	  bench_yield, 0 },
	{ "call", "synchronous async-to-async call vs plain C and async1",
	  bench_call, 0 },
	{ "runq", "per-CPU queue push+pop: rseq vs lock cmpxchg vs mutex",
	  bench_runq, 0 },
	{ "error", "error propagation at depth 1/8/64: flag-skip vs resume",
	  bench_error, 0 },
	{ "memory", "10k suspended tasks x 100 frames: RSS, bytes per frame",
	  bench_memory, 0 },
	/* 2 x 7 fresh runtimes per shape: slow on a loaded machine */
	{ "fanout", "in-task fan-out on 2 workers vs 1, three shapes",
	  bench_fanout, 90 },
	/* 2 x 8 samples of a 300 ms hog on one worker */
	{ "hog", "latency of work behind a 300 ms task, an idle worker "
	  "beside it", bench_hog, 60 },
	/* rounds stop after 40 s; then the memory case and the rows */
	{ "peers", "the same shapes in Tokio and Go (bench/peers/), "
	  "interleaved", bench_peers, 150 },
	/* rounds of 3 fresh runtimes and 11 peer processes */
	{ "sync", "channels and the mutex vs Go, Tokio and pthread_mutex",
	  bench_sync, 300 },
	/* no peers: for bench/chan-callgrind.sh */
	{ "chan-rtt", "the channel round trip of sync, 1 worker, librtasync "
	  "alone", bench_chan_rtt, 0 },
	/* the memory case runs 10k fibers and 10k task chains, each in a
	 * fresh process */
	{ "fiber", "fiber switch, yield, the cross-model call matrix and "
	  "10k suspended fibers vs continuations", bench_fiber, 120 },
	{ NULL, NULL, NULL, 0 },
};

struct args {
	struct bench_cli cli;		/* first: the common options' input */
	const char *chart;
};

enum { OPT_CHART = 0x100, OPT_PEERS };

static const struct argp_option options[] = {
	{ "json", 'j', "FILE", 0, "Write the JSON report to FILE "
	  "(default bench-report.json; '-' for stdout, '' for none)", 0 },
	{ "chart-data", OPT_CHART, "FILE", 0, "Write the ratios for "
	  "bench/plot.gp to FILE", 0 },
	{ "peers-dir", OPT_PEERS, "DIR", 0, "Where the peers topic finds "
	  "rtasync-peer-tokio and rtasync-peer-go (default: peers/ next to "
	  "this program)", 0 },
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
	case OPT_CHART:
		a->chart = arg;
		break;
	case OPT_PEERS:
		bench_peers_dir = arg;
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
	.doc = "librtasync benchmarks, each side by side with its peers in one "
	       "run.\vTopics: spawn yield call runq error memory fanout hog "
	       "peers sync fiber (default: all). Defaults: 7 runs, a 45 s "
	       "timeout per topic. Ratios > 1 "
	       "mean librtasync is that many times cheaper or faster. See "
	       "Documentation/benchmarks.md.",
	.children = children,
};

int main(int argc, char **argv)
{
	struct bench_report rep = { 0 };
	struct args a = { .cli.json = "bench-report.json" };
	int ret, err;

	ret = bench_cli_parse(&argp, argc, argv, &a.cli);
	if (ret)
		return ret < 0;
	bench_cli_run(&a.cli, &rep);
	ret = bench_cli_write_json(&a.cli, &rep);
	if (a.chart) {
		err = bench_report_chart_data(&rep, a.chart);
		if (err < 0) {
			bench_log("%s: %s", a.chart, strerror(-err));
			ret = 1;
		}
	}
	bench_cli_free(&a.cli, &rep);
	return ret;
}

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
	  bench_spawn },
	{ "yield", "yield/resume on one worker vs futex ping-pong",
	  bench_yield },
	{ "call", "synchronous async-to-async call vs plain C and async1",
	  bench_call },
	{ "runq", "per-CPU queue push+pop: rseq vs lock cmpxchg vs mutex",
	  bench_runq },
	{ "error", "error propagation at depth 1/8/64: flag-skip vs resume",
	  bench_error },
	{ "memory", "10k suspended tasks x 100 frames: RSS, bytes per frame",
	  bench_memory },
	{ NULL, NULL, NULL },
};

struct args {
	const char *json;
	const char *chart;
	const char **topics;
	size_t ntopics;
	bool list;
};

enum { OPT_CHART = 0x100, OPT_NO_FORK, OPT_TIMEOUT };

static const struct argp_option options[] = {
	{ "reps", 'r', "N", 0, "Runs per value after a warm-up, median kept "
	  "(default 7, at most 31)", 0 },
	{ "scale", 's', "F", 0, "Multiply every iteration count and time box "
	  "by F (default 1; 0.1 for a quick look)", 0 },
	{ "json", 'j', "FILE", 0, "Write the JSON report to FILE "
	  "(default bench-report.json; '-' for stdout, '' for none)", 0 },
	{ "chart-data", OPT_CHART, "FILE", 0, "Write the ratios for "
	  "bench/plot.gp to FILE", 0 },
	{ "timeout", OPT_TIMEOUT, "SEC", 0, "Kill a topic after SEC seconds "
	  "(default 45)", 0 },
	{ "no-fork", OPT_NO_FORK, NULL, 0, "Run topics in this process "
	  "(for a debugger)", 0 },
	{ "list", 'l', NULL, 0, "List the topics and exit", 0 },
	{ "verbose", 'v', NULL, 0, "More progress on stderr", 0 },
	{ 0 },
};

static double parse_num(const char *s, struct argp_state *state)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v <= 0)
		argp_error(state, "not a positive number: '%s'", s);
	return v;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;

	switch (key) {
	case 'r':
		bench_opts.reps = (unsigned int)parse_num(arg, state);
		if (bench_opts.reps > BENCH_MAX_REPS)
			argp_error(state, "at most %d reps", BENCH_MAX_REPS);
		break;
	case 's':
		bench_opts.scale = parse_num(arg, state);
		break;
	case 'j':
		a->json = arg;
		break;
	case OPT_CHART:
		a->chart = arg;
		break;
	case OPT_TIMEOUT:
		bench_opts.timeout_s = (unsigned int)parse_num(arg, state);
		break;
	case OPT_NO_FORK:
		bench_opts.fork = false;
		break;
	case 'l':
		a->list = true;
		break;
	case 'v':
		bench_opts.verbose = true;
		break;
	case ARGP_KEY_ARG:
		if (strcmp(arg, "all")) {
			a->topics[a->ntopics++] = arg;
			break;
		}
		for (const struct bench_topic *t = bench_topics; t->name; t++)
			a->topics[a->ntopics++] = t->name;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	.options = options,
	.parser = parse_opt,
	.args_doc = "[TOPIC...]",
	.doc = "librtasync benchmarks, each side by side with its peers in one "
	       "run.\vTopics: spawn yield call runq error memory (default: "
	       "all). Ratios > 1 mean librtasync is that many times cheaper or "
	       "faster. See Documentation/benchmarks.md.",
};

static void join_command(char *buf, size_t len, int argc, char **argv)
{
	size_t off = 0;

	buf[0] = 0;
	for (int i = 0; i < argc && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? " " : "", argv[i]);
}

int main(int argc, char **argv)
{
	struct bench_report rep = { 0 };
	struct args a = { .json = "bench-report.json" };
	char line[512];
	int ret = 0, err;

	/* every argument could be "all" */
	a.topics = calloc((size_t)argc * 8 + 8, sizeof(*a.topics));
	if (!a.topics)
		return 1;
	argp_parse(&argp, argc, argv, 0, NULL, &a);
	if (a.list) {
		for (const struct bench_topic *t = bench_topics; t->name; t++)
			printf("%-8s %s\n", t->name, t->help);
		return 0;
	}
	if (!a.ntopics)
		for (const struct bench_topic *t = bench_topics; t->name; t++)
			a.topics[a.ntopics++] = t->name;

	bench_machine_read(&rep.machine);
	join_command(rep.command, sizeof(rep.command), argc, argv);
	bench_machine_line(&rep.machine, line, sizeof(line));
	bench_log("machine: %s", line);
	rep.started_ns = bench_now_ns();
	bench_run_topics(&rep, a.topics, a.ntopics);
	rep.wall_ns = bench_now_ns() - rep.started_ns;

	bench_report_print(&rep);
	if (a.json && *a.json) {
		err = bench_report_json(&rep, a.json);
		if (err < 0) {
			bench_log("%s: %s", a.json, strerror(-err));
			ret = 1;
		} else if (strcmp(a.json, "-")) {
			printf("JSON: %s\n", a.json);
		}
	}
	if (a.chart) {
		err = bench_report_chart_data(&rep, a.chart);
		if (err < 0) {
			bench_log("%s: %s", a.chart, strerror(-err));
			ret = 1;
		}
	}
	free(a.topics);
	free(rep.rows);
	return ret;
}

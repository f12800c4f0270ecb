// SPDX-License-Identifier: MIT
/*
 * main.c - entry point of rtasync-trace: global options and the OBJECT dispatch
 * of the bpftool-style grammar
 *
 *	rtasync-trace [OPTIONS] OBJECT COMMAND [ARGS]
 *
 * Each object lives in its own file (sched.c, task.c; `record`,
 * an object without commands, in record.c) and parses its own
 * commands; `help` works at every level.
 */
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "task_cmd.h"
#include "trace.h"

#ifndef RTASYNC_VERSION
#define RTASYNC_VERSION "unknown"
#endif

struct trace_object {
	const char *name;
	int (*run)(const struct trace_opts *opts, int argc, char **argv);
};

static const struct trace_object objects[] = {
	{ "sched", do_sched },
	{ "task",  do_task },
	{ "record", do_record },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %1$s [OPTIONS] OBJECT { COMMAND | help }\n"
		"       %1$s help\n"
		"\n"
		"       OBJECT := { sched | task | record }\n"
		"       OPTIONS := { -j|--json | -p|--pretty | --duration SEC |\n"
		"                    --interval SEC | -d|--debug | -V|--version |\n"
		"                    -h|--help }\n"
		"\n"
		"       sched stat   per-thread switches, on/off-CPU time, run-queue\n"
		"                    latency and per-CPU idle time (eBPF)\n"
		"       task top     hottest await sites of a librtasync process\n"
		"       task hist    suspend-time histograms per await site\n"
		"       task blocked worker off-CPU time per task and await site (eBPF)\n"
		"       task dump    async stacks of suspended tasks\n"
		"       record       a Chrome/Perfetto timeline of task steps\n"
		"\n"
		"Run '%1$s OBJECT help' for an object's commands.\n",
		trace_prog);
}

static const struct option longopts[] = {
	{ "json",     no_argument,	 NULL, 'j' },
	{ "pretty",   no_argument,	 NULL, 'p' },
	{ "duration", required_argument, NULL, TRACE_OPT_DURATION },
	{ "interval", required_argument, NULL, TRACE_OPT_INTERVAL },
	{ "debug",    no_argument,	 NULL, 'd' },
	{ "version",  no_argument,	 NULL, 'V' },
	{ "help",     no_argument,	 NULL, 'h' },
	{ 0 }
};

/* Returns -1 to go on, or an exit code. */
static int parse_global(struct trace_opts *opts, int argc, char **argv)
{
	int opt, ret;

	/* '+': stop at OBJECT, whose options may look like ours (-p PID) */
	while ((opt = getopt_long(argc, argv, "+jpdVh", longopts, NULL)) != -1) {
		ret = trace_common_opt(opts, opt == 'p' ? TRACE_OPT_PRETTY : opt,
				       optarg);
		if (ret >= 0) {
			if (ret)
				return ret;
			continue;
		}
		switch (opt) {
		case 'd':
			opts->debug = true;
			break;
		case 'V':
			printf("%s %s\n", trace_prog, RTASYNC_VERSION);
			return TRACE_EXIT_OK;
		case 'h':
			usage(stdout);
			return TRACE_EXIT_OK;
		default:
			usage(stderr);
			return TRACE_EXIT_USAGE;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct trace_opts opts = {};
	const char *name;
	size_t i;
	int ret;

	trace_prog = basename(argv[0]);
	ret = parse_global(&opts, argc, argv);
	if (ret >= 0)
		return ret;
	if (optind >= argc) {
		usage(stderr);
		return TRACE_EXIT_USAGE;
	}
	name = argv[optind];
	if (trace_is_help(name)) {
		usage(stdout);
		return TRACE_EXIT_OK;
	}
	for (i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
		if (!strcmp(name, objects[i].name))
			return objects[i].run(&opts, argc - optind - 1,
					      argv + optind + 1);
	trace_err("unknown object '%s'", name);
	usage(stderr);
	return TRACE_EXIT_USAGE;
}

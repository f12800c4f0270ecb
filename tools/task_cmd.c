// SPDX-License-Identifier: MIT
/*
 * task_cmd.c - the `task` object of rtasync-trace (top, hist, blocked,
 * dump).  These read librtasync's per-worker shared-memory event ring and
 * its probe points, which the runtime does not publish yet; until it does,
 * every command says so and fails with its own exit code.
 */
#include <string.h>

#include "trace.h"

static void task_usage(FILE *out)
{
	fprintf(out,
		"Usage: %1$s [OPTIONS] task { top | hist | blocked | dump | help } -p PID\n"
		"\n"
		"Async-task views of a process linked with librtasync: hottest\n"
		"suspend sites, suspend-time histograms, workers blocked in the\n"
		"kernel per task, async stack dumps.  Not available yet: they need\n"
		"the runtime's probe points.\n",
		trace_prog);
}

int do_task(const struct trace_opts *opts, int argc, char **argv)
{
	(void)opts;
	if (argc >= 1 && trace_is_help(argv[0])) {
		task_usage(stdout);
		return TRACE_EXIT_OK;
	}
	trace_err("task commands need the runtime's probe points (coming)");
	return TRACE_EXIT_UNSUPPORTED;
}

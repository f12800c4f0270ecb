/* SPDX-License-Identifier: MIT */
/*
 * task_cmd.h - what the task commands (task.c) and `record`
 * (record.c) share: the parsed command line, and the wait loop that
 * paces them (drain ticks, --interval reports, the end at --duration, a
 * signal or the target's exit).
 */
#ifndef RTASYNC_TASK_CMD_H
#define RTASYNC_TASK_CMD_H

#include <signal.h>
#include <stdint.h>

#include "json_writer.h"
#include "task_area.h"
#include "trace.h"

/*
 * How often hist and record drain the rings: a ring holds 4096 records,
 * so a worker may do ~40,000 steps a second before any is dropped.
 */
#define TASK_DRAIN_MS 100

struct task_ctx {
	struct trace_opts opts;
	const char *cmd;		/* "top", "hist", ..., "record" */
	pid_t pid;
	unsigned int limit;		/* -n: table rows, 0 = all */
	uint32_t sample_shift;		/* --sample N: 1 step in 2^N */
	unsigned int depth;		/* dump --depth: frames per task */
	bool no_hist;
	const char *output;		/* record -o FILE; top -o FORMAT */
	bool prometheus;		/* top -o prometheus */
	struct task_proc proc;
	struct json_writer jw;
	int nreports;
};

/*
 * The shared wait loop (trace.h) on c->pid: drain ticks every tick_ms
 * (0: none), reports every opts.interval.  0 or -errno; then
 * trace_loop_wait(), and trace_loop_fini() in any case.
 */
int task_loop_init(struct trace_loop *l, const struct task_ctx *c,
		   unsigned int tick_ms);

/* Print what task_proc_open()'s err means for pid; its exit code. */
int task_proc_error(const struct task_proc *p, pid_t pid, int err);


int task_record_run(struct task_ctx *c);	/* record.c */
int do_record(const struct trace_opts *opts, int argc, char **argv);

#endif /* RTASYNC_TASK_CMD_H */

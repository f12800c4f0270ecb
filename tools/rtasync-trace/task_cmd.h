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

enum task_event {
	TASK_EV_TICK,		/* time to drain the rings */
	TASK_EV_REPORT,		/* an --interval report is due */
	TASK_EV_END,		/* --duration, a signal, or the target exited */
};

struct task_loop {
	pid_t pid;
	int sigfd, pidfd;
	sigset_t oldmask;
	uint64_t end, next_report, next_tick;	/* CLOCK_MONOTONIC ns, 0 = none */
	uint64_t interval_ns, tick_ns;
	const char *why;	/* why it ended, for the banner at the end */
};

/* Drain ticks every tick_ms (0: none); reports every opts.interval. */
int task_loop_init(struct task_loop *l, const struct task_ctx *c,
		   unsigned int tick_ms);
enum task_event task_loop_wait(struct task_loop *l);
void task_loop_fini(struct task_loop *l);

/* The HH:MM:SS line that starts each --interval table report. */
void task_print_time(FILE *out, int nreport);

int task_record_run(struct task_ctx *c);	/* record.c */
int do_record(const struct trace_opts *opts, int argc, char **argv);

#endif /* RTASYNC_TASK_CMD_H */

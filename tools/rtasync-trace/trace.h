/* SPDX-License-Identifier: MIT */
/*
 * trace.h - what every rtasync-trace object shares: exit codes, the
 * global options, and small helpers (environment checks, number parsing,
 * log2 histograms).
 */
#ifndef RTASYNC_TOOLS_TRACE_H
#define RTASYNC_TOOLS_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>

/* Exit codes; documented in Documentation/rtasync-trace.md. */
enum trace_exit {
	TRACE_EXIT_OK = 0,
	TRACE_EXIT_FAIL = 1,		/* loading, attaching or reading failed */
	TRACE_EXIT_USAGE = 2,		/* bad option, object or command */
	TRACE_EXIT_PERM = 3,		/* not root, no CAP_BPF+CAP_PERFMON */
	TRACE_EXIT_NO_TARGET = 4,	/* no such pid or cgroup, command not run */
	TRACE_EXIT_NO_BTF = 5,		/* kernel without BTF (or without BPF) */
	TRACE_EXIT_UNSUPPORTED = 6,	/* command not available yet */
};

struct trace_opts {
	bool json;
	bool pretty;
	bool debug;
	double duration;	/* seconds, 0 = until the target ends or ^C */
	double interval;	/* seconds, 0 = one report at the end */
};

extern const char *trace_prog;	/* argv[0] basename, for messages */

/*
 * "rtasync-trace: <message>" on stderr; after -j or --pretty, also
 * {"error":"<message>"} on stdout, as bpftool does, so that a script
 * reading the JSON sees why there is no report.
 */
void trace_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void trace_json_errors(bool pretty);

/*
 * The options every level takes, with the same long option codes in
 * every table: -j, --pretty, --duration SEC, --interval SEC (at least
 * TRACE_MIN_INTERVAL_S: each report costs a read of every map or area).
 */
enum {
	TRACE_OPT_PRETTY = 200,
	TRACE_OPT_DURATION,
	TRACE_OPT_INTERVAL,
};
#define TRACE_MIN_INTERVAL_S 0.01
/* 0 taken, -1 not one of them, else an exit code (the message printed). */
int trace_common_opt(struct trace_opts *o, int opt, const char *arg);

/*
 * The end of every object's start-up line on stderr, after what it
 * traces: " for SEC s" with --duration, then "... Hit Ctrl-C to end.".
 * Tests and scripts wait for that text: one function writes it.
 */
void trace_banner_end(const struct trace_opts *o);
/* The HH:MM:SS line that starts each --interval table report (after a
 * blank line from the second on). */
void trace_print_time(FILE *out, int nreport);

bool trace_is_help(const char *arg);
/*
 * src for a terminal: bytes below 0x20, 0x7f and above (C1 controls
 * hide there, UTF-8 encoded or not) as \xNN.  Names in tables come from
 * the target (site names, symbols, thread names) and must not reach
 * root's terminal as escape sequences or forged lines.  Returns dst.
 */
const char *trace_printable(char *dst, size_t len, const char *src);
#define TRACE_PRINTABLE_MAX 512
#define TRACE_PRINTABLE(s) \
	trace_printable((char[TRACE_PRINTABLE_MAX]){ 0 }, TRACE_PRINTABLE_MAX, (s))
/* pidfd_open(pid, 0), or -1 with errno (ENOSYS before Linux 5.3). */
int trace_parse_seconds(const char *arg, double *out);
int trace_parse_u64(const char *arg, uint64_t *out);
/* A -p argument: 0, or prints why not and returns -EINVAL. */
int trace_parse_pid(const char *arg, int *pid);

#define TRACE_BTF_PATH "/sys/kernel/btf/vmlinux"
/* 0 when the kernel exports its BTF, -ENOENT otherwise */
int trace_check_btf(void);
/* 0 with CAP_SYS_ADMIN or CAP_BPF+CAP_PERFMON, -EPERM otherwise */
int trace_check_privileges(void);
/* Both checks before loading BPF: 0, or says why not and returns the
 * exit code (TRACE_EXIT_NO_BTF, TRACE_EXIT_PERM). */
int trace_check_environment(void);

/* Print a log2 histogram the way libbpf-tools (runqlat, ...) do. */
void trace_print_log2_hist(FILE *out, const unsigned int *slots, int nslots,
			   const char *unit);

/* ---- the wait loop (loop.c) ------------------------------------------ */

#define TRACE_LOOP_MAX_PIDS 64

enum trace_event {
	TRACE_EV_TICK,		/* a tick (the task commands drain rings) */
	TRACE_EV_REPORT,	/* an --interval report is due */
	TRACE_EV_END,		/* --duration, a signal, or the targets ended */
};

struct trace_loop {
	int sigfd;
	sigset_t oldmask;
	int npids;
	int pids[TRACE_LOOP_MAX_PIDS];		/* 0 once ended */
	int pidfds[TRACE_LOOP_MAX_PIDS];	/* -1: watched through /proc */
	uint64_t end, next_report, next_tick;	/* CLOCK_MONOTONIC ns, 0: none */
	uint64_t interval_ns, tick_ns;
	const char *why;	/* "duration", "signal" or "exit" */
};

/*
 * SIGINT, SIGTERM and SIGHUP blocked and taken through a signalfd,
 * SIGPIPE ignored: first, before a command is forked (it restores
 * l->oldmask).  0 or -errno; trace_loop_fini() in any case.
 */
int trace_loop_signals(struct trace_loop *l);
/* Deadlines from --duration and --interval; a tick every tick_ms (0: none). */
void trace_loop_start(struct trace_loop *l, const struct trace_opts *o,
		      unsigned int tick_ms);
/* The loop ends when every watched process has ended (none: never). */
int trace_loop_watch(struct trace_loop *l, int pid);
enum trace_event trace_loop_wait(struct trace_loop *l);
void trace_loop_fini(struct trace_loop *l);

/* Objects: each returns an enum trace_exit. */
int do_sched(const struct trace_opts *opts, int argc, char **argv);
int do_task(const struct trace_opts *opts, int argc, char **argv);

#endif /* RTASYNC_TOOLS_TRACE_H */

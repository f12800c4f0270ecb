/* SPDX-License-Identifier: MIT */
/*
 * The benchmark harness: a monotonic clock, medians over repeated runs,
 * the machine line, result rows (human table + JSON), a forked runner that
 * isolates each topic, and a malloc counter.
 *
 * A benchmark never fails on time: a row carries its target so the reader
 * sees met/missed, but no exit status depends on it.
 */
#ifndef RTASYNC_BENCH_H
#define RTASYNC_BENCH_H

#include <argp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_REPS 31

struct bench_opts {
	unsigned int reps;	/* samples per measurement; the median is kept */
	double scale;		/* multiplies every iteration count */
	unsigned int timeout_s;	/* per topic, then the topic is killed */
	bool fork;		/* run each topic in a child process */
	bool verbose;
};

extern struct bench_opts bench_opts;

/* ---- clock and statistics ------------------------------------------------ */

uint64_t bench_now_ns(void);	/* CLOCK_MONOTONIC */

/* n scaled by bench_opts.scale, at least min. */
uint64_t bench_iters(uint64_t n, uint64_t min);

struct bench_stat {
	unsigned int n;		/* 0: not measured (see the row's note) */
	double median, min, max;
	double samples[BENCH_MAX_REPS];
};

/*
 * One sample: run the operation and return its metric (ns per op, ops/s,
 * MB, ...), or a negative errno when it could not run.
 */
typedef double (*bench_sample_fn)(void *arg);

/*
 * One warm-up call, then bench_opts.reps samples, median kept. Returns 0,
 * or the first negative errno a sample returned (out->n is then 0).
 */
int bench_measure(bench_sample_fn fn, void *arg, struct bench_stat *out);

struct bench_result;

/*
 * Two operations measured side by side: a warm-up of each, then
 * bench_opts.reps rounds of one sample of each (the peer's first), into
 * r->rt and r->other, and the row marked paired (see struct
 * bench_result). Returns 0, or the first negative errno either side
 * returned: then neither side keeps samples.
 */
int bench_measure_paired(bench_sample_fn rt_fn, void *rt_arg,
			 bench_sample_fn peer_fn, void *peer_arg,
			 struct bench_result *r);

/* A single value as a statistic (a one-off measurement or a quoted number). */
void bench_stat_one(struct bench_stat *out, double v);

/* n samples (at most BENCH_MAX_REPS kept) measured elsewhere, as a statistic. */
void bench_stat_samples(struct bench_stat *out, const double *v, unsigned int n);

/* ---- result rows ------------------------------------------------------------ */

enum bench_better {
	BENCH_LOWER = 0,	/* ns, bytes: ratio = peer / librtasync */
	BENCH_HIGHER,		/* ops/s: ratio = librtasync / peer */
};

/*
 * One row of the report. ratio > 1 always means librtasync is better by
 * that factor. Targets are NAN when the row has none.
 *
 * paired: the topic took rt.samples[k] and other.samples[k] side by side,
 * in round k of an interleaved run. The ratio is then the median of the
 * rounds' own ratios, not the ratio of the two medians: this VM changes
 * speed mode (~1.5x) within a run, and a round's two samples share their
 * mode where the two medians may each come from a different one.
 */
struct bench_result {
	char topic[16];
	char name[72];		/* what librtasync ran */
	char peer[72];		/* what it is compared against */
	char metric[16];	/* unit of both values */
	char label[40];		/* short name on the chart; empty: not charted */
	enum bench_better better;
	struct bench_stat rt, other;
	double target_ratio;	/* ratio must be >= this */
	double target_rt;	/* librtasync's value must be <= this */
	bool paired;		/* sample k of each side from round k */
	char note[400];
};

/* A row with its labels set and targets cleared. */
void bench_result_init(struct bench_result *r, const char *topic,
		       const char *name, const char *peer,
		       const char *metric, enum bench_better better);

/* Add a note (joined with "; "). */
void bench_note(struct bench_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Hand a finished row to the report (through the pipe when forked). */
void bench_emit(const struct bench_result *r);

/* Progress line on stderr, prefixed with bench_prog ("rtasync-bench"). */
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern const char *bench_prog;

/* The row's ratio (paired: the rounds' median), NAN if unknown. */
double bench_ratio(const struct bench_result *r);
/* The ratio of the two sides' medians, whether paired or not. */
double bench_ratio_of_medians(const struct bench_result *r);

/* ---- topics --------------------------------------------------------------- */

struct bench_topic {
	const char *name;
	const char *help;
	void (*run)(void);	/* measures and bench_emit()s its rows */
	unsigned int timeout_s;	/* 0: bench_opts.timeout_s */
};

extern const struct bench_topic bench_topics[];	/* NULL-terminated */

void bench_spawn(void);
void bench_yield(void);
void bench_call(void);
void bench_runq(void);
void bench_error(void);
void bench_memory(void);
void bench_fanout(void);
void bench_fanout_ipi(void);	/* ipi.c */
void bench_hog(void);
void bench_peers(void);
void bench_fiber(void);

/* Where the peers topic finds rtasync-peer-* (NULL: next to this program). */
extern const char *bench_peers_dir;
/* ... that directory, resolved. */
void bench_peers_dir_get(char *buf, size_t len);
void bench_sync(void);
void bench_chan_rtt(void);

/*
 * Run fn(arg) in a child process killed after timeout_s. fn writes its
 * result into `out` (size bytes, shared with this process), so whatever it
 * wrote before dying or hanging is still there. Returns 0, or -ECHILD when
 * the child crashed or timed out, with the reason in why. Used to measure
 * memory in a fresh process.
 */
int bench_in_child(void (*fn)(void *arg, void *out), void *arg,
		   void *out, size_t size, unsigned int timeout_s,
		   char *why, size_t whylen);

/*
 * Run argv[0] (a path) with argv, capture its stdout into out (at most
 * len - 1 bytes, NUL-terminated), kill it after timeout_s. Returns its
 * exit status, -EINTR when a signal ended it (the timeout's included), or
 * a negative errno when it could not be started.
 */
int bench_run_capture(char *const argv[], char *out, size_t len,
		      unsigned int timeout_s);

/* The number after "key": in s (a JSON object of ours), or NAN. */
double bench_json_num(const char *s, const char *key);

/* ---- machine, report ------------------------------------------------------- */

struct bench_machine {
	char cpu[96];
	int nproc;		/* online CPUs */
	int affinity;		/* CPUs this process may run on */
	char kernel[136];
	char glibc[32];
	char compiler[64];
	char rseq[48];		/* glibc's registration */
	double loadavg;		/* 1-minute load at start: a noise hint */
};

void bench_machine_read(struct bench_machine *m);
void bench_machine_line(const struct bench_machine *m, char *buf, size_t len);

struct bench_report {
	struct bench_machine machine;
	char command[256];
	uint64_t started_ns, wall_ns;
	struct bench_result *rows;
	size_t nrows, cap;
	char failures[512];	/* topics that crashed or timed out */
};

void bench_report_add(struct bench_report *rep, const struct bench_result *r);
void bench_report_print(const struct bench_report *rep);
int bench_report_json(const struct bench_report *rep, const char *path);
int bench_report_chart_data(const struct bench_report *rep, const char *path);

/* Run the named topics (forked unless bench_opts.fork is false). */
void bench_run_topics(struct bench_report *rep, const char *const *names,
		      size_t n);

/* ---- the command line and the report around the topics (cli.c) ------------ */

struct bench_cli {
	const char *json;		/* JSON report path; "-" stdout, "" none */
	const char **topics;		/* the topics asked for, in order */
	size_t ntopics;
	bool list;
	int argc;
	char **argv;
};

/* The options every program takes: -r -s --timeout --no-fork -l -v and
 * topic names. A program's argp lists it as a child, its input the
 * program's struct bench_cli. */
extern const struct argp bench_common_argp;
double bench_parse_num(const char *s, struct argp_state *state);

/* Parse; 1 when the topics were listed (-l) and the program is done,
 * 0 to go on, -ENOMEM. Without topic names, every topic is run. */
int bench_cli_parse(const struct argp *argp, int argc, char **argv,
		    struct bench_cli *cli);
/* Machine line, command, the topics, then the table. */
void bench_cli_run(struct bench_cli *cli, struct bench_report *rep);
/* Write the JSON report if asked: 0, or 1 when it could not be written. */
int bench_cli_write_json(const struct bench_cli *cli,
			 const struct bench_report *rep);
void bench_cli_free(struct bench_cli *cli, struct bench_report *rep);

/* ---- allocation counting (malloc_count.c) ---------------------------------- */

/* malloc-family calls made by the calling thread so far. */
uint64_t bench_thread_mallocs(void);
/* malloc-family calls made by all threads so far. */
uint64_t bench_all_mallocs(void);
/* false when the counter is not linked in (sanitizer builds). */
bool bench_mallocs_counted(void);

/* ---- helpers ------------------------------------------------------------- */

/* Resident set size of this process in bytes (/proc/self/statm). */
uint64_t bench_rss_bytes(void);
/* Bytes the malloc heap has handed out (mallinfo2 uordblks + hblkhd). */
uint64_t bench_heap_bytes(void);
/* Pin the calling thread to cpu; negative errno on failure. */
int bench_pin_cpu(int cpu);
/* The CPU the calling thread runs on now. */
int bench_cpu(void);
/* Raise this process's descriptor limit to its hard limit (for
 * benchmarks that hold 10,000 sockets), inherited by its children. */
void bench_raise_fd_limit(void);

/* Keep a value alive without a memory access (an empty asm). */
#define bench_keep(v) __asm__ volatile("" : : "r"(v))
#define bench_clobber() __asm__ volatile("" : : : "memory")

#endif /* RTASYNC_BENCH_H */

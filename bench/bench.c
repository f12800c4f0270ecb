/* SPDX-License-Identifier: MIT */
/*
 * The benchmark harness: clock, medians, the machine line, the report
 * (human table, JSON, chart data) and the forked topic runner.
 *
 * Each topic runs in its own child process: a runtime bug that crashes or
 * hangs one topic costs that topic's rows only, and memory and malloc
 * counts start from a clean process. Rows travel to the parent through a
 * pipe as fixed-size records (smaller than PIPE_BUF, so writes are atomic).
 */
#include <errno.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

_Static_assert(sizeof(struct bench_result) <= PIPE_BUF,
	       "a row must fit one atomic pipe write");

struct bench_opts bench_opts = {
	.reps = 7,
	.scale = 1.0,
	.timeout_s = 45,
	.fork = true,
};

const char *bench_prog = "rtasync-bench";

static int emit_fd = -1;			/* forked: the pipe to the parent */
static struct bench_report *emit_report;	/* in-process: the report */

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_iters(uint64_t n, uint64_t min)
{
	double v = (double)n * bench_opts.scale;

	return v < (double)min ? min : (uint64_t)v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void stat_finish(struct bench_stat *s)
{
	double sorted[BENCH_MAX_REPS];

	memcpy(sorted, s->samples, s->n * sizeof(double));
	qsort(sorted, s->n, sizeof(double), cmp_double);
	s->min = sorted[0];
	s->max = sorted[s->n - 1];
	s->median = s->n % 2 ? sorted[s->n / 2]
			     : (sorted[s->n / 2 - 1] + sorted[s->n / 2]) / 2;
}

/* bench_opts.reps, within what a statistic keeps. */
static unsigned int reps_kept(void)
{
	unsigned int reps = bench_opts.reps;

	if (reps < 1)
		return 1;
	return reps > BENCH_MAX_REPS ? BENCH_MAX_REPS : reps;
}

int bench_measure(bench_sample_fn fn, void *arg, struct bench_stat *out)
{
	unsigned int reps = reps_kept();
	double v;

	memset(out, 0, sizeof(*out));
	v = fn(arg);	/* warm-up: caches, lazily mapped memory, thread pools */
	if (v < 0)
		return (int)v;
	for (unsigned int i = 0; i < reps; i++) {
		v = fn(arg);
		if (v < 0) {
			out->n = 0;
			return (int)v;
		}
		out->samples[out->n++] = v;
	}
	stat_finish(out);
	return 0;
}

int bench_measure_paired(bench_sample_fn rt_fn, void *rt_arg,
			 bench_sample_fn peer_fn, void *peer_arg,
			 struct bench_result *r)
{
	unsigned int reps = reps_kept();
	struct bench_stat *rt = &r->rt, *peer = &r->other;
	double p, v;

	memset(rt, 0, sizeof(*rt));
	memset(peer, 0, sizeof(*peer));
	r->paired = false;
	p = peer_fn(peer_arg);	/* warm-up, as bench_measure() */
	v = p < 0 ? p : rt_fn(rt_arg);
	for (unsigned int k = 0; k < reps && p >= 0 && v >= 0; k++) {
		p = peer_fn(peer_arg);
		v = p < 0 ? p : rt_fn(rt_arg);
		peer->samples[k] = p;
		rt->samples[k] = v;
	}
	if (p < 0 || v < 0) {
		memset(rt, 0, sizeof(*rt));
		memset(peer, 0, sizeof(*peer));
		return (int)(p < 0 ? p : v);
	}
	rt->n = peer->n = reps;
	stat_finish(rt);
	stat_finish(peer);
	r->paired = true;
	return 0;
}

void bench_stat_one(struct bench_stat *out, double v)
{
	memset(out, 0, sizeof(*out));
	out->n = 1;
	out->samples[0] = v;
	stat_finish(out);
}

void bench_stat_samples(struct bench_stat *out, const double *v, unsigned int n)
{
	memset(out, 0, sizeof(*out));
	if (n > BENCH_MAX_REPS)
		n = BENCH_MAX_REPS;
	if (!n)
		return;
	memcpy(out->samples, v, n * sizeof(*v));
	out->n = n;
	stat_finish(out);
}

/* ---- rows ------------------------------------------------------------------- */

void bench_result_init(struct bench_result *r, const char *topic,
		       const char *name, const char *peer,
		       const char *metric, enum bench_better better)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->topic, sizeof(r->topic), "%s", topic);
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->peer, sizeof(r->peer), "%s", peer);
	snprintf(r->metric, sizeof(r->metric), "%s", metric);
	r->better = better;
	r->target_ratio = NAN;
	r->target_rt = NAN;
}

/* Append to a "; "-separated list in buf, truncating at size. */
static void list_append(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t len = strlen(buf);

	if (len && len + 2 < size) {
		memcpy(buf + len, "; ", 3);
		len += 2;
	}
	vsnprintf(buf + len, size - len, fmt, ap);
}

void bench_note(struct bench_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	list_append(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

void bench_emit(const struct bench_result *r)
{
	if (emit_fd >= 0) {
		if (write(emit_fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
			bench_log("lost a row: pipe write failed");
		return;
	}
	if (emit_report)
		bench_report_add(emit_report, r);
}

void bench_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", bench_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* How many times better librtasync's value rt is than the peer's. */
static double better_by(enum bench_better better, double rt, double other)
{
	if (better == BENCH_LOWER)
		return rt > 0 ? other / rt : NAN;
	return other > 0 ? rt / other : NAN;
}

double bench_ratio_of_medians(const struct bench_result *r)
{
	if (!r->rt.n || !r->other.n)
		return NAN;
	return better_by(r->better, r->rt.median, r->other.median);
}

/* paired rows (bench.h): a round whose ratio is unknown makes the row
 * fall back to the medians' */
double bench_ratio(const struct bench_result *r)
{
	double v[BENCH_MAX_REPS];
	struct bench_stat st;

	if (!r->paired || !r->rt.n || r->rt.n != r->other.n)
		return bench_ratio_of_medians(r);
	for (unsigned int k = 0; k < r->rt.n; k++) {
		v[k] = better_by(r->better, r->rt.samples[k],
				 r->other.samples[k]);
		if (isnan(v[k]))
			return bench_ratio_of_medians(r);
	}
	bench_stat_samples(&st, v, r->rt.n);
	return st.median;
}

/* true/false, or -1 when the row has no target or no value. */
static int target_met(const struct bench_result *r)
{
	double ratio = bench_ratio(r);
	int met = -1;

	if (!isnan(r->target_ratio)) {
		if (isnan(ratio))
			return -1;
		met = ratio >= r->target_ratio;
	}
	if (!isnan(r->target_rt)) {
		if (!r->rt.n)
			return -1;
		met = (met != 0) && r->rt.median <= r->target_rt;
	}
	return met;
}

/* ---- machine --------------------------------------------------------------- */

static void read_cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		colon[strcspn(colon, "\n")] = 0;
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

void bench_machine_read(struct bench_machine *m)
{
	struct utsname u;
	cpu_set_t set;
	double load[1];

	memset(m, 0, sizeof(*m));
	read_cpu_model(m->cpu, sizeof(m->cpu));
	m->nproc = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (!sched_getaffinity(0, sizeof(set), &set))
		m->affinity = CPU_COUNT(&set);
	if (!uname(&u))
		snprintf(m->kernel, sizeof(m->kernel), "%s %s", u.sysname,
			 u.release);
	snprintf(m->glibc, sizeof(m->glibc), "glibc %s",
		 gnu_get_libc_version());
#if defined(__clang__)
	snprintf(m->compiler, sizeof(m->compiler), "clang %s",
		 __clang_version__);
#elif defined(__GNUC__)
	snprintf(m->compiler, sizeof(m->compiler), "gcc %s", __VERSION__);
#endif
	if (__rseq_size)
		snprintf(m->rseq, sizeof(m->rseq), "rseq registered (%u bytes)",
			 __rseq_size);
	else
		snprintf(m->rseq, sizeof(m->rseq), "rseq not registered");
	m->loadavg = getloadavg(load, 1) == 1 ? load[0] : NAN;
}

void bench_machine_line(const struct bench_machine *m, char *buf, size_t len)
{
	snprintf(buf, len,
		 "%s, %d CPUs online (%d in affinity), %s, %s, %s, %s, load %.2f",
		 m->cpu, m->nproc, m->affinity, m->kernel, m->glibc,
		 m->compiler, m->rseq, m->loadavg);
}

/* ---- report --------------------------------------------------------------- */

void bench_report_add(struct bench_report *rep, const struct bench_result *r)
{
	struct bench_result *row;

	if (rep->nrows == rep->cap) {
		size_t cap = rep->cap ? rep->cap * 2 : 32;
		struct bench_result *rows = realloc(rep->rows,
						    cap * sizeof(*rows));

		if (!rows)
			return;
		rep->rows = rows;
		rep->cap = cap;
	}
	row = &rep->rows[rep->nrows++];
	*row = *r;
	if (row->paired) {
		double medians = bench_ratio_of_medians(row);

		if (bench_ratio(row) != medians)
			bench_note(row, "ratio: median of the %u rounds' own; "
				   "of the medians %.2fx", row->rt.n, medians);
	}
}

/* Numbers for humans: 3-4 significant digits, k/M/G past 10,000. */
static const char *fmt_num(char *buf, size_t len, double v)
{
	double a = fabs(v);

	if (isnan(v))
		snprintf(buf, len, "-");
	else if (isinf(v))
		snprintf(buf, len, "inf");
	else if (a >= 1e10)
		snprintf(buf, len, "%.2fG", v / 1e9);
	else if (a >= 1e7)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (a >= 1e4)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else if (a >= 100 || v == floor(v))
		snprintf(buf, len, "%.0f", v);
	else if (a >= 10)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.2f", v);
	return buf;
}

static const char *fmt_ratio(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (v >= 100)
		snprintf(buf, len, "%.0fx", v);
	else if (v >= 10)
		snprintf(buf, len, "%.1fx", v);
	else
		snprintf(buf, len, "%.2fx", v);
	return buf;
}

static const char *fmt_target(char *buf, size_t len,
			      const struct bench_result *r)
{
	char a[24] = "", b[32] = "", n[16];
	int met = target_met(r);

	if (!isnan(r->target_ratio))
		snprintf(a, sizeof(a), ">=%s", fmt_ratio(n, sizeof(n),
							  r->target_ratio));
	if (!isnan(r->target_rt))
		snprintf(b, sizeof(b), "%s<=%s", *a ? "," : "",
			 fmt_num(n, sizeof(n), r->target_rt));
	if (!*a && !*b) {
		snprintf(buf, len, "-");
		return buf;
	}
	snprintf(buf, len, "%s%s %s", a, b,
		 met < 0 ? "n/a" : met ? "met" : "MISSED");
	return buf;
}

/* "median min spread" cells of a value: spread = (max - min) / median. */
static const char *fmt_stat(char *buf, size_t len, const struct bench_stat *s)
{
	char med[24], min[24], spread[16] = "-";

	if (!s->n) {
		snprintf(buf, len, "%10s %8s %5s", "n/a", "", "");
		return buf;
	}
	if (s->n > 1 && s->median > 0)
		snprintf(spread, sizeof(spread), "%.0f%%",
			 100.0 * (s->max - s->min) / s->median);
	snprintf(buf, len, "%10s %8s %5s", fmt_num(med, sizeof(med), s->median),
		 s->n > 1 ? fmt_num(min, sizeof(min), s->min) : "-", spread);
	return buf;
}

void bench_report_print(const struct bench_report *rep)
{
	char line[512], v1[48], v2[48], ra[24], tg[64];
	unsigned int notes = 0;

	bench_machine_line(&rep->machine, line, sizeof(line));
	printf("\nlibrtasync benchmark report\n");
	printf("machine: %s\n", line);
	printf("command: %s\n", rep->command);
	printf("%u runs per value after a warm-up: median, min and spread "
	       "((max-min)/median); ratio > 1: librtasync is that many times "
	       "cheaper/faster: of the medians, or, marked *, the median of "
	       "the ratios of runs taken side by side\n\n", bench_opts.reps);
	printf("%-7s %-40s %-10s %10s %8s %5s  %-38s %10s %8s %5s %8s  %s\n",
	       "topic", "librtasync", "metric", "median", "min", "sprd",
	       "peer", "median", "min", "sprd", "ratio", "target");
	for (size_t i = 0; i < rep->nrows; i++) {
		const struct bench_result *r = &rep->rows[i];
		char mark[8] = "";
		double ratio;

		if (r->note[0])
			snprintf(mark, sizeof(mark), " [%u]", ++notes);
		ratio = bench_ratio(r);
		fmt_ratio(ra, sizeof(ra), ratio);
		if (r->paired && !isnan(ratio))
			strcat(ra, "*");
		printf("%-7s %-40s %-10s %s  %-38s %s %8s  %s%s\n",
		       r->topic, r->name, r->metric,
		       fmt_stat(v1, sizeof(v1), &r->rt), r->peer,
		       fmt_stat(v2, sizeof(v2), &r->other), ra,
		       fmt_target(tg, sizeof(tg), r), mark);
	}
	if (notes)
		printf("\n");
	notes = 0;
	for (size_t i = 0; i < rep->nrows; i++)
		if (rep->rows[i].note[0])
			printf("[%u] %s: %s\n", ++notes, rep->rows[i].topic,
			       rep->rows[i].note);
	if (rep->failures[0])
		printf("\nnot measured: %s\n", rep->failures);
	printf("\nwall time %.1f s\n", (double)rep->wall_ns / 1e9);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

static void json_stat(FILE *f, const struct bench_stat *s)
{
	if (!s->n) {
		fputs("null", f);
		return;
	}
	fputs("{\"median\": ", f);
	json_num(f, s->median);
	fputs(", \"min\": ", f);
	json_num(f, s->min);
	fputs(", \"max\": ", f);
	json_num(f, s->max);
	fputs(", \"samples\": [", f);
	for (unsigned int i = 0; i < s->n; i++) {
		if (i)
			fputs(", ", f);
		json_num(f, s->samples[i]);
	}
	fputs("]}", f);
}

static void json_row(FILE *f, const struct bench_result *r)
{
	int met = target_met(r);

	fputs("    {\"topic\": ", f);
	json_str(f, r->topic);
	fputs(", \"name\": ", f);
	json_str(f, r->name);
	fputs(", \"peer\": ", f);
	json_str(f, r->peer);
	fputs(", \"metric\": ", f);
	json_str(f, r->metric);
	fprintf(f, ", \"better\": \"%s\",\n     \"librtasync\": ",
		r->better == BENCH_LOWER ? "lower" : "higher");
	json_stat(f, &r->rt);
	fputs(",\n     \"peer_value\": ", f);
	json_stat(f, &r->other);
	fputs(",\n     \"ratio\": ", f);
	json_num(f, bench_ratio(r));
	fprintf(f, ", \"paired\": %s, \"ratio_of_medians\": ",
		r->paired ? "true" : "false");
	json_num(f, bench_ratio_of_medians(r));
	fputs(", \"target_ratio_min\": ", f);
	json_num(f, r->target_ratio);
	fputs(", \"target_librtasync_max\": ", f);
	json_num(f, r->target_rt);
	fprintf(f, ", \"target_met\": %s, \"note\": ",
		met < 0 ? "null" : met ? "true" : "false");
	json_str(f, r->note);
	fputs("}", f);
}

int bench_report_json(const struct bench_report *rep, const char *path)
{
	const struct bench_machine *m = &rep->machine;
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	char line[512];
	time_t now = time(NULL);
	char date[32];

	if (!f)
		return -errno;
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	bench_machine_line(m, line, sizeof(line));
	fputs("{\n  \"schema\": \"rtasync-bench/1\",\n  \"date\": ", f);
	json_str(f, date);
	fputs(",\n  \"command\": ", f);
	json_str(f, rep->command);
	fprintf(f, ",\n  \"reps\": %u, \"scale\": %g, \"wall_s\": %.2f,\n",
		bench_opts.reps, bench_opts.scale, (double)rep->wall_ns / 1e9);
	fputs("  \"machine\": {\"line\": ", f);
	json_str(f, line);
	fputs(", \"cpu\": ", f);
	json_str(f, m->cpu);
	fprintf(f, ", \"nproc\": %d, \"affinity_cpus\": %d, \"kernel\": ",
		m->nproc, m->affinity);
	json_str(f, m->kernel);
	fputs(", \"glibc\": ", f);
	json_str(f, m->glibc);
	fputs(", \"compiler\": ", f);
	json_str(f, m->compiler);
	fputs(", \"rseq\": ", f);
	json_str(f, m->rseq);
	fputs(", \"loadavg_1min\": ", f);
	json_num(f, m->loadavg);
	fputs("},\n  \"results\": [\n", f);
	for (size_t i = 0; i < rep->nrows; i++) {
		json_row(f, &rep->rows[i]);
		fputs(i + 1 < rep->nrows ? ",\n" : "\n", f);
	}
	fputs("  ],\n  \"not_measured\": ", f);
	json_str(f, rep->failures);
	fputs("\n}\n", f);
	if (f != stdout && fclose(f))
		return -errno;
	return 0;
}

/*
 * Chart data for bench/plot.gp: one line per labelled row that has a
 * ratio, "label<TAB>ratio<TAB>target ratio<TAB>met", in report order:
 * target ratio 0 when the row has none, met 1/0, or -1 when the row has
 * no target at all. The first comment line is the machine line, for the title.
 */
int bench_report_chart_data(const struct bench_report *rep, const char *path)
{
	FILE *f = fopen(path, "w");
	char line[512];

	if (!f)
		return -errno;
	bench_machine_line(&rep->machine, line, sizeof(line));
	fprintf(f, "# %s\n# label\tratio\ttarget_ratio\tmet\n", line);
	for (size_t i = 0; i < rep->nrows; i++) {
		const struct bench_result *r = &rep->rows[i];
		double ratio = bench_ratio(r);

		if (!r->label[0] || isnan(ratio) || isinf(ratio) || ratio <= 0)
			continue;
		fprintf(f, "%s\t%.6g\t%.6g\t%d\n", r->label, ratio,
			isnan(r->target_ratio) ? 0.0 : r->target_ratio,
			target_met(r));
	}
	if (fclose(f))
		return -errno;
	return 0;
}

/* ---- the forked runner ------------------------------------------------------- */

static const struct bench_topic *topic_find(const char *name)
{
	for (const struct bench_topic *t = bench_topics; t->name; t++)
		if (!strcmp(t->name, name))
			return t;
	return NULL;
}

static void add_failure(struct bench_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_failure(struct bench_report *rep, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	list_append(rep->failures, sizeof(rep->failures), fmt, ap);
	va_end(ap);
}

/*
 * Fork with a pipe from the child to us. The child gets 0 and the write
 * end in *fd (and dies with us); we get its pid and the read end; or a
 * negative errno.
 */
static pid_t fork_piped(int *fd)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		*fd = fds[1];
		return 0;
	}
	close(fds[1]);
	*fd = fds[0];
	return pid;
}

/*
 * Read the child's pipe until EOF, handing each chunk to sink; kill the
 * child when sink returns false or at the deadline (*timed_out). Close
 * the pipe, reap the child, return its wait status.
 */
static int child_drain(pid_t pid, int fd, uint64_t deadline,
		       bool (*sink)(void *ctx, const char *buf, size_t n),
		       void *ctx, bool *timed_out)
{
	char buf[PIPE_BUF];
	int status;

	*timed_out = false;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = bench_now_ns();
		ssize_t n;

		if (now >= deadline) {
			*timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (!sink(ctx, buf, (size_t)n)) {
			kill(pid, SIGKILL);	/* or it blocks on a full pipe */
			break;
		}
	}
	close(fd);
	waitpid(pid, &status, 0);
	return status;
}

static uint64_t deadline_in(unsigned int timeout_s)
{
	return bench_now_ns() + (uint64_t)timeout_s * 1000000000u;
}

/* Fixed-size records out of a byte stream. */
struct rec_sink {
	size_t rec, have;
	void (*on_rec)(void *ctx, const void *buf);
	void *ctx;
	char buf[PIPE_BUF];
};

static bool rec_sink(void *ctx, const char *buf, size_t n)
{
	struct rec_sink *rs = ctx;

	while (n) {
		size_t take = rs->rec - rs->have < n ? rs->rec - rs->have : n;

		memcpy(rs->buf + rs->have, buf, take);
		rs->have += take;
		buf += take;
		n -= take;
		if (rs->have == rs->rec) {
			rs->on_rec(rs->ctx, rs->buf);
			rs->have = 0;
		}
	}
	return true;
}

/*
 * Fork, run fn in the child with `fd` as its pipe end, and read records of
 * `rec` bytes until EOF or timeout_s passed (then the child is killed).
 * on_rec gets each record. Returns 0, or -ECHILD with the reason in why.
 */
static int run_forked(void (*fn)(void *arg, int fd), void *arg, size_t rec,
		      void (*on_rec)(void *ctx, const void *buf), void *ctx,
		      unsigned int timeout_s, char *why, size_t whylen)
{
	struct rec_sink rs = { .rec = rec, .on_rec = on_rec, .ctx = ctx };
	uint64_t deadline = deadline_in(timeout_s);
	bool timed_out;
	int fd, status;
	pid_t pid;

	pid = fork_piped(&fd);
	if (pid < 0)
		return pid;
	if (!pid) {
		fn(arg, fd);
		fflush(NULL);
		_exit(0);
	}
	status = child_drain(pid, fd, deadline, rec_sink, &rs, &timed_out);
	if (timed_out) {
		snprintf(why, whylen, "timed out after %u s (killed)",
			 timeout_s);
		return -ECHILD;
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, whylen, "killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
		return -ECHILD;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status)) {
		snprintf(why, whylen, "exited with status %d",
			 WEXITSTATUS(status));
		return -ECHILD;
	}
	return 0;
}

static void topic_child(void *arg, int fd)
{
	const struct bench_topic *t = arg;

	emit_fd = fd;
	t->run();
}

static void topic_row(void *ctx, const void *buf)
{
	bench_report_add(ctx, buf);
}

void bench_run_topics(struct bench_report *rep, const char *const *names,
		      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct bench_topic *t = topic_find(names[i]);
		uint64_t t0 = bench_now_ns();
		unsigned int timeout_s = bench_opts.timeout_s;
		char why[128];

		if (!t) {
			add_failure(rep, "%s: no such topic", names[i]);
			continue;
		}
		bench_log("%s: %s", t->name, t->help);
		if (t->timeout_s > timeout_s)	/* a topic that needs longer */
			timeout_s = t->timeout_s;
		if (!bench_opts.fork) {
			emit_report = rep;
			t->run();
			emit_report = NULL;
		} else if (run_forked(topic_child, (void *)t,
				      sizeof(struct bench_result), topic_row,
				      rep, timeout_s, why,
				      sizeof(why))) {
			bench_log("%s: %s", t->name, why);
			add_failure(rep, "%s: %s", t->name, why);
		}
		bench_log("%s: done in %.1f s", t->name,
			  (double)(bench_now_ns() - t0) / 1e9);
	}
}

struct child_call {
	void (*fn)(void *arg, void *out);
	void *arg;
	void *shared;
	bool done;
};

static void child_body(void *arg, int fd)
{
	struct child_call *c = arg;

	emit_fd = -1;	/* rows belong to the caller, not to this child */
	c->fn(c->arg, c->shared);
	if (write(fd, "", 1) != 1)
		_exit(1);
}

static void child_done(void *ctx, const void *buf)
{
	struct child_call *c = ctx;

	c->done = true;
}

int bench_in_child(void (*fn)(void *arg, void *out), void *arg,
		   void *out, size_t size, unsigned int timeout_s,
		   char *why, size_t whylen)
{
	struct child_call c = { fn, arg, NULL, false };
	int err;

	c.shared = mmap(NULL, size, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c.shared == MAP_FAILED)
		return -errno;
	memcpy(c.shared, out, size);
	err = run_forked(child_body, &c, 1, child_done, &c, timeout_s,
			 why, whylen);
	if (!err && !c.done) {
		snprintf(why, whylen, "child finished without a result");
		err = -ECHILD;
	}
	memcpy(out, c.shared, size);
	munmap(c.shared, size);
	return err;
}

/* ---- helpers --------------------------------------------------------------- */

double bench_json_num(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	if (!s)
		return NAN;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(s, pat);
	return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* Bytes into a buffer, len - 1 at most. */
struct buf_sink {
	char *out;
	size_t len, have;
};

static bool buf_sink(void *ctx, const char *buf, size_t n)
{
	struct buf_sink *bs = ctx;
	size_t room = bs->len - 1 - bs->have;

	if (n > room)
		n = room;
	memcpy(bs->out + bs->have, buf, n);
	bs->have += n;
	return bs->have < bs->len - 1;
}

int bench_run_capture(char *const argv[], char *out, size_t len,
		      unsigned int timeout_s)
{
	struct buf_sink bs = { out, len, 0 };
	uint64_t deadline = deadline_in(timeout_s);
	bool timed_out;
	int fd, status;
	pid_t pid;

	pid = fork_piped(&fd);
	if (pid < 0)
		return pid;
	if (!pid) {
		dup2(fd, STDOUT_FILENO);
		close(fd);
		execv(argv[0], argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	status = child_drain(pid, fd, deadline, buf_sink, &bs, &timed_out);
	out[bs.have] = 0;
	if (WIFSIGNALED(status))
		return -EINTR;
	return WEXITSTATUS(status);
}

uint64_t bench_rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t bench_heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

int bench_pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

int bench_cpu(void)
{
	return sched_getcpu();
}

void bench_raise_fd_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

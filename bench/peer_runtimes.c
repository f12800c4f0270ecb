/* SPDX-License-Identifier: MIT */
/*
 * peers: librtasync beside the runtimes users would pick instead, Tokio
 * (current_thread, multi_thread with 2 workers) and Go (GOMAXPROCS 1 and
 * 2), on the same shapes: spawn+run+join, a yield loop, the three in-task
 * fan-outs of shapes.h, and 10k suspended tasks x 100 frames.
 *
 * The peers are programs (bench/peers/, built by bench/peers/build.sh)
 * that print one JSON line per shape. Rounds interleave them with
 * librtasync: each round runs every shape once on librtasync with 1
 * worker, then on each 1-worker peer, then the same with 2, each peer in
 * a fresh process and librtasync on a fresh runtime, each doing its own
 * warm-up. The VM's speed moves by ~1.5x within minutes, so the samples
 * of a ratio are taken seconds apart, not minutes. Rounds stop after
 * PEERS_BUDGET_S (a busy machine gets fewer samples, not a longer run).
 *
 * A peer that is not built, or fails, leaves its rows with "n/a" and the
 * reason; the other rows still come.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shapes.h"

#define PEERS_BUDGET_S		40
#define PEER_TIMEOUT_S		60
#define PEER_OUT_MAX		8192
#define YIELDS			1000000
#define TOKIO_RATIO_TARGET	2.5	/* issue 6: <= 0.4x Tokio's per-task cost */

const char *bench_peers_dir;

/* What each round runs, in this order; yield is the one that is not a
 * spawn shape. */
static const char *const timed[] = {
	"spawn", "yield", "fanout", "fanout-overflow", "fanout-one",
};
#define NTIMED (sizeof(timed) / sizeof(timed[0]))

struct samples {
	double v[NTIMED][BENCH_MAX_REPS];
	unsigned int n[NTIMED];
};

struct peer {
	const char *prog;	/* the program's file name */
	const char *family;	/* "Tokio" */
	const char *config;	/* "current_thread" */
	const char *how;	/* the way it is written, for the note */
	const char *flag;	/* its workers option */
	unsigned int workers;
	char path[PATH_MAX];
	char name[72];		/* "Tokio 1.24.2 current_thread", for the row */
	char toolchain[80];	/* build.sh's .version, line 2 */
	char why[160];		/* why it has no values */
	struct samples s;
	double mib;		/* memory: RSS growth */
	double peak_mib;
};

static struct peer peers[] = {
	{ .prog = "rtasync-peer-tokio", .family = "Tokio",
	  .config = "current_thread", .how = "JoinHandle", .flag = "-w",
	  .workers = 1 },
	{ .prog = "rtasync-peer-go", .family = "Go", .config = "GOMAXPROCS=1",
	  .how = "WaitGroup per batch", .flag = "-p", .workers = 1 },
	{ .prog = "rtasync-peer-tokio", .family = "Tokio",
	  .config = "multi_thread, 2 workers", .how = "JoinHandle",
	  .flag = "-w", .workers = 2 },
	{ .prog = "rtasync-peer-go", .family = "Go", .config = "GOMAXPROCS=2",
	  .how = "WaitGroup per batch", .flag = "-p", .workers = 2 },
};
#define NPEERS (sizeof(peers) / sizeof(peers[0]))

struct rt_side {
	unsigned int workers;
	struct samples s;
	char why[160];
	char shape[96];		/* the runtime's, for the note */
};

static unsigned int timed_index(const char *name)
{
	for (unsigned int i = 0; i < NTIMED; i++)
		if (!strcmp(timed[i], name))
			return i;
	return NTIMED;
}

static uint64_t yields(void)
{
	return bench_iters(YIELDS, 1000);
}

/* Tasks (or yields) one run of timed[i] does: the peers must agree. */
static uint64_t timed_tasks(unsigned int i)
{
	const struct bench_shape *s = bench_shape_find(timed[i]);

	return s ? bench_shape_tasks(s, bench_shape_batches(s)) : yields();
}

static void add_sample(struct samples *s, unsigned int i, double v)
{
	if (s->n[i] < BENCH_MAX_REPS)
		s->v[i][s->n[i]++] = v;
}

/* ---- librtasync's side ------------------------------------------------- */

/* One run of timed[i] after a quarter-size warm-up: ns per task. */
static double rt_timed(struct rt_runtime *rt, unsigned int i)
{
	const struct bench_shape *s = bench_shape_find(timed[i]);
	uint64_t n;
	double v;

	if (!s) {
		v = bench_yield_loop_ns(rt, yields() / 4);
		return v < 0 ? v : bench_yield_loop_ns(rt, yields());
	}
	n = bench_shape_batches(s);
	v = bench_shape_run(rt, s, n / 4 ? n / 4 : 1);
	return v < 0 ? v : bench_shape_run(rt, s, n);
}

static void rt_round(struct rt_side *side)
{
	struct rt_runtime *rt;
	int err;

	if (side->why[0])
		return;
	err = bench_rt_new(side->workers, 0, &rt);
	if (err < 0) {
		snprintf(side->why, sizeof(side->why), "rt_runtime_new: %s",
			 strerror(-err));
		return;
	}
	bench_rt_describe(rt, side->shape, sizeof(side->shape));
	for (unsigned int i = 0; i < NTIMED; i++) {
		double v = rt_timed(rt, i);

		if (v < 0) {
			snprintf(side->why, sizeof(side->why), "%s: %s",
				 timed[i], strerror((int)-v));
			break;
		}
		add_sample(&side->s, i, v);
	}
	bench_rt_free(rt);
}

/* ---- the peers' side ---------------------------------------------------- */

/* The string after "key": in line, into buf; false when there is none. */
static bool json_str(const char *line, const char *key, char *buf, size_t len)
{
	char pat[64];
	const char *p, *end;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p)
		return false;
	p += strlen(pat);
	p += strspn(p, " ");
	if (*p++ != '"' || !(end = strchr(p, '"')))
		return false;
	snprintf(buf, len, "%.*s", (int)(end - p), p);
	return true;
}

/* Lines of build.sh's PROGRAM.SUFFIX file into a and b; false without it. */
static bool peer_file(const struct peer *p, const char *suffix,
		      char *a, size_t alen, char *b, size_t blen)
{
	char name[PATH_MAX + 16];
	FILE *f;
	bool ok;

	snprintf(name, sizeof(name), "%s.%s", p->path, suffix);
	f = fopen(name, "r");
	if (!f)
		return false;
	ok = fgets(a, (int)alen, f);
	a[strcspn(a, "\n")] = 0;
	if (ok && b && fgets(b, (int)blen, f))
		b[strcspn(b, "\n")] = 0;
	fclose(f);
	return ok;
}

/* Find the program and its versions; without it, say why (build.sh's
 * .why file). */
static void peer_locate(struct peer *p, const char *dir)
{
	char version[24] = "";

	if (snprintf(p->path, sizeof(p->path), "%s/%s", dir, p->prog) >=
	    (int)sizeof(p->path)) {
		snprintf(p->why, sizeof(p->why), "peers directory path too long");
		return;
	}
	peer_file(p, "version", version, sizeof(version), p->toolchain,
		  sizeof(p->toolchain));
	snprintf(p->name, sizeof(p->name), "%s%s%s %s", p->family,
		 *version ? " " : "", version, p->config);
	if (!access(p->path, X_OK))
		return;
	if (!peer_file(p, "why", p->why, sizeof(p->why), NULL, 0))
		snprintf(p->why, sizeof(p->why), "%s is not built: run "
			 "bench/peers/build.sh (tools/run-report.sh does)",
			 p->prog);
	bench_log("peers: no %s: %s", p->path, p->why);
}

/* Run the peer on args; its stdout in out. false with p->why set on failure. */
static bool peer_exec(struct peer *p, const char *const *args, size_t nargs,
		      char *out, size_t len)
{
	char workers[16], scale[32];
	char *argv[16] = { p->path, "-r", "1", "-s", scale, (char *)p->flag,
			   workers };
	unsigned int n = 7;
	int st;

	snprintf(workers, sizeof(workers), "%u", p->workers);
	snprintf(scale, sizeof(scale), "%g", bench_opts.scale);
	for (size_t i = 0; i < nargs && n < 15; i++)
		argv[n++] = (char *)args[i];
	st = bench_run_capture(argv, out, len, PEER_TIMEOUT_S);
	if (!st)
		return true;
	snprintf(p->why, sizeof(p->why), "%s %s", p->prog,
		 st == -EINTR ? "killed (crashed or timed out)" :
		 st < 0 ? strerror(-st) : "failed (its stderr is above)");
	return false;
}

/* One line of the peer's output into its samples; false if it is wrong. */
static bool peer_line(struct peer *p, const char *line)
{
	char shape[32];
	unsigned int i;
	double tasks, v;

	if (!json_str(line, "shape", shape, sizeof(shape)))
		return true;	/* not a result line */
	i = timed_index(shape);
	if (i == NTIMED)
		return true;
	tasks = bench_json_num(line, "tasks");
	v = bench_json_num(line, "median");
	if (tasks != (double)timed_tasks(i) || !(v > 0)) {
		snprintf(p->why, sizeof(p->why), "%s ran %s with %.0f tasks, "
			 "not %llu: out of step with shapes.h", p->prog, shape,
			 tasks, (unsigned long long)timed_tasks(i));
		return false;
	}
	add_sample(&p->s, i, v);
	return true;
}

static void peer_round(struct peer *p)
{
	char out[PEER_OUT_MAX], *save = NULL;

	if (p->why[0] || !peer_exec(p, timed, NTIMED, out, sizeof(out)))
		return;
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!peer_line(p, l))
			return;
}

static void peer_memory(struct peer *p)
{
	char out[PEER_OUT_MAX];
	const char *const args[] = { "memory" };

	if (p->why[0] || !peer_exec(p, args, 1, out, sizeof(out)))
		return;
	p->mib = bench_json_num(out, "median");
	p->peak_mib = bench_json_num(out, "peak_rss_mib");
	if (!(p->mib > 0))
		snprintf(p->why, sizeof(p->why), "%s memory: no result",
			 p->prog);
}

/* ---- rows ------------------------------------------------------------------ */

static const char *timed_what(unsigned int i)
{
	const struct bench_shape *s = bench_shape_find(timed[i]);

	return s ? s->what : "yield loop";
}

static double median_of(const struct samples *s, unsigned int i)
{
	struct bench_stat st;

	bench_stat_samples(&st, s->v[i], s->n[i]);
	return st.n ? st.median : 0;
}

/* The same program's 1-worker configuration, for the speed-up. */
static const struct peer *one_worker_of(const struct peer *p)
{
	for (size_t k = 0; k < NPEERS; k++)
		if (peers[k].workers == 1 && !strcmp(peers[k].prog, p->prog))
			return &peers[k];
	return NULL;
}

/* "2 vs 1 worker: librtasync 0.81x, Tokio 1.2x" */
static void note_speedup(struct bench_result *r, const struct rt_side *rt,
			 const struct peer *p, unsigned int i)
{
	const struct peer *p1 = one_worker_of(p);
	double a = median_of(&rt[1].s, i), b = p1 ? median_of(&p->s, i) : 0;

	if (a > 0 && median_of(&rt[0].s, i) > 0)
		bench_note(r, "2 vs 1 worker: librtasync %.2fx",
			   median_of(&rt[0].s, i) / a);
	if (b > 0 && median_of(&p1->s, i) > 0)
		bench_note(r, "%s %.2fx", p->prog + strlen("rtasync-peer-"),
			   median_of(&p1->s, i) / b);
}

static void timed_row(const struct rt_side *rt, const struct peer *p,
		      unsigned int i, unsigned int rounds)
{
	const struct rt_side *side = &rt[p->workers - 1];
	bool fan = bench_shape_find(timed[i]) && strcmp(timed[i], "spawn");
	struct bench_result r;

	bench_result_init(&r, "peers", "", p->name,
			  fan || !strcmp(timed[i], "spawn") ? "ns/task" :
			  "ns/yield", BENCH_LOWER);
	snprintf(r.name, sizeof(r.name), "%s, %u worker%s", timed_what(i),
		 p->workers, p->workers == 1 ? "" : "s");
	/* what was measured before a failure still counts */
	bench_stat_samples(&r.rt, side->s.v[i], side->s.n[i]);
	bench_stat_samples(&r.other, p->s.v[i], p->s.n[i]);
	r.paired = side->s.n[i] == rounds && p->s.n[i] == rounds;
	if (side->why[0])
		bench_note(&r, "librtasync: %s", side->why);
	if (p->why[0])
		bench_note(&r, "%s", p->why);
	if (fan && p->workers == 2 && !strcmp(p->prog, "rtasync-peer-tokio"))
		r.target_ratio = TOKIO_RATIO_TARGET;
	if ((p->workers == 1 && !fan) || (p->workers == 2 && !strcmp(timed[i], "fanout")))
		snprintf(r.label, sizeof(r.label), "%s, %uw vs %s", timed[i],
			 p->workers, p->prog + strlen("rtasync-peer-"));
	bench_note(&r, "%llu %s per run, %u round%s interleaved",
		   (unsigned long long)timed_tasks(i),
		   bench_shape_find(timed[i]) ? "tasks" : "yields", rounds,
		   rounds == 1 ? "" : "s");
	if (fan && p->workers == 2)
		note_speedup(&r, rt, p, i);
	if (!strcmp(timed[i], "spawn") || fan)
		bench_note(&r, "peer joins by %s", p->how);
	if (!strcmp(timed[i], "spawn") && side->shape[0])
		bench_note(&r, "librtasync: %s", side->shape);
	if (!strcmp(timed[i], "spawn") && p->toolchain[0])
		bench_note(&r, "peer built with %s", p->toolchain);
	bench_emit(&r);
}

static void memory_row(double rt_mib, const char *rt_why, const struct peer *p)
{
	struct bench_result r;

	bench_result_init(&r, "peers", "10k x 100 frames, default config", "",
			  "MiB", BENCH_LOWER);
	snprintf(r.peer, sizeof(r.peer), "%s", p->name);
	snprintf(r.label, sizeof(r.label), "memory vs %s",
		 p->prog + strlen("rtasync-peer-"));
	if (rt_mib > 0)
		bench_stat_one(&r.rt, rt_mib);
	if (rt_why[0])
		bench_note(&r, "librtasync: %s", rt_why);
	if (p->why[0]) {
		bench_note(&r, "not measured: %s", p->why);
	} else {
		bench_stat_one(&r.other, p->mib);
		bench_note(&r, "RSS growth, fresh processes; peer's peak RSS "
			   "%.1f MiB", p->peak_mib);
	}
	bench_note(&r, "%s", strstr(p->prog, "tokio") ?
		   "Tokio: 100 boxed async fns, the leaf's Sleep boxed" :
		   "Go: 10k goroutines 100 calls deep, blocked on a channel");
	bench_emit(&r);
}

/* ---- the topic -------------------------------------------------------------- */

/* Next to this program: <dir of rtasync-bench>/peers. */
static void default_dir(char *buf, size_t len)
{
	char exe[PATH_MAX - 8];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	exe[n > 0 ? n : 0] = 0;
	slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	snprintf(buf, len, "%s/peers", n > 0 ? exe : ".");
}

void bench_peers_dir_get(char *buf, size_t len)
{
	if (bench_peers_dir)
		snprintf(buf, len, "%s", bench_peers_dir);
	else
		default_dir(buf, len);
}

/* Every peer of this worker count, then librtasync, or the other way. */
static void round_of(struct rt_side *side, unsigned int workers, bool rt_first)
{
	if (rt_first)
		rt_round(side);
	for (size_t k = 0; k < NPEERS; k++)
		if (peers[k].workers == workers)
			peer_round(&peers[k]);
	if (!rt_first)
		rt_round(side);
}

static unsigned int run_rounds(struct rt_side *rt)
{
	uint64_t t0 = bench_now_ns(), budget = PEERS_BUDGET_S * 1000000000ull;
	unsigned int round;

	for (round = 0; round < bench_opts.reps; round++) {
		if (round && bench_now_ns() - t0 > budget) {
			bench_log("peers: %u of %u rounds in the %d s budget",
				  round, bench_opts.reps, PEERS_BUDGET_S);
			break;
		}
		round_of(&rt[0], 1, round % 2 == 0);
		round_of(&rt[1], 2, round % 2 == 0);
	}
	return round;
}

void bench_peers(void)
{
	struct rt_side rt[2] = { { .workers = 1 }, { .workers = 2 } };
	char dir[PATH_MAX], rt_why[160] = "";
	unsigned int rounds;
	double rt_mib;

	bench_peers_dir_get(dir, sizeof(dir));
	for (size_t k = 0; k < NPEERS; k++)
		peer_locate(&peers[k], dir);
	rounds = run_rounds(rt);
	for (unsigned int i = 0; i < NTIMED; i++)
		for (size_t k = 0; k < NPEERS; k++)
			timed_row(rt, &peers[k], i, rounds);

	rt_mib = bench_memory_default_mib(rt_why, sizeof(rt_why));
	for (size_t k = 0; k < NPEERS; k++) {
		if (peers[k].workers != 2)
			continue;
		peer_memory(&peers[k]);
		memory_row(rt_mib, rt_why, &peers[k]);
	}
}

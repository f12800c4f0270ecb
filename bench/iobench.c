// SPDX-License-Identifier: MIT
/*
 * rtasync-iobench: librtasync's servers side by side with what users
 * would pick instead, in one run.
 *
 *   rtasync-iobench [-r REPS] [-d SEC] [-c LIST] [-P DEPTH] [-j FILE]
 *                   [--servers LIST] [--peers DIR] [TOPIC...]
 *
 *   http  HTTP/1.1 plaintext (GET / -> "Hello, World!") under wrk (one
 *         thread) at each connection count of LIST (64,256,1024), and
 *         pipelined DEPTH deep (16) at the first: rtasync-httpd (one
 *         worker) with a continuation per connection, and with a fiber
 *         per connection (--fibers: the seeds' green threads), the
 *         baselines (rtasync-baseline: thread per connection, blocking
 *         pool, epoll, raw liburing; on demand raw liburing on
 *         registered files), nginx (one process), Go net/http
 *         (GOMAXPROCS=1), Tokio current_thread.
 *   echo  rtasync-echo against the raw liburing loop (and epoll) at the
 *         same concurrency, under this program's own echo load: what the
 *         runtime adds to an I/O.
 *
 * Every server runs pinned to CPU 0 and the client (wrk, or the echo
 * load) to CPU 1. All servers are started once per topic and stay up;
 * the runs interleave (every server, then every server again, REPS
 * times), so a machine that changes speed affects all alike. Per run:
 * requests (wrk's count), the server's CPU time over the run (its
 * process CPU clock, all threads, user + system) per request, context switches
 * per request (its live threads' /proc counts), p99 latency (wrk), and
 * peak RSS at the end. Medians with min and max; a table per metric,
 * and every value in the JSON report.
 *
 * On 2 cores wrk saturates its core before the fast servers do theirs,
 * so requests/s measures wrk as much as the server: the primary figure
 * is server CPU time per request.
 */
#include <argp.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iobench.h"
#include "srv.h"

#define MAX_CONFIGS 8
/*
 * The seeds' "async vs green threads" table (ASP.NET Core plaintext, the
 * .NET team's green-thread experiment), quoted on the row of our own
 * ratio: continuations to fibers in the same server, requests/s.
 */
#define SEEDS_NOTE "the seeds' ASP.NET Core plaintext: async 178,620, " \
	"green threads 162,019 req/s, 1.10x"
#define PIPE_SCRIPT "iobench-pipeline.lua"

enum server_id {
	S_RTASYNC,		/* rtasync-httpd: each row's own side */
	S_FIBER,		/* rtasync-httpd --fibers */
	S_RTASYNC_NOSPIN,	/* rtasync-httpd --spin-us 0: what polling costs */
	S_THREAD, S_POOL, S_EPOLL, S_URING, S_NGINX, S_GO, S_TOKIO,
	S_RTASYNC_NODL,		/* librtasync without the idle deadline: on demand */
	S_URING_FIXED,		/* raw io_uring, registered files: on demand */
	NR_SERVERS
};

static const struct {
	const char *key, *label;
} servers[NR_SERVERS] = {
	[S_RTASYNC] = { "rtasync", "librtasync" },
	[S_FIBER] = { "fibers", "rt fibers" },
	[S_RTASYNC_NOSPIN] = { "rtasync-nospin", "rt no spin" },
	[S_THREAD] = { "thread", "thread/conn" },
	[S_POOL] = { "pool", "thread pool" },
	[S_EPOLL] = { "epoll", "epoll" },
	[S_URING] = { "uring", "raw io_uring" },
	[S_NGINX] = { "nginx", "nginx" },
	[S_GO] = { "go", "Go net/http" },
	[S_TOKIO] = { "tokio", "Tokio" },
	[S_RTASYNC_NODL] = { "rtasync-nodl", "rt no idle" },
	[S_URING_FIXED] = { "uring-fixed", "uring fixed" },
};

static struct {
	unsigned int duration_s;
	unsigned int conns[MAX_CONFIGS];
	unsigned int nconns;
	unsigned int depth;		/* pipelined requests per write */
	unsigned int echo_conns, echo_size;
	const char *spin_us;		/* for librtasync's servers, or NULL */
	bool want[NR_SERVERS];
	const char *peers_dir, *nginx, *wrk;
	char self_dir[1024];
	char work_dir[1024];		/* logs, nginx prefix, wrk script */
	char log[1100];			/* the servers' output */
	char script[1100];		/* wrk's pipelining script */
	char nginx_prefix[1100];
	char nginx_conf[1200];
	char nginx_pid[1200];		/* nginx -g "pid ...;" */
} opt = {
	.duration_s = 1,
	.conns = { 64, 256, 1024 },
	.nconns = 3,
	.depth = 16,
	.echo_conns = 64,
	.echo_size = 64,
	.nginx = "/usr/sbin/nginx",
	.wrk = "/usr/bin/wrk",
};

/* ---- the servers' command lines ------------------------------------------- */

struct cmd {
	char *argv[16];
	char path[PATH_MAX];		/* the program */
};

/* nginx's prefix with its configuration for port: 0 or -errno. */
static int nginx_prefix(int port)
{
	char src[PATH_MAX], tmp[1200], line[512];
	FILE *in, *out;

	snprintf(src, sizeof(src), "%s/peers/nginx/nginx.conf", IOB_SOURCE_DIR);
	snprintf(tmp, sizeof(tmp), "%s/tmp", opt.nginx_prefix);
	mkdir(opt.nginx_prefix, 0755);
	mkdir(tmp, 0755);
	in = fopen(src, "re");
	out = in ? fopen(opt.nginx_conf, "we") : NULL;
	if (!out) {
		if (in)
			fclose(in);
		return -ENOENT;
	}
	while (fgets(line, sizeof(line), in)) {
		char *at = strstr(line, "@PORT@");

		if (at)
			fprintf(out, "%.*s%d%s", (int)(at - line), line, port,
				at + 6);
		else
			fputs(line, out);
	}
	fclose(in);
	fclose(out);
	return 0;
}

/* The command line of server s in mode (echo: rtasync, epoll, uring). */
static int server_cmd(enum server_id s, enum srv_mode mode, int port,
		      struct cmd *c, char *why, size_t whylen)
{
	const char *m = mode == SRV_ECHO ? "echo" : "http";
	char **a = c->argv;
	int i = 5;

	memset(c->argv, 0, sizeof(c->argv));
	switch (s) {
	case S_RTASYNC: case S_FIBER: case S_RTASYNC_NOSPIN:
	case S_RTASYNC_NODL:
		snprintf(c->path, sizeof(c->path), "%s/%s", opt.self_dir,
			 mode == SRV_ECHO ? "rtasync-echo" : "rtasync-httpd");
		a[0] = c->path;
		a[1] = "--port"; a[2] = "@PORT@"; a[3] = "--workers"; a[4] = "1";
		if (s == S_RTASYNC_NOSPIN) {
			a[i++] = "--spin-us";
			a[i++] = "0";
		} else if (opt.spin_us) {
			a[i++] = "--spin-us";
			a[i++] = (char *)opt.spin_us;
		}
		if (s == S_RTASYNC_NODL) {
			a[i++] = "--idle-timeout";
			a[i++] = "0";
		}
		if (s == S_FIBER)
			a[i++] = "--fibers";
		break;
	case S_THREAD: case S_POOL: case S_EPOLL: case S_URING:
	case S_URING_FIXED:
		snprintf(c->path, sizeof(c->path), "%s/rtasync-baseline",
			 opt.self_dir);
		a[0] = c->path;
		a[1] = "--model"; a[2] = (char *)servers[s].key;
		a[3] = "--mode"; a[4] = (char *)m;
		a[5] = "--port"; a[6] = "@PORT@";
		break;
	case S_NGINX:
		if (nginx_prefix(port)) {
			snprintf(why, whylen, "no %s/peers/nginx/nginx.conf",
				 IOB_SOURCE_DIR);
			return -ENOENT;
		}
		snprintf(c->path, sizeof(c->path), "%s", opt.nginx);
		a[0] = c->path;
		a[1] = "-p"; a[2] = opt.nginx_prefix;
		a[3] = "-c"; a[4] = opt.nginx_conf;
		a[5] = "-e"; a[6] = "stderr"; a[7] = "-g"; a[8] = opt.nginx_pid;
		break;
	case S_GO:
		snprintf(c->path, sizeof(c->path), "%s/rtasync-peer-go-http",
			 opt.peers_dir);
		a[0] = c->path;
		a[1] = "-port"; a[2] = "@PORT@"; a[3] = "-p"; a[4] = "1";
		break;
	case S_TOKIO:
		snprintf(c->path, sizeof(c->path), "%s/rtasync-peer-tokio-http",
			 opt.peers_dir);
		a[0] = c->path;
		a[1] = "--port"; a[2] = "@PORT@";
		break;
	default:
		return -EINVAL;
	}
	if (access(a[0], X_OK)) {
		char whyfile[PATH_MAX + 8] = "";
		FILE *f;

		snprintf(whyfile, sizeof(whyfile), "%s.why", a[0]);
		f = fopen(whyfile, "re");
		snprintf(why, whylen, "%s is not there", a[0]);
		if (f) {
			if (fgets(why, (int)whylen, f))
				why[strcspn(why, "\n")] = 0;
			fclose(f);
		}
		return -ENOENT;
	}
	return 0;
}

/* ---- one run: wrk against a server ------------------------------------------ */

struct sample {
	double requests, rps, cpu_us, switches, p99_ms, errors;
	bool ok;
};

/*
 * "99%    1.23ms" in wrk's latency distribution, in ms. wrk times no
 * request of a pipelined batch (it prints 0): NAN, not measured.
 */
static double wrk_p99(const char *out)
{
	const char *p = strstr(out, "    99%");
	double v;
	char unit[8];

	if (!p || sscanf(p + 7, " %lf%7s", &v, unit) != 2 || v <= 0)
		return NAN;
	if (!strcmp(unit, "us"))
		return v / 1e3;
	if (!strcmp(unit, "s"))
		return v * 1e3;
	return v;
}

/* Requests that were not a 2xx, and socket errors, wrk counts both. */
static double wrk_errors(const char *out)
{
	const char *p = strstr(out, "Non-2xx or 3xx responses:");
	unsigned long a = 0, b = 0, c = 0, d = 0, n = 0;

	if (p)
		sscanf(p + 26, "%lu", &n);
	p = strstr(out, "Socket errors:");
	if (p)
		sscanf(p, "Socket errors: connect %lu, read %lu, write %lu, "
		       "timeout %lu", &a, &b, &c, &d);
	return (double)(n + a + b + c + d);
}

static void write_pipeline_script(void)
{
	FILE *f = fopen(opt.script, "we");

	if (!f)
		return;
	/* DEPTH requests in each write; wrk counts each answer */
	fputs("local depth = 16\n"
	      "function init(args)\n"
	      "  depth = tonumber(args[1]) or depth\n"
	      "  local r = {}\n"
	      "  for i = 1, depth do r[i] = wrk.format(nil, \"/\") end\n"
	      "  req = table.concat(r)\n"
	      "end\n"
	      "function request() return req end\n", f);
	fclose(f);
}

static int run_wrk(int port, unsigned int conns, unsigned int depth,
		   char *out, size_t len)
{
	char c[16], d[16], url[64], dep[16];
	char *argv[16] = { (char *)opt.wrk, "-t1", c, d, "--latency",
			   "--timeout", "5s" };
	int i = 7;

	snprintf(c, sizeof(c), "-c%u", conns);
	snprintf(d, sizeof(d), "-d%us", opt.duration_s);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	if (depth > 1) {
		snprintf(dep, sizeof(dep), "%u", depth);
		argv[i++] = "-s";
		argv[i++] = opt.script;
		argv[i++] = url;
		argv[i++] = "--";
		argv[i++] = dep;
	} else {
		argv[i++] = url;
	}
	return bench_run_capture(argv, out, len, opt.duration_s + 30);
}

/* One wrk run against srv; a run that fails says why on stderr. */
static void http_run(const struct iob_server *srv, const char *label,
		     unsigned int conns, unsigned int depth, struct sample *s)
{
	static char out[16384];
	struct iob_usage a, b;
	unsigned long long n = 0;
	const char *p;
	int ret;

	memset(s, 0, sizeof(*s));
	if (iob_usage_read(srv->pid, &a))
		goto gone;
	ret = run_wrk(srv->port, conns, depth, out, sizeof(out));
	if (ret) {
		bench_log("%s, %u conns: wrk failed (status %d)", label, conns,
			  ret);
		return;
	}
	if (iob_usage_read(srv->pid, &b))
		goto gone;
	p = strstr(out, " requests in ");
	while (p && p > out && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (!p || sscanf(p, "%llu", &n) != 1 || !n) {
		bench_log("%s, %u conns: no request answered", label, conns);
		return;
	}
	s->requests = (double)n;
	p = strstr(out, "Requests/sec:");
	s->rps = p ? atof(p + 13) : NAN;
	s->cpu_us = (double)(b.cpu_ns - a.cpu_ns) / 1e3 / s->requests;
	s->switches = (double)(b.switches - a.switches) / s->requests;
	s->p99_ms = wrk_p99(out);
	s->errors = wrk_errors(out);
	s->ok = true;
	return;
gone:
	bench_log("%s, %u conns: the server process is gone (see its output "
		  "in %s)", label, conns, opt.log);
}

/* ---- the servers of a topic --------------------------------------------------- */

struct fleet {
	struct iob_server srv[NR_SERVERS];
	bool up[NR_SERVERS];
	char why[NR_SERVERS][160];
	double peak_rss_mib[NR_SERVERS];
};

static void fleet_start(struct fleet *f, enum srv_mode mode,
			const bool *which)
{
	for (int s = 0; s < NR_SERVERS; s++) {
		struct cmd c;
		int port;

		f->up[s] = false;
		if (!which[s])
			continue;
		port = iob_free_port();
		if (server_cmd(s, mode, port, &c, f->why[s], sizeof(f->why[s])))
			continue;
		f->srv[s].port = port;
		if (iob_server_start(&f->srv[s], c.argv, opt.log)) {
			snprintf(f->why[s], sizeof(f->why[s]), "%s",
				 f->srv[s].why);
			continue;
		}
		f->up[s] = true;
	}
}

static void fleet_stop(struct fleet *f)
{
	for (int s = 0; s < NR_SERVERS; s++) {
		struct iob_usage u;

		if (!f->up[s])
			continue;
		if (!iob_usage_read(f->srv[s].pid, &u))
			f->peak_rss_mib[s] = (double)u.peak_rss / (1024.0 * 1024.0);
		iob_server_stop(&f->srv[s]);
	}
}

/* ---- rows --------------------------------------------------------------------- */

struct metric {
	const char *name, *unit;
	enum bench_better better;
	size_t off;		/* of the value in struct sample */
};

#define METRIC(n, u, b, field) { n, u, b, offsetof(struct sample, field) }

static const struct metric http_metrics[] = {
	METRIC("server CPU per request", "us/req", BENCH_LOWER, cpu_us),
	METRIC("requests per second", "req/s", BENCH_HIGHER, rps),
	METRIC("p99 latency", "ms", BENCH_LOWER, p99_ms),
	METRIC("context switches per request", "sw/req", BENCH_LOWER, switches),
};

#define NR_HTTP_METRICS (sizeof(http_metrics) / sizeof(http_metrics[0]))

static double value_of(const struct sample *s, const struct metric *m)
{
	return *(const double *)((const char *)s + m->off);
}

static void stat_of(struct bench_stat *st, const struct sample *v,
		    unsigned int n, const struct metric *m)
{
	double x[BENCH_MAX_REPS];
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++)
		if (v[i].ok && !isnan(value_of(&v[i], m)))
			x[k++] = value_of(&v[i], m);
	bench_stat_samples(st, x, k);
}

/* The issue's targets: see Documentation/benchmarks.md. */
static void set_targets(struct bench_result *r, const struct metric *m,
			enum server_id peer, unsigned int depth)
{
	bool best_of = peer == S_TOKIO || peer == S_EPOLL || peer == S_URING;

	if (m->off == offsetof(struct sample, cpu_us) && depth > 1)
		r->target_rt = 0.5;
	else if (m->off == offsetof(struct sample, cpu_us) && best_of)
		r->target_ratio = 1 / 0.9;
	if (m->off == offsetof(struct sample, switches))
		r->target_rt = 0.01;
}

static void config_name(char *buf, size_t len, unsigned int conns,
			unsigned int depth)
{
	if (depth > 1)
		snprintf(buf, len, "%u conns, pipelined %u", conns, depth);
	else
		snprintf(buf, len, "%u conns", conns);
}

static void emit_http_rows(const struct fleet *f, unsigned int conns,
			   unsigned int depth,
			   struct sample v[NR_SERVERS][BENCH_MAX_REPS],
			   unsigned int reps)
{
	char cfg[48];

	config_name(cfg, sizeof(cfg), conns, depth);
	for (size_t mi = 0; mi < NR_HTTP_METRICS; mi++) {
		const struct metric *m = &http_metrics[mi];

		for (int s = S_RTASYNC + 1; s < NR_SERVERS; s++) {
			struct bench_result r;
			char name[72];
			double errs = 0;

			if (!opt.want[s])
				continue;
			snprintf(name, sizeof(name), "%s: %s", cfg, m->name);
			bench_result_init(&r, "http", name, servers[s].label,
					  m->unit, m->better);
			if (!f->up[S_RTASYNC] || !f->up[s]) {
				bench_note(&r, "not measured: %s",
					   f->up[s] ? f->why[S_RTASYNC] : f->why[s]);
				bench_emit(&r);
				continue;
			}
			stat_of(&r.rt, v[S_RTASYNC], reps, m);
			stat_of(&r.other, v[s], reps, m);
			/* run k of each server from round k, when none failed */
			r.paired = r.rt.n == reps && r.other.n == reps;
			set_targets(&r, m, s, depth);
			for (unsigned int i = 0; i < reps; i++)
				errs += v[s][i].errors + v[S_RTASYNC][i].errors;
			if (errs && !mi)
				bench_note(&r, "%.0f requests failed (wrk: "
					   "non-2xx or socket errors), all "
					   "runs of both", errs);
			if (s == S_FIBER && m->better == BENCH_HIGHER)
				bench_note(&r, "%s", SEEDS_NOTE);
			bench_emit(&r);
		}
	}
}

static void emit_rss_rows(const struct fleet *f)
{
	for (int s = S_RTASYNC + 1; s < NR_SERVERS; s++) {
		struct bench_result r;

		if (!f->up[S_RTASYNC] || !f->up[s])
			continue;
		bench_result_init(&r, "http", "peak RSS, whole run",
				  servers[s].label, "MiB", BENCH_LOWER);
		bench_stat_one(&r.rt, f->peak_rss_mib[S_RTASYNC]);
		bench_stat_one(&r.other, f->peak_rss_mib[s]);
		bench_emit(&r);
	}
}

/* ---- topics -------------------------------------------------------------------- */

static unsigned int reps_wanted(void)
{
	unsigned int r = bench_opts.reps ? bench_opts.reps : 1;

	return r > BENCH_MAX_REPS ? BENCH_MAX_REPS : r;
}

/* The client's CPU (in the topic's process; each server pins itself). */
static void pin_client(void)
{
	if (bench_pin_cpu(IOB_SERVER_CPU + 1))
		bench_log("could not pin the client to CPU %d: client and "
			  "servers share CPUs", IOB_SERVER_CPU + 1);
}

static void log_missing(const struct fleet *f, const bool *which)
{
	for (int s = 0; s < NR_SERVERS; s++)
		if (which[s] && !f->up[s])
			bench_log("%s: not measured: %s", servers[s].label,
				  f->why[s]);
}

static void bench_http(void)
{
	static struct sample v[NR_SERVERS][BENCH_MAX_REPS];
	unsigned int reps = reps_wanted();
	struct fleet f;

	pin_client();
	write_pipeline_script();
	fleet_start(&f, SRV_HTTP, opt.want);
	log_missing(&f, opt.want);
	for (unsigned int ci = 0; ci <= opt.nconns; ci++) {
		/* the last config: the first count, pipelined */
		unsigned int conns = opt.conns[ci < opt.nconns ? ci : 0];
		unsigned int depth = ci < opt.nconns ? 1 : opt.depth;

		if (depth <= 1 && ci == opt.nconns)
			break;
		memset(v, 0, sizeof(v));
		for (unsigned int rep = 0; rep < reps; rep++)
			for (int s = 0; s < NR_SERVERS; s++)
				if (f.up[s])
					http_run(&f.srv[s], servers[s].label,
						 conns, depth, &v[s][rep]);
		emit_http_rows(&f, conns, depth, v, reps);
		if (bench_opts.verbose)
			bench_log("http: %u conns, depth %u done", conns, depth);
	}
	fleet_stop(&f);
	emit_rss_rows(&f);
}

struct echo_sample {
	double trips, cpu_us;
};

static void echo_run(const struct iob_server *srv, struct echo_sample *s)
{
	struct iob_usage a, b;
	double tps;

	s->trips = s->cpu_us = NAN;
	if (iob_usage_read(srv->pid, &a))
		return;
	tps = iob_echo_load(srv->port, opt.echo_conns, opt.echo_size,
			    opt.duration_s * 1000u);
	if (tps <= 0 || iob_usage_read(srv->pid, &b))
		return;
	s->trips = tps;
	s->cpu_us = (double)(b.cpu_ns - a.cpu_ns) / 1e3 /
		    (tps * opt.duration_s);
}

static void emit_echo_row(const char *what, enum server_id peer,
			  struct echo_sample v[NR_SERVERS][BENCH_MAX_REPS],
			  unsigned int reps, bool cpu, const struct fleet *f)
{
	double x[BENCH_MAX_REPS], y[BENCH_MAX_REPS];
	unsigned int n = 0;
	struct bench_result r;
	char name[72];

	snprintf(name, sizeof(name), "echo %u conns x %u B: %s",
		 opt.echo_conns, opt.echo_size, what);
	bench_result_init(&r, "echo", name, servers[peer].label,
			  cpu ? "us/trip" : "trips/s",
			  cpu ? BENCH_LOWER : BENCH_HIGHER);
	if (!f->up[S_RTASYNC] || !f->up[peer]) {
		bench_note(&r, "not measured: %s",
			   f->up[peer] ? f->why[S_RTASYNC] : f->why[peer]);
		bench_emit(&r);
		return;
	}
	for (unsigned int i = 0; i < reps; i++) {
		double a = cpu ? v[S_RTASYNC][i].cpu_us : v[S_RTASYNC][i].trips;
		double b = cpu ? v[peer][i].cpu_us : v[peer][i].trips;

		if (isnan(a) || isnan(b))
			continue;
		x[n] = a;
		y[n++] = b;
	}
	bench_stat_samples(&r.rt, x, n);
	bench_stat_samples(&r.other, y, n);
	r.paired = true;	/* x[k] and y[k] from the same round */
	if (peer == S_URING)
		r.target_ratio = cpu ? 1 / 1.1 : 0.9;
	bench_note(&r, "%u rounds of 1 s per server, interleaved", n);
	bench_emit(&r);
}

/*
 * The echo rows carry the I/O layer's overhead target, a few percent
 * either side of 0.9x, and a round is 3 s: at least ECHO_MIN_REPS of
 * them, where 3 rounds (the HTTP rows' default) flipped the verdict from
 * one report to the next.
 */
#define ECHO_MIN_REPS 7

static void bench_echo(void)
{
	static struct echo_sample v[NR_SERVERS][BENCH_MAX_REPS];
	bool which[NR_SERVERS] = { [S_RTASYNC] = true, [S_URING] = true,
				   [S_EPOLL] = true };
	unsigned int reps = reps_wanted() < ECHO_MIN_REPS ? ECHO_MIN_REPS :
			    reps_wanted();
	struct fleet f;

	pin_client();
	fleet_start(&f, SRV_ECHO, which);
	log_missing(&f, which);
	for (unsigned int rep = 0; rep < reps; rep++)
		for (int s = 0; s < NR_SERVERS; s++)
			if (f.up[s])
				echo_run(&f.srv[s], &v[s][rep]);
	fleet_stop(&f);
	emit_echo_row("round trips per second", S_URING, v, reps, false, &f);
	emit_echo_row("server CPU per round trip", S_URING, v, reps, true, &f);
	emit_echo_row("round trips per second", S_EPOLL, v, reps, false, &f);
	emit_echo_row("server CPU per round trip", S_EPOLL, v, reps, true, &f);
}

const struct bench_topic bench_topics[] = {
	{ "http", "HTTP plaintext under wrk: librtasync, the baselines, "
	  "nginx, Go, Tokio", bench_http, 0 },
	{ "echo", "echo round trips: librtasync against the raw liburing "
	  "loop and epoll", bench_echo, 0 },
	{ NULL, NULL, NULL, 0 },
};

/* ---- the table at a glance -------------------------------------------------- */

static const struct bench_result *find_row(const struct bench_report *rep,
					   const char *name, const char *peer)
{
	for (size_t i = 0; i < rep->nrows; i++)
		if (!strcmp(rep->rows[i].name, name) &&
		    !strcmp(rep->rows[i].peer, peer))
			return &rep->rows[i];
	return NULL;
}

static void fmt_cell(char *buf, size_t len, const struct bench_stat *st)
{
	if (!st->n)
		snprintf(buf, len, "-");
	else if (st->median >= 1000)
		snprintf(buf, len, "%.0f", st->median);
	else if (st->median >= 1)
		snprintf(buf, len, "%.2f", st->median);
	else
		snprintf(buf, len, "%.3f", st->median);
}

/* One metric: a line per configuration, a column per server. */
static void print_matrix(const struct bench_report *rep,
			 const struct metric *m)
{
	printf("\n%s (%s, medians)\n%-24s", m->name, m->unit, "");
	for (int s = 0; s < NR_SERVERS; s++)
		if (opt.want[s])
			printf(" %12s", servers[s].label);
	printf("\n");
	for (unsigned int ci = 0; ci <= opt.nconns; ci++) {
		unsigned int conns = opt.conns[ci < opt.nconns ? ci : 0];
		unsigned int depth = ci < opt.nconns ? 1 : opt.depth;
		char cfg[48], name[72], cell[24];
		bool any = false;

		if (depth <= 1 && ci == opt.nconns)
			break;
		config_name(cfg, sizeof(cfg), conns, depth);
		snprintf(name, sizeof(name), "%s: %s", cfg, m->name);
		printf("%-24s", cfg);
		for (int s = 0; s < NR_SERVERS; s++) {
			const struct bench_result *r;

			if (!opt.want[s])
				continue;
			/* librtasync's value is in every row; take a peer's */
			for (int p = S_RTASYNC + 1; p < NR_SERVERS &&
			     s == S_RTASYNC && !any; p++) {
				r = find_row(rep, name, servers[p].label);
				if (r) {
					fmt_cell(cell, sizeof(cell), &r->rt);
					printf(" %12s", cell);
					any = true;
				}
			}
			if (s == S_RTASYNC) {
				if (!any)
					printf(" %12s", "-");
				continue;
			}
			r = find_row(rep, name, servers[s].label);
			fmt_cell(cell, sizeof(cell), r ? &r->other :
				 &(struct bench_stat){ 0 });
			printf(" %12s", cell);
		}
		printf("\n");
	}
}

static void print_glance(const struct bench_report *rep)
{
	bool http = false;

	for (size_t i = 0; i < rep->nrows; i++)
		http |= !strcmp(rep->rows[i].topic, "http");
	if (!http)
		return;
	printf("\nHTTP plaintext at a glance: server pinned to CPU %d, wrk "
	       "(1 thread) to the next, %u s per run\n", IOB_SERVER_CPU,
	       opt.duration_s);
	for (size_t mi = 0; mi < NR_HTTP_METRICS; mi++)
		print_matrix(rep, &http_metrics[mi]);
}

/* ---- main ----------------------------------------------------------------------- */

struct args {
	struct bench_cli cli;		/* first: the common options' input */
};

enum { OPT_SERVERS = 0x100, OPT_PEERS, OPT_NGINX, OPT_WRK, OPT_ECHO_SIZE,
	OPT_ECHO_CONNS, OPT_SPIN };

static const struct argp_option options[] = {
	{ "json", 'j', "FILE", 0, "Write the JSON report to FILE (default "
	  "iobench-report.json; '-' for stdout, '' for none)", 0 },
	{ "duration", 'd', "SEC", 0, "Seconds per run (default 1)", 0 },
	{ "conns", 'c', "LIST", 0, "Connection counts (default 64,256,1024)",
	  0 },
	{ "pipeline", 'P', "DEPTH", 0, "Pipelined requests per write, at the "
	  "first count (default 16; 1: none)", 0 },
	{ "servers", OPT_SERVERS, "LIST", 0, "HTTP servers besides librtasync "
	  "(default fibers,rtasync-nospin,thread,pool,epoll,uring,nginx,go,"
	  "tokio; rtasync-nospin is rtasync-httpd with --spin-us 0; also "
	  "rtasync-nodl: rtasync-httpd without its idle deadline, and "
	  "uring-fixed: the raw liburing loop on registered files)", 0 },
	{ "peers", OPT_PEERS, "DIR", 0, "Where rtasync-peer-*-http are "
	  "(default: peers/ next to this program)", 0 },
	{ "nginx", OPT_NGINX, "PATH", 0, "nginx (default /usr/sbin/nginx)", 0 },
	{ "wrk", OPT_WRK, "PATH", 0, "wrk (default /usr/bin/wrk)", 0 },
	{ "echo-size", OPT_ECHO_SIZE, "BYTES", 0, "Echo message size (64)", 0 },
	{ "echo-conns", OPT_ECHO_CONNS, "N", 0, "Echo connections (64)", 0 },
	{ "spin-us", OPT_SPIN, "US", 0, "librtasync's servers: idle polling "
	  "before a worker sleeps (default: the runtime's, 50)", 0 },
	{ 0 },
};

static void parse_conns(const char *s, struct argp_state *state)
{
	char *copy = strdup(s), *save = NULL;

	opt.nconns = 0;
	for (char *t = strtok_r(copy, ",", &save); t && opt.nconns < MAX_CONFIGS;
	     t = strtok_r(NULL, ",", &save))
		opt.conns[opt.nconns++] = (unsigned int)bench_parse_num(t, state);
	free(copy);
}

static void parse_servers(const char *s, struct argp_state *state)
{
	char *copy = strdup(s), *save = NULL;

	for (int i = S_RTASYNC + 1; i < NR_SERVERS; i++)
		opt.want[i] = false;
	for (char *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int i;

		for (i = S_RTASYNC + 1; i < NR_SERVERS; i++)
			if (!strcmp(t, servers[i].key))
				break;
		if (i == NR_SERVERS)
			argp_error(state, "no server '%s'", t);
		opt.want[i] = true;
	}
	free(copy);
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->cli;
		break;
	case 'j': a->cli.json = arg; break;
	case 'd': opt.duration_s = (unsigned int)bench_parse_num(arg, state); break;
	case 'c': parse_conns(arg, state); break;
	case 'P': opt.depth = (unsigned int)bench_parse_num(arg, state); break;
	case OPT_SERVERS: parse_servers(arg, state); break;
	case OPT_PEERS: opt.peers_dir = arg; break;
	case OPT_NGINX: opt.nginx = arg; break;
	case OPT_WRK: opt.wrk = arg; break;
	case OPT_ECHO_SIZE:
		opt.echo_size = (unsigned int)bench_parse_num(arg, state);
		break;
	case OPT_ECHO_CONNS:
		opt.echo_conns = (unsigned int)bench_parse_num(arg, state);
		break;
	case OPT_SPIN:
		opt.spin_us = arg;
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
	.doc = "librtasync's HTTP and echo servers side by side with the "
	       "baselines and peers, under wrk and an echo load.\vTopics: "
	       "http echo (default: both). Servers pinned to CPU 0, the "
	       "client to CPU 1; runs interleaved; 3 runs per value by "
	       "default. Needs wrk (and nginx, the peers built by "
	       "bench/peers/build.sh) for the peers' columns. See "
	       "Documentation/benchmarks.md.",
	.children = children,
};

/* Where this program is (its siblings), and a scratch directory. */
static int set_dirs(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	static char peers[PATH_MAX + 8];

	if (n <= 0)
		return -errno;
	self[n] = 0;
	snprintf(opt.self_dir, sizeof(opt.self_dir), "%s", dirname(self));
	if (!opt.peers_dir) {
		snprintf(peers, sizeof(peers), "%s/peers", opt.self_dir);
		opt.peers_dir = peers;
	}
	snprintf(opt.work_dir, sizeof(opt.work_dir), "/tmp/rtasync-iobench-XXXXXX");
	if (!mkdtemp(opt.work_dir))
		return -errno;
	snprintf(opt.log, sizeof(opt.log), "%s/servers.log", opt.work_dir);
	snprintf(opt.script, sizeof(opt.script), "%s/" PIPE_SCRIPT, opt.work_dir);
	snprintf(opt.nginx_prefix, sizeof(opt.nginx_prefix), "%s/nginx",
		 opt.work_dir);
	snprintf(opt.nginx_conf, sizeof(opt.nginx_conf), "%s/nginx.conf",
		 opt.nginx_prefix);
	snprintf(opt.nginx_pid, sizeof(opt.nginx_pid), "pid %s/nginx.pid;",
		 opt.nginx_prefix);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_report rep = { 0 };
	struct args a = { .cli.json = "iobench-report.json" };
	int ret;

	bench_prog = "rtasync-iobench";
	bench_opts.reps = 3;
	bench_opts.timeout_s = 600;
	for (int s = 0; s < S_RTASYNC_NODL; s++)
		opt.want[s] = true;
	ret = bench_cli_parse(&argp, argc, argv, &a.cli);
	if (ret)
		return ret < 0;
	if (set_dirs()) {
		fprintf(stderr, "rtasync-iobench: no scratch directory\n");
		return 1;
	}
	bench_raise_fd_limit();	/* 1,024 connections, and the servers' */
	bench_cli_run(&a.cli, &rep);
	print_glance(&rep);
	printf("\nthe servers' output: %s\n", opt.log);
	ret = bench_cli_write_json(&a.cli, &rep);
	bench_cli_free(&a.cli, &rep);
	return ret;
}

// SPDX-License-Identifier: MIT
/*
 * io_features: what each io_uring feature the runtime uses is worth,
 * each measured against the runtime without it, in one run, in rounds
 * that alternate the two (the machine is shared: only the ratios within
 * a run mean anything).
 *
 *	rtasync-io-features [-r ROUNDS] [-n SCALE] [-j FILE.json]
 *			    [-f FEATURE] [-o with|without]
 *
 *   reg_ring     pipe write+read round trips, each op one loop turn and
 *                one io_uring_enter: ring fd registered vs not
 *   accept       connect + 1-byte echo + close through a listener:
 *                multishot accept vs single-shot re-armed
 *   recv         64-byte ping-pong: a stream (multishot recv, provided
 *                buffers) vs rt_op_recv into the task's own buffer
 *   send_zc      256 KiB sends over TCP loopback: SEND_ZC vs send
 *
 * Prints min/median/max per variant and the median of the per-round
 * ratios (baseline / feature: > 1 means the feature is faster), and
 * writes the same as JSON. -f runs one feature; -o runs one side of it
 * once, without warm-up or report: for instruction counts under
 * valgrind --tool=callgrind, which sees the runtime's instructions and
 * not the kernel's.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtasync.h"

#define MAX_ROUNDS 31

static unsigned int rounds = 11;
static double scale = 1;
static const char *only_feature, *only_side;

static uint64_t iters(uint64_t n)
{
	uint64_t v = (uint64_t)((double)n * scale);

	return v ? v : 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, unsigned int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double minmax(const double *v, unsigned int n, bool max)
{
	double m = v[0];

	for (unsigned int i = 1; i < n; i++)
		if (max ? v[i] > m : v[i] < m)
			m = v[i];
	return m;
}

static struct rt_runtime *runtime(const char *env, const char *val)
{
	struct rt_runtime *rt;
	struct rt_config cfg;

	rt_config_init(&cfg);
	cfg.workers = 1;
	if (env)
		setenv(env, val, 1);
	if (rt_runtime_new(&cfg, &rt)) {
		fprintf(stderr, "rt_runtime_new failed\n");
		exit(1);
	}
	if (env)
		unsetenv(env);
	return rt;
}

static int64_t run(struct rt_runtime *rt, rt_async_fn fn, struct rt_frame *f,
		   size_t size)
{
	struct rt_task *h;
	int64_t r = -1;

	if (rt_task_spawn(rt, fn, f, size, &h) || rt_task_join(h, &r))
		exit(1);
	rt_task_release(h);
	return r;
}

/* ---- reg_ring: pipe round trips ------------------------------------------ */

struct pipe_frame {
	struct rt_frame frame;
	int fds[2];
	uint64_t n, i;
	char c;
};

static RT_ASYNC int64_t pipe_trips(struct rt_task *t, struct rt_frame *base)
{
	struct pipe_frame *f = RT_FRAME(base, struct pipe_frame);
	int64_t r __attribute__((unused));	/* errors skip the frame */

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_WRITE(r, f->fds[1], "x", 1, (uint64_t)-1);
		RT_READ(r, f->fds[0], &f->c, 1, (uint64_t)-1);
	}
	return 0;
}

/* ns per op (two ops a round trip) */
static double sample_pipe(struct rt_runtime *rt, bool unused)
{
	struct pipe_frame f = { .n = iters(20000) };
	uint64_t t0;

	(void)unused;
	if (pipe(f.fds))
		exit(1);
	t0 = rt_now_ns();
	run(rt, pipe_trips, &f.frame, sizeof(f));
	t0 = rt_now_ns() - t0;
	close(f.fds[0]);
	close(f.fds[1]);
	return (double)t0 / (2.0 * (double)f.n);
}

/* ---- accept: connections through a listener ------------------------------- */

struct serve_frame {
	struct rt_frame frame;
	struct rt_listener *l;
	uint64_t n, i;
	int fd;
	char c;
};

static RT_ASYNC int64_t serve_bytes(struct rt_task *t, struct rt_frame *base)
{
	struct serve_frame *f = RT_FRAME(base, struct serve_frame);
	int64_t r;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_ACCEPT_NEXT(r, f->l);
		f->fd = (int)r;
		RT_RECV(r, f->fd, &f->c, 1, 0);
		RT_SEND(r, f->fd, &f->c, 1, MSG_NOSIGNAL);
		RT_CLOSE(r, f->fd);
	}
	RT_AWAIT(r, rt_op_listener_close(t, f->l));
	return 0;
}

static int test_listen(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) ||
	    listen(fd, 1024) || getsockname(fd, (struct sockaddr *)a, &len))
		exit(1);
	return fd;
}

/* ns per connection, the client being this thread (blocking calls) */
static double sample_accept(struct rt_runtime *rt, bool single)
{
	struct sockaddr_in a;
	int lfd = test_listen(&a);
	struct serve_frame f = { .n = iters(2000) };
	struct rt_task *h;
	uint64_t t0;

	if (rt_listener_new(rt, lfd, single ? RT_SOURCE_SINGLE_SHOT : 0, &f.l) ||
	    rt_task_spawn(rt, serve_bytes, &f.frame, sizeof(f), &h))
		exit(1);
	t0 = rt_now_ns();
	for (uint64_t i = 0; i < f.n; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		char b = 'b';

		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) ||
		    send(c, &b, 1, 0) != 1 || recv(c, &b, 1, 0) != 1)
			exit(1);
		close(c);
	}
	t0 = rt_now_ns() - t0;
	rt_task_join(h, NULL);
	rt_task_release(h);
	close(lfd);
	return (double)t0 / (double)f.n;
}

/* ---- recv: ping-pong, stream vs rt_op_recv -------------------------------- */

#define PING 64

struct pong_frame {
	struct rt_frame frame;
	int fd;
	bool stream;
	struct rt_stream *s;
	uint64_t n, i;
	char buf[PING];
};

/* Echo n messages of PING bytes (a stream may cut one in two). */
static RT_ASYNC int64_t pong(struct rt_task *t, struct rt_frame *base)
{
	struct pong_frame *f = RT_FRAME(base, struct pong_frame);
	int64_t r;

	RT_BEGIN(t, base);
	if (f->stream && rt_stream_new(rt_task_runtime(t), f->fd, 0, &f->s))
		return -1;
	for (f->i = 0; f->i < f->n * PING; f->i += (uint64_t)r) {
		if (f->stream) {
			RT_RECV_NEXT(r, f->s);
			if (r <= 0)
				return -1;
			RT_SEND_ALL(r, f->fd, rt_stream_data(f->s), (size_t)r);
		} else {
			RT_RECV(r, f->fd, f->buf, sizeof(f->buf), 0);
			if (r <= 0)
				return -1;
			RT_SEND_ALL(r, f->fd, f->buf, (size_t)r);
		}
	}
	if (f->stream)
		RT_AWAIT(r, rt_op_stream_close(t, f->s));
	return 0;
}

struct ping_frame {
	struct rt_frame frame;
	int fd;
	uint64_t n, i;
	size_t got;
	char buf[PING];
};

static RT_ASYNC int64_t ping(struct rt_task *t, struct rt_frame *base)
{
	struct ping_frame *f = RT_FRAME(base, struct ping_frame);
	int64_t r;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_SEND_ALL(r, f->fd, f->buf, PING);
		for (f->got = 0; f->got < PING; f->got += (size_t)r) {
			RT_RECV(r, f->fd, f->buf + f->got, PING - f->got, 0);
			if (r <= 0)
				return -1;
		}
	}
	return 0;
}

/* ns per round trip, both ends tasks of the same worker */
static double sample_recv(struct rt_runtime *rt, bool plain)
{
	struct pong_frame pf = { .stream = !plain, .n = iters(20000) };
	struct ping_frame cf = { .n = pf.n };
	struct rt_task *h;
	int sv[2];
	uint64_t t0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		exit(1);
	pf.fd = sv[0];
	cf.fd = sv[1];
	t0 = rt_now_ns();
	if (rt_task_spawn(rt, pong, &pf.frame, sizeof(pf), &h))
		exit(1);
	run(rt, ping, &cf.frame, sizeof(cf));
	rt_task_join(h, NULL);
	t0 = rt_now_ns() - t0;
	rt_task_release(h);
	close(sv[0]);
	close(sv[1]);
	return (double)t0 / (double)pf.n;
}

/* ---- send_zc: large sends ------------------------------------------------- */

#define BIG_SEND (256u << 10)

struct bulk_frame {
	struct rt_frame frame;
	int fd;
	bool zc;
	const char *buf;
	uint64_t n, i;
};

static RT_ASYNC int64_t bulk_send(struct rt_task *t, struct rt_frame *base)
{
	struct bulk_frame *f = RT_FRAME(base, struct bulk_frame);
	int64_t r __attribute__((unused));	/* errors skip the frame */

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++)
		RT_CALL(r, rt_send_all, struct rt_send_all_frame, .fd = f->fd,
			.buf = f->buf, .len = BIG_SEND, .zerocopy = f->zc);
	return 0;
}

struct drain_frame {
	struct rt_frame frame;
	int fd;
	uint64_t left;
	char *buf;
};

static RT_ASYNC int64_t bulk_recv(struct rt_task *t, struct rt_frame *base)
{
	struct drain_frame *f = RT_FRAME(base, struct drain_frame);
	int64_t r;

	RT_BEGIN(t, base);
	while (f->left) {
		RT_RECV(r, f->fd, f->buf, BIG_SEND, 0);
		if (r <= 0)
			return -1;
		f->left -= (uint64_t)r;
	}
	return 0;
}

/* ns per MiB sent, sender and receiver tasks of the same worker */
static double sample_send(struct rt_runtime *rt, bool plain)
{
	static char *out, *in;
	struct sockaddr_in a;
	int lfd = test_listen(&a), c, s;
	struct bulk_frame bf = { .zc = !plain, .n = iters(400) };
	struct drain_frame df;
	struct rt_task *h;
	uint64_t t0;

	if (!out) {
		out = calloc(1, BIG_SEND);
		in = malloc(BIG_SEND);
	}
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!out || !in || c < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) ||
	    (s = accept(lfd, NULL, NULL)) < 0)
		exit(1);
	bf.fd = c;
	bf.buf = out;
	df = (struct drain_frame){ .fd = s, .left = bf.n * BIG_SEND, .buf = in };
	t0 = rt_now_ns();
	if (rt_task_spawn(rt, bulk_recv, &df.frame, sizeof(df), &h))
		exit(1);
	run(rt, bulk_send, &bf.frame, sizeof(bf));
	rt_task_join(h, NULL);
	t0 = rt_now_ns() - t0;
	rt_task_release(h);
	close(c);
	close(s);
	close(lfd);
	return (double)t0 / ((double)bf.n * BIG_SEND / (1 << 20));
}

/* ---- the report ------------------------------------------------------------- */

struct feature {
	const char *name, *with, *without, *unit;
	const char *env, *env_off;	/* the baseline's runtime, if by env */
	double (*sample)(struct rt_runtime *rt, bool baseline);
	double with_ns[MAX_ROUNDS], without_ns[MAX_ROUNDS], ratio[MAX_ROUNDS];
};

static struct feature features[] = {
	{ .name = "reg_ring", .with = "registered ring fd",
	  .without = "plain ring fd", .unit = "ns/op",
	  .env = "RTASYNC_REG_RING", .env_off = "0", .sample = sample_pipe },
	{ .name = "accept", .with = "multishot accept",
	  .without = "single-shot accept", .unit = "ns/conn",
	  .sample = sample_accept },
	{ .name = "recv", .with = "stream: multishot recv + buffer ring",
	  .without = "rt_op_recv", .unit = "ns/rtt", .sample = sample_recv },
	{ .name = "send_zc", .with = "SEND_ZC", .without = "send",
	  .unit = "ns/MiB", .sample = sample_send },
};
#define NFEATURES (sizeof(features) / sizeof(features[0]))

static void measure(struct feature *f)
{
	struct rt_runtime *with = runtime(NULL, NULL);
	struct rt_runtime *without = f->env ? runtime(f->env, f->env_off) : with;

	f->sample(with, false);		/* warm-up */
	f->sample(without, true);
	for (unsigned int r = 0; r < rounds; r++) {
		/* alternate which goes first */
		if (r % 2) {
			f->without_ns[r] = f->sample(without, true);
			f->with_ns[r] = f->sample(with, false);
		} else {
			f->with_ns[r] = f->sample(with, false);
			f->without_ns[r] = f->sample(without, true);
		}
		f->ratio[r] = f->without_ns[r] / f->with_ns[r];
	}
	if (without != with)
		rt_runtime_free(without);
	rt_runtime_free(with);
}

/* One side of one feature, once: for callgrind. */
static int run_one_side(struct feature *f)
{
	bool baseline = !strcmp(only_side, "without");
	struct rt_runtime *rt = baseline && f->env ? runtime(f->env, f->env_off)
						   : runtime(NULL, NULL);

	printf("%s %s: %.1f %s\n", f->name, baseline ? f->without : f->with,
	       f->sample(rt, baseline), f->unit);
	rt_runtime_free(rt);
	return 0;
}

static void json_stat(FILE *j, const char *name, const double *v)
{
	fprintf(j, "\"%s\": {\"min\": %.2f, \"median\": %.2f, \"max\": %.2f}",
		name, minmax(v, rounds, false), median(v, rounds),
		minmax(v, rounds, true));
}

static void report(const char *json_path, const char *ring)
{
	FILE *j = json_path ? fopen(json_path, "w") : NULL;
	char host[64] = "";

	gethostname(host, sizeof(host) - 1);
	printf("io_features: %u rounds, alternating; host %s, %ld CPUs, ring %s\n"
	       "ratio = baseline / feature per round (> 1: the feature is "
	       "faster), median [min, max]\n\n", rounds, host,
	       sysconf(_SC_NPROCESSORS_ONLN), ring);
	printf("%-9s %-38s %-8s %10s %10s %10s   %s\n", "FEATURE", "WITH / WITHOUT",
	       "UNIT", "MIN", "MEDIAN", "MAX", "RATIO");
	if (j)
		fprintf(j, "{\"rounds\": %u, \"ring\": \"%s\", \"features\": [",
			rounds, ring);
	for (size_t i = 0; i < NFEATURES; i++) {
		struct feature *f = &features[i];

		printf("%-9s %-38s %-8s %10.1f %10.1f %10.1f   %.3f [%.3f, %.3f]\n",
		       f->name, f->with, f->unit, minmax(f->with_ns, rounds, false),
		       median(f->with_ns, rounds), minmax(f->with_ns, rounds, true),
		       median(f->ratio, rounds), minmax(f->ratio, rounds, false),
		       minmax(f->ratio, rounds, true));
		printf("%-9s %-38s %-8s %10.1f %10.1f %10.1f\n", "", f->without,
		       f->unit, minmax(f->without_ns, rounds, false),
		       median(f->without_ns, rounds),
		       minmax(f->without_ns, rounds, true));
		if (!j)
			continue;
		fprintf(j, "%s{\"feature\": \"%s\", \"with\": \"%s\", "
			"\"without\": \"%s\", \"unit\": \"%s\", ", i ? ", " : "",
			f->name, f->with, f->without, f->unit);
		json_stat(j, "with_value", f->with_ns);
		fputs(", ", j);
		json_stat(j, "without_value", f->without_ns);
		fputs(", ", j);
		json_stat(j, "ratio", f->ratio);
		fputc('}', j);
	}
	if (j) {
		fputs("]}\n", j);
		fclose(j);
	}
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	struct rt_runtime *probe;
	char ring[64];
	int opt;

	while ((opt = getopt(argc, argv, "r:n:j:f:o:")) != -1) {
		if (opt == 'r')
			rounds = (unsigned int)atoi(optarg);
		else if (opt == 'n')
			scale = atof(optarg);
		else if (opt == 'j')
			json = optarg;
		else if (opt == 'f')
			only_feature = optarg;
		else if (opt == 'o')
			only_side = optarg;
		else
			return 2;
	}
	if (!rounds || rounds > MAX_ROUNDS) {
		fprintf(stderr, "rounds: 1..%d\n", MAX_ROUNDS);
		return 2;
	}
	probe = runtime(NULL, NULL);
	snprintf(ring, sizeof(ring), "%s", rt_runtime_ring_flags(probe));
	rt_runtime_free(probe);
	for (size_t i = 0; i < NFEATURES; i++) {
		if (only_feature && strcmp(only_feature, features[i].name))
			continue;
		if (only_side)
			return run_one_side(&features[i]);
		measure(&features[i]);
	}
	if (!only_feature)
		report(json, ring);
	return 0;
}

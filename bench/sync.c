/* SPDX-License-Identifier: MIT */
/*
 * sync: the coordination primitives (include/rtasync-sync.h) beside the
 * runtimes users would pick instead.
 *
 *   channel round trip  a ping task sends on one channel of capacity 1,
 *                       an echo task sends it back on another: two
 *                       suspensions and two wake-ups per round trip. On
 *                       1 and 2 workers, against Go's buffered channels
 *                       and Tokio's bounded mpsc (bench/peers/, the same
 *                       shape). Target: <= 1/4 of Go's on one worker.
 *   channel throughput  1, 4 and 64 sender tasks share 1M messages into
 *                       one channel of capacity 64, one receiver, 2
 *                       workers; against Go (GOMAXPROCS=2), Tokio in the
 *                       note.
 *   mutex               lock+unlock by one task, never contended, and by
 *                       4 tasks on 2 workers around a counter; against
 *                       pthread_mutex in one thread and in 4 threads, and
 *                       Tokio's Mutex (current_thread; 4 tasks on
 *                       multi_thread 2).
 *   spawn_blocking      a task awaits a no-op call on the blocking pool,
 *                       again and again: a thread wake-up and a task
 *                       wake-up per call; against Tokio's spawn_blocking.
 *   blocking cost       what blocking calls cost the other tasks: 4 tasks
 *                       each make 20 calls of a 1 ms nanosleep while 2
 *                       tasks yield in a loop, on 2 workers; the calls
 *                       through rt_op_spawn_blocking against the same
 *                       calls made on the worker, in the same round:
 *                       the other tasks' time per loop and their worst
 *                       wait for a worker.
 *
 * Each round runs librtasync, then the peers, each in a fresh process or
 * on a fresh runtime, so a ratio's samples are taken seconds apart (the
 * VM's speed moves within minutes). Medians with min and max.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_rt.h"
#include "peers.h"

#define CHAN_RTTS	200000
#define CHAN_MSGS	1000000
#define LOCKS		2000000
#define LOCK_TASKS	4
#define BLOCKING_CALLS	20000
#define COST_BLOCKERS	4
#define COST_CALLS	20
#define COST_CALL_NS	1000000
#define COST_OTHERS	2
#define PEER_OUT	4096
#define PEER_TIMEOUT_S	60

/* ---- librtasync's side ---------------------------------------------------- */

struct echo_frame {
	struct rt_frame frame;
	struct rt_chan *a, *b;
	uint64_t v;
	int64_t r;
};

static RT_ASYNC int64_t echo(struct rt_task *t, struct rt_frame *base)
{
	struct echo_frame *f = RT_FRAME(base, struct echo_frame);

	RT_BEGIN(t, base);
	RT_CATCH(true);
	for (;;) {
		RT_CHAN_RECV(f->r, f->a, &f->v);
		if (f->r == -EPIPE)
			return 0;
		if (f->r < 0)
			return f->r;
		RT_CHAN_SEND(f->r, f->b, &f->v);
		if (f->r < 0)
			return f->r;
	}
}

struct ping_frame {
	struct rt_frame frame;
	struct rt_chan *a, *b;
	struct rt_task *echo;
	uint64_t n, i, v, t0;
	uint64_t *ns;
	int64_t r;
};

static RT_ASYNC int64_t ping(struct rt_task *t, struct rt_frame *base)
{
	struct ping_frame *f = RT_FRAME(base, struct ping_frame);
	int err;

	RT_BEGIN(t, base);
	err = RT_SPAWN(rt_task_runtime(t), &f->echo, echo, struct echo_frame,
		       .a = f->a, .b = f->b);
	if (err)
		return err;
	f->t0 = bench_now_ns();
	for (f->i = 0; f->i < f->n; f->i++) {
		f->v = f->i;
		RT_CHAN_SEND(f->r, f->a, &f->v);
		RT_CHAN_RECV(f->r, f->b, &f->v);
	}
	*f->ns = bench_now_ns() - f->t0;
	rt_chan_close(f->a);
	RT_JOIN(f->r, f->echo);
	rt_task_release(f->echo);
	return 0;
}

static double chan_rtt_ns(struct rt_runtime *rt, uint64_t n)
{
	struct ping_frame p = { .n = n };
	uint64_t ns = 0;
	int64_t res;
	int err;

	p.ns = &ns;
	if ((err = rt_chan_new(sizeof(uint64_t), 1, &p.a)))
		return err;
	if ((err = rt_chan_new(sizeof(uint64_t), 1, &p.b))) {
		rt_chan_free(p.a);
		return err;
	}
	err = bench_rt_run(rt, ping, &p.frame, sizeof(p), &res);
	rt_chan_free(p.a);
	rt_chan_free(p.b);
	if (err < 0 || res < 0)
		return err < 0 ? err : (double)res;
	return (double)ns / (double)n;
}

struct send_frame {
	struct rt_frame frame;
	struct rt_chan *ch;
	uint64_t n, i;
	int64_t r;
};

static RT_ASYNC int64_t sender(struct rt_task *t, struct rt_frame *base)
{
	struct send_frame *f = RT_FRAME(base, struct send_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++)
		RT_CHAN_SEND(f->r, f->ch, &f->i);
	return 0;
}

struct tput_frame {
	struct rt_frame frame;
	struct rt_chan *ch;
	uint64_t senders, per, i, v, t0;
	uint64_t *ns;
	int64_t r;
};

/* Senders are detached: the receive count says they are done. */
static RT_ASYNC int64_t tput_root(struct rt_task *t, struct rt_frame *base)
{
	struct tput_frame *f = RT_FRAME(base, struct tput_frame);
	int err;

	RT_BEGIN(t, base);
	f->t0 = bench_now_ns();
	for (f->i = 0; f->i < f->senders; f->i++) {
		err = RT_SPAWN(rt_task_runtime(t), NULL, sender,
			       struct send_frame, .ch = f->ch, .n = f->per);
		if (err)
			return err;
	}
	for (f->i = 0; f->i < f->senders * f->per; f->i++)
		RT_CHAN_RECV(f->r, f->ch, &f->v);
	*f->ns = bench_now_ns() - f->t0;
	return 0;
}

static double chan_tput_ns(struct rt_runtime *rt, uint64_t senders,
			   uint64_t n)
{
	struct tput_frame f = { .senders = senders, .per = n / senders };
	uint64_t ns = 0;
	int64_t res;
	int err;

	f.ns = &ns;
	if ((err = rt_chan_new(sizeof(uint64_t), 64, &f.ch)))
		return err;
	err = bench_rt_run(rt, tput_root, &f.frame, sizeof(f), &res);
	rt_chan_free(f.ch);
	if (err < 0 || res < 0)
		return err < 0 ? err : (double)res;
	return (double)ns / (double)(f.per * senders);
}

struct lock_frame {
	struct rt_frame frame;
	struct rt_mutex *m;
	uint64_t *counter;
	uint64_t n, i, t0;
	uint64_t *ns;
	int64_t r;
};

static RT_ASYNC int64_t locker(struct rt_task *t, struct rt_frame *base)
{
	struct lock_frame *f = RT_FRAME(base, struct lock_frame);

	RT_BEGIN(t, base);
	f->t0 = bench_now_ns();
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_MUTEX_LOCK(f->r, f->m);
		(*f->counter)++;
		rt_mutex_unlock(f->m);
	}
	if (f->ns)
		*f->ns = bench_now_ns() - f->t0;
	return 0;
}

struct contend_frame {
	struct rt_frame frame;
	struct rt_mutex *m;
	uint64_t *counter;
	uint64_t per, t0;
	struct rt_task *h[LOCK_TASKS];
	unsigned int i;
	uint64_t *ns;
	int64_t r;
};

static RT_ASYNC int64_t contend_root(struct rt_task *t, struct rt_frame *base)
{
	struct contend_frame *f = RT_FRAME(base, struct contend_frame);
	int err;

	RT_BEGIN(t, base);
	f->t0 = bench_now_ns();
	for (f->i = 0; f->i < LOCK_TASKS; f->i++) {
		err = RT_SPAWN(rt_task_runtime(t), &f->h[f->i], locker,
			       struct lock_frame, .m = f->m,
			       .counter = f->counter, .n = f->per);
		if (err)
			return err;
	}
	for (f->i = 0; f->i < LOCK_TASKS; f->i++) {
		RT_JOIN(f->r, f->h[f->i]);
		rt_task_release(f->h[f->i]);
	}
	*f->ns = bench_now_ns() - f->t0;
	return 0;
}

/* ns per lock+unlock: one task, or LOCK_TASKS of them. */
static double mutex_ns(struct rt_runtime *rt, uint64_t n, bool contended)
{
	struct rt_mutex m = RT_MUTEX_INIT;
	uint64_t counter = 0, ns = 0;
	int64_t res;
	int err;

	if (contended) {
		struct contend_frame f = { .m = &m, .counter = &counter,
					   .per = n / LOCK_TASKS, .ns = &ns };

		err = bench_rt_run(rt, contend_root, &f.frame, sizeof(f), &res);
	} else {
		struct lock_frame f = { .m = &m, .counter = &counter, .n = n,
					.ns = &ns };

		err = bench_rt_run(rt, locker, &f.frame, sizeof(f), &res);
	}
	if (err < 0 || res < 0)
		return err < 0 ? err : (double)res;
	if (counter != (contended ? n / LOCK_TASKS * LOCK_TASKS : n))
		return -EPROTO;
	return (double)ns / (double)counter;
}

static int64_t noop_call(void *arg)
{
	return (int64_t)(uintptr_t)arg;
}

struct blocking_frame {
	struct rt_frame frame;
	uint64_t n, i, t0;
	uint64_t *ns;
	int64_t r;
};

static RT_ASYNC int64_t blocking_loop(struct rt_task *t, struct rt_frame *base)
{
	struct blocking_frame *f = RT_FRAME(base, struct blocking_frame);

	RT_BEGIN(t, base);
	f->t0 = bench_now_ns();
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_AWAIT(f->r, rt_op_spawn_blocking(t, noop_call,
				(void *)(uintptr_t)f->i, RT_NEVER));
		if ((uint64_t)f->r != f->i)
			return -EPROTO;
	}
	*f->ns = bench_now_ns() - f->t0;
	return 0;
}

static double blocking_ns(struct rt_runtime *rt, uint64_t n)
{
	uint64_t ns = 0;
	struct blocking_frame f = { .n = n, .ns = &ns };
	int64_t res;
	int err = bench_rt_run(rt, blocking_loop, &f.frame, sizeof(f), &res);

	if (err < 0 || res < 0)
		return err < 0 ? err : (double)res;
	return (double)ns / (double)n;
}

/* ---- what blocking calls cost the other tasks ---------------------------------- */

/* A blocking call: a C library that waits (a lock file, a slow disk). */
static int64_t nap_call(void *arg)
{
	struct timespec ts = { 0, COST_CALL_NS };

	(void)arg;
	while (nanosleep(&ts, &ts))
		;
	return 0;
}

struct cost_run {
	_Atomic unsigned int blockers;	/* still making calls */
	bool offload;			/* through rt_op_spawn_blocking */
	uint64_t calls;			/* per blocker */
	uint64_t loops;			/* the other tasks' */
	uint64_t gap_ns[COST_OTHERS];	/* each one's worst wait */
	uint64_t t0, t1;
};

struct nap_frame {
	struct rt_frame frame;
	struct cost_run *c;
	uint64_t i;
	int64_t r;
};

/* Makes its calls on the pool, or on the worker between two yields
 * (as a task that calls a blocking library between awaits would). */
static RT_ASYNC int64_t napper(struct rt_task *t, struct rt_frame *base)
{
	struct nap_frame *f = RT_FRAME(base, struct nap_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->c->calls; f->i++) {
		if (f->c->offload) {
			RT_AWAIT(f->r, rt_op_spawn_blocking(t, nap_call, NULL,
							    RT_NEVER));
		} else {
			nap_call(NULL);
			RT_YIELD();
		}
	}
	if (atomic_fetch_sub(&f->c->blockers, 1) == 1)
		f->c->t1 = bench_now_ns();
	return 0;
}

struct other_frame {
	struct rt_frame frame;
	struct cost_run *c;
	uint64_t *gap_out;
	uint64_t loops, last, gap;
};

/* Short work: a yield per loop while the calls go on. */
static RT_ASYNC int64_t other(struct rt_task *t, struct rt_frame *base)
{
	struct other_frame *f = RT_FRAME(base, struct other_frame);
	uint64_t now;

	RT_BEGIN(t, base);
	f->last = bench_now_ns();
	while (atomic_load_explicit(&f->c->blockers, memory_order_relaxed)) {
		RT_YIELD();
		now = bench_now_ns();
		if (now - f->last > f->gap)
			f->gap = now - f->last;
		f->last = now;
		f->loops++;
	}
	*f->gap_out = f->gap;
	return (int64_t)f->loops;
}

struct cost_frame {
	struct rt_frame frame;
	struct cost_run *c;
	struct rt_task *h[COST_BLOCKERS + COST_OTHERS];
	unsigned int i;
	int64_t r;
};

static RT_ASYNC int64_t cost_root(struct rt_task *t, struct rt_frame *base)
{
	struct cost_frame *f = RT_FRAME(base, struct cost_frame);
	struct rt_runtime *rt = rt_task_runtime(t);
	int err;

	RT_BEGIN(t, base);
	atomic_store(&f->c->blockers, COST_BLOCKERS);
	f->c->t0 = bench_now_ns();
	for (f->i = 0; f->i < COST_OTHERS; f->i++) {
		err = RT_SPAWN(rt, &f->h[f->i], other, struct other_frame,
			       .c = f->c, .gap_out = &f->c->gap_ns[f->i]);
		if (err)
			return err;
	}
	for (; f->i < COST_OTHERS + COST_BLOCKERS; f->i++) {
		err = RT_SPAWN(rt, &f->h[f->i], napper, struct nap_frame,
			       .c = f->c);
		if (err)
			return err;
	}
	for (f->i = 0; f->i < COST_OTHERS + COST_BLOCKERS; f->i++) {
		RT_JOIN(f->r, f->h[f->i]);
		rt_task_release(f->h[f->i]);
		if (f->r < 0)
			return f->r;
		if (f->i < COST_OTHERS)
			f->c->loops += (uint64_t)f->r;
	}
	return 0;
}

/*
 * One run: the other tasks' ns per loop over the calls' span (lower:
 * they got more done), their worst wait for a worker in *gap_us.
 */
static double cost_ns(struct rt_runtime *rt, bool offload, double *gap_us)
{
	struct cost_run c = { .offload = offload,
			      .calls = bench_iters(COST_CALLS, 2) };
	struct cost_frame f = { .c = &c };
	int64_t res;
	int err = bench_rt_run(rt, cost_root, &f.frame, sizeof(f), &res);

	if (err < 0 || res < 0)
		return err < 0 ? err : (double)res;
	if (!c.loops)
		return -EPROTO;
	*gap_us = 0;
	for (int i = 0; i < COST_OTHERS; i++)
		if (c.gap_ns[i] / 1000.0 > *gap_us)
			*gap_us = c.gap_ns[i] / 1000.0;
	return (double)(c.t1 - c.t0) * COST_OTHERS / (double)c.loops;
}

/* ---- pthread_mutex ------------------------------------------------------------ */

struct pmutex_arg {
	pthread_mutex_t *m;
	uint64_t *counter;
	uint64_t n;
};

static void *pmutex_loop(void *p)
{
	struct pmutex_arg *a = p;

	for (uint64_t i = 0; i < a->n; i++) {
		pthread_mutex_lock(a->m);
		(*a->counter)++;
		pthread_mutex_unlock(a->m);
	}
	return NULL;
}

static double pmutex_ns(uint64_t n, unsigned int threads)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	uint64_t counter = 0, t0;
	struct pmutex_arg a = { &m, &counter, n / threads };
	pthread_t th[LOCK_TASKS];
	unsigned int started = 0;

	t0 = bench_now_ns();
	if (threads == 1) {
		pmutex_loop(&a);
	} else {
		for (; started < threads; started++)
			if (pthread_create(&th[started], NULL, pmutex_loop, &a))
				break;
		for (unsigned int i = 0; i < started; i++)
			pthread_join(th[i], NULL);
		if (started < threads)
			return -EAGAIN;
	}
	return (double)(bench_now_ns() - t0) / (double)counter;
}

/* ---- the peers ------------------------------------------------------------------ */

struct peer {
	const char *prog, *flag, *name;
	unsigned int workers;
	char why[128];
};

static struct peer go1 = { "rtasync-peer-go", "-p", "Go GOMAXPROCS=1", 1, "" };
static struct peer go2 = { "rtasync-peer-go", "-p", "Go GOMAXPROCS=2", 2, "" };
static struct peer tk1 = { "rtasync-peer-tokio", "-w", "Tokio current_thread", 1, "" };
static struct peer tk2 = { "rtasync-peer-tokio", "-w", "Tokio multi_thread, 2", 2, "" };

/* One sample of shape from the peer in a fresh process; < 0: failed. */
static double peer_sample(struct peer *p, const char *shape)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], workers[8], scale[32];
	char out[PEER_OUT];
	char *argv[] = { path, "-r", "1", "-s", scale, (char *)p->flag,
			 workers, (char *)shape, NULL };
	double v;
	int st;

	if (p->why[0])
		return -ENOENT;
	bench_peers_dir_get(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, p->prog);
	snprintf(workers, sizeof(workers), "%u", p->workers);
	snprintf(scale, sizeof(scale), "%g", bench_opts.scale);
	st = bench_run_capture(argv, out, sizeof(out), PEER_TIMEOUT_S);
	v = st ? NAN : bench_json_num(out, "median");
	if (!(v > 0)) {
		snprintf(p->why, sizeof(p->why), "%s %s: %s", p->prog, shape,
			 st == -ENOENT || st == -EACCES ?
			 "not built (bench/peers/build.sh)" : "failed");
		return -EIO;
	}
	return v;
}

/* ---- rounds and rows ------------------------------------------------------------ */

enum {
	ROW_RTT1_GO, ROW_RTT1_TOKIO, ROW_RTT2_GO, ROW_RTT2_TOKIO,
	ROW_TPUT1, ROW_TPUT4, ROW_TPUT64,
	ROW_MUTEX, ROW_MUTEX_TOKIO, ROW_MUTEX4, ROW_MUTEX4_TOKIO,
	ROW_BLOCKING, ROW_COST, ROW_COST_GAP,
	NROWS,
};

struct series {
	double v[BENCH_MAX_REPS];
	unsigned int n;
	char why[128];
};

struct sync_run {
	struct series rt[NROWS], peer[NROWS], tokio_tput[3];
};

static void add(struct series *s, double v, const char *what)
{
	if (v < 0) {
		if (!s->why[0])
			snprintf(s->why, sizeof(s->why), "%s: %s", what,
				 strerror((int)-v));
		return;
	}
	if (s->n < BENCH_MAX_REPS)
		s->v[s->n++] = v;
}

static const unsigned int tput_senders[3] = { 1, 4, 64 };

/* Both ways on one runtime, one after the other: the ratio's samples
 * are taken a fraction of a second apart. */
static void round_cost(struct sync_run *r, struct rt_runtime *rt)
{
	double gap = 0, v;

	cost_ns(rt, true, &gap);	/* warm-up: the pool starts its threads */
	v = cost_ns(rt, true, &gap);
	add(&r->rt[ROW_COST], v, "blocking cost, offloaded");
	if (v >= 0)
		add(&r->rt[ROW_COST_GAP], gap, "");
	v = cost_ns(rt, false, &gap);
	add(&r->peer[ROW_COST], v, "blocking cost, on the worker");
	if (v >= 0)
		add(&r->peer[ROW_COST_GAP], gap, "");
}

static void round_rt(struct sync_run *r, unsigned int workers)
{
	uint64_t rtts = bench_iters(CHAN_RTTS, 1000);
	uint64_t msgs = bench_iters(CHAN_MSGS, 1000);
	struct rt_runtime *rt;
	int err = bench_rt_new(workers, 0, &rt);

	if (err < 0) {
		add(&r->rt[workers == 1 ? ROW_RTT1_GO : ROW_RTT2_GO], err,
		    "rt_runtime_new");
		return;
	}
	chan_rtt_ns(rt, rtts / 4);	/* warm-up */
	add(&r->rt[workers == 1 ? ROW_RTT1_GO : ROW_RTT2_GO],
	    chan_rtt_ns(rt, rtts), "chan round trip");
	if (workers == 1) {
		mutex_ns(rt, bench_iters(LOCKS, 1000) / 4, false);
		add(&r->rt[ROW_MUTEX], mutex_ns(rt, bench_iters(LOCKS, 1000),
						false), "mutex");
		blocking_ns(rt, bench_iters(BLOCKING_CALLS, 100) / 4);
		add(&r->rt[ROW_BLOCKING],
		    blocking_ns(rt, bench_iters(BLOCKING_CALLS, 100)),
		    "spawn_blocking");
	} else {
		for (int k = 0; k < 3; k++)
			add(&r->rt[ROW_TPUT1 + k],
			    chan_tput_ns(rt, tput_senders[k], msgs),
			    "chan throughput");
		add(&r->rt[ROW_MUTEX4], mutex_ns(rt, bench_iters(LOCKS, 1000),
						 true), "mutex contended");
		round_cost(r, rt);
	}
	bench_rt_free(rt);
}

static void round_peers(struct sync_run *r)
{
	char shape[24];

	add(&r->peer[ROW_RTT1_GO], peer_sample(&go1, "chan-rtt"), go1.name);
	add(&r->peer[ROW_RTT1_TOKIO], peer_sample(&tk1, "chan-rtt"), tk1.name);
	add(&r->peer[ROW_RTT2_GO], peer_sample(&go2, "chan-rtt"), go2.name);
	add(&r->peer[ROW_RTT2_TOKIO], peer_sample(&tk2, "chan-rtt"), tk2.name);
	for (int k = 0; k < 3; k++) {
		snprintf(shape, sizeof(shape), "chan-tput-%u", tput_senders[k]);
		add(&r->peer[ROW_TPUT1 + k], peer_sample(&go2, shape), go2.name);
		add(&r->tokio_tput[k], peer_sample(&tk2, shape), tk2.name);
	}
	add(&r->peer[ROW_BLOCKING], peer_sample(&tk1, "blocking-rtt"),
	    tk1.name);
	add(&r->peer[ROW_MUTEX_TOKIO], peer_sample(&tk1, "mutex"), tk1.name);
	add(&r->peer[ROW_MUTEX4_TOKIO], peer_sample(&tk2, "mutex-4"),
	    tk2.name);
	add(&r->peer[ROW_MUTEX], pmutex_ns(bench_iters(LOCKS, 1000), 1),
	    "pthread_mutex");
	add(&r->peer[ROW_MUTEX4], pmutex_ns(bench_iters(LOCKS, 1000),
					    LOCK_TASKS), "pthread_mutex");
}

static const struct {
	const char *name, *peer, *metric, *label;
} rows[NROWS] = {
	[ROW_RTT1_GO] = { "channel round trip, 1 worker", "Go chan(1), GOMAXPROCS=1",
			  "ns/rtrip", "chan rtt 1w vs go" },
	[ROW_RTT1_TOKIO] = { "channel round trip, 1 worker",
			     "Tokio mpsc(1), current_thread", "ns/rtrip",
			     "chan rtt 1w vs tokio" },
	[ROW_RTT2_GO] = { "channel round trip, 2 workers", "Go chan(1), GOMAXPROCS=2",
			  "ns/rtrip", "chan rtt 2w vs go" },
	[ROW_RTT2_TOKIO] = { "channel round trip, 2 workers",
			     "Tokio mpsc(1), multi_thread 2", "ns/rtrip", "" },
	[ROW_TPUT1] = { "channel, 1 sender, 2 workers", "Go chan(64), GOMAXPROCS=2",
			"ns/msg", "" },
	[ROW_TPUT4] = { "channel, 4 senders, 2 workers", "Go chan(64), GOMAXPROCS=2",
			"ns/msg", "" },
	[ROW_TPUT64] = { "channel, 64 senders, 2 workers",
			 "Go chan(64), GOMAXPROCS=2", "ns/msg", "chan 64 senders vs go" },
	[ROW_MUTEX] = { "mutex lock+unlock, 1 task", "pthread_mutex, 1 thread",
			"ns/op", "mutex vs pthread" },
	[ROW_MUTEX_TOKIO] = { "mutex lock+unlock, 1 task",
			      "Tokio Mutex, current_thread", "ns/op",
			      "mutex vs tokio" },
	[ROW_MUTEX4] = { "mutex, 4 tasks contend, 2 workers",
			 "pthread_mutex, 4 threads", "ns/op", "" },
	[ROW_MUTEX4_TOKIO] = { "mutex, 4 tasks contend, 2 workers",
			       "Tokio Mutex, 4 tasks, multi_thread 2", "ns/op",
			       "" },
	[ROW_BLOCKING] = { "rt_op_spawn_blocking round trip, 1 worker",
			   "Tokio spawn_blocking, current_thread", "ns/call",
			   "spawn_blocking vs tokio" },
	[ROW_COST] = { "yield loop beside 1 ms blocking calls",
		       "the same calls made on the worker", "ns/loop",
		       "blocking offloaded vs on worker" },
	[ROW_COST_GAP] = { "worst wait beside 1 ms blocking calls",
			   "the same calls made on the worker", "us", "" },
};

/* The rt series of a row: round trips and mutexes share theirs between
 * two peers. */
static const struct series *rt_series(const struct sync_run *r, int i)
{
	if (i == ROW_RTT1_TOKIO)
		return &r->rt[ROW_RTT1_GO];
	if (i == ROW_RTT2_TOKIO)
		return &r->rt[ROW_RTT2_GO];
	if (i == ROW_MUTEX_TOKIO)
		return &r->rt[ROW_MUTEX];
	if (i == ROW_MUTEX4_TOKIO)
		return &r->rt[ROW_MUTEX4];
	return &r->rt[i];
}

static void emit_row(const struct sync_run *r, int i, unsigned int rounds)
{
	const struct series *rs = rt_series(r, i), *ps = &r->peer[i];
	struct bench_result row;

	bench_result_init(&row, "sync", rows[i].name, rows[i].peer,
			  rows[i].metric, BENCH_LOWER);
	snprintf(row.label, sizeof(row.label), "%s", rows[i].label);
	bench_stat_samples(&row.rt, rs->v, rs->n);
	bench_stat_samples(&row.other, ps->v, ps->n);
	/* sample k of each from round k, when no round failed */
	row.paired = rs->n == rounds && ps->n == rounds;
	if (i == ROW_RTT1_GO)
		row.target_ratio = 4;	/* issue 9: <= 1/4 of Go's */
	if (rs->why[0])
		bench_note(&row, "librtasync: %s", rs->why);
	if (ps->why[0])
		bench_note(&row, "peer: %s", ps->why);
	if (i >= ROW_TPUT1 && i <= ROW_TPUT64) {
		struct bench_stat tk;

		bench_stat_samples(&tk, r->tokio_tput[i - ROW_TPUT1].v,
				   r->tokio_tput[i - ROW_TPUT1].n);
		if (tk.n)
			bench_note(&row, "Tokio mpsc(64) multi_thread 2: %.1f "
				   "ns/msg (%.1f-%.1f)", tk.median, tk.min,
				   tk.max);
		bench_note(&row, "%llu messages, capacity 64, one receiver",
			   (unsigned long long)bench_iters(CHAN_MSGS, 1000));
	}
	if (i <= ROW_RTT2_TOKIO)
		bench_note(&row, "2 channels of capacity 1, %llu round trips",
			   (unsigned long long)bench_iters(CHAN_RTTS, 1000));
	if (i == ROW_COST || i == ROW_COST_GAP)
		bench_note(&row, "librtasync: through rt_op_spawn_blocking; "
			   "%d tasks x %llu nanosleep(1 ms), %d tasks "
			   "yielding, 2 workers, pool of 16", COST_BLOCKERS,
			   (unsigned long long)bench_iters(COST_CALLS, 2),
			   COST_OTHERS);
	bench_note(&row, "%u rounds interleaved", rounds);
	bench_emit(&row);
}

/*
 * The channel round trip on one worker alone, no peers: what
 * bench/chan-callgrind.sh counts instructions of.
 */
static double chan_rtt_sample(void *arg)
{
	struct rt_runtime *rt = arg;

	return chan_rtt_ns(rt, bench_iters(CHAN_RTTS, 1000));
}

void bench_chan_rtt(void)
{
	struct bench_result row;
	struct rt_runtime *rt;
	int err;

	bench_result_init(&row, "chan-rtt", "channel round trip, 1 worker",
			  "", "ns/rtrip", BENCH_LOWER);
	err = bench_rt_new(1, 0, &rt);
	if (err < 0) {
		bench_rt_fail(&row, "rt_runtime_new", err);
		goto out;
	}
	err = bench_measure(chan_rtt_sample, rt, &row.rt);
	if (err < 0)
		bench_rt_fail(&row, "chan round trip", err);
	bench_note(&row, "2 channels of capacity 1, %llu round trips; "
		   "librtasync alone (the sync topic has the peers)",
		   (unsigned long long)bench_iters(CHAN_RTTS, 1000));
	bench_rt_free(rt);
out:
	bench_emit(&row);
}

void bench_sync(void)
{
	static struct sync_run r;
	unsigned int round;

	memset(&r, 0, sizeof(r));
	for (round = 0; round < bench_opts.reps; round++) {
		round_rt(&r, 1);
		round_rt(&r, 2);
		round_peers(&r);
	}
	for (int i = 0; i < NROWS; i++)
		emit_row(&r, i, round);
}

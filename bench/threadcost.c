/* SPDX-License-Identifier: MIT */
/*
 * threadcost: the seeds' claim about threads, measured by the eBPF
 * scheduler observer. 10,000 concurrent 1 ms waits (a timer stands in for
 * blocking I/O) done three ways:
 *
 *   pool       a blocking thread pool: 64 threads take wait requests from
 *              a mutex+condvar queue and clock_nanosleep() 1 ms each;
 *   per-wait   one thread per wait: the main thread creates 10,000 threads
 *              (64 KiB stacks) back to back, each sleeps 1 ms and exits;
 *              the main thread joins them as they finish;
 *   tasks      librtasync: a root task spawns 10,000 tasks on the default
 *              runtime (one worker per CPU), each RT_SLEEP(1 ms), and joins
 *              them with RT_JOIN.
 *
 * Each run of a model is a fresh process (this program exec'd with
 * --model-child). It sets up (pool threads running, runtime started),
 * does the waits twice unmeasured (to be measured warm, and once with a
 * clock read around each wait, to count the most waits in flight at
 * once), resets its peak RSS and says it is ready. Then the parent loads
 * the observer (tools/rtasync-trace/sched_obs.c), attaches it to the child's pid and
 * takes a snapshot, lets the child do the waits, and takes another; the
 * difference is the model's window. From it: voluntary and involuntary
 * switches, threads and how many sat idle (off-CPU for more than 90% of
 * their time in the window), off-CPU time, run-queue latency. The child
 * itself reports its wall time, getrusage(RUSAGE_SELF) across the waits
 * (CPU time, and switch counts as a cross-check of the observer's) and
 * its peak RSS (VmHWM).
 *
 * Runs are interleaved (pool, per-wait, tasks, pool, ...), medians kept.
 * Rows: each metric, librtasync against each thread model.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_rt.h"
#include "sched_obs.h"
#include "threadcost.h"

#define IDLE_OFFCPU_SHARE	0.90	/* idle: off-CPU > 90% of its time */
#define RUN_TIMEOUT_MS		60000	/* one model run, set-up to exit */
#define MIB			(1024.0 * 1024.0)

struct tc_opts tc_opts = {
	.waits = 10000,
	.pool = 64,
	.wait_us = 1000,
	.stack_kib = 64,
	.pp_rounds = 5000,
};

static unsigned int tc_waits;	/* tc_opts.waits, scaled */
static bool tc_sockets;		/* the waits are socket waits, not timers */
static int tc_port;		/* the feeder's port (socket waits), or 0 */
static _Atomic int sock_failed;	/* a socket wait failed: the run fails */

/* ---- the models (run in the child) ------------------------------------------ */

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

/* Wait i of a thread model: on a timer, or for its socket's answer. */
static void block_wait(unsigned int i)
{
	if (!tc_conns)
		sleep_ns((uint64_t)tc_opts.wait_us * 1000u);
	else if (tc_sock_wait(i))
		atomic_store(&sock_failed, 1);
}

static void futex_wait(_Atomic unsigned int *word, unsigned int val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic unsigned int *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/*
 * How many waits were in flight at once, from a start and an end stamp
 * per wait. Only an unmeasured round takes them (two clock reads per wait
 * would tax the measured round).
 */
struct stamp {
	uint64_t start, end;
};

static struct stamp *stamps;	/* NULL: not stamping */

static void stamp_start(unsigned int i)
{
	if (stamps)
		stamps[i].start = bench_now_ns();
}

static void stamp_end(unsigned int i)
{
	if (stamps)
		stamps[i].end = bench_now_ns();
}

static int cmp_event(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The most stamps overlapping at one instant. Events are time*2 (+1 for
 * a start), so at equal times an end sorts before a start.
 */
static unsigned int max_in_flight(const struct stamp *st, unsigned int n)
{
	int64_t *ev = malloc(2 * (size_t)n * sizeof(*ev));
	unsigned int cur = 0, max = 0;

	if (!ev)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		ev[2 * i] = (int64_t)st[i].start * 2 + 1;
		ev[2 * i + 1] = (int64_t)st[i].end * 2;
	}
	qsort(ev, 2 * (size_t)n, sizeof(*ev), cmp_event);
	for (size_t i = 0; i < 2 * (size_t)n; i++) {
		if (ev[i] & 1) {
			if (++cur > max)
				max = cur;
		} else if (cur) {
			cur--;
		}
	}
	free(ev);
	return max;
}

struct model_info {
	unsigned int max_alive;		/* per-wait: threads alive at once */
	unsigned int max_in_flight;	/* waits at once (stamped round) */
	uint64_t rt_parks, rt_wakes;	/* tasks: runtime counters */
	char shape[96];			/* tasks: workers, queues, ring */
};

struct model {
	const char *key;	/* short name, for messages */
	int (*setup)(void **state);
	int (*run)(void *state, struct model_info *info);
	void (*teardown)(void *state);
};

/* -- a blocking thread pool ---------------------------------------------------- */

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t *queue;	/* wait lengths in ns, one per request */
	unsigned int head, tail;
	bool stop;
	_Atomic unsigned int done;
	unsigned int nthreads;
	pthread_t th[];
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		unsigned int i;

		pthread_mutex_lock(&p->mu);
		while (p->head == p->tail && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->head == p->tail) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		i = p->head++;
		pthread_mutex_unlock(&p->mu);

		stamp_start(i);
		block_wait(i);	/* the blocking "I/O" */
		stamp_end(i);

		if (atomic_fetch_add(&p->done, 1) + 1 == tc_waits)
			futex_wake(&p->done);
	}
}

static void pool_teardown(void *state)
{
	struct pool *p = state;

	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned int i = 0; i < p->nthreads; i++)
		pthread_join(p->th[i], NULL);
	free(p->queue);
	free(p);
}

static int pool_setup(void **state)
{
	struct pool *p = calloc(1, sizeof(*p) + tc_opts.pool * sizeof(pthread_t));
	int err;

	if (!p)
		return -ENOMEM;
	p->queue = calloc(tc_waits, sizeof(*p->queue));
	if (!p->queue) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (unsigned int i = 0; i < tc_opts.pool; i++) {
		err = pthread_create(&p->th[i], NULL, pool_worker, p);
		if (err) {
			pool_teardown(p);
			return -err;
		}
		p->nthreads++;
	}
	*state = p;
	return 0;
}

/* The "server": every request is queued as it arrives; wait for all. */
static int pool_run(void *state, struct model_info *info)
{
	struct pool *p = state;
	unsigned int d;

	/* the queue is empty: every request of the last run is done */
	pthread_mutex_lock(&p->mu);
	p->head = p->tail = 0;
	pthread_mutex_unlock(&p->mu);
	atomic_store(&p->done, 0);
	for (unsigned int i = 0; i < tc_waits; i++) {
		pthread_mutex_lock(&p->mu);
		p->queue[p->tail++] = tc_opts.wait_us * 1000u;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	while ((d = atomic_load(&p->done)) < tc_waits)
		futex_wait(&p->done, d);
	return atomic_load(&sock_failed) ? -EPIPE : 0;
}

/* -- one thread per wait ------------------------------------------------------- */

struct perwait {
	pthread_attr_t attr;
	pthread_t *th;
};

static void *perwait_thread(void *arg)
{
	unsigned int i = (unsigned int)(uintptr_t)arg;

	stamp_start(i);
	block_wait(i);
	stamp_end(i);
	return NULL;
}

static int perwait_setup(void **state)
{
	struct perwait *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->th = calloc(tc_waits, sizeof(*w->th));
	if (!w->th) {
		free(w);
		return -ENOMEM;
	}
	pthread_attr_init(&w->attr);
	err = pthread_attr_setstacksize(&w->attr, tc_opts.stack_kib * 1024u);
	if (err) {
		free(w->th);
		free(w);
		return -err;
	}
	*state = w;
	return 0;
}

/*
 * A thread-per-request server under a burst of 10,000 requests: a thread
 * each, as fast as they can be made. Finished threads are reaped as we go
 * (pthread_tryjoin_np never blocks), so stacks return to glibc's cache as
 * they would with detached threads, and at the end we join the rest:
 * every thread has exited inside the window.
 */
static int perwait_run(void *state, struct model_info *info)
{
	struct perwait *w = state;
	unsigned int oldest = 0, i;
	int err = 0;

	for (i = 0; i < tc_waits; i++) {
		err = pthread_create(&w->th[i], &w->attr, perwait_thread,
				     (void *)(uintptr_t)i);
		if (err)
			break;
		while (oldest < i && !pthread_tryjoin_np(w->th[oldest], NULL))
			oldest++;
		if (i + 1 - oldest > info->max_alive)
			info->max_alive = i + 1 - oldest;
	}
	for (; oldest < i; oldest++)
		pthread_join(w->th[oldest], NULL);
	if (!err && atomic_load(&sock_failed))
		return -EPIPE;
	return -err;
}

static void perwait_teardown(void *state)
{
	struct perwait *w = state;

	pthread_attr_destroy(&w->attr);
	free(w->th);
	free(w);
}

/* -- librtasync tasks ------------------------------------------------------------ */

struct sleeper_frame {
	struct rt_frame frame;
	uint64_t ns;
	unsigned int i;
};

static RT_ASYNC int64_t sleeper(struct rt_task *t, struct rt_frame *base)
{
	struct sleeper_frame *f = RT_FRAME(base, struct sleeper_frame);
	int64_t r;

	RT_BEGIN(t, base);
	stamp_start(f->i);
	if (tc_conns) {
		RT_CALL(r, tc_sock_wait_task, struct tc_sock_wait_frame,
			.i = f->i);
		(void)r;	/* an error has returned already */
	} else {
		RT_SLEEP(f->ns);
	}
	stamp_end(f->i);
	return 0;
}

struct root_frame {
	struct rt_frame frame;
	struct rt_task **h;
	unsigned int n, i;
	int64_t failed;
};

/* Spawn every wait as a task, then join them all. */
static RT_ASYNC int64_t root(struct rt_task *t, struct rt_frame *base)
{
	struct root_frame *f = RT_FRAME(base, struct root_frame);
	int64_t r;
	int err;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		err = RT_SPAWN(rt_task_runtime(t), &f->h[f->i], sleeper,
			       struct sleeper_frame,
			       .ns = (uint64_t)tc_opts.wait_us * 1000u,
			       .i = f->i);
		if (err < 0) {
			f->failed = err;
			break;
		}
	}
	f->n = f->i;
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_JOIN(r, f->h[f->i]);
		rt_task_release(f->h[f->i]);
		if (r < 0 && !f->failed)
			f->failed = r;
	}
	return f->failed;
}

struct tasks {
	struct rt_runtime *rt;
	struct rt_task **h;
};

static int tasks_setup(void **state)
{
	struct tasks *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->h = calloc(tc_waits, sizeof(*s->h));
	if (!s->h) {
		free(s);
		return -ENOMEM;
	}
	err = bench_rt_new(0, 0, &s->rt);	/* the default runtime */
	if (err < 0) {
		free(s->h);
		free(s);
		return err;
	}
	*state = s;
	return 0;
}

static int tasks_run(void *state, struct model_info *info)
{
	struct tasks *s = state;
	struct root_frame fr = { .h = s->h, .n = tc_waits };
	struct rt_stats a, b;
	int64_t result = 0;
	int err;

	rt_runtime_stats(s->rt, &a);
	err = bench_rt_run(s->rt, root, &fr.frame, sizeof(fr), &result);
	rt_runtime_stats(s->rt, &b);
	info->rt_parks = b.parks - a.parks;
	info->rt_wakes = (b.wakes_msg_ring - a.wakes_msg_ring) +
			 (b.wakes_eventfd - a.wakes_eventfd);
	snprintf(info->shape, sizeof(info->shape), "%d workers, %s queues, "
		 "ring %s", rt_runtime_workers(s->rt),
		 rt_queue_mode_name(rt_runtime_queue_mode(s->rt)),
		 rt_runtime_ring_flags(s->rt));
	if (err < 0)
		return err;
	return result < 0 ? (int)result : 0;
}

static void tasks_teardown(void *state)
{
	struct tasks *s = state;

	bench_rt_free(s->rt);
	free(s->h);
	free(s);
}

enum { M_POOL, M_PERWAIT, M_TASKS, NR_MODELS };

static const struct model models[NR_MODELS] = {
	[M_POOL] = { "thread pool", pool_setup, pool_run, pool_teardown },
	[M_PERWAIT] = { "thread per wait", perwait_setup, perwait_run,
			perwait_teardown },
	[M_TASKS] = { "librtasync", tasks_setup, tasks_run, tasks_teardown },
};

/* ---- parent <-> child ------------------------------------------------------------ */

struct child_result {
	int err;
	uint64_t wall_ns;
	struct rusage r0, r1;
	uint64_t rss_base;	/* bytes, before the model's set-up */
	uint64_t rss_ready;	/* bytes, set up and warm, when the waits start */
	uint64_t rss_peak;	/* bytes, VmHWM after the waits */
	struct model_info info;
};

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes within timeout_ms: 0, -ETIMEDOUT or -EPIPE. */
static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
	char *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = bench_now_ns();
		ssize_t n;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000u + (uint64_t)tv->tv_usec * 1000u;
}

static uint64_t rusage_cpu_ns(const struct rusage *r)
{
	return tv_ns(&r->ru_utime) + tv_ns(&r->ru_stime);
}

/* Start VmHWM again from the current RSS (Linux >= 4.0). */
static void reset_peak_rss(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, "5", 1) != 1)
		bench_log("threads: could not reset the peak RSS: %s",
			  strerror(errno));
	close(fd);
}

/* VmHWM of this process in bytes: the peak RSS of this image only. */
static uint64_t peak_rss_bytes(void)
{
	char line[256];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024u;
}

/* The child: set up, say ready, wait for go, run the waits, report. */
static void model_child(const struct model *m, int cmd_fd, int res_fd)
{
	struct child_result res = { 0 };
	void *state = NULL;
	uint64_t t0;
	char c;
	int err;

	res.rss_base = bench_rss_bytes();
	err = tc_port ? tc_conns_open(tc_port, tc_waits) : 0;
	if (!err)
		err = m->setup(&state);
	if (!err) {
		/*
		 * Two unmeasured rounds: one to warm up (the model is
		 * measured warm, as a server runs), one stamped, to see how
		 * many waits it keeps in flight at once.
		 */
		struct model_info scratch = { 0 };

		err = m->run(state, &scratch);
		stamps = err ? NULL : calloc(tc_waits, sizeof(*stamps));
		if (!err && !stamps)
			err = -ENOMEM;
		if (!err)
			err = m->run(state, &scratch);
		if (!err)
			res.info.max_in_flight = max_in_flight(stamps, tc_waits);
		free(stamps);
		stamps = NULL;
		reset_peak_rss();	/* the peak of the measured round */
	}
	res.rss_ready = bench_rss_bytes();
	if (write_full(res_fd, &err, sizeof(err)) || err)
		_exit(1);
	if (read(cmd_fd, &c, 1) != 1)
		_exit(1);

	getrusage(RUSAGE_SELF, &res.r0);
	t0 = bench_now_ns();
	res.err = m->run(state, &res.info);	/* keeps max_in_flight */
	res.wall_ns = bench_now_ns() - t0;
	getrusage(RUSAGE_SELF, &res.r1);
	res.rss_peak = peak_rss_bytes();

	if (write_full(res_fd, &res, sizeof(res)))
		_exit(1);
	if (read(cmd_fd, &c, 1) != 1)
		_exit(1);
	m->teardown(state);
	_exit(0);
}

#define MODEL_SPEC_FMT "%d:%u:%u:%u:%u:%d:%d:%d"

/*
 * The model's process is this program exec'd afresh (--model-child SPEC),
 * so that its peak RSS is its own and not the benchmark's: a forked copy
 * starts with the parent's resident pages, and ru_maxrss even keeps them
 * across an exec, hence VmHWM.
 */
int threadcost_model_child(const char *spec)
{
	int m, cmd_fd, res_fd;

	if (sscanf(spec, MODEL_SPEC_FMT, &m, &tc_waits, &tc_opts.pool,
		   &tc_opts.wait_us, &tc_opts.stack_kib, &cmd_fd, &res_fd,
		   &tc_port) != 8 ||
	    m < 0 || m >= NR_MODELS || !tc_waits || !tc_opts.pool) {
		fprintf(stderr, "rtasync-threadcost: bad --model-child '%s'\n",
			spec);
		return 2;
	}
	model_child(&models[m], cmd_fd, res_fd);
	return 1;
}

static char self_exe[PATH_MAX];	/* this program, for exec_model() */

/* In the forked child: exec this program as model m's process. */
static void exec_model(int m, int cmd_fd, int res_fd)
{
	char spec[128];
	char *argv[] = { "rtasync-threadcost", "--model-child", spec, NULL };

	snprintf(spec, sizeof(spec), MODEL_SPEC_FMT, m, tc_waits,
		 tc_opts.pool, tc_opts.wait_us, tc_opts.stack_kib, cmd_fd,
		 res_fd, tc_port);
	if (fcntl(cmd_fd, F_SETFD, 0) || fcntl(res_fd, F_SETFD, 0))
		_exit(127);
	execv(self_exe, argv);
	_exit(127);
}

/* ---- one measured run -------------------------------------------------------- */

/* What one run of one model measured. */
struct sample {
	double wall_ms;
	double vol, invol;		/* observer, whole process */
	double threads, idle;
	double offcpu_ms, oncpu_ms;
	double runq_avg_us, runq_max_us;
	double window_ms;
	double ru_cpu_ms, ru_vol, ru_invol;	/* getrusage, same waits */
	double rss_peak_mib, rss_base_mib, rss_ready_mib;
	double cpu_idle_pct;		/* machine: idle share of all CPUs */
	double repaired, lost;
	struct model_info info;
};

static void sample_from(struct sample *s, const struct sched_snapshot *d,
			const struct child_result *res)
{
	struct sched_thread tot;
	double idle_ns = 0;

	memset(s, 0, sizeof(*s));
	sched_snapshot_total(d, &tot);
	for (size_t i = 0; i < d->nthreads; i++) {
		const struct sched_thread *t = &d->threads[i];
		double life = (double)t->oncpu_ns + (double)t->offcpu_ns;

		if (life <= 0)
			continue;
		s->threads++;
		if ((double)t->offcpu_ns > IDLE_OFFCPU_SHARE * life)
			s->idle++;
	}
	s->vol = (double)tot.nvcsw;
	s->invol = (double)tot.nivcsw;
	s->offcpu_ms = (double)tot.offcpu_ns / 1e6;
	s->oncpu_ms = (double)tot.oncpu_ns / 1e6;
	s->runq_avg_us = tot.runq_cnt ?
		(double)tot.runq_ns / (double)tot.runq_cnt / 1e3 : 0;
	s->runq_max_us = (double)tot.runq_max_ns / 1e3;
	s->window_ms = (double)(d->end_ns - d->start_ns) / 1e6;
	for (int c = 0; c < d->ncpus; c++)
		idle_ns += (double)d->cpus[c].idle_ns;
	if (d->ncpus && d->end_ns > d->start_ns)
		s->cpu_idle_pct = 100.0 * idle_ns /
			((double)(d->end_ns - d->start_ns) * d->ncpus);
	s->repaired = (double)d->repaired;
	s->lost = (double)(d->lost_threads + d->missed_events);

	s->wall_ms = (double)res->wall_ns / 1e6;
	s->ru_cpu_ms = (double)(rusage_cpu_ns(&res->r1) -
				rusage_cpu_ns(&res->r0)) / 1e6;
	s->ru_vol = (double)(res->r1.ru_nvcsw - res->r0.ru_nvcsw);
	s->ru_invol = (double)(res->r1.ru_nivcsw - res->r0.ru_nivcsw);
	s->rss_peak_mib = (double)res->rss_peak / MIB;
	s->rss_base_mib = (double)res->rss_base / MIB;
	s->rss_ready_mib = (double)res->rss_ready / MIB;
	s->info = res->info;
}

/*
 * Fork the model's process, attach the observer to it, snapshot around
 * its waits. Returns 0 or a negative errno, with the reason in why.
 */
static int run_model_once(int mi, struct sample *s, char *why,
			  size_t whylen)
{
	struct sched_obs_opts oo = {
		.max_threads = tc_waits + tc_opts.pool + 1024,
	};
	struct sched_snapshot a = { 0 }, b = { 0 }, d = { 0 };
	const struct model *m = &models[mi];
	struct sched_obs *obs = NULL;
	struct child_result res;
	int cmd[2], rsp[2], err, status, setup_err;
	pid_t pid;

	if (pipe2(cmd, O_CLOEXEC))
		return -errno;
	if (pipe2(rsp, O_CLOEXEC)) {
		err = -errno;
		close(cmd[0]);
		close(cmd[1]);
		return err;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		snprintf(why, whylen, "fork: %s", strerror(-err));
		goto out_pipes;
	}
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		exec_model(mi, cmd[0], rsp[1]);
	}
	close(cmd[0]);
	close(rsp[1]);
	cmd[0] = rsp[1] = -1;

	/* attach once the model is set up and warm: only the window counts */
	err = read_full(rsp[0], &setup_err, sizeof(setup_err), RUN_TIMEOUT_MS);
	if (!err && setup_err)
		err = setup_err;
	if (err) {
		snprintf(why, whylen, "%s set-up: %s", m->key, strerror(-err));
		goto out_kill;
	}
	err = sched_obs_open(&obs, &oo);
	if (!err)
		err = sched_obs_add_pid(obs, pid);
	if (!err)
		err = sched_obs_attach(obs);
	if (err) {
		snprintf(why, whylen, "observer: %s", strerror(-err));
		goto out_kill;
	}
	err = sched_obs_snapshot(obs, &a);
	if (!err)
		err = write_full(cmd[1], "g", 1);
	if (!err)
		err = read_full(rsp[0], &res, sizeof(res), RUN_TIMEOUT_MS);
	if (!err)
		err = sched_obs_snapshot(obs, &b);
	if (err) {
		snprintf(why, whylen, "%s: %s", m->key, strerror(-err));
		goto out_kill;
	}
	if (write_full(cmd[1], "x", 1))
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (res.err) {
		err = res.err;
		snprintf(why, whylen, "%s: %s", m->key, strerror(-err));
		goto out;
	}
	err = sched_snapshot_delta(&d, &b, &a);
	if (err) {
		snprintf(why, whylen, "snapshot: %s", strerror(-err));
		goto out;
	}
	sample_from(s, &d, &res);
	goto out;

out_kill:
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
out:
	sched_snapshot_free(&a);
	sched_snapshot_free(&b);
	sched_snapshot_free(&d);
	sched_obs_close(obs);
out_pipes:
	for (int i = 0; i < 2; i++) {
		if (cmd[i] >= 0)
			close(cmd[i]);
		if (rsp[i] >= 0)
			close(rsp[i]);
	}
	return err;
}

/* One run; with socket waits, a fresh feeder for it (not observed). */
static int run_model(int mi, struct sample *s, char *why, size_t whylen)
{
	int feeder = 0, err;

	tc_port = 0;
	if (tc_sockets) {
		feeder = tc_feeder_start(tc_waits, tc_opts.wait_us, &tc_port);
		if (feeder < 0) {
			snprintf(why, whylen, "feeder: %s", strerror(-feeder));
			return feeder;
		}
	}
	err = run_model_once(mi, s, why, whylen);
	tc_feeder_stop(feeder);
	return err;
}

/* ---- rows ------------------------------------------------------------------------ */

struct metric {
	const char *name;	/* row name, and the matrix's first column */
	const char *unit;
	double (*get)(const struct sample *s);
	enum bench_better better;
};

static double per_wait(double v)
{
	return v / (double)tc_waits;
}

static double m_wall(const struct sample *s) { return s->wall_ms; }
static double m_in_flight(const struct sample *s)
{
	return s->info.max_in_flight;
}
static double m_vol(const struct sample *s) { return per_wait(s->vol) * 1e3; }
static double m_invol(const struct sample *s)
{
	return per_wait(s->invol) * 1e3;
}
static double m_threads(const struct sample *s) { return s->threads; }
static double m_idle(const struct sample *s) { return s->idle; }
static double m_offcpu(const struct sample *s)
{
	return per_wait(s->offcpu_ms * 1e3);
}
static double m_runq_avg(const struct sample *s) { return s->runq_avg_us; }
static double m_runq_max(const struct sample *s) { return s->runq_max_us; }
static double m_cpu(const struct sample *s)
{
	return per_wait(s->ru_cpu_ms * 1e3);
}
static double m_rss(const struct sample *s) { return s->rss_peak_mib; }

static const struct metric metrics[] = {
	{ "wall time, all waits", "ms", m_wall, BENCH_LOWER },
	{ "most waits in flight at once", "waits", m_in_flight, BENCH_HIGHER },
	{ "voluntary switches per 1,000 waits", "switches", m_vol, BENCH_LOWER },
	{ "involuntary switches per 1,000 waits", "switches", m_invol, BENCH_LOWER },
	{ "threads that ran", "threads", m_threads, BENCH_LOWER },
	{ "threads idle (>90% off-CPU)", "threads", m_idle, BENCH_LOWER },
	{ "off-CPU time per wait, all threads", "us/wait", m_offcpu, BENCH_LOWER },
	{ "run-queue latency, average", "us", m_runq_avg, BENCH_LOWER },
	{ "run-queue latency, max", "us", m_runq_max, BENCH_LOWER },
	{ "CPU time per wait (getrusage)", "us/wait", m_cpu, BENCH_LOWER },
	{ "peak RSS (VmHWM)", "MiB", m_rss, BENCH_LOWER },
};

#define NR_METRICS (sizeof(metrics) / sizeof(metrics[0]))

static char peer_names[NR_MODELS][72];

static void set_peer_names(void)
{
	snprintf(peer_names[M_POOL], sizeof(peer_names[M_POOL]),
		 "thread pool, %u threads", tc_opts.pool);
	snprintf(peer_names[M_PERWAIT], sizeof(peer_names[M_PERWAIT]),
		 "thread per wait, %u threads", tc_waits);
	snprintf(peer_names[M_TASKS], sizeof(peer_names[M_TASKS]),
		 "librtasync tasks");
}

static void stat_of(struct bench_stat *st, const struct sample *v,
		    unsigned int n, double (*get)(const struct sample *))
{
	double x[BENCH_MAX_REPS];

	for (unsigned int i = 0; i < n; i++)
		x[i] = get(&v[i]);
	bench_stat_samples(st, x, n);
}

static double median_of(const struct sample *v, unsigned int n,
			double (*get)(const struct sample *))
{
	struct bench_stat st;

	stat_of(&st, v, n, get);
	return st.n ? st.median : NAN;
}

static double g_ru_vol(const struct sample *s) { return per_wait(s->ru_vol); }
static double g_ru_invol(const struct sample *s) { return per_wait(s->ru_invol); }
static double g_oncpu(const struct sample *s) { return per_wait(s->oncpu_ms * 1e3); }
static double g_base(const struct sample *s) { return s->rss_base_mib; }
static double g_ready(const struct sample *s) { return s->rss_ready_mib; }
static double g_alive(const struct sample *s) { return s->info.max_alive; }
static double g_cpu_idle(const struct sample *s) { return s->cpu_idle_pct; }
static double g_window(const struct sample *s) { return s->window_ms; }
static double g_parks(const struct sample *s) { return (double)s->info.rt_parks; }
static double g_wakes(const struct sample *s) { return (double)s->info.rt_wakes; }
static double g_repaired(const struct sample *s) { return s->repaired; }
static double g_lost(const struct sample *s) { return s->lost; }

/* Notes: what the row rests on, and the cross-checks. */
static void add_notes(struct bench_result *r, const struct metric *mt,
		      int peer, struct sample *const v[NR_MODELS],
		      unsigned int n)
{
	const struct sample *t = v[M_TASKS], *p = v[peer];
	const char *pk = peer == M_POOL ? "pool" : "per-wait";

	if (mt->get == m_wall && peer == M_POOL && tc_sockets)
		bench_note(r, "each wait a 1-byte request on its own loopback "
			   "TCP connection, answered %u us after it arrived by "
			   "a feeder process (not observed): blocking send+recv "
			   "in threads, RT_SEND+RT_RECV in tasks", tc_opts.wait_us);
	if (mt->get == m_wall && peer == M_POOL)
		bench_note(r, "%u waits of %u us: %s (%s); each run a fresh process "
			   "that did the same waits twice before (measured "
			   "warm), the observer attached to it; %u runs per "
			   "model, interleaved; pool: mutex+condvar queue, "
			   "default stacks", tc_waits, tc_opts.wait_us,
			   tc_sockets ? "socket waits" :
			   "clock_nanosleep in threads, RT_SLEEP in tasks",
			   t[0].info.shape, n);
	if (mt->get == m_wall && peer == M_PERWAIT)
		bench_note(r, "per-wait: %u KiB stacks, threads created back "
			   "to back and reaped as they finish, at most %.0f "
			   "alive at once", tc_opts.stack_kib,
			   median_of(p, n, g_alive));
	if (mt->get == m_idle)
		bench_note(r, "the machine's CPUs idle in the window: tasks "
			   "%.0f%%, %s %.0f%%", median_of(t, n, g_cpu_idle),
			   pk, median_of(p, n, g_cpu_idle));
	if (mt->get == m_invol && (median_of(t, n, g_repaired) ||
				   median_of(p, n, g_repaired) ||
				   median_of(t, n, g_lost) ||
				   median_of(p, n, g_lost)))
		bench_note(r, "observer: switches repaired tasks %.0f, %s %.0f;"
			   " events lost tasks %.0f, %s %.0f",
			   median_of(t, n, g_repaired), pk,
			   median_of(p, n, g_repaired),
			   median_of(t, n, g_lost), pk, median_of(p, n, g_lost));
	if (mt->get == m_in_flight && peer == M_POOL)
		bench_note(r, "from a clock read before and after each wait, "
			   "in the second unmeasured round");
	if (mt->get == m_vol)
		bench_note(r, "getrusage of the model's process across the "
			   "waits, vol+invol per 1,000 waits: tasks %.3g+%.3g, "
			   "%s %.4g+%.3g (the observer's window adds the two "
			   "pipe hand-shakes)",
			   median_of(t, n, g_ru_vol) * 1e3,
			   median_of(t, n, g_ru_invol) * 1e3, pk,
			   median_of(p, n, g_ru_vol) * 1e3,
			   median_of(p, n, g_ru_invol) * 1e3);
	if (mt->get == m_vol && peer == M_POOL)
		bench_note(r, "tasks: %.0f worker parks, %.0f wake-ups",
			   median_of(t, n, g_parks), median_of(t, n, g_wakes));
	if (mt->get == m_threads && peer == M_POOL)
		bench_note(r, "every thread of the model's process that ran in "
			   "the window, the main thread included; idle: "
			   "off-CPU for more than 90%% of its time in the "
			   "window (of its life, if born or ended in it)");
	if (mt->get == m_offcpu)
		bench_note(r, "observer's window: tasks %.1f ms, %s %.1f ms",
			   median_of(t, n, g_window), pk,
			   median_of(p, n, g_window));
	if (mt->get == m_cpu)
		bench_note(r, "observer's on-CPU time per wait: tasks %.3g us, "
			   "%s %.3g us", median_of(t, n, g_oncpu), pk,
			   median_of(p, n, g_oncpu));
	if (mt->get == m_rss && peer == M_POOL)
		bench_note(r, "VmHWM of the measured round (reset before it "
			   "through /proc/self/clear_refs); each model's "
			   "process is this program exec'd afresh: %.1f MiB "
			   "resident before its set-up",
			   median_of(t, n, g_base));
	if (mt->get == m_rss)
		bench_note(r, "resident when the waits start: tasks %.1f MiB, "
			   "%s %.1f MiB", median_of(t, n, g_ready), pk,
			   median_of(p, n, g_ready));
}

static void threadcost_topic(const char *topic)
{
	static struct sample samples[NR_MODELS][BENCH_MAX_REPS];
	struct sample *v[NR_MODELS];
	unsigned int reps = bench_opts.reps, rep;
	char why[160] = "";
	int err = 0;

	if (reps < 1)
		reps = 1;
	if (reps > BENCH_MAX_REPS)
		reps = BENCH_MAX_REPS;
	tc_waits = (unsigned int)bench_iters(tc_opts.waits, 10);
	set_peer_names();
	/* exec by name, so the model's threads are called rtasync-threadc */
	if (readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1) <= 0)
		snprintf(self_exe, sizeof(self_exe), "/proc/self/exe");
	for (int m = 0; m < NR_MODELS; m++)
		v[m] = samples[m];

	/* no warm-up round here: each model's process warms itself up */
	for (rep = 0; rep < reps && !err; rep++) {
		for (int m = 0; m < NR_MODELS && !err; m++) {
			struct sample *smp = &samples[m][rep];

			err = run_model(m, smp, why, sizeof(why));
			if (!err && bench_opts.verbose)
				bench_log("%s: run %u %s: %.1f ms, %.0f "
					  "vol, %.0f invol", topic, rep,
					  models[m].key,
					  smp->wall_ms, smp->vol, smp->invol);
		}
	}
	if (err)
		bench_log("%s: %s", topic, why);

	for (size_t i = 0; i < NR_METRICS; i++) {
		for (int peer = M_POOL; peer <= M_PERWAIT; peer++) {
			struct bench_result r;

			bench_result_init(&r, topic, metrics[i].name,
					  peer_names[peer], metrics[i].unit,
					  metrics[i].better);
			if (err) {
				bench_note(&r, "not measured: %s", why);
			} else {
				stat_of(&r.rt, v[M_TASKS], reps, metrics[i].get);
				stat_of(&r.other, v[peer], reps, metrics[i].get);
				add_notes(&r, &metrics[i], peer, v, reps);
			}
			bench_emit(&r);
		}
	}
}

void bench_threadcost(void)
{
	tc_sockets = false;
	threadcost_topic("threads");
}

void bench_threadcost_sockets(void)
{
	tc_sockets = true;
	threadcost_topic("sockets");
}

/* ---- the matrix --------------------------------------------------------------- */

static void fmt_val(char *buf, size_t len, const struct bench_stat *st)
{
	double v = st->median, a = fabs(v);

	if (!st->n)
		snprintf(buf, len, "n/a");
	else if (v == floor(v) && a < 1e9)
		snprintf(buf, len, "%.0f", v);
	else if (a >= 100)
		snprintf(buf, len, "%.0f", v);
	else if (a >= 10)
		snprintf(buf, len, "%.1f", v);
	else if (a >= 0.1)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.2g", v);
}

static void print_topic_matrix(const struct bench_report *rep,
			       const char *topic, const char *title)
{
	bool header = false;

	for (size_t i = 0; i < NR_METRICS; i++) {
		const struct bench_result *pool = NULL, *pw = NULL;
		char a[24], b[24], c[24];

		for (size_t j = 0; j < rep->nrows; j++) {
			const struct bench_result *r = &rep->rows[j];

			if (strcmp(r->topic, topic) ||
			    strcmp(r->name, metrics[i].name))
				continue;
			if (!strncmp(r->peer, "thread pool", 11))
				pool = r;
			else
				pw = r;
		}
		if (!pool || !pw)
			continue;
		if (!header) {
			printf("\n%s at a glance (medians; the observer's "
			       "numbers except CPU time and RSS)\n", title);
			printf("%-36s %-8s %14s %16s %12s\n", "", "",
			       "thread pool", "thread per wait", "librtasync");
			printf("%-36s %-8s %14.*s %16.*s %12s\n", "", "",
			       14, pool->peer + 13, 16, pw->peer + 17, "tasks");
			header = true;
		}
		fmt_val(a, sizeof(a), &pool->other);
		fmt_val(b, sizeof(b), &pw->other);
		fmt_val(c, sizeof(c), &pool->rt);
		printf("%-36s %-8s %14s %16s %12s\n", metrics[i].name,
		       metrics[i].unit, a, b, c);
	}
}

void threadcost_print_matrix(const struct bench_report *rep)
{
	print_topic_matrix(rep, "threads", "thread cost, timer waits,");
	print_topic_matrix(rep, "sockets", "thread cost, socket waits,");
}

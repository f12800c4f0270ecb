// SPDX-License-Identifier: MIT
/*
 * Worker threads: their loop, start and stop.
 *
 * Queues belong to CPUs, rings belong to threads: a worker pops from the
 * run queue of the CPU it is running on, and owns one io_uring, its timer
 * heap and three inboxes. Its only sleep is the io_uring wait, bounded by
 * the earliest timer, so wake-ups, timers and I/O share one wait.
 *
 * One turn of the loop, in order:
 *   take inboxes     tasks woken or cancelled by foreign threads (a
 *                    cancelled I/O op gets its ASYNC_CANCEL here), and
 *                    tasks that come to wait on a source this ring
 *                    holds (source.c)
 *   fire timers      sleeps, waits' and I/O ops' deadlines, once the
 *                    earliest is due (one clock read while some are
 *                    armed); an op's deadline sends its ASYNC_CANCEL
 *                    (io.c)
 *   submit           the SQEs the last batch prepared, in one
 *                    io_uring_enter, which also gets the completions
 *                    posted while ops are in flight (io.c)
 *   reap             completions on the ring, if any
 *   run a batch      up to RT_BATCH tasks from this CPU's queue, then
 *                    share a long queue with idle workers (balance.c)
 *   find work        the shared overflow queue
 *   idle             poll, steal, watch busy peers (balance.c), then
 *                    park in io_uring_wait (park.c)
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "fiber.h"
#include "trace_step.h"
#include "arch/x86_64/fiber.h"

__thread struct rt_worker *rt__self __attribute__((tls_model("initial-exec")));
__thread struct rt_task *rt__running __attribute__((tls_model("initial-exec")));

/* Where rt__running lives relative to the thread pointer: the same in
 * every thread, so one number lets a tool find any worker's. */
int64_t rt_running_tls_offset(void)
{
	char *tp;

	__asm__("movq %%fs:0, %0" : "=r"(tp));
	return (char *)&rt__running - tp;
}

uint64_t rt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the loop's phases ---------------------------------------------- */

static void take_inbox(struct rt_worker *w)
{
	struct rt_task *t = rt_inbox_take(&w->inbox);

	while (t) {
		struct rt_task *next = t->next;

		RT_STAT_INC(w, inbox);
		rt_worker_push_local(w, t);
		t = next;
	}
}

/*
 * A batch that records events begins with a turn record (trace_step.h):
 * its time, read here, once the batch has a task, so turns that run
 * nothing (idle polls, I/O turns) pay no clock read. The time is
 * CLOCK_MONOTONIC's, from the TSC where it can be (trace_clock.h).
 */
static void trace_batch(struct rt_worker *w)
{
	w->trace_ts = rt_trace_clock_now(&w->trace_clock, w->trace_ts);
	rt_trace_turn(w, w->trace_ts);
}

static unsigned int run_batch(struct rt_worker *w)
{
	struct rt_task *t = rt_runq_pop_cached(&w->rt->runqs, &w->qcache,
					       &w->qstats);
	unsigned int n;

	if (!t)
		return 0;
	if (unlikely(w->spinning))
		rt_worker_stop_spinning(w, true);	/* the baton (balance.c) */
	if (likely(!w->step_hooks)) {
		n = rt_task_run_batch(w, t);
	} else {
		if (w->step_hooks & RT_HOOK_EVENTS)
			trace_batch(w);
		n = rt_task_run_batch_hooked(w, t);
	}
	rt_worker_share(w);
	return n;
}

/*
 * Once a turn: the heartbeat, and which per-step hooks tools asked for
 * (read from the area as flags only: a tool may have written anything
 * there). Recorded events get their timestamp from trace_batch().
 */
static void trace_turn(struct rt_worker *w)
{
	struct rt_trace_header *h = w->rt->trace.hdr;
	uint8_t hooks = 0;

	/* the heartbeat idle peers watch (watchdog.c): always kept */
	__atomic_store_n(&w->tw->turns, w->tw->turns + 1, __ATOMIC_RELAXED);
#ifdef RT_NO_COUNTERS
	return;
#endif
	if (w->rt->cfg.count_sites ||
	    __atomic_load_n(&h->sites_enabled, __ATOMIC_RELAXED))
		hooks |= RT_HOOK_SITES;
	if (__atomic_load_n(&h->events_enabled, __ATOMIC_RELAXED)) {
		/* its mask is made where sampled steps are (task.c) */
		w->sample_shift = __atomic_load_n(&h->sample_shift,
						  __ATOMIC_RELAXED) & 31;
		hooks |= w->sample_shift ? RT_HOOK_EVENTS | RT_HOOK_SAMPLED :
					   RT_HOOK_EVENTS;
	}
	w->step_hooks = hooks;
}

/*
 * Sleeps, waits' and I/O ops' deadlines that are due: one clock read a
 * turn while any timer is armed, and no heap lock until the earliest is
 * due. The sleep heap's cached earliest deadline is never later than
 * the truth: only this worker inserts into its heaps, and a peer that
 * takes a timer out (a disarm, an adoption) can only make it early,
 * which costs one look at a heap with nothing due.
 */
static void fire_timers(struct rt_worker *w)
{
	uint64_t next = rt_worker_next_timer(w);
	uint64_t now;

	if (next == UINT64_MAX)
		return;
	now = rt_now_ns();
	if (now < next)
		return;
	rt_io_deadlines(w, now);
	rt_sleep_fire(w, now);
}

static void worker_loop(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;

	while (!atomic_load_explicit(&rt->stop, memory_order_acquire)) {
		trace_turn(w);
		take_inbox(w);
		rt_sleep_cancels(w);
		rt_source_turn(w);
		rt_io_cancels(w);
		fire_timers(w);
		rt_io_submit(w);
		if (io_uring_cq_ready(&w->ring) ||
		    io_uring_cq_has_overflow(&w->ring))
			rt_worker_reap(w);
		if (run_batch(w))
			continue;
		if (rt_worker_take_overflow(w))
			continue;
		if (!rt_worker_idle_poll(w))
			rt_worker_park(w);
	}
	if (w->spinning)	/* back from a park into the stop */
		rt_worker_stop_spinning(w, false);
}

/* ---- start and stop -------------------------------------------------- */

/*
 * Register the ring's fd with the kernel (5.18+): io_uring_enter then
 * names the ring by index and skips the fd lookup (fdget/fdput) that a
 * multi-threaded process pays for on every enter. The registration
 * belongs to this thread, which is the only one that enters this ring.
 * RTASYNC_REG_RING=0 leaves it off, to measure it (bench/io_features.c).
 */
static void ring_register_fd(struct rt_worker *w, size_t desc_len)
{
	char *desc = w->rt->ring_desc;

	if (rt_env_is("RTASYNC_REG_RING", "0"))
		return;
	if (io_uring_register_ring_fd(&w->ring) != 1 || w->index)
		return;
	snprintf(desc + desc_len, sizeof(w->rt->ring_desc) - desc_len,
		 "+REGISTERED_FD");
}

static int ring_init(struct rt_worker *w, unsigned int entries)
{
	static const struct {
		unsigned int flags;
		const char *name;
	} modes[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		  "SINGLE_ISSUER|DEFER_TASKRUN" },
		{ IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
		{ 0, "none" },
	};
	int ret = -EINVAL;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = modes[i].flags;
		ret = io_uring_queue_init_params(entries, &w->ring, &p);
		if (!ret) {
			w->ring_flags = modes[i].flags;
			w->ring_fd = w->ring.ring_fd;
			if (w->index == 0)
				snprintf(w->rt->ring_desc, sizeof(w->rt->ring_desc),
					 "%s", modes[i].name);
			ring_register_fd(w, strlen(modes[i].name));
			return 0;
		}
		if (ret != -EINVAL)
			return ret;
	}
	return ret;
}

static void pin(struct rt_worker *w)
{
	cpu_set_t set;

	if (w->cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int worker_setup(struct rt_worker *w)
{
	int ret;

	pin(w);
	rt__self = w;
	w->running = &rt__running;
	w->tw->tid = (uint32_t)gettid();
	w->stack_limit = (char *)__builtin_frame_address(0) -
			 RT_SYNC_STACK_BUDGET;
	/* any worker may resume a fiber (a steal), so every worker has
	 * the stack an overflow report runs on; without it, no report */
	rt_fiber_altstack_init(w);
	ret = ring_init(w, w->rt->cfg.ring_entries);
	if (ret)
		return ret;
	ret = rt_io_init(w);
	if (ret) {
		io_uring_queue_exit(&w->ring);
		return ret;
	}
	if (w->index == 0) {
		rt_wake_choose(w->rt, &w->ring);
		rt_io_probe(w->rt, &w->ring);
	}
	rt_worker_arm_doorbell(w);
	io_uring_submit(&w->ring);
	return 0;
}

/*
 * Peers' watchdogs read this thread's rt__running, which dies with the
 * thread: no worker exits until every worker has left its loop.
 */
static void leave_together(struct rt_runtime *rt)
{
	uint32_t n = atomic_fetch_add(&rt->left, 1) + 1;

	rt_futex_wake_all(&rt->left);
	while (n < rt->nworkers) {
		rt_futex_wait(&rt->left, n, 0);
		n = atomic_load(&rt->left);
	}
}

/*
 * Wait until every worker has set up (a worker also stops waiting at
 * stop). The futex gets the count that was compared, never a second
 * load: a count that moved in between would put us to sleep with the
 * last wake-up already gone, a worker missing for the runtime's life and
 * its shutdown hanging in leave_together() (test_runtime_churn).
 */
static void wait_started(struct rt_runtime *rt, bool or_stop)
{
	uint32_t n;

	while ((n = atomic_load(&rt->started)) < rt->nworkers &&
	       !(or_stop && atomic_load(&rt->stop)))
		rt_futex_wait(&rt->started, n, 0);
}

static void *worker_main(void *arg)
{
	struct rt_worker *w = arg;
	struct rt_runtime *rt = w->rt;

	w->fpenv = rt_arch_fpenv_read();	/* the creator's, inherited */
	w->start_err = worker_setup(w);
	atomic_fetch_add(&rt->started, 1);
	rt_futex_wake_all(&rt->started);
	if (!w->start_err) {
		wait_started(rt, true);
		worker_loop(w);
		io_uring_queue_exit(&w->ring);
		rt_bufpool_free(w);
	}
	rt_io_free(w);
	leave_together(rt);
	rt_task_cache_free(w);
	rt_fiber_cache_free(w);
	rt_fiber_altstack_free(w);
	rt_sleep_free(w);
	rt__self = NULL;
	return NULL;
}

/* The CPUs we may run on, in order; pinning hands them out round robin. */
static int allowed_cpus(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[n++] = cpu;
	return n;
}

static int worker_init(struct rt_worker *w, struct rt_runtime *rt,
		       unsigned int index, int cpu)
{
	memset(w, 0, sizeof(*w));
	w->rt = rt;
	w->index = index;
	w->cpu = cpu;
	w->running = &w->watch.task;	/* a NULL until the thread starts */
	rt_trace_worker_bind(&rt->trace, w);
	w->tick = index * 2654435761u + 1;
	atomic_init(&w->timer_next, UINT64_MAX);
	w->victims = calloc(rt->runqs.ncpus, sizeof(*w->victims));
	if (!w->victims)
		return -ENOMEM;
	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0) {
		int err = -errno;

		free(w->victims);
		w->victims = NULL;
		return err;
	}
	return 0;
}

static int start_threads(struct rt_runtime *rt)
{
	pthread_attr_t attr;
	unsigned int i;
	int ret = 0;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, RT_WORKER_STACK);
	for (i = 0; i < rt->nworkers; i++) {
		ret = -pthread_create(&rt->workers[i].thread, &attr,
				      worker_main, &rt->workers[i]);
		if (ret)
			break;
	}
	pthread_attr_destroy(&attr);
	if (ret) {
		/* The started ones must not wait for the rest forever. */
		atomic_store(&rt->stop, 1);
		atomic_fetch_add(&rt->started, rt->nworkers - i);
		atomic_fetch_add(&rt->left, rt->nworkers - i);
		rt_futex_wake_all(&rt->left);
		rt_futex_wake_all(&rt->started);
		for (unsigned int k = 0; k < i; k++)
			pthread_join(rt->workers[k].thread, NULL);
	}
	return ret;
}

/* What worker_init() gave the first n workers, once their threads are gone. */
static void close_doorbells(struct rt_runtime *rt, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		close(rt->workers[i].efd);
		free(rt->workers[i].victims);
		rt->workers[i].victims = NULL;
	}
}

int rt_workers_start(struct rt_runtime *rt)
{
	int cpus[CPU_SETSIZE];
	int ncpus = allowed_cpus(cpus, CPU_SETSIZE);
	unsigned int i;
	int ret;

	if (ncpus <= 0)
		return ncpus ? ncpus : -ENODEV;
	rt->workers = aligned_alloc(64, rt->nworkers * sizeof(*rt->workers));
	if (!rt->workers)
		return -ENOMEM;
	for (i = 0; i < rt->nworkers; i++) {
		int cpu = rt->cfg.pin ? cpus[i % (unsigned int)ncpus] : -1;

		ret = worker_init(&rt->workers[i], rt, i, cpu);
		if (ret)
			goto err_close;
	}
	ret = start_threads(rt);
	if (ret)
		goto err_close;
	wait_started(rt, false);
	for (i = 0; i < rt->nworkers; i++) {
		if (rt->workers[i].start_err) {
			ret = rt->workers[i].start_err;
			rt_workers_stop(rt);
			rt_workers_free(rt);
			return ret;
		}
	}
	return 0;
err_close:
	close_doorbells(rt, i);
	free(rt->workers);
	rt->workers = NULL;
	return ret;
}

void rt_workers_stop(struct rt_runtime *rt)
{
	if (!rt->workers)
		return;
	atomic_store(&rt->stop, 1);
	for (unsigned int i = 0; i < rt->nworkers; i++)
		eventfd_write(rt->workers[i].efd, 1);
	for (unsigned int i = 0; i < rt->nworkers; i++)
		pthread_join(rt->workers[i].thread, NULL);
	close_doorbells(rt, rt->nworkers);
}

void rt_workers_free(struct rt_runtime *rt)
{
	free(rt->workers);
	rt->workers = NULL;
}

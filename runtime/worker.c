// SPDX-License-Identifier: MIT
/*
 * Worker threads and their loop.
 *
 * Queues belong to CPUs, rings belong to threads: a worker pops from the
 * run queue of the CPU it is running on, and owns one io_uring, its timer
 * heap and two inboxes. Its only sleep is the io_uring wait, bounded by
 * the earliest timer, so wake-ups, timers and (later) I/O share one wait.
 *
 * One turn of the loop, in order:
 *   take inboxes     tasks woken or cancelled by other threads
 *   fire timers      only when some task sleeps (one clock read)
 *   run a batch      up to RT_BATCH tasks from this CPU's queue, then
 *                    donate half the queue if other workers are idle
 *   find work        the shared overflow queue
 *   idle             poll briefly, steal, then park in io_uring_wait
 *
 * Work moves between CPUs mostly by donation: a fenced steal interrupts
 * the victim CPU with an IPI (tens of us on a VM, more than a batch of
 * small tasks is worth), while the owner can pop half its queue with free
 * rseq pops and hand it over in one locked splice. Steals remain for the
 * owner that does not come back to donate: one stuck in a long task.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define RT_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define RT_UNDER_VALGRIND() 0
#endif

#define RT_BATCH 64
#define RT_STEAL_MAX 1024
/*
 * Donate only from a queue this long: moving a task to another CPU costs
 * it cache misses and, for fork-join work, a cross-CPU wake-up of the
 * joiner (tens of us here), which a short queue does not repay.
 */
#define RT_DONATE_MIN (4 * RT_BATCH)

/* user_data tags for the CQEs a worker gets today */
enum {
	RT_TAG_WAKE = 1,	/* MSG_RING from another worker */
	RT_TAG_EVENTFD,		/* doorbell read from a foreign thread */
};

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

/* ---- making tasks runnable ----------------------------------------- */

static void wake_a_parked_worker(struct rt_worker *w);

/*
 * Queue t on this CPU. If some worker sleeps and this queue holds more
 * than the one task we are about to run next, ring a sleeper: this worker
 * may not come back to its loop for a long time (a task that hogs it),
 * and the sleeper would otherwise never see the work.
 */
void rt_worker_push_local(struct rt_worker *w, struct rt_task *t)
{
	struct rt_runtime *rt = w->rt;

	if (unlikely(rt_runq_push(&rt->runqs, t, &w->qstats))) {
		RT_STAT_INC(w, overflows);
		RT_PROBE1(overflow, w->index);
		rt_overflow_push(&rt->overflow, t);
	}
	if (unlikely(atomic_load_explicit(&rt->nparked, memory_order_relaxed)) &&
	    rt_runq_len(&rt->runqs, (unsigned int)rt_runq_cpu(&rt->runqs)) > 1)
		wake_a_parked_worker(w);
}

/*
 * t became runnable. On its last worker's own thread that is a local push;
 * from anywhere else it goes to that worker's inbox, with a doorbell if
 * the worker sleeps. self is the calling worker, or NULL.
 */
void rt_task_make_runnable(struct rt_worker *self, struct rt_task *t)
{
	struct rt_runtime *rt = t->rt;
	struct rt_worker *home = rt_worker_by_id(rt,
		atomic_load_explicit(&t->worker, memory_order_relaxed));

	if (self && (home == self || !home)) {
		rt_worker_push_local(self, t);
		return;
	}
	if (!home) {
		unsigned int i = atomic_fetch_add_explicit(&rt->next_inbox, 1,
						memory_order_relaxed);
		home = &rt->workers[i % rt->nworkers];
	}
	rt_inbox_push(&home->inbox, t);
	rt_worker_wake(self, home);
}

/* ---- waking a parked worker ------------------------------------------ */

static struct io_uring_sqe *get_sqe(struct rt_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

static void send_msg_ring(struct rt_worker *from, struct rt_worker *target)
{
	struct io_uring_sqe *sqe = get_sqe(from);

	if (!sqe) {
		eventfd_write(target->efd, 1);
		return;
	}
	io_uring_prep_msg_ring(sqe, target->ring_fd, 0, RT_TAG_WAKE, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, 0);
	io_uring_submit(&from->ring);
	RT_STAT_INC(from, wakes_msg_ring);
}

/*
 * Ring target's doorbell if it is parked and nobody rang it yet. Pairs
 * with worker_park(): it sets parked, then looks at its inboxes; we push
 * to an inbox, then look at parked. Both are seq_cst, so one of us sees
 * the other and no wake-up is lost.
 */
void rt_worker_wake(struct rt_worker *from, struct rt_worker *target)
{
	if (from == target)
		return;
	if (!atomic_load_explicit(&target->parked, memory_order_seq_cst))
		return;
	if (atomic_exchange_explicit(&target->wake_pending, 1,
				     memory_order_acq_rel))
		return;
	if (from) {
		send_msg_ring(from, target);
	} else {
		eventfd_write(target->efd, 1);
		__atomic_fetch_add(&target->stats->wakes_eventfd, 1,
				   __ATOMIC_RELAXED);
	}
}

/* Hand the older half of a long local queue to idle workers. */
static void donate(struct rt_worker *w, unsigned int len)
{
	struct rt_task *head = NULL, *tail = NULL, *t;
	size_t n = 0;

	while (n < len / 2 && (t = rt_runq_pop(&w->rt->runqs, &w->qstats))) {
		if (tail)
			tail->next = t;
		else
			head = t;
		tail = t;
		n++;
	}
	if (!n)
		return;
	rt_overflow_push_list(&w->rt->overflow, head, tail, n);
	RT_STAT_ADD(w, donated, n);
}

static void wake_a_parked_worker(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;

	for (unsigned int i = 1; i < rt->nworkers; i++) {
		struct rt_worker *o = &rt->workers[(w->index + i) % rt->nworkers];

		if (atomic_load_explicit(&o->parked, memory_order_relaxed)) {
			rt_worker_wake(w, o);
			return;
		}
	}
}

/* More work here than this worker can start now: share it. */
static void share_work(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;
	unsigned int len;

	if (!atomic_load_explicit(&rt->nidle, memory_order_relaxed))
		return;
	len = rt_runq_len(&rt->runqs, (unsigned int)rt_runq_cpu(&w->rt->runqs));
	if (len >= RT_DONATE_MIN)
		donate(w, len);
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

static void wake_sleeper(struct rt_worker *w, struct rt_task *t, int64_t ret)
{
	atomic_store_explicit(&t->timer_owner, 0, memory_order_relaxed);
	t->h.ret = ret;
	rt_worker_push_local(w, t);
}

static void take_cancels(struct rt_worker *w)
{
	struct rt_task *t = rt_inbox_take_cancels(&w->cancels);

	while (t) {
		struct rt_task *next = t->cancel_next;

		/* Only we put tasks in our heap, so this test is exact. */
		if (atomic_load_explicit(&t->timer_owner,
					 memory_order_relaxed) == rt_worker_id(w)) {
			rt_timer_remove(&w->timers, t);
			wake_sleeper(w, t, -ECANCELED);
			RT_STAT_INC(w, cancels);
		}
		rt_task_unref(w, t);
		t = next;
	}
}

static void fire_timers(struct rt_worker *w)
{
	struct rt_task *t;
	uint64_t now;

	if (!w->timers.len)
		return;
	now = rt_now_ns();
	while ((t = rt_timer_pop_expired(&w->timers, now))) {
		RT_STAT_INC(w, timers_fired);
		wake_sleeper(w, t, 0);
	}
}

static unsigned int run_batch(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;
	unsigned int n;

	for (n = 0; n < RT_BATCH; n++) {
		struct rt_task *t = rt_runq_pop(&rt->runqs, &w->qstats);

		if (!t)
			break;
		rt_task_run(w, t);
	}
	if (n)
		share_work(w);
	return n;
}

static bool take_overflow(struct rt_worker *w)
{
	struct rt_task *t;
	unsigned int n = 0;

	while (n < RT_BATCH && (t = rt_overflow_pop(&w->rt->overflow))) {
		rt_worker_push_local(w, t);
		n++;
	}
	return n > 0;
}

static bool steal(struct rt_worker *w)
{
	struct rt_runqs *qs = &w->rt->runqs;
	unsigned int start = (unsigned int)rand_r(&w->tick);
	unsigned int self = (unsigned int)rt_runq_cpu(qs);
	void *got[RT_STEAL_MAX];

	for (unsigned int i = 0; i < qs->ncpus; i++) {
		unsigned int cpu = (start + i) % qs->ncpus;
		unsigned int n;

		if (cpu == self)
			continue;
		n = rt_runq_steal(qs, cpu, got, RT_STEAL_MAX);
		if (!n)
			continue;
		RT_STAT_INC(w, steals);
		RT_STAT_ADD(w, stolen, n);
		for (unsigned int k = 0; k < n; k++)
			rt_worker_push_local(w, got[k]);
		return true;
	}
	return false;
}

/* Work that arrives for this worker without stealing. */
static bool has_own_work(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;

	return !rt_inbox_empty(&w->inbox) || !rt_inbox_empty(&w->cancels) ||
	       atomic_load_explicit(&rt->overflow.count, memory_order_seq_cst) ||
	       rt_runq_len(&rt->runqs, (unsigned int)rt_runq_cpu(&rt->runqs));
}

/* ... or that it could steal: what a worker about to sleep looks for. */
static bool has_work(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;

	if (has_own_work(w))
		return true;
	for (unsigned int cpu = 0; cpu < rt->runqs.ncpus; cpu++)
		if (rt_runq_len(&rt->runqs, cpu))
			return true;
	return false;
}

/* ---- parking ------------------------------------------------------------ */

static void arm_doorbell(struct rt_worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, w->efd, &w->efd_buf, sizeof(w->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, RT_TAG_EVENTFD);
}

static void reap(struct rt_worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	bool rearm = false;

	io_uring_for_each_cqe(&w->ring, head, cqe) {
		if (cqe->user_data == RT_TAG_EVENTFD)
			rearm = true;
		n++;
	}
	io_uring_cq_advance(&w->ring, n);
	if (rearm)
		arm_doorbell(w);
}

static void tell_drain_waiters(struct rt_runtime *rt)
{
	if (!atomic_load_explicit(&rt->drain_waiters, memory_order_seq_cst))
		return;
	atomic_fetch_add_explicit(&rt->drain_seq, 1, memory_order_seq_cst);
	rt_futex_wake_all(&rt->drain_seq);
}

static void worker_park(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	uint64_t next = rt_timer_next(&w->timers);
	uint64_t look = rt_watchdog_deadline(w, rt_now_ns());

	if (look < next)
		next = look;	/* a peer is inside a task: look again */
	atomic_store_explicit(&w->parked, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&rt->nparked, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&rt->nidle, 1, memory_order_relaxed);
	if (has_work(w) || atomic_load(&rt->stop))
		goto unpark;
	tell_drain_waiters(rt);
	/* valgrind 3.19 holds its big lock across io_uring_enter, so a long
	 * wait there stops every other thread: wait in short slices. */
	if (RT_UNDER_VALGRIND() && next > rt_now_ns() + 1000000)
		next = rt_now_ns() + 1000000;
	if (next != UINT64_MAX) {
		uint64_t now = rt_now_ns();
		uint64_t delta = next > now ? next - now : 0;

		if (!delta)
			goto unpark;
		ts.tv_sec = (long long)(delta / 1000000000u);
		ts.tv_nsec = (long long)(delta % 1000000000u);
		tsp = &ts;
	}
	RT_STAT_INC(w, parks);
	RT_PROBE1(park, w->index);
	io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, tsp, NULL);
	RT_PROBE1(unpark, w->index);
unpark:
	atomic_store_explicit(&w->parked, 0, memory_order_seq_cst);
	atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_seq_cst);
	atomic_fetch_sub_explicit(&rt->nidle, 1, memory_order_relaxed);
	atomic_store_explicit(&w->wake_pending, 0, memory_order_release);
	reap(w);
}

/*
 * Poll for work a little before paying for a sleep and a wake-up (~60 us
 * here), then steal whatever is left waiting.
 */
static bool idle_poll(struct rt_worker *w)
{
	uint64_t until = rt_now_ns() + (uint64_t)w->rt->cfg.spin_us * 1000u;
	uint64_t next_timer = rt_timer_next(&w->timers);
	bool found = false;

	atomic_fetch_add_explicit(&w->rt->nidle, 1, memory_order_relaxed);
	rt_watchdog_check(w, rt_now_ns());
	do {
		if (has_own_work(w)) {
			found = true;
			break;
		}
		__builtin_ia32_pause();
	} while (rt_now_ns() < until && rt_now_ns() < next_timer);
	atomic_fetch_sub_explicit(&w->rt->nidle, 1, memory_order_relaxed);
	return found || steal(w) || has_own_work(w);
}

/* Once a turn: is a tool recording events? Then timestamp the turn. */
static void trace_turn(struct rt_worker *w)
{
	struct rt_trace_header *h = w->rt->trace.hdr;

#ifdef RT_NO_COUNTERS
	return;
#endif
	__atomic_store_n(&w->tw->turns, w->tw->turns + 1, __ATOMIC_RELAXED);
	w->trace_on = __atomic_load_n(&h->events_enabled, __ATOMIC_RELAXED);
	if (!w->trace_on)
		return;
	w->sample_mask = (1u << (__atomic_load_n(&h->sample_shift,
						 __ATOMIC_RELAXED) & 31)) - 1;
	w->trace_ts = rt_now_ns();
	w->turn_step = 0;
	__atomic_store_n(&w->tw->loop_ts, w->trace_ts, __ATOMIC_RELAXED);
}

static void worker_loop(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;

	while (!atomic_load_explicit(&rt->stop, memory_order_acquire)) {
		trace_turn(w);
		take_inbox(w);
		take_cancels(w);
		fire_timers(w);
		if (run_batch(w))
			continue;
		if (take_overflow(w))
			continue;
		if (!idle_poll(w))
			worker_park(w);
	}
}

/* ---- start and stop -------------------------------------------------- */

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
	ret = ring_init(w, w->rt->cfg.ring_entries);
	if (ret)
		return ret;
	arm_doorbell(w);
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

static void *worker_main(void *arg)
{
	struct rt_worker *w = arg;
	struct rt_runtime *rt = w->rt;

	w->start_err = worker_setup(w);
	atomic_fetch_add(&rt->started, 1);
	rt_futex_wake_all(&rt->started);
	if (!w->start_err) {
		while (atomic_load(&rt->started) < rt->nworkers &&
		       !atomic_load(&rt->stop))
			rt_futex_wait(&rt->started, atomic_load(&rt->started), 0);
		worker_loop(w);
		io_uring_queue_exit(&w->ring);
	}
	leave_together(rt);
	rt_task_cache_free(w);
	rt_timer_heap_free(&w->timers);
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
	w->efd = eventfd(0, EFD_CLOEXEC);
	return w->efd < 0 ? -errno : 0;
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

static void close_doorbells(struct rt_runtime *rt, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		close(rt->workers[i].efd);
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
	while (atomic_load(&rt->started) < rt->nworkers)
		rt_futex_wait(&rt->started, atomic_load(&rt->started), 0);
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

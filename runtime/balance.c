// SPDX-License-Identifier: MIT
/*
 * Where runnable tasks go, and how work moves between workers.
 *
 * A task made runnable by a worker goes onto that worker's CPU queue: it
 * runs where its waker's cache is warm. Only foreign threads use a
 * worker's inbox. Work then spreads three ways:
 *
 *   wake a helper   a push made from inside a task step, while some
 *                   worker sleeps and none is spinning, rings a sleeper:
 *                   the pusher may not come back to its loop for a long
 *                   time (a task that hogs it), and the sleeper steals.
 *   donation        a busy worker that sees idle peers pops the older
 *                   half of a long queue with free rseq pops, splices it
 *                   into the shared overflow queue in one locked step and
 *                   rings as many sleepers as it can feed.
 *   stealing        an idle worker takes the older half of a CPU queue,
 *                   fenced (runq.c). It costs the victim an IPI, so an
 *                   idle worker spins for own work first and steals only
 *                   where a queue holds something.
 *
 * An idle worker also watches busy peers (watchdog.c): one stuck in a
 * long step has its inbox and expired timers adopted.
 */
#include <stdlib.h>

#include "internal.h"

#define RT_STEAL_MAX 1024
/*
 * Donate only from a queue this long: moving a task to another CPU costs
 * it cache misses and, for fork-join work, a cross-CPU wake-up of the
 * joiner (tens of us here), which a short queue does not repay.
 */
#define RT_DONATE_MIN (4 * RT_BATCH)
/*
 * An idle worker looks at its own inbox and queue at every pause, and
 * reads the clock every RT_SPIN_CHECK pauses. Other workers' queues it
 * looks at every RT_STEAL_EVERY_NS, their loops every RT_WATCH_EVERY_NS:
 * each look pulls in cache lines their owners write all the time, and a
 * busy worker beside a tight spinner pays for every one of them.
 */
#define RT_SPIN_CHECK 16
#define RT_STEAL_EVERY_NS 2000u
#define RT_STEAL_STALL_NS 20000u
#define RT_WATCH_EVERY_NS 25000u

/* ---- making tasks runnable ------------------------------------------ */

/*
 * Some worker sleeps (the caller saw nparked after its fence). Ring one
 * if nobody is spinning already, and the work will otherwise wait: it was
 * pushed from inside a step, or it is more than the one task we run next.
 * Only a pinned worker knows it pops next from the queue it pushed to: an
 * unpinned one may move to another CPU in between, leaving the task on a
 * queue whose other workers may all be in long steps.
 */
void rt__worker_want_helper(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;

	if (atomic_load_explicit(&rt->nspinning, memory_order_relaxed))
		return;
	if (rt__running || w->cpu < 0 ||
	    rt_runq_len(&rt->runqs, (unsigned int)rt_runq_cpu(&rt->runqs)) > 1)
		rt_wake_one(rt, w);
}

/* Pop up to n tasks off this CPU's queue, oldest first, as a list. */
static size_t pop_list(struct rt_worker *w, size_t n, struct rt_task **head,
		       struct rt_task **tail)
{
	struct rt_task *t;
	size_t got = 0;

	*head = *tail = NULL;
	while (got < n && (t = rt_runq_pop(&w->rt->runqs, &w->qstats))) {
		if (*tail)
			(*tail)->next = t;
		else
			*head = t;
		*tail = t;
		got++;
	}
	return got;
}

/*
 * This CPU's queue is full: move its older half to the shared overflow
 * queue in one locked splice, so the lock is paid once per half a queue
 * rather than once per task, and t still goes on the queue.
 */
void rt__worker_spill(struct rt_worker *w, struct rt_task *t)
{
	struct rt_runtime *rt = w->rt;
	struct rt_task *head, *tail;
	size_t n = pop_list(w, rt->runqs.size / 2, &head, &tail);

	RT_STAT_INC(w, overflows);
	RT_PROBE1(overflow, w->index);
	if (n)
		rt_overflow_push_list(&rt->overflow, head, tail, n);
	if (rt_runq_push(&rt->runqs, t, &w->qstats))
		rt_overflow_push(&rt->overflow, t);	/* a thief refilled it */
}

/*
 * The inbox a foreign thread's task goes to: its last worker's if that
 * one sleeps, else a sleeping worker's (an awake one may be stuck in a
 * long step), else one outside any step (polling for work, or between
 * steps: a worker back from a park is awake a while, polling, with
 * nothing to do), else its last worker's or the next one round robin.
 */
static struct rt_worker *foreign_target(struct rt_runtime *rt,
					struct rt_task *t)
{
	struct rt_worker *home = rt_worker_by_id(rt,
		atomic_load_explicit(&t->worker, memory_order_relaxed));
	unsigned int i;

	if (home && rt_worker_asleep(home))
		return home;
	for (i = 0; i < rt->nworkers; i++)
		if (rt_worker_asleep(&rt->workers[i]))
			return &rt->workers[i];
	for (i = 0; i < rt->nworkers; i++)
		if (!rt_worker_in_step(&rt->workers[i]))
			return &rt->workers[i];
	if (home)
		return home;
	i = atomic_fetch_add_explicit(&rt->next_inbox, 1, memory_order_relaxed);
	return &rt->workers[i % rt->nworkers];
}

/*
 * t became runnable and may not run next (rt_task_make_runnable(),
 * internal.h). A worker of t's runtime queues it locally; anyone
 * else goes through an inbox, ringing its worker if that one sleeps (the
 * producer side of NO LOST WAKE-UP again), or a sleeper to watch it
 * (rt_worker_wake_inbox()). foreign_target() prefers sleepers, so the
 * second ring happens only in a race with a worker going to sleep.
 */
void rt__task_make_runnable(struct rt_worker *self, struct rt_task *t)
{
	struct rt_runtime *rt = t->rt;
	struct rt_worker *target;

	if (self && self->rt == rt) {
		rt_worker_push_local(self, t);
		return;
	}
	/* t may run and end before we ring: keep shutdown from closing the
	 * doorbell under us (rt_foreign_enter(), task.c) */
	rt_foreign_enter(rt);
	target = foreign_target(rt, t);
	rt_inbox_push(&target->inbox, t);
	rt_fence_fast();
	rt_worker_wake_inbox(target);
	rt_foreign_leave(rt);
}

/* ---- donation ----------------------------------------------------------- */

/* How much an idle worker takes off the overflow queue at once: it does
 * so with its CPU queue empty, so a quarter of a queue always fits. */
static size_t overflow_take(struct rt_runtime *rt)
{
	return rt->runqs.size >= 4 ? rt->runqs.size / 4 : 1;
}

/* Hand the older half of a long local queue to idle workers. */
static void donate(struct rt_worker *w, unsigned int len)
{
	struct rt_runtime *rt = w->rt;
	struct rt_task *head, *tail;
	size_t n = pop_list(w, len / 2, &head, &tail);

	if (!n)
		return;
	rt_overflow_push_list(&rt->overflow, head, tail, n);
	RT_STAT_ADD(w, donated, n);
	/* Each sleeper takes up to overflow_take(): ring as many as n
	 * feeds. The fence is the producer side of NO LOST WAKE-UP. */
	rt_fence_fast();
	for (size_t fed = atomic_load_explicit(&rt->nspinning,
					       memory_order_relaxed) *
			  overflow_take(rt);
	     fed < n && rt_wake_one(rt, w); fed += overflow_take(rt))
		;
}

/* More work here than this worker can start now: share it. */
void rt_worker_share(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;
	unsigned int len;

	if (!atomic_load_explicit(&rt->nidle, memory_order_relaxed))
		return;
	len = rt_runq_len(&rt->runqs, (unsigned int)rt_runq_cpu(&rt->runqs));
	if (len >= RT_DONATE_MIN)
		donate(w, len);
}

/* A batch from the shared overflow queue, in one locked step. */
bool rt_worker_take_overflow(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;
	struct rt_task *t = rt_overflow_pop_batch(&rt->overflow,
						  overflow_take(rt));
	bool any = t != NULL;

	while (t) {
		struct rt_task *next = t->next;

		rt_worker_push_local(w, t);
		t = next;
	}
	return any;
}

/* ---- stealing and idling ------------------------------------------------ */

/*
 * Is cpu's queue worth an IPI? Only once its owner has stopped popping
 * for RT_STEAL_STALL_NS: a queue that drains by itself is better left to
 * its owner, whose cache holds the tasks (a stolen 20 ns task costs both
 * CPUs more in cache misses than it saves), and a busy owner with a long
 * queue hands work over itself (donation). What is left is the owner
 * stuck in a long step, or one that cannot keep up for a while.
 */
static bool stalled(struct rt_worker *w, unsigned int cpu, uint64_t now)
{
	struct rt_victim *v = &w->victims[cpu];
	uint64_t pops = rt_runq_pops(&w->rt->runqs, cpu);

	if (pops != v->pops || !v->since) {
		v->pops = pops;
		v->since = now;
		return false;
	}
	return now - v->since >= RT_STEAL_STALL_NS;
}

static bool steal(struct rt_worker *w, uint64_t now)
{
	struct rt_runqs *qs = &w->rt->runqs;
	unsigned int start = (unsigned int)rand_r(&w->tick);
	unsigned int self = (unsigned int)rt_runq_cpu(qs);
	void *got[RT_STEAL_MAX];

	for (unsigned int i = 0; i < qs->ncpus; i++) {
		unsigned int cpu = (start + i) % qs->ncpus;
		unsigned int n;

		if (cpu == self || !rt_runq_len(qs, cpu) ||
		    (w->victims && !stalled(w, cpu, now)))
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
	       !rt_inbox_empty(&w->io_cancels) ||
	       !rt_inbox_empty(&w->io_home) || w->pokes ||
	       atomic_load_explicit(&w->io_arm_kick, memory_order_relaxed) ||
	       atomic_load_explicit(&rt->overflow.count, memory_order_relaxed) ||
	       rt_runq_len(&rt->runqs, (unsigned int)rt_runq_cpu(&rt->runqs));
}

/* ... or that it could steal: what a worker about to sleep looks for. */
bool rt_worker_has_work(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;

	if (has_own_work(w))
		return true;
	for (unsigned int cpu = 0; cpu < rt->runqs.ncpus; cpu++)
		if (rt_runq_len(&rt->runqs, cpu))
			return true;
	return false;
}

/* Steal, or adopt a stuck peer's work, when their turns have come. */
static bool look_around(struct rt_worker *w, uint64_t now)
{
	if (now >= w->idle_steal_ns) {
		w->idle_steal_ns = now + RT_STEAL_EVERY_NS;
		if (steal(w, now))
			return true;
	}
	if (now >= w->idle_watch_ns) {
		w->idle_watch_ns = now + RT_WATCH_EVERY_NS;
		if (rt_watch_peers(w, now))
			return true;
	}
	return false;
}

/*
 * A pusher that sees a spinner does not ring a sleeper
 * (rt__worker_want_helper(), donate()): it counts on the spinner to find
 * the work. A spinner that stops because it found work may have found
 * other work, and then be held by it as long as any task can hold a
 * worker. So the last spinner to stop with work in hand passes the
 * watch on: it rings a sleeper, which spins in its place (Go's
 * scheduler has the same rule). The
 * sleeper's own park, if it finds nothing, fences and looks at every
 * queue again, so a push that counted on us is seen by it or rings it.
 * Found by test_runtime_churn: three workers held by tasks, the fourth
 * parked, a task left on a queue.
 */
void rt_worker_stop_spinning(struct rt_worker *w, bool found)
{
	struct rt_runtime *rt = w->rt;

	w->spinning = false;
	/* seq_cst: the RMW and the load are not reordered, in the symmetric
	 * fence mode too; a sleeper's nparked is ahead of its fence. */
	if (atomic_fetch_sub(&rt->nspinning, 1) == 1 && found &&
	    atomic_load(&rt->nparked))
		rt_wake_one(rt, w);
}

/*
 * Count w in nspinning until rt_worker_stop_spinning(): while it polls,
 * and from its return from a park until it has found work (Go's rule):
 * a pusher that saw it parked rang it and nobody else, or, seeing it
 * spin, rang nobody; and the work it finds first may hold it. So it
 * passes the baton when it finds work (run_batch(), worker.c), or spins
 * on in rt_worker_idle_poll() if it finds none. Without the second a
 * task could wait on a queue beside a sleeper nobody rang, three workers
 * held (tests/model/baton4.pml: a ring that reached a worker whose park
 * found work, and a baton that a woken worker took a task with).
 */
void rt_worker_start_spinning(struct rt_worker *w)
{
	atomic_fetch_add(&w->rt->nspinning, 1);
	w->spinning = true;
}

/*
 * How long to poll: spin_us, or io_spin_us (when less; by default it is
 * not) while the worker waits for I/O and its last RT_IO_IDLES polls all
 * ended with completions. A worker that waits for the kernel spins only
 * to save itself the kernel's wake-up: with io_spin_us 0 an HTTP server
 * spent 4-18% less CPU per request, for a p99 latency about 10% higher
 * and 0.01-0.06 context switches per request instead of under 0.01
 * (benchmarks.md), so it is the application's choice. Work that came
 * from another thread, found here or by a wake-up (reap_cq()), restarts
 * the count: hand-offs between workers keep their spin.
 */
#define RT_IO_IDLES 4

static uint64_t spin_ns(const struct rt_worker *w)
{
	const struct rt_config *cfg = &w->rt->cfg;
	unsigned int us = cfg->spin_us;

	if (w->io_cqes && w->io_idles >= RT_IO_IDLES && cfg->io_spin_us < us)
		us = cfg->io_spin_us;
	return (uint64_t)us * 1000u;
}

static void count_idle_end(struct rt_worker *w, bool found, bool by_io)
{
	if (found && !by_io)
		w->io_idles = 0;
	else if (found && w->io_idles < UINT8_MAX)
		w->io_idles++;
}

/*
 * Poll for work a little before paying for a sleep and a wake-up (~60 us
 * here): own work, a queue to steal from, a stuck peer's work to adopt.
 * The clock is read only every RT_SPIN_CHECK pauses.
 */
bool rt_worker_idle_poll(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;
	uint64_t now = rt_now_ns();
	uint64_t until = now + spin_ns(w);
	uint64_t next_timer = rt_worker_next_timer(w);
	bool found = false, by_io = false;

	if (next_timer < until)
		until = next_timer;
	atomic_fetch_add_explicit(&rt->nidle, 1, memory_order_relaxed);
	if (!w->spinning)	/* else counted since its park */
		rt_worker_start_spinning(w);
	for (unsigned int i = 1; !found; i++) {
		if (has_own_work(w)) {
			found = true;
		} else if (i % RT_SPIN_CHECK == 0) {
			now = rt_now_ns();
			/* completions count as own work (io.c) */
			by_io = rt_io_poll(w);
			found = by_io || look_around(w, now);
			/* a long spin_us must not hold up a shutdown */
			if (now >= until ||
			    atomic_load_explicit(&rt->stop, memory_order_relaxed))
				break;
		} else {
			__builtin_ia32_pause();
		}
	}
	found = found || has_own_work(w);
	count_idle_end(w, found, by_io);
	rt_worker_stop_spinning(w, found);
	atomic_fetch_sub_explicit(&rt->nidle, 1, memory_order_relaxed);
	return found;
}

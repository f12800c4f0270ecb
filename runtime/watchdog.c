// SPDX-License-Identifier: MIT
/*
 * Idle workers watch busy ones.
 *
 * A worker cannot tell that it is stuck in a long task step without
 * reading the clock at every step, so its idle peers watch it for free,
 * from the heartbeat it publishes once per loop turn (tw->turns) and the
 * task it runs (rt__running):
 *
 *   stuck    its loop has not turned for RT_STALL_NS while inside a
 *            step: a peer adopts what only its loop would reach, the
 *            tasks in its inbox and its expired timers, so they do not
 *            wait for the step to end. (Its CPU queue needs no adopting:
 *            an idle worker steals from any queue that holds work.)
 *   long     the same task kept it for cfg.long_task_ms: reported once
 *            per episode, as a counter (rt_stats.long_tasks) and a USDT
 *            probe (rtasync:long_task).
 *
 * A parked worker wakes up to look again while a peer is inside a step
 * and has something a stall would strand (rt_watch_deadline()).
 */
#include "internal.h"

/* How long a worker's loop may stand still inside a step before idle
 * peers take its inbox and expired timers. */
#define RT_STALL_NS 250000u

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t budget_ns(const struct rt_runtime *rt)
{
	return (uint64_t)rt->cfg.long_task_ms * 1000000u;
}

/*
 * Update what we know of peer o. Returns how long its loop has stood
 * still inside a step (0: it moves, or another watcher is at it).
 */
static uint64_t watch(struct rt_worker *w, struct rt_worker *o, uint64_t now)
{
	struct rt_task *t = __atomic_load_n(o->running, __ATOMIC_RELAXED);
	uint64_t turns = __atomic_load_n(&o->tw->turns, __ATOMIC_RELAXED);
	uint64_t stuck = 0;

	if (atomic_exchange_explicit(&o->watch.busy, 1, memory_order_acquire))
		return 0;
	if (turns != o->watch.turns || !t) {
		o->watch.turns = turns;
		/* read by peer_deadline() without busy */
		__atomic_store_n(&o->watch.since, now, __ATOMIC_RELAXED);
	} else {
		stuck = now - o->watch.since;
	}
	/* A long task: the same one, and no turn of the loop in between. */
	if (t != o->watch.task || !stuck) {
		o->watch.task = t;
		o->watch.task_since = now;
		o->watch.reported = false;
	} else if (t && !o->watch.reported && budget_ns(w->rt) &&
		   now - o->watch.task_since >= budget_ns(w->rt)) {
		o->watch.reported = true;
		RT_STAT_INC(w, long_tasks);
		RT_PROBE2(long_task, o->index,
			  (now - o->watch.task_since) / 1000);
	}
	atomic_store_explicit(&o->watch.busy, 0, memory_order_release);
	return stuck;
}

/* Take the tasks in stuck worker o's inbox. */
static unsigned int adopt_inbox(struct rt_worker *w, struct rt_worker *o)
{
	struct rt_task *t = rt_inbox_take(&o->inbox);
	unsigned int n = 0;

	while (t) {
		struct rt_task *next = t->next;

		rt_worker_push_local(w, t);
		t = next;
		n++;
	}
	return n;
}

/*
 * Look at every busy peer; adopt what a stuck one strands. Returns how
 * many tasks this put on w's queue.
 */
unsigned int rt_watch_peers(struct rt_worker *w, uint64_t now)
{
	struct rt_runtime *rt = w->rt;
	unsigned int n = 0;

	for (unsigned int i = 0; i < rt->nworkers; i++) {
		struct rt_worker *o = &rt->workers[i];
		unsigned int got;

		if (o == w || !rt_worker_in_step(o) ||
		    watch(w, o, now) < RT_STALL_NS)
			continue;
		got = adopt_inbox(w, o) + rt_sleep_adopt(w, o, now);
		if (got) {
			RT_STAT_ADD(w, adopted, got);
			n += got;
		}
	}
	return n;
}

/*
 * When peer o needs looking at again. Its timers are watched even while
 * it sleeps or runs its loop: it may enter a long step after we park,
 * and then nobody else would notice that its timers wait. That costs an
 * idle worker one extra wake-up per peer timer deadline, RT_STALL_NS
 * after it, where the owner has normally fired them already.
 */
static uint64_t peer_deadline(struct rt_worker *w, struct rt_worker *o,
			      uint64_t now)
{
	uint64_t since = __atomic_load_n(&o->watch.since, __ATOMIC_RELAXED);
	uint64_t stall = (since > now ? now : since) + RT_STALL_NS;
	uint64_t timer = rt_sleep_next(o);
	uint64_t next = UINT64_MAX;

	if (rt_worker_in_step(o)) {
		if (budget_ns(w->rt))
			next = now + budget_ns(w->rt) / 2;
		if (timer != UINT64_MAX)
			next = min_u64(next, timer > stall ? timer : stall);
	} else if (timer != UINT64_MAX) {
		next = timer + RT_STALL_NS;	/* its own wait fires it */
	}
	/* An awake peer takes its inbox at its next turn, which the next
	 * task it runs in this batch may hold back as well as the one it
	 * runs now (a parked one is rung for its inbox). */
	if (!atomic_load_explicit(&o->parked, memory_order_relaxed) &&
	    (!rt_inbox_empty(&o->inbox) || !rt_inbox_empty(&o->cancels)))
		next = min_u64(next, stall);
	return next < now ? now : next;
}

/* When a parked worker should wake to look again: UINT64_MAX if never. */
uint64_t rt_watch_deadline(struct rt_worker *w, uint64_t now)
{
	struct rt_runtime *rt = w->rt;
	uint64_t next = UINT64_MAX;

	for (unsigned int i = 0; i < rt->nworkers; i++)
		if (&rt->workers[i] != w)
			next = min_u64(next, peer_deadline(w, &rt->workers[i],
							   now));
	return next;
}

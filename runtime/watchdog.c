// SPDX-License-Identifier: MIT
/*
 * Long-running tasks. A task that keeps its worker longer than
 * cfg.long_task_ms without suspending starves whatever is queued behind
 * it. The worker cannot tell without reading the clock at every step, so
 * idle peers watch it for free: a worker whose loop has not turned while
 * the same task kept running for the whole budget is reported, once per
 * episode, as a counter (rt_stats.long_tasks) and a USDT probe
 * (rtasync:long_task). A parked worker wakes up to look again while some
 * peer is inside a task, so a runtime with one hogged worker and the
 * others asleep still notices.
 */
#include "internal.h"

static uint64_t budget_ns(const struct rt_runtime *rt)
{
	return (uint64_t)rt->cfg.long_task_ms * 1000000u;
}

/* Look at one peer; we may be racing another watcher: then skip. */
static void watch(struct rt_worker *w, struct rt_worker *o, uint64_t now)
{
	struct rt_task *t = __atomic_load_n(o->running, __ATOMIC_RELAXED);
	uint64_t turns = __atomic_load_n(&o->tw->turns, __ATOMIC_RELAXED);

	if (atomic_exchange_explicit(&o->watch.busy, 1, memory_order_acquire))
		return;
	if (!t || t != o->watch.task || turns != o->watch.turns) {
		o->watch.task = t;
		o->watch.turns = turns;
		o->watch.since = now;
		o->watch.reported = false;
	} else if (!o->watch.reported && now - o->watch.since >=
		   budget_ns(w->rt)) {
		o->watch.reported = true;
		RT_STAT_INC(w, long_tasks);
		RT_PROBE2(long_task, o->index, (now - o->watch.since) / 1000);
	}
	atomic_store_explicit(&o->watch.busy, 0, memory_order_release);
}

void rt_watchdog_check(struct rt_worker *w, uint64_t now)
{
	struct rt_runtime *rt = w->rt;

	if (!budget_ns(rt))
		return;
	for (unsigned int i = 0; i < rt->nworkers; i++)
		if (&rt->workers[i] != w)
			watch(w, &rt->workers[i], now);
}

/* When a parked worker should wake to look again: UINT64_MAX if never. */
uint64_t rt_watchdog_deadline(struct rt_worker *w, uint64_t now)
{
	struct rt_runtime *rt = w->rt;

	if (!budget_ns(rt))
		return UINT64_MAX;
	for (unsigned int i = 0; i < rt->nworkers; i++) {
		struct rt_worker *o = &rt->workers[i];

		if (o != w && __atomic_load_n(o->running, __ATOMIC_RELAXED))
			return now + budget_ns(rt) / 2;
	}
	return UINT64_MAX;
}

// SPDX-License-Identifier: MIT
/*
 * A worker's sleeping tasks: its timer heap (timer.c) behind a small
 * lock, so that an idle peer can fire the expired timers of a worker that
 * is stuck in a long task step (watchdog.c) instead of letting them wait
 * for it.
 *
 * The owner takes the lock for each heap operation; it is uncontended
 * unless a peer is adopting, and a peer only ever try-locks. Under the
 * lock, t->timer_owner says which heap holds t (0: none): a cancel reads
 * it to find the heap (task.c), and whoever removes t from the heap
 * clears it, so a cancel that arrives after an adopter fired the timer
 * finds nothing to do.
 *
 * timer_next publishes the heap's earliest deadline for watchers.
 */
#include "internal.h"

static void heap_lock(struct rt_worker *w)
{
	while (atomic_exchange_explicit(&w->timer_lock, 1,
					memory_order_acquire))
		__builtin_ia32_pause();
}

static bool heap_trylock(struct rt_worker *w)
{
	return !atomic_exchange_explicit(&w->timer_lock, 1,
					 memory_order_acquire);
}

static void heap_unlock(struct rt_worker *w)
{
	atomic_store_explicit(&w->timer_next, rt_timer_next(&w->timers),
			      memory_order_relaxed);
	atomic_store_explicit(&w->timer_lock, 0, memory_order_release);
}

uint64_t rt_sleep_next(struct rt_worker *w)
{
	return atomic_load_explicit(&w->timer_next, memory_order_relaxed);
}

/* Tasks leaving a heap, in the order they left it (linked by next). */
struct sleepers {
	struct rt_task *head;
	struct rt_task **tail;
};

#define SLEEPERS_INIT(s) { NULL, &(s).head }

static void sleepers_add(struct sleepers *s, struct rt_task *t)
{
	t->next = NULL;
	*s->tail = t;
	s->tail = &t->next;
}

/* Resume them on w with ret (RT_PENDING: waits, which read their own). */
static void resume_list(struct rt_worker *w, struct sleepers *s, int64_t ret)
{
	struct rt_task *t = s->head;

	while (t) {
		struct rt_task *next = t->next;

		if (ret != RT_PENDING)
			t->h.ret = ret;
		rt_worker_push_local(w, t);
		t = next;
	}
}

/* Under the heap lock: take t out of owner's heap onto s. */
static void unlink_sleeper(struct rt_worker *owner, struct rt_task *t,
			   struct sleepers *s)
{
	rt_timer_remove(&owner->timers, t);
	atomic_store_explicit(&t->timer_owner, 0, memory_order_relaxed);
	sleepers_add(s, t);
}

/*
 * Put t, which asked to sleep until t->deadline, in w's heap. A cancel
 * that raced rt_op_sleep's check must not be lost: we publish
 * timer_owner, then read the flag; rt_task_cancel() sets the flag, then
 * reads timer_owner (both seq_cst), so one of us sees the other.
 */
void rt_sleep_commit(struct rt_worker *w, struct rt_task *t)
{
	struct sleepers cancelled = SLEEPERS_INIT(cancelled);
	int ret;

	heap_lock(w);
	ret = rt_timer_insert(&w->timers, t);
	if (!ret) {
		atomic_store_explicit(&t->timer_owner, rt_worker_id(w),
				      memory_order_seq_cst);
		if (atomic_load_explicit(&t->flags, memory_order_seq_cst) &
		    RT_TF_CANCEL)
			unlink_sleeper(w, t, &cancelled);
	}
	heap_unlock(w);
	if (ret) {
		t->h.ret = -ENOMEM;
		rt_worker_push_local(w, t);
	}
	resume_list(w, &cancelled, -ECANCELED);
}

/*
 * The deadline of a wait on wait queues (waitq.c), in w's heap. Unlike a
 * sleep's, it is removed by the task itself (rt_sleep_disarm) when
 * something else ended the wait, and expiring only claims the wait.
 */
int rt_sleep_arm(struct rt_worker *w, struct rt_task *t)
{
	int ret;

	heap_lock(w);
	ret = rt_timer_insert(&w->timers, t);
	if (!ret)
		atomic_store_explicit(&t->timer_owner, rt_worker_id(w),
				      memory_order_relaxed);
	heap_unlock(w);
	return ret;
}

/*
 * Take t's deadline out of worker owner's heap unless it fired. Once this
 * returns, no heap operation of owner's touches t: a firing that popped
 * t did all it does to t under the lock we took.
 */
void rt_sleep_disarm(struct rt_runtime *rt, uint16_t owner, struct rt_task *t)
{
	struct rt_worker *o = rt_worker_by_id(rt, owner);

	heap_lock(o);
	if (atomic_load_explicit(&t->timer_owner, memory_order_relaxed) == owner) {
		rt_timer_remove(&o->timers, t);
		atomic_store_explicit(&t->timer_owner, 0, memory_order_relaxed);
	}
	heap_unlock(o);
}

/*
 * Fire owner's expired timers onto w's queue (w == owner, or an adopter):
 * sleepers onto s, waits whose deadline this firing ended onto waits.
 */
static unsigned int fire_locked(struct rt_worker *owner, uint64_t now,
				struct sleepers *s, struct sleepers *waits)
{
	struct rt_task *t;
	unsigned int n = 0;

	while ((t = rt_timer_pop_expired(&owner->timers, now))) {
		atomic_store_explicit(&t->timer_owner, 0, memory_order_relaxed);
		n++;
		if (!rt_wait_parked(t))
			sleepers_add(s, t);
		else if (rt_wait_expire(t))
			sleepers_add(waits, t);
	}
	return n;
}

void rt_sleep_fire(struct rt_worker *w, uint64_t now)
{
	struct sleepers fired = SLEEPERS_INIT(fired);
	struct sleepers waits = SLEEPERS_INIT(waits);
	unsigned int n;

	if (rt_sleep_next(w) > now)
		return;
	heap_lock(w);
	n = fire_locked(w, now, &fired, &waits);
	heap_unlock(w);
	RT_STAT_ADD(w, timers_fired, n);
	resume_list(w, &fired, 0);
	resume_list(w, &waits, RT_PENDING);
}

/* Sleeps cut short by rt_task_cancel() (owner's cancel inbox). */
static unsigned int cancel_locked(struct rt_worker *owner, struct rt_task *t,
				  struct sleepers *s, struct rt_task **unref)
{
	unsigned int n = 0;

	while (t) {
		struct rt_task *next = t->cancel_next;

		/* a wait on wait queues is cancelled by a claim (waitq.c) */
		if (atomic_load_explicit(&t->timer_owner, memory_order_relaxed) ==
		    rt_worker_id(owner) && !rt_wait_parked(t)) {
			unlink_sleeper(owner, t, s);
			n++;
		}
		t->cancel_next = *unref;	/* the inbox's reference */
		*unref = t;
		t = next;
	}
	return n;
}

static void unref_list(struct rt_worker *w, struct rt_task *t)
{
	while (t) {
		struct rt_task *next = t->cancel_next;

		rt_task_unref(w, t);
		t = next;
	}
}

void rt_sleep_cancels(struct rt_worker *w)
{
	struct rt_task *t = rt_inbox_take_cancels(&w->cancels);
	struct sleepers cancelled = SLEEPERS_INIT(cancelled);
	struct rt_task *unref = NULL;
	unsigned int n;

	if (!t)
		return;
	heap_lock(w);
	n = cancel_locked(w, t, &cancelled, &unref);
	heap_unlock(w);
	RT_STAT_ADD(w, cancels, n);
	resume_list(w, &cancelled, -ECANCELED);
	unref_list(w, unref);
}

/*
 * w adopts what stuck worker o cannot get to: its expired timers and the
 * cancels of its sleepers. Returns how many tasks it resumed; 0 as well
 * when o's owner holds the lock (then o is not stuck after all).
 */
unsigned int rt_sleep_adopt(struct rt_worker *w, struct rt_worker *o,
			    uint64_t now)
{
	struct sleepers fired = SLEEPERS_INIT(fired);
	struct sleepers waits = SLEEPERS_INIT(waits);
	struct sleepers cancelled = SLEEPERS_INIT(cancelled);
	struct rt_task *cancels, *unref = NULL;
	unsigned int nf, nc;

	if (rt_sleep_next(o) > now && rt_inbox_empty(&o->cancels))
		return 0;
	if (!heap_trylock(o))
		return 0;
	cancels = rt_inbox_take_cancels(&o->cancels);
	nf = fire_locked(o, now, &fired, &waits);
	nc = cancel_locked(o, cancels, &cancelled, &unref);
	heap_unlock(o);
	RT_STAT_ADD(w, timers_fired, nf);
	RT_STAT_ADD(w, cancels, nc);
	resume_list(w, &fired, 0);
	resume_list(w, &waits, RT_PENDING);
	resume_list(w, &cancelled, -ECANCELED);
	unref_list(w, unref);
	return nf + nc;
}

void rt_sleep_free(struct rt_worker *w)
{
	rt_timer_heap_free(&w->timers);
	atomic_store_explicit(&w->timer_next, UINT64_MAX, memory_order_relaxed);
}

// SPDX-License-Identifier: MIT
/*
 * Wakers: a leaf op written outside the library. A task makes a waker
 * (rt_waker_new), hands it to whatever will complete it (a callback, a
 * thread, a signal-free event source), then waits on it
 * (rt_op_waker_wait). rt_waker_wake() may run before the wait (the result
 * is latched), during it, or after the wait ended by its deadline or a
 * cancel (then it is late: ignored and counted).
 *
 * The waker's state word orders the parties:
 *
 *   IDLE -> COMPLETING -> COMPLETED -> DONE   woken before the wait: the
 *                                             wait takes the latched result
 *   IDLE -> PARKED -> CLAIMING -> DONE        woken during the wait: the
 *                                             wake claims the task's wait
 *   IDLE -> PARKED -> DONE                    the wait ended otherwise
 *                                             (rt_waker_finish)
 *
 * NO WAKE INTO ANOTHER WAIT: a wake touches the task only in CLAIMING,
 * and rt_waker_finish(), which every wait on a waker passes before its
 * task runs again, waits for CLAIMING to end and moves PARKED to DONE.
 * So once the task has left this wait, no wake can claim a later one.
 *
 * A waker is one allocation with two references at most: the caller's
 * (rt_waker_release) and the wait's while it is parked. Live wakers are
 * listed on their runtime, under one process-wide mutex, so that
 * shutting the runtime down can mark them: a wake after that returns
 * -ESHUTDOWN and touches nothing of the runtime.
 */
#include <pthread.h>
#include <stdlib.h>

#include "waitq.h"

enum {
	WK_IDLE,
	WK_COMPLETING,
	WK_COMPLETED,
	WK_PARKED,
	WK_CLAIMING,
	WK_DONE,
};

struct rt_waker {
	_Atomic uint32_t state;
	_Atomic uint32_t refs;
	_Atomic uint32_t shut;		/* its runtime was shut down */
	int64_t result;
	struct rt_task *task;
	struct rt_runtime *rt;		/* under wakers_lock */
	struct rt_waker *next, *prev;	/* rt->wakers, under wakers_lock */
};

static pthread_mutex_t wakers_lock = PTHREAD_MUTEX_INITIALIZER;

static void registry_add(struct rt_waker *wk)
{
	struct rt_runtime *rt = wk->rt;

	pthread_mutex_lock(&wakers_lock);
	wk->prev = NULL;
	wk->next = rt->wakers;
	if (rt->wakers)
		rt->wakers->prev = wk;
	rt->wakers = wk;
	pthread_mutex_unlock(&wakers_lock);
}

static void registry_del(struct rt_waker *wk)
{
	pthread_mutex_lock(&wakers_lock);
	if (wk->rt) {
		if (wk->prev)
			wk->prev->next = wk->next;
		else
			wk->rt->wakers = wk->next;
		if (wk->next)
			wk->next->prev = wk->prev;
	}
	pthread_mutex_unlock(&wakers_lock);
}

/* From rt_runtime_shutdown(), once every task has finished. */
void rt_wakers_shutdown(struct rt_runtime *rt)
{
	pthread_mutex_lock(&wakers_lock);
	for (struct rt_waker *wk = rt->wakers; wk; wk = wk->next) {
		atomic_store(&wk->shut, 1);
		wk->rt = NULL;
	}
	rt->wakers = NULL;
	pthread_mutex_unlock(&wakers_lock);
}

int rt_waker_new(struct rt_task *t, struct rt_waker **out)
{
	struct rt_waker *wk;
	int64_t ret = rt_op_check(t);

	if (ret)
		return (int)ret;
	if (!out)
		return -EINVAL;
	wk = calloc(1, sizeof(*wk));
	if (!wk)
		return -ENOMEM;
	atomic_init(&wk->state, WK_IDLE);
	atomic_init(&wk->refs, 1);
	wk->task = t;
	wk->rt = t->rt;
	registry_add(wk);
	*out = wk;
	return 0;
}

void rt_waker_release(struct rt_waker *wk)
{
	if (!wk || atomic_fetch_sub_explicit(&wk->refs, 1,
					     memory_order_acq_rel) != 1)
		return;
	registry_del(wk);
	free(wk);
}

/* A completion that came too late: counted on a runtime still alive. */
static int wake_late(struct rt_waker *wk)
{
	int ret = -ESHUTDOWN;

	pthread_mutex_lock(&wakers_lock);
	if (wk->rt) {
		atomic_fetch_add_explicit(&wk->rt->wakers_late, 1,
					  memory_order_relaxed);
		ret = -EALREADY;
	}
	pthread_mutex_unlock(&wakers_lock);
	return ret;
}

/* PARKED: the task waits; end its wait with result if nothing else did. */
static int wake_parked(struct rt_waker *wk, int64_t result)
{
	struct rt_task *t = wk->task;

	if (!rt_wait_claim(t, 0)) {
		atomic_store_explicit(&wk->state, WK_DONE, memory_order_release);
		return wake_late(wk);
	}
	rt_task_wait(t)->node.result = result;
	atomic_store_explicit(&wk->state, WK_DONE, memory_order_release);
	rt_wait_publish(t, false);
	return 0;
}

int rt_waker_wake(struct rt_waker *wk, int64_t result)
{
	uint32_t s;

	if (!wk || result == RT_PENDING)
		return -EINVAL;
	s = atomic_load_explicit(&wk->state, memory_order_acquire);
	for (;;) {
		if (s == WK_IDLE) {
			if (atomic_load(&wk->shut))
				return -ESHUTDOWN;
			if (!atomic_compare_exchange_weak(&wk->state, &s,
							  WK_COMPLETING))
				continue;
			wk->result = result;
			atomic_store_explicit(&wk->state, WK_COMPLETED,
					      memory_order_release);
			return 0;
		}
		if (s != WK_PARKED)
			return wake_late(wk);
		if (atomic_compare_exchange_weak(&wk->state, &s, WK_CLAIMING))
			return wake_parked(wk, result);
	}
}

/* Wait out a completion that is writing its result. */
static uint32_t settled_state(struct rt_waker *wk)
{
	uint32_t s;

	while ((s = atomic_load_explicit(&wk->state, memory_order_acquire)) ==
	       WK_COMPLETING || s == WK_CLAIMING)
		__builtin_ia32_pause();
	return s;
}

/*
 * Parked: a wake that completed in between (the CAS to PARKED failed)
 * is delivered by the op itself, like any claim.
 */
static int64_t waker_park(struct rt_task *t, struct rt_waker *wk,
			  uint64_t deadline_ns)
{
	uint32_t idle = WK_IDLE;

	atomic_fetch_add_explicit(&wk->refs, 1, memory_order_relaxed);
	rt_task_wait(t)->waker = wk;
	rt_wait_arm_alone(t);
	if (!atomic_compare_exchange_strong(&wk->state, &idle, WK_PARKED)) {
		settled_state(wk);
		if (rt_wait_claim(t, 0)) {
			rt_task_wait(t)->node.result = wk->result;
			rt_wait_publish(t, false);
		}
		atomic_store_explicit(&wk->state, WK_DONE, memory_order_release);
	}
	return rt_wait_suspend(t, deadline_ns);
}

int64_t rt_op_waker_wait(struct rt_task *t, struct rt_waker *wk,
			 uint64_t deadline_ns)
{
	int64_t ret = rt_op_check(t);
	uint32_t s, idle = WK_IDLE;

	if (ret)
		return ret;
	if (!wk || wk->task != t)
		return -EINVAL;
	s = settled_state(wk);
	if (s == WK_COMPLETED) {
		atomic_store_explicit(&wk->state, WK_DONE, memory_order_relaxed);
		return wk->result;
	}
	if (s != WK_IDLE)
		return -EALREADY;	/* waited on before */
	if (deadline_ns != RT_NEVER && rt_now_ns() >= deadline_ns) {
		if (atomic_compare_exchange_strong(&wk->state, &idle, WK_DONE))
			return -ETIMEDOUT;
		return rt_op_waker_wait(t, wk, deadline_ns);	/* completed */
	}
	if (!rt_task_ext_get(t))
		return -ENOMEM;		/* before the waker is touched */
	return waker_park(t, wk, deadline_ns);
}

/* The wait is over (rt_wait_finish): see NO WAKE INTO ANOTHER WAIT. */
void rt_waker_finish(struct rt_task *t)
{
	struct rt_wait *wt = rt_task_wait(t);
	struct rt_waker *wk = wt->waker;
	uint32_t parked = WK_PARKED;

	while (!atomic_compare_exchange_weak(&wk->state, &parked, WK_DONE)) {
		if (parked != WK_PARKED && parked != WK_CLAIMING)
			break;
		parked = WK_PARKED;
		__builtin_ia32_pause();
	}
	wt->waker = NULL;
	rt_waker_release(wk);
}

/* Its wait ended by a deadline or a cancel, before any completion. */
bool rt_waker_abandoned(struct rt_waker *wk)
{
	return atomic_load_explicit(&wk->state, memory_order_acquire) ==
	       WK_DONE;
}

/* Another reference, for a caller that hands the waker on (blocking.c). */
void rt_waker_ref(struct rt_waker *wk)
{
	atomic_fetch_add_explicit(&wk->refs, 1, memory_order_relaxed);
}

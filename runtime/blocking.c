// SPDX-License-Identifier: MIT
/*
 * rt_op_spawn_blocking: a blocking C call (a library without async I/O,
 * getaddrinfo) run on a bounded pool of plain threads outside the
 * workers, and awaited as an op, so a worker never blocks in it.
 *
 * Each job carries a waker (waker.c) of the task that spawned it: the op
 * queues the job and parks on the waker; the pool thread runs the call
 * and completes the waker with its result. A wait that ends first (its
 * deadline, a cancel) leaves the job to finish alone: a job that has not
 * started by then is skipped, one that has runs to its end (a blocking
 * call cannot be interrupted) and its result is dropped.
 *
 * The pool starts threads as jobs find none idle, up to its size, and
 * keeps them until the runtime shuts down, which waits for the jobs that
 * are running. Jobs are queued FIFO under the pool's mutex: a blocking
 * call costs a thread wake-up, so a mutex and a condition variable are
 * the right tools here, not the runtime's lock-free paths.
 *
 * Its counters live in the runtime's trace area (struct
 * rt_trace_blocking), where rtasync-trace shows them beside the
 * workers' and rt_sync_stats() reads them, also after shutdown. The
 * area is the runtime's: it outlives the pool.
 */
#include <pthread.h>
#include <stdlib.h>

#include "waitq.h"

#define RT_BLOCKING_THREADS 16

struct rt_blocking_job {
	struct rt_blocking_job *next;
	rt_blocking_fn fn;
	void *arg;
	struct rt_waker *wk;
};

struct rt_blocking_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct rt_blocking_job *head, *tail;
	unsigned int queued;		/* jobs in the queue */
	unsigned int threads, idle, max;
	bool stop;
	pthread_t *tids;		/* max of them */
	struct rt_trace_blocking *tb;	/* in the trace area */
};

/* One more in a counter of the area: several threads add to each. */
static void tb_inc(uint64_t *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static struct rt_blocking_job *pool_take(struct rt_blocking_pool *p)
{
	struct rt_blocking_job *j;

	pthread_mutex_lock(&p->lock);
	while (!p->head && !p->stop) {
		p->idle++;
		pthread_cond_wait(&p->work, &p->lock);
		p->idle--;
	}
	j = p->head;
	if (j) {
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
	}
	pthread_mutex_unlock(&p->lock);
	return j;
}

static void job_run(struct rt_blocking_pool *p, struct rt_blocking_job *j)
{
	int64_t r;

	if (rt_waker_abandoned(j->wk)) {
		tb_inc(&p->tb->skipped);
	} else {
		tb_inc(&p->tb->started);
		r = j->fn(j->arg);
		/* before the wake: the caller that resumes sees it counted */
		tb_inc(&p->tb->completed);
		rt_waker_wake(j->wk, r == RT_PENDING ? -EINVAL : r);
	}
	rt_waker_release(j->wk);
	free(j);
}

/* Jobs until the pool stops and its queue is empty. */
static void *pool_thread(void *arg)
{
	struct rt_blocking_pool *p = arg;
	struct rt_blocking_job *j;

	while ((j = pool_take(p)))
		job_run(p, j);
	return NULL;
}

static struct rt_blocking_pool *pool_new(unsigned int max,
					 struct rt_trace_blocking *tb)
{
	struct rt_blocking_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->tids = calloc(max, sizeof(*p->tids));
	if (!p->tids) {
		free(p);
		return NULL;
	}
	p->max = max;
	p->tb = tb;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	return p;
}

static void pool_free(struct rt_blocking_pool *p)
{
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p->tids);
	free(p);
}

/* The runtime's pool, made by the first job (one CAS decides). */
static struct rt_blocking_pool *pool_get(struct rt_runtime *rt)
{
	struct rt_blocking_pool *p = atomic_load_explicit(&rt->blocking,
							  memory_order_acquire);
	struct rt_blocking_pool *none = NULL;
	unsigned int max;

	if (p)
		return p;
	max = atomic_load(&rt->blocking_max);
	p = pool_new(max ? max : RT_BLOCKING_THREADS,
		     &rt->trace.hdr->blocking);
	if (!p)
		return NULL;
	if (atomic_compare_exchange_strong(&rt->blocking, &none, p)) {
		__atomic_store_n(&p->tb->max, p->max, __ATOMIC_RELAXED);
		return p;
	}
	pool_free(p);
	return none;
}

/*
 * Queue j and wake a thread for it, starting one if no idle thread is
 * left for it and the pool may grow. A thread signalled for an earlier
 * job still counts as idle until it wakes, so idle threads are matched
 * against the jobs queued before j: counting idle alone put two quick
 * jobs on one thread, the second behind the first's blocking call.
 * -EAGAIN: no thread could be started and none exists.
 */
static int pool_submit(struct rt_blocking_pool *p, struct rt_blocking_job *j)
{
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	if (p->queued >= p->idle && p->threads < p->max &&
	    !pthread_create(&p->tids[p->threads], NULL, pool_thread, p)) {
		p->threads++;
		__atomic_store_n(&p->tb->threads, p->threads, __ATOMIC_RELAXED);
	}
	if (!p->threads) {
		ret = -EAGAIN;
	} else {
		j->next = NULL;
		if (p->tail)
			p->tail->next = j;
		else
			p->head = j;
		p->tail = j;
		p->queued++;
		tb_inc(&p->tb->queued);
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int64_t rt_op_spawn_blocking(struct rt_task *t, rt_blocking_fn fn, void *arg,
			     uint64_t deadline_ns)
{
	struct rt_blocking_pool *p;
	struct rt_blocking_job *j;
	struct rt_waker *wk;
	int64_t ret = rt_op_check(t);

	if (ret)
		return ret;
	if (!fn)
		return -EINVAL;
	p = pool_get(t->rt);
	j = p ? malloc(sizeof(*j)) : NULL;
	if (!j)
		return -ENOMEM;
	ret = rt_waker_new(t, &wk);
	if (ret)
		goto err_free;
	*j = (struct rt_blocking_job){ NULL, fn, arg, wk };
	/* The job owns the first reference and may drop it before the wait
	 * below begins: hold one until then (a parked wait takes its own). */
	rt_waker_ref(wk);
	ret = pool_submit(p, j);
	if (ret) {
		rt_waker_release(wk);
		goto err_release;
	}
	ret = rt_op_waker_wait(t, wk, deadline_ns);
	rt_waker_release(wk);
	return ret;
err_release:
	rt_waker_release(wk);
err_free:
	free(j);
	return ret;
}

int rt_blocking_pool_size(struct rt_runtime *rt, unsigned int threads)
{
	if (!rt || !threads || threads > 4096)
		return -EINVAL;
	if (atomic_load(&rt->blocking))
		return -EBUSY;	/* in use: its size is set */
	atomic_store(&rt->blocking_max, threads);
	return 0;
}

/* From rt_runtime_shutdown(), after the drain (no task waits on a job)
 * and before the workers stop (a job may still be ringing one). */
void rt_blocking_shutdown(struct rt_runtime *rt)
{
	struct rt_blocking_pool *p = atomic_load(&rt->blocking);

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < p->threads; i++)
		pthread_join(p->tids[i], NULL);
	atomic_store(&rt->blocking, NULL);
	pool_free(p);
}

/* Counters for rt_sync_stats(), from the trace area: the pool may be
 * gone (shut down) or going; the area is not. */
void rt_blocking_stats(struct rt_runtime *rt, struct rt_sync_stats *out)
{
	const struct rt_trace_blocking *tb = &rt->trace.hdr->blocking;

	out->blocking_jobs = __atomic_load_n(&tb->completed, __ATOMIC_RELAXED);
	out->blocking_skipped = __atomic_load_n(&tb->skipped, __ATOMIC_RELAXED);
	out->blocking_threads = __atomic_load_n(&tb->threads, __ATOMIC_RELAXED);
}

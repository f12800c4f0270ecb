// SPDX-License-Identifier: MIT
/*
 * Task blocks: every task of a runtime is one block of the same size, so
 * blocks are recycled instead of going back to malloc.
 *
 * Each worker keeps a private cache (no locks). A task spawned on one
 * worker and finished on another (stolen, or woken elsewhere) leaves its
 * block on the second; when a cache reaches two batches, its colder batch
 * goes to the runtime's depot, and a worker with an empty cache takes a
 * whole batch back. The depot moves batches under a mutex in O(1), so the
 * lock is taken once per RT_CACHE_BATCH tasks, and it is bounded so a
 * burst of tasks does not stay allocated forever. A block keeps its
 * task's ext (wait state, name, locals; internal.h) while it is recycled,
 * so only its first task to wait allocates one.
 */
#include <stdlib.h>

#include "internal.h"

#define RT_DEPOT_MAX_BATCHES 32

void rt_depot_init(struct rt_depot *d)
{
	pthread_mutex_init(&d->lock, NULL);
	d->batches = NULL;
	d->nbatches = 0;
}

/* A block goes back to malloc with the ext it kept (internal.h). */
static void block_free(struct rt_task *t)
{
	free(atomic_load_explicit(&t->ext, memory_order_relaxed));
	free(t);
}

static void free_list(struct rt_task *t)
{
	while (t) {
		struct rt_task *next = t->next;

		block_free(t);
		t = next;
	}
}

void rt_depot_destroy(struct rt_depot *d)
{
	while (d->batches) {
		struct rt_task *b = d->batches;

		d->batches = b->cancel_next;
		free_list(b);
	}
	pthread_mutex_destroy(&d->lock);
}

/* A batch is a list linked by next; batches chain by cancel_next. */
static void depot_put(struct rt_depot *d, struct rt_task *batch)
{
	pthread_mutex_lock(&d->lock);
	if (d->nbatches < RT_DEPOT_MAX_BATCHES) {
		batch->cancel_next = d->batches;
		d->batches = batch;
		d->nbatches++;
		batch = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	free_list(batch);
}

static struct rt_task *depot_get(struct rt_depot *d)
{
	struct rt_task *batch;

	pthread_mutex_lock(&d->lock);
	batch = d->batches;
	if (batch) {
		d->batches = batch->cancel_next;
		d->nbatches--;
	}
	pthread_mutex_unlock(&d->lock);
	return batch;
}

/*
 * rt_task_block_get() (internal.h) with w's cache empty: a batch from the
 * depot, or a new block. A new block's arena is empty, as a cached one's.
 */
struct rt_task *rt__task_block_get_slow(struct rt_runtime *rt,
					struct rt_worker *w)
{
	size_t size = sizeof(struct rt_task) + rt->cfg.task_arena;
	struct rt_task *t;

	if (w && !w->cache && (w->cache = depot_get(&rt->depot)))
		w->ncache = RT_CACHE_BATCH;
	if (w && w->cache) {
		t = w->cache;
		w->cache = t->next;
		w->ncache--;
		return t;
	}
	t = malloc(size);
	if (t) {
		atomic_init(&t->ext, NULL);
		t->chunk = t->spare = NULL;
	}
	return t;
}

/* rt_task_block_put() (internal.h) for a foreign thread or a full cache. */
void rt__task_block_put_slow(struct rt_runtime *rt, struct rt_worker *w,
			     struct rt_task *t)
{
	struct rt_task *split;

	if (!w || w->rt != rt) {
		block_free(t);
		return;
	}
	t->next = w->cache;
	w->cache = t;
	if (++w->ncache < 2 * RT_CACHE_BATCH)
		return;
	/* Keep the most recently freed (warm) batch, hand on the other. */
	split = w->cache;
	for (unsigned int i = 1; i < RT_CACHE_BATCH; i++)
		split = split->next;
	depot_put(&rt->depot, split->next);
	split->next = NULL;
	w->ncache = RT_CACHE_BATCH;
}

void rt_task_cache_free(struct rt_worker *w)
{
	free_list(w->cache);
	w->cache = NULL;
	w->ncache = 0;
}

// SPDX-License-Identifier: MIT
/*
 * Binary min-heap of sleeping tasks, ordered by deadline. Each task keeps
 * its own index so a cancelled sleep is removed in O(log n).
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static void heap_set(struct rt_timer_heap *h, uint32_t i, struct rt_task *t)
{
	h->v[i] = t;
	t->timer_idx = (int32_t)i;
}

static void sift_up(struct rt_timer_heap *h, uint32_t i)
{
	struct rt_task *t = h->v[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (h->v[parent]->deadline <= t->deadline)
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, t);
}

static void sift_down(struct rt_timer_heap *h, uint32_t i)
{
	struct rt_task *t = h->v[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= h->len)
			break;
		if (child + 1 < h->len &&
		    h->v[child + 1]->deadline < h->v[child]->deadline)
			child++;
		if (t->deadline <= h->v[child]->deadline)
			break;
		heap_set(h, i, h->v[child]);
		i = child;
	}
	heap_set(h, i, t);
}

int rt_timer_reserve(struct rt_timer_heap *h)
{
	uint32_t cap = h->cap ? h->cap * 2 : 64;
	struct rt_task **v;

	if (h->len < h->cap)
		return 0;
	v = realloc(h->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

int rt_timer_insert(struct rt_timer_heap *h, struct rt_task *t)
{
	if (rt_timer_reserve(h))
		return -ENOMEM;
	h->v[h->len] = t;
	sift_up(h, h->len++);
	return 0;
}

void rt_timer_remove(struct rt_timer_heap *h, struct rt_task *t)
{
	uint32_t i = (uint32_t)t->timer_idx;
	struct rt_task *last = h->v[--h->len];

	t->timer_idx = -1;
	if (i == h->len)
		return;
	heap_set(h, i, last);
	if (i > 0 && h->v[(i - 1) / 2]->deadline > last->deadline)
		sift_up(h, i);
	else
		sift_down(h, i);
}

struct rt_task *rt_timer_expired(const struct rt_timer_heap *h, uint64_t now)
{
	return h->len && h->v[0]->deadline <= now ? h->v[0] : NULL;
}

struct rt_task *rt_timer_pop_expired(struct rt_timer_heap *h, uint64_t now)
{
	struct rt_task *t = rt_timer_expired(h, now);

	if (t)
		rt_timer_remove(h, t);
	return t;
}

uint64_t rt_timer_next(const struct rt_timer_heap *h)
{
	return h->len ? h->v[0]->deadline : UINT64_MAX;
}

void rt_timer_heap_free(struct rt_timer_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->len = h->cap = 0;
}

// SPDX-License-Identifier: MIT
/*
 * The shared overflow queue: where a task goes when its CPU queue is full.
 * A mutex is fine here: it is the slow path, and the count lets idle
 * workers look without taking the lock.
 */
#include "internal.h"

void rt_overflow_init(struct rt_overflow *o)
{
	pthread_mutex_init(&o->lock, NULL);
	o->head = o->tail = NULL;
	atomic_init(&o->count, 0);
}

void rt_overflow_destroy(struct rt_overflow *o)
{
	pthread_mutex_destroy(&o->lock);
}

void rt_overflow_push(struct rt_overflow *o, struct rt_task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&o->lock);
	if (o->tail)
		o->tail->next = t;
	else
		o->head = t;
	o->tail = t;
	atomic_fetch_add_explicit(&o->count, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&o->lock);
}

struct rt_task *rt_overflow_pop(struct rt_overflow *o)
{
	struct rt_task *t;

	if (!atomic_load_explicit(&o->count, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&o->lock);
	t = o->head;
	if (t) {
		o->head = t->next;
		if (!o->head)
			o->tail = NULL;
		atomic_fetch_sub_explicit(&o->count, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&o->lock);
	return t;
}

// SPDX-License-Identifier: MIT
/*
 * The shared overflow queue: where a task goes when its CPU queue is full,
 * and where a busy worker donates half its queue when others are idle. A
 * mutex is fine here: it is taken once per batch in both directions, and
 * the count lets idle workers look without taking the lock.
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

/* Append the list head..tail (n tasks, linked by next) in one go. */
void rt_overflow_push_list(struct rt_overflow *o, struct rt_task *head,
			   struct rt_task *tail, size_t n)
{
	tail->next = NULL;
	pthread_mutex_lock(&o->lock);
	if (o->tail)
		o->tail->next = head;
	else
		o->head = head;
	o->tail = tail;
	atomic_fetch_add_explicit(&o->count, n, memory_order_seq_cst);
	pthread_mutex_unlock(&o->lock);
}

void rt_overflow_push(struct rt_overflow *o, struct rt_task *t)
{
	rt_overflow_push_list(o, t, t, 1);
}

/* Take up to max tasks, oldest first, linked by next; NULL when empty. */
struct rt_task *rt_overflow_pop_batch(struct rt_overflow *o, size_t max)
{
	struct rt_task *head, *last;
	size_t n = 1;

	if (!atomic_load_explicit(&o->count, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&o->lock);
	head = last = o->head;
	if (!head) {
		pthread_mutex_unlock(&o->lock);
		return NULL;
	}
	while (n < max && last->next) {
		last = last->next;
		n++;
	}
	o->head = last->next;
	if (!o->head)
		o->tail = NULL;
	last->next = NULL;
	atomic_fetch_sub_explicit(&o->count, n, memory_order_relaxed);
	pthread_mutex_unlock(&o->lock);
	return head;
}

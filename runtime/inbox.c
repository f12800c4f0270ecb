// SPDX-License-Identifier: MIT
/*
 * A worker's inboxes: intrusive multi-producer stacks that the owning
 * worker empties in one exchange. Any thread pushes with a CAS; the owner
 * takes the whole list and reverses it, so tasks run in arrival order.
 * Taking everything at once is what makes the stack ABA-free.
 */
#include "internal.h"

static void push(struct rt_inbox *in, struct rt_task *t,
		 struct rt_task **link)
{
	struct rt_task *head = atomic_load_explicit(&in->head,
						    memory_order_relaxed);

	do {
		*link = head;
	} while (!atomic_compare_exchange_weak_explicit(&in->head, &head, t,
			memory_order_seq_cst, memory_order_relaxed));
}

void rt_inbox_push(struct rt_inbox *in, struct rt_task *t)
{
	push(in, t, &t->next);
}

void rt_inbox_push_cancel(struct rt_inbox *in, struct rt_task *t)
{
	push(in, t, &t->cancel_next);
}

/* Take all and return them oldest first; link is next or cancel_next. */
static struct rt_task *take(struct rt_inbox *in, size_t link_off)
{
	struct rt_task *t, *fifo = NULL;

	if (rt_inbox_empty(in))
		return NULL;
	t = atomic_exchange_explicit(&in->head, NULL, memory_order_acquire);
	while (t) {
		struct rt_task **link = (struct rt_task **)((char *)t + link_off);
		struct rt_task *next = *link;

		*link = fifo;
		fifo = t;
		t = next;
	}
	return fifo;
}

struct rt_task *rt_inbox_take(struct rt_inbox *in)
{
	return take(in, offsetof(struct rt_task, next));
}

struct rt_task *rt_inbox_take_cancels(struct rt_inbox *in)
{
	return take(in, offsetof(struct rt_task, cancel_next));
}

/* SPDX-License-Identifier: MIT */
/*
 * A worker's sleeping tasks: a binary min-heap on deadline. The worker
 * keeps deadlines in user space and hands the kernel one timeout only, the
 * earliest, as the bound of its io_uring wait. A deadline of UINT64_MAX
 * (a saturated sleep) never expires, and the wait it bounds has no
 * timeout: rt_timer_next() returns UINT64_MAX, "none", for it as well.
 */
#ifndef RT_TIMER_H
#define RT_TIMER_H

#include <stdint.h>

struct rt_task;

struct rt_timer_heap {
	struct rt_task **v;
	uint32_t len, cap;
};

int rt_timer_insert(struct rt_timer_heap *h, struct rt_task *t);
/* Room for one more, so that the next insert cannot fail: 0 or -ENOMEM. */
int rt_timer_reserve(struct rt_timer_heap *h);
void rt_timer_remove(struct rt_timer_heap *h, struct rt_task *t);
/* The task with the earliest deadline if it is <= now, removed; or NULL. */
struct rt_task *rt_timer_pop_expired(struct rt_timer_heap *h, uint64_t now);
/* The same, left in the heap. */
struct rt_task *rt_timer_expired(const struct rt_timer_heap *h, uint64_t now);
/* Earliest deadline, or UINT64_MAX when empty. */
uint64_t rt_timer_next(const struct rt_timer_heap *h);
void rt_timer_heap_free(struct rt_timer_heap *h);

#endif /* RT_TIMER_H */

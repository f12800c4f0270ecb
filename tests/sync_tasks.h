/* SPDX-License-Identifier: MIT */
/*
 * Stackless tasks on a channel and a mutex, shared by the tests that
 * run them against each other (test_sync.c) and against fibers
 * (test_fiber_sync.c).
 */
#ifndef SYNC_TASKS_H
#define SYNC_TASKS_H

#include "rtasync.h"

struct pump_frame {
	struct rt_frame frame;
	struct rt_chan *ch;
	int64_t n, i, sum;
	int64_t msg;
	int64_t r;
};

static RT_ASYNC __attribute__((unused)) int64_t
producer(struct rt_task *t, struct rt_frame *base)
{
	struct pump_frame *f = RT_FRAME(base, struct pump_frame);

	RT_BEGIN(t, base);
	for (f->i = 1; f->i <= f->n; f->i++) {
		f->msg = f->i;
		RT_CHAN_SEND(f->r, f->ch, &f->msg);
	}
	return f->n;
}

/* Receives until -EPIPE; checks order; returns the sum. */
static RT_ASYNC __attribute__((unused)) int64_t
consumer(struct rt_task *t, struct rt_frame *base)
{
	struct pump_frame *f = RT_FRAME(base, struct pump_frame);

	RT_BEGIN(t, base);
	RT_CATCH(true);
	for (f->i = 1;; f->i++) {
		RT_CHAN_RECV(f->r, f->ch, &f->msg);
		if (f->r == -EPIPE)
			return f->sum;
		if (f->r < 0)
			return f->r;
		if (f->msg != f->i)
			return -EPROTO;	/* order lost */
		f->sum += f->msg;
	}
}

struct lock_frame {
	struct rt_frame frame;
	struct rt_mutex *m;
	int64_t *counter;
	int n, i;
	int64_t r, v;
};

static RT_ASYNC __attribute__((unused)) int64_t
locker(struct rt_task *t, struct rt_frame *base)
{
	struct lock_frame *f = RT_FRAME(base, struct lock_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_MUTEX_LOCK(f->r, f->m);
		f->v = *f->counter;
		RT_YIELD();	/* hold it across a suspension */
		*f->counter = f->v + 1;
		if (rt_mutex_unlock(f->m))
			return -EPROTO;
	}
	return 0;
}

#endif /* SYNC_TASKS_H */

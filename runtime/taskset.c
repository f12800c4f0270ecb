// SPDX-License-Identifier: MIT
/*
 * Task sets: join-any and join-all over tasks, in the order they finish.
 *
 * A task added to a set is joined by a small watcher task, which sends
 * {tag, result} on the set's channel; rt_op_taskset_next() receives the
 * next of them, so "the first of these tasks to finish" is one channel
 * receive, and it can be an arm of a select (RT_ARM_TASKSET).
 *
 * added counts the tasks ever added; the channel counts what its
 * receivers got, under its lock, and answers -ENOENT once the two are
 * equal (rt_chan_expect): no result is then queued or still to come. A
 * task is counted before its watcher exists, so it is never missed.
 * (Counting watchers that have sent instead has a window: a reader that
 * took a result before its watcher decremented would wait for nothing.)
 * The set is freed when its owner
 * (rt_taskset_free) and every watcher have let go: free closes the
 * channel, so a watcher whose result nobody will read drops it instead of
 * waiting for room.
 */
#include <stdlib.h>

#include "waitq.h"

struct rt_taskset {
	struct rt_chan *done;
	_Atomic uint64_t added;
	_Atomic uint32_t refs;
};

static void set_unref(struct rt_taskset *s)
{
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	rt_chan_free(s->done);
	free(s);
}

int rt_taskset_new(size_t capacity, struct rt_taskset **out)
{
	struct rt_taskset *s;
	int ret;

	if (!out || !capacity)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = rt_chan_new(sizeof(struct rt_task_done), capacity, &s->done);
	if (ret) {
		free(s);
		return ret;
	}
	atomic_init(&s->refs, 1);
	rt_chan_expect(s->done, &s->added);
	*out = s;
	return 0;
}

struct watch_frame {
	struct rt_frame frame;
	struct rt_taskset *set;
	struct rt_task *task;
	struct rt_task_done msg;
	int64_t r;
};

static RT_ASYNC int64_t watcher(struct rt_task *t, struct rt_frame *base)
{
	struct watch_frame *f = RT_FRAME(base, struct watch_frame);

	RT_BEGIN(t, base);
	RT_CATCH(true);
	RT_JOIN(f->msg.result, f->task);
	rt_task_release(f->task);
	/* -EPIPE: the set was freed, nobody reads this result */
	RT_CHAN_SEND(f->r, f->set->done, &f->msg);
	set_unref(f->set);
	return 0;
}

int rt_taskset_add(struct rt_taskset *s, struct rt_task *task, uint64_t tag)
{
	int ret;

	if (!s || !task)
		return -EINVAL;
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	atomic_fetch_add(&s->added, 1);
	ret = RT_SPAWN(rt_task_runtime(task), NULL, watcher, struct watch_frame,
		       .set = s, .task = task, .msg = { .tag = tag });
	if (ret) {
		atomic_fetch_sub(&s->added, 1);
		set_unref(s);
	}
	return ret;
}

int64_t rt_op_taskset_next(struct rt_task *t, struct rt_taskset *s,
			   struct rt_task_done *out, uint64_t deadline_ns)
{
	if (!s || !out)
		return -EINVAL;
	/* -ENOENT once every added task was reported */
	return rt_op_chan_recv(t, s->done, out, deadline_ns);
}

size_t rt_taskset_pending(struct rt_taskset *s)
{
	return s ? rt_chan_unreceived(s->done) : 0;
}

void rt_taskset_free(struct rt_taskset *s)
{
	if (!s)
		return;
	rt_chan_close(s->done);
	set_unref(s);
}

/* The channel a select arm of kind RT_ARM_TASKSET receives from. */
struct rt_chan *rt_taskset_chan(struct rt_taskset *s)
{
	return s->done;
}

// SPDX-License-Identifier: MIT
/*
 * The coordination ops (rtasync-sync.h) as a fiber's blocking calls.
 *
 * Each is its op under RT_FIBER_OP and nothing more: the fiber's task
 * parks in its own wait on the same wait queue a stackless task would,
 * so FIFO order, hand-off, deadlines, cancellation and the NO LOST
 * WAKE-UP protocol of waitq.c are the op's, not copies of it. What a
 * fiber adds is only where the arguments live: on its stack, which stays
 * put while the task is parked (a message, a buffer, select arms).
 */
#include "rtasync.h"

int64_t rt_wait(struct rt_waitq *q)
{
	return rt_wait_until(q, RT_NEVER);
}

int64_t rt_wait_until(struct rt_waitq *q, uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_wait(t, q, deadline_ns));
}

int64_t rt_wait_cond(struct rt_waitq *q, bool (*cond)(void *arg), void *arg)
{
	return rt_wait_cond_until(q, cond, arg, RT_NEVER);
}

int64_t rt_wait_cond_until(struct rt_waitq *q, bool (*cond)(void *arg),
			   void *arg, uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_wait_cond(t, q, cond, arg, deadline_ns));
}

int64_t rt_waker_wait(struct rt_waker *wk)
{
	return rt_waker_wait_until(wk, RT_NEVER);
}

int64_t rt_waker_wait_until(struct rt_waker *wk, uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_waker_wait(t, wk, deadline_ns));
}

int64_t rt_chan_send(struct rt_chan *ch, const void *msg)
{
	return rt_chan_send_until(ch, msg, RT_NEVER);
}

int64_t rt_chan_send_until(struct rt_chan *ch, const void *msg,
			   uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_chan_send(t, ch, msg, deadline_ns));
}

int64_t rt_chan_recv(struct rt_chan *ch, void *buf)
{
	return rt_chan_recv_until(ch, buf, RT_NEVER);
}

int64_t rt_chan_recv_until(struct rt_chan *ch, void *buf, uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_chan_recv(t, ch, buf, deadline_ns));
}

int64_t rt_mutex_lock(struct rt_mutex *m)
{
	return rt_mutex_lock_until(m, RT_NEVER);
}

int64_t rt_mutex_lock_until(struct rt_mutex *m, uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_mutex_lock(t, m, deadline_ns));
}

int64_t rt_sem_acquire(struct rt_sem *s)
{
	return rt_sem_acquire_until(s, RT_NEVER);
}

int64_t rt_sem_acquire_until(struct rt_sem *s, uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_sem_acquire(t, s, deadline_ns));
}

int64_t rt_event_wait(struct rt_event *e)
{
	return rt_event_wait_until(e, RT_NEVER);
}

int64_t rt_event_wait_until(struct rt_event *e, uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_event_wait(t, e, deadline_ns));
}

int64_t rt_notify_wait(struct rt_notify *n)
{
	return rt_notify_wait_until(n, RT_NEVER);
}

int64_t rt_notify_wait_until(struct rt_notify *n, uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_notify_wait(t, n, deadline_ns));
}

int64_t rt_oneshot_recv(struct rt_oneshot *o)
{
	return rt_oneshot_recv_until(o, RT_NEVER);
}

int64_t rt_oneshot_recv_until(struct rt_oneshot *o, uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_oneshot_recv(t, o, deadline_ns));
}

int64_t rt_select(struct rt_select_arm *arms, unsigned int n)
{
	return rt_select_until(arms, n, RT_NEVER);
}

int64_t rt_select_until(struct rt_select_arm *arms, unsigned int n,
			uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_select(t, arms, n, deadline_ns));
}

int64_t rt_taskset_next(struct rt_taskset *set, struct rt_task_done *out)
{
	return rt_taskset_next_until(set, out, RT_NEVER);
}

int64_t rt_taskset_next_until(struct rt_taskset *set, struct rt_task_done *out,
			      uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_taskset_next(t, set, out, deadline_ns));
}

int64_t rt_spawn_blocking(rt_blocking_fn fn, void *arg)
{
	return rt_spawn_blocking_until(fn, arg, RT_NEVER);
}

int64_t rt_spawn_blocking_until(rt_blocking_fn fn, void *arg,
				uint64_t deadline_ns)
{
	return RT_FIBER_OP(t, rt_op_spawn_blocking(t, fn, arg, deadline_ns));
}

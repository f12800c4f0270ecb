// SPDX-License-Identifier: MIT
/*
 * select: one wait with a waiter on each of several wait queues. The
 * first arm to complete claims the wait (waitq.c: EXACTLY ONE ENDS A
 * WAIT), so of several arms that become ready at once exactly one is
 * consumed; the others are unlinked before the task resumes. An I/O arm
 * (io.c) is an op on the worker's ring instead of a waiter on a list;
 * one that loses is cancelled, and the task resumes once its CQE is in.
 */
#include "waitq.h"

static const struct rt_arm_ops *arm_ops(enum rt_arm_kind kind)
{
	switch (kind) {
	case RT_ARM_WAITQ:
		return &rt_waitq_arm;
	case RT_ARM_CHAN_RECV:
		return &rt_chan_recv_arm;
	case RT_ARM_CHAN_SEND:
		return &rt_chan_send_arm;
	case RT_ARM_MUTEX:
		return &rt_mutex_arm;
	case RT_ARM_SEM:
		return &rt_sem_arm;
	case RT_ARM_EVENT:
		return &rt_event_arm;
	case RT_ARM_NOTIFY:
		return &rt_notify_arm;
	case RT_ARM_ONESHOT:
		return &rt_oneshot_arm;
	case RT_ARM_TASKSET:
		return &rt_chan_recv_arm;	/* its results' channel */
	case RT_ARM_READ:
	case RT_ARM_WRITE:
	case RT_ARM_RECV:
	case RT_ARM_SEND:
	case RT_ARM_POLL:
		return &rt_io_arm;		/* io.c */
	}
	return NULL;
}

static bool arm_needs_buf(enum rt_arm_kind kind)
{
	return kind == RT_ARM_CHAN_RECV || kind == RT_ARM_CHAN_SEND ||
	       kind == RT_ARM_TASKSET;
}

int64_t rt_op_select(struct rt_task *t, struct rt_select_arm *arms,
		     unsigned int n, uint64_t deadline_ns)
{
	struct rt_arm a[RT_ARMS_MAX];
	int64_t ret = rt_op_check(t);

	if (ret)
		return ret;
	if (!arms || !n || n > RT_ARMS_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		const struct rt_arm_ops *ops = arm_ops(arms[i].kind);

		if (!ops || !arms[i].obj ||
		    (arm_needs_buf(arms[i].kind) && !arms[i].buf))
			return -EINVAL;
		a[i] = (struct rt_arm){ ops, arms[i].kind == RT_ARM_TASKSET ?
					(void *)rt_taskset_chan(arms[i].obj) :
					arms[i].obj, &arms[i].node };
		arms[i].node.buf = arms[i].buf;
		/* an I/O arm that is never started did nothing */
		arms[i].result = ops == &rt_io_arm ? -ECANCELED : 0;
	}
	return rt_wait_arms(t, a, n, deadline_ns, true);
}

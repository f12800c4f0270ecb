/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * rq_clock.bpf.h - the time at a scheduler event, read from the run
 * queue's clock instead of bpf_ktime_get_ns().
 *
 * Why: on the 2-vCPU VM these programs run on (retpolines, Safe-RET),
 * bpf_ktime_get_ns() is a helper call and a clocksource read costing
 * ~70 ns, more than all the rest of a traced switch; the run queue's
 * clock is three loads (task -> its cfs_rq -> its rq -> clock) of lines
 * the scheduler has just touched (~5 ns).
 *
 * Why it is current: the scheduler refreshes it (update_rq_clock(), under
 * the run queue's lock) in __schedule() before picking the next task, in
 * try_to_wake_up() before enqueueing the woken task, and in
 * wake_up_new_task(); sched_switch, sched_wakeup and sched_wakeup_new fire
 * under that same lock, so the clock is at most the few hundred ns of the
 * pick old.  It is the clock of the kernel's own accounting (schedstat's
 * run_delay, sum_exec_runtime before steal time is taken off), and with a
 * stable sched_clock ("sched_clock: Marking stable" in the boot log) it is
 * the same on every CPU, so an interval may end on another CPU than it
 * began.
 *
 * It counts from boot like CLOCK_MONOTONIC but is not it: sched_clock is
 * not slewed by NTP and has its own zero.  Where a value meets user
 * space's clock, add mono_offset() (taken once, at the first event).
 *
 * se.cfs_rq->rq exists with CONFIG_FAIR_GROUP_SCHED (every distribution
 * kernel); without it these fall back to bpf_ktime_get_ns().  Every task,
 * of any class and the idle tasks included, has se.cfs_rq set to its
 * CPU's queue (set_task_rq()).
 */
#ifndef RTASYNC_RQ_CLOCK_BPF_H
#define RTASYNC_RQ_CLOCK_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

/* The clock of the run queue t is on (at one of the events above). */
static __always_inline __u64 rq_clock(struct task_struct *t)
{
	if (bpf_core_field_exists(((struct cfs_rq *)0)->rq))
		return t->se.cfs_rq->rq->clock;
	return bpf_ktime_get_ns();
}

/*
 * CLOCK_MONOTONIC - rq clock, sampled at the first event that asks (one
 * bpf_ktime_get_ns() per program load).  The sample is late by the age
 * of the rq clock then (a microsecond or so), and the two clocks drift
 * apart by the host's frequency error (tens of ppm at most): both are
 * small against the intervals measured.  Kept in *off, 0 until taken.
 */
static __always_inline __u64 mono_offset(__u64 *off, __u64 rq_now)
{
	__u64 o = *off;

	if (o)
		return o;
	o = bpf_ktime_get_ns() - rq_now;
	if (!o)
		o = 1;	/* 0 means "not taken"; a ns does not matter */
	/* two CPUs may race for the first event: the first sample wins */
	__sync_val_compare_and_swap(off, 0, o);
	return *off;
}

/* Now, on CLOCK_MONOTONIC's scale, from the clock of t's run queue. */
static __always_inline __u64 rq_mono_now(struct task_struct *t, __u64 *off)
{
	__u64 rq = rq_clock(t);

	return rq + mono_offset(off, rq);
}

/* now - then, 0 if then is later (a clock sample late by a few ns). */
static __always_inline __u64 elapsed(__u64 now, __u64 then)
{
	return now > then ? now - then : 0;
}

#endif /* RTASYNC_RQ_CLOCK_BPF_H */

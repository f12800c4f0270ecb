// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * task.bpf.c - the kernel join of rtasync-trace `task blocked`: every
 * off-CPU interval of a librtasync worker thread, charged to the async
 * task (and the await site) that was running on it.
 *
 * At a worker's switch-out, the program is in the worker's own context
 * (sched_switch runs on prev's way out), so user memory reads are reads
 * of the worker's memory: the thread-local rt__running (at a fixed offset
 * from the thread pointer, published in the trace area), then the task's
 * h.site and the site's id.  The runtime pays nothing for it: it only
 * keeps rt__running, which it needs anyway.  At the worker's next
 * switch-in, the interval is charged to that site and to (task, site).
 *
 * The site is the await the task last resumed from: the code the kernel
 * interrupted is what runs after that await (Documentation/bpf.md).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bits.bpf.h"
#include "core_fixes.bpf.h"
#include "rq_clock.bpf.h"
#include "task_join.h"

#define TASK_RUNNING	0
#define TASK_DEAD	0x80

/* Set before load; each worker's layout is in its `workers` entry. */
const volatile __u32 target_tgid = 0;
const volatile __u32 sites_max = 1;

/* Counted here, read by user space. */
struct task_blk_site idle = {};		/* no task: the worker loop */
__u64 lost_tasks = 0;			/* tasks map full */
__u64 unreadable = 0;			/* user memory reads that failed */
__u64 clock_off = 0;			/* CLOCK_MONOTONIC - rq clock */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TASK_BLK_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct task_blk_worker);
} workers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);			/* sites_max, set at load */
	__type(key, __u32);
	__type(value, struct task_blk_site);
} sites SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TASK_BLK_MAX_TASKS);
	__type(key, struct task_blk_key);
	__type(value, struct task_blk_time);
} tasks SEC(".maps");

static const struct task_blk_time zero_time;

static __always_inline __u64 thread_pointer(struct task_struct *t)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(t, thread.fsbase);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ(t, thread.uw.tp_value);
#else
	return 0;	/* no port: every interval is charged to "no task" */
#endif
}

/* The task running on the current thread (prev), and its site id. */
static __always_inline void read_running(struct task_struct *prev,
					 struct task_blk_worker *w)
{
	__u64 tp = thread_pointer(prev), task = 0, site = 0;
	__u32 id = 0;

	w->task = 0;
	w->site = 0;
	if (!tp || bpf_probe_read_user(&task, sizeof(task),
				       (void *)(tp + w->running_tls_off))) {
		__sync_fetch_and_add(&unreadable, 1);
		return;
	}
	if (!task)
		return;		/* between steps */
	w->task = task;
	if (bpf_probe_read_user(&site, sizeof(site),
				(void *)(task + w->task_head_site_off))) {
		__sync_fetch_and_add(&unreadable, 1);
		return;
	}
	/* NULL: not resumed from an await (first step, trampolined) */
	if (site && !bpf_probe_read_user(&id, sizeof(id),
					 (void *)(site + w->site_id_off)) &&
	    id < w->site_limit && w->site_base + id < sites_max)
		w->site = w->site_base + id;
}

static __always_inline void worker_out(struct task_blk_worker *w,
				       struct task_struct *prev, bool preempt,
				       __u64 now)
{
	unsigned int state = get_task_state(prev);

	if (state & TASK_DEAD) {
		w->ts_out = 0;	/* exiting, not blocked */
		return;
	}
	read_running(prev, w);
	/* the test __schedule() uses to pick nvcsw, as sched.bpf.c */
	w->voluntary = !preempt && state != TASK_RUNNING;
	w->ts_out = now;
}

static __always_inline void max_update(unsigned long long *max, __u64 v)
{
	__u64 old = *max;
	int i;

	/* two workers may charge one site at once: compare-and-swap */
	for (i = 0; i < 4 && v > old; i++) {
		__u64 seen = __sync_val_compare_and_swap(max, old, v);

		if (seen == old)
			break;
		old = seen;
	}
}

static __always_inline void charge(struct task_blk_time *t, __u64 ns, bool vol)
{
	__sync_fetch_and_add(&t->count, 1);
	__sync_fetch_and_add(&t->total_ns, ns);
	if (vol) {
		__sync_fetch_and_add(&t->vol_count, 1);
		__sync_fetch_and_add(&t->vol_ns, ns);
	} else {
		__sync_fetch_and_add(&t->invol_count, 1);
		__sync_fetch_and_add(&t->invol_ns, ns);
	}
	max_update(&t->max_ns, ns);
}

static __always_inline void charge_site(struct task_blk_site *s, __u64 ns,
					bool vol)
{
	charge(&s->t, ns, vol);
	__sync_fetch_and_add(&s->hist[hist_slot_us(ns, TASK_BLK_HIST_SLOTS)], 1);
}

static __always_inline void charge_task(struct task_blk_worker *w, __u64 ns)
{
	struct task_blk_key key = { .task = w->task, .site = w->site };
	struct task_blk_time *t;

	t = bpf_map_lookup_elem(&tasks, &key);
	if (!t) {
		bpf_map_update_elem(&tasks, &key, &zero_time, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&tasks, &key);
		if (!t) {
			__sync_fetch_and_add(&lost_tasks, 1);
			return;
		}
	}
	charge(t, ns, w->voluntary);
}

static __always_inline void worker_in(struct task_blk_worker *w, __u64 now)
{
	struct task_blk_site *s;
	__u64 ns;

	if (!w->ts_out)
		return;		/* its switch-out came before we attached */
	ns = elapsed(now, w->ts_out);
	w->ts_out = 0;
	if (!w->task) {
		charge_site(&idle, ns, w->voluntary);
		return;
	}
	s = bpf_map_lookup_elem(&sites, &w->site);
	if (s)
		charge_site(s, ns, w->voluntary);
	charge_task(w, ns);
}

/*
 * The filter runs on every switch of the machine: one compare of each
 * side's tgid with the target's, a hash look-up only for its threads.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(task_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	struct task_blk_worker *w;
	__u32 tid;

	/* the time from the run queue's clock (rq_clock.bpf.h): ts_out is
	 * on CLOCK_MONOTONIC's scale, user space reads it against its own */
	if (prev->tgid == target_tgid) {
		tid = prev->pid;
		w = bpf_map_lookup_elem(&workers, &tid);
		if (w)
			worker_out(w, prev, preempt,
				   rq_mono_now(prev, &clock_off));
	}
	if (next->tgid == target_tgid) {
		tid = next->pid;
		w = bpf_map_lookup_elem(&workers, &tid);
		if (w)
			worker_in(w, rq_mono_now(next, &clock_off));
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * sched.bpf.c - scheduler observer for rtasync-trace `sched stat`.
 *
 * Owns the kernel half of the per-thread scheduling statistics: voluntary
 * and involuntary switches, on-CPU and off-CPU time, run-queue latency with
 * log2 histograms, and per-CPU idle time.  Everything is aggregated here in
 * maps; nothing is sent to user space per event, so the cost per context
 * switch is a few map look-ups and no wakeup of the reader.
 *
 * Attribution model (see Documentation/bpf.md):
 *   - a thread is ON_CPU from its switch-in to its switch-out, OFF_CPU
 *     between them;
 *   - an interval that began before tracing started is charged from
 *     start_ns, since a thread seen first leaving the CPU must have been
 *     on it since before we attached (and vice versa);
 *   - run-queue latency runs from the wakeup (or from the preemption, for a
 *     thread switched out while still runnable) to the next switch-in.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bits.bpf.h"
#include "core_fixes.bpf.h"
#include "sched_stat.h"

#define TASK_RUNNING	0
#define TASK_DEAD	0x80

/* Set by user space before load. */
const volatile bool filter_cgroup = false;
const volatile __u64 target_cgid = 0;
const volatile int target_cg_level = 0;
/* sched_switch gained its prev_state argument in 5.18. */
const volatile bool has_prev_state_arg = true;

/* Written by user space through the mmapped .bss. */
__u64 start_ns = 0;
__u32 runq_max_gen = 0;
__u64 lost_threads = 0;
__u64 lost_tgids = 0;
__u64 repaired = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct sched_thread_stat);
} threads SEC(".maps");

/*
 * The traced processes, a bitmap indexed by tgid (unused when filtering by
 * cgroup).  The filter runs on every switch and wake-up of the machine: an
 * array look-up is inlined by the verifier and touches one cache line,
 * where a hash look-up hashes and walks a bucket (measured ~100 ns a miss
 * here, right after idle).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCHED_TGID_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} tgid_bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_cpu_stat);
} cpus SEC(".maps");

static const struct sched_thread_stat zero_stat;

/* Kernels before 6.1 kept ancestor ids instead of ancestor pointers. */
struct cgroup___o {
	__u64 ancestor_ids[1];
} __attribute__((preserve_access_index));

static __always_inline void hist_add(unsigned int *hist, __u64 ns)
{
	hist[hist_slot_us(ns, SCHED_HIST_SLOTS)]++;
}

static __always_inline __u64 task_cgroup_ancestor_id(struct task_struct *t)
{
	struct cgroup *cg = BPF_CORE_READ(t, cgroups, dfl_cgrp);
	struct cgroup *anc = NULL;
	int lvl = target_cg_level;

	if (!cg || BPF_CORE_READ(cg, level) < lvl)
		return 0;
	if (bpf_core_field_exists(cg->ancestors)) {
		bpf_core_read(&anc, sizeof(anc), &cg->ancestors[lvl]);
		return anc ? BPF_CORE_READ(anc, kn, id) : 0;
	}
	{
		struct cgroup___o *old = (void *)cg;
		__u64 id = 0;

		bpf_core_read(&id, sizeof(id), &old->ancestor_ids[lvl]);
		return id;
	}
}

static __always_inline bool tgid_traced(__u32 tgid)
{
	__u32 word = tgid / 64;
	__u64 *bits = bpf_map_lookup_elem(&tgid_bits, &word);

	return bits && (*bits & (1ULL << (tgid % 64)));
}

static __always_inline bool traced(struct task_struct *t)
{
	if (t->pid == 0)	/* the idle tasks are accounted per CPU */
		return false;
	if (filter_cgroup)
		return task_cgroup_ancestor_id(t) == target_cgid;
	return tgid_traced(t->tgid);
}

static struct sched_thread_stat *thread_stat(struct task_struct *t)
{
	struct sched_thread_stat *s;
	__u32 pid = t->pid;

	s = bpf_map_lookup_elem(&threads, &pid);
	if (s)
		return s;
	bpf_map_update_elem(&threads, &pid, &zero_stat, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&threads, &pid);
	if (!s) {
		__sync_fetch_and_add(&lost_threads, 1);
		return NULL;
	}
	s->pid = pid;
	s->tgid = t->tgid;
	bpf_probe_read_kernel_str(s->comm, sizeof(s->comm), t->comm);
	return s;
}

static __always_inline unsigned int prev_task_state(struct task_struct *prev,
						    unsigned long long *ctx)
{
	/* The verifier prunes the branch an older kernel could not load. */
	if (has_prev_state_arg)
		return (unsigned int)ctx[3];
	return get_task_state(prev);
}

/*
 * The tracepoint occasionally fails to report a switch (seen here under CPU
 * contention: a thread switched out twice in a row, the kernel's own
 * sched_info counting the switch-in this program never saw).  The missing
 * edge lies somewhere in [ts_switch, now]; the kernel's run-time account
 * (se.sum_exec_runtime, updated before the tracepoint) says how much of it
 * the thread ran.  Split the interval by that instead of losing it.
 */
static __always_inline void repair_interval(struct sched_thread_stat *s,
					    __u64 now, __u64 exec)
{
	__u64 span = now - s->ts_switch;
	__u64 ran = exec - s->exec_ns;

	if (exec < s->exec_ns || ran > span)
		ran = span;
	s->oncpu_ns += ran;
	s->offcpu_ns += span - ran;
	__sync_fetch_and_add(&repaired, 1);
}

static __always_inline void switch_out(struct task_struct *prev, __u64 now,
				       bool preempt, unsigned int state)
{
	struct sched_thread_stat *s = thread_stat(prev);
	__u64 exec = prev->se.sum_exec_runtime;

	if (!s)
		return;
	if (s->state == SCHED_TS_OFF_CPU)
		repair_interval(s, now, exec);	/* its switch-in went missing */
	else
		s->oncpu_ns += now - (s->state == SCHED_TS_UNSEEN ?
				      start_ns : s->ts_switch);
	s->ts_switch = now;
	s->exec_ns = exec;
	/*
	 * A dying thread's last switch is its exit, not a block.  Its final
	 * name is kept here; user space reads live threads' names in /proc,
	 * which spares a copy on every switch.
	 */
	if (state & TASK_DEAD) {
		s->state = SCHED_TS_EXITED;
		bpf_probe_read_kernel_str(s->comm, sizeof(s->comm), prev->comm);
		return;
	}
	/* Same test as __schedule() uses to pick nvcsw over nivcsw. */
	if (!preempt && state != TASK_RUNNING) {
		s->nvcsw++;
		s->ts_queued = 0;
	} else {
		s->nivcsw++;
		s->ts_queued = now;	/* still runnable: waits from now */
	}
	s->state = SCHED_TS_OFF_CPU;
}

static __always_inline void runq_done(struct sched_thread_stat *s, __u64 now)
{
	__u64 lat = now - s->ts_queued;
	__u32 gen = runq_max_gen;

	s->runq_ns += lat;
	s->runq_cnt++;
	if (s->runq_max_gen != gen || lat > s->runq_max_ns) {
		s->runq_max_ns = lat;
		s->runq_max_gen = gen;
	}
	hist_add(s->runq_hist, lat);
	s->ts_queued = 0;
}

static __always_inline void switch_in(struct task_struct *next, __u64 now)
{
	struct sched_thread_stat *s = thread_stat(next);
	__u64 exec = next->se.sum_exec_runtime;

	if (!s)
		return;
	if (s->state == SCHED_TS_OFF_CPU) {
		s->offcpu_ns += now - s->ts_switch;
		hist_add(s->offcpu_hist, now - s->ts_switch);
	} else if (s->state == SCHED_TS_UNSEEN) {
		/* Censored interval: counted, but no histogram sample. */
		s->offcpu_ns += now - start_ns;
	} else if (s->state == SCHED_TS_ON_CPU) {
		repair_interval(s, now, exec);	/* its switch-out went missing */
	}
	if (s->ts_queued)
		runq_done(s, now);
	s->state = SCHED_TS_ON_CPU;
	s->ts_switch = now;
	s->exec_ns = exec;
}

static __always_inline void account_cpu(struct task_struct *prev,
					struct task_struct *next, __u64 now)
{
	struct sched_cpu_stat *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&cpus, &zero);
	if (!c)
		return;
	c->switches++;
	if (prev->pid == 0)
		c->idle_ns += now - (c->seen ? c->ts_switch : start_ns);
	c->in_idle = next->pid == 0;
	c->ts_switch = now;
	c->seen = 1;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	unsigned int state = prev_task_state(prev, ctx);

	account_cpu(prev, next, now);
	if (traced(prev))
		switch_out(prev, now, preempt, state);
	if (traced(next))
		switch_in(next, now);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	struct sched_thread_stat *s;

	if (!traced(p))
		return 0;
	s = thread_stat(p);
	if (!s)
		return 0;
	s->wakeups++;
	/*
	 * A wakeup of a thread that never left the CPU (it was about to
	 * block) starts no wait; a preempted thread already waits since its
	 * switch-out, keep the earlier start.
	 */
	if (s->state != SCHED_TS_ON_CPU && !s->ts_queued)
		s->ts_queued = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	struct sched_thread_stat *s;
	__u32 pid = p->pid;
	__u64 now;

	if (!traced(p))
		return 0;
	/* A reused tid starts a new thread, not a continuation. */
	s = bpf_map_lookup_elem(&threads, &pid);
	if (s && s->state == SCHED_TS_EXITED)
		bpf_map_delete_elem(&threads, &pid);
	s = thread_stat(p);
	if (!s)
		return 0;
	now = bpf_ktime_get_ns();
	s->wakeups++;
	s->state = SCHED_TS_OFF_CPU;	/* born runnable, waiting for a CPU */
	s->ts_switch = now;
	s->ts_queued = now;
	s->exec_ns = p->se.sum_exec_runtime;
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent,
	     struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u32 word = ctgid / 64;
	__u64 *bits;

	if (ptgid == ctgid || !tgid_traced(ptgid))
		return 0;
	bits = bpf_map_lookup_elem(&tgid_bits, &word);
	if (bits)	/* atomic: forks on two CPUs may share a word */
		__sync_fetch_and_or(bits, 1ULL << (ctgid % 64));
	else
		__sync_fetch_and_add(&lost_tgids, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

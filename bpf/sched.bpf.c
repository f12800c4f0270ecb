// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * sched.bpf.c - scheduler observer for rtasync-trace `sched stat`.
 *
 * Owns the kernel half of the per-thread scheduling statistics: voluntary
 * and involuntary switches, on-CPU and off-CPU time, run-queue latency with
 * log2 histograms, and per-CPU idle time.  Everything is aggregated here in
 * maps; nothing is sent to user space per event, so the cost per context
 * switch is a filter test and, per traced thread, an array look-up the
 * verifier inlines and a few stores, with no wakeup of the reader.
 *
 * Where the records live (Documentation/bpf.md, "Maps"): a traced thread
 * has task-local storage (thread_live), which marks it as traced: the
 * filter is one load of the task's storage pointer.  Its record is its
 * slot in the thread_slots array, indexed by tid; only when a live thread
 * with a colliding tid holds the slot is the record in the storage itself
 * (a helper call per event, ~25 ns here, where the array look-up costs
 * nothing measurable).  The `threads` hash lists every traced thread by
 * tid and keeps copies of its record (first event, exit, final switch)
 * that outlive it.  User space maps the slots, reads the hash with the
 * map API and the overflow records with a task iterator (dump_threads).
 *
 * Attribution model (see Documentation/bpf.md):
 *   - a thread is ON_CPU from its switch-in to its switch-out, OFF_CPU
 *     between them;
 *   - an interval that began before tracing started is charged from
 *     start_ns, since a thread seen first leaving the CPU must have been
 *     on it since before we attached (and vice versa);
 *   - a run-queue wait is the one the kernel accounts (sched_info: from
 *     the enqueue at a wake-up, or from a switch-out while still
 *     runnable, to the next switch-in), read at that switch-in.  So no
 *     program runs at wake-ups: sched_wakeup fires about once per two
 *     switches, and any program there costs ~90 ns per run here before
 *     it does anything.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bits.bpf.h"
#include "core_fixes.bpf.h"
#include "rq_clock.bpf.h"
#include "sched_stat.h"

#define TASK_RUNNING	0
#define TASK_DEAD	0x80

/* Set by user space before load. */
const volatile bool filter_cgroup = false;
const volatile __u64 target_cgid = 0;
const volatile int target_cg_level = 0;
/* sched_switch gained its prev_state argument in 5.18. */
const volatile bool has_prev_state_arg = true;
/* -- CMD: the children of traced processes are traced too. */
const volatile bool follow_forks = false;
/* thread_slots has slot_mask + 1 entries, a power of two. */
const volatile __u32 slot_mask = SCHED_MAX_SLOTS - 1;

/* Written by user space through the mmapped .bss. */
__u64 start_ns = 0;
__u32 runq_max_gen = 0;
__u64 lost_threads = 0;
__u64 lost_tgids = 0;
__u64 repaired = 0;
/* CLOCK_MONOTONIC - rq clock, taken at the first event (rq_clock.bpf.h). */
__u64 clock_off = 0;

/*
 * The records, one slot per traced thread at tid & slot_mask.  An array
 * look-up is inlined by the verifier (no helper call: with this kernel's
 * return-thunk and retpoline mitigations a helper call costs ~20 ns);
 * each slot is six cache lines from a line boundary (the array is
 * mmappable, so page-aligned), user space reads it in place.  A slot is
 * owned by `task` (the task_struct's address; 0: free, 1: being set up).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SCHED_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct sched_thread_stat);
} thread_slots SEC(".maps");

/*
 * Task-local storage of each traced thread, and only of those: its
 * presence is the filter (t->bpf_storage, one load).  Holds the marker
 * SCHED_TS_SLOTTED when the record is in thread_slots, else the record
 * itself (its slot was taken), or SCHED_TS_LOST.  Freed with the task.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sched_thread_stat);
} thread_live SEC(".maps");

/*
 * Every traced thread by tid, with a copy of its record: made with the
 * record (so --max-threads bounds the traced threads, and user space can
 * list them), refreshed when it starts to exit (sched_process_exit) and
 * at its final switch (state EXITED): what remains of it once the thread
 * is gone and its slot reused.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCHED_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct sched_thread_stat);
} threads SEC(".maps");

/*
 * The traced processes, a bitmap indexed by tgid (unused when filtering by
 * cgroup).  Tested when a thread is born or seeded: an array look-up is
 * inlined by the verifier and touches one cache line, where a hash
 * look-up hashes and walks a bucket.
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

/*
 * Exited threads whose tid a new traced thread took: their saved records
 * summed here before the new record replaces theirs in `threads`, so no
 * switch or off-CPU time of theirs leaves the totals.  One element.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_thread_stat);
} reused SEC(".maps");

static const struct sched_thread_stat zero_stat;
static const struct sched_thread_stat slotted_stat = {
	.state = SCHED_TS_SLOTTED,
};
static const struct sched_thread_stat lost_stat = { .state = SCHED_TS_LOST };

/* Kernels before 6.1 kept ancestor ids instead of ancestor pointers. */
struct cgroup___o {
	__u64 ancestor_ids[1];
} __attribute__((preserve_access_index));

/*
 * The id of t's cgroup v2 ancestor at the target's level, 0 if none.  Run
 * on every event with --cgroup, so read with direct loads where the
 * verifier allows them (tp_btf and iterator arguments are BTF pointers:
 * each load is one instruction guarded by an exception-table entry) rather
 * than bpf_probe_read_kernel(), a helper call of ~20 ns per field here.  A
 * thread right in the target cgroup costs no call; for one in a descendant
 * the ancestor is an element of a flexible array the verifier does not let
 * a direct load index, read with the helper, as is its id.
 */
static __always_inline __u64 task_cgroup_ancestor_id(struct task_struct *t)
{
	struct cgroup *cg = t->cgroups->dfl_cgrp, *anc = NULL;
	int lvl = target_cg_level;
	__u64 id = 0;

	if (!cg || cg->level < lvl)
		return 0;
	if (cg->level == lvl)
		return cg->kn->id;
	if (bpf_core_field_exists(cg->ancestors)) {
		bpf_core_read(&anc, sizeof(anc), &cg->ancestors[lvl]);
		return anc ? BPF_CORE_READ(anc, kn, id) : 0;
	}
	bpf_core_read(&id, sizeof(id),
		      &((struct cgroup___o *)cg)->ancestor_ids[lvl]);
	return id;
}

/*
 * The kernel's run-queue account of t (CONFIG_SCHED_INFO, which the
 * delay accounting and /proc/PID/schedstat need; without it, no waits
 * are sampled): run_delay, the sum of t's finished waits, and
 * last_queued, when its current wait began, 0 if it is not waiting.
 * A wait that moves to another CPU (a queued task migrates) is finished
 * there and begun anew.  At sched_switch both still describe next's wait,
 * which sched_info_arrive() closes right after the tracepoint.
 */
static __always_inline __u64 task_run_delay(struct task_struct *t)
{
	if (bpf_core_field_exists(t->sched_info))
		return t->sched_info.run_delay;
	return 0;
}

static __always_inline __u64 task_queued_since(struct task_struct *t)
{
	if (bpf_core_field_exists(t->sched_info))
		return t->sched_info.last_queued;
	return 0;
}

/* The per-CPU idle tasks (pid 0), accounted per CPU, never as threads. */
static __always_inline bool is_idle(struct task_struct *t)
{
	return t->pid == 0;
}

static __always_inline bool tgid_traced(__u32 tgid)
{
	__u32 word = tgid / 64;
	__u64 *bits = bpf_map_lookup_elem(&tgid_bits, &word);

	return bits && (*bits & (1ULL << (tgid % 64)));
}

/* Whether a thread belongs to the traced set (at its birth, or seeding). */
static __always_inline bool traced(struct task_struct *t)
{
	if (is_idle(t))
		return false;
	if (filter_cgroup)
		return task_cgroup_ancestor_id(t) == target_cgid;
	return tgid_traced(t->tgid);
}

/* Copy a record into `threads`, where it outlives the thread. */
static __always_inline void thread_save(struct sched_thread_stat *s)
{
	__u32 pid = s->pid;

	if (bpf_map_update_elem(&threads, &pid, s, BPF_ANY))
		__sync_fetch_and_add(&lost_threads, 1);
}

/* Add an exited thread's saved record (tid p) to `reused`. */
static __always_inline void fold_exited(__u32 pid)
{
	struct sched_thread_stat *old, *sum;
	__u32 zero = 0;
	int i;

	old = bpf_map_lookup_elem(&threads, &pid);
	if (!old || old->state != SCHED_TS_EXITED)
		return;		/* none, or a live thread's: replaced as before */
	sum = bpf_map_lookup_elem(&reused, &zero);
	if (!sum)
		return;
	/* atomic: two tids may be reused at once on two CPUs */
	__sync_fetch_and_add(&sum->nvcsw, old->nvcsw);
	__sync_fetch_and_add(&sum->nivcsw, old->nivcsw);
	__sync_fetch_and_add(&sum->oncpu_ns, old->oncpu_ns);
	__sync_fetch_and_add(&sum->offcpu_ns, old->offcpu_ns);
	__sync_fetch_and_add(&sum->wakeups, old->wakeups);
	__sync_fetch_and_add(&sum->runq_ns, old->runq_ns);
	__sync_fetch_and_add(&sum->runq_cnt, old->runq_cnt);
	__sync_fetch_and_add(&sum->pid, 1);	/* threads folded */
	for (i = 0; i < SCHED_HIST_SLOTS; i++) {
		__sync_fetch_and_add(&sum->runq_hist[i], old->runq_hist[i]);
		__sync_fetch_and_add(&sum->offcpu_hist[i], old->offcpu_hist[i]);
	}
}

/*
 * Take the thread's slot, if it is free or held by an earlier thread of
 * the same tid (which is dead: tids are unique among live threads, and
 * that one's final switch went unseen), and fill it from r.  Set up under
 * the owner 1, so that no event and no other claim uses it half-written.
 */
static __always_inline struct sched_thread_stat *
slot_claim(struct task_struct *t, __u32 pid, const struct sched_thread_stat *r)
{
	struct sched_thread_stat *slot;
	__u32 k = pid & slot_mask;
	__u64 owner;

	slot = bpf_map_lookup_elem(&thread_slots, &k);
	if (!slot)
		return NULL;
	owner = slot->task;
	if (owner == (__u64)t)
		return slot;	/* made meanwhile (seeding and fork racing) */
	if (owner == 1 || (owner && slot->pid != pid))
		return NULL;	/* another live thread's */
	if (__sync_val_compare_and_swap(&slot->task, owner, 1) != owner)
		return NULL;
	slot->state = r->state;
	slot->pid = pid;
	__builtin_memcpy(&slot->ts_switch, &r->ts_switch,
			 sizeof(*slot) - __builtin_offsetof(struct sched_thread_stat,
							  ts_switch));
	slot->task = (__u64)t;
	return slot;
}

static __always_inline void slot_release(struct sched_thread_stat *slot)
{
	slot->pid = 0;
	slot->task = 0;
}

/*
 * A traced thread without a record: list it in `threads`, then give it a
 * record (its slot, else its storage) and its storage marker.  Called once
 * per thread: from sched_process_fork for threads born while tracing, from
 * the seeding iterator for those a target has when it is added, both
 * outside the scheduler's locks; with --cgroup also at the first event of
 * a thread that moved into the cgroup.  When `threads` is full, the
 * storage says SCHED_TS_LOST, and each event of the thread is counted lost.
 */
static __noinline struct sched_thread_stat *thread_new(struct task_struct *t)
{
	struct sched_thread_stat *r, *s, *slot;
	__u32 pid = t->pid;

	/* a stale entry of this tid (an exited thread) starts afresh, its
	 * totals kept in `reused` */
	fold_exited(pid);
	if (bpf_map_update_elem(&threads, &pid, &zero_stat, BPF_ANY))
		goto lost;
	r = bpf_map_lookup_elem(&threads, &pid);
	if (!r)
		goto lost;
	r->pid = pid;
	r->tgid = t->tgid;
	/* a wait under way began before the thread was traced */
	r->run_delay = task_queued_since(t) ? SCHED_RUN_DELAY_CENSORED :
					     task_run_delay(t);
	bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), t->comm);
	slot = slot_claim(t, pid, r);
	s = bpf_task_storage_get(&thread_live, t,
				 slot ? (void *)&slotted_stat : (void *)r,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (s && slot) {
		s->pid = pid;	/* the marker says which slot */
		return slot;
	}
	if (s)
		return s;
	if (slot)
		slot_release(slot);
	bpf_map_delete_elem(&threads, &pid);
	__sync_fetch_and_add(&lost_threads, 1);	/* no memory: untraced */
	return NULL;
lost:
	__sync_fetch_and_add(&lost_threads, 1);
	bpf_task_storage_get(&thread_live, t, (void *)&lost_stat,
			     BPF_LOCAL_STORAGE_GET_F_CREATE);
	return NULL;
}

/*
 * The record of a thread: its slot if it owns it (one inlined array
 * look-up; owner and tid are in the record's first line), else the record
 * in its storage (a helper call).  NULL for a lost thread (the event is
 * counted) and for a task without our storage, which gets a record if
 * `create` (--cgroup: it has just been found in the cgroup).
 */
static __always_inline struct sched_thread_stat *
thread_rec(struct task_struct *t, bool create)
{
	struct sched_thread_stat *s;
	__u32 pid = t->pid, k = pid & slot_mask;

	s = bpf_map_lookup_elem(&thread_slots, &k);
	if (s && s->task == (__u64)t && s->pid == pid)
		return s;
	s = bpf_task_storage_get(&thread_live, t, NULL, 0);
	if (!s)
		return create ? thread_new(t) : NULL;
	if (s->state == SCHED_TS_SLOTTED) {
		/*
		 * Its tid is not the one it had when it got its slot: a
		 * thread that exec()s takes its process leader's.  The record
		 * stays in the first slot, under the first tid.
		 */
		k = s->pid & slot_mask;
		s = bpf_map_lookup_elem(&thread_slots, &k);
		return s && s->task == (__u64)t ? s : NULL;
	}
	if (s->state == SCHED_TS_LOST) {
		__sync_fetch_and_add(&lost_threads, 1);
		return NULL;
	}
	return s;
}

/*
 * The record of a traced thread, NULL for any other: the filter of the
 * hot programs.
 *
 * By process, the traced threads are exactly those with our storage: made
 * when they were seeded or born (sched_process_fork is attached before the
 * seeding, so no thread falls between).  The first test is the task's
 * storage pointer, NULL for nearly every other task and for the idle
 * tasks: one load, no helper call, no look-up of the process bitmap.
 *
 * By cgroup, membership is decided per event (threads move): the cgroup
 * test first, then the record, made at the thread's first event there.
 */
static __always_inline struct sched_thread_stat *
traced_stat(struct task_struct *t)
{
	if (filter_cgroup) {
		if (is_idle(t) || task_cgroup_ancestor_id(t) != target_cgid)
			return NULL;
		return thread_rec(t, true);
	}
	if (!t->bpf_storage)
		return NULL;
	return thread_rec(t, false);
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
	__u64 span = elapsed(now, s->ts_switch);
	__u64 ran = exec - s->exec_ns;

	if (exec < s->exec_ns || ran > span)
		ran = span;
	s->oncpu_ns += ran;
	s->offcpu_ns += span - ran;
	__sync_fetch_and_add(&repaired, 1);
}

static __always_inline bool off_cpu(unsigned int state)
{
	return state == SCHED_TS_OFF_CPU || state == SCHED_TS_BLOCKED;
}

static __always_inline void switch_out(struct sched_thread_stat *s,
				       struct task_struct *prev, __u64 now,
				       bool preempt, unsigned int state)
{
	__u64 exec = prev->se.sum_exec_runtime;

	if (off_cpu(s->state))
		repair_interval(s, now, exec);	/* its switch-in went missing */
	else
		s->oncpu_ns += elapsed(now, s->state == SCHED_TS_UNSEEN ?
					    start_ns : s->ts_switch);
	s->ts_switch = now;
	s->exec_ns = exec;
	s->run_delay = task_run_delay(prev);
	/*
	 * A dying thread's last switch is its exit, not a block.  Its final
	 * name is kept here; user space reads live threads' names in /proc,
	 * which spares a copy on every switch.  The record is final: copied
	 * into `threads`, which outlives the thread; its slot is freed.
	 */
	if (state & TASK_DEAD) {
		s->state = SCHED_TS_EXITED;
		bpf_probe_read_kernel_str(s->comm, sizeof(s->comm), prev->comm);
		thread_save(s);
		if (s->task == (__u64)prev)
			slot_release(s);	/* the copy is what remains */
		return;
	}
	/* Same test as __schedule() uses to pick nvcsw over nivcsw. */
	if (!preempt && state != TASK_RUNNING) {
		s->nvcsw++;
		s->state = SCHED_TS_BLOCKED;
	} else {
		s->nivcsw++;
		s->state = SCHED_TS_OFF_CPU;
	}
}

/*
 * The run-queue wait that next's switch-in ends, if any: what the
 * kernel's run_delay grew by since the switch-out (parts of the wait
 * finished on other CPUs) plus the part under way here.  rq: the run
 * queue's clock now, the scale of last_queued.
 */
static __always_inline void runq_done(struct sched_thread_stat *s,
				      struct task_struct *next, __u64 rq)
{
	__u64 queued = task_queued_since(next);
	__u64 lat = task_run_delay(next) - s->run_delay;
	__u32 gen = runq_max_gen;

	if (queued)
		lat += elapsed(rq, queued);
	else if (!lat)
		return;		/* not queued: it was never off the run queue
				 * and not runnable (preempted while going
				 * to sleep, woken before it blocked) */

	s->runq_ns += lat;
	s->runq_cnt++;
	if (s->runq_max_gen != gen || lat > s->runq_max_ns) {
		s->runq_max_ns = lat;
		s->runq_max_gen = gen;
	}
	s->runq_hist[hist_slot_us(lat, SCHED_HIST_SLOTS)]++;
}

/*
 * A wake-up is counted at the switch-in it leads to: a thread that
 * blocked, or one first seen asleep (not waiting in a run queue).
 */
static __always_inline void switch_in(struct sched_thread_stat *s,
				      struct task_struct *next, __u64 now,
				      __u64 rq)
{
	__u64 exec = next->se.sum_exec_runtime;
	unsigned int state = s->state;

	if (off_cpu(state)) {
		__u64 off = elapsed(now, s->ts_switch);

		s->offcpu_ns += off;
		s->offcpu_hist[hist_slot_us(off, SCHED_HIST_SLOTS)]++;
	} else if (state == SCHED_TS_UNSEEN) {
		/* Censored interval: counted, but no histogram sample. */
		s->offcpu_ns += elapsed(now, start_ns);
	} else if (state == SCHED_TS_ON_CPU) {
		/* its switch-out went missing, and the wait's start with it */
		repair_interval(s, now, exec);
	}
	/* censored: first seen in a run queue (then UNSEEN) */
	if (state != SCHED_TS_ON_CPU &&
	    s->run_delay != SCHED_RUN_DELAY_CENSORED) {
		s->wakeups += state != SCHED_TS_OFF_CPU;
		runq_done(s, next, rq);
	}
	s->state = SCHED_TS_ON_CPU;
	s->ts_switch = now;
	s->exec_ns = exec;
}

/*
 * The time of a switch, read at its first use: the run queue's clock is
 * three dependent loads, about as costly as the rest of an untraced
 * switch together when the lines are not in the cache (a loaded machine),
 * and a switch between two untraced threads, neither of them idle, needs
 * no time at all.  rq: the clock itself, now: on CLOCK_MONOTONIC's scale.
 */
struct switch_time {
	__u64 rq, now;
};

static __always_inline __u64 switch_now(struct switch_time *st,
					struct task_struct *prev)
{
	if (!st->now) {
		st->rq = rq_clock(prev);	/* next's queue too */
		st->now = st->rq + mono_offset(&clock_off, st->rq);
	}
	return st->now;
}

/*
 * Idle time per CPU: a switch away from the idle task ends an idle period
 * begun at the last switch to it (ts_switch, once `seen`), or before the
 * trace (from start_ns).  Other switches are only counted.
 */
static __always_inline void account_cpu(struct task_struct *prev,
					struct task_struct *next,
					struct switch_time *st)
{
	struct sched_cpu_stat *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&cpus, &zero);
	if (!c)
		return;
	c->switches++;
	if (is_idle(prev)) {
		c->idle_ns += elapsed(switch_now(st, prev),
				      c->seen ? c->ts_switch : start_ns);
		c->in_idle = 0;
	}
	if (is_idle(next)) {
		c->ts_switch = switch_now(st, prev);
		c->in_idle = 1;
		c->seen = 1;
	}
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	struct switch_time st = {};
	struct sched_thread_stat *s;
	__u64 now;

	account_cpu(prev, next, &st);
	s = traced_stat(prev);
	if (s)
		switch_out(s, prev, switch_now(&st, prev), preempt,
			   prev_task_state(prev, ctx));
	s = traced_stat(next);
	if (s) {
		now = switch_now(&st, prev);	/* sets st.rq: read it after */
		switch_in(s, next, now, st.rq);
	}
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	/* made at its fork: a new task has no other, a reused tid included */
	struct sched_thread_stat *s = traced_stat(p);
	__u64 now;

	if (!s)
		return 0;
	now = rq_mono_now(p, &clock_off);
	s->wakeups++;
	s->state = SCHED_TS_OFF_CPU;	/* born runnable, waiting for a CPU */
	s->ts_switch = now;
	s->run_delay = task_run_delay(p);	/* its wait began just now */
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

	if (follow_forks && !filter_cgroup && ptgid != ctgid &&
	    tgid_traced(ptgid)) {
		bits = bpf_map_lookup_elem(&tgid_bits, &word);
		if (bits)	/* atomic: forks on two CPUs may share a word */
			__sync_fetch_and_or(bits, 1ULL << (ctgid % 64));
		else
			__sync_fetch_and_add(&lost_tgids, 1);
	}
	/*
	 * A traced thread's record is made here, at its birth, where no
	 * scheduler lock is held (the allocation of its storage takes none).
	 * Attached from the load on, before any seeding.
	 */
	if (traced(child))
		thread_new(child);
	return 0;
}

/*
 * The last thread of a traced process exits (signal->live, decremented
 * before this tracepoint, is 0): its tgid leaves the traced set, so that
 * a process that later gets the same pid (pids wrap within minutes on a
 * busy machine) is not taken for it.
 */
static __always_inline void tgid_forget(struct task_struct *p)
{
	__u32 tgid = p->tgid, word = tgid / 64;
	__u64 *bits;

	if (filter_cgroup || p->signal->live.counter)
		return;
	bits = bpf_map_lookup_elem(&tgid_bits, &word);
	if (bits && (*bits & (1ULL << (tgid % 64))))
		__sync_fetch_and_and(bits, ~(1ULL << (tgid % 64)));
}

/*
 * A thread starts to exit: save its record now.  Between the moment its
 * tid is released (exit_notify) and its final switch, the task iterator no
 * longer finds a record kept in its storage; user space reads this copy
 * then.  Any thread with a record, traced or not any more (moved out of
 * the cgroup).
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *p)
{
	struct sched_thread_stat *s;

	tgid_forget(p);
	if (!p->bpf_storage)
		return 0;
	s = thread_rec(p, false);
	if (s)
		thread_save(s);
	return 0;
}

/*
 * Seeding: run by user space (a read of the iterator) when a target is
 * added, so that every thread it has is listed, even one that sleeps
 * through the whole trace, as UNSEEN.  Skips threads already recorded.
 */
SEC("iter/task")
int seed_threads(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;

	if (!t || !traced(t))
		return 0;
	if (!bpf_task_storage_get(&thread_live, t, NULL, 0))
		thread_new(t);
	return 0;
}

/*
 * The snapshot's records kept in task storage (a thread whose slot was
 * taken), one struct sched_thread_stat each; user space reads the slots.
 */
SEC("iter/task")
int dump_threads(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	struct sched_thread_stat *s;

	if (!t)
		return 0;
	s = bpf_task_storage_get(&thread_live, t, NULL, 0);
	if (s && s->state != SCHED_TS_SLOTTED && s->state != SCHED_TS_LOST)
		bpf_seq_write(ctx->meta->seq, s, sizeof(*s));
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* SPDX-License-Identifier: MIT */
/*
 * sched_stat.h - records shared by sched.bpf.c and its user-space reader.
 *
 * The kernel side aggregates everything in maps; user space only reads
 * them, so these structs are the whole interface.  Keep them free of
 * kernel or libc types: this header is included by both sides.
 */
#ifndef RTASYNC_BPF_SCHED_STAT_H
#define RTASYNC_BPF_SCHED_STAT_H

#define SCHED_TASK_COMM_LEN	16
/* log2 slots in microseconds: slot 26 holds everything from ~67 s up. */
#define SCHED_HIST_SLOTS	27
#define SCHED_MAX_THREADS	16384
/* Slots of thread_slots: a power of two, at most this many (6 MiB). */
#define SCHED_MAX_SLOTS		16384
/* PID_MAX_LIMIT on 64-bit: the traced-process bitmap covers every tgid. */
#define SCHED_PID_LIMIT		(4 * 1024 * 1024)
#define SCHED_TGID_WORDS	(SCHED_PID_LIMIT / 64)

/* Where a traced thread was at its last event. */
enum sched_thread_state {
	SCHED_TS_UNSEEN = 0,
	SCHED_TS_ON_CPU,
	SCHED_TS_OFF_CPU,	/* preempted or yielded: still runnable */
	SCHED_TS_BLOCKED,	/* off the CPU until a wake-up */
	SCHED_TS_EXITED,	/* final switch of a dead task seen */
	/* kernel side only, in a thread's task storage: */
	SCHED_TS_SLOTTED,	/* its record is its slot in thread_slots */
	SCHED_TS_LOST,		/* not traced: `threads` was full at its birth;
				 * its events are counted lost */
};

/*
 * run_delay of a thread that was waiting in a run queue when it was first
 * seen: that wait began before it was traced and gives no sample.
 */
#define SCHED_RUN_DELAY_CENSORED	(~0ULL)

/*
 * A thread's record.  Where it lives (see Documentation/bpf.md, "Maps"):
 * in the thread's slot of the thread_slots array (slot = tid & slot mask,
 * which user space maps), or, when another live thread holds that slot,
 * in the thread's task-local storage; the `threads` hash, keyed by tid,
 * holds a copy made when the thread is first seen, when it starts to exit
 * and at its final switch, which outlives the thread.
 *
 * Ordered by heat, in 64-byte lines (a slot starts on a line boundary):
 * the first line is all a switch-out (but for nivcsw) touches, identity
 * included; a switch-in also the second (off-CPU time, run-queue wait)
 * and a slot of each histogram.  384 bytes in all.
 */
struct sched_thread_stat {
	unsigned int state;		/* enum sched_thread_state */
	unsigned int pid;		/* tid; 0 in a free slot */
	unsigned long long task;	/* kernel side: the task owning a slot */
	unsigned long long ts_switch;	/* last switch in or out */
	unsigned long long run_delay;	/* the task's sched_info.run_delay at
					 * the last switch-out (or when first
					 * seen); SCHED_RUN_DELAY_CENSORED */
	unsigned long long exec_ns;	/* se.sum_exec_runtime at ts_switch */
	unsigned long long oncpu_ns;
	unsigned long long nvcsw;	/* switched out while blocking */
	unsigned long long wakeups;

	unsigned long long offcpu_ns;
	unsigned long long nivcsw;	/* switched out while runnable */
	unsigned long long runq_ns;	/* sum of run-queue waits */
	unsigned long long runq_cnt;
	unsigned long long runq_max_ns;	/* max since runq_max_gen was bumped */
	unsigned int runq_max_gen;
	unsigned int tgid;
	char comm[SCHED_TASK_COMM_LEN];

	unsigned int runq_hist[SCHED_HIST_SLOTS];	/* usecs, log2 */
	unsigned int offcpu_hist[SCHED_HIST_SLOTS];	/* usecs, log2 */
	unsigned int pad[10];		/* to a whole number of lines */
};

_Static_assert(sizeof(struct sched_thread_stat) == 6 * 64,
	       "sched_thread_stat: six cache lines");

/* Value of the per-CPU array (one element): the idle task on that CPU. */
struct sched_cpu_stat {
	unsigned long long idle_ns;
	unsigned long long switches;	/* all context switches on this CPU */
	unsigned long long ts_switch;	/* last switch to the idle task */
	unsigned int in_idle;		/* the idle task runs since then */
	unsigned int seen;		/* ts_switch is set */
};

#endif /* RTASYNC_BPF_SCHED_STAT_H */

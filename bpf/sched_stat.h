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
/* PID_MAX_LIMIT on 64-bit: the traced-process bitmap covers every tgid. */
#define SCHED_PID_LIMIT		(4 * 1024 * 1024)
#define SCHED_TGID_WORDS	(SCHED_PID_LIMIT / 64)

/* Where a traced thread was at its last event. */
enum sched_thread_state {
	SCHED_TS_UNSEEN = 0,
	SCHED_TS_ON_CPU,
	SCHED_TS_OFF_CPU,	/* blocked or preempted */
	SCHED_TS_EXITED,	/* final switch of a dead task seen */
};

/*
 * Value of the per-thread hash map, keyed by tid (kernel pid).  Ordered by
 * heat: what every switch and wake-up touches comes first, next to the
 * hash element's key, so an event after idle (cold caches) misses as few
 * lines as possible; names and histograms last.
 */
struct sched_thread_stat {
	unsigned int state;		/* enum sched_thread_state */
	unsigned int runq_max_gen;
	unsigned long long ts_switch;	/* last switch in or out */
	unsigned long long ts_queued;	/* wakeup or preemption, 0 if none */
	unsigned long long exec_ns;	/* se.sum_exec_runtime at ts_switch */
	unsigned long long wakeups;
	unsigned long long nvcsw;	/* switched out while blocking */
	unsigned long long nivcsw;	/* switched out while runnable */
	unsigned long long oncpu_ns;
	unsigned long long offcpu_ns;

	unsigned long long runq_ns;	/* sum of wakeup/preempt -> run waits */
	unsigned long long runq_cnt;
	unsigned long long runq_max_ns;	/* max since runq_max_gen was bumped */

	unsigned int pid;
	unsigned int tgid;
	char comm[SCHED_TASK_COMM_LEN];

	unsigned int runq_hist[SCHED_HIST_SLOTS];	/* usecs, log2 */
	unsigned int offcpu_hist[SCHED_HIST_SLOTS];	/* usecs, log2 */
};

/* Value of the per-CPU array (one element): the idle task on that CPU. */
struct sched_cpu_stat {
	unsigned long long idle_ns;
	unsigned long long switches;	/* all context switches on this CPU */
	unsigned long long ts_switch;	/* last switch seen on this CPU */
	unsigned int in_idle;
	unsigned int seen;
};

#endif /* RTASYNC_BPF_SCHED_STAT_H */

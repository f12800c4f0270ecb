/* SPDX-License-Identifier: MIT */
/*
 * task_join.h - records shared by task.bpf.c (the kernel join of
 * `rtasync-trace task blocked`) and its reader, tools/rtasync-trace/task_blocked.c.
 * Included by both sides: no kernel or libc types.
 */
#ifndef RTASYNC_BPF_TASK_JOIN_H
#define RTASYNC_BPF_TASK_JOIN_H

/* log2 slots in microseconds, as sched stat's */
#define TASK_BLK_HIST_SLOTS	27
#define TASK_BLK_MAX_WORKERS	4096
#define TASK_BLK_MAX_TASKS	16384

/* Off-CPU intervals of worker threads, summed. */
struct task_blk_time {
	unsigned long long count, total_ns, max_ns;
	unsigned long long vol_count, vol_ns;		/* blocked */
	unsigned long long invol_count, invol_ns;	/* preempted */
};

/* Per await site (array index: site id, 0 = not at an await). */
struct task_blk_site {
	struct task_blk_time t;
	unsigned int hist[TASK_BLK_HIST_SLOTS];		/* usecs, log2 */
};

/* Per task and site (hash): tasks are ids only, their addresses. */
struct task_blk_key {
	unsigned long long task;
	unsigned int site;
	unsigned int pad;
};

/*
 * Per worker thread (hash by tid, filled by user space before attach):
 * what was running when the kernel took the CPU away, and since when.
 */
struct task_blk_worker {
	unsigned long long task;	/* rt__running at the switch-out */
	unsigned long long ts_out;	/* 0: on a CPU (or never seen out) */
	unsigned int site;		/* the task's h.site->id then */
	unsigned int voluntary;		/* blocked, not preempted */
	/*
	 * Where this worker's library keeps things, from its trace area:
	 * two copies of librtasync in one process have two layouts (and
	 * two thread-local offsets).
	 */
	long long running_tls_off;
	unsigned int task_head_site_off;
	unsigned int site_id_off;
	/* its copy's site ids: id < site_limit is site site_base + id */
	unsigned int site_base;
	unsigned int site_limit;
};

#endif /* RTASYNC_BPF_TASK_JOIN_H */

/* SPDX-License-Identifier: MIT */
/*
 * task_blocked.h - `task blocked`: loads the kernel join (bpf/task.bpf.c)
 * for one librtasync process, hands it the worker threads and the layout
 * from the trace area, and reads what it charged to each await site and
 * task.  Printing is here too (table and JSON from one snapshot).
 */
#ifndef RTASYNC_TASK_BLOCKED_H
#define RTASYNC_TASK_BLOCKED_H

#include <stdio.h>

#include "json_writer.h"
#include "task_area.h"
#include "task_join.h"

struct task_blk_obs;

struct task_blk_site_row {
	uint32_t id;
	struct task_blk_site s;
};

struct task_blk_task_row {
	uint64_t task;
	uint32_t site;
	struct task_blk_time t;
};

/* A worker off-CPU at the snapshot: an interval not charged yet. */
struct task_blk_now {
	uint32_t tid;
	uint64_t task;
	uint32_t site;
	bool voluntary;
	uint64_t for_ns;
};

struct task_blk_snapshot {
	uint64_t start_ns, end_ns;	/* attach to snapshot */
	unsigned int nworkers;		/* worker threads traced */
	size_t nsites;
	struct task_blk_site_row *sites;	/* by total time, largest first */
	size_t ntasks;
	struct task_blk_task_row *tasks;	/* likewise */
	struct task_blk_site idle;	/* no task running: the worker loop */
	size_t nnow;
	struct task_blk_now *now;
	uint64_t lost_tasks, unreadable, missed;
};

/* Load (not attach) for p's workers; -errno. */
int task_blk_open(struct task_blk_obs **op, const struct task_proc *p,
		  bool debug);
int task_blk_attach(struct task_blk_obs *o);
int task_blk_snapshot(struct task_blk_obs *o, struct task_blk_snapshot *s);
void task_blk_snapshot_free(struct task_blk_snapshot *s);
void task_blk_close(struct task_blk_obs *o);

struct task_blk_print {
	unsigned int limit;	/* table rows per list, 0 = all */
	bool hist;		/* per-site histograms in the table */
};

void task_blk_table(FILE *out, const struct task_blk_snapshot *s,
		    const struct task_proc *p, const struct task_blk_print *o);
void task_blk_json(struct json_writer *jw, const struct task_blk_snapshot *s,
		   const struct task_proc *p);

#endif /* RTASYNC_TASK_BLOCKED_H */

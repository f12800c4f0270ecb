/* SPDX-License-Identifier: MIT */
/*
 * task_hist.h - `task hist`: suspend time per await site, from the
 * runtime's event records.  A task's suspend time at site X runs from
 * the record of its step that suspended at X to the record of its next
 * step; both timestamps are their loop turns' (the runtime reads the
 * clock once a turn), so the resolution is a turn.
 */
#ifndef RTASYNC_TASK_HIST_H
#define RTASYNC_TASK_HIST_H

#include <stdio.h>

#include "json_writer.h"
#include "task_area.h"

/* log2 slots of microseconds, as sched stat's: the last one holds ~67 s+ */
#define TASK_HIST_SLOTS 27
#define TASK_NREASONS (RT_TRACE_WAIT + 1)

struct task_hist_site {
	uint64_t suspends;	/* records of steps that suspended here */
	uint64_t samples;	/* of those, followed by the task's next step */
	uint64_t total_ns, max_ns;
	unsigned int hist[TASK_HIST_SLOTS];
};

struct task_hist_last;		/* a task's last step, by task id */

struct task_hist {
	const struct task_proc *proc;	/* whose areas: site ids per copy */
	uint32_t nids;
	struct task_hist_site *sites;	/* by site id */
	uint64_t reasons[TASK_NREASONS];	/* records by enum rt_trace_reason */
	uint64_t records;		/* records read */
	uint64_t start_ns, end_ns;	/* the window, CLOCK_MONOTONIC */
	uint64_t dropped;		/* set by the caller from its rings */
	uint64_t gaps;			/* places where records were lost */
	uint32_t sample_shift;
	/* open addressing, keyed by task id: survives task_hist_reset() */
	struct task_hist_last *last;
	uint32_t epoch;			/* bumped at each gap in the records */
	size_t cap, used;
};

/* Site ids: the tool's for p's areas (task_site_gid()). */
int task_hist_init(struct task_hist *h, const struct task_proc *p);
/* A task_record_fn: feed it every record, in ring order per worker. */
void task_hist_add(void *h, unsigned int area, const struct task_record *rec,
		   uint64_t gap);
/* Start a new window: counts to zero, the tasks' last steps kept. */
void task_hist_reset(struct task_hist *h);
void task_hist_free(struct task_hist *h);

void task_hist_table(FILE *out, const struct task_hist *h,
		     const struct task_proc *p);
void task_hist_json(struct json_writer *jw, const struct task_hist *h,
		    const struct task_proc *p);

/* log2 slot of a value, as the kernel side's histograms count it. */
unsigned int task_log2_slot(uint64_t v, unsigned int nslots);
const char *task_reason_name(unsigned int reason);

#endif /* RTASYNC_TASK_HIST_H */

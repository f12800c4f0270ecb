/* SPDX-License-Identifier: MIT */
/*
 * task_top.h - `task top`: the hottest await sites of a librtasync
 * process by suspensions, and its workers' counters, read from the
 * always-on part of its trace areas.  Snapshots are taken here; a report
 * is the difference of two (rates over the window, totals at its end),
 * rendered as the table or as JSON from the same numbers.
 */
#ifndef RTASYNC_TASK_TOP_H
#define RTASYNC_TASK_TOP_H

#include <stdio.h>

#include "json_writer.h"
#include "task_area.h"

struct task_top_snap {
	uint64_t ts;			/* CLOCK_MONOTONIC ns */
	int nareas;
	struct rt_trace_blocking blocking[TASK_MAX_AREAS];	/* per area */
	uint32_t nids;			/* site ids 0..nids-1 */
	uint64_t *counts;		/* suspensions per site id, all workers */
	size_t nworkers;
	struct task_top_worker *workers;
};

struct task_top_worker {
	unsigned int area, index;
	uint32_t tid;
	int32_t cpu;
	struct rt_stats st;		/* totals at the end of the window */
	struct rt_stats win;		/* within the window */
	struct rt_io_counts io;		/* per op kind: totals ... */
	struct rt_io_counts io_win;	/* ... and within the window */
};

struct task_top_site {
	uint32_t id;
	uint64_t count;			/* total since the runtime started */
	uint64_t window;		/* within the window */
	struct task_site_desc d;
};

/* A runtime's blocking pool: totals at the end, calls within the window. */
struct task_top_blocking {
	struct rt_trace_blocking b;
	uint64_t window_completed;
};

struct task_top_report {
	pid_t pid;
	int nareas;
	struct task_top_blocking blocking[TASK_MAX_AREAS];
	uint64_t window_ns;
	size_t nsites;
	struct task_top_site *sites;	/* hottest first */
	size_t nworkers;
	struct task_top_worker *workers;
	struct task_top_worker total;	/* area/index unused */
};

int task_top_snapshot(const struct task_proc *p, struct task_top_snap *s);
void task_top_snap_free(struct task_top_snap *s);
/* The report for the window prev..cur (prev may be an empty snapshot). */
int task_top_report(struct task_top_report *r, const struct task_proc *p,
		    const struct task_top_snap *cur,
		    const struct task_top_snap *prev);
void task_top_report_free(struct task_top_report *r);

/* limit: site rows in the table, 0 = all (JSON always has all). */
void task_top_table(FILE *out, const struct task_top_report *r,
		    unsigned int limit);
void task_top_json(struct json_writer *jw, const struct task_top_report *r);
/* Prometheus text format (version 0.0.4): counters since the start. */
void task_top_prometheus(FILE *out, const struct task_top_report *r);
/* Writes the members of a struct rt_stats into an open object. */
void task_stats_json(struct json_writer *jw, const struct rt_stats *st);

#endif /* RTASYNC_TASK_TOP_H */

/* SPDX-License-Identifier: MIT */
/*
 * sched_report.h - renders a sched snapshot as the human table or as JSON.
 * Both read the same numbers from the same snapshot: the table rounds
 * what JSON gives exactly (nanoseconds).
 */
#ifndef RTASYNC_SCHED_REPORT_H
#define RTASYNC_SCHED_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "json_writer.h"
#include "sched_obs.h"

struct sched_report_opts {
	uint64_t requests;	/* --requests N, 0 = not given */
	bool hist;		/* print the log2 histograms */
};

void sched_report_table(FILE *out, const struct sched_snapshot *snap,
			const struct sched_report_opts *opts);
/* Writes members into an object the caller has opened. */
void sched_report_json(struct json_writer *jw, const struct sched_snapshot *snap,
		       const struct sched_report_opts *opts);

#endif /* RTASYNC_SCHED_REPORT_H */

// SPDX-License-Identifier: MIT
/*
 * sched_report.c - the `sched stat` table, rates, per-CPU idle, histograms
 * and their JSON twin.  Column meanings: Documentation/rtasync-trace.md.
 */
#include <inttypes.h>
#include <string.h>

#include "sched_report.h"
#include "trace.h"

#define NS_PER_MS 1000000.0
#define NS_PER_US 1000.0

/* Integer average, so that table and JSON round the same value. */
static uint64_t runq_avg_ns(const struct sched_thread *t)
{
	return t->runq_cnt ? t->runq_ns / t->runq_cnt : 0;
}

static double window_s(const struct sched_snapshot *snap)
{
	return (snap->end_ns - snap->start_ns) / 1e9;
}

static void table_header(FILE *out)
{
	fprintf(out, "%7s %-16s %9s %9s %12s %12s %12s %12s\n",
		"TID", "COMM", "VOL", "INVOL", "ONCPU_ms", "OFFCPU_ms",
		"RUNQ_AVG_us", "RUNQ_MAX_us");
}

static void table_row(FILE *out, const char *id, const char *comm,
		      const struct sched_thread *t, bool exited)
{
	fprintf(out, "%7s %-16s %9" PRIu64 " %9" PRIu64
		" %12.3f %12.3f %12.3f %12.3f%s\n",
		id, TRACE_PRINTABLE(comm), t->nvcsw, t->nivcsw,
		t->oncpu_ns / NS_PER_MS, t->offcpu_ns / NS_PER_MS,
		runq_avg_ns(t) / NS_PER_US, t->runq_max_ns / NS_PER_US,
		exited ? "  exited" : "");
}

static void table_rates(FILE *out, const struct sched_snapshot *snap,
			const struct sched_thread *tot,
			const struct sched_report_opts *opts)
{
	double s = window_s(snap);
	double n = (double)opts->requests;

	if (s > 0)
		fprintf(out, "\nPer second: %.1f voluntary, %.1f involuntary switches;"
			" %.3f ms on-CPU, %.3f ms off-CPU\n",
			tot->nvcsw / s, tot->nivcsw / s,
			tot->oncpu_ns / NS_PER_MS / s,
			tot->offcpu_ns / NS_PER_MS / s);
	if (!opts->requests)
		return;
	fprintf(out, "Per request (%" PRIu64 " requests): %.3f switches"
		" (%.3f voluntary, %.3f involuntary), %.3f us on-CPU,"
		" %.3f us off-CPU\n",
		opts->requests, (tot->nvcsw + tot->nivcsw) / n,
		tot->nvcsw / n, tot->nivcsw / n,
		tot->oncpu_ns / NS_PER_US / n, tot->offcpu_ns / NS_PER_US / n);
}

static double idle_pct(const struct sched_snapshot *snap, uint64_t idle_ns)
{
	uint64_t w = snap->end_ns - snap->start_ns;

	return w ? 100.0 * idle_ns / w : 0;
}

static void table_cpus(FILE *out, const struct sched_snapshot *snap)
{
	int c;

	fprintf(out, "\n%5s %12s %7s %12s\n", "CPU", "IDLE_ms", "IDLE%",
		"SWITCHES");
	for (c = 0; c < snap->ncpus; c++)
		fprintf(out, "%5d %12.3f %7.1f %12" PRIu64 "\n", c,
			snap->cpus[c].idle_ns / NS_PER_MS,
			idle_pct(snap, snap->cpus[c].idle_ns),
			snap->cpus[c].switches);
}

void sched_report_table(FILE *out, const struct sched_snapshot *snap,
			const struct sched_report_opts *opts)
{
	struct sched_thread tot;
	char id[32];
	size_t i;

	sched_snapshot_total(snap, &tot);
	fprintf(out, "Window %.3f s, %zu threads\n\n", window_s(snap),
		snap->nthreads);
	table_header(out);
	for (i = 0; i < snap->nthreads; i++) {
		const struct sched_thread *t = &snap->threads[i];

		snprintf(id, sizeof(id), "%u", t->tid);
		table_row(out, id, t->comm, t, t->exited);
	}
	table_row(out, "TOTAL", "", &tot, false);
	table_rates(out, snap, &tot, opts);
	table_cpus(out, snap);
	if (snap->lost_threads || snap->lost_tgids || snap->missed_events)
		fprintf(out, "\nWARNING: %" PRIu64 " events lost (thread map full),"
			" %" PRIu64 " forks not followed (pid map full),"
			" %" PRIu64 " events missed by the kernel\n",
			snap->lost_threads, snap->lost_tgids, snap->missed_events);
	if (snap->repaired)
		fprintf(out, "\nNOTE: %" PRIu64 " switches of traced threads were not"
			" reported by the tracepoint; their time was split by the"
			" kernel's run-time account\n", snap->repaired);
	if (!opts->hist)
		return;
	fprintf(out, "\nRun-queue latency, all traced threads\n");
	trace_print_log2_hist(out, tot.runq_hist, SCHED_HIST_SLOTS, "usecs");
	fprintf(out, "\nOff-CPU time per switch-out, all traced threads\n");
	trace_print_log2_hist(out, tot.offcpu_hist, SCHED_HIST_SLOTS, "usecs");
}

static void json_counters(struct json_writer *jw, const struct sched_thread *t)
{
	jw_uint_field(jw, "voluntary", t->nvcsw);
	jw_uint_field(jw, "involuntary", t->nivcsw);
	jw_uint_field(jw, "oncpu_ns", t->oncpu_ns);
	jw_uint_field(jw, "offcpu_ns", t->offcpu_ns);
	jw_uint_field(jw, "wakeups", t->wakeups);
	jw_uint_field(jw, "runq_count", t->runq_cnt);
	jw_uint_field(jw, "runq_total_ns", t->runq_ns);
	jw_uint_field(jw, "runq_avg_ns", runq_avg_ns(t));
	jw_uint_field(jw, "runq_max_ns", t->runq_max_ns);
}

static void json_threads(struct json_writer *jw,
			 const struct sched_snapshot *snap)
{
	size_t i;

	jw_name(jw, "threads");
	jw_start_array(jw);
	for (i = 0; i < snap->nthreads; i++) {
		const struct sched_thread *t = &snap->threads[i];

		jw_start_object(jw);
		jw_uint_field(jw, "tid", t->tid);
		jw_uint_field(jw, "tgid", t->tgid);
		jw_string_field(jw, "comm", t->comm);
		jw_bool_field(jw, "exited", t->exited);
		json_counters(jw, t);
		jw_log2_hist(jw, "runq_hist_usecs", t->runq_hist, SCHED_HIST_SLOTS);
		jw_log2_hist(jw, "offcpu_hist_usecs", t->offcpu_hist,
			     SCHED_HIST_SLOTS);
		jw_end_object(jw);
	}
	jw_end_array(jw);
}

static void json_rates(struct json_writer *jw, const struct sched_snapshot *snap,
		       const struct sched_thread *tot,
		       const struct sched_report_opts *opts)
{
	double s = window_s(snap), n = (double)opts->requests;

	jw_name(jw, "per_second");
	jw_start_object(jw);
	jw_float_field(jw, "voluntary", s > 0 ? tot->nvcsw / s : 0);
	jw_float_field(jw, "involuntary", s > 0 ? tot->nivcsw / s : 0);
	jw_float_field(jw, "oncpu_ns", s > 0 ? tot->oncpu_ns / s : 0);
	jw_float_field(jw, "offcpu_ns", s > 0 ? tot->offcpu_ns / s : 0);
	jw_end_object(jw);
	if (!opts->requests)
		return;
	jw_name(jw, "per_request");
	jw_start_object(jw);
	jw_uint_field(jw, "requests", opts->requests);
	jw_float_field(jw, "switches", (tot->nvcsw + tot->nivcsw) / n);
	jw_float_field(jw, "voluntary", tot->nvcsw / n);
	jw_float_field(jw, "involuntary", tot->nivcsw / n);
	jw_float_field(jw, "oncpu_ns", tot->oncpu_ns / n);
	jw_float_field(jw, "offcpu_ns", tot->offcpu_ns / n);
	jw_end_object(jw);
}

static void json_cpus(struct json_writer *jw, const struct sched_snapshot *snap)
{
	int c;

	jw_name(jw, "cpus");
	jw_start_array(jw);
	for (c = 0; c < snap->ncpus; c++) {
		jw_start_object(jw);
		jw_int_field(jw, "cpu", c);
		jw_uint_field(jw, "idle_ns", snap->cpus[c].idle_ns);
		jw_float_field(jw, "idle_pct", idle_pct(snap, snap->cpus[c].idle_ns));
		jw_uint_field(jw, "switches", snap->cpus[c].switches);
		jw_end_object(jw);
	}
	jw_end_array(jw);
}

void sched_report_json(struct json_writer *jw, const struct sched_snapshot *snap,
		       const struct sched_report_opts *opts)
{
	struct sched_thread tot;

	sched_snapshot_total(snap, &tot);
	jw_uint_field(jw, "window_ns", snap->end_ns - snap->start_ns);
	json_threads(jw, snap);
	jw_name(jw, "total");
	jw_start_object(jw);
	jw_uint_field(jw, "threads", snap->nthreads);
	json_counters(jw, &tot);
	jw_end_object(jw);
	json_rates(jw, snap, &tot, opts);
	json_cpus(jw, snap);
	jw_log2_hist(jw, "runq_hist_usecs", tot.runq_hist, SCHED_HIST_SLOTS);
	jw_log2_hist(jw, "offcpu_hist_usecs", tot.offcpu_hist,
		     SCHED_HIST_SLOTS);
	jw_uint_field(jw, "lost_events", snap->lost_threads);
	jw_uint_field(jw, "lost_forks", snap->lost_tgids);
	jw_uint_field(jw, "missed_events", snap->missed_events);
	jw_uint_field(jw, "repaired_switches", snap->repaired);
}

// SPDX-License-Identifier: MIT
/*
 * task_top.c - snapshots of a process's await-site counts and worker
 * counters, the report over a window, and its table and JSON renderings.
 * Column meanings: Documentation/rtasync-trace.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "task_top.h"
#include "trace.h"

/* struct rt_stats, field by field, for JSON and for differences. */
static const struct {
	const char *name;
	size_t off;
} stat_fields[] = {
#define F(x) { #x, offsetof(struct rt_stats, x) }
	F(spawned), F(completed), F(resumes), F(suspends), F(yields), F(waits),
	F(trampolines), F(steals), F(stolen), F(rseq_aborts), F(overflows),
	F(donated), F(inbox), F(parks), F(wakes_msg_ring), F(wakes_eventfd),
	F(timers_fired), F(cancels), F(unstarted),
	F(io_submitted), F(io_completed), F(io_cancelled), F(io_timeouts),
	F(cq_overflows),
#undef F
};
#define NFIELDS (sizeof(stat_fields) / sizeof(stat_fields[0]))

static uint64_t *stat_at(struct rt_stats *st, size_t i)
{
	return (uint64_t *)((char *)st + stat_fields[i].off);
}

static uint64_t stat_get(const struct rt_stats *st, size_t i)
{
	return *(const uint64_t *)((const char *)st + stat_fields[i].off);
}

static uint64_t sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* ---- per-op I/O counters ----------------------------------------------- */

static const char *const io_kind_names[] = RT_IO_KIND_NAMES;
#define IO_KINDS (sizeof(io_kind_names) / sizeof(io_kind_names[0]))

/* A worker's per-op counters; each word has a single writer. */
static void io_read(const struct task_area *a, unsigned int w,
		    struct rt_io_counts *io)
{
	const struct rt_io_counts *src = &task_worker(a, w)->io;

	memset(io, 0, sizeof(*io));
	for (size_t k = 0; k < IO_KINDS; k++) {
		io->submitted[k] = __atomic_load_n(&src->submitted[k],
						   __ATOMIC_RELAXED);
		io->completed[k] = __atomic_load_n(&src->completed[k],
						   __ATOMIC_RELAXED);
		io->cancelled[k] = __atomic_load_n(&src->cancelled[k],
						   __ATOMIC_RELAXED);
	}
}

static uint64_t sub(uint64_t a, uint64_t b);

/* win = cur - before (NULL: cur), and both added into the totals. */
static void io_window(struct task_top_worker *w,
		      const struct task_top_worker *before,
		      struct task_top_worker *total)
{
	for (size_t k = 0; k < IO_KINDS; k++) {
		w->io_win.submitted[k] = sub(w->io.submitted[k],
			before ? before->io.submitted[k] : 0);
		w->io_win.completed[k] = sub(w->io.completed[k],
			before ? before->io.completed[k] : 0);
		w->io_win.cancelled[k] = sub(w->io.cancelled[k],
			before ? before->io.cancelled[k] : 0);
		total->io.submitted[k] += w->io.submitted[k];
		total->io.completed[k] += w->io.completed[k];
		total->io.cancelled[k] += w->io.cancelled[k];
		total->io_win.submitted[k] += w->io_win.submitted[k];
	}
}

/* ---- snapshots ------------------------------------------------------------ */

int task_top_snapshot(const struct task_proc *p, struct task_top_snap *s)
{
	struct task_top_worker *w;
	unsigned int i, k;

	memset(s, 0, sizeof(*s));
	s->nids = task_proc_sites_max(p);
	s->nworkers = task_proc_nworkers(p);
	s->counts = calloc(s->nids ? s->nids : 1, sizeof(*s->counts));
	s->workers = calloc(s->nworkers ? s->nworkers : 1, sizeof(*s->workers));
	if (!s->counts || !s->workers) {
		task_top_snap_free(s);
		return -ENOMEM;
	}
	s->ts = task_mono_ns();
	task_proc_site_counts(p, s->counts, s->nids);
	s->nareas = p->nareas;
	for (i = 0; i < (unsigned int)p->nareas; i++)
		task_blocking_read(&p->areas[i], &s->blocking[i]);
	w = s->workers;
	for (i = 0; i < (unsigned int)p->nareas; i++) {
		for (k = 0; k < p->areas[i].h.nworkers; k++, w++) {
			w->area = i;
			w->index = k;
			task_worker_read(&p->areas[i], k, &w->st, &w->tid, &w->cpu);
			io_read(&p->areas[i], k, &w->io);
		}
	}
	return 0;
}

void task_top_snap_free(struct task_top_snap *s)
{
	free(s->counts);
	free(s->workers);
	memset(s, 0, sizeof(*s));
}

/* ---- the report ----------------------------------------------------------- */

static int cmp_site(const void *a, const void *b)
{
	const struct task_top_site *x = a, *y = b;

	if (x->window != y->window)
		return x->window > y->window ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int report_sites(struct task_top_report *r, const struct task_proc *p,
			const struct task_top_snap *cur,
			const struct task_top_snap *prev)
{
	uint32_t id;

	r->sites = calloc(cur->nids ? cur->nids : 1, sizeof(*r->sites));
	if (!r->sites)
		return -ENOMEM;
	for (id = 0; id < cur->nids; id++) {
		struct task_top_site *s = &r->sites[r->nsites];
		uint64_t before = id < prev->nids ? prev->counts[id] : 0;

		if (!cur->counts[id])
			continue;
		s->id = id;
		s->count = cur->counts[id];
		s->window = sub(cur->counts[id], before);
		if (id)
			task_site_describe(p, id, &s->d);
		else	/* an op awaited without RT_AWAIT, or the table full */
			snprintf(s->d.func, sizeof(s->d.func), "(no await site)");
		r->nsites++;
	}
	qsort(r->sites, r->nsites, sizeof(*r->sites), cmp_site);
	return 0;
}

static const struct task_top_worker *find_worker(const struct task_top_snap *s,
						 const struct task_top_worker *w)
{
	size_t i;

	for (i = 0; i < s->nworkers; i++)
		if (s->workers[i].area == w->area &&
		    s->workers[i].index == w->index)
			return &s->workers[i];
	return NULL;
}

static void report_workers(struct task_top_report *r,
			   const struct task_top_snap *cur,
			   const struct task_top_snap *prev)
{
	const struct task_top_worker *before;
	size_t i, f;

	for (i = 0; i < r->nworkers; i++) {
		struct task_top_worker *w = &r->workers[i];

		*w = cur->workers[i];
		before = find_worker(prev, w);
		for (f = 0; f < NFIELDS; f++) {
			*stat_at(&w->win, f) = sub(stat_get(&w->st, f),
						   before ? stat_get(&before->st, f) : 0);
			*stat_at(&r->total.st, f) += stat_get(&w->st, f);
			*stat_at(&r->total.win, f) += stat_get(&w->win, f);
		}
		io_window(w, before, &r->total);
	}
}

int task_top_report(struct task_top_report *r, const struct task_proc *p,
		    const struct task_top_snap *cur,
		    const struct task_top_snap *prev)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->pid = p->pid;
	r->nareas = p->nareas;
	r->window_ns = sub(cur->ts, prev->ts);
	err = report_sites(r, p, cur, prev);
	if (err)
		return err;
	r->nworkers = cur->nworkers;
	r->workers = calloc(r->nworkers ? r->nworkers : 1, sizeof(*r->workers));
	if (!r->workers) {
		task_top_report_free(r);
		return -ENOMEM;
	}
	report_workers(r, cur, prev);
	for (int i = 0; i < r->nareas && i < cur->nareas; i++) {
		r->blocking[i].b = cur->blocking[i];
		r->blocking[i].window_completed = sub(cur->blocking[i].completed,
			i < prev->nareas ? prev->blocking[i].completed : 0);
	}
	return 0;
}

void task_top_report_free(struct task_top_report *r)
{
	free(r->sites);
	free(r->workers);
	memset(r, 0, sizeof(*r));
}

/* ---- rendering ----------------------------------------------------------------- */

static double per_second(const struct task_top_report *r, uint64_t n)
{
	return r->window_ns ? n * 1e9 / r->window_ns : 0;
}

static void table_sites(FILE *out, const struct task_top_report *r,
			unsigned int limit)
{
	char where[128];
	size_t i;

	fprintf(out, "%6s %-24s %-28s %12s %12s\n", "SITE", "FUNCTION",
		"FILE:LINE", "SUSPENDS", "PER_SEC");
	for (i = 0; i < r->nsites && (!limit || i < limit); i++) {
		const struct task_top_site *s = &r->sites[i];

		if (s->id)
			snprintf(where, sizeof(where), "%s:%u",
				 task_basename(s->d.file), s->d.line);
		else
			where[0] = '\0';
		fprintf(out, "%6u %-24s %-28s %12" PRIu64 " %12.1f\n", s->id,
			TRACE_PRINTABLE(s->d.func), TRACE_PRINTABLE(where),
			s->count, per_second(r, s->window));
	}
	if (i < r->nsites)
		fprintf(out, "%6s (%zu more sites: -n 0 shows all)\n", "",
			r->nsites - i);
}

static void table_worker(FILE *out, const char *name,
			 const struct task_top_worker *w, const char *tid,
			 const char *cpu, const struct task_top_report *r)
{
	fprintf(out, "%-7s %7s %4s %10" PRIu64 " %10" PRIu64 " %11" PRIu64
		" %11" PRIu64 " %10" PRIu64 " %7" PRIu64 " %8" PRIu64
		" %8" PRIu64 " %12.1f\n", name, tid, cpu, w->st.spawned,
		w->st.completed, w->st.resumes, w->st.suspends, w->st.yields,
		w->st.steals, w->st.parks,
		w->st.wakes_msg_ring + w->st.wakes_eventfd,
		per_second(r, w->win.resumes));
}

static void table_workers(FILE *out, const struct task_top_report *r)
{
	char name[32], tid[16], cpu[16];
	size_t i;

	fprintf(out, "%-7s %7s %4s %10s %10s %11s %11s %10s %7s %8s %8s %12s\n",
		"WORKER", "TID", "CPU", "SPAWNED", "COMPLETED", "RESUMES",
		"SUSPENDS", "YIELDS", "STEALS", "PARKS", "WAKES", "RESUMES/s");
	for (i = 0; i < r->nworkers; i++) {
		const struct task_top_worker *w = &r->workers[i];

		snprintf(name, sizeof(name), "%u:%u", w->area, w->index);
		snprintf(tid, sizeof(tid), "%u", w->tid);
		if (w->cpu >= 0)
			snprintf(cpu, sizeof(cpu), "%d", w->cpu);
		else
			snprintf(cpu, sizeof(cpu), "-");
		table_worker(out, name, w, tid, cpu, r);
	}
	table_worker(out, "TOTAL", &r->total, "", "", r);
}

/* Per op kind, all workers: only the kinds that were used. */
static void table_io(FILE *out, const struct task_top_report *r)
{
	const struct rt_io_counts *io = &r->total.io;
	bool any = false;

	for (size_t k = 0; k < IO_KINDS; k++) {
		if (!io->submitted[k])
			continue;
		if (!any)
			fprintf(out, "\n%-9s %12s %12s %10s %12s\n", "IO_OP",
				"SUBMITTED", "COMPLETED", "CANCELLED",
				"SUBMITS/s");
		any = true;
		fprintf(out, "%-9s %12" PRIu64 " %12" PRIu64 " %10" PRIu64
			" %12.1f\n", io_kind_names[k], io->submitted[k],
			io->completed[k], io->cancelled[k],
			per_second(r, r->total.io_win.submitted[k]));
	}
	fprintf(out, "%sCQ overflows %" PRIu64 ", I/O deadlines expired %"
		PRIu64 "\n", any ? "" : "\n", r->total.st.cq_overflows,
		r->total.st.io_timeouts);
}

/* Each runtime's blocking pool, if it started one. */
static void table_blocking(FILE *out, const struct task_top_report *r)
{
	bool any = false;

	for (int i = 0; i < r->nareas; i++) {
		const struct task_top_blocking *p = &r->blocking[i];

		if (!p->b.max && !p->b.queued)
			continue;	/* no rt_op_spawn_blocking yet */
		if (!any)
			fprintf(out, "\n%-8s %7s %5s %8s %8s %12s %9s %10s\n",
				"BLOCKING", "THREADS", "MAX", "RUNNING",
				"WAITING", "CALLS", "SKIPPED", "CALLS/s");
		any = true;
		fprintf(out, "%-8d %7u %5u %8" PRIu64 " %8" PRIu64 " %12" PRIu64
			" %9" PRIu64 " %10.1f\n", i, p->b.threads, p->b.max,
			task_blocking_running(&p->b),
			task_blocking_waiting(&p->b), p->b.completed,
			p->b.skipped, per_second(r, p->window_completed));
	}
}

void task_top_table(FILE *out, const struct task_top_report *r,
		    unsigned int limit)
{
	fprintf(out, "Window %.3f s, pid %d: %d runtime%s, %zu workers, "
		"%zu await sites\n\n", r->window_ns / 1e9, (int)r->pid,
		r->nareas, r->nareas == 1 ? "" : "s", r->nworkers, r->nsites);
	table_sites(out, r, limit);
	fputc('\n', out);
	table_workers(out, r);
	table_io(out, r);
	table_blocking(out, r);
}

void task_stats_json(struct json_writer *jw, const struct rt_stats *st)
{
	size_t f;

	for (f = 0; f < NFIELDS; f++)
		jw_uint_field(jw, stat_fields[f].name, stat_get(st, f));
}

/* "io": the ring's overflows, and every op kind's counters. */
static void json_io(struct json_writer *jw, const struct task_top_worker *w)
{
	jw_name(jw, "io");
	jw_start_object(jw);
	jw_uint_field(jw, "cq_overflows", w->st.cq_overflows);
	jw_uint_field(jw, "deadlines_expired", w->st.io_timeouts);
	jw_name(jw, "ops");
	jw_start_array(jw);
	for (size_t k = 0; k < IO_KINDS; k++) {
		jw_start_object(jw);
		jw_string_field(jw, "op", io_kind_names[k]);
		jw_uint_field(jw, "submitted", w->io.submitted[k]);
		jw_uint_field(jw, "completed", w->io.completed[k]);
		jw_uint_field(jw, "cancelled", w->io.cancelled[k]);
		jw_uint_field(jw, "window_submitted", w->io_win.submitted[k]);
		jw_end_object(jw);
	}
	jw_end_array(jw);
	jw_end_object(jw);
}

static void json_worker(struct json_writer *jw, const struct task_top_report *r,
			const struct task_top_worker *w)
{
	jw_name(jw, "counters");
	jw_start_object(jw);
	task_stats_json(jw, &w->st);
	jw_end_object(jw);
	jw_name(jw, "window");
	jw_start_object(jw);
	task_stats_json(jw, &w->win);
	jw_end_object(jw);
	jw_name(jw, "per_second");
	jw_start_object(jw);
	jw_float_field(jw, "resumes", per_second(r, w->win.resumes));
	jw_float_field(jw, "suspends", per_second(r, w->win.suspends));
	jw_end_object(jw);
	json_io(jw, w);
}

static void json_sites(struct json_writer *jw, const struct task_top_report *r)
{
	size_t i;

	jw_name(jw, "sites");
	jw_start_array(jw);
	for (i = 0; i < r->nsites; i++) {
		const struct task_top_site *s = &r->sites[i];

		jw_start_object(jw);
		jw_uint_field(jw, "id", s->id);
		jw_string_field(jw, "func", s->d.func);
		jw_string_field(jw, "file", s->id ? s->d.file : "");
		jw_uint_field(jw, "line", s->d.line);
		jw_uint_field(jw, "suspends", s->count);
		jw_uint_field(jw, "window_suspends", s->window);
		jw_float_field(jw, "per_second", per_second(r, s->window));
		jw_end_object(jw);
	}
	jw_end_array(jw);
}

static void json_blocking(struct json_writer *jw,
			  const struct task_top_report *r)
{
	jw_name(jw, "blocking");
	jw_start_array(jw);
	for (int i = 0; i < r->nareas; i++) {
		const struct task_top_blocking *p = &r->blocking[i];

		jw_start_object(jw);
		jw_uint_field(jw, "runtime", (unsigned int)i);
		jw_uint_field(jw, "threads", p->b.threads);
		jw_uint_field(jw, "max", p->b.max);
		jw_uint_field(jw, "running", task_blocking_running(&p->b));
		jw_uint_field(jw, "waiting", task_blocking_waiting(&p->b));
		jw_uint_field(jw, "queued", p->b.queued);
		jw_uint_field(jw, "started", p->b.started);
		jw_uint_field(jw, "completed", p->b.completed);
		jw_uint_field(jw, "skipped", p->b.skipped);
		jw_uint_field(jw, "window_completed", p->window_completed);
		jw_end_object(jw);
	}
	jw_end_array(jw);
}

void task_top_json(struct json_writer *jw, const struct task_top_report *r)
{
	size_t i;

	jw_int_field(jw, "pid", r->pid);
	jw_int_field(jw, "runtimes", r->nareas);
	jw_uint_field(jw, "window_ns", r->window_ns);
	json_sites(jw, r);
	jw_name(jw, "workers");
	jw_start_array(jw);
	for (i = 0; i < r->nworkers; i++) {
		const struct task_top_worker *w = &r->workers[i];

		jw_start_object(jw);
		jw_uint_field(jw, "runtime", w->area);
		jw_uint_field(jw, "worker", w->index);
		jw_uint_field(jw, "tid", w->tid);
		jw_int_field(jw, "cpu", w->cpu);
		json_worker(jw, r, w);
		jw_end_object(jw);
	}
	jw_end_array(jw);
	jw_name(jw, "total");
	jw_start_object(jw);
	json_worker(jw, r, &r->total);
	jw_end_object(jw);
	json_blocking(jw, r);
}

/* ---- Prometheus text exposition ------------------------------------------- */

/*
 * A label value: the target's bytes made printable (\xNN, as in the
 * table), then the format's escapes, so that the file always parses.
 */
static void prom_label(FILE *out, const char *name, const char *value,
		       bool comma)
{
	const char *v = TRACE_PRINTABLE(value);

	fprintf(out, "%s%s=\"", comma ? "," : "", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', out);
		fputc(*v, out);
	}
	fputc('"', out);
}

static void prom_worker(FILE *out, const struct task_top_report *r,
			const struct task_top_worker *w, size_t f)
{
	fprintf(out, "rtasync_worker_%s_total{pid=\"%d\",runtime=\"%u\","
		"worker=\"%u\",tid=\"%u\"} %" PRIu64 "\n", stat_fields[f].name,
		(int)r->pid, w->area, w->index, w->tid, stat_get(&w->st, f));
}

static void prom_sites(FILE *out, const struct task_top_report *r)
{
	char line[16];
	size_t i;

	fprintf(out, "# HELP rtasync_site_suspends_total Suspensions at an "
		"await site since the runtime started.\n"
		"# TYPE rtasync_site_suspends_total counter\n");
	for (i = 0; i < r->nsites; i++) {
		const struct task_top_site *s = &r->sites[i];

		snprintf(line, sizeof(line), "%u", s->d.line);
		fprintf(out, "rtasync_site_suspends_total{pid=\"%d\",site=\"%u\"",
			(int)r->pid, s->id);
		prom_label(out, "func", s->d.func, true);
		prom_label(out, "file", s->id ? task_basename(s->d.file) : "",
			   true);
		prom_label(out, "line", line, true);
		fprintf(out, "} %" PRIu64 "\n", s->count);
	}
}

/* rtasync_io_{submitted,completed,cancelled}_total{...,op}: per op kind. */
static void prom_io(FILE *out, const struct task_top_report *r)
{
	static const char *const fields[] = { "submitted", "completed",
					      "cancelled" };

	for (size_t f = 0; f < 3; f++) {
		fprintf(out, "# HELP rtasync_io_%s_total librtasync I/O ops %s, "
			"per op kind (Documentation/rtasync-trace.md).\n"
			"# TYPE rtasync_io_%s_total counter\n", fields[f],
			fields[f], fields[f]);
		for (size_t i = 0; i < r->nworkers; i++) {
			const struct task_top_worker *w = &r->workers[i];
			const uint64_t *v = f == 0 ? w->io.submitted :
					    f == 1 ? w->io.completed :
					    w->io.cancelled;

			for (size_t k = 0; k < IO_KINDS; k++)
				fprintf(out, "rtasync_io_%s_total{pid=\"%d\","
					"runtime=\"%u\",worker=\"%u\","
					"op=\"%s\"} %" PRIu64 "\n", fields[f],
					(int)r->pid, w->area, w->index,
					io_kind_names[k], v[k]);
		}
	}
}

/*
 * rtasync_blocking_*: each runtime's blocking pool, gauges for what it
 * has now and counters of its calls.
 */
static void prom_blocking(FILE *out, const struct task_top_report *r)
{
	static const char *const names[] = { "threads", "running", "waiting",
		"queued_total", "started_total", "completed_total",
		"skipped_total" };

	for (size_t f = 0; f < 7; f++) {
		fprintf(out, "# HELP rtasync_blocking_%s librtasync blocking pool: "
			"%s (Documentation/rtasync-trace.md).\n"
			"# TYPE rtasync_blocking_%s %s\n", names[f], names[f],
			names[f], f < 3 ? "gauge" : "counter");
		for (int i = 0; i < r->nareas; i++) {
			const struct rt_trace_blocking *b = &r->blocking[i].b;
			const uint64_t v[] = { b->threads,
				task_blocking_running(b),
				task_blocking_waiting(b), b->queued,
				b->started, b->completed, b->skipped };

			fprintf(out, "rtasync_blocking_%s{pid=\"%d\",runtime="
				"\"%d\"} %" PRIu64 "\n", names[f], (int)r->pid,
				i, v[f]);
		}
	}
}

/*
 * Counters since each runtime started, one family per struct rt_stats
 * field, for node_exporter's textfile collector (write to a temporary
 * file, then rename it into the collector's directory).
 */
void task_top_prometheus(FILE *out, const struct task_top_report *r)
{
	size_t f, i;

	for (f = 0; f < NFIELDS; f++) {
		fprintf(out, "# HELP rtasync_worker_%s_total librtasync worker "
			"counter %s (Documentation/api.md, struct rt_stats).\n"
			"# TYPE rtasync_worker_%s_total counter\n",
			stat_fields[f].name, stat_fields[f].name,
			stat_fields[f].name);
		for (i = 0; i < r->nworkers; i++)
			prom_worker(out, r, &r->workers[i], f);
	}
	prom_sites(out, r);
	prom_io(out, r);
	prom_blocking(out, r);
}

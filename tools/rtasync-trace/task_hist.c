// SPDX-License-Identifier: MIT
/*
 * task_hist.c - suspend-time histograms per await site from the event
 * records, and their table and JSON renderings (see task_hist.h).
 *
 * Records of one worker come in order; records of different workers
 * interleave as the tool drains them, but a task's two steps are paired
 * by task id, whatever workers ran them.  A task id is the task's address,
 * which the runtime reuses once a task is done: a "done" record closes
 * the id, so a new task at that address starts afresh.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "task_hist.h"
#include "trace.h"

/* Tasks followed at once: far above a real runtime's, bounds a hostile one. */
#define TASK_HIST_MAX_TASKS (1u << 22)

struct task_hist_last {
	uint64_t task;		/* 0: free slot */
	uint64_t ts;
	uint32_t site;
	uint32_t epoch;		/* h->epoch when it was recorded */
	uint8_t reason;
};

static const char *const reason_names[TASK_NREASONS] = {
	[RT_TRACE_DONE] = "done",
	[RT_TRACE_YIELD] = "yield",
	[RT_TRACE_SLEEP] = "sleep",
	[RT_TRACE_JOIN] = "join",
	[RT_TRACE_TRAMPOLINE] = "trampoline",
	[RT_TRACE_WAIT] = "wait",
};

const char *task_reason_name(unsigned int reason)
{
	return reason < TASK_NREASONS ? reason_names[reason] : "?";
}

unsigned int task_log2_slot(uint64_t v, unsigned int nslots)
{
	unsigned int slot = v > 1 ? 63 - (unsigned int)__builtin_clzll(v) : 0;

	return slot < nslots ? slot : nslots - 1;
}

int task_hist_init(struct task_hist *h, const struct task_proc *p)
{
	uint32_t nids = task_proc_sites_max(p);

	memset(h, 0, sizeof(*h));
	h->proc = p;
	h->nids = nids;
	h->sites = calloc(nids ? nids : 1, sizeof(*h->sites));
	h->cap = 1024;
	h->last = calloc(h->cap, sizeof(*h->last));
	if (!h->sites || !h->last) {
		task_hist_free(h);
		return -ENOMEM;
	}
	h->start_ns = task_mono_ns();
	return 0;
}

void task_hist_reset(struct task_hist *h)
{
	memset(h->sites, 0, h->nids * sizeof(*h->sites));
	memset(h->reasons, 0, sizeof(h->reasons));
	h->records = h->dropped = h->gaps = 0;
	h->start_ns = h->end_ns ? h->end_ns : task_mono_ns();
	h->end_ns = 0;
}

void task_hist_free(struct task_hist *h)
{
	free(h->sites);
	free(h->last);
	memset(h, 0, sizeof(*h));
}

/* ---- the tasks' last steps ---------------------------------------------------- */

static size_t slot_of(uint64_t task, size_t cap)
{
	/* task ids are addresses: mix the low bits, which alignment zeroes */
	return (size_t)((task >> 4) * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

static struct task_hist_last *last_find(struct task_hist_last *v, size_t cap,
					uint64_t task)
{
	size_t i = slot_of(task, cap);

	while (v[i].task && v[i].task != task)
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static int last_grow(struct task_hist *h)
{
	size_t cap = h->cap * 2, i;
	struct task_hist_last *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (i = 0; i < h->cap; i++)
		if (h->last[i].task)
			*last_find(v, cap, h->last[i].task) = h->last[i];
	free(h->last);
	h->last = v;
	h->cap = cap;
	return 0;
}

static struct task_hist_last *last_get(struct task_hist *h, uint64_t task)
{
	struct task_hist_last *e;

	/* 0 marks a free slot; a target may write it, or ids without end */
	if (!task)
		return NULL;
	if (2 * (h->used + 1) > h->cap &&
	    (h->cap >= TASK_HIST_MAX_TASKS || last_grow(h)))
		return NULL;	/* out of room: this sample is lost */
	e = last_find(h->last, h->cap, task);
	if (!e->task) {
		e->task = task;
		e->reason = RT_TRACE_DONE;	/* nothing to pair with yet */
		h->used++;
	}
	return e;
}

/* ---- records ---------------------------------------------------------------- */

static void sample(struct task_hist *h, const struct task_hist_last *prev,
		   uint64_t ts)
{
	struct task_hist_site *s = &h->sites[prev->site];
	/* turn timestamps of two workers: the later turn may have begun first */
	uint64_t ns = ts > prev->ts ? ts - prev->ts : 0;

	s->samples++;
	s->total_ns += ns;
	if (ns > s->max_ns)
		s->max_ns = ns;
	s->hist[task_log2_slot(ns / 1000, TASK_HIST_SLOTS)]++;
}

void task_hist_add(void *ctx, unsigned int area, const struct task_record *rec,
		   uint64_t gap)
{
	struct task_hist *h = ctx;
	struct task_hist_last *e;
	uint32_t site = task_site_gid(h->proc, area, rec->site);

	if (site >= h->nids)
		site = 0;
	/* steps were lost: no task's next record may be its next step */
	if (gap) {
		h->epoch++;
		h->gaps++;
	}
	h->records++;
	h->reasons[rec->reason < TASK_NREASONS ? rec->reason : RT_TRACE_WAIT]++;
	if (rec->reason != RT_TRACE_DONE)
		h->sites[site].suspends++;
	e = last_get(h, rec->task);
	if (!e)
		return;
	if (e->reason != RT_TRACE_DONE && e->epoch == h->epoch)
		sample(h, e, rec->ts);
	e->epoch = h->epoch;
	e->ts = rec->ts;
	e->site = site;
	e->reason = rec->reason;
}

/* ---- rendering ------------------------------------------------------------------ */

static int cmp_by_samples(const void *a, const void *b, void *ctx)
{
	const struct task_hist_site *s = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (s[x].samples != s[y].samples)
		return s[x].samples > s[y].samples ? -1 : 1;
	if (s[x].suspends != s[y].suspends)
		return s[x].suspends > s[y].suspends ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Ids of the sites with records, busiest first; the caller frees. */
static uint32_t *sites_in_use(const struct task_hist *h, size_t *n)
{
	uint32_t *ids = calloc(h->nids ? h->nids : 1, sizeof(*ids));
	uint32_t id;

	*n = 0;
	if (!ids)
		return NULL;
	for (id = 0; id < h->nids; id++)
		if (h->sites[id].suspends || h->sites[id].samples)
			ids[(*n)++] = id;
	qsort_r(ids, *n, sizeof(*ids), cmp_by_samples, h->sites);
	return ids;
}

static uint64_t avg_ns(const struct task_hist_site *s)
{
	return s->samples ? s->total_ns / s->samples : 0;
}

static void table_reasons(FILE *out, const struct task_hist *h)
{
	unsigned int r;

	fprintf(out, "Steps by how they ended:");
	for (r = 0; r < TASK_NREASONS; r++)
		fprintf(out, "%s %s %" PRIu64, r ? "," : "", reason_names[r],
			h->reasons[r]);
	fputc('\n', out);
}

void task_hist_table(FILE *out, const struct task_hist *h,
		     const struct task_proc *p)
{
	char label[200];
	uint32_t *ids;
	size_t n, i;

	fprintf(out, "Suspend time per await site, pid %d, window %.3f s\n",
		(int)p->pid, (h->end_ns - h->start_ns) / 1e9);
	ids = sites_in_use(h, &n);
	for (i = 0; ids && i < n; i++) {
		const struct task_hist_site *s = &h->sites[ids[i]];

		fprintf(out, "\nsite %u: %s\n  %" PRIu64 " suspensions, %" PRIu64
			" resumed; avg %.3f us, max %.3f us\n", ids[i],
			TRACE_PRINTABLE(task_site_label(p, ids[i], label,
							sizeof(label))),
			s->suspends, s->samples, avg_ns(s) / 1e3, s->max_ns / 1e3);
		trace_print_log2_hist(out, s->hist, TASK_HIST_SLOTS, "usecs");
	}
	if (!n)
		fprintf(out, "\n(no task steps recorded)\n");
	free(ids);
	fprintf(out, "\nRecords: %" PRIu64 " read, %" PRIu64 " dropped (ring "
		"overflow) in %" PRIu64 " gaps; sampling 1 step in %u\n",
		h->records, h->dropped, h->gaps, 1u << h->sample_shift);
	table_reasons(out, h);
}

static void json_site(struct json_writer *jw, const struct task_hist *h,
		      const struct task_proc *p, uint32_t id)
{
	const struct task_hist_site *s = &h->sites[id];
	struct task_site_desc d = { "", "", 0 };

	if (id)
		task_site_describe(p, id, &d);
	jw_start_object(jw);
	jw_uint_field(jw, "id", id);
	jw_string_field(jw, "func", d.func);
	jw_string_field(jw, "file", d.file);
	jw_uint_field(jw, "line", d.line);
	jw_uint_field(jw, "suspends", s->suspends);
	jw_uint_field(jw, "samples", s->samples);
	jw_uint_field(jw, "total_ns", s->total_ns);
	jw_uint_field(jw, "avg_ns", avg_ns(s));
	jw_uint_field(jw, "max_ns", s->max_ns);
	jw_log2_hist(jw, "hist_usecs", s->hist, TASK_HIST_SLOTS);
	jw_end_object(jw);
}

void task_hist_json(struct json_writer *jw, const struct task_hist *h,
		    const struct task_proc *p)
{
	uint32_t *ids;
	unsigned int r;
	size_t n, i;

	jw_int_field(jw, "pid", p->pid);
	jw_uint_field(jw, "window_ns", h->end_ns - h->start_ns);
	jw_uint_field(jw, "sample_shift", h->sample_shift);
	jw_uint_field(jw, "records", h->records);
	jw_uint_field(jw, "dropped", h->dropped);
	jw_uint_field(jw, "gaps", h->gaps);
	jw_name(jw, "reasons");
	jw_start_object(jw);
	for (r = 0; r < TASK_NREASONS; r++)
		jw_uint_field(jw, reason_names[r], h->reasons[r]);
	jw_end_object(jw);
	jw_name(jw, "sites");
	jw_start_array(jw);
	ids = sites_in_use(h, &n);
	for (i = 0; ids && i < n; i++)
		json_site(jw, h, p, ids[i]);
	free(ids);
	jw_end_array(jw);
}

// SPDX-License-Identifier: MIT
/*
 * record.c - `rtasync-trace record`: the runtime's event records
 * as a Chrome/Perfetto trace (the JSON "Trace Event Format", which
 * ui.perfetto.dev and chrome://tracing open).
 *
 * One track per worker thread (pid = the process, tid = the worker's),
 * one complete slice ("ph": "X") per task step, named by the await site
 * the step suspended at, or "done".  The runtime timestamps a loop turn,
 * not each step, so a step is placed by its index in the turn: it starts
 * at turn + step x width and lasts width, where width is 1 us, or less
 * when the next turn on that worker begins sooner (the steps then share
 * the turn evenly).  Slices show order and turn, not measured lengths.
 *
 * Records are written as they are drained; a worker's current turn is
 * held back until its next turn (or the end) says how long it was.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "task_cmd.h"
#include "task_hist.h"

#define MAX_WIDTH_NS 1000.0

/* A worker's track: the records of its current turn, held back. */
struct rec_track {
	uint32_t tid;
	unsigned int area;		/* whose ring: its site ids */
	size_t n, cap;
	struct task_record *turn;
};

struct rec_ctx {
	struct task_ctx *c;
	struct json_writer jw;
	FILE *out;
	uint64_t t0;		/* CLOCK_MONOTONIC ns of events on: ts 0 */
	size_t area_base[TASK_MAX_AREAS];	/* first track of each area */
	size_t ntracks;
	struct rec_track *tracks;
	uint64_t slices, gaps;
	bool nomem;
};

static double us_since(const struct rec_ctx *r, double ns)
{
	return ns > (double)r->t0 ? (ns - (double)r->t0) / 1e3 : 0;
}

static void slice_name(const struct rec_ctx *r, const struct rec_track *t,
		       const struct task_record *rec, char *buf, size_t len)
{
	if (rec->reason == RT_TRACE_DONE)
		snprintf(buf, len, "done");
	else
		task_site_label(&r->c->proc,
				task_site_gid(&r->c->proc, t->area, rec->site),
				buf, len);
}

static void emit_slice(struct rec_ctx *r, const struct rec_track *t,
		       const struct task_record *rec, double width)
{
	struct json_writer *jw = &r->jw;
	char name[200];

	slice_name(r, t, rec, name, sizeof(name));
	jw_start_object(jw);
	jw_string_field(jw, "name", name);
	jw_string_field(jw, "cat", task_reason_name(rec->reason));
	jw_string_field(jw, "ph", "X");
	/* microseconds, to the nanosecond however long the recording */
	jw_fixed_field(jw, "ts", us_since(r, rec->ts + rec->step * width), 3);
	jw_fixed_field(jw, "dur", width / 1e3, 3);
	jw_int_field(jw, "pid", r->c->pid);
	jw_uint_field(jw, "tid", t->tid);
	jw_name(jw, "args");
	jw_start_object(jw);
	jw_hex_field(jw, "task", rec->task);
	jw_uint_field(jw, "site", rec->site);
	jw_string_field(jw, "reason", task_reason_name(rec->reason));
	jw_uint_field(jw, "step", rec->step);
	jw_uint_field(jw, "seq", rec->seq);
	jw_end_object(jw);
	jw_end_object(jw);
	r->slices++;
}

/* Write out a track's held turn; next_ts: when its next turn began (0: unknown). */
static void flush_turn(struct rec_ctx *r, struct rec_track *t, uint64_t next_ts)
{
	double width = MAX_WIDTH_NS;
	unsigned int steps;
	size_t i;

	if (!t->n)
		return;
	steps = t->turn[t->n - 1].step + 1u;
	if (next_ts > t->turn[0].ts &&
	    (double)(next_ts - t->turn[0].ts) / steps < width)
		width = (double)(next_ts - t->turn[0].ts) / steps;
	for (i = 0; i < t->n; i++)
		emit_slice(r, t, &t->turn[i], width);
	t->n = 0;
}

static void emit_gap(struct rec_ctx *r, const struct rec_track *t, uint64_t ts,
		     uint64_t gap)
{
	char name[64];

	snprintf(name, sizeof(name), "%" PRIu64 " records dropped", gap);
	jw_start_object(&r->jw);
	jw_string_field(&r->jw, "name", name);
	jw_string_field(&r->jw, "ph", "i");
	jw_string_field(&r->jw, "s", "t");
	jw_fixed_field(&r->jw, "ts", us_since(r, (double)ts), 3);
	jw_int_field(&r->jw, "pid", r->c->pid);
	jw_uint_field(&r->jw, "tid", t->tid);
	jw_end_object(&r->jw);
	r->gaps += gap;
}

static void track_hold(struct rec_ctx *r, struct rec_track *t,
		       const struct task_record *rec)
{
	void *tmp;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;

		tmp = realloc(t->turn, cap * sizeof(*t->turn));
		if (!tmp) {
			r->nomem = true;
			emit_slice(r, t, rec, MAX_WIDTH_NS);	/* unheld */
			return;
		}
		t->turn = tmp;
		t->cap = cap;
	}
	t->turn[t->n++] = *rec;
}

static void record_add(void *ctx, unsigned int area,
		       const struct task_record *rec, uint64_t gap)
{
	struct rec_ctx *r = ctx;
	size_t idx = r->area_base[area] + rec->worker;
	struct rec_track *t;

	if (area >= TASK_MAX_AREAS || idx >= r->ntracks)
		return;
	t = &r->tracks[idx];
	if (gap) {
		flush_turn(r, t, 0);
		emit_gap(r, t, rec->ts, gap);
	}
	/* a new turn: a new timestamp, or the step index starting over */
	if (t->n && (rec->ts != t->turn[0].ts ||
		     rec->step <= t->turn[t->n - 1].step))
		flush_turn(r, t, rec->ts);
	track_hold(r, t, rec);
}

/* ---- the file --------------------------------------------------------------- */

static void emit_meta(struct rec_ctx *r, const char *what, uint32_t tid,
		      const char *name)
{
	jw_start_object(&r->jw);
	jw_string_field(&r->jw, "name", what);
	jw_string_field(&r->jw, "ph", "M");
	jw_int_field(&r->jw, "pid", r->c->pid);
	jw_uint_field(&r->jw, "tid", tid);
	jw_name(&r->jw, "args");
	jw_start_object(&r->jw);
	jw_string_field(&r->jw, "name", name);
	jw_end_object(&r->jw);
	jw_end_object(&r->jw);
}

static int tracks_init(struct rec_ctx *r)
{
	const struct task_proc *p = &r->c->proc;
	struct rec_track *t;
	char name[64];
	unsigned int w;
	int a;

	r->ntracks = task_proc_nworkers(p);
	r->tracks = calloc(r->ntracks ? r->ntracks : 1, sizeof(*r->tracks));
	if (!r->tracks)
		return -ENOMEM;
	snprintf(name, sizeof(name), "librtasync pid %d", (int)p->pid);
	emit_meta(r, "process_name", (uint32_t)p->pid, name);
	t = r->tracks;
	for (a = 0; a < p->nareas; a++) {
		r->area_base[a] = (size_t)(t - r->tracks);
		for (w = 0; w < p->areas[a].h.nworkers; w++, t++) {
			t->tid = task_worker(&p->areas[a], w)->tid;
			t->area = (unsigned int)a;
			snprintf(name, sizeof(name), "worker %d:%u", a, w);
			emit_meta(r, "thread_name", t->tid, name);
		}
	}
	return 0;
}

static void write_footer(struct rec_ctx *r, uint64_t records, uint64_t dropped,
			 uint32_t shift)
{
	struct json_writer *jw = &r->jw;

	jw_end_array(jw);
	jw_string_field(jw, "displayTimeUnit", "ns");
	jw_name(jw, "otherData");
	jw_start_object(jw);
	jw_int_field(jw, "pid", r->c->pid);
	jw_string_field(jw, "clock", "CLOCK_MONOTONIC");
	jw_uint_field(jw, "start_ns", r->t0);
	jw_uint_field(jw, "records", records);
	jw_uint_field(jw, "dropped", dropped);
	jw_uint_field(jw, "sample_shift", shift);
	jw_string_field(jw, "timestamps", "per loop turn: a step starts at its "
			"turn's time + step index x width, width = min(1 us, "
			"time to the worker's next turn / steps in the turn)");
	jw_end_object(jw);
	jw_end_object(jw);
}

static void summary(struct task_ctx *c, const struct rec_ctx *r,
		    uint64_t records, uint64_t dropped, uint32_t shift)
{
	struct json_writer jw;

	if (!c->opts.json) {
		fprintf(r->out == stdout ? stderr : stdout,
			"Wrote %" PRIu64 " task steps to %s: %" PRIu64 " records "
			"read, %" PRIu64 " dropped (ring overflow), sampling 1 "
			"step in %u\n", r->slices, c->output, records, dropped,
			1u << shift);
		return;
	}
	jw_init(&jw, r->out == stdout ? stderr : stdout, c->opts.pretty);
	jw_start_object(&jw);
	jw_string_field(&jw, "output", c->output);
	jw_uint_field(&jw, "slices", r->slices);
	jw_uint_field(&jw, "records", records);
	jw_uint_field(&jw, "dropped", dropped);
	jw_uint_field(&jw, "sample_shift", shift);
	jw_uint_field(&jw, "window_ns", task_mono_ns() - r->t0);
	jw_end_object(&jw);
}

static void record_loop(struct rec_ctx *r, struct task_rings *rings,
			struct trace_loop *l)
{
	enum trace_event ev;
	size_t i;

	do {
		ev = trace_loop_wait(l);
		if (ev == TRACE_EV_END)
			task_events_off(&r->c->proc);	/* then the last drain */
		task_rings_drain(rings, &r->c->proc, record_add, r);
	} while (ev != TRACE_EV_END);
	for (i = 0; i < r->ntracks; i++)
		flush_turn(r, &r->tracks[i], 0);
}

static int record_start(struct rec_ctx *r, struct task_rings *rings)
{
	if (!strcmp(r->c->output, "-")) {
		r->out = stdout;
	} else {
		r->out = fopen(r->c->output, "we");
		if (!r->out) {
			trace_err("cannot write '%s': %s", r->c->output,
				  strerror(errno));
			return TRACE_EXIT_FAIL;
		}
	}
	jw_init(&r->jw, r->out, false);
	jw_start_object(&r->jw);
	jw_name(&r->jw, "traceEvents");
	jw_start_array(&r->jw);
	if (tracks_init(r) || task_rings_start(rings, &r->c->proc))
		return TRACE_EXIT_FAIL;
	return 0;
}

int task_record_run(struct task_ctx *c)
{
	struct rec_ctx r = { .c = c };
	struct task_rings rings = { 0 };
	uint64_t records, dropped;
	struct trace_loop l;
	uint32_t shift;
	int ret;

	ret = record_start(&r, &rings);
	if (ret)
		goto out;
	if (task_loop_init(&l, c, TASK_DRAIN_MS)) {
		ret = TRACE_EXIT_FAIL;
		goto out;
	}
	r.t0 = task_mono_ns();
	task_events_on(&c->proc, c->sample_shift, &shift);
	fprintf(stderr, "Recording task steps of pid %d into %s", (int)c->pid,
		TRACE_PRINTABLE(c->output));
	trace_banner_end(&c->opts);
	record_loop(&r, &rings, &l);
	trace_loop_fini(&l);
	task_rings_count(&rings, &records, &dropped);
	write_footer(&r, records, dropped, shift);
	if (r.nomem)
		trace_err("out of memory: some steps were written without their "
			  "turn's width");
	summary(c, &r, records, dropped, shift);
out:
	if (r.out && r.out != stdout && fclose(r.out) && !ret) {
		trace_err("writing '%s' failed: %s", c->output, strerror(errno));
		ret = TRACE_EXIT_FAIL;
	}
	for (size_t i = 0; i < r.ntracks; i++)
		free(r.tracks[i].turn);
	free(r.tracks);
	task_rings_free(&rings);
	return ret;
}

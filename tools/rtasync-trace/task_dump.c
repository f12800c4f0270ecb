// SPDX-License-Identifier: MIT
/*
 * task_dump.c - walks the frame chains of a live process's suspended
 * tasks (see task_dump.h) and prints them.
 *
 * A frame's caller (include/rtasync.h, runtime/frame.c): caller_off bytes
 * back in the same arena chunk; none if the frame is the root; else the
 * caller pointer in the header of the chunk the frame starts.  The trace
 * area says where the task's head fields and the chunk's caller pointer
 * are, so the walk needs no private header of the runtime.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "task_dump.h"
#include "trace.h"

#define MAX_HEAP (1u << 20)	/* sleeping tasks per worker */
#define CLOCK_EVERY 64		/* frames between looks at the clock */

struct walker {
	const struct task_proc *p;
	const struct rt_trace_header *h;	/* layout: the task's area's */
	struct task_syms *syms;
	unsigned int depth;
	struct task_dump *d;
	uint64_t deadline;			/* CLOCK_MONOTONIC ns */
};

static bool out_of_time(const struct walker *w)
{
	if (task_mono_ns() < w->deadline)
		return false;
	w->d->timed_out = true;
	return true;
}

static int read_u64(const struct walker *w, uint64_t addr, uint64_t *v)
{
	return task_mem_read(w->p->pid, addr, v, sizeof(*v));
}

/* ---- one task -------------------------------------------------------------- */

/* A frame that could be one: aligned, a function in code, known flags. */
static bool frame_ok(const struct walker *w, uint64_t addr,
		     const struct rt_frame *f)
{
	return !(addr & 7) && !(f->caller_off & 7) &&
	       !(f->flags & ~(RT_FRAME_CATCH | RT_FRAME_ROOT |
			      RT_FRAME_CHUNK_FIRST)) &&
	       task_syms_is_code(w->syms, (uint64_t)(uintptr_t)f->fn);
}

static int frame_caller(const struct walker *w, uint64_t addr,
			const struct rt_frame *f, uint64_t *caller)
{
	if (f->caller_off) {
		*caller = addr - f->caller_off;
		return 0;
	}
	if (f->flags & RT_FRAME_ROOT) {
		*caller = 0;
		return 0;
	}
	/* the first frame of a chunk: its caller is in the chunk header */
	if (read_u64(w, addr - w->h->chunk_hdr_size + w->h->chunk_caller_off,
		     caller) || !*caller)
		return -EAGAIN;
	return 0;
}

static int keep_frame(const struct walker *w, struct task_dump_task *t,
		      uint64_t addr, const struct rt_frame *f)
{
	struct task_dump_frame *fr;

	if (t->nframes >= w->depth)
		return 0;
	/* capacity 8, then doubled each time it is reached */
	if (!t->nframes ||
	    (t->nframes >= 8 && !(t->nframes & (t->nframes - 1)))) {
		size_t cap = t->nframes ? 2 * t->nframes : 8;

		fr = realloc(t->frames, cap * sizeof(*fr));
		if (!fr)
			return -ENOMEM;
		t->frames = fr;
	}
	fr = &t->frames[t->nframes++];
	fr->addr = addr;
	fr->fn = (uint64_t)(uintptr_t)f->fn;
	fr->resume = f->resume;
	fr->flags = f->flags;
	task_syms_lookup(w->syms, fr->fn, &fr->sym);
	return 0;
}

/*
 * Brent's cycle check: a frame seen again is a loop, found within twice
 * the loop's length; chains merely too long end at TASK_DUMP_MAX_WALK.
 */
struct loop_check {
	uint64_t saved;
	size_t power, steps;
};

static bool loop_seen(struct loop_check *lc, uint64_t addr)
{
	if (addr == lc->saved)
		return true;
	if (++lc->steps == lc->power) {
		lc->saved = addr;
		lc->power *= 2;
		lc->steps = 0;
	}
	return false;
}

static int walk(const struct walker *w, struct task_dump_task *t, uint64_t top)
{
	struct loop_check lc = { .saved = 0, .power = 1 };
	uint64_t addr = top, caller;
	struct rt_frame f;
	int err;

	for (t->depth = 0; addr; t->depth++) {
		if (t->depth >= TASK_DUMP_MAX_WALK || loop_seen(&lc, addr))
			return -ELOOP;
		if (!(t->depth % CLOCK_EVERY) && out_of_time(w))
			return -ETIMEDOUT;
		if (task_mem_read(w->p->pid, addr, &f, sizeof(f)) ||
		    !frame_ok(w, addr, &f))
			return -EAGAIN;
		err = keep_frame(w, t, addr, &f);
		if (!err)
			err = frame_caller(w, addr, &f, &caller);
		if (err)
			return err;
		addr = caller;
	}
	return 0;
}

/* The site's strings from the process; the area's copy if unreadable. */
static int read_site(const struct walker *w, struct task_dump_task *t,
		     uint64_t site)
{
	struct task_site_desc d;
	struct rt_site s;

	if (!site) {
		snprintf(t->func, sizeof(t->func), "(not at an await)");
		return 0;
	}
	if (task_mem_read(w->p->pid, site, &s, sizeof(s)))
		return -EAGAIN;
	/* the tool's id: two copies of librtasync number sites apart */
	t->site_id = s.id ? task_site_gid(w->p, t->area, s.id) : 0;
	t->line = s.line;
	if (!task_mem_read_str(w->p->pid, (uint64_t)(uintptr_t)s.func, t->func,
			       sizeof(t->func)) &&
	    !task_mem_read_str(w->p->pid, (uint64_t)(uintptr_t)s.file, t->file,
			       sizeof(t->file)))
		return 0;
	task_site_describe(w->p, t->site_id, &d);
	snprintf(t->func, sizeof(t->func), "%s", d.func);
	snprintf(t->file, sizeof(t->file), "%s", d.file);
	return 0;
}

/*
 * The task's name, if it has one: a pointer the process set once, to a
 * string that stays while the task lives (rt_task_set_name()), in the
 * task's ext block (NULL until the task used one).  Any address and any
 * length are possible here, so the read is bounded by the name's cap; a
 * name that cannot be read does not make the task unreadable.
 */
static void read_name(const struct walker *w, struct task_dump_task *t)
{
	uint64_t ext, name = 0;

	t->name_state = TASK_NAME_NONE;
	if (read_u64(w, t->task + w->h->task_ext_off, &ext) ||
	    (ext && read_u64(w, ext + w->h->task_name_off, &name))) {
		t->name_state = TASK_NAME_UNREADABLE;
		return;
	}
	if (!name)
		return;
	t->name_state = task_mem_read_str(w->p->pid, name, t->name,
					  sizeof(t->name)) ?
			TASK_NAME_UNREADABLE : TASK_NAME_SET;
}

static int head_read(const struct walker *w, uint64_t task, uint64_t *top,
		     uint64_t *site)
{
	if (read_u64(w, task + w->h->task_head_top_off, top) ||
	    read_u64(w, task + w->h->task_head_site_off, site))
		return -EAGAIN;
	return *top ? 0 : -EAGAIN;
}

/* The innermost fiber's parked C stack, if a kept frame runs one. */
static int read_fiber(const struct walker *w, struct task_dump_task *t)
{
	size_t i;

	if (!w->h->fiber_fn)
		return 0;	/* a library without fibers */
	for (i = 0; i < t->nframes; i++)
		if (t->frames[i].fn == w->h->fiber_fn)
			return task_fiber_walk(w->p->pid, w->h, t->frames[i].addr,
					       w->syms, w->deadline, &t->fiber);
	return 0;
}

/* Read task; -EAGAIN if it changed meanwhile or does not look like one. */
static int read_task(const struct walker *w, uint64_t task,
		     struct task_dump_task *t)
{
	uint64_t top, site, top2, site2;
	int err;

	if (!task || (task & 7) || head_read(w, task, &top, &site))
		return -EAGAIN;
	t->task = task;
	read_name(w, t);
	err = read_site(w, t, site);
	if (!err)
		err = walk(w, t, top);
	if (!err)
		err = read_fiber(w, t);
	/* still suspended where it was: what we read belongs together */
	if (!err && (head_read(w, task, &top2, &site2) || top2 != top ||
		     site2 != site))
		err = -EAGAIN;
	return err;
}

static int add_task(const struct walker *w, uint64_t task,
		    enum task_dump_source src, unsigned int area,
		    unsigned int worker, uint64_t recheck_addr)
{
	struct task_dump *d = w->d;
	struct task_dump_task t = { .source = src, .area = area,
				    .worker = worker }, *tmp;
	struct walker tw = *w;
	uint64_t again;
	int err;

	/* two copies of librtasync may lay tasks out differently */
	tw.h = &w->p->areas[area].h;
	err = read_task(&tw, task, &t);
	/* a heap slot that now holds another task: ours moved on */
	if (!err && recheck_addr &&
	    (read_u64(w, recheck_addr, &again) || again != task))
		err = -EAGAIN;
	if (err) {
		free(t.frames);
		free(t.fiber);
		if (err == -ETIMEDOUT)
			return err;
		d->skipped++;
		d->loops += err == -ELOOP;
		return err == -ENOMEM ? err : 0;
	}
	tmp = realloc(d->tasks, (d->ntasks + 1) * sizeof(*tmp));
	if (!tmp) {
		free(t.frames);
		free(t.fiber);
		return -ENOMEM;
	}
	d->tasks = tmp;
	d->tasks[d->ntasks++] = t;
	if (src == TASK_DUMP_TIMER)
		d->sleeping++;
	else
		d->from_events++;
	return 0;
}

/* ---- where tasks are found ---------------------------------------------------- */

/* One worker's timer heap: { struct rt_task **v; uint32_t len; } */
static int dump_heap(const struct walker *w, unsigned int area,
		     unsigned int worker)
{
	uint64_t addr = task_worker(&w->p->areas[area], worker)->timer_heap;
	struct { uint64_t v; uint32_t len; } heap;
	uint64_t *v;
	uint32_t i;
	int err = 0;

	if (!addr || task_mem_read(w->p->pid, addr, &heap, 12) ||
	    heap.len > MAX_HEAP || (heap.len && !heap.v)) {
		w->d->heap_errors++;
		return 0;
	}
	if (!heap.len)
		return 0;
	v = calloc(heap.len, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (task_mem_read(w->p->pid, heap.v, v, heap.len * sizeof(*v))) {
		w->d->heap_errors++;	/* reallocated meanwhile */
		goto out;
	}
	for (i = 0; i < heap.len && !err && !out_of_time(w); i++)
		err = add_task(w, v[i], TASK_DUMP_TIMER, area, worker,
			       heap.v + i * sizeof(*v));
out:
	free(v);
	return err;
}

struct latest {
	uint64_t task, ts, seq;
	unsigned int area, worker;
	uint8_t reason;
};

struct latest_set {
	size_t n, cap;
	struct latest *v;
};

static void latest_add(void *ctx, unsigned int area,
		       const struct task_record *rec, uint64_t gap)
{
	struct latest_set *s = ctx;
	struct latest *tmp;

	(void)gap;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4096;
		tmp = realloc(s->v, s->cap * sizeof(*tmp));
		if (!tmp)
			return;
		s->v = tmp;
	}
	s->v[s->n++] = (struct latest){ rec->task, rec->ts, rec->seq, area,
					rec->worker, rec->reason };
}

static int cmp_latest(const void *a, const void *b)
{
	const struct latest *x = a, *y = b;

	if (x->task != y->task)
		return x->task < y->task ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool listed(const struct task_dump *d, uint64_t task)
{
	size_t i;

	for (i = 0; i < d->ntasks; i++)
		if (d->tasks[i].task == task)
			return true;
	return false;
}

/* Tasks whose latest record in the rings is a suspension (events on). */
static int dump_from_events(const struct walker *w)
{
	struct latest_set s = { 0 };
	struct task_ring r;
	unsigned int wk;
	size_t i;
	int a, err = 0;

	for (a = 0; a < w->p->nareas; a++) {
		const struct task_area *ar = &w->p->areas[a];

		if (!__atomic_load_n(&task_area_live(ar)->events_enabled, __ATOMIC_RELAXED))
			continue;
		for (wk = 0; wk < ar->h.nworkers; wk++) {
			task_ring_start(ar, wk, &r);
			r.next = r.next > ar->h.ring_records ?
				 r.next - ar->h.ring_records : 0;
			task_ring_drain(ar, (unsigned int)a, wk, &r, latest_add, &s);
		}
	}
	if (s.n)	/* s.v may be NULL: qsort(NULL, 0) is undefined */
		qsort(s.v, s.n, sizeof(*s.v), cmp_latest);
	for (i = 0; i < s.n && !err && !out_of_time(w); i++) {
		const struct latest *l = &s.v[i];

		if ((i + 1 < s.n && s.v[i + 1].task == l->task) ||
		    l->reason == RT_TRACE_DONE || listed(w->d, l->task))
			continue;	/* not its latest, done, or shown */
		err = add_task(w, l->task, TASK_DUMP_EVENTS, l->area, l->worker, 0);
	}
	free(s.v);
	return err;
}

int task_dump_collect(struct task_dump *d, const struct task_proc *p,
		      struct task_syms *syms, unsigned int depth,
		      uint64_t budget_ns)
{
	struct walker w = { p, &p->areas[0].h, syms, depth, d,
			    task_mono_ns() + budget_ns };
	unsigned int wk;
	int a, err = 0;

	memset(d, 0, sizeof(*d));
	for (a = 0; a < p->nareas && !err; a++)
		for (wk = 0; wk < p->areas[a].h.nworkers && !err; wk++)
			err = dump_heap(&w, (unsigned int)a, wk);
	if (!err)
		err = dump_from_events(&w);
	if (err == -ETIMEDOUT)
		err = 0;	/* what was read by then is the dump */
	if (err)
		task_dump_free(d);
	return err;
}

void task_dump_free(struct task_dump *d)
{
	size_t i;

	for (i = 0; i < d->ntasks; i++) {
		free(d->tasks[i].frames);
		free(d->tasks[i].fiber);
	}
	free(d->tasks);
	memset(d, 0, sizeof(*d));
}

/* ---- rendering ------------------------------------------------------------------ */

static const char *source_name(enum task_dump_source s)
{
	return s == TASK_DUMP_TIMER ? "sleeping" : "suspended (event records)";
}

/* "name+0x..", "name", or the address; then the module, or "?" */
static void table_sym(FILE *out, const char *index, const struct task_sym *sym,
		      uint64_t addr, const char *tail)
{
	char name[192];

	if (sym->name && sym->offset)
		snprintf(name, sizeof(name), "%s+0x%" PRIx64, sym->name,
			 sym->offset);
	else if (sym->name)
		snprintf(name, sizeof(name), "%s", sym->name);
	else
		snprintf(name, sizeof(name), "0x%" PRIx64, addr);
	fprintf(out, "    %-4s %-32s %s%s\n", index, TRACE_PRINTABLE(name),
		TRACE_PRINTABLE(sym->module ? task_basename(sym->module) : "?"),
		tail);
}

static void table_frame(FILE *out, size_t i, const struct task_dump_frame *f)
{
	char index[24];

	snprintf(index, sizeof(index), "#%zu", i);
	table_sym(out, index, &f->sym, f->fn,
		  f->flags & RT_FRAME_ROOT ? "  [root]" : "");
}

static void table_fiber(FILE *out, const struct task_fiber_stack *s)
{
	char index[24];
	size_t i;

	fprintf(out, "  fiber 0x%" PRIx64 " C stack, %zu frame%s%s\n", s->fiber,
		s->nframes, s->nframes == 1 ? "" : "s",
		s->truncated ? " (walk stopped short of its base)" : "");
	for (i = 0; i < s->nframes; i++) {
		snprintf(index, sizeof(index), "c%zu", i);
		table_sym(out, index, &s->frames[i].sym, s->frames[i].pc, "");
	}
}

static void table_task(FILE *out, const struct task_dump_task *t)
{
	size_t i;

	fprintf(out, "\ntask 0x%" PRIx64 ", %s (runtime %u, worker %u), %zu "
		"frame%s\n", t->task, source_name(t->source), t->area, t->worker,
		t->depth, t->depth == 1 ? "" : "s");
	if (t->name_state == TASK_NAME_SET)
		fprintf(out, "  name %s\n", TRACE_PRINTABLE(t->name));
	else if (t->name_state == TASK_NAME_UNREADABLE)
		fprintf(out, "  name (unreadable)\n");
	if (t->site_id || t->line)
		fprintf(out, "  waits at %s (%s:%u)\n", TRACE_PRINTABLE(t->func),
			TRACE_PRINTABLE(task_basename(t->file)), t->line);
	else
		fprintf(out, "  waits at %s\n", TRACE_PRINTABLE(t->func));
	for (i = 0; i < t->nframes; i++)
		table_frame(out, i, &t->frames[i]);
	if (t->nframes < t->depth)
		fprintf(out, "    ... %zu more frames (--depth)\n",
			t->depth - t->nframes);
	if (t->fiber)
		table_fiber(out, t->fiber);
}

void task_dump_table(FILE *out, const struct task_dump *d,
		     const struct task_proc *p)
{
	size_t i;

	fprintf(out, "pid %d: %zu suspended tasks (%" PRIu64 " sleeping, %" PRIu64
		" from event records), %" PRIu64 " skipped (changed while read, "
		"%" PRIu64 " of them looping)%s\n", (int)p->pid, d->ntasks,
		d->sleeping, d->from_events, d->skipped, d->loops,
		d->timed_out ? "; stopped at the time budget (--duration)" : "");
	for (i = 0; i < d->ntasks; i++)
		table_task(out, &d->tasks[i]);
}

/* "symbol" (null if none), "offset", "module" */
static void json_sym(struct json_writer *jw, const struct task_sym *sym)
{
	jw_name(jw, "symbol");
	if (sym->name)
		jw_string(jw, sym->name);
	else
		jw_null(jw);
	jw_uint_field(jw, "offset", sym->offset);
	jw_string_field(jw, "module", sym->module ? sym->module : "");
}

static void json_fiber(struct json_writer *jw, const struct task_fiber_stack *s)
{
	size_t i;

	jw_start_object(jw);
	jw_hex_field(jw, "fiber", s->fiber);
	jw_hex_field(jw, "sp", s->sp);
	jw_hex_field(jw, "stack_lo", s->stack_lo);
	jw_bool_field(jw, "truncated", s->truncated);
	jw_name(jw, "frames");
	jw_start_array(jw);
	for (i = 0; i < s->nframes; i++) {
		jw_start_object(jw);
		jw_hex_field(jw, "pc", s->frames[i].pc);
		json_sym(jw, &s->frames[i].sym);
		jw_end_object(jw);
	}
	jw_end_array(jw);
	jw_end_object(jw);
}

static void json_frame(struct json_writer *jw, const struct task_dump_frame *f)
{
	jw_start_object(jw);
	jw_hex_field(jw, "frame", f->addr);
	jw_hex_field(jw, "fn", f->fn);
	json_sym(jw, &f->sym);
	jw_int_field(jw, "resume", f->resume);
	jw_bool_field(jw, "root", f->flags & RT_FRAME_ROOT);
	jw_end_object(jw);
}

static void json_task(struct json_writer *jw, const struct task_dump_task *t)
{
	size_t i;

	jw_start_object(jw);
	jw_hex_field(jw, "task", t->task);
	/* "" never named, null unreadable */
	jw_name(jw, "name");
	if (t->name_state == TASK_NAME_UNREADABLE)
		jw_null(jw);
	else
		jw_string(jw, t->name_state == TASK_NAME_SET ? t->name : "");
	jw_string_field(jw, "source", t->source == TASK_DUMP_TIMER ?
			"timer_heap" : "events");
	jw_uint_field(jw, "runtime", t->area);
	jw_uint_field(jw, "worker", t->worker);
	jw_name(jw, "site");
	jw_start_object(jw);
	jw_uint_field(jw, "id", t->site_id);
	jw_string_field(jw, "func", t->func);
	jw_string_field(jw, "file", t->file);
	jw_uint_field(jw, "line", t->line);
	jw_end_object(jw);
	jw_uint_field(jw, "depth", t->depth);
	jw_name(jw, "frames");
	jw_start_array(jw);
	for (i = 0; i < t->nframes; i++)
		json_frame(jw, &t->frames[i]);
	jw_end_array(jw);
	jw_name(jw, "fiber");
	if (t->fiber)
		json_fiber(jw, t->fiber);
	else
		jw_null(jw);
	jw_end_object(jw);
}

void task_dump_json(struct json_writer *jw, const struct task_dump *d,
		    const struct task_proc *p)
{
	size_t i;

	jw_int_field(jw, "pid", p->pid);
	jw_uint_field(jw, "sleeping", d->sleeping);
	jw_uint_field(jw, "from_events", d->from_events);
	jw_uint_field(jw, "skipped", d->skipped);
	jw_uint_field(jw, "heap_errors", d->heap_errors);
	jw_uint_field(jw, "loops", d->loops);
	jw_bool_field(jw, "timed_out", d->timed_out);
	jw_name(jw, "tasks");
	jw_start_array(jw);
	for (i = 0; i < d->ntasks; i++)
		json_task(jw, &d->tasks[i]);
	jw_end_array(jw);
}

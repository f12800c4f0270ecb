// SPDX-License-Identifier: MIT
/*
 * task_blocked.c - loads the kernel join (bpf/task.bpf.c) for the worker
 * threads of one librtasync process, reads its maps into snapshots and
 * prints them.  How time is attributed: Documentation/bpf.md.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "task_blocked.h"
#include "task.skel.h"
#include "trace.h"

struct task_blk_obs {
	struct task_bpf *skel;
	uint64_t start_ns;
	unsigned int nworkers;
	uint32_t sites_max;
};

static bool blk_debug;

static int blk_print(enum libbpf_print_level level, const char *fmt,
		     va_list args)
{
	return level == LIBBPF_WARN || blk_debug ? vfprintf(stderr, fmt, args) : 0;
}

/*
 * The thread's ids in every PID namespace from ours down to its own
 * ("NSpid:" of /proc/PID/task/TID/status): first ours, last its own.
 * Returns how many were read (0 if none).
 */
static int thread_nspids(pid_t pid, const char *tid, uint32_t *ids, int max)
{
	char path[320], line[256], *p, *end;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "NSpid:", 6))
			break;
	for (p = line + 6; !feof(f) && n < max; p = end) {
		unsigned long v = strtoul(p, &end, 10);

		if (end == p)
			break;
		ids[n++] = (uint32_t)v;
	}
	fclose(f);
	return n;
}

/*
 * A worker's tid as the kernel's programs see it.  The area has the tid
 * the worker got from gettid(), in its own PID namespace (a container);
 * the BPF programs see the tid of the initial namespace, where this tool
 * runs.  NSpid maps the one to the other; 0 if no thread matches.
 */
static uint32_t outer_tid(pid_t pid, uint32_t inner)
{
	uint32_t ids[32], found = 0;
	struct dirent *de;
	char path[64];
	DIR *dir;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	while (dir && !found && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		n = thread_nspids(pid, de->d_name, ids, 32);
		if (n && ids[n - 1] == inner)
			found = ids[0];
	}
	if (dir)
		closedir(dir);
	return found;
}

/* Every worker thread of every runtime of the process, by tid. */
static int add_workers(struct task_blk_obs *o, const struct task_proc *p)
{
	struct task_blk_worker fresh;
	unsigned int w;
	uint32_t tid;
	int i, err;

	for (i = 0; i < p->nareas; i++) {
		const struct rt_trace_header *h = &p->areas[i].h;

		/* each runtime's library may lay things out its own way */
		fresh = (struct task_blk_worker){
			.running_tls_off = h->running_tls_off,
			.task_head_site_off = h->task_head_site_off,
			.site_id_off = h->site_id_off,
			.site_base = p->site_base[i],
			.site_limit = h->sites_max,
		};
		for (w = 0; w < p->areas[i].h.nworkers; w++) {
			tid = __atomic_load_n(&task_worker(&p->areas[i], w)->tid,
					      __ATOMIC_RELAXED);
			if (tid)
				tid = outer_tid(p->pid, tid);
			if (!tid)
				continue;	/* not started, or gone */
			err = bpf_map__update_elem(o->skel->maps.workers, &tid,
						   sizeof(tid), &fresh,
						   sizeof(fresh), BPF_ANY);
			if (err)
				return err;
			o->nworkers++;
		}
	}
	return o->nworkers ? 0 : -ENOENT;
}

/* The process and its site ids; each worker's layout: add_workers(). */
static void set_layout(struct task_blk_obs *o, const struct task_proc *p)
{
	o->skel->rodata->target_tgid = (uint32_t)p->pid;
	o->sites_max = task_proc_sites_max(p);
	o->skel->rodata->sites_max = o->sites_max;
}

int task_blk_open(struct task_blk_obs **op, const struct task_proc *p,
		  bool debug)
{
	struct task_blk_obs *o;
	int err;

	blk_debug = debug;
	libbpf_set_print(blk_print);
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->skel = task_bpf__open();
	if (!o->skel) {
		err = -errno;
		goto err_free;
	}
	set_layout(o, p);
	bpf_map__set_max_entries(o->skel->maps.sites, o->sites_max);
	err = task_bpf__load(o->skel);
	if (err)
		goto err_destroy;
	err = add_workers(o, p);
	if (err)
		goto err_destroy;
	*op = o;
	return 0;

err_destroy:
	task_bpf__destroy(o->skel);
err_free:
	free(o);
	return err;
}

int task_blk_attach(struct task_blk_obs *o)
{
	o->start_ns = task_mono_ns();
	return task_bpf__attach(o->skel);
}

void task_blk_close(struct task_blk_obs *o)
{
	if (!o)
		return;
	task_bpf__destroy(o->skel);
	free(o);
}

/* ---- snapshots -------------------------------------------------------------- */

static int cmp_site_row(const void *a, const void *b)
{
	const struct task_blk_site_row *x = a, *y = b;

	if (x->s.t.total_ns != y->s.t.total_ns)
		return x->s.t.total_ns > y->s.t.total_ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_task_row(const void *a, const void *b)
{
	const struct task_blk_task_row *x = a, *y = b;

	if (x->t.total_ns != y->t.total_ns)
		return x->t.total_ns > y->t.total_ns ? -1 : 1;
	if (x->task != y->task)
		return x->task < y->task ? -1 : 1;
	return x->site < y->site ? -1 : x->site > y->site;
}

static int read_sites(struct task_blk_obs *o, struct task_blk_snapshot *s)
{
	struct task_blk_site v;
	uint32_t id;

	s->sites = calloc(o->sites_max ? o->sites_max : 1, sizeof(*s->sites));
	if (!s->sites)
		return -ENOMEM;
	for (id = 0; id < o->sites_max; id++) {
		if (bpf_map__lookup_elem(o->skel->maps.sites, &id, sizeof(id),
					 &v, sizeof(v), 0) || !v.t.count)
			continue;
		s->sites[s->nsites].id = id;
		s->sites[s->nsites++].s = v;
	}
	qsort(s->sites, s->nsites, sizeof(*s->sites), cmp_site_row);
	return 0;
}

static int read_tasks(struct task_blk_obs *o, struct task_blk_snapshot *s)
{
	int fd = bpf_map__fd(o->skel->maps.tasks);
	struct task_blk_key key, next, *prev = NULL;
	struct task_blk_task_row *row;
	size_t cap = 0;
	void *tmp;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		prev = &key;
		key = next;
		if (s->ntasks == cap) {
			cap = cap ? 2 * cap : 64;
			tmp = realloc(s->tasks, cap * sizeof(*s->tasks));
			if (!tmp)
				return -ENOMEM;
			s->tasks = tmp;
		}
		row = &s->tasks[s->ntasks];
		if (bpf_map_lookup_elem(fd, &key, &row->t))
			continue;
		row->task = key.task;
		row->site = key.site;
		s->ntasks++;
	}
	if (s->ntasks)	/* qsort(NULL, 0) is undefined */
		qsort(s->tasks, s->ntasks, sizeof(*s->tasks), cmp_task_row);
	return 0;
}

/* Workers off-CPU right now: their interval is open, not charged yet. */
static int read_now(struct task_blk_obs *o, struct task_blk_snapshot *s)
{
	int fd = bpf_map__fd(o->skel->maps.workers);
	uint32_t key, next, *prev = NULL;
	struct task_blk_worker w;

	s->now = calloc(o->nworkers ? o->nworkers : 1, sizeof(*s->now));
	if (!s->now)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next) && s->nnow < o->nworkers) {
		prev = &key;
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &w) || !w.ts_out)
			continue;
		s->now[s->nnow++] = (struct task_blk_now){
			.tid = key, .task = w.task, .site = w.site,
			.voluntary = w.voluntary,
			.for_ns = s->end_ns > w.ts_out ? s->end_ns - w.ts_out : 0,
		};
	}
	return 0;
}

static uint64_t prog_misses(struct bpf_program *prog)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
		return 0;
	return info.recursion_misses;
}

int task_blk_snapshot(struct task_blk_obs *o, struct task_blk_snapshot *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->start_ns = o->start_ns;
	s->end_ns = task_mono_ns();	/* bpf_ktime_get_ns()'s clock */
	s->nworkers = o->nworkers;
	err = read_sites(o, s);
	if (!err)
		err = read_tasks(o, s);
	if (!err)
		err = read_now(o, s);
	if (err) {
		task_blk_snapshot_free(s);
		return err;
	}
	s->idle = o->skel->bss->idle;
	s->lost_tasks = o->skel->bss->lost_tasks;
	s->unreadable = o->skel->bss->unreadable;
	s->missed = prog_misses(o->skel->progs.task_switch);
	return 0;
}

void task_blk_snapshot_free(struct task_blk_snapshot *s)
{
	free(s->sites);
	free(s->tasks);
	free(s->now);
	memset(s, 0, sizeof(*s));
}

/* ---- the table ---------------------------------------------------------------- */

#define NS_PER_MS 1e6

static void site_name(const struct task_proc *p, uint32_t id, char *func,
		      size_t flen, char *where, size_t wlen)
{
	struct task_site_desc d;

	if (!id) {
		snprintf(func, flen, "(no await site)");
		snprintf(where, wlen, "-");
		return;
	}
	task_site_describe(p, id, &d);
	trace_printable(func, flen, d.func);
	snprintf(where, wlen, "%s:%u",
		 TRACE_PRINTABLE(task_basename(d.file)), d.line);
}

static void time_cells(FILE *out, const struct task_blk_time *t)
{
	fprintf(out, " %8llu %11.3f %10.3f %7llu %11.3f %7llu %11.3f\n", t->count, t->total_ns / NS_PER_MS,
		t->max_ns / NS_PER_MS, t->vol_count, t->vol_ns / NS_PER_MS,
		t->invol_count, t->invol_ns / NS_PER_MS);
}

static void time_header(FILE *out, const char *first)
{
	fprintf(out, "%s %8s %11s %10s %7s %11s %7s %11s\n", first, "COUNT",
		"TOTAL_ms", "MAX_ms", "VOL", "VOL_ms", "INVOL", "INVOL_ms");
}

static bool more_rows(FILE *out, size_t shown, size_t n)
{
	if (shown >= n)
		return false;
	fprintf(out, "(%zu more rows: -n 0 shows all)\n", n - shown);
	return true;
}

static void table_sites(FILE *out, const struct task_blk_snapshot *s,
			const struct task_proc *p, unsigned int limit)
{
	char func[64], where[128];
	size_t i;

	time_header(out, "  SITE FUNCTION                 FILE:LINE                   ");
	for (i = 0; i < s->nsites && (!limit || i < limit); i++) {
		site_name(p, s->sites[i].id, func, sizeof(func), where,
			  sizeof(where));
		fprintf(out, "%6u %-24.24s %-28.28s", s->sites[i].id, func, where);
		time_cells(out, &s->sites[i].s.t);
	}
	more_rows(out, i, s->nsites);
	fprintf(out, "%6s %-24s %-28s", "-", "(no task: worker loop)", "-");
	time_cells(out, &s->idle.t);
}

static void table_tasks(FILE *out, const struct task_blk_snapshot *s,
			const struct task_proc *p, unsigned int limit)
{
	char func[64], where[128], task[32];
	size_t i;

	time_header(out, "TASK                 SITE FUNCTION                ");
	for (i = 0; i < s->ntasks && (!limit || i < limit); i++) {
		site_name(p, s->tasks[i].site, func, sizeof(func), where,
			  sizeof(where));
		snprintf(task, sizeof(task), "0x%" PRIx64, s->tasks[i].task);
		fprintf(out, "%-18s %6u %-24.24s", task, s->tasks[i].site, func);
		time_cells(out, &s->tasks[i].t);
	}
	more_rows(out, i, s->ntasks);
}

static void table_now(FILE *out, const struct task_blk_snapshot *s,
		      const struct task_proc *p)
{
	char label[200];
	size_t i;

	if (!s->nnow)
		return;
	fprintf(out, "\nWorkers off-CPU at the end (not counted above):\n");
	for (i = 0; i < s->nnow; i++) {
		const struct task_blk_now *n = &s->now[i];

		if (n->task)
			fprintf(out, "  tid %u: %s for %.3f ms, task 0x%" PRIx64
				" after %s\n", n->tid,
				n->voluntary ? "blocked" : "preempted",
				n->for_ns / NS_PER_MS, n->task,
				TRACE_PRINTABLE(task_site_label(p, n->site, label,
								sizeof(label))));
		else
			fprintf(out, "  tid %u: %s for %.3f ms, no task (worker "
				"loop)\n", n->tid, n->voluntary ? "blocked" :
				"preempted", n->for_ns / NS_PER_MS);
	}
}

static void table_hists(FILE *out, const struct task_blk_snapshot *s,
			const struct task_proc *p, unsigned int limit)
{
	char label[200];
	size_t i;

	for (i = 0; i < s->nsites && (!limit || i < limit); i++) {
		fprintf(out, "\nOff-CPU time per switch-out, site %u: %s\n",
			s->sites[i].id,
			TRACE_PRINTABLE(task_site_label(p, s->sites[i].id,
							label, sizeof(label))));
		trace_print_log2_hist(out, s->sites[i].s.hist,
				      TASK_BLK_HIST_SLOTS, "usecs");
	}
}

void task_blk_table(FILE *out, const struct task_blk_snapshot *s,
		    const struct task_proc *p, const struct task_blk_print *o)
{
	fprintf(out, "Window %.3f s, pid %d, %u worker threads\n\n"
		"Off-CPU time of the workers, by the await site the running "
		"task last resumed from\n", (s->end_ns - s->start_ns) / 1e9,
		(int)p->pid, s->nworkers);
	table_sites(out, s, p, o->limit);
	fprintf(out, "\nBy task (and site)\n");
	table_tasks(out, s, p, o->limit);
	table_now(out, s, p);
	if (s->lost_tasks || s->unreadable || s->missed)
		fprintf(out, "\nWARNING: %" PRIu64 " intervals not charged to a "
			"task (task map full), %" PRIu64 " unreadable current-task "
			"words, %" PRIu64 " switches missed by the kernel\n",
			s->lost_tasks, s->unreadable, s->missed);
	if (o->hist)
		table_hists(out, s, p, o->limit);
}

/* ---- JSON ------------------------------------------------------------------------ */

static void json_time(struct json_writer *jw, const struct task_blk_time *t)
{
	jw_uint_field(jw, "count", t->count);
	jw_uint_field(jw, "total_ns", t->total_ns);
	jw_uint_field(jw, "max_ns", t->max_ns);
	jw_uint_field(jw, "voluntary", t->vol_count);
	jw_uint_field(jw, "voluntary_ns", t->vol_ns);
	jw_uint_field(jw, "involuntary", t->invol_count);
	jw_uint_field(jw, "involuntary_ns", t->invol_ns);
}

static void json_site_desc(struct json_writer *jw, const struct task_proc *p,
			   uint32_t id)
{
	struct task_site_desc d = { "", "", 0 };

	if (id)
		task_site_describe(p, id, &d);
	jw_uint_field(jw, "site", id);
	jw_string_field(jw, "func", d.func);
	jw_string_field(jw, "file", d.file);
	jw_uint_field(jw, "line", d.line);
}

static void json_lists(struct json_writer *jw, const struct task_blk_snapshot *s,
		       const struct task_proc *p)
{
	size_t i;

	jw_name(jw, "sites");
	jw_start_array(jw);
	for (i = 0; i < s->nsites; i++) {
		jw_start_object(jw);
		json_site_desc(jw, p, s->sites[i].id);
		json_time(jw, &s->sites[i].s.t);
		jw_log2_hist(jw, "hist_usecs", s->sites[i].s.hist,
			     TASK_BLK_HIST_SLOTS);
		jw_end_object(jw);
	}
	jw_end_array(jw);
	jw_name(jw, "tasks");
	jw_start_array(jw);
	for (i = 0; i < s->ntasks; i++) {
		jw_start_object(jw);
		jw_hex_field(jw, "task", s->tasks[i].task);
		json_site_desc(jw, p, s->tasks[i].site);
		json_time(jw, &s->tasks[i].t);
		jw_end_object(jw);
	}
	jw_end_array(jw);
}

static void json_now(struct json_writer *jw, const struct task_blk_snapshot *s)
{
	size_t i;

	jw_name(jw, "off_cpu_now");
	jw_start_array(jw);
	for (i = 0; i < s->nnow; i++) {
		jw_start_object(jw);
		jw_uint_field(jw, "tid", s->now[i].tid);
		jw_hex_field(jw, "task", s->now[i].task);
		jw_uint_field(jw, "site", s->now[i].site);
		jw_bool_field(jw, "voluntary", s->now[i].voluntary);
		jw_uint_field(jw, "for_ns", s->now[i].for_ns);
		jw_end_object(jw);
	}
	jw_end_array(jw);
}

void task_blk_json(struct json_writer *jw, const struct task_blk_snapshot *s,
		   const struct task_proc *p)
{
	jw_int_field(jw, "pid", p->pid);
	jw_uint_field(jw, "window_ns", s->end_ns - s->start_ns);
	jw_uint_field(jw, "workers", s->nworkers);
	json_lists(jw, s, p);
	jw_name(jw, "no_task");
	jw_start_object(jw);
	json_time(jw, &s->idle.t);
	jw_log2_hist(jw, "hist_usecs", s->idle.hist, TASK_BLK_HIST_SLOTS);
	jw_end_object(jw);
	json_now(jw, s);
	jw_uint_field(jw, "lost_tasks", s->lost_tasks);
	jw_uint_field(jw, "unreadable", s->unreadable);
	jw_uint_field(jw, "missed_events", s->missed);
}

// SPDX-License-Identifier: MIT
/*
 * task.c - the `task` object of rtasync-trace, and the command line
 * and wait loop it shares with `record`:
 *
 *	task top	hottest await sites and worker counters (trace area)
 *	task hist	suspend-time histograms per await site (event rings)
 *	task blocked	worker off-CPU time per task and site (eBPF join)
 *	task dump	async stacks of suspended tasks (process memory)
 *
 * The data and its rendering live in task_top.c, task_hist.c,
 * task_blocked.c and task_dump.c; this file owns options, pacing and the
 * order of things (events switched off on every way out).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "task_blocked.h"
#include "task_cmd.h"
#include "task_dump.h"
#include "task_hist.h"
#include "sched_obs.h"
#include "task_top.h"

#define DEFAULT_TOP_S 1.0
#define DEFAULT_DEPTH 64
#define DEFAULT_DUMP_BUDGET_S 10.0	/* task dump: time to walk the tasks */

/* Which options a command takes. */
enum {
	OPTM_DURATION = 1 << 0,	/* --duration */
	OPTM_INTERVAL = 1 << 1,	/* --interval */
	OPTM_LIMIT = 1 << 2,	/* -n */
	OPTM_SAMPLE = 1 << 3,	/* --sample */
	OPTM_NOHIST = 1 << 4,	/* --no-hist */
	OPTM_DEPTH = 1 << 5,	/* --depth */
	OPTM_OUTPUT = 1 << 6,	/* -o FILE, required */
	OPTM_FORMAT = 1 << 7,	/* -o FORMAT */
	OPTM_TIME = OPTM_DURATION | OPTM_INTERVAL,
};

struct task_command {
	const char *name;
	unsigned int opts;
	bool rw;		/* switches events or site counts on: maps
				   the area's header writable */
	int (*run)(struct task_ctx *c);
	const char *args;	/* for the usage line */
};

static int run_top(struct task_ctx *c);
static int run_hist(struct task_ctx *c);
static int run_blocked(struct task_ctx *c);
static int run_dump(struct task_ctx *c);

static const struct task_command commands[] = {
	{ "top", OPTM_TIME | OPTM_LIMIT | OPTM_FORMAT, true, run_top,
	  "[-n N] [-o prometheus] [--interval SEC] [--duration SEC]" },
	{ "hist", OPTM_TIME | OPTM_SAMPLE, true, run_hist,
	  "[--sample N] [--interval SEC] [--duration SEC]" },
	{ "blocked", OPTM_TIME | OPTM_LIMIT | OPTM_NOHIST, true, run_blocked,
	  "[-n N] [--no-hist] [--interval SEC] [--duration SEC]" },
	{ "dump", OPTM_DEPTH | OPTM_DURATION, false, run_dump,
	  "[--depth N] [--duration SEC]" },
};

static const struct task_command record_command = {
	"record", OPTM_DURATION | OPTM_SAMPLE | OPTM_OUTPUT, true,
	task_record_run,
	"-o FILE [--sample N] [--duration SEC]",
};

static void task_usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage: %s [OPTIONS] task { top | hist | blocked | dump | help }"
		" -p PID [ARGS]\n\n", trace_prog);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "       %s task %-7s -p PID %s\n", trace_prog,
			commands[i].name, commands[i].args);
	fprintf(out,
		"       (each also takes -j|--json and --pretty)\n"
		"\n"
		"Async-task views of a process linked with librtasync:\n"
		"  top      hottest await sites by suspensions, worker counters\n"
		"           (switches the runtime's per-site counts on meanwhile;\n"
		"           -o prometheus: the counters in Prometheus text format)\n"
		"  hist     log2 histograms of suspend time per await site\n"
		"           (switches the runtime's event records on meanwhile)\n"
		"  blocked  off-CPU time of worker threads, charged to the task and\n"
		"           await site that was running (eBPF; root or CAP_BPF+\n"
		"           CAP_PERFMON)\n"
		"  dump     async stacks of the suspended (sleeping) tasks, symbolized,\n"
		"           read without stopping the process (--duration: the time\n"
		"           allowed for the walk, 10 s by default)\n");
}

static void record_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [OPTIONS] record -p PID %s\n"
		"       %s record help\n"
		"\n"
		"Switches the runtime's event records on, drains them, and writes\n"
		"a Chrome/Perfetto trace (JSON): one track per worker, one slice\n"
		"per task step, named by the await site it suspended at.  Open it\n"
		"in ui.perfetto.dev or chrome://tracing.\n",
		trace_prog, record_command.args, trace_prog);
}

/* ---- command line --------------------------------------------------------- */

enum { OPT_SAMPLE = 256, OPT_NO_HIST, OPT_DEPTH };

static const struct option longopts[] = {
	{ "pid",      required_argument, NULL, 'p' },
	{ "json",     no_argument,	 NULL, 'j' },
	{ "pretty",   no_argument,	 NULL, TRACE_OPT_PRETTY },
	{ "duration", required_argument, NULL, TRACE_OPT_DURATION },
	{ "interval", required_argument, NULL, TRACE_OPT_INTERVAL },
	{ "top",      required_argument, NULL, 'n' },
	{ "sample",   required_argument, NULL, OPT_SAMPLE },
	{ "no-hist",  no_argument,	 NULL, OPT_NO_HIST },
	{ "depth",    required_argument, NULL, OPT_DEPTH },
	{ "output",   required_argument, NULL, 'o' },
	{ "help",     no_argument,	 NULL, 'h' },
	{ 0 }
};

static unsigned int opt_mask(int opt)
{
	switch (opt) {
	case TRACE_OPT_DURATION: return OPTM_DURATION;
	case TRACE_OPT_INTERVAL: return OPTM_INTERVAL;
	case 'n': return OPTM_LIMIT;
	case OPT_SAMPLE: return OPTM_SAMPLE;
	case OPT_NO_HIST: return OPTM_NOHIST;
	case OPT_DEPTH: return OPTM_DEPTH;
	case 'o': return OPTM_OUTPUT | OPTM_FORMAT;
	default: return 0;	/* every command takes it */
	}
}

static int parse_number(const char *arg, uint64_t max, uint64_t *v)
{
	return trace_parse_u64(arg, v) || *v > max ? -EINVAL : 0;
}

/* 0, or an exit code. */
static int parse_opt(struct task_ctx *c, int opt, const char *arg)
{
	uint64_t v;
	int err = trace_common_opt(&c->opts, opt, arg);

	if (err >= 0)
		return err;
	err = 0;
	switch (opt) {
	case 'p':
		return trace_parse_pid(arg, &c->pid) ? TRACE_EXIT_USAGE : 0;
	case 'n':
		err = parse_number(arg, UINT32_MAX, &v);
		c->limit = (unsigned int)v;
		break;
	case OPT_SAMPLE:
		err = parse_number(arg, TASK_MAX_SAMPLE_SHIFT, &v);
		c->sample_shift = (uint32_t)v;
		break;
	case OPT_NO_HIST:
		c->no_hist = true;
		return 0;
	case OPT_DEPTH:
		err = parse_number(arg, 1000000, &v) || !v;
		c->depth = (unsigned int)v;
		break;
	case 'o':
		c->output = arg;
		return 0;
	default:
		return TRACE_EXIT_USAGE;
	}
	if (err) {
		trace_err("bad value '%s' for an option of %s", arg, c->cmd);
		return TRACE_EXIT_USAGE;
	}
	return 0;
}

/*
 * top -o FORMAT: table (the default), json, or prometheus: one report of
 * the counters, for node_exporter's textfile collector, so not with
 * --interval (the collector reads a file, not a stream).
 */
static int parse_format(struct task_ctx *c)
{
	if (!c->output || !strcmp(c->output, "table"))
		return 0;
	if (!strcmp(c->output, "json"))
		return trace_common_opt(&c->opts, 'j', NULL);
	if (strcmp(c->output, "prometheus")) {
		trace_err("unknown output format '%s' (table, json, prometheus)",
			  c->output);
		return TRACE_EXIT_USAGE;
	}
	if (c->opts.interval || c->opts.json) {
		trace_err("-o prometheus writes one report: no --interval, no -j");
		return TRACE_EXIT_USAGE;
	}
	c->prometheus = true;
	return 0;
}

/* 0 to run, -1 after help, or an exit code. */
static int parse_args(struct task_ctx *c, const struct task_command *cmd,
		      int argc, char **argv, void (*usage)(FILE *))
{
	int opt, ret;

	optind = 0;	/* restart getopt; argv[0] is the command */
	while ((opt = getopt_long(argc, argv, "+p:jn:o:h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return -1;
		}
		if (opt == '?')
			return TRACE_EXIT_USAGE;
		if (opt_mask(opt) && !(opt_mask(opt) & cmd->opts)) {
			trace_err("%s does not take that option (see '%s help')",
				  c->cmd, c->cmd);
			return TRACE_EXIT_USAGE;
		}
		ret = parse_opt(c, opt, optarg);
		if (ret)
			return ret;
	}
	if (optind < argc && trace_is_help(argv[optind])) {
		usage(stdout);
		return -1;
	}
	if (optind < argc) {
		trace_err("unexpected argument '%s'", argv[optind]);
		return TRACE_EXIT_USAGE;
	}
	if (!c->pid) {
		trace_err("%s needs a process: -p PID", c->cmd);
		return TRACE_EXIT_USAGE;
	}
	if ((cmd->opts & OPTM_OUTPUT) && !c->output) {
		trace_err("%s needs an output file: -o FILE", c->cmd);
		return TRACE_EXIT_USAGE;
	}
	return (cmd->opts & OPTM_FORMAT) ? parse_format(c) : 0;
}

/* ---- the wait loop ---------------------------------------------------------- */

int task_loop_init(struct trace_loop *l, const struct task_ctx *c,
		   unsigned int tick_ms)
{
	int err = trace_loop_signals(l);

	if (!err)
		err = trace_loop_watch(l, c->pid);
	if (err) {
		trace_loop_fini(l);
		return err;
	}
	trace_loop_start(l, &c->opts, tick_ms);
	return 0;
}

/* JSON: one object, or with --interval an array of them. */
static void json_open(struct task_ctx *c)
{
	if (!c->opts.json)
		return;
	jw_init(&c->jw, stdout, c->opts.pretty);
	if (c->opts.interval)
		jw_start_array(&c->jw);
}

static void json_close(struct task_ctx *c)
{
	if (c->opts.json && c->opts.interval)
		jw_end_array(&c->jw);
}

/*
 * One report of any command: a JSON object (numbered with --interval) or
 * the table (after the time with --interval), from the same data.
 */
struct report_ops {
	void (*json)(struct task_ctx *c, const void *data);
	void (*table)(struct task_ctx *c, const void *data);
	void (*prometheus)(struct task_ctx *c, const void *data);	/* or NULL */
};

static void emit_report(struct task_ctx *c, const struct report_ops *ops,
			const void *data)
{
	if (c->prometheus && ops->prometheus) {
		ops->prometheus(c, data);
	} else if (c->opts.json) {
		jw_start_object(&c->jw);
		if (c->opts.interval)
			jw_int_field(&c->jw, "interval", c->nreports);
		ops->json(c, data);
		jw_end_object(&c->jw);
	} else {
		if (c->opts.interval)
			trace_print_time(stdout, c->nreports);
		ops->table(c, data);
	}
	fflush(stdout);
	c->nreports++;
}

/* ---- top ------------------------------------------------------------------- */

static void print_banner(struct task_ctx *c, const char *what)
{
	fprintf(stderr, "%s of pid %d (%d runtime%s, %zu workers)", what,
		(int)c->pid, c->proc.nareas, c->proc.nareas == 1 ? "" : "s",
		task_proc_nworkers(&c->proc));
	trace_banner_end(&c->opts);
}

static void top_json(struct task_ctx *c, const void *r)
{
	task_top_json(&c->jw, r);
}

static void top_table(struct task_ctx *c, const void *r)
{
	task_top_table(stdout, r, c->limit);
}

static void top_prometheus(struct task_ctx *c, const void *r)
{
	(void)c;
	task_top_prometheus(stdout, r);
}

static int top_report(struct task_ctx *c, struct task_top_snap *prev)
{
	static const struct report_ops ops = { top_json, top_table,
					       top_prometheus };
	struct task_top_snap cur;
	struct task_top_report r;
	int err;

	err = task_top_snapshot(&c->proc, &cur);
	if (!err)
		err = task_top_report(&r, &c->proc, &cur, prev);
	if (err) {
		task_top_snap_free(&cur);
		trace_err("top: %s", strerror(-err));
		return TRACE_EXIT_FAIL;
	}
	emit_report(c, &ops, &r);
	task_top_report_free(&r);
	task_top_snap_free(prev);
	*prev = cur;
	return 0;
}

static int run_top(struct task_ctx *c)
{
	struct task_top_snap prev;
	struct trace_loop l;
	enum trace_event ev;
	int ret;

	if (!c->opts.duration && !c->opts.interval)
		c->opts.duration = DEFAULT_TOP_S;
	task_sites_on(&c->proc);
	ret = TRACE_EXIT_FAIL;
	if (task_top_snapshot(&c->proc, &prev))
		goto out_sites_off;
	if (task_loop_init(&l, c, 0))
		goto out_snap_free;
	print_banner(c, "Reading await sites");
	json_open(c);
	do {
		ev = trace_loop_wait(&l);
		ret = top_report(c, &prev);
	} while (!ret && ev != TRACE_EV_END);
	json_close(c);
	trace_loop_fini(&l);
out_snap_free:
	task_top_snap_free(&prev);
out_sites_off:
	task_sites_off(&c->proc);
	return ret;
}

/* ---- hist ------------------------------------------------------------------- */

struct hist_run {
	struct task_hist h;
	struct task_rings rings;
	uint64_t dropped_before;	/* rings' drops up to the last report */
};

static void hist_json(struct task_ctx *c, const void *h)
{
	task_hist_json(&c->jw, h, &c->proc);
}

static void hist_table(struct task_ctx *c, const void *h)
{
	task_hist_table(stdout, h, &c->proc);
}

static void hist_report(struct task_ctx *c, struct hist_run *hr)
{
	static const struct report_ops ops = { hist_json, hist_table, NULL };
	uint64_t records, dropped;

	task_rings_count(&hr->rings, &records, &dropped);
	hr->h.dropped = dropped - hr->dropped_before;
	hr->dropped_before = dropped;
	hr->h.end_ns = task_mono_ns();
	emit_report(c, &ops, &hr->h);
	task_hist_reset(&hr->h);
}

static int hist_start(struct task_ctx *c, struct hist_run *hr)
{
	memset(hr, 0, sizeof(*hr));
	if (task_hist_init(&hr->h, &c->proc))
		return -ENOMEM;
	/* from the heads as they are now: earlier records are not ours */
	if (task_rings_start(&hr->rings, &c->proc)) {
		task_hist_free(&hr->h);
		return -ENOMEM;
	}
	task_events_on(&c->proc, c->sample_shift, &hr->h.sample_shift);
	if (hr->h.sample_shift != c->sample_shift)
		fprintf(stderr, "%s: another tool is recording with --sample %u; "
			"using it\n", trace_prog, hr->h.sample_shift);
	return 0;
}

static int run_hist(struct task_ctx *c)
{
	struct hist_run hr;
	struct trace_loop l;
	enum trace_event ev;
	int ret = 0;

	if (hist_start(c, &hr))
		return TRACE_EXIT_FAIL;
	if (task_loop_init(&l, c, TASK_DRAIN_MS)) {
		ret = TRACE_EXIT_FAIL;
		goto out_events_off;
	}
	print_banner(c, "Recording task steps");
	json_open(c);
	do {
		ev = trace_loop_wait(&l);
		if (ev == TRACE_EV_END)
			task_events_off(&c->proc);	/* then the last drain */
		task_rings_drain(&hr.rings, &c->proc, task_hist_add, &hr.h);
		if (ev != TRACE_EV_TICK)
			hist_report(c, &hr);
	} while (ev != TRACE_EV_END);
	json_close(c);
	trace_loop_fini(&l);
	goto out_free;

out_events_off:
	task_events_off(&c->proc);
out_free:
	task_rings_free(&hr.rings);
	task_hist_free(&hr.h);
	return ret;
}

/* ---- blocked ------------------------------------------------------------------ */

static int blocked_error(struct task_ctx *c, int err)
{
	if (err == -EPERM || err == -EACCES) {
		trace_err("the kernel refused the BPF program (%s): needs root or "
			  "CAP_BPF+CAP_PERFMON, and no lockdown", strerror(-err));
		return TRACE_EXIT_PERM;
	}
	if (err == -ENOENT) {
		trace_err("process %d has no worker threads running", (int)c->pid);
		return TASK_EXIT_NO_RUNTIME;
	}
	trace_err("loading the BPF program failed: %s (--debug shows libbpf's "
		  "log)", strerror(-err));
	return TRACE_EXIT_FAIL;
}

static void blocked_json(struct task_ctx *c, const void *s)
{
	task_blk_json(&c->jw, s, &c->proc);
}

static void blocked_table(struct task_ctx *c, const void *s)
{
	struct task_blk_print po = { .limit = c->limit, .hist = !c->no_hist };

	task_blk_table(stdout, s, &c->proc, &po);
}

static int blocked_report(struct task_ctx *c, struct task_blk_obs *o)
{
	static const struct report_ops ops = { blocked_json, blocked_table,
					       NULL };
	struct task_blk_snapshot s;
	int err;

	err = task_blk_snapshot(o, &s);
	if (err) {
		trace_err("reading the BPF maps failed: %s", strerror(-err));
		return TRACE_EXIT_FAIL;
	}
	emit_report(c, &ops, &s);
	task_blk_snapshot_free(&s);
	return 0;
}

static int run_blocked(struct task_ctx *c)
{
	struct task_blk_obs *o = NULL;
	struct trace_loop l;
	enum trace_event ev;
	int ret, err;

	ret = trace_check_environment();
	if (ret)
		return ret;
	/* a site gets the id the kernel side charges by when a task
	 * suspends there while sites are counted (and keeps it) */
	task_sites_on(&c->proc);
	err = task_blk_open(&o, &c->proc, c->opts.debug);
	if (!err)
		err = task_blk_attach(o);
	if (err) {
		ret = blocked_error(c, err);
		goto out_close;
	}
	if (task_loop_init(&l, c, 0)) {
		ret = TRACE_EXIT_FAIL;
		goto out_close;
	}
	print_banner(c, "Tracing the worker threads");
	json_open(c);
	do {
		ev = trace_loop_wait(&l);
		if (ev != TRACE_EV_TICK)
			ret = blocked_report(c, o);
	} while (!ret && ev != TRACE_EV_END);
	json_close(c);
	trace_loop_fini(&l);
out_close:
	task_blk_close(o);
	task_sites_off(&c->proc);
	return ret;
}

/* ---- dump -------------------------------------------------------------------- */

static void dump_json(struct task_ctx *c, const void *d)
{
	task_dump_json(&c->jw, d, &c->proc);
}

static void dump_table(struct task_ctx *c, const void *d)
{
	task_dump_table(stdout, d, &c->proc);
}

static int run_dump(struct task_ctx *c)
{
	static const struct report_ops ops = { dump_json, dump_table, NULL };
	struct task_syms *syms;
	struct task_dump d;
	int err;

	err = task_syms_open(&syms, c->pid);
	if (err)
		return task_proc_error(&c->proc, c->pid, err);
	err = task_dump_collect(&d, &c->proc, syms, c->depth,
				(uint64_t)((c->opts.duration ? c->opts.duration :
					    DEFAULT_DUMP_BUDGET_S) * 1e9));
	if (err) {
		task_syms_close(syms);
		return task_proc_error(&c->proc, c->pid, err);
	}
	json_open(c);
	emit_report(c, &ops, &d);
	task_dump_free(&d);
	task_syms_close(syms);
	return TRACE_EXIT_OK;
}

/* ---- dispatch ---------------------------------------------------------------- */

/* A thread id means its process: the kernel join filters on the tgid. */
static int resolve_pid(struct task_ctx *c)
{
	pid_t tgid = sched_pid_tgid(c->pid);

	if (tgid < 0)
		return tgid;
	if (tgid != c->pid)
		fprintf(stderr, "%s: %d is a thread of process %d; reading the "
			"process\n", trace_prog, (int)c->pid, (int)tgid);
	c->pid = tgid;
	return 0;
}

static int run_command(const struct trace_opts *opts,
		       const struct task_command *cmd, int argc, char **argv,
		       void (*usage)(FILE *))
{
	struct task_ctx c = {
		.opts = *opts,
		.cmd = cmd->name,
		.limit = 20,
		.depth = DEFAULT_DEPTH,
	};
	int ret, err;

	ret = parse_args(&c, cmd, argc, argv, usage);
	if (ret)
		return ret < 0 ? TRACE_EXIT_OK : ret;
	/* the global options too */
	if ((!(cmd->opts & OPTM_DURATION) && c.opts.duration) ||
	    (!(cmd->opts & OPTM_INTERVAL) && c.opts.interval)) {
		trace_err("%s takes no %s", cmd->name,
			  c.opts.interval ? "--interval" : "--duration");
		return TRACE_EXIT_USAGE;
	}
	err = resolve_pid(&c);
	if (!err)
		err = task_proc_open(&c.proc, c.pid, cmd->rw);
	if (err)
		return task_proc_error(&c.proc, c.pid, err);
	ret = cmd->run(&c);
	task_proc_close(&c.proc);
	return ret;
}

int do_task(const struct trace_opts *opts, int argc, char **argv)
{
	size_t i;

	if (argc < 1) {
		task_usage(stderr);
		return TRACE_EXIT_USAGE;
	}
	if (trace_is_help(argv[0])) {
		task_usage(stdout);
		return TRACE_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[0], commands[i].name))
			return run_command(opts, &commands[i], argc, argv,
					   task_usage);
	trace_err("unknown task command '%s'", argv[0]);
	task_usage(stderr);
	return TRACE_EXIT_USAGE;
}

int do_record(const struct trace_opts *opts, int argc, char **argv)
{
	if (argc >= 1 && trace_is_help(argv[0])) {
		record_usage(stdout);
		return TRACE_EXIT_OK;
	}
	/* getopt skips argv[0]: give it the object's name */
	return run_command(opts, &record_command, argc + 1, argv - 1,
			   record_usage);
}

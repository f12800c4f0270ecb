// SPDX-License-Identifier: MIT
/*
 * sched.c - the `sched` object of rtasync-trace: `sched stat` for
 * processes (-p), a cgroup (--cgroup) or a command it runs (-- CMD).
 *
 * This file owns the command line, the target's life cycle (fork, attach,
 * exec, wait) and the report loop; sched_obs.c does the BPF work and
 * sched_report.c the printing.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json_writer.h"
#include "sched_obs.h"
#include "sched_report.h"
#include "trace.h"

#define MAX_PIDS 64

struct stat_ctx {
	struct trace_opts opts;
	struct sched_report_opts rep;
	unsigned int max_threads;
	pid_t pids[MAX_PIDS];
	int npids;
	const char *cgroup;
	char **cmd;		/* argv of -- CMD, NULL otherwise */
	pid_t child;
	int go_fd;		/* write end that releases the child, or -1 */
	int child_status;	/* waitpid status, valid if child_reaped */
	bool child_reaped;

	struct sched_obs *obs;
	struct sched_snapshot prev;	/* last snapshot, for --interval */
	int nreports;
	struct json_writer jw;
};

static void sched_usage(FILE *out)
{
	fprintf(out,
		"Usage: %1$s [OPTIONS] sched { stat | help }\n"
		"       %1$s [OPTIONS] sched stat TARGET [STAT_OPTIONS]\n"
		"\n"
		"       TARGET := { -p|--pid PID [-p PID ...] | --cgroup PATH |\n"
		"                   -- CMD [ARGS ...] }\n"
		"       STAT_OPTIONS := { --requests N | --no-hist | --max-threads N |\n"
		"                         -j|--json | --pretty | --duration SEC |\n"
		"                         --interval SEC }\n"
		"\n"
		"Per-thread context switches (voluntary/involuntary), on-CPU and\n"
		"off-CPU time, run-queue latency, per-CPU idle time and log2\n"
		"histograms, measured in the kernel at sched_switch.\n"
		"With -- CMD the command is started after tracing is attached, its\n"
		"children are followed, and the report is printed when it exits.\n",
		trace_prog);
}

static void stat_usage(FILE *out)
{
	sched_usage(out);
}

/* ---- command line ---------------------------------------------------- */

enum {
	OPT_CGROUP = 256, OPT_REQUESTS, OPT_NO_HIST, OPT_MAX_THREADS,
};

static const struct option stat_longopts[] = {
	{ "pid",	 required_argument, NULL, 'p' },
	{ "cgroup",	 required_argument, NULL, OPT_CGROUP },
	{ "requests",	 required_argument, NULL, OPT_REQUESTS },
	{ "no-hist",	 no_argument,	    NULL, OPT_NO_HIST },
	{ "max-threads", required_argument, NULL, OPT_MAX_THREADS },
	{ "json",	 no_argument,	    NULL, 'j' },
	{ "pretty",	 no_argument,	    NULL, TRACE_OPT_PRETTY },
	{ "duration",	 required_argument, NULL, TRACE_OPT_DURATION },
	{ "interval",	 required_argument, NULL, TRACE_OPT_INTERVAL },
	{ "help",	 no_argument,	    NULL, 'h' },
	{ 0 }
};

static const char *opt_name(int opt)
{
	const struct option *o;

	for (o = stat_longopts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

static int parse_pid(struct stat_ctx *c, const char *arg)
{
	pid_t pid;

	if (trace_parse_pid(arg, &pid))
		return TRACE_EXIT_USAGE;
	if (c->npids == MAX_PIDS) {
		trace_err("at most %d pids", MAX_PIDS);
		return TRACE_EXIT_USAGE;
	}
	c->pids[c->npids++] = pid;
	return 0;
}

static int parse_stat_opt(struct stat_ctx *c, int opt, const char *arg)
{
	int ret = trace_common_opt(&c->opts, opt, arg);
	uint64_t v;

	if (ret >= 0)
		return ret;
	switch (opt) {
	case 'p':
		return parse_pid(c, arg);
	case OPT_CGROUP:
		c->cgroup = arg;
		return 0;
	case OPT_REQUESTS:
		if (trace_parse_u64(arg, &c->rep.requests) || !c->rep.requests)
			break;
		return 0;
	case OPT_NO_HIST:
		c->rep.hist = false;
		return 0;
	case OPT_MAX_THREADS:
		if (trace_parse_u64(arg, &v) || !v || v > (1U << 24))
			break;
		c->max_threads = v;
		return 0;
	default:
		return TRACE_EXIT_USAGE;
	}
	trace_err("bad value '%s' for --%s", arg, opt_name(opt));
	return TRACE_EXIT_USAGE;
}

static int parse_stat_args(struct stat_ctx *c, int argc, char **argv)
{
	int opt, ret, ntargets;

	optind = 0;	/* restart getopt; argv[0] is "stat" */
	while ((opt = getopt_long(argc, argv, "+p:jh", stat_longopts, NULL)) != -1) {
		if (opt == 'h') {
			stat_usage(stdout);
			return -1;
		}
		if (opt == '?')
			return TRACE_EXIT_USAGE;
		ret = parse_stat_opt(c, opt, optarg);
		if (ret)
			return ret;
	}
	if (optind < argc) {
		if (!strcmp(argv[optind - 1], "--")) {
			c->cmd = &argv[optind];
		} else if (trace_is_help(argv[optind])) {
			stat_usage(stdout);
			return -1;
		} else {
			trace_err("unexpected argument '%s' (a command goes after --)",
				  argv[optind]);
			return TRACE_EXIT_USAGE;
		}
	}
	ntargets = (c->npids > 0) + !!c->cgroup + !!c->cmd;
	if (ntargets != 1) {
		trace_err("sched stat needs exactly one target: -p PID, --cgroup PATH or -- CMD");
		return TRACE_EXIT_USAGE;
	}
	return 0;
}

/* ---- target set-up --------------------------------------------------- */

static int resolve_pids(struct stat_ctx *c)
{
	pid_t tgid;
	int i;

	for (i = 0; i < c->npids; i++) {
		tgid = sched_pid_tgid(c->pids[i]);
		if (tgid < 0) {
			trace_err("no process with pid %d", (int)c->pids[i]);
			return TRACE_EXIT_NO_TARGET;
		}
		if (tgid != c->pids[i])
			fprintf(stderr, "%s: %d is a thread of process %d; tracing the process\n",
				trace_prog, (int)c->pids[i], (int)tgid);
		c->pids[i] = tgid;
	}
	return 0;
}

static int open_error(struct stat_ctx *c, int err)
{
	if (c->cgroup && err == -ENOENT) {
		trace_err("'%s' is not a cgroup v2 directory (cgroup2 mounted?)",
			  c->cgroup);
		return TRACE_EXIT_NO_TARGET;
	}
	if (err == -EPERM || err == -EACCES) {
		trace_err("the kernel refused the BPF programs (%s): needs root or "
			  "CAP_BPF+CAP_PERFMON, and no lockdown", strerror(-err));
		return TRACE_EXIT_PERM;
	}
	trace_err("loading the BPF programs failed: %s (--debug shows libbpf's log)",
		  strerror(-err));
	return TRACE_EXIT_FAIL;
}

/*
 * Fork the command stopped before exec: it must be in the traced set
 * before it runs a single instruction of its own.  'go' releases it;
 * 'errp' carries an exec failure back (closed on a successful exec).
 */
static int spawn_child(struct stat_ctx *c, const sigset_t *mask, int go[2],
		       int errp[2])
{
	char byte;
	int e;

	if (pipe2(go, O_CLOEXEC) || pipe2(errp, O_CLOEXEC))
		return -errno;
	c->child = fork();
	if (c->child < 0)
		return -errno;
	if (c->child > 0) {
		close(go[0]);
		close(errp[1]);
		c->go_fd = go[1];
		return 0;
	}
	close(go[1]);
	close(errp[0]);
	if (read(go[0], &byte, 1) != 1)
		_exit(127);
	sigprocmask(SIG_SETMASK, mask, NULL);
	execvp(c->cmd[0], c->cmd);
	e = errno;
	if (write(errp[1], &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/* Let the child exec; 0 once it did, or its exec errno (positive). */
static int release_child(struct stat_ctx *c, int go[2], int errp[2])
{
	int e = 0;

	if (write(go[1], "g", 1) != 1)
		e = errno;
	close(go[1]);
	c->go_fd = -1;
	if (read(errp[0], &e, sizeof(e)) != sizeof(e))
		e = 0;
	close(errp[0]);
	errp[0] = -1;
	if (e) {
		waitpid(c->child, &c->child_status, 0);
		c->child_reaped = true;
	}
	return e;
}

/* ---- reports ---------------------------------------------------------- */

static void json_target(struct stat_ctx *c)
{
	struct json_writer *jw = &c->jw;
	int i;

	jw_name(jw, "target");
	jw_start_object(jw);
	if (c->cmd) {
		jw_string_field(jw, "type", "command");
		jw_name(jw, "argv");
		jw_start_array(jw);
		for (i = 0; c->cmd[i]; i++)
			jw_string(jw, c->cmd[i]);
		jw_end_array(jw);
		jw_int_field(jw, "pid", c->child);
		if (c->child_reaped && WIFEXITED(c->child_status))
			jw_int_field(jw, "exit_status", WEXITSTATUS(c->child_status));
		else if (c->child_reaped && WIFSIGNALED(c->child_status))
			jw_int_field(jw, "signal", WTERMSIG(c->child_status));
	} else if (c->cgroup) {
		jw_string_field(jw, "type", "cgroup");
		jw_string_field(jw, "path", c->cgroup);
	} else {
		jw_string_field(jw, "type", "pid");
		jw_name(jw, "pids");
		jw_start_array(jw);
		for (i = 0; i < c->npids; i++)
			jw_int(jw, c->pids[i]);
		jw_end_array(jw);
	}
	jw_end_object(jw);
}

static void print_child_status(struct stat_ctx *c)
{
	if (!c->cmd || !c->child_reaped)
		return;
	if (WIFEXITED(c->child_status))
		printf("\nCommand exited with status %d\n",
		       WEXITSTATUS(c->child_status));
	else if (WIFSIGNALED(c->child_status))
		printf("\nCommand killed by signal %d\n",
		       WTERMSIG(c->child_status));
}

static void print_one(struct stat_ctx *c, const struct sched_snapshot *snap,
		      bool last)
{
	if (c->opts.json) {
		jw_start_object(&c->jw);
		if (c->opts.interval)
			jw_int_field(&c->jw, "interval", c->nreports);
		json_target(c);
		sched_report_json(&c->jw, snap, &c->rep);
		jw_end_object(&c->jw);
	} else {
		if (c->opts.interval)
			trace_print_time(stdout, c->nreports);
		sched_report_table(stdout, snap, &c->rep);
		if (last)
			print_child_status(c);
	}
	fflush(stdout);
	c->nreports++;
}

/* One report: the whole run, or (--interval) the window since the last. */
static int report(struct stat_ctx *c, bool last)
{
	struct sched_snapshot cur, delta;
	int err;

	err = sched_obs_snapshot(c->obs, &cur);
	if (err) {
		trace_err("reading the BPF maps failed: %s", strerror(-err));
		return TRACE_EXIT_FAIL;
	}
	if (!c->opts.interval) {
		print_one(c, &cur, last);
		sched_snapshot_free(&cur);
		return 0;
	}
	if (c->nreports || c->prev.end_ns) {
		err = sched_snapshot_delta(&delta, &cur, &c->prev);
		if (err) {
			sched_snapshot_free(&cur);
			return TRACE_EXIT_FAIL;
		}
		print_one(c, &delta, last);
		sched_snapshot_free(&delta);
	} else {
		print_one(c, &cur, last);
	}
	sched_snapshot_free(&c->prev);
	c->prev = cur;
	return 0;
}

/* ---- the wait loop ---------------------------------------------------- */

/*
 * The shared loop (loop.c) on the targets' pids (none with --cgroup):
 * it ends when all of them ended, at --duration, or on a signal; a
 * report every --interval meanwhile.
 */
static int wait_loop(struct stat_ctx *c, struct trace_loop *l)
{
	enum trace_event ev;
	int i, ret;

	if (c->cmd)
		trace_loop_watch(l, c->child);
	for (i = 0; i < c->npids && !c->cmd; i++)
		trace_loop_watch(l, c->pids[i]);
	trace_loop_start(l, &c->opts, 0);
	while ((ev = trace_loop_wait(l)) != TRACE_EV_END) {
		ret = report(c, false);
		if (ret)
			return ret;
	}
	return 0;
}

static void stop_child(struct stat_ctx *c)
{
	if (!c->cmd || c->child <= 0 || c->child_reaped)
		return;
	if (c->go_fd >= 0) {
		/* never released: EOF on its pipe makes it exit */
		close(c->go_fd);
		c->go_fd = -1;
	} else {
		kill(c->child, SIGTERM);
	}
	waitpid(c->child, &c->child_status, 0);
	c->child_reaped = true;
}

static void print_banner(struct stat_ctx *c)
{
	int i;

	if (c->cmd)
		fprintf(stderr, "Tracing scheduler events of '%s' (pid %d)",
			c->cmd[0], (int)c->child);
	else if (c->cgroup)
		fprintf(stderr, "Tracing scheduler events of cgroup %s", c->cgroup);
	else
		for (i = 0; i < c->npids; i++)
			fprintf(stderr, "%s%d", i ? ", " : "Tracing scheduler events of pid ",
				(int)c->pids[i]);
	trace_banner_end(&c->opts);
}

static int add_targets(struct stat_ctx *c, const sigset_t *oldmask, int go[2],
		       int errp[2])
{
	int i, err;

	if (c->cmd) {
		err = spawn_child(c, oldmask, go, errp);
		if (err) {
			trace_err("cannot fork: %s", strerror(-err));
			return TRACE_EXIT_FAIL;
		}
		return sched_obs_add_pid(c->obs, c->child) ? TRACE_EXIT_FAIL : 0;
	}
	for (i = 0; i < c->npids; i++)
		if (sched_obs_add_pid(c->obs, c->pids[i]))
			return TRACE_EXIT_FAIL;
	return 0;
}

static int run_stat(struct stat_ctx *c)
{
	struct sched_obs_opts oo = {
		.cgroup = c->cgroup,
		.follow_forks = c->cmd != NULL,
		.max_threads = c->max_threads,
		.debug = c->opts.debug,
	};
	int go[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct trace_loop l;
	int err, ret;

	err = sched_obs_open(&c->obs, &oo);
	if (err)
		return open_error(c, err);

	/* signals blocked before the fork: the child restores l.oldmask */
	ret = trace_loop_signals(&l) ? TRACE_EXIT_FAIL :
	      add_targets(c, &l.oldmask, go, errp);
	if (ret)
		goto out_stop;

	err = sched_obs_attach(c->obs);
	if (err) {
		ret = open_error(c, err);
		goto out_stop;
	}
	if (c->cmd) {
		err = release_child(c, go, errp);
		if (err) {
			trace_err("cannot run '%s': %s", c->cmd[0], strerror(err));
			ret = TRACE_EXIT_NO_TARGET;
			goto out_stop;
		}
	}
	print_banner(c);
	if (c->opts.json) {
		jw_init(&c->jw, stdout, c->opts.pretty);
		if (c->opts.interval)
			jw_start_array(&c->jw);
	}
	ret = wait_loop(c, &l);
	stop_child(c);
	if (!ret)
		ret = report(c, true);
	if (c->opts.json && c->opts.interval)
		jw_end_array(&c->jw);

out_stop:
	stop_child(c);
	if (errp[0] >= 0)
		close(errp[0]);
	trace_loop_fini(&l);
	sched_snapshot_free(&c->prev);
	sched_obs_close(c->obs);
	return ret;
}

static int do_stat(const struct trace_opts *opts, int argc, char **argv)
{
	struct stat_ctx c = {
		.opts = *opts,
		.rep = { .hist = true },
		.go_fd = -1,
	};
	int ret;

	ret = parse_stat_args(&c, argc, argv);
	if (ret)
		return ret < 0 ? TRACE_EXIT_OK : ret;
	ret = resolve_pids(&c);
	if (!ret)
		ret = trace_check_environment();
	if (!ret)
		ret = run_stat(&c);
	return ret;
}

int do_sched(const struct trace_opts *opts, int argc, char **argv)
{
	if (argc < 1) {
		sched_usage(stderr);
		return TRACE_EXIT_USAGE;
	}
	if (trace_is_help(argv[0])) {
		sched_usage(stdout);
		return TRACE_EXIT_OK;
	}
	if (!strcmp(argv[0], "stat"))
		return do_stat(opts, argc, argv);
	trace_err("unknown sched command '%s'", argv[0]);
	sched_usage(stderr);
	return TRACE_EXIT_USAGE;
}

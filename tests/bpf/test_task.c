// SPDX-License-Identifier: MIT
/*
 * test_task.c - rtasync-trace's task commands and `record` against
 * rt-workload, a librtasync program with known answers:
 *
 *   - known suspension counts per await site: `task top -j` says exactly
 *     those counts;
 *   - a task parked 3 frames deep: `task dump -j` shows deep_c, deep_b,
 *     deep_a in that order and deep_c's sleep site (and a 41-frame chain
 *     across arena chunks, whole), and the tasks' names (the table with
 *     its control characters escaped);
 *   - a fiber parked three C calls deep: `task dump` walks its C stack,
 *     fiber_park_c, fiber_park_b, fiber_park_a in that order;
 *   - a continuation that blocks in read(2) for ~300 ms after resuming
 *     from a known await: `task blocked -j` charges that site the blocked
 *     time, within 10% of what the workload measured around read(2);
 *   - a fiber that blocks its worker in read(2) the same way: the time
 *     is charged to the fiber's task, within the same 10%;
 *   - a known number of task steps: exactly that many records from
 *     `record` and `task hist` (and the sampled fraction), sequence
 *     numbers unique and increasing; an overflowing ring reports its drops
 *     and records + drops = steps;
 *   - the JSON and the table carry the same numbers (check_task.py);
 *   - a bad pid, a process without the runtime, an area of another
 *     version and an unprivileged caller get their exit codes.
 *
 * Runs for real: the task commands need only the right to read the
 * target (same user or root); `task blocked` needs root or CAP_BPF +
 * CAP_PERFMON and kernel BTF, and skips saying so where those are absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "bpf_test.h"
#include "json_writer.h"
#include "task_area.h"
#include "task_blocked.h"
#include "task_hist.h"
#include "trace.h"

#define BLOCK_MS 300

static const char *tool, *workload, *python, *check;
static char wl_out[] = "/tmp/rtasync-task-wl-XXXXXX";
static char out_path[] = "/tmp/rtasync-task-out-XXXXXX";
static char err_path[] = "/tmp/rtasync-task-err-XXXXXX";
static char tab_path[] = "/tmp/rtasync-task-tab-XXXXXX";
static char rec_path[] = "/tmp/rtasync-task-rec-XXXXXX";

static int group_setup(void **state)
{
	(void)state;
	tool = getenv("RTASYNC_TRACE");
	workload = getenv("RT_WORKLOAD");
	python = getenv("PYTHON3");
	check = getenv("CHECK_TASK");
	if (!tool || !workload || !python || !check)
		return -1;	/* run through meson test, which sets them */
	close(mkstemp(wl_out));
	close(mkstemp(out_path));
	close(mkstemp(err_path));
	close(mkstemp(tab_path));
	close(mkstemp(rec_path));
	bpf_test_init();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(wl_out);
	unlink(out_path);
	unlink(err_path);
	unlink(tab_path);
	unlink(rec_path);
	return 0;
}

/* ---- processes ------------------------------------------------------------ */

/* Start argv with stdout to out and stderr to err; its pid. */
static pid_t start(char *const argv[], const char *out, const char *err)
{
	pid_t pid;

	/* here, not in the child: a poll of the file must not see old lines */
	truncate(out, 0);
	truncate(err, 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a failed assertion must not leave workloads behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		bpf_test_redirect(1, out);
		bpf_test_redirect(2, err);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run the tool to completion: its exit code; output in out_path/err_path. */
#define TOOL(...)							\
	wait_exit(start((char *const[]){ (char *)tool, __VA_ARGS__, NULL },\
			out_path, err_path))

#define WORKLOAD(...)							\
	start((char *const[]){ (char *)workload, __VA_ARGS__, NULL },	\
	      wl_out, "/dev/null")

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait up to 10 s for a line of path that holds needle. */
static bool wait_line(const char *path, const char *needle, char *line,
		      size_t len)
{
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		FILE *f = fopen(path, "re");
		bool found = false;

		while (f && !found && fgets(line, (int)len, f))
			found = strstr(line, needle) != NULL;
		if (f)
			fclose(f);
		if (found)
			return true;
		sleep_ms(10);
	}
	return false;
}

/*
 * Start the workload with argv, wait for its line holding word (whole, in
 * line), and put its pid in pid (16 bytes) as the tool's -p wants it.
 */
static pid_t start_until(char *const argv[], const char *word, char *line,
			 size_t len, char *pid)
{
	pid_t wl = start(argv, wl_out, "/dev/null");

	assert_true(wait_line(wl_out, word, line, len));
	snprintf(pid, 16, "%d", (int)wl);
	return wl;
}

/* rt-workload ARGS..., once it printed a line holding word. */
#define WORKLOAD_UNTIL(word, line, pid, ...)				\
	start_until((char *const[]){ (char *)workload, __VA_ARGS__, NULL },\
		    word, line, sizeof(line), pid)

/* key=NUMBER in a workload's line */
static long kv(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	assert_non_null(p);
	return strtol(p + strlen(pat), NULL, 10);
}

static void stop(pid_t pid)
{
	kill(pid, SIGTERM);
	wait_exit(pid);
}

/* ---- check_task.py ---------------------------------------------------------- */

static void py(char *buf, size_t len, const char *fmt, ...)
{
	char cmd[2048], args[1536];
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "'%s' '%s' %s", python, check, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	buf[0] = '\0';
	if (!fgets(buf, (int)len, p))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	assert_int_equal(pclose(p), 0);
}

/* A number out of a JSON file: EXPR over r. */
static long long jnum(const char *path, const char *expr)
{
	char buf[256];

	py(buf, sizeof(buf), "query '%s' \"%s\"", path, expr);
	return strtoll(buf, NULL, 10);
}

static void compare(const char *what, const char *json, const char *table)
{
	char buf[64];

	py(buf, sizeof(buf), "compare-%s '%s' '%s'", what, json, table);
}

/* ---- (a) task top: exact counts per site -------------------------------------- */

static void test_top_counts(void **state)
{
	char line[512], pid[16], expr[256];
	long yl, sl;
	pid_t wl;

	(void)state;
	wl = WORKLOAD_UNTIL("ready", line, pid, "sites", "5");
	yl = kv(line, "yield_line");
	sl = kv(line, "sleep_line");
	assert_int_equal(TOOL("task", "top", "-p", pid, "-j", "--duration", "0.2"), 0);
	snprintf(expr, sizeof(expr), "[s['suspends'] for s in r['sites'] if "
		 "s['func'] == 'sites_task' and s['line'] == %ld][0]", yl);
	assert_int_equal(jnum(out_path, expr), kv(line, "yield_count"));
	snprintf(expr, sizeof(expr), "[s['suspends'] for s in r['sites'] if "
		 "s['func'] == 'sites_task' and s['line'] == %ld][0]", sl);
	assert_int_equal(jnum(out_path, expr), kv(line, "sleep_count"));
	assert_int_equal(jnum(out_path, "r['total']['counters']['suspends']"),
			 kv(line, "yield_count") + kv(line, "sleep_count"));
	assert_int_equal(jnum(out_path, "r['total']['counters']['completed']"), 5);
	assert_int_equal(jnum(out_path, "len(r['sites'])"), 2);
	print_message("task top: %ld yields at rt-workload.c:%ld, %ld sleeps at "
		      ":%ld, as the workload counted\n", kv(line, "yield_count"),
		      yl, kv(line, "sleep_count"), sl);

	/* (e) the table of a second look carries the same numbers */
	rename(out_path, rec_path);
	assert_int_equal(TOOL("task", "top", "-p", pid, "--duration", "0.2"), 0);
	assert_true(bpf_test_file_contains(out_path, "SUSPENDS"));
	compare("top", rec_path, out_path);
	stop(wl);
}

/*
 * A target that counts sites only while a tool asks: top switches them on
 * (the workload starts its tasks when it sees that) and counts them all.
 */
static void test_top_switches_sites_on(void **state)
{
	char line[512], pid[16], expr[256];
	pid_t wl;
	long yl;

	(void)state;
	wl = WORKLOAD_UNTIL("waiting", line, pid, "sites-watched", "5");
	assert_int_equal(TOOL("task", "top", "-p", pid, "-j", "--duration", "2"), 0);
	assert_true(wait_line(wl_out, "ready", line, sizeof(line)));
	yl = kv(line, "yield_line");
	snprintf(expr, sizeof(expr), "[s['suspends'] for s in r['sites'] if "
		 "s['func'] == 'sites_task' and s['line'] == %ld][0]", yl);
	assert_int_equal(jnum(out_path, expr), kv(line, "yield_count"));
	assert_int_equal(jnum(out_path, "sum(s['suspends'] for s in r['sites'])"),
			 kv(line, "yield_count") + kv(line, "sleep_count"));
	assert_int_equal(jnum(out_path, "r['total']['counters']['yields']"),
			 kv(line, "yield_count"));
	stop(wl);
}

/* task top's I/O counters: per op kind, as the workload did them. */
static void test_top_io_counts(void **state)
{
	char line[512], pid[16];
	pid_t wl;
	long n;

	(void)state;
	wl = WORKLOAD_UNTIL("ready", line, pid, "io", "25");
	n = kv(line, "io_round_trips");
	assert_int_equal(TOOL("task", "top", "-p", pid, "-j", "--duration", "0.2"), 0);
	for (const char *const *op = (const char *const[]){ "write", "read",
							     NULL }; *op; op++) {
		char expr[256];

		snprintf(expr, sizeof(expr), "[o['submitted'] + o['completed'] "
			 "for o in r['total']['io']['ops'] if o['op'] == '%s'][0]",
			 *op);
		assert_int_equal(jnum(out_path, expr), 2 * n);
	}
	assert_int_equal(jnum(out_path, "[o['submitted'] for o in "
			      "r['total']['io']['ops'] if o['op'] == 'poll'][0]"), 1);
	assert_int_equal(jnum(out_path, "r['total']['io']['deadlines_expired']"), 1);
	assert_int_equal(TOOL("task", "top", "-p", pid, "--duration", "0.2"), 0);
	assert_true(bpf_test_file_contains(out_path, "IO_OP"));
	assert_true(bpf_test_file_contains(out_path, "I/O deadlines expired 1"));
	stop(wl);
}

/* task top's blocking pool: its threads and calls, as the workload made
 * them (2 threads, N calls returned, 2 in read(2) for good). */
static void test_top_blocking_pool(void **state)
{
	char line[512], pid[16];
	pid_t wl;
	long n;

	(void)state;
	wl = WORKLOAD_UNTIL("ready", line, pid, "blocking", "5");
	n = kv(line, "blocking_calls");
	assert_int_equal(TOOL("task", "top", "-p", pid, "-j", "--duration", "0.2"), 0);
	assert_int_equal(jnum(out_path, "len(r['blocking'])"), 1);
	assert_int_equal(jnum(out_path, "r['blocking'][0]['max']"), 2);
	assert_int_equal(jnum(out_path, "r['blocking'][0]['threads']"), 2);
	assert_int_equal(jnum(out_path, "r['blocking'][0]['running']"), 2);
	assert_int_equal(jnum(out_path, "r['blocking'][0]['waiting']"), 0);
	assert_int_equal(jnum(out_path, "r['blocking'][0]['queued']"), n + 2);
	assert_int_equal(jnum(out_path, "r['blocking'][0]['started']"), n + 2);
	assert_int_equal(jnum(out_path, "r['blocking'][0]['completed']"), n);
	assert_int_equal(jnum(out_path, "r['blocking'][0]['skipped']"), 0);
	assert_int_equal(jnum(out_path, "r['blocking'][0]['window_completed']"), 0);
	assert_int_equal(TOOL("task", "top", "-p", pid, "--duration", "0.2"), 0);
	assert_true(bpf_test_file_contains(out_path, "BLOCKING THREADS"));
	assert_int_equal(TOOL("task", "top", "-p", pid, "-o", "prometheus",
			      "--duration", "0.1"), 0);
	snprintf(line, sizeof(line), "rtasync_blocking_running{pid=\"%s\","
		 "runtime=\"0\"} 2\n", pid);
	assert_true(bpf_test_file_contains(out_path, line));
	snprintf(line, sizeof(line), "rtasync_blocking_completed_total{pid="
		 "\"%s\",runtime=\"0\"} %ld\n", pid, n);
	assert_true(bpf_test_file_contains(out_path, line));
	stop(wl);
}

/*
 * -o prometheus: the same counts, in a file the Prometheus project's own
 * parser reads.
 */
static void test_top_prometheus(void **state)
{
	char line[512], pid[16], buf[256];
	pid_t wl;

	(void)state;
	wl = WORKLOAD_UNTIL("ready", line, pid, "sites", "5");
	assert_int_equal(TOOL("task", "top", "-p", pid, "-o", "prometheus",
			      "--duration", "0.1"), 0);
	py(buf, sizeof(buf), "prom '%s' \"[int(v) for l, v in "
	   "r['rtasync_site_suspends_total'] if l['line'] == '%ld' and "
	   "l['func'] == 'sites_task'][0]\"", out_path, kv(line, "yield_line"));
	assert_int_equal(strtol(buf, NULL, 10), kv(line, "yield_count"));
	py(buf, sizeof(buf), "prom '%s' \"int(sum(v for l, v in "
	   "r['rtasync_worker_completed_total']))\"", out_path);
	assert_int_equal(strtol(buf, NULL, 10), 5);
	assert_int_equal(TOOL("task", "top", "-p", pid, "-o", "prometheus",
			      "--interval", "1"), TRACE_EXIT_USAGE);
	assert_int_equal(TOOL("task", "top", "-p", pid, "-o", "yaml"),
			 TRACE_EXIT_USAGE);
	stop(wl);
}

/* -j: errors are a JSON object on stdout too; option bounds. */
static void test_json_errors(void **state)
{
	(void)state;
	assert_int_equal(TOOL("-j", "task", "top", "-p", "4194305"),
			 TRACE_EXIT_NO_TARGET);
	assert_true(bpf_test_file_contains(out_path,
		"{\"error\":\"no process with pid 4194305\"}"));
	assert_int_equal(TOOL("task", "top", "-p", "1", "-j", "--interval",
			      "0.001"), TRACE_EXIT_USAGE);
	assert_true(bpf_test_file_contains(out_path,
		"{\"error\":\"--interval 0.001 is too short: at least 0.01 s\"}"));
	assert_int_equal(TOOL("--duration", "0", "task", "top", "-p", "1"),
			 TRACE_EXIT_USAGE);
	assert_true(bpf_test_file_contains(err_path,
		"bad --duration '0': a number of seconds > 0 expected"));
	assert_int_equal(TOOL("task", "hist", "-p", "1", "--duration", "0"),
			 TRACE_EXIT_USAGE);
	assert_true(bpf_test_file_contains(err_path,
		"bad --duration '0': a number of seconds > 0 expected"));
	assert_int_equal(TOOL("sched", "stat", "-p", "1", "--duration", "0"),
			 TRACE_EXIT_USAGE);
	assert_true(bpf_test_file_contains(err_path,
		"bad --duration '0': a number of seconds > 0 expected"));
}

static void test_top_interval(void **state)
{
	char line[512], pid[16];
	pid_t wl;

	(void)state;
	wl = WORKLOAD_UNTIL("ready", line, pid, "sites", "1");
	assert_int_equal(TOOL("task", "top", "-p", pid, "-j", "--interval",
			      "0.1", "--duration", "0.35"), 0);
	/* an array of reports, each over its own window: a full one lasts
	 * at least the interval (the last may be cut by the duration); at
	 * most duration / interval + 1 of them, fewer only when load
	 * stretches a window, so there is no upper bound on time here */
	assert_in_range(jnum(out_path, "len(r)"), 1, 4);
	assert_true(jnum(out_path, "r[0]['window_ns']") >= 90000000);
	assert_int_equal(jnum(out_path, "r[-1]['sites'][0]['window_suspends']"), 0);
	stop(wl);
}

/* ---- (b) task dump: a task parked 3 frames deep ------------------------------- */

/* Start workload mode, its ready line in line; `task dump -j` of it read
 * every task whole. */
static pid_t dump_ready(const char *mode, char *line, size_t len, char *pid)
{
	pid_t wl = start_until((char *const[]){ (char *)workload,
						(char *)mode, NULL },
			       "ready", line, len, pid);

	assert_int_equal(TOOL("task", "dump", "-p", pid, "-j"), 0);
	assert_int_equal(jnum(out_path, "r['skipped']"), 0);
	return wl;
}

static void test_dump_chain(void **state)
{
	char line[512], pid[16], expr[256], buf[512];
	pid_t wl;

	(void)state;
	wl = dump_ready("deep", line, sizeof(line), pid);
	assert_int_equal(jnum(out_path, "r['sleeping']"), 3);

	snprintf(expr, sizeof(expr), "[t for t in r['tasks'] if t['site']['func'] "
		 "== 'deep_c'][0]");
	py(buf, sizeof(buf), "query '%s' \"[f['symbol'] for f in %s['frames']]\"",
	   out_path, expr);
	assert_string_equal(buf, "[\"deep_c\", \"deep_b\", \"deep_a\"]");
	py(buf, sizeof(buf), "query '%s' \"[f['root'] for f in %s['frames']]\"",
	   out_path, expr);
	assert_string_equal(buf, "[false, false, true]");
	snprintf(buf, sizeof(buf), "%s['site']['line']", expr);
	assert_int_equal(jnum(out_path, buf), kv(line, "deep_line"));
	py(buf, sizeof(buf), "query '%s' \"%s['site']['file'].endswith('rt-workload.c')\"",
	   out_path, expr);
	assert_string_equal(buf, "true");

	/* 41 frames across the inline arena and two chunks, root last */
	snprintf(expr, sizeof(expr), "[t for t in r['tasks'] if t['site']['func'] "
		 "== 'chain_rec'][0]");
	snprintf(buf, sizeof(buf), "%s['depth']", expr);
	assert_int_equal(jnum(out_path, buf), kv(line, "chain_depth") + 1);
	py(buf, sizeof(buf), "query '%s' \"[f['symbol'] for f in %s['frames']]"
	   "[-2:] + [%s['frames'][-1]['root']]\"", out_path, expr, expr);
	assert_string_equal(buf, "[\"chain_rec\", \"chain_root\", true]");
	/* names as set (a tab in one), "" for a task never named */
	py(buf, sizeof(buf), "query '%s' \"%s['name']\"", out_path, expr);
	assert_string_equal(buf, "");
	py(buf, sizeof(buf), "query '%s' \"sorted(t['name'] for t in r['tasks'])\"",
	   out_path);
	assert_string_equal(buf, "[\"\", \"deep-a/worker 7\", \"tab\\there\"]");
	py(buf, sizeof(buf), "query '%s' \"[t['name'] for t in sorted(r['tasks'], "
	   "key=lambda t: t['site']['func']) if t['site']['func'] in "
	   "('deep_c', 'shallow')]\"", out_path);
	assert_string_equal(buf, "[\"deep-a/worker 7\", \"tab\\there\"]");
	print_message("task dump: deep_c <- deep_b <- deep_a (root), waiting at "
		      "rt-workload.c:%ld; a %ld-frame chain whole\n",
		      kv(line, "deep_line"), kv(line, "chain_depth") + 1);

	/* --depth keeps the innermost frames, and says how many there were */
	assert_int_equal(TOOL("task", "dump", "-p", pid, "-j", "--depth", "2"), 0);
	snprintf(buf, sizeof(buf), "[len(t['frames']) for t in r['tasks'] if "
		 "t['site']['func'] == 'chain_rec'][0]");
	assert_int_equal(jnum(out_path, buf), 2);

	/* (e) */
	assert_int_equal(TOOL("task", "dump", "-p", pid, "-j"), 0);
	rename(out_path, rec_path);
	assert_int_equal(TOOL("task", "dump", "-p", pid), 0);
	assert_true(bpf_test_file_contains(out_path, "waits at deep_c (rt-workload.c:"));
	/* the name lines, the control character escaped; compare() below
	 * checks each belongs to its task */
	assert_true(bpf_test_file_contains(out_path, "  name deep-a/worker 7\n"));
	assert_true(bpf_test_file_contains(out_path, "  name tab\\x09here\n"));
	compare("dump", rec_path, out_path);
	stop(wl);
}

/* ---- task dump of a parked fiber: its C stack --------------------------------- */

static void test_dump_fiber(void **state)
{
	char line[512], pid[16], buf[512];
	const char *fiber = "[t for t in r['tasks'] if t['fiber']][0]['fiber']";
	pid_t wl;

	(void)state;
	wl = dump_ready("fiber-deep", line, sizeof(line), pid);
	assert_int_equal(jnum(out_path, "len([t for t in r['tasks'] if t['fiber']])"), 1);
	/* the async side: the fiber's frame, parked at rt_sleep's await */
	py(buf, sizeof(buf), "query '%s' \"[[f['symbol'] for f in t['frames']] + "
	   "[t['site']['func']] for t in r['tasks'] if t['fiber']][0]\"", out_path);
	assert_string_equal(buf, "[\"rt_fiber_run\", \"rt_sleep\"]");
	/* the C side from the workload's functions to the fiber's base, whole
	 * (GCC's clone suffixes, .constprop.0 and such, cut off); what runs
	 * above fiber_park_c is the library's, inlined as the compiler chose */
	py(buf, sizeof(buf), "query '%s' \"(lambda s: s[s.index('fiber_park_c'):])"
	   "([f['symbol'].split('.')[0] for f in %s['frames']])\"", out_path, fiber);
	assert_string_equal(buf, "[\"fiber_park_c\", \"fiber_park_b\", \"fiber_park_a\", "
			    "\"fiber_main\", \"rt__fiber_start\"]");
	snprintf(buf, sizeof(buf), "int(%s['truncated'])", fiber);
	assert_int_equal(jnum(out_path, buf), 0);
	print_message("task dump: a fiber's C stack fiber_park_c <- fiber_park_b "
		      "<- fiber_park_a <- fiber_main, whole\n");

	rename(out_path, rec_path);
	assert_int_equal(TOOL("task", "dump", "-p", pid), 0);
	assert_true(bpf_test_file_contains(out_path, " C stack, "));
	compare("dump", rec_path, out_path);
	stop(wl);
}

/* ---- (c) task blocked: the kernel join ---------------------------------------- */

/*
 * Run a workload that waits for SIGUSR1 under the tool: the tool first
 * (its banner says it is attached, or has switched events on), then the
 * workload goes; both must exit 0 (the tool ends with its target).  The
 * tool's arguments follow it; "PID" stands for the workload's pid.  The
 * workload's "done" line in line.
 */
/* The first child of parent (a process started by `unshare --fork`). */
static pid_t first_child(pid_t parent)
{
	char path[64];
	long child = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent,
		 (int)parent);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%ld", &child) != 1)
			child = 0;
		fclose(f);
	}
	return (pid_t)child;
}

static void run_traced_in(const char *const wl_args[],
			  const char *const tool_args[], char *line, size_t len,
			  bool pidns)
{
	const char *argv[16];
	char pid[16];
	pid_t wl, target, t;
	int i = 0, k;

	/* in its own PID namespace, as in a container: gettid() there is
	 * not the tid the kernel's programs see */
	if (pidns) {
		argv[i++] = "unshare";
		argv[i++] = "--pid";
		argv[i++] = "--fork";
	}
	for (k = 0; wl_args[k] && i < 15; k++)
		argv[i++] = wl_args[k];
	argv[i] = NULL;
	wl = start((char *const *)argv, wl_out, "/dev/null");
	assert_true(wait_line(wl_out, "waiting", line, len));
	target = pidns ? first_child(wl) : wl;
	assert_true(target > 0);
	snprintf(pid, sizeof(pid), "%d", (int)target);
	argv[0] = tool;
	for (i = 0; tool_args[i] && i < 14; i++)
		argv[i + 1] = strcmp(tool_args[i], "PID") ? tool_args[i] : pid;
	argv[i + 1] = NULL;
	t = start((char *const *)argv, out_path, err_path);
	assert_true(wait_line(err_path, "Hit Ctrl-C", line, len));
	kill(target, SIGUSR1);
	assert_int_equal(wait_exit(wl), 0);
	assert_int_equal(wait_exit(t), 0);
	assert_true(wait_line(wl_out, "done", line, len));
}

static void run_traced(const char *const wl_args[], const char *const tool_args[],
		       char *line, size_t len)
{
	run_traced_in(wl_args, tool_args, line, len, false);
}

static void blocked_site(bool pidns)
{
	const char *const wl[] = { workload, "block", "300", NULL };
	const char *const args[] = { "task", "blocked", "-p", "PID", "-j", NULL };
	char line[512], expr[256];
	long long total, blocked;

	REQUIRE_BPF();
	run_traced_in(wl, args, line, sizeof(line), pidns);
	blocked = kv(line, "blocked_ns");
	snprintf(expr, sizeof(expr), "[s['total_ns'] for s in r['sites'] if "
		 "s['func'] == 'blocker' and s['line'] == %ld][0]",
		 kv(line, "block_line"));
	total = jnum(out_path, expr);
	print_message("task blocked: blocker (rt-workload.c:%ld) charged %.3f ms, "
		      "read(2) measured %.3f ms\n", kv(line, "block_line"),
		      total / 1e6, blocked / 1e6);
	assert_in_range(total, blocked - blocked / 10, blocked + blocked / 10);
	snprintf(expr, sizeof(expr), "[s['voluntary'] for s in r['sites'] if "
		 "s['func'] == 'blocker'][0]");
	assert_true(jnum(out_path, expr) >= 1);
	snprintf(expr, sizeof(expr), "sum(t['total_ns'] for t in r['tasks'] if "
		 "t['func'] == 'blocker')");
	assert_int_equal(jnum(out_path, expr), total);
}

static void test_blocked_site(void **state)
{
	(void)state;
	blocked_site(false);
}

/*
 * A fiber blocking its worker in a plain read(2): the time is the fiber
 * task's, within the same 10% as a continuation's.
 */
static void test_blocked_fiber(void **state)
{
	const char *const wl[] = { workload, "fiber-block", "300", NULL };
	const char *const args[] = { "task", "blocked", "-p", "PID", "-j", NULL };
	char line[512], expr[256], task[32];
	long long total, blocked;

	(void)state;
	REQUIRE_BPF();
	run_traced(wl, args, line, sizeof(line));
	blocked = kv(line, "blocked_ns");
	assert_int_equal(sscanf(strstr(line, "task=") + 5, "%31s", task), 1);
	snprintf(expr, sizeof(expr), "sum(t['total_ns'] for t in r['tasks'] if "
		 "t['task'] == '%s')", task);
	total = jnum(out_path, expr);
	print_message("task blocked: fiber task %s charged %.3f ms, read(2) "
		      "measured %.3f ms\n", task, total / 1e6, blocked / 1e6);
	assert_in_range(total, blocked - blocked / 10, blocked + blocked / 10);
}

/*
 * Two runtimes, two trace areas: every command reads both.  top counts
 * the tasks of both, blocked follows the workers of both (the blocker
 * runs on the second).
 */
static void test_two_areas(void **state)
{
	const char *const wl[] = { workload, "-r", "2", "block", "200", NULL };
	const char *const args[] = { "task", "blocked", "-p", "PID", "-j", NULL };
	char line[512], pid[16], expr[256];
	long long total, blocked;
	pid_t p;

	(void)state;
	p = WORKLOAD("-r", "2", "sites", "3");
	assert_true(wait_line(wl_out, "ready", line, sizeof(line)));
	snprintf(pid, sizeof(pid), "%d", (int)p);
	assert_int_equal(kv(line, "yield_count"), 2 * 3 * 30);
	assert_int_equal(TOOL("task", "top", "-p", pid, "-j", "--duration", "0.1"), 0);
	assert_int_equal(jnum(out_path, "r['runtimes']"), 2);
	snprintf(expr, sizeof(expr), "[s['suspends'] for s in r['sites'] if "
		 "s['line'] == %ld][0]", kv(line, "yield_line"));
	assert_int_equal(jnum(out_path, expr), kv(line, "yield_count"));
	assert_int_equal(jnum(out_path, "r['total']['counters']['completed']"), 6);
	stop(p);

	REQUIRE_BPF();
	run_traced(wl, args, line, sizeof(line));
	blocked = kv(line, "blocked_ns");
	snprintf(expr, sizeof(expr), "[s['total_ns'] for s in r['sites'] if "
		 "s['func'] == 'blocker'][0]");
	total = jnum(out_path, expr);
	assert_in_range(total, blocked - blocked / 10, blocked + blocked / 10);
}

/* The same from a PID namespace: worker tids go through NSpid. */
static void test_blocked_pidns(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("SKIP: not root: no PID namespace (unshare --pid)\n");
		skip();
	}
	blocked_site(true);
}

/*
 * (e) for blocked: one snapshot, rendered both ways in this process
 * with the library the tool uses.
 */
static void test_blocked_table_json(void **state)
{
	struct task_blk_print po = { .limit = 0, .hist = true };
	struct task_blk_snapshot snap;
	struct task_blk_obs *o = NULL;
	struct json_writer jw;
	struct task_proc p;
	char line[512];
	pid_t wl;
	FILE *f;

	(void)state;
	REQUIRE_BPF();
	wl = WORKLOAD("block", "100");
	assert_true(wait_line(wl_out, "waiting", line, sizeof(line)));
	assert_int_equal(task_proc_open(&p, wl, false), 0);
	assert_int_equal(task_blk_open(&o, &p, false), 0);
	assert_int_equal(task_blk_attach(o), 0);
	kill(wl, SIGUSR1);
	assert_int_equal(wait_exit(wl), 0);
	assert_int_equal(task_blk_snapshot(o, &snap), 0);
	assert_true(snap.nsites >= 1);
	f = fopen(rec_path, "we");
	jw_init(&jw, f, true);
	jw_start_object(&jw);
	task_blk_json(&jw, &snap, &p);
	jw_end_object(&jw);
	fclose(f);
	f = fopen(tab_path, "we");
	task_blk_table(f, &snap, &p, &po);
	fclose(f);
	compare("blocked", rec_path, tab_path);
	task_blk_snapshot_free(&snap);
	task_blk_close(o);
	task_proc_close(&p);
}

/* ---- (d) records: exact counts, no torn or duplicated record -------------------- */

static long long sumq(const char *expr)
{
	return jnum(tab_path, expr);
}

/* `record` around a workload; the checker's summary of it in tab_path. */
static long long record_run(const char *const wl[], char *line, size_t len)
{
	const char *const args[] = { "record", "-p", "PID", "-o", rec_path, NULL };
	char buf[4096];
	FILE *f;

	run_traced(wl, args, line, len);
	py(buf, sizeof(buf), "record '%s'", rec_path);
	f = fopen(tab_path, "we");
	assert_non_null(f);
	fprintf(f, "%s\n", buf);
	fclose(f);
	return kv(line, "steps");
}

static void test_record_exact(void **state)
{
	const char *const wl[] = { workload, "steps", "4", "1000", NULL };
	char line[512], buf[128];
	long long steps;

	(void)state;
	steps = record_run(wl, line, sizeof(line));
	print_message("record: %lld steps run; %lld slices, %lld records, %lld "
		      "dropped\n", steps, sumq("r['slices']"), sumq("r['records']"),
		      sumq("r['dropped']"));
	assert_int_equal(sumq("r['slices']"), steps);
	assert_int_equal(sumq("r['records']"), steps);
	assert_int_equal(sumq("r['dropped']"), 0);
	assert_int_equal(sumq("r['reasons']['yield']"), kv(line, "yields"));
	assert_int_equal(sumq("r['reasons']['done']"), 4);
	assert_int_equal(sumq("int(r['seq_ok'])"), 1);
	assert_int_equal(sumq("r['overlaps']"), 0);
	assert_int_equal(sumq("int(r['slice_tids_known'])"), 1);
	snprintf(buf, sizeof(buf), "r['names']['stepper (rt-workload.c:%ld)']",
		 kv(line, "steps_line"));
	assert_int_equal(sumq(buf), kv(line, "yields"));
}

static void test_record_overflow(void **state)
{
	const char *const wl[] = { workload, "steps", "1", "100000", NULL };
	char line[512];
	long long steps;

	(void)state;
	steps = record_run(wl, line, sizeof(line));
	print_message("record, overflow: %lld steps in %.3f ms; %lld records, "
		      "%lld dropped\n", steps, kv(line, "elapsed_ns") / 1e6,
		      sumq("r['records']"), sumq("r['dropped']"));
	assert_true(sumq("r['dropped']") > 0);
	assert_int_equal(sumq("r['records']") + sumq("r['dropped']"), steps);
	assert_int_equal(sumq("r['slices']"), sumq("r['records']"));
	assert_int_equal(sumq("r['gap_events']"), sumq("r['dropped']"));
	assert_int_equal(sumq("int(r['seq_ok'])"), 1);
	assert_int_equal(sumq("r['overlaps']"), 0);
}

/* `task hist -j` around a steps workload; its JSON in out_path. */
static void hist_run(const char *const wl[], const char *sample, char *line,
		     size_t len)
{
	const char *const args[] = { "task", "hist", "-p", "PID", "-j",
				     "--sample", sample, NULL };

	run_traced(wl, args, line, len);
}

static void test_hist_exact(void **state)
{
	const char *const args[] = { workload, "steps", "4", "1000", NULL };
	char line[512], expr[256];

	(void)state;
	hist_run(args, "0", line, sizeof(line));
	assert_int_equal(jnum(out_path, "r['records']"), kv(line, "steps"));
	assert_int_equal(jnum(out_path, "r['dropped']"), 0);
	assert_int_equal(jnum(out_path, "r['reasons']['yield']"), kv(line, "yields"));
	snprintf(expr, sizeof(expr), "[s['suspends'] for s in r['sites'] if "
		 "s['line'] == %ld][0]", kv(line, "steps_line"));
	assert_int_equal(jnum(out_path, expr), kv(line, "yields"));
	/* every yield is followed by its task's next step: one sample each */
	snprintf(expr, sizeof(expr), "[s['samples'] for s in r['sites'] if "
		 "s['line'] == %ld][0]", kv(line, "steps_line"));
	assert_int_equal(jnum(out_path, expr), kv(line, "yields"));
	snprintf(expr, sizeof(expr), "sum(b['count'] for s in r['sites'] for b "
		 "in s['hist_usecs'])");
	assert_int_equal(jnum(out_path, expr), kv(line, "yields"));
	print_message("task hist: %ld steps, %lld records, %ld suspend-time "
		      "samples\n", kv(line, "steps"), jnum(out_path, "r['records']"),
		      kv(line, "yields"));
}

static void test_hist_sampled(void **state)
{
	/* one worker: its 1-in-8 sampler sees all 4000 steps, from 0 */
	const char *const args[] = { workload, "-w", "1", "steps", "1", "3999",
				     NULL };
	char line[512];

	(void)state;
	hist_run(args, "3", line, sizeof(line));
	assert_int_equal(kv(line, "steps"), 4000);
	assert_int_equal(jnum(out_path, "r['sample_shift']"), 3);
	assert_int_equal(jnum(out_path, "r['records']"), 4000 / 8);
	assert_int_equal(jnum(out_path, "r['dropped']"), 0);
}

static void test_hist_overflow(void **state)
{
	const char *const args[] = { workload, "steps", "1", "100000", NULL };
	char line[512];
	long long rec, drop;

	(void)state;
	hist_run(args, "0", line, sizeof(line));
	rec = jnum(out_path, "r['records']");
	drop = jnum(out_path, "r['dropped']");
	print_message("task hist, overflow: %ld steps: %lld records + %lld "
		      "dropped\n", kv(line, "steps"), rec, drop);
	assert_true(drop > 0);
	assert_int_equal(rec + drop, kv(line, "steps"));
	/*
	 * One task: each record pairs with the one before it, except across
	 * a gap (and the first one read): samples = records - 1 - gaps, or
	 * records - gaps if the first gap came before the first record.
	 */
	assert_in_range(jnum(out_path, "r['sites'][0]['samples'] + r['gaps']"),
			rec - 1, rec);
}

/* (e) for hist: one set of records, rendered both ways in this process. */
static void noop_record(void *ctx, unsigned int area,
			const struct task_record *rec, uint64_t gap)
{
	(void)ctx; (void)area; (void)rec; (void)gap;
}

static void test_hist_table_json(void **state)
{
	struct task_rings rings;
	struct task_hist h;
	struct json_writer jw;
	struct task_proc p;
	char line[512];
	uint64_t rec, drop;
	pid_t wl;
	FILE *f;

	(void)state;
	/* 3003 records: they fit one worker's ring (4096), should one
	 * worker run them all, as happens on a loaded machine */
	wl = WORKLOAD("steps", "3", "1000");
	assert_true(wait_line(wl_out, "waiting", line, sizeof(line)));
	assert_int_equal(task_proc_open(&p, wl, true), 0);
	assert_int_equal(task_hist_init(&h, &p), 0);
	assert_int_equal(task_rings_start(&rings, &p), 0);
	task_events_on(&p, 0, &h.sample_shift);
	kill(wl, SIGUSR1);
	assert_int_equal(wait_exit(wl), 0);
	task_events_off(&p);
	task_rings_drain(&rings, &p, task_hist_add, &h);
	task_rings_drain(&rings, &p, noop_record, NULL);	/* nothing left */
	task_rings_count(&rings, &rec, &drop);
	assert_int_equal(rec, 3 * 1001);
	assert_int_equal(drop, 0);
	h.dropped = drop;
	h.end_ns = task_mono_ns();
	f = fopen(rec_path, "we");
	jw_init(&jw, f, true);
	jw_start_object(&jw);
	task_hist_json(&jw, &h, &p);
	jw_end_object(&jw);
	fclose(f);
	f = fopen(tab_path, "we");
	task_hist_table(f, &h, &p);
	fclose(f);
	compare("hist", rec_path, tab_path);
	assert_int_equal(task_area_live(&p.areas[0])->events_enabled, 0);
	task_rings_free(&rings);
	task_hist_free(&h);
	task_proc_close(&p);
}

/* ---- events are switched off on every way out --------------------------------- */

static uint32_t events_enabled(pid_t pid)
{
	struct task_proc p;
	uint32_t v;

	assert_int_equal(task_proc_open(&p, pid, false), 0);
	v = task_area_live(&p.areas[0])->events_enabled;
	task_proc_close(&p);
	return v;
}

static void test_events_off_on_sigint(void **state)
{
	char line[512], pid[16];
	pid_t wl, t;

	(void)state;
	wl = WORKLOAD_UNTIL("ready", line, pid, "sites", "1");
	t = start((char *const[]){ (char *)tool, "record", "-p", pid, "-o",
				   rec_path, NULL }, out_path, err_path);
	assert_true(wait_line(err_path, "Recording", line, sizeof(line)));
	assert_int_equal(events_enabled(wl), 1);
	kill(t, SIGINT);
	assert_int_equal(wait_exit(t), 0);
	assert_int_equal(events_enabled(wl), 0);
	/* and what it wrote is a whole trace */
	py(line, sizeof(line), "record '%s'", rec_path);
	t = start((char *const[]){ (char *)tool, "task", "hist", "-p", pid,
				   NULL }, out_path, err_path);
	assert_true(wait_line(err_path, "Recording", line, sizeof(line)));
	assert_int_equal(events_enabled(wl), 1);
	kill(t, SIGTERM);
	assert_int_equal(wait_exit(t), 0);
	assert_int_equal(events_enabled(wl), 0);
	assert_true(bpf_test_file_contains(out_path, "Records: 0 read, 0 dropped"));
	stop(wl);
}

/* ---- (f) exit codes ---------------------------------------------------------------- */

static void test_bad_pid(void **state)
{
	char pid[32];
	long max = 4194304;
	FILE *f;

	(void)state;
	f = fopen("/proc/sys/kernel/pid_max", "re");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 4194304;
		fclose(f);
	}
	snprintf(pid, sizeof(pid), "%ld", max + 1);	/* can never exist */
	assert_int_equal(TOOL("task", "top", "-p", pid), TRACE_EXIT_NO_TARGET);
	assert_true(bpf_test_file_contains(err_path, "no process with pid"));
	assert_int_equal(TOOL("task", "dump", "-p", pid), TRACE_EXIT_NO_TARGET);
	assert_int_equal(TOOL("record", "-p", pid, "-o", rec_path),
			 TRACE_EXIT_NO_TARGET);
}

static void test_no_runtime(void **state)
{
	char line[256], pid[16];
	pid_t wl;

	(void)state;
	wl = WORKLOAD_UNTIL("ready", line, pid, "plain");
	assert_int_equal(TOOL("task", "top", "-p", pid), TASK_EXIT_NO_RUNTIME);
	assert_true(bpf_test_file_contains(err_path, "has no librtasync trace area"));
	assert_int_equal(TOOL("task", "hist", "-p", pid), TASK_EXIT_NO_RUNTIME);
	assert_int_equal(TOOL("task", "blocked", "-p", pid), TASK_EXIT_NO_RUNTIME);
	assert_int_equal(TOOL("task", "dump", "-p", pid), TASK_EXIT_NO_RUNTIME);
	stop(wl);
}

static void test_version_mismatch(void **state)
{
	char line[256], pid[16];
	pid_t wl;

	(void)state;
	wl = WORKLOAD_UNTIL("ready", line, pid, "fake-area", "99");
	assert_int_equal(TOOL("task", "top", "-p", pid), TASK_EXIT_VERSION);
	snprintf(line, sizeof(line), "trace area of version 99; this tool "
		 "reads version %u", RT_TRACE_VERSION);
	assert_true(bpf_test_file_contains(err_path, line));
	stop(wl);
}

static void test_not_permitted(void **state)
{
	char line[256], pid[16];
	pid_t wl;
	int ret;

	(void)state;
	if (geteuid() != 0) {
		print_message("SKIP: not root: cannot start a process another "
			      "user may not read\n");
		skip();
	}
	wl = WORKLOAD_UNTIL("ready", line, pid, "sites", "1");
	ret = wait_exit(start((char *const[]){ "setpriv", "--reuid=65534",
				"--regid=65534", "--clear-groups", "--inh-caps=-all",
				"--bounding-set=-all", (char *)tool, "task", "top",
				"-p", pid, NULL }, out_path, err_path));
	stop(wl);
	if (ret == 127 || ret == 126) {
		print_message("SKIP: cannot run the tool as nobody via setpriv "
			      "(util-linux) here (exit %d)\n", ret);
		skip();
	}
	assert_int_equal(ret, TRACE_EXIT_PERM);
	assert_true(bpf_test_file_contains(err_path, "not permitted to read process"));
}

/* `task top` on a process of nobody's, as root with only the caps given. */
static int top_with_caps(const char *pid, const char *bounding)
{
	return wait_exit(start((char *const[]){ "setpriv", "--inh-caps=-all",
				(char *)bounding, (char *)tool, "task", "top",
				"--duration", "0.1", "-p", (char *)pid, NULL },
			       out_path, err_path));
}

/*
 * Another user's process needs both capabilities: CAP_DAC_READ_SEARCH
 * to list its /proc/PID/fd, CAP_SYS_PTRACE to look at what the fds are
 * and read its memory.  With one of them the answer is "not permitted"
 * naming both, never "no trace area".
 */
static void test_caps_needed(void **state)
{
	char line[256], pid[16];
	pid_t wl;
	int ret;

	(void)state;
	if (geteuid() != 0) {
		print_message("SKIP: not root: cannot start a process of "
			      "another user\n");
		skip();
	}
	wl = start((char *const[]){ "setpriv", "--reuid=65534", "--regid=65534",
				    "--clear-groups", (char *)workload, "sites",
				    "1", NULL }, wl_out, "/dev/null");
	if (!wait_line(wl_out, "ready", line, sizeof(line))) {
		stop(wl);
		print_message("SKIP: cannot run the workload as nobody via "
			      "setpriv (util-linux) here\n");
		skip();
	}
	snprintf(pid, sizeof(pid), "%d", (int)wl);
	ret = top_with_caps(pid, "--bounding-set=-all,+sys_ptrace");
	assert_int_equal(ret, TRACE_EXIT_PERM);
	assert_true(bpf_test_file_contains(err_path, "both CAP_SYS_PTRACE"));
	ret = top_with_caps(pid, "--bounding-set=-all,+dac_read_search");
	assert_int_equal(ret, TRACE_EXIT_PERM);
	assert_true(bpf_test_file_contains(err_path, "CAP_DAC_READ_SEARCH"));
	ret = top_with_caps(pid, "--bounding-set=-all,+sys_ptrace,+dac_read_search");
	assert_int_equal(ret, 0);
	assert_true(bpf_test_file_contains(out_path, "sites_task"));
	stop(wl);
}

static void test_usage(void **state)
{
	(void)state;
	assert_int_equal(TOOL("task", "help"), 0);
	assert_true(bpf_test_file_contains(out_path, "task blocked"));
	assert_int_equal(TOOL("task", "top", "help"), 0);
	assert_int_equal(TOOL("record", "help"), 0);
	assert_int_equal(TOOL("record", "--help"), 0);
	assert_int_equal(TOOL("task", "top"), TRACE_EXIT_USAGE);
	assert_true(bpf_test_file_contains(err_path, "needs a process: -p PID"));
	assert_int_equal(TOOL("task", "bogus", "-p", "1"), TRACE_EXIT_USAGE);
	assert_int_equal(TOOL("task", "dump", "-p", "1", "--sample", "3"),
			 TRACE_EXIT_USAGE);
	assert_int_equal(TOOL("task", "hist", "-p", "1", "--sample", "99"),
			 TRACE_EXIT_USAGE);
	assert_int_equal(TOOL("record", "-p", "1"), TRACE_EXIT_USAGE);
	assert_true(bpf_test_file_contains(err_path, "needs an output file"));
	assert_int_equal(TOOL("task", "top", "-p", "x"), TRACE_EXIT_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_top_counts),
		cmocka_unit_test(test_top_switches_sites_on),
		cmocka_unit_test(test_top_interval),
		cmocka_unit_test(test_top_io_counts),
		cmocka_unit_test(test_top_blocking_pool),
		cmocka_unit_test(test_top_prometheus),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_two_areas),
		cmocka_unit_test(test_dump_chain),
		cmocka_unit_test(test_dump_fiber),
		cmocka_unit_test(test_blocked_site),
		cmocka_unit_test(test_blocked_fiber),
		cmocka_unit_test(test_blocked_pidns),
		cmocka_unit_test(test_blocked_table_json),
		cmocka_unit_test(test_record_exact),
		cmocka_unit_test(test_record_overflow),
		cmocka_unit_test(test_hist_exact),
		cmocka_unit_test(test_hist_sampled),
		cmocka_unit_test(test_hist_overflow),
		cmocka_unit_test(test_hist_table_json),
		cmocka_unit_test(test_events_off_on_sigint),
		cmocka_unit_test(test_bad_pid),
		cmocka_unit_test(test_no_runtime),
		cmocka_unit_test(test_version_mismatch),
		cmocka_unit_test(test_not_permitted),
		cmocka_unit_test(test_caps_needed),
	};

	return cmocka_run_group_tests_name("bpf-task", tests, group_setup,
					   group_teardown);
}

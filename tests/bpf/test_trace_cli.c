// SPDX-License-Identifier: MIT
/*
 * test_trace_cli.c - rtasync-trace as a user runs it: the grammar and its
 * help, each exit code, and `sched stat -- CMD` on sched-workload with
 * known answers, in JSON (parsed by check_report.py) and as a table,
 * cross-checked against /proc and `perf stat -e context-switches`.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "bpf_test.h"
#include "trace.h"

#define ROUNDS 2000
#define ROUNDS_S "2000"

static const char *trace, *workload, *python, *check;
static char out_path[] = "/tmp/rtasync-cli-out-XXXXXX";
static char err_path[] = "/tmp/rtasync-cli-err-XXXXXX";

static int group_setup(void **state)
{
	(void)state;
	trace = getenv("RTASYNC_TRACE");
	workload = getenv("SCHED_WORKLOAD");
	python = getenv("PYTHON3");
	check = getenv("CHECK_REPORT");
	if (!trace || !workload || !python || !check)
		return -1;	/* run through meson test, which sets them */
	close(mkstemp(out_path));
	close(mkstemp(err_path));
	bpf_test_init();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(out_path);
	unlink(err_path);
	return 0;
}

/* Run argv (env "NAME=VALUE" added if given); its exit code, 128+sig. */
static int run_env(const char *env, char *const argv[])
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		bpf_test_redirect(1, out_path);
		bpf_test_redirect(2, err_path);
		if (env)
			putenv((char *)env);
		execvp(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define RUN(...) run_env(NULL, (char *const[]){ __VA_ARGS__, NULL })

static void test_help_everywhere(void **state)
{
	(void)state;
	assert_int_equal(RUN((char *)trace, "help"), 0);
	assert_int_equal(RUN((char *)trace, "--help"), 0);
	assert_true(bpf_test_file_contains(out_path, "OBJECT := { sched | task | record }"));
	assert_int_equal(RUN((char *)trace, "sched", "help"), 0);
	assert_int_equal(RUN((char *)trace, "sched", "stat", "help"), 0);
	assert_int_equal(RUN((char *)trace, "sched", "stat", "--help"), 0);
	assert_true(bpf_test_file_contains(out_path, "--cgroup PATH"));
	assert_int_equal(RUN((char *)trace, "task", "help"), 0);
	assert_int_equal(RUN((char *)trace, "record", "help"), 0);
	assert_int_equal(RUN((char *)trace, "--version"), 0);
}

static void test_usage_errors(void **state)
{
	(void)state;
	assert_int_equal(RUN((char *)trace), TRACE_EXIT_USAGE);
	assert_int_equal(RUN((char *)trace, "bogus"), TRACE_EXIT_USAGE);
	assert_int_equal(RUN((char *)trace, "sched", "bogus"), TRACE_EXIT_USAGE);
	assert_int_equal(RUN((char *)trace, "sched", "stat"), TRACE_EXIT_USAGE);
	assert_int_equal(RUN((char *)trace, "sched", "stat", "-p", "1",
			     "--cgroup", "/"), TRACE_EXIT_USAGE);
	assert_int_equal(RUN((char *)trace, "sched", "stat", "-p", "x"),
			 TRACE_EXIT_USAGE);
	assert_int_equal(RUN((char *)trace, "--duration", "-1", "sched", "stat",
			     "-p", "1"), TRACE_EXIT_USAGE);
}

static void test_bad_targets(void **state)
{
	char pid[32];
	FILE *f;
	long max = 4194304;

	(void)state;
	f = fopen("/proc/sys/kernel/pid_max", "re");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 4194304;
		fclose(f);
	}
	snprintf(pid, sizeof(pid), "%ld", max + 1);	/* can never exist */
	assert_int_equal(RUN((char *)trace, "sched", "stat", "-p", pid),
			 TRACE_EXIT_NO_TARGET);
	assert_true(bpf_test_file_contains(err_path, "no process with pid"));
	REQUIRE_BPF();
	assert_int_equal(RUN((char *)trace, "sched", "stat", "--cgroup",
			     "/no/such/cgroup"), TRACE_EXIT_NO_TARGET);
	assert_int_equal(RUN((char *)trace, "sched", "stat", "--",
			     "/no/such/command"), TRACE_EXIT_NO_TARGET);
	assert_true(bpf_test_file_contains(err_path, "cannot run"));
}

static void test_no_btf(void **state)
{
	(void)state;
	assert_int_equal(run_env("RTASYNC_TRACE_BTF=/nonexistent/btf",
				 (char *const[]){ (char *)trace, "sched", "stat",
						  "-p", "1", NULL }),
			 TRACE_EXIT_NO_BTF);
	assert_true(bpf_test_file_contains(err_path, "no BTF"));
}

static void test_not_privileged(void **state)
{
	int ret;

	(void)state;
	if (trace_check_privileges()) {
		/* already unprivileged: the plain run is the test */
		assert_int_equal(RUN((char *)trace, "sched", "stat", "-p", "1"),
				 TRACE_EXIT_PERM);
		return;
	}
	ret = RUN("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		  "--inh-caps=-all", "--bounding-set=-all", (char *)trace,
		  "sched", "stat", "-p", "1");
	if (ret == 127 || ret == 126) {
		print_message("SKIP: cannot run the tool as nobody via setpriv "
			      "(util-linux) here (exit %d)\n", ret);
		skip();
	}
	assert_int_equal(ret, TRACE_EXIT_PERM);
	assert_true(bpf_test_file_contains(err_path, "CAP_BPF and CAP_PERFMON"));
}

/* check_report.py OP on out_path: its number (its exit must be 0). */
static long py_report(const char *op, const char *args)
{
	char cmd[1024], buf[64] = "";
	long v = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' '%s' %s '%s' %s", python, check, op,
		 out_path, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(buf, sizeof(buf), p))
		v = strtol(buf, NULL, 10);
	assert_int_equal(pclose(p), 0);
	return v;
}

static long py_sum(const char *field, const char *comms)
{
	char args[256];

	snprintf(args, sizeof(args), "%s %s", field, comms);
	return py_report("sum", args);
}

/* Sum of the workload's own /proc voluntary deltas (its stderr lines). */
static long proc_vol_sum(void)
{
	char name[16];
	long tid, before, after, sum = 0;
	int n = 0;
	FILE *f = fopen(err_path, "re");
	char line[256];

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%15s %ld %ld %ld", name, &tid, &before, &after) == 4 &&
		    !strncmp(name, "pp-", 3)) {
			sum += after - before;
			n++;
		}
	fclose(f);
	assert_int_equal(n, 2);
	return sum;
}

/* 2N voluntary, less one per preemption at most: see test_sched.c */
static long pingpong_low(long invol)
{
	return 2 * ROUNDS - 50 - invol;
}

static void test_json_pingpong(void **state)
{
	long vol, invol, proc;

	(void)state;
	REQUIRE_BPF();
	assert_int_equal(RUN((char *)trace, "-j", "sched", "stat", "--",
			     (char *)workload, "pingpong", ROUNDS_S), 0);
	vol = py_sum("voluntary", "pp-a pp-b");
	invol = py_sum("involuntary", "pp-a pp-b");
	proc = proc_vol_sum();
	print_message("rtasync-trace -j, ping-pong N=%d: voluntary %ld, "
		      "involuntary %ld, /proc voluntary deltas %ld\n",
		      ROUNDS, vol, invol, proc);
	assert_in_range(vol, pingpong_low(invol), 2 * ROUNDS + 200);
	assert_in_range(vol, proc, proc + 20);
}

static void test_table_pingpong(void **state)
{
	unsigned long vol = 0, invol = 0;
	char line[512];
	bool per_req = false;
	FILE *f;

	(void)state;
	REQUIRE_BPF();
	assert_int_equal(RUN((char *)trace, "sched", "stat", "--requests",
			     ROUNDS_S, "--", (char *)workload, "pingpong",
			     ROUNDS_S), 0);
	f = fopen(out_path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, " TOTAL %lu %lu", &vol, &invol);
		if (strstr(line, "Per request (" ROUNDS_S " requests)"))
			per_req = true;
	}
	fclose(f);
	print_message("rtasync-trace table, ping-pong N=%d: TOTAL voluntary %lu, "
		      "involuntary %lu (all threads of the command)\n", ROUNDS,
		      vol, invol);
	assert_true(per_req);
	assert_true(bpf_test_file_contains(out_path, "Command exited with status 0"));
	assert_in_range(vol, pingpong_low(invol), 2 * ROUNDS + 200);
}

static void test_interval_sleep(void **state)
{
	long off;

	(void)state;
	REQUIRE_BPF();
	assert_int_equal(RUN((char *)trace, "-j", "--interval", "0.1", "sched",
			     "stat", "--", (char *)workload, "sleep", "350"), 0);
	off = py_sum("offcpu_ns", "sleeper");
	print_message("--interval 0.1, sleep 350 ms: off-CPU summed over the "
		      "intervals %.3f ms\n", off / 1e6);
	assert_in_range(off, 315000000, 385000000);
}

static bool perf_works(void)
{
	return RUN("perf", "stat", "-e", "context-switches", "true") == 0;
}

static long perf_switches(void)
{
	char line[512];
	long v = -1;
	FILE *f;

	assert_int_equal(RUN("perf", "stat", "-x,", "-e", "context-switches",
			     "--", (char *)workload, "pingpong", ROUNDS_S), 0);
	f = fopen(err_path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, ",context-switches"))
			v = strtol(line, NULL, 10);
	fclose(f);
	return v;
}

/* Ctrl-C or SIGTERM ends the trace with a report and exit code 0. */
static void test_sigterm_reports(void **state)
{
	pid_t sleeper, tool;
	char pid[16];
	int status;

	(void)state;
	REQUIRE_BPF();
	sleeper = fork();
	assert_true(sleeper >= 0);
	if (sleeper == 0) {
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	snprintf(pid, sizeof(pid), "%d", (int)sleeper);
	tool = fork();
	assert_true(tool >= 0);
	if (tool == 0) {
		bpf_test_redirect(1, out_path);
		bpf_test_redirect(2, err_path);
		execl(trace, trace, "sched", "stat", "-p", pid, (char *)NULL);
		_exit(127);
	}
	usleep(1500000);	/* loaded and attached by then */
	kill(tool, SIGTERM);
	waitpid(tool, &status, 0);
	kill(sleeper, SIGKILL);
	waitpid(sleeper, NULL, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(bpf_test_file_contains(out_path, "TOTAL"));
}

static void test_perf_crosscheck(void **state)
{
	long perf, vol, invol;

	(void)state;
	REQUIRE_BPF();
	if (!perf_works()) {
		print_message("SKIP: 'perf stat -e context-switches true' fails here\n");
		skip();
	}
	perf = perf_switches();
	assert_int_equal(RUN((char *)trace, "-j", "sched", "stat", "--",
			     (char *)workload, "pingpong", ROUNDS_S), 0);
	vol = py_sum("voluntary", "sched-workload pp-a pp-b");
	invol = py_sum("involuntary", "sched-workload pp-a pp-b");
	print_message("ping-pong N=%d: perf context-switches %ld, rtasync-trace "
		      "%ld (%ld voluntary + %ld involuntary)\n", ROUNDS, perf,
		      vol + invol, vol, invol);
	assert_true(perf > 0);
	assert_in_range(vol + invol, perf - perf / 10 - 50, perf + perf / 10 + 50);
}

/*
 * Pids are reused: a child of the command exits, an unrelated process
 * (started before the tracer) gets its pid, then a new child of the
 * command gets it again.  The unrelated one is not traced; the first
 * child's switches are not lost to the second's record but kept in the
 * "(tid reused)" row.
 */
static void test_pid_reuse(void **state)
{
	char dir[] = "/tmp/rtasync-reuse-XXXXXX", req[64], ack[64];
	pid_t forker;
	int status;

	(void)state;
	REQUIRE_BPF();
	assert_non_null(mkdtemp(dir));
	snprintf(req, sizeof(req), "%s/req", dir);
	snprintf(ack, sizeof(ack), "%s/ack", dir);
	assert_int_equal(mkfifo(req, 0600), 0);
	assert_int_equal(mkfifo(ack, 0600), 0);
	forker = fork();
	assert_true(forker >= 0);
	if (forker == 0) {
		execl(workload, workload, "forker", dir, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(RUN((char *)trace, "-j", "sched", "stat", "--",
			     (char *)workload, "reuse", "50", dir), 0);
	waitpid(forker, &status, 0);
	unlink(req);
	unlink(ack);
	rmdir(dir);
	if (bpf_test_file_contains(err_path, "reuse skip")) {
		print_message("SKIP: the pid was taken by another process of "
			      "this busy machine meanwhile\n");
		skip();
	}
	assert_true(bpf_test_file_contains(err_path, "reuse pid"));
	assert_int_equal(py_report("count", "intruder reuse-a"), 0);
	assert_int_equal(py_report("count", "reuse-b '(tid reused)'"), 2);
	/* 50 sleeps each, and each sleep one voluntary switch at least */
	assert_in_range(py_sum("voluntary", "reuse-b"), 50, 70);
	assert_in_range(py_sum("voluntary", "'(tid reused)'"), 50, 70);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_everywhere),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_bad_targets),
		cmocka_unit_test(test_no_btf),
		cmocka_unit_test(test_not_privileged),
		cmocka_unit_test(test_json_pingpong),
		cmocka_unit_test(test_table_pingpong),
		cmocka_unit_test(test_interval_sleep),
		cmocka_unit_test(test_sigterm_reports),
		cmocka_unit_test(test_perf_crosscheck),
		cmocka_unit_test(test_pid_reuse),
	};

	return cmocka_run_group_tests_name("bpf-trace-cli", tests, group_setup,
					   group_teardown);
}

// SPDX-License-Identifier: MIT
/*
 * test_fuzz_area.c - rtasync-trace against hostile trace areas
 * (area-publisher.c): every task command, against every variant, must
 * end by itself within its --duration (plus start-up slack), never die
 * of a signal or a sanitizer report, print no raw control byte on
 * stdout, and give the exit code and message the variant calls for.
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

#include "../bpf/bpf_test.h"
#include "trace.h"

#define EXIT_VERSION 8		/* TASK_EXIT_VERSION: an area refused */
#define EXIT_NO_RUNTIME 7
/* start-up, BPF load, ASan, a machine shared with builds (load 20 on 2
 * CPUs was seen): far below the minutes a walk without bounds took */
#define SLACK_S 15.0
#define HANG 1000		/* run_tool(): killed at its deadline */

static const char *tool, *publisher;
static char out_path[] = "/tmp/rtasync-fuzz-out-XXXXXX";
static char err_path[] = "/tmp/rtasync-fuzz-err-XXXXXX";
static char pub_path[] = "/tmp/rtasync-fuzz-pub-XXXXXX";
static char rec_path[] = "/tmp/rtasync-fuzz-rec-XXXXXX";
static bool have_bpf;

static int group_setup(void **state)
{
	(void)state;
	tool = getenv("RTASYNC_TRACE");
	publisher = getenv("AREA_PUBLISHER");
	if (!tool || !publisher)
		return -1;	/* run through meson test, which sets them */
	close(mkstemp(out_path));
	close(mkstemp(err_path));
	close(mkstemp(pub_path));
	close(mkstemp(rec_path));
	bpf_test_init();
	have_bpf = !bpf_skip_reason[0];
	if (!have_bpf)
		print_message("note: `task blocked` is left out: %s\n",
			      bpf_skip_reason);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(out_path);
	unlink(err_path);
	unlink(pub_path);
	unlink(rec_path);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static pid_t spawn(char *const argv[], const char *out, const char *err)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a failed assertion must not leave publishers behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		bpf_test_redirect(1, out);
		bpf_test_redirect(2, err);
		/* a sanitizer report must not pass for an exit code */
		setenv("ASAN_OPTIONS", "exitcode=86:detect_leaks=1", 1);
		setenv("UBSAN_OPTIONS", "halt_on_error=1:exitcode=87", 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* The exit code, 128 + signal, or HANG if it outlived limit_s. */
static int wait_limit(pid_t pid, double limit_s)
{
	double end = now_s() + limit_s;
	int status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_s() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return HANG;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Bytes of stdout a terminal could take for a control: C0 but newline,
 * DEL, and every byte >= 0x80 except in a UTF-8 sequence of a character
 * from U+00A0 up (no C1 control, which terminals also obey).
 */
static size_t raw_controls(const char *path)
{
	unsigned char buf[1 << 16];
	FILE *f = fopen(path, "re");
	size_t len, i, n = 0;
	int k, more;

	assert_non_null(f);
	len = fread(buf, 1, sizeof(buf) - 4, f);
	fclose(f);
	memset(buf + len, 0, 4);
	for (i = 0; i < len; i++) {
		if (buf[i] < 0x80) {
			n += (buf[i] < 0x20 && buf[i] != '\n') || buf[i] == 0x7f;
			continue;
		}
		/* lead byte 0xc2 with a C1 second byte is C1: not allowed */
		more = buf[i] >= 0xc3 && buf[i] < 0xe0 ? 1 :
		       buf[i] >= 0xe0 && buf[i] < 0xf0 ? 2 :
		       buf[i] >= 0xf0 && buf[i] < 0xf5 ? 3 :
		       buf[i] == 0xc2 && buf[i + 1] >= 0xa0 ? 1 : -1;
		for (k = 1; k <= more; k++)
			if ((buf[i + k] & 0xc0) != 0x80)
				more = -1;
		if (more < 0)
			n++;
		else
			i += (size_t)more;
	}
	return n;
}

/* ---- the publisher --------------------------------------------------------- */

static pid_t publish(const char *variant, const char *seed, char *pid,
		     size_t len)
{
	char line[128] = "";
	double end = now_s() + 30;
	FILE *f;
	pid_t p;

	/* not the last publisher's "ready": empty the file first */
	assert_int_equal(truncate(pub_path, 0), 0);
	p = spawn((char *const[]){ (char *)publisher, (char *)variant,
				   (char *)seed, NULL }, pub_path, "/dev/null");
	while (now_s() < end && !strstr(line, "ready")) {
		nanosleep(&(struct timespec){ .tv_nsec = 5000000 }, NULL);
		f = fopen(pub_path, "re");
		if (f && !fgets(line, sizeof(line), f))
			line[0] = '\0';
		if (f)
			fclose(f);
	}
	assert_non_null(strstr(line, "ready"));
	snprintf(pid, len, "%d", (int)p);
	return p;
}

static void unpublish(pid_t p)
{
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

/* ---- the commands ------------------------------------------------------------- */

struct cmd {
	const char *argv[10];	/* after the tool, before -p PID */
	double duration;
	bool bpf;
};

static const struct cmd cmds[] = {
	{ { "task", "top", "--duration", "0.2" }, 0.2, false },
	{ { "-j", "task", "top", "--duration", "0.2" }, 0.2, false },
	{ { "task", "hist", "--duration", "0.2" }, 0.2, false },
	{ { "-j", "task", "hist", "--duration", "0.2" }, 0.2, false },
	{ { "task", "dump", "--duration", "1" }, 1, false },
	{ { "-j", "task", "dump", "--duration", "1" }, 1, false },
	{ { "record", "--duration", "0.2", "-o", rec_path }, 0.2, false },
	{ { "task", "blocked", "--duration", "0.2" }, 0.2, true },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

/* What the command said, for the log of a failed test. */
static void print_failure(const struct cmd *c, int ret)
{
	char buf[2048];
	FILE *f = fopen(err_path, "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	print_message("%s %s %s: exit %d, stderr:\n%s\n", c->argv[0],
		      c->argv[1], c->argv[2], ret, buf);
}

static int run_cmd(const struct cmd *c, const char *pid)
{
	char *argv[16];
	int n = 0, i, ret;

	argv[n++] = (char *)tool;
	for (i = 0; c->argv[i]; i++)
		argv[n++] = (char *)c->argv[i];
	argv[n++] = "-p";
	argv[n++] = (char *)pid;
	argv[n] = NULL;
	ret = wait_limit(spawn(argv, out_path, err_path), c->duration + SLACK_S);
	if (ret >= 128 || ret == 86 || ret == 87 ||
	    bpf_test_file_contains(err_path, "runtime error") || raw_controls(out_path))
		print_failure(c, ret);
	assert_int_not_equal(ret, HANG);
	assert_true(ret < 128);		/* no signal */
	assert_int_not_equal(ret, 86);	/* ASan */
	assert_int_not_equal(ret, 87);	/* UBSan */
	assert_false(bpf_test_file_contains(err_path, "runtime error"));
	assert_int_equal(raw_controls(out_path), 0);
	return ret;
}

static bool allowed(int ret, const int *codes)
{
	for (; *codes >= 0; codes++)
		if (ret == *codes)
			return true;
	return false;
}

/* Every command against one variant; each exit code among codes. */
static void against(const char *variant, const char *seed, const int *codes,
		    const char *message)
{
	char pid[16];
	pid_t p = publish(variant, seed, pid, sizeof(pid));
	size_t i;
	int ret;

	for (i = 0; i < NCMDS; i++) {
		if (cmds[i].bpf && !have_bpf)
			continue;
		ret = run_cmd(&cmds[i], pid);
		if (!allowed(ret, codes))
			print_message("%s: %s %s: exit %d\n", variant,
				      cmds[i].argv[0], cmds[i].argv[1], ret);
		assert_true(allowed(ret, codes));
		if (message)
			assert_true(bpf_test_file_contains(err_path, message));
	}
	unpublish(p);
}

#define CODES(...) ((const int[]){ __VA_ARGS__, -1 })

/* A fresh publisher of variant: command cmd exits 0 and prints needles. */
static void variant_shows(const char *variant, unsigned int cmd,
			  const char *const needles[])
{
	char pid[16];
	pid_t p = publish(variant, NULL, pid, sizeof(pid));
	size_t i;

	assert_int_equal(run_cmd(&cmds[cmd], pid), 0);
	for (i = 0; needles[i]; i++) {
		if (!bpf_test_file_contains(out_path, needles[i]))
			print_message("%s: no \"%s\" in the output\n", variant,
				      needles[i]);
		assert_true(bpf_test_file_contains(out_path, needles[i]));
	}
	unpublish(p);
}

static void test_names(void **state)
{
	(void)state;
	against("names", NULL, CODES(0), NULL);
	/* the escapes are shown, escaped */
	variant_shows("names", 0, (const char *const[]){
		"\\x1b[31mRED", "line\\x0aforged", NULL });
}

/* 32 of the 8192 Ns the publisher has at one name pointer */
#define NAME_CAP "NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"

static void test_task_names(void **state)
{
	(void)state;
	against("task-names", NULL, CODES(0), NULL);
	/* capped, escaped, or unreadable: never the task skipped */
	variant_shows("task-names", 4, (const char *const[]){
		"8 suspended tasks (8 sleeping", "  name " NAME_CAP "\n",
		"  name \\x1b[31mRED\\x1b[0m\n", "  name line\\x0aforged 1 2 3\n",
		"  name (unreadable)\n", NULL });
	variant_shows("task-names", 5, (const char *const[]){
		"\"name\":\"" NAME_CAP "\",",
		"\"name\":\"\\u001b[31mRED\\u001b[0m\",", "\"name\":null,", NULL });
}

static void test_fibers(void **state)
{
	(void)state;
	against("fibers", NULL, CODES(0), NULL);
	/* bounded at 64 frames; a loop, a step down, a step out stop it */
	variant_shows("fibers", 4, (const char *const[]){
		"C stack, 64 frames (walk stopped short of its base)\n",
		"C stack, 2 frames (walk stopped short of its base)\n",
		"C stack, 1 frame (walk stopped short of its base)\n", NULL });
	variant_shows("fibers", 5, (const char *const[]){
		"\"truncated\":true", NULL });
}

static void test_loop(void **state)
{
	char pid[16];
	double t0;
	pid_t p;

	(void)state;
	against("loop", NULL, CODES(0), NULL);
	p = publish("loop", NULL, pid, sizeof(pid));
	t0 = now_s();
	assert_int_equal(run_cmd(&cmds[4], pid), 0);
	/* the loops are found, and the long chains stop at the budget */
	assert_true(now_s() - t0 < 1 + SLACK_S);
	assert_true(bpf_test_file_contains(out_path, "of them looping"));
	assert_true(bpf_test_file_contains(out_path, "stopped at the time budget"));
	assert_false(bpf_test_file_contains(out_path, " 0 of them looping"));
	unpublish(p);
}

static void test_huge_nworkers(void **state)
{
	(void)state;
	against("huge-nworkers", NULL, CODES(EXIT_VERSION),
		"cannot read (bad magic or layout)");
}

static void test_past_end(void **state)
{
	(void)state;
	against("past-end", NULL, CODES(EXIT_VERSION),
		"cannot read (bad magic or layout)");
}

static void test_flip(void **state)
{
	(void)state;
	/* the header is taken once; which values it caught is luck */
	against("flip", NULL, CODES(0, EXIT_VERSION), NULL);
}

static void test_random(void **state)
{
	static const char *const seeds[] = { "1", "2", "3", "5", "6", "7" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		against("random", seeds[i],
			CODES(0, TRACE_EXIT_FAIL, EXIT_NO_RUNTIME, EXIT_VERSION),
			NULL);
}

static void test_unsealed(void **state)
{
	(void)state;
	against("unsealed", NULL, CODES(EXIT_VERSION),
		"is not sealed against resizing");
}

static void test_fifo(void **state)
{
	int round;

	(void)state;
	/* the fd may be the area or the FIFO when the tool takes it */
	for (round = 0; round < 2; round++)
		against("fifo", NULL, CODES(0, EXIT_NO_RUNTIME, EXIT_VERSION),
			NULL);
}

/*
 * Two copies of librtasync in one process number their sites apart: site
 * 1 of each is its own row, with its own count, never summed.
 */
static void test_two_libs(void **state)
{
	char pid[16];
	pid_t p;

	(void)state;
	p = publish("two-libs", NULL, pid, sizeof(pid));
	assert_int_equal(run_cmd(&cmds[1], pid), 0);	/* -j task top */
	/* the ids: 1 in the first copy, 1 + its sites_max (64) in the other */
	assert_true(bpf_test_file_contains(out_path,
		"{\"id\":1,\"func\":\"alpha\",\"file\":\"/src/alpha.c\","
		"\"line\":1,\"suspends\":20,"));
	assert_true(bpf_test_file_contains(out_path,
		"{\"id\":65,\"func\":\"beta\",\"file\":\"/src/beta.c\","
		"\"line\":1,\"suspends\":14,"));
	unpublish(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_loop),
		cmocka_unit_test(test_task_names),
		cmocka_unit_test(test_fibers),
		cmocka_unit_test(test_huge_nworkers),
		cmocka_unit_test(test_past_end),
		cmocka_unit_test(test_flip),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_unsealed),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_two_libs),
	};

	return cmocka_run_group_tests_name("fuzz-area", tests, group_setup,
					   group_teardown);
}

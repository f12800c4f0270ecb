// SPDX-License-Identifier: MIT
/*
 * The USDT probes fire exactly when the runtime says the event happened:
 * bpftrace, attached to rtasync:park and rtasync:unpark of a workload,
 * counts what the workload's own counters report. Needs root and bpftrace.
 */
#include "rt_test.h"

static const char *workload;

static void test_park_probes_match_counters(void **state)
{
	char cmd[1024], line[256];
	long parks = -1, traced_parks = -1, traced_unparks = -1;
	FILE *p;

	if (geteuid() != 0) {
		printf("USDT tracing needs root\n");
		skip();
	}
	if (system("command -v bpftrace >/dev/null 2>&1")) {
		printf("bpftrace is not installed\n");
		skip();
	}
	snprintf(cmd, sizeof(cmd),
		 "bpftrace -e 'usdt:%s:rtasync:park { @parks = count(); } "
		 "usdt:%s:rtasync:unpark { @unparks = count(); }' -c %s 2>&1",
		 workload, workload, workload);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		sscanf(line, "parks=%ld", &parks);
		sscanf(line, "@parks: %ld", &traced_parks);
		sscanf(line, "@unparks: %ld", &traced_unparks);
	}
	assert_int_equal(pclose(p), 0);
	printf("workload counted %ld parks; bpftrace saw %ld parks, %ld unparks\n",
	       parks, traced_parks, traced_unparks);
	/* five 2 ms sleeps on one worker: it parked at least once each */
	assert_true(parks >= 5);
	assert_int_equal(traced_parks, parks);
	assert_int_equal(traced_unparks, parks);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_park_probes_match_counters),
	};

	workload = argc > 1 ? argv[1] : "./usdt-workload";
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * bpf_test.h - what the bpf tests share: why a test that needs BPF must
 * skip here (said, never silent), and running programs with their output
 * in files.  Header-only: each test is one program.  Include after
 * <cmocka.h>.
 */
#ifndef RTASYNC_BPF_TEST_H
#define RTASYNC_BPF_TEST_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "trace.h"

static char bpf_skip_reason[160];

/* Call once in the group setup: the reason BPF tests skip, if any. */
static inline void bpf_test_init(void)
{
	if (trace_check_btf())
		snprintf(bpf_skip_reason, sizeof(bpf_skip_reason),
			 "kernel has no BTF (%s missing)", TRACE_BTF_PATH);
	else if (trace_check_privileges())
		snprintf(bpf_skip_reason, sizeof(bpf_skip_reason),
			 "not root and no CAP_BPF+CAP_PERFMON");
}

#define REQUIRE_BPF()							\
	do {								\
		if (bpf_skip_reason[0]) {				\
			print_message("SKIP: %s\n", bpf_skip_reason);	\
			skip();						\
		}							\
	} while (0)

/* fd to path (NULL: /dev/null), in a child about to exec. */
static inline void bpf_test_redirect(int fd, const char *path)
{
	int f = open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC,
		     0644);

	if (f >= 0 && f != fd) {
		dup2(f, fd);
		close(f);
	}
}

static inline bool bpf_test_file_contains(const char *path, const char *needle)
{
	char buf[8192];
	FILE *f = fopen(path, "re");
	bool found = false;

	while (f && !found && fgets(buf, sizeof(buf), f))
		found = strstr(buf, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

#endif /* RTASYNC_BPF_TEST_H */

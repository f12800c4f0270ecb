/* SPDX-License-Identifier: MIT */
/*
 * trace_self.h - this process's own trace area, found as rtasync-trace
 * finds a target's: the newest memfd named RT_TRACE_MEMFD_NAME among
 * /proc/self/fd.  For tests/test_trace.c and the benchmarks' workload
 * (bench/tracer-workload.c), which read or switch their own area.
 */
#ifndef RTASYNC_TESTS_TRACE_SELF_H
#define RTASYNC_TESTS_TRACE_SELF_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rtasync-trace.h"

/* The newest trace area's fd, opened read-write; -1 if there is none. */
static inline int trace_self_area_fd(void)
{
	char link[256], path[300];
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *d;
	int best = -1;

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strstr(link, "/memfd:" RT_TRACE_MEMFD_NAME) &&
		    atoi(d->d_name) > best)
			best = atoi(d->d_name);
	}
	closedir(dir);
	if (best < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", best);
	return open(path, O_RDWR | O_CLOEXEC);
}

#endif /* RTASYNC_TESTS_TRACE_SELF_H */

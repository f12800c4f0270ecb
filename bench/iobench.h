/* SPDX-License-Identifier: MIT */
/*
 * rtasync-iobench: librtasync's servers against their baselines and
 * peers (see iobench.c). This header: the servers as processes and what
 * the kernel says they spent (iobench_proc.c), and the echo load
 * (iobench_echo.c).
 */
#ifndef RTASYNC_IOBENCH_H
#define RTASYNC_IOBENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench.h"

#define IOB_SERVER_CPU 0	/* the server's CPU; the client takes the next */

/* A server process, pinned to IOB_SERVER_CPU. */
struct iob_server {
	pid_t pid;
	int port;
	char why[160];		/* why it is not running */
};

/* A TCP port on 127.0.0.1 nobody listens on now, or a negative errno. */
int iob_free_port(void);

/*
 * Start argv (argv[0] a path; "@PORT@" in an argument is replaced by
 * s->port, from iob_free_port()) with its output appended to log, and
 * wait until it accepts on 127.0.0.1:s->port. 0, or a negative errno
 * with the reason in s->why.
 */
int iob_server_start(struct iob_server *s, char *const argv[],
		     const char *log);
void iob_server_stop(struct iob_server *s);

/* What the kernel counts for a process, all its threads. */
struct iob_usage {
	uint64_t cpu_ns;	/* user + system CPU time, ns */
	uint64_t switches;	/* voluntary + involuntary, live threads */
	uint64_t peak_rss;	/* bytes, VmHWM */
};

int iob_usage_read(pid_t pid, struct iob_usage *u);

/* The echo load: conns connections, each a message of size bytes in
 * flight at a time, for ms milliseconds. Round trips per second, or a
 * negative errno. Checks every byte it gets back. */
double iob_echo_load(int port, unsigned int conns, unsigned int size,
		     unsigned int ms);

#endif /* RTASYNC_IOBENCH_H */

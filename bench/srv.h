/* SPDX-License-Identifier: MIT */
/*
 * What every server in bench/ shares outside its I/O: the command line,
 * the listening socket, the "listening" line a driver waits for, and the
 * signal that stops it.
 */
#ifndef RTASYNC_SRV_H
#define RTASYNC_SRV_H

#include <stdbool.h>
#include <stdint.h>

enum srv_mode { SRV_HTTP, SRV_ECHO };

struct srv_opts {
	const char *addr;		/* IPv4 address to bind (127.0.0.1) */
	int port;			/* 0: any free port (printed) */
	unsigned int workers;		/* runtime workers (0: one per CPU) */
	int spin_us;			/* idle polling, -1: the runtime's */
	int io_spin_us;			/* ... waiting for I/O only, -1: the
					   runtime's */
	unsigned int threads;		/* blocking pool size */
	unsigned int header_timeout_ms;	/* a begun request head, whole */
	unsigned int idle_timeout_ms;	/* a kept-alive connection, 0: none */
	bool fibers;			/* rtasync-httpd --fibers */
	enum srv_mode mode;
	const char *model;		/* baselines: which one */
};

/*
 * Parse the options the server's usage names; print usage and exit on
 * anything else. `usage` is the whole help text.
 */
void srv_parse(int argc, char **argv, const char *usage,
	       struct srv_opts *o);

/*
 * A listening TCP socket on o->addr:o->port (SO_REUSEADDR, backlog 4096),
 * then "NAME: listening on ADDR:PORT" on stdout, flushed: a driver reads
 * the port from it. Exits with a message on failure.
 */
int srv_listen(const struct srv_opts *o, const char *name, bool nonblock);

/*
 * Block SIGINT and SIGTERM (call before making threads, which inherit
 * the mask) and ignore SIGPIPE: a peer that goes away is an error
 * result, not a signal.
 */
void srv_signals_init(void);
/* Wait for SIGINT or SIGTERM. */
void srv_wait_stop(void);

/* Receive timeout on a blocking socket, 0: none (threaded baselines). */
void srv_set_recv_timeout(int fd, unsigned int ms);

#endif /* RTASYNC_SRV_H */

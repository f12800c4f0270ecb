/* SPDX-License-Identifier: MIT */
/*
 * The librtasync side of a server in bench/ (rtasync-httpd, rtasync-echo):
 * a runtime, acceptor tasks on one listening socket, a task (or fiber) per
 * connection, until SIGINT or SIGTERM.
 */
#ifndef RTASYNC_RT_SERVE_H
#define RTASYNC_RT_SERVE_H

#include "rtasync.h"
#include "srv.h"

/* Spawn the task that serves connection fd: 0, or a negative errno
 * (the acceptor then closes fd). Called on a worker, inside a task (a
 * fiber when o->fibers). */
typedef int (*rt_serve_spawn_fn)(struct rt_runtime *rt, int fd);

/*
 * Listen as o says, start a runtime with o->workers workers (pinned) and
 * one acceptor task per worker (a fiber calling rt_accept() when
 * o->fibers, else a continuation awaiting rt_op_accept()), each
 * accepting connections for spawn(), until SIGINT or SIGTERM; then
 * print the runtime's I/O counters on stderr and exit the process.
 * Returns only on a set-up error (negative errno), with a message
 * printed.
 */
int rt_serve_main(const struct srv_opts *o, const char *name,
		  rt_serve_spawn_fn spawn);

#endif /* RTASYNC_RT_SERVE_H */

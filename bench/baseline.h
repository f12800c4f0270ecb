/* SPDX-License-Identifier: MIT */
/*
 * rtasync-baseline: the servers librtasync's are measured against, each
 * as small as it can honestly be (see baseline.c). They share the bytes
 * of a connection (struct proto_conn: HTTP through http_conn.h, or echo)
 * and differ only in how they wait for them.
 */
#ifndef RTASYNC_BASELINE_H
#define RTASYNC_BASELINE_H

#include <stddef.h>

#include "http_conn.h"
#include "srv.h"

#define ECHO_BUF 4096

/* One connection's bytes, in either mode. */
struct proto_conn {
	enum srv_mode mode;
	enum http_conn_next next;	/* after the output is sent */
	/* for the server's own use */
	int fd;				/* uring-fixed: a file index */
	const char *out;		/* bytes still to send */
	size_t out_len;
	union {
		struct http_conn http;
		struct {
			size_t len;
			char buf[ECHO_BUF];
		} echo;
	};
};

/* A new connection's state (NULL: out of memory). */
struct proto_conn *proto_new(enum srv_mode mode, int fd);

/* Where to receive, and how many bytes fit. */
char *proto_rbuf(struct proto_conn *c, size_t *room);

/*
 * n > 0 bytes arrived: the bytes to send now (*len may be 0). Send them
 * all, then call proto_sent().
 */
const char *proto_received(struct proto_conn *c, size_t n, size_t *len);

/*
 * The output went out. More to send (*len > 0: send it and call again),
 * or HTTP_CONN_READ / HTTP_CONN_CLOSE with *len 0.
 */
const char *proto_sent(struct proto_conn *c, size_t *len);

/* The models. Each serves lfd until the process is stopped. */
int baseline_thread(int lfd, const struct srv_opts *o);
int baseline_pool(int lfd, const struct srv_opts *o);
int baseline_epoll(int lfd, const struct srv_opts *o);
int baseline_uring(int lfd, const struct srv_opts *o);
int baseline_uring_fixed(int lfd, const struct srv_opts *o);

/* Blocking sockets (thread, pool): serve fd until it closes, close it. */
void baseline_serve_blocking(int fd, enum srv_mode mode);

#endif /* RTASYNC_BASELINE_H */

/* SPDX-License-Identifier: MIT */
/*
 * One HTTP/1.1 connection's bytes, independent of how they move: the
 * input buffer, the parser, the answers. Every HTTP server in bench/
 * (rtasync-httpd and its baselines) runs the same loop around it:
 *
 *   receive into http_conn_rbuf() -> http_conn_received() ->
 *   send out[0, out_len) (again after HTTP_CONN_SEND_MORE) ->
 *   close on HTTP_CONN_CLOSE, else receive again
 *
 * so they differ only in how they wait, which is what is measured.
 *
 * The site: GET or HEAD of "/" answers "Hello, World!" (text/plain);
 * another target 404, another method 405. Every answer carries Date and
 * Content-Length. Requests are answered in order, all that arrived
 * together in one batch of output (pipelining). A request the parser
 * refuses is answered with its status (400, 431, 501, 505) and the
 * connection closed, as is a head that did not arrive in time (408,
 * http_conn_timed_out()).
 */
#ifndef RTASYNC_HTTP_CONN_H
#define RTASYNC_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"

#define HTTP_IN_SIZE 8192	/* also the longest head accepted */
#define HTTP_OUT_SIZE 8192
#define HTTP_MAX_RESPONSE 256	/* the longest answer, headers and body */

enum http_conn_next {
	HTTP_CONN_READ,		/* send out[] (if any), then receive */
	HTTP_CONN_SEND_MORE,	/* out[] is full: send it, then process again */
	HTTP_CONN_CLOSE,	/* send out[] (if any), then close */
};

struct http_conn {
	struct http_parser parser;
	size_t in_len, out_len;
	uint64_t skip;		/* body bytes still to come and be dropped */
	bool closing;		/* the last answer ends the connection */
	char in[HTTP_IN_SIZE];
	char out[HTTP_OUT_SIZE];
};

void http_conn_init(struct http_conn *c);

/* Where the next bytes go, and how many fit (never 0 after _received). */
static inline char *http_conn_rbuf(struct http_conn *c)
{
	return c->in + c->in_len;
}

static inline size_t http_conn_room(const struct http_conn *c)
{
	return sizeof(c->in) - c->in_len;
}

/* n > 0 bytes arrived at http_conn_rbuf(): answer what is complete. */
enum http_conn_next http_conn_received(struct http_conn *c, size_t n);

/* Answer more, after HTTP_CONN_SEND_MORE and out[] sent (out_len = 0). */
enum http_conn_next http_conn_process(struct http_conn *c);

/* A request has begun to arrive and not finished (its head is due). */
static inline bool http_conn_partial(const struct http_conn *c)
{
	return c->in_len || c->skip;
}

/*
 * The head was not complete in time: answer 408 if a request had begun
 * (an idle keep-alive connection just closes). Returns HTTP_CONN_CLOSE.
 */
enum http_conn_next http_conn_timed_out(struct http_conn *c);

/* The answer for status into buf (at least HTTP_MAX_RESPONSE bytes). */
size_t http_response(char *buf, int status, bool keep_alive, bool head);

#endif /* RTASYNC_HTTP_CONN_H */

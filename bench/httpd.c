// SPDX-License-Identifier: MIT
/*
 * rtasync-httpd: HTTP/1.1 plaintext on librtasync, a task per connection.
 *
 *   rtasync-httpd --port PORT [--addr ADDR] [--workers N] [--spin-us US]
 *                 [--io-spin-us US]
 *                 [--header-timeout MS] [--idle-timeout MS] [--fibers]
 *
 * GET / answers "Hello, World!"; keep-alive and pipelining; 400 for a
 * malformed request, 431 for a head over 8 KiB (http_conn.h). A request
 * head must arrive whole within the header timeout of its first byte
 * (10 s; a new connection's first within as long of the accept), or the
 * client gets 408 and the connection closes; a kept-alive connection
 * idle for the idle timeout (60 s, 0: never) is closed. Prints
 * "rtasync-httpd: listening on ADDR:PORT" once it accepts (PORT 0: any
 * free port); SIGINT or SIGTERM stops it.
 *
 * The connection loop is the one every server of bench/ runs around
 * struct http_conn; here each wait is an await on the worker's io_uring:
 * one recv (with its deadline) and one send per batch of requests. Each
 * connection is a continuation, or with --fibers a fiber running the
 * same loop as blocking-style C (and the acceptors are fibers too):
 * the same ops, the same decisions (struct httpd_conn), so the two
 * differ only in how a task waits, which rtasync-iobench measures.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "http_conn.h"
#include "rt_serve.h"

#define NAME "rtasync-httpd"
#define LINGER_NS 1000000000u		/* reading what follows an error */
#define LINGER_MAX_BYTES (64u << 10)

static struct srv_opts opts;

/*
 * Close after an answer that ends the connection, without resetting it
 * under the answer: closing a socket with unread input sends an RST,
 * which can reach the client before it read the answer (a 431 for a head
 * still arriving). So: stop sending, drop what still comes for a moment,
 * then close.
 */
struct linger_frame {
	struct rt_frame frame;
	int fd;
	uint64_t deadline;
	size_t dropped;
	char buf[1024];
};

static RT_ASYNC int64_t linger_close(struct rt_task *t, struct rt_frame *base)
{
	struct linger_frame *f = RT_FRAME(base, struct linger_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	RT_SHUTDOWN(n, f->fd, SHUT_WR);
	f->deadline = rt_deadline_in(LINGER_NS);
	do {
		RT_AWAIT(n, rt_op_recv(t, f->fd, f->buf, sizeof(f->buf), 0,
				       f->deadline));
		f->dropped += n > 0 ? (size_t)n : 0;
	} while (n > 0 && f->dropped < LINGER_MAX_BYTES);
	RT_CLOSE(n, f->fd);
	return n;
}

/*
 * A connection's state and the decisions about it, whichever kind of
 * task serves it: the continuation (serve_conn) and the fiber
 * (fiber_conn) below are the same loop, one awaiting and one blocking,
 * around these three helpers.
 */
struct httpd_conn {
	int fd;
	bool answered;		/* a first answer went out */
	enum http_conn_next next;
	uint64_t head_deadline;	/* 0: no head is due */
	struct http_conn http;
};

static void conn_init(struct httpd_conn *c, int fd)
{
	c->fd = fd;
	c->answered = false;
	c->next = HTTP_CONN_READ;
	c->head_deadline = 0;
	http_conn_init(&c->http);
}

static uint64_t ms_from_now(unsigned int ms)
{
	return rt_deadline_in((uint64_t)ms * 1000000u);
}

/* The deadline of the next receive: the due head's, or the idle one's. */
static uint64_t recv_deadline(struct httpd_conn *c)
{
	if (http_conn_partial(&c->http) || !c->answered) {
		if (!c->head_deadline)
			c->head_deadline = ms_from_now(opts.header_timeout_ms);
		return c->head_deadline;
	}
	c->head_deadline = 0;
	return opts.idle_timeout_ms ? ms_from_now(opts.idle_timeout_ms) : RT_NEVER;
}

/*
 * The flags of the next receive. Once an answer went out and no request
 * is half in, the client is reading that answer, and its next request
 * cannot be here yet: the kernel need not look before it waits (a
 * pipelining client may have sent more; it is received all the same).
 */
static int recv_flags(const struct httpd_conn *c)
{
	return c->answered && !http_conn_partial(&c->http) ?
		RT_RECV_POLL_FIRST : 0;
}

/*
 * A receive's result: the answers it makes are in http.out. False when
 * the client closed or reset (nothing more to say to it).
 */
static bool conn_received(struct httpd_conn *c, int64_t n)
{
	if (n == -ETIMEDOUT)
		c->next = http_conn_timed_out(&c->http);
	else if (n <= 0)
		return false;
	else
		c->next = http_conn_received(&c->http, (size_t)n);
	return true;
}

/* http.out went out: answer what a full out[] held back, if anything. */
static void conn_sent(struct httpd_conn *c)
{
	c->http.out_len = 0;
	c->answered = true;
	if (c->next == HTTP_CONN_SEND_MORE)
		c->next = http_conn_process(&c->http);
}

/* ---- a continuation per connection --------------------------------------- */

struct conn_frame {
	struct rt_frame frame;
	int fd;
	struct httpd_conn *c;	/* 16 KiB of buffers: not in the arena */
};

static RT_ASYNC int64_t serve_conn(struct rt_task *t, struct rt_frame *base)
{
	struct conn_frame *f = RT_FRAME(base, struct conn_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	f->c = malloc(sizeof(*f->c));
	if (!f->c)
		goto out;
	conn_init(f->c, f->fd);
	do {
		/* the one receive: a multishot recv would feed this loop */
		RT_AWAIT(n, rt_op_recv(t, f->fd, http_conn_rbuf(&f->c->http),
				       http_conn_room(&f->c->http),
				       recv_flags(f->c), recv_deadline(f->c)));
		if (!conn_received(f->c, n))
			goto out;
		while (f->c->http.out_len) {
			RT_SEND_ALL(n, f->fd, f->c->http.out,
				    f->c->http.out_len);
			if (n < 0)
				goto out;
			conn_sent(f->c);
		}
	} while (f->c->next == HTTP_CONN_READ);
	free(f->c);
	f->c = NULL;
	RT_CALL(n, linger_close, struct linger_frame, .fd = f->fd);
	return 0;
out:
	free(f->c);
	RT_CLOSE(n, f->fd);
	return 0;
}

static int spawn_conn(struct rt_runtime *rt, int fd)
{
	return RT_SPAWN(rt, NULL, serve_conn, struct conn_frame, .fd = fd);
}

/* ---- a fiber per connection ---------------------------------------------- */

/*
 * The same loop in blocking-style C: the state is a C local, each wait a
 * blocking call. The receive is rt_recv() with a deadline (its op under
 * RT_FIBER_OP); sending all and the lingering close are awaited as the
 * async functions they are (rt_call_async), so each is written once.
 * The per-thread Date cache (http_conn.c) is safe on a fiber that wakes
 * on another worker: it is looked up inside each call, never held
 * across a blocking one.
 */
static int64_t fiber_conn(void *arg)
{
	struct httpd_conn c;
	int64_t n;

	conn_init(&c, (int)(intptr_t)arg);
	do {
		n = RT_FIBER_OP(t, rt_op_recv(t, c.fd, http_conn_rbuf(&c.http),
					      http_conn_room(&c.http),
					      recv_flags(&c),
					      recv_deadline(&c)));
		if (!conn_received(&c, n))
			goto out;
		while (c.http.out_len) {
			n = RT_CALL_ASYNC(rt_send_all, struct rt_send_all_frame,
					  .fd = c.fd, .buf = c.http.out,
					  .len = c.http.out_len);
			if (n < 0)
				goto out;
			conn_sent(&c);
		}
	} while (c.next == HTTP_CONN_READ);
	RT_CALL_ASYNC(linger_close, struct linger_frame, .fd = c.fd);
	return 0;
out:
	rt_close(c.fd);
	return 0;
}

static int spawn_fiber(struct rt_runtime *rt, int fd)
{
	return rt_fiber_spawn(rt, fiber_conn, (void *)(intptr_t)fd, 0, NULL);
}

int main(int argc, char **argv)
{
	srv_parse(argc, argv,
		  "usage: " NAME " --port PORT [--addr ADDR] [--workers N]\n"
		  "                     [--spin-us US] [--io-spin-us US]\n"
		  "                     [--header-timeout MS] [--idle-timeout MS] "
		  "[--fibers]\n"
		  "HTTP/1.1 plaintext on librtasync: GET / answers "
		  "\"Hello, World!\".\n"
		  "  --port PORT          0: any free port (printed)\n"
		  "  --addr ADDR          IPv4 address (127.0.0.1)\n"
		  "  --workers N          runtime workers (one per CPU)\n"
		  "  --spin-us US         an idle worker polls this long "
		  "before it sleeps (50)\n"
		  "  --io-spin-us US      ... when it waits only for I/O (50)\n"
		  "  --header-timeout MS  a request head, from its first "
		  "byte (10000)\n"
		  "  --idle-timeout MS    a kept-alive connection (60000, "
		  "0: never)\n"
		  "  --fibers             a fiber per connection, "
		  "blocking-style (default:\n"
		  "                       a continuation per connection)\n",
		  &opts);
	return rt_serve_main(&opts, NAME, opts.fibers ? spawn_fiber :
			     spawn_conn) ? 1 : 0;
}

// SPDX-License-Identifier: MIT
/*
 * rtasync-httpd: HTTP/1.1 plaintext on librtasync, a task per connection.
 *
 *   rtasync-httpd --port PORT [--addr ADDR] [--workers N] [--spin-us US]
 *                 [--header-timeout MS] [--idle-timeout MS]
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
 * one recv (with its deadline) and one send per batch of requests.
 */
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

struct conn_frame {
	struct rt_frame frame;
	int fd;
	bool answered;		/* a first answer went out */
	enum http_conn_next next;
	uint64_t head_deadline;	/* 0: no head is due */
	struct http_conn *c;
};

static uint64_t ms_from_now(unsigned int ms)
{
	return rt_deadline_in((uint64_t)ms * 1000000u);
}

/* The deadline of the next receive: the due head's, or the idle one's. */
static uint64_t recv_deadline(struct conn_frame *f)
{
	if (http_conn_partial(f->c) || !f->answered) {
		if (!f->head_deadline)
			f->head_deadline = ms_from_now(opts.header_timeout_ms);
		return f->head_deadline;
	}
	f->head_deadline = 0;
	return opts.idle_timeout_ms ? ms_from_now(opts.idle_timeout_ms) : RT_NEVER;
}

static RT_ASYNC int64_t serve_conn(struct rt_task *t, struct rt_frame *base)
{
	struct conn_frame *f = RT_FRAME(base, struct conn_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	f->c = malloc(sizeof(*f->c));
	if (!f->c)
		goto out;
	http_conn_init(f->c);
	do {
		/* the one receive: a multishot recv would feed this loop */
		RT_AWAIT(n, rt_op_recv(t, f->fd, http_conn_rbuf(f->c),
				       http_conn_room(f->c), 0,
				       recv_deadline(f)));
		if (n == -ETIMEDOUT)
			f->next = http_conn_timed_out(f->c);
		else if (n <= 0)
			goto out;	/* the client closed, or reset */
		else
			f->next = http_conn_received(f->c, (size_t)n);
		for (;;) {
			if (f->c->out_len) {
				RT_SEND_ALL(n, f->fd, f->c->out, f->c->out_len);
				if (n < 0)
					goto out;
				f->c->out_len = 0;
				f->answered = true;
			}
			if (f->next != HTTP_CONN_SEND_MORE)
				break;
			f->next = http_conn_process(f->c);
		}
	} while (f->next == HTTP_CONN_READ);
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

int main(int argc, char **argv)
{
	srv_parse(argc, argv,
		  "usage: " NAME " --port PORT [--addr ADDR] [--workers N]\n"
		  "                     [--spin-us US] [--header-timeout MS] "
		  "[--idle-timeout MS]\n"
		  "HTTP/1.1 plaintext on librtasync: GET / answers "
		  "\"Hello, World!\".\n"
		  "  --port PORT          0: any free port (printed)\n"
		  "  --addr ADDR          IPv4 address (127.0.0.1)\n"
		  "  --workers N          runtime workers (one per CPU)\n"
		  "  --spin-us US         an idle worker polls this long "
		  "before it sleeps (50)\n"
		  "  --header-timeout MS  a request head, from its first "
		  "byte (10000)\n"
		  "  --idle-timeout MS    a kept-alive connection (60000, "
		  "0: never)\n", &opts);
	return rt_serve_main(&opts, NAME, spawn_conn) ? 1 : 0;
}

// SPDX-License-Identifier: MIT
/*
 * rtasync-baseline: the seeds' server models, measured against
 * librtasync's rtasync-httpd and rtasync-echo by rtasync-iobench.
 *
 *   rtasync-baseline --model MODEL --port PORT [--addr ADDR]
 *                    [--mode http|echo] [--threads N]
 *
 *   thread  a thread per connection, blocking recv and send
 *   pool    a blocking thread pool (--threads, 64): a thread takes a
 *           connection and serves it until it closes
 *   epoll   one thread, non-blocking sockets, level-triggered epoll
 *   uring   one thread, a raw liburing loop: accept, recv and send SQEs,
 *           one io_uring_submit_and_wait per turn, no runtime
 *   uring-fixed  the same loop on registered (fixed) files
 *
 * All of them speak the same HTTP (http_conn.h) or echo; none has
 * deadlines (rtasync-httpd arms one per receive: a difference, stated in
 * the benchmark's notes). Prints "rtasync-baseline: listening on ADDR:PORT"
 * once it accepts; SIGINT or SIGTERM ends it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "baseline.h"

#define NAME "rtasync-baseline"

/* ---- a connection's bytes ----------------------------------------------- */

struct proto_conn *proto_new(enum srv_mode mode, int fd)
{
	struct proto_conn *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	c->mode = mode;
	c->fd = fd;
	c->out = NULL;
	c->out_len = 0;
	c->next = HTTP_CONN_READ;
	if (mode == SRV_HTTP)
		http_conn_init(&c->http);
	else
		c->echo.len = 0;
	return c;
}

char *proto_rbuf(struct proto_conn *c, size_t *room)
{
	if (c->mode == SRV_ECHO) {
		*room = sizeof(c->echo.buf);
		return c->echo.buf;
	}
	*room = http_conn_room(&c->http);
	return http_conn_rbuf(&c->http);
}

const char *proto_received(struct proto_conn *c, size_t n, size_t *len)
{
	if (c->mode == SRV_ECHO) {
		*len = n;
		return c->echo.buf;
	}
	c->next = http_conn_received(&c->http, n);
	*len = c->http.out_len;
	return c->http.out;
}

const char *proto_sent(struct proto_conn *c, size_t *len)
{
	*len = 0;
	if (c->mode == SRV_ECHO)
		return NULL;
	c->http.out_len = 0;
	if (c->next != HTTP_CONN_SEND_MORE)
		return NULL;
	c->next = http_conn_process(&c->http);
	*len = c->http.out_len;
	return c->http.out;
}

/* ---- blocking sockets (thread, pool) ----------------------------------- */

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void baseline_serve_blocking(int fd, enum srv_mode mode)
{
	struct proto_conn *c = proto_new(mode, fd);
	const char *out;
	size_t room, len;
	ssize_t n;

	while (c) {
		char *buf = proto_rbuf(c, &room);

		n = recv(fd, buf, room, 0);
		if (n <= 0)
			break;
		for (out = proto_received(c, (size_t)n, &len); len;
		     out = proto_sent(c, &len))
			if (send_all(fd, out, len))
				goto out;
		if (c->next == HTTP_CONN_CLOSE)
			break;
	}
out:
	free(c);
	close(fd);
}

/* ---- main ---------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*serve)(int lfd, const struct srv_opts *o);
	bool nonblock;		/* a non-blocking listener */
} models[] = {
	{ "thread", baseline_thread, false },
	{ "pool", baseline_pool, false },
	{ "epoll", baseline_epoll, true },
	{ "uring", baseline_uring, false },
	{ "uring-fixed", baseline_uring_fixed, false },
};

int main(int argc, char **argv)
{
	struct srv_opts o;

	srv_parse(argc, argv,
		  "usage: " NAME " --model MODEL --port PORT [--addr ADDR]\n"
		  "                        [--mode http|echo] [--threads N]\n"
		  "The servers librtasync's are measured against.\n"
		  "  --model MODEL  thread (per connection), pool, epoll, uring,\n"
		  "                 uring-fixed (registered files)\n"
		  "  --port PORT    0: any free port (printed)\n"
		  "  --addr ADDR    IPv4 address (127.0.0.1)\n"
		  "  --mode MODE    http (default) or echo\n"
		  "  --threads N    pool threads (64)\n", &o);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		int lfd, ret;

		if (!o.model || strcmp(o.model, models[i].name))
			continue;
		/* SIGINT and SIGTERM end the process where it stands */
		signal(SIGPIPE, SIG_IGN);
		lfd = srv_listen(&o, NAME, models[i].nonblock);
		ret = models[i].serve(lfd, &o);
		if (ret < 0)
			fprintf(stderr, NAME ": %s: %s\n", o.model,
				strerror(-ret));
		return ret < 0;
	}
	fprintf(stderr, NAME ": --model: thread, pool, epoll, uring or "
		"uring-fixed\n");
	return 2;
}

// SPDX-License-Identifier: MIT
/*
 * The epoll model of rtasync-baseline: one thread, non-blocking sockets,
 * level-triggered epoll. A connection waits for input (EPOLLIN), or for
 * room to send while a send came up short (EPOLLOUT), never both: its
 * answers go out before it reads again.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "baseline.h"

#define EVENTS 256

static int ep;
static enum srv_mode mode;

static void conn_close(struct proto_conn *c)
{
	close(c->fd);	/* also takes it out of the epoll set */
	free(c);
}

static int want(struct proto_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send what is pending; false when the connection is done. */
static bool conn_flush(struct proto_conn *c, bool waiting_out)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN)
			return waiting_out || !want(c, EPOLLOUT);
		if (n <= 0)
			return false;
		c->out += n;
		c->out_len -= (size_t)n;
		if (!c->out_len)
			c->out = proto_sent(c, &c->out_len);
	}
	if (c->next == HTTP_CONN_CLOSE)
		return false;
	return !waiting_out || !want(c, EPOLLIN);
}

static bool conn_readable(struct proto_conn *c)
{
	size_t room;
	char *buf = proto_rbuf(c, &room);
	ssize_t n = recv(c->fd, buf, room, 0);

	if (n < 0 && errno == EAGAIN)
		return true;
	if (n <= 0)
		return false;
	c->out = proto_received(c, (size_t)n, &c->out_len);
	return conn_flush(c, false);
}

static void accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct proto_conn *c;

		if (fd < 0)
			return;	/* EAGAIN; EMFILE: the next wait retries (spins) */
		c = proto_new(mode, fd);
		ev.data.ptr = c;
		if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
		}
	}
}

int baseline_epoll(int lfd, const struct srv_opts *o)
{
	struct epoll_event evs[EVENTS], lev = { .events = EPOLLIN };

	mode = o->mode;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev))
		return -errno;
	for (;;) {
		int n = epoll_wait(ep, evs, EVENTS, -1);

		for (int i = 0; i < n; i++) {
			struct proto_conn *c = evs[i].data.ptr;
			bool alive;

			if (!c) {
				accept_all(lfd);
				continue;
			}
			if (c->out_len)
				alive = conn_flush(c, true);
			else
				alive = conn_readable(c);
			if (!alive)
				conn_close(c);
		}
	}
}

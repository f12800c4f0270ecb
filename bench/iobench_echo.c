// SPDX-License-Identifier: MIT
/*
 * The echo load of rtasync-iobench: one thread, an epoll loop over conns
 * connections, each with one message in flight at a time (send it whole,
 * read it back whole, check it, send the next), counting round trips.
 * Small messages (at most ECHO_MAX_MSG) always fit the socket buffer, so
 * a send is never short.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iobench.h"

#define ECHO_MAX_MSG 4096

struct echo_client {
	int fd;
	unsigned int id, round;
	size_t got;
	char msg[ECHO_MAX_MSG], in[ECHO_MAX_MSG];
};

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -errno;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* The next message of c, different every round. */
static int send_msg(struct echo_client *c, unsigned int size)
{
	for (unsigned int k = 0; k < size; k++)
		c->msg[k] = (char)(c->id * 31u + c->round * 7u + k);
	c->got = 0;
	return send(c->fd, c->msg, size, MSG_NOSIGNAL) == (ssize_t)size ?
	       0 : -EIO;
}

/* Bytes arrived on c: 1 when its message is back whole, 0 not yet. */
static int on_readable(struct echo_client *c, unsigned int size)
{
	ssize_t n = recv(c->fd, c->in + c->got, size - c->got, MSG_DONTWAIT);

	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0)
		return n ? -errno : -ECONNRESET;
	c->got += (size_t)n;
	if (c->got < size)
		return 0;
	if (memcmp(c->in, c->msg, size))
		return -EILSEQ;
	c->round++;
	return 1;
}

static void close_all(struct echo_client *cl, unsigned int n, int ep)
{
	for (unsigned int i = 0; i < n; i++)
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	free(cl);
	if (ep >= 0)
		close(ep);
}

static int open_all(struct echo_client *cl, unsigned int n, int port,
		    int ep, unsigned int size)
{
	for (unsigned int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cl[i] };

		cl[i].id = i;
		cl[i].fd = dial(port);
		if (cl[i].fd < 0)
			return cl[i].fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev))
			return -errno;
	}
	for (unsigned int i = 0; i < n; i++)
		if (send_msg(&cl[i], size))
			return -EIO;
	return 0;
}

double iob_echo_load(int port, unsigned int conns, unsigned int size,
		     unsigned int ms)
{
	struct echo_client *cl = calloc(conns, sizeof(*cl));
	struct epoll_event evs[256];
	uint64_t trips = 0, t0, end;
	int ep = epoll_create1(EPOLL_CLOEXEC), err = 0;

	if (!cl || ep < 0 || size > ECHO_MAX_MSG || !size) {
		free(cl);
		if (ep >= 0)
			close(ep);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < conns; i++)
		cl[i].fd = -1;
	err = open_all(cl, conns, port, ep, size);
	t0 = bench_now_ns();
	end = t0 + (uint64_t)ms * 1000000u;
	while (!err && bench_now_ns() < end) {
		int n = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < n && !err; i++) {
			struct echo_client *c = evs[i].data.ptr;

			err = on_readable(c, size);
			if (err == 1) {
				trips++;
				err = send_msg(c, size);
			}
		}
	}
	t0 = bench_now_ns() - t0;
	close_all(cl, conns, ep);
	return err < 0 ? err : (double)trips / ((double)t0 / 1e9);
}

// SPDX-License-Identifier: MIT
/*
 * The thread-cost table with real I/O: each wait is a request on one of
 * 10,000 TCP connections over loopback and its answer, which a feeder
 * process sends wait_us after the request arrived. So the models wait
 * for data on sockets (blocking recv in threads, rt_op_recv in tasks)
 * instead of on a timer, and the observer sees what that costs them.
 *
 * The feeder is a process of its own, forked by the benchmark before the
 * model's process and never observed: one thread, an epoll loop over
 * every connection and a FIFO of answers due (every delay is the same,
 * so arrival order is due order). The model's process opens the
 * connections during its set-up, outside the measured window.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "threadcost.h"

int *tc_conns;		/* the model's end of each connection */

/* ---- the feeder ------------------------------------------------------------ */

struct due {
	int fd;
	uint64_t at;
};

struct feeder {
	int ep;
	struct due *q;		/* ring of answers due */
	size_t head, tail, cap;
	uint64_t delay_ns;
};

static void feeder_answer_due(struct feeder *f, uint64_t now)
{
	while (f->head != f->tail && f->q[f->head % f->cap].at <= now) {
		int fd = f->q[f->head % f->cap].fd;

		if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
			close(fd);
		f->head++;
	}
}

/* Requests arrived on fd: one answer due per byte. */
static void feeder_requests(struct feeder *f, int fd, uint64_t now)
{
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		close(fd);
		return;
	}
	for (ssize_t i = 0; i < n && f->tail - f->head < f->cap; i++)
		f->q[f->tail++ % f->cap] = (struct due){ fd, now + f->delay_ns };
}

static void feeder_accept(struct feeder *f, int lfd)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev))
			close(fd);
	}
}

static void feeder_loop(int lfd, unsigned int conns, unsigned int wait_us)
{
	struct feeder f = { .cap = (size_t)conns * 4, .delay_ns = wait_us * 1000ull };
	struct epoll_event evs[256], lev = { .events = EPOLLIN, .data.fd = lfd };

	f.q = calloc(f.cap, sizeof(*f.q));
	f.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!f.q || f.ep < 0 || epoll_ctl(f.ep, EPOLL_CTL_ADD, lfd, &lev))
		_exit(1);
	for (;;) {
		uint64_t now = bench_now_ns();
		int timeout = -1, n;

		feeder_answer_due(&f, now);
		if (f.head != f.tail)
			timeout = (int)((f.q[f.head % f.cap].at - now) / 1000000u);
		n = epoll_wait(f.ep, evs, 256, timeout);
		now = bench_now_ns();
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == lfd)
				feeder_accept(&f, lfd);
			else
				feeder_requests(&f, evs[i].data.fd, now);
		}
	}
}

int tc_feeder_start(unsigned int conns, unsigned int wait_us, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	pid_t pid;

	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&a, &len)) {
		close(lfd);
		return -errno;
	}
	*port = ntohs(a.sin_port);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(lfd);
		return -errno;
	}
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		bench_raise_fd_limit();
		feeder_loop(lfd, conns, wait_us);
	}
	close(lfd);
	return pid;
}

void tc_feeder_stop(int pid)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* ---- the model's side -------------------------------------------------------- */

int tc_conns_open(int port, unsigned int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	bench_raise_fd_limit();
	tc_conns = calloc(n, sizeof(*tc_conns));
	if (!tc_conns)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		int one = 1;

		tc_conns[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (tc_conns[i] < 0)
			return -errno;
		if (connect(tc_conns[i], (struct sockaddr *)&a, sizeof(a)))
			return -errno;
		setsockopt(tc_conns[i], IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
	}
	return 0;
}

int tc_sock_wait(unsigned int i)
{
	char c;

	if (send(tc_conns[i], "q", 1, MSG_NOSIGNAL) != 1)
		return -EPIPE;
	while (recv(tc_conns[i], &c, 1, 0) != 1)
		if (errno != EINTR)
			return -EPIPE;
	return 0;
}

int64_t tc_sock_wait_task(struct rt_task *t, struct rt_frame *base)
{
	struct tc_sock_wait_frame *f = RT_FRAME(base, struct tc_sock_wait_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_SEND(n, tc_conns[f->i], "q", 1, MSG_NOSIGNAL);
	RT_RECV(n, tc_conns[f->i], &f->c, 1, 0);
	return n == 1 ? 0 : -EPIPE;
}

// SPDX-License-Identifier: MIT
/*
 * The raw liburing model of rtasync-baseline: what rtasync-httpd and
 * rtasync-echo do, written straight on one ring with no runtime. The
 * same operations (single-shot accept, recv, send), the same ring flags
 * (SINGLE_ISSUER|DEFER_TASKRUN where the kernel has them), one
 * io_uring_submit_and_wait per loop turn. rtasync-iobench's overhead row
 * is librtasync's echo against this one's.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "baseline.h"

#define ENTRIES 4096

enum { OP_ACCEPT, OP_RECV, OP_SEND, OP_MASK = 3 };

static struct io_uring ring;
static enum srv_mode mode;

/* An SQE, flushing a full SQ first. */
static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	while (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static void set_data(struct io_uring_sqe *sqe, struct proto_conn *c, int op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | (uint64_t)op);
}

static void arm_accept(int lfd)
{
	struct io_uring_sqe *sqe = sqe_get();

	io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	set_data(sqe, NULL, OP_ACCEPT);
}

static void arm_recv(struct proto_conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	size_t room;
	char *buf = proto_rbuf(c, &room);

	io_uring_prep_recv(sqe, c->fd, buf, room, 0);
	set_data(sqe, c, OP_RECV);
}

static void arm_send(struct proto_conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();

	io_uring_prep_send(sqe, c->fd, c->out, c->out_len, MSG_NOSIGNAL);
	set_data(sqe, c, OP_SEND);
}

static void conn_close(struct proto_conn *c)
{
	close(c->fd);
	free(c);
}

/* Output sent (or none): more output, the next recv, or the end. */
static void conn_next(struct proto_conn *c)
{
	if (c->out_len)
		arm_send(c);
	else if (c->next == HTTP_CONN_CLOSE)
		conn_close(c);
	else
		arm_recv(c);
}

static void on_accept(int lfd, int res)
{
	struct proto_conn *c;

	arm_accept(lfd);
	if (res < 0)
		return;	/* EMFILE and the like: the accept is re-armed */
	c = proto_new(mode, res);
	if (!c) {
		close(res);
		return;
	}
	arm_recv(c);
}

static void on_recv(struct proto_conn *c, int res)
{
	if (res <= 0) {
		conn_close(c);
		return;
	}
	c->out = proto_received(c, (size_t)res, &c->out_len);
	conn_next(c);
}

static void on_send(struct proto_conn *c, int res)
{
	if (res < 0) {
		conn_close(c);
		return;
	}
	c->out += res;
	c->out_len -= (size_t)res;
	if (!c->out_len)
		c->out = proto_sent(c, &c->out_len);
	conn_next(c);
}

static int ring_init(void)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};

	if (!io_uring_queue_init_params(ENTRIES, &ring, &p))
		return 0;
	return io_uring_queue_init(ENTRIES, &ring, 0);
}

int baseline_uring(int lfd, const struct srv_opts *o)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen;
	int ret;

	mode = o->mode;
	ret = ring_init();
	if (ret < 0)
		return ret;
	arm_accept(lfd);
	for (;;) {
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EBUSY)
			return ret;
		seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t d = io_uring_cqe_get_data64(cqe);
			struct proto_conn *c = (void *)(uintptr_t)(d & ~(uint64_t)OP_MASK);

			switch (d & OP_MASK) {
			case OP_ACCEPT: on_accept(lfd, cqe->res); break;
			case OP_RECV: on_recv(c, cqe->res); break;
			case OP_SEND: on_send(c, cqe->res); break;
			}
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
	}
}

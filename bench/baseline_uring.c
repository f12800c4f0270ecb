// SPDX-License-Identifier: MIT
/*
 * The raw liburing model of rtasync-baseline: what rtasync-httpd and
 * rtasync-echo do, written straight on one ring with no runtime. The
 * same operations (single-shot accept, recv, send), the same ring flags
 * (SINGLE_ISSUER|DEFER_TASKRUN where the kernel has them), one
 * io_uring_submit_and_wait per loop turn. rtasync-iobench's overhead row
 * is librtasync's echo against this one's.
 *
 * uring-fixed is the same loop on registered files: accepts install the
 * socket straight into a sparse file table (no fd in the process's
 * table), recv and send name it by index with IOSQE_FIXED_FILE, a close
 * SQE removes it. The one difference is the kernel's per-op file lookup
 * and reference count, which is what rtasync-iobench prices.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "baseline.h"

#define ENTRIES 4096
/* Registered file slots: iobench's 1,024 connections and then some */
#define FIXED_FILES 16384

enum { OP_ACCEPT, OP_RECV, OP_SEND, OP_CLOSE, OP_MASK = 3 };

static struct io_uring ring;
static enum srv_mode mode;
static bool fixed;		/* c->fd is a registered file index */

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

/*
 * uring-fixed: the kernel picks a free slot. liburing 2.3 stores the
 * index plus one and does not special-case IORING_FILE_INDEX_ALLOC (later
 * ones do, and read ALLOC - 1 the same); a direct accept takes no CLOEXEC.
 */
static void arm_accept(int lfd)
{
	struct io_uring_sqe *sqe = sqe_get();

	if (fixed)
		io_uring_prep_accept_direct(sqe, lfd, NULL, NULL, 0,
					    IORING_FILE_INDEX_ALLOC - 1);
	else
		io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	set_data(sqe, NULL, OP_ACCEPT);
}

static void set_file(struct io_uring_sqe *sqe)
{
	if (fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
}

static void arm_recv(struct proto_conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	size_t room;
	char *buf = proto_rbuf(c, &room);

	io_uring_prep_recv(sqe, c->fd, buf, room, 0);
	set_file(sqe);
	set_data(sqe, c, OP_RECV);
}

static void arm_send(struct proto_conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();

	io_uring_prep_send(sqe, c->fd, c->out, c->out_len, MSG_NOSIGNAL);
	set_file(sqe);
	set_data(sqe, c, OP_SEND);
}

/* Nothing is in flight on fd: a connection has one op at a time. */
static void fd_close(int fd)
{
	struct io_uring_sqe *sqe;

	if (!fixed) {
		close(fd);
		return;
	}
	sqe = sqe_get();
	io_uring_prep_close_direct(sqe, (unsigned int)fd);
	set_data(sqe, NULL, OP_CLOSE);
}

static void conn_close(struct proto_conn *c)
{
	fd_close(c->fd);
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
		fd_close(res);
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

/*
 * A sparse table and accepts that allocate into it came together (Linux
 * 5.19): without them there is no uring-fixed, rather than a loop that
 * would measure plain fds under its name. The table counts against
 * RLIMIT_NOFILE, which liburing raises as far as the hard limit allows.
 */
static int files_init(void)
{
	int ret = io_uring_register_files_sparse(&ring, FIXED_FILES);

	if (ret < 0)
		fprintf(stderr, "rtasync-baseline: uring-fixed: a sparse table "
			"of %d registered files (Linux 5.19+, RLIMIT_NOFILE >= "
			"%d): %s\n", FIXED_FILES, FIXED_FILES, strerror(-ret));
	return ret;
}

static int serve(int lfd, const struct srv_opts *o)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen;
	int ret;

	mode = o->mode;
	ret = ring_init();
	if (ret < 0)
		return ret;
	if (fixed) {
		ret = files_init();
		if (ret < 0)
			goto err_exit_ring;
	}
	arm_accept(lfd);
	for (;;) {
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EBUSY)
			goto err_exit_ring;
		seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t d = io_uring_cqe_get_data64(cqe);
			struct proto_conn *c = (void *)(uintptr_t)(d & ~(uint64_t)OP_MASK);

			switch (d & OP_MASK) {
			case OP_ACCEPT: on_accept(lfd, cqe->res); break;
			case OP_RECV: on_recv(c, cqe->res); break;
			case OP_SEND: on_send(c, cqe->res); break;
			case OP_CLOSE: break;	/* the slot is free */
			}
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
	}
err_exit_ring:
	io_uring_queue_exit(&ring);
	return ret;
}

int baseline_uring(int lfd, const struct srv_opts *o)
{
	return serve(lfd, o);
}

int baseline_uring_fixed(int lfd, const struct srv_opts *o)
{
	fixed = true;
	return serve(lfd, o);
}

// SPDX-License-Identifier: MIT
/*
 * Receive streams: a source (source.c) whose op is a recv on a connected
 * socket into the home worker's receive buffers (bufpool.c): a multishot
 * recv selecting from the provided buffer ring where the kernel has both
 * (6.0+), else one recv at a time, re-armed after each; without a
 * buffer ring, a poll for POLLIN and a read into a buffer of ours.
 *
 * BUFFER OWNERSHIP. A buffer is the kernel's while it sits in the ring
 * (without a ring: free in the pool's stack); the CQE that names it (the
 * read after a poll) gives it to the stream, which queues it until a task takes it; the task that
 * took it holds it (rt_stream_data()) until it next awaits the stream
 * (rt_op_recv_next() or rt_op_stream_close()), when the home worker
 * puts it back. So one task at a time may wait on a stream
 * (a second gets -EBUSY), and each stream holds at most its queue plus
 * one buffer. Queued buffers are returned when the stream is closed, and
 * with the pool when the runtime is freed.
 *
 * When every buffer is out (ENOBUFS: the multishot recv ends) the stream
 * backs off and arms again, as a listener does for EMFILE: buffers come
 * back as tasks take their next one.
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "bufpool.h"
#include "source.h"
#include "vg.h"

struct rt_stream {
	struct rt_source src;
	int32_t lent;		/* buffer the last taker holds, -1: none */
	const void *data;	/* the lent buffer's bytes */
};

static struct rt_stream *stream_of(struct rt_source *s)
{
	return (struct rt_stream *)s;
}

static struct rt_bufpool *pool_of(struct rt_worker *w)
{
	return w ? w->bufpool : NULL;
}

static int stream_can_arm(struct rt_worker *w, struct rt_source *s)
{
	struct rt_bufpool *p;
	int ret = rt_bufpool_get(w, &p);

	if (ret)
		return ret;
	if (!p->br)
		s->multishot = false;	/* nothing to select from */
	return 0;
}

/*
 * With a buffer ring the kernel picks the buffer when data is there.
 * Without one, the op is a poll for POLLIN and the data is read then
 * (stream_read()): a recv armed with a buffer of ours would pin it for
 * as long as the connection stays idle, and 10,000 idle connections
 * would hold 10,000 buffers.
 */
static void stream_prep(struct rt_worker *w, struct rt_source *s,
			struct io_uring_sqe *sqe)
{
	struct rt_bufpool *p = w->bufpool;

	if (!p->br) {
		io_uring_prep_poll_add(sqe, s->fd, POLLIN);
		return;
	}
	if (s->multishot)
		io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
	else
		io_uring_prep_recv(sqe, s->fd, NULL, p->size, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RT_BUFPOOL_GROUP;
}

/* Readable (no ring): read into a free buffer now, without waiting. */
static enum rt_source_verdict stream_read(struct rt_worker *w,
					  struct rt_source *s,
					  struct rt_source_item *item)
{
	struct rt_bufpool *p = w->bufpool;
	int32_t bid = rt_bufpool_take(p);
	ssize_t n;

	if (bid < 0)
		return RT_SRC_EXHAUSTED;
	n = recv(s->fd, rt_bufpool_addr(p, (uint32_t)bid), p->size,
		 MSG_DONTWAIT);
	if (n > 0) {
		item->res = (int32_t)n;
		item->bid = (uint32_t)bid;
		return RT_SRC_ITEM;
	}
	rt_bufpool_put(p, (uint32_t)bid);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return RT_SRC_AGAIN;
	item->res = n ? -errno : 0;
	return RT_SRC_END;
}

static enum rt_source_verdict stream_result(struct rt_worker *w,
					    struct rt_source *s, int res,
					    uint32_t cqe_flags,
					    struct rt_source_item *item)
{
	bool buffer = cqe_flags & IORING_CQE_F_BUFFER;

	if (buffer)
		item->bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
	if (res > 0 && buffer) {
		/* the kernel filled it through the ring (vg.h) */
		VALGRIND_MAKE_MEM_DEFINED(rt_bufpool_addr(w->bufpool,
							  item->bid),
					  (size_t)res);
		return RT_SRC_ITEM;
	}
	if (buffer)	/* picked and not filled: the kernel gives it back */
		rt_bufpool_put(w->bufpool, item->bid);
	if (res > 0 && !w->bufpool->br)
		return stream_read(w, s, item);
	switch (res) {
	case -ENOBUFS:		/* the ring ran dry */
	case -ENOMEM:
		return RT_SRC_EXHAUSTED;
	case -ECANCELED:
		return RT_SRC_IGNORE;
	case -EINTR:
	case -EAGAIN:
		return RT_SRC_AGAIN;
	case -EINVAL:	/* an old kernel's answer to IORING_RECV_MULTISHOT */
		return s->multishot && !s->ever ? RT_SRC_FALLBACK : RT_SRC_END;
	default:		/* 0: EOF; -ECONNRESET and the like */
		return RT_SRC_END;
	}
}

static int64_t stream_take(struct rt_worker *w, struct rt_source *s,
			   struct rt_source_item item)
{
	struct rt_stream *st = stream_of(s);

	st->lent = (int32_t)item.bid;
	st->data = rt_bufpool_addr(pool_of(w), item.bid);
	return item.res;
}

static void stream_drop(struct rt_worker *w, struct rt_source *s,
			struct rt_source_item item)
{
	(void)s;
	if (pool_of(w))
		rt_bufpool_put(pool_of(w), item.bid);
}

static void stream_release(struct rt_worker *w, struct rt_source *s)
{
	struct rt_stream *st = stream_of(s);

	if (st->lent < 0)
		return;
	rt_bufpool_put(pool_of(w), (uint32_t)st->lent);
	st->lent = -1;
	st->data = NULL;
}

static void stream_destroy(struct rt_source *s)
{
	free(stream_of(s));
}

static const struct rt_source_kind stream_kind = {
	.io_kind = RT_IO_STREAM,
	.pause_at = 16,
	.resume_below = 1,
	.one_waiter = true,
	.can_arm = stream_can_arm,
	.prep = stream_prep,
	.result = stream_result,
	.take = stream_take,
	.drop = stream_drop,
	.release = stream_release,
	.destroy = stream_destroy,
};

int rt_stream_new(struct rt_runtime *rt, int fd, unsigned int flags,
		  struct rt_stream **out)
{
	struct rt_stream *st;
	int ret;

	if (!out)
		return -EINVAL;
	ret = rt_source_new(sizeof(*st), rt, &stream_kind, fd, flags,
			    (void **)&st);
	if (ret)
		return ret;
	st->lent = -1;
	*out = st;
	return 0;
}

int64_t rt_op_recv_next(struct rt_task *t, struct rt_stream *s,
			uint64_t deadline_ns)
{
	return rt_source_await(t, s ? &s->src : NULL, RT_ACT_SOURCE_WAIT,
			       deadline_ns);
}

const void *rt_stream_data(const struct rt_stream *s)
{
	return s ? s->data : NULL;
}

int64_t rt_op_stream_close(struct rt_task *t, struct rt_stream *s)
{
	return rt_source_await(t, s ? &s->src : NULL, RT_ACT_SOURCE_CLOSE,
			       RT_NEVER);
}

int rt_stream_stats(const struct rt_stream *s, struct rt_source_stats *out)
{
	return rt_source_stats(s ? &s->src : NULL, out);
}

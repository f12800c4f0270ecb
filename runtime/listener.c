// SPDX-License-Identifier: MIT
/*
 * Listeners: a source (source.c) whose op is an accept on a listening
 * socket, multishot where the kernel has it (5.19+), single-shot and
 * re-armed after each connection otherwise, and whose items are the
 * accepted fds (close-on-exec).
 *
 * Running out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS,
 * ENOMEM) ends a multishot accept, and a single-shot one fails again at
 * once for as long as the table is full: re-arming at once would spin
 * the worker. The listener backs off instead, 1 ms doubling to 64 ms,
 * the connections wait in the kernel's backlog meanwhile, and waiting
 * tasks keep waiting: they get the next connection once descriptors are
 * free again.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "source.h"

struct rt_listener {
	struct rt_source src;
};

static int listen_can_arm(struct rt_worker *w, struct rt_source *s)
{
	(void)w;
	(void)s;
	return 0;
}

static void listen_prep(struct rt_worker *w, struct rt_source *s,
			struct io_uring_sqe *sqe)
{
	(void)w;
	if (s->multishot)
		io_uring_prep_multishot_accept(sqe, s->fd, NULL, NULL,
					       SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, s->fd, NULL, NULL, SOCK_CLOEXEC);
}

static enum rt_source_verdict listen_result(struct rt_worker *w,
					    struct rt_source *s, int res,
					    uint32_t cqe_flags,
					    struct rt_source_item *item)
{
	(void)w;
	(void)cqe_flags;
	(void)item;
	if (res >= 0)
		return RT_SRC_ITEM;
	switch (res) {
	case -EMFILE:
	case -ENFILE:
	case -ENOBUFS:
	case -ENOMEM:
		return RT_SRC_EXHAUSTED;
	case -ECANCELED:
		return RT_SRC_IGNORE;
	case -EINVAL:	/* an old kernel's answer to IORING_ACCEPT_MULTISHOT */
		return s->multishot && !s->ever ? RT_SRC_FALLBACK : RT_SRC_END;
	/* accept(2): the connection went away, or the network did; the
	 * listener is fine */
	case -ECONNABORTED:
	case -EINTR:
	case -EAGAIN:
	case -EPROTO:
	case -EPERM:
	case -ENETDOWN:
	case -ENOPROTOOPT:
	case -EHOSTDOWN:
	case -ENONET:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ETIMEDOUT:
		return RT_SRC_AGAIN;
	default:
		return RT_SRC_END;
	}
}

static int64_t listen_take(struct rt_worker *w, struct rt_source *s,
			   struct rt_source_item item)
{
	(void)w;
	(void)s;
	return item.res;
}

static void listen_drop(struct rt_worker *w, struct rt_source *s,
			struct rt_source_item item)
{
	(void)w;
	(void)s;
	close(item.res);
}

static void listen_release(struct rt_worker *w, struct rt_source *s)
{
	(void)w;
	(void)s;
}

static void listen_destroy(struct rt_source *s)
{
	free((struct rt_listener *)s);
}

static const struct rt_source_kind listen_kind = {
	.io_kind = RT_IO_LISTEN,
	.pause_at = 64,
	.resume_below = 8,
	.can_arm = listen_can_arm,
	.prep = listen_prep,
	.result = listen_result,
	.take = listen_take,
	.drop = listen_drop,
	.release = listen_release,
	.destroy = listen_destroy,
};

/* A listening stream socket, or why not. */
static int check_listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len))
		return -errno;
	return on ? 0 : -EINVAL;
}

int rt_listener_new(struct rt_runtime *rt, int fd, unsigned int flags,
		    struct rt_listener **out)
{
	int ret;

	if (!out || fd < 0)
		return -EINVAL;
	ret = check_listening(fd);
	if (ret)
		return ret;
	return rt_source_new(sizeof(**out), rt, &listen_kind, fd, flags,
			     (void **)out);
}

int64_t rt_op_accept_next(struct rt_task *t, struct rt_listener *l,
			  uint64_t deadline_ns)
{
	return rt_source_await(t, l ? &l->src : NULL, RT_ACT_SOURCE_WAIT,
			       deadline_ns);
}

int64_t rt_op_listener_close(struct rt_task *t, struct rt_listener *l)
{
	return rt_source_await(t, l ? &l->src : NULL, RT_ACT_SOURCE_CLOSE,
			       RT_NEVER);
}

int rt_listener_stats(const struct rt_listener *l, struct rt_source_stats *out)
{
	return rt_source_stats(l ? &l->src : NULL, out);
}

/* SPDX-License-Identifier: MIT */
/*
 * Sources (source.c): an operation kept armed on one worker's ring
 * whose completions queue up for tasks to take one at a time. Two kinds
 * so far: a listener (listener.c) and a receive stream (stream.c).
 */
#ifndef RT_SOURCE_H
#define RT_SOURCE_H

#include "internal.h"

/* One completion, kept until a task takes it. */
struct rt_source_item {
	int32_t res;		/* fd, byte count */
	uint32_t bid;		/* stream: the buffer holding the bytes */
};

/* What a kind makes of a failed completion (res < 0, or 0 for EOF). */
enum rt_source_verdict {
	RT_SRC_ITEM,		/* an item after all */
	RT_SRC_END,		/* the last word: every later wait gets res */
	RT_SRC_AGAIN,		/* transient: arm again */
	RT_SRC_EXHAUSTED,	/* out of fds or buffers: back off, retry */
	RT_SRC_FALLBACK,	/* the kernel lacks multishot: single-shot */
	RT_SRC_IGNORE,		/* our own cancel */
};

struct rt_source;

struct rt_source_kind {
	enum rt_io_kind io_kind;
	uint32_t pause_at;	/* queued items that pause a multishot op */
	uint32_t resume_below;	/* ... and that arm it again */
	bool one_waiter;	/* a second waiter gets -EBUSY */
	/* -ENOBUFS when it cannot be armed now (no buffer); may switch
	 * s->multishot off (no buffer ring) */
	int (*can_arm)(struct rt_worker *w, struct rt_source *s);
	void (*prep)(struct rt_worker *w, struct rt_source *s,
		     struct io_uring_sqe *sqe);
	/* a completion: fills *item (res preset; RT_SRC_END ends with
	 * item->res), says what it is */
	enum rt_source_verdict (*result)(struct rt_worker *w,
					 struct rt_source *s, int res,
					 uint32_t cqe_flags,
					 struct rt_source_item *item);
	/* an item handed to a task: the task's result */
	int64_t (*take)(struct rt_worker *w, struct rt_source *s,
			struct rt_source_item item);
	/* an item nobody will take (closing) */
	void (*drop)(struct rt_worker *w, struct rt_source *s,
		     struct rt_source_item item);
	/* a task comes for the next item: what it held of the last goes */
	void (*release)(struct rt_worker *w, struct rt_source *s);
	void (*destroy)(struct rt_source *s);
};

struct rt_source {
	const struct rt_source_kind *kind;
	struct rt_runtime *rt;
	struct rt_source *prev, *next;	/* rt->sources, under its lock */
	int fd;
	unsigned int flags;		/* RT_SOURCE_* */
	_Atomic uint16_t owner;		/* worker id whose ring holds it */

	/* the owner's alone */
	struct rt_source_item *q;	/* FIFO of items nobody took yet */
	uint32_t qhead, qlen, qcap;
	struct rt_task *wait_head, *wait_tail;	/* linked by next */
	struct rt_task *closer;
	struct rt_source *poke_next;	/* on the owner's pokes list */
	uint32_t cqes;			/* CQEs still to come naming it */
	uint32_t backoff_ms;
	int32_t end_res;
	bool armed;			/* its accept or recv is in the ring */
	bool paused;			/* ... and being cancelled: too many
					   items queued */
	bool retrying;			/* a back-off timeout is in the ring */
	bool closing, ended, multishot, ever, poked;
	struct __kernel_timespec retry_ts;
	struct rt_source_stats stats;	/* relaxed stores, read by anyone */
};

int rt_source_new(size_t size, struct rt_runtime *rt,
		  const struct rt_source_kind *kind, int fd, unsigned int flags,
		  void **out);
int64_t rt_source_await(struct rt_task *t, struct rt_source *s,
			enum rt_action action, uint64_t deadline_ns);
int rt_source_stats(const struct rt_source *s, struct rt_source_stats *out);

#endif /* RT_SOURCE_H */

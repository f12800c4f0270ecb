// SPDX-License-Identifier: MIT
/*
 * Bounded MPMC channels: a ring of fixed-size messages and two lists of
 * waiters (senders waiting for room, receivers waiting for a message),
 * all under one spin lock.
 *
 * Invariants, under the lock:
 *   - receivers wait only while the ring is empty and the channel open;
 *     senders only while the ring is full and the channel open.
 *   - a message moves exactly once: a sender that finds a receiver it
 *     could claim copies into that receiver's buffer (the claim comes
 *     first, so a receiver that timed out or was cancelled gets nothing
 *     and the message goes to the next one or the ring); a receiver that
 *     frees a slot pulls the oldest claimable waiting sender's message
 *     into the ring. Messages of one sender therefore keep their order.
 *   - close wakes every waiter with -EPIPE; receivers drain the ring
 *     first, so nothing sent before the close is lost.
 */
#include <stdlib.h>
#include <string.h>

#include "waitq.h"

struct rt_chan {
	uint32_t lock;
	bool closed;
	size_t elem, cap;
	size_t head, len;	/* oldest message, messages queued */
	uint64_t received;	/* messages handed to receivers so far */
	_Atomic uint64_t *expect;	/* task sets: all received, -ENOENT */
	struct rt_wlist senders, receivers;
	char ring[] __attribute__((aligned(16)));
};

int rt_chan_new(size_t elem_size, size_t capacity, struct rt_chan **out)
{
	struct rt_chan *ch;
	size_t bytes;

	if (!out || !elem_size || !capacity)
		return -EINVAL;
	if (__builtin_mul_overflow(elem_size, capacity, &bytes) ||
	    __builtin_add_overflow(bytes, sizeof(*ch), &bytes))
		return -EOVERFLOW;
	ch = calloc(1, bytes);
	if (!ch)
		return -ENOMEM;
	ch->elem = elem_size;
	ch->cap = capacity;
	*out = ch;
	return 0;
}

void rt_chan_free(struct rt_chan *ch)
{
	free(ch);
}

/* Messages are mostly a word or two: a constant-size copy, no call. */
static inline void msg_copy(struct rt_chan *ch, void *dst, const void *src)
{
	if (ch->elem == sizeof(uint64_t))
		memcpy(dst, src, sizeof(uint64_t));
	else
		memcpy(dst, src, ch->elem);
}

/* i < cap: a compare instead of a division on the hot path */
static void *slot(struct rt_chan *ch, size_t i)
{
	size_t idx = ch->head + i;

	if (idx >= ch->cap)
		idx -= ch->cap;
	return ch->ring + idx * ch->elem;
}

static void ring_put(struct rt_chan *ch, const void *msg)
{
	msg_copy(ch, slot(ch, ch->len), msg);
	ch->len++;
}

static void ring_take(struct rt_chan *ch, void *buf)
{
	msg_copy(ch, buf, slot(ch, 0));
	if (++ch->head == ch->cap)
		ch->head = 0;
	ch->len--;
	ch->received++;
}

/*
 * A task set's channel (taskset.c): once as many messages were received
 * as *expect says will ever be sent, a receive ends with -ENOENT. Both
 * counts are read under the lock that moves messages, so no message is
 * in flight between them.
 */
void rt_chan_expect(struct rt_chan *ch, _Atomic uint64_t *expect)
{
	ch->expect = expect;
}

uint64_t rt_chan_unreceived(struct rt_chan *ch)
{
	uint64_t n;

	rt_spin_lock(&ch->lock);
	n = atomic_load(ch->expect) - ch->received;
	rt_spin_unlock(&ch->lock);
	return n;
}

static bool all_received(struct rt_chan *ch)
{
	return ch->expect && ch->received == atomic_load(ch->expect);
}

static uint32_t *chan_lock(void *obj)
{
	return &((struct rt_chan *)obj)->lock;
}

static struct rt_wlist *recv_list(void *obj)
{
	return &((struct rt_chan *)obj)->receivers;
}

static struct rt_wlist *send_list(void *obj)
{
	return &((struct rt_chan *)obj)->senders;
}

/* A slot came free: the oldest waiting sender's message fills it. */
static void pull_sender(struct rt_chan *ch, struct rt_wakeups *wk)
{
	struct rt_waiter *s = rt_wlist_claim(&ch->senders);

	if (!s)
		return;
	ring_put(ch, s->buf);
	s->result = 0;
	rt_wakeups_add(wk, s);
}

RT_POLL_FN recv_poll(void *obj, struct rt_waiter *w, bool armed,
		     struct rt_wakeups *wk)
{
	struct rt_chan *ch = obj;

	if (!ch->len && !ch->closed && !all_received(ch))
		return RT_POLL_WAIT;
	if (!rt_arm_take(w, armed))
		return RT_POLL_LOST;
	if (!ch->len) {
		w->result = ch->closed ? -EPIPE : -ENOENT;
		return RT_POLL_READY;
	}
	ring_take(ch, w->buf);
	pull_sender(ch, wk);
	w->result = 0;
	return RT_POLL_READY;
}

RT_POLL_FN send_poll(void *obj, struct rt_waiter *w, bool armed,
		     struct rt_wakeups *wk)
{
	struct rt_chan *ch = obj;
	struct rt_waiter *r;

	if (ch->len == ch->cap && !ch->closed)
		return RT_POLL_WAIT;
	if (!rt_arm_take(w, armed))
		return RT_POLL_LOST;
	if (ch->closed) {
		w->result = -EPIPE;
		return RT_POLL_READY;
	}
	/* receivers wait only on an empty ring: hand it over directly */
	r = ch->len ? NULL : rt_wlist_claim(&ch->receivers);
	if (r) {
		msg_copy(ch, r->buf, w->buf);
		ch->received++;
		r->result = 0;
		rt_wakeups_add(wk, r);
	} else {
		ring_put(ch, w->buf);
	}
	w->result = 0;
	return RT_POLL_READY;
}

const struct rt_arm_ops rt_chan_recv_arm = {
	.lock = chan_lock, .list = recv_list, .poll = recv_poll,
};
const struct rt_arm_ops rt_chan_send_arm = {
	.lock = chan_lock, .list = send_list, .poll = send_poll,
};

int64_t rt_op_chan_send(struct rt_task *t, struct rt_chan *ch, const void *msg,
			uint64_t deadline_ns)
{
	if (!ch || !msg)
		return -EINVAL;
	return rt_wait_one(t, &rt_chan_send_arm, ch, (void *)msg, deadline_ns);
}

int64_t rt_op_chan_recv(struct rt_task *t, struct rt_chan *ch, void *buf,
			uint64_t deadline_ns)
{
	if (!ch || !buf)
		return -EINVAL;
	return rt_wait_one(t, &rt_chan_recv_arm, ch, buf, deadline_ns);
}

/* The same polls outside a task: WAIT becomes -EAGAIN. */
static int chan_try(const struct rt_arm_ops *ops, struct rt_chan *ch,
		    void *buf)
{
	struct rt_waiter w = { .buf = buf };

	if (!ch || !buf)
		return -EINVAL;
	if (rt_arm_try(ops, ch, &w) == RT_POLL_WAIT)
		return -EAGAIN;
	return (int)w.result;
}

int rt_chan_try_send(struct rt_chan *ch, const void *msg)
{
	return chan_try(&rt_chan_send_arm, ch, (void *)msg);
}

int rt_chan_try_recv(struct rt_chan *ch, void *buf)
{
	return chan_try(&rt_chan_recv_arm, ch, buf);
}

int rt_chan_close(struct rt_chan *ch)
{
	struct rt_wakeups wk = { NULL, 0 };
	bool was;

	if (!ch)
		return -EINVAL;
	rt_spin_lock(&ch->lock);
	was = ch->closed;
	ch->closed = true;
	rt_wlist_wake_all(&ch->receivers, &wk, -EPIPE);
	rt_wlist_wake_all(&ch->senders, &wk, -EPIPE);
	rt_spin_unlock(&ch->lock);
	rt_wakeups_publish(&wk);
	return was ? -EALREADY : 0;
}

size_t rt_chan_len(struct rt_chan *ch)
{
	size_t n;

	if (!ch)
		return 0;
	rt_spin_lock(&ch->lock);
	n = ch->len;
	rt_spin_unlock(&ch->lock);
	return n;
}

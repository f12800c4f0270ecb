// SPDX-License-Identifier: MIT
/*
 * Sources: one operation kept armed on a worker's ring (a multishot
 * accept or recv, or its single-shot fallback re-armed after each
 * completion), whose completions queue up as items that tasks take one
 * at a time. listener.c and stream.c are the kinds; this file owns what
 * they share: where a source lives, how a task comes to wait on it, the
 * queue, back-off, pausing, closing and cancellation.
 *
 * HOME. A source lives on the ring of the worker where it was first
 * awaited (s->owner, claimed once with a CAS and never changed): the
 * armed SQE is in that ring, its CQEs are reaped there, and every field
 * below `owner` is that worker's alone, so none needs a lock. A task
 * awaiting the source on another worker (it was stolen or donated since
 * its last wait) unwinds with RT_ACT_SOURCE_* and is pushed, once its
 * step has ended, into the home worker's io_home inbox; the home worker
 * takes it at the top of a turn and makes it wait there (arrive()). A
 * waiting task is in no run queue; when an item comes for it, the home
 * worker queues it on its own CPU. So a task is only ever resumed by the
 * worker whose ring owns what it waited for. Watchers never adopt
 * io_home: only the home worker may touch the source.
 *
 * NO LOST CANCEL, for waits. arrive() publishes io_owner, then reads
 * RT_TF_CANCEL; rt_task_cancel() sets the flag, then reads io_owner (all
 * seq_cst). Either the arrival sees the flag and the task resumes with
 * -ECANCELED at once, or the cancel finds the home worker and pushes the
 * task into its io_cancels, which the home worker takes at a later turn
 * and takes the task off the waiters (rt_source_cancel()). A task in
 * transit has io_owner 0: a cancel then leaves it to the arrival's check.
 *
 * DEADLINES. A waiter with a deadline has an IORING_OP_TIMEOUT of its
 * own on the home ring, naming the task; a wait that ends otherwise
 * removes it, and the task resumes only once that timeout's CQE is in
 * (end_wait(), wait_timer_reaped()): no CQE naming a task outlives its
 * wait. The deadline rides in t->wait_deadline (the result's slot,
 * unused until the task completes).
 *
 * LIFETIME. Every CQE that will name the source is counted in s->cqes
 * (the armed op until its last CQE, the back-off timeout, each cancel,
 * each waiter's deadline timeout),
 * and a closed source is freed only when that count is back to 0: the
 * kernel never writes a CQE naming freed memory. Sources still open when
 * the runtime is freed are freed with it, after the rings are gone.
 */
#include <stdlib.h>
#include <string.h>

#include "source.h"

/* Back-off after EMFILE, ENFILE, ENOBUFS: 1 ms, doubling up to this. */
#define RT_SOURCE_BACKOFF_MAX_MS 64u

static uint64_t src_user_data(struct rt_source *s, unsigned int tag)
{
	return ((uint64_t)(uintptr_t)s << RT_TAG_BITS) | tag;
}

static void stat_bump(uint64_t *field)
{
	__atomic_store_n(field, *field + 1, __ATOMIC_RELAXED);
}

/* ---- creating and freeing ----------------------------------------------- */

static int source_init(struct rt_source *s, struct rt_runtime *rt,
		       const struct rt_source_kind *kind, int fd,
		       unsigned int flags)
{
	if (!rt || fd < 0 || (flags & ~RT_SOURCE_SINGLE_SHOT))
		return -EINVAL;
	if (rt_inherited(rt))
		return -ECHILD;
	s->qcap = kind->pause_at * 2;
	s->q = calloc(s->qcap, sizeof(*s->q));
	if (!s->q)
		return -ENOMEM;
	s->kind = kind;
	s->rt = rt;
	s->fd = fd;
	s->flags = flags;
	s->multishot = !(flags & RT_SOURCE_SINGLE_SHOT);
	s->stats.multishot = s->multishot;
	atomic_init(&s->owner, 0);
	pthread_mutex_lock(&rt->sources_lock);
	s->next = rt->sources;
	if (s->next)
		s->next->prev = s;
	rt->sources = s;
	pthread_mutex_unlock(&rt->sources_lock);
	return 0;
}

/* A source of `size` bytes (a kind's struct, which starts with one). */
int rt_source_new(size_t size, struct rt_runtime *rt,
		  const struct rt_source_kind *kind, int fd, unsigned int flags,
		  void **out)
{
	struct rt_source *s;
	int ret;

	if (!out)
		return -EINVAL;
	s = calloc(1, size);
	if (!s)
		return -ENOMEM;
	ret = source_init(s, rt, kind, fd, flags);
	if (ret) {
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

static void source_unlink(struct rt_source *s)
{
	struct rt_runtime *rt = s->rt;

	pthread_mutex_lock(&rt->sources_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		rt->sources = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&rt->sources_lock);
}

static bool q_pop(struct rt_source *s, struct rt_source_item *item)
{
	if (!s->qlen)
		return false;
	*item = s->q[s->qhead];
	s->qhead = (s->qhead + 1) % s->qcap;
	s->qlen--;
	return true;
}

/* Free what the source holds; w is NULL once the workers are gone. */
static void source_destroy(struct rt_worker *w, struct rt_source *s)
{
	struct rt_source_item item;

	while (q_pop(s, &item))
		s->kind->drop(w, s, item);
	free(s->q);
	s->kind->destroy(s);
}

/* After the workers have exited: sources nobody closed. */
void rt_sources_free(struct rt_runtime *rt)
{
	struct rt_source *s;

	while ((s = rt->sources)) {
		rt->sources = s->next;
		source_destroy(NULL, s);
	}
}

int rt_source_stats(const struct rt_source *s, struct rt_source_stats *out)
{
	if (!s || !out)
		return -EINVAL;
	out->items = __atomic_load_n(&s->stats.items, __ATOMIC_RELAXED);
	out->arms = __atomic_load_n(&s->stats.arms, __ATOMIC_RELAXED);
	out->exhausted = __atomic_load_n(&s->stats.exhausted, __ATOMIC_RELAXED);
	out->multishot = __atomic_load_n(&s->stats.multishot, __ATOMIC_RELAXED);
	return 0;
}

/* ---- the queue and the waiters (home worker only) ----------------------- */

static bool q_push(struct rt_source *s, struct rt_source_item item)
{
	if (s->qlen == s->qcap) {
		struct rt_source_item *q = calloc(s->qcap * 2, sizeof(*q));

		if (!q)
			return false;
		for (uint32_t i = 0; i < s->qlen; i++)
			q[i] = s->q[(s->qhead + i) % s->qcap];
		free(s->q);
		s->q = q;
		s->qhead = 0;
		s->qcap *= 2;
	}
	s->q[(s->qhead + s->qlen) % s->qcap] = item;
	s->qlen++;
	return true;
}

static struct rt_task *waiter_pop(struct rt_source *s)
{
	struct rt_task *t = s->wait_head;

	if (t) {
		s->wait_head = t->next;
		if (!s->wait_head)
			s->wait_tail = NULL;
	}
	return t;
}

static void waiter_push(struct rt_source *s, struct rt_task *t)
{
	t->next = NULL;
	if (s->wait_tail)
		s->wait_tail->next = t;
	else
		s->wait_head = t;
	s->wait_tail = t;
}

static bool waiter_remove(struct rt_source *s, struct rt_task *t)
{
	struct rt_task *prev = NULL;

	for (struct rt_task *p = s->wait_head; p; prev = p, p = p->next) {
		if (p != t)
			continue;
		if (prev)
			prev->next = t->next;
		else
			s->wait_head = t->next;
		if (s->wait_tail == t)
			s->wait_tail = prev;
		return true;
	}
	return false;
}

/*
 * The wait of t is over, with res. Queued on `woken` rather than made
 * runnable here: we may be inside the reaper, and a push may ring a
 * peer, which reaps this ring again.
 */
static void wake(struct rt_task *t, int64_t res, struct rt_task **woken)
{
	t->h.ret = res;
	/* before it can run again, and wait or start an op elsewhere */
	atomic_store_explicit(&t->io_owner, 0, memory_order_relaxed);
	t->next = *woken;
	*woken = t;
}

static void expect_cqe(struct rt_worker *w, struct rt_source *s);

static uint64_t task_user_data(struct rt_task *t, unsigned int tag)
{
	return ((uint64_t)(uintptr_t)t << RT_TAG_BITS) | tag;
}

/*
 * t, off the waiters, ends its wait with res: at once, or, when a
 * deadline timeout of its own is in the ring, once that timeout's CQE is
 * in (after a removal, or at the deadline if no SQE can be had for the
 * removal): no CQE naming t may come after t has moved on.
 */
static void end_wait(struct rt_worker *w, struct rt_source *s,
		     struct rt_task *t, int64_t res, struct rt_task **woken)
{
	struct io_uring_sqe *sqe;

	if (t->wait_deadline == RT_NEVER) {
		wake(t, res, woken);
		return;
	}
	t->h.ret = res;
	sqe = rt_worker_get_sqe(w);
	if (!sqe)
		return;
	io_uring_prep_timeout_remove(sqe,
		task_user_data(t, RT_TAG_SRC_WAIT_TIMER), 0);
	io_uring_sqe_set_data64(sqe, src_user_data(s, RT_TAG_SRC_CANCEL));
	expect_cqe(w, s);
}

static void wake_all(struct rt_worker *w, struct rt_source *s, int64_t res,
		     struct rt_task **woken)
{
	struct rt_task *t;

	while ((t = waiter_pop(s)))
		end_wait(w, s, t, res, woken);
}

/* Run the woken, in the order they were woken. */
void rt_source_wake(struct rt_worker *w, struct rt_task *t)
{
	struct rt_task *fifo = NULL;

	while (t) {
		struct rt_task *next = t->next;

		t->next = fifo;
		fifo = t;
		t = next;
	}
	while (fifo) {
		struct rt_task *next = fifo->next;

		rt_worker_push_local(w, fifo);
		fifo = next;
	}
}

/* ---- the armed op -------------------------------------------------------- */

/* No SQE now: try again at the top of the next turn. */
static void poke_later(struct rt_worker *w, struct rt_source *s)
{
	if (s->poked)
		return;
	s->poked = true;
	s->poke_next = w->pokes;
	w->pokes = s;
}

/* One more CQE that names s is on its way. */
static void expect_cqe(struct rt_worker *w, struct rt_source *s)
{
	s->cqes++;
	w->io_cqes++;
}

static void got_cqe(struct rt_worker *w, struct rt_source *s)
{
	s->cqes--;
	w->io_cqes--;
}

/* Arm a timeout that arms the op again: EMFILE and friends last. */
static void retry_later(struct rt_worker *w, struct rt_source *s)
{
	struct io_uring_sqe *sqe = rt_worker_get_sqe(w);
	uint32_t ms;

	if (!sqe) {
		poke_later(w, s);
		return;
	}
	ms = s->backoff_ms ? s->backoff_ms * 2 : 1;
	if (ms > RT_SOURCE_BACKOFF_MAX_MS)
		ms = RT_SOURCE_BACKOFF_MAX_MS;
	s->backoff_ms = ms;
	s->retry_ts.tv_sec = ms / 1000;
	s->retry_ts.tv_nsec = (long long)(ms % 1000) * 1000000;
	io_uring_prep_timeout(sqe, &s->retry_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, src_user_data(s, RT_TAG_SRC_RETRY));
	s->retrying = true;
	expect_cqe(w, s);
}

/* The op cannot go on: every wait, now and later, gets res. */
static void end(struct rt_worker *w, struct rt_source *s, int32_t res,
		struct rt_task **woken)
{
	s->ended = true;
	s->end_res = res;
	if (!s->qlen)
		wake_all(w, s, res, woken);
}

/*
 * Arm the op if the source wants items: someone waits, or fewer than
 * resume_below are queued (a listener accepts ahead of its takers).
 */
static void rearm(struct rt_worker *w, struct rt_source *s,
		  struct rt_task **woken)
{
	struct io_uring_sqe *sqe;
	int err;

	if (s->armed || s->retrying || s->closing || s->ended)
		return;
	if (s->qlen >= s->kind->resume_below && !s->wait_head)
		return;
	err = s->kind->can_arm(w, s);
	if (err == -ENOBUFS) {
		stat_bump(&s->stats.exhausted);
		retry_later(w, s);
		return;
	}
	if (err) {
		end(w, s, err, woken);
		return;
	}
	sqe = rt_worker_get_sqe(w);
	if (!sqe) {
		poke_later(w, s);
		return;
	}
	s->kind->prep(w, s, sqe);
	io_uring_sqe_set_data64(sqe, src_user_data(s, RT_TAG_SRC));
	s->armed = true;
	expect_cqe(w, s);
	__atomic_store_n(&s->stats.multishot, s->multishot, __ATOMIC_RELAXED);
	stat_bump(&s->stats.arms);
	RT_IO_COUNT(w, submitted, s->kind->io_kind);
}

/* ASYNC_CANCEL the armed op: to pause it, or to close. */
static void cancel_op(struct rt_worker *w, struct rt_source *s)
{
	struct io_uring_sqe *sqe;

	if (!s->armed || s->paused)
		return;
	sqe = rt_worker_get_sqe(w);
	if (!sqe) {
		poke_later(w, s);
		return;
	}
	io_uring_prep_cancel64(sqe, src_user_data(s, RT_TAG_SRC), 0);
	io_uring_sqe_set_data64(sqe, src_user_data(s, RT_TAG_SRC_CANCEL));
	s->paused = true;
	expect_cqe(w, s);
	RT_IO_COUNT(w, cancelled, s->kind->io_kind);
}

/* An item: to the first waiter, else into the queue. */
static void deliver(struct rt_worker *w, struct rt_source *s,
		    struct rt_source_item item, struct rt_task **woken)
{
	struct rt_task *t = waiter_pop(s);

	s->ever = true;
	s->backoff_ms = 0;
	stat_bump(&s->stats.items);
	if (t) {
		end_wait(w, s, t, s->kind->take(w, s, item), woken);
		return;
	}
	if (!q_push(s, item)) {
		/* no memory to keep it: a listener closes the connection,
		 * a stream loses the data and says so */
		s->kind->drop(w, s, item);
		if (s->kind->io_kind == RT_IO_STREAM)
			end(w, s, -ENOMEM, woken);
		return;
	}
	/* a multishot op goes on without us: stop it while nobody takes */
	if (s->multishot && s->qlen >= s->kind->pause_at)
		cancel_op(w, s);
}

static void completion(struct rt_worker *w, struct rt_source *s, int res,
		       uint32_t cqe_flags, struct rt_task **woken)
{
	struct rt_source_item item = { .res = res };

	switch (s->kind->result(w, s, res, cqe_flags, &item)) {
	case RT_SRC_ITEM:
		if (s->closing)
			s->kind->drop(w, s, item);
		else
			deliver(w, s, item, woken);
		break;
	case RT_SRC_END:
		if (!s->closing)
			end(w, s, item.res, woken);
		break;
	case RT_SRC_EXHAUSTED:
		stat_bump(&s->stats.exhausted);
		if (!s->closing && !s->retrying)
			retry_later(w, s);
		break;
	case RT_SRC_FALLBACK:
		s->multishot = false;
		break;
	case RT_SRC_AGAIN:
	case RT_SRC_IGNORE:
		break;
	}
}

/* Closing, and the kernel has let go of it: free, resume the closer. */
static void finish(struct rt_worker *w, struct rt_source *s,
		   struct rt_task **woken)
{
	struct rt_task *closer = s->closer;

	if (s->cqes || s->poked)
		return;		/* later: the last CQE, or the poke */
	source_unlink(s);
	source_destroy(w, s);
	wake(closer, 0, woken);
}

/*
 * A waiter's deadline CQE: it fired while the task still waited
 * (-ETIMEDOUT), or it was removed because the wait ended otherwise
 * (the result is in h.ret already). Either way the task goes on now.
 */
static void wait_timer_reaped(struct rt_worker *w, struct rt_task *t,
			      struct rt_task **woken)
{
	struct rt_source *s = t->source;

	got_cqe(w, s);
	if (waiter_remove(s, t)) {
		t->h.ret = -ETIMEDOUT;
		RT_STAT_INC(w, io_timeouts);
	}
	wake(t, t->h.ret, woken);
	if (s->closing)
		finish(w, s, woken);
}

void rt_source_reaped(struct rt_worker *w, uint64_t user_data, int res,
		      uint32_t cqe_flags, struct rt_task **woken)
{
	struct rt_source *s = (struct rt_source *)(uintptr_t)
			      (user_data >> RT_TAG_BITS);

	if ((user_data & RT_TAG_MASK) == RT_TAG_SRC_WAIT_TIMER) {
		wait_timer_reaped(w, (struct rt_task *)s, woken);
		return;
	}
	switch (user_data & RT_TAG_MASK) {
	case RT_TAG_SRC:
		if (!(cqe_flags & IORING_CQE_F_MORE)) {
			s->armed = false;
			s->paused = false;
			got_cqe(w, s);
			RT_IO_COUNT(w, completed, s->kind->io_kind);
		}
		completion(w, s, res, cqe_flags, woken);
		break;
	case RT_TAG_SRC_RETRY:
		s->retrying = false;
		got_cqe(w, s);
		break;
	default:		/* RT_TAG_SRC_CANCEL: the op's CQE says it all */
		got_cqe(w, s);
		break;
	}
	if (s->closing)
		finish(w, s, woken);
	else
		rearm(w, s, woken);
}

/* ---- waiting and closing ------------------------------------------------- */

/* On the home worker: an item (or the end) at once, or RT_PENDING. */
static int64_t take_now(struct rt_worker *w, struct rt_source *s,
			struct rt_task **woken)
{
	struct rt_source_item item;
	int64_t ret;

	if (s->closing)
		return -EBADF;
	if (s->kind->one_waiter && s->wait_head)
		return -EBUSY;
	s->kind->release(w, s);
	if (q_pop(s, &item)) {
		ret = s->kind->take(w, s, item);
		rearm(w, s, woken);
		return ret;
	}
	if (s->ended)
		return s->end_res;
	return RT_PENDING;
}

static void source_close(struct rt_worker *w, struct rt_source *s,
			 struct rt_task *closer, struct rt_task **woken)
{
	struct rt_source_item item;

	if (s->closing) {
		wake(closer, -EALREADY, woken);
		return;
	}
	s->closing = true;
	s->closer = closer;
	wake_all(w, s, -EBADF, woken);
	while (q_pop(s, &item))
		s->kind->drop(w, s, item);
	s->kind->release(w, s);
	cancel_op(w, s);
	/* a back-off timeout runs out by itself, in 64 ms at most */
	finish(w, s, woken);
}

/*
 * A timeout at t's deadline, on this ring, naming t. Its timespec lives
 * in the slot of its SQE until the turn submits it (as io.c's do).
 */
static bool arm_deadline(struct rt_worker *w, struct rt_source *s,
			 struct rt_task *t)
{
	struct io_uring_sqe *sqe = rt_worker_get_sqe(w);
	struct __kernel_timespec *ts;

	if (!sqe)
		return false;
	ts = &w->io_ts[sqe - w->ring.sq.sqes];
	ts->tv_sec = (long long)(t->wait_deadline / 1000000000u);
	ts->tv_nsec = (long long)(t->wait_deadline % 1000000000u);
	io_uring_prep_timeout(sqe, ts, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, task_user_data(t, RT_TAG_SRC_WAIT_TIMER));
	expect_cqe(w, s);
	return true;
}

/* t has come to wait on (or close) t->source, its step over. */
static void arrive(struct rt_worker *w, struct rt_task *t,
		   struct rt_task **woken)
{
	struct rt_source *s = t->source;
	int64_t ret;

	/* the waiter's side of NO LOST CANCEL (see the top of the file) */
	atomic_store_explicit(&t->io_owner, rt_worker_id(w),
			      memory_order_seq_cst);
	if (atomic_load_explicit(&t->flags, memory_order_seq_cst) &
	    RT_TF_CANCEL) {
		wake(t, -ECANCELED, woken);
		return;
	}
	if (t->action == RT_ACT_SOURCE_CLOSE) {
		source_close(w, s, t, woken);
		return;
	}
	ret = take_now(w, s, woken);
	if (ret == RT_PENDING && t->wait_deadline != RT_NEVER &&
	    !arm_deadline(w, s, t))
		ret = -EAGAIN;	/* no SQE, as for any op */
	if (ret != RT_PENDING) {
		wake(t, ret, woken);
		return;
	}
	waiter_push(s, t);
	rearm(w, s, woken);
}

/* The worker whose ring holds s; the first to ask claims it. */
static struct rt_worker *source_home(struct rt_source *s, struct rt_worker *w)
{
	uint16_t id = 0;

	if (atomic_compare_exchange_strong_explicit(&s->owner, &id,
			rt_worker_id(w), memory_order_acq_rel,
			memory_order_acquire))
		return w;
	return rt_worker_by_id(s->rt, id);
}

/* The step's side of rt_op_accept_next() and friends. */
int64_t rt_source_await(struct rt_task *t, struct rt_source *s,
			enum rt_action action, uint64_t deadline_ns)
{
	struct rt_worker *w = rt__self;
	int64_t ret = rt_op_check(t);

	if (ret)
		return ret;
	if (!s)
		return -EINVAL;
	if (s->rt != t->rt)
		return -EXDEV;
	if (source_home(s, w) == w && action == RT_ACT_SOURCE_WAIT) {
		struct rt_task *woken = NULL;

		/* an item queued already: no suspension at all */
		ret = take_now(w, s, &woken);
		rt_source_wake(w, woken);
		if (ret != RT_PENDING)
			return ret;
	}
	t->source = s;
	t->wait_deadline = deadline_ns;
	t->action = (uint8_t)action;
	return RT_PENDING;
}

/* t has unwound from rt_source_await(): to the source's home. */
void rt_source_commit(struct rt_worker *w, struct rt_task *t)
{
	struct rt_worker *home = rt_worker_by_id(w->rt,
		atomic_load_explicit(&t->source->owner, memory_order_relaxed));
	struct rt_task *woken = NULL;

	if (home == w) {
		arrive(w, t, &woken);
		rt_source_wake(w, woken);
		return;
	}
	/* the producer side of NO LOST WAKE-UP (park.c) */
	rt_inbox_push(&home->io_home, t);
	rt_fence_fast();
	rt_worker_wake(w, home);
}

/* Top of a turn: tasks that came to wait here, sources that want SQEs. */
void rt_source_turn(struct rt_worker *w)
{
	struct rt_source *s = w->pokes;
	struct rt_task *t, *woken = NULL;

	if (!s && rt_inbox_empty(&w->io_home))
		return;
	w->pokes = NULL;
	while (s) {
		struct rt_source *next = s->poke_next;

		s->poked = false;
		if (s->closing) {
			cancel_op(w, s);
			finish(w, s, &woken);
		} else {
			rearm(w, s, &woken);
		}
		s = next;
	}
	t = rt_inbox_take(&w->io_home);
	while (t) {
		struct rt_task *next = t->next;

		arrive(w, t, &woken);
		t = next;
	}
	rt_source_wake(w, woken);
}

/*
 * A cancel for t, whose io_owner names us: if it waits on one of our
 * sources, it stops waiting. Its fields are ours to read: a task is
 * only in a wait or an op of this worker while io_owner says so.
 */
bool rt_source_cancel(struct rt_worker *w, struct rt_task *t)
{
	struct rt_task *woken = NULL;

	if (t->action != RT_ACT_SOURCE_WAIT && t->action != RT_ACT_SOURCE_CLOSE)
		return false;
	/* a close goes on: its CQEs are coming anyway */
	if (t->action == RT_ACT_SOURCE_WAIT && waiter_remove(t->source, t)) {
		end_wait(w, t->source, t, -ECANCELED, &woken);
		rt_source_wake(w, woken);
	}
	return true;
}

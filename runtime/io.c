// SPDX-License-Identifier: MIT
/*
 * I/O ops: io_uring operations as awaits.
 *
 * An op prepares its SQE on the ring of the worker running the task and
 * returns RT_PENDING; the task unwinds and is not in any queue while the
 * operation is in flight. The worker hands the turn's SQEs to the kernel
 * once per loop turn (rt_io_submit), and its reaper (park.c) gives each
 * CQE tagged RT_TAG_IO here. When the last CQE of the op is in (the op's,
 * and a SEND_ZC's notification), the task is resumed with the result, on
 * the worker that reaped it.
 *
 * OWNERSHIP. An op belongs to the ring of the worker that submitted it,
 * and only that worker touches the task until the op is over: it reaps
 * the CQEs, reads and writes t->io, sends the ASYNC_CANCEL, and resumes
 * the task on its own CPU queue. A suspended task is in no run queue, so
 * it cannot be stolen or donated while its op is in flight; it may move
 * again once it has been resumed, and its next op then belongs to
 * whichever worker runs it. t->io_owner names the owner while the op is
 * in flight (0 otherwise); only the owner sets and clears it.
 *
 * The user_data of the op's SQE is the task's address above the tag: a
 * task has at most one op in flight, so it is unique on the ring, which
 * is what ASYNC_CANCEL matches on.
 *
 * Resuming only after every CQE of the op has been reaped is what makes
 * the buffer the task's again when it resumes: the kernel has posted the
 * op's completion, so it will not write there any more, and no stale CQE
 * can arrive for the task's next op.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "vg.h"
#include "waitq.h"

/* Bits of t->io.flags, written by the owner only. */
enum {
	RT_IO_FIRED = 1u << 0,		/* the deadline fired */
	RT_IO_CANCEL_SENT = 1u << 1,	/* rt_task_cancel()'s ASYNC_CANCEL
					   went to the kernel */
	RT_IO_DEADLINE = 1u << 2,	/* in the owner's io_deadlines */
};

/* The most the kernel moves in one read or write (MAX_RW_COUNT). */
#define RT_IO_MAX_LEN 0x7ffff000u

static uint64_t io_user_data(struct rt_task *t, unsigned int tag)
{
	return ((uint64_t)(uintptr_t)t << RT_TAG_BITS) | tag;
}

static struct rt_task *io_task(uint64_t user_data)
{
	return (struct rt_task *)(uintptr_t)(user_data >> RT_TAG_BITS);
}

/* A longer transfer is a short one, as with read(2). */
static unsigned int io_len(size_t len)
{
	return len > RT_IO_MAX_LEN ? RT_IO_MAX_LEN : (unsigned int)len;
}

uint64_t rt_deadline_in(uint64_t ns)
{
	uint64_t deadline;

	if (__builtin_add_overflow(rt_now_ns(), ns, &deadline))
		return RT_NEVER;
	return deadline;
}

/* What the kernel offers, probed once on worker 0's ring. */
void rt_io_probe(struct rt_runtime *rt, struct io_uring *ring)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);

	rt->send_zc = probe &&
		      io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
	/* no probe for a flag: IORING_OP_SOCKET came in the same release */
	rt->poll_first = probe &&
			 io_uring_opcode_supported(probe, IORING_OP_SOCKET);
	io_uring_free_probe(probe);
}

/* ---- per worker --------------------------------------------------------- */

/*
 * A TIMEOUT's timespec (a source wait's deadline, source.c) is read by
 * the kernel when the SQE is submitted, at the end of the turn, after the
 * op function returned: it lives in a slot tied to its SQE's slot, which
 * cannot be reused before that submission.
 */
int rt_io_init(struct rt_worker *w)
{
	w->io_ts = calloc(w->ring.sq.ring_entries, sizeof(*w->io_ts));
	return w->io_ts ? 0 : -ENOMEM;
}

void rt_io_free(struct rt_worker *w)
{
	free(w->io_ts);
	w->io_ts = NULL;
	rt_timer_heap_free(&w->io_deadlines);
}

/*
 * Once per loop turn: hand the kernel the SQEs this turn's steps
 * prepared. While ops are in flight, enter the kernel even with nothing
 * to submit: with DEFER_TASKRUN completions are posted only when the
 * owner enters, and without it the task work that posts them waits for
 * the same. One io_uring_enter a turn either way.
 *
 * io_cqes counts ops prepared as well as in flight. Without any, a
 * re-armed doorbell read is all that can wait in the SQ, and park
 * submits that: a syscall here would only delay the batch (and let an
 * idle peer steal the task the doorbell brought).
 */
void rt_io_submit(struct rt_worker *w)
{
	if (w->io_cqes)
		io_uring_submit_and_get_events(&w->ring);
}

/* For an idle worker's poll: completions to reap, posted if need be? */
bool rt_io_poll(struct rt_worker *w)
{
	if (w->io_cqes)
		io_uring_get_events(&w->ring);
	return io_uring_cq_ready(&w->ring) || io_uring_cq_has_overflow(&w->ring);
}

/* ---- I/O ops as select arms --------------------------------------------- */

/*
 * An arm of kind RT_ARM_READ ... RT_ARM_POLL is an op started on the
 * ring of the worker running the select, tagged with its waiter's
 * address (RT_TAG_IO_ARM), which is unique on the ring while the op is
 * in flight. Its CQE is a wake like any other: it claims the wait for its
 * arm if nobody has. What differs is that the kernel owns the arm's
 * buffer until that CQE is reaped, so the wait cannot end before: the
 * arms in flight are counted in the wait's state, and waitq.c requeues
 * the task only when the count is 0 (NO WAKE INTO A BUFFER). When
 * another party wins while arms are in flight, it kicks this worker
 * (io_arm_kick), which sends an ASYNC_CANCEL for each; the arm's CQE
 * then says what its op did: the bytes a recv took before the cancel
 * are in its buffer and its result says how many.
 *
 * OWNERSHIP. Only the ring's owner touches an arm's io state (the
 * waiter's pad: RT_WP_*, and its result) and the list of arms in flight
 * (w->io_arms), so a kick carries no reference and may come any number
 * of times: the owner cancels the arms on its list whose wait is over.
 * An arm on the list keeps its task parked, so the owner may read the
 * task. A kicker may not: once its RMW has made the wait ready, the arms
 * may complete on their own and the task run and end. It names the owner
 * from the task's wait.io_worker, read before that RMW (waitq.c,
 * io_owner_of()).
 */
enum {
	RT_WP_IO = 1u << 0,		/* an I/O arm that was started */
	RT_WP_INFLIGHT = 1u << 1,	/* its CQE has not been reaped */
	RT_WP_CANCEL_SENT = 1u << 2,	/* an ASYNC_CANCEL went after it */
	RT_WP_KIND_SHIFT = 8,		/* enum rt_io_kind */
};

static uint64_t arm_user_data(struct rt_waiter *n, unsigned int tag)
{
	return ((uint64_t)(uintptr_t)n << RT_TAG_BITS) | tag;
}

static unsigned int arm_kind(const struct rt_waiter *n)
{
	return n->pad >> RT_WP_KIND_SHIFT;
}

static void arms_link(struct rt_worker *w, struct rt_waiter *n)
{
	n->prev = NULL;
	n->next = w->io_arms;
	if (w->io_arms)
		w->io_arms->prev = n;
	w->io_arms = n;
}

static void arms_cut(struct rt_worker *w, struct rt_waiter *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		w->io_arms = n->next;
	if (n->next)
		n->next->prev = n->prev;
}

/* Fill sqe with the arm's op; its kind, or -EINVAL. */
static int arm_prep(struct io_uring_sqe *sqe, enum rt_arm_kind kind,
		    const struct rt_io_req *r)
{
	switch (kind) {
	case RT_ARM_READ:
		io_uring_prep_read(sqe, r->fd, r->buf, io_len(r->len), r->off);
		return RT_IO_READ;
	case RT_ARM_WRITE:
		io_uring_prep_write(sqe, r->fd, r->buf, io_len(r->len), r->off);
		return RT_IO_WRITE;
	case RT_ARM_RECV:
		io_uring_prep_recv(sqe, r->fd, r->buf, io_len(r->len),
				   r->flags);
		return RT_IO_RECV;
	case RT_ARM_SEND:
		io_uring_prep_send(sqe, r->fd, r->buf, io_len(r->len),
				   r->flags);
		return RT_IO_SEND;
	case RT_ARM_POLL:
		io_uring_prep_poll_add(sqe, r->fd, (unsigned int)r->flags);
		return RT_IO_POLL;
	default:
		return -EINVAL;
	}
}

/* The select's start of an I/O arm, during the op, on rt__self. */
static int io_arm_start(struct rt_task *t, void *obj, struct rt_waiter *n)
{
	struct rt_worker *w = rt__self;
	struct io_uring_sqe *sqe = rt_worker_get_sqe(w);
	int kind;

	if (!sqe)
		return -EAGAIN;
	kind = arm_prep(sqe, rt_arm_of(n)->kind, obj);
	io_uring_sqe_set_data64(sqe, arm_user_data(n, RT_TAG_IO_ARM));
	n->pad = RT_WP_IO | RT_WP_INFLIGHT |
		 ((uint32_t)kind << RT_WP_KIND_SHIFT);
	arms_link(w, n);
	w->io_cqes++;
	RT_IO_COUNT(w, submitted, kind);
	atomic_fetch_add_explicit(&rt_task_wait(t)->state, RT_WS_IO_ONE,
				  memory_order_release);
	return 0;
}

const struct rt_arm_ops rt_io_arm = { .start = io_arm_start };

/* Its CQE: the op is over; settled after the CQ has advanced. */
static void io_arm_reaped(struct rt_worker *w, struct rt_waiter *n, int res)
{
	n->result = res;
	n->pad &= ~RT_WP_INFLIGHT;
	arms_cut(w, n);
	RT_IO_COUNT(w, completed, arm_kind(n));
	n->next = w->io_arms_done;
	w->io_arms_done = n;
}

/*
 * Claim and count out the arms reaped (rt_wait_io_done). A task is
 * requeued by the last of its arms, so its waiters are read before that
 * arm's RMW and never after; a nested reap (a wake we send reaps our
 * ring) settles only what it reaped itself.
 */
static void io_arms_settle(struct rt_worker *w)
{
	struct rt_waiter *n = w->io_arms_done;

	w->io_arms_done = NULL;
	while (n) {
		struct rt_waiter *next = n->next;
		struct rt_task *t = n->task;

		if (rt_wait_io_done(t, n->arm))
			rt_worker_push_local(w, t);
		n = next;
	}
}

/* A kick: cancel the arms on this ring whose wait is over. */
static void io_arms_cancel(struct rt_worker *w)
{
	for (struct rt_waiter *n = w->io_arms; n; n = n->next) {
		struct io_uring_sqe *sqe;
		uint32_t s;

		if (n->pad & RT_WP_CANCEL_SENT)
			continue;
		s = atomic_load_explicit(&rt_task_wait(n->task)->state,
					 memory_order_acquire);
		if (!rt_ws_ready(s))
			continue;	/* still waiting: the arm may win */
		sqe = rt_worker_get_sqe(w);
		if (!sqe) {		/* the next turn's, kicked again */
			atomic_store_explicit(&w->io_arm_kick, 1,
					      memory_order_relaxed);
			return;
		}
		io_uring_prep_cancel64(sqe, arm_user_data(n, RT_TAG_IO_ARM), 0);
		io_uring_sqe_set_data64(sqe, arm_user_data(n, RT_TAG_IO_CANCEL));
		n->pad |= RT_WP_CANCEL_SENT;
		w->io_cqes++;
		RT_IO_COUNT(w, cancelled, arm_kind(n));
	}
}

/*
 * Someone made a wait ready while its I/O arms are in flight on worker
 * owner's ring: have the owner cancel them. Safe from a signal handler (a
 * store, a fence, an eventfd write), as rt_task_cancel() needs; the
 * store, fence, parked pair is the inboxes' NO LOST WAKE-UP (park.c).
 */
void rt_io_arms_kick(struct rt_runtime *rt, uint16_t owner)
{
	struct rt_worker *o = rt_worker_by_id(rt, owner);

	atomic_store_explicit(&o->io_arm_kick, 1, memory_order_release);
	rt_fence_fast();
	rt_worker_wake(NULL, o);
}

bool rt_io_arm_started(const struct rt_waiter *n)
{
	return n->pad & RT_WP_IO;
}

/*
 * What the arm's op did, once its CQE is in. The kernel reports an op
 * cut short by ASYNC_CANCEL as -ECANCELED, or -EINTR when it was running
 * in an io-wq thread: both are our cancel when we sent one.
 */
int64_t rt_io_arm_result(const struct rt_waiter *n)
{
	if ((n->result == -ECANCELED || n->result == -EINTR) &&
	    (n->pad & RT_WP_CANCEL_SENT))
		return -ECANCELED;
	return n->result;
}

/* ---- completion --------------------------------------------------------- */

/*
 * One CQE of an op. When it is the op's last, the task joins the list
 * `done`, which the reaper resumes once it has advanced the CQ (resuming
 * may ring a peer, and that reaps our ring again).
 */
struct rt_task *rt_io_reaped(struct rt_worker *w, uint64_t user_data, int res,
			     uint32_t cqe_flags, struct rt_task *done)
{
	struct rt_task *t = io_task(user_data);

	w->io_cqes--;
	switch (user_data & RT_TAG_MASK) {
	case RT_TAG_IO_ARM:
		io_arm_reaped(w, (struct rt_waiter *)(uintptr_t)
			      (user_data >> RT_TAG_BITS), res);
		return done;
	case RT_TAG_IO:
		if (cqe_flags & IORING_CQE_F_NOTIF)
			break;	/* SEND_ZC: the kernel let go of the buffer */
		t->io.res = res;
		if (cqe_flags & IORING_CQE_F_MORE) {
			/* SEND_ZC: the buffer is the kernel's until its
			 * notification comes; resume the task after it */
			t->io.cqes++;
			w->io_cqes++;
		}
		break;
	default:
		return done;	/* RT_TAG_IO_CANCEL: the op's CQE says it all */
	}
	if (--t->io.cqes)
		return done;
	t->next = done;
	return t;
}

/*
 * The op's result as the task sees it. The kernel reports an op cut
 * short by ASYNC_CANCEL as -ECANCELED (-EINTR when it was running in an
 * io-wq thread), whether a cancel or the deadline sent it; which of the
 * two it was is known only from our side: a cancel wins, else a
 * deadline that fired makes it -ETIMEDOUT. An op that completed first
 * keeps its result, also a partial count, whatever came after.
 */
static int64_t io_result(const struct rt_task *t)
{
	int64_t res = t->io.res;

	if (res != -ECANCELED && res != -EINTR)
		return res;
	if (t->io.flags & RT_IO_CANCEL_SENT)
		return -ECANCELED;
	if (t->io.flags & RT_IO_FIRED)
		return -ETIMEDOUT;
	return res;
}

/* Resume the tasks whose ops are over, here: the ring's owner. */
void rt_io_resume(struct rt_worker *w, struct rt_task *t)
{
	io_arms_settle(w);
	while (t) {
		struct rt_task *next = t->next;

		if (t->io.flags & RT_IO_DEADLINE)
			rt_timer_remove(&w->io_deadlines, t);
		t->h.ret = io_result(t);
		if (t->h.ret == -ETIMEDOUT)
			RT_STAT_INC(w, io_timeouts);
		RT_IO_COUNT(w, completed, t->io.kind);
		/* Before it can run again, and start an op elsewhere. */
		atomic_store_explicit(&t->io_owner, 0, memory_order_relaxed);
		rt_worker_push_local(w, t);
		t = next;
	}
}

/* ---- cancellation ------------------------------------------------------- */

/*
 * rt_task_cancel() of a task in an op, from any thread, reaches the owner
 * through its io_cancels inbox; only the owner may submit on its ring.
 *
 * NO LOST CANCEL. io_start() publishes io_owner, then reads RT_TF_CANCEL;
 * rt_task_cancel() sets RT_TF_CANCEL, then reads io_owner (all seq_cst).
 * So either the op sees the flag and does not start (-ECANCELED), or the
 * cancel sees the owner and queues the task in its inbox, where the owner
 * finds it at the top of a turn: after the op's SQE was prepared (the
 * step that prepared it has ended), so the ASYNC_CANCEL goes to the
 * kernel behind the op, in the same submission or a later one. A task
 * whose op ended before the owner looked has io_owner 0 (or names the
 * owner of a later op, which the flag keeps from being submitted): it
 * gets nothing, and has or will get the op's own result.
 */
static bool io_send_cancel(struct rt_worker *w, struct rt_task *t)
{
	struct io_uring_sqe *sqe = rt_worker_get_sqe(w);

	if (!sqe)
		return false;
	io_uring_prep_cancel64(sqe, io_user_data(t, RT_TAG_IO), 0);
	io_uring_sqe_set_data64(sqe, io_user_data(t, RT_TAG_IO_CANCEL));
	w->io_cqes++;
	return true;
}

static bool io_cancel(struct rt_worker *w, struct rt_task *t)
{
	if (!io_send_cancel(w, t))
		return false;
	t->io.flags |= RT_IO_CANCEL_SENT;
	RT_IO_COUNT(w, cancelled, t->io.kind);
	return true;
}

void rt_io_cancels(struct rt_worker *w)
{
	struct rt_task *t;

	if (atomic_load_explicit(&w->io_arm_kick, memory_order_relaxed) &&
	    atomic_exchange_explicit(&w->io_arm_kick, 0, memory_order_acquire))
		io_arms_cancel(w);
	t = rt_inbox_take_cancels(&w->io_cancels);

	while (t) {
		struct rt_task *next = t->cancel_next;

		if (atomic_load_explicit(&t->io_owner, memory_order_relaxed) ==
			    rt_worker_id(w) &&
		    !rt_source_cancel(w, t) &&
		    !(t->io.flags & RT_IO_CANCEL_SENT) && !io_cancel(w, t)) {
			/* no SQE now: keep it, with its reference, for the
			 * next turn */
			rt_inbox_push_cancel(&w->io_cancels, t);
		} else {
			rt_task_unref(w, t);	/* the inbox's reference */
		}
		t = next;
	}
}

/* ---- deadlines ---------------------------------------------------------- */

/*
 * An op's deadline is a timer in user space: t->deadline in the owner's
 * io_deadlines heap, the sleep heap's code (timer.c) without its lock,
 * since only the owner touches it. When the deadline passes, the owner
 * sends an ASYNC_CANCEL for the op and marks it FIRED; the op's CQE ends
 * it as any cancel does, and io_result() makes it -ETIMEDOUT. An op that
 * completes first takes its deadline out (rt_io_resume()). A deadline
 * that fired while the op completed anyway changes nothing: the op keeps
 * its result. The worker's wait is bounded by the earliest deadline
 * (rt_io_next_deadline()), so a parked worker wakes up for it.
 *
 * A LINK_TIMEOUT in the kernel did this before, at one more SQE, one
 * more CQE and an hrtimer armed and cancelled for every op: about 7% of
 * the HTTP server's CPU per request, where deadlines almost never fire
 * (Documentation/benchmarks.md). The price of the user-space timer: a
 * worker stuck in a long step fires its ops' deadlines when it comes
 * back (peers cannot submit on its ring), as it would reap their
 * completions only then anyway.
 */
void rt_io_deadlines(struct rt_worker *w, uint64_t now)
{
	struct rt_task *t;

	while ((t = rt_timer_expired(&w->io_deadlines, now))) {
		/* a cancel of ours is already on its way: it ends the op,
		 * and wins (io_result) */
		if (!(t->io.flags & RT_IO_CANCEL_SENT) && !io_send_cancel(w, t))
			return;	/* no SQE: next turn */
		rt_timer_remove(&w->io_deadlines, t);
		t->io.flags = (uint8_t)((t->io.flags & ~RT_IO_DEADLINE) |
					RT_IO_FIRED);
	}
}

uint64_t rt_io_next_deadline(const struct rt_worker *w)
{
	return rt_timer_next(&w->io_deadlines);
}

/* ---- starting an op ----------------------------------------------------- */

/*
 * Claim the op for this worker (the op's side of NO LOST CANCEL), then
 * take its SQE, and room in the deadline heap when it has a deadline.
 */
static struct io_uring_sqe *io_start(struct rt_task *t, uint64_t deadline,
				     int64_t *err)
{
	struct rt_worker *w = rt__self;
	struct io_uring_sqe *sqe;

	*err = rt_op_check(t);
	if (*err)
		return NULL;
	if (deadline != RT_NEVER && rt_timer_reserve(&w->io_deadlines)) {
		*err = -ENOMEM;
		return NULL;
	}
	atomic_store_explicit(&t->io_owner, rt_worker_id(w),
			      memory_order_seq_cst);
	if (atomic_load_explicit(&t->flags, memory_order_seq_cst) &
	    RT_TF_CANCEL) {
		*err = -ECANCELED;
		goto err_disown;
	}
	*err = -EAGAIN;
	sqe = rt_worker_get_sqe(w);	/* flushes a full SQ */
	if (!sqe)
		goto err_disown;	/* the kernel took nothing */
	return sqe;
err_disown:
	atomic_store_explicit(&t->io_owner, 0, memory_order_relaxed);
	return NULL;
}

/* The op in sqe is prepared: tag it and suspend the task. */
static int64_t io_suspend(struct rt_task *t, struct io_uring_sqe *sqe,
			  uint64_t deadline, enum rt_io_kind kind)
{
	struct rt_worker *w = rt__self;

	t->io.res = 0;
	t->io.cqes = 1;
	t->io.flags = 0;
	t->io.kind = (uint8_t)kind;
	/* liburing 2.3's prep helpers leave user_data as it was */
	io_uring_sqe_set_data64(sqe, io_user_data(t, RT_TAG_IO));
	if (deadline != RT_NEVER) {
		t->deadline = deadline;
		rt_timer_insert(&w->io_deadlines, t);	/* io_start's room */
		t->io.flags = RT_IO_DEADLINE;
	}
	w->io_cqes += t->io.cqes;
	RT_IO_COUNT(w, submitted, kind);
	/* RT_ACT_NONE: the CQE holds the wake-up */
	return RT_PENDING;
}

/* ---- the ops ------------------------------------------------------------ */

/*
 * Claim the op, let liburing's prep helper fill its SQE with the
 * arguments, suspend: each op is this one line over its own prep.
 */
#define IO_OP(t, deadline, kind, prep, ...)				\
	({								\
		int64_t ret_;						\
		struct io_uring_sqe *sqe_ = io_start((t), (deadline), &ret_); \
		if (sqe_) {						\
			prep(sqe_, __VA_ARGS__);			\
			ret_ = io_suspend((t), sqe_, (deadline), (kind)); \
		}							\
		ret_;							\
	})

/*
 * The caller's memory an op has the kernel write, for memcheck (vg.h):
 * marked defined when the op starts, whole, since its CQE says how many
 * bytes came and not where. Only where it is addressable, so a freed or
 * wild buffer stays an error of memcheck's; what it misses is a read
 * past the op's result. Natively a few instructions that do nothing.
 */
static void io_filled_by_kernel(const void *buf, size_t len)
{
	VALGRIND_MAKE_MEM_DEFINED_IF_ADDRESSABLE(buf, len);
}

int64_t rt_op_read(struct rt_task *t, int fd, void *buf, size_t len,
		   uint64_t off, uint64_t deadline_ns)
{
	io_filled_by_kernel(buf, io_len(len));
	return IO_OP(t, deadline_ns, RT_IO_READ, io_uring_prep_read, fd, buf,
		     io_len(len), off);
}

int64_t rt_op_write(struct rt_task *t, int fd, const void *buf, size_t len,
		    uint64_t off, uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_WRITE, io_uring_prep_write, fd, buf,
		     io_len(len), off);
}

/* RT_RECV_POLL_FIRST is ours: it goes to the SQE's ioprio, not to the
 * kernel's msg flags, and only to a kernel that knows it. */
static unsigned int io_recv_flags(struct io_uring_sqe *sqe, int flags,
				  const struct rt_task *t)
{
	if ((flags & RT_RECV_POLL_FIRST) && t->rt->poll_first)
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	return (unsigned int)flags & ~(unsigned int)RT_RECV_POLL_FIRST;
}

static void io_prep_recv(struct io_uring_sqe *sqe, int fd, void *buf,
			 unsigned int len, int flags, const struct rt_task *t)
{
	io_uring_prep_recv(sqe, fd, buf, len, 0);
	sqe->msg_flags = io_recv_flags(sqe, flags, t);
}

static void io_prep_recvmsg(struct io_uring_sqe *sqe, int fd,
			    struct msghdr *msg, int flags,
			    const struct rt_task *t)
{
	io_uring_prep_recvmsg(sqe, fd, msg, 0);
	sqe->msg_flags = io_recv_flags(sqe, flags, t);
}

int64_t rt_op_recv(struct rt_task *t, int fd, void *buf, size_t len,
		   int flags, uint64_t deadline_ns)
{
	io_filled_by_kernel(buf, io_len(len));
	return IO_OP(t, deadline_ns, RT_IO_RECV, io_prep_recv, fd, buf,
		     io_len(len), flags, t);
}

int64_t rt_op_send(struct rt_task *t, int fd, const void *buf, size_t len,
		   int flags, uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_SEND, io_uring_prep_send, fd, buf,
		     io_len(len), flags);
}

/*
 * Zero-copy where the kernel has it (6.0+): the op completes when the
 * data is queued, and the task resumes when the kernel's notification
 * says it is done with the pages (rt_io_reaped()), so the buffer is the
 * caller's again on resume, as with every op. Elsewhere a plain send.
 */
int64_t rt_op_send_zc(struct rt_task *t, int fd, const void *buf, size_t len,
		      int flags, uint64_t deadline_ns)
{
	if (t && !t->rt->send_zc)
		return rt_op_send(t, fd, buf, len, flags, deadline_ns);
	return IO_OP(t, deadline_ns, RT_IO_SEND_ZC, io_uring_prep_send_zc, fd,
		     buf, io_len(len), flags, 0);
}

int64_t rt_op_accept(struct rt_task *t, int fd, struct sockaddr *addr,
		     uint32_t *addrlen, uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_ACCEPT, io_uring_prep_accept, fd,
		     addr, addrlen, SOCK_CLOEXEC);
}

int64_t rt_op_connect(struct rt_task *t, int fd, const struct sockaddr *addr,
		      uint32_t addrlen, uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_CONNECT, io_uring_prep_connect, fd,
		     addr, addrlen);
}

int64_t rt_op_readv(struct rt_task *t, int fd, const struct iovec *iov,
		    unsigned int iovcnt, uint64_t off, uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_READV, io_uring_prep_readv, fd, iov,
		     iovcnt, off);
}

int64_t rt_op_writev(struct rt_task *t, int fd, const struct iovec *iov,
		     unsigned int iovcnt, uint64_t off, uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_WRITEV, io_uring_prep_writev, fd,
		     iov, iovcnt, off);
}

int64_t rt_op_recvmsg(struct rt_task *t, int fd, struct msghdr *msg,
		      int flags, uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_RECVMSG, io_prep_recvmsg, fd, msg,
		     flags, t);
}

int64_t rt_op_sendmsg(struct rt_task *t, int fd, const struct msghdr *msg,
		      int flags, uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_SENDMSG, io_uring_prep_sendmsg, fd,
		     msg, (unsigned int)flags);
}

int64_t rt_op_shutdown(struct rt_task *t, int fd, int how)
{
	return IO_OP(t, RT_NEVER, RT_IO_SHUTDOWN, io_uring_prep_shutdown, fd,
		     how);
}

int64_t rt_op_statx(struct rt_task *t, int dfd, const char *path, int flags,
		    unsigned int mask, struct statx *buf, uint64_t deadline_ns)
{
	io_filled_by_kernel(buf, sizeof(*buf));
	return IO_OP(t, deadline_ns, RT_IO_STATX, io_uring_prep_statx, dfd,
		     path, flags, mask, buf);
}

int64_t rt_op_splice(struct rt_task *t, int fd_in, int64_t off_in, int fd_out,
		     int64_t off_out, size_t len, unsigned int flags,
		     uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_SPLICE, io_uring_prep_splice, fd_in,
		     off_in, fd_out, off_out, io_len(len), flags);
}

int64_t rt_op_close(struct rt_task *t, int fd)
{
	return IO_OP(t, RT_NEVER, RT_IO_CLOSE, io_uring_prep_close, fd);
}

int64_t rt_op_poll(struct rt_task *t, int fd, uint32_t events,
		   uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_POLL, io_uring_prep_poll_add, fd,
		     events);
}

int64_t rt_op_fsync(struct rt_task *t, int fd, uint32_t flags,
		    uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_FSYNC, io_uring_prep_fsync, fd,
		     flags);
}

int64_t rt_op_openat(struct rt_task *t, int dfd, const char *path, int flags,
		     uint32_t mode, uint64_t deadline_ns)
{
	return IO_OP(t, deadline_ns, RT_IO_OPENAT, io_uring_prep_openat, dfd,
		     path, flags, mode);
}

/* ---- the toolkit -------------------------------------------------------- */

/* A stream socket may take part of a send: go on from where it stopped. */
RT_ASYNC int64_t rt_send_all(struct rt_task *t, struct rt_frame *base)
{
	struct rt_send_all_frame *f = RT_FRAME(base, struct rt_send_all_frame);
	int64_t n;

	RT_BEGIN(t, base);
	if (f->zerocopy)
		RT_CATCH(true);
	while (f->sent < f->len) {
		if (f->zerocopy)
			RT_AWAIT(n, rt_op_send_zc(t, f->fd,
				(const char *)f->buf + f->sent,
				f->len - f->sent, f->flags | MSG_NOSIGNAL,
				f->deadline_ns ? f->deadline_ns : RT_NEVER));
		else
			RT_AWAIT(n, rt_op_send(t, f->fd,
				(const char *)f->buf + f->sent,
				f->len - f->sent, f->flags | MSG_NOSIGNAL,
				f->deadline_ns ? f->deadline_ns : RT_NEVER));
		if (n == -EOPNOTSUPP && f->zerocopy && !f->sent) {
			f->zerocopy = false;	/* not this socket: copy */
			continue;
		}
		if (n < 0)
			return n;
		if (!n)
			return -EPIPE;	/* no progress: never loop on it */
		f->sent += (size_t)n;
	}
	return (int64_t)f->len;
}

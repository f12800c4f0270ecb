// SPDX-License-Identifier: MIT
/*
 * Parking and waking workers.
 *
 * A worker with nothing to do sleeps in io_uring_submit_and_wait(), its
 * only sleep. Whoever makes work for a sleeping worker rings it: another
 * worker with an IORING_OP_MSG_RING into the sleeper's ring, a foreign
 * thread (or a worker whose MSG_RING failed) through the sleeper's
 * eventfd, which has a read armed in that ring.
 *
 * The protocol has one invariant, and every pair of sides below is an
 * instance of it:
 *
 *   NO LOST WAKE-UP. A producer makes work visible, then looks whether a
 *   consumer sleeps; a consumer says it sleeps, then looks for work.
 *   Between its store and its load each side has a StoreLoad fence
 *   (rt_fence_fast() on the producer, rt_fence_slow() on the consumer),
 *   so at least one of them sees the other: either the consumer finds
 *   the work and does not sleep, or the producer finds it asleep and
 *   rings it.
 *
 * The fences are asymmetric where the kernel allows it: producers push
 * on every spawn and wake, consumers park rarely, so the consumer pays
 * a membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full
 * barrier on every CPU that runs a thread of ours, and the producer's
 * fence is only a compiler barrier. Without membarrier both sides use a
 * seq_cst fence (rt_fence_init()).
 *
 * The pairs:
 *   push to a CPU queue        vs  worker_park()     (rt->nparked)
 *   push to a worker's inbox   vs  worker_park()     (target->parked)
 *   task_complete() done       vs  rt_task_join()    (RT_TF_FOREIGN)
 *
 * wake_pending says a ring is on its way to the target: only the first
 * waker of a parked worker pays for the syscall. It is set by a waker
 * (exchange, after it saw parked) and cleared by the target both when it
 * enters a park, before it sets parked, and when it unparks, before it
 * looks at its inboxes. A set flag therefore always means a wake-up is
 * in flight to the current park, or to one that has ended; a MSG_RING
 * that fails falls back to the eventfd, so the flag is never left set by
 * a wake-up that cannot arrive. (Clearing only at unpark lost wake-ups:
 * a waker that saw the previous park could set the flag after that
 * clear, and every later waker skipped the sleeper. tests/model/ checks
 * this protocol exhaustively; see Documentation/model-checking.md.)
 */
#include <linux/membarrier.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#include "vg.h"

/* A worker that cannot arm its doorbell parks in slices this long. */
#define RT_UNARMED_PARK_NS 1000000u

bool rt__fence_asym;

static int sys_membarrier(int cmd, unsigned int flags)
{
	return (int)syscall(__NR_membarrier, cmd, flags, 0);
}

static void fence_choose(void)
{
	if (RT_UNDER_VALGRIND() || rt_env_is("RTASYNC_SYMMETRIC_FENCES", "1"))
		return;
	if (sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0))
		return;
	__atomic_store_n(&rt__fence_asym, true, __ATOMIC_RELEASE);
}

/*
 * Once per process, from the first rt_runtime_new() and before any of
 * its workers exists: can the slow side carry the fast side's fence? The
 * answer never changes afterwards, so both sides of every pair always
 * agree on which fences they use.
 */
void rt_fence_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fence_choose);
}

void rt_fence_slow(void)
{
	if (__atomic_load_n(&rt__fence_asym, __ATOMIC_ACQUIRE) &&
	    !sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0))
		return;
	atomic_thread_fence(memory_order_seq_cst);
}

/* ---- how wake-ups travel ---------------------------------------------- */

/*
 * MSG_RING when the kernel has it (5.18+), the eventfd otherwise or when
 * RTASYNC_WAKE=eventfd asks for it (to run the suite over the fallback).
 */
void rt_wake_choose(struct rt_runtime *rt, struct io_uring *ring)
{
	struct io_uring_probe *probe;

	rt->wake_msg_ring = false;
	if (rt_env_is("RTASYNC_WAKE", "eventfd")) {
		rt->wake_reason = "eventfd: RTASYNC_WAKE=eventfd";
		return;
	}
	probe = io_uring_get_probe_ring(ring);
	if (probe && io_uring_opcode_supported(probe, IORING_OP_MSG_RING)) {
		rt->wake_msg_ring = true;
		rt->wake_reason = "msg_ring: IORING_OP_MSG_RING supported";
	} else {
		rt->wake_reason = "eventfd: the kernel has no IORING_OP_MSG_RING";
	}
	io_uring_free_probe(probe);
}

/* Counted on the target: foreign threads have no counters of their own,
 * so the count is shared, and this path is rare enough for an RMW. */
static void ring_doorbell(struct rt_worker *target)
{
	eventfd_write(target->efd, 1);
	__atomic_fetch_add(&target->stats->wakes_eventfd, 1, __ATOMIC_RELAXED);
}

struct io_uring_sqe *rt_worker_get_sqe(struct rt_worker *w)
{
	struct io_uring_sqe *sqe;

	if (rt_fault(RT_FAULT_SQE))
		return NULL;
	sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/*
 * A MSG_RING that failed: the kernel lacks it, the target's ring is
 * gone or full. The target still has to wake, so ring its eventfd; its
 * wake_pending stays set until it unparks, as the protocol wants.
 */
static void wake_failed(struct rt_worker *w, uint64_t user_data, int res)
{
	uint64_t idx = user_data >> RT_TAG_BITS;
	struct rt_runtime *rt = w->rt;

	RT_STAT_INC(w, wake_failures);
	if (res == -EINVAL || res == -EOPNOTSUPP) {	/* do not try again */
		atomic_store_explicit(&rt->wake_msg_ring, false,
				      memory_order_relaxed);
		__atomic_store_n(&rt->wake_reason,
				 "eventfd: the kernel refused IORING_OP_MSG_RING",
				 __ATOMIC_RELAXED);
	}
	if (idx < rt->nworkers)
		ring_doorbell(&rt->workers[idx]);
}

static void send_msg_ring(struct rt_worker *from, struct rt_worker *target)
{
	struct io_uring_sqe *sqe = rt_worker_get_sqe(from);
	int fd = target->ring_fd;

	if (!sqe) {
		ring_doorbell(target);
		return;
	}
	if (rt_fault(RT_FAULT_WAKE))
		fd = -1;	/* a wake the kernel must refuse */
	io_uring_prep_msg_ring(sqe, fd, 0, RT_TAG_WAKE, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, RT_TAG_WAKE_SENT |
			((uint64_t)target->index << RT_TAG_BITS));
	io_uring_submit(&from->ring);
	RT_STAT_INC(from, wakes_msg_ring);
	/* A refused MSG_RING completes inline: its CQE is there now. */
	rt_worker_reap(from);
}

/*
 * Ring target's doorbell if it is parked and nobody rang it yet. The
 * caller made work visible to target and then ran rt_fence_fast(): this
 * load of parked is the producer side of NO LOST WAKE-UP.
 */
void rt_worker_wake(struct rt_worker *from, struct rt_worker *target)
{
	if (from == target)
		return;
	/* acquire: pairs with park's release, so our exchange comes after
	 * that park's clear of wake_pending */
	if (!atomic_load_explicit(&target->parked, memory_order_acquire))
		return;
	if (atomic_exchange_explicit(&target->wake_pending, 1,
				     memory_order_acq_rel))
		return;
	if (from && atomic_load_explicit(&from->rt->wake_msg_ring,
					 memory_order_relaxed))
		send_msg_ring(from, target);
	else
		ring_doorbell(target);
}

/*
 * A foreign thread pushed to target's inbox or cancel inbox, then ran
 * rt_fence_fast(). A parked target is rung. An awake one takes the push
 * at its next turn, which a long step may hold back; idle peers watch
 * for that (watchdog.c), but a peer that parked before the push computed
 * its timeout without it. So if any worker is parked, ring one: the pair
 * is the push, fence, nparked against its nparked, fence, and the look
 * at peers' inboxes in rt_watch_deadline().
 */
void rt_worker_wake_inbox(struct rt_worker *target)
{
	struct rt_runtime *rt = target->rt;

	if (atomic_load_explicit(&target->parked, memory_order_acquire))
		rt_worker_wake(NULL, target);
	else if (atomic_load_explicit(&rt->nparked, memory_order_relaxed))
		rt_wake_one(rt, NULL);
}

/* Ring one parked worker other than w (w may be NULL: a foreign thread). */
struct rt_worker *rt_wake_one(struct rt_runtime *rt, struct rt_worker *w)
{
	unsigned int start = w ? w->index + 1 : 0;

	for (unsigned int i = 0; i < rt->nworkers; i++) {
		struct rt_worker *o = &rt->workers[(start + i) % rt->nworkers];

		if (o != w && rt_worker_asleep(o)) {
			rt_worker_wake(w, o);
			return o;
		}
	}
	return NULL;
}

/* ---- the sleeper's side ------------------------------------------------ */

void rt_worker_arm_doorbell(struct rt_worker *w)
{
	struct io_uring_sqe *sqe;

	if (w->doorbell_armed)
		return;
	sqe = rt_worker_get_sqe(w);
	if (!sqe)
		return;		/* worker_park() sleeps in short slices */
	io_uring_prep_read(sqe, w->efd, &w->efd_buf, sizeof(w->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, RT_TAG_EVENTFD);
	w->doorbell_armed = true;
}

/*
 * Act on the CQEs in w's CQ and advance it. Tasks whose I/O is over are
 * returned (linked by next) rather than resumed here: resuming one may
 * ring a peer, which reaps this ring again.
 */
static struct rt_task *reap_cq(struct rt_worker *w, struct rt_task *done,
			       struct rt_task **woken)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&w->ring, head, cqe) {
		uint64_t ud = cqe->user_data;

		switch (ud & RT_TAG_MASK) {
		case RT_TAG_IO:
		case RT_TAG_IO_CANCEL:
		case RT_TAG_IO_ARM:
			done = rt_io_reaped(w, ud, cqe->res, cqe->flags,
					    done);
			break;
		case RT_TAG_SRC:
		case RT_TAG_SRC_RETRY:
		case RT_TAG_SRC_CANCEL:
		case RT_TAG_SRC_WAIT_TIMER:
			rt_source_reaped(w, ud, cqe->res, cqe->flags, woken);
			break;
		case RT_TAG_EVENTFD:
			w->doorbell_armed = false;
			w->io_idles = 0;	/* work from a thread */
			break;
		case RT_TAG_WAKE_SENT:
			if (cqe->res < 0)
				wake_failed(w, ud, cqe->res);
			break;
		case RT_TAG_WAKE:
			w->io_idles = 0;	/* work from a worker */
			break;
		default:
			break;
		}
		n++;
	}
	io_uring_cq_advance(&w->ring, n);
	return done;
}

/*
 * The CQ overflowed: the kernel (IORING_FEAT_NODROP, 5.5+) kept the CQEs
 * that did not fit and flushes them into the CQ, now that it has room,
 * when we enter it for events. Nothing is lost; it is counted.
 */
static bool flush_overflow(struct rt_worker *w)
{
	if (!io_uring_cq_has_overflow(&w->ring))
		return false;
	RT_STAT_INC(w, cq_overflows);
	RT_PROBE1(cq_overflow, w->index);
	io_uring_get_events(&w->ring);
	return true;
}

/* Take every completion off w's ring and act on it. */
void rt_worker_reap(struct rt_worker *w)
{
	struct rt_task *done = NULL, *woken = NULL;

	do {
		done = reap_cq(w, done, &woken);
	} while (flush_overflow(w));
	rt_io_resume(w, done);
	rt_source_wake(w, woken);
	rt_worker_arm_doorbell(w);
}

static void tell_drain_waiters(struct rt_runtime *rt)
{
	if (!atomic_load_explicit(&rt->drain_waiters, memory_order_seq_cst))
		return;
	atomic_fetch_add_explicit(&rt->drain_seq, 1, memory_order_seq_cst);
	rt_futex_wake_all(&rt->drain_seq);
}

/* How long to sleep: until the next of our timers, our ops' deadlines
 * and our watches. */
static uint64_t park_deadline(struct rt_worker *w)
{
	uint64_t now = rt_now_ns();
	uint64_t next = rt_worker_next_timer(w); /* a peer may fire some */
	uint64_t look = rt_watch_deadline(w, now);

	if (look < next)
		next = look;
	if (!w->doorbell_armed && next > now + RT_UNARMED_PARK_NS)
		next = now + RT_UNARMED_PARK_NS;
	/* valgrind 3.19 holds its big lock across io_uring_enter, so a long
	 * wait there stops every other thread: wait in short slices. */
	if (RT_UNDER_VALGRIND() && next > now + 1000000)
		next = now + 1000000;
	return next;
}

static void park_wait(struct rt_worker *w, uint64_t deadline)
{
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;

	if (deadline != UINT64_MAX) {
		uint64_t now = rt_now_ns();
		uint64_t delta = deadline > now ? deadline - now : 0;

		if (!delta)
			return;
		ts.tv_sec = (long long)(delta / 1000000000u);
		ts.tv_nsec = (long long)(delta % 1000000000u);
		tsp = &ts;
	}
	RT_STAT_INC(w, parks);
	RT_PROBE1(park, w->index);
	io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, tsp, NULL);
	RT_PROBE1(unpark, w->index);
}

/*
 * Sleep until work, a timer or a watch needs us. The consumer side of
 * NO LOST WAKE-UP: say we are parked, fence, then look at every place
 * work could arrive for us (rt_worker_has_work()).
 */
void rt_worker_park(struct rt_worker *w)
{
	struct rt_runtime *rt = w->rt;

	/*
	 * Work we can see before the fence is work the fence's look would
	 * find too: poll again instead. The fence is a membarrier, an
	 * interrupt on every other CPU running a worker, and those cost
	 * the interrupted worker 11-13 us each on the benchmark VM
	 * (benchmarks.md, "fanout"). A peer's queue its owner keeps
	 * draining is such work: we may not steal it yet, so we would only
	 * have come back to poll, after interrupting that owner.
	 */
	if (rt_worker_has_work(w))
		return;
	rt_worker_arm_doorbell(w);
	/* A waker that saw our previous park may set wake_pending after
	 * that park cleared it; its wake-up then reached us awake. Clear it
	 * again, before we say we sleep, so that a set flag means a ring to
	 * this park (found by tests/model/park_wake.pml). */
	atomic_store_explicit(&w->wake_pending, 0, memory_order_relaxed);
	atomic_store_explicit(&w->parked, 1, memory_order_release);
	atomic_fetch_add_explicit(&rt->nparked, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rt->nidle, 1, memory_order_relaxed);
	rt_fence_slow();
	if (!rt_worker_has_work(w) &&
	    !atomic_load_explicit(&rt->stop, memory_order_acquire)) {
		tell_drain_waiters(rt);
		park_wait(w, park_deadline(w));
	}
	rt_worker_start_spinning(w);	/* before we stop counting as parked */
	atomic_store_explicit(&w->parked, 0, memory_order_relaxed);
	atomic_fetch_sub_explicit(&rt->nparked, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&rt->nidle, 1, memory_order_relaxed);
	/* Cleared before we look again, so a waker that finds it clear
	 * and us parked really has to ring (see wake_pending above). */
	atomic_store_explicit(&w->wake_pending, 0, memory_order_release);
	rt_worker_reap(w);
}

// SPDX-License-Identifier: MIT
/*
 * Tasks: spawn, the resumption loop, completion, join and cancel.
 *
 * A task is one allocation: the private task state followed by the inline
 * part of its frame arena, whose first frame is the root. A task is
 * referenced by the runtime while it runs (one ref) and by each handle the
 * user holds (one ref); the last unref frees it.
 */
#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "waitq.h"
#include "fiber_step.h"
#include "trace_step.h"

/* Inline, as what it calls (internal.h): a few stores in the common case. */
static __attribute__((always_inline)) inline void
task_free(struct rt_worker *w, struct rt_task *t)
{
	rt_task_extras_free(t);
	rt_arena_release(t);
	rt_task_block_put(t->rt, w, t);
}

/*
 * References are only ever taken by a holder of another one (the runtime
 * while the task runs, a handle, a join's waiter slot), so a holder that
 * reads 1 holds the only one and nobody can take another: it frees
 * without an RMW. Its acquire load reads the value the previous holder's
 * acq_rel decrement wrote, so everything that holder did happens before
 * the free.
 */
static __attribute__((always_inline)) inline void
task_unref(struct rt_worker *w, struct rt_task *t)
{
	if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1 ||
	    atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		task_free(w, t);
}

/* The copy for other files; task.c's own paths inline task_unref(). */
void rt_task_unref(struct rt_worker *w, struct rt_task *t)
{
	task_unref(w, t);
}

/*
 * The root frame goes at the start of the inline arena; one that does not
 * fit there starts the task's first chunk instead. The block's arena is
 * empty (chunk and spare NULL: internal.h, task cache).
 */
static inline struct rt_frame *root_frame_alloc(struct rt_task *t,
						size_t size)
{
	struct rt_frame *root = (struct rt_frame *)t->arena;
	size_t room = t->rt->cfg.task_arena;

	t->h.arena_end = t->arena + room;
	if (likely(size <= room)) {
		t->h.arena_top = t->arena + ((size + 15) & ~(size_t)15);
		return root;
	}
	t->h.arena_top = t->arena;
	return rt__frame_push_slow(t, NULL, size, 16);
}

static inline void copy8(char *dst, const char *src)
{
	uint64_t v;

	memcpy(&v, src, sizeof(v));
	memcpy(dst, &v, sizeof(v));
}

/*
 * The spawner's frame past its header, which task_init() writes itself.
 * Most frames hold a few words: up to 32 bytes are copied without a call,
 * as two overlapping halves (a frame struct's size is a multiple of 8, so
 * the halves rarely overlap at all).
 */
static inline void frame_payload_copy(struct rt_frame *root,
				      const struct rt_frame *frame,
				      size_t frame_size)
{
	char *dst = (char *)(root + 1);
	const char *src = (const char *)(frame + 1);
	size_t n = frame_size - sizeof(*frame);

	if (n > 32 || (n && n < 8)) {
		memcpy(dst, src, n);
	} else if (n > 16) {
		copy8(dst, src);
		copy8(dst + 8, src + 8);
		copy8(dst + n - 16, src + n - 16);
		copy8(dst + n - 8, src + n - 8);
	} else if (n) {
		copy8(dst, src);
		copy8(dst + n - 8, src + n - 8);
	}
}

/*
 * The task's small fields, timer_idx to spawn, as they start: 24 bytes
 * written as three words where field by field they were nine stores (the
 * atomics' inits are stores gcc does not merge). Nobody else can read
 * them yet: the block is the caller's until it is queued.
 */
static inline void task_init_small(struct rt_task *t, uint32_t refs,
				   uint8_t spawn)
{
	/* timer_idx -1, refs; done, flags 0; the three owners 0, action,
	 * spawn (little-endian, as the arch/ code assumes) */
	uint64_t w0 = (uint32_t)-1 | (uint64_t)refs << 32, w1 = 0,
		 w2 = (uint64_t)RT_ACT_START << 48 | (uint64_t)spawn << 56;
	char *p = (char *)&t->timer_idx;

	_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ &&
		       offsetof(struct rt_task, refs) ==
		       offsetof(struct rt_task, timer_idx) + 4 &&
		       offsetof(struct rt_task, done) ==
		       offsetof(struct rt_task, timer_idx) + 8 &&
		       offsetof(struct rt_task, worker) ==
		       offsetof(struct rt_task, timer_idx) + 16 &&
		       offsetof(struct rt_task, action) ==
		       offsetof(struct rt_task, timer_idx) + 22 &&
		       offsetof(struct rt_task, spawn) ==
		       offsetof(struct rt_task, timer_idx) + 23,
		       "timer_idx..spawn are the three words");
	memcpy(p, &w0, 8);
	memcpy(p + 8, &w1, 8);
	memcpy(p + 16, &w2, 8);
}

static __attribute__((always_inline)) inline int
task_init(struct rt_task *t, struct rt_runtime *rt, rt_async_fn fn,
	  const struct rt_frame *frame, size_t frame_size, bool handle,
	  uint8_t spawn)
{
	struct rt_frame *root;

	t->rt = rt;
	t->next = t->cancel_next = NULL;
	atomic_init(&t->waiter, NULL);
	t->result = 0;
	task_init_small(t, handle ? 2 : 1,
			spawn | (handle ? 0 : RT_SPAWN_DETACHED));

	root = root_frame_alloc(t, frame_size);
	if (unlikely(!root))
		return -ENOMEM;
	frame_payload_copy(root, frame, frame_size);
	root->fn = fn;
	rt__frame_link(root, 0, (root == (struct rt_frame *)t->arena ? 0 :
				 RT_FRAME_CHUNK_FIRST) | RT_FRAME_ROOT);
	t->h.top = root;
	t->h.ret = 0;
	t->h.site = NULL;
	return 0;
}

/*
 * A foreign spawner's look at `closing` is one side of the Dekker pair
 * with shutdown (rt_foreign_enter()), so seq_cst. A worker's spawn (self
 * set) needs no ordering here: its spawning task is running, counted
 * spawned and not completed, and it counts the new task spawned before
 * that one completes, so the drain cannot find the runtime idle before
 * the new task has completed, whether or not this load saw `closing`. It
 * is a courtesy, an early -ESHUTDOWN; relaxed (still one plain load on
 * x86, but no fence on weaker machines).
 */
static __attribute__((always_inline)) inline int
spawn_check(struct rt_runtime *rt, struct rt_worker *self, rt_async_fn fn,
	    const struct rt_frame *frame, size_t frame_size)
{
	if (!rt || !fn || !frame || frame_size < sizeof(struct rt_frame))
		return -EINVAL;
	if (rt_inherited(rt))
		return -ECHILD;
	if (self ? atomic_load_explicit(&rt->closing, memory_order_relaxed) :
	    atomic_load_explicit(&rt->closing, memory_order_seq_cst))
		return -ESHUTDOWN;
	return 0;
}

/*
 * Backpressure on foreign spawners: a plain thread that spawns faster than
 * the workers start tasks would otherwise queue without bound (a worker's
 * own spawns are not counted: a task that spawns is itself being run).
 * rt->backlog counts foreign spawns not started yet; a spawner that finds
 * it at max_foreign_backlog waits on it as a futex, and the worker that
 * brings it down to half the limit wakes the waiters (half, so that a
 * waiting spawner is woken once per batch, not once per task).
 *
 * Dekker pair: the spawner adds itself to backlog_waiters, then the futex
 * compares backlog; a worker lowers backlog, then reads backlog_waiters.
 * Both seq_cst: either the worker sees the waiter and wakes it, or the
 * futex sees the new count and does not sleep.
 */
static int backlog_admit(struct rt_runtime *rt, bool wait)
{
	uint32_t limit = rt->cfg.max_foreign_backlog;
	uint32_t n;

	if (!limit) {
		atomic_fetch_add(&rt->backlog, 1);
		return 0;
	}
	n = atomic_load(&rt->backlog);
	for (;;) {
		if (n < limit) {
			if (atomic_compare_exchange_weak(&rt->backlog, &n, n + 1))
				return 0;
			continue;
		}
		if (!wait)
			return -EAGAIN;
		atomic_fetch_add(&rt->backlog_waiters, 1);
		rt_futex_wait(&rt->backlog, n, 0);
		atomic_fetch_sub(&rt->backlog_waiters, 1);
		n = atomic_load(&rt->backlog);
	}
}

static void backlog_leave(struct rt_runtime *rt)
{
	uint32_t n = atomic_fetch_sub(&rt->backlog, 1) - 1;

	if (n == rt->cfg.max_foreign_backlog / 2 &&
	    atomic_load(&rt->backlog_waiters))
		rt_futex_wake_all(&rt->backlog);
}

/* A task for the caller: from its worker's cache, or admitted and new. */
static __attribute__((always_inline)) inline struct rt_task *spawn_block(struct rt_runtime *rt,
				   struct rt_worker *self, bool wait, int *err)
{
	struct rt_task *t;

	if (!self) {
		*err = backlog_admit(rt, wait);
		if (*err)
			return NULL;
		/* shutdown may have begun while we waited */
		if (atomic_load_explicit(&rt->closing, memory_order_acquire)) {
			*err = -ESHUTDOWN;
			goto err_leave;
		}
	}
	t = rt_task_block_get(rt, self);
	if (likely(t))
		return t;
	*err = -ENOMEM;
err_leave:
	if (!self)
		backlog_leave(rt);
	return NULL;
}

/*
 * Inline into its two callers: a worker's own spawn (self set, the hot
 * path, inline down to the queue push) and a foreign thread's (self NULL),
 * so each loses the other's branches.
 */
static __attribute__((always_inline)) inline int
spawn_task(struct rt_runtime *rt, struct rt_worker *self, rt_async_fn fn,
	   const struct rt_frame *frame, size_t frame_size,
	   struct rt_task **handle, bool wait)
{
	struct rt_task *t;
	int ret;

	ret = spawn_check(rt, self, fn, frame, frame_size);
	if (ret)
		return ret;
	t = spawn_block(rt, self, wait, &ret);
	if (unlikely(!t))
		goto err;
	if (unlikely(task_init(t, rt, fn, frame, frame_size, handle != NULL,
			       self ? 0 : RT_SPAWN_BACKLOGGED))) {
		if (!self)
			backlog_leave(rt);
		task_free(self, t);
		ret = -ENOMEM;
		goto err;
	}
	if (handle)
		*handle = t;

	/* Counted before it can run, so a drain never sees it finish first. */
	if (self) {
		RT_COUNT_LIFE(self, spawned);
		rt_worker_push_local(self, t);
	} else {
		atomic_fetch_add_explicit(&rt->foreign_spawned, 1,
					  memory_order_seq_cst);
		rt_task_make_runnable(NULL, t);
	}
	return 0;
err:
	if (ret == -ENOMEM)
		RT_PROBE1(spawn_failed, -ENOMEM);
	return ret;
}

/*
 * What a thread that is no worker of rt does to rt (a spawn, a wake, a
 * cancel) is counted in rt->foreign_calls from before it looks at
 * `closing` or touches a task until after its last effect: the doorbell
 * it rings. Shutdown sets `closing`, waits for 0 (both sides seq_cst, a
 * Dekker pair), drains, and waits for 0 again before it closes the
 * doorbells: a spawner either sees `closing` and fails, or shutdown
 * waits for its task to be counted, so no task is queued after the drain
 * has let the workers go; and a waker whose task ran to its end before
 * the waker rang (the worker was polling) rings a doorbell that is still
 * open. A worker's own spawns and wakes need none of this: its task is
 * running, so the drain waits for it.
 */
void rt_foreign_enter(struct rt_runtime *rt)
{
	atomic_fetch_add_explicit(&rt->foreign_calls, 1, memory_order_seq_cst);
}

void rt_foreign_leave(struct rt_runtime *rt)
{
	if (atomic_fetch_sub_explicit(&rt->foreign_calls, 1,
				      memory_order_seq_cst) == 1 &&
	    atomic_load_explicit(&rt->closing, memory_order_seq_cst))
		rt_futex_wake_all(&rt->foreign_calls);
}

/* Out of line: a worker's own spawn does not carry its register saves. */
static __attribute__((noinline)) int
spawn_foreign(struct rt_runtime *rt, rt_async_fn fn,
	      const struct rt_frame *frame, size_t frame_size,
	      struct rt_task **handle, bool wait)
{
	int ret;

	if (!rt)
		return -EINVAL;
	rt_foreign_enter(rt);
	ret = spawn_task(rt, NULL, fn, frame, frame_size, handle, wait);
	rt_foreign_leave(rt);
	return ret;
}

/* self->rt is never NULL, so a NULL rt goes the foreign way, to -EINVAL. */
static __attribute__((always_inline)) inline int
spawn(struct rt_runtime *rt, rt_async_fn fn, const struct rt_frame *frame,
      size_t frame_size, struct rt_task **handle, bool wait)
{
	struct rt_worker *self = rt__self;

	if (likely(self && self->rt == rt))
		return spawn_task(rt, self, fn, frame, frame_size, handle,
				  wait);
	return spawn_foreign(rt, fn, frame, frame_size, handle, wait);
}

/*
 * Set while this thread is inside a spawn. A signal handler that spawns
 * on a thread it interrupted there would corrupt the block cache or
 * deadlock in malloc; it gets -EDEADLK instead. (A handler interrupting
 * malloc elsewhere cannot be detected: spawn is not async-signal-safe.)
 */
static __thread volatile sig_atomic_t spawning
	__attribute__((tls_model("initial-exec")));

static __attribute__((always_inline)) inline int
spawn_guarded(struct rt_runtime *rt, rt_async_fn fn,
	      const struct rt_frame *frame, size_t frame_size,
	      struct rt_task **handle, bool wait)
{
	int ret;

	if (spawning)
		return -EDEADLK;
	spawning = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);	/* compiler-only */
	ret = spawn(rt, fn, frame, frame_size, handle, wait);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	spawning = 0;
	return ret;
}

/* A worker (of another runtime) never blocks on this one's backlog. */
int rt_task_spawn(struct rt_runtime *rt, rt_async_fn fn,
		  const struct rt_frame *frame, size_t frame_size,
		  struct rt_task **handle)
{
	return spawn_guarded(rt, fn, frame, frame_size, handle, !rt__self);
}

int rt_task_try_spawn(struct rt_runtime *rt, rt_async_fn fn,
		      const struct rt_frame *frame, size_t frame_size,
		      struct rt_task **handle)
{
	return spawn_guarded(rt, fn, frame, frame_size, handle, false);
}

/*
 * Run t from its innermost frame until it suspends or its root returns.
 * Resumption walks the caller chain in this loop, never by C recursion.
 * An error result skips every frame that does not catch: a flag check per
 * frame, no call.
 */
static __attribute__((always_inline)) inline int64_t
rt_task_step(struct rt_worker *w, struct rt_task *t)
{
	struct rt_frame *f = t->h.top;
	int64_t r;

	for (;;) {
		/* a started fiber steps inline, see fiber_step.h */
		if (f->fn == rt_fiber_run &&
		    ((struct rt_fiber_frame *)f)->fiber)
			r = rt_fiber_step(t, f, w);
		else
			r = f->fn(t, f);
		if (r == RT_PENDING)
			return RT_PENDING;
		do {
			struct rt_frame *caller = rt_frame_caller(f);

			rt_frame_pop(t, f);
			if (!caller)
				return r;
			f = caller;
		} while (r < 0 && !(f->flags & RT_FRAME_CATCH));
		t->h.ret = r;
	}
}

/*
 * A detached task (spawned without a handle) has no joiner and nobody who
 * could take a reference: it completes without a single atomic RMW.
 */
static __attribute__((always_inline)) inline void
task_complete(struct rt_worker *w, struct rt_task *t, int64_t r)
{
	struct rt_task *waiter;

	/* Counted first: whoever sees the task done also sees it counted. */
	RT_COUNT_LIFE(w, completed);
	if (t->spawn & RT_SPAWN_DETACHED) {
		/* Nobody can reference it but the waiter slot of a join it
		 * was cancelled out of, which only ever lets go: usually
		 * task_unref() finds the last reference, no RMW. */
		task_unref(w, t);
		return;
	}
	t->result = r;
	atomic_store_explicit(&t->done, 1, memory_order_release);
	/* A task waiting in RT_JOIN parked itself in the waiter slot: one
	 * RMW each on the same word decides who saw whom. */
	waiter = atomic_exchange_explicit(&t->waiter, RT_WAITER_DONE,
					  memory_order_acq_rel);
	if (waiter) {
		if (atomic_fetch_and(&waiter->flags, ~RT_TF_JOIN_WAIT) &
		    RT_TF_JOIN_WAIT) {
			waiter->h.ret = r;
			waiter->action = RT_ACT_NONE;	/* join consumed */
			rt_task_make_runnable(w, waiter);
		}
		task_unref(w, waiter);	/* the waiter slot's reference */
	}
	/* A thread blocked in rt_task_join(): the producer side of NO LOST
	 * WAKE-UP (park.c). done is visible, fence, look for the waiter. */
	rt_fence_fast();
	if (atomic_load_explicit(&t->flags, memory_order_relaxed) & RT_TF_FOREIGN)
		rt_futex_wake_all(&t->done);
	task_unref(w, t);
}

/*
 * The wait for other, registered once t has unwound (see rt_op_join).
 * Two parties may end it, other's completion and a cancel: whichever
 * clears RT_TF_JOIN_WAIT wakes t. The waiter slot holds a reference, since
 * other may complete long after a cancel woke t and t finished. A
 * cancelled task never waits in a join again (its ops fail), so a stale
 * completion cannot end a later wait.
 */
void rt_task_commit_join(struct rt_worker *w, struct rt_task *t)
{
	struct rt_task *other = t->join_target;
	struct rt_task *none = NULL;
	uint32_t old;

	/* One reference for the waiter slot, one for this commit itself:
	 * once JOIN_WAIT is set, a cancel may wake t, and t may run,
	 * finish and be released elsewhere before we are done with it. */
	atomic_fetch_add_explicit(&t->refs, 2, memory_order_relaxed);
	old = atomic_fetch_or(&t->flags, RT_TF_JOIN_WAIT | RT_TF_COMMITTING);
	if (!(old & RT_TF_CANCEL) &&
	    atomic_compare_exchange_strong_explicit(&other->waiter, &none, t,
			memory_order_acq_rel, memory_order_acquire))
		goto out;	/* the slot holds its reference */
	/* cancelled already, or other finished while we were unwinding */
	if (atomic_fetch_and(&t->flags, ~RT_TF_JOIN_WAIT) & RT_TF_JOIN_WAIT) {
		t->h.ret = old & RT_TF_CANCEL ? -ECANCELED : other->result;
		if (!(old & RT_TF_CANCEL))
			t->action = RT_ACT_NONE;	/* join consumed */
		rt_worker_push_local(w, t);
	}
	rt_task_unref(w, t);	/* the slot's: not installed */
out:
	/* join_give_back() waits for this: it must not find the slot
	 * before our CAS has landed in it (or not). */
	atomic_fetch_and_explicit(&t->flags, ~RT_TF_COMMITTING,
				  memory_order_release);
	rt_task_unref(w, t);	/* this commit's */
}

/*
 * A join that a cancel ended is given back, so the target stays joinable.
 *
 * Invariant: a task suspended in a join is woken exactly once, by whoever
 * clears its RT_TF_JOIN_WAIT. A waker that delivers the target's result
 * (task_complete, or rt_task_commit_join finding the target done) resets
 * t->action; a cancel leaves RT_ACT_JOIN there. So t resumes with
 * RT_ACT_JOIN only when the target's result was not delivered to it. A
 * cancel may wake t while rt_task_commit_join() is still at work on
 * another worker (found by tests/model/join_cancel.pml): t waits for it
 * to clear RT_TF_COMMITTING, and then the slot holds t (installed, the
 * target still running), RT_WAITER_DONE
 * (the target completed; its completion drops the slot's reference) or
 * NULL (never installed). Only t may move the slot from t back to NULL,
 * and the completion's exchange and this CAS cannot both take it, so the
 * slot's reference is dropped exactly once. RT_TF_JOINED is cleared only
 * after the slot no longer names t, so a new joiner either installs
 * itself in an empty slot or finds the target done. The target is alive:
 * t's frames hold its handle and have not resumed yet.
 */
static void join_give_back(struct rt_worker *w, struct rt_task *t)
{
	struct rt_task *other = t->join_target, *mine = t;

	/* a few instructions on the committing worker, unless preempted */
	for (unsigned int spins = 0;
	     atomic_load_explicit(&t->flags, memory_order_acquire) &
	     RT_TF_COMMITTING; spins++) {
		if (spins < 64)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
	if (atomic_compare_exchange_strong(&other->waiter, &mine, NULL))
		rt_task_unref(w, t);	/* the slot's; the runtime's remains */
	atomic_fetch_and(&other->flags, ~RT_TF_JOINED);
}

/* ---- what the trace area sees of a step ------------------------------ */

static const uint8_t trace_reason[] = {
	[RT_ACT_NONE] = RT_TRACE_WAIT,
	[RT_ACT_YIELD] = RT_TRACE_YIELD,
	[RT_ACT_TRAMPOLINE] = RT_TRACE_TRAMPOLINE,
	[RT_ACT_SLEEP] = RT_TRACE_SLEEP,
	[RT_ACT_JOIN] = RT_TRACE_JOIN,
	[RT_ACT_SOURCE_WAIT] = RT_TRACE_WAIT,
	[RT_ACT_SOURCE_CLOSE] = RT_TRACE_WAIT,
	[RT_ACT_WAIT] = RT_TRACE_WAIT,
};

/* The await site a step ended at: slot 0 when it completed, or
 * suspended elsewhere than at an await. */
static __attribute__((always_inline)) inline uint32_t
step_site(struct rt_task *t, bool done)
{
	if (done || !t->h.site)
		return 0;
	return rt_trace_site(t->h.site);
}

/* Every hook but the common one, out of line: see step_hooks(). */
static __attribute__((noinline)) void
step_hooks_other(struct rt_worker *w, struct rt_task *t, bool done,
		 uint8_t reason)
{
	uint32_t site = step_site(t, done);
	uint8_t hooks = w->step_hooks;

	if ((hooks & RT_HOOK_SITES) && !done)
		rt_counter_add(&w->site_counts[site], 1);
	if (!(hooks & RT_HOOK_EVENTS))
		return;
	/* sampling: every step costs no counter when it is off */
	if ((hooks & RT_HOOK_SAMPLED) &&
	    (w->sample_ctr++ & ((1u << w->sample_shift) - 1)))
		return;
	rt_trace_record(w, t, site, reason);
}

/*
 * What a step reports when a tool asked for it (w->step_hooks, read once
 * a turn): an event record, and the suspension's count at its await site.
 * Called once the step has ended and before its task can run elsewhere or
 * be freed, so a tool reads a task's records in the order its steps ran.
 * Inline, the case a recording tool makes (events, every step): a site
 * lookup and the record. A default step runs none of this: it bumps
 * `resumes` and nothing else (task_run()).
 */
static __attribute__((always_inline)) inline void
step_hooks(struct rt_worker *w, struct rt_task *t, bool done, uint8_t reason)
{
	if (likely(w->step_hooks == RT_HOOK_EVENTS))
		rt_trace_record(w, t, step_site(t, done), reason);
	else
		step_hooks_other(w, t, done, reason);
}

/*
 * Carry out what the suspended task asked for, now that it has unwound.
 * Every suspension but a yield is counted in `waits` here, before the
 * commit lets anyone else have the task: a yield, the common cheap case,
 * costs no counter of its own (yields = suspends - waits).
 */
static __attribute__((always_inline)) inline void
commit_suspend(struct rt_worker *w, struct rt_task *t, bool hooked)
{
	/* the hot case ahead of the switch's jump table */
	if (likely(t->action == RT_ACT_YIELD)) {
		if (hooked)
			step_hooks(w, t, false, RT_TRACE_YIELD);
		rt_worker_push_local(w, t);
		return;
	}
	if (hooked)
		step_hooks(w, t, false, trace_reason[t->action]);
	RT_STAT_INC(w, waits);
	switch (t->action) {
	case RT_ACT_SLEEP:
		rt_sleep_commit(w, t);
		break;
	case RT_ACT_JOIN:
		rt_task_commit_join(w, t);
		break;
	case RT_ACT_SOURCE_WAIT:
	case RT_ACT_SOURCE_CLOSE:
		rt_source_commit(w, t);
		break;
	case RT_ACT_WAIT:
		rt_wait_commit(w, t);
		break;
	default:	/* an op that parked the task itself (I/O, a waker) */
		break;
	}
}

/* The suspensions that leave work for the resume, before the step. */
#define RESUME_WORK (1u << RT_ACT_START | 1u << RT_ACT_JOIN | 1u << RT_ACT_WAIT)

/*
 * That work, for an action in RESUME_WORK: false when the task ended
 * here instead (cancelled before its first step).
 */
static __attribute__((always_inline)) inline bool
task_resume_work(struct rt_worker *w, struct rt_task *t, uint8_t action)
{
	switch (action) {
	case RT_ACT_START:	/* the loop resets it */
		if (t->spawn & RT_SPAWN_BACKLOGGED)
			backlog_leave(w->rt);
		if (atomic_load_explicit(&t->flags, memory_order_relaxed) &
		    RT_TF_CANCEL) {
			rt_frame_pop(t, t->h.top);
			RT_STAT_INC(w, unstarted);
			task_complete(w, t, -ECANCELED);
			return false;
		}
		break;
	case RT_ACT_JOIN:
		join_give_back(w, t);	/* woken by a cancel, see there */
		break;
	case RT_ACT_WAIT:
		rt_wait_finish(t);	/* sets the op's result (waitq.c) */
		break;
	}
	return true;
}

/*
 * One step of t: the one counter a step bumps is `resumes`, once the
 * step has ended (suspends are derived from it: a step still running is
 * no suspension) and before the task can move to another worker or
 * complete, so a join or the drain sees it.
 */
static __attribute__((always_inline)) inline void
task_run(struct rt_worker *w, struct rt_task *t, bool hooked)
{
	uint8_t action = t->action;
	int64_t r;

	atomic_store_explicit(&t->worker, rt_worker_id(w), memory_order_relaxed);
	/* one test on the common paths (a yield, a wake-up by I/O) */
	if (unlikely(RESUME_WORK >> action & 1) &&
	    !task_resume_work(w, t, action))
		return;
	t->h.stack_limit = w->stack_limit;
	/* also what the eBPF observer and the watchdog read */
	__atomic_store_n(&rt__running, t, __ATOMIC_RELAXED);
	for (;;) {
		t->action = RT_ACT_NONE;
		r = rt_task_step(w, t);
		if (r != RT_PENDING || t->action != RT_ACT_TRAMPOLINE)
			break;
		RT_STAT_INC(w, trampolines);
		RT_STAT_INC(w, resumes);
	}
	__atomic_store_n(&rt__running, NULL, __ATOMIC_RELAXED);
	/* resumes counted on each side of the test, not before it: gcc then
	 * reuses the loop's compare instead of making it again */
	if (r != RT_PENDING) {
		if (hooked)
			step_hooks(w, t, true, RT_TRACE_DONE);
		RT_STAT_INC(w, resumes);
		task_complete(w, t, r);
		return;
	}
	RT_STAT_INC(w, resumes);
	commit_suspend(w, t, hooked);
}

/*
 * t and up to RT_BATCH - 1 more tasks, each the one the step before it
 * woke into w->next if any (RUN NEXT, internal.h), else the next off the
 * run queues: the worker's loop (worker.c) runs a batch a turn, once it
 * has popped the first task (so that a turn that runs nothing reads no
 * clock for the records). The
 * loop lives here so that each step inlines into it, down to a fiber's
 * switch (fiber_step.h). A tool's per-step hooks get their own copy of
 * the loop, so a default step does not even test for them.
 */
static __attribute__((always_inline)) inline unsigned int
run_tasks(struct rt_worker *w, struct rt_task *t, bool hooked)
{
	struct rt_runtime *rt = w->rt;
	unsigned int n = 0;

	do {
		task_run(w, t, hooked);
		if (++n == RT_BATCH)
			break;
		t = w->next;	/* RUN NEXT (internal.h) */
		if (t)
			w->next = NULL;
		else
			t = rt_runq_pop_cached(&rt->runqs, &w->qcache,
					       &w->qstats);
	} while (t);
	if (unlikely(w->next)) {
		/* the batch is over: its slot goes back on the queue */
		t = w->next;
		w->next = NULL;
		rt_worker_push_local(w, t);
	}
	return n;
}

unsigned int rt_task_run_batch(struct rt_worker *w, struct rt_task *t)
{
	return run_tasks(w, t, false);
}

unsigned int rt_task_run_batch_hooked(struct rt_worker *w, struct rt_task *t)
{
	return run_tasks(w, t, true);
}

/*
 * A plain thread waits for t until deadline_ns. A wait that times out
 * gives the join back (clears RT_TF_JOINED), so the task stays joinable;
 * RT_TF_FOREIGN stays set, which costs the completion one futex wake.
 */
int rt_task_join_until(struct rt_task *t, int64_t *result, uint64_t deadline_ns)
{
	if (!t)
		return -EINVAL;
	if (rt_inherited(t->rt))
		return -ECHILD;
	if (rt__self)
		return -EDEADLK;	/* would block a worker: use RT_JOIN */
	if (atomic_fetch_or(&t->flags, RT_TF_JOINED | RT_TF_FOREIGN) &
	    RT_TF_JOINED)
		return -EALREADY;
	/* The consumer side of NO LOST WAKE-UP (park.c): we said we wait
	 * (RT_TF_FOREIGN), fence, then look at done; task_complete() stores
	 * done, fences, then looks at the flag and wakes us. */
	rt_fence_slow();
	while (!atomic_load_explicit(&t->done, memory_order_acquire)) {
		uint64_t now = deadline_ns == RT_NEVER ? 0 : rt_now_ns();

		if (deadline_ns != RT_NEVER && now >= deadline_ns) {
			atomic_fetch_and(&t->flags, ~RT_TF_JOINED);
			return -ETIMEDOUT;
		}
		/* timeout 0 is "none" to rt_futex_wait */
		rt_futex_wait(&t->done, 0, deadline_ns == RT_NEVER ? 0 :
			      deadline_ns - now);
	}
	if (result)
		*result = t->result;
	return 0;
}

int rt_task_join(struct rt_task *t, int64_t *result)
{
	return rt_task_join_until(t, result, RT_NEVER);
}

bool rt_task_done(const struct rt_task *t)
{
	return t && atomic_load_explicit(&t->done, memory_order_acquire);
}

void rt_task_release(struct rt_task *t)
{
	if (t)
		task_unref(rt__self, t);
}

struct rt_runtime *rt_task_runtime(const struct rt_task *t)
{
	return t ? t->rt : NULL;
}

struct rt_task *rt_task_current(void)
{
	return rt__running;
}

/*
 * Cancellation is cooperative: the flag makes every later op return
 * -ECANCELED, a task that has not started completes with -ECANCELED
 * without running, a task waiting in a join is woken at once (see
 * rt_task_commit_join), a sleeping task is woken by the worker whose
 * heap holds it (the only thread that may touch that heap), and a task in
 * an I/O op has it cancelled by the worker whose ring holds it (io.c).
 *
 * It is async-signal-safe, because handlers use it: it takes no lock and
 * allocates nothing, and it always acts as a foreign thread would (an
 * inbox push, a CAS, and an eventfd write as the doorbell), even on a
 * worker. The worker's own paths (its run queue's overflow mutex, the
 * MSG_RING it submits on its ring) are not reentrant, and a handler may
 * have interrupted them.
 */
static int task_cancel(struct rt_task *t)
{
	struct rt_inbox *inbox;
	struct rt_worker *w;

	if (atomic_load_explicit(&t->done, memory_order_acquire))
		return -EALREADY;
	if (atomic_fetch_or_explicit(&t->flags, RT_TF_CANCEL,
				      memory_order_seq_cst) & RT_TF_CANCEL)
		return 0;
	if (atomic_fetch_and(&t->flags, ~RT_TF_JOIN_WAIT) & RT_TF_JOIN_WAIT) {
		t->h.ret = -ECANCELED;
		rt_task_make_runnable(NULL, t);
		return 0;
	}
	if (rt_wait_cancel(t))
		return 0;	/* parked on wait queues (waitq.c) */
	/* Pairs with rt_sleep_commit() and io_start() (io.c): each publishes
	 * its owner, then reads the flag; we set the flag, then read the
	 * owners. A task is asleep or in I/O, never both. */
	w = rt_worker_by_id(t->rt, atomic_load_explicit(&t->timer_owner,
						       memory_order_seq_cst));
	inbox = w ? &w->cancels : NULL;
	if (!w) {
		w = rt_worker_by_id(t->rt, atomic_load_explicit(&t->io_owner,
							memory_order_seq_cst));
		inbox = w ? &w->io_cancels : NULL;
	}
	if (!w)
		return 0;	/* not waiting: its next op sees the flag */
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	rt_inbox_push_cancel(inbox, t);
	rt_fence_fast();
	if (inbox == &w->cancels)
		rt_worker_wake_inbox(w);	/* a watcher may take it over */
	else
		rt_worker_wake(NULL, w);	/* only w's ring can cancel it */
	return 0;
}

int rt_task_cancel(struct rt_task *t)
{
	struct rt_runtime *rt;
	int ret;

	if (!t)
		return -EINVAL;
	rt = t->rt;
	if (rt_inherited(rt))
		return -ECHILD;
	if (rt__self && rt__self->rt == rt)
		return task_cancel(t);
	rt_foreign_enter(rt);	/* until its doorbell has rung */
	ret = task_cancel(t);
	rt_foreign_leave(rt);
	return ret;
}
/* ---- ops ------------------------------------------------------------ */

int64_t rt_op_yield(struct rt_task *t)
{
	int64_t ret = rt_op_check(t);

	if (ret)
		return ret;
	t->action = RT_ACT_YIELD;
	t->h.ret = 0;
	return RT_PENDING;
}

int64_t rt_op_sleep_until(struct rt_task *t, uint64_t deadline_ns)
{
	int64_t ret = rt_op_check(t);

	if (ret)
		return ret;
	t->deadline = deadline_ns;
	t->action = RT_ACT_SLEEP;
	t->h.ret = 0;
	return RT_PENDING;
}

/* A deadline past the end of the clock saturates: sleep until cancelled. */
int64_t rt_op_sleep(struct rt_task *t, uint64_t ns)
{
	int64_t ret = rt_op_check(t);
	uint64_t deadline;

	if (ret)
		return ret;
	if (__builtin_add_overflow(rt_now_ns(), ns, &deadline))
		deadline = UINT64_MAX;
	return rt_op_sleep_until(t, deadline);
}

int64_t rt_op_join(struct rt_task *t, struct rt_task *other)
{
	int64_t ret = rt_op_check(t);

	if (ret)
		return ret;
	if (!other)
		return -EINVAL;
	if (other == t)
		return -EDEADLK;
	if (atomic_fetch_or(&other->flags, RT_TF_JOINED) & RT_TF_JOINED)
		return -EALREADY;
	if (atomic_load_explicit(&other->done, memory_order_acquire))
		return other->result;
	t->join_target = other;
	t->action = RT_ACT_JOIN;
	return RT_PENDING;
}

void rt__trampoline(struct rt_task *t)
{
	t->action = RT_ACT_TRAMPOLINE;
	t->h.site = NULL;
}

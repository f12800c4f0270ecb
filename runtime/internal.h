/* SPDX-License-Identifier: MIT */
/*
 * Private structures shared by the runtime's files: the runtime, its
 * workers and the private part of a task.
 */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/counter.h"
#include "rtasync-trace.h"
#include "rtasync.h"
#include "runq.h"
#include "timer.h"
#include "trace_clock.h"

#include "probes.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* How much C stack nested synchronous async calls may use on a worker. */
#define RT_SYNC_STACK_BUDGET (1u << 20)
#define RT_WORKER_STACK (8u << 20)
/* Tasks a worker runs from its queue between two looks at everything else. */
#define RT_BATCH 64

/*
 * user_data of the CQEs on a worker's ring: a tag in the low bits, the
 * tag's argument above them.
 */
enum {
	RT_TAG_WAKE = 1,	/* MSG_RING from another worker: wake up */
	RT_TAG_EVENTFD,		/* doorbell read: a foreign thread rang */
	RT_TAG_WAKE_SENT,	/* a MSG_RING we sent failed; arg: target */
	RT_TAG_IO,		/* a task's I/O op (io.c); arg: the task */
	RT_TAG_IO_CANCEL,	/* an ASYNC_CANCEL we sent; arg: the task */
	RT_TAG_SRC,		/* a source's accept or recv (source.c);
				   arg: the source */
	RT_TAG_SRC_RETRY,	/* its back-off timeout; arg: the source */
	RT_TAG_SRC_CANCEL,	/* a cancel or timeout removal for it */
	RT_TAG_SRC_WAIT_TIMER,	/* a waiter's deadline; arg: the task */
	RT_TAG_IO_ARM,		/* a select's I/O arm (io.c); arg: its
				   waiter */
	RT_TAG_BITS = 8,
	RT_TAG_MASK = (1 << RT_TAG_BITS) - 1,
};

/* What a suspending task asked its worker to do once it has unwound. */
enum rt_action {
	RT_ACT_NONE = 0,	/* someone else holds the wake-up */
	RT_ACT_YIELD,		/* requeue at the back of the run queue */
	RT_ACT_TRAMPOLINE,	/* run t->h.top now, from a shallow C stack */
	RT_ACT_SLEEP,		/* arm the timer at t->deadline */
	RT_ACT_JOIN,		/* wait for t->join_target */
	RT_ACT_SOURCE_WAIT,	/* take t->source's next item (source.c) */
	RT_ACT_SOURCE_CLOSE,	/* close t->source */
	RT_ACT_WAIT,		/* parked on wait queues (waitq.c) */
	RT_ACT_START,		/* spawned, never run yet: here, as a
				   started byte would grow the task past
				   144 bytes */
};

/* A frame arena chunk beyond the task's inline arena. */
struct rt_chunk {
	struct rt_chunk *prev;		/* NULL: the previous one is inline */
	char *prev_top;			/* arena top/end to restore on exit */
	char *prev_end;
	struct rt_frame *caller;	/* caller of the chunk's first frame */
	size_t size;			/* bytes including this header */
	uint64_t pad;
};
#define RT_CHUNK_HDR sizeof(struct rt_chunk)
_Static_assert(sizeof(struct rt_chunk) % 16 == 0, "chunk data alignment");

/* Sentinel in rt_task.waiter once the task has completed. */
#define RT_WAITER_DONE ((struct rt_task *)1)

struct rt_worker;
struct rt_waker;
struct rt_blocking_pool;

/*
 * A task's wait on wait queues (waitq.c): one per task, since a task
 * waits in one op at a time. nodes[i * stride] is the waiter of arm i: the
 * inline node for a one-queue op, a select's arms otherwise.
 */
struct rt_wait {
	_Atomic uint32_t state;		/* RT_WS_*, see waitq.c */
	uint16_t nnodes;
	uint16_t stride;
	char *nodes;
	struct rt_waker *waker;		/* in rt_op_waker_wait (waker.c) */
	uint16_t timer_worker;		/* id of the heap holding its deadline */
	uint8_t select;			/* the result is the winning arm */
	uint16_t io_worker;		/* the worker of the op: the ring its
					   I/O arms are on (waitq.c) */
	uint32_t *held;			/* the list's lock, kept by the op
					   until the commit (waitq.c) */
	struct rt_waiter node;
};
void rt_wait_init(struct rt_wait *wt, struct rt_task *t);
struct rt_fiber;

/* Bits of rt_task.spawn: how it was spawned (a byte each would not fit). */
enum {
	RT_SPAWN_BACKLOGGED = 1u << 0,	/* counted in rt->backlog until it
					   starts (spawn_block()) */
	RT_SPAWN_DETACHED = 1u << 1,	/* spawned without a handle */
};

/* Bits of rt_task.flags, set once each with an atomic fetch-or. */
enum {
	RT_TF_JOINED = 1u << 0,		/* someone joined: a second join fails */
	RT_TF_CANCEL = 1u << 1,		/* cancellation requested */
	RT_TF_FOREIGN = 1u << 2,	/* a foreign thread waits on done */
	RT_TF_JOIN_WAIT = 1u << 3,	/* suspended in a join: whoever clears
					   this bit (completion or cancel)
					   wakes the task */
	RT_TF_COMMITTING = 1u << 4,	/* rt_task_commit_join() is still
					   at work on this task */
};

struct rt_task_ext;

struct rt_task {
	struct rt_task_head h;		/* the inline fast paths' view */
	struct rt_runtime *rt;
	struct rt_task *next;		/* inbox, overflow, cache link */
	struct rt_task *cancel_next;	/* cancel inbox link */
	_Atomic(struct rt_task *) waiter;	/* task awaiting its join */
	union {				/* the pending action's payload */
		struct rt_task *join_target;	/* RT_ACT_JOIN */
		uint64_t deadline;		/* RT_ACT_SLEEP, while asleep;
						   an I/O op's (io.c) */
		struct rt_source *source;	/* RT_ACT_SOURCE_* */
	};
	union {
		int64_t result;		/* once done */
		uint64_t wait_deadline;	/* waiting on a source (source.c) */
		struct {		/* in an I/O op, owner only */
			int32_t res;	/* the op's CQE result */
			uint8_t cqes;	/* CQEs still to come */
			uint8_t flags;	/* RT_IO_* (io.c) */
			uint8_t kind;	/* enum rt_io_kind */
		} io;
	};
	struct rt_chunk *chunk;		/* current chunk, NULL = inline */
	struct rt_chunk *spare;		/* last chunk left, kept for reuse */
	int32_t timer_idx;		/* index in the owner's heap, -1 */
	_Atomic uint32_t refs;
	_Atomic uint32_t done;		/* futex word for foreign joiners */
	_Atomic uint32_t flags;		/* RT_TF_* */
	_Atomic uint16_t worker;	/* id of the last worker to run it */
	_Atomic uint16_t timer_owner;	/* id of the worker whose heap holds it */
	_Atomic uint16_t io_owner;	/* id of the worker whose ring has its
					   I/O op in flight (io.c) */
	uint8_t action;			/* enum rt_action */
	uint8_t spawn;			/* RT_SPAWN_*, set before it is
					   queued, read-only after */
	_Atomic(struct rt_task_ext *) ext;	/* NULL until first used */
	char arena[] __attribute__((aligned(16)));
};

/*
 * What a task holds only once it uses it: its wait on wait queues, its
 * name, its locals. Most tasks never wait, and none of this is on the
 * spawn, yield or call paths; inline, it was 112 of a task's 256 bytes.
 * Allocated by rt_task_ext_get() on first use and kept with the task
 * block when the block is recycled (task_cache.c frees it with the
 * block), so a task that waits pays a malloc only the first time its
 * block is used. A task leaves its wait idle (waitq.c's finish resets
 * it), and rt_task_extras_free() drops its name and locals.
 */
struct rt_task_ext {
	struct rt_wait wait;		/* waitq.c */
	_Atomic(char *) name;		/* task_local.c: set once */
	void **locals;			/* task_local.c: RT_TASK_LOCALS slots */
};

/* Intrusive multi-producer, single-consumer stack of tasks. */
struct rt_inbox {
	_Atomic(struct rt_task *) head;
};

struct rt_worker {
	/* set up once, then written by this worker only */
	struct rt_runtime *rt;
	unsigned int index;
	int cpu;			/* pinned CPU, -1 when not pinned */
	pthread_t thread;
	struct io_uring ring;
	int ring_fd;
	int efd;			/* foreign threads' doorbell */
	uint64_t efd_buf;
	unsigned int ring_flags;
	int start_err;
	char *stack_limit;
	uint64_t fpenv;		/* FP control words as the thread began
				 * (fiber_step.h) */
	bool doorbell_armed;		/* an eventfd read is in the ring */
	unsigned int io_cqes;		/* CQEs of I/O ops still to come */
	struct __kernel_timespec *io_ts; /* source waits' TIMEOUTs, one per
					    SQ slot (io.c, source.c) */
	struct rt_timer_heap io_deadlines; /* I/O ops' deadlines, owner
					      only (io.c) */
	struct rt_io_counts *io_counts;	/* per op kind, in the trace area */
	struct rt_bufpool *bufpool;	/* receive buffers (bufpool.c), lazily */
	struct rt_source *pokes;	/* sources to arm or cancel next turn,
					   for want of an SQE (source.c) */
	struct rt_waiter *io_arms;	/* select I/O arms in flight (io.c) */
	struct rt_waiter *io_arms_done;	/* ... reaped, not yet settled */
	struct rt_timer_heap timers;	/* under timer_lock (sleep.c) */
	struct rt_task *cache;		/* freed task blocks for reuse */
	unsigned int ncache;
	struct rt_fiber *fibers;	/* free fiber stacks (fiber_stack.c) */
	unsigned int nfibers;
	void *altstack;			/* SIGSEGV stack for fiber overflows */
	bool fiber_guarded;		/* SIGSEGV handler checked (fiber.c) */
	unsigned int tick;
	bool spinning;			/* counted in rt->nspinning */
	uint8_t io_idles;		/* idle polls in a row that ended
					   with I/O completions (balance.c) */
	uint64_t idle_steal_ns;		/* idle_poll's next steal, watch */
	uint64_t idle_watch_ns;
	struct rt_victim {		/* per CPU queue: when it last moved */
		uint64_t pops, since;
	} *victims;

	/* in the trace area, written by this worker only */
	struct rt_stats *stats;
	struct rt_trace_worker *tw;
	uint64_t *site_counts;
	struct rt_trace *trace;		/* &rt->trace, for site lookups */
	uint8_t step_hooks;		/* RT_HOOK_*, read once a turn */
#define RT_HOOK_EVENTS	1		/* a tool records events */
#define RT_HOOK_SITES	2		/* count suspensions per await site */
#define RT_HOOK_SAMPLED	4		/* ... 1 step in 2^sample_shift */
	uint32_t sample_shift;
	uint32_t sample_ctr;		/* steps while sampling */
	uint32_t ring_turns;		/* turn records written */
	uint64_t trace_ts;		/* the last turn record's time */
	struct rt_trace_clock trace_clock;	/* what trace_ts is read from */
	struct rt_runq_stats qstats;
	struct rt_runq_cache qcache;	/* this worker's CPU and queue */
	struct rt_task **running;	/* this thread's rt__running */
	struct rt_task *next;		/* RUN NEXT (below): woken by the
					   running step, run after it */

	/*
	 * Written by other threads too, each group on its own cache line so
	 * that pushers, wakers and watchers do not slow this worker's own
	 * fields down.
	 */
	_Alignas(64) struct rt_inbox inbox;	/* tasks from foreign threads */
	struct rt_inbox cancels;	/* tasks to cancel, linked by cancel_next */
	struct rt_inbox io_cancels;	/* the same, for tasks in an I/O op:
					   only this worker may touch its
					   ring, so no watcher adopts these */
	struct rt_inbox io_home;	/* tasks that come to wait on a
					   source this worker's ring holds
					   (source.c); not adopted either */
	_Atomic uint32_t io_arm_kick;	/* a wait with I/O arms on this ring
					   was won elsewhere: cancel them */

	_Alignas(64) _Atomic uint32_t parked;
	_Atomic uint32_t wake_pending;	/* a wake-up is on its way (park.c) */
	_Atomic uint32_t timer_lock;
	_Atomic uint64_t timer_next;	/* earliest deadline, for watchers */

	_Alignas(64) struct {		/* what watchdog.c saw of this worker */
		_Atomic uint32_t busy;	/* a watcher is updating it */
		bool reported;		/* this long task was reported */
		uint64_t turns, since;	/* loop turns, unchanged since */
		struct rt_task *task;	/* running task, the same since */
		uint64_t task_since;
	} watch;
} __attribute__((aligned(64)));

/* The runtime's trace area (trace.c). */
#define RT_TRACE_SITES_MAX 1024
#define RT_TRACE_SITE_OTHER (RT_TRACE_SITES_MAX - 1)	/* past the room */
struct rt_trace {
	struct rt_trace_header *hdr;
	size_t size;
	int fd;				/* the memfd, -1 if anonymous */
	bool tsc_clock;			/* records timed by the TSC */
	struct rt_trace *next_live;	/* the process's areas (trace.c) */
};

/* Where a full CPU queue spills; every worker looks here when idle. */
struct rt_overflow {
	pthread_mutex_t lock;
	struct rt_task *head, *tail;
	_Atomic size_t count;
};

/* Batches of free task blocks, shared by the workers (task_cache.c). */
struct rt_depot {
	pthread_mutex_t lock;
	struct rt_task *batches;
	unsigned int nbatches;
};

/* Free fiber stacks beyond the workers' caches (fiber_stack.c). */
struct rt_fiber_depot {
	pthread_mutex_t lock;
	struct rt_fiber *head;
	unsigned int n;
};

struct rt_runtime {
	struct rt_config cfg;
	struct rt_depot depot;
	struct rt_fiber_depot fiber_depot;
	struct rt_trace trace;
	struct rt_runqs runqs;
	struct rt_overflow overflow;
	unsigned int nworkers;
	struct rt_worker *workers;
	_Atomic uint32_t closing;	/* spawns refused */
	_Atomic uint32_t foreign_calls;	/* spawns, wakes, cancels from other
					   threads under way (task.c) */
	_Atomic uint32_t stop;		/* workers exit */
	_Atomic uint32_t nparked;
	_Atomic uint32_t nidle;		/* workers polling or parked */
	_Atomic uint32_t nspinning;	/* workers polling for work */
	_Atomic bool wake_msg_ring;	/* wake workers by MSG_RING (park.c) */
	bool send_zc;			/* the kernel has IORING_OP_SEND_ZC */
	bool poll_first;		/* ... IORING_RECVSEND_POLL_FIRST */
	const char *wake_reason;
	_Atomic uint32_t drain_seq;	/* futex: bumped when a worker idles */
	_Atomic uint32_t drain_waiters;
	_Atomic uint32_t next_inbox;	/* round robin for foreign spawns */
	_Atomic uint64_t foreign_spawned;
	_Atomic uint32_t backlog;	/* futex: foreign spawns not started */
	_Atomic uint32_t backlog_waiters;
	_Atomic uint64_t wait_timeouts;	/* struct rt_sync_stats (waitq.c) */
	_Atomic uint64_t wait_cancels;
	_Atomic uint64_t wakers_late;
	struct rt_waker *wakers;	/* not yet freed, under wakers_lock */
	_Atomic(struct rt_blocking_pool *) blocking;	/* blocking.c */
	_Atomic uint32_t blocking_max;	/* its size, 0: the default */
	_Atomic uint32_t started;	/* startup barrier */
	_Atomic uint32_t left;		/* workers out of their loop */
	_Atomic uint32_t shut;		/* RT_SHUT_*, futex word (runtime.c) */
	uint32_t fork_gen;		/* rt__fork_gen when it was created */
	pthread_mutex_t sources_lock;	/* the list of open sources */
	struct rt_source *sources;
	char ring_desc[64];
};

/*
 * A task names workers by id, index + 1 (0: none), which keeps a task's
 * state small (RT_MAX_WORKERS fits in 16 bits): 144 bytes, the arena's
 * 16-byte alignment included, with what is used rarely in struct
 * rt_task_ext. The memory benchmark counts every byte of it 10,000 times
 * (Documentation/benchmarks.md).
 */
_Static_assert(sizeof(struct rt_task) == 144, "a task grew: see above");

static inline struct rt_worker *rt_worker_by_id(struct rt_runtime *rt,
						uint16_t id)
{
	return id ? &rt->workers[id - 1] : NULL;
}

static inline uint16_t rt_worker_id(const struct rt_worker *w)
{
	return w ? (uint16_t)(w->index + 1) : 0;
}

/*
 * Bumped in every child of fork() (a pthread_atfork handler, runtime.c):
 * a runtime whose fork_gen differs was inherited, and its workers do not
 * exist in this process.
 */
extern _Atomic uint32_t rt__fork_gen;

static inline bool rt_inherited(const struct rt_runtime *rt)
{
	return unlikely(rt->fork_gen !=
			atomic_load_explicit(&rt__fork_gen, memory_order_relaxed));
}

/*
 * Is environment variable name set to exactly value? The runtime's
 * switches (RTASYNC_WAKE=eventfd, RTASYNC_BUF_RING=0, ...) are for tests
 * and benchmarks that run one build both ways; api.md lists them.
 */
static inline bool rt_env_is(const char *name, const char *value)
{
	const char *env = getenv(name);

	return env && !strcmp(env, value);
}

/* Stats are read racily by rt_runtime_stats(); the owner bumps them. */
#ifndef __has_feature
#define __has_feature(x) 0	/* gcc: __SANITIZE_THREAD__ instead */
#endif
/*
 * A counter with one writer (its worker) that other threads and tools
 * read with relaxed loads: one add to memory (arch/x86_64/counter.h),
 * the C11 load-add-store where ThreadSanitizer must see the access.
 */
static inline void rt_counter_add(uint64_t *c, uint64_t n)
{
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
#else
	rt_arch_counter_add(c, n);
#endif
}

#define RT_COUNT_ADD(w, field, n)					\
	rt_counter_add(&(w)->stats->field, (uint64_t)(n))

/*
 * spawned and completed are what rt_runtime_drain() counts on: they are
 * always kept, and bumped with a release store (a plain mov on x86), which
 * the drain's acquire loads pair with (see runtime_idle()). The other
 * counters, the per-site counts and the event rings can be compiled out
 * (-DRT_NO_COUNTERS, the bench's "no counters" build), only to measure
 * what they cost.
 */
#define RT_COUNT_LIFE(w, field)						\
	__atomic_store_n(&(w)->stats->field, (w)->stats->field + 1,	\
			 __ATOMIC_RELEASE)
#ifdef RT_NO_COUNTERS
#define RT_STAT_ADD(w, field, n) do { (void)(w); (void)(n); } while (0)
#else
#define RT_STAT_ADD(w, field, n) RT_COUNT_ADD(w, field, n)
#endif
#define RT_STAT_INC(w, field) RT_STAT_ADD(w, field, 1)

/* One more op of kind k submitted, completed or cancelled (field). */
#define RT_IO_COUNT(w, field, k)					\
	do {								\
		RT_STAT_INC(w, io_##field);				\
		RT_COUNT_INC_IO(w, field, k);				\
	} while (0)
#ifdef RT_NO_COUNTERS
#define RT_COUNT_INC_IO(w, field, k) ((void)(k))
#else
#define RT_COUNT_INC_IO(w, field, k)					\
	rt_counter_add(&(w)->io_counts->field[k], 1)
#endif

/* worker.c */
extern __thread struct rt_worker *rt__self
	__attribute__((tls_model("initial-exec")));
extern __thread struct rt_task *rt__running
	__attribute__((tls_model("initial-exec")));
int rt_workers_start(struct rt_runtime *rt);
void rt_workers_stop(struct rt_runtime *rt);
void rt_workers_free(struct rt_runtime *rt);

/* park.c: the StoreLoad fences of NO LOST WAKE-UP (see park.c) */
extern bool rt__fence_asym;
void rt_fence_init(void);
void rt_fence_slow(void);

/* The producer's side: free when the consumer runs membarrier. */
static inline void rt_fence_fast(void)
{
	if (likely(__atomic_load_n(&rt__fence_asym, __ATOMIC_RELAXED)))
		atomic_signal_fence(memory_order_seq_cst);
	else
		atomic_thread_fence(memory_order_seq_cst);
}

/* Running a task step (a racy look from another thread). */
static inline bool rt_worker_in_step(struct rt_worker *o)
{
	return __atomic_load_n(o->running, __ATOMIC_RELAXED) != NULL &&
	       !atomic_load_explicit(&o->parked, memory_order_relaxed);
}

/* Parked, and nobody rang it yet. */
static inline bool rt_worker_asleep(struct rt_worker *o)
{
	return atomic_load_explicit(&o->parked, memory_order_relaxed) &&
	       !atomic_load_explicit(&o->wake_pending, memory_order_relaxed);
}

void rt_wake_choose(struct rt_runtime *rt, struct io_uring *ring);
void rt_worker_wake(struct rt_worker *from, struct rt_worker *target);
void rt_worker_wake_inbox(struct rt_worker *target);
struct rt_worker *rt_wake_one(struct rt_runtime *rt, struct rt_worker *w);
struct io_uring_sqe *rt_worker_get_sqe(struct rt_worker *w);
void rt_worker_arm_doorbell(struct rt_worker *w);
void rt_worker_reap(struct rt_worker *w);
void rt_worker_park(struct rt_worker *w);

/* io.c */
int rt_io_init(struct rt_worker *w);
void rt_io_free(struct rt_worker *w);
void rt_io_submit(struct rt_worker *w);
bool rt_io_poll(struct rt_worker *w);
void rt_io_cancels(struct rt_worker *w);
void rt_io_deadlines(struct rt_worker *w, uint64_t now);
uint64_t rt_io_next_deadline(const struct rt_worker *w);
struct rt_task *rt_io_reaped(struct rt_worker *w, uint64_t user_data, int res,
			     uint32_t cqe_flags, struct rt_task *done);
void rt_io_probe(struct rt_runtime *rt, struct io_uring *ring);
void rt_io_resume(struct rt_worker *w, struct rt_task *done);

/* source.c: listeners and receive streams */
void rt_source_commit(struct rt_worker *w, struct rt_task *t);
void rt_source_turn(struct rt_worker *w);
bool rt_source_cancel(struct rt_worker *w, struct rt_task *t);
void rt_source_reaped(struct rt_worker *w, uint64_t user_data, int res,
		      uint32_t cqe_flags, struct rt_task **woken);
void rt_source_wake(struct rt_worker *w, struct rt_task *woken);
void rt_sources_free(struct rt_runtime *rt);

/* bufpool.c */
void rt_bufpool_free(struct rt_worker *w);

/* balance.c */
/*
 * RUN NEXT. A task the running step wakes (rt_task_make_runnable(): not
 * a spawn, not a yield) on its own worker while no worker is idle goes
 * into w->next, not onto the queue: the batch runs it as soon as the
 * step has ended (run_tasks(), task.c), with no push and no pop, and
 * with what it was just handed still in cache: the hand-off between two
 * tasks through a channel or a lock. Go's runnext and Tokio's LIFO slot
 * do the same. Its bounds:
 *   - one slot, written and read by its worker only: a second wake in
 *     the same step queues;
 *   - filled only inside a batch (rt__running is set only there), and
 *     emptied onto the queue when the batch ends: between batches it is
 *     empty, so the loop's other phases, thieves, donation, the
 *     watchdog and shutdown see every runnable task on a queue;
 *   - the steps it runs count in the batch (RT_BATCH), so two tasks
 *     handing off through it keep the queue waiting one batch at most;
 *   - not while a worker is parked or polling (nidle): that one could
 *     take a queued task while the waking step goes on, but not the
 *     slot's, which waits for its waker's step to end. A worker that
 *     goes idle after the test costs only that wait: no wake-up is
 *     owed for the slot, which its own worker empties.
 */
static inline bool rt_worker_run_next(struct rt_worker *w,
				      struct rt_task *t)
{
	if (!rt__running || w->next ||
	    atomic_load_explicit(&w->rt->nidle, memory_order_relaxed))
		return false;
	w->next = t;
	return true;
}

void rt__task_make_runnable(struct rt_worker *self, struct rt_task *t);

/* t became runnable: next on this worker when it may, else queued. Inline:
 * every wake-up comes through here. */
static inline void rt_task_make_runnable(struct rt_worker *self,
					 struct rt_task *t)
{
	if (self && self->rt == t->rt && rt_worker_run_next(self, t))
		return;
	rt__task_make_runnable(self, t);
}

void rt_worker_share(struct rt_worker *w);
bool rt_worker_take_overflow(struct rt_worker *w);
bool rt_worker_has_work(struct rt_worker *w);
bool rt_worker_idle_poll(struct rt_worker *w);
void rt_worker_stop_spinning(struct rt_worker *w, bool found);
void rt_worker_start_spinning(struct rt_worker *w);

/* watchdog.c */
unsigned int rt_watch_peers(struct rt_worker *w, uint64_t now);
uint64_t rt_watch_deadline(struct rt_worker *w, uint64_t now);

/* sleep.c */
void rt_sleep_commit(struct rt_worker *w, struct rt_task *t);
int rt_sleep_arm(struct rt_worker *w, struct rt_task *t);
void rt_sleep_disarm(struct rt_runtime *rt, uint16_t owner, struct rt_task *t);
void rt_sleep_fire(struct rt_worker *w, uint64_t now);
void rt_sleep_cancels(struct rt_worker *w);
unsigned int rt_sleep_adopt(struct rt_worker *w, struct rt_worker *o,
			    uint64_t now);
uint64_t rt_sleep_next(struct rt_worker *w);
void rt_sleep_free(struct rt_worker *w);

/* The earliest of w's timers: its sleepers' and waits', its ops'. */
static inline uint64_t rt_worker_next_timer(struct rt_worker *w)
{
	uint64_t sleep = rt_sleep_next(w), io = rt_io_next_deadline(w);

	return io < sleep ? io : sleep;
}

/* fault.c: failures injected by RTASYNC_FAULT, for tests */
enum rt_fault_kind {
	RT_FAULT_WAKE,		/* a MSG_RING wake the kernel refuses */
	RT_FAULT_SQE,		/* no SQE to be had */
	RT_FAULT_KINDS,
};
extern uint32_t rt__fault_every[RT_FAULT_KINDS];
void rt_fault_init(void);
bool rt__fault_hit(enum rt_fault_kind kind);
uint64_t rt_fault_count(enum rt_fault_kind kind);
void rt_fault_set(enum rt_fault_kind kind, uint32_t every);

static inline bool rt_fault(enum rt_fault_kind kind)
{
	return unlikely(__atomic_load_n(&rt__fault_every[kind],
					__ATOMIC_RELAXED)) &&
	       rt__fault_hit(kind);
}

/* inbox.c */
void rt_inbox_push(struct rt_inbox *in, struct rt_task *t);
void rt_inbox_push_cancel(struct rt_inbox *in, struct rt_task *t);
struct rt_task *rt_inbox_take(struct rt_inbox *in);
struct rt_task *rt_inbox_take_cancels(struct rt_inbox *in);
static inline bool rt_inbox_empty(struct rt_inbox *in)
{
	return atomic_load_explicit(&in->head, memory_order_relaxed) == NULL;
}

/* overflow.c */
void rt_overflow_init(struct rt_overflow *o);
void rt_overflow_destroy(struct rt_overflow *o);
void rt_overflow_push(struct rt_overflow *o, struct rt_task *t);
void rt_overflow_push_list(struct rt_overflow *o, struct rt_task *head,
			   struct rt_task *tail, size_t n);
struct rt_task *rt_overflow_pop_batch(struct rt_overflow *o, size_t max);

/* task.c */

/* May t start an op? 0 or the op's error. Inline: every op asks. */
static inline int64_t rt_op_check(struct rt_task *t)
{
	if (!t)
		return -EINVAL;
	if (t != rt__running)
		return -EPERM;	/* not the task running on this thread */
	if (atomic_load_explicit(&t->flags, memory_order_seq_cst) & RT_TF_CANCEL)
		return -ECANCELED;
	return 0;
}

/* Around what another thread does to a runtime's queues and doorbells. */
void rt_foreign_enter(struct rt_runtime *rt);
void rt_foreign_leave(struct rt_runtime *rt);

/* t's step, then up to RT_BATCH - 1 more off w's queues; how many ran.
 * _hooked: with the tools' w->step_hooks. */
unsigned int rt_task_run_batch(struct rt_worker *w, struct rt_task *t);
unsigned int rt_task_run_batch_hooked(struct rt_worker *w, struct rt_task *t);
void rt_task_unref(struct rt_worker *w, struct rt_task *t);
void rt_task_commit_join(struct rt_worker *w, struct rt_task *t);

/* trace.c */
int rt_trace_init(struct rt_trace *tr, unsigned int nworkers);
void rt_trace_destroy(struct rt_trace *tr);
void rt_trace_worker_bind(struct rt_trace *tr, struct rt_worker *w);
uint32_t rt_trace_site_number(struct rt_site *site);

int64_t rt_running_tls_offset(void);

/* task_cache.c */
void rt_depot_init(struct rt_depot *d);
void rt_depot_destroy(struct rt_depot *d);
void rt_task_cache_free(struct rt_worker *w);

/* task_local.c */
#define RT_TASK_LOCALS 16
struct rt_task_ext *rt_task_ext_new(struct rt_task *t);

/* t's ext, allocated on first use; NULL when that allocation failed. */
static inline struct rt_task_ext *rt_task_ext_get(struct rt_task *t)
{
	struct rt_task_ext *x = atomic_load_explicit(&t->ext,
						     memory_order_acquire);

	return likely(x) ? x : rt_task_ext_new(t);
}

/*
 * The wait of a task that has armed one, so whose ext exists: every
 * waker, deadline, cancel and finish reaches the task through that wait
 * (a list under its lock, the heap under its lock, the waiter's state),
 * all after the ext was published. The acquire costs a plain load on
 * x86 and keeps the argument local.
 */
static inline struct rt_wait *rt_task_wait(struct rt_task *t)
{
	return &atomic_load_explicit(&t->ext, memory_order_acquire)->wait;
}

/* waitq.c, waker.c */
bool rt_wait_expire(struct rt_task *t);
bool rt_wait_cancel(struct rt_task *t);
void rt_wakers_shutdown(struct rt_runtime *rt);
void rt_blocking_shutdown(struct rt_runtime *rt);

/*
 * Any thread, any time (a cancel, the timer heap): t has no ext only if
 * it never armed a wait. Both loads seq_cst, for NO LOST CANCEL
 * (waitq.c): the ext is published by a seq_cst CAS before the wait
 * state is set, so a cancel that reads NULL here precedes that CAS in
 * the single total order, hence the op's later read of the cancel flag.
 */
static inline bool rt_wait_parked(struct rt_task *t)
{
	struct rt_task_ext *x = atomic_load_explicit(&t->ext,
						     memory_order_seq_cst);

	return x && (atomic_load_explicit(&x->wait.state,
					  memory_order_seq_cst) & 1u);
}

/* ---- the per-task fast paths, inline -------------------------------- */
/*
 * What spawn, a step and a completion do on every task, inline into
 * task.c's loops: each is a few instructions in the common case, and as
 * out-of-line calls across files (no LTO) they cost spawn+run+join more
 * in calls and register saves than in work. The uncommon cases stay out
 * of line: rt__*_slow().
 */

/* frame.c */
void rt__arena_release_slow(struct rt_task *t);

/* Frees the task's chunks, its spare among them. */
static inline void rt_arena_release(struct rt_task *t)
{
	if (unlikely(t->chunk || t->spare))
		rt__arena_release_slow(t);
}

/* f's caller, NULL for the root. */
static inline struct rt_frame *rt_frame_caller(struct rt_frame *f)
{
	if (f->caller_off)
		return (struct rt_frame *)((char *)f - f->caller_off);
	if (f->flags & RT_FRAME_ROOT)
		return NULL;
	return ((struct rt_chunk *)((char *)f - RT_CHUNK_HDR))->caller;
}

/* task_local.c: what the task allocated besides its frames, if it did. */
void rt__task_extras_free_slow(struct rt_task_ext *x);

static inline void rt_task_extras_free(struct rt_task *t)
{
	struct rt_task_ext *x = atomic_load_explicit(&t->ext,
						     memory_order_relaxed);

	if (unlikely(x))
		rt__task_extras_free_slow(x);
}

/*
 * task_cache.c: a block from w's cache, a block back to it. A block in a
 * cache has an empty arena (chunk and spare NULL: rt_arena_release() ran)
 * and its ext, clean (rt_task_extras_free() ran).
 */
#define RT_CACHE_BATCH 256
struct rt_task *rt__task_block_get_slow(struct rt_runtime *rt,
					struct rt_worker *w);
void rt__task_block_put_slow(struct rt_runtime *rt, struct rt_worker *w,
			     struct rt_task *t);

static inline struct rt_task *rt_task_block_get(struct rt_runtime *rt,
						struct rt_worker *w)
{
	struct rt_task *t = w ? w->cache : NULL;

	if (likely(t)) {
		w->cache = t->next;
		w->ncache--;
		return t;
	}
	return rt__task_block_get_slow(rt, w);
}

static inline void rt_task_block_put(struct rt_runtime *rt,
				     struct rt_worker *w, struct rt_task *t)
{
	if (likely(w && w->rt == rt && w->ncache + 1 < 2 * RT_CACHE_BATCH)) {
		t->next = w->cache;
		w->cache = t;
		w->ncache++;
		return;
	}
	rt__task_block_put_slow(rt, w, t);
}

/*
 * balance.c: queue t on this CPU. The producer side of NO LOST WAKE-UP
 * (park.c): push, fence, look for sleepers.
 */
void rt__worker_spill(struct rt_worker *w, struct rt_task *t);
void rt__worker_want_helper(struct rt_worker *w);

static inline void rt_worker_push_local(struct rt_worker *w,
					struct rt_task *t)
{
	struct rt_runtime *rt = w->rt;

	if (unlikely(rt_runq_push_cached(&rt->runqs, &w->qcache, t,
					 &w->qstats)))
		rt__worker_spill(w, t);
	rt_fence_fast();
	if (unlikely(atomic_load_explicit(&rt->nparked, memory_order_relaxed)))
		rt__worker_want_helper(w);
}

/* futex.c */
void rt_futex_wait(_Atomic uint32_t *word, uint32_t val, uint64_t timeout_ns);
void rt_futex_wake_all(_Atomic uint32_t *word);

#endif /* RT_INTERNAL_H */

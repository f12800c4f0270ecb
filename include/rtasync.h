/* SPDX-License-Identifier: MIT */
/*
 * librtasync: a kernel-assisted async runtime for Linux.
 *
 * Object model (see Documentation/design.md):
 *   runtime  - owns one worker thread per CPU and one run queue per CPU
 *   task     - a long-lived unit of work: a chain of async frames
 *   frame    - one activation of an async function, bump-allocated from
 *              the task's arena; lives across awaits
 *   op       - one await: yield, sleep, join, an I/O operation
 *
 * Every function returns a negative errno on failure, never sets errno.
 * Async results are int64_t: >= 0 (or a pointer) on success, -errno on error.
 */
#ifndef RTASYNC_H
#define RTASYNC_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rt_runtime;
struct rt_task;
struct rt_frame;

/*
 * An async function: called with its task and its frame. Returns its
 * result, or RT_PENDING when it suspended (the runtime calls it again with
 * the same frame to resume it).
 */
typedef int64_t (*rt_async_fn)(struct rt_task *t, struct rt_frame *f);

/* Returned by an async function or op that suspended; never a result. */
#define RT_PENDING INT64_MIN

/*
 * The header every async frame starts with (16 bytes). The caller link is a
 * byte offset back into the same arena chunk rather than a pointer: frames
 * are strictly LIFO within a task, and the smaller header is what keeps a
 * 100-frame-deep suspended chain at 32 bytes a frame.
 */
struct rt_frame {
	rt_async_fn fn;		/* owner; called again to resume */
	int32_t resume;		/* resume label offset, 0 = first entry */
	uint16_t caller_off;	/* bytes back to the caller, 0 = see flags */
	uint16_t flags;		/* RT_FRAME_* */
};

enum {
	RT_FRAME_CATCH = 1u << 0,	/* receive callee errors instead of skipping */
	RT_FRAME_ROOT = 1u << 1,	/* the task's outermost frame */
	RT_FRAME_CHUNK_FIRST = 1u << 2,	/* caller lives in the previous chunk */
};

/*
 * An await site: one static record per RT_AWAIT in the program, given an
 * id the first time a task suspends there (see rtasync-trace.h).
 */
struct rt_site {
	const char *func;
	const char *file;
	uint32_t line;
	uint32_t id;		/* 0 until numbered (runtime/trace.c) */
};

/*
 * The part of a task the inline fast paths touch. Private fields follow it;
 * do not access these directly, use the macros below.
 */
struct rt_task_head {
	char *arena_top;
	char *arena_end;
	char *stack_limit;	/* C stack floor: deeper calls trampoline */
	struct rt_frame *top;	/* innermost frame when suspended */
	int64_t ret;		/* result register for a resumed frame */
	struct rt_site *site;	/* where it suspended, NULL: not at an await */
};

/* ---- runtime lifecycle ------------------------------------------------ */

enum rt_queue_mode {
	RT_QUEUE_AUTO = 0,	/* rseq when the kernel and glibc provide it */
	RT_QUEUE_RSEQ,		/* rseq or fail with -ENOTSUP */
	RT_QUEUE_ATOMIC,	/* lock-free atomics, no rseq */
};

struct rt_config {
	unsigned int workers;		/* default: CPUs in the affinity mask */
	bool pin;			/* pin worker i to the i-th allowed CPU */
	enum rt_queue_mode queue_mode;
	unsigned int queue_size;	/* slots per CPU run queue, power of 2 */
	unsigned int ring_entries;	/* io_uring SQ entries per worker */
	unsigned int task_arena;	/* bytes of frame arena inline in a task */
	unsigned int spin_us;		/* idle polling before a worker sleeps */
	unsigned int io_spin_us;	/* ... when it waits only for I/O */
	unsigned int long_task_ms;	/* note tasks running this long, 0: off */
	unsigned int max_foreign_backlog; /* tasks spawned by non-worker
					   threads and not started yet, at
					   most; 0: unbounded */
	/* receive streams (rt_stream_new): each worker's buffer pool,
	 * allocated when a stream first receives there */
	unsigned int recv_buffers;	/* how many, power of 2, <= 32768 */
	unsigned int recv_buffer_size;	/* bytes each */
	size_t fiber_stack;		/* usable bytes of a fiber's stack
					   (rtasync-fiber.h); 0: 256 KiB */
	bool fiber_share_fpenv;		/* fibers share their worker's FP
					   control modes: a switch does not
					   save or restore MXCSR and the x87
					   control word (faster; a fiber must
					   then not change them) */
	bool count_sites;		/* count suspensions per await site
					   always, not only while a tool
					   watches; default: the environment's
					   RTASYNC_COUNT_SITES=1 */
};

#define RT_MAX_WORKERS 1024

void rt_config_init(struct rt_config *cfg);
int rt_runtime_new(const struct rt_config *cfg, struct rt_runtime **out);
int rt_runtime_drain(struct rt_runtime *rt);
int rt_runtime_shutdown(struct rt_runtime *rt);
void rt_runtime_free(struct rt_runtime *rt);

int rt_runtime_workers(const struct rt_runtime *rt);
enum rt_queue_mode rt_runtime_queue_mode(const struct rt_runtime *rt);
const char *rt_queue_mode_name(enum rt_queue_mode mode);
const char *rt_runtime_queue_reason(const struct rt_runtime *rt);
const char *rt_runtime_ring_flags(const struct rt_runtime *rt);
const char *rt_runtime_wake_method(const struct rt_runtime *rt);

struct rt_stats {
	uint64_t spawned;	/* tasks started */
	uint64_t completed;	/* tasks finished */
	uint64_t resumes;	/* task steps run by workers */
	uint64_t suspends;	/* steps that ended in RT_PENDING */
	uint64_t yields;	/* suspends - waits */
	uint64_t trampolines;	/* calls unwound to keep the C stack shallow */
	uint64_t steals;	/* successful steal batches */
	uint64_t stolen;	/* tasks moved by steals */
	uint64_t rseq_aborts;	/* critical sections restarted by the kernel */
	uint64_t overflows;	/* tasks that found their CPU queue full */
	uint64_t donated;	/* tasks handed to idle workers */
	uint64_t inbox;		/* tasks received through a worker inbox */
	uint64_t parks;		/* waits in io_uring with nothing to run */
	uint64_t wakes_msg_ring;	/* wakes sent worker to worker */
	uint64_t wakes_eventfd;	/* wakes sent from foreign threads */
	uint64_t timers_fired;
	uint64_t cancels;	/* sleeps cut short by a cancel */
	uint64_t unstarted;	/* tasks cancelled before they ran */
	uint64_t long_tasks;	/* steps that ran past long_task_ms */
	uint64_t wake_failures;	/* MSG_RING wakes refused, sent again by eventfd */
	uint64_t adopted;	/* tasks taken from a worker stuck in a step */
	uint64_t io_submitted;	/* I/O ops handed to a ring */
	uint64_t io_completed;	/* I/O ops finished, their task resumed */
	uint64_t io_cancelled;	/* ASYNC_CANCELs sent for cancelled tasks */
	uint64_t io_timeouts;	/* I/O ops ended by their deadline */
	uint64_t cq_overflows;	/* times a ring's CQ overflowed (flushed,
				   nothing lost) */
	uint64_t waits;		/* suspensions that were not yields
				   (sleeps, joins, waits, I/O) */
};

int rt_runtime_stats(struct rt_runtime *rt, struct rt_stats *out);

/* ---- tasks ------------------------------------------------------------- */

int rt_task_spawn(struct rt_runtime *rt, rt_async_fn fn,
		  const struct rt_frame *frame, size_t frame_size,
		  struct rt_task **handle);
/* As rt_task_spawn, but -EAGAIN where that would wait for the backlog. */
int rt_task_try_spawn(struct rt_runtime *rt, rt_async_fn fn,
		      const struct rt_frame *frame, size_t frame_size,
		      struct rt_task **handle);
int rt_task_join(struct rt_task *task, int64_t *result);
int rt_task_cancel(struct rt_task *task);
bool rt_task_done(const struct rt_task *task);
void rt_task_release(struct rt_task *task);
struct rt_runtime *rt_task_runtime(const struct rt_task *task);
struct rt_task *rt_task_current(void);

/*
 * Spawn fn with a root frame of type ftype (whose first member is
 * `struct rt_frame frame`, checked at compile time as RT_CALL does),
 * initialised with designated initialisers.
 */
#define RT_SPAWN(rt, handle, fn, ftype, ...)				\
	({								\
		_Static_assert(offsetof(ftype, frame) == 0,		\
			       "struct rt_frame must come first");	\
		rt_task_spawn((rt), (fn), &((ftype){ __VA_ARGS__ }).frame,\
			      sizeof(ftype), (handle));			\
	})

/* ---- ops: the leaf awaits ------------------------------------------------ */
/*
 * Each returns its result at once or RT_PENDING after arranging a wake-up.
 * Use them through RT_AWAIT and friends, inside an async function.
 * -EPERM when called outside the task that is running on this thread.
 */
int64_t rt_op_yield(struct rt_task *t);
int64_t rt_op_sleep(struct rt_task *t, uint64_t ns);
int64_t rt_op_sleep_until(struct rt_task *t, uint64_t deadline_ns);
int64_t rt_op_join(struct rt_task *t, struct rt_task *other);

uint64_t rt_now_ns(void);	/* CLOCK_MONOTONIC */

/* ---- I/O ops: io_uring operations as awaits ------------------------------ */
/*
 * Each submits one operation on the ring of the worker running t and
 * suspends t until its completion; the result is the kernel's: a byte
 * count (or fd, or poll mask) >= 0, or -errno. The SQE goes to the kernel
 * with everything else prepared in the same loop turn.
 *
 * deadline_ns is an absolute CLOCK_MONOTONIC time (rt_deadline_in()), or
 * RT_NEVER. An operation still running at its deadline is cancelled and
 * its result is -ETIMEDOUT, unless it completed (even partly) first.
 *
 * Buffers, paths and addresses belong to the kernel until the task has
 * resumed: keep them in a frame or on the heap, not in C locals. A
 * cancelled task resumes once the operation is over, with -ECANCELED or
 * with what the operation did before the cancel reached it.
 */
#define RT_NEVER UINT64_MAX

uint64_t rt_deadline_in(uint64_t ns);	/* now + ns, saturating */

/* off: file offset, or (uint64_t)-1 for the file position */
int64_t rt_op_read(struct rt_task *t, int fd, void *buf, size_t len,
		   uint64_t off, uint64_t deadline_ns);
int64_t rt_op_write(struct rt_task *t, int fd, const void *buf, size_t len,
		    uint64_t off, uint64_t deadline_ns);
int64_t rt_op_recv(struct rt_task *t, int fd, void *buf, size_t len,
		   int flags, uint64_t deadline_ns);
/*
 * A flag of rt_op_recv() and rt_op_recvmsg(), beside the MSG_* ones: the
 * caller expects nothing to have arrived yet (it has just sent a request
 * or an answer), so the kernel skips the receive attempt that would find
 * the socket empty and waits for data straight away
 * (IORING_RECVSEND_POLL_FIRST, Linux 5.19+; ignored on older kernels).
 * Data that is there all the same is received, a little later.
 */
#define RT_RECV_POLL_FIRST ((int)(1u << 31))
int64_t rt_op_send(struct rt_task *t, int fd, const void *buf, size_t len,
		   int flags, uint64_t deadline_ns);
/* IORING_OP_SEND_ZC where the kernel has it, else rt_op_send */
int64_t rt_op_send_zc(struct rt_task *t, int fd, const void *buf, size_t len,
		      int flags, uint64_t deadline_ns);
struct sockaddr;
/* addr and addrlen may be NULL; the new fd is close-on-exec */
int64_t rt_op_accept(struct rt_task *t, int fd, struct sockaddr *addr,
		     uint32_t *addrlen, uint64_t deadline_ns);
int64_t rt_op_connect(struct rt_task *t, int fd, const struct sockaddr *addr,
		      uint32_t addrlen, uint64_t deadline_ns);
int64_t rt_op_close(struct rt_task *t, int fd);
/* how: SHUT_RD, SHUT_WR, SHUT_RDWR */
int64_t rt_op_shutdown(struct rt_task *t, int fd, int how);
struct iovec;
struct msghdr;
struct statx;
int64_t rt_op_readv(struct rt_task *t, int fd, const struct iovec *iov,
		    unsigned int iovcnt, uint64_t off, uint64_t deadline_ns);
int64_t rt_op_writev(struct rt_task *t, int fd, const struct iovec *iov,
		     unsigned int iovcnt, uint64_t off, uint64_t deadline_ns);
int64_t rt_op_recvmsg(struct rt_task *t, int fd, struct msghdr *msg,
		      int flags, uint64_t deadline_ns);
int64_t rt_op_sendmsg(struct rt_task *t, int fd, const struct msghdr *msg,
		      int flags, uint64_t deadline_ns);
int64_t rt_op_statx(struct rt_task *t, int dfd, const char *path, int flags,
		    unsigned int mask, struct statx *buf, uint64_t deadline_ns);
/* off_in/off_out: -1 for a pipe or the file position */
int64_t rt_op_splice(struct rt_task *t, int fd_in, int64_t off_in, int fd_out,
		     int64_t off_out, size_t len, unsigned int flags,
		     uint64_t deadline_ns);
/* one-shot poll: the result is the events that are ready (poll(2) bits) */
int64_t rt_op_poll(struct rt_task *t, int fd, uint32_t events,
		   uint64_t deadline_ns);
/* flags: 0, or IORING_FSYNC_DATASYNC (1) for fdatasync */
int64_t rt_op_fsync(struct rt_task *t, int fd, uint32_t flags,
		    uint64_t deadline_ns);
int64_t rt_op_openat(struct rt_task *t, int dfd, const char *path, int flags,
		     uint32_t mode, uint64_t deadline_ns);

/* ---- sources: a listener, a receive stream ------------------------------ */
/*
 * A source keeps one operation armed in the kernel (multishot accept or
 * recv where the kernel has them, single-shot re-armed otherwise) and
 * queues what it yields; tasks take the items one at a time. A source
 * lives on the ring of the worker where it was first awaited: a task
 * that awaits it elsewhere is moved there first, and resumes there.
 * Results are -errno on error, as everywhere; see Documentation/io.md.
 */
struct rt_listener;
struct rt_stream;

enum {
	RT_SOURCE_SINGLE_SHOT = 1u << 0,	/* no multishot, no provided
						   buffer ring: the fallback */
};

struct rt_source_stats {
	uint64_t items;		/* connections accepted, buffers received */
	uint64_t arms;		/* accept or recv SQEs handed to the ring */
	uint64_t exhausted;	/* EMFILE, ENFILE, ENOBUFS, ENOMEM back-offs */
	uint64_t multishot;	/* 1: multishot armed last; 0: single-shot */
};

/* fd: a listening stream socket; the listener does not own or close it */
int rt_listener_new(struct rt_runtime *rt, int fd, unsigned int flags,
		    struct rt_listener **out);
/* the next connection: a new close-on-exec fd, or -errno */
int64_t rt_op_accept_next(struct rt_task *t, struct rt_listener *l,
			  uint64_t deadline_ns);
/* stop accepting, fail waiters, free l (0), once the kernel let go */
int64_t rt_op_listener_close(struct rt_task *t, struct rt_listener *l);
int rt_listener_stats(const struct rt_listener *l,
		      struct rt_source_stats *out);

/* fd: a connected stream socket; the stream does not own or close it */
int rt_stream_new(struct rt_runtime *rt, int fd, unsigned int flags,
		  struct rt_stream **out);
/* the next bytes received: their count (0: EOF), or -errno; the bytes
 * are at rt_stream_data() until the next await on s */
int64_t rt_op_recv_next(struct rt_task *t, struct rt_stream *s,
			uint64_t deadline_ns);
const void *rt_stream_data(const struct rt_stream *s);
int64_t rt_op_stream_close(struct rt_task *t, struct rt_stream *s);
int rt_stream_stats(const struct rt_stream *s, struct rt_source_stats *out);

#define RT_ACCEPT_NEXT(dst, l)						\
	RT_AWAIT(dst, rt_op_accept_next(rt__t, (l), RT_NEVER))
#define RT_RECV_NEXT(dst, s)						\
	RT_AWAIT(dst, rt_op_recv_next(rt__t, (s), RT_NEVER))

/* ---- the stackless toolkit ------------------------------------------------ */

static inline struct rt_task_head *rt__head(struct rt_task *t)
{
	return (struct rt_task_head *)t;
}

void *rt__frame_push_slow(struct rt_task *t, struct rt_frame *caller,
			  size_t size, size_t align);
void rt__frame_pop_chunk(struct rt_task *t, struct rt_frame *f);
void rt__trampoline(struct rt_task *t);

/*
 * A fresh frame's header past fn: first entry (resume 0), caller_off,
 * flags. Written as one 8-byte store: RT_CALL's loop is bound by its
 * stores as much as by its instructions.
 */
static inline void rt__frame_link(struct rt_frame *f, uint16_t caller_off,
				  uint16_t flags)
{
	struct { int32_t resume; uint16_t caller_off, flags; } w = {
		0, caller_off, flags
	};

	_Static_assert(offsetof(struct rt_frame, caller_off) == 12 &&
		       offsetof(struct rt_frame, flags) == 14 &&
		       sizeof(w) == 8, "the header past fn is one word");
	__builtin_memcpy(&f->resume, &w, sizeof(w));
}

/*
 * Push a callee frame above caller: a bounds check and a pointer bump in
 * the common case, no allocation, no queue. The check compares size with
 * the room left (arena ends are 16-aligned, so rounding p up to align <=
 * 16 never passes the end): `p + size` would wrap for a size near
 * SIZE_MAX and move the arena top backwards. The distance back to the
 * caller must fit caller_off; it is compared unsigned, so a caller above
 * p (never the case for the task's top frame) takes the slow path, which
 * records the caller in a chunk. align is a constant in RT_CALL, so its
 * tests fold away.
 */
static inline struct rt_frame *rt_frame_push(struct rt_task *t,
					     struct rt_frame *caller,
					     size_t size, size_t align,
					     rt_async_fn fn)
{
	struct rt_task_head *h = rt__head(t);
	char *p = h->arena_top;
	struct rt_frame *f;

	if (align > 8)
		p = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (__builtin_expect(align <= 16 &&
			     size <= (size_t)(h->arena_end - p) &&
			     (uintptr_t)(p - (char *)caller) <= UINT16_MAX, 1)) {
		h->arena_top = p + size;
		f = (struct rt_frame *)p;
		f->fn = fn;
		rt__frame_link(f, (uint16_t)(p - (char *)caller), 0);
		return f;
	}
	f = (struct rt_frame *)rt__frame_push_slow(t, caller, size, align);
	if (!f)
		return NULL;
	f->fn = fn;
	f->resume = 0;
	return f;
}

/* Pop the innermost frame f (the arena top is f's end). */
static inline void rt_frame_pop(struct rt_task *t, struct rt_frame *f)
{
	if (__builtin_expect(f->flags & RT_FRAME_CHUNK_FIRST, 0))
		rt__frame_pop_chunk(t, f);
	else
		rt__head(t)->arena_top = (char *)f;
}

/* Receive callee errors in this frame (a catch/cleanup region). */
static inline void rt_frame_set_catch(struct rt_frame *f, bool on)
{
	if (on)
		f->flags |= RT_FRAME_CATCH;
	else
		f->flags &= (uint16_t)~RT_FRAME_CATCH;
}

#define RT__CAT2(a, b) a##b
#define RT__CAT(a, b) RT__CAT2(a, b)
#define RT__LABEL(id) RT__CAT(rt__resume_, id)
/*
 * The resume point is the label's offset from the function's entry label:
 * 0 means "first entry", and the field is 32 bits. Both hold for any one
 * function (a shared object's text is under 2 GiB, also with hot/cold
 * splitting), but they are cheap to check where the offset is made (a
 * label difference is only known at link time, so no static assert can).
 */
#define RT__SAVE_RESUME(id)						\
	do {								\
		ptrdiff_t rt__off = (char *)&&RT__LABEL(id) -		\
				    (char *)&&rt__entry;		\
		if (__builtin_expect(rt__off != (int32_t)rt__off ||	\
				     rt__off == 0, 0))			\
			__builtin_trap();				\
		rt__f->resume = (int32_t)rt__off;			\
	} while (0)

/*
 * Put RT_ASYNC on every async function (`static RT_ASYNC int64_t fn(...)`).
 * Resume offsets are label addresses taken in one copy of the function and
 * jumped to in whichever copy f->fn names: a clone made by the optimiser
 * (GCC's ipa-cp / ipa-sra ".constprop" / ".isra" copies, called directly
 * by RT_CALL while the frame names the original) or an inlined copy would
 * save offsets of one body and resume another. clang has no noclone.
 */
#if defined(__clang__) || !defined(__GNUC__)
#define RT_ASYNC __attribute__((noinline))
#else
#define RT_ASYNC __attribute__((noinline, noclone))
#endif

/*
 * Open an async function body. `task` and `frame` are the function's
 * parameters. On resumption, jumps to the label of the await that
 * suspended (GNU computed goto), so an await may stand anywhere.
 */
#define RT_BEGIN(task, frame)						\
	struct rt_task *const rt__t __attribute__((unused)) = (task);	\
	struct rt_frame *const rt__f __attribute__((unused)) = (frame);\
	int64_t rt__discard __attribute__((unused));			\
	if (rt__f->resume)						\
		goto *((char *)&&rt__entry + rt__f->resume);		\
rt__entry:								\
	(void)0

/* View the frame parameter as the function's frame type. */
#define RT_FRAME(ptr, ftype)						\
	({								\
		_Static_assert(offsetof(ftype, frame) == 0,		\
			       "struct rt_frame must come first");	\
		(ftype *)(ptr);						\
	})

/* This frame's catch flag, as rt_frame_set_catch(). */
#define RT_CATCH(on) rt_frame_set_catch(rt__f, (on))

/*
 * After an await: an error skips this frame (returns it to our caller)
 * unless the frame catches; otherwise the result lands in dst.
 */
#define RT__DELIVER(dst, r)						\
	do {								\
		if (__builtin_expect((r) < 0, 0) &&			\
		    !(rt__f->flags & RT_FRAME_CATCH))			\
			return (r);					\
		dst = (r);						\
	} while (0)

/*
 * dst = await callee(ftype{...}): call another async function. If it
 * completes synchronously this is a push, a direct call and a pop. If it
 * suspends, this frame records where to resume and suspends too.
 */
#define RT_CALL(dst, callee, ftype, ...)				\
	RT__CALL(__COUNTER__, dst, callee, ftype, __VA_ARGS__)

#define RT__CALL(id, dst, callee, ftype, ...)				\
	do {								\
		_Static_assert(offsetof(ftype, frame) == 0,		\
			       "struct rt_frame must come first");	\
		_Static_assert(sizeof(ftype) <= UINT16_MAX,		\
			       "frame too large: allocate big buffers");\
		_Static_assert(_Alignof(ftype) <= 16,			\
			       "frames are at most 16-byte aligned");	\
		int64_t rt__r;						\
		ftype *rt__c = (ftype *)rt_frame_push(rt__t, rt__f,	\
				sizeof(ftype), _Alignof(ftype), (callee));\
		if (__builtin_expect(!rt__c, 0)) {			\
			rt__r = -ENOMEM;				\
			goto RT__CAT(rt__deliver_, id);			\
		}							\
		*rt__c = (ftype){ .frame = rt__c->frame, __VA_ARGS__ };	\
		if (__builtin_expect((char *)__builtin_frame_address(0) < \
				     rt__head(rt__t)->stack_limit, 0)) {\
			rt__head(rt__t)->top = &rt__c->frame;		\
			rt__trampoline(rt__t);				\
			RT__SAVE_RESUME(id);				\
			return RT_PENDING;				\
		}							\
		rt__r = (callee)(rt__t, &rt__c->frame);			\
		if (__builtin_expect(rt__r == RT_PENDING, 0)) {		\
			RT__SAVE_RESUME(id);				\
			return RT_PENDING;				\
		}							\
		rt_frame_pop(rt__t, &rt__c->frame);			\
		if (0) {						\
RT__LABEL(id):								\
			rt__r = rt__head(rt__t)->ret;			\
		}							\
RT__CAT(rt__deliver_, id):						\
		RT__DELIVER(dst, rt__r);				\
	} while (0)

/* dst = await op: a leaf op such as rt_op_sleep(t, ns). */
#define RT_AWAIT(dst, op) RT__AWAIT(__COUNTER__, dst, op)

#define RT__AWAIT(id, dst, op)						\
	do {								\
		static struct rt_site RT__CAT(rt__site_, id) = {	\
			__func__, __FILE__, __LINE__, 0 };		\
		int64_t rt__r = (op);					\
		if (__builtin_expect(rt__r == RT_PENDING, 0)) {		\
			rt__head(rt__t)->top = rt__f;			\
			__atomic_store_n(&rt__head(rt__t)->site,	\
				&RT__CAT(rt__site_, id), __ATOMIC_RELEASE);\
			RT__SAVE_RESUME(id);				\
			return RT_PENDING;				\
		}							\
		if (0) {						\
RT__LABEL(id):								\
			rt__r = rt__head(rt__t)->ret;			\
		}							\
		RT__DELIVER(dst, rt__r);				\
	} while (0)

#define RT_YIELD() RT_AWAIT(rt__discard, rt_op_yield(rt__t))
#define RT_SLEEP(ns) RT_AWAIT(rt__discard, rt_op_sleep(rt__t, (ns)))
#define RT_JOIN(dst, task) RT_AWAIT(dst, rt_op_join(rt__t, (task)))

/* I/O ops without a deadline, inside an async function body. */
#define RT_READ(dst, fd, buf, len, off)					\
	RT_AWAIT(dst, rt_op_read(rt__t, (fd), (buf), (len), (off), RT_NEVER))
#define RT_WRITE(dst, fd, buf, len, off)				\
	RT_AWAIT(dst, rt_op_write(rt__t, (fd), (buf), (len), (off), RT_NEVER))
#define RT_RECV(dst, fd, buf, len, flags)				\
	RT_AWAIT(dst, rt_op_recv(rt__t, (fd), (buf), (len), (flags), RT_NEVER))
#define RT_SEND(dst, fd, buf, len, flags)				\
	RT_AWAIT(dst, rt_op_send(rt__t, (fd), (buf), (len), (flags), RT_NEVER))
#define RT_ACCEPT(dst, fd)						\
	RT_AWAIT(dst, rt_op_accept(rt__t, (fd), NULL, NULL, RT_NEVER))
#define RT_CONNECT(dst, fd, addr, addrlen)				\
	RT_AWAIT(dst, rt_op_connect(rt__t, (fd), (addr), (addrlen), RT_NEVER))
#define RT_CLOSE(dst, fd) RT_AWAIT(dst, rt_op_close(rt__t, (fd)))
#define RT_SHUTDOWN(dst, fd, how)					\
	RT_AWAIT(dst, rt_op_shutdown(rt__t, (fd), (how)))
#define RT_POLL(dst, fd, events)					\
	RT_AWAIT(dst, rt_op_poll(rt__t, (fd), (events), RT_NEVER))
#define RT_FSYNC(dst, fd) RT_AWAIT(dst, rt_op_fsync(rt__t, (fd), 0, RT_NEVER))
#define RT_OPENAT(dst, dfd, path, flags, mode)				\
	RT_AWAIT(dst, rt_op_openat(rt__t, (dfd), (path), (flags), (mode), \
				   RT_NEVER))

/*
 * Send all len bytes of buf on a stream socket, looping on short sends
 * (MSG_NOSIGNAL is added to flags): RT_CALL(dst, rt_send_all,
 * struct rt_send_all_frame, .fd = fd, .buf = buf, .len = len). The
 * result is len, or the error that stopped it (bytes sent before it
 * are on the wire: the stream is unusable after an error).
 */
struct rt_send_all_frame {
	struct rt_frame frame;
	const void *buf;
	size_t len;
	size_t sent;		/* private */
	uint64_t deadline_ns;	/* for the whole transfer; 0: RT_NEVER */
	int fd;
	int flags;
	bool zerocopy;		/* by rt_op_send_zc (copies where the
				   socket cannot: -EOPNOTSUPP) */
};

int64_t rt_send_all(struct rt_task *t, struct rt_frame *f);

#define RT_SEND_ALL(dst, sock, data, n)					\
	RT_CALL(dst, rt_send_all, struct rt_send_all_frame,		\
		.fd = (sock), .buf = (data), .len = (n))

/* The running task, inside an async function body. */
#define RT_TASK() (rt__t)

#ifdef __cplusplus
}
#endif

/* Wait queues, channels, locks, wakers, select (Documentation/coordination.md) */
#include "rtasync-sync.h"
/* Stackful fibers on the same runtime. */
#include "rtasync-fiber.h"

#endif /* RTASYNC_H */

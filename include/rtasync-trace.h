/* SPDX-License-Identifier: MIT */
/*
 * The trace area: what a librtasync runtime shares with rtasync-trace.
 *
 * Each runtime creates one memfd named RT_TRACE_MEMFD_NAME, sizes it,
 * seals its size (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) and maps it.
 * A tool finds it among /proc/PID/fd (the link reads
 * "/memfd:rtasync-trace (deleted)"), maps it too, and reads it while the
 * process runs; the process never waits for the tool.  Tools refuse an
 * area whose size is not sealed: they could be killed by SIGBUS.
 *
 * Either side may write what the other reads: the runtime takes its
 * layout from its own constants, never from this header, and tools check
 * every offset and count of it against the file's size.
 *
 * Layout (offsets in the header):
 *   header           struct rt_trace_header, one page
 *   sites            sites_max x struct rt_trace_site: await sites by id
 *   workers          nworkers x worker_stride bytes, each:
 *                      struct rt_trace_worker
 *                      uint64_t site_suspends[sites_max]
 *                      struct rt_trace_record ring[ring_records]
 *
 * Always on: counters and the current-task words. Off until a tool sets
 * sites_enabled (or the runtime's config count_sites): per-site
 * suspension counts. Off until a tool sets events_enabled: one record
 * per task step, and one per loop turn that runs steps (its time).
 * Every field a worker writes has a single writer (that worker); the
 * blocking pool's counters (struct rt_trace_blocking) are the exception.
 */
#ifndef RTASYNC_TRACE_H
#define RTASYNC_TRACE_H

#include <stdint.h>

#include "rtasync.h"

#define RT_TRACE_MEMFD_NAME "rtasync-trace"
#define RT_TRACE_MAGIC 0x31434e5953415452ull	/* "RTASYNC1" */
/* 4: the memfd is sealed against resizing; struct rt_stats grew (wakes,
 * adoption and I/O counters), and with it each worker's area.
 * 5: per-op-kind I/O counters (struct rt_io_counts) end each worker's
 * struct rt_trace_worker.
 * 6: task_name_off, where a task's name pointer is (rt_task_set_name).
 * 7: per-site counts only while sites_enabled (was pad) or count_sites;
 * counters.suspends derived (rt_trace_suspends()).
 * 8: the name pointer moved out of the task, into the block its ext
 * pointer (task_ext_off) leads to.
 * 9: struct rt_trace_blocking ends the header: the blocking pool.
 * 10: counters.resumes per step again, counters.waits (struct rt_stats
 * grew); counters.yields stays 0, derived (rt_trace_yields()).
 * 11: records lost seq (24 bytes, was 32): a reader checks a copied
 * record against the ring's head instead (struct rt_trace_record).
 * 12: records are 16 bytes: a loop turn's time is a record of its own
 * (RT_TRACE_TURN) ahead of the turn's steps, whose index and worker the
 * reader knows from where it read them (turn_at replaces loop_ts). Site
 * ids are the same in every runtime of the process. */
#define RT_TRACE_VERSION 12

/*
 * The kinds of I/O operation counted in struct rt_io_counts, in this
 * order (RT_IO_KIND_NAMES). A listener's accept and a receive stream's
 * recv count once per arming of the (multishot or single-shot) SQE.
 */
enum rt_io_kind {
	RT_IO_READ, RT_IO_WRITE, RT_IO_RECV, RT_IO_SEND, RT_IO_READV,
	RT_IO_WRITEV, RT_IO_RECVMSG, RT_IO_SENDMSG, RT_IO_ACCEPT,
	RT_IO_CONNECT, RT_IO_CLOSE, RT_IO_SHUTDOWN, RT_IO_OPENAT, RT_IO_STATX,
	RT_IO_FSYNC, RT_IO_SPLICE, RT_IO_POLL, RT_IO_LISTEN, RT_IO_STREAM,
	RT_IO_SEND_ZC,
	RT_IO_KINDS
};

#define RT_IO_KIND_NAMES						\
	{ "read", "write", "recv", "send", "readv", "writev", "recvmsg",\
	  "sendmsg", "accept", "connect", "close", "shutdown", "openat",	\
	  "statx", "fsync", "splice", "poll", "listen", "stream", "send_zc" }

/* Room for kinds to come without moving what follows. */
#define RT_IO_KINDS_MAX 24

/*
 * Per op kind, on one worker: operations handed to its ring, finished
 * (their task resumed, or a source's SQE ended), and ASYNC_CANCELs sent
 * for them. The ring's CQ overflows are counters.cq_overflows.
 */
struct rt_io_counts {
	uint32_t kinds;			/* RT_IO_KINDS of the writer */
	uint32_t pad;
	uint64_t submitted[RT_IO_KINDS_MAX];
	uint64_t completed[RT_IO_KINDS_MAX];
	uint64_t cancelled[RT_IO_KINDS_MAX];
};

/* Why a task step ended: the reason field of a record. */
enum rt_trace_reason {
	RT_TRACE_DONE = 0,		/* the task completed */
	RT_TRACE_YIELD,
	RT_TRACE_SLEEP,
	RT_TRACE_JOIN,
	RT_TRACE_TRAMPOLINE,		/* unwound the C stack, runs on */
	RT_TRACE_WAIT,			/* some other op holds the wake-up */
	RT_TRACE_TURN = 255,		/* no step: a loop turn began */
};

/*
 * One record of a worker's ring: a loop turn began, or one task step of
 * that turn ended.
 *
 * A turn that runs tasks while events are on writes a turn record
 * (reason RT_TRACE_TURN, ts: CLOCK_MONOTONIC ns read as its first step
 * began, from the TSC where it can be: within 1 us, rtasync-trace.md;
 * site: the turn's number on this worker, counted from 0 and wrapping),
 * then one record per step in the order they ran: the task stepped (its
 * id: its address in the process), the await site it suspended at and
 * why the step ended. A step has its turn's time, and its index in the
 * turn is its distance from the turn record less one. A step's record is
 * published before its task can run on another worker.
 *
 * Ring position p (counted from 0) is slot p % ring_records. The worker,
 * the ring's only writer, fills the slot of position p only after it has
 * published head = p (a release), and publishes head = p + 1 once the
 * record is whole. A reader that read head = h (an acquire) copies any
 * position p < h, then (an acquire fence) reads head again: the copy is
 * whole if that head is still below p + ring_records, the position that
 * takes the same slot next.
 *
 * A reader that lost records tells the steps among them from the turns
 * by the turns' numbers. It starts from the last turn record, at turn_at
 * (struct rt_trace_worker): the turn after it is its number + 1.
 */
struct rt_trace_record {
	union {
		uint64_t task;	/* a step's task id */
		uint64_t ts;	/* a turn's time */
	};
	uint8_t reason;		/* enum rt_trace_reason */
	uint8_t pad[3];
	uint32_t site;		/* await site suspended at, 0: none; a
				   turn's: its number */
};

/*
 * An await site, numbered the first time a task of the process suspends
 * there, and described under that id in the table of every runtime of
 * the process before any record can name it. Id sites_max - 1 is every
 * site past the table's room: "(other sites)".
 */
struct rt_trace_site {
	char func[48];
	char file[76];
	uint32_t line;
};

struct rt_trace_worker {
	uint32_t tid;
	int32_t cpu;			/* pinned CPU, -1 when not pinned */
	uint64_t head;			/* records written so far */
	uint64_t turn_at;		/* position of the last turn record
					   written (struct rt_trace_record) */
	uint64_t turns;			/* loop turns so far: the worker's
					   heartbeat */
	/* This worker's sleeping tasks, for reading suspended tasks out of
	 * the process (task dump): the address of an array of task
	 * pointers, followed by its uint32_t length. */
	uint64_t timer_heap;
	/*
	 * Always-on counters. A step bumps resumes and nothing else;
	 * counters.suspends and counters.yields stay 0, derived by
	 * rt_trace_suspends() and rt_trace_yields().
	 */
	struct rt_stats counters;
	struct rt_io_counts io;		/* version 5 */
};

/*
 * rt_op_spawn_blocking's pool of threads (version 7). Unlike the rest of
 * the area these words have several writers, the pool's threads and the
 * tasks that hand it calls, each word bumped with an atomic add (threads
 * and max: stored under the pool's lock). In a call now: started -
 * completed; queued, not started yet: queued - started - skipped.
 */
struct rt_trace_blocking {
	uint64_t queued;		/* calls handed to the pool */
	uint64_t started;		/* calls whose function began */
	uint64_t completed;		/* ... and returned */
	uint64_t skipped;		/* calls dropped unstarted: their
					   task's wait had ended */
	uint32_t threads;		/* threads the pool started; they
					   live until rt_runtime_shutdown */
	uint32_t max;			/* the pool's size, 0: no pool yet */
};

struct rt_trace_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint32_t pid;
	uint32_t nworkers;
	uint32_t sites_max;
	uint32_t ring_records;		/* per worker, a power of two */
	uint64_t sites_offset;
	uint64_t workers_offset;
	uint64_t worker_stride;
	uint64_t ring_offset;		/* within a worker area */
	uint64_t site_counts_offset;	/* within a worker area */
	uint64_t area_size;
	uint32_t nsites;		/* ids 1..nsites are in use */
	/* set by tools: each recording tool adds 1 and takes it back, so
	 * non-zero means on */
	uint32_t events_enabled;
	uint32_t sample_shift;		/* record 1 step in 2^sample_shift */
	/* set by tools the same way: non-zero counts suspensions per await
	 * site (site_suspends[]) from the workers' next turn (version 7) */
	uint32_t sites_enabled;
	/*
	 * The task running on a worker now (NULL between steps) is the
	 * worker thread's thread-local rt__running, at this offset from the
	 * thread pointer (x86_64: the thread's fsbase). The eBPF observer
	 * reads it at every switch of a worker thread, so time the kernel
	 * takes from the worker is charged to the task, and the runtime
	 * pays nothing for it.
	 */
	int64_t running_tls_off;
	/* How tasks, sites and arena chunks are laid out, for following
	 * the running task and walking a suspended task's frames out of
	 * the process (task blocked, task dump). */
	uint32_t task_head_top_off;	/* offsetof(struct rt_task_head, top) */
	uint32_t task_head_site_off;	/* offsetof(struct rt_task_head, site) */
	uint32_t site_id_off;		/* offsetof(struct rt_site, id) */
	uint32_t task_result_off;
	uint32_t task_deadline_off;	/* CLOCK_MONOTONIC ns, while asleep */
	uint32_t chunk_hdr_size;	/* a chunk's first frame starts here */
	uint32_t chunk_caller_off;	/* caller pointer in the chunk header */
	uint64_t lib_anchor;		/* address of rt_runtime_new, to find
					   librtasync among the mappings */
	/*
	 * Fibers (rtasync-fiber.h), for walking a parked fiber's C stack
	 * beside the frames: a frame whose fn is fiber_fn is a struct
	 * rt_fiber_frame; the pointer at fiber_frame_fiber_off in it is its
	 * control block (NULL: not started), which lies at the top of the
	 * fiber's stack and holds, at fiber_sp_off, the stack pointer saved
	 * when the fiber parked (stale while the task runs) and at
	 * fiber_stack_lo_off the stack's lowest address. The parked
	 * context's rbp and return address are at that sp plus
	 * fiber_saved_fp_off and fiber_saved_pc_off: a frame-pointer walk
	 * starts there and ends at rbp 0. All 0 from a library without
	 * fibers (the header page is zero-filled).
	 */
	uint64_t fiber_fn;
	uint32_t fiber_frame_fiber_off;
	uint32_t fiber_sp_off;
	uint32_t fiber_stack_lo_off;
	uint32_t fiber_saved_fp_off;
	uint32_t fiber_saved_pc_off;
	/*
	 * Version 8: the task's name (rt_task_set_name()) is a pointer at
	 * task_name_off in the block whose address is at task_ext_off in
	 * the task. Either pointer is NULL until set; the name then points
	 * at a NUL-terminated string that never changes while the task
	 * lives (the block stays with the task; a task that ended may have
	 * left its block to the next task in the same memory).
	 */
	uint32_t task_name_off;
	uint32_t task_ext_off;
	struct rt_trace_blocking blocking;	/* version 9 */
};

/*
 * Suspensions, derived: every step ends in a suspension, a completion
 * or a trampoline, and a task cancelled before its first step completes
 * without one. Read while workers run, the counters are not one snapshot
 * (and a tool reads them from a process it does not trust): the result
 * is clamped at 0 rather than wrapping.
 */
static inline uint64_t rt_trace_suspends(const struct rt_stats *st)
{
	uint64_t ended = st->trampolines, done = st->completed;

	done -= st->unstarted < done ? st->unstarted : done;
	if (ended > UINT64_MAX - done)
		return 0;
	ended += done;
	return st->resumes > ended ? st->resumes - ended : 0;
}

/* Yields: the suspensions that were not waits. Clamped the same way. */
static inline uint64_t rt_trace_yields(const struct rt_stats *st)
{
	uint64_t s = rt_trace_suspends(st);

	return s > st->waits ? s - st->waits : 0;
}

#endif /* RTASYNC_TRACE_H */

/* SPDX-License-Identifier: MIT */
/*
 * task_area.h - a live librtasync process as rtasync-trace's task commands
 * see it: its trace areas (include/rtasync-trace.h), mapped from
 * /proc/PID/fd, and its memory, read with process_vm_readv().
 *
 * Nothing here stops, wakes or signals the target: the areas are shared
 * memory the runtime writes anyway, and the event rings are drained
 * lazily, whenever the tool gets round to it.  Functions return 0 or a
 * negative errno; the errors that mean something to a user have their
 * own exit codes (task_area_error()).
 */
#ifndef RTASYNC_TASK_AREA_H
#define RTASYNC_TASK_AREA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rtasync-trace.h"

/*
 * Exit codes of the task commands beyond enum trace_exit (trace.h);
 * documented with the others in Documentation/rtasync-trace.md.
 */
enum {
	TASK_EXIT_NO_RUNTIME = 7,	/* the process has no trace area */
	TASK_EXIT_VERSION = 8,		/* an area of another layout version */
};

/* One runtime per area; a process rarely has more than one or two. */
#define TASK_MAX_AREAS 16

/*
 * The target writes the area while we read it, and may write anything:
 * the layout is read once into h and checked against the mapping, and
 * every reader takes offsets and counts from h alone.  The live header
 * (task_area_live()) is read only for what changes by design: nsites,
 * events_enabled, sample_shift.
 */
struct task_area {
	int fd;				/* its number in the target */
	struct rt_trace_header h;	/* the layout, snapshot, checked */
	const char *map;		/* the area, mapped read-only */
	struct rt_trace_header *ctl;	/* its header page mapped writable,
					   for commands that switch events */
	size_t size;			/* of map */
};

/* Why an area was refused, for the message (task_proc_error()). */
enum task_refusal {
	TASK_REFUSED_NONE,
	TASK_REFUSED_VERSION,		/* another layout version */
	TASK_REFUSED_LAYOUT,		/* offsets or counts out of bounds */
	TASK_REFUSED_UNSEALED,		/* its size could change under us */
	TASK_REFUSED_NOT_MEMFD,		/* the fd is not the area any more */
};

struct task_proc {
	pid_t pid;
	int pidfd;			/* -1 without pidfds */
	bool rw;			/* may switch events */
	bool denied;			/* some fd could not be inspected
					   (listing them was allowed) */
	int nareas;
	struct task_area areas[TASK_MAX_AREAS];
	uint32_t version;		/* of a rejected area, for messages */
	enum task_refusal refusal;
	/*
	 * Site ids are per copy of librtasync (its areas share a counter;
	 * another copy in the process has its own): area i's id k is the
	 * tool's site k + site_base[i], areas of one copy (the same
	 * lib_anchor) sharing a base.  nsite_ids: all of them.
	 */
	uint32_t site_base[TASK_MAX_AREAS];
	uint32_t nsite_ids;
};

/*
 * Find and map every trace area of process pid.  Errors: -ESRCH no such
 * process, -ENOENT no area (not linked with librtasync, or no runtime),
 * -EPROTO an area refused (p->refusal says why), -EACCES/-EPERM not
 * allowed to look (another user's process: Documentation/rtasync-trace.md
 * lists the capabilities).
 */
int task_proc_open(struct task_proc *p, pid_t pid, bool rw);
void task_proc_close(struct task_proc *p);
/* Worker threads of all its runtimes. */
size_t task_proc_nworkers(const struct task_proc *p);
/* A pidfd for pid (pidfd_open(2)); -1 and errno if none. */
int task_pidfd_open(pid_t pid);

/* ---- reading an area -------------------------------------------------- */

/* The header as the target writes it now: only for its changing fields. */
static inline const struct rt_trace_header *task_area_live(const struct task_area *a)
{
	return (const struct rt_trace_header *)a->map;
}

static inline const char *task_worker_base(const struct task_area *a,
					   unsigned int w)
{
	return a->map + a->h.workers_offset + w * a->h.worker_stride;
}

static inline const struct rt_trace_worker *task_worker(const struct task_area *a,
							unsigned int w)
{
	return (const struct rt_trace_worker *)task_worker_base(a, w);
}

static inline const uint64_t *task_site_counts(const struct task_area *a,
					       unsigned int w)
{
	return (const uint64_t *)(task_worker_base(a, w) +
				  a->h.site_counts_offset);
}

/* Highest site id that may be in use in this area's table. */
uint32_t task_area_nsites(const struct task_area *a);
/* Worker w's counters and tid, each field read once (racy by design). */
void task_worker_read(const struct task_area *a, unsigned int w,
		      struct rt_stats *st, uint32_t *tid, int32_t *cpu);

/*
 * The runtime's blocking pool (rt_op_spawn_blocking), each word read once
 * from the live header (racy by design: several threads write them).
 * The words are the target's: derive from them with saturating
 * arithmetic (task_blocking_running(), task_blocking_waiting()).
 */
void task_blocking_read(const struct task_area *a, struct rt_trace_blocking *b);
/* Calls in their function now; calls queued and not started yet. */
uint64_t task_blocking_running(const struct rt_trace_blocking *b);
uint64_t task_blocking_waiting(const struct rt_trace_blocking *b);

/*
 * An await site by the tool's id (task_site_gid()), described by
 * whichever area of its library copy has it.  "?" fields for an id
 * nobody described yet.
 */
struct task_site_desc {
	char func[sizeof(((struct rt_trace_site *)0)->func)];
	char file[sizeof(((struct rt_trace_site *)0)->file)];
	uint32_t line;
};
void task_site_describe(const struct task_proc *p, uint32_t id,
			struct task_site_desc *d);
/* "func (file:line)" in buf, or "(no await site)" for id 0. */
const char *task_site_label(const struct task_proc *p, uint32_t id,
			    char *buf, size_t len);
/* Just the file name of a path, as the tables print it. */
const char *task_basename(const char *path);
/* The tool's site id for area's id (0..sites_max-1; larger: the area's 0). */
uint32_t task_site_gid(const struct task_proc *p, unsigned int area,
		       uint32_t id);
/* Site ids of the process, all copies of librtasync: 0..this-1. */
uint32_t task_proc_sites_max(const struct task_proc *p);
/* Sum of the per-site suspension counts over all areas and workers. */
void task_proc_site_counts(const struct task_proc *p, uint64_t *counts,
			   uint32_t n);

/* ---- event rings --------------------------------------------------------- */

/* Where a reader is in one worker's ring, and what it found. */
struct task_ring {
	uint64_t next;		/* ring position to read next */
	uint64_t records;	/* whole step records read */
	uint64_t dropped;	/* steps lost: overwritten before they were
				   read, or with their turn's record */
	uint64_t gap;		/* of those, not yet reported to a reader */
	uint64_t lost;		/* records lost since the last turn record
				   read: steps and turns, told apart at the
				   next (ring_read()) */
	uint64_t turn_ts;	/* the last turn record read: its time, */
	uint64_t turn_pos;	/* position */
	uint32_t turn_no;	/* and number */
	bool numbered;		/* turn_no is known: the one before next */
	bool in_turn;		/* the records since are that turn's */
};

/* Start reading at the ring's current head: only records from now on,
 * counted exactly (the number of the turn before it, from turn_at). */
void task_ring_start(const struct task_area *a, unsigned int w,
		     struct task_ring *r);

/* A step's record as read: its turn's time, its fields and its place. */
struct task_record {
	uint64_t seq;		/* ring position + 1 */
	uint64_t ts;
	uint64_t task;
	uint32_t site;
	uint8_t reason;
	uint8_t step;
	uint16_t worker;
};

/* gap: records of the same ring lost just before this one (0 mostly) */
typedef void (*task_record_fn)(void *ctx, unsigned int area,
			       const struct task_record *rec, uint64_t gap);
/*
 * Read every record published since r->next, oldest first; call fn for
 * each whole one.  A record overwritten before or while it was copied
 * (the ring's head had moved a whole lap past it) counts as dropped and
 * is never handed out, so records come out exactly once, in order; the
 * next record handed out says how many were lost before it.
 */
void task_ring_drain(const struct task_area *a, unsigned int area,
		     unsigned int w, struct task_ring *r, task_record_fn fn,
		     void *ctx);

/* A reader of every ring of a process: all areas, all workers. */
struct task_rings {
	size_t n;
	struct task_ring *r;	/* area by area, worker by worker */
};

int task_rings_start(struct task_rings *rs, const struct task_proc *p);
/*
 * Drain every ring, and hand out the records of this drain in the order
 * their steps ran, as near as the records tell: by loop turn, ties in
 * ring order.  (A task resumed on another worker has its two steps in
 * two rings.)
 */
void task_rings_drain(struct task_rings *rs, const struct task_proc *p,
		      task_record_fn fn, void *ctx);
/* Sums over all rings. */
void task_rings_count(const struct task_rings *rs, uint64_t *records,
		      uint64_t *dropped);
void task_rings_free(struct task_rings *rs);

/* --sample at most: 1 step in 2^20. */
#define TASK_MAX_SAMPLE_SHIFT 20

/*
 * Switch event records on in every area (rw mapping).  events_enabled
 * counts the tools recording, so one tool's exit does not cut another
 * short; a different sample_shift already in force is kept (and
 * returned), since records already in flight were sampled by it.
 */
void task_events_on(struct task_proc *p, uint32_t sample_shift,
		    uint32_t *shift_used);
void task_events_off(struct task_proc *p);
/*
 * Per-site suspension counts on in every area (rw mapping), counted the
 * same way (sites_enabled): the workers count from their next turn, so
 * sites show what happened while some tool watched, unless the target
 * runs with count_sites (RTASYNC_COUNT_SITES=1) and counts always.
 */
void task_sites_on(struct task_proc *p);
void task_sites_off(struct task_proc *p);

/* ---- the target's memory --------------------------------------------------- */

/* len bytes at addr of process pid: 0, -EFAULT if not all readable. */
int task_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
/* A NUL-terminated string at addr, truncated to len - 1 bytes. */
int task_mem_read_str(pid_t pid, uint64_t addr, char *buf, size_t len);

uint64_t task_mono_ns(void);

#endif /* RTASYNC_TASK_AREA_H */

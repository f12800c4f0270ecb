/* SPDX-License-Identifier: MIT */
/*
 * task_dump.h - `task dump`: the async stacks of a live process's
 * suspended tasks, read from its memory without stopping it.
 *
 * Where the tasks are found: each worker's timer heap (the sleeping
 * tasks; its address is in the trace area), and, if event records are
 * on, the tasks whose latest record says they suspended.  For each, the
 * innermost frame (h.top) and the caller links up to the root, and the
 * await site it waits at (h.site).  The process runs on meanwhile, so a
 * task may wake, move or end while it is read: every pointer and length
 * is checked, the task's head is read again after the walk, and a task
 * that changed is skipped and counted, never shown half-read.  A fiber
 * among the frames has its parked C stack walked too (task_fiber.h).
 */
#ifndef RTASYNC_TASK_DUMP_H
#define RTASYNC_TASK_DUMP_H

#include <stdio.h>

#include "json_writer.h"
#include "task_area.h"
#include "task_fiber.h"
#include "task_syms.h"

enum task_dump_source {
	TASK_DUMP_TIMER,	/* in a worker's timer heap: sleeping */
	TASK_DUMP_EVENTS,	/* latest event record: suspended */
};

struct task_dump_frame {
	uint64_t addr;		/* the frame */
	uint64_t fn;		/* its async function */
	int32_t resume;		/* resume label offset, 0: not started */
	uint16_t flags;		/* RT_FRAME_* */
	struct task_sym sym;	/* of fn */
};

/*
 * Bytes of a task's name shown at most: the runtime keeps 31, and a
 * hostile process could point at a string of any length.
 */
#define TASK_DUMP_NAME_MAX 32

enum task_dump_name {
	TASK_NAME_NONE,		/* never named */
	TASK_NAME_SET,		/* in name, cut at TASK_DUMP_NAME_MAX bytes */
	TASK_NAME_UNREADABLE,	/* the pointer leads nowhere readable */
};

struct task_dump_task {
	uint64_t task;
	enum task_dump_name name_state;
	char name[TASK_DUMP_NAME_MAX + 1];
	enum task_dump_source source;
	unsigned int area, worker;	/* whose heap, or whose record */
	uint32_t site_id;		/* 0: not at an await */
	char func[128], file[256];	/* the site, read from the process */
	uint32_t line;
	size_t depth;			/* frames to the root */
	size_t nframes;			/* of those, kept (--depth) */
	struct task_dump_frame *frames;	/* innermost first */
	/* the C stack of the innermost fiber among the frames kept, NULL
	 * if none (or not started) */
	struct task_fiber_stack *fiber;
};

struct task_dump {
	size_t ntasks;
	struct task_dump_task *tasks;
	uint64_t sleeping, from_events;	/* tasks shown, by source */
	uint64_t skipped;		/* changed or unreadable while read */
	uint64_t heap_errors;		/* heaps that could not be read */
	uint64_t loops;			/* of the skipped: chains that loop
					   or pass TASK_DUMP_MAX_WALK */
	bool timed_out;			/* stopped at the time budget */
};

/* Frames walked per task at most: a longer chain is taken for a loop. */
#define TASK_DUMP_MAX_WALK 65536

/*
 * Keeps at most depth frames per task (up to TASK_DUMP_MAX_WALK are
 * walked and counted).  The target controls every pointer followed, so
 * the walk stops at budget_ns of CLOCK_MONOTONIC time, whatever it
 * found: what was read by then is the dump, d->timed_out says so.
 */
int task_dump_collect(struct task_dump *d, const struct task_proc *p,
		      struct task_syms *syms, unsigned int depth,
		      uint64_t budget_ns);
void task_dump_free(struct task_dump *d);

void task_dump_table(FILE *out, const struct task_dump *d,
		     const struct task_proc *p);
void task_dump_json(struct json_writer *jw, const struct task_dump *d,
		    const struct task_proc *p);

#endif /* RTASYNC_TASK_DUMP_H */

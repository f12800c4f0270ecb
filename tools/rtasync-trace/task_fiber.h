/* SPDX-License-Identifier: MIT */
/*
 * task_fiber.h - a parked fiber's C stack, for `task dump`: the saved
 * context's return address, then the frame-pointer chain from its saved
 * rbp, read out of the live process and symbolized.
 *
 * Where things are comes from the trace header (fiber_* fields of
 * include/rtasync-trace.h): the fiber's control block at the top of its
 * stack, the saved stack pointer and the stack's lowest address in it.
 * The process chose every word followed, so each read is bounded and
 * checked against that stack: a frame pointer must lie above the saved
 * stack pointer and above the last one, below the control block, and be
 * aligned; the walk stops at the first that is not, at rbp 0 (the
 * fiber's base), after TASK_FIBER_MAX_FRAMES, or at the deadline.
 */
#ifndef RTASYNC_TASK_FIBER_H
#define RTASYNC_TASK_FIBER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rtasync-trace.h"
#include "task_syms.h"

#define TASK_FIBER_MAX_FRAMES 64

struct task_cframe {
	uint64_t pc;		/* a return address (the first: the switch's) */
	struct task_sym sym;	/* of pc - 1: the call, not what follows it */
};

struct task_fiber_stack {
	uint64_t fiber;		/* its control block */
	uint64_t sp, stack_lo;
	bool truncated;		/* stopped before rbp 0: see above */
	size_t nframes;
	struct task_cframe frames[TASK_FIBER_MAX_FRAMES];	/* innermost first */
};

/*
 * The C stack of the fiber whose struct rt_fiber_frame is at frame:
 * 0 and *out allocated (free() it), 0 and *out NULL for a fiber not
 * started, -EAGAIN if its control block or saved context is unreadable
 * or out of its stack, -ENOMEM.
 */
int task_fiber_walk(pid_t pid, const struct rt_trace_header *h, uint64_t frame,
		    struct task_syms *syms, uint64_t deadline_ns,
		    struct task_fiber_stack **out);

#endif /* RTASYNC_TASK_FIBER_H */

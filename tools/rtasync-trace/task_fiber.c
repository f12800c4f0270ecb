// SPDX-License-Identifier: MIT
/*
 * task_fiber.c - walks a parked fiber's C stack out of a live process
 * (see task_fiber.h).
 *
 * x86_64 frames with frame pointers: [rbp] is the caller's rbp, [rbp + 8]
 * the return address into the caller. The parked context's rbp and return
 * address sit at fixed offsets from the saved stack pointer
 * (runtime/arch/x86_64/fiber.h), and a fiber's first frame has
 * rbp 0 (rt_arch_fiber_stack_init()). Code built without frame pointers
 * leaves rbp alone or uses it for data: the checks below end the walk
 * there rather than follow it.
 */
#include <errno.h>
#include <stdlib.h>

#include "task_area.h"
#include "task_fiber.h"

#define CLOCK_EVERY 16		/* frames between looks at the clock */

struct fiber_ctx {
	pid_t pid;
	uint64_t lo, hi;	/* a frame's 16 bytes lie within [lo, hi) */
};

static int read_word(const struct fiber_ctx *c, uint64_t addr, uint64_t *v)
{
	return task_mem_read(c->pid, addr, v, sizeof(*v));
}

/* A frame pointer the walk may follow: above the last, in the stack. */
static bool fp_ok(const struct fiber_ctx *c, uint64_t fp, uint64_t above)
{
	return !(fp & 7) && fp > above && fp >= c->lo && fp < c->hi &&
	       c->hi - fp >= 16;
}

static void keep_pc(struct task_fiber_stack *s, struct task_syms *syms,
		    uint64_t pc)
{
	struct task_cframe *f = &s->frames[s->nframes++];

	f->pc = pc;
	task_syms_lookup(syms, pc - 1, &f->sym);
	if (f->sym.name)
		f->sym.offset++;
}

/* Control block, saved sp and stack floor, each checked against the rest. */
static int fiber_locate(const struct fiber_ctx *c0,
			const struct rt_trace_header *h, uint64_t frame,
			struct task_fiber_stack *s, struct fiber_ctx *c)
{
	uint32_t saved_end = (h->fiber_saved_pc_off > h->fiber_saved_fp_off ?
			      h->fiber_saved_pc_off : h->fiber_saved_fp_off) + 8;

	if (read_word(c0, frame + h->fiber_frame_fiber_off, &s->fiber))
		return -EAGAIN;
	if (!s->fiber)
		return 0;
	/* struct rt_fiber is 64-aligned, and the stack lies below it */
	if ((s->fiber & 63) ||
	    read_word(c0, s->fiber + h->fiber_sp_off, &s->sp) ||
	    read_word(c0, s->fiber + h->fiber_stack_lo_off, &s->stack_lo) ||
	    (s->sp & 7) || s->sp < s->stack_lo || s->sp >= s->fiber ||
	    s->fiber - s->sp < saved_end)
		return -EAGAIN;
	*c = (struct fiber_ctx){ c0->pid, s->stack_lo, s->fiber };
	return 0;
}

static void fiber_frames(const struct fiber_ctx *c,
			 const struct rt_trace_header *h,
			 struct task_fiber_stack *s, struct task_syms *syms,
			 uint64_t deadline_ns)
{
	uint64_t pc, fp, above = s->sp, next[2];

	s->truncated = true;
	if (read_word(c, s->sp + h->fiber_saved_pc_off, &pc) ||
	    read_word(c, s->sp + h->fiber_saved_fp_off, &fp))
		return;
	while (s->nframes < TASK_FIBER_MAX_FRAMES) {
		keep_pc(s, syms, pc);
		if (!fp) {
			s->truncated = false;	/* the fiber's base */
			return;
		}
		if (!fp_ok(c, fp, above) ||
		    (!(s->nframes % CLOCK_EVERY) && task_mono_ns() >= deadline_ns) ||
		    task_mem_read(c->pid, fp, next, sizeof(next)))
			return;
		above = fp;
		fp = next[0];
		pc = next[1];
	}
}

int task_fiber_walk(pid_t pid, const struct rt_trace_header *h, uint64_t frame,
		    struct task_syms *syms, uint64_t deadline_ns,
		    struct task_fiber_stack **out)
{
	struct fiber_ctx c0 = { pid, 0, 0 }, c;
	struct task_fiber_stack *s;
	int err;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	err = fiber_locate(&c0, h, frame, s, &c);
	if (err || !s->fiber) {
		free(s);
		return err;
	}
	fiber_frames(&c, h, s, syms, deadline_ns);
	*out = s;
	return 0;
}

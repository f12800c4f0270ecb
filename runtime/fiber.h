/* SPDX-License-Identifier: MIT */
/*
 * Private side of fibers (runtime/fiber.c, fiber_stack.c, fiber_guard.c).
 *
 * A fiber's state lives at the top of its own stack mapping, so a fiber
 * is one mmap and nothing else:
 *
 *   map                      stack_lo                       top   map end
 *   | guard (PROT_NONE)      | stack, grows down <- ... sp  | struct rt_fiber |
 */
#ifndef RT_FIBER_H
#define RT_FIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtasync.h"

struct rt_runtime;
struct rt_worker;

/* Address space below each stack that faults on touch: deep enough that a
 * function with a few KiB of locals does not step over it. */
#define RT_FIBER_GUARD (64u << 10)
#define RT_FIBER_STACK_DEFAULT (256u << 10)
#define RT_FIBER_STACK_MIN (16u << 10)
#define RT_FIBER_STACK_MAX (1u << 30)

struct rt_fiber {
	void *sp;		/* saved stack pointer, while suspended */
	void *ret_sp;		/* the context that resumed it, while running */
	struct rt_task *task;
	struct rt_fiber_frame *frame;	/* the async frame that runs it */
	int64_t result;
	char *map;		/* the mapping: guard, stack, this struct */
	size_t map_size;
	char *stack_lo;		/* lowest usable byte, just above the guard */
	size_t stack_size;	/* usable bytes asked for */
	char *stack_limit;	/* stackless calls trampoline below this */
	struct rt_fiber *next;	/* free list of the stack pool */
	uint32_t in_async;	/* inside rt_call_async's direct call */
	bool done;
	bool share_fpenv;	/* switches leave MXCSR/x87 CW alone */
	unsigned int valgrind_id;
	/* sanitizers: the stack that switched in, to switch back to it */
	void *asan_fake;
	const void *from_bottom;
	size_t from_size;
	void *tsan_fiber;
	void *tsan_from;
} __attribute__((aligned(64)));

/* The fiber running on this thread, NULL on a worker's own stack. */
extern __thread struct rt_fiber *rt__fiber_now
	__attribute__((tls_model("initial-exec")));

/* fiber_stack.c: the pool */
size_t rt_fiber_stack_round(size_t asked);
size_t rt_fiber_stack_size(struct rt_runtime *rt, size_t asked);
struct rt_fiber *rt_fiber_stack_get(struct rt_runtime *rt,
				    struct rt_worker *w, size_t size);
void rt_fiber_stack_put(struct rt_runtime *rt, struct rt_worker *w,
			struct rt_fiber *fb);
void rt_fiber_cache_free(struct rt_worker *w);
void rt_fiber_depot_init(struct rt_runtime *rt);
void rt_fiber_depot_destroy(struct rt_runtime *rt);

/* fiber_guard.c: overflow reports */
int rt_fiber_guard_install(void);
int rt_fiber_altstack_init(struct rt_worker *w);
void rt_fiber_altstack_free(struct rt_worker *w);

#endif /* RT_FIBER_H */

/* SPDX-License-Identifier: MIT */
/*
 * x86_64 side of the fiber context switch: the saved-context layout of
 * fiber_switch.S and how a new stack is made to look like a suspended one.
 * The generic code (runtime/fiber.c) uses only what is declared here.
 */
#ifndef RT_ARCH_X86_64_FIBER_H
#define RT_ARCH_X86_64_FIBER_H

#include <stdint.h>
#include <string.h>

/* Switch stacks: save this side's context, *save_sp = its stack pointer,
 * resume the context saved at to_sp. Returns when switched back to. */
void rt__fiber_switch(void **save_sp, void *to_sp);
/* The same, leaving MXCSR and the x87 control word as they are. */
void rt__fiber_switch_nofp(void **save_sp, void *to_sp);
void rt__fiber_start(void);

/* Where a suspended context keeps rbp and its return address, from the
 * saved stack pointer (fiber_switch.S): a frame-pointer walk starts here. */
#define RT_ARCH_FIBER_SAVED_FP_OFF 48
#define RT_ARCH_FIBER_SAVED_PC_OFF 56

/* Power-on MXCSR (all exceptions masked, round to nearest) and x87
 * control word (extended precision, all masked): what a new thread has. */
#define RT_ARCH_MXCSR_INIT 0x1f80u
#define RT_ARCH_FPCW_INIT 0x037fu

/*
 * Lay out at the top of a fresh stack (top 16-aligned) a context that
 * rt__fiber_switch resumes into rt__fiber_start, which calls entry(arg)
 * with the stack aligned as the ABI wants at a call (rsp % 16 == 0 before
 * the call). Returns the stack pointer to switch to.
 */
static inline void *rt_arch_fiber_stack_init(char *top, void (*entry)(void *),
					     void *arg)
{
	/* sp[0] MXCSR|FPCW, sp[1..5] r12 r13 r14 r15 rbx, sp[6] rbp,
	 * sp[7] return address; rsp = top after the jump, 16-aligned */
	uint64_t *sp = (uint64_t *)top - 8;
	uint32_t mx = RT_ARCH_MXCSR_INIT;
	uint16_t cw = RT_ARCH_FPCW_INIT;

	memset(sp, 0, 8 * sizeof(*sp));
	memcpy(&sp[0], &mx, sizeof(mx));
	memcpy((char *)&sp[0] + 4, &cw, sizeof(cw));
	sp[1] = (uint64_t)(uintptr_t)arg;	/* r12 */
	sp[2] = (uint64_t)(uintptr_t)entry;	/* r13 */
	/* rbp = 0 ends a frame-pointer walk at the fiber's base */
	sp[7] = (uint64_t)(uintptr_t)rt__fiber_start;
	return sp;
}

#endif /* RT_ARCH_X86_64_FIBER_H */

/* SPDX-License-Identifier: MIT */
/*
 * x86_64 side of the fiber context switch: the switch itself, the
 * saved-context layout that tools read, and how a new stack is made to
 * look like a suspended one. The generic code (runtime/fiber.c) uses only
 * what is declared here.
 *
 * The switch is inline asm, not a function, and that is the point of it.
 * A switch that is called pushes a return address on the CPU's return
 * stack predictor and jumps away, and the code on the other stack then
 * returns through frames the predictor never saw: every return after a
 * switch mispredicts, on both sides. Inline, a switch neither pushes nor
 * pops: when one side returns from nothing between two of its switches
 * (the worker's batch loop, runtime/fiber_step.h; a bare switch loop),
 * the other side's returns find their own entries. Measured on the 2-vCPU EPYC VM (Documentation/
 * benchmarks.md, fiber): a round trip of two inline switches 2.3 ns
 * with no return between them, 4-7 ns with returns through 1-3 frames on
 * one side only, 23-28 ns once both sides return through a frame (the
 * called switch of before: 10-16 ns with no returns, 28-37 with them).
 *
 * What the switch keeps is what a call keeps under the System V ABI: the
 * asm saves rbp, the resume address, MXCSR and the x87 control word
 * (their control bits are callee-saved: a fiber that changes the
 * rounding mode must not change it for the worker) and names every
 * other register as clobbered, so the compiler saves the callee-saved
 * ones it has live, once, in the function's prologue, and spills what
 * the caller-saved ones hold, as around a call.
 */
#ifndef RT_ARCH_X86_64_FIBER_H
#define RT_ARCH_X86_64_FIBER_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A new fiber's first switch lands here (fiber_switch.S). */
void rt__fiber_start(void);

/*
 * The saved context, from the saved stack pointer upward:
 *   sp+0    MXCSR (4 bytes), x87 control word (2), 2 unused
 *   sp+8    rbp
 *   sp+16   resume address (just past the switch's jump)
 *   sp+24   128 bytes skipped: the red zone of the function that switched
 * A frame-pointer walk of a parked fiber starts at rbp and the resume
 * address (tools read these offsets from the trace area).
 */
#define RT_ARCH_FIBER_SAVED_FP_OFF 8
#define RT_ARCH_FIBER_SAVED_PC_OFF 16
#define RT_ARCH_FIBER_CTX_SIZE (24 + 128)

/* Power-on MXCSR (all exceptions masked, round to nearest) and x87
 * control word (extended precision, all masked): what a new thread has. */
#define RT_ARCH_MXCSR_INIT 0x1f80u
#define RT_ARCH_FPCW_INIT 0x037fu

#ifdef __AVX512F__
#define RT_ARCH_FIBER_CLOBBER_AVX512					\
	"xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",	\
	"xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",	\
	"xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7",
#else
#define RT_ARCH_FIBER_CLOBBER_AVX512
#endif

/* Everything but rsp and rbp (the asm's own) and rdi, rsi, rdx (its
 * operands). */
#define RT_ARCH_FIBER_CLOBBERS						\
	"rax", "rbx", "rcx", "r8", "r9", "r10", "r11",			\
	"r12", "r13", "r14", "r15",					\
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",	\
	"xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",	\
	"xmm15", RT_ARCH_FIBER_CLOBBER_AVX512				\
	"st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)",	\
	"st(7)", "memory", "cc"

/*
 * One switch; fp_save and fp_load are the FP control words' part or
 * empty, and fpw (in rdx) what fp_save may store instead of reading the
 * words. The resume address is loaded before the FP loads so that the
 * jump's target is known early.
 */
#define RT_ARCH_FIBER_SWITCH(save_sp, to_sp, fpw, fp_save, fp_load)	\
	__asm__ volatile(						\
		"leaq	-128(%%rsp), %%rsp\n\t"			\
		"leaq	1f(%%rip), %%rax\n\t"				\
		"pushq	%%rax\n\t"					\
		"pushq	%%rbp\n\t"					\
		"leaq	-8(%%rsp), %%rsp\n\t"				\
		fp_save							\
		"movq	%%rsp, (%0)\n\t"				\
		"movq	%1, %%rsp\n\t"				\
		"movq	16(%%rsp), %%rax\n\t"				\
		fp_load							\
		"movq	8(%%rsp), %%rbp\n\t"				\
		"leaq	152(%%rsp), %%rsp\n\t"			\
		"jmpq	*%%rax\n"					\
		"1:"							\
		: "+D"(save_sp), "+S"(to_sp), "+d"(fpw)			\
		: : RT_ARCH_FIBER_CLOBBERS)

/*
 * Save this side's context, *save_sp = its stack pointer, resume the
 * context saved at to_sp; comes back here when switched to. fp: keep
 * MXCSR and the x87 control word (the default); false leaves them as
 * they are (config fiber_share_fpenv; both directions of one fiber's
 * switches must agree). stmxcsr is the one costly instruction (4-5 ns
 * on the EPYC VM, microcoded; the other three ~0.7 ns each); skipping
 * the loads when the words are unchanged was slower (the compare waits
 * on it).
 */
static inline __attribute__((always_inline)) void
rt_arch_fiber_switch(void **save_sp, void *to_sp, bool fp)
{
	uint64_t unused = 0;

	if (fp)
		RT_ARCH_FIBER_SWITCH(save_sp, to_sp, unused,
				     "stmxcsr (%%rsp)\n\tfnstcw 4(%%rsp)\n\t",
				     "ldmxcsr (%%rsp)\n\tfldcw 4(%%rsp)\n\t");
	else
		RT_ARCH_FIBER_SWITCH(save_sp, to_sp, unused, "", "");
}

/* MXCSR and the x87 control word as a saved context holds them (sp+0). */
static inline uint64_t rt_arch_fpenv_read(void)
{
	uint32_t mx;
	uint16_t cw;

	__asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mx), "=m"(cw));
	return mx | (uint64_t)cw << 32;
}

/*
 * rt_arch_fiber_switch(fp true) from a side whose FP control words are
 * already known: fpw (rt_arch_fpenv_read()'s form) is saved as this
 * side's words instead of reading them, so the switch has no stmxcsr.
 * The other side keeps the words as always: when it switches back it
 * saves its own and loads fpw. The loads here stay unconditional:
 * skipping them when the other side's words equal fpw (a compare and a
 * branch, no stmxcsr to wait on) made the round trip slower, 11.0 ns
 * against 8.1.
 */
static inline __attribute__((always_inline)) void
rt_arch_fiber_switch_known(void **save_sp, void *to_sp, uint64_t fpw)
{
	RT_ARCH_FIBER_SWITCH(save_sp, to_sp, fpw, "movq %%rdx, (%%rsp)\n\t",
			     "ldmxcsr (%%rsp)\n\tfldcw 4(%%rsp)\n\t");
}

/*
 * Lay out at the top of a fresh stack (top 16-aligned) a context that
 * rt_arch_fiber_switch resumes into rt__fiber_start, which calls
 * entry(arg) with the stack aligned as the ABI wants at a call (rsp % 16
 * == 0 before the call). Returns the stack pointer to switch to.
 */
static inline void *rt_arch_fiber_stack_init(char *top, void (*entry)(void *),
					     void *arg)
{
	/* the switch leaves rsp at sp + RT_ARCH_FIBER_CTX_SIZE = top - 16,
	 * where rt__fiber_start finds arg and entry */
	uint64_t *sp = (uint64_t *)(top - 16 - RT_ARCH_FIBER_CTX_SIZE);
	uint64_t *start = (uint64_t *)(top - 16);
	uint32_t mx = RT_ARCH_MXCSR_INIT;
	uint16_t cw = RT_ARCH_FPCW_INIT;

	memset(sp, 0, 24);
	memcpy(&sp[0], &mx, sizeof(mx));
	memcpy((char *)&sp[0] + 4, &cw, sizeof(cw));
	/* rbp = 0 ends a frame-pointer walk at the fiber's base */
	sp[2] = (uint64_t)(uintptr_t)rt__fiber_start;
	start[0] = (uint64_t)(uintptr_t)arg;
	start[1] = (uint64_t)(uintptr_t)entry;
	return sp;
}

#endif /* RT_ARCH_X86_64_FIBER_H */

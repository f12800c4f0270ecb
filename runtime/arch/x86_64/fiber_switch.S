/* SPDX-License-Identifier: MIT */
/*
 * x86_64 fiber context switch (System V ABI).
 *
 * void rt__fiber_switch(void **save_sp, void *to_sp)
 *
 * To the code on either side this is an ordinary call: it keeps what the
 * ABI says a callee keeps and nothing more. That is rbx, rbp, r12-r15, the
 * stack pointer, and the control bits of MXCSR and of the x87 control
 * word (a fiber that changes the rounding mode must not change it for
 * the worker it switches to). Everything else is caller-saved, so the
 * compiler has already spilled what it needs.
 *
 * The saved context is the top of the suspended stack (layout in
 * fiber.h, which tools read to walk a parked fiber's frames):
 *   sp+0   MXCSR (4 bytes), x87 control word (2 bytes), 2 unused
 *   sp+8   r12, r13, r14, r15, rbx
 *   sp+48  rbp
 *   sp+56  return address
 * Plain moves rather than pushes and pops, as Boost.Context's fcontext
 * does: fewer stack-pointer updates for the stack engine to track.
 *
 * Best of 40 interleaved runs of 200k round trips on the (loaded) 2-vCPU
 * EPYC VM: 23.6 ns with pushes, pops and ret; 13.3 with an indirect jump
 * instead of ret; 11-12 with moves and the target loaded early (Boost's
 * fcontext 11-12 in the same runs). Skipping the MXCSR/x87 loads when
 * unchanged was slower (13-14: the compare waits on stmxcsr). stmxcsr is
 * the one costly instruction, and the ABI makes MXCSR's control bits
 * callee-saved; so there are two switches:
 *
 *   rt__fiber_switch       keeps the FP control words (the default);
 *   rt__fiber_switch_nofp  leaves them alone, for fibers that share their
 *                          worker's floating-point modes (config
 *                          fiber_share_fpenv; what Boost.Context's
 *                          jump_fcontext did with preserve_fpu = false).
 *
 * Both keep the same layout (the nofp one leaves the first slot as it
 * was), so tools walk either kind of parked fiber the same way.
 */
	.macro	FIBER_SWITCH name, fp
	.text
	.globl	\name
	.hidden	\name
	.type	\name, @function
	.p2align 4
\name:
	.cfi_startproc
	leaq	-56(%rsp), %rsp
	.cfi_adjust_cfa_offset 56
	.if \fp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	.endif
	movq	%r12, 8(%rsp)
	movq	%r13, 16(%rsp)
	movq	%r14, 24(%rsp)
	movq	%r15, 32(%rsp)
	movq	%rbx, 40(%rsp)
	movq	%rbp, 48(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	/* where we go, loaded first so the jump's target is known early */
	movq	56(%rsp), %rdx
	.if \fp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	.endif
	movq	8(%rsp), %r12
	movq	16(%rsp), %r13
	movq	24(%rsp), %r14
	movq	32(%rsp), %r15
	movq	40(%rsp), %rbx
	movq	48(%rsp), %rbp
	leaq	64(%rsp), %rsp
	/* Not ret: the return stack predictor holds our caller's return,
	 * not the other side's, so a ret would mispredict on every switch
	 * (and unbalance it for the returns after). An indirect jump is
	 * predicted from its own history. */
	jmp	*%rdx
	.cfi_endproc
	.size	\name, .-\name
	.endm

	FIBER_SWITCH rt__fiber_switch, 1
	FIBER_SWITCH rt__fiber_switch_nofp, 0

/*
 * A new fiber's first switch lands here (rt_arch_fiber_stack_init put
 * this address where rt__fiber_switch returns to), with the fiber in r12
 * and its entry function in r13. The entry never returns: it switches
 * away for the last time. rip is marked undefined so that unwinders and
 * debuggers stop at the base of a fiber's stack.
 */
	.globl	rt__fiber_start
	.hidden	rt__fiber_start
	.type	rt__fiber_start, @function
	.p2align 4
rt__fiber_start:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r12, %rdi
	callq	*%r13
	ud2
	.cfi_endproc
	.size	rt__fiber_start, .-rt__fiber_start

	.section .note.GNU-stack, "", @progbits

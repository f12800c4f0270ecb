/* SPDX-License-Identifier: MIT */
/*
 * x86_64: where a new fiber starts. The switch itself is inline asm
 * (rt_arch_fiber_switch in fiber.h: a called switch costs the return
 * predictor its balance, see there).
 *
 * A new fiber's first switch lands here (rt_arch_fiber_stack_init put
 * this address where the switch resumes), with rsp 16-aligned and
 * pointing at the fiber's argument and then its entry function. The
 * entry never returns: it switches away for the last time. rip is marked
 * undefined so that unwinders and debuggers stop at the base of a
 * fiber's stack.
 */
	.text
	.globl	rt__fiber_start
	.hidden	rt__fiber_start
	.type	rt__fiber_start, @function
	.p2align 4
rt__fiber_start:
	.cfi_startproc
	.cfi_undefined rip
	movq	(%rsp), %rdi
	callq	*8(%rsp)
	ud2
	.cfi_endproc
	.size	rt__fiber_start, .-rt__fiber_start

	.section .note.GNU-stack, "", @progbits

/* SPDX-License-Identifier: MIT */
/*
 * x86_64 restartable sequences for the per-CPU run queue.
 *
 * Each critical section is one operation: check the CPU, check that no
 * thief holds the queue, prepare, and commit with a single store. If the
 * thread is preempted, migrated or signalled before the commit, the kernel
 * moves it to the abort handler instead of letting it finish; nothing was
 * published yet (the prepare step wrote only above the tail, or into a
 * register), so the section is simply run again. That is what makes
 * the plain loads and stores safe without a lock prefix.
 *
 * glibc (>= 2.35) registers the thread's struct rseq at the thread pointer
 * plus __rseq_offset with signature RSEQ_SIG; the abort handler must be
 * preceded by that signature.
 */
#ifndef RT_ARCH_X86_64_RSEQ_H
#define RT_ARCH_X86_64_RSEQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/rseq.h>

/* struct rseq field offsets, from the kernel ABI. */
#define RT_RSEQ_CPU_ID_OFF 4
#define RT_RSEQ_CS_OFF 8

/*
 * Emit the struct rseq_cs descriptor (version 0, flags 0, start_ip,
 * post_commit_offset, abort_ip) for the section between local labels 1
 * (start) and 2 (post-commit), aborting to label 4; the descriptor itself
 * gets label 3.
 */
#define RT_RSEQ_DESCRIPTOR						\
	".pushsection __rseq_cs, \"aw\"\n\t"				\
	".balign 32\n\t"						\
	"3:\n\t"							\
	".long 0x0, 0x0\n\t"						\
	".quad 1f, (2f - 1f), 4f\n\t"					\
	".popsection\n\t"

/* Arm the section and check that we still run on `cpu`. */
#define RT_RSEQ_ENTER(abort_label)					\
	"leaq 3b(%%rip), %%rax\n\t"					\
	"movq %%rax, %%fs:8(%[rseq_off])\n\t"				\
	"1:\n\t"							\
	"cmpl %[cpu], %%fs:4(%[rseq_off])\n\t"				\
	"jnz 4f\n\t"

/*
 * The abort handler, out of line: the signature (encoded as the operand
 * of a ud1 so disassemblers stay in sync), then a jump to the C label.
 */
#define RT_RSEQ_ABORT(abort_label)					\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".byte 0x0f, 0xb9, 0x3d\n\t"					\
	".long 0x53053053\n\t"						\
	"4:\n\t"							\
	"jmp %l[" #abort_label "]\n\t"					\
	".popsection\n\t"

_Static_assert(RSEQ_SIG == 0x53053053, "glibc's x86_64 rseq signature");

/* rt_rseq_pop() returns its item from an asm goto output */
#if (defined(__clang__) && __clang_major__ < 11) || \
	(!defined(__clang__) && defined(__GNUC__) && __GNUC__ < 11)
#error "the rseq run queue needs gcc 11 or clang 11 (asm goto with outputs)"
#endif

/* The calling thread's rseq area. */
static inline volatile struct rseq *rt_rseq_area(void)
{
	char *tp;

	__asm__("movq %%fs:0, %0" : "=r"(tp));
	return (volatile struct rseq *)(tp + __rseq_offset);
}

static inline uint32_t rt_rseq_cpu(void)
{
	return rt_rseq_area()->cpu_id;
}

/*
 * The queue layout the sections operate on; runq.c owns it. head and tail
 * only grow; slot i lives at slots[i & mask].
 */
struct rt_rseq_ring {
	uint64_t head;
	uint64_t tail;
	uint64_t mask;
	uint32_t steal;		/* a thief holds the ring */
	uint32_t pad;
	void *slots[];
};

/*
 * push: if tail - head <= mask, slots[tail & mask] = item (prepare, above
 * the tail so invisible), then tail++ (commit). The mask is loaded once,
 * for the check and the index.
 * Returns 0, 1 when full, -1 when a thief holds the ring, -2 on abort.
 */
static inline int rt_rseq_push(struct rt_rseq_ring *r, uint32_t cpu,
			       void *item)
{
	__asm__ goto(
		RT_RSEQ_DESCRIPTOR
		RT_RSEQ_ENTER(abort)
		"cmpl $0, %c[steal](%[r])\n\t"
		"jnz %l[busy]\n\t"
		"movq %c[tail](%[r]), %%rax\n\t"
		"movq %c[mask](%[r]), %%rdx\n\t"
		"movq %%rax, %%rcx\n\t"
		"subq %c[head](%[r]), %%rcx\n\t"
		"cmpq %%rdx, %%rcx\n\t"
		"ja %l[full]\n\t"
		"andq %%rax, %%rdx\n\t"
		"movq %[item], %c[slots](%[r], %%rdx, 8)\n\t"
		"incq %%rax\n\t"
		"movq %%rax, %c[tail](%[r])\n\t"	/* commit */
		"2:\n\t"
		RT_RSEQ_ABORT(abort)
		:
		: [rseq_off] "r"(__rseq_offset), [cpu] "r"(cpu),
		  [r] "r"(r), [item] "r"(item),
		  [head] "i"(offsetof(struct rt_rseq_ring, head)),
		  [tail] "i"(offsetof(struct rt_rseq_ring, tail)),
		  [mask] "i"(offsetof(struct rt_rseq_ring, mask)),
		  [steal] "i"(offsetof(struct rt_rseq_ring, steal)),
		  [slots] "i"(offsetof(struct rt_rseq_ring, slots))
		: "memory", "cc", "rax", "rcx", "rdx"
		: abort, busy, full);
	return 0;
full:
	return 1;
busy:
	return -1;
abort:
	return -2;
}

/*
 * pop: if head != tail, item = slots[head & mask] (prepare, into a
 * register), then head++ (commit); *out = item once committed. The item
 * leaves in a register, not through memory: the task it names is what
 * the worker runs next (asm goto with outputs: gcc 11, clang 11).
 * Returns 0, 1 when empty, -1 when a thief holds the ring, -2 on abort.
 */
#ifdef __clang__
/* clang 14 takes an asm goto's output for maybe-uninitialized on the
 * path that wrote it */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wconditional-uninitialized"
#endif
static inline int rt_rseq_pop(struct rt_rseq_ring *r, uint32_t cpu,
			      void **out)
{
	void *item;

	__asm__ goto(
		RT_RSEQ_DESCRIPTOR
		RT_RSEQ_ENTER(abort)
		"cmpl $0, %c[steal](%[r])\n\t"
		"jnz %l[busy]\n\t"
		"movq %c[head](%[r]), %%rax\n\t"
		"cmpq %c[tail](%[r]), %%rax\n\t"
		"je %l[empty]\n\t"
		"movq %%rax, %%rcx\n\t"
		"andq %c[mask](%[r]), %%rcx\n\t"
		"movq %c[slots](%[r], %%rcx, 8), %[item]\n\t"
		"incq %%rax\n\t"
		"movq %%rax, %c[head](%[r])\n\t"	/* commit */
		"2:\n\t"
		RT_RSEQ_ABORT(abort)
		: [item] "=&r"(item)
		: [rseq_off] "r"(__rseq_offset), [cpu] "r"(cpu),
		  [r] "r"(r),
		  [head] "i"(offsetof(struct rt_rseq_ring, head)),
		  [tail] "i"(offsetof(struct rt_rseq_ring, tail)),
		  [mask] "i"(offsetof(struct rt_rseq_ring, mask)),
		  [steal] "i"(offsetof(struct rt_rseq_ring, steal)),
		  [slots] "i"(offsetof(struct rt_rseq_ring, slots))
		: "memory", "cc", "rax", "rcx"
		: abort, busy, empty);
	*out = item;
	return 0;
empty:
	return 1;
busy:
	return -1;
abort:
	return -2;
}
#ifdef __clang__
#pragma clang diagnostic pop
#endif

#endif /* RT_ARCH_X86_64_RSEQ_H */

/* SPDX-License-Identifier: MIT */
/*
 * x86_64 counters with one writer.
 *
 * A worker's counters are written by that worker only and read by other
 * threads (rt_runtime_stats(), a tool mapping the trace area) with
 * relaxed atomic loads. The C11 way to bump one, a relaxed load, an add
 * and a relaxed store, is three instructions that gcc will not fuse; one
 * `add` to memory does the same here: nobody else writes the counter,
 * and its store half is an aligned 8-byte store, which x86 makes
 * single-copy atomic, so a reader sees the old value or the new one.
 * That is the kernel's this_cpu_add() for a counter one thread owns.
 *
 * ThreadSanitizer cannot see into asm, so its builds keep the C11 form
 * (runtime/internal.h).
 */
#ifndef RT_ARCH_X86_64_COUNTER_H
#define RT_ARCH_X86_64_COUNTER_H

#include <stdint.h>

static inline void rt_arch_counter_add(uint64_t *c, uint64_t n)
{
	__asm__ volatile("addq %1, %0" : "+m"(*c) : "er"(n));
}

#endif /* RT_ARCH_X86_64_COUNTER_H */

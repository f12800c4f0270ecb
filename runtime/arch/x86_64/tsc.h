/* SPDX-License-Identifier: MIT */
/*
 * x86_64 time stamp counter reads, for the clock of event records
 * (runtime/trace_clock.h).
 */
#ifndef RT_ARCH_X86_64_TSC_H
#define RT_ARCH_X86_64_TSC_H

#include <stdint.h>

/* A bare rdtsc: may execute a few instructions early or late, which a
 * batch's timestamp does not mind. */
static inline uint64_t rt_arch_tsc(void)
{
	return __builtin_ia32_rdtsc();
}

/* A read that stays between the loads before and after it (the lfence
 * the vDSO puts ahead of its own rdtsc): for pairing with a clock read. */
static inline uint64_t rt_arch_tsc_ordered(void)
{
	uint64_t tsc;

	__builtin_ia32_lfence();
	tsc = __builtin_ia32_rdtsc();
	__builtin_ia32_lfence();
	return tsc;
}

#endif /* RT_ARCH_X86_64_TSC_H */

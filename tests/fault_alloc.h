/* SPDX-License-Identifier: MIT */
/*
 * A failing allocator for tests: the test executable is linked with
 * -Wl,--wrap for malloc, calloc, realloc, aligned_alloc, posix_memalign
 * and free (tests/meson.build), so every allocation the runtime's code
 * makes (the tests link librtasync's static archive) comes through here.
 * Allocations made inside other libraries (glibc's own, liburing's) are
 * not: their failures reach the runtime as the errors of those calls.
 */
#ifndef FAULT_ALLOC_H
#define FAULT_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#define FAULT_SITES_MAX 64

struct fault_site {
	uintptr_t addr;			/* return address of the call */
	unsigned long first;		/* its first call, 1-based */
	unsigned long calls;		/* calls made there */
};

/* Count from now on and fail the k-th call (0: fail none). */
void fault_arm(unsigned long k);
/* Count from now on and fail the n-th call made at site. */
void fault_arm_site(uintptr_t site, unsigned long n);

unsigned long fault_calls(void);	/* allocation calls since arming */
long fault_live(void);			/* allocated since arming, not freed */
uintptr_t fault_failed_site(void);	/* the failed call's site, or 0 */
/* Distinct call sites since arming, in order of first call. */
unsigned int fault_sites(struct fault_site *out, unsigned int max);

#endif /* FAULT_ALLOC_H */

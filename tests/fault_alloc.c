// SPDX-License-Identifier: MIT
/*
 * The failing allocator behind fault_alloc.h. Worker threads allocate
 * concurrently, so the counters are atomics; nothing here allocates.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

#include "fault_alloc.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
void __real_free(void *p);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
void __wrap_free(void *p);

static atomic_ulong fail_at;
static atomic_ulong calls;
static atomic_long live;
static _Atomic uintptr_t failed_site;
static _Atomic uintptr_t site_addr[FAULT_SITES_MAX];
static atomic_ulong site_first[FAULT_SITES_MAX];
static atomic_ulong site_calls[FAULT_SITES_MAX];
static _Atomic uintptr_t fail_site;	/* with fail_at: the n-th call there */

void fault_arm_site(uintptr_t site, unsigned long n)
{
	atomic_store(&fail_at, 0);
	atomic_store(&calls, 0);
	atomic_store(&live, 0);
	atomic_store(&failed_site, 0);
	for (unsigned int i = 0; i < FAULT_SITES_MAX; i++) {
		atomic_store(&site_addr[i], 0);
		atomic_store(&site_calls[i], 0);
	}
	atomic_store(&fail_site, site);
	atomic_store(&fail_at, n);
}

void fault_arm(unsigned long k)
{
	fault_arm_site(0, k);
}

unsigned long fault_calls(void)
{
	return atomic_load(&calls);
}

long fault_live(void)
{
	return atomic_load(&live);
}

uintptr_t fault_failed_site(void)
{
	return atomic_load(&failed_site);
}

unsigned int fault_sites(struct fault_site *out, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < FAULT_SITES_MAX && n < max; i++) {
		uintptr_t a = atomic_load(&site_addr[i]);

		if (!a)
			break;
		out[n].addr = a;
		out[n].first = atomic_load(&site_first[i]);
		out[n].calls = atomic_load(&site_calls[i]);
		n++;
	}
	return n;
}

/*
 * Count a call at site: its slot is the first free one or the one that
 * has it already. Returns the calls made there so far, this one included.
 */
static unsigned long note_site(uintptr_t site, unsigned long call)
{
	for (unsigned int i = 0; i < FAULT_SITES_MAX; i++) {
		uintptr_t cur = atomic_load(&site_addr[i]);

		if (!cur && atomic_compare_exchange_strong(&site_addr[i], &cur,
							   site)) {
			atomic_store(&site_first[i], call);
			cur = site;
		}
		if (cur == site)
			return atomic_fetch_add(&site_calls[i], 1) + 1;
	}
	return 0;
}

/* One allocation call: false when this is the one to fail. */
static bool allowed(void *site)
{
	unsigned long call = atomic_fetch_add(&calls, 1) + 1;
	unsigned long at_site = note_site((uintptr_t)site, call);
	uintptr_t target = atomic_load(&fail_site);

	if ((target ? at_site : call) != atomic_load(&fail_at) ||
	    (target && target != (uintptr_t)site))
		return true;
	atomic_store(&failed_site, (uintptr_t)site);
	return false;
}

static void *counted(void *p)
{
	if (p)
		atomic_fetch_add(&live, 1);
	return p;
}

void *__wrap_malloc(size_t size)
{
	if (!allowed(__builtin_return_address(0)))
		return NULL;
	return counted(__real_malloc(size));
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (!allowed(__builtin_return_address(0)))
		return NULL;
	return counted(__real_calloc(n, size));
}

/* A grown block is the same allocation: only realloc(NULL) adds one. */
void *__wrap_realloc(void *p, size_t size)
{
	void *q;

	if (!allowed(__builtin_return_address(0)))
		return NULL;
	q = __real_realloc(p, size);
	return p ? q : counted(q);
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	if (!allowed(__builtin_return_address(0)))
		return NULL;
	return counted(__real_aligned_alloc(align, size));
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	int ret;

	if (!allowed(__builtin_return_address(0)))
		return ENOMEM;
	ret = __real_posix_memalign(p, align, size);
	if (!ret)
		counted(*p);
	return ret;
}

void __wrap_free(void *p)
{
	if (p)
		atomic_fetch_sub(&live, 1);
	__real_free(p);
}

/* SPDX-License-Identifier: MIT */
/*
 * Counts malloc-family calls by defining malloc & co. in the benchmark
 * binary: the dynamic linker binds every caller, librtasync and glibc
 * included, to these, and they forward to glibc's allocator through its
 * __libc_* entry points. No LD_PRELOAD, no hooks.
 *
 * Each thread counts into its own cache line (single writer, no lock
 * prefix), so the counter does not tax the peers that allocate on their
 * hot path (async1). Slots are static, so a count outlives its thread.
 * Under AddressSanitizer the sanitizer owns malloc: we count nothing.
 */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bench.h"

#if defined(__SANITIZE_ADDRESS__)

uint64_t bench_thread_mallocs(void) { return 0; }
uint64_t bench_all_mallocs(void) { return 0; }
bool bench_mallocs_counted(void) { return false; }

#else

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

#define NSLOTS 128	/* threads with a private slot; the rest share one */

struct slot {
	_Atomic uint64_t n;
	char pad[64 - sizeof(uint64_t)];
};

static struct slot slots[NSLOTS + 1];
static _Atomic unsigned int slots_used;
static __thread struct slot *my_slot;

static struct slot *slot_claim(void)
{
	unsigned int i = atomic_fetch_add_explicit(&slots_used, 1,
						   memory_order_relaxed);

	my_slot = &slots[i < NSLOTS ? i : NSLOTS];
	return my_slot;
}

static inline void count(void)
{
	struct slot *s = my_slot;

	if (__builtin_expect(!s, 0))
		s = slot_claim();
	if (__builtin_expect(s == &slots[NSLOTS], 0)) {
		atomic_fetch_add_explicit(&s->n, 1, memory_order_relaxed);
		return;
	}
	/* Only this thread writes its slot: a plain increment suffices. */
	atomic_store_explicit(&s->n,
			      atomic_load_explicit(&s->n, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

void *malloc(size_t size)
{
	count();
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	count();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	count();
	return __libc_realloc(p, size);
}

void free(void *p)
{
	__libc_free(p);
}

void *memalign(size_t align, size_t size)
{
	count();
	return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	count();
	return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	count();
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *valloc(size_t size)
{
	count();
	return __libc_valloc(size);
}

void *pvalloc(size_t size)
{
	count();
	return __libc_pvalloc(size);
}

uint64_t bench_thread_mallocs(void)
{
	struct slot *s = my_slot;

	return s ? atomic_load_explicit(&s->n, memory_order_relaxed) : 0;
}

uint64_t bench_all_mallocs(void)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i <= NSLOTS; i++)
		sum += atomic_load_explicit(&slots[i].n, memory_order_relaxed);
	return sum;
}

bool bench_mallocs_counted(void)
{
	return true;
}

#endif

// SPDX-License-Identifier: MIT
/*
 * The frame arena of a task: a stack of frames, bump-allocated.
 *
 * The first stretch is inline in the task's own allocation. A chain that
 * outgrows it continues in chunks twice as large each time, each taking
 * a power of two of the heap with malloc's header (1 KiB at least; a
 * frame larger than that gets its size plus 1 KiB, room for its callees,
 * so a big root frame does not send every call it makes down the slow
 * path); a chunk that empties is kept as the task's spare, so a call that
 * straddles a chunk boundary in a loop does not allocate each time
 * around.
 *
 * Frames link to their caller by a byte offset back in the same chunk;
 * the first frame of a chunk finds its caller in the chunk header.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

static inline struct rt_chunk *chunk_of(struct rt_frame *first)
{
	return (struct rt_chunk *)((char *)first - RT_CHUNK_HDR);
}

static size_t arena_capacity(struct rt_task *t)
{
	if (t->chunk)
		return t->chunk->size;
	return t->rt->cfg.task_arena;
}

/* The smallest chunk: a chain that leaves the inline arena likely goes on. */
#define RT_CHUNK_MIN 1024
/*
 * What malloc adds to a chunk: glibc's 8-byte size word, rounded with the
 * request to 16. So a 2^n - 16 byte chunk takes exactly 2^n of the heap
 * (a 2^n one took 2^n + 16, of which 8 usable bytes lie past the arena's
 * 16-aligned end): chunks tile pages, and a chain 100 frames of 32 bytes
 * deep fits in chunks of 1008 and 2032 bytes as well as it did in 1024
 * and 2048 (Documentation/design.md, memory).
 */
#define RT_CHUNK_SLACK 16
/*
 * The largest frame a push accepts. Anything near SIZE_MAX would wrap the
 * size arithmetic below; no allocation that large can succeed anyway.
 */
#define RT_FRAME_MAX ((size_t)PTRDIFF_MAX / 2)

static size_t round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/* The smallest 2^n - RT_CHUNK_SLACK >= n (n <= RT_FRAME_MAX: no wrap). */
static size_t heap_pow2(size_t n)
{
	size_t p = RT_CHUNK_MIN;

	while (p - RT_CHUNK_SLACK < n)
		p *= 2;
	return p - RT_CHUNK_SLACK;
}

/*
 * A chunk for a frame of `need` bytes (header included, <= RT_FRAME_MAX
 * plus a header, so nothing here wraps): twice the current capacity (at
 * least RT_CHUNK_MIN), rounded to a power of two in the heap; for a frame
 * bigger than that, the frame plus RT_CHUNK_MIN so that its own callees
 * still fit beside it. Sizes stay multiples of 16, which keeps every
 * arena end 16-aligned: the inline push may then round a pointer up to a
 * frame's alignment without passing the end.
 */
static struct rt_chunk *chunk_get(struct rt_task *t, size_t need)
{
	size_t size = arena_capacity(t);
	struct rt_chunk *c = t->spare;

	if (c && c->size >= need) {
		t->spare = NULL;
		return c;
	}
	size = heap_pow2(size <= RT_FRAME_MAX / 2 ? 2 * size : need);
	if (size < need)
		size = round16(need + RT_CHUNK_MIN);
	c = malloc(size);
	if (!c)
		return NULL;
	c->size = size;
	return c;
}

void *rt__frame_push_slow(struct rt_task *t, struct rt_frame *caller,
			  size_t size, size_t align)
{
	struct rt_chunk *c;
	struct rt_frame *f;

	if (size > RT_FRAME_MAX || align > 16)
		return NULL;	/* the caller reports -ENOMEM */
	/* Frames are at most 16-aligned (RT_CALL checks), as is the
	 * first byte after the chunk header. */
	size = round16(size);
	c = chunk_get(t, RT_CHUNK_HDR + size);
	if (!c)
		return NULL;
	c->prev = t->chunk;
	c->prev_top = t->h.arena_top;
	c->prev_end = t->h.arena_end;
	c->caller = caller;
	t->chunk = c;
	f = (struct rt_frame *)((char *)c + RT_CHUNK_HDR);
	f->caller_off = 0;
	f->flags = RT_FRAME_CHUNK_FIRST;
	t->h.arena_top = (char *)f + size;
	t->h.arena_end = (char *)c + c->size;
	return f;
}

void rt__frame_pop_chunk(struct rt_task *t, struct rt_frame *f)
{
	struct rt_chunk *c = chunk_of(f);

	t->h.arena_top = c->prev_top;
	t->h.arena_end = c->prev_end;
	t->chunk = c->prev;
	free(t->spare);
	t->spare = c;
}

/* rt_arena_release() when the task left a chunk or a spare (internal.h). */
void rt__arena_release_slow(struct rt_task *t)
{
	while (t->chunk) {
		struct rt_chunk *c = t->chunk;

		t->chunk = c->prev;
		free(c);
	}
	free(t->spare);
	t->spare = NULL;
}

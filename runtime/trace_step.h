/* SPDX-License-Identifier: MIT */
/*
 * What a step writes to the trace area while a tool asks for it: the
 * layout of a worker's part of the area, and the inline paths a hooked
 * step takes (trace.c has the rest, task.c's step_hooks() and worker.c's
 * trace_batch() the calls).
 */
#ifndef RT_TRACE_STEP_H
#define RT_TRACE_STEP_H

#include "internal.h"

#define RT_TRACE_RING_RECORDS 4096	/* per worker, a power of two */

#define RT_TRACE_ALIGN(v, a) (((v) + (a) - 1) & ~((size_t)(a) - 1))
/* A worker's part: its struct rt_trace_worker, per-site counts, ring. */
#define RT_TRACE_COUNTS_OFFSET						\
	RT_TRACE_ALIGN(sizeof(struct rt_trace_worker), 64)
#define RT_TRACE_RING_OFFSET						\
	RT_TRACE_ALIGN(RT_TRACE_COUNTS_OFFSET +				\
		       RT_TRACE_SITES_MAX * sizeof(uint64_t), 64)

_Static_assert(sizeof(struct rt_trace_record) == 16 &&
	       offsetof(struct rt_trace_record, reason) == 8 &&
	       offsetof(struct rt_trace_record, site) == 12,
	       "rt_trace_append() writes a record as two words");

/*
 * The site's id: one load, since every area describes every id before
 * any site holds it (trace.c), and the first time out of line. The
 * acquire (a plain load on x86) orders the description before this
 * worker's records, which the head's release publishes.
 */
static inline uint32_t rt_trace_site(struct rt_site *site)
{
	uint32_t id = __atomic_load_n(&site->id, __ATOMIC_ACQUIRE);

	return likely(id) ? id : rt_trace_site_number(site);
}

/*
 * Append one record to this worker's ring and publish it, so that a step's
 * record is out before its task can run elsewhere and record there.
 * Inline: it is on every step while a tool records.
 *
 * Single writer (this worker). The head says which records are whole,
 * and a record's slot is only written once the head has passed the
 * record that had it before: published head = pos (the last record's
 * release), a release fence, the slot, head = pos + 1. A reader checks
 * its copy against the head (struct rt_trace_record). The position is
 * read back from that head: tools map the worker's part read-only, and
 * it is masked into the ring, so whatever is there the stores stay
 * inside it.
 *
 * Two plain stores, the value and then reason, the zero pad and site in
 * one word (x86 is little-endian): faster here than one 16-byte vector
 * store, whose halves must first be moved into a vector register.
 * Neither need be atomic with the other: the reader's check of the head
 * makes its copy whole.
 */
static inline uint64_t rt_trace_append(struct rt_trace_worker *tw,
				       uint64_t value, uint32_t site,
				       uint8_t reason)
{
	uint64_t pos = __atomic_load_n(&tw->head, __ATOMIC_RELAXED);
	uint64_t *slot = (uint64_t *)((struct rt_trace_record *)
		((char *)tw + RT_TRACE_RING_OFFSET) +
		(pos & (RT_TRACE_RING_RECORDS - 1)));

	__atomic_thread_fence(__ATOMIC_RELEASE);	/* x86: compiler-only */
	__atomic_store_n(&slot[0], value, __ATOMIC_RELAXED);
	__atomic_store_n(&slot[1], reason | (uint64_t)site << 32,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&tw->head, pos + 1, __ATOMIC_RELEASE);
	return pos;
}

/*
 * A loop turn that records begins with a turn record: its time, which
 * its steps' records share, and its number on this worker, which tells
 * a reader how many of the records it lost were turn records. turn_at
 * says where the last one is, for a reader's start (a release: whoever
 * reads it finds the record published).
 */
static inline void rt_trace_turn(struct rt_worker *w, uint64_t ts)
{
	uint64_t pos = rt_trace_append(w->tw, ts, w->ring_turns++,
				       RT_TRACE_TURN);

	__atomic_store_n(&w->tw->turn_at, pos, __ATOMIC_RELEASE);
}

/* One step's record, in the turn rt_trace_turn() began. */
static inline void rt_trace_record(struct rt_worker *w, struct rt_task *t,
				   uint32_t site, uint8_t reason)
{
	rt_trace_append(w->tw, (uint64_t)(uintptr_t)t, site, reason);
}

#endif /* RT_TRACE_STEP_H */

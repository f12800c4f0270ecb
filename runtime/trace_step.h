/* SPDX-License-Identifier: MIT */
/*
 * What a step writes to the trace area while a tool asks for it: the
 * layout of a worker's part of the area, and the inline paths a hooked
 * step takes (trace.c has the rest, task.c's step_hooks() the calls).
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

_Static_assert(offsetof(struct rt_trace_record, site) == 16 &&
	       offsetof(struct rt_trace_record, reason) == 20 &&
	       offsetof(struct rt_trace_record, step) == 21 &&
	       offsetof(struct rt_trace_record, worker) == 22 &&
	       sizeof(struct rt_trace_record) == 24,
	       "rt_trace_record() writes site..worker as one word");

/* A record's ts and task, stored as one 16-byte vector. */
typedef uint64_t rt_trace_pair __attribute__((vector_size(16), aligned(8)));

/* Ring position pos's slot: constants, no pointer of the worker's. */
static inline struct rt_trace_record *
rt_trace_slot(struct rt_trace_worker *tw, uint64_t pos)
{
	return (struct rt_trace_record *)((char *)tw + RT_TRACE_RING_OFFSET) +
	       (pos & (RT_TRACE_RING_RECORDS - 1));
}

/*
 * The site's id. Fast path: this runtime described it last (one runtime
 * per process is the common case): one load and a compare. The id is
 * stored before `described` (a release, in trace.c), so whoever sees its
 * own runtime there sees the id; registration and description stay out
 * of line.
 */
static inline uint32_t rt_trace_site(struct rt_worker *w, struct rt_site *site)
{
	if (likely(__atomic_load_n(&site->described, __ATOMIC_ACQUIRE) ==
		   w->trace))
		return __atomic_load_n(&site->id, __ATOMIC_RELAXED);
	return rt_trace_site_id(w->trace, site);
}

/*
 * Append one record to this worker's ring. Inline: it is on every step
 * while a tool records.
 *
 * Single writer (this worker). The head says which records are whole,
 * and a record's slot is only written once the head has passed the
 * record that had it before: published head = pos (the last record's
 * release), a release fence, the slot, head = pos + 1. A reader checks
 * its copy against the head (struct rt_trace_record, rtasync-trace.h).
 * The position is read back from that head: tools map the worker's part
 * read-only, and it is masked into the ring, so whatever is there the
 * stores stay inside it.
 */
static inline void rt_trace_record(struct rt_worker *w, struct rt_task *t,
				   uint32_t site, uint8_t reason)
{
	struct rt_trace_worker *tw = w->tw;
	uint64_t pos = __atomic_load_n(&tw->head, __ATOMIC_RELAXED);
	struct rt_trace_record *rec = rt_trace_slot(tw, pos);
	/* site, reason, step and worker: one word (x86 is little-endian) */
	uint64_t tail = site | (uint64_t)reason << 32 |
			(uint64_t)(uint8_t)(pos - w->turn_head) << 40 |
			w->trace_worker;

	__atomic_thread_fence(__ATOMIC_RELEASE);	/* x86: compiler-only */
	/* Two stores: a yield loop recording every step is bound by its
	 * stores more than by its instructions. Neither need be atomic as
	 * a whole: the reader's check of the head makes its copy whole. */
	*(rt_trace_pair *)&rec->ts =
		(rt_trace_pair){ w->trace_ts, (uint64_t)(uintptr_t)t };
	__atomic_store_n((uint64_t *)&rec->site, tail, __ATOMIC_RELAXED);
	__atomic_store_n(&tw->head, pos + 1, __ATOMIC_RELEASE);
}

#endif /* RT_TRACE_STEP_H */

/* SPDX-License-Identifier: MIT */
/*
 * The clock of event records: CLOCK_MONOTONIC nanoseconds, read from the
 * TSC where it can stand in for the kernel's clock (trace_clock.c says
 * where), with clock_gettime() elsewhere.
 *
 * Each worker keeps an anchor, a clock_gettime() paired with the TSC read
 * at the same instant, and the rate of the one against the other; a
 * timestamp is the anchor's time plus the ticks since, scaled. The anchor
 * serves 2 ms of ticks (RT_TRACE_CLOCK_ANCHOR_NS), then the next read
 * takes a new one and measures the rate over the span between the two,
 * so the times follow CLOCK_MONOTONIC, NTP's slewing included, to within
 * what the rate can drift in one span (Documentation/rtasync-trace.md,
 * "Timestamps", has the bound measured). A worker's times never go back:
 * a read that would is held at the last time handed out.
 *
 * Worker-private: only the worker reads and writes its clock.
 */
#ifndef RT_TRACE_CLOCK_H
#define RT_TRACE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86_64/tsc.h"
#include "rtasync.h"		/* rt_now_ns() */

#define RT_TRACE_CLOCK_ANCHOR_NS 2000000u	/* an anchor's reach */
#define RT_TRACE_CLOCK_RATE_NS	 1000000u	/* the shortest rate span */

struct rt_trace_clock {
	uint64_t tsc0, ns0;		/* the anchor */
	uint64_t span;			/* ticks past tsc0 it serves; 0: no
					   rate yet, every read anchors */
	uint64_t mult;			/* ns per tick << 32 */
	uint64_t rate_tsc, rate_ns;	/* the older end of the rate's span */
	bool tsc;			/* false: clock_gettime() every read */
};

bool rt_trace_clock_tsc_usable(void);
void rt_trace_clock_init(struct rt_trace_clock *c, bool tsc);
uint64_t rt_trace_clock_anchor(struct rt_trace_clock *c, uint64_t last);

/*
 * CLOCK_MONOTONIC ns now, no earlier than last (the worker's previous
 * read). The common case is an rdtsc, a subtraction, a compare, a
 * multiply and a shift. Ticks before the anchor (another CPU's TSC a
 * little behind) wrap to a huge difference and take a new anchor too,
 * and the bound on the difference keeps the product inside 64 bits:
 * under 2 ms of ticks times mult is under 2^53.
 */
static inline uint64_t rt_trace_clock_now(struct rt_trace_clock *c,
					  uint64_t last)
{
	uint64_t d, ns;

	if (__builtin_expect(!c->tsc, 0))
		return rt_now_ns();
	d = rt_arch_tsc() - c->tsc0;
	if (__builtin_expect(d >= c->span, 0))
		return rt_trace_clock_anchor(c, last);
	ns = c->ns0 + (d * c->mult >> 32);
	return ns > last ? ns : last;
}

#endif /* RT_TRACE_CLOCK_H */

// SPDX-License-Identifier: MIT
/*
 * The event records' clock (trace_clock.h): where the TSC may stand in
 * for CLOCK_MONOTONIC, and the slow path that anchors it.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "trace_clock.h"

/* A pair whose two TSC reads are further apart than this was
 * interrupted: try again (the vDSO read takes 30-50 ns here). */
#define PAIR_NS		500u
#define PAIR_TICKS0	2000u	/* the same before the rate is known */
#define PAIR_TRIES	4

/* ns per tick << 32 outside 1/16..16 ns (16 GHz..62.5 MHz): a bad span,
 * not a clock. */
#define MULT_MIN	(1ull << 28)
#define MULT_MAX	(1ull << 36)

/* The first line of path that starts with prefix, without its newline;
 * false if there is none. */
static bool read_line(const char *path, const char *prefix, char *buf,
		      size_t size)
{
	FILE *f = fopen(path, "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(buf, (int)size, f))
		found = !strncmp(buf, prefix, strlen(prefix));
	fclose(f);
	if (found)
		buf[strcspn(buf, "\n")] = '\0';
	return found;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

#define CLOCKSOURCE "/sys/devices/system/clocksource/clocksource0/"

/*
 * The TSC can time records when it ticks at one rate whatever the CPU's
 * frequency and sleep state (constant_tsc, nonstop_tsc), and the kernel
 * itself keeps CLOCK_MONOTONIC from it (clocksource tsc, or kvm-clock,
 * the TSC scaled by the host), so that our rate is the kernel's but for
 * NTP's slewing, which the re-anchoring follows. And the kernel's
 * watchdog must not have found CPUs' counters apart: a TSC it marked
 * unstable is no longer listed as an available (high-resolution)
 * clocksource. RTASYNC_TRACE_CLOCK=monotonic keeps clock_gettime(), for
 * tests and for comparing the two.
 */
static bool tsc_usable(void)
{
	char line[4096];

	if (rt_env_is("RTASYNC_TRACE_CLOCK", "monotonic"))
		return false;
	if (!read_line(CLOCKSOURCE "current_clocksource", "", line,
		       sizeof(line)) ||
	    (strcmp(line, "tsc") && strcmp(line, "kvm-clock")))
		return false;
	if (!read_line(CLOCKSOURCE "available_clocksource", "", line,
		       sizeof(line)) || !has_word(line, "tsc"))
		return false;
	if (!read_line("/proc/cpuinfo", "flags", line, sizeof(line)))
		return false;
	return has_word(line, "constant_tsc") && has_word(line, "nonstop_tsc");
}

/* Found out once a process: two runtimes made at once may both look,
 * and find the same. */
bool rt_trace_clock_tsc_usable(void)
{
	static int usable;	/* 0: not looked yet, 1: no, 2: yes */
	int v = __atomic_load_n(&usable, __ATOMIC_RELAXED);

	if (!v) {
		v = tsc_usable() ? 2 : 1;
		__atomic_store_n(&usable, v, __ATOMIC_RELAXED);
	}
	return v == 2;
}

void rt_trace_clock_init(struct rt_trace_clock *c, bool tsc)
{
	*c = (struct rt_trace_clock){ .tsc = tsc };
}

/*
 * A clock_gettime() and the TSC at that instant: halfway between two
 * ordered reads around it, from the tightest of a few tries (a pair an
 * interrupt or preemption split is wide, and thrown away).
 */
static void read_pair(const struct rt_trace_clock *c, uint64_t *tsc,
		      uint64_t *ns)
{
	uint64_t best = UINT64_MAX;
	uint64_t limit = c->span ? ((uint64_t)PAIR_NS << 32) / c->mult :
				   PAIR_TICKS0;

	for (int i = 0; i < PAIR_TRIES && best > limit; i++) {
		uint64_t a = rt_arch_tsc_ordered();
		uint64_t now = rt_now_ns();
		uint64_t b = rt_arch_tsc_ordered();

		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = now;
		}
	}
}

/*
 * The rate from the span since the last rate pair, once it is long
 * enough that the pairs' error is small against it (a pair is good to
 * a quarter of a µs; over 1 ms that is 250 ppm at worst, a few ppm as
 * pairs usually come). A span that gives no plausible rate leaves the
 * clock reading clock_gettime() until a later one does.
 */
static void measure_rate(struct rt_trace_clock *c, uint64_t tsc, uint64_t ns)
{
	unsigned __int128 mult;

	if (c->rate_ns && ns - c->rate_ns < RT_TRACE_CLOCK_RATE_NS)
		return;
	if (c->rate_ns && tsc > c->rate_tsc) {
		mult = ((unsigned __int128)(ns - c->rate_ns) << 32) /
		       (tsc - c->rate_tsc);
		if (mult >= MULT_MIN && mult <= MULT_MAX) {
			c->mult = (uint64_t)mult;
			c->span = ((uint64_t)RT_TRACE_CLOCK_ANCHOR_NS << 32) /
				  c->mult;
		} else {
			c->span = 0;
		}
	}
	c->rate_tsc = tsc;
	c->rate_ns = ns;
}

/* The slow path of rt_trace_clock_now(): a new anchor, a new rate. */
uint64_t rt_trace_clock_anchor(struct rt_trace_clock *c, uint64_t last)
{
	uint64_t tsc = 0, ns = 0;

	read_pair(c, &tsc, &ns);
	measure_rate(c, tsc, ns);
	c->tsc0 = tsc;
	c->ns0 = ns;
	return ns > last ? ns : last;
}

/* SPDX-License-Identifier: MIT */
/*
 * rtasync-trace-clock: how far the event records' clock (runtime/
 * trace_clock.h) strays from CLOCK_MONOTONIC, and what a read of each
 * costs.
 *
 *   rtasync-trace-clock [SECONDS [MAX_GAP_US]]
 *
 * For SECONDS (default 10) it reads the records' clock as a worker does,
 * one read per "batch", between two clock_gettime() reads, with a busy
 * or sleeping gap of 0..MAX_GAP_US (default 3000: across the 2 ms anchor
 * reach) between batches, and prints the distribution of its error:
 * how far a read fell before the clock_gettime() just before it, or
 * after the one just after it (0 when inside; the pair is ~30 ns apart).
 * Then the cost of each clock, reads back to back. Under
 * RTASYNC_TRACE_CLOCK=monotonic both are clock_gettime().
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"
#include "trace_clock.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Busy or asleep for about us microseconds. */
static void gap(uint64_t us, bool sleep)
{
	uint64_t end = rt_now_ns() + us * 1000;

	if (sleep) {
		struct timespec ts = { 0, (long)us * 1000 };

		nanosleep(&ts, NULL);
		return;
	}
	while (rt_now_ns() < end)
		;
}

static double ns_per_read(struct rt_trace_clock *c, bool records_clock)
{
	enum { N = 2000000 };
	uint64_t t0 = rt_now_ns(), last = 0;

	for (int i = 0; i < N; i++)
		last = records_clock ? rt_trace_clock_now(c, last) : rt_now_ns();
	__asm__ volatile("" : : "r"(last));
	return (double)(rt_now_ns() - t0) / N;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	unsigned int max_gap = argc > 2 ? (unsigned int)atoi(argv[2]) : 3000;
	bool tsc = rt_trace_clock_tsc_usable();
	struct rt_trace_clock c;
	uint64_t end, last = 0, back = 0;
	size_t n = 0, cap = 1 << 16;
	int64_t *err = malloc(cap * sizeof(*err));

	if (!err)
		return 1;
	rt_trace_clock_init(&c, tsc);
	srand(1);
	end = rt_now_ns() + (uint64_t)(secs * 1e9);
	while (rt_now_ns() < end) {
		uint64_t before = rt_now_ns();
		uint64_t ts = rt_trace_clock_now(&c, last);
		uint64_t after = rt_now_ns();

		back += ts == last;
		last = ts;
		if (n == cap) {
			int64_t *tmp = realloc(err, 2 * cap * sizeof(*err));

			if (!tmp)
				return 1;
			err = tmp;
			cap *= 2;
		}
		err[n++] = ts < before ? -(int64_t)(before - ts) :
			   ts > after ? (int64_t)(ts - after) : 0;
		gap((uint64_t)rand() % (max_gap + 1u), rand() & 1);
	}
	qsort(err, n, sizeof(*err), cmp_i64);
	printf("clock=%s reads=%zu held=%" PRIu64 " err_ns: min=%" PRId64
	       " p0.1=%" PRId64 " p1=%" PRId64 " p50=%" PRId64 " p99=%" PRId64
	       " p99.9=%" PRId64 " max=%" PRId64 "\n",
	       tsc ? "tsc" : "clock_gettime", n, back, err[0], err[n / 1000],
	       err[n / 100], err[n / 2], err[n - 1 - n / 100],
	       err[n - 1 - n / 1000], err[n - 1]);
	printf("ns_per_read: records_clock=%.2f clock_gettime=%.2f\n",
	       ns_per_read(&c, true), ns_per_read(&c, false));
	free(err);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * USDT probes, provider "rtasync", for rare events only: an attached
 * uprobe costs ~500 ns a hit here, 20-100x a task switch, so per-switch
 * events go to the trace area's rings instead (rtasync-trace.h).
 *
 * Each probe has a semaphore: the probe site is skipped unless a tracer
 * attached to it (bpftrace, perf, rtasync-trace bump the semaphore), so
 * even the argument set-up costs nothing when nobody listens.
 *
 *   park(worker)            a worker goes to sleep in its io_uring wait
 *   unpark(worker)          ... and wakes up
 *   overflow(worker)        a task found its CPU run queue full
 *   cq_overflow(worker)     a worker's io_uring CQ overflowed (flushed,
 *                           nothing lost)
 *   spawn_failed(errno)     rt_task_spawn() could not allocate
 *   long_task(worker, us)   a task kept its worker past long_task_ms
 *                           without suspending (seen by an idle peer)
 */
#ifndef RT_PROBES_H
#define RT_PROBES_H

#ifdef RT_HAVE_USDT
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#define RT_PROBE_SEMAPHORE(name) rtasync_##name##_semaphore
#define RT_PROBE_DECLARE(name)						\
	extern unsigned short RT_PROBE_SEMAPHORE(name)

RT_PROBE_DECLARE(park);
RT_PROBE_DECLARE(unpark);
RT_PROBE_DECLARE(overflow);
RT_PROBE_DECLARE(cq_overflow);
RT_PROBE_DECLARE(spawn_failed);
RT_PROBE_DECLARE(long_task);

#define RT_PROBE1(name, a)						\
	do {								\
		if (__builtin_expect(RT_PROBE_SEMAPHORE(name), 0))	\
			DTRACE_PROBE1(rtasync, name, a);		\
	} while (0)
#define RT_PROBE2(name, a, b)						\
	do {								\
		if (__builtin_expect(RT_PROBE_SEMAPHORE(name), 0))	\
			DTRACE_PROBE2(rtasync, name, a, b);		\
	} while (0)
#else
#define RT_PROBE1(name, a) do { (void)(a); } while (0)
#define RT_PROBE2(name, a, b) do { (void)(a); (void)(b); } while (0)
#endif

#endif /* RT_PROBES_H */

// SPDX-License-Identifier: MIT
/*
 * The USDT semaphores (see probes.h). They live in the .probes section,
 * where tracers look for them through the probes' stapsdt notes.
 */
#include "probes.h"

#ifdef RT_HAVE_USDT
#define RT_PROBE_DEFINE(name)						\
	__extension__ unsigned short RT_PROBE_SEMAPHORE(name)		\
	__attribute__((section(".probes"), used))

RT_PROBE_DEFINE(park);
RT_PROBE_DEFINE(unpark);
RT_PROBE_DEFINE(overflow);
RT_PROBE_DEFINE(cq_overflow);
RT_PROBE_DEFINE(spawn_failed);
RT_PROBE_DEFINE(long_task);
#endif

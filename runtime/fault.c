// SPDX-License-Identifier: MIT
/*
 * Fault injection for tests: RTASYNC_FAULT=KIND:N[,KIND:N] makes every
 * Nth event of a kind fail, where the runtime has a path for that
 * failure that tests could not otherwise reach.
 *
 *   wake:N   every Nth MSG_RING wake goes to an fd the kernel refuses,
 *            so its failure CQE must be noticed and the eventfd rung
 *   sqe:N    every Nth SQE request finds the submission queue full
 *
 * The check on the paths is one load of a word that is 0 unless a test
 * asked for faults.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

uint32_t rt__fault_every[RT_FAULT_KINDS];
static uint64_t fault_seen[RT_FAULT_KINDS];
static uint64_t fault_hits[RT_FAULT_KINDS];

static const char *const fault_names[RT_FAULT_KINDS] = {
	[RT_FAULT_WAKE] = "wake",
	[RT_FAULT_SQE] = "sqe",
};

static void fault_parse(const char *spec)
{
	while (*spec) {
		size_t len = strcspn(spec, ":,");
		unsigned long every = 0;

		if (spec[len] == ':')
			every = strtoul(spec + len + 1, NULL, 10);
		for (int k = 0; k < RT_FAULT_KINDS; k++)
			if (strlen(fault_names[k]) == len &&
			    !strncmp(spec, fault_names[k], len))
				__atomic_store_n(&rt__fault_every[k],
						 (uint32_t)every,
						 __ATOMIC_RELAXED);
		spec += strcspn(spec, ",");
		if (*spec == ',')
			spec++;
	}
}

static void fault_read_env(void)
{
	const char *spec = getenv("RTASYNC_FAULT");

	if (spec)
		fault_parse(spec);
}

void rt_fault_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fault_read_env);
}

bool rt__fault_hit(enum rt_fault_kind kind)
{
	uint32_t every = __atomic_load_n(&rt__fault_every[kind],
					 __ATOMIC_RELAXED);

	if (__atomic_add_fetch(&fault_seen[kind], 1, __ATOMIC_RELAXED) %
	    every)
		return false;
	__atomic_add_fetch(&fault_hits[kind], 1, __ATOMIC_RELAXED);
	return true;
}

/* Tests: inject a fault every `every` events of a kind (0: never). */
void rt_fault_set(enum rt_fault_kind kind, uint32_t every)
{
	__atomic_store_n(&rt__fault_every[kind], every, __ATOMIC_RELAXED);
}

/* How many faults of a kind were injected so far. */
uint64_t rt_fault_count(enum rt_fault_kind kind)
{
	return __atomic_load_n(&fault_hits[kind], __ATOMIC_RELAXED);
}

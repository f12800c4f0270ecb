// SPDX-License-Identifier: MIT
/*
 * The per-CPU queues under fire: four times more threads than CPUs, not
 * pinned, so critical sections really are preempted and migrated, while a
 * thief steals from every CPU and, in rseq mode, a fence storm restarts
 * sections at arbitrary points. Every item must come out exactly once,
 * and the abort path must have run.
 */
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "rt_test.h"
#include "runq.h"

#define OPS_PER_THREAD 1000000
#define MAX_THREADS 64

static struct rt_runqs qs;
static uint8_t *seen;
static atomic_long dups;
static atomic_int stop_thief;
static unsigned int nthreads;

struct worker_arg {
	unsigned int id;
	struct rt_runq_stats st;
};

static void mark(void *item)
{
	uintptr_t id = (uintptr_t)item - 1;

	if (__atomic_fetch_add(&seen[id], 1, __ATOMIC_RELAXED))
		atomic_fetch_add(&dups, 1);
}

static void *pusher_popper(void *p)
{
	struct worker_arg *a = p;
	uintptr_t base = (uintptr_t)a->id * OPS_PER_THREAD;

	for (uintptr_t i = 0; i < OPS_PER_THREAD; i++) {
		void *item = (void *)(base + i + 1);
		void *got;

		while (rt_runq_push(&qs, item, &a->st) == -ENOSPC) {
			got = rt_runq_pop(&qs, &a->st);
			if (got)
				mark(got);
		}
		/* pop every other time, so queues fill up and thieves
		 * find something */
		if (i & 1) {
			got = rt_runq_pop(&qs, &a->st);
			if (got)
				mark(got);
		}
	}
	return NULL;
}

static unsigned long steals;

static void *thief(void *p)
{
	void *got[256];
	unsigned int cpu = 0;

	while (!atomic_load(&stop_thief)) {
		unsigned int n = rt_runq_steal(&qs, cpu, got, 256);

		steals += n > 0;
		for (unsigned int i = 0; i < n; i++)
			mark(got[i]);
		cpu = (cpu + 1) % qs.ncpus;
	}
	return NULL;
}

/*
 * Restart whatever critical section runs on each CPU in turn, as a
 * preemption or migration would at an arbitrary instruction. The fence
 * is the one thieves use; without the steal flag it only forces aborts.
 */
static void *fence_storm(void *p)
{
	unsigned int cpu = 0;

	while (!atomic_load(&stop_thief)) {
		syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
			MEMBARRIER_CMD_FLAG_CPU, cpu);
		cpu = (cpu + 1) % qs.ncpus;
	}
	return NULL;
}

static void drain_all(void)
{
	void *got[256];

	for (unsigned int cpu = 0; cpu < qs.ncpus; cpu++) {
		unsigned int n;

		while ((n = rt_runq_steal(&qs, cpu, got, 256)))
			for (unsigned int i = 0; i < n; i++)
				mark(got[i]);
	}
}

/* One round; returns the rseq aborts it saw. */
static uint64_t stress_round(enum rt_queue_mode mode)
{
	struct worker_arg args[MAX_THREADS];
	pthread_t th[MAX_THREADS], thief_th, storm_th;
	uint64_t aborts = 0, total = (uint64_t)nthreads * OPS_PER_THREAD;
	long missing = 0;

	assert_int_equal(rt_runqs_init(&qs, mode, 1024), 0);
	seen = calloc(total, 1);
	assert_non_null(seen);
	atomic_store(&dups, 0);
	atomic_store(&stop_thief, 0);
	steals = 0;
	assert_int_equal(pthread_create(&thief_th, NULL, thief, NULL), 0);
	if (mode == RT_QUEUE_RSEQ)
		assert_int_equal(pthread_create(&storm_th, NULL, fence_storm,
						NULL), 0);
	for (unsigned int i = 0; i < nthreads; i++) {
		args[i] = (struct worker_arg){ .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, pusher_popper,
						&args[i]), 0);
	}
	for (unsigned int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		aborts += args[i].st.aborts;
	}
	atomic_store(&stop_thief, 1);
	pthread_join(thief_th, NULL);
	if (mode == RT_QUEUE_RSEQ)
		pthread_join(storm_th, NULL);
	drain_all();

	for (uint64_t i = 0; i < total; i++)
		missing += seen[i] == 0;
	assert_int_equal(missing, 0);
	assert_int_equal(atomic_load(&dups), 0);
	for (unsigned int cpu = 0; cpu < qs.ncpus; cpu++)
		assert_int_equal(rt_runq_len(&qs, cpu), 0);
	printf("%s: %u threads, %lu items, %lu steal batches, %lu aborts\n",
	       rt_queue_mode_name(mode), nthreads, (unsigned long)total,
	       steals, (unsigned long)aborts);
	free(seen);
	rt_runqs_destroy(&qs);
	return aborts;
}

static bool rseq_usable(void)
{
	struct rt_runqs probe;

	if (rt_runqs_init(&probe, RT_QUEUE_RSEQ, 2))
		return false;
	rt_runqs_destroy(&probe);
	return true;
}

static void test_rseq_queues_lose_nothing_and_abort(void **state)
{
	uint64_t aborts = 0;

	if (!rseq_usable()) {
		printf("rseq unavailable here: %s\n",
		       getenv("GLIBC_TUNABLES") ? getenv("GLIBC_TUNABLES") :
		       "no glibc rseq registration");
		skip();
	}
	/* Aborts are rare events; a few rounds make them certain. */
	for (int round = 0; round < 5 && aborts == 0; round++)
		aborts += stress_round(RT_QUEUE_RSEQ);
	assert_true(aborts > 0);
}

static void test_atomic_queues_lose_nothing(void **state)
{
	assert_int_equal(stress_round(RT_QUEUE_ATOMIC), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rseq_queues_lose_nothing_and_abort),
		cmocka_unit_test(test_atomic_queues_lose_nothing),
	};
	long cpus = test_online_cpus();

	nthreads = (unsigned int)(cpus > 0 ? cpus * 4 : 8);
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * ipi: what one membarrier interrupt costs the CPU it interrupts.
 *
 * Two places in the runtime fence another worker's CPU with a membarrier:
 * a thief fences its victim before it touches the victim's queue
 * (runq.c), and a worker about to sleep fences every other worker
 * (park.c, the sleeper's side of NO LOST WAKE-UP). Either interrupts a
 * busy worker, and what that costs it is a property of the machine: on
 * bare metal about a microsecond, on some VMs ten times as much. The
 * fan-out rows on two workers pay it per steal and per park, so the
 * fanout topic prints it beside them.
 *
 * A compute loop pinned to one CPU runs the same work alone and then
 * while a thread pinned to a second CPU issues
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) every IPI_PERIOD_NS; the
 * sample is the time the loop lost per membarrier. Both halves run in
 * every sample, so the VM's speed modes cancel within it.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

#define IPI_PERIOD_NS	50000u		/* as often as an idle worker's poll
					   ended in a park attempt */
#define IPI_LOOP_ITERS	40000000u	/* tens of ms on this VM */

struct ipi_run {
	int cpu_loop, cpu_sender;
	uint64_t iters;
	_Atomic bool stop;
	_Atomic uint64_t sent;
};

static int membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

/* Integer work with no memory traffic: only the interrupts can slow it. */
static uint64_t compute(uint64_t iters)
{
	uint64_t a = 1, b = 2;

	for (uint64_t i = 0; i < iters; i++) {
		a = a * 0x9E3779B97F4A7C15ull + i;
		b ^= b << 7 ^ i;
		__asm__ volatile("" : "+r"(a), "+r"(b));
	}
	return a + b;
}

/* ns the loop took */
static uint64_t timed_compute(uint64_t iters)
{
	uint64_t t0 = bench_now_ns();

	bench_keep(compute(iters));
	return bench_now_ns() - t0;
}

static void *sender(void *arg)
{
	struct ipi_run *run = arg;

	if (bench_pin_cpu(run->cpu_sender))
		return NULL;
	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		uint64_t until = bench_now_ns() + IPI_PERIOD_NS;

		while (bench_now_ns() < until &&
		       !atomic_load_explicit(&run->stop, memory_order_relaxed))
			__builtin_ia32_pause();
		if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED))
			break;
		atomic_fetch_add_explicit(&run->sent, 1, memory_order_relaxed);
	}
	return NULL;
}

/* us the loop lost per membarrier, or a negative errno. */
static double ipi_sample(void *arg)
{
	struct ipi_run *run = arg;
	uint64_t alone, beside, sent;
	pthread_t th;
	int err;

	err = bench_pin_cpu(run->cpu_loop);
	if (err)
		return err;
	alone = timed_compute(run->iters);
	atomic_store(&run->stop, false);
	atomic_store(&run->sent, 0);
	err = -pthread_create(&th, NULL, sender, run);
	if (err)
		return err;
	beside = timed_compute(run->iters);
	atomic_store(&run->stop, true);
	pthread_join(th, NULL);
	sent = atomic_load(&run->sent);
	if (!sent)
		return -ENOTSUP;
	if (beside <= alone)	/* lost in the noise: no cost seen */
		return 0;
	return (double)(beside - alone) / (double)sent / 1000.0;
}

/* The first two CPUs of set, or -ENODEV. */
static int two_cpus(const cpu_set_t *set, int *a, int *b)
{
	int found = 0;

	for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
		if (!CPU_ISSET(cpu, set))
			continue;
		if (found++)
			*b = cpu;
		else
			*a = cpu;
	}
	return found == 2 ? 0 : -ENODEV;
}

void bench_fanout_ipi(void)
{
	struct ipi_run run = { .iters = bench_iters(IPI_LOOP_ITERS, 1000000) };
	struct bench_result r;
	cpu_set_t mask;
	bool restore = !sched_getaffinity(0, sizeof(mask), &mask);
	int err;

	bench_result_init(&r, "fanout",
			  "membarrier interrupt: time it takes from the CPU",
			  "", "us/irq", BENCH_LOWER);
	err = restore ? two_cpus(&mask, &run.cpu_loop, &run.cpu_sender) :
			-errno;
	if (!err && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED))
		err = -errno;
	if (!err)
		err = bench_measure(ipi_sample, &run, &r.rt);
	/* the samples pinned this thread: give the later topics it back */
	if (restore)
		sched_setaffinity(0, sizeof(mask), &mask);
	if (err < 0) {
		r.rt.n = 0;
		bench_note(&r, "not measured: %s", strerror(-err));
	}
	bench_note(&r, "a compute loop on CPU %d alone, then beside a thread "
		   "on CPU %d issuing membarrier(PRIVATE_EXPEDITED) every "
		   "%u us: the loop's lost time per membarrier, both in each "
		   "sample; a steal and a park attempt each cost a busy "
		   "worker one", run.cpu_loop, run.cpu_sender,
		   IPI_PERIOD_NS / 1000);
	bench_emit(&r);
}

/* SPDX-License-Identifier: MIT */
/*
 * Peers: thread-per-task (pthread_create/join), a futex ping-pong between
 * two threads (the kernel's context switch as the "yield" of threads), and
 * a mutex-protected ring (the lock-based run queue).
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "peers.h"

/* ---- thread per task -------------------------------------------------------- */

static void *thread_nop(void *arg)
{
	return arg;
}

double peer_thread_spawn_ns(uint64_t n)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < n; i++) {
		pthread_t th;
		int err = pthread_create(&th, NULL, thread_nop, NULL);

		if (err)
			return -err;
		pthread_join(th, NULL);
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

/* ---- futex ping-pong -------------------------------------------------------- */

struct pingpong {
	_Atomic uint32_t turn;	/* 0: the starter's turn, 1: the echo's */
	uint64_t n;
	uint64_t ns;
};

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *pingpong_echo(void *arg)
{
	struct pingpong *pp = arg;

	for (uint64_t i = 0; i < pp->n; i++) {
		while (atomic_load(&pp->turn) != 1)
			futex_wait(&pp->turn, 0);
		atomic_store(&pp->turn, 0);
		futex_wake(&pp->turn);
	}
	return NULL;
}

static void *pingpong_start(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < pp->n; i++) {
		atomic_store(&pp->turn, 1);
		futex_wake(&pp->turn);
		while (atomic_load(&pp->turn) != 0)
			futex_wait(&pp->turn, 1);
	}
	pp->ns = bench_now_ns() - t0;
	return NULL;
}

double peer_futex_pingpong_ns(uint64_t n, int cpu)
{
	struct pingpong pp = { .n = n };
	pthread_attr_t attr;
	pthread_t a, b;
	cpu_set_t set;
	int err;

	pthread_attr_init(&attr);
	if (cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	err = pthread_create(&b, &attr, pingpong_echo, &pp);
	if (err)
		goto out;
	err = pthread_create(&a, &attr, pingpong_start, &pp);
	if (err) {
		/* let the echo finish: hand it every turn it waits for */
		for (uint64_t i = 0; i < n; i++) {
			atomic_store(&pp.turn, 1);
			futex_wake(&pp.turn);
			while (atomic_load(&pp.turn) != 0)
				futex_wait(&pp.turn, 1);
		}
		pthread_join(b, NULL);
		goto out;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
out:
	pthread_attr_destroy(&attr);
	return err ? -err : (double)pp.ns / (double)n;
}

/* ---- mutex ring ------------------------------------------------------------- */

struct peer_ring {
	pthread_mutex_t lock;
	unsigned int head, tail, mask;
	void **slots;
};

int peer_ring_new(unsigned int size, struct peer_ring **out)
{
	struct peer_ring *ring;

	if (!size || (size & (size - 1)))
		return -EINVAL;
	ring = calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	ring->slots = calloc(size, sizeof(void *));
	if (!ring->slots) {
		free(ring);
		return -ENOMEM;
	}
	pthread_mutex_init(&ring->lock, NULL);
	ring->mask = size - 1;
	*out = ring;
	return 0;
}

void peer_ring_free(struct peer_ring *ring)
{
	if (!ring)
		return;
	pthread_mutex_destroy(&ring->lock);
	free(ring->slots);
	free(ring);
}

int peer_ring_push(struct peer_ring *ring, void *item)
{
	int ret = 0;

	pthread_mutex_lock(&ring->lock);
	if (ring->tail - ring->head > ring->mask)
		ret = -ENOSPC;
	else
		ring->slots[ring->tail++ & ring->mask] = item;
	pthread_mutex_unlock(&ring->lock);
	return ret;
}

void *peer_ring_pop(struct peer_ring *ring)
{
	void *item = NULL;

	pthread_mutex_lock(&ring->lock);
	if (ring->head != ring->tail)
		item = ring->slots[ring->head++ & ring->mask];
	pthread_mutex_unlock(&ring->lock);
	return item;
}

/* SPDX-License-Identifier: MIT */
/*
 * The thread-model and lock-based peers librtasync is measured against.
 * Each returns its cost per operation in ns, or a negative errno.
 */
#ifndef RTASYNC_BENCH_PEERS_H
#define RTASYNC_BENCH_PEERS_H

#include <stdint.h>

/* pthread_create + pthread_join of a thread that returns at once. */
double peer_thread_spawn_ns(uint64_t n);

/*
 * Two threads hand a turn back and forth through one futex word; ns per
 * round trip (two waits, two wakes). cpu >= 0 pins both threads to that
 * CPU; cpu < 0 leaves them to the scheduler.
 */
double peer_futex_pingpong_ns(uint64_t n, int cpu);

/* A bounded ring behind a pthread mutex, the lock-based queue peer. */
struct peer_ring;

int peer_ring_new(unsigned int size, struct peer_ring **out);
void peer_ring_free(struct peer_ring *ring);
int peer_ring_push(struct peer_ring *ring, void *item);
void *peer_ring_pop(struct peer_ring *ring);

#endif /* RTASYNC_BENCH_PEERS_H */

/* SPDX-License-Identifier: MIT */
/*
 * "async1": the seeds' compiler-generated state machine, in C, as a peer.
 *
 * Every call of an async function allocates its state machine on the heap
 * (the boxed IAsyncStateMachine plus its Task), runs MoveNext once, and
 * either completes at once (the caller reads the result and frees it) or
 * suspends, leaving a continuation: the awaiting caller's state machine,
 * whose MoveNext the completion calls. Locals that live across an await
 * are fields of the state machine. This is what librtasync's frame arena
 * replaces; it lives in bench/ only, to be measured against.
 */
#ifndef RTASYNC_BENCH_ASYNC1_H
#define RTASYNC_BENCH_ASYNC1_H

#include <stddef.h>
#include <stdint.h>

struct a1_sm;
typedef void (*a1_move_next_fn)(struct a1_sm *sm);

enum {
	A1_START = -1,	/* not yet run */
	A1_DONE = -2,	/* result is set */
};

/* The header of every async1 state machine. */
struct a1_sm {
	a1_move_next_fn move_next;
	int32_t state;		/* A1_START, A1_DONE or an await point >= 0 */
	int32_t pad;
	int64_t result;
	struct a1_sm *cont;	/* awaiting caller, resumed on completion */
};

/* Heap allocations made by a1_new (one per async call). */
extern uint64_t a1_allocs;

/* Allocate a state machine of size bytes (header included); NULL on ENOMEM. */
struct a1_sm *a1_new(size_t size, a1_move_next_fn move_next);
void a1_free(struct a1_sm *sm);

/* Start: the first MoveNext. Done when sm->state == A1_DONE after it. */
static inline void a1_start(struct a1_sm *sm)
{
	sm->move_next(sm);
}

/*
 * Complete sm with result and run its continuation, as the builder's
 * SetResult does: the awaiting caller's MoveNext runs from here.
 */
void a1_complete(struct a1_sm *sm, int64_t result);

/*
 * Await child from sm at await point `point`: if the child finished, take
 * its result and free it (returns 1); otherwise register sm as its
 * continuation (returns 0: sm must return from MoveNext).
 */
int a1_await(struct a1_sm *sm, struct a1_sm *child, int32_t point,
	     int64_t *result);

/* Resumed after an await: take the finished child's result and free it. */
static inline int64_t a1_take(struct a1_sm *child)
{
	int64_t r = child->result;

	a1_free(child);
	return r;
}

/* n async1 calls that complete at once, in a loop: ns per call, or a
 * negative errno (bench/call.c). */
double bench_async1_call_ns(uint64_t n);

#endif /* RTASYNC_BENCH_ASYNC1_H */

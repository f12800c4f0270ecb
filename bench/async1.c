/* SPDX-License-Identifier: MIT */
/*
 * The async1 peer model: heap state machine per call, MoveNext, builder
 * completion with a continuation. See async1.h.
 */
#include <stdlib.h>

#include "async1.h"

uint64_t a1_allocs;

struct a1_sm *a1_new(size_t size, a1_move_next_fn move_next)
{
	struct a1_sm *sm = malloc(size);

	if (!sm)
		return NULL;
	a1_allocs++;
	sm->move_next = move_next;
	sm->state = A1_START;
	sm->result = 0;
	sm->cont = NULL;
	return sm;
}

void a1_free(struct a1_sm *sm)
{
	free(sm);
}

void a1_complete(struct a1_sm *sm, int64_t result)
{
	sm->result = result;
	sm->state = A1_DONE;
	if (sm->cont)
		sm->cont->move_next(sm->cont);
}

int a1_await(struct a1_sm *sm, struct a1_sm *child, int32_t point,
	     int64_t *result)
{
	if (child->state == A1_DONE) {
		*result = child->result;
		a1_free(child);
		return 1;
	}
	sm->state = point;
	child->cont = sm;
	return 0;
}

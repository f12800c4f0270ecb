// SPDX-License-Identifier: MIT
/*
 * Task names and task-local storage: what a task carries besides its
 * frames, allocated only when used, in the task's ext (internal.h) with
 * its wait state. The ext itself is allocated by the first of them a
 * task uses and published with a CAS, since a name may be set by any
 * thread while the task allocates the ext for a wait.
 *
 * A name is set once and never changes, so any thread may read it while
 * another sets it: the pointer is published with a release CAS and the
 * string behind it is immutable. Locals belong to the running task only
 * (a task runs on one thread at a time), so they need no atomics; their
 * array is allocated on the first set.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RT_TASK_NAME_MAX 31

static _Atomic int next_key;

/*
 * No wait (one at rest: waitq.c), no name, no locals. seq_cst CAS: see
 * rt_wait_parked(). Two threads may race here; the loser frees its copy.
 */
struct rt_task_ext *rt_task_ext_new(struct rt_task *t)
{
	struct rt_task_ext *x = calloc(1, sizeof(*x)), *none = NULL;

	if (!x)
		return NULL;
	rt_wait_init(&x->wait, t);
	if (atomic_compare_exchange_strong_explicit(&t->ext, &none, x,
			memory_order_seq_cst, memory_order_acquire))
		return x;
	free(x);
	return none;
}

int rt_task_set_name(struct rt_task *t, const char *name)
{
	struct rt_task_ext *x;
	char *copy, *none = NULL;
	size_t len;

	if (!t || !name)
		return -EINVAL;
	x = rt_task_ext_get(t);
	if (!x)
		return -ENOMEM;
	/* not strndup(): glibc's own malloc call there is one the fault
	 * tests (tests/fault_alloc.h) could neither fail nor count */
	len = strnlen(name, RT_TASK_NAME_MAX);
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, name, len);
	copy[len] = '\0';
	if (atomic_compare_exchange_strong_explicit(&x->name, &none, copy,
			memory_order_release, memory_order_relaxed))
		return 0;
	free(copy);
	return -EALREADY;
}

const char *rt_task_name(const struct rt_task *t)
{
	struct rt_task_ext *x;
	char *name;

	if (!t)
		return NULL;
	x = atomic_load_explicit(&((struct rt_task *)t)->ext,
				 memory_order_acquire);
	name = x ? atomic_load_explicit(&x->name, memory_order_acquire) : NULL;
	return name ? name : "";
}

int rt_task_local_key(void)
{
	int key = atomic_fetch_add(&next_key, 1);

	if (key >= RT_TASK_LOCALS) {
		atomic_fetch_sub(&next_key, 1);
		return -ENOSPC;
	}
	return key;
}

static bool key_valid(int key)
{
	return key >= 0 && key < atomic_load(&next_key);
}

int rt_task_local_set(int key, void *value)
{
	struct rt_task *t = rt__running;
	struct rt_task_ext *x;

	if (!t)
		return -EPERM;
	if (!key_valid(key))
		return -EINVAL;
	x = rt_task_ext_get(t);
	if (!x)
		return -ENOMEM;
	if (!x->locals) {
		x->locals = calloc(RT_TASK_LOCALS, sizeof(*x->locals));
		if (!x->locals)
			return -ENOMEM;
	}
	x->locals[key] = value;
	return 0;
}

void *rt_task_local_get(int key)
{
	struct rt_task *t = rt__running;
	struct rt_task_ext *x;

	if (!t || !key_valid(key))
		return NULL;
	x = atomic_load_explicit(&t->ext, memory_order_relaxed);
	if (!x || !x->locals)
		return NULL;
	return x->locals[key];
}

/*
 * From task_free(), through rt_task_extras_free() (internal.h) when the
 * task has an ext: what it allocated besides its frames. The ext
 * stays with the block for the block's next task (task_cache.c frees
 * it), clean: a finished task's wait is idle (rt_wait_finish() ended it
 * before the task ran on), and nobody but a holder of this task could
 * still read its name.
 */
void rt__task_extras_free_slow(struct rt_task_ext *x)
{
	free(atomic_load_explicit(&x->name, memory_order_relaxed));
	atomic_store_explicit(&x->name, NULL, memory_order_relaxed);
	free(x->locals);
	x->locals = NULL;
}

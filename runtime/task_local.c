// SPDX-License-Identifier: MIT
/*
 * Task names and task-local storage: what a task carries besides its
 * frames, allocated only when used (two pointers in every task).
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

int rt_task_set_name(struct rt_task *t, const char *name)
{
	char *copy, *none = NULL;

	if (!t || !name)
		return -EINVAL;
	copy = strndup(name, RT_TASK_NAME_MAX);
	if (!copy)
		return -ENOMEM;
	if (atomic_compare_exchange_strong_explicit(&t->name, &none, copy,
			memory_order_release, memory_order_relaxed))
		return 0;
	free(copy);
	return -EALREADY;
}

const char *rt_task_name(const struct rt_task *t)
{
	char *name;

	if (!t)
		return NULL;
	name = atomic_load_explicit(&((struct rt_task *)t)->name,
				    memory_order_acquire);
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

	if (!t)
		return -EPERM;
	if (!key_valid(key))
		return -EINVAL;
	if (!t->locals) {
		t->locals = calloc(RT_TASK_LOCALS, sizeof(*t->locals));
		if (!t->locals)
			return -ENOMEM;
	}
	t->locals[key] = value;
	return 0;
}

void *rt_task_local_get(int key)
{
	struct rt_task *t = rt__running;

	if (!t || !t->locals || !key_valid(key))
		return NULL;
	return t->locals[key];
}

/* From task_free(): what the task allocated besides its frames. */
void rt_task_extras_free(struct rt_task *t)
{
	free(atomic_load_explicit(&t->name, memory_order_relaxed));
	free(t->locals);
}

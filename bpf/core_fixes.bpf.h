/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * core_fixes.bpf.h - kernel fields that changed name, read with CO-RE
 * on whichever kernel runs the program (as libbpf-tools' file of the
 * same name).
 */
#ifndef RTASYNC_CORE_FIXES_BPF_H
#define RTASYNC_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/* Kernels before 5.14 named the task state field 'state'. */
struct task_struct___o {
	volatile long state;
} __attribute__((preserve_access_index));

static __always_inline unsigned int get_task_state(struct task_struct *t)
{
	struct task_struct___o *old = (void *)t;

	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ(old, state);
}

#endif /* RTASYNC_CORE_FIXES_BPF_H */

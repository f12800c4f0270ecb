/* SPDX-License-Identifier: MIT */
/*
 * task_syms.h - addresses of a live process to function names: its
 * /proc/PID/maps, and the ELF symbol tables (.symtab, else .dynsym) of
 * the files mapped executable, read with libelf when first needed.
 */
#ifndef RTASYNC_TASK_SYMS_H
#define RTASYNC_TASK_SYMS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct task_syms;

struct task_sym {
	const char *name;	/* NULL: no symbol covers the address */
	uint64_t offset;	/* addr - symbol start */
	const char *module;	/* the mapped file's path, NULL if anonymous */
};

/* Reads /proc/PID/maps now; files are opened lazily. */
int task_syms_open(struct task_syms **sp, pid_t pid);
void task_syms_close(struct task_syms *s);
/* addr lies in an executable mapping (a function may start there). */
bool task_syms_is_code(const struct task_syms *s, uint64_t addr);
/* Strings stay valid until task_syms_close(). */
void task_syms_lookup(struct task_syms *s, uint64_t addr, struct task_sym *out);

#endif /* RTASYNC_TASK_SYMS_H */

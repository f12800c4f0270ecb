/* SPDX-License-Identifier: MIT */
/*
 * elf_syms.h - the function symbols of one ELF file, read as hostile
 * input: rtasync-trace runs as root and reads files a traced process
 * chose (its mappings, its root directory).
 *
 * The file is opened without side effects (O_PATH, checked to be a
 * regular file, then reopened non-blocking), copied into memory up to a
 * size limit (so a file that shrinks or changes under us cannot fault the
 * reader), parsed by libelf from that copy, and every count, size, offset
 * and name is bounded below.  What exceeds a bound is left out: the file
 * keeps the symbols read so far.
 */
#ifndef RTASYNC_ELF_SYMS_H
#define RTASYNC_ELF_SYMS_H

#include <stdbool.h>
#include <stdint.h>

/* Bounds on what one file may cost the tool. */
#define ELF_SYMS_MAX_FILE	(512ull << 20)	/* bytes copied */
#define ELF_SYMS_MAX_SECTIONS	65536u
#define ELF_SYMS_MAX_SEGMENTS	4096u
#define ELF_SYMS_MAX_SYMS	(4u << 20)	/* function symbols kept */
#define ELF_SYMS_MAX_NAME	512u		/* longer names are cut */
#define ELF_SYMS_MAX_NAME_BYTES	(64u << 20)	/* all names together */
#define ELF_SYMS_BUDGET_NS	2000000000ull	/* reading and parsing */

struct elf_syms;

/*
 * path opened for elf_syms_load(): a regular file, or -EINVAL for
 * anything else (FIFO, device, directory, socket), which is never opened
 * for reading; -errno if it cannot be opened.
 */
int elf_syms_open(const char *path);
/* fd's symbols (.symtab, else .dynsym) and PT_LOAD segments; 0 or -errno. */
int elf_syms_load(int fd, struct elf_syms **out);
void elf_syms_free(struct elf_syms *s);
/* The ELF virtual address of a file offset, via its PT_LOAD segment. */
bool elf_syms_vaddr(const struct elf_syms *s, uint64_t off, uint64_t *vaddr);
/*
 * The function covering vaddr (a sized symbol that contains it, or an
 * unsized one starting exactly there) and vaddr's offset in it; NULL if
 * none.  Names are at most ELF_SYMS_MAX_NAME - 1 bytes, valid until
 * elf_syms_free(), and may hold any byte but NUL: escape before printing.
 */
const char *elf_syms_lookup(const struct elf_syms *s, uint64_t vaddr,
			    uint64_t *offset);
/* Function symbols kept. */
size_t elf_syms_count(const struct elf_syms *s);

#endif /* RTASYNC_ELF_SYMS_H */

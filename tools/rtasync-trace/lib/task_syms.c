// SPDX-License-Identifier: MIT
/*
 * task_syms.c - symbolization of a live process's code addresses (see
 * task_syms.h).
 *
 * An address maps to a file offset through its mapping (start, file
 * offset), and a file offset to the ELF's own virtual address through
 * the PT_LOAD segment that holds it; symbols are looked up there.  This
 * works alike for executables, PIEs and shared libraries, whatever the
 * load bias.  A file is opened through /proc/PID/map_files (the very
 * inode mapped, even if deleted or in another mount namespace), else
 * through /proc/PID/root, else by its path; each is a path the target
 * chose, so elf_syms.c opens and reads it as hostile input.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf_syms.h"
#include "task_syms.h"

struct elf_file {
	char *path;
	bool loaded;		/* tried, whatever came of it */
	struct elf_syms *syms;	/* NULL: unreadable, not ELF, ... */
};

struct mapping {
	uint64_t start, end, pgoff;
	bool exec;
	struct elf_file *file;	/* NULL: anonymous, [vdso], ... */
};

struct task_syms {
	pid_t pid;
	size_t nmaps, nfiles;
	struct mapping *maps;	/* by start, as /proc lists them */
	struct elf_file **files;
};

/* ---- /proc/PID/maps --------------------------------------------------------- */

static struct elf_file *file_get(struct task_syms *s, const char *path)
{
	struct elf_file *f, **tmp;
	size_t i;

	for (i = 0; i < s->nfiles; i++)
		if (!strcmp(s->files[i]->path, path))
			return s->files[i];
	tmp = realloc(s->files, (s->nfiles + 1) * sizeof(*tmp));
	if (!tmp)
		return NULL;
	s->files = tmp;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return NULL;
	}
	s->files[s->nfiles++] = f;
	return f;
}

static int add_mapping(struct task_syms *s, const char *line, size_t *cap)
{
	unsigned long long start, end, pgoff;
	char perms[8], path[4096] = "";
	struct mapping *m;

	if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095[^\n]", &start, &end,
		   perms, &pgoff, path) < 4)
		return 0;
	if (s->nmaps == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		m = realloc(s->maps, *cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		s->maps = m;
	}
	m = &s->maps[s->nmaps++];
	*m = (struct mapping){ start, end, pgoff, perms[2] == 'x', NULL };
	if (path[0] == '/')
		m->file = file_get(s, path);
	return 0;
}

int task_syms_open(struct task_syms **sp, pid_t pid)
{
	struct task_syms *s;
	char path[64], line[4200];
	size_t cap = 0;
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	s = calloc(1, sizeof(*s));
	if (!s) {
		fclose(f);
		return -ENOMEM;
	}
	s->pid = pid;
	while (!err && fgets(line, sizeof(line), f))
		err = add_mapping(s, line, &cap);
	fclose(f);
	if (err) {
		task_syms_close(s);
		return err;
	}
	*sp = s;
	return 0;
}

static void file_free(struct elf_file *f)
{
	elf_syms_free(f->syms);
	free(f->path);
	free(f);
}

void task_syms_close(struct task_syms *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nfiles; i++)
		file_free(s->files[i]);
	free(s->files);
	free(s->maps);
	free(s);
}

static const struct mapping *mapping_of(const struct task_syms *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nmaps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < s->maps[mid].start)
			hi = mid;
		else if (addr >= s->maps[mid].end)
			lo = mid + 1;
		else
			return &s->maps[mid];
	}
	return NULL;
}

bool task_syms_is_code(const struct task_syms *s, uint64_t addr)
{
	const struct mapping *m = mapping_of(s, addr);

	return m && m->exec;
}

/* ---- ELF symbol tables ---------------------------------------------------------- */

static int open_mapped(const struct task_syms *s, const struct mapping *m)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 (int)s->pid, m->start, m->end);
	fd = elf_syms_open(path);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "/proc/%d/root%s", (int)s->pid,
		 m->file->path);
	fd = elf_syms_open(path);
	if (fd >= 0)
		return fd;
	return elf_syms_open(m->file->path);
}

static void file_load(const struct task_syms *s, const struct mapping *m)
{
	struct elf_file *f = m->file;
	int fd;

	f->loaded = true;	/* once, whatever happens */
	fd = open_mapped(s, m);
	if (fd < 0)
		return;
	if (elf_syms_load(fd, &f->syms))
		f->syms = NULL;
	close(fd);
}

void task_syms_lookup(struct task_syms *s, uint64_t addr, struct task_sym *out)
{
	const struct mapping *m = mapping_of(s, addr);
	uint64_t vaddr;

	memset(out, 0, sizeof(*out));
	if (!m || !m->file)
		return;
	out->module = m->file->path;
	if (!m->file->loaded)
		file_load(s, m);
	if (!m->file->syms ||
	    !elf_syms_vaddr(m->file->syms, addr - m->start + m->pgoff, &vaddr))
		return;
	out->name = elf_syms_lookup(m->file->syms, vaddr, &out->offset);
	if (!out->name)
		out->offset = 0;
}

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
 * through /proc/PID/root, else by its path.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "task_syms.h"

struct sym {
	uint64_t addr, size;
	char *name;
};

struct seg {
	uint64_t off, vaddr, filesz;
};

struct elf_file {
	char *path;
	bool loaded;		/* tried: syms/segs valid, maybe empty */
	size_t nsyms, nsegs;
	struct sym *syms;	/* by addr */
	struct seg *segs;
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
	elf_version(EV_CURRENT);
	*sp = s;
	return 0;
}

static void file_free(struct elf_file *f)
{
	size_t i;

	for (i = 0; i < f->nsyms; i++)
		free(f->syms[i].name);
	free(f->syms);
	free(f->segs);
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
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "/proc/%d/root%s", (int)s->pid,
		 m->file->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	return open(m->file->path, O_RDONLY | O_CLOEXEC);
}

static int load_segs(struct elf_file *f, Elf *e)
{
	size_t n, i;
	GElf_Phdr ph;

	if (elf_getphdrnum(e, &n))
		return -EINVAL;
	f->segs = calloc(n ? n : 1, sizeof(*f->segs));
	if (!f->segs)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD)
			f->segs[f->nsegs++] = (struct seg){ ph.p_offset,
							    ph.p_vaddr,
							    ph.p_filesz };
	return 0;
}

static int add_syms(struct elf_file *f, Elf *e, Elf_Scn *scn,
		    const GElf_Shdr *sh)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0, i;
	struct sym *tmp;
	const char *name;
	GElf_Sym sym;

	if (!d || !n)
		return 0;
	tmp = realloc(f->syms, (f->nsyms + n) * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	f->syms = tmp;
	for (i = 0; i < n; i++) {
		if (!gelf_getsym(d, (int)i, &sym) || !sym.st_value ||
		    (GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
		     GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC))
			continue;
		name = elf_strptr(e, sh->sh_link, sym.st_name);
		if (!name || !(name = strdup(name)))
			continue;
		f->syms[f->nsyms++] = (struct sym){ sym.st_value, sym.st_size,
						    (char *)name };
	}
	return 0;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* .symtab when the file has one (static functions), else .dynsym. */
static int load_syms(struct elf_file *f, Elf *e)
{
	Elf_Scn *scn = NULL, *dyn = NULL;
	GElf_Shdr sh, dynsh;
	int err;

	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB) {
			err = add_syms(f, e, scn, &sh);
			goto sort;
		}
		if (sh.sh_type == SHT_DYNSYM) {
			dyn = scn;
			dynsh = sh;
		}
	}
	err = dyn ? add_syms(f, e, dyn, &dynsh) : 0;
sort:
	qsort(f->syms, f->nsyms, sizeof(*f->syms), cmp_sym);
	return err;
}

static void file_load(const struct task_syms *s, const struct mapping *m)
{
	struct elf_file *f = m->file;
	Elf *e;
	int fd;

	f->loaded = true;	/* once, whatever happens */
	fd = open_mapped(s, m);
	if (fd < 0)
		return;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e && elf_kind(e) == ELF_K_ELF && !load_segs(f, e))
		load_syms(f, e);
	if (e)
		elf_end(e);
	close(fd);
}

/* The ELF virtual address of a file offset, via its PT_LOAD segment. */
static bool file_vaddr(const struct elf_file *f, uint64_t off, uint64_t *vaddr)
{
	size_t i;

	for (i = 0; i < f->nsegs; i++) {
		const struct seg *g = &f->segs[i];

		if (off >= g->off && off < g->off + g->filesz) {
			*vaddr = off - g->off + g->vaddr;
			return true;
		}
	}
	return false;
}

static const struct sym *sym_of(const struct elf_file *f, uint64_t vaddr)
{
	size_t lo = 0, hi = f->nsyms;
	const struct sym *best;

	while (lo < hi) {	/* the last symbol starting at or below vaddr */
		size_t mid = (lo + hi) / 2;

		if (f->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	best = &f->syms[lo - 1];
	/* a sized symbol must cover it; an unsized one, only exactly */
	if (best->size ? vaddr < best->addr + best->size : vaddr == best->addr)
		return best;
	return NULL;
}

void task_syms_lookup(struct task_syms *s, uint64_t addr, struct task_sym *out)
{
	const struct mapping *m = mapping_of(s, addr);
	const struct sym *sym;
	uint64_t vaddr;

	memset(out, 0, sizeof(*out));
	if (!m || !m->file)
		return;
	out->module = m->file->path;
	if (!m->file->loaded)
		file_load(s, m);
	if (!file_vaddr(m->file, addr - m->start + m->pgoff, &vaddr))
		return;
	sym = sym_of(m->file, vaddr);
	if (!sym)
		return;
	out->name = sym->name;
	out->offset = vaddr - sym->addr;
}

// SPDX-License-Identifier: MIT
/*
 * elf_syms.c - one ELF file's function symbols, read as hostile input
 * (see elf_syms.h for the bounds and why).
 *
 * libelf parses a private copy of the file (elf_memory()): a file mapped
 * with ELF_C_READ_MMAP would kill the tool with SIGBUS if the target
 * truncated it meanwhile, and one read lazily could change between two
 * reads.  libelf checks that sections lie inside the image and that
 * elf_strptr() offsets fall inside their string table; on top of that,
 * the counts and sizes it hands back are bounded here, and nothing
 * computed from the file's numbers may overflow.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "elf_syms.h"

struct sym {
	uint64_t addr, size;
	char *name;
};

struct seg {
	uint64_t off, vaddr, filesz;
};

struct elf_syms {
	size_t nsyms, nsegs;
	struct sym *syms;	/* by addr */
	struct seg *segs;
	size_t name_bytes;	/* sum of the names kept */
	uint64_t deadline;	/* CLOCK_MONOTONIC ns: stop loading then */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- opening and copying the file ----------------------------------------- */

int elf_syms_open(const char *path)
{
	char self[64];
	struct stat st;
	int pfd, fd;

	/* O_PATH opens nothing: no FIFO blocks, no device acts on open */
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) || !S_ISREG(st.st_mode)) {
		close(pfd);
		return -EINVAL;
	}
	/* the very inode checked, even if path was replaced since */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		fd = -errno;
	close(pfd);
	return fd;
}

/* The whole file, up to the size bound; *len what could be read. */
static int copy_file(int fd, uint64_t deadline, char **buf, size_t *len)
{
	struct stat st;
	size_t size, done = 0;
	ssize_t n;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size <= 0 || (uint64_t)st.st_size > ELF_SYMS_MAX_FILE)
		return -EFBIG;
	size = (size_t)st.st_size;
	*buf = malloc(size);
	if (!*buf)
		return -ENOMEM;
	/* a file that shrinks meanwhile is read as far as it goes */
	while (done < size && mono_ns() < deadline) {
		n = pread(fd, *buf + done, size - done > (1u << 20) ?
			  (1u << 20) : size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	*len = done;
	return 0;
}

/* ---- segments and symbols ----------------------------------------------------- */

static int load_segs(struct elf_syms *s, Elf *e)
{
	size_t n, i;
	GElf_Phdr ph;

	if (elf_getphdrnum(e, &n) || n > ELF_SYMS_MAX_SEGMENTS)
		return -EINVAL;
	s->segs = calloc(n ? n : 1, sizeof(*s->segs));
	if (!s->segs)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD)
			s->segs[s->nsegs++] = (struct seg){ ph.p_offset,
							    ph.p_vaddr,
							    ph.p_filesz };
	return 0;
}

/* A copy of name cut to the bound, counted; NULL once names are over. */
static char *name_copy(struct elf_syms *s, const char *name)
{
	size_t len = strnlen(name, ELF_SYMS_MAX_NAME - 1);
	char *copy;

	if (s->name_bytes + len + 1 > ELF_SYMS_MAX_NAME_BYTES)
		return NULL;
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, name, len);
	copy[len] = '\0';
	s->name_bytes += len + 1;
	return copy;
}

static bool is_function(const GElf_Sym *sym)
{
	return sym->st_value && (GELF_ST_TYPE(sym->st_info) == STT_FUNC ||
				 GELF_ST_TYPE(sym->st_info) == STT_GNU_IFUNC);
}

/*
 * A symbol table's functions.  Its entry count comes from the data libelf
 * actually has for it, never from sh_size alone, and its entry size must
 * be the ELF class's (a table that says otherwise is skipped).
 */
static int add_syms(struct elf_syms *s, Elf *e, Elf_Scn *scn,
		    const GElf_Shdr *sh)
{
	size_t entsize = gelf_fsize(e, ELF_T_SYM, 1, EV_CURRENT), n, i;
	Elf_Data *d = elf_getdata(scn, NULL);
	const char *name;
	struct sym *tmp;
	GElf_Sym sym;

	if (!d || !entsize || sh->sh_entsize != entsize)
		return 0;
	n = d->d_size / entsize;
	if (n > ELF_SYMS_MAX_SYMS - s->nsyms)
		n = ELF_SYMS_MAX_SYMS - s->nsyms;
	if (!n)
		return 0;
	tmp = realloc(s->syms, (s->nsyms + n) * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	s->syms = tmp;
	for (i = 0; i < n; i++) {
		if (!(i & 4095) && mono_ns() > s->deadline)
			break;	/* keep what was read */
		if (!gelf_getsym(d, (int)i, &sym) || !is_function(&sym))
			continue;
		/* NULL for a bad sh_link or an offset outside the table */
		name = elf_strptr(e, sh->sh_link, sym.st_name);
		if (!name || !(name = name_copy(s, name)))
			continue;
		s->syms[s->nsyms++] = (struct sym){ sym.st_value, sym.st_size,
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
static int load_syms(struct elf_syms *s, Elf *e)
{
	Elf_Scn *scn = NULL, *dyn = NULL;
	GElf_Shdr sh, dynsh;
	size_t nscn;
	int err;

	if (elf_getshdrnum(e, &nscn) || nscn > ELF_SYMS_MAX_SECTIONS)
		return -EINVAL;
	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB) {
			err = add_syms(s, e, scn, &sh);
			goto sort;
		}
		if (sh.sh_type == SHT_DYNSYM) {
			dyn = scn;
			dynsh = sh;
		}
	}
	err = dyn ? add_syms(s, e, dyn, &dynsh) : 0;
sort:
	if (s->nsyms > 1)	/* syms is NULL when no table had any */
		qsort(s->syms, s->nsyms, sizeof(*s->syms), cmp_sym);
	return err;
}

int elf_syms_load(int fd, struct elf_syms **out)
{
	struct elf_syms *s;
	char *image = NULL;
	size_t len = 0;
	Elf *e = NULL;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->deadline = mono_ns() + ELF_SYMS_BUDGET_NS;
	elf_version(EV_CURRENT);
	err = copy_file(fd, s->deadline, &image, &len);
	if (err)
		goto err_free;
	e = elf_memory(image, len);
	err = -EINVAL;
	if (!e || elf_kind(e) != ELF_K_ELF || gelf_getclass(e) == ELFCLASSNONE)
		goto err_free;
	err = load_segs(s, e);
	if (!err)
		err = load_syms(s, e);
	if (err)
		goto err_free;
	elf_end(e);
	free(image);
	*out = s;
	return 0;
err_free:
	if (e)
		elf_end(e);
	free(image);
	elf_syms_free(s);
	return err;
}

void elf_syms_free(struct elf_syms *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nsyms; i++)
		free(s->syms[i].name);
	free(s->syms);
	free(s->segs);
	free(s);
}

size_t elf_syms_count(const struct elf_syms *s)
{
	return s->nsyms;
}

/* ---- look-ups ------------------------------------------------------------------ */

bool elf_syms_vaddr(const struct elf_syms *s, uint64_t off, uint64_t *vaddr)
{
	size_t i;

	for (i = 0; i < s->nsegs; i++) {
		const struct seg *g = &s->segs[i];

		/* written so that no sum of the file's numbers can wrap */
		if (off >= g->off && off - g->off < g->filesz) {
			*vaddr = off - g->off + g->vaddr;
			return true;
		}
	}
	return false;
}

const char *elf_syms_lookup(const struct elf_syms *s, uint64_t vaddr,
			    uint64_t *offset)
{
	size_t lo = 0, hi = s->nsyms;
	const struct sym *best;

	while (lo < hi) {	/* the last symbol starting at or below vaddr */
		size_t mid = lo + (hi - lo) / 2;

		if (s->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	best = &s->syms[lo - 1];
	/* a sized symbol must cover it; an unsized one, only exactly */
	if (best->size ? vaddr - best->addr < best->size : vaddr == best->addr) {
		*offset = vaddr - best->addr;
		return best->name;
	}
	return NULL;
}

// SPDX-License-Identifier: MIT
/*
 * test_fuzz_elf.c - the symbolizer (tools/rtasync-trace/lib/elf_syms.c)
 * against crafted ELF files, in-process: `task dump` reads, as root, ELF
 * files a traced process chose.  Every load must return (an error or a
 * table), every look-up a NULL or a name NUL-terminated within
 * ELF_SYMS_MAX_NAME bytes; ASan+UBSan (tools/run-tests.sh, build-fuzz/)
 * see the rest.  Files that are not regular files must be refused
 * without being opened for reading (a FIFO would block).
 *
 * The ELF seed is this test's own executable; mutations are random from
 * a fixed seed (FUZZ_SEED in the environment to try others).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "elf_syms.h"

#define MUTATIONS 400

static char *seed_image;	/* /proc/self/exe, ELF64 */
static size_t seed_len;
static char tmp_dir[] = "/tmp/fuzz-elf-XXXXXX";
static char file_path[64];
static unsigned int rng_state;

static unsigned int rnd(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

static int setup(void **state)
{
	const char *seed = getenv("FUZZ_SEED");
	struct stat st;
	int fd;

	(void)state;
	rng_state = seed ? (unsigned int)strtoul(seed, NULL, 0) : 8;
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		return -1;
	seed_len = (size_t)st.st_size;
	seed_image = malloc(seed_len);
	if (!seed_image || pread(fd, seed_image, seed_len, 0) != (ssize_t)seed_len)
		return -1;
	close(fd);
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(file_path, sizeof(file_path), "%s/f", tmp_dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(file_path);
	rmdir(tmp_dir);
	free(seed_image);
	return 0;
}

static void write_file(const void *buf, size_t len)
{
	int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/*
 * Load the file and look up addresses all over: inside the image, at
 * symbol-ish addresses, at the extremes.  -errno or the symbol count.
 */
static long load_and_probe(const char *path)
{
	struct elf_syms *s;
	uint64_t vaddr, off;
	const char *name;
	long n;
	int fd = elf_syms_open(path), err;

	if (fd < 0)
		return fd;
	err = elf_syms_load(fd, &s);
	close(fd);
	if (err)
		return err;
	n = (long)elf_syms_count(s);
	for (int i = 0; i < 256; i++) {
		uint64_t probe = i < 4 ? (uint64_t[]){ 0, 1, UINT64_MAX,
					INT64_MAX }[i] :
				 (uint64_t)rnd() % (seed_len + 4096);

		if (elf_syms_vaddr(s, probe, &vaddr))
			probe = vaddr;
		name = elf_syms_lookup(s, probe, &off);
		if (name)
			assert_true(strnlen(name, ELF_SYMS_MAX_NAME) <
				    ELF_SYMS_MAX_NAME);
	}
	elf_syms_free(s);
	return n;
}

static long load_image(const void *buf, size_t len)
{
	write_file(buf, len);
	return load_and_probe(file_path);
}

static void test_seed_has_symbols(void **state)
{
	(void)state;
	/* the unmutated binary: the symbolizer works at all */
	assert_true(load_image(seed_image, seed_len) > 10);
}

static Elf64_Shdr *shdrs(char *img)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;

	if (eh->e_shoff > seed_len || eh->e_shoff % 8 ||
	    (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > seed_len - eh->e_shoff)
		return NULL;
	return (Elf64_Shdr *)(img + eh->e_shoff);
}

/* Index of the first section of type t, -1 if none. */
static int find_section(char *img, uint32_t t)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Shdr *sh = shdrs(img);

	for (int i = 0; sh && i < eh->e_shnum; i++)
		if (sh[i].sh_type == t)
			return i;
	return -1;
}

static uint64_t extreme(void)
{
	static const uint64_t v[] = { 0, 1, 7, 0xffff, 0x7fffffff, 0xffffffff,
				      1ull << 40, INT64_MAX, UINT64_MAX,
				      UINT64_MAX - 7 };

	return v[rnd() % (sizeof(v) / sizeof(v[0]))];
}

/* One field of the symbol table's or string table's header, extreme. */
static void mutate_table_header(char *img)
{
	int i = find_section(img, rnd() % 2 ? SHT_SYMTAB : SHT_STRTAB);
	Elf64_Shdr *sh = shdrs(img);

	if (i < 0)
		return;
	switch (rnd() % 5) {
	case 0: sh[i].sh_size = extreme(); break;
	case 1: sh[i].sh_entsize = extreme(); break;
	case 2: sh[i].sh_offset = extreme(); break;
	case 3: sh[i].sh_link = (uint32_t)extreme(); break;
	default: sh[i].sh_type = rnd() % 20; break;
	}
}

/* Random bytes in the symbol table or its string table. */
static void mutate_table_bytes(char *img)
{
	int i = find_section(img, rnd() % 2 ? SHT_SYMTAB : SHT_STRTAB);
	Elf64_Shdr *sh = shdrs(img);

	if (i < 0 || sh[i].sh_offset >= seed_len || !sh[i].sh_size)
		return;
	for (int k = 0; k < 64; k++) {
		uint64_t at = sh[i].sh_offset + rnd() % sh[i].sh_size;

		if (at < seed_len)
			img[at] = (char)rnd();
	}
}

/* The ELF header's counts and offsets, extreme or random. */
static void mutate_elf_header(char *img)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;

	switch (rnd() % 6) {
	case 0: eh->e_shnum = (uint16_t)rnd(); break;
	case 1: eh->e_shoff = extreme(); break;
	case 2: eh->e_phnum = (uint16_t)rnd(); break;
	case 3: eh->e_phoff = extreme(); break;
	case 4: eh->e_shstrndx = (uint16_t)rnd(); break;
	default: img[rnd() % sizeof(*eh)] = (char)rnd(); break;
	}
}

/* Random bytes anywhere in the section header table. */
static void mutate_section_table(char *img)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Shdr *sh = shdrs(img);

	if (!sh || !eh->e_shnum)
		return;
	for (int k = 0; k < 16; k++)
		((char *)sh)[rnd() % (eh->e_shnum * sizeof(*sh))] = (char)rnd();
}

static void test_mutations(void **state)
{
	static void (*const mutate[])(char *) = {
		mutate_table_header, mutate_table_bytes, mutate_elf_header,
		mutate_section_table,
	};
	char *img = malloc(seed_len);
	unsigned int loaded = 0;

	(void)state;
	assert_non_null(img);
	for (int i = 0; i < MUTATIONS; i++) {
		size_t len = seed_len;

		memcpy(img, seed_image, seed_len);
		for (unsigned int m = 1 + rnd() % 3; m; m--)
			mutate[rnd() % 4](img);
		if (i % 8 == 7)		/* and truncated somewhere */
			len = rnd() % seed_len;
		if (load_image(img, len) >= 0)
			loaded++;
	}
	free(img);
	print_message("%d crafted ELF files: %u loaded, %u refused\n",
		      MUTATIONS, loaded, MUTATIONS - loaded);
}

static void test_random_bytes(void **state)
{
	char buf[4096];

	(void)state;
	for (int i = 0; i < 64; i++) {
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (char)rnd();
		if (i % 2)	/* a valid ident, garbage after it */
			memcpy(buf, seed_image, EI_NIDENT);
		assert_true(load_image(buf, 64 + rnd() % (sizeof(buf) - 64)) <= 0);
	}
}

static void test_not_regular_files(void **state)
{
	char fifo[80];

	(void)state;
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmp_dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* no reader, no writer: opening it for reading would block */
	assert_int_equal(load_and_probe(fifo), -EINVAL);
	unlink(fifo);
	assert_int_equal(load_and_probe(tmp_dir), -EINVAL);
	assert_int_equal(load_and_probe("/dev/zero"), -EINVAL);
	assert_int_equal(load_and_probe("/nonexistent/elf"), -ENOENT);
}

static void test_sizes(void **state)
{
	int fd;

	(void)state;
	write_file("", 0);
	assert_int_equal(load_and_probe(file_path), -EFBIG);
	/* sparse: the size bound is checked before anything is read */
	fd = open(file_path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)ELF_SYMS_MAX_FILE + 1), 0);
	close(fd);
	assert_int_equal(load_and_probe(file_path), -EFBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_has_symbols),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_not_regular_files),
		cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

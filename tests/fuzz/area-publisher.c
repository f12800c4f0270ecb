// SPDX-License-Identifier: MIT
/*
 * area-publisher.c - a hostile librtasync stand-in for the fuzz test
 * (test_fuzz_area.c): it publishes a memfd named like a trace area and
 * fills it, and its own memory, with what a malicious or broken target
 * could write, for rtasync-trace (run as root) to read.
 *
 *	area-publisher VARIANT [SEED]
 *
 *	names		a good layout; sites named with escape sequences,
 *			newlines and no terminating NUL; counts and event
 *			records (task 0, sites and reasons out of range,
 *			turn records of any number and time, turn_at
 *			anywhere)
 *	loop		a good layout; a timer heap whose tasks have frame
 *			chains that loop, or run on past any sane depth
 *	huge-nworkers	nworkers = 0xffffffff
 *	past-end	workers (and rings) past the end of the memfd
 *	flip		a good layout, then a thread rewrites the header's
 *			counts and offsets between good and huge, forever
 *	random SEED	magic and version right, every other byte random
 *	unsealed	a good layout without the size seals; shrinks the
 *			memfd to 0 bytes 100 ms after it is ready
 *	fifo		a good area whose fd number keeps being swapped
 *			for a FIFO nobody writes
 *	task-names	a good layout; a timer heap of one-frame tasks whose
 *			name pointers lead to escape sequences, 8 KiB without
 *			a NUL, a string running into an unmapped page, an
 *			unmapped address, the top of the address space, code;
 *			a thread flips one task's name pointer meanwhile
 *			(each behind its task's ext pointer)
 *	fibers		a good layout; a timer heap of tasks whose one frame
 *			runs a fiber (fiber_fn) with a crafted stack: a frame
 *			chain past any sane depth, one that points at itself,
 *			goes down, or leaves the stack, a saved sp above the
 *			stack, control blocks unmapped or unaligned, a fiber
 *			not started; a thread flips one saved sp meanwhile
 *	two-libs	not hostile: two good areas of two copies of the
 *			library (two lib_anchors), each numbering its sites
 *			from 1: "alpha" at 1 counted 10 per worker in the
 *			first, "beta" at 1 counted 7 in the second
 *
 * Prints "ready pid=N" on stdout, then waits to be killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rtasync-trace.h"
#include "rtasync.h"

#define NWORKERS 2
#define SITES_MAX 64
#define RING 64
#define SITES_OFF 4096
#define WORKERS_OFF (SITES_OFF + SITES_MAX * 128)
#define STRIDE 8192
#define COUNTS_OFF 512
#define RING_OFF 1024
#define AREA_SIZE (WORKERS_OFF + NWORKERS * STRIDE)
_Static_assert(sizeof(struct rt_trace_site) == 128, "sites' room");
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

#define CHUNK_HDR 32		/* as this file lays chunks out */
#define CHUNK_CALLER 24
#define LONG_CHAIN 70000	/* frames: past the tool's walk bound */
#define HEAP_TASKS 400		/* tasks in the timer heap */

static int memfd;
static unsigned char *area;
static struct rt_trace_header *hdr;

static void die(const char *what)
{
	fprintf(stderr, "area-publisher: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void area_create(size_t size, bool seal)
{
	memfd = memfd_create(RT_TRACE_MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, (off_t)size))
		die("memfd");
	if (seal && fcntl(memfd, F_ADD_SEALS, SEALS))
		die("seals");
	area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (area == MAP_FAILED)
		die("mmap");
	hdr = (struct rt_trace_header *)area;
}

static struct rt_trace_worker *worker(unsigned int w)
{
	return (struct rt_trace_worker *)(area + WORKERS_OFF + w * STRIDE);
}

/* The layout the runtime would publish, at this file's sizes. */
static void header_good(void)
{
	hdr->version = RT_TRACE_VERSION;
	hdr->header_size = 4096;
	hdr->pid = (uint32_t)getpid();
	hdr->nworkers = NWORKERS;
	hdr->sites_max = SITES_MAX;
	hdr->ring_records = RING;
	hdr->sites_offset = SITES_OFF;
	hdr->workers_offset = WORKERS_OFF;
	hdr->worker_stride = STRIDE;
	hdr->ring_offset = RING_OFF;
	hdr->site_counts_offset = COUNTS_OFF;
	hdr->area_size = AREA_SIZE;
	hdr->nsites = SITES_MAX - 1;
	hdr->task_head_top_off = offsetof(struct rt_task_head, top);
	hdr->task_head_site_off = offsetof(struct rt_task_head, site);
	hdr->site_id_off = offsetof(struct rt_site, id);
	hdr->chunk_hdr_size = CHUNK_HDR;
	hdr->chunk_caller_off = CHUNK_CALLER;
	hdr->running_tls_off = -64;
	hdr->magic = RT_TRACE_MAGIC;
}

static void workers_good(void)
{
	unsigned int w;

	for (w = 0; w < NWORKERS; w++) {
		worker(w)->tid = (uint32_t)getpid();	/* a thread that exists */
		worker(w)->cpu = -1;
	}
}

/* ---- names ---------------------------------------------------------------- */

static const char *const evil[] = {
	"\x1b[31mRED\x1b[0m", "line\nforged 1 2 3", "bell\a\b\r", "\x9b" "2J",
	"\xc2\x9b" "c1", "\x7f" "del",
};

static void site_fill(unsigned int id)
{
	struct rt_trace_site *s =
		(struct rt_trace_site *)(area + SITES_OFF) + id;
	const char *name = evil[id % (sizeof(evil) / sizeof(evil[0]))];

	if (id % 7 == 0) {	/* no NUL anywhere: the whole field is name */
		memset(s->func, 'A' + (int)(id % 26), sizeof(s->func));
		memset(s->file, '\x1b', sizeof(s->file));
	} else {
		snprintf(s->func, sizeof(s->func), "%s", name);
		snprintf(s->file, sizeof(s->file), "/x/%s.c", name);
	}
	s->line = id;
}

static void record_put(unsigned int w, uint64_t pos, unsigned int salt)
{
	struct rt_trace_record *r = (struct rt_trace_record *)
		(area + WORKERS_OFF + w * STRIDE + RING_OFF) + (pos % RING);

	/* turn records now and then, some timed backwards, and steps of
	 * any reason, site and count after them */
	if (salt % 7 == 0) {
		r->ts = salt % 3 ? pos * 1000 : ~0ull - pos;
		r->reason = RT_TRACE_TURN;
	} else {
		r->task = salt % 5 ? 0x1000 + 16 * (salt % 97) : 0;
		r->reason = (uint8_t)(salt * 37);
	}
	r->site = salt % 3 ? salt % SITES_MAX : 100000 + salt;
	memset(r->pad, (int)salt, sizeof(r->pad));
}

/* Records keep coming, for hist and record to drain. */
static void *records_thread(void *arg)
{
	unsigned int salt = 1, w, i;

	(void)arg;
	for (;;) {
		for (w = 0; w < NWORKERS; w++) {
			uint64_t head = worker(w)->head;

			for (i = 0; i < 16; i++)
				record_put(w, head + i, salt++);
			__atomic_store_n(&worker(w)->head, head + 16,
					 __ATOMIC_RELEASE);
			/* where a reader starts: past the head, at the
			 * top of the space, or on any record below it */
			worker(w)->turn_at = salt % 3 == 0 ? ~0ull :
					     salt % 3 == 1 ? head + 20 :
					     head + salt % 16;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return NULL;
}

static void publish_names(void)
{
	pthread_t t;
	unsigned int id, w;

	area_create(AREA_SIZE, true);
	header_good();
	workers_good();
	for (id = 1; id < SITES_MAX; id++)
		site_fill(id);
	for (w = 0; w < NWORKERS; w++)
		for (id = 0; id < SITES_MAX; id++)
			((uint64_t *)(area + WORKERS_OFF + w * STRIDE +
				      COUNTS_OFF))[id] = id * 3 + w;
	hdr->events_enabled = 1;
	pthread_create(&t, NULL, records_thread, NULL);
}

/* ---- loop ------------------------------------------------------------------ */

struct frame_slot {			/* a chunk of one frame */
	uint64_t chunk_hdr[CHUNK_HDR / 8];
	struct rt_frame f;
};

static struct rt_task_head heads[3];
static struct frame_slot ring_a, ring_b, self_loop;
static struct rt_frame *chain;
static uint64_t heap_tasks[HEAP_TASKS];
static struct { uint64_t v; uint32_t len; } heap;
static struct rt_site evil_site = { "\x1b]0;pwned\a", "/\n/evil.c", 7, 5 };

static void chunk_frame(struct frame_slot *s, struct frame_slot *caller)
{
	s->f.fn = (rt_async_fn)(uintptr_t)&chunk_frame;	/* in code */
	s->f.caller_off = 0;
	s->f.flags = RT_FRAME_CHUNK_FIRST;
	s->chunk_hdr[CHUNK_CALLER / 8] = (uint64_t)(uintptr_t)&caller->f;
}

static void publish_loop(void)
{
	size_t i;

	/* a -> b -> a, and a frame whose caller is itself */
	chunk_frame(&ring_a, &ring_b);
	chunk_frame(&ring_b, &ring_a);
	chunk_frame(&self_loop, &self_loop);
	/* LONG_CHAIN frames, each 16 bytes above its caller */
	chain = calloc(LONG_CHAIN, sizeof(*chain));
	if (!chain)
		die("calloc");
	for (i = 0; i < LONG_CHAIN; i++) {
		chain[i].fn = (rt_async_fn)(uintptr_t)&chunk_frame;
		chain[i].caller_off = i ? sizeof(*chain) : 0;
		chain[i].flags = i ? 0 : RT_FRAME_ROOT;
	}
	heads[0].top = &ring_a.f;
	heads[1].top = &self_loop.f;
	heads[2].top = &chain[LONG_CHAIN - 1];
	for (i = 0; i < 3; i++)
		heads[i].site = &evil_site;
	for (i = 0; i < HEAP_TASKS; i++)
		heap_tasks[i] = (uint64_t)(uintptr_t)&heads[i < 2 ? i : 2];
	heap.v = (uint64_t)(uintptr_t)heap_tasks;
	heap.len = HEAP_TASKS;
	area_create(AREA_SIZE, true);
	header_good();
	workers_good();
	worker(0)->timer_heap = (uint64_t)(uintptr_t)&heap;
	worker(1)->timer_heap = (uint64_t)(uintptr_t)&heap;
}

/* ---- task-names ------------------------------------------------------------ */

struct named_task {
	struct rt_task_head head;
	uint64_t ext;			/* at task_ext_off: &ext_name */
	uint64_t ext_name;		/* at task_name_off from there */
};

#define NAMED_TASKS 8
#define LONG_NAME 8192

static struct named_task named[NAMED_TASKS];
static struct rt_frame named_root = {
	.fn = (rt_async_fn)(uintptr_t)&chunk_frame, .flags = RT_FRAME_ROOT,
};
static uint64_t named_heap[NAMED_TASKS];
static char long_name[LONG_NAME];

/* The last bytes of a page followed by one that is not mapped: no NUL. */
static uint64_t name_before_hole(void)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || munmap(p + 4096, 4096))
		die("mmap");
	memcpy(p + 4096 - 5, "hole!", 5);
	return (uint64_t)(uintptr_t)(p + 4096 - 5);
}

static void *name_flip_thread(void *arg)
{
	const uint64_t names[] = { 0, 16, (uint64_t)(uintptr_t)long_name,
				   (uint64_t)(uintptr_t)evil[0] };
	uint32_t k;

	(void)arg;
	for (k = 0;; k++) {
		__atomic_store_n(&named[0].ext_name, names[k % 4],
				 __ATOMIC_RELAXED);
		if (!(k & 63))
			nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
	}
	return NULL;
}

static void publish_task_names(void)
{
	const uint64_t names[NAMED_TASKS] = {
		0, (uint64_t)(uintptr_t)evil[0], (uint64_t)(uintptr_t)evil[1],
		(uint64_t)(uintptr_t)long_name, name_before_hole(), 16,
		~0ull - 3, (uint64_t)(uintptr_t)&publish_task_names,
	};
	pthread_t t;
	size_t i;

	memset(long_name, 'N', sizeof(long_name));
	for (i = 0; i < NAMED_TASKS; i++) {
		named[i].head.top = &named_root;
		named[i].ext = (uint64_t)(uintptr_t)&named[i].ext_name - 8;
		named[i].ext_name = names[i];
		named_heap[i] = (uint64_t)(uintptr_t)&named[i];
	}
	heap.v = (uint64_t)(uintptr_t)named_heap;
	heap.len = NAMED_TASKS;
	area_create(AREA_SIZE, true);
	header_good();
	hdr->task_ext_off = offsetof(struct named_task, ext);
	hdr->task_name_off = 8;		/* a name not first in its block */
	workers_good();
	worker(0)->timer_heap = (uint64_t)(uintptr_t)&heap;
	pthread_create(&t, NULL, name_flip_thread, NULL);
}

/* ---- fibers ------------------------------------------------------------------ */

#define FIBER_STACK 65536
#define FIBERS 8
#define FIBER_CHAIN 2000	/* frames: past the tool's walk bound */

struct fake_fiber {		/* the control block, at the stack's top */
	uint64_t sp, stack_lo;
} __attribute__((aligned(64)));

struct fiber_stack {
	uint64_t words[FIBER_STACK / 8];
	struct fake_fiber fb;
};

struct fiber_task {
	struct rt_task_head head;
	struct rt_frame frame;		/* its fn is fiber_fn */
	uint64_t fiber;			/* at fiber_frame_fiber_off */
};

static struct fiber_stack fstacks[FIBERS];
static struct fiber_task ftasks[FIBERS];
static uint64_t fiber_heap[FIBERS];

/* A parked context at word w of stack i: saved rbp at +48, pc at +56. */
static uint64_t *fiber_parked(unsigned int i, size_t w, uint64_t fp)
{
	struct fiber_stack *st = &fstacks[i];

	st->fb.stack_lo = (uint64_t)(uintptr_t)st->words;
	st->fb.sp = (uint64_t)(uintptr_t)&st->words[w];
	st->words[w + 6] = fp;
	st->words[w + 7] = (uint64_t)(uintptr_t)&chunk_frame;
	ftasks[i].fiber = (uint64_t)(uintptr_t)&st->fb;
	return st->words;
}

static void fibers_craft(void)
{
	uint64_t *w;
	size_t k;

	/* 0: FIBER_CHAIN frames 32 bytes apart, each a good one */
	w = fiber_parked(0, 0, (uint64_t)(uintptr_t)&fstacks[0].words[16]);
	for (k = 16; k < 16 + 4 * FIBER_CHAIN; k += 4) {
		w[k] = (uint64_t)(uintptr_t)&w[k + 4];
		w[k + 1] = (uint64_t)(uintptr_t)&chunk_frame;
	}
	/* 1: a frame that is its own caller; 2: one below the last */
	w = fiber_parked(1, 0, (uint64_t)(uintptr_t)&fstacks[1].words[16]);
	w[16] = (uint64_t)(uintptr_t)&w[16];
	w = fiber_parked(2, 8, (uint64_t)(uintptr_t)&fstacks[2].words[32]);
	w[32] = (uint64_t)(uintptr_t)&w[2];
	/* 3: leaves the stack for low memory; 4: above the stack */
	fiber_parked(3, 0, 16);
	fiber_parked(4, 0, 0);
	fstacks[4].fb.sp = (uint64_t)(uintptr_t)&fstacks[4].fb + 64;
	/* 5: an unmapped control block; 6: an unaligned one; 7: not started */
	ftasks[5].fiber = 0x1000;
	ftasks[6].fiber = (uint64_t)(uintptr_t)&fstacks[6].fb + 8;
	ftasks[7].fiber = 0;
}

static void *fiber_flip_thread(void *arg)
{
	uint64_t good = fstacks[1].fb.sp;
	const uint64_t bad[] = { 0, ~0ull, good + 4, 0x1000 };
	uint32_t k;

	(void)arg;
	for (k = 0;; k++) {
		__atomic_store_n(&fstacks[1].fb.sp, k & 1 ? bad[(k >> 1) % 4] : good,
				 __ATOMIC_RELAXED);
		if (!(k & 63))
			nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
	}
	return NULL;
}

static void publish_fibers(void)
{
	pthread_t t;
	size_t i;

	for (i = 0; i < FIBERS; i++) {
		ftasks[i].frame.fn = (rt_async_fn)(uintptr_t)&publish_fibers;
		ftasks[i].frame.flags = RT_FRAME_ROOT;
		ftasks[i].head.top = &ftasks[i].frame;
		fiber_heap[i] = (uint64_t)(uintptr_t)&ftasks[i];
	}
	fibers_craft();
	heap.v = (uint64_t)(uintptr_t)fiber_heap;
	heap.len = FIBERS;
	area_create(AREA_SIZE, true);
	header_good();
	hdr->fiber_fn = (uint64_t)(uintptr_t)&publish_fibers;
	hdr->fiber_frame_fiber_off = offsetof(struct fiber_task, fiber) -
				     offsetof(struct fiber_task, frame);
	hdr->fiber_sp_off = offsetof(struct fake_fiber, sp);
	hdr->fiber_stack_lo_off = offsetof(struct fake_fiber, stack_lo);
	hdr->fiber_saved_fp_off = 48;
	hdr->fiber_saved_pc_off = 56;
	workers_good();
	worker(0)->timer_heap = (uint64_t)(uintptr_t)&heap;
	pthread_create(&t, NULL, fiber_flip_thread, NULL);
}

/* ---- bad layouts -------------------------------------------------------------- */

static void publish_huge_nworkers(void)
{
	area_create(AREA_SIZE, true);
	header_good();
	hdr->nworkers = 0xffffffffu;
}

static void publish_past_end(void)
{
	area_create(WORKERS_OFF + STRIDE / 2, true);
	header_good();
	hdr->area_size = WORKERS_OFF + STRIDE / 2;
}

static void *flip_thread(void *arg)
{
	uint32_t k = 0;

	(void)arg;
	for (;; k++) {
		hdr->nworkers = k & 1 ? 0xffffffffu : NWORKERS;
		hdr->sites_max = k & 2 ? 0x7fffffffu : SITES_MAX;
		hdr->ring_records = k & 4 ? 3 : RING;
		hdr->nsites = k & 8 ? 0xffffffffu : 3;
		hdr->workers_offset = k & 16 ? (1ull << 62) : WORKERS_OFF;
		hdr->sample_shift = k;
		worker(k % NWORKERS)->head = k & 32 ? ~0ull - k : k;
		/* often enough to catch a reader between two reads, without
		 * taking a CPU of a shared machine */
		if (!(k & 63))
			nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
	}
	return NULL;
}

static void publish_flip(void)
{
	pthread_t t;

	publish_names();
	pthread_create(&t, NULL, flip_thread, NULL);
}

static void publish_random(unsigned int seed)
{
	size_t i;

	srandom(seed);
	area_create(AREA_SIZE, true);
	for (i = 0; i < AREA_SIZE; i++)
		area[i] = (unsigned char)random();
	/* small numbers are the dangerous ones: near-valid layouts */
	if (seed & 1) {
		header_good();
		((uint32_t *)hdr)[5 + random() % 12] = (uint32_t)random() %
						       (seed & 2 ? 70000 : 16);
	}
	hdr->version = RT_TRACE_VERSION;
	hdr->magic = RT_TRACE_MAGIC;
}

static void publish_unsealed(void)
{
	area_create(AREA_SIZE, false);
	header_good();
	workers_good();
}

/* ---- two-libs ------------------------------------------------------------ */

static void publish_copy(uint64_t anchor, const char *func, uint64_t count)
{
	struct rt_trace_site *s;
	unsigned int w;

	area_create(AREA_SIZE, true);
	header_good();
	hdr->nsites = 1;
	hdr->lib_anchor = anchor;
	workers_good();
	s = (struct rt_trace_site *)(area + SITES_OFF) + 1;
	snprintf(s->func, sizeof(s->func), "%s", func);
	snprintf(s->file, sizeof(s->file), "/src/%s.c", func);
	s->line = 1;
	for (w = 0; w < NWORKERS; w++)
		((uint64_t *)(area + WORKERS_OFF + w * STRIDE + COUNTS_OFF))[1] =
			count;
}

static void publish_two_libs(void)
{
	publish_copy(0x1000, "alpha", 10);
	publish_copy(0x2000, "beta", 7);
}

/* ---- fifo ---------------------------------------------------------------------- */

static int fifo_fd;

static void *swap_thread(void *arg)
{
	int spare = dup(memfd);

	(void)arg;
	for (;;) {
		dup2(fifo_fd, memfd);
		nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
		dup2(spare, memfd);
		nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
	}
	return NULL;
}

static void publish_fifo(void)
{
	char dir[] = "/tmp/area-publisher-fifo-XXXXXX", path[sizeof(dir) + 2];
	pthread_t t;

	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(path, sizeof(path), "%s/p", dir);
	if (mkfifo(path, 0600))
		die("mkfifo");
	fifo_fd = open(path, O_RDONLY | O_NONBLOCK);
	if (fifo_fd < 0)
		die("fifo");
	unlink(path);
	rmdir(dir);
	publish_names();
	pthread_create(&t, NULL, swap_thread, NULL);
}

int main(int argc, char **argv)
{
	const char *v = argc > 1 ? argv[1] : "";

	if (!strcmp(v, "names"))
		publish_names();
	else if (!strcmp(v, "loop"))
		publish_loop();
	else if (!strcmp(v, "huge-nworkers"))
		publish_huge_nworkers();
	else if (!strcmp(v, "past-end"))
		publish_past_end();
	else if (!strcmp(v, "flip"))
		publish_flip();
	else if (!strcmp(v, "random") && argc > 2)
		publish_random((unsigned int)strtoul(argv[2], NULL, 10));
	else if (!strcmp(v, "unsealed"))
		publish_unsealed();
	else if (!strcmp(v, "fifo"))
		publish_fifo();
	else if (!strcmp(v, "task-names"))
		publish_task_names();
	else if (!strcmp(v, "fibers"))
		publish_fibers();
	else if (!strcmp(v, "two-libs"))
		publish_two_libs();
	else {
		fprintf(stderr, "usage: area-publisher VARIANT [SEED]\n");
		return 2;
	}
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	if (!strcmp(v, "unsealed")) {
		nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
		if (ftruncate(memfd, 0))
			die("shrink");
	}
	for (;;)
		pause();
}

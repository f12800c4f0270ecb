// SPDX-License-Identifier: MIT
/*
 * The trace area (include/rtasync-trace.h): a memfd the runtime shares
 * with rtasync-trace. It holds what is always on (per-worker counters,
 * the current-task words the eBPF observer reads, suspension counts per
 * await site) and the per-worker event rings a tool may switch on.
 *
 * Await sites get process-wide ids the first time a task suspends at
 * them; each runtime copies a site's description into its own table the
 * first time one of its workers counts it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "fiber.h"
#include "trace_step.h"
#include "arch/x86_64/fiber.h"

#define RT_TRACE_HEADER_SIZE 4096
_Static_assert(sizeof(struct rt_trace_header) <= RT_TRACE_HEADER_SIZE,
	       "the header is one page");

static _Atomic uint32_t next_site_id;

static size_t worker_stride(void)
{
	return RT_TRACE_ALIGN(RT_TRACE_RING_OFFSET + RT_TRACE_RING_RECORDS *
			      sizeof(struct rt_trace_record), 4096);
}

static size_t sites_offset(void)
{
	return RT_TRACE_HEADER_SIZE;
}

static size_t workers_offset(void)
{
	return RT_TRACE_ALIGN(sites_offset() + RT_TRACE_SITES_MAX *
			      sizeof(struct rt_trace_site), 4096);
}

/*
 * A tool maps the area from another process, as root: a size that
 * changed under its mapping would kill it with SIGBUS, so the size is
 * sealed once set, and the seals themselves too.  Tools refuse areas
 * without these seals (Documentation/rtasync-trace.md).
 */
#define RT_TRACE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static int area_size_and_seal(int fd, size_t size)
{
	if (ftruncate(fd, (off_t)size))
		return -errno;
	if (fcntl(fd, F_ADD_SEALS, RT_TRACE_SEALS))
		return -errno;
	return 0;
}

/*
 * A memfd a tool can find in /proc/PID/fd; where memfds are not allowed,
 * plain anonymous memory keeps the counters working, untraceable.
 */
static void *area_map(size_t size, int *fd_out)
{
	int fd = memfd_create(RT_TRACE_MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p;

	*fd_out = -1;
	if (fd >= 0 && area_size_and_seal(fd, size) == 0) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) {
			*fd_out = fd;
			return p;
		}
	}
	if (fd >= 0)
		close(fd);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void header_init(struct rt_trace_header *h, unsigned int nworkers,
			size_t size)
{
	h->version = RT_TRACE_VERSION;
	h->header_size = RT_TRACE_HEADER_SIZE;
	h->pid = (uint32_t)getpid();
	h->nworkers = nworkers;
	h->sites_max = RT_TRACE_SITES_MAX;
	h->ring_records = RT_TRACE_RING_RECORDS;
	h->sites_offset = sites_offset();
	h->workers_offset = workers_offset();
	h->worker_stride = worker_stride();
	h->ring_offset = RT_TRACE_RING_OFFSET;
	h->site_counts_offset = RT_TRACE_COUNTS_OFFSET;
	h->area_size = size;
	h->task_head_top_off = offsetof(struct rt_task_head, top);
	h->task_head_site_off = offsetof(struct rt_task_head, site);
	h->site_id_off = offsetof(struct rt_site, id);
	h->task_result_off = offsetof(struct rt_task, result);
	h->task_deadline_off = offsetof(struct rt_task, deadline);
	h->task_ext_off = offsetof(struct rt_task, ext);
	h->task_name_off = offsetof(struct rt_task_ext, name);
	h->chunk_hdr_size = RT_CHUNK_HDR;
	h->chunk_caller_off = offsetof(struct rt_chunk, caller);
	h->lib_anchor = (uint64_t)(uintptr_t)&rt_runtime_new;
	h->running_tls_off = rt_running_tls_offset();
	h->fiber_fn = (uint64_t)(uintptr_t)&rt_fiber_run;
	h->fiber_frame_fiber_off = offsetof(struct rt_fiber_frame, fiber);
	h->fiber_sp_off = offsetof(struct rt_fiber, sp);
	h->fiber_stack_lo_off = offsetof(struct rt_fiber, stack_lo);
	h->fiber_saved_fp_off = RT_ARCH_FIBER_SAVED_FP_OFF;
	h->fiber_saved_pc_off = RT_ARCH_FIBER_SAVED_PC_OFF;
	/* the magic last: a tool that sees it sees a complete header */
	__atomic_store_n(&h->magic, RT_TRACE_MAGIC, __ATOMIC_RELEASE);
}

int rt_trace_init(struct rt_trace *tr, unsigned int nworkers)
{
	size_t size = workers_offset() + nworkers * worker_stride();

	tr->hdr = area_map(size, &tr->fd);
	if (!tr->hdr)
		return -ENOMEM;
	tr->size = size;
	tr->published = calloc(RT_TRACE_SITES_MAX / 64, sizeof(uint64_t));
	if (!tr->published) {
		rt_trace_destroy(tr);
		return -ENOMEM;
	}
	header_init(tr->hdr, nworkers, size);
	tr->tsc_clock = rt_trace_clock_tsc_usable();
	return 0;
}

void rt_trace_destroy(struct rt_trace *tr)
{
	if (tr->hdr)
		munmap(tr->hdr, tr->size);
	if (tr->fd >= 0)
		close(tr->fd);
	free(tr->published);
	tr->hdr = NULL;
	tr->fd = -1;
	tr->published = NULL;
}

/*
 * The layout comes from constants (here and in trace_step.h), never
 * from the header: a tool maps the header page writable (to switch
 * events on) and could have written anything there.  What the workers
 * read back from the area (events_enabled, sample_shift, a ring's head)
 * is used only as a flag, masked, or masked into the ring: see
 * trace_turn() (worker.c) and rt_trace_record() (trace_step.h).
 */
static char *worker_area(struct rt_trace *tr, unsigned int i)
{
	return (char *)tr->hdr + workers_offset() + i * worker_stride();
}

void rt_trace_worker_bind(struct rt_trace *tr, struct rt_worker *w)
{
	char *area = worker_area(tr, w->index);

	w->tw = (struct rt_trace_worker *)area;
	w->trace = tr;
	w->site_counts = (uint64_t *)(area + RT_TRACE_COUNTS_OFFSET);
	w->trace_worker = (uint64_t)(uint16_t)w->index << 48;
	rt_trace_clock_init(&w->trace_clock, tr->tsc_clock);
	w->stats = &w->tw->counters;
	w->io_counts = &w->tw->io;
	w->io_counts->kinds = RT_IO_KINDS;
	w->tw->cpu = w->cpu;
	w->tw->timer_heap = (uint64_t)(uintptr_t)&w->timers;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	/* keep the tail of long paths: it names the file */
	if (n >= size)
		src += n - (size - 1);
	snprintf(dst, size, "%s", src);
}

/* Describe site in this runtime's table, once. */
static void site_publish(struct rt_trace *tr, struct rt_site *site,
			 uint32_t id)
{
	struct rt_trace_site *ts;
	uint64_t bit = 1ull << (id % 64);
	uint32_t n;

	/* the fast path's hint, for the runtime that describes it last;
	 * a release: the fast path that sees it reads the id without a
	 * check (rt_trace_site(), trace_step.h) */
	__atomic_store_n(&site->described, tr, __ATOMIC_RELEASE);
	if (__atomic_load_n(&tr->published[id / 64], __ATOMIC_RELAXED) & bit)
		return;
	/* Two workers may get here for one site: the one that claims the
	 * bit writes the description; tools see it through nsites below. */
	if (__atomic_fetch_or(&tr->published[id / 64], bit, __ATOMIC_ACQ_REL) &
	    bit)
		return;
	ts = (struct rt_trace_site *)((char *)tr->hdr + sites_offset()) + id;
	copy_str(ts->func, sizeof(ts->func), site->func);
	copy_str(ts->file, sizeof(ts->file), site->file);
	ts->line = site->line;
	n = __atomic_load_n(&tr->hdr->nsites, __ATOMIC_RELAXED);
	while (n < id && !__atomic_compare_exchange_n(&tr->hdr->nsites, &n, id,
			false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

/* The site's id (1..sites_max-1), or 0 once the table is full. */
uint32_t rt_trace_site_id(struct rt_trace *tr, struct rt_site *site)
{
	uint32_t id = __atomic_load_n(&site->id, __ATOMIC_ACQUIRE);

	if (__builtin_expect(!id, 0)) {
		uint32_t fresh = atomic_fetch_add(&next_site_id, 1) + 1;

		/* two first suspensions may race: the first id wins */
		if (!__atomic_compare_exchange_n(&site->id, &id, fresh, false,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			fresh = id;
		id = fresh;
	}
	if (id >= RT_TRACE_SITES_MAX)
		return 0;	/* counted as "other" */
	site_publish(tr, site, id);
	return id;
}

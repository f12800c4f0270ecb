// SPDX-License-Identifier: MIT
/*
 * The trace area (include/rtasync-trace.h): a memfd the runtime shares
 * with rtasync-trace. It holds what is always on (per-worker counters,
 * the current-task words the eBPF observer reads, suspension counts per
 * await site) and the per-worker event rings a tool may switch on.
 *
 * Await sites get process-wide ids the first time a task suspends at
 * them, and every runtime's table describes every id (see the registry
 * below).
 */
#include <fcntl.h>
#include <pthread.h>
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

/*
 * The process's await sites. A site is numbered once, under the lock:
 * its description is kept here and copied into the table of every live
 * area, and only then is the id stored in the site (a release). An area
 * made later gets every description so far before its workers start.
 * So a worker that reads a site's id (rt_trace_site(), trace_step.h)
 * records it with no check of its own: whatever area the record lands
 * in describes it. Sites belong to one copy of the library (a second
 * copy in the process numbers its own).
 */
static struct {
	pthread_mutex_t lock;
	uint32_t n;		/* ids 1..n given out, RT_TRACE_SITE_OTHER
				   included once the room ran out */
	struct rt_trace_site desc[RT_TRACE_SITES_MAX];
	struct rt_trace *live;	/* areas of the runtimes, linked */
} sites = { .lock = PTHREAD_MUTEX_INITIALIZER };

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

static void site_describe(struct rt_trace *tr, uint32_t id)
{
	struct rt_trace_site *ts =
		(struct rt_trace_site *)((char *)tr->hdr + sites_offset()) + id;

	*ts = sites.desc[id];
	/* tools read the table up to nsites (an acquire); ids are given
	 * out in order, "(other sites)" last */
	__atomic_store_n(&tr->hdr->nsites, sites.n, __ATOMIC_RELEASE);
}

/* A new id for site, described in every area; under sites.lock. */
static uint32_t site_new_id(const struct rt_site *site)
{
	struct rt_trace_site *d;
	struct rt_trace *tr;
	uint32_t id;

	if (sites.n == RT_TRACE_SITE_OTHER)
		return RT_TRACE_SITE_OTHER;	/* the room ran out: described */
	id = sites.n + 1;
	d = &sites.desc[id];
	if (id == RT_TRACE_SITE_OTHER) {
		copy_str(d->func, sizeof(d->func), "(other sites)");
	} else {
		copy_str(d->func, sizeof(d->func), site->func);
		copy_str(d->file, sizeof(d->file), site->file);
		d->line = site->line;
	}
	sites.n = id;
	for (tr = sites.live; tr; tr = tr->next_live)
		site_describe(tr, id);
	return id;
}

/*
 * The site's id, numbering it first if nobody has: 1..RT_TRACE_SITE_OTHER,
 * the last standing for every site past the table's room. Out of line:
 * once a site per process.
 */
uint32_t rt_trace_site_number(struct rt_site *site)
{
	uint32_t id;

	pthread_mutex_lock(&sites.lock);
	id = __atomic_load_n(&site->id, __ATOMIC_RELAXED);
	if (!id) {	/* else another worker numbered it meanwhile */
		id = site_new_id(site);
		/* the release: descriptions before the id (see sites) */
		__atomic_store_n(&site->id, id, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&sites.lock);
	return id;
}

/*
 * In the child of fork() the areas of inherited runtimes are still
 * shared with the parent: the child must not describe its own sites into
 * them. The lock is held across fork so that the child gets it free.
 */
static void sites_fork_prepare(void)
{
	pthread_mutex_lock(&sites.lock);
}

static void sites_fork_parent(void)
{
	pthread_mutex_unlock(&sites.lock);
}

static void sites_fork_child(void)
{
	sites.live = NULL;
	pthread_mutex_unlock(&sites.lock);
}

static void sites_watch_forks(void)
{
	pthread_atfork(sites_fork_prepare, sites_fork_parent, sites_fork_child);
}

/* A new area: every site numbered so far, then the new ones as they come. */
static void sites_join(struct rt_trace *tr)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	uint32_t id;

	pthread_once(&once, sites_watch_forks);
	pthread_mutex_lock(&sites.lock);
	for (id = 1; id <= sites.n; id++)
		site_describe(tr, id);
	tr->next_live = sites.live;
	sites.live = tr;
	pthread_mutex_unlock(&sites.lock);
}

/* An area going away, or one a fork left behind (not linked: no-op). */
static void sites_leave(struct rt_trace *tr)
{
	struct rt_trace **p;

	pthread_mutex_lock(&sites.lock);
	for (p = &sites.live; *p; p = &(*p)->next_live) {
		if (*p == tr) {
			*p = tr->next_live;
			break;
		}
	}
	pthread_mutex_unlock(&sites.lock);
}

int rt_trace_init(struct rt_trace *tr, unsigned int nworkers)
{
	size_t size = workers_offset() + nworkers * worker_stride();

	tr->hdr = area_map(size, &tr->fd);
	if (!tr->hdr)
		return -ENOMEM;
	tr->size = size;
	header_init(tr->hdr, nworkers, size);
	tr->tsc_clock = rt_trace_clock_tsc_usable();
	sites_join(tr);
	return 0;
}

void rt_trace_destroy(struct rt_trace *tr)
{
	sites_leave(tr);
	if (tr->hdr)
		munmap(tr->hdr, tr->size);
	if (tr->fd >= 0)
		close(tr->fd);
	tr->hdr = NULL;
	tr->fd = -1;
}

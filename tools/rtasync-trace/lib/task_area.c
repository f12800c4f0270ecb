// SPDX-License-Identifier: MIT
/*
 * task_area.c - finding, mapping and reading the trace areas of a live
 * librtasync process, and reading its memory (see task_area.h).
 *
 * A runtime's area is a memfd; /proc/PID/fd/N opens the same file, so
 * the tool maps the very pages the workers write.  The area outlives the
 * process for as long as the tool keeps it mapped, which lets a report
 * that ends with the target still read its last records and sites.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "task_area.h"

#define MEMFD_LINK "/memfd:" RT_TRACE_MEMFD_NAME
/* A runtime publishes its magic last; one starting up gets this long. */
#define MAGIC_WAIT_TRIES 20
#define MAGIC_WAIT_NS 5000000L

uint64_t task_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* the runtime's clock */
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- finding and checking an area ------------------------------------ */

/*
 * Bounds on what an area may declare, far above what the runtime uses
 * (include/rtasync-trace.h): they keep a hostile header from making the
 * tool allocate or walk without end.
 */
#define AREA_MAX_SITES (1u << 16)
#define AREA_MAX_RING (1u << 16)
#define AREA_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

/* "/memfd:rtasync-trace (deleted)": the name, then a space or the end. */
static bool is_area_name(const char *link)
{
	size_t n = strlen(MEMFD_LINK);

	return !strncmp(link, MEMFD_LINK, n) && (link[n] == ' ' || !link[n]);
}

/* 1 if fd N of the target looks like an area, 0 if not, or -errno. */
static int is_area_link(pid_t pid, const char *fd)
{
	char path[300], link[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == EACCES || errno == EPERM ? -errno : 0;
	link[n] = '\0';
	return is_area_name(link);
}

static bool fits(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static bool aligned8(uint64_t v)
{
	return !(v & 7);
}

/* Every offset the readers follow stays inside the mapping. */
static bool layout_ok(const struct rt_trace_header *h, size_t size)
{
	uint64_t stride = h->worker_stride;

	if (h->header_size < sizeof(*h) || h->header_size > size ||
	    h->area_size > size || !h->ring_records ||
	    h->ring_records > AREA_MAX_RING ||
	    (h->ring_records & (h->ring_records - 1)) ||
	    !h->sites_max || h->sites_max > AREA_MAX_SITES ||
	    h->nworkers > RT_MAX_WORKERS)
		return false;
	/* aligned, so the readers' atomic loads are of whole words */
	if (!aligned8(h->sites_offset) || !aligned8(h->workers_offset) ||
	    !aligned8(stride) || !aligned8(h->site_counts_offset) ||
	    !aligned8(h->ring_offset))
		return false;
	if (!fits(h->sites_offset,
		  (uint64_t)h->sites_max * sizeof(struct rt_trace_site), size) ||
	    (h->nworkers && stride > size) ||
	    !fits(h->workers_offset, (uint64_t)h->nworkers * stride, size))
		return false;
	return fits(0, sizeof(struct rt_trace_worker), stride) &&
	       fits(h->site_counts_offset, (uint64_t)h->sites_max * 8, stride) &&
	       fits(h->ring_offset,
		    (uint64_t)h->ring_records * sizeof(struct rt_trace_record),
		    stride);
}

/*
 * Take the header once into a->h, with pread(): no mapping yet, so no
 * SIGBUS whatever the file is, and the copy stays what was checked while
 * the target rewrites its own.  0, -EAGAIN while the runtime is still
 * writing it, -EPROTO otherwise.
 */
static int header_take(struct task_proc *p, struct task_area *a, int fd)
{
	ssize_t n = pread(fd, &a->h, sizeof(a->h), 0);

	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(a->h) || !a->h.magic)
		return -EAGAIN;		/* not sized or not written yet */
	if (a->h.magic != RT_TRACE_MAGIC)
		return -EPROTO;
	if (a->h.version != RT_TRACE_VERSION) {
		p->version = a->h.version;
		p->refusal = TASK_REFUSED_VERSION;
		return -EPROTO;
	}
	return 0;
}

static int pidfd_getfd_compat(int pidfd, int fd)
{
#ifdef SYS_pidfd_getfd
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
#else
	(void)pidfd;
	(void)fd;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * The target's fd itself, with pidfd_getfd(): no path is opened, so a
 * target that swaps the fd for a FIFO or a device cannot make us block
 * in open() or open something else.  Where that is not allowed (an old
 * kernel; Yama's ptrace_scope asks more for it than for /proc), the
 * /proc path, opened non-blocking and checked like the first.
 */
static int area_fd_get(struct task_proc *p, int tfd)
{
	char path[64];
	int fd;

	if (p->pidfd >= 0) {
		fd = pidfd_getfd_compat(p->pidfd, tfd);
		if (fd >= 0 || (errno != ENOSYS && errno != EPERM &&
				errno != EACCES))
			return fd >= 0 ? fd : -errno;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)p->pid, tfd);
	fd = open(path, (p->rw ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_NOCTTY |
		  O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/*
 * Is the file we now hold a trace area: a memfd of the runtime's name?
 * Its name is read from our own fd table, so it is the file we hold,
 * whatever the target did since.
 */
static int area_fd_check(struct task_proc *p, int fd, struct stat *st)
{
	char path[64], link[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (fstat(fd, st) || !S_ISREG(st->st_mode) || n <= 0 ||
	    fcntl(fd, F_GET_SEALS) < 0) {	/* memfds (shmem) have seals */
		p->refusal = TASK_REFUSED_NOT_MEMFD;
		return -EPROTO;
	}
	link[n] = '\0';
	if (!is_area_name(link)) {
		p->refusal = TASK_REFUSED_NOT_MEMFD;
		return -EPROTO;
	}
	return 0;
}

/*
 * Its size can no longer change (the seals), so a mapping of st_size
 * bytes stays backed: the target cannot shrink it under us (SIGBUS).
 */
static int area_size_check(struct task_proc *p, int fd, struct task_area *a,
			   int err)
{
	int seals = fcntl(fd, F_GET_SEALS);
	struct stat st;

	if (seals < 0 || (seals & AREA_SEALS) != AREA_SEALS) {
		p->refusal = TASK_REFUSED_UNSEALED;
		return -EPROTO;
	}
	if (err)
		return err;
	if (fstat(fd, &st) || st.st_size <= 0)
		return -EAGAIN;
	a->size = (size_t)st.st_size;
	if (!layout_ok(&a->h, a->size)) {
		p->refusal = TASK_REFUSED_LAYOUT;
		return -EPROTO;
	}
	return 0;
}

/* The header page, writable: where commands switch events on and off. */
static int map_ctl(struct task_area *a, int fd)
{
	void *m = mmap(NULL, sizeof(struct rt_trace_header),
		       PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (m == MAP_FAILED)
		return -errno;
	a->ctl = m;
	return 0;
}

static void area_unmap(struct task_area *a)
{
	if (a->map)
		munmap((void *)a->map, a->size);
	if (a->ctl)
		munmap(a->ctl, sizeof(*a->ctl));
	a->map = NULL;
	a->ctl = NULL;
}

/* Check fd of the target and map it: 0, -EAGAIN (try again), -errno. */
static int map_fd(struct task_proc *p, int tfd, struct task_area *a)
{
	struct stat st;
	void *m;
	int fd, err;

	fd = area_fd_get(p, tfd);
	if (fd < 0)
		return fd;
	err = area_fd_check(p, fd, &st);
	if (!err)
		err = header_take(p, a, fd);
	/* a version says more than a seal; no seal more than "not yet" */
	if (!err || err == -EAGAIN)
		err = area_size_check(p, fd, a, err);
	if (err)
		goto out_close;
	m = mmap(NULL, a->size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		err = -errno;
		goto out_close;
	}
	a->fd = tfd;
	a->map = m;
	if (p->rw) {
		err = map_ctl(a, fd);
		if (err)
			area_unmap(a);
	}
out_close:
	close(fd);
	return err;
}

static int area_add(struct task_proc *p, int tfd)
{
	struct task_area *a = &p->areas[p->nareas];
	int tries, err;

	for (tries = 0; tries < MAGIC_WAIT_TRIES; tries++) {
		err = map_fd(p, tfd, a);
		if (!err) {
			p->nareas++;
			return 0;
		}
		if (err != -EAGAIN)
			return err;
		nanosleep(&(struct timespec){ .tv_nsec = MAGIC_WAIT_NS }, NULL);
	}
	return -ENOENT;		/* never finished starting: not usable */
}

static int open_fd_dir(pid_t pid, DIR **dirp)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (access(path, F_OK))
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	*dirp = opendir(path);
	if (!*dirp)
		return errno == ENOENT ? -ESRCH : -errno;
	return 0;
}

/* An fd name from readdir: digits only, a valid fd number; else -1. */
static int fd_number(const char *name)
{
	int64_t v = 0;

	if (!*name)
		return -1;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || v > INT32_MAX / 10)
			return -1;
		v = v * 10 + (*name - '0');
	}
	return v <= INT32_MAX ? (int)v : -1;
}

/* Map every area among the target's fds; the first error kept. */
static int scan_fds(struct task_proc *p, DIR *dir)
{
	int first_err = -ENOENT, err, tfd;
	struct dirent *de;

	while ((de = readdir(dir)) && p->nareas < TASK_MAX_AREAS) {
		tfd = fd_number(de->d_name);
		if (tfd < 0)
			continue;
		err = is_area_link(p->pid, de->d_name);
		if (err < 0)
			p->denied = true;
		if (err <= 0)
			continue;
		err = area_add(p, tfd);
		/* an area we cannot use says more than "none" */
		if (err && first_err == -ENOENT)
			first_err = err;
	}
	/* fds we were not allowed to look at may have been areas */
	if (first_err == -ENOENT && p->denied)
		first_err = -EACCES;
	return first_err;
}

/* The largest sites_max among the areas of area i's copy of the library. */
static uint32_t copy_sites_max(const struct task_proc *p, int i)
{
	uint32_t n = 0;
	int j;

	for (j = i; j < p->nareas; j++)
		if (p->areas[j].h.lib_anchor == p->areas[i].h.lib_anchor &&
		    p->areas[j].h.sites_max > n)
			n = p->areas[j].h.sites_max;
	return n;
}

/* Areas with the same lib_anchor are one copy of librtasync. */
static void assign_site_bases(struct task_proc *p)
{
	int i, j;

	p->nsite_ids = 0;
	for (i = 0; i < p->nareas; i++) {
		for (j = 0; j < i; j++)
			if (p->areas[j].h.lib_anchor == p->areas[i].h.lib_anchor)
				break;
		if (j < i) {
			p->site_base[i] = p->site_base[j];
			continue;
		}
		p->site_base[i] = p->nsite_ids;
		p->nsite_ids += copy_sites_max(p, i);
	}
}

int task_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

int task_proc_open(struct task_proc *p, pid_t pid, bool rw)
{
	int err;
	DIR *dir;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->rw = rw;
	p->pidfd = task_pidfd_open(pid);
	err = open_fd_dir(pid, &dir);
	if (err)
		goto err_close;
	err = scan_fds(p, dir);
	closedir(dir);
	if (p->nareas) {
		assign_site_bases(p);
		return 0;
	}
err_close:
	task_proc_close(p);
	return err;
}

void task_proc_close(struct task_proc *p)
{
	int i;

	for (i = 0; i < p->nareas; i++)
		area_unmap(&p->areas[i]);
	p->nareas = 0;
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
}

size_t task_proc_nworkers(const struct task_proc *p)
{
	size_t n = 0;
	int i;

	for (i = 0; i < p->nareas; i++)
		n += p->areas[i].h.nworkers;
	return n;
}

/* ---- counters and sites ------------------------------------------------- */

uint32_t task_area_nsites(const struct task_area *a)
{
	uint32_t n = __atomic_load_n(&task_area_live(a)->nsites, __ATOMIC_ACQUIRE);

	return n < a->h.sites_max ? n : a->h.sites_max - 1;
}

void task_worker_read(const struct task_area *a, unsigned int w,
		      struct rt_stats *st, uint32_t *tid, int32_t *cpu)
{
	const struct rt_trace_worker *tw = task_worker(a, w);
	const uint64_t *src = (const uint64_t *)&tw->counters;
	uint64_t *dst = (uint64_t *)st;
	size_t i;

	/* each counter is one aligned word with a single writer */
	for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	/* the area's suspends and yields stay 0: derived as
	 * rt_runtime_stats() derives them */
	st->suspends = rt_trace_suspends(st);
	st->yields = rt_trace_yields(st);
	if (tid)
		*tid = __atomic_load_n(&tw->tid, __ATOMIC_RELAXED);
	if (cpu)
		*cpu = tw->cpu;
}

void task_blocking_read(const struct task_area *a, struct rt_trace_blocking *b)
{
	const struct rt_trace_blocking *src = &task_area_live(a)->blocking;

	b->queued = __atomic_load_n(&src->queued, __ATOMIC_RELAXED);
	b->started = __atomic_load_n(&src->started, __ATOMIC_RELAXED);
	b->completed = __atomic_load_n(&src->completed, __ATOMIC_RELAXED);
	b->skipped = __atomic_load_n(&src->skipped, __ATOMIC_RELAXED);
	b->threads = __atomic_load_n(&src->threads, __ATOMIC_RELAXED);
	b->max = __atomic_load_n(&src->max, __ATOMIC_RELAXED);
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* Read one word at a time, the words may disagree for a moment (and a
 * hostile target makes them say anything): never below 0, never more
 * running than threads. */
uint64_t task_blocking_running(const struct rt_trace_blocking *b)
{
	uint64_t n = sat_sub(b->started, b->completed);

	return n < b->threads ? n : b->threads;
}

uint64_t task_blocking_waiting(const struct rt_trace_blocking *b)
{
	return sat_sub(sat_sub(b->queued, b->started), b->skipped);
}

static void copy_field(char *dst, const char *src, size_t size)
{
	memcpy(dst, src, size);
	dst[size - 1] = '\0';
}

void task_site_describe(const struct task_proc *p, uint32_t gid,
			struct task_site_desc *d)
{
	const struct rt_trace_site *s;
	uint32_t id;
	int i;

	for (i = 0; i < p->nareas; i++) {
		const struct task_area *a = &p->areas[i];

		if (gid < p->site_base[i] || gid - p->site_base[i] >= a->h.sites_max)
			continue;
		id = gid - p->site_base[i];
		if (!id) {	/* a second copy's "not at an await" */
			snprintf(d->func, sizeof(d->func), "(no await site)");
			snprintf(d->file, sizeof(d->file), "?");
			d->line = 0;
			return;
		}
		s = (const struct rt_trace_site *)(a->map + a->h.sites_offset) + id;
		if (!__atomic_load_n(&s->line, __ATOMIC_ACQUIRE) && !s->func[0])
			continue;	/* not described in this runtime */
		copy_field(d->func, s->func, sizeof(d->func));
		copy_field(d->file, s->file, sizeof(d->file));
		d->line = s->line;
		return;
	}
	snprintf(d->func, sizeof(d->func), "?");
	snprintf(d->file, sizeof(d->file), "?");
	d->line = 0;
}

const char *task_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

const char *task_site_label(const struct task_proc *p, uint32_t id,
			    char *buf, size_t len)
{
	struct task_site_desc d;

	if (!id) {
		snprintf(buf, len, "(no await site)");
		return buf;
	}
	task_site_describe(p, id, &d);
	snprintf(buf, len, "%s (%s:%u)", d.func, task_basename(d.file), d.line);
	return buf;
}

uint32_t task_site_gid(const struct task_proc *p, unsigned int area,
		       uint32_t id)
{
	if (area >= (unsigned int)p->nareas)
		return 0;
	return p->site_base[area] +
	       (id < p->areas[area].h.sites_max ? id : 0);
}

uint32_t task_proc_sites_max(const struct task_proc *p)
{
	return p->nsite_ids;
}

void task_proc_site_counts(const struct task_proc *p, uint64_t *counts,
			   uint32_t n)
{
	uint32_t id, w, max;
	int i;

	memset(counts, 0, n * sizeof(*counts));
	for (i = 0; i < p->nareas; i++) {
		const struct task_area *a = &p->areas[i];

		if (p->site_base[i] >= n)
			continue;
		max = n - p->site_base[i];
		if (a->h.sites_max < max)
			max = a->h.sites_max;
		for (w = 0; w < a->h.nworkers; w++) {
			const uint64_t *c = task_site_counts(a, w);

			for (id = 0; id < max; id++)
				counts[p->site_base[i] + id] +=
					__atomic_load_n(&c[id], __ATOMIC_RELAXED);
		}
	}
}

/* ---- rings ---------------------------------------------------------------- */

static const struct rt_trace_record *ring_of(const struct task_area *a,
					     unsigned int w)
{
	return (const struct rt_trace_record *)(task_worker_base(a, w) +
						a->h.ring_offset);
}

static uint64_t ring_head(const struct task_area *a, unsigned int w)
{
	return __atomic_load_n(&task_worker(a, w)->head, __ATOMIC_ACQUIRE);
}

/*
 * Copy position pos of ring w (below a head read before): 0, or -EAGAIN
 * if the writer may have been in its slot meanwhile.  The writer fills
 * a slot only after publishing the head that gives up its last record
 * (struct rt_trace_record): if the head read after the copy is still
 * short of pos + ring_records, the copy is whole.  A target that lies in
 * its head only loses its own records.
 */
static int record_copy(const struct task_area *a, unsigned int w,
		       uint64_t pos, struct rt_trace_record *copy)
{
	const struct rt_trace_record *slot =
		&ring_of(a, w)[pos & (a->h.ring_records - 1)];

	copy->task = __atomic_load_n(&slot->task, __ATOMIC_RELAXED);
	copy->site = __atomic_load_n(&slot->site, __ATOMIC_RELAXED);
	copy->reason = __atomic_load_n(&slot->reason, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&task_worker(a, w)->head, __ATOMIC_RELAXED) -
	       pos < a->h.ring_records ? 0 : -EAGAIN;
}

/* Records of ring w lost: steps, or turn records, which take their
 * steps' time with them, so the steps after are lost until the next. */
static void ring_lose(struct task_ring *r, uint64_t n)
{
	r->lost += n;
	r->in_turn = false;
}

/*
 * A turn record: the records lost since the last are told apart by the
 * turns' numbers (how many turns began between the two), and what is
 * left of them were steps.  A target's numbers only make its own counts
 * wrong.
 */
static void ring_turn(struct task_ring *r, uint64_t pos,
		      const struct rt_trace_record *copy)
{
	uint64_t turns = 0, steps;

	if (r->numbered)
		turns = (uint32_t)(copy->site - r->turn_no - 1);
	steps = r->lost - (turns < r->lost ? turns : r->lost);
	r->dropped += steps;
	r->gap += steps;
	r->lost = 0;
	r->turn_ts = copy->ts;
	r->turn_pos = pos;
	r->turn_no = copy->site;
	r->numbered = true;
	r->in_turn = true;
}

/*
 * Start at the head, knowing the turn the records there belong to: the
 * last turn record, at turn_at, is published below the head, and the
 * records from the head on are of its turn or of later ones. Not there,
 * or not whole: the writer moved meanwhile, look again, a few times.
 */
static void ring_number_start(const struct task_area *a, unsigned int w,
			      struct task_ring *r)
{
	const struct rt_trace_worker *tw = task_worker(a, w);
	struct rt_trace_record copy;
	uint64_t head, at;
	int tries;

	for (tries = 0; tries < 100; tries++) {
		head = __atomic_load_n(&tw->head, __ATOMIC_ACQUIRE);
		if (!head) {		/* nothing written: turn 0 is next */
			r->turn_no = UINT32_MAX;
			r->numbered = true;
			break;
		}
		at = __atomic_load_n(&tw->turn_at, __ATOMIC_ACQUIRE);
		if (at < head && !record_copy(a, w, at, &copy) &&
		    copy.reason == RT_TRACE_TURN) {
			/* the steps from the head on may still be its;
			 * nothing lost yet for ring_turn() to count */
			ring_turn(r, at, &copy);
			break;
		}
	}
	/* else a writer too quick to pin: the first turn read gives the
	 * numbers from then on */
	r->next = head;
}

void task_ring_start(const struct task_area *a, unsigned int w,
		     struct task_ring *r)
{
	memset(r, 0, sizeof(*r));
	ring_number_start(a, w, r);
}

/*
 * A whole record at position pos: a turn's sets the time and the first
 * index of the steps after it; a step's goes to fn with both, or is lost
 * with its turn record.
 */
static void ring_take(struct task_ring *r, unsigned int area, unsigned int w,
		      uint64_t pos, const struct rt_trace_record *copy,
		      task_record_fn fn, void *ctx)
{
	struct task_record rec;
	uint64_t step;

	if (copy->reason == RT_TRACE_TURN) {
		ring_turn(r, pos, copy);
		return;
	}
	if (!r->in_turn) {
		ring_lose(r, 1);
		return;
	}
	/* a target may write any number of steps after a turn record */
	step = pos - r->turn_pos - 1;
	rec = (struct task_record){
		.seq = pos + 1, .ts = r->turn_ts, .task = copy->task,
		.site = copy->site, .reason = copy->reason,
		.step = step > UINT8_MAX ? UINT8_MAX : (uint8_t)step,
		.worker = (uint16_t)w,
	};
	r->records++;
	fn(ctx, area, &rec, r->gap);
	r->gap = 0;
}

/* Read ring w up to head (a snapshot of its head), oldest first. */
static void ring_read(const struct task_area *a, unsigned int area,
		      unsigned int w, struct task_ring *r, uint64_t head,
		      task_record_fn fn, void *ctx)
{
	/* the slot of head - ring_records is the writer's next one */
	uint64_t keep = a->h.ring_records - 1;
	struct rt_trace_record copy;

	if (head < r->next)
		r->next = head;		/* cannot happen with one writer */
	if (head - r->next > keep) {
		ring_lose(r, head - r->next - keep);
		r->next = head - keep;
	}
	for (; r->next < head; r->next++) {
		if (record_copy(a, w, r->next, &copy))
			ring_lose(r, 1);	/* lapped while we read */
		else
			ring_take(r, area, w, r->next, &copy, fn, ctx);
	}
}

void task_ring_drain(const struct task_area *a, unsigned int area,
		     unsigned int w, struct task_ring *r, task_record_fn fn,
		     void *ctx)
{
	ring_read(a, area, w, r, ring_head(a, w), fn, ctx);
}

int task_rings_start(struct task_rings *rs, const struct task_proc *p)
{
	unsigned int w;
	size_t n;
	int i;

	rs->n = task_proc_nworkers(p);
	rs->r = calloc(rs->n ? rs->n : 1, sizeof(*rs->r));
	if (!rs->r)
		return -ENOMEM;
	n = 0;
	for (i = 0; i < p->nareas; i++)
		for (w = 0; w < p->areas[i].h.nworkers; w++)
			task_ring_start(&p->areas[i], w, &rs->r[n++]);
	return 0;
}

/* The records of one drain of all rings, to be put in order. */
struct drain_batch {
	size_t n, cap;
	struct drain_rec {
		struct task_record rec;
		uint64_t gap;
		unsigned int area;
		unsigned int ring;	/* index in task_rings */
	} *v;
	unsigned int ring;	/* the ring being read */
	uint64_t lost;		/* read, but no memory to keep them */
};

static void batch_add(void *ctx, unsigned int area,
		      const struct task_record *rec, uint64_t gap)
{
	struct drain_batch *b = ctx;
	void *tmp;

	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 4096;

		tmp = realloc(b->v, cap * sizeof(*b->v));
		if (!tmp) {
			b->lost++;
			return;
		}
		b->v = tmp;
		b->cap = cap;
	}
	b->v[b->n++] = (struct drain_rec){ *rec, gap, area, b->ring };
}

/*
 * Causal order, as near as the records tell it: a task resumed on
 * another worker has its steps in two rings, in turns that began in that
 * order.  Ties (steps of one turn) keep ring order.
 */
static int cmp_drain_rec(const void *a, const void *b)
{
	const struct drain_rec *x = a, *y = b;

	if (x->rec.ts != y->rec.ts)
		return x->rec.ts < y->rec.ts ? -1 : 1;
	if (x->ring != y->ring)
		return x->ring < y->ring ? -1 : 1;
	return x->rec.seq < y->rec.seq ? -1 : x->rec.seq > y->rec.seq;
}

void task_rings_drain(struct task_rings *rs, const struct task_proc *p,
		      task_record_fn fn, void *ctx)
{
	struct drain_batch b = { 0 };
	uint64_t *heads = calloc(rs->n ? rs->n : 1, sizeof(*heads));
	unsigned int w;
	size_t n, i;
	int a;

	if (!heads)
		return;		/* next time: the rings keep them a while */
	/* all heads first: a step read in one ring has its predecessor
	 * (published before it) inside the others' heads */
	for (a = 0, n = 0; a < p->nareas; a++)
		for (w = 0; w < p->areas[a].h.nworkers && n < rs->n; w++)
			heads[n++] = ring_head(&p->areas[a], w);
	for (a = 0, n = 0; a < p->nareas; a++) {
		for (w = 0; w < p->areas[a].h.nworkers && n < rs->n; w++, n++) {
			b.ring = (unsigned int)n;
			ring_read(&p->areas[a], (unsigned int)a, w, &rs->r[n],
				  heads[n], batch_add, &b);
		}
	}
	if (b.n)	/* b.v may be NULL: qsort(NULL, 0) is undefined */
		qsort(b.v, b.n, sizeof(*b.v), cmp_drain_rec);
	for (i = 0; i < b.n; i++)
		fn(ctx, b.v[i].area, &b.v[i].rec, b.v[i].gap);
	if (b.lost && rs->n) {	/* read but not kept: count them as dropped */
		rs->r[0].records -= b.lost;
		rs->r[0].dropped += b.lost;
	}
	free(b.v);
	free(heads);
}

void task_rings_count(const struct task_rings *rs, uint64_t *records,
		      uint64_t *dropped)
{
	size_t i;

	*records = *dropped = 0;
	for (i = 0; i < rs->n; i++) {
		*records += rs->r[i].records;
		*dropped += rs->r[i].dropped;
	}
}

void task_rings_free(struct task_rings *rs)
{
	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
}

/* Another tool's sampling, unless the value is not one a tool writes. */
static uint32_t shift_in_force(const struct rt_trace_header *h, uint32_t ours)
{
	uint32_t v = __atomic_load_n(&h->sample_shift, __ATOMIC_RELAXED);

	return v <= TASK_MAX_SAMPLE_SHIFT ? v : ours;
}

/* Count ourselves in one of the header's tool counters (rw mapping). */
static void ctl_add(uint32_t *word)
{
	__atomic_fetch_add(word, 1, __ATOMIC_RELEASE);
}

/* Take our count back, never below 0: the target may have cleared it. */
static void ctl_sub(uint32_t *word)
{
	uint32_t n = __atomic_load_n(word, __ATOMIC_RELAXED);

	while (n && !__atomic_compare_exchange_n(word, &n, n - 1, false,
						 __ATOMIC_RELEASE,
						 __ATOMIC_RELAXED))
		;
}

void task_events_on(struct task_proc *p, uint32_t sample_shift,
		    uint32_t *shift_used)
{
	int i;

	*shift_used = sample_shift;
	for (i = 0; i < p->nareas; i++) {
		struct rt_trace_header *h = p->areas[i].ctl;

		if (!h)
			continue;	/* not mapped for it: a bug of ours */
		if (__atomic_load_n(&h->events_enabled, __ATOMIC_ACQUIRE))
			*shift_used = shift_in_force(h, sample_shift);
		else
			__atomic_store_n(&h->sample_shift, sample_shift,
					 __ATOMIC_RELAXED);
		ctl_add(&h->events_enabled);
	}
}

/* op on one tool counter (at off in the header) of every mapped area. */
static void ctl_each(struct task_proc *p, size_t off, void (*op)(uint32_t *))
{
	for (int i = 0; i < p->nareas; i++)
		if (p->areas[i].ctl)
			op((uint32_t *)((char *)p->areas[i].ctl + off));
}

void task_events_off(struct task_proc *p)
{
	ctl_each(p, offsetof(struct rt_trace_header, events_enabled), ctl_sub);
}

void task_sites_on(struct task_proc *p)
{
	ctl_each(p, offsetof(struct rt_trace_header, sites_enabled), ctl_add);
}

void task_sites_off(struct task_proc *p)
{
	ctl_each(p, offsetof(struct rt_trace_header, sites_enabled), ctl_sub);
}

/* ---- process memory ---------------------------------------------------- */

int task_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr,
				.iov_len = len };
	ssize_t n;

	if (!addr)
		return -EFAULT;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int task_mem_read_str(pid_t pid, uint64_t addr, char *buf, size_t len)
{
	size_t got = 0, chunk;
	int err;

	/* page by page: the string may end just before an unmapped page */
	while (got < len - 1) {
		chunk = 4096 - ((addr + got) & 4095);
		if (chunk > len - 1 - got)
			chunk = len - 1 - got;
		err = task_mem_read(pid, addr + got, buf + got, chunk);
		if (err)
			return err;
		if (memchr(buf + got, '\0', chunk))
			return 0;
		got += chunk;
	}
	buf[len - 1] = '\0';
	return 0;
}

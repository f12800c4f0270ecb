// SPDX-License-Identifier: MIT
/*
 * sched_obs.c - loads the scheduler observer (bpf/sched.bpf.c), seeds and
 * filters the traced threads, and reads the kernel's aggregates into
 * snapshots.  See sched_obs.h for the interface, Documentation/bpf.md for
 * how time is attributed.
 *
 * A traced thread's live record is its slot in the thread_slots array
 * (mapped here, read in place), or, when a live thread with a colliding
 * tid holds that slot, its task-local storage, which user space cannot
 * walk with the map API: the observer's task iterators do it
 * (seed_threads creates the records of a new target's threads,
 * dump_threads reads those kept in storage).  The `threads` hash lists
 * every traced thread and holds the copies that outlive exited threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "sched_obs.h"
#include "sched.skel.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct sched_obs {
	struct sched_bpf *skel;
	struct bpf_link *fork_link;	/* sched_process_fork, from the load on */
	struct bpf_link *seed_link;	/* iter/task seed_threads */
	struct bpf_link *dump_link;	/* iter/task dump_threads */
	const struct sched_thread_stat *slots;	/* thread_slots, mapped */
	size_t nslots;
	uint64_t start_ns;
	uint32_t gen;		/* runq max generation, see runq_max_gen */
	int ncpus;
	char cg_dir[PATH_MAX];	/* traced cgroup, "" when tracing pids */
};

static bool libbpf_debug;

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (level == LIBBPF_DEBUG && !libbpf_debug)
		return 0;
	if (level == LIBBPF_INFO && !libbpf_debug)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* bpf_ktime_get_ns()'s clock */
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* dir + "/" + name into buf; false when it does not fit */
static bool path_join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n >= 0 && (size_t)n < len;
}

static int read_small_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

pid_t sched_pid_tgid(pid_t pid)
{
	char path[64], buf[2048], *p;
	long tgid;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small_file(path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	p = strstr(buf, "\nTgid:");
	if (!p)
		return -ESRCH;
	tgid = strtol(p + 6, NULL, 10);
	return tgid > 0 ? (pid_t)tgid : -ESRCH;
}

/* 'R' in /proc/.../stat: running or about to run. */
static bool thread_runnable(uint32_t tgid, uint32_t tid)
{
	char path[96], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%u/task/%u/stat", tgid, tid);
	if (read_small_file(path, buf, sizeof(buf)) < 0)
		return false;
	p = strrchr(buf, ')');	/* comm may hold spaces and parentheses */
	return p && p[1] == ' ' && p[2] == 'R';
}

/* A live thread's current name; the kernel side copies it only at exit. */
static void thread_comm(uint32_t tgid, uint32_t tid, char *comm, size_t len)
{
	char path[96];
	int n;

	snprintf(path, sizeof(path), "/proc/%u/task/%u/comm", tgid, tid);
	n = read_small_file(path, comm, len);
	if (n > 0 && comm[n - 1] == '\n')
		comm[n - 1] = '\0';
}

/*
 * Run a task iterator once: all it writes, into *buf (NULL on entry,
 * malloc()ed, *len bytes).  buf may be NULL when the output is not wanted.
 */
static int run_iter(struct bpf_link *link, char **buf, size_t *len)
{
	size_t cap = 0;
	char scratch[4096], *tmp;
	ssize_t n;
	int fd, err = 0;

	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -errno;
	for (;;) {
		if (buf && cap - *len < sizeof(scratch)) {
			cap = cap ? cap * 2 : 64 * 1024;
			tmp = realloc(*buf, cap);
			if (!tmp) {
				err = -ENOMEM;
				break;
			}
			*buf = tmp;
		}
		n = read(fd, buf ? *buf + *len : scratch,
			 buf ? cap - *len : sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		if (buf)
			*len += n;
	}
	close(fd);
	return err;
}

/*
 * The BPF side creates a thread's record at its birth or its first event;
 * a thread that exists now and sleeps through the whole trace would never
 * show.  The seeding iterator gives every traced thread that exists now a
 * record, "unseen" (state unchanged since the start); threads that have
 * one keep it.
 */
static int seed_threads(struct sched_obs *obs)
{
	return run_iter(obs->seed_link, NULL, NULL);
}

static int cgroup2_mount(char *mnt, size_t len)
{
	char line[4096], *sep, point[PATH_MAX];
	int ret = -ENOENT;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
			continue;
		snprintf(mnt, len, "%s", point);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static bool is_cgroup2_dir(const char *path)
{
	struct statfs sfs;

	return !statfs(path, &sfs) && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

static int cgroup_id(const char *dir, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh.handle_bytes = sizeof(uint64_t) };
	int mount_id;

	/* kernfs hands out the cgroup id as the file handle */
	if (name_to_handle_at(AT_FDCWD, dir, &h.fh, &mount_id, 0))
		return -errno;
	memcpy(id, h.fh.f_handle, sizeof(*id));
	return 0;
}

int sched_cgroup_resolve(const char *path, uint64_t *id, int *level,
			 char *dir, size_t dirlen)
{
	char mnt[PATH_MAX], joined[PATH_MAX], real[PATH_MAX], rmnt[PATH_MAX];
	const char *p;
	int err;

	err = cgroup2_mount(mnt, sizeof(mnt));
	if (err)
		return -ENOENT;
	if (!realpath(mnt, rmnt))
		return -errno;
	if (!is_cgroup2_dir(path) || !realpath(path, real)) {
		if (!path_join(joined, sizeof(joined), rmnt, path) ||
		    !is_cgroup2_dir(joined) || !realpath(joined, real))
			return -ENOENT;
	}
	if (strncmp(real, rmnt, strlen(rmnt)))
		return -ENOENT;
	*level = 0;
	for (p = real + strlen(rmnt); *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			(*level)++;
	snprintf(dir, dirlen, "%s", real);
	return cgroup_id(real, id);
}

/* sched_switch has carried prev_state as its 4th argument since 5.18. */
static bool sched_switch_has_prev_state(void)
{
	const struct btf_type *t;
	struct btf *btf;
	bool ret = true;
	int id;

	btf = btf__load_vmlinux_btf();
	if (!btf)
		return ret;
	id = btf__find_by_name_kind(btf, "btf_trace_sched_switch",
				    BTF_KIND_TYPEDEF);
	if (id > 0) {
		t = btf__type_by_id(btf, btf__type_by_id(btf, id)->type);
		if (t && btf_is_ptr(t))
			t = btf__type_by_id(btf, t->type);
		if (t && btf_is_func_proto(t))
			ret = btf_vlen(t) >= 5;	/* void *__data + 4 */
	}
	btf__free(btf);
	return ret;
}

int sched_obs_open(struct sched_obs **obsp, const struct sched_obs_opts *opts)
{
	struct sched_obs *obs;
	uint64_t cgid;
	int err, level;

	libbpf_debug = opts->debug;
	libbpf_set_print(libbpf_print);

	obs = calloc(1, sizeof(*obs));
	if (!obs)
		return -ENOMEM;
	if (opts->cgroup) {
		err = sched_cgroup_resolve(opts->cgroup, &cgid, &level,
					   obs->cg_dir, sizeof(obs->cg_dir));
		if (err)
			goto err_free_obs;
	}
	obs->skel = sched_bpf__open();
	if (!obs->skel) {
		err = -errno;
		goto err_free_obs;
	}
	if (opts->cgroup) {
		obs->skel->rodata->filter_cgroup = true;
		obs->skel->rodata->target_cgid = cgid;
		obs->skel->rodata->target_cg_level = level;
	}
	obs->skel->rodata->has_prev_state_arg = sched_switch_has_prev_state();
	obs->skel->rodata->follow_forks = opts->follow_forks && !opts->cgroup;
	if (opts->max_threads)
		bpf_map__set_max_entries(obs->skel->maps.threads,
					 opts->max_threads);
	/* slots: a power of two, enough for max_threads up to a bound */
	for (obs->nslots = 1; obs->nslots < SCHED_MAX_SLOTS &&
	     obs->nslots < (opts->max_threads ? opts->max_threads :
			    SCHED_MAX_THREADS); obs->nslots *= 2)
		;
	bpf_map__set_max_entries(obs->skel->maps.thread_slots, obs->nslots);
	obs->skel->rodata->slot_mask = obs->nslots - 1;
	/*
	 * Attached here, not with the others: sched_process_fork gives the
	 * threads born from now on their records, the seeding those that
	 * exist; the iterators run on demand, through links of their own.
	 */
	bpf_program__set_autoattach(obs->skel->progs.sched_process_fork, false);
	bpf_program__set_autoattach(obs->skel->progs.seed_threads, false);
	bpf_program__set_autoattach(obs->skel->progs.dump_threads, false);

	err = sched_bpf__load(obs->skel);
	if (err)
		goto err_destroy_skel;
	obs->ncpus = libbpf_num_possible_cpus();
	if (obs->ncpus < 0) {
		err = obs->ncpus;
		goto err_destroy_skel;
	}
	obs->slots = mmap(NULL, obs->nslots * sizeof(*obs->slots), PROT_READ,
			  MAP_SHARED, bpf_map__fd(obs->skel->maps.thread_slots), 0);
	if (obs->slots == MAP_FAILED) {
		err = -errno;
		obs->slots = NULL;
		goto err_destroy_skel;
	}
	obs->fork_link = bpf_program__attach(obs->skel->progs.sched_process_fork);
	obs->seed_link = bpf_program__attach_iter(obs->skel->progs.seed_threads,
						  NULL);
	obs->dump_link = bpf_program__attach_iter(obs->skel->progs.dump_threads,
						  NULL);
	if (!obs->fork_link || !obs->seed_link || !obs->dump_link) {
		err = -errno;
		goto err_destroy_links;
	}
	if (opts->cgroup) {
		err = seed_threads(obs);
		if (err)
			goto err_destroy_links;
	}
	*obsp = obs;
	return 0;

err_destroy_links:
	bpf_link__destroy(obs->fork_link);
	bpf_link__destroy(obs->seed_link);
	bpf_link__destroy(obs->dump_link);
	munmap((void *)obs->slots, obs->nslots * sizeof(*obs->slots));
err_destroy_skel:
	sched_bpf__destroy(obs->skel);
err_free_obs:
	free(obs);
	return err;
}

int sched_obs_add_pid(struct sched_obs *obs, pid_t tgid)
{
	struct bpf_map *map = obs->skel->maps.tgid_bits;
	uint32_t word = (uint32_t)tgid / 64;
	uint64_t bits;
	int err;

	if (tgid <= 0 || tgid >= SCHED_PID_LIMIT)
		return -ERANGE;
	/* read-modify-write: only a traced fork could race, and the forked
	 * command is added before anything is attached */
	err = bpf_map__lookup_elem(map, &word, sizeof(word), &bits, sizeof(bits), 0);
	if (err)
		return err;
	bits |= 1ULL << (tgid % 64);
	err = bpf_map__update_elem(map, &word, sizeof(word), &bits, sizeof(bits),
				   BPF_ANY);
	if (err)
		return err;
	return seed_threads(obs);
}

int sched_obs_attach(struct sched_obs *obs)
{
	obs->start_ns = mono_ns();
	obs->skel->bss->start_ns = obs->start_ns;
	return sched_bpf__attach(obs->skel);
}

void sched_obs_close(struct sched_obs *obs)
{
	if (!obs)
		return;
	bpf_link__destroy(obs->fork_link);
	bpf_link__destroy(obs->seed_link);
	bpf_link__destroy(obs->dump_link);
	if (obs->slots)
		munmap((void *)obs->slots, obs->nslots * sizeof(*obs->slots));
	sched_bpf__destroy(obs->skel);
	free(obs);
}

static uint64_t since(uint64_t now, uint64_t t)
{
	return now > t ? now - t : 0;
}

/* Kernel record -> window view, closing the interval still open at now. */
static void thread_from_stat(struct sched_obs *obs, struct sched_thread *t,
			     const struct sched_thread_stat *st, uint64_t now)
{
	memset(t, 0, sizeof(*t));
	t->tid = st->pid;
	t->tgid = st->tgid;
	memcpy(t->comm, st->comm, sizeof(t->comm));
	t->comm[sizeof(t->comm) - 1] = '\0';
	t->nvcsw = st->nvcsw;
	t->nivcsw = st->nivcsw;
	t->oncpu_ns = st->oncpu_ns;
	t->offcpu_ns = st->offcpu_ns;
	t->wakeups = st->wakeups;
	t->runq_ns = st->runq_ns;
	t->runq_cnt = st->runq_cnt;
	t->runq_max_ns = st->runq_max_gen == obs->gen ? st->runq_max_ns : 0;
	memcpy(t->runq_hist, st->runq_hist, sizeof(t->runq_hist));
	memcpy(t->offcpu_hist, st->offcpu_hist, sizeof(t->offcpu_hist));

	switch (st->state) {
	case SCHED_TS_ON_CPU:
		t->oncpu_ns += since(now, st->ts_switch);
		break;
	case SCHED_TS_OFF_CPU:
	case SCHED_TS_BLOCKED:
		t->offcpu_ns += since(now, st->ts_switch);
		break;
	case SCHED_TS_UNSEEN:
		/* no event yet: still in the state it had at the start */
		if (thread_runnable(st->tgid, st->pid))
			t->oncpu_ns += since(now, obs->start_ns);
		else
			t->offcpu_ns += since(now, obs->start_ns);
		break;
	case SCHED_TS_EXITED:
		t->exited = true;
		break;
	}
	if (!t->exited)
		thread_comm(t->tgid, t->tid, t->comm, sizeof(t->comm));
}

static int cmp_thread(const void *a, const void *b)
{
	const struct sched_thread *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int cmp_stat_pid(const void *a, const void *b)
{
	const struct sched_thread_stat *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int add_thread(struct sched_obs *obs, struct sched_snapshot *snap,
		      size_t *cap, const struct sched_thread_stat *st,
		      uint64_t now)
{
	void *tmp;

	if (snap->nthreads == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		tmp = realloc(snap->threads, *cap * sizeof(*snap->threads));
		if (!tmp)
			return -ENOMEM;
		snap->threads = tmp;
	}
	thread_from_stat(obs, &snap->threads[snap->nthreads++], st, now);
	return 0;
}

/* Append a record to a growing array of them. */
static int push_stat(struct sched_thread_stat **v, size_t *n, size_t *cap,
		     const struct sched_thread_stat *st)
{
	void *tmp;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		tmp = realloc(*v, *cap * sizeof(**v));
		if (!tmp)
			return -ENOMEM;
		*v = tmp;
	}
	memcpy(&(*v)[(*n)++], st, sizeof(*st));
	return 0;
}

/*
 * The live records: the slots in use (owner set, set-up done), copied out
 * of the mapping, and the records kept in task storage (dump iterator).
 */
static int read_live(struct sched_obs *obs, struct sched_thread_stat **live,
		     size_t *nlive)
{
	const struct sched_thread_stat *slot;
	size_t cap = 0, len = 0, i, n;
	char *buf = NULL;
	int err = 0;

	for (i = 0; i < obs->nslots && !err; i++) {
		slot = &obs->slots[i];
		if (__atomic_load_n(&slot->task, __ATOMIC_ACQUIRE) > 1 &&
		    slot->pid)
			err = push_stat(live, nlive, &cap, slot);
	}
	if (!err)
		err = run_iter(obs->dump_link, &buf, &len);
	n = len / sizeof(**live);
	for (i = 0; i < n && !err; i++) {
		struct sched_thread_stat st;

		memcpy(&st, buf + i * sizeof(st), sizeof(st));
		err = push_stat(live, nlive, &cap, &st);
	}
	free(buf);
	return err;
}

/*
 * Exited threads whose tids were taken by new traced threads: one row,
 * tid 0, their totals (the kernel keeps how many in its pid field).
 */
static int add_reused(struct sched_obs *obs, struct sched_snapshot *snap,
		      size_t *cap, uint64_t now)
{
	struct sched_thread_stat st;
	uint32_t zero = 0;

	if (bpf_map__lookup_elem(obs->skel->maps.reused, &zero, sizeof(zero),
				 &st, sizeof(st), 0) || !st.pid)
		return 0;
	st.pid = 0;
	st.tgid = 0;
	st.state = SCHED_TS_EXITED;
	snprintf(st.comm, sizeof(st.comm), "(tid reused)");
	return add_thread(obs, snap, cap, &st, now);
}

/*
 * Every traced thread once: its live record if it has one (slot or task
 * storage), else its copy in `threads` (exited; or exiting: released, its
 * final switch not yet seen; or a seed that never ran).  The hash is
 * listed first: a thread that exits after that is either still found live
 * or, not found, has its exit copy in the hash by then (read again); a
 * thread born after it is found live alone.
 */
static int read_threads(struct sched_obs *obs, struct sched_snapshot *snap,
			uint64_t now)
{
	int fd = bpf_map__fd(obs->skel->maps.threads);
	struct sched_thread_stat st, *live = NULL, *hit;
	uint32_t key, next, *prev = NULL, *keys = NULL;
	size_t nkeys = 0, kcap = 0, nlive = 0, cap = 0, i;
	bool *used = NULL;
	void *tmp;
	int err = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		prev = &key;
		key = next;
		if (nkeys == kcap) {
			kcap = kcap ? kcap * 2 : 64;
			tmp = realloc(keys, kcap * sizeof(*keys));
			if (!tmp) {
				err = -ENOMEM;
				goto out;
			}
			keys = tmp;
		}
		keys[nkeys++] = key;
	}
	err = read_live(obs, &live, &nlive);
	if (err)
		goto out;
	if (nlive)
		qsort(live, nlive, sizeof(*live), cmp_stat_pid);
	used = calloc(nlive ? nlive : 1, sizeof(*used));
	if (!used) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nkeys && !err; i++) {
		st.pid = keys[i];
		hit = nlive ? bsearch(&st, live, nlive, sizeof(*live),
				      cmp_stat_pid) : NULL;
		if (hit) {
			used[hit - live] = true;
			err = add_thread(obs, snap, &cap, hit, now);
		} else if (!bpf_map_lookup_elem(fd, &keys[i], &st)) {
			err = add_thread(obs, snap, &cap, &st, now);
		}	/* else deleted meanwhile: tid reused, found live */
	}
	for (i = 0; i < nlive && !err; i++)
		if (!used[i] && (!i || live[i].pid != live[i - 1].pid))
			err = add_thread(obs, snap, &cap, &live[i], now);
	if (!err)
		err = add_reused(obs, snap, &cap, now);
	if (!err)
		qsort(snap->threads, snap->nthreads, sizeof(*snap->threads),
		      cmp_thread);
out:
	free(used);
	free(live);
	free(keys);
	return err;
}

static int read_cpus(struct sched_obs *obs, struct sched_snapshot *snap,
		     uint64_t now)
{
	struct sched_cpu_stat *vals;
	uint32_t zero = 0;
	int i, err;

	vals = calloc(obs->ncpus, sizeof(*vals));
	snap->cpus = calloc(obs->ncpus, sizeof(*snap->cpus));
	if (!vals || !snap->cpus) {
		err = -ENOMEM;
		goto out;
	}
	/* sizeof(struct sched_cpu_stat) is a multiple of 8, as percpu wants */
	err = bpf_map__lookup_elem(obs->skel->maps.cpus, &zero, sizeof(zero),
				   vals, obs->ncpus * sizeof(*vals), 0);
	if (err)
		goto out;
	snap->ncpus = obs->ncpus;
	for (i = 0; i < obs->ncpus; i++) {
		snap->cpus[i].idle_ns = vals[i].idle_ns;
		snap->cpus[i].switches = vals[i].switches;
		if (vals[i].seen && vals[i].in_idle)
			snap->cpus[i].idle_ns += since(now, vals[i].ts_switch);
	}
out:
	free(vals);
	return err;
}

static void prog_info(struct bpf_program *prog, struct bpf_prog_info *info)
{
	__u32 len = sizeof(*info);
	int fd = bpf_program__fd(prog);

	memset(info, 0, sizeof(*info));
	if (fd >= 0)
		bpf_obj_get_info_by_fd(fd, info, &len);
}

/* Runs the kernel skipped because a BPF program was already active. */
static uint64_t prog_misses(struct bpf_program *prog)
{
	struct bpf_prog_info info;

	prog_info(prog, &info);
	return info.recursion_misses;
}

int sched_obs_prog_cost(struct sched_obs *obs, struct sched_prog_cost *cost)
{
	struct bpf_program *other[] = {
		obs->skel->progs.sched_wakeup_new,
		obs->skel->progs.sched_process_fork,
		obs->skel->progs.sched_process_exit,
	};
	struct bpf_prog_info info;
	size_t i;

	memset(cost, 0, sizeof(*cost));
	prog_info(obs->skel->progs.sched_switch, &info);
	cost->switch_ns = info.run_time_ns;
	cost->switch_runs = info.run_cnt;
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		prog_info(other[i], &info);
		cost->other_ns += info.run_time_ns;
		cost->other_runs += info.run_cnt;
	}
	return 0;
}

int sched_obs_snapshot(struct sched_obs *obs, struct sched_snapshot *snap)
{
	uint64_t now = mono_ns();
	int err;

	memset(snap, 0, sizeof(*snap));
	snap->start_ns = obs->start_ns;
	snap->end_ns = now;
	err = read_threads(obs, snap, now);
	if (!err)
		err = read_cpus(obs, snap, now);
	if (err) {
		sched_snapshot_free(snap);
		return err;
	}
	snap->lost_threads = obs->skel->bss->lost_threads;
	snap->lost_tgids = obs->skel->bss->lost_tgids;
	snap->repaired = obs->skel->bss->repaired;
	snap->missed_events = prog_misses(obs->skel->progs.sched_switch) +
			      prog_misses(obs->skel->progs.sched_wakeup_new) +
			      prog_misses(obs->skel->progs.sched_process_fork) +
			      prog_misses(obs->skel->progs.sched_process_exit);
	/* runq max restarts: the next snapshot sees only newer maxima */
	obs->gen++;
	__atomic_store_n(&obs->skel->bss->runq_max_gen, obs->gen,
			 __ATOMIC_RELAXED);
	return 0;
}

void sched_snapshot_free(struct sched_snapshot *snap)
{
	free(snap->threads);
	free(snap->cpus);
	memset(snap, 0, sizeof(*snap));
}

const struct sched_thread *sched_snapshot_find(const struct sched_snapshot *snap,
					       uint32_t tid)
{
	size_t i;

	for (i = 0; i < snap->nthreads; i++)
		if (snap->threads[i].tid == tid)
			return &snap->threads[i];
	return NULL;
}

static uint64_t sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static void thread_sub(struct sched_thread *t, const struct sched_thread *p)
{
	int i;

	t->nvcsw = sub(t->nvcsw, p->nvcsw);
	t->nivcsw = sub(t->nivcsw, p->nivcsw);
	t->oncpu_ns = sub(t->oncpu_ns, p->oncpu_ns);
	t->offcpu_ns = sub(t->offcpu_ns, p->offcpu_ns);
	t->wakeups = sub(t->wakeups, p->wakeups);
	t->runq_ns = sub(t->runq_ns, p->runq_ns);
	t->runq_cnt = sub(t->runq_cnt, p->runq_cnt);
	for (i = 0; i < SCHED_HIST_SLOTS; i++) {
		t->runq_hist[i] = sub(t->runq_hist[i], p->runq_hist[i]);
		t->offcpu_hist[i] = sub(t->offcpu_hist[i], p->offcpu_hist[i]);
	}
}

static bool thread_idle(const struct sched_thread *t)
{
	return !t->nvcsw && !t->nivcsw && !t->oncpu_ns && !t->offcpu_ns &&
	       !t->wakeups && !t->runq_cnt;
}

int sched_snapshot_delta(struct sched_snapshot *out,
			 const struct sched_snapshot *cur,
			 const struct sched_snapshot *prev)
{
	const struct sched_thread *p;
	size_t i, n = 0;
	int c;

	memset(out, 0, sizeof(*out));
	out->threads = calloc(cur->nthreads ? cur->nthreads : 1,
			      sizeof(*out->threads));
	out->cpus = calloc(cur->ncpus ? cur->ncpus : 1, sizeof(*out->cpus));
	if (!out->threads || !out->cpus) {
		sched_snapshot_free(out);
		return -ENOMEM;
	}
	out->start_ns = prev->end_ns;
	out->end_ns = cur->end_ns;
	for (i = 0; i < cur->nthreads; i++) {
		struct sched_thread *t = &out->threads[n];

		*t = cur->threads[i];
		p = sched_snapshot_find(prev, t->tid);
		if (p)
			thread_sub(t, p);
		/* a thread that exited in an earlier window is done */
		if (!(p && p->exited && thread_idle(t)))
			n++;
	}
	out->nthreads = n;
	out->ncpus = cur->ncpus;
	for (c = 0; c < cur->ncpus && c < prev->ncpus; c++) {
		out->cpus[c].idle_ns = sub(cur->cpus[c].idle_ns,
					   prev->cpus[c].idle_ns);
		out->cpus[c].switches = sub(cur->cpus[c].switches,
					    prev->cpus[c].switches);
	}
	out->lost_threads = sub(cur->lost_threads, prev->lost_threads);
	out->lost_tgids = sub(cur->lost_tgids, prev->lost_tgids);
	out->missed_events = sub(cur->missed_events, prev->missed_events);
	out->repaired = sub(cur->repaired, prev->repaired);
	return 0;
}

void sched_snapshot_total(const struct sched_snapshot *snap,
			  struct sched_thread *total)
{
	const struct sched_thread *t;
	size_t i;
	int s;

	memset(total, 0, sizeof(*total));
	snprintf(total->comm, sizeof(total->comm), "total");
	for (i = 0; i < snap->nthreads; i++) {
		t = &snap->threads[i];
		total->nvcsw += t->nvcsw;
		total->nivcsw += t->nivcsw;
		total->oncpu_ns += t->oncpu_ns;
		total->offcpu_ns += t->offcpu_ns;
		total->wakeups += t->wakeups;
		total->runq_ns += t->runq_ns;
		total->runq_cnt += t->runq_cnt;
		if (t->runq_max_ns > total->runq_max_ns)
			total->runq_max_ns = t->runq_max_ns;
		for (s = 0; s < SCHED_HIST_SLOTS; s++) {
			total->runq_hist[s] += t->runq_hist[s];
			total->offcpu_hist[s] += t->offcpu_hist[s];
		}
	}
}

// SPDX-License-Identifier: MIT
/*
 * The trace area as a tool sees it: found through /proc/self/fd, mapped a
 * second time, read while the runtime runs. Known suspension counts per
 * await site, exact event records when events are on (and the sampled
 * fraction), sequence numbers without gaps or duplicates, and an
 * overflowing ring that reports what it dropped.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "rt_test.h"
#include "rtasync-sync.h"
#include "rtasync-trace.h"
#include "trace_self.h"
#include "internal.h"	/* RT_BATCH */

static struct rt_runtime *rt;

/* Map the newest trace area of this process, as rtasync-trace does. */
static struct rt_trace_header *map_area(void)
{
	struct rt_trace_header *h;
	int fd = trace_self_area_fd();
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	close(fd);
	assert_true(h != MAP_FAILED);
	return h;
}

static struct rt_trace_header *hdr;

static int setup(void **state)
{
	rt = test_runtime(1, true);
	hdr = map_area();
	return 0;
}

static int teardown(void **state)
{
	munmap(hdr, hdr->area_size);
	rt_runtime_free(rt);
	return 0;
}

static char *worker_area(unsigned int i)
{
	return (char *)hdr + hdr->workers_offset + i * hdr->worker_stride;
}

static struct rt_trace_worker *tw(unsigned int i)
{
	return (struct rt_trace_worker *)worker_area(i);
}

static uint64_t site_count(unsigned int site)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < hdr->nworkers; i++)
		n += ((uint64_t *)(worker_area(i) + hdr->site_counts_offset))[site];
	return n;
}

static const struct rt_trace_site *site_at(unsigned int id)
{
	return (const struct rt_trace_site *)((char *)hdr + hdr->sites_offset) +
	       id;
}

/* The id of the site at func:line, or 0. */
static unsigned int find_site(const char *func, unsigned int line)
{
	for (unsigned int id = 1; id <= hdr->nsites; id++)
		if (!strcmp(site_at(id)->func, func) && site_at(id)->line == line)
			return id;
	return 0;
}

/* ---- a program with known suspension counts ------------------------- */

static unsigned int yield_line, sleep_line;

struct known_frame {
	struct rt_frame frame;
	int i;
};

static RT_ASYNC int64_t known(struct rt_task *t, struct rt_frame *base)
{
	struct known_frame *f = RT_FRAME(base, struct known_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < 30; f->i++) {
		yield_line = __LINE__ + 1;
		RT_YIELD();
		if (f->i % 10 == 0) {
			sleep_line = __LINE__ + 1;
			RT_SLEEP(1000);
		}
	}
	return 0;
}

static void test_header_describes_the_runtime(void **state)
{
	assert_int_equal(hdr->magic, RT_TRACE_MAGIC);
	assert_int_equal(hdr->version, RT_TRACE_VERSION);
	assert_int_equal(hdr->pid, getpid());
	assert_int_equal(hdr->nworkers, 1);
	assert_int_equal(hdr->ring_records & (hdr->ring_records - 1), 0);
	assert_true(tw(0)->tid > 0);
	assert_true(tw(0)->tid != (uint32_t)getpid());
	assert_int_equal(hdr->events_enabled, 0);
}

static uint64_t all_site_counts(void)
{
	uint64_t n = 0;

	for (unsigned int id = 0; id < hdr->sites_max; id++)
		n += site_count(id);
	return n;
}

/* 5 runs of known(): 30 yields and 3 sleeps each, 5 x 34 steps. */
static void run_known_5(void)
{
	struct rt_stats before = test_stats(rt), after;

	for (int k = 0; k < 5; k++)
		TEST_RUN(rt, known, struct known_frame);
	/* exact right after the joins: a step is counted before its task
	 * can move or complete */
	after = test_stats(rt);
	assert_int_equal(after.yields - before.yields, 5 * 30);
	assert_int_equal(after.waits - before.waits, 5 * 3);
	assert_int_equal(after.suspends - before.suspends, 5 * 33);
	assert_int_equal(after.resumes - before.resumes, 5 * 34);
	assert_int_equal(after.completed - before.completed, 5);
}

/* Off by default: a step pays for no per-site counter nobody reads. */
static void test_site_counts_off_by_default(void **state)
{
	run_known_5();
	assert_int_equal(all_site_counts(), 0);
	assert_int_equal(hdr->nsites, 0);
}

static void test_site_counts_are_exact(void **state)
{
	unsigned int ys, ss;
	struct rt_stats st;

	/* as rtasync-trace task top does; the worker looks at its next
	 * turn, and the first task below starts one */
	__atomic_fetch_add(&hdr->sites_enabled, 1, __ATOMIC_RELEASE);
	run_known_5();
	ys = find_site("known", yield_line);
	ss = find_site("known", sleep_line);
	assert_true(ys > 0);
	assert_true(ss > 0);
	assert_string_equal(site_at(ys)->file + strlen(site_at(ys)->file) -
			    strlen("test_trace.c"), "test_trace.c");
	assert_int_equal(site_count(ys), 5 * 30);
	assert_int_equal(site_count(ss), 5 * 3);
	assert_int_equal(all_site_counts(), 5 * 33);
	/* the counters in the area are the ones rt_runtime_stats() sums */
	assert_int_equal(rt_runtime_stats(rt, &st), 0);
	assert_int_equal(tw(0)->counters.waits, st.waits);
	assert_int_equal(tw(0)->counters.completed, st.completed);
	assert_int_equal(tw(0)->counters.resumes, st.resumes);
	/* derived, as rtasync-trace derives them from the area */
	assert_int_equal(tw(0)->counters.yields, 0);
	assert_int_equal(rt_trace_yields(&tw(0)->counters), st.yields);
	/* the tool leaves: nothing more is counted */
	__atomic_fetch_sub(&hdr->sites_enabled, 1, __ATOMIC_RELEASE);
	run_known_5();
	assert_int_equal(site_count(ys), 5 * 30);
	assert_int_equal(all_site_counts(), 5 * 33);
}

/* A runtime of one worker with the config's count_sites. */
static struct rt_runtime *counting_runtime(void)
{
	struct rt_runtime *r = NULL;
	struct rt_config cfg;

	rt_config_init(&cfg);
	cfg.workers = 1;
	cfg.count_sites = true;
	assert_int_equal(rt_runtime_new(&cfg, &r), 0);
	return r;
}

/* count_sites: counted from the start, with no tool attached. */
static void test_count_sites_config(void **state)
{
	struct rt_runtime *own = counting_runtime();
	struct rt_trace_header *saved = hdr;
	unsigned int ys;

	hdr = map_area();	/* the newest area: own's */
	assert_int_equal(hdr->sites_enabled, 0);
	for (int k = 0; k < 2; k++)
		TEST_RUN(own, known, struct known_frame);
	ys = find_site("known", yield_line);
	assert_true(ys > 0);
	assert_int_equal(site_count(ys), 2 * 30);
	assert_int_equal(all_site_counts(), 2 * 33);
	munmap(hdr, hdr->area_size);
	hdr = saved;
	rt_runtime_free(own);
}

/* ---- site ids: one numbering, described in every area ----------------- */

static unsigned int elsewhere_line, in_child_line;

struct one_frame {
	struct rt_frame frame;
};

static RT_ASYNC int64_t elsewhere(struct rt_task *t, struct rt_frame *base)
{
	RT_BEGIN(t, base);
	elsewhere_line = __LINE__ + 1;
	RT_YIELD();
	return 0;
}

static RT_ASYNC int64_t in_child(struct rt_task *t, struct rt_frame *base)
{
	RT_BEGIN(t, base);
	in_child_line = __LINE__ + 1;
	RT_YIELD();
	return 0;
}

/*
 * A site numbered by one runtime is described under that id in the
 * areas of the others, those live then and those made later, before any
 * of their tasks gets there: a record never names an id its area lacks.
 */
static void test_sites_described_in_every_area(void **state)
{
	struct rt_trace_header *first = hdr, *late_hdr;
	struct rt_runtime *late;
	unsigned int ys, es;

	/* numbered by test_count_sites_config's runtime, gone since */
	ys = find_site("known", yield_line);
	assert_true(ys > 0);
	late = counting_runtime();
	late_hdr = map_area();
	hdr = late_hdr;
	assert_int_equal(find_site("known", yield_line), ys);
	assert_int_equal(hdr->nsites, first->nsites);
	TEST_RUN(late, elsewhere, struct one_frame);
	es = find_site("elsewhere", elsewhere_line);
	assert_true(es > ys);
	assert_int_equal(site_count(es), 1);
	hdr = first;
	assert_int_equal(find_site("elsewhere", elsewhere_line), es);
	munmap(late_hdr, late_hdr->area_size);
	rt_runtime_free(late);
}

/* A child of fork() numbers its sites for itself: the areas it inherited
 * are its parent's, and stay as the parent wrote them. */
static void test_forked_child_keeps_out_of_parent_area(void **state)
{
	uint32_t nsites = hdr->nsites;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct rt_runtime *r = counting_runtime();

		TEST_RUN(r, in_child, struct one_frame);
		rt_runtime_free(r);
		_exit(find_site("in_child", in_child_line) ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(hdr->nsites, nsites);
	assert_int_equal(find_site("in_child", in_child_line), 0);
}

/*
 * More sites than the tables hold: each new one up to the room gets an
 * id of its own, every later one the last id, "(other sites)". Run last:
 * it fills the process's numbering.
 */
static void test_sites_past_the_room_share_other(void **state)
{
	unsigned int n = RT_TRACE_SITES_MAX + 10, fresh = 0, other = 0;
	struct rt_site *sites = calloc(n, sizeof(*sites));
	uint32_t last = hdr->nsites;

	assert_non_null(sites);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t id;

		sites[i] = (struct rt_site){ "filler", "filler.c", i, 0 };
		id = rt_trace_site_number(&sites[i]);
		assert_int_equal(sites[i].id, id);
		assert_int_equal(rt_trace_site_number(&sites[i]), id);
		if (id == RT_TRACE_SITE_OTHER) {
			other++;
			continue;
		}
		assert_int_equal(id, ++last);	/* given out in order */
		assert_int_equal(site_at(id)->line, i);
		fresh++;
	}
	assert_int_equal(last, RT_TRACE_SITE_OTHER - 1);
	assert_int_equal(fresh + other, n);
	assert_int_equal(hdr->nsites, RT_TRACE_SITE_OTHER);
	assert_string_equal(site_at(RT_TRACE_SITE_OTHER)->func, "(other sites)");
	free(sites);
}

/* ---- event records ---------------------------------------------------- */

struct drained {
	uint64_t records, torn, dropped, yields, done;
	uint64_t turns;		/* turn records read */
	uint64_t next;		/* ring position to read next */
	uint64_t lost;		/* positions lost since the last turn read */
	uint64_t turn_ts;	/* the last turn record read: time, */
	uint32_t turn_no;	/* number */
	uint64_t turn_pos;	/* and position */
	bool in_turn;		/* ... and it is the current one */
	uint64_t backwards;	/* turns timed before the one ahead */
	uint64_t *ts;		/* if set, the times of the first ts_cap */
	size_t ts_cap;
};

/* A drain from worker w's head on: the records there are of the turn
 * of the last turn record (turn_at), or of a later one. */
static struct drained drain_start(unsigned int w)
{
	struct rt_trace_record *ring = (struct rt_trace_record *)
		(worker_area(w) + hdr->ring_offset);
	uint64_t at = tw(w)->turn_at;
	struct drained d = { .next = tw(w)->head };

	assert_true(at < d.next);
	assert_int_equal(ring[at & (hdr->ring_records - 1)].reason,
			 RT_TRACE_TURN);
	d.turn_no = ring[at & (hdr->ring_records - 1)].site;
	d.turn_ts = ring[at & (hdr->ring_records - 1)].ts;
	d.turn_pos = at;
	d.in_turn = true;
	return d;
}

/* The records lost since the last turn read, told apart by its number. */
static void drain_turn(struct drained *d, const struct rt_trace_record *copy)
{
	uint32_t turns = copy->site - d->turn_no - 1;

	assert_true(turns <= d->lost);
	d->dropped += d->lost - turns;
	d->lost = 0;
	d->turns++;
	d->backwards += copy->ts < d->turn_ts;
	d->turn_ts = copy->ts;
	d->turn_no = copy->site;
	d->turn_pos = d->next;
	d->in_turn = true;
}

/* One whole record of position d->next: a turn's, or a step's. */
static void drain_take(struct drained *d, const struct rt_trace_record *copy)
{
	if (copy->reason == RT_TRACE_TURN) {
		drain_turn(d, copy);
		return;
	}
	if (!d->in_turn) {	/* its turn record was overwritten */
		d->lost++;
		return;
	}
	/* a turn is a batch */
	assert_true(d->next - d->turn_pos <= RT_BATCH);
	d->records++;
	d->yields += copy->reason == RT_TRACE_YIELD;
	d->done += copy->reason == RT_TRACE_DONE;
	if (d->ts && d->records <= d->ts_cap)
		d->ts[d->records - 1] = d->turn_ts;
}

/* Read every record published since d->next, as a tool would. */
static void drain(unsigned int w, struct drained *d)
{
	struct rt_trace_record *ring = (struct rt_trace_record *)
		(worker_area(w) + hdr->ring_offset);
	uint64_t head = __atomic_load_n(&tw(w)->head, __ATOMIC_ACQUIRE);
	/* the oldest slot is the one the worker writes next */
	uint64_t keep = hdr->ring_records - 1;

	if (head - d->next > keep) {
		d->lost += head - d->next - keep;
		d->next = head - keep;
		d->in_turn = false;
	}
	for (; d->next < head; d->next++) {
		struct rt_trace_record copy =
			ring[d->next & (hdr->ring_records - 1)];

		/* whole unless the writer has taken the slot since: it
		 * publishes the head that frees a slot before it writes */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&tw(w)->head, __ATOMIC_RELAXED) -
		    d->next > keep) {
			d->torn++;
			d->lost++;
			d->in_turn = false;
			continue;
		}
		drain_take(d, &copy);
	}
}

struct yielder_frame {
	struct rt_frame frame;
	int n, i;
};

static RT_ASYNC int64_t yielder(struct rt_task *t, struct rt_frame *base)
{
	struct yielder_frame *f = RT_FRAME(base, struct yielder_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++)
		RT_YIELD();
	return 0;
}

static void events_on(uint32_t sample_shift)
{
	__atomic_store_n(&hdr->sample_shift, sample_shift, __ATOMIC_RELAXED);
	__atomic_store_n(&hdr->events_enabled, 1, __ATOMIC_RELEASE);
	/* the worker reads the flag once a loop turn: let it see it */
	TEST_RUN(rt, yielder, struct yielder_frame, .n = 1);
}

static void test_one_record_per_step(void **state)
{
	struct drained d;

	events_on(0);
	d = drain_start(0);
	/* 1000 yields: 1000 suspended steps and the completing one */
	assert_int_equal(TEST_RUN(rt, yielder, struct yielder_frame, .n = 1000), 0);
	drain(0, &d);
	__atomic_store_n(&hdr->events_enabled, 0, __ATOMIC_RELEASE);
	assert_int_equal(d.torn, 0);
	assert_int_equal(d.dropped, 0);
	assert_int_equal(d.yields, 1000);
	assert_int_equal(d.done, 1);
	assert_int_equal(d.records, 1001);
}

static void test_sampling_records_a_fraction(void **state)
{
	struct drained d;

	events_on(3);	/* 1 step in 8 */
	d = drain_start(0);
	assert_int_equal(TEST_RUN(rt, yielder, struct yielder_frame,
				  .n = 8 * 500 - 1), 0);
	drain(0, &d);
	__atomic_store_n(&hdr->events_enabled, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&hdr->sample_shift, 0, __ATOMIC_RELAXED);
	assert_int_equal(d.torn, 0);
	assert_int_equal(d.records, 500);
}

static void test_overflow_reports_drops(void **state)
{
	uint64_t steps = 3ull * hdr->ring_records + 17;
	struct drained d;

	events_on(0);
	d = drain_start(0);
	/* nobody drains while it runs: the ring laps twice and a bit */
	assert_int_equal(TEST_RUN(rt, yielder, struct yielder_frame,
				  .n = (int)steps - 1), 0);
	drain(0, &d);
	__atomic_store_n(&hdr->events_enabled, 0, __ATOMIC_RELEASE);
	assert_int_equal(d.torn, 0);
	/* the turns' numbers tell the steps lost from the turns lost */
	assert_int_equal(d.dropped + d.records, steps);
	/* what was not lapped was read: the positions a reader may read
	 * but the turn records among them, and the steps of the first
	 * turn, whose turn record was lapped */
	assert_in_range(d.records, hdr->ring_records - 1 - d.turns - RT_BATCH,
			hdr->ring_records - 1 - d.turns);
	/* and it stays consistent: the next run is read in full again */
	events_on(0);
	d = drain_start(0);
	assert_int_equal(TEST_RUN(rt, yielder, struct yielder_frame, .n = 99), 0);
	drain(0, &d);
	__atomic_store_n(&hdr->events_enabled, 0, __ATOMIC_RELEASE);
	assert_int_equal(d.records, 100);
	assert_int_equal(d.dropped, 0);
}

/*
 * Record times are CLOCK_MONOTONIC's, read from the TSC or, in this
 * test's _monoclock run (RTASYNC_TRACE_CLOCK=monotonic), from
 * clock_gettime(). A task that reads the clock at each step and spins
 * 2 us there, 3000 steps (6 ms, three anchors' reach of 2 ms): each
 * record's time (its turn's) is no later than its step's clock read, and
 * a turn's first no earlier than the read of the step before, and the
 * times never go back. The slack is far above the error measured
 * (bench/trace-clock.c: under half a microsecond) and far below what a
 * wrong rate or offset gives (a rate off by 10% is 200 us off by the
 * end of an anchor's reach).
 */
#define CLOCKED_STEPS 3000

struct clocked_frame {
	struct rt_frame frame;
	uint64_t *reads;
	int i;
};

static RT_ASYNC int64_t clocked(struct rt_task *t, struct rt_frame *base)
{
	struct clocked_frame *f = RT_FRAME(base, struct clocked_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < CLOCKED_STEPS; f->i++) {
		uint64_t now = rt_now_ns(), until = now + 2000;

		f->reads[f->i] = now;
		while (rt_now_ns() < until)
			;
		RT_YIELD();
	}
	return 0;
}

static void test_record_times_follow_the_clock(void **state)
{
	const uint64_t slack = 20000;	/* 20 us */
	uint64_t *reads = calloc(CLOCKED_STEPS, sizeof(*reads));
	uint64_t *ts = calloc(CLOCKED_STEPS + 1, sizeof(*ts));
	struct drained d;

	assert_non_null(reads);
	assert_non_null(ts);
	events_on(0);
	d = drain_start(0);
	d.ts = ts;
	d.ts_cap = CLOCKED_STEPS + 1;
	assert_int_equal(TEST_RUN(rt, clocked, struct clocked_frame,
				  .reads = reads), 0);
	drain(0, &d);
	__atomic_store_n(&hdr->events_enabled, 0, __ATOMIC_RELEASE);
	assert_int_equal(d.torn + d.dropped, 0);
	assert_int_equal(d.records, CLOCKED_STEPS + 1);
	assert_int_equal(d.backwards, 0);
	for (int i = 0; i < CLOCKED_STEPS; i++) {
		assert_true(ts[i] <= reads[i] + slack);
		if (i && ts[i] != ts[i - 1])	/* a turn's first record */
			assert_true(ts[i] + slack >= reads[i - 1]);
	}
	free(reads);
	free(ts);
}

/* ---- per-op I/O counters ------------------------------------------------- */

struct io_frame {
	struct rt_frame frame;
	int fds[2];
	char c;
};

/* A write, a read, a poll whose deadline expires: one op of each kind. */
static RT_ASYNC int64_t io_ops(struct rt_task *t, struct rt_frame *base)
{
	struct io_frame *f = RT_FRAME(base, struct io_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_WRITE(r, f->fds[1], "x", 1, (uint64_t)-1);
	RT_READ(r, f->fds[0], &f->c, 1, (uint64_t)-1);
	RT_CATCH(true);
	RT_AWAIT(r, rt_op_poll(t, f->fds[0], 1 /* POLLIN */,
			       rt_deadline_in(1000000)));
	return r;
}

static void test_io_counts_per_op(void **state)
{
	const struct rt_io_counts *io = &tw(0)->io;
	struct rt_io_counts before = *io;
	struct rt_stats st;
	int fds[2];

	assert_int_equal(io->kinds, RT_IO_KINDS);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(TEST_RUN(rt, io_ops, struct io_frame,
				  .fds = { fds[0], fds[1] }), -ETIMEDOUT);
	for (int k = 0; k < RT_IO_KINDS; k++) {
		uint64_t want = k == RT_IO_WRITE || k == RT_IO_READ ||
				k == RT_IO_POLL;

		assert_int_equal(io->submitted[k] - before.submitted[k], want);
		assert_int_equal(io->completed[k] - before.completed[k], want);
		assert_int_equal(io->cancelled[k], before.cancelled[k]);
	}
	/* the per-kind counts add up to the worker's totals */
	assert_int_equal(rt_runtime_stats(rt, &st), 0);
	{
		uint64_t sum = 0;

		for (int k = 0; k < RT_IO_KINDS; k++)
			sum += io->submitted[k];
		assert_int_equal(sum, st.io_submitted);
	}
	close(fds[0]);
	close(fds[1]);
}

/* A tool finds a task's name where the header says, as set. */
static void test_task_name_offset(void **state)
{
	struct rt_task *h;
	char *const *ext, *const *name;

	assert_int_equal(RT_SPAWN(rt, &h, known, struct known_frame), 0);
	ext = (char *const *)((char *)h + hdr->task_ext_off);
	assert_int_equal(rt_task_set_name(h, "trace-named"), 0);
	assert_non_null(*ext);
	name = (char *const *)(*ext + hdr->task_name_off);
	assert_string_equal(*name, "trace-named");
	assert_int_equal(rt_task_join(h, NULL), 0);
	rt_task_release(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_describes_the_runtime),
		cmocka_unit_test(test_site_counts_off_by_default),
		cmocka_unit_test(test_site_counts_are_exact),
		cmocka_unit_test(test_count_sites_config),
		cmocka_unit_test(test_sites_described_in_every_area),
		cmocka_unit_test(test_forked_child_keeps_out_of_parent_area),
		cmocka_unit_test(test_one_record_per_step),
		cmocka_unit_test(test_sampling_records_a_fraction),
		cmocka_unit_test(test_overflow_reports_drops),
		cmocka_unit_test(test_record_times_follow_the_clock),
		cmocka_unit_test(test_io_counts_per_op),
		cmocka_unit_test(test_task_name_offset),
		cmocka_unit_test(test_sites_past_the_room_share_other),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

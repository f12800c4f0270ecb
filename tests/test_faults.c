// SPDX-License-Identifier: MIT
/*
 * Allocation failure at every call site of a small run: create a runtime
 * with two workers, spawn 100 tasks that yield, sleep, spawn and join a
 * child, call into a frame too large for the inline arena, name
 * themselves, set a local and wait on an event, join them, drain, shut
 * down, free.
 *
 * A clean run first counts its allocation calls (K). Then, for each k in
 * 1..K (and a margin: the count varies a little with the interleaving),
 * a forked child fails its k-th allocation (fault_alloc.c) and must
 * either succeed with every result exact or get -ENOMEM from exactly one
 * call (the one that failed, or the task whose op failed) with every
 * other result exact; it must not crash, hang (an alarm kills it) or leak
 * (its own count of live allocations, and LeakSanitizer in build-asan).
 */
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>

#include "fault_alloc.h"
#include "rt_test.h"

#define TASKS 100
#define BIG_ROOT 50		/* this task's root frame needs a chunk */
#define HANG_SECONDS 60		/* a run takes milliseconds */

struct child_frame {
	struct rt_frame frame;
	int v;
};

static RT_ASYNC int64_t child(struct rt_task *t, struct rt_frame *base)
{
	struct child_frame *f = RT_FRAME(base, struct child_frame);

	RT_BEGIN(t, base);
	RT_YIELD();
	return f->v;
}

/* Larger than the 256-byte inline arena: calling it takes a chunk. */
struct big_frame {
	struct rt_frame frame;
	int v;
	char pad[400];
};

static RT_ASYNC int64_t big(struct rt_task *t, struct rt_frame *base)
{
	return RT_FRAME(base, struct big_frame)->v;
}

struct work_frame {
	struct rt_frame frame;
	int i;
	struct rt_task *kid;
	int64_t sum;
	char pad[300];		/* only in BIG_ROOT's copy of the frame */
};

static struct rt_event ready = RT_EVENT_INIT;	/* set: waits return 0 */
static int local_key;

static int64_t expected(int i)
{
	return i + (i % 5 ? 0 : i) + (i % 10 ? 0 : i);
}

static RT_ASYNC int64_t work(struct rt_task *t, struct rt_frame *base)
{
	struct work_frame *f = RT_FRAME(base, struct work_frame);
	int64_t r;
	int ret;

	RT_BEGIN(t, base);
	RT_YIELD();
	if (f->i % 2)
		RT_SLEEP(100000);
	f->sum = f->i;
	if (f->i % 5 == 0) {
		ret = RT_SPAWN(rt_task_runtime(t), &f->kid, child,
			       struct child_frame, .v = f->i);
		if (ret)
			return ret;
		RT_JOIN(r, f->kid);	/* a child never fails */
		rt_task_release(f->kid);
		f->sum += r;
	}
	if (f->i % 10 == 0) {
		RT_CALL(r, big, struct big_frame, .v = f->i);
		f->sum += r;
	}
	/* what a task allocates only when it uses it (its ext) */
	if (f->i % 3 == 0 && (ret = rt_task_set_name(t, "work")))
		return ret;
	if (f->i % 4 == 0 && (ret = rt_task_local_set(local_key, f)))
		return ret;
	if (f->i % 6 == 0)
		RT_AWAIT(r, rt_op_event_wait(t, &ready, RT_NEVER));
	return f->sum;
}

/* What a child reports through its pipe. */
struct outcome {
	int error;		/* first error a call returned, 0 */
	int enomem;		/* calls and tasks that ended in -ENOMEM */
	int wrong;		/* results neither exact nor -ENOMEM */
	int spawned;
	long live;		/* allocations left after rt_runtime_free */
	unsigned long calls;
	uintptr_t failed_site;
	unsigned int nsites;
	struct fault_site sites[FAULT_SITES_MAX];
};

static void tally(struct outcome *o, int64_t r, int64_t want)
{
	if (r == -ENOMEM)
		o->enomem++;
	else if (r != want)
		o->wrong++;
	if (r < 0 && !o->error)
		o->error = (int)r;
}

static void run(struct outcome *o)
{
	static struct rt_task *h[TASKS];
	struct rt_runtime *rt = NULL;
	struct rt_config cfg;
	int ret = 0;

	rt_event_set(&ready);
	local_key = rt_task_local_key();
	rt_config_init(&cfg);
	cfg.workers = 2;
	ret = rt_runtime_new(&cfg, &rt);
	if (ret) {
		tally(o, ret, 0);
		return;
	}
	for (int i = 0; i < TASKS && !ret; i++) {
		struct work_frame f = { .i = i };

		ret = rt_task_spawn(rt, work, &f.frame, i == BIG_ROOT ?
				    sizeof(f) : offsetof(struct work_frame, pad),
				    &h[i]);
		if (ret)
			tally(o, ret, 0);
		else
			o->spawned++;
	}
	for (int i = 0; i < o->spawned; i++) {
		int64_t r = INT64_MIN;

		tally(o, rt_task_join(h[i], &r), 0);
		tally(o, r, expected(i));
		rt_task_release(h[i]);
	}
	tally(o, rt_runtime_drain(rt), 0);
	tally(o, rt_runtime_shutdown(rt), 0);
	rt_runtime_free(rt);
}

/*
 * Run in a child process with the k-th allocation failing (0: none), or
 * with the k-th made at site when site is not 0.
 */
static int run_child(uintptr_t site, unsigned long k, struct outcome *o,
		     int *status)
{
	int fd[2];
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(fd), 0);
	fflush(NULL);	/* or the child's exit() prints our buffer again */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		memset(o, 0, sizeof(*o));
		alarm(HANG_SECONDS);
		fault_arm_site(site, k);
		run(o);
		o->calls = fault_calls();
		o->live = fault_live();
		o->failed_site = fault_failed_site();
		o->nsites = fault_sites(o->sites, FAULT_SITES_MAX);
		fault_arm(0);
		n = write(fd[1], o, sizeof(*o));
		exit(n == (ssize_t)sizeof(*o) ? 0 : 1);	/* LSan checks here */
	}
	close(fd[1]);
	n = read(fd[0], o, sizeof(*o));
	close(fd[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return n == (ssize_t)sizeof(*o) ? 0 : -1;
}

/* A site as addr2line wants it: the offset in its object. */
static uintptr_t site_offset(uintptr_t addr, const char **obj)
{
	Dl_info info;

	if (dladdr((void *)addr, &info) && info.dli_fbase) {
		*obj = info.dli_fname;
		return addr - (uintptr_t)info.dli_fbase;
	}
	*obj = "?";
	return addr;
}

/* The child's verdict: NULL when the run was correct. */
static const char *judge(const struct outcome *o, int got, int status)
{
	if (WIFSIGNALED(status))
		return WTERMSIG(status) == SIGALRM ? "hung" : "crashed";
	if (got || WEXITSTATUS(status))
		return "leaked (LeakSanitizer) or failed to report";
	if (o->wrong)
		return "a result was wrong";
	if (o->enomem != (o->failed_site ? 1 : 0))
		return o->failed_site ? "the failed allocation did not give "
			"exactly one -ENOMEM" : "-ENOMEM without a failure";
	if (o->error && o->error != -ENOMEM)
		return "an error other than -ENOMEM";
	if (o->live)
		return "leaked";
	return NULL;
}

static bool covered(uintptr_t *failed, unsigned int nfailed, uintptr_t site)
{
	for (unsigned int i = 0; i < nfailed; i++)
		if (failed[i] == site)
			return true;
	return false;
}

struct sweep {
	uintptr_t failed[FAULT_SITES_MAX];	/* sites failed so far */
	unsigned int nfailed;
	unsigned int runs, wrong;
};

/* One child run with a failure planned; say what went wrong, if anything. */
static void try_failure(struct sweep *sw, uintptr_t site, unsigned long k)
{
	static struct outcome o;
	const char *why, *obj;
	uintptr_t off;
	int status, got;

	got = run_child(site, k, &o, &status);
	why = judge(&o, got, status);
	sw->runs++;
	if (o.failed_site && !covered(sw->failed, sw->nfailed, o.failed_site) &&
	    sw->nfailed < FAULT_SITES_MAX)
		sw->failed[sw->nfailed++] = o.failed_site;
	if (!why)
		return;
	sw->wrong++;
	off = site_offset(o.failed_site, &obj);
	printf("%s k=%lu: %s (status %#x, %d -ENOMEM, %d wrong, %ld live, "
	       "failed site %s+%#lx)\n", site ? "at a site," : "overall,", k,
	       why, status, o.enomem, o.wrong, o.live, obj, (unsigned long)off);
}

/*
 * First the k-th allocation of the run for every k, then, because which
 * call comes k-th varies with the interleaving of two workers, the n-th
 * call at each site the clean run used (n up to 3): every site fails.
 */
static void test_every_allocation_may_fail(void **state)
{
	static struct outcome clean;
	struct sweep sw = { .nfailed = 0 };
	unsigned long last;
	unsigned int never = 0;
	int status, got;

	got = run_child(0, 0, &clean, &status);
	assert_null(judge(&clean, got, status));
	assert_int_equal(clean.spawned, TASKS);
	assert_true(clean.calls > TASKS);	/* a task block each at least */
	last = clean.calls + clean.calls / 4;
	for (unsigned long k = 1; k <= last; k++)
		try_failure(&sw, 0, k);
	for (unsigned int i = 0; i < clean.nsites; i++) {
		const struct fault_site *s = &clean.sites[i];
		const char *obj;
		uintptr_t off = site_offset(s->addr, &obj);

		for (unsigned long n = 1; n <= s->calls && n <= 3; n++)
			try_failure(&sw, s->addr, n);
		if (!covered(sw.failed, sw.nfailed, s->addr))
			never++;
		printf("site %s+%#lx: %lu calls in the clean run, %s\n", obj,
		       (unsigned long)off, s->calls,
		       covered(sw.failed, sw.nfailed, s->addr) ?
		       "failed and handled" : "NEVER FAILED");
	}
	printf("%lu allocation calls at %u sites in a clean run; k = 1..%lu "
	       "and each site's first calls failed: %u runs, %u wrong\n",
	       clean.calls, clean.nsites, last, sw.runs, sw.wrong);
	assert_int_equal(never, 0);
	assert_int_equal(sw.wrong, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_may_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * rt-workload.c - librtasync programs with known answers, for the task
 * commands of rtasync-trace (tests/bpf/test_task.c):
 *
 *	rt-workload [-w WORKERS] [-r RUNTIMES] MODE [ARGS]
 *
 *	-r RUNTIMES	that many runtimes (trace areas) in the process;
 *			`sites` runs its K tasks on each, the other modes
 *			use the last one and leave the others idle
 *
 *	sites K		K tasks, each 30 yields at one await site and 3
 *			sleeps at another, on runtimes that count sites
 *			from the start (count_sites); then waits for SIGTERM
 *	sites-watched K	the same on runtimes that count sites only while
 *			a tool asks: prints "waiting", starts the tasks once
 *			a tool set sites_enabled in the last runtime's area
 *			(task top), then prints "ready" and waits for SIGTERM
 *	deep		a task parked 3 frames deep (deep_a -> deep_b ->
 *			deep_c, deep_c in RT_SLEEP), one parked 1 deep, one
 *			CHAIN_DEPTH deep across arena chunks; waits for SIGTERM.
 *			They are named DEEP_NAME, SHALLOW_NAME (a tab in it)
 *			and none
 *	fiber-deep	a fiber parked in rt_sleep three calls deep
 *			(fiber_park_a -> fiber_park_b -> fiber_park_c; this
 *			file is built with frame pointers); waits for SIGTERM
 *	block MS	on SIGUSR1: a task resumes from a yield and then
 *			blocks in read(2) on a pipe another thread writes
 *			MS ms later; prints how long read(2) took, exits
 *	fiber-block MS	the same, the task a fiber (fiber_blocker): it
 *			resumes from rt_yield and blocks in read(2); prints
 *			the task's address too
 *	steps T N	on SIGUSR1: T tasks yield N times each (T * (N + 1)
 *			task steps), exits
 *	sleeps T N US	on SIGUSR1: T tasks sleep US us N times each, so
 *			the workers park and wake (switch-heavy), exits
 *	io N		one task: N pipe writes and reads, then a poll
 *			whose deadline expires; waits for SIGTERM
 *	blocking N	a blocking pool of 2 threads: N calls one after
 *			another, then 2 that block in read(2) on a pipe
 *			nobody writes; ready once both are in read(2);
 *			waits for SIGTERM
 *	plain		no runtime at all: waits for SIGTERM
 *	fake-area V	a memfd named like a trace area, of layout version
 *			V; waits for SIGTERM
 *
 * Each mode prints one line of key=value pairs on stdout when it is
 * ready (or done), with the lines of its await sites, and flushes it.
 * SIGUSR1 and SIGTERM are blocked in every thread and taken by sigwait,
 * so a worker never dies of them.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rtasync-fiber.h"
#include "rtasync-sync.h"
#include "rtasync-trace.h"
#include "rtasync.h"
#include "trace_self.h"

#define SITES_YIELDS 30
#define SITES_SLEEPS 3
#define DEEP_SLEEP_NS (600ull * 1000000000ull)
#define CHAIN_DEPTH 40
#define DEEP_NAME "deep-a/worker 7"
#define SHALLOW_NAME "tab\there"

#define MAX_RUNTIMES 4

static struct rt_runtime *rt, *rts[MAX_RUNTIMES];
static unsigned int nworkers, nruntimes = 1;
static bool count_sites;
static sigset_t sigs;

static _Noreturn void die(const char *what, int err)
{
	fprintf(stderr, "rt-workload: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void runtime_start(void)
{
	struct rt_config cfg;
	unsigned int i;
	int ret;

	rt_config_init(&cfg);
	if (nworkers)
		cfg.workers = nworkers;
	cfg.count_sites = count_sites;
	for (i = 0; i < nruntimes; i++) {
		ret = rt_runtime_new(&cfg, &rts[i]);
		if (ret)
			die("rt_runtime_new", ret);
	}
	rt = rts[nruntimes - 1];
}

static int wait_signal(void)
{
	int sig = 0;

	sigwait(&sigs, &sig);
	return sig;
}

static uint64_t now_ns(void)
{
	return rt_now_ns();
}

/* ---- sites: known suspension counts per await site --------------------- */

static int yield_line, sleep_line;

struct sites_frame {
	struct rt_frame frame;
	int i;
};

static RT_ASYNC int64_t sites_task(struct rt_task *t, struct rt_frame *base)
{
	struct sites_frame *f = RT_FRAME(base, struct sites_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < SITES_YIELDS; f->i++) {
		yield_line = __LINE__ + 1;
		RT_YIELD();
		if (f->i % (SITES_YIELDS / SITES_SLEEPS) == 0) {
			sleep_line = __LINE__ + 1;
			RT_SLEEP(1000);
		}
	}
	return 0;
}

/* Wait up to 10 s for a tool to switch site counts on in our area. */
static void wait_sites_enabled(void)
{
	int fd = trace_self_area_fd();	/* the newest runtime's */
	struct rt_trace_header *h;

	if (fd < 0)
		die("no trace area", ENOENT);
	h = mmap(NULL, sizeof(*h), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (h == MAP_FAILED)
		die("mmap", errno);
	printf("waiting pid=%d\n", (int)getpid());
	fflush(stdout);
	for (int i = 0; i < 10000; i++) {
		if (__atomic_load_n(&h->sites_enabled, __ATOMIC_ACQUIRE))
			break;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	munmap(h, sizeof(*h));
}

static int run_sites(int k, bool watched)
{
	int n = k * (int)nruntimes, i;
	struct rt_task **h = calloc((size_t)n, sizeof(*h));

	count_sites = !watched;
	runtime_start();
	if (watched)
		wait_sites_enabled();
	for (i = 0; i < n; i++)
		if (RT_SPAWN(rts[i / k], &h[i], sites_task, struct sites_frame))
			die("spawn", ENOMEM);
	for (i = 0; i < n; i++) {
		rt_task_join(h[i], NULL);
		rt_task_release(h[i]);
	}
	printf("ready pid=%d func=sites_task yield_line=%d yield_count=%d "
	       "sleep_line=%d sleep_count=%d\n", (int)getpid(), yield_line,
	       n * SITES_YIELDS, sleep_line, n * SITES_SLEEPS);
	fflush(stdout);
	wait_signal();
	free(h);
	return 0;
}

/* ---- deep: tasks parked several frames deep ----------------------------- */

static int deep_line, shallow_line, chain_line;
static atomic_int parked;

struct deep_frame {
	struct rt_frame frame;
	int64_t r;
};

static RT_ASYNC int64_t deep_c(struct rt_task *t, struct rt_frame *base)
{
	RT_BEGIN(t, base);
	atomic_fetch_add(&parked, 1);
	deep_line = __LINE__ + 1;
	RT_SLEEP(DEEP_SLEEP_NS);
	return 3;
}

static RT_ASYNC int64_t deep_b(struct rt_task *t, struct rt_frame *base)
{
	struct deep_frame *f = RT_FRAME(base, struct deep_frame);

	RT_BEGIN(t, base);
	RT_CALL(f->r, deep_c, struct deep_frame);
	return f->r + 1;
}

static RT_ASYNC int64_t deep_a(struct rt_task *t, struct rt_frame *base)
{
	struct deep_frame *f = RT_FRAME(base, struct deep_frame);

	RT_BEGIN(t, base);
	RT_CALL(f->r, deep_b, struct deep_frame);
	return f->r + 1;
}

static RT_ASYNC int64_t shallow(struct rt_task *t, struct rt_frame *base)
{
	RT_BEGIN(t, base);
	atomic_fetch_add(&parked, 1);
	shallow_line = __LINE__ + 1;
	RT_SLEEP(DEEP_SLEEP_NS);
	return 0;
}

struct chain_frame {
	struct rt_frame frame;
	int depth;
	int64_t r;
	char pad[24];	/* 48-byte frames: the chain leaves the inline arena */
};

static RT_ASYNC int64_t chain_rec(struct rt_task *t, struct rt_frame *base)
{
	struct chain_frame *f = RT_FRAME(base, struct chain_frame);

	RT_BEGIN(t, base);
	if (f->depth > 1) {
		RT_CALL(f->r, chain_rec, struct chain_frame, .depth = f->depth - 1);
		return f->r;
	}
	atomic_fetch_add(&parked, 1);
	chain_line = __LINE__ + 1;
	RT_SLEEP(DEEP_SLEEP_NS);
	return 0;
}

static RT_ASYNC int64_t chain_root(struct rt_task *t, struct rt_frame *base)
{
	struct chain_frame *f = RT_FRAME(base, struct chain_frame);

	RT_BEGIN(t, base);
	RT_CALL(f->r, chain_rec, struct chain_frame, .depth = CHAIN_DEPTH);
	return f->r;
}

/* Names are set from this thread while the tasks may already run. */
static void name_and_release(struct rt_task *h, const char *name)
{
	int ret = rt_task_set_name(h, name);

	if (ret)
		die("rt_task_set_name", ret);
	rt_task_release(h);
}

static int run_deep(void)
{
	struct rt_task *deep, *shallow_task;
	struct rt_stats st;

	runtime_start();
	if (RT_SPAWN(rt, &deep, deep_a, struct deep_frame) ||
	    RT_SPAWN(rt, &shallow_task, shallow, struct deep_frame) ||
	    RT_SPAWN(rt, NULL, chain_root, struct chain_frame))
		die("spawn", ENOMEM);
	name_and_release(deep, DEEP_NAME);
	name_and_release(shallow_task, SHALLOW_NAME);
	/* parked: their sleeps counted as suspensions, so in the heaps */
	do {
		usleep(1000);
		rt_runtime_stats(rt, &st);
	} while (atomic_load(&parked) < 3 || st.suspends < 3);
	usleep(20000);
	printf("ready pid=%d deep_line=%d shallow_line=%d chain_line=%d "
	       "chain_depth=%d\n", (int)getpid(), deep_line, shallow_line,
	       chain_line, CHAIN_DEPTH);
	fflush(stdout);
	wait_signal();
	return 0;
}

/* ---- fiber-deep: a fiber parked in known C functions ------------------------ */

/*
 * Not inlined, and each adds to what its callee returns so the call is
 * no tail call: every function keeps its frame on the fiber's stack.
 */
static __attribute__((noinline)) int64_t fiber_park_c(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked, 1);
	return rt_sleep(DEEP_SLEEP_NS) + 3;
}

static __attribute__((noinline)) int64_t fiber_park_b(void *arg)
{
	return fiber_park_c(arg) + 2;
}

static int64_t fiber_park_a(void *arg)
{
	return fiber_park_b(arg) + 1;
}

static int run_fiber_deep(void)
{
	struct rt_stats st;
	int ret;

	runtime_start();
	ret = rt_fiber_spawn(rt, fiber_park_a, NULL, 0, NULL);
	if (ret)
		die("rt_fiber_spawn", ret);
	do {
		usleep(1000);
		rt_runtime_stats(rt, &st);
	} while (atomic_load(&parked) < 1 || st.suspends < 1);
	usleep(20000);
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	wait_signal();
	return 0;
}

/* ---- block: a foreign blocking syscall inside a continuation ----------- */

static int block_line;

struct block_frame {
	struct rt_frame frame;
	int rfd;
	uint64_t blocked_ns;
};

static RT_ASYNC int64_t blocker(struct rt_task *t, struct rt_frame *base)
{
	struct block_frame *f = RT_FRAME(base, struct block_frame);
	uint64_t t0;
	char c;

	RT_BEGIN(t, base);
	block_line = __LINE__ + 1;
	RT_YIELD();
	/* runs after resuming from the yield: the worker blocks here */
	t0 = now_ns();
	if (read(f->rfd, &c, 1) != 1)
		return -EIO;
	f->blocked_ns = now_ns() - t0;
	return (int64_t)f->blocked_ns;
}

struct writer_arg {
	int wfd;
	long ms;
};

static void *writer_main(void *p)
{
	struct writer_arg *a = p;
	struct timespec ts = { a->ms / 1000, (a->ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	if (write(a->wfd, "x", 1) != 1)
		perror("write");
	return NULL;
}

/*
 * A fiber that does what blocker does: resumes from a yield (rt_yield's
 * await, in the library), then blocks its worker in a plain read(2).
 */
static int64_t fiber_blocker(void *arg)
{
	int rfd = (int)(intptr_t)arg;
	uint64_t t0;
	char c;

	if (rt_yield())
		return -EIO;
	t0 = now_ns();
	if (read(rfd, &c, 1) != 1)
		return -EIO;
	return (int64_t)(now_ns() - t0);
}

static int spawn_blocker(bool fiber, int rfd, struct rt_task **h)
{
	if (fiber)
		return rt_fiber_spawn(rt, fiber_blocker, (void *)(intptr_t)rfd,
				      0, h);
	return RT_SPAWN(rt, h, blocker, struct block_frame, .rfd = rfd);
}

/* fiber: the blocking task is a fiber (fiber_blocker), else blocker. */
static int run_block(long ms, bool fiber)
{
	struct writer_arg wa = { .ms = ms };
	struct rt_task *h;
	uint64_t task;
	pthread_t th;
	int64_t res = 0;
	int fds[2];

	if (pipe(fds))
		die("pipe", errno);
	wa.wfd = fds[1];
	runtime_start();
	printf("waiting pid=%d\n", (int)getpid());
	fflush(stdout);
	wait_signal();
	if (pthread_create(&th, NULL, writer_main, &wa))
		die("pthread_create", EAGAIN);
	if (spawn_blocker(fiber, fds[0], &h))
		die("spawn", ENOMEM);
	task = (uint64_t)(uintptr_t)h;
	rt_task_join(h, &res);
	rt_task_release(h);
	pthread_join(th, NULL);
	printf("done pid=%d func=%s block_line=%d task=0x%llx blocked_ns=%lld\n",
	       (int)getpid(), fiber ? "fiber_blocker" : "blocker", block_line,
	       (unsigned long long)task, (long long)res);
	fflush(stdout);
	return res > 0 ? 0 : 1;
}

/* ---- steps: a known number of task steps -------------------------------- */

static int steps_line;

struct steps_frame {
	struct rt_frame frame;
	int n, i;
};

static RT_ASYNC int64_t stepper(struct rt_task *t, struct rt_frame *base)
{
	struct steps_frame *f = RT_FRAME(base, struct steps_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		steps_line = __LINE__ + 1;
		RT_YIELD();
	}
	return 0;
}

static int run_steps(int ntasks, int n)
{
	struct rt_task **h = calloc((size_t)ntasks, sizeof(*h));
	uint64_t t0;
	int i;

	runtime_start();
	printf("waiting pid=%d\n", (int)getpid());
	fflush(stdout);
	wait_signal();
	t0 = now_ns();
	for (i = 0; i < ntasks; i++)
		if (RT_SPAWN(rt, &h[i], stepper, struct steps_frame, .n = n))
			die("spawn", ENOMEM);
	for (i = 0; i < ntasks; i++) {
		rt_task_join(h[i], NULL);
		rt_task_release(h[i]);
	}
	printf("done pid=%d func=stepper steps_line=%d steps=%lld yields=%lld "
	       "elapsed_ns=%llu\n", (int)getpid(), steps_line,
	       (long long)ntasks * (n + 1), (long long)ntasks * n,
	       (unsigned long long)(now_ns() - t0));
	fflush(stdout);
	free(h);
	return 0;
}

/* ---- sleeps: workers that park and wake all the time --------------------- */

struct sleeps_frame {
	struct rt_frame frame;
	int n, i;
	uint64_t ns;
};

static RT_ASYNC int64_t sleeper(struct rt_task *t, struct rt_frame *base)
{
	struct sleeps_frame *f = RT_FRAME(base, struct sleeps_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++)
		RT_SLEEP(f->ns);
	return 0;
}

static int run_sleeps(int ntasks, int n, long us)
{
	struct rt_task **h = calloc((size_t)ntasks, sizeof(*h));
	uint64_t t0;
	int i;

	runtime_start();
	printf("waiting pid=%d\n", (int)getpid());
	fflush(stdout);
	wait_signal();
	t0 = now_ns();
	for (i = 0; i < ntasks; i++)
		if (RT_SPAWN(rt, &h[i], sleeper, struct sleeps_frame, .n = n,
			     .ns = (uint64_t)us * 1000))
			die("spawn", ENOMEM);
	for (i = 0; i < ntasks; i++) {
		rt_task_join(h[i], NULL);
		rt_task_release(h[i]);
	}
	printf("done pid=%d sleeps=%lld elapsed_ns=%llu\n", (int)getpid(),
	       (long long)ntasks * n, (unsigned long long)(now_ns() - t0));
	fflush(stdout);
	free(h);
	return 0;
}

/* ---- io: known per-op I/O counts ------------------------------------------ */

struct io_frame {
	struct rt_frame frame;
	int fds[2], i, n;
	char c;
};

static RT_ASYNC int64_t io_task(struct rt_task *t, struct rt_frame *base)
{
	struct io_frame *f = RT_FRAME(base, struct io_frame);
	int64_t r;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_WRITE(r, f->fds[1], "x", 1, (uint64_t)-1);
		RT_READ(r, f->fds[0], &f->c, 1, (uint64_t)-1);
	}
	RT_CATCH(true);
	RT_AWAIT(r, rt_op_poll(t, f->fds[0], 1 /* POLLIN */,
			       rt_deadline_in(1000000)));
	return r;
}

static int run_io(int n)
{
	int fds[2];

	runtime_start();
	if (pipe(fds))
		die("pipe", errno);
	if (RT_SPAWN(rt, NULL, io_task, struct io_frame,
		     .fds = { fds[0], fds[1] }, .n = n))
		die("spawn", ENOMEM);
	rt_runtime_drain(rt);
	printf("ready pid=%d io_round_trips=%d\n", (int)getpid(), n);
	fflush(stdout);
	wait_signal();
	return 0;
}

/* ---- blocking calls -------------------------------------------------------------- */

static atomic_int blocked_calls;
static int never_fds[2];		/* a pipe nobody writes */

static int64_t quick_call(void *arg)
{
	return (int64_t)(intptr_t)arg;
}

static int64_t stuck_call(void *arg)
{
	char c;

	(void)arg;
	atomic_fetch_add(&blocked_calls, 1);
	return read(never_fds[0], &c, 1);
}

struct blocking_frame {
	struct rt_frame frame;
	int n, i;
	int64_t r;
};

static RT_ASYNC int64_t blocking_task(struct rt_task *t, struct rt_frame *base)
{
	struct blocking_frame *f = RT_FRAME(base, struct blocking_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < f->n; f->i++) {
		RT_AWAIT(f->r, rt_op_spawn_blocking(t, quick_call,
				(void *)(intptr_t)f->i, RT_NEVER));
		if (f->r != f->i)
			die("quick_call", EPROTO);
	}
	RT_AWAIT(f->r, rt_op_spawn_blocking(t, stuck_call, NULL, RT_NEVER));
	return f->r;
}

static int run_blocking(int n)
{
	runtime_start();
	if (pipe(never_fds))
		die("pipe", errno);
	if (rt_blocking_pool_size(rt, 2))
		die("rt_blocking_pool_size", EINVAL);
	if (RT_SPAWN(rt, NULL, blocking_task, struct blocking_frame, .n = n) ||
	    RT_SPAWN(rt, NULL, blocking_task, struct blocking_frame, .n = 0))
		die("spawn", ENOMEM);
	while (atomic_load(&blocked_calls) != 2)
		sched_yield();
	printf("ready pid=%d blocking_calls=%d blocked=2 pool=2\n",
	       (int)getpid(), n);
	fflush(stdout);
	wait_signal();
	_exit(0);	/* the pool's threads are in read(2) for good */
}

/* ---- processes a tool must refuse ----------------------------------------- */

static int run_plain(void)
{
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	wait_signal();
	return 0;
}

static int run_fake_area(unsigned int version)
{
	struct rt_trace_header *h;
	int fd = memfd_create(RT_TRACE_MEMFD_NAME, MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, 65536))
		die("memfd", errno);
	h = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		die("mmap", errno);
	h->version = version;
	h->header_size = 4096;
	h->pid = (uint32_t)getpid();
	h->magic = RT_TRACE_MAGIC;
	printf("ready pid=%d version=%u\n", (int)getpid(), version);
	fflush(stdout);
	wait_signal();
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: rt-workload [-w WORKERS] [-r RUNTIMES] { sites K | deep | "
		"fiber-deep | block MS | fiber-block MS | steps T N | sleeps T N US | io N | blocking N | plain | fake-area VERSION }\n");
	return 2;
}

int main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "+w:r:")) != -1) {
		if (opt == 'w')
			nworkers = (unsigned int)atoi(optarg);
		else if (opt == 'r')
			nruntimes = (unsigned int)atoi(optarg);
		else
			return usage();
	}
	if (nruntimes < 1 || nruntimes > MAX_RUNTIMES)
		return usage();
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return usage();
	/* before any thread exists: every worker inherits the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (!strcmp(argv[0], "sites") && argc == 2)
		return run_sites(atoi(argv[1]), false);
	if (!strcmp(argv[0], "sites-watched") && argc == 2)
		return run_sites(atoi(argv[1]), true);
	if (!strcmp(argv[0], "fiber-deep"))
		return run_fiber_deep();
	if (!strcmp(argv[0], "deep"))
		return run_deep();
	if (!strcmp(argv[0], "block") && argc == 2)
		return run_block(atol(argv[1]), false);
	if (!strcmp(argv[0], "fiber-block") && argc == 2)
		return run_block(atol(argv[1]), true);
	if (!strcmp(argv[0], "steps") && argc == 3)
		return run_steps(atoi(argv[1]), atoi(argv[2]));
	if (!strcmp(argv[0], "sleeps") && argc == 4)
		return run_sleeps(atoi(argv[1]), atoi(argv[2]), atol(argv[3]));
	if (!strcmp(argv[0], "io") && argc == 2)
		return run_io(atoi(argv[1]));
	if (!strcmp(argv[0], "blocking") && argc == 2)
		return run_blocking(atoi(argv[1]));
	if (!strcmp(argv[0], "plain"))
		return run_plain();
	if (!strcmp(argv[0], "fake-area") && argc == 2)
		return run_fake_area((unsigned int)atoi(argv[1]));
	return usage();
}

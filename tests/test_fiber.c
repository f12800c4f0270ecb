// SPDX-License-Identifier: MIT
/*
 * Stackful fibers: blocking-style I/O on real sockets and files with exact
 * bytes, thousands of sleepers waking in deadline order, fibers moving
 * between workers, a stack overflow caught in a child process, both
 * directions of interop with errors and cancellation, and every misuse
 * answered with an error instead of a hang.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt_test.h"
#include "internal.h"	/* the runtime's trace area header */

static struct rt_runtime *rt;

static int setup(void **state)
{
	rt = test_runtime(2, true);
	return 0;
}

static int teardown(void **state)
{
	rt_runtime_free(rt);
	return 0;
}

/* Spawn fn(arg) as a fiber and join it from this (foreign) thread. */
static int64_t run_fiber(struct rt_runtime *r, rt_fiber_fn fn, void *arg)
{
	struct rt_task *h = NULL;
	int64_t res = INT64_MIN;

	assert_int_equal(rt_fiber_spawn(r, fn, arg, 0, &h), 0);
	assert_int_equal(rt_task_join(h, &res), 0);
	rt_task_release(h);
	return res;
}

struct empty_frame {
	struct rt_frame frame;
};

/* ---- the basics ------------------------------------------------------- */

static int64_t twice(void *arg)
{
	return 2 * (int64_t)(intptr_t)arg;
}

static int64_t fails(void *arg)
{
	return -ENOENT;
}

/* C locals, a deep C stack and the FP rounding mode survive parking. */
static int64_t yields_and_counts(void *arg)
{
	volatile uint64_t sum = 0;
	int64_t r;

	for (int i = 0; i < 100; i++) {
		r = rt_yield();
		if (r)
			return r;
		sum += (uint64_t)i;
	}
	r = rt_sleep(1000);
	return r ? r : (int64_t)sum;
}

static void test_fiber_result_and_error(void **state)
{
	struct rt_stats s0 = test_stats(rt), s1;

	assert_int_equal(run_fiber(rt, twice, (void *)21), 42);
	assert_int_equal(run_fiber(rt, fails, NULL), -ENOENT);
	assert_int_equal(run_fiber(rt, yields_and_counts, NULL), 4950);
	s1 = test_stats(rt);
	assert_int_equal(s1.completed - s0.completed, 3);
	assert_true(s1.yields - s0.yields >= 100);
}

/* MXCSR's rounding control: 0 to nearest, 0x4000 up (SSE arithmetic). */
#define MXCSR_RC 0x6000u
#define MXCSR_UP 0x4000u

static unsigned int rounding(void)
{
	return __builtin_ia32_stmxcsr() & MXCSR_RC;
}

static void set_rounding(unsigned int rc)
{
	__builtin_ia32_ldmxcsr((__builtin_ia32_stmxcsr() & ~MXCSR_RC) | rc);
}

/* Set by the fibers below when they are over; seen by the watcher. */
static atomic_int mode_fiber_done;

/* A rounding mode as a bit of a set: 1 nearest, 4 up (RC 0 and 2). */
static int mode_bit(unsigned int rc)
{
	return 1 << (rc >> 13);
}

static int64_t round_up_mode(void *arg)
{
	int64_t r = 0;

	set_rounding(MXCSR_UP);
	for (int i = 0; i < 3 && !r; i++)
		r = rt_yield();		/* the watcher runs meanwhile */
	if (!r)
		r = rounding() == MXCSR_UP ? 1 : -EPROTO;
	set_rounding(0);
	atomic_store(&mode_fiber_done, 1);
	return r;
}

/* A fiber that leaves the mode alone: it keeps a new fiber's (nearest)
 * across its yields, whatever its worker's is. */
static int64_t nearest_mode(void *arg)
{
	int64_t r = rounding() == 0 ? 0 : -EPROTO;

	for (int i = 0; i < 3 && !r; i++) {
		r = rt_yield();		/* the watcher runs meanwhile */
		if (!r && rounding() != 0)
			r = -EPROTO;
	}
	atomic_store(&mode_fiber_done, 1);
	return r ? r : 1;
}

/* The modes the other task on the worker saw while the fiber was parked
 * (mode_bit()s). */
static atomic_int saw_modes, watch_steps;

struct mode_frame {
	struct rt_frame frame;
	int i;
};

static RT_ASYNC int64_t watch_mode(struct rt_task *t, struct rt_frame *base)
{
	struct mode_frame *f = RT_FRAME(base, struct mode_frame);

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < 1000000 && !atomic_load(&mode_fiber_done);
	     f->i++) {
		atomic_fetch_add(&watch_steps, 1);
		atomic_fetch_or(&saw_modes, mode_bit(rounding()));
		RT_YIELD();
	}
	return 0;
}

/*
 * One worker, made by a thread in rounding mode creator_rc: the watcher
 * (a continuation) runs while fiber fn is parked. The modes the watcher
 * saw: whether it sees a fiber's is what fiber_share_fpenv decides.
 */
static int watch_fiber_mode(bool share_fpenv, unsigned int creator_rc,
			    int64_t (*fn)(void *))
{
	struct rt_runtime *one = NULL;
	struct rt_task *w = NULL;
	struct rt_config cfg;

	rt_config_init(&cfg);
	cfg.workers = 1;
	cfg.pin = false;
	cfg.fiber_share_fpenv = share_fpenv;
	set_rounding(creator_rc);	/* the workers inherit it */
	assert_int_equal(rt_runtime_new(&cfg, &one), 0);
	set_rounding(0);
	atomic_store(&mode_fiber_done, 0);
	atomic_store(&saw_modes, 0);
	atomic_store(&watch_steps, 0);
	assert_int_equal(RT_SPAWN(one, &w, watch_mode, struct mode_frame), 0);
	assert_int_equal(run_fiber(one, fn, NULL), 1);
	assert_int_equal(rt_task_join(w, NULL), 0);
	rt_task_release(w);
	assert_true(atomic_load(&watch_steps) >= 3);	/* it did run */
	rt_runtime_free(one);
	return atomic_load(&saw_modes);
}

/* The ABI's callee-saved FP control bits do not leak across a switch. */
static void test_fiber_keeps_fp_control(void **state)
{
	assert_int_equal(watch_fiber_mode(false, 0, round_up_mode),
			 mode_bit(0));
}

/*
 * The other way: the worker's mode (its creator's, here up) is what its
 * loop gets back after each switch out of a fiber (which the loop makes
 * without reading the words, fiber_step.h), and a fiber keeps its own.
 */
static void test_fiber_gives_back_worker_fp_mode(void **state)
{
	assert_int_equal(watch_fiber_mode(false, MXCSR_UP, nearest_mode),
			 mode_bit(MXCSR_UP));
	assert_int_equal(rounding(), 0);	/* this thread's: restored */
}

/* fiber_share_fpenv: the switch leaves them alone, as documented. */
static void test_fiber_shares_fpenv(void **state)
{
	assert_int_equal(watch_fiber_mode(true, 0, round_up_mode) &
			 mode_bit(MXCSR_UP), mode_bit(MXCSR_UP));
	assert_int_equal(rounding(), 0);	/* this thread's: untouched */
}

/* ---- I/O with exact bytes --------------------------------------------- */

#define XFER (256u << 10)	/* more than a socket buffer: short sends */

struct tcp_args {
	int lfd;
	struct sockaddr_in addr;
};

static int64_t send_all(int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		int64_t r = rt_send(fd, p + done, n - done, MSG_NOSIGNAL);

		if (r < 0)
			return r;
		done += (size_t)r;
	}
	return (int64_t)done;
}

/* Accept one client, echo what it sends until EOF. */
static int64_t echo_server(void *arg)
{
	struct tcp_args *a = arg;
	uint8_t buf[8192];	/* on the fiber's stack: it survives parking */
	int64_t fd, n, total = 0, r;

	fd = rt_accept(a->lfd, NULL, NULL);
	if (fd < 0)
		return fd;
	while ((n = rt_recv((int)fd, buf, sizeof(buf), 0)) > 0) {
		r = send_all((int)fd, buf, (size_t)n);
		if (r < 0) {
			n = r;
			break;
		}
		total += n;
	}
	r = rt_close((int)fd);
	return n < 0 ? n : r < 0 ? r : total;
}

static int64_t echo_client(void *arg)
{
	struct tcp_args *a = arg;
	static uint8_t out[XFER], in[XFER];
	int64_t r, got = 0;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (size_t k = 0; k < XFER; k++)
		out[k] = test_pattern(3, k);
	r = rt_connect(fd, (struct sockaddr *)&a->addr, sizeof(a->addr));
	if (r == 0)
		r = send_all(fd, out, XFER);
	if (r >= 0)
		r = rt_shutdown(fd, SHUT_WR);
	while (r >= 0 && (r = rt_recv(fd, in + got, XFER - (size_t)got, 0)) > 0)
		got += r;
	rt_close(fd);
	if (r < 0)
		return r;
	return memcmp(in, out, XFER) ? -EBADMSG : got;
}

static void test_fiber_tcp_echo(void **state)
{
	struct tcp_args a;
	struct rt_task *srv = NULL, *cli = NULL;
	int64_t rs = 0, rc = 0;

	a.lfd = test_listener(&a.addr);
	assert_int_equal(rt_fiber_spawn(rt, echo_server, &a, 0, &srv), 0);
	assert_int_equal(rt_fiber_spawn(rt, echo_client, &a, 0, &cli), 0);
	assert_int_equal(rt_task_join(cli, &rc), 0);
	assert_int_equal(rt_task_join(srv, &rs), 0);
	assert_int_equal(rc, XFER);
	assert_int_equal(rs, XFER);
	rt_task_release(srv);
	rt_task_release(cli);
	close(a.lfd);
}

struct file_args {
	char path[64];
};

/* Write at offsets out of order, fsync, read back by position. */
static int64_t file_round_trip(void *arg)
{
	struct file_args *a = arg;
	uint8_t blk[4096], back[3 * 4096];
	int64_t fd, r = 0;

	/* the kernel writes it behind memcheck's back (io_uring) */
	memset(back, 0, sizeof(back));

	fd = rt_openat(AT_FDCWD, a->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return fd;
	for (int i = 2; i >= 0 && r >= 0; i--) {
		for (size_t k = 0; k < sizeof(blk); k++)
			blk[k] = test_pattern((uint32_t)i, k);
		r = rt_write((int)fd, blk, sizeof(blk), (uint64_t)i * 4096);
		if (r >= 0 && r != (int64_t)sizeof(blk))
			r = -EIO;
	}
	if (r >= 0)
		r = rt_fsync((int)fd);
	if (r >= 0)
		r = rt_read((int)fd, back, sizeof(back), 0);
	rt_close((int)fd);
	if (r != (int64_t)sizeof(back))
		return r < 0 ? r : -EIO;
	for (size_t k = 0; k < sizeof(back); k++)
		if (back[k] != test_pattern((uint32_t)(k / 4096), k % 4096))
			return -EBADMSG;
	/* a bad fd is a result, not a crash */
	return rt_read(-1, back, 1, 0) == -EBADF ? (int64_t)sizeof(back) : -EPROTO;
}

static void test_fiber_file(void **state)
{
	struct file_args a;

	snprintf(a.path, sizeof(a.path), "/tmp/rt-fiber-%d", (int)getpid());
	assert_int_equal(run_fiber(rt, file_round_trip, &a), 3 * 4096);
	unlink(a.path);
}

/* ---- many sleepers, in deadline order ---------------------------------- */

#define SLEEPERS 2000

static uint64_t sleep_base;
static atomic_int woke_n;
static int woke[SLEEPERS];

static int64_t sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;
	int64_t r = rt_sleep_until(sleep_base + (uint64_t)i * 10000);

	if (r)
		return r;
	woke[atomic_fetch_add(&woke_n, 1)] = i;
	return i;
}

/* Spawns every sleeper before any runs (one worker, FIFO queue), so each
 * sleeps with its deadline set when the last was spawned. */
static int64_t start_sleepers(void *arg)
{
	for (int i = 0; i < SLEEPERS; i++) {
		int ret = rt_fiber_spawn(rt_task_runtime(rt_task_current()),
					 sleeper, (void *)(intptr_t)i, 0, NULL);

		if (ret)
			return ret;
	}
	sleep_base = rt_now_ns() + 1000000;
	return 0;
}

static void test_fiber_sleepers_wake_in_order(void **state)
{
	/* pinned: queues belong to CPUs, and FIFO order is per queue */
	struct rt_runtime *one = test_runtime(1, true);
	struct rt_stats s;

	atomic_store(&woke_n, 0);
	assert_int_equal(run_fiber(one, start_sleepers, NULL), 0);
	assert_int_equal(rt_runtime_drain(one), 0);
	assert_int_equal(atomic_load(&woke_n), SLEEPERS);
	for (int i = 0; i < SLEEPERS; i++)
		assert_int_equal(woke[i], i);
	s = test_stats(one);
	assert_int_equal(s.completed, SLEEPERS + 1);
	assert_int_equal(s.timers_fired, SLEEPERS);
	rt_runtime_free(one);
}

/* ---- fibers move between workers --------------------------------------- */

#define MOVERS 64

static atomic_int movers_done;
static _Atomic pid_t hog_tid;
static atomic_bool hog_on;
static pid_t started_on[MOVERS], resumed_on[MOVERS];
static bool resumed_late[MOVERS];	/* while the hog held its worker */

static int64_t mover(void *arg)
{
	int i = (int)(intptr_t)arg;
	int64_t r;

	started_on[i] = gettid();
	r = rt_yield();
	if (r)
		return r;
	resumed_on[i] = gettid();
	resumed_late[i] = atomic_load(&hog_on);
	atomic_fetch_add(&movers_done, 1);
	return 0;
}

static void spin_until_movers_done(void)
{
	uint64_t end = rt_now_ns() + 20000000000ull;

	while (atomic_load(&movers_done) < MOVERS && rt_now_ns() < end)
		;
}

/*
 * Spawn the movers here and yield once: those this worker runs before
 * the spawner park in its queue. Then keep the worker in a step (the
 * hog) until every mover is done: a mover that resumes while the hog
 * holds its worker can only have been taken by the other worker.
 * Which worker starts which mover, and where the spawner itself resumes
 * (it may be donated, or stolen back), is the scheduler's business.
 */
static int64_t spawn_then_hog(void *arg)
{
	for (int i = 0; i < MOVERS; i++) {
		int ret = rt_fiber_spawn(rt_task_runtime(rt_task_current()),
					 mover, (void *)(intptr_t)i, 0, NULL);

		if (ret)
			return ret;
	}
	rt_yield();
	atomic_store(&hog_tid, gettid());
	atomic_store(&hog_on, true);
	spin_until_movers_done();
	return 0;
}

static void test_fiber_stolen_across_workers(void **state)
{
	struct rt_stats s;
	int late = 0, moved = 0, stayed = 0;

	if (test_online_cpus() < 2)
		skip();	/* the thief needs a CPU of its own */
	struct rt_runtime *two = test_runtime(2, true);

	atomic_store(&movers_done, 0);
	atomic_store(&hog_on, false);
	assert_int_equal(run_fiber(two, spawn_then_hog, NULL), 0);
	assert_int_equal(rt_runtime_drain(two), 0);
	for (int i = 0; i < MOVERS; i++) {
		if (!resumed_late[i])
			continue;
		late++;
		moved += started_on[i] == atomic_load(&hog_tid);
		stayed += resumed_on[i] == atomic_load(&hog_tid);
	}
	s = test_stats(two);
	print_message("    %d of %d resumed while the hog ran, %d of them "
		      "moved off its worker; steals %llu, stolen %llu\n", late,
		      MOVERS, moved, (unsigned long long)s.steals,
		      (unsigned long long)s.stolen);
	assert_int_equal(atomic_load(&movers_done), MOVERS);
	assert_int_equal(stayed, 0);
	assert_true(s.stolen + s.donated >= (uint64_t)moved);
	rt_runtime_free(two);
}

/*
 * More workers than CPUs, unpinned, the fibers spread over them by the
 * foreign spawns: each yields, sleeps, and joins a child fiber that may
 * finish on another worker (a cross-worker wake). Every one completes
 * with its exact result.
 */
#define CROWD 1000

static int64_t child_of_crowd(void *arg)
{
	int64_t r = rt_yield();

	return r ? r : 3 * (int64_t)(intptr_t)arg;
}

static int64_t crowd_member(void *arg)
{
	struct rt_task *kid = NULL;
	int64_t i = (int64_t)(intptr_t)arg, r;
	int ret;

	ret = rt_fiber_spawn(rt_task_runtime(rt_task_current()),
			     child_of_crowd, arg, 0, &kid);
	if (ret)
		return ret;
	for (int k = 0; k < 5; k++) {
		r = k % 2 ? rt_yield() : rt_sleep(1000 * (uint64_t)(i % 7));
		if (r)
			break;
	}
	r = rt_join(kid);
	rt_task_release(kid);
	return r < 0 ? r : r + i;
}

static void test_fiber_oversubscribed(void **state)
{
	struct rt_runtime *four = test_runtime(4, false);
	struct rt_task *h[CROWD];
	struct rt_stats s;
	int64_t r;

	for (int i = 0; i < CROWD; i++)
		assert_int_equal(rt_fiber_spawn(four, crowd_member,
						(void *)(intptr_t)i, 0, &h[i]),
				 0);
	for (int i = 0; i < CROWD; i++) {
		assert_int_equal(rt_task_join(h[i], &r), 0);
		assert_int_equal(r, 4 * i);
		rt_task_release(h[i]);
	}
	assert_int_equal(rt_runtime_drain(four), 0);
	s = test_stats(four);
	assert_int_equal(s.completed, 2 * CROWD);
	print_message("    %d fibers on 4 workers: steals %llu, donated %llu, "
		      "inbox %llu\n", 2 * CROWD, (unsigned long long)s.steals,
		      (unsigned long long)s.donated,
		      (unsigned long long)s.inbox);
	rt_runtime_free(four);
}

/* ---- stack overflow ------------------------------------------------------ */

static int recurse(volatile char *above, int depth)
{
	volatile char pad[512];

	pad[0] = (char)depth;
	pad[511] = above ? above[0] : 0;
	if (depth == INT32_MAX)	/* never: the stack ends long before */
		return 0;
	return recurse(pad, depth + 1) + pad[7];
}

static int64_t overflow(void *arg)
{
	return recurse(NULL, 0);
}

/*
 * The child: a fiber with a 16 KiB stack recurses without end. It is this
 * program again, exec'd: a fork of a threaded process may not start
 * threads under TSan, and a fresh process has none of cmocka's handlers.
 */
#define OVERFLOW_CHILD "--overflow-child"

static const char *self_path;	/* argv[0]: /proc/self/exe is valgrind's */

static int overflow_child(void)
{
	struct rt_runtime *r = NULL;
	struct rt_task *h = NULL;
	struct rt_config cfg;

	rt_config_init(&cfg);
	cfg.workers = 1;
	cfg.pin = false;
	if (rt_runtime_new(&cfg, &r) ||
	    rt_fiber_spawn(r, overflow, NULL, 16384, &h))
		return 3;
	rt_task_join(h, NULL);
	return 4;	/* must not get here */
}

static void test_fiber_overflow_reported(void **state)
{
	char out[4096];
	ssize_t n, len = 0;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		execl(self_path, self_path, OVERFLOW_CHILD, (char *)NULL);
		_exit(5);
	}
	close(fds[1]);
	while ((n = read(fds[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
		len += n;
	out[len] = 0;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	print_message("    child: %s", out);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	assert_non_null(strstr(out, "rtasync: fiber stack overflow: task 0x"));
	assert_non_null(strstr(out, "its 16384-byte stack"));
}

/* ---- a fiber calls stackless code -------------------------------------- */

struct nap_frame {
	struct rt_frame frame;
	uint64_t ns;
	int64_t v;
};

/* Suspends (ns > 0) or not, then returns v (an error when negative). */
static RT_ASYNC int64_t nap_then(struct rt_task *t, struct rt_frame *base)
{
	struct nap_frame *f = RT_FRAME(base, struct nap_frame);

	RT_BEGIN(t, base);
	if (f->ns)
		RT_SLEEP(f->ns);
	return f->v;
}

struct outer_frame {
	struct rt_frame frame;
	uint64_t ns;
	int64_t v;
};

/* Not catching: an error of the inner call skips this frame. */
static RT_ASYNC int64_t outer_nap(struct rt_task *t, struct rt_frame *base)
{
	struct outer_frame *f = RT_FRAME(base, struct outer_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_CALL(r, nap_then, struct nap_frame, .ns = f->ns, .v = f->v);
	return r + 1;
}

struct depth_frame {
	struct rt_frame frame;
	int n;
};

/* Deep enough to trampoline off the fiber's stack floor. */
static RT_ASYNC int64_t depth(struct rt_task *t, struct rt_frame *base)
{
	struct depth_frame *f = RT_FRAME(base, struct depth_frame);
	int64_t r;

	RT_BEGIN(t, base);
	if (f->n == 0)
		return 0;
	RT_CALL(r, depth, struct depth_frame, .n = f->n - 1);
	return r + 1;
}

static int64_t calls_async(void *arg)
{
	int64_t r;

	r = RT_CALL_ASYNC(nap_then, struct nap_frame, .ns = 0, .v = 5);
	if (r != 5)
		return -100;
	r = RT_CALL_ASYNC(nap_then, struct nap_frame, .ns = 100000, .v = 6);
	if (r != 6)
		return -101;
	r = RT_CALL_ASYNC(outer_nap, struct outer_frame, .ns = 100000,
			  .v = -ENOENT);
	if (r != -ENOENT)
		return -102;
	r = RT_CALL_ASYNC(outer_nap, struct outer_frame, .ns = 0, .v = -EIO);
	if (r != -EIO)
		return -103;
	r = RT_CALL_ASYNC(depth, struct depth_frame, .n = 100000);
	if (r != 100000)
		return -104;
	/* the fiber goes on blocking after all of that */
	r = rt_sleep(1000);
	return r ? r : 7;
}

static void test_fiber_calls_async(void **state)
{
	struct rt_stats s0 = test_stats(rt), s1;

	assert_int_equal(run_fiber(rt, calls_async, NULL), 7);
	s1 = test_stats(rt);
	assert_true(s1.trampolines > s0.trampolines);
}

/* rt_send_all is an async function of the library: from a fiber. */
static int64_t fiber_send_all(void *arg)
{
	int *sv = arg;
	static uint8_t big[XFER];
	int64_t r;

	for (size_t k = 0; k < XFER; k++)
		big[k] = test_pattern(9, k);
	r = RT_CALL_ASYNC(rt_send_all, struct rt_send_all_frame, .fd = sv[0],
			  .buf = big, .len = XFER);
	close(sv[0]);
	return r;
}

static void test_fiber_calls_library_async(void **state)
{
	static uint8_t in[XFER];
	struct rt_task *h = NULL;
	size_t got = 0;
	int64_t r = 0;
	ssize_t n;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(rt_fiber_spawn(rt, fiber_send_all, sv, 0, &h), 0);
	while ((n = read(sv[1], in + got, XFER - got)) > 0)
		got += (size_t)n;
	assert_int_equal(rt_task_join(h, &r), 0);
	rt_task_release(h);
	close(sv[1]);
	assert_int_equal(r, XFER);
	assert_int_equal(got, XFER);
	for (size_t k = 0; k < XFER; k++)
		if (in[k] != test_pattern(9, k))
			fail_msg("byte %zu differs", k);
}

/* ---- stackless code awaits fibers ---------------------------------------- */

static int64_t sleep_then_arg(void *arg)
{
	int64_t r = rt_sleep(100000);

	return r ? r : (int64_t)(intptr_t)arg;
}

struct caller_frame {
	struct rt_frame frame;
	int64_t a, b, c, d;
	struct rt_task *h;
};

static RT_ASYNC int64_t calls_fibers(struct rt_task *t, struct rt_frame *base)
{
	struct caller_frame *f = RT_FRAME(base, struct caller_frame);
	int ret;

	RT_BEGIN(t, base);
	RT_CALL_FIBER(f->a, twice, (void *)4);		/* no suspension */
	RT_CALL_FIBER(f->b, sleep_then_arg, (void *)9);	/* suspends */
	ret = rt_fiber_spawn(rt_task_runtime(t), sleep_then_arg,
			     (void *)11, 0, &f->h);
	if (ret)
		return ret;
	RT_JOIN(f->c, f->h);
	rt_task_release(f->h);
	RT_CATCH(true);
	RT_CALL_FIBER(f->d, fails, NULL);
	return f->a * 1000000 + f->b * 10000 + f->c * 100 - f->d;
}

/* Not catching: the fiber's error is the caller's result. */
static RT_ASYNC int64_t calls_failing_fiber(struct rt_task *t,
					    struct rt_frame *base)
{
	int64_t r;

	RT_BEGIN(t, base);
	RT_CALL_FIBER(r, fails, NULL);
	return r + 1000;
}

static void test_async_awaits_fibers(void **state)
{
	assert_int_equal(TEST_RUN(rt, calls_fibers, struct caller_frame),
			 8 * 1000000 + 9 * 10000 + 11 * 100 + ENOENT);
	assert_int_equal(TEST_RUN(rt, calls_failing_fiber, struct empty_frame),
			 -ENOENT);
}

/* A fiber joins a stackless task and a fiber; both directions nest. */
static int64_t nested(void *arg)
{
	return RT_CALL_ASYNC(calls_fibers, struct caller_frame);
}

static int64_t joins_both(void *arg)
{
	struct rt_runtime *r = rt_task_runtime(rt_task_current());
	struct rt_task *a = NULL, *b = NULL;
	int64_t ra, rb;

	if (RT_SPAWN(r, &a, nap_then, struct nap_frame, .ns = 100000,
		     .v = 30) ||
	    rt_fiber_spawn(r, fails, NULL, 0, &b))
		return -ENOMEM;
	ra = rt_join(a);
	rb = rt_join(b);
	if (rt_join(b) != -EALREADY)
		return -EPROTO;
	rt_task_release(a);
	rt_task_release(b);
	return ra == 30 && rb == -ENOENT ? 1 : -EPROTO;
}

static void test_fiber_joins_and_nests(void **state)
{
	assert_int_equal(run_fiber(rt, joins_both, NULL), 1);
	assert_int_equal(run_fiber(rt, nested, NULL),
			 8 * 1000000 + 9 * 10000 + 11 * 100 + ENOENT);
}

/* ---- cancellation and deadlines ------------------------------------------ */

static atomic_int parked;

static int64_t sleeps_forever(void *arg)
{
	int64_t r;

	atomic_fetch_add(&parked, 1);
	r = rt_sleep(UINT64_MAX);
	/* every later op of a cancelled task fails at once */
	return r == -ECANCELED && rt_yield() == -ECANCELED ? -ECANCELED : -EPROTO;
}

static int64_t recv_forever(void *arg)
{
	int *fd = arg;
	char c;

	atomic_fetch_add(&parked, 1);
	return rt_recv(*fd, &c, 1, 0);
}

static int64_t async_sleeps_forever(void *arg)
{
	atomic_fetch_add(&parked, 1);
	return RT_CALL_ASYNC(nap_then, struct nap_frame, .ns = UINT64_MAX);
}

static RT_ASYNC int64_t awaits_sleeping_fiber(struct rt_task *t,
					      struct rt_frame *base)
{
	int64_t r;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	RT_CALL_FIBER(r, sleeps_forever, NULL);
	return r == -ECANCELED ? 77 : r;
}

static void wait_parked(int n)
{
	while (atomic_load(&parked) < n)
		usleep(1000);
	usleep(20000);	/* let it reach its op (a cancel before is fine too) */
}

static int64_t cancel_and_join(struct rt_task *h)
{
	int64_t r = INT64_MIN;

	assert_int_equal(rt_task_cancel(h), 0);
	assert_int_equal(rt_task_join(h, &r), 0);
	rt_task_release(h);
	return r;
}

static void test_fiber_cancelled(void **state)
{
	struct rt_task *h = NULL;
	int sv[2];

	atomic_store(&parked, 0);
	assert_int_equal(rt_fiber_spawn(rt, sleeps_forever, NULL, 0, &h), 0);
	wait_parked(1);
	assert_int_equal(cancel_and_join(h), -ECANCELED);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(rt_fiber_spawn(rt, recv_forever, &sv[0], 0, &h), 0);
	wait_parked(2);
	assert_int_equal(cancel_and_join(h), -ECANCELED);
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(rt_fiber_spawn(rt, async_sleeps_forever, NULL, 0, &h),
			 0);
	wait_parked(3);
	assert_int_equal(cancel_and_join(h), -ECANCELED);

	assert_int_equal(RT_SPAWN(rt, &h, awaits_sleeping_fiber,
				  struct empty_frame), 0);
	wait_parked(4);
	assert_int_equal(cancel_and_join(h), 77);

	/* cancelled before it ever ran: no stack taken, -ECANCELED */
	assert_int_equal(rt_fiber_spawn(rt, twice, (void *)1, 0, &h), 0);
	rt_task_cancel(h);
	assert_int_equal(rt_task_join(h, NULL), 0);
	rt_task_release(h);
	check_still_works(rt);
}

static int64_t recv_with_deadline(void *arg)
{
	int *fd = arg;
	char c;

	return RT_FIBER_OP(t, rt_op_recv(t, *fd, &c, 1, 0,
					 rt_deadline_in(10000000)));
}

static void test_fiber_deadline(void **state)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(run_fiber(rt, recv_with_deadline, &sv[0]), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
}

/* ---- misuse: errors, never a hang ---------------------------------------- */

static RT_ASYNC int64_t blocks_in_stackless(struct rt_task *t,
					    struct rt_frame *base)
{
	if (rt_sleep(1) != -EDEADLK || rt_yield() != -EDEADLK ||
	    rt_in_fiber())
		return -EPROTO;
	if (RT_CALL_ASYNC(nap_then, struct nap_frame, .v = 1) != -EDEADLK)
		return -EPROTO;
	return 1;
}

static int64_t async_that_blocks(void *arg)
{
	if (!rt_in_fiber())
		return -EPROTO;
	return RT_CALL_ASYNC(blocks_in_stackless, struct empty_frame);
}

static int64_t join_misuse(void *arg)
{
	int ret;

	if (rt_join(NULL) != -EINVAL)
		return -1;
	if (rt_join(rt_task_current()) != -EDEADLK)
		return -2;
	if (rt_call_async(NULL, NULL, 0) != -EINVAL)
		return -3;
	if (rt_call_async(nap_then, &(struct rt_frame){ 0 }, 8) != -EINVAL)
		return -4;
	/* the blocking foreign-thread join refuses a worker, fibers too */
	ret = rt_task_join(rt_task_current(), NULL);
	if (ret != -EDEADLK)
		return 1000 + ret;
	return 1;
}

static void test_fiber_misuse(void **state)
{
	struct rt_runtime *r = NULL;
	struct rt_config cfg;
	char c;

	/* a thread that runs no task */
	assert_false(rt_in_fiber());
	assert_int_equal(rt_sleep(1), -EPERM);
	assert_int_equal(rt_yield(), -EPERM);
	assert_int_equal(rt_recv(0, &c, 1, 0), -EPERM);
	assert_int_equal(rt_join(NULL), -EPERM);
	assert_int_equal(RT_CALL_ASYNC(nap_then, struct nap_frame, .v = 1),
			 -EPERM);
	assert_int_equal(RT_FIBER_OP(t, rt_op_yield(t)), -EPERM);
	/* a stackless frame on a worker, also one a fiber called */
	assert_int_equal(TEST_RUN(rt, blocks_in_stackless, struct empty_frame), 1);
	assert_int_equal(run_fiber(rt, async_that_blocks, NULL), 1);
	assert_int_equal(run_fiber(rt, join_misuse, NULL), 1);
	/* bad spawns and sizes */
	assert_int_equal(rt_fiber_spawn(NULL, twice, NULL, 0, NULL), -EINVAL);
	assert_int_equal(rt_fiber_spawn(rt, NULL, NULL, 0, NULL), -EINVAL);
	assert_int_equal(rt_fiber_spawn(rt, twice, NULL, 4096, NULL), -EINVAL);
	assert_int_equal(rt_fiber_spawn(rt, twice, NULL, (size_t)1 << 40, NULL),
			 -EINVAL);
	assert_int_equal(rt_fiber_run(NULL, NULL), -EINVAL);
	rt_config_init(&cfg);
	cfg.fiber_stack = 4096;
	assert_int_equal(rt_runtime_new(&cfg, &r), -EINVAL);
	check_still_works(rt);
}

/* Per-fiber stack sizes, and more fibers at once than the pool keeps. */
static int64_t uses_stack(void *arg)
{
	volatile char buf[40000];
	int64_t r;

	buf[0] = 1;
	buf[sizeof(buf) - 1] = 2;
	r = rt_yield();
	return r ? r : buf[0] + buf[sizeof(buf) - 1];
}

static void test_fiber_stack_sizes(void **state)
{
	struct rt_task *h[600];
	int64_t r;

	for (int i = 0; i < 600; i++)
		assert_int_equal(rt_fiber_spawn(rt, uses_stack, NULL,
						i % 3 ? 0 : 65536 + (size_t)i,
						&h[i]), 0);
	for (int i = 0; i < 600; i++) {
		assert_int_equal(rt_task_join(h[i], &r), 0);
		assert_int_equal(r, 3);
		rt_task_release(h[i]);
	}
}

/*
 * What a tool reads to walk a parked fiber's C stack: the root frame is
 * the fiber's, its control block has a saved stack pointer inside the
 * stack, and the saved return address points into this program.
 */
static void test_trace_area_finds_parked_fiber(void **state)
{
	const struct rt_trace_header *h = rt->trace.hdr;
	struct rt_task *task = NULL;
	const char *frame, *fb, *sp, *lo;
	uintptr_t pc;

	atomic_store(&parked, 0);
	assert_int_equal(rt_fiber_spawn(rt, sleeps_forever, NULL, 0, &task), 0);
	/* in a timer heap: parked, its switch long done */
	while (!atomic_load(&task->timer_owner))
		usleep(1000);
	frame = *(const char **)((const char *)task + h->task_head_top_off);
	assert_int_equal(*(const uint64_t *)frame, h->fiber_fn);
	fb = *(const char **)(frame + h->fiber_frame_fiber_off);
	assert_non_null(fb);
	sp = *(const char **)(fb + h->fiber_sp_off);
	lo = *(const char **)(fb + h->fiber_stack_lo_off);
	assert_true(sp > lo && sp + h->fiber_saved_pc_off < fb);
	pc = *(const uintptr_t *)(sp + h->fiber_saved_pc_off);
	assert_true(pc - (uintptr_t)&rt_fiber_run < (1u << 20) ||
		    (uintptr_t)&rt_fiber_run - pc < (1u << 20));
	assert_int_equal(cancel_and_join(task), -ECANCELED);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], OVERFLOW_CHILD))
		return overflow_child();
	self_path = argv[0];

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fiber_result_and_error),
		cmocka_unit_test(test_fiber_keeps_fp_control),
		cmocka_unit_test(test_fiber_gives_back_worker_fp_mode),
		cmocka_unit_test(test_fiber_shares_fpenv),
		cmocka_unit_test(test_fiber_tcp_echo),
		cmocka_unit_test(test_fiber_file),
		cmocka_unit_test(test_fiber_sleepers_wake_in_order),
		cmocka_unit_test(test_fiber_stolen_across_workers),
		cmocka_unit_test(test_fiber_oversubscribed),
		cmocka_unit_test(test_fiber_overflow_reported),
		cmocka_unit_test(test_fiber_calls_async),
		cmocka_unit_test(test_fiber_calls_library_async),
		cmocka_unit_test(test_async_awaits_fibers),
		cmocka_unit_test(test_fiber_joins_and_nests),
		cmocka_unit_test(test_fiber_cancelled),
		cmocka_unit_test(test_fiber_deadline),
		cmocka_unit_test(test_fiber_misuse),
		cmocka_unit_test(test_fiber_stack_sizes),
		cmocka_unit_test(test_trace_area_finds_parked_fiber),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: MIT
/*
 * I/O ops on real pipes, sockets and files: exact bytes, deadlines,
 * cancellation racing completion, bad input, CQ overflow, counters.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "io_test.h"

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

static void stream_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
}

/* Wait up to ms for field (an offset in struct rt_stats) to pass v. */
static bool stat_passes(struct rt_runtime *r, size_t field, uint64_t v,
			int ms)
{
	for (int i = 0; i < ms; i++) {
		struct rt_stats s = test_stats(r);

		if (*(uint64_t *)((char *)&s + field) > v)
			return true;
		usleep(1000);
	}
	return false;
}

/* Wait (from the test thread) until n (>= 1) more ops are in flight or
 * done. */
static void wait_submitted(struct rt_stats *before, uint64_t n)
{
	if (!stat_passes(rt, offsetof(struct rt_stats, io_submitted),
			 before->io_submitted + n - 1, 10000))
		fail_msg("ops never submitted");
}

/* Write s to fd once op number `op` since before is in the kernel. */
static void write_when_waiting(struct rt_stats *before, uint64_t op, int fd,
			       const char *s)
{
	wait_submitted(before, op);
	usleep(10000);	/* let it reach the kernel; the result is the same */
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* The I/O counters moved by exactly these since before. */
static void expect_io(const struct rt_stats *before, uint64_t completed,
		      uint64_t timeouts, uint64_t cancelled)
{
	struct rt_stats after = test_stats(rt);

	assert_int_equal(after.io_completed - before->io_completed, completed);
	assert_int_equal(after.io_timeouts - before->io_timeouts, timeouts);
	assert_int_equal(after.io_cancelled - before->io_cancelled, cancelled);
}

/* ---- pipes and poll ----------------------------------------------------- */

struct pipe_frame {
	struct rt_frame frame;
	int fds[2];
	uint8_t out[100], in[100];
};

static RT_ASYNC int64_t pipe_round_trip(struct rt_task *t, struct rt_frame *base)
{
	struct pipe_frame *f = RT_FRAME(base, struct pipe_frame);
	int64_t n;

	RT_BEGIN(t, base);
	fill(f->out, sizeof(f->out), 3);
	RT_WRITE(n, f->fds[1], f->out, sizeof(f->out), (uint64_t)-1);
	if (n != sizeof(f->out))
		return -1000 - n;
	RT_POLL(n, f->fds[0], POLLIN);
	if (!(n & POLLIN))
		return -2000;
	RT_READ(n, f->fds[0], f->in, sizeof(f->in), (uint64_t)-1);
	if (n != sizeof(f->in) || !matches(f->in, sizeof(f->in), 3))
		return -3000;
	/* nothing to read: a poll with a deadline expires */
	RT_AWAIT(n, rt_op_poll(t, f->fds[0], POLLIN, rt_deadline_in(1000000)));
	return n;
}

static int64_t run_pipe_round_trip(void)
{
	int fds[2];
	int64_t r;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	r = TEST_RUN(rt, pipe_round_trip, struct pipe_frame,
		     .fds = { fds[0], fds[1] });
	close(fds[0]);
	close(fds[1]);
	return r;
}

static void test_pipe_write_poll_read(void **state)
{
	struct rt_stats before = test_stats(rt), after;

	/* the last poll's deadline, with catch off, ends the task */
	assert_int_equal(run_pipe_round_trip(), -ETIMEDOUT);
	after = test_stats(rt);
	assert_int_equal(after.io_submitted - before.io_submitted, 4);
	assert_int_equal(after.io_completed - before.io_completed, 4);
	assert_int_equal(after.io_timeouts - before.io_timeouts, 1);
	assert_int_equal(after.io_cancelled - before.io_cancelled, 0);
}

/* ---- TCP echo over loopback ------------------------------------------- */

#define ECHO_CONNS 1000
#define ECHO_WAVE 100
#define ECHO_MAX 6000

static atomic_int echo_errors;

struct echo_frame {
	struct rt_frame frame;
	int fd;
	int64_t n;
	uint8_t buf[4096];
};

static RT_ASYNC int64_t echo_conn(struct rt_task *t, struct rt_frame *base)
{
	struct echo_frame *f = RT_FRAME(base, struct echo_frame);
	int64_t r;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	for (;;) {
		RT_RECV(f->n, f->fd, f->buf, sizeof(f->buf), 0);
		if (f->n <= 0)
			break;
		RT_SEND_ALL(r, f->fd, f->buf, (size_t)f->n);
		if (r != f->n) {
			f->n = r;
			break;
		}
	}
	if (f->n < 0)
		atomic_fetch_add(&echo_errors, 1);
	RT_CLOSE(r, f->fd);
	return r;
}

struct acceptor_frame {
	struct rt_frame frame;
	int lfd;
	int n;
};

static RT_ASYNC int64_t acceptor(struct rt_task *t, struct rt_frame *base)
{
	struct acceptor_frame *f = RT_FRAME(base, struct acceptor_frame);
	int64_t fd;
	int ret;

	RT_BEGIN(t, base);
	for (f->n = 0; f->n < ECHO_CONNS; f->n++) {
		RT_ACCEPT(fd, f->lfd);
		ret = RT_SPAWN(rt_task_runtime(t), NULL, echo_conn,
			       struct echo_frame, .fd = (int)fd);
		if (ret)
			return ret;
	}
	return f->n;
}

static size_t client_len(uint32_t id)
{
	return 1 + (id * 37u) % ECHO_MAX;
}

static void test_tcp_echo_exact_bytes(void **state)
{
	struct sockaddr_in a;
	struct rt_task *acc;
	int lfd = test_listen(&a, 1024);
	int64_t r;

	atomic_store(&echo_errors, 0);
	assert_int_equal(RT_SPAWN(rt, &acc, acceptor, struct acceptor_frame,
				  .lfd = lfd), 0);
	run_echo_clients(rt, &a, ECHO_CONNS, ECHO_WAVE, client_len);
	assert_int_equal(rt_task_join(acc, &r), 0);
	assert_int_equal(r, ECHO_CONNS);
	rt_task_release(acc);
	assert_int_equal(rt_runtime_drain(rt), 0);	/* echo tasks closed */
	assert_int_equal(atomic_load(&echo_errors), 0);
	close(lfd);
}

/* ---- a large transfer through short sends ----------------------------- */

#define BIG (4u << 20)

struct big_recv_frame {
	struct rt_frame frame;
	int fd;
	uint8_t *buf;
	size_t got;
	int64_t recvs;
};

static RT_ASYNC int64_t big_recv(struct rt_task *t, struct rt_frame *base)
{
	struct big_recv_frame *f = RT_FRAME(base, struct big_recv_frame);
	int64_t n;

	RT_BEGIN(t, base);
	while (f->got < BIG) {
		RT_RECV(n, f->fd, f->buf + f->got, 65536, 0);
		if (!n)
			return -EPIPE;
		f->got += (size_t)n;
		f->recvs++;
	}
	return matches(f->buf, BIG, 9) ? f->recvs : -EILSEQ;
}

struct big_send_frame {
	struct rt_frame frame;
	int fd;
	bool zerocopy;
	const uint8_t *buf;
};

static RT_ASYNC int64_t big_send(struct rt_task *t, struct rt_frame *base)
{
	struct big_send_frame *f = RT_FRAME(base, struct big_send_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_CALL(n, rt_send_all, struct rt_send_all_frame, .fd = f->fd,
		.buf = f->buf, .len = BIG, .zerocopy = f->zerocopy);
	return n;
}

/* BIG patterned bytes from tx to rx through send-all: the recvs taken. */
static int64_t big_transfer(int tx, int rx, bool zerocopy)
{
	uint8_t *out = malloc(BIG), *in = malloc(BIG + 65536);
	struct rt_task *rxt, *txt;
	int64_t recvs, sent;

	assert_non_null(out);
	assert_non_null(in);
	fill(out, BIG, 9);
	assert_int_equal(RT_SPAWN(rt, &rxt, big_recv, struct big_recv_frame,
				  .fd = rx, .buf = in), 0);
	assert_int_equal(RT_SPAWN(rt, &txt, big_send, struct big_send_frame,
				  .fd = tx, .buf = out, .zerocopy = zerocopy),
			 0);
	assert_int_equal(rt_task_join(txt, &sent), 0);
	assert_int_equal(rt_task_join(rxt, &recvs), 0);
	assert_int_equal(sent, BIG);
	assert_true(recvs > 0);
	rt_task_release(txt);
	rt_task_release(rxt);
	free(out);
	free(in);
	return recvs;
}

static void test_large_transfer_short_sends(void **state)
{
	struct rt_stats before = test_stats(rt), after;
	int sv[2], sndbuf = 16384;
	int64_t recvs;

	stream_pair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	recvs = big_transfer(sv[0], sv[1], false);
	after = test_stats(rt);
	/* every op here was a send or one of the receiver's recvs: the
	 * sender needed more than one send, and send-all went on */
	assert_true(after.io_submitted - before.io_submitted -
		    (uint64_t)recvs > 1);
	close(sv[0]);
	close(sv[1]);
}

/* SEND_ZC over TCP; over AF_UNIX (no zero copy there) a plain send. */
static void test_send_zerocopy_exact_bytes(void **state)
{
	struct sockaddr_in a;
	int lfd = test_listen(&a, 4), c, sfd, sv[2];

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	big_transfer(c, sfd, true);
	stream_pair(sv);
	big_transfer(sv[0], sv[1], true);
	close(sv[0]);
	close(sv[1]);
	close(c);
	close(sfd);
	close(lfd);
	assert_int_equal(run_pipe_round_trip(), -ETIMEDOUT);
}

/* ---- files -------------------------------------------------------------- */

#define FILE_LEN 65536
#define FILE_OFF 4096

struct file_frame {
	struct rt_frame frame;
	const char *path;
	int fd;
	uint8_t *buf;
};

static RT_ASYNC int64_t file_round_trip(struct rt_task *t, struct rt_frame *base)
{
	struct file_frame *f = RT_FRAME(base, struct file_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_OPENAT(n, AT_FDCWD, f->path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC,
		  0600);
	f->fd = (int)n;
	fill(f->buf, FILE_LEN, 5);
	RT_WRITE(n, f->fd, f->buf, FILE_LEN, FILE_OFF);
	if (n != FILE_LEN)
		return -1000 - n;
	RT_FSYNC(n, f->fd);
	memset(f->buf, 0xee, FILE_LEN + FILE_OFF);
	RT_READ(n, f->fd, f->buf, FILE_LEN + FILE_OFF, FILE_OFF);
	if (n != FILE_LEN || !matches(f->buf, FILE_LEN, 5))
		return -2000;
	RT_READ(n, f->fd, f->buf, FILE_OFF, 0);	/* the hole reads zeros */
	for (int k = 0; k < FILE_OFF; k++)
		if (n != FILE_OFF || f->buf[k])
			return -3000;
	RT_CLOSE(n, f->fd);
	RT_CATCH(true);
	RT_READ(n, f->fd, f->buf, 1, 0);	/* closed */
	return n;
}

static void test_file_write_fsync_read(void **state)
{
	char dir[] = "/tmp/rtasync-io-XXXXXX", path[64];
	uint8_t *buf = malloc(FILE_LEN + FILE_OFF);
	struct rt_stats before = test_stats(rt), after;
	struct stat st;

	assert_non_null(buf);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/data", dir);
	assert_int_equal(TEST_RUN(rt, file_round_trip, struct file_frame,
				  .path = path, .buf = buf), -EBADF);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, FILE_OFF + FILE_LEN);
	after = test_stats(rt);
	assert_int_equal(after.io_submitted - before.io_submitted, 7);
	assert_int_equal(after.io_completed - before.io_completed, 7);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(buf);
}

/* ---- vectors, messages, splice, statx, shutdown --------------------- */

struct more_frame {
	struct rt_frame frame;
	int pipe[2], sv[2], file;
	const char *path;
	struct iovec iov[2];
	struct msghdr msg;
	struct statx stx;
	char a[3], b[5];
};

/* Each step returns a distinct error if its exact result is wrong. */
static RT_ASYNC int64_t more_ops(struct rt_task *t, struct rt_frame *base)
{
	struct more_frame *f = RT_FRAME(base, struct more_frame);
	int64_t n;

	RT_BEGIN(t, base);
	f->iov[0] = (struct iovec){ "abc", 3 };
	f->iov[1] = (struct iovec){ "defgh", 5 };
	RT_AWAIT(n, rt_op_writev(t, f->pipe[1], f->iov, 2, (uint64_t)-1,
				 RT_NEVER));
	if (n != 8)
		return -100;
	f->iov[0] = (struct iovec){ f->a, 3 };
	f->iov[1] = (struct iovec){ f->b, 5 };
	RT_AWAIT(n, rt_op_readv(t, f->pipe[0], f->iov, 2, (uint64_t)-1,
				RT_NEVER));
	if (n != 8 || memcmp(f->a, "abc", 3) || memcmp(f->b, "defgh", 5))
		return -101;
	/* pipe -> file without a user buffer */
	RT_WRITE(n, f->pipe[1], "splice!", 7, (uint64_t)-1);
	RT_AWAIT(n, rt_op_splice(t, f->pipe[0], -1, f->file, 0, 7, 0,
				 RT_NEVER));
	if (n != 7)
		return -102;
	RT_AWAIT(n, rt_op_statx(t, AT_FDCWD, f->path, 0, STATX_SIZE, &f->stx,
				RT_NEVER));
	if (n != 0 || f->stx.stx_size != 7)
		return -103;
	f->iov[0] = (struct iovec){ "hello", 5 };
	f->msg = (struct msghdr){ .msg_iov = f->iov, .msg_iovlen = 1 };
	RT_AWAIT(n, rt_op_sendmsg(t, f->sv[0], &f->msg, 0, RT_NEVER));
	if (n != 5)
		return -104;
	f->iov[0] = (struct iovec){ f->b, 5 };
	f->msg = (struct msghdr){ .msg_iov = f->iov, .msg_iovlen = 1 };
	RT_AWAIT(n, rt_op_recvmsg(t, f->sv[1], &f->msg, 0, RT_NEVER));
	if (n != 5 || memcmp(f->b, "hello", 5))
		return -105;
	RT_SHUTDOWN(n, f->sv[0], SHUT_WR);
	RT_RECV(n, f->sv[1], f->b, 5, 0);	/* EOF */
	return n;
}

static void test_vectors_messages_splice_statx(void **state)
{
	char dir[] = "/tmp/rtasync-io-XXXXXX", path[64];
	int p[2], sv[2], file;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/spliced", dir);
	file = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(file >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	stream_pair(sv);
	assert_int_equal(TEST_RUN(rt, more_ops, struct more_frame,
				  .pipe = { p[0], p[1] }, .sv = { sv[0], sv[1] },
				  .file = file, .path = path), 0);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(file);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- deadlines ---------------------------------------------------------- */

struct deadline_frame {
	struct rt_frame frame;
	int fd, peer;
	uint64_t t0, elapsed;
	char buf[8];
};

static RT_ASYNC int64_t deadline_task(struct rt_task *t, struct rt_frame *base)
{
	struct deadline_frame *f = RT_FRAME(base, struct deadline_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	f->t0 = rt_now_ns();
	RT_AWAIT(n, rt_op_recv(t, f->fd, f->buf, sizeof(f->buf), 0,
			       f->t0 + 50000000));
	f->elapsed = rt_now_ns() - f->t0;
	if (n != -ETIMEDOUT)
		return -1000 + n;
	if (write(f->peer, "hello", 5) != 5)
		return -2000;
	RT_AWAIT(n, rt_op_recv(t, f->fd, f->buf, sizeof(f->buf), 0,
			       rt_deadline_in(10000000000u)));
	if (n != 5 || memcmp(f->buf, "hello", 5))
		return -3000 + n;
	/* a bad fd fails the op, not the deadline */
	RT_AWAIT(n, rt_op_recv(t, 9999, f->buf, 1, 0,
			       rt_deadline_in(10000000000u)));
	return n;
}

static void test_deadline_expires_or_completes(void **state)
{
	struct rt_stats before = test_stats(rt), after;
	struct rt_task *h;
	int sv[2];
	int64_t r;

	stream_pair(sv);
	assert_int_equal(RT_SPAWN(rt, &h, deadline_task, struct deadline_frame,
				  .fd = sv[0], .peer = sv[1]), 0);
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, -EBADF);
	rt_task_release(h);
	after = test_stats(rt);
	assert_int_equal(after.io_timeouts - before.io_timeouts, 1);
	assert_int_equal(after.io_completed - before.io_completed, 3);
	close(sv[0]);
	close(sv[1]);
}

/* The deadline races the data: whichever wins, no byte is lost. */
#define RACES 300

struct late_writer_frame {
	struct rt_frame frame;
	int fd;
	uint64_t ns;
	char c;
};

static RT_ASYNC int64_t late_writer(struct rt_task *t, struct rt_frame *base)
{
	struct late_writer_frame *f = RT_FRAME(base, struct late_writer_frame);

	RT_BEGIN(t, base);
	RT_SLEEP(f->ns);
	return write(f->fd, &f->c, 1);
}

struct race_frame {
	struct rt_frame frame;
	int fd, peer, i;
	int64_t got, late;
	struct rt_task *writer;
	char c;
};

static RT_ASYNC int64_t deadline_race(struct rt_task *t, struct rt_frame *base)
{
	struct race_frame *f = RT_FRAME(base, struct race_frame);
	int64_t n;
	int ret;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	for (f->i = 0; f->i < RACES; f->i++) {
		ret = RT_SPAWN(rt_task_runtime(t), &f->writer, late_writer,
			       struct late_writer_frame, .fd = f->peer,
			       .ns = (uint64_t)(f->i % 7) * 10000,
			       .c = (char)f->i);
		if (ret)
			return ret;
		f->c = 0;
		RT_AWAIT(n, rt_op_recv(t, f->fd, &f->c, 1, 0,
				       rt_deadline_in((uint64_t)(f->i % 5) *
						      10000)));
		if (n == -ETIMEDOUT) {
			f->late++;
			RT_RECV(n, f->fd, &f->c, 1, 0);
		} else {
			f->got++;
		}
		if (n != 1 || f->c != (char)f->i)
			return -1000 - n;
		RT_JOIN(n, f->writer);
		rt_task_release(f->writer);
	}
	return f->late;
}

static void test_deadline_races_data(void **state)
{
	struct rt_stats before = test_stats(rt), after;
	int sv[2];
	int64_t late;

	stream_pair(sv);
	late = TEST_RUN(rt, deadline_race, struct race_frame, .fd = sv[0],
			.peer = sv[1]);
	assert_true(late >= 0);
	after = test_stats(rt);
	assert_int_equal(after.io_timeouts - before.io_timeouts, late);
	assert_int_equal(after.io_completed - before.io_completed, RACES + late);
	close(sv[0]);
	close(sv[1]);
}

/* ---- cancellation ------------------------------------------------------- */

struct recv1_frame {
	struct rt_frame frame;
	int fd;
	uint64_t deadline;	/* 0: none */
	char c;
};

static RT_ASYNC int64_t recv1(struct rt_task *t, struct rt_frame *base)
{
	struct recv1_frame *f = RT_FRAME(base, struct recv1_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_AWAIT(n, rt_op_recv(t, f->fd, &f->c, 1, 0,
			       f->deadline ? f->deadline : RT_NEVER));
	return n == 1 ? (uint8_t)f->c : -1000 - n;
}

/*
 * An op that completed before its deadline leaves nothing behind: the
 * deadline (a timer of the owning worker, io.c) must not cut the task's
 * next op, which carries the same user_data. The first recv's deadline
 * passes while the second recv, with none, waits; the third has a later
 * one than the first had.
 */
struct outlive_frame {
	struct rt_frame frame;
	int fd;
	uint64_t first;		/* the first recv's deadline */
	char c[3];
};

static RT_ASYNC int64_t deadline_outlived(struct rt_task *t,
					  struct rt_frame *base)
{
	struct outlive_frame *f = RT_FRAME(base, struct outlive_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_AWAIT(n, rt_op_recv(t, f->fd, &f->c[0], 1, 0, f->first));
	if (n != 1)
		return -1000 + n;
	RT_AWAIT(n, rt_op_recv(t, f->fd, &f->c[1], 1, 0, RT_NEVER));
	if (n != 1)
		return -2000 + n;
	RT_AWAIT(n, rt_op_recv(t, f->fd, &f->c[2], 1, 0,
			       rt_deadline_in(10000000000u)));
	if (n != 1)
		return -3000 + n;
	return (f->c[0] << 16) | (f->c[1] << 8) | f->c[2];
}

static void test_deadline_outlived(void **state)
{
	struct rt_stats before = test_stats(rt);
	uint64_t first = rt_deadline_in(20000000);
	struct rt_task *h;
	int sv[2];
	int64_t r;

	stream_pair(sv);
	assert_int_equal(write(sv[1], "a", 1), 1);
	assert_int_equal(RT_SPAWN(rt, &h, deadline_outlived,
				  struct outlive_frame, .fd = sv[0],
				  .first = first), 0);
	/* the first deadline passes while the second recv waits */
	while (rt_now_ns() < first + 30000000)
		usleep(5000);
	write_when_waiting(&before, 2, sv[1], "b");
	write_when_waiting(&before, 3, sv[1], "c");
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, ('a' << 16) | ('b' << 8) | 'c');
	rt_task_release(h);
	expect_io(&before, 3, 0, 0);
	close(sv[0]);
	close(sv[1]);
}

/*
 * Many deadlines at once, in both workers' heaps: every other op has its
 * byte waiting and completes, leaving from the middle of a heap; the
 * others expire, each exactly once, with nothing taken.
 */
#define DEADLINES 200

static void test_deadlines_many(void **state)
{
	struct rt_stats before = test_stats(rt);
	struct rt_task *h[DEADLINES];
	int sv[DEADLINES][2];
	int64_t r;

	for (int i = 0; i < DEADLINES; i++) {
		stream_pair(sv[i]);
		if (i % 2 == 0)
			assert_int_equal(write(sv[i][1], &(char){ (char)i }, 1), 1);
		assert_int_equal(RT_SPAWN(rt, &h[i], recv1, struct recv1_frame,
					  .fd = sv[i][0],
					  .deadline = rt_deadline_in(
						  (uint64_t)(DEADLINES - i) *
						  100000)), 0);
	}
	for (int i = 0; i < DEADLINES; i++) {
		assert_int_equal(rt_task_join(h[i], &r), 0);
		if (i % 2 == 0)
			assert_int_equal(r, (uint8_t)i);
		else
			assert_int_equal(r, -ETIMEDOUT);	/* propagated */
		rt_task_release(h[i]);
		/* the expired ones took nothing */
		assert_int_equal(write(sv[i][1], "x", 1), 1);
		assert_int_equal(recv(sv[i][0], &(char){ 0 }, 2, MSG_DONTWAIT),
				 1);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	expect_io(&before, DEADLINES, DEADLINES / 2, 0);
}

/*
 * RT_RECV_POLL_FIRST waits for data without trying first, and still
 * receives data that is already there, with the MSG_* flags beside it
 * honoured: recv and recvmsg.
 */
struct poll_first_frame {
	struct rt_frame frame;
	int fd;
	char buf[8];
	struct iovec iov;
	struct msghdr msg;
};

static RT_ASYNC int64_t poll_first_recvs(struct rt_task *t,
					 struct rt_frame *base)
{
	struct poll_first_frame *f = RT_FRAME(base, struct poll_first_frame);
	int64_t n;

	RT_BEGIN(t, base);
	/* "ab" is there already */
	RT_RECV(n, f->fd, f->buf, sizeof(f->buf), RT_RECV_POLL_FIRST);
	if (n != 2 || memcmp(f->buf, "ab", 2))
		return -1000 + n;
	/* "cde" comes later */
	RT_RECV(n, f->fd, f->buf, sizeof(f->buf), RT_RECV_POLL_FIRST);
	if (n != 3 || memcmp(f->buf, "cde", 3))
		return -2000 + n;
	f->iov = (struct iovec){ f->buf, sizeof(f->buf) };
	f->msg = (struct msghdr){ .msg_iov = &f->iov, .msg_iovlen = 1 };
	RT_AWAIT(n, rt_op_recvmsg(t, f->fd, &f->msg,
				  RT_RECV_POLL_FIRST | MSG_PEEK, RT_NEVER));
	if (n != 1 || f->buf[0] != 'f')
		return -3000 + n;
	RT_RECV(n, f->fd, f->buf, sizeof(f->buf), RT_RECV_POLL_FIRST);
	return n == 1 && f->buf[0] == 'f' ? 0 : -4000 + n;
}

static void test_recv_poll_first(void **state)
{
	struct rt_stats before = test_stats(rt);
	struct rt_task *h;
	int sv[2];
	int64_t r;

	stream_pair(sv);
	assert_int_equal(write(sv[1], "ab", 2), 2);
	assert_int_equal(RT_SPAWN(rt, &h, poll_first_recvs,
				  struct poll_first_frame, .fd = sv[0]), 0);
	write_when_waiting(&before, 2, sv[1], "cde");
	write_when_waiting(&before, 3, sv[1], "f");
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, 0);
	rt_task_release(h);
	close(sv[0]);
	close(sv[1]);
}

/*
 * With io_spin_us 0, a worker that waits only for I/O sleeps rather than
 * polls: one worker polling 10 s (spin_us) for anything else. The
 * first receives each end a poll with their completion; from the fifth,
 * the worker must park while the next byte is due, which it would not do
 * within 10 s if it polled for I/O too.
 */
#define IO_IDLE_BYTES 8

struct recv_n_frame {
	struct rt_frame frame;
	int fd, i;
	char c;
};

static RT_ASYNC int64_t recv_n(struct rt_task *t, struct rt_frame *base)
{
	struct recv_n_frame *f = RT_FRAME(base, struct recv_n_frame);
	int64_t n;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < IO_IDLE_BYTES; f->i++) {
		RT_RECV(n, f->fd, &f->c, 1, 0);
		if (n != 1 || f->c != (char)('a' + f->i))
			return -1000 - f->i;
	}
	return f->i;
}

static void test_io_wait_sleeps(void **state)
{
	struct rt_config cfg;
	struct rt_runtime *r;
	struct rt_task *h;
	uint64_t submitted, parks = 0;
	int sv[2];
	int64_t res;

	rt_config_init(&cfg);
	assert_int_equal(cfg.io_spin_us, cfg.spin_us);	/* off by default */
	cfg.workers = 1;
	cfg.spin_us = 10000000;
	cfg.io_spin_us = 0;
	assert_int_equal(rt_runtime_new(&cfg, &r), 0);
	stream_pair(sv);
	submitted = test_stats(r).io_submitted;
	assert_int_equal(RT_SPAWN(r, &h, recv_n, struct recv_n_frame,
				  .fd = sv[0]), 0);
	for (int i = 0; i < IO_IDLE_BYTES; i++) {
		/* recv i is in the kernel */
		assert_true(stat_passes(r, offsetof(struct rt_stats,
						    io_submitted),
					submitted + (uint64_t)i, 5000));
		/* polls ended by bytes 0-3 (and a park for byte 4): it
		 * has slept since byte i - 1 was written */
		if (i >= 5)
			assert_true(stat_passes(r, offsetof(struct rt_stats,
							    parks), parks,
						5000));
		else
			usleep(2000);
		parks = test_stats(r).parks;
		assert_int_equal(write(sv[1], &(char){ (char)('a' + i) }, 1),
				 1);
	}
	assert_int_equal(rt_task_join(h, &res), 0);
	assert_int_equal(res, IO_IDLE_BYTES);
	rt_task_release(h);
	rt_runtime_free(r);	/* the stop cuts the 10 s poll short */
	close(sv[0]);
	close(sv[1]);
}

/* Cancel a recv the kernel holds, with or without a deadline. */
static void cancel_one(int fd, uint64_t deadline)
{
	struct rt_stats before = test_stats(rt);
	struct rt_task *h;
	int64_t r;

	assert_int_equal(RT_SPAWN(rt, &h, recv1, struct recv1_frame,
				  .fd = fd, .deadline = deadline), 0);
	wait_submitted(&before, 1);
	usleep(10000);	/* let it reach the kernel; the result is the same */
	assert_int_equal(rt_task_cancel(h), 0);
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, -ECANCELED);
	rt_task_release(h);
	expect_io(&before, 1, 0, 1);
}

static void test_cancel_blocked_recv(void **state)
{
	int sv[2];

	stream_pair(sv);
	cancel_one(sv[0], 0);
	cancel_one(sv[0], rt_deadline_in(10000000000u));
	/* the cancelled recv took nothing: the next one gets the byte */
	assert_int_equal(write(sv[1], "\x2a", 1), 1);
	assert_int_equal(TEST_RUN(rt, recv1, struct recv1_frame, .fd = sv[0]),
			 0x2a);
	/* and the workers serve on */
	assert_int_equal(run_pipe_round_trip(), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
}

/* Cancel right after the data: a byte is taken exactly when reported. */
#define CANCELS 200

static void test_cancel_races_completion(void **state)
{
	struct rt_stats before = test_stats(rt), after;
	struct rt_task *h[CANCELS];
	int sv[CANCELS][2];
	int took = 0, cancelled = 0;

	for (int i = 0; i < CANCELS; i++) {
		stream_pair(sv[i]);
		assert_int_equal(RT_SPAWN(rt, &h[i], recv1, struct recv1_frame,
					  .fd = sv[i][0]), 0);
	}
	wait_submitted(&before, CANCELS);
	for (int i = 0; i < CANCELS; i++) {
		int ret;

		if (i % 2)
			assert_int_equal(write(sv[i][1], "\x07", 1), 1);
		ret = rt_task_cancel(h[i]);
		/* -EALREADY: the byte won, and the task is done already */
		assert_true(ret == 0 || (ret == -EALREADY && i % 2));
	}
	for (int i = 0; i < CANCELS; i++) {
		int64_t r;
		char c;
		ssize_t left;

		assert_int_equal(rt_task_join(h[i], &r), 0);
		left = recv(sv[i][0], &c, 1, MSG_DONTWAIT);
		if (r == 7) {
			assert_true(i % 2);
			assert_int_equal(left, -1);
			took++;
		} else {
			assert_int_equal(r, -ECANCELED);
			assert_int_equal(left, i % 2 ? 1 : -1);
			cancelled++;
		}
		rt_task_release(h[i]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	after = test_stats(rt);
	assert_int_equal(took + cancelled, CANCELS);
	assert_true(cancelled >= CANCELS / 2);
	assert_int_equal(after.io_completed - before.io_completed, CANCELS);
	assert_true(after.io_cancelled - before.io_cancelled <= CANCELS);
	assert_true(after.io_cancelled - before.io_cancelled >=
		    (uint64_t)cancelled);
}

/* ---- bad input ---------------------------------------------------------- */

struct bad_fd_frame {
	struct rt_frame frame;
	char buf[4];
};

static RT_ASYNC int64_t bad_fds(struct rt_task *t, struct rt_frame *base)
{
	struct bad_fd_frame *f = RT_FRAME(base, struct bad_fd_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	RT_RECV(n, 9999, f->buf, sizeof(f->buf), 0);
	if (n != -EBADF)
		return -1000 + n;
	RT_READ(n, -1, f->buf, sizeof(f->buf), 0);
	if (n != -EBADF)
		return -2000 + n;
	RT_CLOSE(n, 9998);
	return n;
}

static void test_bad_fd(void **state)
{
	struct rt_task *h;
	char buf[4];

	assert_int_equal(TEST_RUN(rt, bad_fds, struct bad_fd_frame), -EBADF);
	assert_int_equal(run_pipe_round_trip(), -ETIMEDOUT);
	/* ops outside the running task */
	assert_int_equal(RT_SPAWN(rt, &h, bad_fds, struct bad_fd_frame), 0);
	assert_int_equal(rt_task_join(h, NULL), 0);
	assert_int_equal(rt_op_recv(h, 0, buf, 1, 0, RT_NEVER), -EPERM);
	assert_int_equal(rt_op_close(h, 0), -EPERM);
	assert_int_equal(rt_op_read(NULL, 0, buf, 1, 0, RT_NEVER), -EINVAL);
	rt_task_release(h);
}

struct reset_frame {
	struct rt_frame frame;
	struct sockaddr_in addr;
	int fd;
	char buf[16];
};

static RT_ASYNC int64_t reset_client(struct rt_task *t, struct rt_frame *base)
{
	struct reset_frame *f = RT_FRAME(base, struct reset_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_CONNECT(n, f->fd, (struct sockaddr *)&f->addr, sizeof(f->addr));
	RT_CATCH(true);
	RT_RECV(n, f->fd, f->buf, sizeof(f->buf), 0);
	return n;
}

static void test_peer_reset(void **state)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr_in a;
	struct rt_task *h;
	int lfd = test_listen(&a, 1024);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int sfd;
	int64_t r;

	assert_int_equal(RT_SPAWN(rt, &h, reset_client, struct reset_frame,
				  .addr = a, .fd = cfd), 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	assert_int_equal(setsockopt(sfd, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof(lg)), 0);
	close(sfd);	/* an RST, not a FIN */
	assert_int_equal(rt_task_join(h, &r), 0);
	assert_int_equal(r, -ECONNRESET);
	rt_task_release(h);
	close(cfd);
	close(lfd);
	assert_int_equal(run_pipe_round_trip(), -ETIMEDOUT);
}

/* ---- ops in flight while work moves between workers -------------------- */

#define MOVING_TASKS 1000
#define MOVING_ROUNDS 20

struct moving_frame {
	struct rt_frame frame;
	int sv[2];
	uint32_t id, i;
	uint32_t out[2], in[2];
};

/*
 * Round trips through a socketpair with a yield between the send and
 * the recv: a thousand of these keep the queues long enough for idle
 * workers to be given or to steal them between ops. Each recv must get
 * exactly its own bytes, once.
 */
static RT_ASYNC int64_t moving(struct rt_task *t, struct rt_frame *base)
{
	struct moving_frame *f = RT_FRAME(base, struct moving_frame);
	int64_t n;

	RT_BEGIN(t, base);
	for (f->i = 0; f->i < MOVING_ROUNDS; f->i++) {
		f->out[0] = f->id;
		f->out[1] = f->i;
		RT_SEND(n, f->sv[0], f->out, sizeof(f->out), 0);
		RT_YIELD();
		RT_RECV(n, f->sv[1], f->in, sizeof(f->in), MSG_WAITALL);
		if (n != sizeof(f->in) || memcmp(f->in, f->out, sizeof(f->in)))
			return -EILSEQ;
	}
	close(f->sv[0]);
	close(f->sv[1]);
	return f->id;
}

static void test_ops_while_tasks_move(void **state)
{
	struct rt_task **h = calloc(MOVING_TASKS, sizeof(*h));
	struct rt_stats before = test_stats(rt), after;
	struct rlimit lim;

	assert_non_null(h);
	/* two descriptors a task: past the usual soft limit of 1024 */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
	if (lim.rlim_cur < 4 * MOVING_TASKS && lim.rlim_max >= 4 * MOVING_TASKS) {
		lim.rlim_cur = 4 * MOVING_TASKS;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	}
	for (uint32_t k = 0; k < MOVING_TASKS; k++) {
		int sv[2];

		stream_pair(sv);
		assert_int_equal(RT_SPAWN(rt, &h[k], moving, struct moving_frame,
					  .sv = { sv[0], sv[1] }, .id = k), 0);
	}
	for (uint32_t k = 0; k < MOVING_TASKS; k++) {
		int64_t r;

		assert_int_equal(rt_task_join(h[k], &r), 0);
		assert_int_equal(r, k);
		rt_task_release(h[k]);
	}
	after = test_stats(rt);
	/* every op completed once, on the ring that had it */
	assert_int_equal(after.io_submitted - before.io_submitted,
			 2 * MOVING_TASKS * MOVING_ROUNDS);
	assert_int_equal(after.io_completed - before.io_completed,
			 2 * MOVING_TASKS * MOVING_ROUNDS);
	print_message("tasks moved between ops: %llu stolen, %llu donated\n",
		      (unsigned long long)(after.stolen - before.stolen),
		      (unsigned long long)(after.donated - before.donated));
	free(h);
}

/* ---- CQ overflow ---------------------------------------------------- */

#define FLOOD 64

struct spin_frame {
	struct rt_frame frame;
	atomic_int *go;
};

/* Keep the only worker out of the kernel while completions pile up. */
static RT_ASYNC int64_t spin_until(struct rt_task *t, struct rt_frame *base)
{
	struct spin_frame *f = RT_FRAME(base, struct spin_frame);

	while (!atomic_load(f->go))
		;
	return 0;
}

static void test_cq_overflow_loses_nothing(void **state)
{
	struct rt_runtime *small;
	struct rt_config cfg;
	struct rt_task *h[FLOOD], *spinner;
	struct rt_stats before, after;
	struct rt_runtime *saved = rt;
	atomic_int go = 0;
	int sv[FLOOD][2];

	rt_config_init(&cfg);
	cfg.workers = 1;
	cfg.ring_entries = 4;		/* a CQ of 8 */
	assert_int_equal(rt_runtime_new(&cfg, &small), 0);
	rt = small;
	before = test_stats(rt);
	for (int i = 0; i < FLOOD; i++) {
		stream_pair(sv[i]);
		assert_int_equal(RT_SPAWN(rt, &h[i], recv1, struct recv1_frame,
					  .fd = sv[i][0]), 0);
	}
	wait_submitted(&before, FLOOD);
	usleep(10000);
	assert_int_equal(RT_SPAWN(rt, &spinner, spin_until, struct spin_frame,
				  .go = &go), 0);
	usleep(20000);	/* the spinner holds the worker now, or soon */
	for (int i = 0; i < FLOOD; i++)
		assert_int_equal(write(sv[i][1], &(char){ (char)i }, 1), 1);
	usleep(20000);
	atomic_store(&go, 1);
	for (int i = 0; i < FLOOD; i++) {
		int64_t r;

		assert_int_equal(rt_task_join(h[i], &r), 0);
		assert_int_equal(r, i);
		rt_task_release(h[i]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	assert_int_equal(rt_task_join(spinner, NULL), 0);
	rt_task_release(spinner);
	after = test_stats(rt);
	assert_int_equal(after.io_completed - before.io_completed, FLOOD);
	/* 64 completions posted at once into a CQ of 8 */
	assert_true(after.cq_overflows - before.cq_overflows >= 1);
	rt = saved;
	rt_runtime_free(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe_write_poll_read),
		cmocka_unit_test(test_tcp_echo_exact_bytes),
		cmocka_unit_test(test_large_transfer_short_sends),
		cmocka_unit_test(test_send_zerocopy_exact_bytes),
		cmocka_unit_test(test_file_write_fsync_read),
		cmocka_unit_test(test_vectors_messages_splice_statx),
		cmocka_unit_test(test_deadline_expires_or_completes),
		cmocka_unit_test(test_deadline_races_data),
		cmocka_unit_test(test_deadline_outlived),
		cmocka_unit_test(test_deadlines_many),
		cmocka_unit_test(test_recv_poll_first),
		cmocka_unit_test(test_io_wait_sleeps),
		cmocka_unit_test(test_cancel_blocked_recv),
		cmocka_unit_test(test_cancel_races_completion),
		cmocka_unit_test(test_bad_fd),
		cmocka_unit_test(test_peer_reset),
		cmocka_unit_test(test_ops_while_tasks_move),
		cmocka_unit_test(test_cq_overflow_loses_nothing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

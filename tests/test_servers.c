// SPDX-License-Identifier: MIT
/*
 * bench/'s servers as a client on loopback sees them: rtasync-httpd
 * answers exactly, pipelined requests in order, refuses malformed (400),
 * oversized (431) and slow (408) requests and keeps serving everyone
 * else, with a continuation per connection and with a fiber per
 * connection (--fibers: every HTTP test runs against both);
 * rtasync-echo sends back exactly the bytes of a thousand connections;
 * the baselines rtasync-iobench measures them against
 * answer and echo the same bytes. Each server runs as its own process,
 * started here on a free port (argv[1]: rtasync-httpd, argv[2]:
 * rtasync-echo, argv[3]: rtasync-baseline).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "rt_test.h"

/* short, for the slow clients' test; long enough that a client which
 * sends right after connecting is never cut, even on a loaded machine */
#define HEADER_TIMEOUT_MS "1000"
#define CLIENT_TIMEOUT_S 20	/* a server that hangs fails, not hangs */

struct server {
	pid_t pid;
	int port;
	rlim_t max_fds;		/* its RLIMIT_NOFILE, 0: ours */
	bool fibers;		/* rtasync-httpd --fibers */
};

static const char *httpd_path, *echo_path, *baseline_path;
static struct server httpd, fiberd = { .fibers = true }, echod;

/* Start path --port 0 ARGS... and read the port from its first line. */
static void server_start(struct server *s, const char *path,
			 const char *const *args)
{
	struct rlimit rl = { s->max_fds, s->max_fds };
	char *argv[16] = { (char *)path, "--port", "0" };
	char line[256];
	int out[2], i = 3;
	FILE *f;

	while (*args)
		argv[i++] = (char *)*args++;
	if (s->fibers)
		argv[i++] = "--fibers";
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (!s->pid) {
		dup2(out[1], 1);
		if (s->max_fds)
			setrlimit(RLIMIT_NOFILE, &rl);
		execv(path, argv);
		_exit(127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_non_null(strrchr(line, ':'));
	s->port = atoi(strrchr(line, ':') + 1);
	assert_true(s->port > 0);
}

/* SIGTERM: it exits with 0, not a crash. */
static void server_stop(struct server *s)
{
	int status;

	assert_int_equal(kill(s->pid, SIGTERM), 0);
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int setup(void **state)
{
	static const char *const hargs[] = { "--workers", "2",
		"--header-timeout", HEADER_TIMEOUT_MS, NULL };
	static const char *const eargs[] = { "--workers", "2", NULL };

	signal(SIGPIPE, SIG_IGN);
	server_start(&httpd, httpd_path, hargs);
	server_start(&fiberd, httpd_path, hargs);
	server_start(&echod, echo_path, eargs);
	return 0;
}

static int teardown(void **state)
{
	server_stop(&httpd);
	server_stop(&fiberd);
	server_stop(&echod);
	return 0;
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { CLIENT_TIMEOUT_S, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				    sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* Everything until the server closes (a timeout fails the test). */
static size_t read_to_close(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while ((n = recv(fd, buf + len, cap - 1 - len, 0)) > 0)
		len += (size_t)n;
	assert_int_equal(n, 0);
	buf[len] = 0;
	return len;
}

/* The length of the complete answer at the start of buf, 0: not yet. */
static size_t answer_len(const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	const char *cl = memmem(buf, len, "Content-Length: ", 16);
	size_t whole;

	if (!end || !cl || cl > end)
		return 0;
	whole = (size_t)(end - buf) + 4 + (size_t)atoi(cl + 16);
	return whole <= len ? whole : 0;
}

/* Read exactly n answers (keep-alive: the connection stays open). */
static void read_answers(int fd, unsigned int n, char *buf, size_t cap,
			 size_t *out_len)
{
	size_t len = 0, off = 0, a;

	for (unsigned int got = 0; got < n;) {
		a = answer_len(buf + off, len - off);
		if (a) {
			off += a;
			got++;
			continue;
		}
		ssize_t r = recv(fd, buf + len, cap - len, 0);

		assert_true(r > 0);
		len += (size_t)r;
	}
	assert_int_equal(off, len);	/* nothing more than n answers */
	*out_len = len;
}

/*
 * answer must be exactly the server's answer with that status line and
 * body, its Date aside: "HTTP/1.1 <status>\r\nServer: rtasync\r\n
 * Date: <29 chars>\r\nContent-Type: ..." (plus Connection: close).
 */
static void assert_answer(const char *answer, size_t len, const char *status,
			  const char *body, bool close)
{
	char want[512], *date;
	int n = snprintf(want, sizeof(want), "HTTP/1.1 %s\r\nServer: rtasync\r\n"
			 "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Type: "
			 "text/plain\r\nContent-Length: %zu\r\n%s\r\n%s",
			 status, strlen(body), close ? "Connection: close\r\n" :
			 "", body);

	assert_int_equal(len, n);
	/* the Date: today's, in the same shape */
	date = strstr(want, "Date: ") + 6;
	assert_memory_equal(answer + (date - want) + 25, " GMT\r\n", 6);
	memcpy(date, answer + (date - want), 29);
	assert_memory_equal(answer, want, len);
}

static void check_hello(int port)
{
	char buf[1024];
	int fd = dial(port);
	size_t len;

	send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	len = read_to_close(fd, buf, sizeof(buf));
	assert_answer(buf, len, "200 OK", "Hello, World!", true);
	close(fd);
}

/* The HTTP tests take the server under test as their state. */
static int port_of(void **state)
{
	return ((struct server *)*state)->port;
}

static void test_get_hello(void **state)
{
	check_hello(port_of(state));
}

#define PIPELINE 16

/* 16 requests in one write, 16 answers in order, then one more. */
static void check_pipelined(int port)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	char reqs[PIPELINE * sizeof(req)], buf[PIPELINE * 256];
	size_t len, one;
	int fd = dial(port);

	for (int i = 0; i < PIPELINE; i++)
		memcpy(reqs + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	send_all(fd, reqs, PIPELINE * (sizeof(req) - 1));
	read_answers(fd, PIPELINE, buf, sizeof(buf), &len);
	one = len / PIPELINE;
	assert_int_equal(one * PIPELINE, len);
	for (int i = 0; i < PIPELINE; i++)
		assert_answer(buf + i * one, one, "200 OK", "Hello, World!",
			      false);
	send_str(fd, "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n");
	read_answers(fd, 1, buf, sizeof(buf), &len);
	assert_answer(buf, len, "404 Not Found", "Not Found\n", false);
	close(fd);
}

static void test_pipelined_keep_alive(void **state)
{
	check_pipelined(port_of(state));
}

/* A refused request: its status, Connection: close, then the close. */
static void refused_by(int port, const char *req, size_t len,
		       const char *status, const char *body)
{
	char buf[1024];
	int fd = dial(port);
	size_t got;

	send_all(fd, req, len);
	got = read_to_close(fd, buf, sizeof(buf));
	assert_answer(buf, got, status, body, true);
	close(fd);
}

static void test_malformed_400(void **state)
{
	int port = port_of(state);

	static const char *const bad[] = {
		"GET / HTTP/1.1\nHost: t\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : t\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n",	/* TLS */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused_by(port, bad[i], strlen(bad[i]), "400 Bad Request",
			   "Bad Request\n");
	refused_by(port, "GET / HTTP/3.0\r\nHost: t\r\n\r\n", 27,
		   "505 HTTP Version Not Supported",
		   "HTTP Version Not Supported\n");
}

/* A 16 KiB head: 431 after 8 KiB, and the answer survives the close. */
static void test_oversized_431(void **state)
{
	static char req[16384];
	size_t n = (size_t)snprintf(req, sizeof(req),
				    "GET / HTTP/1.1\r\nHost: t\r\nCookie: ");

	memset(req + n, 'c', sizeof(req) - n - 4);
	memcpy(req + sizeof(req) - 4, "\r\n\r\n", 4);
	refused_by(port_of(state), req, sizeof(req),
		   "431 Request Header Fields Too Large",
		   "Request Header Fields Too Large\n");
}

#define SLOW_CLIENTS 100

/*
 * 100 clients that start a request and stall: each gets 408 when its
 * head is due; meanwhile a fresh client is served at once. A client that
 * connects and sends nothing is closed at the same deadline, silently.
 */
static void test_slow_clients_408(void **state)
{
	int port = port_of(state), slow[SLOW_CLIENTS], silent = dial(port), fd;
	char buf[1024];
	size_t len;

	for (int i = 0; i < SLOW_CLIENTS; i++) {
		slow[i] = dial(port);
		send_str(slow[i], "GET / HTTP/1.1\r\nHo");
	}
	fd = dial(port);
	send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	read_answers(fd, 1, buf, sizeof(buf), &len);
	assert_answer(buf, len, "200 OK", "Hello, World!", false);
	for (int i = 0; i < SLOW_CLIENTS; i++) {
		len = read_to_close(slow[i], buf, sizeof(buf));
		assert_answer(buf, len, "408 Request Timeout",
			      "Request Timeout\n", true);
		close(slow[i]);
	}
	assert_int_equal(read_to_close(silent, buf, sizeof(buf)), 0);
	close(silent);
	/* the kept-alive client is still served (no idle timeout hit) */
	send_str(fd, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_true(recv(fd, buf, sizeof(buf), 0) > 0);
	assert_true(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
	close(fd);
}

/* A client that resets mid-request harms no one. */
static void test_reset_mid_request(void **state)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char buf[1024];
	size_t len;

	for (int i = 0; i < 50; i++) {
		int fd = dial(port_of(state));

		send_str(fd, "GET / HTTP/1.1\r\nHost");
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);	/* RST */
	}
	int fd = dial(port_of(state));

	send_str(fd, "GET / HTTP/1.0\r\n\r\n");
	len = read_to_close(fd, buf, sizeof(buf));
	assert_answer(buf, len, "200 OK", "Hello, World!", true);
	close(fd);
}

#define MANY 200
#define REQS 10

/* 200 connections open at once, 10 requests each, interleaved. */
static void test_many_connections(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	int fd[MANY];
	char buf[512];
	size_t len;

	/* each sends at once: a new connection's first head is due within
	 * the header timeout of its accept */
	for (int i = 0; i < MANY; i++) {
		fd[i] = dial(port_of(state));
		send_str(fd[i], req);
	}
	for (int r = 0; r < REQS; r++) {
		for (int i = 0; r && i < MANY; i++)
			send_str(fd[i], req);
		for (int i = 0; i < MANY; i++) {
			read_answers(fd[i], 1, buf, sizeof(buf), &len);
			assert_answer(buf, len, "200 OK", "Hello, World!",
				      false);
		}
	}
	for (int i = 0; i < MANY; i++)
		close(fd[i]);
}

#define FD_LIMIT 48
#define OVER_LIMIT 100

/*
 * A server out of descriptors: with 48 fds it accepts what it can, the
 * rest of 100 clients wait in the listen backlog while its acceptor
 * backs off from EMFILE; once the first clients leave, every waiting one
 * is served. The server is a fresh one with that limit.
 */
static void test_emfile_recovers(void **state)
{
	static const char *const args[] = { "--workers", "2",
		"--header-timeout", "60000", NULL };
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct server small = { .max_fds = FD_LIMIT,
				.fibers = ((struct server *)*state)->fibers };
	struct pollfd pfd[OVER_LIMIT];
	bool served[OVER_LIMIT] = { 0 };
	int fd[OVER_LIMIT], nserved = 0;
	char buf[512];
	size_t len;

	server_start(&small, httpd_path, args);
	for (int i = 0; i < OVER_LIMIT; i++) {
		fd[i] = dial(small.port);
		send_str(fd[i], req);
		pfd[i] = (struct pollfd){ .fd = fd[i], .events = POLLIN };
	}
	/*
	 * The first client's answer, then those of all others that were
	 * accepted, until none comes for a moment (a client misjudged as
	 * waiting is answered below all the same).
	 */
	read_answers(fd[0], 1, buf, sizeof(buf), &len);
	served[0] = true;
	pfd[0].fd = -1;
	nserved = 1;
	while (poll(pfd, OVER_LIMIT, 200) > 0) {
		for (int i = 0; i < OVER_LIMIT; i++) {
			if (served[i] || !(pfd[i].revents & POLLIN))
				continue;
			read_answers(fd[i], 1, buf, sizeof(buf), &len);
			served[i] = true;
			pfd[i].fd = -1;		/* poll it no more */
			nserved++;
		}
	}
	assert_true(nserved < OVER_LIMIT);	/* some waited: EMFILE hit */
	/* the served leave; every waiting client is answered */
	for (int i = 0; i < OVER_LIMIT; i++) {
		if (!served[i])
			continue;
		close(fd[i]);
	}
	for (int i = 0; i < OVER_LIMIT; i++) {
		if (served[i])
			continue;
		read_answers(fd[i], 1, buf, sizeof(buf), &len);
		assert_answer(buf, len, "200 OK", "Hello, World!", false);
		close(fd[i]);
	}
	server_stop(&small);
}

/* ---- echo ------------------------------------------------------------------ */

#define ECHO_CONNS 1000
#define ECHO_WAVE 100
#define ECHO_MAX 20000

static uint8_t pattern(uint32_t id, size_t k)
{
	return (uint8_t)(id * 131u + k * 7u + (k >> 8));
}

static size_t echo_len(uint32_t id)
{
	return 1 + (id * 7919u) % ECHO_MAX;
}

/*
 * A wave of connections each sends its pattern whole (the server echoes
 * while we send: the sizes stay below the socket buffers), then reads it
 * back and compares every byte.
 */
static void echo_wave(int port, uint32_t first)
{
	static uint8_t out[ECHO_MAX], in[ECHO_MAX];
	int fd[ECHO_WAVE];

	for (uint32_t i = 0; i < ECHO_WAVE; i++) {
		uint32_t id = first + i;

		fd[i] = dial(port);
		for (size_t k = 0; k < echo_len(id); k++)
			out[k] = pattern(id, k);
		send_all(fd[i], out, echo_len(id));
	}
	for (uint32_t i = 0; i < ECHO_WAVE; i++) {
		uint32_t id = first + i;
		size_t got = 0, want = echo_len(id);

		assert_int_equal(shutdown(fd[i], SHUT_WR), 0);
		got = read_to_close(fd[i], (char *)in, sizeof(in));
		assert_int_equal(got, want);
		for (size_t k = 0; k < want; k++)
			if (in[k] != pattern(id, k))
				fail_msg("conn %u byte %zu", id, k);
		close(fd[i]);
	}
}

static void test_echo_exact_bytes(void **state)
{
	for (uint32_t w = 0; w < ECHO_CONNS; w += ECHO_WAVE)
		echo_wave(echod.port, w);
}

/* ---- the baselines ------------------------------------------------------ */

/* A baseline ends on SIGTERM where it stands (no crash before it). */
static void baseline_stop(struct server *s)
{
	int status;

	assert_int_equal(kill(s->pid, SIGTERM), 0);
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
}

static const char *const models[] = { "thread", "pool", "epoll", "uring",
					"uring-fixed" };

/* Each model answers as rtasync-httpd does: the same parser, the same
 * connection logic, its own waiting. */
static void test_baselines_http(void **state)
{
	for (size_t m = 0; m < sizeof(models) / sizeof(models[0]); m++) {
		const char *const args[] = { "--model", models[m], NULL };
		struct server b = { 0 };

		server_start(&b, baseline_path, args);
		check_hello(b.port);
		check_pipelined(b.port);
		refused_by(b.port, "GET / HTTP/1.1\r\n\r\n", 18,
			   "400 Bad Request", "Bad Request\n");
		baseline_stop(&b);
	}
}

static void test_baselines_echo(void **state)
{
	for (size_t m = 0; m < sizeof(models) / sizeof(models[0]); m++) {
		const char *const args[] = { "--model", models[m], "--mode",
					     "echo", NULL };
		struct server b = { 0 };

		server_start(&b, baseline_path, args);
		echo_wave(b.port, (uint32_t)m * ECHO_WAVE);
		baseline_stop(&b);
	}
}

/* An HTTP test twice: a continuation, then a fiber per connection. */
#define HTTPD_TEST(f)							\
	{ #f, f, NULL, NULL, &httpd },					\
	{ #f " --fibers", f, NULL, NULL, &fiberd }

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		HTTPD_TEST(test_get_hello),
		HTTPD_TEST(test_pipelined_keep_alive),
		HTTPD_TEST(test_malformed_400),
		HTTPD_TEST(test_oversized_431),
		HTTPD_TEST(test_slow_clients_408),
		HTTPD_TEST(test_reset_mid_request),
		HTTPD_TEST(test_many_connections),
		HTTPD_TEST(test_emfile_recovers),
		cmocka_unit_test(test_echo_exact_bytes),
		cmocka_unit_test(test_baselines_http),
		cmocka_unit_test(test_baselines_echo),
	};

	if (argc != 4) {
		fprintf(stderr, "usage: test_servers RTASYNC-HTTPD RTASYNC-ECHO "
			"RTASYNC-BASELINE\n");
		return 2;
	}
	httpd_path = argv[1];
	echo_path = argv[2];
	baseline_path = argv[3];
	return cmocka_run_group_tests(tests, setup, teardown);
}

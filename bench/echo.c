// SPDX-License-Identifier: MIT
/*
 * rtasync-echo: a TCP echo server on librtasync, a task per connection.
 *
 *   rtasync-echo --port PORT [--addr ADDR] [--workers N] [--spin-us US]
 *                [--io-spin-us US]
 *
 * Sends back every byte it receives, in order, until the client closes.
 * Prints "rtasync-echo: listening on ADDR:PORT" once it accepts (PORT 0:
 * any free port); SIGINT or SIGTERM stops it. rtasync-iobench sets it
 * against the raw liburing loop (rtasync-baseline --model uring --mode
 * echo) to measure what the runtime adds to an I/O.
 */
#include "rt_serve.h"

#define NAME "rtasync-echo"
#define ECHO_BUF 4096

struct echo_frame {
	struct rt_frame frame;
	int fd;
	char buf[ECHO_BUF];
};

static RT_ASYNC int64_t echo_conn(struct rt_task *t, struct rt_frame *base)
{
	struct echo_frame *f = RT_FRAME(base, struct echo_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	for (;;) {
		/* the one receive: a multishot recv would feed this loop */
		RT_RECV(n, f->fd, f->buf, sizeof(f->buf), 0);
		if (n <= 0)
			break;
		RT_SEND_ALL(n, f->fd, f->buf, (size_t)n);
		if (n < 0)
			break;
	}
	RT_CLOSE(n, f->fd);
	return 0;
}

static int spawn_conn(struct rt_runtime *rt, int fd)
{
	return RT_SPAWN(rt, NULL, echo_conn, struct echo_frame, .fd = fd);
}

int main(int argc, char **argv)
{
	struct srv_opts opts;

	srv_parse(argc, argv,
		  "usage: " NAME " --port PORT [--addr ADDR] [--workers N] "
		  "[--spin-us US]\n"
		  "                     [--io-spin-us US]\n"
		  "A TCP echo server on librtasync.\n"
		  "  --port PORT   0: any free port (printed)\n"
		  "  --addr ADDR   IPv4 address (127.0.0.1)\n"
		  "  --workers N   runtime workers (one per CPU)\n"
		  "  --spin-us US  an idle worker polls this long before it "
		  "sleeps (50)\n"
		  "  --io-spin-us US  ... when it waits only for I/O (50)\n",
		  &opts);
	return rt_serve_main(&opts, NAME, spawn_conn) ? 1 : 0;
}

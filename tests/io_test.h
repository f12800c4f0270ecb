/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the I/O tests (test_io.c, test_source.c): patterned
 * bytes, a loopback listening socket, and an echo client task.
 */
#ifndef RT_IO_TEST_H
#define RT_IO_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "rt_test.h"

static inline void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t k = 0; k < n; k++)
		p[k] = test_pattern(seed, k);
}

static inline bool matches(const uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t k = 0; k < n; k++)
		if (p[k] != test_pattern(seed, k))
			return false;
	return true;
}

/*
 * Connect to addr, send len patterned bytes (seed id), read them back;
 * then, if gated, count itself in *echoed and hold the connection open
 * until `gate` is readable. Result: len, or what went wrong.
 */
struct echo_client_frame {
	struct rt_frame frame;
	struct sockaddr_in addr;
	uint32_t id;
	size_t len;
	bool gated;
	int gate;
	atomic_int *echoed;
	int fd;
	int64_t res;
	size_t got;
	uint8_t *out, *in;
};

static RT_ASYNC __attribute__((unused)) int64_t
echo_client(struct rt_task *t, struct rt_frame *base)
{
	struct echo_client_frame *f = RT_FRAME(base,
					       struct echo_client_frame);
	int64_t n;

	RT_BEGIN(t, base);
	RT_CATCH(true);
	f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->fd < 0)
		return -errno;
	f->res = -ENOMEM;
	f->out = malloc(2 * f->len);
	if (!f->out)
		goto out;
	f->in = f->out + f->len;
	fill(f->out, f->len, f->id);
	RT_CONNECT(f->res, f->fd, (struct sockaddr *)&f->addr,
		   sizeof(f->addr));
	if (f->res < 0)
		goto out;
	RT_SEND_ALL(f->res, f->fd, f->out, f->len);
	for (f->got = 0; f->res >= 0 && f->got < f->len;) {
		RT_RECV(f->res, f->fd, f->in + f->got, f->len - f->got, 0);
		if (!f->res)
			f->res = -EPIPE;
		else if (f->res > 0)
			f->got += (size_t)f->res;
	}
	if (f->res < 0)
		goto out;
	f->res = matches(f->in, f->len, f->id) ? (int64_t)f->len : -EILSEQ;
	if (f->res > 0 && f->gated) {
		atomic_fetch_add(f->echoed, 1);
		RT_POLL(f->res, f->gate, POLLIN);
		if (f->res >= 0)
			f->res = (int64_t)f->len;
	}
out:
	free(f->out);
	RT_CLOSE(n, f->fd);
	return f->res < 0 ? f->res : n < 0 ? n : f->res;
}

/* n echo clients against a, `wave` at a time, each one's bytes checked. */
static inline void run_echo_clients(struct rt_runtime *rt,
				    const struct sockaddr_in *a, uint32_t n,
				    uint32_t wave, size_t (*len)(uint32_t id))
{
	struct rt_task **h = calloc(wave, sizeof(*h));
	int64_t r;

	assert_non_null(h);
	for (uint32_t first = 0; first < n; first += wave) {
		for (uint32_t i = 0; i < wave; i++)
			assert_int_equal(RT_SPAWN(rt, &h[i], echo_client,
				struct echo_client_frame, .addr = *a,
				.id = first + i, .len = len(first + i)), 0);
		for (uint32_t i = 0; i < wave; i++) {
			assert_int_equal(rt_task_join(h[i], &r), 0);
			assert_int_equal(r, len(first + i));
			rt_task_release(h[i]);
		}
	}
	free(h);
}

#endif /* RT_IO_TEST_H */

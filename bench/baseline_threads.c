// SPDX-License-Identifier: MIT
/*
 * The thread models of rtasync-baseline: a thread per connection, and a
 * blocking pool whose threads take connections from the listener and
 * serve each until it closes (so a pool of N serves N connections at a
 * time, and the others wait in the backlog: the model's honest limit).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "baseline.h"

static enum srv_mode mode;

static int accept_one(int lfd)
{
	int fd;

	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
	if (fd < 0 && (errno == EMFILE || errno == ENFILE))
		usleep(10000);	/* until descriptors free up */
	return fd;
}

static void *conn_thread(void *arg)
{
	baseline_serve_blocking((int)(intptr_t)arg, mode);
	return NULL;
}

int baseline_thread(int lfd, const struct srv_opts *o)
{
	pthread_attr_t attr;
	pthread_t th;

	mode = o->mode;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		int fd = accept_one(lfd);

		if (fd < 0)
			continue;
		if (pthread_create(&th, &attr, conn_thread,
				   (void *)(intptr_t)fd))
			close(fd);
	}
}

static void *pool_thread(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept_one(lfd);

		if (fd >= 0)
			baseline_serve_blocking(fd, mode);
	}
	return NULL;
}

int baseline_pool(int lfd, const struct srv_opts *o)
{
	pthread_t th;

	mode = o->mode;
	for (unsigned int i = 1; i < o->threads; i++) {
		int err = pthread_create(&th, NULL, pool_thread,
					 (void *)(intptr_t)lfd);

		if (err)
			return -err;
	}
	pool_thread((void *)(intptr_t)lfd);
	return 0;
}

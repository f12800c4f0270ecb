// SPDX-License-Identifier: MIT
/*
 * Receive buffers, one pool per worker, made when a stream first arms
 * on that worker (stream.c).
 *
 * With a provided buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19+)
 * the kernel picks a free buffer for each receive and names it in the
 * CQE; a buffer goes back into the ring when the task that was lent it
 * is done with it (rt_bufpool_put(), on this worker: the ring's tail is
 * single-producer and this worker is its producer). Without one, or with
 * RTASYNC_BUF_RING=0, the runtime hands a buffer from a free stack to
 * each single-shot recv itself.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bufpool.h"

static void ring_add(struct rt_bufpool *p, uint32_t bid, int offset)
{
	io_uring_buf_ring_add(p->br, rt_bufpool_addr(p, bid), p->size,
			      (unsigned short)bid,
			      io_uring_buf_ring_mask(p->nbufs), offset);
}

/* Register every buffer with the kernel; 0, or the pool stays a stack. */
static int ring_setup(struct rt_worker *w, struct rt_bufpool *p)
{
	struct io_uring_buf_reg reg;
	int ret;

	if (rt_env_is("RTASYNC_BUF_RING", "0")) {
		p->mode = "stack: RTASYNC_BUF_RING=0";
		return -ENOTSUP;
	}
	p->br_bytes = p->nbufs * sizeof(struct io_uring_buf);
	p->br = mmap(NULL, p->br_bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->br == MAP_FAILED) {
		p->br = NULL;
		return -ENOMEM;
	}
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)p->br;
	reg.ring_entries = p->nbufs;
	reg.bgid = RT_BUFPOOL_GROUP;
	ret = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (ret) {
		munmap(p->br, p->br_bytes);
		p->br = NULL;
		p->mode = "stack: the kernel has no provided buffer rings";
		return ret;
	}
	io_uring_buf_ring_init(p->br);
	for (uint32_t i = 0; i < p->nbufs; i++)
		ring_add(p, i, (int)i);
	io_uring_buf_ring_advance(p->br, (int)p->nbufs);
	p->mode = "ring: provided buffer ring";
	return 0;
}

static int stack_setup(struct rt_bufpool *p)
{
	p->free = malloc(p->nbufs * sizeof(*p->free));
	if (!p->free)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->nbufs; i++)
		p->free[i] = p->nbufs - 1 - i;
	p->nfree = p->nbufs;
	return 0;
}

int rt_bufpool_get(struct rt_worker *w, struct rt_bufpool **out)
{
	struct rt_bufpool *p = w->bufpool;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->nbufs = w->rt->cfg.recv_buffers;
		p->size = w->rt->cfg.recv_buffer_size;
		p->mem = malloc((size_t)p->nbufs * p->size);
		if (!p->mem || (ring_setup(w, p) && stack_setup(p))) {
			free(p->mem);
			free(p);
			return -ENOMEM;
		}
		w->bufpool = p;
	}
	*out = p;
	return 0;
}

int32_t rt_bufpool_take(struct rt_bufpool *p)
{
	return p->nfree ? (int32_t)p->free[--p->nfree] : -1;
}

void rt_bufpool_put(struct rt_bufpool *p, uint32_t bid)
{
	if (p->br) {
		ring_add(p, bid, 0);
		io_uring_buf_ring_advance(p->br, 1);
	} else {
		p->free[p->nfree++] = bid;
	}
}

/* After the ring is gone: nothing in the kernel points here any more. */
void rt_bufpool_free(struct rt_worker *w)
{
	struct rt_bufpool *p = w->bufpool;

	if (!p)
		return;
	if (p->br)
		munmap(p->br, p->br_bytes);
	free(p->free);
	free(p->mem);
	free(p);
	w->bufpool = NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * A worker's receive buffers (bufpool.c): recv_buffers buffers of
 * recv_buffer_size bytes, registered as the ring's provided buffer ring
 * (group RT_BUFPOOL_GROUP) where the kernel has them, else handed out
 * from a free stack by the runtime itself.
 */
#ifndef RT_BUFPOOL_H
#define RT_BUFPOOL_H

#include "internal.h"

#define RT_BUFPOOL_GROUP 0

struct rt_bufpool {
	char *mem;
	uint32_t nbufs, size;
	struct io_uring_buf_ring *br;	/* NULL: the free stack below */
	size_t br_bytes;
	uint32_t *free;			/* ids of free buffers */
	uint32_t nfree;
	const char *mode;		/* why ring or stack */
};

int rt_bufpool_get(struct rt_worker *w, struct rt_bufpool **out);
/* A free buffer's id (stack mode), or -1. */
int32_t rt_bufpool_take(struct rt_bufpool *p);
/* The buffer is free again: to the kernel's ring, or to the stack. */
void rt_bufpool_put(struct rt_bufpool *p, uint32_t bid);

static inline void *rt_bufpool_addr(struct rt_bufpool *p, uint32_t bid)
{
	return p->mem + (size_t)bid * p->size;
}

#endif /* RT_BUFPOOL_H */

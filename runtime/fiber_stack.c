// SPDX-License-Identifier: MIT
/*
 * The fiber stack pool.
 *
 * A stack is one anonymous mapping: a PROT_NONE guard at the bottom, the
 * stack, and the struct rt_fiber at the top. MAP_NORESERVE and the
 * kernel's lazy faulting mean a stack costs only the pages the fiber
 * touched, however large it may grow.
 *
 * Stacks of the runtime's size are recycled, warm (their touched pages
 * stay): each worker keeps a few without a lock, the runtime a bounded
 * depot behind a mutex for the rest, and what overflows both is unmapped.
 * Stacks of another size, asked for per fiber, are mapped and unmapped
 * each time.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "fiber.h"

#include "vg.h"

#define RT_FIBER_CACHE 16	/* free stacks a worker keeps */
#define RT_FIBER_DEPOT 256	/* and the runtime, beyond those */

static size_t page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) & ~(to - 1);
}

/* The usable size of a stack asked for, or 0 if out of range. */
size_t rt_fiber_stack_round(size_t asked)
{
	if (asked < RT_FIBER_STACK_MIN || asked > RT_FIBER_STACK_MAX)
		return 0;
	return round_up(asked, page_size());
}

/* The same, 0 asking for the runtime's size (rounded at its creation). */
size_t rt_fiber_stack_size(struct rt_runtime *rt, size_t asked)
{
	return asked ? rt_fiber_stack_round(asked) : rt->cfg.fiber_stack;
}

#define FIBER_HDR round_up(sizeof(struct rt_fiber), 64)

static struct rt_fiber *stack_map(size_t size)
{
	size_t len = RT_FIBER_GUARD + round_up(size + FIBER_HDR, page_size());
	struct rt_fiber *fb;
	char *map;

	map = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		   -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	if (mprotect(map, RT_FIBER_GUARD, PROT_NONE))
		goto err_unmap;
	fb = (struct rt_fiber *)(map + len - FIBER_HDR);
	fb->map = map;
	fb->map_size = len;
	fb->stack_lo = map + RT_FIBER_GUARD;
	fb->stack_size = size;
	fb->next = NULL;
	/* memcheck takes a jump of the stack pointer between registered
	 * stacks for a switch, not for a huge frame */
	fb->valgrind_id = VALGRIND_STACK_REGISTER(fb->stack_lo, (char *)fb);
	return fb;
err_unmap:
	munmap(map, len);
	return NULL;
}

static void stack_unmap(struct rt_fiber *fb)
{
	VALGRIND_STACK_DEREGISTER(fb->valgrind_id);
	munmap(fb->map, fb->map_size);
}

static bool pooled(struct rt_runtime *rt, size_t size)
{
	return size == rt->cfg.fiber_stack;
}

static struct rt_fiber *depot_get(struct rt_fiber_depot *d)
{
	struct rt_fiber *fb;

	pthread_mutex_lock(&d->lock);
	fb = d->head;
	if (fb) {
		d->head = fb->next;
		d->n--;
	}
	pthread_mutex_unlock(&d->lock);
	return fb;
}

/* false: the depot is full */
static bool depot_put(struct rt_fiber_depot *d, struct rt_fiber *fb)
{
	bool kept = false;

	pthread_mutex_lock(&d->lock);
	if (d->n < RT_FIBER_DEPOT) {
		fb->next = d->head;
		d->head = fb;
		d->n++;
		kept = true;
	}
	pthread_mutex_unlock(&d->lock);
	return kept;
}

struct rt_fiber *rt_fiber_stack_get(struct rt_runtime *rt,
				    struct rt_worker *w, size_t size)
{
	struct rt_fiber *fb = NULL;

	if (pooled(rt, size)) {
		if (w && w->fibers) {
			fb = w->fibers;
			w->fibers = fb->next;
			w->nfibers--;
		} else {
			fb = depot_get(&rt->fiber_depot);
		}
	}
	return fb ? fb : stack_map(size);
}

void rt_fiber_stack_put(struct rt_runtime *rt, struct rt_worker *w,
			struct rt_fiber *fb)
{
	if (pooled(rt, fb->stack_size)) {
		if (w && w->rt == rt && w->nfibers < RT_FIBER_CACHE) {
			fb->next = w->fibers;
			w->fibers = fb;
			w->nfibers++;
			return;
		}
		if (depot_put(&rt->fiber_depot, fb))
			return;
	}
	stack_unmap(fb);
}

void rt_fiber_cache_free(struct rt_worker *w)
{
	while (w->fibers) {
		struct rt_fiber *fb = w->fibers;

		w->fibers = fb->next;
		stack_unmap(fb);
	}
	w->nfibers = 0;
}

void rt_fiber_depot_init(struct rt_runtime *rt)
{
	pthread_mutex_init(&rt->fiber_depot.lock, NULL);
	rt->fiber_depot.head = NULL;
	rt->fiber_depot.n = 0;
}

void rt_fiber_depot_destroy(struct rt_runtime *rt)
{
	struct rt_fiber *fb;

	while ((fb = depot_get(&rt->fiber_depot)))
		stack_unmap(fb);
	pthread_mutex_destroy(&rt->fiber_depot.lock);
}

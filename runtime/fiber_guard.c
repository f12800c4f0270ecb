// SPDX-License-Identifier: MIT
/*
 * Fiber stack overflow: reported, not silent corruption.
 *
 * Below each fiber stack lies a PROT_NONE guard (fiber_stack.c). A fiber
 * that overflows faults there with its stack pointer already in the
 * guard, so the SIGSEGV handler must run on another stack: each worker
 * gets an alternate signal stack as it starts (a fiber may be resumed by
 * any worker), and the handler goes in when a worker first starts a
 * fiber. The handler names the
 * fiber running on the faulting thread (rt__fiber_now), says which task
 * and how large its stack is, restores the default action and returns:
 * the access faults again and the process dies of the SIGSEGV it had,
 * core dump included. A fault anywhere else goes to the handler that was
 * installed before ours.
 *
 * Everything here is async-signal-safe: no stdio, no allocation.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "fiber.h"

#define RT_ALTSTACK_SIZE (64u << 10)

static struct sigaction prev_segv;

/* ---- a line of text without stdio -------------------------------------- */

struct line {
	char buf[320];
	size_t n;
};

static void put_str(struct line *l, const char *s)
{
	while (*s && l->n < sizeof(l->buf))
		l->buf[l->n++] = *s++;
}

static void put_num(struct line *l, uint64_t v, unsigned int base)
{
	char tmp[24];
	int i = 0;

	if (base == 16)
		put_str(l, "0x");
	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (i && l->n < sizeof(l->buf))
		l->buf[l->n++] = tmp[--i];
}

static void report(const struct rt_fiber *fb, const void *addr)
{
	struct line l = { .n = 0 };
	ssize_t ret;

	put_str(&l, "rtasync: fiber stack overflow: task ");
	put_num(&l, (uintptr_t)fb->task, 16);
	put_str(&l, " ran past its ");
	put_num(&l, fb->stack_size, 10);
	put_str(&l, "-byte stack (");
	put_num(&l, (uintptr_t)fb->stack_lo, 16);
	put_str(&l, "-");
	put_num(&l, (uintptr_t)fb, 16);
	put_str(&l, ") into the guard page at ");
	put_num(&l, (uintptr_t)addr, 16);
	put_str(&l, "; give it a larger stack (rt_fiber_spawn stack_size, "
		"struct rt_config fiber_stack)\n");
	ret = write(STDERR_FILENO, l.buf, l.n);
	(void)ret;
}

/* ---- the handler --------------------------------------------------------- */

static void restore_default(void)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGSEGV, &dfl, NULL);
}

static bool in_guard(const struct rt_fiber *fb, const char *p)
{
	return p >= fb->map && p < fb->stack_lo;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	const struct rt_fiber *fb = rt__fiber_now;
	const ucontext_t *ctx = uc;

	if (fb && (in_guard(fb, si->si_addr) ||
		   in_guard(fb, (char *)ctx->uc_mcontext.gregs[REG_RSP]))) {
		report(fb, si->si_addr);
		restore_default();
		return;		/* faults again, now fatally */
	}
	if (prev_segv.sa_flags & SA_SIGINFO) {
		prev_segv.sa_sigaction(sig, si, uc);
		return;
	}
	if (prev_segv.sa_handler == SIG_DFL || prev_segv.sa_handler == SIG_IGN) {
		restore_default();
		return;
	}
	prev_segv.sa_handler(sig);
}

/*
 * Put the handler in front of whatever handles SIGSEGV now, unless it is
 * there already. Checked by each worker as it starts running fibers, so a
 * handler the program installed later (a test framework's) gets ours in
 * front of it again for the next runtime. Serialised: two workers must
 * not each chain to the other's.
 */
int rt_fiber_guard_install(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct sigaction sa, cur;
	int ret = 0;

	pthread_mutex_lock(&lock);
	if (sigaction(SIGSEGV, NULL, &cur)) {
		ret = -errno;
		goto out;
	}
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_segv)
		goto out;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	prev_segv = cur;
	if (sigaction(SIGSEGV, &sa, NULL))
		ret = -errno;
out:
	pthread_mutex_unlock(&lock);
	return ret;
}

/* On the worker's own thread, as it starts. */
int rt_fiber_altstack_init(struct rt_worker *w)
{
	stack_t ss;
	void *p;
	int err;

	/* a thread that has one already (a sanitizer's) keeps it */
	if (!sigaltstack(NULL, &ss) && !(ss.ss_flags & SS_DISABLE) &&
	    ss.ss_size >= RT_ALTSTACK_SIZE / 2)
		return 0;
	p = mmap(NULL, RT_ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	ss.ss_sp = p;
	ss.ss_size = RT_ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL)) {
		err = -errno;
		munmap(p, RT_ALTSTACK_SIZE);
		return err;
	}
	w->altstack = p;
	return 0;
}

/* On the worker's own thread, as it exits. */
void rt_fiber_altstack_free(struct rt_worker *w)
{
	stack_t ss;

	if (!w->altstack)
		return;
	memset(&ss, 0, sizeof(ss));
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	munmap(w->altstack, RT_ALTSTACK_SIZE);
	w->altstack = NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * fiber: the seeds' green threads against continuations, on one runtime.
 *
 *   switch   the bare context switch (runtime/arch/x86_64/fiber_switch.S),
 *            a round trip to a fiber and back, against Boost.Context's
 *            fcontext doing the same (when libboost-context-dev is
 *            installed; else the kernel's hand-over, a futex ping-pong
 *            on one CPU).
 *   yield    rt_yield() in a fiber against RT_YIELD in a continuation:
 *            the scheduler's round trip plus two switches.
 *   matrix   the seeds' cross-model calls, each against cont->cont in
 *            the same mode: continuation or fiber calling a continuation
 *            or a fiber, completing at once or suspending once (a yield)
 *            per call; and the async1 heap-task call as the baseline.
 *   memory   10,000 suspended fibers, each 100 C frames deep holding a
 *            pointer and an int across the wait, against the same as
 *            continuations (bench/memory.c's case): RSS growth, each in a
 *            fresh process.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86_64/fiber.h"
#include "async1.h"
#include "bench_rt.h"
#include "peers.h"

#define SWITCHES	10000000
#define YIELDS		2000000
#define CALLS		4000000
#define CALLS_SUSP	500000
#define MEM_FIBERS	10000
#define MEM_DEPTH	100
#define MEM_SLEEP_NS	(3600ull * 1000000000ull)
#define MEM_TIMEOUT_S	20
#define MIB		(1024.0 * 1024.0)

#if defined(__GNUC__) && !defined(__clang__)
#define NOFOLD __attribute__((noinline, noipa))
#else
#define NOFOLD __attribute__((noinline))
#endif

/* ---- the bare switch --------------------------------------------------------- */

static void *main_sp, *fiber_sp;

/*
 * The switch the runtime compiles into its code (rt_arch_fiber_switch):
 * fp, the default, keeps MXCSR and the x87 control word; else the one of
 * fiber_share_fpenv. Two shapes of the same round trip:
 *
 *   flat     both sides switch from their loop, with no return between
 *            two switches: the switch's own cost, as Boost's fcontext
 *            loop measures its own;
 *   framed   both sides switch from inside a function and return from it
 *            before the next switch, as a fiber's rt_yield does (the
 *            worker's side does not: it steps a fiber inline in its loop,
 *            runtime/fiber_step.h): each return after a switch finds the
 *            other stack's address on the return predictor.
 */
static __attribute__((always_inline)) inline void
switch_flat(bool fp, void **save_sp, void *to_sp)
{
	rt_arch_fiber_switch(save_sp, to_sp, fp);
}

NOFOLD static void switch_framed(bool fp, void **save_sp, void *to_sp)
{
	rt_arch_fiber_switch(save_sp, to_sp, fp);
}

static bool bounce_framed;

static void bounce_fp(void *arg)
{
	for (;;) {
		if (bounce_framed)
			switch_framed(true, &fiber_sp, main_sp);
		else
			switch_flat(true, &fiber_sp, main_sp);
	}
}

static void bounce_nofp(void *arg)
{
	for (;;)
		switch_flat(false, &fiber_sp, main_sp);
}

static double switch_sample_fp(void *arg)
{
	uint64_t n = *(uint64_t *)arg, t0 = bench_now_ns();

	for (uint64_t i = 0; i < n; i++)
		switch_flat(true, &main_sp, fiber_sp);
	return (double)(bench_now_ns() - t0) / (double)n;
}

/* The worker's loop's side (fiber_step.h): its words known, not read. */
static double switch_sample_known(void *arg)
{
	uint64_t n = *(uint64_t *)arg, t0 = bench_now_ns();
	uint64_t fpw = rt_arch_fpenv_read();

	for (uint64_t i = 0; i < n; i++)
		rt_arch_fiber_switch_known(&main_sp, fiber_sp, fpw);
	return (double)(bench_now_ns() - t0) / (double)n;
}

static double switch_sample_nofp(void *arg)
{
	uint64_t n = *(uint64_t *)arg, t0 = bench_now_ns();

	for (uint64_t i = 0; i < n; i++)
		switch_flat(false, &main_sp, fiber_sp);
	return (double)(bench_now_ns() - t0) / (double)n;
}

static double switch_sample_framed(void *arg)
{
	uint64_t n = *(uint64_t *)arg, t0 = bench_now_ns();

	for (uint64_t i = 0; i < n; i++)
		switch_framed(true, &main_sp, fiber_sp);
	return (double)(bench_now_ns() - t0) / (double)n;
}

#ifdef RT_BENCH_BOOST_CONTEXT
/*
 * Boost.Context's fcontext through its C ABI (libboost_context exports
 * make_fcontext and jump_fcontext with C linkage): the same round trip.
 */
typedef void *fcontext_t;
struct fc_transfer {
	fcontext_t fctx;
	void *data;
};
struct fc_transfer jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(struct fc_transfer));

static fcontext_t fc_other;

/* jump_fcontext is a called function: framed is the call's own frame */
NOFOLD static struct fc_transfer fc_jump_framed(fcontext_t to)
{
	return jump_fcontext(to, NULL);
}

static void fc_bounce(struct fc_transfer t)
{
	for (;;)
		t = bounce_framed ? fc_jump_framed(t.fctx) :
				    jump_fcontext(t.fctx, NULL);
}

static double peer_sample(void *arg)
{
	uint64_t n = *(uint64_t *)arg;
	uint64_t t0 = bench_now_ns();

	if (bounce_framed)
		for (uint64_t i = 0; i < n; i++)
			fc_other = fc_jump_framed(fc_other).fctx;
	else
		for (uint64_t i = 0; i < n; i++)
			fc_other = jump_fcontext(fc_other, NULL).fctx;
	return (double)(bench_now_ns() - t0) / (double)n;
}

static int peer_init(char *stack, size_t size)
{
	fc_other = make_fcontext(stack + size, size, fc_bounce);
	return 0;
}

#define PEER_NAME "Boost.Context fcontext round trip"
#define PEER_NOTE "Boost 1.74 from Debian, in this run"
#else
static double peer_sample(void *arg)
{
	return peer_futex_pingpong_ns(*(uint64_t *)arg / 500, bench_cpu());
}

static int peer_init(char *stack, size_t size)
{
	return 0;
}

#define PEER_NAME "futex ping-pong, 2 threads on 1 CPU"
#define PEER_NOTE "Boost.Context not built (apt-get install " \
		  "libboost-context-dev); its fcontext took 11.3 ns here " \
		  "in the design probes"
#endif

enum switch_shape { SWITCH_FP, SWITCH_FP_BOTH, SWITCH_NOFP, SWITCH_FRAMED };

static const struct {
	const char *name, *label, *note;
	void (*bounce)(void *);
	double (*sample)(void *);
} switch_rows[] = {
	[SWITCH_FP] = { "fiber switch round trip (2 switches)",
			"fiber switch vs peer",
			"the worker's loop and a fiber, as the runtime switches "
			"them (fiber_step.h): callee-saved registers + MXCSR + "
			"x87 CW each way, the fiber's read at each switch, the "
			"worker's known (read once at its start), no return "
			"between switches",
			bounce_fp, switch_sample_known },
	[SWITCH_FP_BOTH] = { "fiber switch round trip, both sides read FP",
			     "switch, both read FP",
			     "as the first row, each side reading its FP words "
			     "at every switch: a fiber resumed from code "
			     "(RT_CALL of a fiber) or from another fiber",
			     bounce_fp, switch_sample_fp },
	[SWITCH_NOFP] = { "fiber switch round trip, fiber_share_fpenv",
			  "switch, shared fpenv",
			  "callee-saved registers only (the FP control words "
			  "are the worker's), no return between switches",
			  bounce_nofp, switch_sample_nofp },
	[SWITCH_FRAMED] = { "switch round trip, each side returning",
			    "switch, both return",
			    "as the first row, each switch in a function that "
			    "returns before the next (the peer's too): the "
			    "return predictor's misses, paid once both sides "
			    "return after a switch",
			    bounce_fp, switch_sample_framed },
};

/*
 * The switch against Boost's fcontext (1.74 always keeps the FP control
 * words), in one of the shapes above.
 */
static void bench_switch(enum switch_shape shape)
{
	uint64_t n = bench_iters(SWITCHES, 100000);
	size_t size = 64 << 10;
	struct bench_result r;
	char *stack, *peer_stack;
	int err;

	bench_result_init(&r, "fiber", switch_rows[shape].name, PEER_NAME,
			  "ns/rtrip", BENCH_LOWER);
	if (shape == SWITCH_FP) {
		r.target_rt = 6;
#ifdef RT_BENCH_BOOST_CONTEXT
		r.target_ratio = 1.8;
#endif
	}
	snprintf(r.label, sizeof(r.label), "%s", switch_rows[shape].label);
	stack = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stack == MAP_FAILED) {
		bench_rt_fail(&r, "mmap", -errno);
		goto out;
	}
	bounce_framed = shape == SWITCH_FRAMED;
	peer_stack = stack + size;
	peer_init(peer_stack, size);
	fiber_sp = rt_arch_fiber_stack_init(stack + size,
					    switch_rows[shape].bounce, NULL);
	err = bench_measure_paired(switch_rows[shape].sample, &n, peer_sample,
				   &n, &r);
	munmap(stack, 2 * size);
	if (err < 0)
		bench_rt_fail(&r, "switch", err);
	bench_note(&r, "%s; %llu round trips per run; %s",
		   switch_rows[shape].note, (unsigned long long)n, PEER_NOTE);
out:
	bench_emit(&r);
}

/*
 * The FP control words' instructions of one default round trip, with no
 * switch around them: the fiber's stmxcsr and fnstcw, and each side's
 * ldmxcsr and fldcw. What the first switch row pays over the
 * fiber_share_fpenv one comes from these, so they are the floor of a
 * switch that keeps the words as the ABI asks (fibers.md).
 */
static double fp_words_sample(void *arg)
{
	uint64_t n = *(uint64_t *)arg, t0 = bench_now_ns();
	uint64_t known = rt_arch_fpenv_read();
	uint32_t known_mx = (uint32_t)known;
	uint16_t known_cw = (uint16_t)(known >> 32);

	for (uint64_t i = 0; i < n; i++) {
		uint32_t mx;
		uint16_t cw;

		__asm__ volatile("stmxcsr %0\n\tfnstcw %1\n\t"
				 "ldmxcsr %2\n\tfldcw %3\n\t"
				 "ldmxcsr %0\n\tfldcw %1"
				 : "=m"(mx), "=m"(cw)
				 : "m"(known_mx), "m"(known_cw));
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

static void bench_fp_words(void)
{
	uint64_t n = bench_iters(SWITCHES, 100000);
	struct bench_result r;
	int err;

	bench_result_init(&r, "fiber", "FP control words alone, per round trip",
			  "", "ns/rtrip", BENCH_LOWER);
	err = bench_measure(fp_words_sample, &n, &r.rt);
	if (err < 0)
		bench_rt_fail(&r, "fp words", err);
	bench_note(&r, "stmxcsr + fnstcw + 2 x (ldmxcsr + fldcw), no switch: "
		   "what the first row adds to the fiber_share_fpenv one, "
		   "the floor of a switch that keeps the FP control words; "
		   "%llu per run", (unsigned long long)n);
	bench_emit(&r);
}

/* ---- yield through the scheduler ------------------------------------------ */

struct yield_arg {
	struct rt_runtime *rt;
	uint64_t n;
};

static int64_t fiber_yields(void *arg)
{
	uint64_t *ns = arg;
	uint64_t n = ns[0], t0 = bench_now_ns();

	for (uint64_t i = 0; i < n; i++) {
		int64_t r = rt_yield();

		if (r)
			return r;
	}
	ns[1] = bench_now_ns() - t0;
	return 0;
}

static double fiber_yield_sample(void *arg)
{
	struct yield_arg *a = arg;
	uint64_t ns[2] = { a->n, 0 };
	int64_t res;
	int err = bench_rt_run_fiber(a->rt, fiber_yields, ns, &res);

	if (err < 0)
		return err;
	if (res < 0)
		return (double)res;
	return (double)ns[1] / (double)a->n;
}

static double cont_yield_sample(void *arg)
{
	struct yield_arg *a = arg;

	return bench_yield_loop_ns(a->rt, a->n);
}

/* shared: rt runs with fiber_share_fpenv. */
static void bench_fiber_yield(struct rt_runtime *rt, bool shared)
{
	struct yield_arg a = { rt, bench_iters(YIELDS, 10000) };
	struct bench_result r;
	int err;

	bench_result_init(&r, "fiber", shared ?
			  "rt_yield loop, fiber_share_fpenv" :
			  "rt_yield loop, 1 fiber, 1 worker",
			  "RT_YIELD loop, 1 continuation, 1 worker", "ns",
			  BENCH_LOWER);
	snprintf(r.label, sizeof(r.label), shared ? "yield, shared fpenv" :
		 "fiber vs cont yield");
	err = bench_measure(cont_yield_sample, &a, &r.other);
	if (err)
		bench_note(&r, "continuation: %d", err);
	err = bench_measure(fiber_yield_sample, &a, &r.rt);
	if (err)
		bench_rt_fail(&r, "fiber yield", err);
	bench_note(&r, "%llu yields per run; the fiber's adds a switch pair "
		   "to the continuation's requeue", (unsigned long long)a.n);
	bench_emit(&r);
}

/* ---- the cross-model call matrix ------------------------------------------ */

enum callee { TO_CONT, TO_FIBER };

struct leaf {
	int64_t a;
	bool suspend;
};

struct leaf_frame {
	struct rt_frame frame;
	struct leaf l;
};

NOFOLD static RT_ASYNC int64_t leaf_async(struct rt_task *t,
					  struct rt_frame *base)
{
	struct leaf_frame *f = RT_FRAME(base, struct leaf_frame);

	RT_BEGIN(t, base);
	if (f->l.suspend)
		RT_YIELD();
	return f->l.a + 1;
}

NOFOLD static int64_t leaf_fiber(void *arg)
{
	struct leaf *l = arg;

	if (l->suspend) {
		int64_t r = rt_yield();

		if (r)
			return r;
	}
	return l->a + 1;
}

struct matrix_out {
	uint64_t n, ns;
	int64_t sum;
	enum callee to;
	bool suspend;
};

struct cont_driver_frame {
	struct rt_frame frame;
	struct matrix_out *out;
	struct leaf l;
	uint64_t i, t0;
	int64_t r;
};

static RT_ASYNC int64_t cont_driver(struct rt_task *t, struct rt_frame *base)
{
	struct cont_driver_frame *f = RT_FRAME(base, struct cont_driver_frame);

	RT_BEGIN(t, base);
	f->l.suspend = f->out->suspend;
	f->t0 = bench_now_ns();
	for (f->i = 0; f->i < f->out->n; f->i++) {
		f->l.a = (int64_t)f->i;
		if (f->out->to == TO_FIBER)
			RT_CALL_FIBER(f->r, leaf_fiber, &f->l);
		else
			RT_CALL(f->r, leaf_async, struct leaf_frame, .l = f->l);
		f->out->sum += f->r;
	}
	f->out->ns = bench_now_ns() - f->t0;
	return 0;
}

/* A fiber calling fiber code is a plain C call: no colour, no switch. */
static int64_t fiber_driver(void *arg)
{
	struct matrix_out *o = arg;
	struct leaf l = { .suspend = o->suspend };
	uint64_t t0 = bench_now_ns();
	int64_t r;

	for (uint64_t i = 0; i < o->n; i++) {
		l.a = (int64_t)i;
		if (o->to == TO_FIBER)
			r = leaf_fiber(&l);
		else
			r = RT_CALL_ASYNC(leaf_async, struct leaf_frame, .l = l);
		if (r < 0)
			return r;
		o->sum += r;
	}
	o->ns = bench_now_ns() - t0;
	return 0;
}

struct matrix_arg {
	struct rt_runtime *rt;
	bool from_fiber;
	struct matrix_out out;
};

static double matrix_sample(void *arg)
{
	struct matrix_arg *a = arg;
	struct cont_driver_frame f = { .out = &a->out };
	uint64_t n = a->out.n;
	int64_t res;
	int err;

	a->out.sum = 0;
	if (a->from_fiber)
		err = bench_rt_run_fiber(a->rt, fiber_driver, &a->out, &res);
	else
		err = bench_rt_run(a->rt, cont_driver, &f.frame, sizeof(f),
				   &res);
	if (err < 0)
		return err;
	if (res < 0)
		return (double)res;
	if (a->out.sum != (int64_t)(n * (n - 1) / 2 + n))
		return -EPROTO;
	return (double)a->out.ns / (double)n;
}

static const char *const model_name[] = { "cont", "fiber" };

static void matrix_mode(struct rt_runtime *rt, bool suspend)
{
	uint64_t n = suspend ? bench_iters(CALLS_SUSP, 10000) :
			       bench_iters(CALLS, 10000);
	struct matrix_arg base = { rt, false, { .n = n, .to = TO_CONT,
						.suspend = suspend } };
	struct bench_stat cc;
	int err;

	err = bench_measure(matrix_sample, &base, &cc);
	for (int from = 0; from < 2; from++) {
		for (int to = 0; to < 2; to++) {
			struct matrix_arg a = base;
			struct bench_result r;
			char name[72];

			if (!from && !to)
				continue;	/* the peer of every row */
			snprintf(name, sizeof(name), "%s->%s call, %s",
				 model_name[from], model_name[to],
				 suspend ? "suspends once" : "completes at once");
			bench_result_init(&r, "fiber", name, suspend ?
					  "cont->cont call, suspends once" :
					  "cont->cont call, completes at once",
					  "ns/call", BENCH_LOWER);
			r.other = cc;
			if (err)
				bench_note(&r, "cont->cont: %d", err);
			a.from_fiber = from;
			a.out.to = (enum callee)to;
			if (bench_measure(matrix_sample, &a, &r.rt))
				bench_rt_fail(&r, name, -EPROTO);
			bench_note(&r, "%llu calls per run%s",
				   (unsigned long long)n, suspend ?
				   ", each callee yields once" : "");
			bench_emit(&r);
		}
	}
	if (!suspend) {
		struct bench_result r;
		struct bench_stat a1;

		bench_result_init(&r, "fiber", "cont->cont call, completes at once",
				  "async1: heap task per call", "ns/call",
				  BENCH_LOWER);
		r.rt = cc;
		bench_stat_one(&a1, bench_async1_call_ns(n));
		r.other = a1;
		bench_note(&r, "the seeds' async1 baseline (bench/call.c's "
			   "model), one sample");
		bench_emit(&r);
	}
}

/* ---- memory of suspended fibers ------------------------------------------- */

static char mem_token;
static _Atomic uint64_t mem_parked, mem_bad;

static int32_t mem_tag(int32_t depth)
{
	return depth * 7919 + 13;
}

/* One C frame holding a pointer and an int across the wait below it. */
NOFOLD static int64_t mem_frame(int32_t depth)
{
	void *volatile p = &mem_token;
	volatile int32_t i = mem_tag(depth);
	int64_t r;

	if (depth > 1) {
		r = mem_frame(depth - 1);
	} else {
		atomic_fetch_add(&mem_parked, 1);
		r = rt_sleep(MEM_SLEEP_NS);
	}
	if (p != &mem_token || i != mem_tag(depth))
		atomic_fetch_add(&mem_bad, 1);
	return r;
}

static int64_t mem_fiber(void *arg)
{
	return mem_frame(MEM_DEPTH);
}

struct mem_out {
	int err;
	char why[96];
	uint64_t rss0, rss1, parked, bad, cancelled;
};

static void mem_fail(struct mem_out *o, int err, const char *what)
{
	o->err = err;
	snprintf(o->why, sizeof(o->why), "%s: %s", what, strerror(-err));
}

static void mem_wait_parked(void)
{
	uint64_t end = bench_now_ns() + 15000000000ull;

	while (atomic_load(&mem_parked) < MEM_FIBERS && bench_now_ns() < end)
		usleep(1000);
	usleep(20000);	/* the last ones reach their switch */
}

static void mem_cancel_all(struct rt_task **h, struct mem_out *o)
{
	for (int i = 0; i < MEM_FIBERS; i++) {
		int64_t res = 0;

		rt_task_cancel(h[i]);
		rt_task_join(h[i], &res);
		o->cancelled += res == -ECANCELED;
		rt_task_release(h[i]);
	}
}

static void mem_child(void *arg, void *out)
{
	struct mem_out *o = out;
	struct rt_runtime *rt;
	struct rt_task **h;
	int err;

	err = bench_rt_new(1, 0, &rt);
	if (err < 0) {
		mem_fail(o, err, "rt_runtime_new");
		return;
	}
	h = calloc(MEM_FIBERS, sizeof(*h));
	if (!h) {
		mem_fail(o, -ENOMEM, "calloc");
		return;
	}
	o->rss0 = bench_rss_bytes();
	for (int i = 0; i < MEM_FIBERS; i++) {
		err = rt_fiber_spawn(rt, mem_fiber, NULL, 0, &h[i]);
		if (err < 0) {
			mem_fail(o, err, "rt_fiber_spawn");
			return;
		}
	}
	mem_wait_parked();
	o->rss1 = bench_rss_bytes();
	o->parked = atomic_load(&mem_parked);
	mem_cancel_all(h, o);
	o->bad = atomic_load(&mem_bad);
	bench_rt_free(rt);
	free(h);
}

static void bench_fiber_memory(void)
{
	struct bench_result r;
	struct mem_out o = { 0 };
	char why[128] = "";
	double cont;
	int err;

	bench_result_init(&r, "fiber", "10k fibers x 100 C frames suspended",
			  "10k continuations x 100 frames (default config)",
			  "MiB", BENCH_LOWER);
	r.target_rt = 90;
	snprintf(r.label, sizeof(r.label), "fiber vs cont memory");
	cont = bench_memory_default_mib(why, sizeof(why));
	if (cont < 0)
		bench_note(&r, "continuations: %s", why);
	else
		bench_stat_one(&r.other, cont);
	err = bench_in_child(mem_child, NULL, &o, sizeof(o), MEM_TIMEOUT_S,
			     why, sizeof(why));
	if (err < 0 || o.err) {
		bench_rt_fail(&r, o.err ? o.why : why, err < 0 ? err : o.err);
		goto out;
	}
	bench_stat_one(&r.rt, (double)(o.rss1 - o.rss0) / MIB);
	bench_note(&r, "RSS growth, each in a fresh process; %llu parked, "
		   "%llu cancelled and joined, %llu frames with a bad local; "
		   "%.0f bytes per fiber; 256 KiB stacks (only touched pages "
		   "count); Go 88.9 MiB, Tokio 63.2 MiB here (DESIGN.md)",
		   (unsigned long long)o.parked,
		   (unsigned long long)o.cancelled,
		   (unsigned long long)o.bad,
		   (double)(o.rss1 - o.rss0) / MEM_FIBERS);
out:
	bench_emit(&r);
}

static int shared_fpenv_rt(struct rt_runtime **out)
{
	struct rt_config cfg;

	rt_config_init(&cfg);
	cfg.workers = 1;
	cfg.fiber_share_fpenv = true;
	return rt_runtime_new(&cfg, out);
}

void bench_fiber(void)
{
	struct rt_runtime *rt;
	int err;

	bench_switch(SWITCH_FP);
	bench_switch(SWITCH_FP_BOTH);
	bench_switch(SWITCH_NOFP);
	bench_switch(SWITCH_FRAMED);
	bench_fp_words();
	err = bench_rt_new(1, 0, &rt);
	if (err < 0) {
		bench_log("fiber: rt_runtime_new: %s", strerror(-err));
		return;
	}
	bench_fiber_yield(rt, false);
	matrix_mode(rt, false);
	matrix_mode(rt, true);
	bench_rt_free(rt);
	err = shared_fpenv_rt(&rt);
	if (err < 0) {
		bench_log("fiber: rt_runtime_new: %s", strerror(-err));
		return;
	}
	bench_fiber_yield(rt, true);
	bench_rt_free(rt);
	bench_fiber_memory();
}

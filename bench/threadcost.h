/* SPDX-License-Identifier: MIT */
/*
 * rtasync-threadcost: the seeds' thread-cost claim measured by the eBPF
 * scheduler observer (tools/rtasync-trace/sched_obs.h), and what the observer itself
 * costs. Topics (see threadcost.c, tracecost.c):
 *
 *   threads  10,000 concurrent 1 ms waits: blocking thread pool, thread
 *            per wait, librtasync tasks
 *   sockets  the same, each wait a request on one of 10,000 loopback TCP
 *            connections answered 1 ms later (threadcost_sock.c)
 *   tracer   pipe ping-pong with and without `sched stat` attached
 *            (runs bench/sched-overhead)
 *   runtime  what counters, event records and sched stat cost librtasync
 *            (runs rtasync-tracer-workload and its no-counters twin)
 */
#ifndef RTASYNC_THREADCOST_H
#define RTASYNC_THREADCOST_H

#include "bench.h"

struct tc_opts {
	unsigned int waits;	/* concurrent waits (default 10,000, scaled) */
	unsigned int pool;	/* thread-pool size (default 64) */
	unsigned int wait_us;	/* length of one wait (default 1000) */
	unsigned int stack_kib;	/* stack of a thread-per-wait thread (64) */
	const char *sched_overhead;	/* path of tools/sched-overhead */
	unsigned int pp_rounds;	/* ping-pong round trips per run (5000) */
};

extern struct tc_opts tc_opts;

void bench_threadcost(void);
void bench_threadcost_sockets(void);
void bench_overhead(void);
void bench_runtime_cost(void);

/* --model-child SPEC: be one model's process (threadcost.c); exits. */
int threadcost_model_child(const char *spec);

/* The thread-cost rows of a report as one matrix (metric x model). */
void threadcost_print_matrix(const struct bench_report *rep);

/*
 * Socket waits (threadcost_sock.c): a feeder process answers each
 * 1-byte request on a connection wait_us after it arrived.
 */
#include "rtasync.h"

extern int *tc_conns;		/* the model's end of each connection */

/* Fork the feeder on a fresh port: its pid, or a negative errno. */
int tc_feeder_start(unsigned int conns, unsigned int wait_us, int *port);
void tc_feeder_stop(int pid);
/* In the model's process, before the waits: n connections to port. */
int tc_conns_open(int port, unsigned int n);
/* Wait i as a thread does: send the request, block until the answer. */
int tc_sock_wait(unsigned int i);

/* Wait i as a task does: RT_CALL(r, tc_sock_wait_task, frame, .i = i). */
struct tc_sock_wait_frame {
	struct rt_frame frame;
	unsigned int i;
	char c;
};

RT_ASYNC int64_t tc_sock_wait_task(struct rt_task *t, struct rt_frame *base);

#endif /* RTASYNC_THREADCOST_H */

/* SPDX-License-Identifier: MIT */
/*
 * Task shapes that librtasync and the peer runtimes (bench/peers/) run
 * the same way: a root task starts spawners, and each spawner spawns
 * SHAPE_BATCH trivial leaf tasks, joins each, and goes on to the next
 * batch. With no spawner tasks the root is the spawner (the spawn shape).
 *
 * The counts in bench_shapes[] are also written in
 * bench/peers/tokio/src/main.rs and bench/peers/go/main.go; the peers
 * print what they ran, and the peers topic checks it against these.
 */
#ifndef RTASYNC_BENCH_SHAPES_H
#define RTASYNC_BENCH_SHAPES_H

#include "bench_rt.h"

#define SHAPE_BATCH 256

struct bench_shape {
	const char *name;	/* as the peer programs spell it */
	const char *what;	/* for a row's name */
	unsigned int mids;	/* spawner tasks; 0: the root spawns */
	unsigned int batches;	/* batches of SHAPE_BATCH per spawner */
};

/* spawn, fanout, fanout-overflow, fanout-one; NULL-terminated. */
extern const struct bench_shape bench_shapes[];

const struct bench_shape *bench_shape_find(const char *name);

/* s->batches scaled by bench_opts.scale, at least 1. */
uint64_t bench_shape_batches(const struct bench_shape *s);

/* Tasks one run spawns: leaves and spawners. */
uint64_t bench_shape_tasks(const struct bench_shape *s, uint64_t batches);

/*
 * One run on rt, started and joined from this (foreign) thread, timed
 * inside the root from its first spawn to its last join: ns per task, or
 * a negative errno (also when a leaf's result went missing).
 */
double bench_shape_run(struct rt_runtime *rt, const struct bench_shape *s,
		       uint64_t batches);

#endif /* RTASYNC_BENCH_SHAPES_H */

/* SPDX-License-Identifier: MIT */
/*
 * sched_obs.h - the library behind `rtasync-trace sched stat`: loads
 * sched.bpf.c, chooses the threads to watch, and turns the kernel maps into
 * snapshots.  No printing here (see sched_report.h), so tests and other
 * tools can use it directly.  Functions return 0 or a negative errno.
 */
#ifndef RTASYNC_SCHED_OBS_H
#define RTASYNC_SCHED_OBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sched_stat.h"

struct sched_obs;

struct sched_obs_opts {
	const char *cgroup;	/* cgroup v2 path: trace it and its children */
	bool follow_forks;	/* add children of traced processes */
	unsigned int max_threads;	/* 0 = SCHED_MAX_THREADS */
	bool debug;		/* let libbpf print its messages */
};

/* One thread over a window of time. */
struct sched_thread {
	uint32_t tid;
	uint32_t tgid;
	char comm[SCHED_TASK_COMM_LEN];
	bool exited;
	uint64_t nvcsw;		/* voluntary switches: blocked */
	uint64_t nivcsw;	/* involuntary switches: preempted */
	uint64_t oncpu_ns;
	uint64_t offcpu_ns;
	uint64_t wakeups;
	uint64_t runq_ns;
	uint64_t runq_cnt;
	uint64_t runq_max_ns;	/* within this window */
	unsigned int runq_hist[SCHED_HIST_SLOTS];
	unsigned int offcpu_hist[SCHED_HIST_SLOTS];
};

struct sched_cpu {
	uint64_t idle_ns;
	uint64_t switches;
};

struct sched_snapshot {
	uint64_t start_ns;	/* CLOCK_MONOTONIC window */
	uint64_t end_ns;
	size_t nthreads;
	struct sched_thread *threads;	/* sorted by tgid, tid */
	int ncpus;
	struct sched_cpu *cpus;
	uint64_t lost_threads;	/* events dropped: thread map full */
	uint64_t lost_tgids;	/* forks not followed: tgid map full */
	uint64_t missed_events;	/* program runs the kernel skipped */
	uint64_t repaired;	/* switches the tracepoint did not report */
};

/* Open and load the BPF object (not attached yet). */
int sched_obs_open(struct sched_obs **obsp, const struct sched_obs_opts *opts);
/* Trace process 'tgid' (all its threads, present and future). */
int sched_obs_add_pid(struct sched_obs *obs, pid_t tgid);
/* Start the clock and attach the tracepoints. */
int sched_obs_attach(struct sched_obs *obs);
/*
 * Read the maps: counters since attach, intervals still open closed at
 * "now", runq max since the previous snapshot.
 */
int sched_obs_snapshot(struct sched_obs *obs, struct sched_snapshot *snap);
void sched_obs_close(struct sched_obs *obs);

/*
 * Time the kernel spent in the programs so far.  Counted only while run
 * time statistics are on (bpf_enable_stats(BPF_STATS_RUN_TIME), or the
 * sysctl kernel.bpf_stats_enabled); zeros otherwise.
 */
struct sched_prog_cost {
	uint64_t switch_ns, switch_runs;	/* sched_switch */
	uint64_t other_ns, other_runs;	/* the rest: births and exits */
};
int sched_obs_prog_cost(struct sched_obs *obs, struct sched_prog_cost *cost);

/* cur - prev, for --interval reports; max and window come from cur. */
int sched_snapshot_delta(struct sched_snapshot *out,
			 const struct sched_snapshot *cur,
			 const struct sched_snapshot *prev);
/* Sum of all threads; max is the max, histograms are merged. */
void sched_snapshot_total(const struct sched_snapshot *snap,
			  struct sched_thread *total);
const struct sched_thread *sched_snapshot_find(const struct sched_snapshot *snap,
					       uint32_t tid);
void sched_snapshot_free(struct sched_snapshot *snap);

/* Resolve a cgroup v2 path (absolute, or relative to the cgroup2 mount). */
int sched_cgroup_resolve(const char *path, uint64_t *id, int *level,
			 char *dir, size_t dirlen);
/* The tgid of pid (which may name a thread): >0, or -ESRCH. */
pid_t sched_pid_tgid(pid_t pid);

#endif /* RTASYNC_SCHED_OBS_H */

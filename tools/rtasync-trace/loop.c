// SPDX-License-Identifier: MIT
/*
 * loop.c - the wait loop every rtasync-trace object runs (trace.h):
 * signals through a signalfd, the targets' ends through pidfds (or
 * /proc, where pidfds are missing), --duration, --interval and the drain
 * ticks of the task commands, all in one poll.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "task_area.h"
#include "trace.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int trace_loop_signals(struct trace_loop *l)
{
	sigset_t mask;

	memset(l, 0, sizeof(*l));
	l->sigfd = -1;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	/* a closed stdout must not kill us before the target is left as
	 * we found it (events off, the command stopped) */
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_BLOCK, &mask, &l->oldmask);
	l->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	return l->sigfd < 0 ? -errno : 0;
}

void trace_loop_start(struct trace_loop *l, const struct trace_opts *o,
		      unsigned int tick_ms)
{
	uint64_t now = mono_ns();

	if (o->duration)
		l->end = now + (uint64_t)(o->duration * 1e9);
	l->interval_ns = (uint64_t)(o->interval * 1e9);
	if (l->interval_ns)
		l->next_report = now + l->interval_ns;
	l->tick_ns = tick_ms * 1000000ull;
	if (l->tick_ns)
		l->next_tick = now + l->tick_ns;
}

int trace_loop_watch(struct trace_loop *l, int pid)
{
	if (l->npids == TRACE_LOOP_MAX_PIDS)
		return -ENOSPC;
	l->pids[l->npids] = pid;
	l->pidfds[l->npids] = task_pidfd_open(pid);	/* -1: /proc tells */
	l->npids++;
	return 0;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	return b && b < a ? b : a;
}

/* Forget the targets that ended; true once all watched have. */
static bool targets_gone(struct trace_loop *l, const struct pollfd *fds)
{
	char path[32];
	int i, alive = 0;

	for (i = 0; i < l->npids; i++) {
		if (!l->pids[i])
			continue;
		if (l->pidfds[i] >= 0) {
			if (!(fds[1 + i].revents & (POLLIN | POLLHUP))) {
				alive++;
				continue;
			}
		} else {
			snprintf(path, sizeof(path), "/proc/%d", l->pids[i]);
			if (!access(path, F_OK)) {
				alive++;
				continue;
			}
		}
		l->pids[i] = 0;		/* ended */
	}
	return l->npids && !alive;
}

/* The next deadline as a poll timeout; 1 s at most without pidfds. */
static int poll_timeout(const struct trace_loop *l, uint64_t now)
{
	uint64_t deadline = earliest(earliest(l->end, l->next_report),
				     l->next_tick);
	int timeout = deadline ? (int)((deadline - now + 999999) / 1000000) : -1;
	int i;

	for (i = 0; i < l->npids; i++)
		if (l->pids[i] && l->pidfds[i] < 0 &&
		    (timeout < 0 || timeout > 1000))
			timeout = 1000;
	return timeout;
}

enum trace_event trace_loop_wait(struct trace_loop *l)
{
	struct pollfd fds[1 + TRACE_LOOP_MAX_PIDS];
	struct signalfd_siginfo si;
	uint64_t now;
	int i, n;

	fds[0] = (struct pollfd){ .fd = l->sigfd, .events = POLLIN };
	for (i = 0; i < l->npids; i++)
		fds[1 + i] = (struct pollfd){
			.fd = l->pids[i] ? l->pidfds[i] : -1, .events = POLLIN };
	for (;;) {
		now = mono_ns();
		if (l->end && now >= l->end) {
			l->why = "duration";
			return TRACE_EV_END;
		}
		if (l->next_report && now >= l->next_report) {
			l->next_report += l->interval_ns;
			return TRACE_EV_REPORT;
		}
		if (l->next_tick && now >= l->next_tick) {
			l->next_tick += l->tick_ns;
			return TRACE_EV_TICK;
		}
		n = poll(fds, (nfds_t)(1 + l->npids), poll_timeout(l, now));
		if (n > 0 && fds[0].revents) {
			/* taken, or unblocking it at the end would kill us */
			if (read(l->sigfd, &si, sizeof(si)) < 0)
				si.ssi_signo = 0;
			l->why = "signal";
			return TRACE_EV_END;
		}
		if (targets_gone(l, fds)) {
			l->why = "exit";
			return TRACE_EV_END;
		}
	}
}

void trace_loop_fini(struct trace_loop *l)
{
	int i;

	for (i = 0; i < l->npids; i++)
		if (l->pidfds[i] >= 0)
			close(l->pidfds[i]);
	if (l->sigfd >= 0)
		close(l->sigfd);
	l->npids = 0;
	l->sigfd = -1;
	sigprocmask(SIG_SETMASK, &l->oldmask, NULL);
}

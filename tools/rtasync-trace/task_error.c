// SPDX-License-Identifier: MIT
/*
 * task_error.c - what a failure to read a process's trace areas
 * (lib/task_area.c) means to the user of a task command: the message,
 * and the exit code that says it (Documentation/rtasync-trace.md).  The
 * library returns errnos and a refusal reason; only the tool prints.
 */
#include <errno.h>
#include <string.h>

#include "task_cmd.h"

static const char *refusal_text(enum task_refusal r)
{
	switch (r) {
	case TASK_REFUSED_UNSEALED:
		return "is not sealed against resizing (F_SEAL_SHRINK|"
		       "F_SEAL_GROW; librtasync seals its areas): refusing to "
		       "map it";
	case TASK_REFUSED_NOT_MEMFD:
		return "changed into something else while it was opened";
	default:
		return "that this tool cannot read (bad magic or layout)";
	}
}

int task_proc_error(const struct task_proc *p, pid_t pid, int err)
{
	switch (err) {
	case -ESRCH:
		trace_err("no process with pid %d", (int)pid);
		return TRACE_EXIT_NO_TARGET;
	case -ENOENT:
		trace_err("process %d has no librtasync trace area (not linked "
			  "with librtasync, or no runtime running)", (int)pid);
		return TASK_EXIT_NO_RUNTIME;
	case -EPROTO:
		if (p->refusal == TASK_REFUSED_VERSION)
			trace_err("process %d has a trace area of version %u; this "
				  "tool reads version %u", (int)pid, p->version,
				  RT_TRACE_VERSION);
		else
			trace_err("process %d has a trace area %s", (int)pid,
				  refusal_text(p->refusal));
		return TASK_EXIT_VERSION;
	case -EACCES:
	case -EPERM:
		trace_err("not permitted to read process %d (%s: %s): run as its "
			  "user, or with both CAP_SYS_PTRACE (its fds and memory) "
			  "and CAP_DAC_READ_SEARCH (its /proc/%d/fd)", (int)pid,
			  p->denied ? "its fds could not be inspected" :
			  "its fd directory could not be listed",
			  strerror(-err), (int)pid);
		return TRACE_EXIT_PERM;
	default:
		trace_err("reading process %d failed: %s", (int)pid,
			  strerror(-err));
		return TRACE_EXIT_FAIL;
	}
}

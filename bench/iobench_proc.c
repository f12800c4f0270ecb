// SPDX-License-Identifier: MIT
/*
 * The servers rtasync-iobench measures, as processes: start one pinned
 * to its CPU on a free port, know when it accepts, read what the kernel
 * counted for it, stop it.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iobench.h"

#define START_TIMEOUT_MS 10000
#define MAX_ARGS 32

/* The server binds it a moment later: a race nobody else runs here. */
int iob_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -errno;
	if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool accepts(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = !connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return ok;
}

/* In the child: pinned, output to log, exec. */
static void exec_server(char *const argv[], const char *log)
{
	cpu_set_t set;
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	CPU_ZERO(&set);
	CPU_SET(IOB_SERVER_CPU, &set);
	sched_setaffinity(0, sizeof(set), &set);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		dup2(fd, STDIN_FILENO);
	execv(argv[0], argv);
	fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* argv with @PORT@ replaced, into args (strings in store). */
static int with_port(char *const argv[], int port, char *args[MAX_ARGS],
		     char store[MAX_ARGS][256])
{
	int i;

	for (i = 0; argv[i] && i < MAX_ARGS - 1; i++) {
		const char *at = strstr(argv[i], "@PORT@");

		args[i] = argv[i];
		if (!at)
			continue;
		snprintf(store[i], 256, "%.*s%d%s", (int)(at - argv[i]),
			 argv[i], port, at + 6);
		args[i] = store[i];
	}
	args[i] = NULL;
	return argv[i] ? -E2BIG : 0;
}

int iob_server_start(struct iob_server *s, char *const argv[],
		     const char *log)
{
	static char store[MAX_ARGS][256];
	char *args[MAX_ARGS];
	int status;

	s->pid = -1;
	s->why[0] = 0;
	if (s->port <= 0 || with_port(argv, s->port, args, store)) {
		snprintf(s->why, sizeof(s->why), "no free port, or too many "
			 "arguments");
		return -EINVAL;
	}
	fflush(NULL);
	s->pid = fork();
	if (s->pid < 0) {
		snprintf(s->why, sizeof(s->why), "fork: %s", strerror(errno));
		return -errno;
	}
	if (!s->pid)
		exec_server(args, log);
	for (int ms = 0; ms < START_TIMEOUT_MS; ms += 10) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			snprintf(s->why, sizeof(s->why), "%s exited at start "
				 "(see %s)", argv[0], log);
			s->pid = -1;
			return -ECHILD;
		}
		if (accepts(s->port))
			return 0;
		usleep(10000);
	}
	snprintf(s->why, sizeof(s->why), "%s did not accept on port %d in "
		 "%d s", argv[0], s->port, START_TIMEOUT_MS / 1000);
	iob_server_stop(s);
	return -ETIMEDOUT;
}

void iob_server_stop(struct iob_server *s)
{
	int status;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	for (int ms = 0; ms < 2000; ms += 10) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = -1;
			return;
		}
		usleep(10000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &status, 0);
	s->pid = -1;
}

/*
 * CPU time of every thread, the ended ones included, in ns: the
 * process's CPU clock (what /proc/PID/stat shows as utime + stime, in
 * 10 ms ticks, read exactly).
 */
static int read_cpu(pid_t pid, uint64_t *ns)
{
	struct timespec ts;
	clockid_t clk;
	int err = clock_getcpuclockid(pid, &clk);

	if (err)
		return -err;
	if (clock_gettime(clk, &ts))
		return -errno;
	*ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return 0;
}

/* A "Key: N" line of a status file, 0 when absent. */
static uint64_t status_field(const char *path, const char *key)
{
	char line[256];
	size_t k = strlen(key);
	unsigned long long v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && sscanf(line + k, "%llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Context switches of the live threads (an ended thread's are gone). */
static uint64_t read_switches(pid_t pid)
{
	char path[300];
	struct dirent *e;
	uint64_t sum = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status",
			 (int)pid, e->d_name);
		sum += status_field(path, "voluntary_ctxt_switches:");
		sum += status_field(path, "nonvoluntary_ctxt_switches:");
	}
	closedir(d);
	return sum;
}

int iob_usage_read(pid_t pid, struct iob_usage *u)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	u->switches = read_switches(pid);
	u->peak_rss = status_field(path, "VmHWM:") * 1024u;
	return read_cpu(pid, &u->cpu_ns);
}

// SPDX-License-Identifier: MIT
/*
 * The servers' shared set-up (see srv.h): options, listening socket,
 * signals.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "srv.h"

static unsigned int parse_uint(const char *name, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 1000000000ul || s[0] == '-') {
		fprintf(stderr, "--%s: not a number: '%s'\n", name, s);
		exit(2);
	}
	return (unsigned int)v;
}

static enum srv_mode parse_mode(const char *s)
{
	if (!strcmp(s, "http"))
		return SRV_HTTP;
	if (!strcmp(s, "echo"))
		return SRV_ECHO;
	fprintf(stderr, "--mode: http or echo, not '%s'\n", s);
	exit(2);
}

void srv_parse(int argc, char **argv, const char *usage, struct srv_opts *o)
{
	static const struct option longopts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "spin-us", required_argument, NULL, 's' },
		{ "io-spin-us", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ "header-timeout", required_argument, NULL, 'H' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "mode", required_argument, NULL, 'm' },
		{ "model", required_argument, NULL, 'M' },
		{ "fibers", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	*o = (struct srv_opts){ .addr = "127.0.0.1", .port = -1,
				.threads = 64, .spin_us = -1, .io_spin_us = -1,
				.header_timeout_ms = 10000,
				.idle_timeout_ms = 60000 };
	while ((c = getopt_long(argc, argv, "a:p:w:s:S:t:H:I:m:M:fh", longopts,
				NULL)) != -1) {
		const char *name = NULL;
		char named[32] = "";

		for (const struct option *l = longopts; l->name; l++)
			if (l->val == c)
				name = l->name;
		if (name)
			snprintf(named, sizeof(named), "--%s ", name);
		/* only the options the program's usage names */
		if (c == 'h' || c == '?' || !name || !strstr(usage, named)) {
			fputs(usage, c == 'h' ? stdout : stderr);
			exit(c == 'h' ? 0 : 2);
		}
		switch (c) {
		case 'a': o->addr = optarg; break;
		case 'p': o->port = (int)parse_uint(name, optarg); break;
		case 'w': o->workers = parse_uint(name, optarg); break;
		case 's': o->spin_us = (int)parse_uint(name, optarg); break;
		case 'S': o->io_spin_us = (int)parse_uint(name, optarg); break;
		case 't': o->threads = parse_uint(name, optarg); break;
		case 'H': o->header_timeout_ms = parse_uint(name, optarg); break;
		case 'I': o->idle_timeout_ms = parse_uint(name, optarg); break;
		case 'm': o->mode = parse_mode(optarg); break;
		case 'M': o->model = optarg; break;
		case 'f': o->fibers = true; break;
		}
	}
	if (optind != argc || o->port < 0 || o->port > 65535) {
		fputs(usage, stderr);
		exit(2);
	}
}

int srv_listen(const struct srv_opts *o, const char *name, bool nonblock)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)o->port) };
	socklen_t len = sizeof(a);
	int one = 1, fd;

	if (inet_pton(AF_INET, o->addr, &a.sin_addr) != 1) {
		fprintf(stderr, "%s: not an IPv4 address: %s\n", name, o->addr);
		exit(2);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
		    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		fprintf(stderr, "%s: %s:%d: %s\n", name, o->addr, o->port,
			strerror(errno));
		exit(1);
	}
	printf("%s: listening on %s:%d\n", name, o->addr, ntohs(a.sin_port));
	fflush(stdout);
	return fd;
}

static sigset_t stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	return set;
}

void srv_signals_init(void)
{
	sigset_t set = stop_signals();

	signal(SIGPIPE, SIG_IGN);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void srv_wait_stop(void)
{
	sigset_t set = stop_signals();
	int sig;

	while (sigwait(&set, &sig))
		;
}

void srv_set_recv_timeout(int fd, unsigned int ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

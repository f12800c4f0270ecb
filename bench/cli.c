/* SPDX-License-Identifier: MIT */
/*
 * What every benchmark program shares around its topics: the common
 * options (an argp child), the topic list on the command line, and the
 * report's lifecycle (machine line and command before, table and JSON
 * after).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { OPT_NO_FORK = 0x200, OPT_TIMEOUT };

static const struct argp_option common_options[] = {
	{ "reps", 'r', "N", 0, "Runs per value, median kept (at most 31)", 0 },
	{ "scale", 's', "F", 0, "Multiply every iteration count and time box "
	  "by F (0.1 for a quick look)", 0 },
	{ "timeout", OPT_TIMEOUT, "SEC", 0, "Kill a topic after SEC seconds",
	  0 },
	{ "no-fork", OPT_NO_FORK, NULL, 0, "Run topics in this process "
	  "(for a debugger)", 0 },
	{ "list", 'l', NULL, 0, "List the topics and exit", 0 },
	{ "verbose", 'v', NULL, 0, "More progress on stderr", 0 },
	{ 0 },
};

double bench_parse_num(const char *s, struct argp_state *state)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v <= 0)
		argp_error(state, "not a positive number: '%s'", s);
	return v;
}

/* Topic names on the command line; "all" stands for every topic. */
static void add_topic(struct bench_cli *cli, const char *name)
{
	if (strcmp(name, "all")) {
		cli->topics[cli->ntopics++] = name;
		return;
	}
	for (const struct bench_topic *t = bench_topics; t->name; t++)
		cli->topics[cli->ntopics++] = t->name;
}

static error_t parse_common(int key, char *arg, struct argp_state *state)
{
	struct bench_cli *cli = state->input;

	switch (key) {
	case 'r':
		bench_opts.reps = (unsigned int)bench_parse_num(arg, state);
		if (bench_opts.reps > BENCH_MAX_REPS)
			argp_error(state, "at most %d reps", BENCH_MAX_REPS);
		break;
	case 's':
		bench_opts.scale = bench_parse_num(arg, state);
		break;
	case OPT_TIMEOUT:
		bench_opts.timeout_s = (unsigned int)bench_parse_num(arg, state);
		break;
	case OPT_NO_FORK:
		bench_opts.fork = false;
		break;
	case 'l':
		cli->list = true;
		break;
	case 'v':
		bench_opts.verbose = true;
		break;
	case ARGP_KEY_ARG:
		add_topic(cli, arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp bench_common_argp = {
	.options = common_options,
	.parser = parse_common,
};

int bench_cli_parse(const struct argp *argp, int argc, char **argv,
		    struct bench_cli *cli)
{
	size_t ntopics = 0;

	for (const struct bench_topic *t = bench_topics; t->name; t++)
		ntopics++;
	/* every argument could be "all" */
	cli->topics = calloc((size_t)argc * ntopics + ntopics + 1,
			     sizeof(*cli->topics));
	if (!cli->topics)
		return -ENOMEM;
	cli->argc = argc;
	cli->argv = argv;
	argp_parse(argp, argc, argv, 0, NULL, cli);
	if (cli->list) {
		for (const struct bench_topic *t = bench_topics; t->name; t++)
			printf("%-10s %s\n", t->name, t->help);
		return 1;
	}
	if (!cli->ntopics)
		add_topic(cli, "all");
	return 0;
}

static void join_command(char *buf, size_t len, int argc, char **argv)
{
	size_t off = 0;

	buf[0] = 0;
	for (int i = 0; i < argc && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? " " : "", argv[i]);
}

void bench_cli_run(struct bench_cli *cli, struct bench_report *rep)
{
	char line[512];

	bench_machine_read(&rep->machine);
	join_command(rep->command, sizeof(rep->command), cli->argc, cli->argv);
	bench_machine_line(&rep->machine, line, sizeof(line));
	bench_log("machine: %s", line);
	rep->started_ns = bench_now_ns();
	bench_run_topics(rep, cli->topics, cli->ntopics);
	rep->wall_ns = bench_now_ns() - rep->started_ns;
	bench_report_print(rep);
}

int bench_cli_write_json(const struct bench_cli *cli,
			 const struct bench_report *rep)
{
	int err;

	if (!cli->json || !*cli->json)
		return 0;
	err = bench_report_json(rep, cli->json);
	if (err < 0) {
		bench_log("%s: %s", cli->json, strerror(-err));
		return 1;
	}
	if (strcmp(cli->json, "-"))
		printf("JSON: %s\n", cli->json);
	return 0;
}

void bench_cli_free(struct bench_cli *cli, struct bench_report *rep)
{
	free(cli->topics);
	free(rep->rows);
}

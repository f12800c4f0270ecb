// SPDX-License-Identifier: MIT
/*
 * cli.c - helpers shared by rtasync-trace's objects: messages,
 * argument parsing, environment checks and log2 histogram printing.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "json_writer.h"
#include "trace.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

const char *trace_prog = "rtasync-trace";
static bool json_errors, json_pretty;

void trace_json_errors(bool pretty)
{
	json_errors = true;
	json_pretty = pretty;
}

void trace_err(const char *fmt, ...)
{
	struct json_writer jw;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", trace_prog, msg);
	if (!json_errors)
		return;
	jw_init(&jw, stdout, json_pretty);
	jw_start_object(&jw);
	jw_string_field(&jw, "error", msg);
	jw_end_object(&jw);
	fflush(stdout);
}

void trace_print_time(FILE *out, int nreport)
{
	char buf[16];
	time_t t = time(NULL);

	strftime(buf, sizeof(buf), "%H:%M:%S", localtime(&t));
	fprintf(out, "%s%s\n", nreport ? "\n" : "", buf);
}

void trace_banner_end(const struct trace_opts *o)
{
	if (o->duration)
		fprintf(stderr, " for %.3g s", o->duration);
	fprintf(stderr, "... Hit Ctrl-C to end.\n");
}

static int opt_seconds(const char *name, const char *arg, double min,
		       double *out)
{
	if (trace_parse_seconds(arg, out)) {
		trace_err("bad %s '%s': a number of seconds > 0 expected", name,
			  arg);
		return TRACE_EXIT_USAGE;
	}
	if (*out < min) {
		trace_err("%s %s is too short: at least %g s", name, arg, min);
		return TRACE_EXIT_USAGE;
	}
	return 0;
}

int trace_common_opt(struct trace_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case 'j':
		o->json = true;
		trace_json_errors(o->pretty);
		return 0;
	case TRACE_OPT_PRETTY:
		o->json = o->pretty = true;
		trace_json_errors(true);
		return 0;
	case TRACE_OPT_DURATION:
		return opt_seconds("--duration", arg, 0, &o->duration);
	case TRACE_OPT_INTERVAL:
		return opt_seconds("--interval", arg, TRACE_MIN_INTERVAL_S,
				   &o->interval);
	default:
		return -1;
	}
}

bool trace_is_help(const char *arg)
{
	return !strcmp(arg, "help") || !strcmp(arg, "-h") ||
	       !strcmp(arg, "--help");
}

const char *trace_printable(char *dst, size_t len, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;

	for (; *s && o + 1 < len; s++) {
		if (*s >= 0x20 && *s < 0x7f) {
			dst[o++] = (char)*s;
			continue;
		}
		if (o + 5 > len)
			break;		/* no half escapes */
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[*s >> 4];
		dst[o++] = hex[*s & 15];
	}
	dst[o] = '\0';
	return dst;
}

int trace_parse_seconds(const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v <= 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int trace_parse_u64(const char *arg, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (arg[0] == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int trace_parse_pid(const char *arg, int *pid)
{
	uint64_t v;

	if (trace_parse_u64(arg, &v) || v == 0 || v > INT32_MAX) {
		trace_err("bad pid '%s'", arg);
		return -EINVAL;
	}
	*pid = (int)v;
	return 0;
}

/* RTASYNC_TRACE_BTF names another file: lets tests check exit code 5. */
int trace_check_btf(void)
{
	const char *path = getenv("RTASYNC_TRACE_BTF");

	return access(path ? path : TRACE_BTF_PATH, R_OK) ? -ENOENT : 0;
}

static bool cap_has(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1U << (cap % 32));
}

/*
 * Ask the kernel, not geteuid(): root in a container may lack CAP_BPF, and
 * a non-root user may have been granted CAP_BPF+CAP_PERFMON.
 */
int trace_check_privileges(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	if (cap_has(data, CAP_SYS_ADMIN))
		return 0;
	if (cap_has(data, CAP_BPF) && cap_has(data, CAP_PERFMON))
		return 0;
	return -EPERM;
}

int trace_check_environment(void)
{
	if (trace_check_btf()) {
		trace_err("this kernel exports no BTF (%s is missing); "
			  "it needs CONFIG_DEBUG_INFO_BTF=y", TRACE_BTF_PATH);
		return TRACE_EXIT_NO_BTF;
	}
	if (trace_check_privileges()) {
		trace_err("needs root, or the capabilities CAP_BPF and CAP_PERFMON "
			  "(try: sudo %s ...)", trace_prog);
		return TRACE_EXIT_PERM;
	}
	return 0;
}

static void print_stars(FILE *out, unsigned int val, unsigned int max, int width)
{
	int n = max ? (int)((uint64_t)val * width / max) : 0;
	int i;

	for (i = 0; i < width; i++)
		fputc(i < n ? '*' : ' ', out);
	if (val > max)
		fputc('+', out);
}

/*
 * Slot 0 holds 0 and 1, slot i >= 1 holds [2^i, 2^(i+1) - 1]: the same
 * buckets as the kernel side's log2 of the value in 'unit'.
 */
void trace_print_log2_hist(FILE *out, const unsigned int *slots, int nslots,
			   const char *unit)
{
	unsigned int max = 0;
	int last = -1, i;

	for (i = 0; i < nslots; i++) {
		if (slots[i])
			last = i;
		if (slots[i] > max)
			max = slots[i];
	}
	if (last < 0) {
		fprintf(out, "     (no samples)\n");
		return;
	}
	/* Wide ranges need wider columns, as in libbpf-tools. */
	if (last <= 32)
		fprintf(out, "%*s%-*s : count    distribution\n", 5, "", 19, unit);
	else
		fprintf(out, "%*s%-*s : count    distribution\n", 15, "", 29, unit);
	for (i = 0; i <= last; i++) {
		uint64_t low = i ? 1ULL << i : 0;
		uint64_t high = i ? (1ULL << (i + 1)) - 1 : 1;

		if (last <= 32)
			fprintf(out, "%*" PRIu64 " -> %-*" PRIu64 " : %-8u |",
				10, low, 10, high, slots[i]);
		else
			fprintf(out, "%*" PRIu64 " -> %-*" PRIu64 " : %-8u |",
				20, low, 20, high, slots[i]);
		print_stars(out, slots[i], max, 40);
		fputs("|\n", out);
	}
}

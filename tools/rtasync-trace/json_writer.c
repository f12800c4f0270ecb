// SPDX-License-Identifier: MIT
/*
 * json_writer.c - streaming JSON output (see json_writer.h).
 */
#include <inttypes.h>
#include <math.h>

#include "json_writer.h"

void jw_init(struct json_writer *jw, FILE *out, bool pretty)
{
	jw->out = out;
	jw->pretty = pretty;
	jw->depth = 0;
	jw->first[0] = true;
	jw->after_name = false;
}

static void jw_indent(struct json_writer *jw)
{
	int i;

	if (!jw->pretty)
		return;
	fputc('\n', jw->out);
	for (i = 0; i < jw->depth; i++)
		fputs("    ", jw->out);
}

/* Separator before a value or a name: a comma unless first at its level. */
static void jw_begin_value(struct json_writer *jw)
{
	if (jw->after_name) {
		jw->after_name = false;
		return;
	}
	if (!jw->first[jw->depth])
		fputc(',', jw->out);
	jw->first[jw->depth] = false;
	if (jw->depth > 0)
		jw_indent(jw);
}

static void jw_open(struct json_writer *jw, char c)
{
	jw_begin_value(jw);
	fputc(c, jw->out);
	if (jw->depth < JW_MAX_DEPTH - 1)
		jw->depth++;
	jw->first[jw->depth] = true;
}

static void jw_close(struct json_writer *jw, char c)
{
	bool empty = jw->first[jw->depth];

	if (jw->depth > 0)
		jw->depth--;
	if (!empty)
		jw_indent(jw);
	fputc(c, jw->out);
	if (jw->depth == 0)
		fputc('\n', jw->out);
}

void jw_start_object(struct json_writer *jw) { jw_open(jw, '{'); }
void jw_end_object(struct json_writer *jw)   { jw_close(jw, '}'); }
void jw_start_array(struct json_writer *jw)  { jw_open(jw, '['); }
void jw_end_array(struct json_writer *jw)    { jw_close(jw, ']'); }

/*
 * Bytes in a well-formed UTF-8 sequence at p that is neither a C1
 * control (U+0080..U+009F, terminal escapes) nor a surrogate; 0 if not.
 */
static int utf8_printable(const unsigned char *p)
{
	uint32_t cp;
	int n, i;

	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	cp = p[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the NUL */
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < 0xa0 || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * Strings come from the target (site names, symbols): control bytes and
 * bytes that are not UTF-8 are escaped, the latter as the Latin-1
 * character of that byte, so the output is valid JSON and harmless.
 */
static void jw_quote(struct json_writer *jw, const char *s)
{
	const unsigned char *p;
	int n;

	fputc('"', jw->out);
	for (p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':  fputs("\\\"", jw->out); break;
		case '\\': fputs("\\\\", jw->out); break;
		case '\n': fputs("\\n", jw->out); break;
		case '\t': fputs("\\t", jw->out); break;
		default:
			if (*p >= 0x20 && *p < 0x7f) {
				fputc(*p, jw->out);
				break;
			}
			n = *p >= 0x80 ? utf8_printable(p) : 0;
			if (n) {
				fwrite(p, 1, (size_t)n, jw->out);
				p += n - 1;
			} else {
				fprintf(jw->out, "\\u%04x", *p);
			}
		}
	}
	fputc('"', jw->out);
}

void jw_name(struct json_writer *jw, const char *name)
{
	jw_begin_value(jw);
	jw_quote(jw, name);
	fputs(jw->pretty ? ": " : ":", jw->out);
	jw->after_name = true;
}

void jw_string(struct json_writer *jw, const char *s)
{
	jw_begin_value(jw);
	jw_quote(jw, s);
}

void jw_uint(struct json_writer *jw, uint64_t v)
{
	jw_begin_value(jw);
	fprintf(jw->out, "%" PRIu64, v);
}

void jw_int(struct json_writer *jw, int64_t v)
{
	jw_begin_value(jw);
	fprintf(jw->out, "%" PRId64, v);
}

void jw_float(struct json_writer *jw, double v)
{
	jw_begin_value(jw);
	/* JSON has no NaN or infinity */
	if (isfinite(v))
		fprintf(jw->out, "%.10g", v);
	else
		fputs("null", jw->out);
}

static void jw_fixed(struct json_writer *jw, double v, int decimals)
{
	jw_begin_value(jw);
	if (isfinite(v))
		fprintf(jw->out, "%.*f", decimals, v);
	else
		fputs("null", jw->out);
}

void jw_bool(struct json_writer *jw, bool v)
{
	jw_begin_value(jw);
	fputs(v ? "true" : "false", jw->out);
}

void jw_null(struct json_writer *jw)
{
	jw_begin_value(jw);
	fputs("null", jw->out);
}

void jw_string_field(struct json_writer *jw, const char *name, const char *s)
{
	jw_name(jw, name);
	jw_string(jw, s);
}

void jw_uint_field(struct json_writer *jw, const char *name, uint64_t v)
{
	jw_name(jw, name);
	jw_uint(jw, v);
}

void jw_int_field(struct json_writer *jw, const char *name, int64_t v)
{
	jw_name(jw, name);
	jw_int(jw, v);
}

void jw_float_field(struct json_writer *jw, const char *name, double v)
{
	jw_name(jw, name);
	jw_float(jw, v);
}

void jw_bool_field(struct json_writer *jw, const char *name, bool v)
{
	jw_name(jw, name);
	jw_bool(jw, v);
}

void jw_hex_field(struct json_writer *jw, const char *name, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	jw_string_field(jw, name, buf);
}

void jw_fixed_field(struct json_writer *jw, const char *name, double v,
		    int decimals)
{
	jw_name(jw, name);
	jw_fixed(jw, v, decimals);
}

void jw_log2_hist(struct json_writer *jw, const char *name,
		  const unsigned int *slots, int nslots)
{
	int last = -1, i;

	for (i = 0; i < nslots; i++)
		if (slots[i])
			last = i;
	jw_name(jw, name);
	jw_start_array(jw);
	for (i = 0; i <= last; i++) {
		jw_start_object(jw);
		jw_uint_field(jw, "low", i ? 1ULL << i : 0);
		jw_uint_field(jw, "high", i ? (1ULL << (i + 1)) - 1 : 1);
		jw_uint_field(jw, "count", slots[i]);
		jw_end_object(jw);
	}
	jw_end_array(jw);
}

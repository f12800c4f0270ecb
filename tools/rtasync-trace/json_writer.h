/* SPDX-License-Identifier: MIT */
/*
 * json_writer.h - a small streaming JSON writer for rtasync-trace's -j/-p.
 *
 * The caller emits names and values in order; the writer keeps commas,
 * nesting and (with -p) indentation right.  Numbers of nanoseconds go out
 * as integers so nothing is lost to float formatting.
 */
#ifndef RTASYNC_JSON_WRITER_H
#define RTASYNC_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 16

struct json_writer {
	FILE *out;
	bool pretty;
	int depth;
	bool first[JW_MAX_DEPTH];	/* no member written yet at this level */
	bool after_name;
};

void jw_init(struct json_writer *jw, FILE *out, bool pretty);
void jw_start_object(struct json_writer *jw);
void jw_end_object(struct json_writer *jw);
void jw_start_array(struct json_writer *jw);
void jw_end_array(struct json_writer *jw);
void jw_name(struct json_writer *jw, const char *name);
void jw_string(struct json_writer *jw, const char *s);
void jw_uint(struct json_writer *jw, uint64_t v);
void jw_int(struct json_writer *jw, int64_t v);
void jw_float(struct json_writer *jw, double v);
void jw_bool(struct json_writer *jw, bool v);
void jw_null(struct json_writer *jw);

/* name + value in one call, the common case */
void jw_string_field(struct json_writer *jw, const char *name, const char *s);
void jw_uint_field(struct json_writer *jw, const char *name, uint64_t v);
void jw_int_field(struct json_writer *jw, const char *name, int64_t v);
void jw_float_field(struct json_writer *jw, const char *name, double v);
void jw_bool_field(struct json_writer *jw, const char *name, bool v);
/* v as a string "0x...": addresses, which JSON numbers cannot hold */
void jw_hex_field(struct json_writer *jw, const char *name, uint64_t v);
/* v with a fixed number of decimals: timestamps that must keep their ns */
void jw_fixed_field(struct json_writer *jw, const char *name, double v,
		    int decimals);

/*
 * A log2 histogram (slot 0: 0-1, slot i: 2^i..2^(i+1)-1, as printed by
 * trace_print_log2_hist()) as name: [{"low", "high", "count"}, ...], up
 * to the last non-empty slot.
 */
void jw_log2_hist(struct json_writer *jw, const char *name,
		  const unsigned int *slots, int nslots);

#endif /* RTASYNC_JSON_WRITER_H */

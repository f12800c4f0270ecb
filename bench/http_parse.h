/* SPDX-License-Identifier: MIT */
/*
 * A small, strict HTTP/1.1 request-head parser (RFC 9112), shared by
 * every HTTP server in bench/: librtasync's rtasync-httpd and the
 * baselines it is measured against, so they all accept and refuse the
 * same bytes.
 *
 * Strict: CRLF line ends only (a bare LF is an error), no obsolete line
 * folding, no whitespace before a header's colon, tokens and field values
 * checked character by character, one Host in an HTTP/1.1 request, one
 * Content-Length, no Transfer-Encoding (not implemented here). It copies
 * nothing: the request points into the caller's buffer.
 *
 * Incremental: the caller appends what it received and calls
 * http_parse() again; the parser remembers how far it looked for the end
 * of the head, so a head that arrives a byte at a time costs its length,
 * not its length squared.
 */
#ifndef RTASYNC_HTTP_PARSE_H
#define RTASYNC_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 64

struct http_parser {
	size_t max_head;	/* a longer head is refused with 431 */
	size_t scanned;		/* private: bytes looked at for the end */
	size_t line_start;	/* private: where the current line began */
};

struct http_request {
	const char *method, *target;
	size_t method_len, target_len;
	int minor;		/* HTTP/1.minor */
	bool keep_alive;	/* after this request (Connection, version) */
	size_t head_len;	/* bytes of the head, its empty line included */
	uint64_t body_len;	/* Content-Length, 0 without one */
	unsigned int nheaders;
};

/*
 * What a request that cannot be served gets. The parser never answers;
 * http_parse() returns one of these negated.
 */
enum http_refusal {
	HTTP_BAD_REQUEST = 400,
	HTTP_HEAD_TOO_LARGE = 431,	/* Request Header Fields Too Large */
	HTTP_NOT_IMPLEMENTED = 501,	/* Transfer-Encoding */
	HTTP_BAD_VERSION = 505,
};

void http_parser_init(struct http_parser *p, size_t max_head);

/*
 * Parse the request head at the start of buf[0, len). Returns the head's
 * length (> 0) with *req filled, 0 when the head is not complete yet
 * (call again with more bytes, the same buf start), or -status (enum
 * http_refusal). After a result other than 0 the parser is ready for the
 * next request, which starts at buf + head_len + body_len.
 */
int http_parse(struct http_parser *p, const char *buf, size_t len,
	       struct http_request *req);

#endif /* RTASYNC_HTTP_PARSE_H */

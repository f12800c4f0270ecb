// SPDX-License-Identifier: MIT
/*
 * The request-head parser (see http_parse.h). Two passes: find the empty
 * line that ends the head (incrementally, as bytes arrive), then check
 * the whole head line by line. The second pass runs once per request, on
 * bytes that are in cache from the first.
 */
#include <string.h>
#include <strings.h>

#include "http_parse.h"

void http_parser_init(struct http_parser *p, size_t max_head)
{
	p->max_head = max_head;
	p->scanned = 0;
	p->line_start = 0;
}

/* ---- pass 1: where does the head end? ---------------------------------- */

/*
 * The length of the head (up to and including its empty line), 0 when it
 * is not complete in buf[0, len), or -status. Every LF must close a CRLF:
 * a bare LF is refused as soon as it arrives, not at the head's end.
 */
static int find_head_end(struct http_parser *p, const char *buf, size_t len)
{
	size_t lim = len < p->max_head ? len : p->max_head;

	while (p->scanned < lim) {
		const char *lf = memchr(buf + p->scanned, '\n', lim - p->scanned);
		size_t at;

		if (!lf) {
			p->scanned = lim;
			break;
		}
		at = (size_t)(lf - buf);
		if (at == 0 || buf[at - 1] != '\r')
			return -HTTP_BAD_REQUEST;
		p->scanned = at + 1;
		if (at - 1 == p->line_start)
			return (int)(at + 1);
		p->line_start = at + 1;
	}
	return len >= p->max_head ? -HTTP_HEAD_TOO_LARGE : 0;
}

/* ---- pass 2: the head's grammar ------------------------------------------- */

/*
 * Character classes as a table, built once: the checks run on every
 * byte of every head, and a table lookup is what keeps the parser from
 * being the largest cost of a plaintext request.
 */
enum { TCHAR = 1, FIELD = 2 };

static unsigned char char_class[256];

static void __attribute__((constructor)) char_class_init(void)
{
	for (int c = 0; c < 256; c++) {
		bool alnum = (c >= '0' && c <= '9') ||
			     ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');

		/* tchar of RFC 9110 5.6.2 */
		if (alnum || (c && strchr("!#$%&'*+-.^_`|~", c)))
			char_class[c] |= TCHAR;
		/* field-vchar, SP or HTAB (RFC 9110 5.5); obs-text allowed */
		if (c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f))
			char_class[c] |= FIELD;
	}
}

static bool is_tchar(unsigned char c)
{
	return char_class[c] & TCHAR;
}

static bool is_field_char(unsigned char c)
{
	return char_class[c] & FIELD;
}

/* The length of the run of tchar that s starts with (0: none). */
static size_t token_len(const char *s, size_t end)
{
	size_t n = 0;

	while (n < end && is_tchar((unsigned char)s[n]))
		n++;
	return n;
}

/* "HTTP/1.x" exactly: 0 with *minor, or -status. */
static int parse_version(const char *s, size_t len, int *minor)
{
	if (len != 8 || memcmp(s, "HTTP/", 5) || s[6] != '.' ||
	    s[5] < '0' || s[5] > '9' || s[7] < '0' || s[7] > '9')
		return -HTTP_BAD_REQUEST;
	if (s[5] != '1')
		return -HTTP_BAD_VERSION;
	*minor = s[7] - '0';
	return 0;
}

/* METHOD SP request-target SP HTTP-version, line without its CRLF. */
static int parse_request_line(const char *s, size_t len,
			      struct http_request *req)
{
	size_t i = token_len(s, len), t;

	if (!i || i == len || s[i] != ' ')
		return -HTTP_BAD_REQUEST;
	req->method = s;
	req->method_len = i;
	t = ++i;
	while (i < len && s[i] > 0x20 && s[i] < 0x7f)
		i++;
	/* origin-form ("/path?query") or asterisk-form ("*") only */
	if (i == t || i == len || s[i] != ' ' ||
	    (s[t] != '/' && !(s[t] == '*' && i == t + 1)))
		return -HTTP_BAD_REQUEST;
	req->target = s + t;
	req->target_len = i - t;
	return parse_version(s + i + 1, len - i - 1, &req->minor);
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && !strncasecmp(name, want, len);
}

/* Content-Length: 1*DIGIT, at most 18 of them (no overflow). */
static int parse_length(const char *v, size_t len, uint64_t *out)
{
	uint64_t n = 0;

	if (!len || len > 18)
		return -HTTP_BAD_REQUEST;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -HTTP_BAD_REQUEST;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

/* Connection: a comma-separated list; "close" and "keep-alive" count. */
static void parse_connection(const char *v, size_t len,
			     struct http_request *req)
{
	size_t i = 0;

	while (i < len) {
		size_t n;

		while (i < len && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
			i++;
		n = token_len(v + i, len - i);
		if (name_is(v + i, n, "close"))
			req->keep_alive = false;
		else if (name_is(v + i, n, "keep-alive"))
			req->keep_alive = true;
		i += n ? n : 1;
	}
}

struct head_state {
	unsigned int hosts, lengths;
};

/* One field line "name: OWS value OWS" without its CRLF. */
static int parse_field(const char *s, size_t len, struct http_request *req,
		       struct head_state *st)
{
	size_t n = token_len(s, len), v, e;
	int ret;

	if (!n || n == len || s[n] != ':')	/* also "name :" */
		return -HTTP_BAD_REQUEST;
	for (v = n + 1; v < len && (s[v] == ' ' || s[v] == '\t'); v++)
		;
	for (e = len; e > v && (s[e - 1] == ' ' || s[e - 1] == '\t'); e--)
		;
	for (size_t i = v; i < e; i++)
		if (!is_field_char((unsigned char)s[i]))
			return -HTTP_BAD_REQUEST;
	if (++req->nheaders > HTTP_MAX_HEADERS)
		return -HTTP_HEAD_TOO_LARGE;
	if (name_is(s, n, "host")) {
		st->hosts++;
	} else if (name_is(s, n, "content-length")) {
		if (st->lengths++)
			return -HTTP_BAD_REQUEST;
		ret = parse_length(s + v, e - v, &req->body_len);
		if (ret)
			return ret;
	} else if (name_is(s, n, "transfer-encoding")) {
		return -HTTP_NOT_IMPLEMENTED;
	} else if (name_is(s, n, "connection")) {
		parse_connection(s + v, e - v, req);
	}
	return 0;
}

/* The whole head, buf[0, head_len), its last line the empty one. */
static int parse_head(const char *buf, size_t head_len,
		      struct http_request *req)
{
	struct head_state st = { 0 };
	const char *end = buf + head_len - 2;	/* the empty line's CRLF */
	const char *line = buf, *cr = memchr(buf, '\r', head_len);
	int ret;

	memset(req, 0, sizeof(*req));
	if (cr[1] != '\n')
		return -HTTP_BAD_REQUEST;
	ret = parse_request_line(line, (size_t)(cr - line), req);
	if (ret)
		return ret;
	req->keep_alive = req->minor >= 1;
	for (line = cr + 2; line < end; line = cr + 2) {
		cr = memchr(line, '\r', (size_t)(end - line) + 1);
		/* a CR alone inside a line, or a folded (obs-fold) line */
		if (cr[1] != '\n' || *line == ' ' || *line == '\t')
			return -HTTP_BAD_REQUEST;
		ret = parse_field(line, (size_t)(cr - line), req, &st);
		if (ret)
			return ret;
	}
	if (req->minor >= 1 && st.hosts != 1)
		return -HTTP_BAD_REQUEST;
	if (st.hosts > 1)
		return -HTTP_BAD_REQUEST;
	req->head_len = head_len;
	return 0;
}

int http_parse(struct http_parser *p, const char *buf, size_t len,
	       struct http_request *req)
{
	int ret = find_head_end(p, buf, len);

	if (ret > 0) {
		int head_len = ret;

		ret = parse_head(buf, (size_t)head_len, req);
		if (!ret)
			ret = head_len;
	}
	if (ret)
		http_parser_init(p, p->max_head);
	return ret;
}

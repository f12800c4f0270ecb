// SPDX-License-Identifier: MIT
/*
 * One HTTP connection's bytes (see http_conn.h): the request loop over
 * the parser, and the answers, built by copying pieces (a printf per
 * answer would cost a visible share of a plaintext request).
 */
#include <string.h>
#include <time.h>

#include "http_conn.h"

#define HELLO "Hello, World!"

struct status_line {
	int status;
	const char *line;	/* "HTTP/1.1 200 OK\r\n" */
	const char *body;	/* NULL: the hello */
};

static const struct status_line statuses[] = {
	{ 200, "HTTP/1.1 200 OK\r\n", HELLO },
	{ 404, "HTTP/1.1 404 Not Found\r\n", "Not Found\n" },
	{ 405, "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n",
	  "Method Not Allowed\n" },
	{ 400, "HTTP/1.1 400 Bad Request\r\n", "Bad Request\n" },
	{ 408, "HTTP/1.1 408 Request Timeout\r\n", "Request Timeout\n" },
	{ 431, "HTTP/1.1 431 Request Header Fields Too Large\r\n",
	  "Request Header Fields Too Large\n" },
	{ 501, "HTTP/1.1 501 Not Implemented\r\n", "Not Implemented\n" },
	{ 505, "HTTP/1.1 505 HTTP Version Not Supported\r\n",
	  "HTTP Version Not Supported\n" },
};

/* "Wed, 02 Dec 2026 09:16:29 GMT", formatted once a second per thread. */
#define DATE_LEN 29

static const char *http_date(void)
{
	static __thread time_t cached_sec = -1;
	static __thread char date[DATE_LEN + 1];
	time_t now = time(NULL);
	struct tm tm;

	if (now != cached_sec) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cached_sec = now;
	}
	return date;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

/* "13" for 13: the bodies are short. */
static char *put_len(char *p, size_t n)
{
	char digits[20];
	size_t i = sizeof(digits);

	do {
		digits[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	return put(p, digits + i, sizeof(digits) - i);
}

size_t http_response(char *buf, int status, bool keep_alive, bool head)
{
	const struct status_line *s = &statuses[0];
	size_t body_len;
	char *p = buf;

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].status == status)
			s = &statuses[i];
	body_len = strlen(s->body);
	p = put(p, s->line, strlen(s->line));
	p = PUT_LIT(p, "Server: rtasync\r\nDate: ");
	p = put(p, http_date(), DATE_LEN);
	p = PUT_LIT(p, "\r\nContent-Type: text/plain\r\nContent-Length: ");
	p = put_len(p, body_len);
	if (keep_alive)
		p = PUT_LIT(p, "\r\n\r\n");
	else
		p = PUT_LIT(p, "\r\nConnection: close\r\n\r\n");
	if (!head)
		p = put(p, s->body, body_len);
	return (size_t)(p - buf);
}

void http_conn_init(struct http_conn *c)
{
	http_parser_init(&c->parser, sizeof(c->in));
	c->in_len = c->out_len = 0;
	c->skip = 0;
	c->closing = false;
}

static bool method_is(const struct http_request *req, const char *m)
{
	return req->method_len == strlen(m) &&
	       !memcmp(req->method, m, req->method_len);
}

/* The site: one page. */
static int route(const struct http_request *req)
{
	if (!method_is(req, "GET") && !method_is(req, "HEAD"))
		return 405;
	if (req->target_len != 1 || req->target[0] != '/')
		return 404;
	return 200;
}

static void answer(struct http_conn *c, int status, bool keep_alive,
		   bool head)
{
	c->out_len += http_response(c->out + c->out_len, status, keep_alive,
				    head);
	if (!keep_alive)
		c->closing = true;
}

/* Drop in[0, n) (answered), keep what follows for the next request. */
static void consume(struct http_conn *c, size_t n)
{
	if (!n)
		return;
	c->in_len -= n;
	if (c->in_len)
		memmove(c->in, c->in + n, c->in_len);
}

enum http_conn_next http_conn_process(struct http_conn *c)
{
	struct http_request req;
	size_t start = 0;
	int ret;

	while (!c->closing) {
		if (sizeof(c->out) - c->out_len < HTTP_MAX_RESPONSE) {
			consume(c, start);
			return HTTP_CONN_SEND_MORE;
		}
		ret = http_parse(&c->parser, c->in + start, c->in_len - start,
				 &req);
		if (!ret)
			break;
		if (ret < 0) {
			answer(c, -ret, false, false);
			break;
		}
		start += (size_t)ret;
		if (req.body_len <= c->in_len - start) {
			start += req.body_len;
		} else {
			c->skip = req.body_len - (c->in_len - start);
			start = c->in_len;
		}
		answer(c, route(&req), req.keep_alive, method_is(&req, "HEAD"));
	}
	consume(c, start);
	return c->closing ? HTTP_CONN_CLOSE : HTTP_CONN_READ;
}

enum http_conn_next http_conn_received(struct http_conn *c, size_t n)
{
	/* the body of an answered request: nothing before it is kept */
	size_t drop = c->skip < n ? (size_t)c->skip : n;

	c->skip -= drop;
	c->in_len += n;
	consume(c, drop);
	return http_conn_process(c);
}

enum http_conn_next http_conn_timed_out(struct http_conn *c)
{
	if (http_conn_partial(c) && !c->closing)
		answer(c, 408, false, false);
	c->closing = true;
	return HTTP_CONN_CLOSE;
}

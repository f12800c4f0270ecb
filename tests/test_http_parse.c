// SPDX-License-Identifier: MIT
/*
 * bench/'s HTTP request parser and connection logic: exact results for
 * good heads, the status each malformed one gets, heads that arrive a
 * byte at a time, pipelined requests and their answers in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http_conn.h"
#include "http_parse.h"

static int parse(const char *s, struct http_request *req)
{
	struct http_parser p;

	http_parser_init(&p, 8192);
	return http_parse(&p, s, strlen(s), req);
}

static int status_of(const char *s)
{
	struct http_request req;

	return parse(s, &req);
}

static void test_simple_get(void **state)
{
	const char *s = "GET /index.html?x=1 HTTP/1.1\r\nHost: a\r\n"
			"User-Agent: t\r\n\r\n";
	struct http_request req;

	assert_int_equal(parse(s, &req), strlen(s));
	assert_int_equal(req.method_len, 3);
	assert_memory_equal(req.method, "GET", 3);
	assert_int_equal(req.target_len, 15);
	assert_memory_equal(req.target, "/index.html?x=1", 15);
	assert_int_equal(req.minor, 1);
	assert_true(req.keep_alive);
	assert_int_equal(req.head_len, strlen(s));
	assert_int_equal(req.body_len, 0);
	assert_int_equal(req.nheaders, 2);
}

static void test_connection_and_version(void **state)
{
	struct http_request req;

	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close"
			  "\r\n\r\n", &req) > 0);
	assert_false(req.keep_alive);
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, "
			  "CLOSE \r\n\r\n", &req) > 0);
	assert_false(req.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0);
	assert_int_equal(req.minor, 0);
	assert_false(req.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			  &req) > 0);
	assert_true(req.keep_alive);
	assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5"
			  "\r\n\r\nhello", &req) > 0);
	assert_int_equal(req.body_len, 5);
	assert_true(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
}

static void test_malformed_is_400(void **state)
{
	static const char *const bad[] = {
		"GET / HTTP/1.1\nHost: a\r\n\r\n",		/* bare LF */
		"GET / HTTP/1.1\r\nHost: a\n\n",
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",		/* two spaces */
		"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
		"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n",	/* absolute-form */
		"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",		/* not a token */
		"GET / HTTP/1.1\r\n\r\n",			/* no Host */
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",		/* space before : */
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",	/* lone CR */
		"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
		"Content-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: "
		"1234567890123456789\r\n\r\n",
		"GET / HTTP/1.x\r\nHost: a\r\n\r\n",
		"GET / http/1.1\r\nHost: a\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",	/* empty first line */
		"GET /\r\n\r\n",				/* HTTP/0.9 */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = status_of(bad[i]);

		if (r != -HTTP_BAD_REQUEST)
			fail_msg("case %zu: %d for %s", i, r, bad[i]);
	}
}

static void test_other_refusals(void **state)
{
	assert_int_equal(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
			 -HTTP_BAD_VERSION);
	assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: a\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n"),
			 -HTTP_NOT_IMPLEMENTED);
}

static void test_too_large_is_431(void **state)
{
	static char big[9000];
	struct http_parser p;
	struct http_request req;
	char many[4096];
	size_t n;

	/* no end in the first 8 KiB: refused before the rest arrives */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	http_parser_init(&p, 8192);
	assert_int_equal(http_parse(&p, big, 8191, &req), 0);
	assert_int_equal(http_parse(&p, big, 8192, &req), -HTTP_HEAD_TOO_LARGE);
	/* too many fields */
	n = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "X%d: y\r\n", i);
	snprintf(many + n, sizeof(many) - n, "\r\n");
	assert_int_equal(status_of(many), -HTTP_HEAD_TOO_LARGE);
}

/* A head a byte at a time: 0 until the last byte, then the same result. */
static void test_byte_at_a_time(void **state)
{
	const char *s = "GET / HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
	size_t len = strlen(s);
	struct http_parser p;
	struct http_request req;

	http_parser_init(&p, 8192);
	for (size_t i = 1; i < len; i++)
		assert_int_equal(http_parse(&p, s, i, &req), 0);
	assert_int_equal(http_parse(&p, s, len, &req), len);
	assert_int_equal(req.nheaders, 2);
	/* a bare LF is refused when it arrives, not at the end */
	http_parser_init(&p, 8192);
	assert_int_equal(http_parse(&p, "GET / HTTP/1.1\n", 15, &req),
			 -HTTP_BAD_REQUEST);
}

/* ---- the connection: answers, pipelining --------------------------------- */

static struct http_conn conn;

static enum http_conn_next feed(const char *s)
{
	size_t n = strlen(s);

	memcpy(http_conn_rbuf(&conn), s, n);
	return http_conn_received(&conn, n);
}

static unsigned int count(const char *hay, size_t len, const char *needle)
{
	unsigned int n = 0;
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= len; i++)
		n += !memcmp(hay + i, needle, k);
	return n;
}

static void test_pipelined_answers(void **state)
{
	char want[HTTP_MAX_RESPONSE];
	size_t wlen = http_response(want, 200, true, false);

	http_conn_init(&conn);
	/* two and a half requests, then the rest of the third */
	assert_int_equal(feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"
			      "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HT"),
			 HTTP_CONN_READ);
	assert_int_equal(conn.out_len, 2 * wlen);
	assert_memory_equal(conn.out, want, wlen);
	assert_memory_equal(conn.out + wlen, want, wlen);
	assert_true(http_conn_partial(&conn));
	conn.out_len = 0;
	assert_int_equal(feed("TP/1.1\r\nHost: a\r\n\r\nHEAD /x HTTP/1.1\r\n"
			      "Host: a\r\n\r\n"), HTTP_CONN_READ);
	assert_false(http_conn_partial(&conn));
	assert_int_equal(count(conn.out, conn.out_len, "HTTP/1.1 200 OK\r\n"), 1);
	assert_int_equal(count(conn.out, conn.out_len, "HTTP/1.1 404 Not Found"
			       "\r\n"), 1);
	/* HEAD: no body */
	assert_int_equal(count(conn.out, conn.out_len, "Not Found\n"), 0);
	assert_int_equal(count(conn.out, conn.out_len, "Hello, World!"), 1);
}

static void test_bodies_are_skipped(void **state)
{
	http_conn_init(&conn);
	assert_int_equal(feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
			      "10\r\n\r\n12345"), HTTP_CONN_READ);
	assert_int_equal(count(conn.out, conn.out_len, " 405 "), 1);
	conn.out_len = 0;
	assert_int_equal(feed("67890GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
			 HTTP_CONN_READ);
	assert_int_equal(count(conn.out, conn.out_len, " 200 OK"), 1);
	assert_false(http_conn_partial(&conn));
}

static void test_errors_close(void **state)
{
	http_conn_init(&conn);
	assert_int_equal(feed("GET / HTTP/1.1\r\nHost: a\r\n\r\nBAD\r\n\r\n"
			      "GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
			 HTTP_CONN_CLOSE);
	/* the good request answered, then the 400, then nothing more */
	assert_int_equal(count(conn.out, conn.out_len, " 200 OK"), 1);
	assert_int_equal(count(conn.out, conn.out_len, " 400 Bad Request"), 1);
	assert_int_equal(count(conn.out, conn.out_len, "Connection: close"), 1);
	/* a timeout mid-head: 408; an idle one: nothing */
	http_conn_init(&conn);
	assert_int_equal(feed("GET / HT"), HTTP_CONN_READ);
	assert_int_equal(http_conn_timed_out(&conn), HTTP_CONN_CLOSE);
	assert_int_equal(count(conn.out, conn.out_len, " 408 Request Timeout"), 1);
	http_conn_init(&conn);
	assert_int_equal(http_conn_timed_out(&conn), HTTP_CONN_CLOSE);
	assert_int_equal(conn.out_len, 0);
}

/* More pipelined requests than out[] holds answers for: SEND_MORE. */
static void test_output_full(void **state)
{
	const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	char want[HTTP_MAX_RESPONSE];
	size_t wlen = http_response(want, 200, true, false), rlen = strlen(req);
	unsigned int nreq = HTTP_IN_SIZE / (unsigned int)rlen, answered = 0;
	enum http_conn_next next;

	http_conn_init(&conn);
	for (unsigned int i = 0; i < nreq; i++)
		memcpy(conn.in + i * rlen, req, rlen);
	next = http_conn_received(&conn, nreq * rlen);
	while (next == HTTP_CONN_SEND_MORE) {
		answered += count(conn.out, conn.out_len, " 200 OK");
		conn.out_len = 0;
		next = http_conn_process(&conn);
	}
	answered += count(conn.out, conn.out_len, " 200 OK");
	assert_int_equal(next, HTTP_CONN_READ);
	assert_int_equal(answered, nreq);
	assert_true(wlen < HTTP_MAX_RESPONSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_connection_and_version),
		cmocka_unit_test(test_malformed_is_400),
		cmocka_unit_test(test_other_refusals),
		cmocka_unit_test(test_too_large_is_431),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_pipelined_answers),
		cmocka_unit_test(test_bodies_are_skipped),
		cmocka_unit_test(test_errors_close),
		cmocka_unit_test(test_output_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

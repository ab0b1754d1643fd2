/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http.h"

/* Parameters are copied into worker processes, which may be new images: no pointers in them. */
struct good {
	char in[256];
	int form;
	char host[64];
	unsigned port;
	char path[64];
};

ParameterizedTestParameters(http, parses)
{
	static struct good cases[] = {
		{"CONNECT github.com:443 HTTP/1.1\r\nHost: github.com:443\r\n\r\n",
		 CELL_HTTP_CONNECT, "github.com", 443, ""},
		{"CONNECT GitHub.COM.:8443 HTTP/1.0\r\n\r\n", CELL_HTTP_CONNECT, "github.com", 8443,
		 ""},
		{"CONNECT [2001:DB8::1]:443 HTTP/1.1\r\n\r\n", CELL_HTTP_CONNECT, "2001:db8::1",
		 443, ""},
		{"CONNECT 10.0.0.1:22 HTTP/1.1\r\n\r\n", CELL_HTTP_CONNECT, "10.0.0.1", 22, ""},
		{"GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
		 CELL_HTTP_ABSOLUTE, "example.com", 80, "/a/b?c=d"},
		{"GET http://example.com HTTP/1.1\r\n\r\n", CELL_HTTP_ABSOLUTE, "example.com", 80,
		 "/"},
		{"POST HTTP://Registry.Test:8080/x HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
		 CELL_HTTP_ABSOLUTE, "registry.test", 8080, "/x"},
		{"HEAD http://[::1]:8000/ HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n", CELL_HTTP_ABSOLUTE,
		 "::1", 8000, "/"},
		{"GET http://a.test?q HTTP/1.1\r\nX-Empty:\r\nX-Spaces:   v   \r\n\r\n",
		 CELL_HTTP_ABSOLUTE, "a.test", 80, "?q"},
	};
	return cr_make_param_array(struct good, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct good *c, http, parses)
{
	struct cell_http_request r;
	const char *why = NULL;
	long n = cell_http_parse_request(c->in, strlen(c->in), &r, &why);

	cr_assert(eq(long, n, (long)strlen(c->in)), "%s: %s", c->in, why ? why : "");
	cr_assert(eq(int, (int)r.form, c->form));
	cr_assert(eq(str, r.host, c->host));
	cr_assert(eq(u32, r.port, c->port));
	if (c->form == CELL_HTTP_ABSOLUTE) {
		cr_assert(eq(sz, r.path_len, strlen(c->path)));
		cr_assert(eq(int, memcmp(r.path, c->path, r.path_len), 0));
	}
}

Test(http, headers_and_body_framing)
{
	const char in[] = "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX-Spaces:   v  \r\n"
			  "Transfer-Encoding: chunked\r\n\r\nbody";
	struct cell_http_request r;
	const struct cell_http_header *h;
	const char *why = NULL;

	cr_assert(eq(long, cell_http_parse_request(in, sizeof(in) - 1, &r, &why),
		     (long)(sizeof(in) - 1 - 4)));
	cr_assert(eq(sz, r.n_headers, 3));
	h = cell_http_find_header(r.headers, r.n_headers, "x-spaces");
	cr_assert(not(eq(ptr, (void *)h, NULL)));
	cr_assert(eq(sz, h->value_len, 1));
	cr_assert(eq(chr, h->value[0], 'v'));
	cr_assert(r.chunked);
	cr_assert(eq(i64, r.content_length, -1));
}

Test(http, an_origin_form_request_is_for_the_proxy_itself)
{
	const char in[] = "GET /cell/resolve/a.test HTTP/1.1\r\nHost: whatever\r\n\r\n";
	struct cell_http_request r;
	const char *why = NULL;

	cr_assert(eq(long, cell_http_parse_request(in, sizeof(in) - 1, &r, &why),
		     (long)(sizeof(in) - 1)));
	cr_assert(eq(int, r.form, CELL_HTTP_ORIGIN));
	cr_assert(eq(sz, r.path_len, strlen("/cell/resolve/a.test")));
	cr_assert(eq(int, strncmp(r.path, "/cell/resolve/a.test", r.path_len), 0));
	cr_assert(eq(str, r.host, ""));
}

struct bad {
	char in[300];
	char why[96];
};

ParameterizedTestParameters(http, refuses)
{
	static struct bad cases[] = {
		{"GET https://a.test/ HTTP/1.1\r\n\r\n",
		 "not an http:// URL (use CONNECT for https)"},
		{"CONNECT a.test HTTP/1.1\r\n\r\n", "no port"},
		{"CONNECT :443 HTTP/1.1\r\n\r\n", "a bad host"},
		{"CONNECT a.test:0 HTTP/1.1\r\n\r\n", "a bad port"},
		{"CONNECT a.test:99999 HTTP/1.1\r\n\r\n", "a bad port"},
		{"CONNECT a.test:44x HTTP/1.1\r\n\r\n", "a bad port"},
		{"CONNECT [::1 HTTP/1.1\r\n\r\n", "a bad IPv6 address"},
		{"CONNECT a..test:443 HTTP/1.1\r\n\r\n", "a bad host"},
		{"GET http://user@a.test/ HTTP/1.1\r\n\r\n", "userinfo in the URL"},
		{"GET http://a.test/ HTTP/2.0\r\n\r\n", "not HTTP/1.0 or HTTP/1.1"},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "not HTTP/1.0 or HTTP/1.1"},
		{"GET http://a.test/ HTTP/1.1\n\n", "a request line that does not end in CRLF"},
		{"GET http://a.test/ HTTP/1.1\r\nHost: a.test\n\r\n",
		 "a control character in a header field"},
		{"GET http://a.test/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "obsolete line folding"},
		{"GET http://a.test/ HTTP/1.1\r\nBad Name: v\r\n\r\n", "a bad header field name"},
		{"GET http://a.test/ HTTP/1.1\r\nX: a\x01z\r\n\r\n",
		 "a control character in a header field"},
		{"GE\x01T http://a.test/ HTTP/1.1\r\n\r\n", "not an HTTP request"},
		{"\r\n", "not an HTTP request"},
		{"POST http://a.test/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		 "both Content-Length and Transfer-Encoding"},
		{"POST http://a.test/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		 "two different Content-Lengths"},
		{"POST http://a.test/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		 "a bad Content-Length"},
		{"POST http://a.test/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		 "a Transfer-Encoding other than chunked"},
		{"POST http://a.test/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		 "Transfer-Encoding in an HTTP/1.0 request"},
		{"POST http://a.test/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		 "a Transfer-Encoding other than chunked"},
		{"GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n",
		 "a Host field that names another host than the URL"},
		{"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
		 "two Host fields"},
	};
	return cr_make_param_array(struct bad, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad *c, http, refuses)
{
	struct cell_http_request r;
	const char *why = NULL;

	cr_assert(eq(long, cell_http_parse_request(c->in, strlen(c->in), &r, &why), CELL_HTTP_BAD),
		  "accepted: %s", c->in);
	cr_assert(eq(str, (char *)why, c->why), "for %s", c->in);
}

Test(http, nul_bytes_are_refused)
{
	const char in[] = "GET http://a.test/\0x HTTP/1.1\r\n\r\n";
	const char hdr[] = "GET http://a.test/ HTTP/1.1\r\nX: a\0b\r\n\r\n";
	struct cell_http_request r;
	const char *why = NULL;

	cr_assert(eq(long, cell_http_parse_request(in, sizeof(in) - 1, &r, &why), CELL_HTTP_BAD));
	cr_assert(eq(long, cell_http_parse_request(hdr, sizeof(hdr) - 1, &r, &why), CELL_HTTP_BAD));
	cr_assert(eq(str, (char *)why, "a control character in a header field"));
}

Test(http, too_many_headers)
{
	char in[8192];
	size_t n = (size_t)sprintf(in, "GET http://a.test/ HTTP/1.1\r\n");
	struct cell_http_request r;
	const char *why = NULL;

	for (int i = 0; i <= CELL_HTTP_MAX_HEADERS; i++)
		n += (size_t)sprintf(in + n, "X-%d: v\r\n", i);
	n += (size_t)sprintf(in + n, "\r\n");
	cr_assert(eq(long, cell_http_parse_request(in, n, &r, &why), CELL_HTTP_TOO_MANY));
	cr_assert(eq(str, (char *)why, "too many header fields"));
}

/* Every proper prefix of a good head is incomplete, never bad and never accepted. */
Test(http, every_prefix_is_incomplete)
{
	static const char *const heads[] = {
		"CONNECT github.com:443 HTTP/1.1\r\nHost: github.com:443\r\nUser-Agent: t\r\n\r\n",
		"GET http://a.test/x HTTP/1.0\r\nX:\r\n\r\n",
	};

	for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++)
		for (size_t len = 0; len < strlen(heads[k]); len++) {
			struct cell_http_request r;
			const char *why = NULL;

			cr_assert(eq(long, cell_http_parse_request(heads[k], len, &r, &why),
				     CELL_HTTP_INCOMPLETE),
				  "prefix %zu of %s", len, heads[k]);
		}
}

/*
 * Each prefix placed right before an unmapped page, as picohttpparser's tests do: a read past
 * the end of the buffer is a crash, not a silent success.
 */
Test(http, never_reads_past_the_buffer)
{
	static const char head[] =
		"POST http://[::1]:8080/p HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 10\r\n\r\n";
	long page = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert(not(eq(ptr, map, MAP_FAILED)));
	cr_assert(eq(int, mprotect(map + page, (size_t)page, PROT_NONE), 0));
	for (size_t len = 0; len <= sizeof(head) - 1; len++) {
		char *buf = map + page - len;
		struct cell_http_request r;
		const char *why = NULL;
		long n;

		memcpy(buf, head, len);
		n = cell_http_parse_request(buf, len, &r, &why);
		cr_assert(eq(long, n, len == sizeof(head) - 1 ? (long)len : CELL_HTTP_INCOMPLETE));
	}
	munmap(map, (size_t)page * 2);
}

Test(http, parses_response_heads_and_their_framing)
{
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
	static const char length[] = "HTTP/1.0 404 Not Found\r\nContent-Length: 12\r\n\r\n";
	static const char bare[] = "HTTP/1.1 204\r\n\r\n";
	static const char gzip[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
	struct cell_http_response r;
	const char *why = NULL;

	cr_assert(eq(long, cell_http_parse_response(chunked, strlen(chunked), &r, &why),
		     (long)strlen(chunked) - 3));
	cr_assert(eq(int, r.status, 200));
	cr_assert(r.chunked && !r.until_close);
	cr_assert(eq(sz, r.status_line_len, 17));
	cr_assert(eq(long, cell_http_parse_response(length, strlen(length), &r, &why),
		     (long)strlen(length)));
	cr_assert(eq(int, r.status, 404));
	cr_assert(eq(int, r.minor_version, 0));
	cr_assert(eq(i64, r.content_length, 12));
	cr_assert(r.until_close == false && r.chunked == false);
	/* no reason phrase, no framing: the body runs until the close */
	cr_assert(eq(long, cell_http_parse_response(bare, strlen(bare), &r, &why),
		     (long)strlen(bare)));
	cr_assert(eq(int, r.status, 204));
	cr_assert(r.until_close);
	/* a coding other than chunked: the body runs until the close as well */
	cr_assert(eq(long, cell_http_parse_response(gzip, strlen(gzip), &r, &why),
		     (long)strlen(gzip)));
	cr_assert(r.until_close && !r.chunked);
	for (size_t len = 0; len < strlen(length); len++)
		cr_assert(eq(long, cell_http_parse_response(length, len, &r, &why),
			     CELL_HTTP_INCOMPLETE),
			  "prefix %zu", len);
}

Test(http, refuses_bad_response_heads)
{
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 200 OK\n\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cell_http_response r;
		const char *why = NULL;

		cr_assert(eq(long, cell_http_parse_response(bad[i], strlen(bad[i]), &r, &why),
			     CELL_HTTP_BAD),
			  "%s", bad[i]);
		cr_assert(not(eq(ptr, (void *)why, NULL)));
	}
}

/* The chunk scanner finds the same end whether the bytes come at once or one by one. */
Test(http, finds_the_end_of_a_chunked_body)
{
	static const char body[] = "5\r\nhello\r\n1A;name=\"v\"\r\n"
				   "abcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";
	static const char after[] = "GET http://next/ HTTP/1.1\r\n\r\n";
	char both[256];
	struct cell_http_chunks s = {0};

	snprintf(both, sizeof(both), "%s%s", body, after);
	cr_assert(eq(long, cell_http_chunks_scan(&s, both, strlen(both)), (long)strlen(body)));
	cr_assert(cell_http_chunks_done(&s));
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < strlen(body); i++) {
		cr_assert(eq(int, cell_http_chunks_done(&s), false), "done early at %zu", i);
		cr_assert(eq(long, cell_http_chunks_scan(&s, body + i, 1), 1), "at %zu", i);
	}
	cr_assert(cell_http_chunks_done(&s));
	cr_assert(eq(long, cell_http_chunks_scan(&s, after, strlen(after)), 0));
}

Test(http, refuses_malformed_chunks)
{
	static const char *const bad[] = {
		"zz\r\nhello\r\n0\r\n\r\n",	 /* no size */
		"5\nhello\r\n0\r\n\r\n",	 /* a bare LF */
		"5\r\nhelloX\r\n0\r\n\r\n",	 /* data longer than its size */
		"1000000000000000\r\n",		 /* 16 hex digits */
		"0\r\n\x01: x\r\n\r\n",		 /* a control character for a trailer */
		"0\r\nX: \x7f\r\n\r\n",		 /* and inside one */
		"5;\x01\r\nhello\r\n0\r\n\r\n",	 /* and in an extension */
		"-5\r\nhello\r\n0\r\n\r\n",	 /* a sign */
		"5\r\nhello\r\n0\r\nX: 1\r\n\n", /* a bare LF to end the trailers */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cell_http_chunks s = {0};

		cr_assert(
			eq(long, cell_http_chunks_scan(&s, bad[i], strlen(bad[i])), CELL_HTTP_BAD),
			"case %zu", i);
	}
}

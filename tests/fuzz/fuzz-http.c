/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the proxy's request and response parsers and its chunk scanner never crash
 * and keep their promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_response(const uint8_t *data, size_t size)
{
	struct cell_http_response r;
	const char *why = NULL;
	long n = cell_http_parse_response((const char *)data, size, &r, &why);

	if ((n == CELL_HTTP_BAD || n == CELL_HTTP_TOO_MANY) && !why)
		abort();
	if (n >= 0) {
		if ((size_t)n > size || r.status < 100 || r.status > 999 ||
		    r.status_line_len > (size_t)n || (r.chunked && r.content_length >= 0) ||
		    (r.until_close && (r.chunked || r.content_length >= 0)))
			abort();
		if (n > 0 &&
		    cell_http_parse_response((const char *)data, (size_t)n - 1, &r, &why) >= 0)
			abort();
	}
}

/* Scanning in two pieces, split anywhere, finds what scanning at once finds. */
static void check_chunks(const uint8_t *data, size_t size)
{
	struct cell_http_chunks whole = {0}, split = {0};
	long n = cell_http_chunks_scan(&whole, (const char *)data, size);
	size_t cut = size ? data[0] % (size + 1) : 0;
	long a, b = 0;

	if (n != CELL_HTTP_BAD && (n < 0 || (size_t)n > size))
		abort();
	if (n >= 0 && (size_t)n < size && !cell_http_chunks_done(&whole))
		abort();
	a = cell_http_chunks_scan(&split, (const char *)data, cut);
	if (a >= 0 && (size_t)a == cut)
		b = cell_http_chunks_scan(&split, (const char *)data + cut, size - cut);
	if (n == CELL_HTTP_BAD) {
		if (a != CELL_HTTP_BAD && b != CELL_HTTP_BAD)
			abort();
	} else if (a < 0 || b < 0 || a + b != n ||
		   cell_http_chunks_done(&split) != cell_http_chunks_done(&whole)) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cell_http_request r;
	const char *why = NULL;
	long n = cell_http_parse_request((const char *)data, size, &r, &why);

	if ((n == CELL_HTTP_BAD || n == CELL_HTTP_TOO_MANY) && !why)
		abort();
	if (n >= 0) {
		if ((size_t)n > size || r.method_len == 0)
			abort();
		/* a request to the proxy itself has a path and no host; any other, a host */
		if (r.form == CELL_HTTP_ORIGIN
			    ? r.path_len == 0 || r.path[0] != '/' || r.host[0] || r.port
			    : r.port == 0 || r.host[0] == '\0')
			abort();
		if (r.form == CELL_HTTP_ABSOLUTE &&
		    (r.path_len == 0 || (r.path[0] != '/' && r.path[0] != '?')))
			abort();
		/* a prefix of an accepted head is never accepted */
		if (n > 0 &&
		    cell_http_parse_request((const char *)data, (size_t)n - 1, &r, &why) >= 0)
			abort();
	}
	check_response(data, size);
	check_chunks(data, size);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the proxy's request parser never crashes and keeps its promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cell_http_request r;
	const char *why = NULL;
	long n = cell_http_parse_request((const char *)data, size, &r, &why);

	if ((n == CELL_HTTP_BAD || n == CELL_HTTP_TOO_MANY) && !why)
		abort();
	if (n >= 0) {
		if ((size_t)n > size || r.port == 0 || r.host[0] == '\0' || r.method_len == 0)
			abort();
		if (r.form == CELL_HTTP_ABSOLUTE &&
		    (r.path_len == 0 || (r.path[0] != '/' && r.path[0] != '?')))
			abort();
		/* a prefix of an accepted head is never accepted */
		if (n > 0 &&
		    cell_http_parse_request((const char *)data, (size_t)n - 1, &r, &why) >= 0)
			abort();
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jsonline.h"

bool cell_json_put(char *out, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= size)
		return false;
	va_start(ap, fmt);
	k = vsnprintf(out + *n, size - *n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= size - *n)
		return false;
	*n += (size_t)k;
	return true;
}

bool cell_json_put_string(char *out, size_t size, size_t *n, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (*n + 1 >= size)
		return false;
	out[(*n)++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*n + 7 >= size)
			return false;
		if (*p == '"' || *p == '\\') {
			out[(*n)++] = '\\';
			out[(*n)++] = (char)*p;
		} else if (*p < 0x20 || *p >= 0x7f) {
			/* a byte past ASCII is not known to be UTF-8 (a comm, a socket's name) */
			memcpy(out + *n, "\\u00", 4);
			out[*n + 4] = hex[*p >> 4];
			out[*n + 5] = hex[*p & 15];
			*n += 6;
		} else {
			out[(*n)++] = (char)*p;
		}
	}
	out[(*n)++] = '"';
	return true;
}

bool cell_json_put_field(char *out, size_t size, size_t *n, const char *key, const char *value)
{
	return !value || (cell_json_put(out, size, n, ",\"%s\":", key) &&
			  cell_json_put_string(out, size, n, value));
}

bool cell_json_put_time(char *out, size_t size, size_t *n, int64_t time_ms)
{
	time_t secs = (time_t)(time_ms / 1000);
	char stamp[32];
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	return cell_json_put(out, size, n, "\"%s.%03dZ\"", stamp, (int)(time_ms % 1000));
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "reqlog.h"

#define LINE_MAX_BYTES 4096

struct cell_reqlog {
	char *path;
	int fd;
	size_t size, max;
};

static int reopen(struct cell_reqlog *l)
{
	struct stat st;
	int fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = fd;
	l->size = (size_t)st.st_size;
	return 0;
}

int cell_reqlog_open(const char *path, size_t max_bytes, struct cell_reqlog **ret)
{
	struct cell_reqlog *l;
	int r = cell_mkdir_parent(path, 0700);

	if (r < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l || !(l->path = strdup(path))) {
		free(l);
		return -ENOMEM;
	}
	l->fd = -1;
	l->max = max_bytes;
	r = reopen(l);
	if (r < 0) {
		cell_reqlog_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

/* FILE.(n-1) → FILE.n, ..., FILE → FILE.1, then a new FILE. */
static int rotate(struct cell_reqlog *l)
{
	for (int i = CELL_REQLOG_KEEP; i >= 1; i--) {
		char from[4096], to[4096];

		if (i > 1)
			snprintf(from, sizeof(from), "%s.%d", l->path, i - 1);
		else
			snprintf(from, sizeof(from), "%s", l->path);
		snprintf(to, sizeof(to), "%s.%d", l->path, i);
		if (rename(from, to) < 0 && errno != ENOENT)
			return negative_errno();
	}
	return reopen(l);
}

/* Appends s as a JSON string to out[*n..size), escaped; false when it does not fit. */
static bool put_string(char *out, size_t size, size_t *n, const char *s)
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
		} else if (*p < 0x20 || *p == 0x7f) {
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

static bool put(char *out, size_t size, size_t *n, const char *fmt, ...) _printf_(4, 5);
static bool put(char *out, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(out + *n, size - *n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= size - *n)
		return false;
	*n += (size_t)k;
	return true;
}

/* "key":"value" after a comma, when value is not NULL. */
static bool put_field(char *out, size_t size, size_t *n, const char *key, const char *value)
{
	return !value || (put(out, size, n, ",\"%s\":", key) && put_string(out, size, n, value));
}

int cell_reqlog_write(struct cell_reqlog *l, const struct cell_reqlog_entry *e)
{
	char line[LINE_MAX_BYTES], stamp[32];
	time_t secs = (time_t)(e->time_ms / 1000);
	struct tm tm;
	size_t n = 0;
	bool ok;

	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	ok = put(line, sizeof(line), &n, "{\"time\":\"%s.%03dZ\",\"kind\":\"%s\"", stamp,
		 (int)(e->time_ms % 1000), e->kind) &&
	     put_field(line, sizeof(line), &n, "method", e->method) &&
	     put_field(line, sizeof(line), &n, "host", e->host) &&
	     (!e->host || put(line, sizeof(line), &n, ",\"port\":%u", e->port)) &&
	     put_field(line, sizeof(line), &n, "decision", e->decision) &&
	     put_field(line, sizeof(line), &n, "rule", e->rule) &&
	     put(line, sizeof(line), &n, ",\"status\":%d,\"up\":%llu,\"down\":%llu,\"ms\":%ld",
		 e->status, (unsigned long long)e->up, (unsigned long long)e->down,
		 e->duration_ms) &&
	     put_field(line, sizeof(line), &n, "reason", e->reason) &&
	     put(line, sizeof(line), &n, "}\n");
	if (!ok)
		return -E2BIG;
	if (l->size > 0 && l->size + n > l->max) {
		int r = rotate(l);

		if (r < 0)
			return r;
	}
	{
		int r = cell_write_all(l->fd, line, n);

		if (r < 0)
			return r;
	}
	l->size += n;
	return 0;
}

void cell_reqlog_free(struct cell_reqlog *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l);
}

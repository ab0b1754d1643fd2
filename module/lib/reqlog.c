/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "jsonline.h"
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

int cell_reqlog_append(struct cell_reqlog *l, const char *line, size_t n)
{
	int r;

	if (l->size > 0 && l->size + n > l->max) {
		r = rotate(l);
		if (r < 0)
			return r;
	}
	r = cell_write_all(l->fd, line, n);
	if (r < 0)
		return r;
	l->size += n;
	return 0;
}

static int write_entry(struct cell_reqlog *l, const struct cell_reqlog_entry *e);

/* A copy of s cut to at most max bytes (on a character's start: no half UTF-8 sequence). */
static char *cut(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (!s)
		return NULL;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return strndup(s, n);
}

int cell_reqlog_write(struct cell_reqlog *l, const struct cell_reqlog_entry *e)
{
	struct cell_reqlog_entry short_e = *e;
	_cleanup_free_ char *path = NULL, *reason = NULL, *exe = NULL;
	int r = write_entry(l, e);

	if (r != -E2BIG)
		return r;
	/* a line too long (a path of escapes: each byte a "\u00ff") is still a line: its long
	 * fields cut, never the record dropped */
	short_e.path = path = cut(e->path, 160);
	short_e.reason = reason = cut(e->reason, 160);
	short_e.exe = exe = cut(e->exe, 160);
	return write_entry(l, &short_e);
}

static int write_entry(struct cell_reqlog *l, const struct cell_reqlog_entry *e)
{
	char line[LINE_MAX_BYTES];
	size_t n = 0;
	bool ok;

	ok = cell_json_put(line, sizeof(line), &n, "{\"time\":") &&
	     cell_json_put_time(line, sizeof(line), &n, e->time_ms) &&
	     cell_json_put(line, sizeof(line), &n, ",\"kind\":\"%s\"", e->kind) &&
	     cell_json_put_field(line, sizeof(line), &n, "method", e->method) &&
	     cell_json_put_field(line, sizeof(line), &n, "path", e->path) &&
	     cell_json_put_field(line, sizeof(line), &n, "host", e->host) &&
	     (!e->host || cell_json_put(line, sizeof(line), &n, ",\"port\":%u", e->port)) &&
	     cell_json_put_field(line, sizeof(line), &n, "decision", e->decision) &&
	     cell_json_put_field(line, sizeof(line), &n, "rule", e->rule) &&
	     cell_json_put(line, sizeof(line), &n,
			   ",\"status\":%d,\"up\":%llu,\"down\":%llu,\"ms\":%ld", e->status,
			   (unsigned long long)e->up, (unsigned long long)e->down,
			   e->duration_ms) &&
	     cell_json_put_field(line, sizeof(line), &n, "reason", e->reason) &&
	     cell_json_put_field(line, sizeof(line), &n, "learn", e->learn) &&
	     cell_json_put_field(line, sizeof(line), &n, "comm", e->comm) &&
	     cell_json_put_field(line, sizeof(line), &n, "exe", e->exe) &&
	     cell_json_put(line, sizeof(line), &n, "}\n");
	if (!ok)
		return -E2BIG;
	return cell_reqlog_append(l, line, n);
}

int cell_reqlog_read(const char *path, int (*fn)(const char *line, size_t len, void *data),
		     void *data)
{
	int r = 0;

	for (int k = CELL_REQLOG_KEEP; k >= 0 && r == 0; k--) {
		_cleanup_free_ char *file = NULL, *text = NULL;
		size_t len = 0;

		if (k ? asprintf(&file, "%s.%d", path, k) < 0 : !(file = strdup(path)))
			return -ENOMEM;
		if (cell_read_file(file, 0, 64 * 1024 * 1024, &text, &len) < 0)
			continue;
		for (char *line = text, *end; r == 0 && line < text + len; line = end + 1) {
			end = memchr(line, '\n', (size_t)(text + len - line));
			if (!end)
				end = text + len;
			r = fn(line, (size_t)(end - line), data);
		}
	}
	return r;
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

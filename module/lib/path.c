/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "path.h"

char *cell_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	char *s;

	while (la > 0 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (asprintf(&s, "%.*s/%s", (int)la, a, b) < 0)
		return NULL;
	return s;
}

int cell_path_normalize(char *path)
{
	_cleanup_free_ char *copy = NULL;
	const char *in;
	char *out = path;

	if (path[0] != '/')
		return -EINVAL;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	in = copy;
	/* out never ends in a slash; an empty path stands for the root while we build. */
	*out = '\0';
	while (*in) {
		const char *seg;
		size_t len;

		while (*in == '/')
			in++;
		seg = in;
		while (*in && *in != '/')
			in++;
		len = (size_t)(in - seg);
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			char *slash = strrchr(path, '/');

			out = slash ? slash : path;
			*out = '\0';
			continue;
		}
		*out++ = '/';
		memcpy(out, seg, len);
		out += len;
		*out = '\0';
	}
	if (out == path) {
		path[0] = '/';
		path[1] = '\0';
	}
	return 0;
}

bool cell_path_is_below(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (streq(prefix, "/"))
		return path[0] == '/';
	return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const char *cell_path_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	if (!s || s[1] == '\0')
		return path;
	return s + 1;
}

void cell_path_dirname(char *path)
{
	char *s = strrchr(path, '/');

	if (s == path)
		path[1] = '\0';
	else if (s)
		*s = '\0';
	else if (path[0])
		strcpy(path, "."); /* fits: path held at least one character and its NUL */
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

void cell_strv_free(char **l)
{
	if (!l)
		return;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
}

size_t cell_strv_length(char *const *l)
{
	size_t n = 0;

	if (l)
		while (l[n])
			n++;
	return n;
}

bool cell_strv_contains(char *const *l, const char *s)
{
	for (size_t i = 0; l && l[i]; i++)
		if (streq(l[i], s))
			return true;
	return false;
}

int cell_strv_consume(char ***l, char *s)
{
	size_t n = cell_strv_length(*l);
	char **nl;

	if (!s)
		return -ENOMEM;
	nl = reallocarray(*l, n + 2, sizeof(char *));
	if (!nl) {
		free(s);
		return -ENOMEM;
	}
	nl[n] = s;
	nl[n + 1] = NULL;
	*l = nl;
	return 0;
}

int cell_strv_extend(char ***l, const char *s)
{
	return cell_strv_consume(l, strdup(s));
}

int cell_strv_extend_many(char ***l, ...)
{
	const char *s;
	va_list ap;
	int r = 0;

	va_start(ap, l);
	while (r >= 0 && (s = va_arg(ap, const char *)))
		r = cell_strv_extend(l, s);
	va_end(ap);
	return r;
}

int cell_strv_merge_unique(char ***l, char *const *other)
{
	for (size_t i = 0; other && other[i]; i++) {
		int r;

		if (cell_strv_contains(*l, other[i]))
			continue;
		r = cell_strv_extend(l, other[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

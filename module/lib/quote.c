/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "quote.h"

static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "_-+=./:,@%^";

char *cell_shell_quote(const char *s)
{
	size_t n = strlen(s), quotes = 0;
	char *out, *o;

	if (n > 0 && strspn(s, plain) == n && s[0] != '=')
		return strdup(s);
	for (const char *p = s; *p; p++)
		quotes += *p == '\'';
	out = malloc(n + 3 * quotes + 3);
	if (!out)
		return NULL;
	o = out;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			/* close, an escaped quote, reopen */
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

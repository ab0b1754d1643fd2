/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

void cell_diag_clear(struct cell_diag *d)
{
	free(d->file);
	free(d->json_path);
	free(d->message);
	free(d->excerpt);
	*d = (struct cell_diag){0};
}

int cell_diag_set(struct cell_diag *d, int r, const char *file, const char *json_path,
		  const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return r;
	cell_diag_clear(d);
	d->file = file ? strdup(file) : NULL;
	d->json_path = json_path && *json_path ? strdup(json_path) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&d->message, fmt, ap) < 0)
		d->message = NULL;
	va_end(ap);
	return r;
}

void cell_diag_locate(struct cell_diag *d, const char *text, size_t len, size_t offset)
{
	size_t line_start = 0, line_end;
	unsigned line = 1, column = 1;

	size_t start = 0;

	if (!d || offset > len)
		return;
	/* a UTF-8 byte order mark takes no column */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 && offset >= 3)
		start = line_start = 3;
	for (size_t i = start; i < offset; i++) {
		if (text[i] == '\n') {
			line++;
			column = 1;
			line_start = i + 1;
		} else if (((unsigned char)text[i] & 0xC0) != 0x80) {
			/* count characters, not UTF-8 continuation bytes */
			column++;
		}
	}
	line_end = line_start;
	while (line_end < len && text[line_end] != '\n' && text[line_end] != '\r')
		line_end++;
	d->line = line;
	d->column = column;
	free(d->excerpt);
	d->excerpt = strndup(text + line_start, line_end - line_start);
}

char *cell_diag_format(const struct cell_diag *d)
{
	char where[64] = "";
	char *s;

	if (d->line > 0)
		snprintf(where, sizeof(where), ":%u:%u", d->line, d->column);
	if (asprintf(&s, "%s%s%s%s%s%s", d->file ? d->file : "", where, d->file ? ": " : "",
		     d->json_path ? d->json_path : "", d->json_path ? ": " : "",
		     d->message ? d->message : "out of memory") < 0)
		return NULL;
	return s;
}

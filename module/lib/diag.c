/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
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

/*
 * The length of the UTF-8 character at p and whether it may be shown: not a C0 or C1 control
 * (ESC, the 8-bit CSI), not DEL, not a bidi control that would make the line read otherwise;
 * a byte that starts no valid character is one character that may not.
 */
static size_t utf8_char(const unsigned char *p, bool *ret_ok)
{
	size_t n = p[0] < 0x80		   ? 1
		   : (p[0] & 0xE0) == 0xC0 ? 2
		   : (p[0] & 0xF0) == 0xE0 ? 3
		   : (p[0] & 0xF8) == 0xF0 ? 4
					   : 0;
	uint32_t c = n == 1 ? p[0] : n == 2 ? p[0] & 0x1F : n == 3 ? p[0] & 0x0F : p[0] & 0x07;

	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80) {
			n = 0;
			break;
		}
		c = (c << 6) | (p[i] & 0x3F);
	}
	if (n == 0) {
		*ret_ok = false;
		return 1;
	}
	*ret_ok = !((c < 0x20 && c != '\t') || (c >= 0x7f && c <= 0x9f) ||
		    (c >= 0x200e && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
		    (c >= 0x2066 && c <= 0x2069));
	return n;
}

void cell_diag_put_safe(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		bool ok;
		size_t n = utf8_char(p, &ok);

		if (ok)
			fwrite(p, 1, n, f);
		else
			fputc('?', f);
		p += n;
	}
}

void cell_diag_print(FILE *f, const struct cell_diag *d)
{
	_cleanup_free_ char *s = cell_diag_format(d);
	unsigned col = 1;

	/* a message may quote the file (a key, a value: devenv.yaml's double quotes decode
	 * escapes), so it is shown as the excerpt is */
	fputs("cell: ", f);
	cell_diag_put_safe(f, s ? s : "out of memory");
	fputc('\n', f);
	if (!d->excerpt || d->line == 0)
		return;
	fprintf(f, "%5u | ", d->line);
	/* the excerpt is the file's own bytes (a file a cell may write): nothing in it may drive
	 * the terminal or reorder the line */
	cell_diag_put_safe(f, d->excerpt);
	fputs("\n      | ", f);
	/* the caret line copies tabs so it lines up with the excerpt in any terminal */
	for (const char *p = d->excerpt; *p && col < d->column; p++) {
		if (((unsigned char)*p & 0xC0) == 0x80)
			continue;
		fputc(*p == '\t' ? '\t' : ' ', f);
		col++;
	}
	fputs("^\n", f);
}

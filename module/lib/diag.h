/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

#include "macro.h"

/*
 * Words for the user about bad input: which file, where in it, which JSON value, and what was
 * expected. Library functions that reject input fill one and return a negative errno.
 */
struct cell_diag {
	char *file;	 /* the file at fault, or NULL */
	unsigned line;	 /* 1-based; 0 when unknown */
	unsigned column; /* 1-based, in characters; 0 when unknown */
	char *json_path; /* "network.allow[2]", or NULL */
	char *message;	 /* what is wrong and what was expected */
	char *excerpt;	 /* the offending source line, for a caret display, or NULL */
};

void cell_diag_clear(struct cell_diag *d);
/* Replaces d's contents; returns r. file and json_path may be NULL. */
int cell_diag_set(struct cell_diag *d, int r, const char *file, const char *json_path,
		  const char *fmt, ...) _printf_(5, 6);
/* Sets line, column and excerpt from a byte offset into text. */
void cell_diag_locate(struct cell_diag *d, const char *text, size_t len, size_t offset);
/* "FILE:LINE:COL: PATH: MESSAGE", leaving out the parts that are unknown. */
char *cell_diag_format(const struct cell_diag *d);

static inline void cell_diag_clearp(struct cell_diag *d)
{
	cell_diag_clear(d);
}
#define _cleanup_diag_ _cleanup_(cell_diag_clearp)

/* Writes s to f with what may not be shown (controls, ESC, bidi controls, bytes that start no
 * UTF-8 character) as '?': the text of a file a cell may have written drives no terminal. */
void cell_diag_put_safe(FILE *f, const char *s);
/* "cell: MESSAGE" on f, and the excerpt with a caret under the column, each made safe. */
void cell_diag_print(FILE *f, const struct cell_diag *d);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "config.h"
#include "diag.h"

/*
 * A dotenv file (env.files): one KEY=value a line, as docker compose, python-dotenv and direnv's
 * dotenv read them.
 *
 *   # a comment              blank lines and comments are skipped
 *   export KEY=value         "export " in front is allowed
 *   KEY=value # comment      unquoted: surrounding blanks go; " #" starts a comment
 *   KEY='literal $x \n'      single quotes: exactly what is between them
 *   KEY="a\nb \"q\" \\ $x"   double quotes: \n \t \r \" \\ \$ are escapes; nothing is expanded
 *   KEY=                     an empty value
 *
 * No variable is expanded and nothing is run: a value is a value. Parsed from text (NUL at len);
 * file names the file in errors (file:line: what was expected). At most CELL_DOTENV_VARS_MAX
 * variables (-E2BIG past them).
 */
/* The most variables one file may set. */
#define CELL_DOTENV_VARS_MAX 4096

int cell_dotenv_parse(const char *file, const char *text, size_t len, struct cell_kv **ret,
		      size_t *ret_n, struct cell_diag *diag);
void cell_dotenv_free(struct cell_kv *kv, size_t n);
/*
 * Reads and parses the project's dotenv file path (relative to root) as cell_dotenv_parse does.
 * The file must be in the project once links are resolved (a cell may write the project: a
 * link to a file of the user's outside would bring its variables in), a regular file (not a
 * FIFO that would hold cell up) of at most 1 MiB. -ENOENT, with diag untouched, when there is
 * none.
 */
int cell_dotenv_load(const char *root, const char *path, struct cell_kv **ret, size_t *ret_n,
		     struct cell_diag *diag);
/*
 * Whether name may come from a project's file (a dotenv file or a provider): not LD_PRELOAD,
 * LD_AUDIT or LD_LIBRARY_PATH (what a program loads is not the project's to say), not CELL_*
 * (cell's own), not a proxy variable (the cell's proxy is cell's). NULL if it may; else why not.
 */
const char *cell_dotenv_refused(const char *name);

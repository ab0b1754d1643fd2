/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * A project's ledger: an append-only JSON Lines file, one record per line
 * ($XDG_STATE_HOME/cell/projects/ID/ledger.jsonl). Appends take an exclusive flock and write
 * the whole line with one O_APPEND write, so concurrent writers (cells, proxies) never
 * interleave or lose records; a line left unterminated by a writer that died mid-write is
 * closed off first, so it cannot swallow the next record.
 */
int cell_ledger_path(const char *project_id, char **ret);
/* Appends one record; line is a single line of JSON without its newline. */
int cell_ledger_append(const char *path, const char *line);
/*
 * Calls fn for each complete line (without its newline), under a shared lock; stops early when
 * fn returns non-zero and returns that. A missing ledger has no lines.
 */
int cell_ledger_read(const char *path, int (*fn)(const char *line, size_t len, void *data),
		     void *data);

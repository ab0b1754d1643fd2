/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A project's ledger: an append-only JSON Lines file, one record per line
 * ($XDG_STATE_HOME/cell/projects/ID/ledger.jsonl). Appends take an exclusive flock and write
 * the whole line with one O_APPEND write, so concurrent writers (cells, proxies) never
 * interleave or lose records; a line left unterminated by a writer that died mid-write is
 * closed off first, so it cannot swallow the next record.
 */
int cell_ledger_path(const char *project_id, char **ret);
/*
 * Appends one record; line is a single line of JSON without its newline. A record written
 * counts as appended even if fdatasync then fails (writing it again would count it twice).
 */
int cell_ledger_append(const char *path, const char *line);
/* cell_ledger_append, but -EWOULDBLOCK rather than wait while someone holds the lock. */
int cell_ledger_try_append(const char *path, const char *line);

/*
 * A writer that appends in a thread of its own, for an event loop that must never wait for the
 * ledger's lock (a reader such as `cell stats` holds it while it reads; in a login's cell, the
 * cell's own processes can) or for the disk: cell_ledger_writer_add queues a copy of the line
 * and returns at once, -EAGAIN when CELL_LEDGER_QUEUE_MAX records wait already (keep the counts
 * and add them to the next record); the thread appends the lines in order, trying a record it
 * could not append again (every 50 ms while the lock is held, every retry_ms after an error).
 * cell_ledger_writer_free stops the thread once what is queued is written, or after finish_ms,
 * and returns how many records it could not write (0: all are in the ledger). The thread
 * takes no signals.
 */
#define CELL_LEDGER_QUEUE_MAX 8
struct cell_ledger_writer;
int cell_ledger_writer_new(const char *path, int retry_ms, int finish_ms,
			   struct cell_ledger_writer **ret);
int cell_ledger_writer_add(struct cell_ledger_writer *w, const char *line);
size_t cell_ledger_writer_free(struct cell_ledger_writer *w);
/*
 * Calls fn for each complete line (without its newline), under a shared lock; stops early when
 * fn returns non-zero and returns that. A missing ledger has no lines.
 */
int cell_ledger_read(const char *path, int (*fn)(const char *line, size_t len, void *data),
		     void *data);
/*
 * Where the records that ended at since or later begin, about: an offset at a line's start
 * before which every record ended more than an hour before since (records are appended about
 * in the order they end); a binary search, a few dozen reads however long the ledger.
 */
int cell_ledger_seek(const char *path, int64_t since, uint64_t *ret);
/*
 * cell_ledger_read, but from byte *offset on, and *offset moved past the last complete line
 * read (a line still being written is read by the next call): a reader that follows the
 * ledger. -ESTALE when the ledger is shorter than *offset (it was replaced: read it from 0);
 * without wait, -EWOULDBLOCK when a writer holds the lock (try again later).
 */
int cell_ledger_read_from(const char *path, uint64_t *offset, bool wait,
			  int (*fn)(const char *line, size_t len, void *data), void *data);

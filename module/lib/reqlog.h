/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * The proxy's request log: one JSON line per request or tunnel, appended to a file
 * ($XDG_STATE_HOME/cell/projects/ID/proxy.log next to the ledger) that is rotated by size:
 * past max_bytes, FILE.1 becomes FILE.2, FILE becomes FILE.1, and a new FILE starts. Only the
 * project's proxy writes it; lines are written whole with one O_APPEND write.
 */
struct cell_reqlog;

#define CELL_REQLOG_KEEP 2 /* rotated files kept */

struct cell_reqlog_entry {
	int64_t time_ms;    /* wall clock, when the request came */
	const char *kind;   /* "request" or "tunnel" */
	const char *method; /* NULL for a tunnel */
	const char *path;   /* a request's path, when the proxy saw it (plain HTTP, inspected) */
	const char *host;   /* NULL when the request named none */
	uint16_t port;
	const char *decision; /* "allowed", "denied", "failed" (upstream), "bad" (request) */
	const char *rule;     /* the rule that decided, or NULL */
	int status;	      /* what the client got: 200 for a tunnel, 0 if nothing */
	uint64_t up, down;    /* bytes to and from the upstream */
	long duration_ms;
	const char *reason; /* for what was not allowed or failed, or NULL */
	/* cell learn's cell: "record" or "permissive" (NULL: not one), and the process that
	 * connected as the kernel knew it then (its comm, its executable), NULL if not known */
	const char *learn;
	const char *comm, *exe;
};

/* Opens (creating it and its directory) the log at path. */
int cell_reqlog_open(const char *path, size_t max_bytes, struct cell_reqlog **ret);
/* Appends a whole line (n bytes, its newline included), rotating first if it would pass
 * max_bytes. */
int cell_reqlog_append(struct cell_reqlog *l, const char *line, size_t n);
/* Appends the entry's line, rotating first if it would pass max_bytes. */
int cell_reqlog_write(struct cell_reqlog *l, const struct cell_reqlog_entry *e);
void cell_reqlog_free(struct cell_reqlog *l);
/* Calls fn for each line of the log at path and of its rotated files, oldest first; stops
 * early when fn returns non-zero and returns that (a file that cannot be read is skipped). */
int cell_reqlog_read(const char *path, int (*fn)(const char *line, size_t len, void *data),
		     void *data);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/*
 * Validating a JSON document against a schema written as code: a walker keeps the path to the
 * value in hand (pushing a segment per object member or array element it enters), and every
 * failure becomes a diag with the file, the line and column of that value (or key), the JSON
 * path ("network.allow[2]") and the message.
 */
struct cell_schema_segment {
	const char *key; /* object member name, or NULL for an array element */
	int index;	 /* array index, or -1 */
	size_t ordinal;	 /* position among its siblings, to find it in the text */
};

#define CELL_SCHEMA_DEPTH 8
/* No list or map may be longer: a config is written by hand, and each entry is checked against
 * the earlier ones. */
#define CELL_SCHEMA_MAX_ITEMS 1024

struct cell_schema {
	const char *file;
	const char *text;
	size_t len;
	struct cell_diag *diag;
	struct cell_schema_segment segs[CELL_SCHEMA_DEPTH];
	size_t depth;
};

/*
 * Parses text (NUL-terminated at len; a UTF-8 byte order mark is skipped) into *ret. Syntax
 * errors, an empty document and NUL bytes fill s->diag with the place and a hint; -EINVAL.
 */
int cell_schema_parse(struct cell_schema *s, cJSON **ret);

void cell_schema_push(struct cell_schema *s, const char *key, int index, size_t ordinal);
/* Fails at the current path (at its key with at_key): fills s->diag, returns -EINVAL. */
int cell_schema_fail(struct cell_schema *s, bool at_key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "FILE: PATH", the origin of whatever is at the current path. */
char *cell_schema_origin(const struct cell_schema *s);
/* The same with the value's line and column: "FILE:LINE:COL: network.allow[2]" (free it). */
char *cell_schema_origin_at(const struct cell_schema *s);
/* Fails with "expected WHAT, got TYPE" unless is(v). */
int cell_schema_expect(struct cell_schema *s, const cJSON *v, cJSON_bool (*is)(const cJSON *),
		       const char *what);
/* A known member of an object and what to do with it; apply runs with the path at the member. */
struct cell_schema_member {
	const char *key;
	int (*apply)(struct cell_schema *s, const cJSON *v);
};

/* v must be an object (what) of only these members, each once; each applies in document order. */
int cell_schema_members(struct cell_schema *s, const cJSON *v, const char *what,
			const struct cell_schema_member *members, size_t n);
/* v must be an array (what); fn runs for each element, with the path at it. */
int cell_schema_elements(struct cell_schema *s, const cJSON *v, const char *what,
			 int (*fn)(struct cell_schema *s, const cJSON *item));
/* v must be an object (what) with keys of its own choosing, each once; fn runs for each. */
int cell_schema_map(struct cell_schema *s, const cJSON *v, const char *what,
		    int (*fn)(struct cell_schema *s, const cJSON *item));
/* A string that must be one of names: its index in *ret. */
int cell_schema_get_enum(struct cell_schema *s, const cJSON *v, const char *const *names, size_t n,
			 const char *what, int *ret);
/* A whole number in [min, max]. */
int cell_schema_get_int(struct cell_schema *s, const cJSON *v, double min, double max,
			const char *what, double *ret);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* NULL-terminated string vectors; a NULL vector is the empty vector. */
void cell_strv_free(char **l);
size_t cell_strv_length(char *const *l);
bool cell_strv_contains(char *const *l, const char *s);
/* Appends s, taking ownership of it (freed on failure too). */
int cell_strv_consume(char ***l, char *s);
/* Appends a copy of s. */
int cell_strv_extend(char ***l, const char *s);
/* Appends copies of each string argument up to a NULL. */
int cell_strv_extend_many(char ***l, ...) __attribute__((sentinel));
/* Appends copies of those strings of `other` not already in *l. */
int cell_strv_merge_unique(char ***l, char *const *other);

static inline void cell_strv_freep(char ***l)
{
	cell_strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(cell_strv_freep)

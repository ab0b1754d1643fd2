/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/* a + "/" + b, with exactly one slash between them; NULL on allocation failure. */
char *cell_path_join(const char *a, const char *b);
/*
 * Lexically normalises an absolute path in place: "//" and "/./" collapse, "x/.." drops x,
 * ".." at the root stays at the root, no trailing slash. Returns -EINVAL for a relative path.
 */
int cell_path_normalize(char *path);
/* Whether path is prefix itself or lies below it (both normalised, absolute). */
bool cell_path_is_below(const char *path, const char *prefix);
/* The last component of a normalised path ("/" for "/"). Points into path. */
const char *cell_path_basename(const char *path);
/* Cuts a normalised path to its parent in place: "/a/b" → "/a", "/a" → "/", "a" → ".". */
void cell_path_dirname(char *path);

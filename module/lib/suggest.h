/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * The candidate closest to word, for "did you mean": within one edit for words of up to three
 * characters, two edits otherwise, ignoring case; NULL when none is that close. NULL candidates
 * are skipped.
 */
const char *cell_suggest(const char *word, const char *const *candidates, size_t n);
/* "a, b, c"; NULL on allocation failure. */
char *cell_join_words(const char *const *words, size_t n);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/* "4G", "512M", "1.5G" (binary units, an optional "B" or "iB"), or digits alone: bytes, at most
 * 2^53. -EINVAL for anything else. */
int cell_size_parse(const char *s, uint64_t *ret);
/* Digits alone, at most 2^53. */
int cell_count_parse(const char *s, uint64_t *ret);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#define CELL_SHA256_HEX_LEN 64

/* SHA-256 of the concatenation of n (data, len) pieces, as lowercase hex (65 bytes with NUL). */
struct cell_hash_piece {
	const void *data;
	size_t len;
};
int cell_sha256_hex(const struct cell_hash_piece *pieces, size_t n,
		    char ret[CELL_SHA256_HEX_LEN + 1]);

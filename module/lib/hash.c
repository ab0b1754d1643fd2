/* SPDX-License-Identifier: MIT */
#include <nettle/sha2.h>
#include <stdio.h>

#include "hash.h"

/*
 * Nettle rather than libcrypto: same algorithm, no library-wide initialisation (OpenSSL reads
 * its config file on first use, most of a millisecond on every cell start).
 */
int cell_sha256_hex(const struct cell_hash_piece *pieces, size_t n,
		    char ret[CELL_SHA256_HEX_LEN + 1])
{
	struct sha256_ctx ctx;
	uint8_t md[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	for (size_t i = 0; i < n; i++)
		sha256_update(&ctx, pieces[i].len, pieces[i].data);
	sha256_digest(&ctx, sizeof(md), md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(ret + 2 * i, 3, "%02x", md[i]);
	return 0;
}

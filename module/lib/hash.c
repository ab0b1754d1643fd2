/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>

#include "hash.h"

int cell_sha256_hex(const struct cell_hash_piece *pieces, size_t n,
		    char ret[CELL_SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, pieces[i].data, pieces[i].len);
	ok = ok && EVP_DigestFinal_ex(ctx, md, &md_len);
	EVP_MD_CTX_free(ctx);
	if (!ok || md_len != 32)
		return -EIO;
	for (unsigned i = 0; i < md_len; i++)
		snprintf(ret + 2 * i, 3, "%02x", md[i]);
	return 0;
}

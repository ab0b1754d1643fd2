/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the dotenv parser (a file a cell may write, read outside it) never crashes,
 * fails with a located message or gives names that are names and values without NUL bytes,
 * and gives the same for the same text.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct cell_kv *kv = NULL, *again = NULL;
	struct cell_diag d = {0};
	size_t n = 0, n2 = 0;
	int r;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	r = cell_dotenv_parse(".env", text, size, &kv, &n, &d);
	if (r < 0) {
		if (!d.message || !d.file)
			abort();
	} else {
		for (size_t i = 0; i < n; i++) {
			const char *k = kv[i].key;

			if (!*k || isdigit((unsigned char)k[0]) || !kv[i].value)
				abort();
			for (; *k; k++)
				if (!isalnum((unsigned char)*k) && *k != '_')
					abort();
		}
		if (cell_dotenv_parse(".env", text, size, &again, &n2, &d) < 0 || n2 != n)
			abort();
		for (size_t i = 0; i < n; i++)
			if (strcmp(kv[i].key, again[i].key) || strcmp(kv[i].value, again[i].value))
				abort();
	}
	cell_dotenv_free(kv, n);
	cell_dotenv_free(again, n2);
	cell_diag_clear(&d);
	free(text);
	return 0;
}

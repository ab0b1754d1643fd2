/* SPDX-License-Identifier: MIT */
/* libFuzzer target: a hostile .cell.json never crashes the loader, and errors always say why. */
#include <stdint.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cell_config_env env = {"/home/u", "u", "/run/user/1000"};
	struct cell_config *c = NULL;
	struct cell_diag d = {0};
	char *text = malloc(size + 1);
	int r;

	if (!text || cell_config_new(&c) < 0)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	r = cell_config_apply(c, "/p/.cell.json", text, size, "/p", &env, &d);
	if (r >= 0)
		r = cell_config_finish(c, "/p", &env, &d);
	if (r < 0 && r != -ENOMEM && !d.message)
		abort();
	cell_diag_clear(&d);
	cell_config_free(c);
	free(text);
	return 0;
}

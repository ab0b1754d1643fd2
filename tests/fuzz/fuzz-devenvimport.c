/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a hostile devenv.yaml (a cloned project's) never crashes cell import devenv;
 * it fails with a message that says where, or gives a .cell.json, the same for the same text.
 * A NUL-NUL pair splits the input into the user's file and the project's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devenvimport.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int convert(const char *text, size_t size, struct cell_devenvimport_result *ret,
		   struct cell_diag *d)
{
	static const struct cell_config_env env = {"/home/u", "u", "/run/user/1000"};
	static char *const envp[] = {"HOME=/home/u", "A=/a", "B=$x", "C=\x1b", NULL};
	const char *split = memmem(text, size, "\0\0", 2);
	size_t n_user = split ? (size_t)(split - text) : 0;
	struct cell_devenvimport_file files[] = {
		{"/home/u/.config/devenv/devenv.yaml", split ? text : NULL, n_user, false},
		{"/p/devenv.yaml", split ? split + 2 : text, split ? size - n_user - 2 : size,
		 true},
	};

	return cell_devenvimport_convert(files, 2, envp, "/p", &env, ret, d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cell_devenvimport_result res = {0}, again = {0};
	struct cell_diag d = {0};
	char *text = malloc(size + 1);
	int r;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	r = convert(text, size, &res, &d);
	if (r == -EINVAL && (!d.message || !d.file))
		abort();
	if (r < 0 && r != -ENOMEM && !d.message)
		abort();
	if (r >= 0 && (!res.json || convert(text, size, &again, &d) < 0 ||
		       strcmp(res.json, again.json) != 0 ||
		       cell_strv_length(res.notes) != cell_strv_length(again.notes)))
		abort();
	cell_devenvimport_result_done(&res);
	cell_devenvimport_result_done(&again);
	cell_diag_clear(&d);
	free(text);
	return 0;
}

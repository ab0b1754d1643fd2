/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"

/*
 * Expands a path from a config: a leading "~" or "~/", $HOME, $USER, $XDG_RUNTIME_DIR (also as
 * ${NAME}), and a leading "./" or "." (relative to project_root). The result is absolute and
 * lexically normalised ("./../x" is allowed and shows as the real parent path).
 * Returns 0, -EINVAL for a path that can't be expanded (unknown variable, relative path, "~user"),
 * or -ENXIO when a variable it names is unset; *ret_why then says why in words.
 */
int cell_expand_path(const char *in, const char *project_root, const struct cell_config_env *env,
		     char **ret, char **ret_why);

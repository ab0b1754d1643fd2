/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"

#define CELL_PROVIDER_READ_MAX 256

/*
 * The files a provider says it read, beyond its own input files, for the cache's key: direnv's
 * DIRENV_WATCHES in its output (base64url of zlib of [{"Path": ...}]: what the .envrc sourced
 * or watched), devenv's .devenv/input-paths.txt (one path a line). Absolute paths only, at most
 * CELL_PROVIDER_READ_MAX; NULL (and 0) when it says nothing, or nothing readable.
 */
int cell_provider_read_list(enum cell_env_provider p, const char *root, const char *output,
			    char ***ret);

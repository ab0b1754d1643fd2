/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "config.h"

#define CELL_DETECT_MAX 8

/* What a project's files say it is, for cell init. */
struct cell_detected {
	const char *presets[CELL_DETECT_MAX]; /* each once, in the order found */
	size_t n_presets;
	enum cell_env_provider provider; /* as env.provider "auto" would pick; NONE: none */
	const char *notes[CELL_DETECT_MAX];
	size_t n_notes;
};

/*
 * Looks at the files at the top of the directory dirfd (root is its path): package.json,
 * pyproject.toml, Cargo.toml, go.mod, flake.nix, devenv.nix, devenv.yaml, devbox.json, ... give
 * presets; devenv.nix's languages.NAME.enable = true give the language's preset; the provider is
 * the one env.provider "auto" picks.
 */
int cell_detect(int dirfd, const char *root, struct cell_detected *ret);

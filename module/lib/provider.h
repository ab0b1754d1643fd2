/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "diag.h"

/*
 * The project's dev environment, evaluated outside the cell by the user's own tools (devenv,
 * nix, direnv, mise) for a trusted config, cached, and applied inside (docs/design.md §7):
 * nothing a provider prints runs outside; its variables go into the cell's environment and its
 * shell hook runs in the cell.
 */

/* The i-th of the files the providers evaluate (at the project root), NULL past the last: they
 * join the trust hash, and the cell gets them read-only. */
const char *cell_provider_input(size_t i);
/* How many there are at most (for callers' arrays). */
#define CELL_PROVIDER_INPUTS_MAX 24

/* What a provider gave. */
struct cell_provider_env {
	enum cell_env_provider provider; /* the one that gave it; CELL_PROVIDER_NONE: nothing */
	struct cell_kv *vars;		 /* exported variables (not PATH) */
	size_t n_vars;
	char *path;	  /* PATH entries it puts first ("a:b"), or NULL */
	char *shell_hook; /* nix's and devenv's shellHook, run in the cell; or NULL */
	char **unset;	  /* what direnv's .envrc unset (its null), NULL-terminated; or NULL */
	bool cached;	  /* from the cache (no provider ran) */
};

struct cell_provider_request {
	const char *root;      /* the project */
	const char *state_dir; /* its state ($XDG_STATE_HOME/cell/projects/ID): env.json */
	const char *home;      /* the user's, for the provider's binary in ~/.nix-profile/bin */
	const char *bwrap;     /* bubblewrap: the provider runs in its sandbox (providercell.h) */
	char *const *environ;  /* the environment outside, what the provider gets of it */
	enum cell_env_provider provider; /* env.provider */
	bool required;			 /* env.required */
	bool refresh;			 /* evaluate even if the cache is fresh */
	bool cache_only;		 /* never run a provider (cell explain) */
	unsigned timeout_ms;		 /* 0: the default, 5 minutes */
};

/* The provider for a project: configured, or with auto the first whose file is there
 * (devenv.nix: devenv, flake.nix: nix, .envrc: direnv, mise.toml, .mise.toml or
 * .tool-versions: mise); CELL_PROVIDER_NONE if none. */
enum cell_env_provider cell_provider_pick(const char *root, enum cell_env_provider configured);
/* Where the provider's program is, from fixed directories only (never $PATH or the project);
 * NULL if it is not installed. */
char *cell_provider_find(enum cell_env_provider p, const char *home);

/*
 * The project's environment: the cache's when the provider's program and input files are what
 * they were (checked by their metadata, then by their bytes), else the provider run, as the
 * user, with stdin /dev/null, a timeout and its output capped, and cached. A provider that is
 * missing or fails gives nothing (and with a cache, the last good environment) and a notice in
 * *ret_notice (NULL if none); with req->required it is an error instead (diag says why).
 */
int cell_provider_env(const struct cell_provider_request *req, struct cell_provider_env *ret,
		      char **ret_notice, struct cell_diag *diag);
void cell_provider_env_done(struct cell_provider_env *e);

/*
 * A provider's output (stdout), parsed: nix and devenv give {"variables": {NAME: {"type":
 * "exported", "value": ...}}}, direnv and mise {NAME: value}; base_path is the PATH the
 * provider was given (direnv's and mise's PATH puts entries before it).
 */
int cell_provider_parse(enum cell_env_provider p, const char *json, size_t len,
			const char *base_path, struct cell_provider_env *ret);

/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"

/*
 * The sandbox a provider runs in, outside the cell. A provider evaluates the project's files
 * (an .envrc and what it sources, mise's templates, nix expressions), some of which a cell may
 * have written; so it sees the host read-only, without the home's credentials and the user's
 * runtime directory (the session bus, agents' sockets), in namespaces of its own, and writes
 * only to its own places: the nix store and the nix, direnv, mise and devenv state in the home,
 * the project's .direnv and .devenv, and the project's cell state for nix's profile. It keeps
 * the network (nix fetches flake inputs itself).
 */
struct cell_provider_cell {
	const char *bwrap;	 /* bubblewrap */
	const char *home;	 /* the user's */
	const char *runtime_dir; /* $XDG_RUNTIME_DIR, or NULL */
	const char *tmpdir;	 /* $TMPDIR, or NULL */
	const char *root;	 /* the project */
	const char *nix_state;	 /* the project's cell state for nix (its --profile): written */
};

/* bwrap's argv for running command (argv[0] an absolute path) there; NULL-terminated. */
int cell_provider_cell_argv(const struct cell_provider_cell *in, char *const *command, char ***ret);

/* Makes the places provider p writes that are not there yet (as it would make them itself): in
 * the sandbox it could not. */
int cell_provider_cell_prepare(const struct cell_provider_cell *in, enum cell_env_provider p);

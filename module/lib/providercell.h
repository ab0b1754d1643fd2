/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"

/*
 * The sandbox a provider runs in, outside the cell. A provider evaluates the project's files
 * (an .envrc and what it sources, mise's templates, nix expressions), some of which a cell may
 * have written; so it sees the host read-only, an empty home but for the providers' own
 * settings (read-only: direnv's allow list and mise's trust list stay the user's to change), no
 * runtime directory (the session bus, agents' sockets, a terminal multiplexer's), an empty /tmp,
 * in namespaces and a session of its own. It writes only its directory in the project's cell
 * state (its caches, nix's profile), the running provider's own directory in the project
 * (.direnv, .devenv), and /nix (a single-user nix writes its store itself). It keeps the network
 * (nix fetches flake inputs itself).
 */
struct cell_provider_cell {
	const char *bwrap;	 /* bubblewrap */
	const char *home;	 /* the user's */
	const char *config_home; /* $XDG_CONFIG_HOME, or NULL: ~/.config */
	const char *data_home;	 /* $XDG_DATA_HOME, or NULL: ~/.local/share */
	const char *state_home;	 /* $XDG_STATE_HOME, or NULL: ~/.local/state */
	const char *runtime_dir; /* $XDG_RUNTIME_DIR, or NULL */
	const char *root;	 /* the project */
	const char *state;	 /* the provider's directory in the project's cell state: written */
	int project_dir_fd;	 /* the provider's own directory in the project (O_PATH), or -1 */
	const char *project_dir; /* and its path */
};

/*
 * Makes the state directory and the running provider's own directory in the project (as it
 * would make it itself: in the sandbox it could not), and opens the latter without following a
 * link (a cell could have made one) into *ret_fd (-1 for a provider without one). -ELOOP if it
 * is not a directory.
 */
int cell_provider_cell_prepare(const struct cell_provider_cell *in, enum cell_env_provider p,
			       int *ret_fd, const char **ret_dir);

/* bwrap's argv for running command (argv[0] an absolute path) there; NULL-terminated.
 * in->project_dir_fd must stay open (and be inherited) until bwrap has started. */
int cell_provider_cell_argv(const struct cell_provider_cell *in, char *const *command, char ***ret);

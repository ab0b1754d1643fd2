/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "diag.h"

/*
 * cell import devenv: devenv's sandbox settings (the `sandbox:` section of devenv.yaml) made
 * into a .cell.json for the user to review and `cell allow`. Pure: texts in, text out; nothing
 * here reads a file or the process's environment.
 *
 * The files are read in order (the user's devenv.yaml, the project's devenv.yaml, its
 * devenv.local.yaml): a later file's enable and network.enable replace an earlier one's, mounts
 * append. The shape read, each key optional but a mount's path; any other key is an error:
 *
 *   sandbox:
 *     enable: BOOL
 *     network: {enable: BOOL}
 *     mounts:
 *       - {path: P, dest: P, mode: M, optional: BOOL, canonicalize: BOOL, late: BOOL}
 *
 * M: read-only|ro, read-write|rw, device|dev, tmpfs, overlay, overlay-tmpfs (an ephemeral
 * overlay), overlay-ro (a read-only bind: cell has no read-only overlay), state-dir.
 */

struct cell_devenvimport_file {
	const char *path; /* for messages */
	const char *text; /* NUL-terminated at len; NULL: the file does not exist */
	size_t len;
	bool project; /* the project's own (not the user's): one of these must have sandbox: */
};

struct cell_devenvimport_result {
	char *json;   /* the .cell.json text, pretty, already accepted by cell's config parser */
	char **notes; /* strv: what did not carry over as it was, and why; "FILE:LINE: ..." */
};

/*
 * Converts files[0..n) into a .cell.json for the project at project_root (its default name,
 * presets ["nix"], env.provider devenv). $VAR and ${VAR} in paths expand from envp
 * ("NAME=value" strings, NULL-terminated); a leading $HOME becomes ~. The text is checked with
 * cell_config_apply() as project_root/.cell.json, expanding with env.
 * Returns 0 and fills *ret; -EINVAL with diag at the YAML file, line and column (a syntax error,
 * a key or value devenv's sandbox does not have, an unset variable, a mount cell's config
 * refuses); -ENOENT with diag when no project file exists or none has `sandbox:`; -ENOMEM.
 */
int cell_devenvimport_convert(const struct cell_devenvimport_file *files, size_t n,
			      char *const *envp, const char *project_root,
			      const struct cell_config_env *env,
			      struct cell_devenvimport_result *ret, struct cell_diag *diag);
void cell_devenvimport_result_done(struct cell_devenvimport_result *r);

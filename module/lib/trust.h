/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "hash.h"
#include "project.h"

/*
 * Trust, as in direnv: a project's config takes effect only while a record of
 * sha256(real path of the config + NUL + its bytes) exists in the allow directory
 * ($XDG_DATA_HOME/cell/allow). Editing the file or moving it changes the hash, so the config is
 * untrusted until allowed again. A record holds the config's path, so deny can find them all.
 */
int cell_trust_dir(char **ret);
int cell_trust_hash(const struct cell_project *p, char ret[CELL_SHA256_HEX_LEN + 1]);
int cell_trust_check(const char *allow_dir, const struct cell_project *p, bool *ret_trusted);
/* Records the project's current bytes as trusted; older records for the same path are dropped. */
int cell_trust_allow(const char *allow_dir, const struct cell_project *p);
/* Removes every record for config_path; the number removed goes to *ret_removed (may be NULL). */
int cell_trust_deny(const char *allow_dir, const char *config_path, unsigned *ret_removed);

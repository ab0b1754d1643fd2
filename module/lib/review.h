/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "config.h"

/*
 * What someone about to allow a config should be told (cell allow, cell explain): what in it
 * weakens the cell, and a line of what it opens.
 */

/*
 * Appends to *warnings (a strv) a sentence for each thing in c that weakens the cell: the
 * network unfiltered, a bind of / or of home (rw: more so), a bind that exposes a directory of
 * credentials below home (~/.ssh, ~/.aws, ...), the nix daemon, relaxed hardening, raw bubblewrap
 * arguments. home: the user's ($HOME), or NULL.
 */
int cell_review_warnings(const struct cell_config *c, const char *home, char ***warnings);

/*
 * One line of what c opens: "network: 4 hosts (@npm, github.com, ...); mounts: 2; env: 1
 * variable" (the network as its mode says where it is not a proxy's allowlist).
 */
int cell_review_summary(const struct cell_config *c, char *buf, size_t size);

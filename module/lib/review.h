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
 * credentials below home (~/.ssh, ~/.aws, ...), a read-write bind outside the project root, a
 * device bind, a bind where the machine's services listen (a socket, /run), the nix daemon,
 * relaxed hardening, raw bubblewrap arguments. Paths are compared with their links resolved.
 * root: the project's; home: the user's ($HOME); either NULL when not known.
 */
int cell_review_warnings(const struct cell_config *c, const char *root, const char *home,
			 char ***warnings);

/*
 * One line of what c opens: "network: 4 hosts (@npm, github.com, ...); this machine's ports:
 * 5432; pinned: registry.test at 127.0.0.1 (a loopback address); mounts: 2; env: 1 variable"
 * (the network as its mode says where it is not a proxy's allowlist).
 */
int cell_review_summary(const struct cell_config *c, char *buf, size_t size);

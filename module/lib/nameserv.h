/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "fakeaddr.h"

/*
 * The proxy's name service for the cell's shim (docs/design.md §4), over HTTP on the proxy's own
 * port, one request a connection (origin-form requests are the proxy's own):
 *
 *   GET /cell/resolve/NAME  → 200, "V4 V6\n": NAME's fake addresses (given one if new)
 *   GET /cell/name/ADDRESS  → 200, "NAME\n": the name a fake address stands for; 404 if none
 *
 * Anything else is a 404 (another path) or a 400 (a bad name or address), the body saying why
 * in one line. *t is made at the first resolve.
 */
#define CELL_NAMESERV_PREFIX "/cell/"
int cell_nameserv_answer(struct cell_fakeaddr **t, const char *path, size_t path_len, char *body,
			 size_t body_size);

/*
 * The host a proxy request names, with a fake address turned back into its name: 0 and host
 * as it was if it is no fake address, 1 and the name in host (size CELL_HOST_MAX + 1) if it
 * is one, -ENOENT if it is one that stands for no name here.
 */
int cell_nameserv_unfake(struct cell_fakeaddr *t, char *host, size_t size);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "diag.h"

/*
 * What this machine offers a cell, looked up once before it is planned: the programs a cell
 * is made of (cell-init, bubblewrap, cell-session, the shim, cell itself) and where the user's
 * state is. The plan is decided from the config and this, and nothing else.
 */
struct cell_host {
	char *init;	 /* cell-init (a probe without it fails) */
	char *bwrap;	 /* bubblewrap; NULL: not installed */
	char *helper;	 /* cell-session, if this process can open cells with it; else NULL */
	const char *why; /* ...and why not */
	/* the kernel has the abstract-Unix socket hooks (cgroup/connect_unix, Linux 6.7+) that
	 * keep a cell sharing the host's network namespace from the host's abstract sockets
	 * (by its release; looked at only where there is a helper) */
	bool unix_hooks;
	char *shim;	  /* libcellshim.so; NULL: this build has none */
	char *proxy;	  /* cell-proxy (it also makes the user's CA); NULL: this build has none */
	char *self;	  /* this program (bound into the cell for the hook in rc files) */
	char *state_home; /* $XDG_STATE_HOME/cell */
};

/* Looks everything up; a negative errno (diag says which) when the state directory cannot be
 * named or cell-init is missing: no cell can run then. */
int cell_host_probe(struct cell_host *ret, struct cell_diag *diag);
void cell_host_done(struct cell_host *h);
/* cell-session, if this process can open cells with it (setuid root, or run by root); else
 * NULL and why not. */
char *cell_host_helper(const char **why);
/*
 * A helper program (cell-init, cell-session) next to the running cell binary (a build tree),
 * else in ../libexec/cell from it (an installed prefix), else in the compiled-in libexec.
 */
int cell_host_find_helper(const char *name, char **ret);

static inline void cell_host_donep(struct cell_host *h)
{
	cell_host_done(h);
}
#define _cleanup_host_ _cleanup_(cell_host_donep)

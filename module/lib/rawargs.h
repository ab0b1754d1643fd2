/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * Raw bubblewrap arguments a config adds after cell's own mounts (bwrap_args: the escape hatch
 * for what the config cannot say). Only options that add mounts, variables or isolation pass;
 * refused are those that undo the cell's namespaces, filter or capabilities, hand bubblewrap a
 * descriptor (the numbers are cell's), replace cell's environment or set what no project may
 * (the loader's preload, cell's and the proxy's variables), bind the host's root or /proc
 * (whose links reach the host's root), or leave --perms or --size without the operation they
 * apply to. Destinations are absolute, sources and destinations without "..". Returns NULL when
 * all n pass, else why not, with *ret_at the index of the argument at fault.
 */
const char *cell_rawargs_refused(char *const *args, size_t n, size_t *ret_at);

/* What each argument of a list that passed is. */
enum cell_rawarg_role {
	CELL_RAWARG_OPTION,
	CELL_RAWARG_VALUE,
	CELL_RAWARG_SOURCE, /* a path on the host, bound into the cell */
	CELL_RAWARG_DEST,   /* a path in the cell that bubblewrap makes, mounts on or changes */
};

void cell_rawargs_roles(char *const *args, size_t n, enum cell_rawarg_role *roles);

/* Why a bind's source is refused, or NULL: also for the source as resolved on the host when the
 * cell starts. */
const char *cell_rawargs_source_refused(const char *src);

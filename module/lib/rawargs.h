/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Raw bubblewrap arguments a config adds after cell's own mounts (bwrap_args: the escape hatch
 * for what the config cannot say). Only options that add mounts, variables or isolation pass;
 * refused are those that undo the cell's namespaces, filter or capabilities, hand bubblewrap a
 * descriptor (the numbers are cell's), replace cell's environment, or bind the host's root or
 * /proc (whose links reach the host's root). Returns NULL when all n pass, else why not, with
 * *ret_at the index of the argument at fault.
 */
const char *cell_rawargs_refused(char *const *args, size_t n, size_t *ret_at);
/* Why a bind's source is refused, or NULL: also for the source as resolved on the host when the
 * cell starts (a link made later could point at /). */
const char *cell_rawargs_source_refused(const char *src);
/* Whether args[i] is the source of a bind (so its resolved path is checked too). */
bool cell_rawargs_is_bind(const char *opt);

/* SPDX-License-Identifier: MIT */
#pragma once

#include "plan.h"

/*
 * Runs a plan: creates the state and overlay directories it needs, compiles the seccomp
 * filter, starts bwrap with it and the plan's generated files on fixed descriptors, forwards
 * the signals this process is sent with kill() to the cell's init (which hands them to the
 * command), and waits. *ret_status is the cell's exit status: the command's, or 128+N when a
 * signal ended it; *ret_terminal_sig is SIGINT or SIGQUIT when the terminal sent one (else 0).
 * Returns a negative errno when the cell could not start (diag says why; -ECHILD when
 * bubblewrap failed to build it).
 */
int cell_launch(const struct cell_plan *p, const char *bwrap, int *ret_status,
		int *ret_terminal_sig, struct cell_diag *diag);
/* cell-init next to the running cell binary (a build tree), else the installed one. */
int cell_launch_find_init(char **ret);

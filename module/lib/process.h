/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * Runs argv[0] (an absolute path; no $PATH search, no shell) with stdin from /dev/null and
 * stderr discarded, and collects up to max bytes of its stdout. Returns its exit status
 * (0..255), 128+N for a signal, or a negative errno if it could not run.
 */
int cell_run_capture(char *const argv[], size_t max, char **ret_out);
/* A waitpid() status as a shell reports it: the exit status, or 128+N for signal N. */
int cell_exit_code(int wait_status);

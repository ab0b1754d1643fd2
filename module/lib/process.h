/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>

/*
 * Runs argv[0] (an absolute path; no $PATH search, no shell) with stdin from /dev/null and
 * stderr discarded, and collects up to max bytes of its stdout. Returns its exit status
 * (0..255), 128+N for a signal, or a negative errno if it could not run.
 */
int cell_run_capture(char *const argv[], size_t max, char **ret_out);
/* A waitpid() status as a shell reports it: the exit status, or 128+N for signal N. */
int cell_exit_code(int wait_status);

/* The signals cell passes on to what it runs when someone kill()s cell with one (the terminal's
 * reach the foreground's processes themselves). */
extern const int cell_forwarded_signals[6];
/* Blocks SIGCHLD and the forwarded signals (the mask before in *old) and returns a signalfd of
 * them (close-on-exec), or a negative errno (the mask is then as before). */
int cell_signalfd_forwarded(sigset_t *old);

/* What cell_run_session collected. */
struct cell_run_result {
	char *out, *err;
	size_t out_len, err_len;
	int status; /* as a shell says it */
};

struct cell_run_limits {
	unsigned timeout_ms;
	size_t out_max; /* stdout past it is an error (-EFBIG) */
	size_t err_max; /* stderr past it is dropped */
};

/*
 * Runs argv[0] (an absolute path) in dir with env and stdin /dev/null, in a session of its own,
 * collecting stdout and stderr, until it exits: then what it left behind in its session is
 * killed (a background process holding its output holds nothing up). At the timeout (-ETIMEDOUT)
 * or too much output the whole session is killed. 0 with res filled (free with
 * cell_run_result_done), or a negative errno.
 */
int cell_run_session(char *const argv[], const char *dir, char *const env[],
		     const struct cell_run_limits *l, struct cell_run_result *res);
void cell_run_result_done(struct cell_run_result *r);
/*
 * In a child about to exec (system calls only, no allocation): fds[0..n) become descriptors
 * first, first + 1, ... (kept across exec, whichever of them sat where another goes), and every
 * descriptor above those closes. 0, or a negative errno (-E2BIG past CELL_FDS_ARRANGE_MAX).
 */
#define CELL_FDS_ARRANGE_MAX 64
int cell_fds_arrange(const int *fds, size_t n, int first);
/* After an interactive shell in a cell took the terminal (was_foreground: ours was the
 * terminal's foreground group when it started), gives it back to our group. */
void cell_terminal_reclaim(bool was_foreground);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "diag.h"
#include "member.h"

/*
 * cell up's supervisor (docs/design.md §10): the config's "processes" run as members of the
 * project's session, each with no input and its output in its log (procstate.h), in the order
 * their depends_on give (a process starts once each it waits for is ready, or has ended with
 * status 0). Ready: its port accepts on the cell's loopback, or its ready command succeeds in
 * the cell (tried again every 250 ms and 1 s); with no check, once started. A process that ends
 * starts again as its restart policy says, after a pause that doubles from 0.5 s to 30 s (back
 * to 0.5 s after a run of 10 s). SIGINT, SIGTERM or SIGHUP stop them, the ones others wait for
 * last: SIGTERM, and SIGKILL 10 s later (a second SIGINT: at once).
 */
struct cell_procs_options {
	char *const *names; /* what to run, with what they wait for; NULL: every process */
	const char *root;   /* the project's directory in the cell: where they run */
	const char *up_dir; /* cell_up_dir() */
	bool foreground;    /* their output on stdout too, each line after "NAME | " */
	/* -1, or where cell up -d's waiting caller reads "NAME ready" / "NAME failed ..." lines,
	 * then "ok" or "failed" once each process is ready, ended or has failed before it was ready
	 * (it is closed then) */
	int ready_fd;
	int log_fd; /* with ready_fd: what stderr becomes once the caller is told (else -1) */
};

/*
 * Runs c's processes in m's session until each has ended for good or they are stopped, then
 * leaves the session. Returns 0 when each ended with status 0 or they were stopped, 1 when one
 * failed; a negative errno when they could not be run (diag says why).
 */
int cell_procs_run(struct cell_member *m, const struct cell_config *c,
		   const struct cell_procs_options *o, struct cell_diag *diag);

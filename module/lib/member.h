/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "diag.h"
#include "hash.h"
#include "host.h"
#include "instance.h"
#include "keeper.h"
#include "plan.h"
#include "project.h"

/*
 * A command that joins its project's session (keeper.h) as a member: the session found, or
 * opened when none is; the member's plan (its environment, directory, command and seccomp
 * filter, as a new cell's would be); then the command run in the session's cell by cell-init
 * --join (by way of cell-session join for a proxy cell, whose cgroup it must be in).
 */
struct cell_member {
	int conn; /* to the keeper, open while the member runs: its presence in the session */
	struct cell_keeper_grant grant;
	struct cell_host host;
	struct cell_plan *plan;
	const char *leave_path; /* the shell hook's file (cell enter --leave-to), or NULL */
	char other_hash[CELL_SHA256_HEX_LEN + 1]; /* -EXDEV: the session's config */
	bool plan_failed;			  /* open failed at the plan: the config's fault */
	/* what the user should know: the plan's notices, and those of the provider's run when the
	 * session was opened (once each) */
	char **notices;
	bool oom; /* cell_member_run: the cell's memory limit killed a process (the member?) */
};

/*
 * Finds or opens p's session and joins it. -EXDEV when the session runs another config than c
 * (m->other_hash names it): no member is made. On another failure diag says why (m->plan_failed:
 * the config is at fault), unless the keeper said it already on stderr (diag without a message:
 * -EINVAL when the config could not be planned, -ECHILD when the cell could not be built).
 */
int cell_member_open(const struct cell_project *p, const struct cell_config *c,
		     const struct cell_instance_args *a, struct cell_member **ret,
		     struct cell_diag *diag);
/*
 * Runs the member's command in the session's cell and waits: as cell_instance_run (the
 * command's status, the terminal's signal).
 */
int cell_member_run(struct cell_member *m, int *ret_status, int *ret_terminal_sig,
		    struct cell_diag *diag);
/*
 * Starts command in the session's cell (in directory dir there) as a member of its own, with no
 * input, its output and errors to out_fd, in a process group of its own, and does not wait:
 * *ret_pid is its process on the host (which the command's signals reach, and whose end is the
 * command's). The member ends if the caller does. cell up's processes.
 */
int cell_member_spawn(const struct cell_member *m, const char *dir, char *const *command,
		      int out_fd, pid_t *ret_pid);
/*
 * Forks a process that tries once to connect to port on the session's loopback (127.0.0.1,
 * then ::1) and exits 0 if it was accepted; *ret_pid is it.
 */
int cell_member_probe_port(const struct cell_member *m, uint16_t port, pid_t *ret_pid);
/* A member that ran its commands with cell_member_spawn leaves the session (as run's does). */
void cell_member_leave(struct cell_member *m);
void cell_member_free(struct cell_member *m);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <linux/types.h>
#include <sys/types.h>

#include "cell.h"
#include "limit.h"
#include "plan.h"

/*
 * A proxy cell: the kernel confines it, either by its cgroup (cell-session opens it, runs bwrap in
 * it and closes it; docs/design.md §3: the cell's environment then reaches bwrap in its arguments,
 * an --args descriptor, since a setuid helper passes on none), or by a network namespace of its
 * own (the cell's init makes the proxy's socket there; bwrap runs directly, or in a cgroup
 * cell-session opens for the cell's limits).
 */
struct cell_launch_session {
	const char *helper; /* cell-session; NULL: none (bwrap runs directly) */
	const char *id;
	struct cell_policy policy;
	struct cell_limits limits;		/* for cell-session to hold the cell to (limit.h) */
	void (*started)(pid_t pid, void *data); /* cell-session (or bwrap) runs: record its pid */
	void (*denied)(const char *line, void *data); /* a denial's line (denial.h) */
	/* if set: called once, when listen_fd has a first connection */
	void (*connection)(void *data);
	/* the proxy's listening socket (TCP at 127.0.0.1), or -1: with a helper, cell-session
	 * makes it the one socket outside the cell that the cell's processes may connect to
	 * (--proxy-fd); without, net_up may set it */
	int listen_fd;
	/* a cell in a network namespace of its own (netns.h): init_net_fd goes to its cell-init
	 * (--net-fd), and net_up is called once cell-init says hello on net_fd, before it says it
	 * is up (its command, or a member, may connect to what net_up makes); -1 and NULL else */
	int init_net_fd, net_fd;
	void (*net_up)(void *data);
	void *data;
	char *record; /* out: cell-session's JSON line about the closed cell, if it wrote one */
};

/*
 * What a project session's keeper (keeper.c) needs of its cell while it runs: to be told when
 * the cell's init is up (its pid on the host, and the cell's compiled seccomp program, sealed,
 * for its members), its own descriptor polled with the cell's (its members' sockets), and a pipe
 * whose end it holds handed to the session's cell-init, which ends the cell if the keeper is
 * gone.
 */
struct cell_launch_watch {
	void (*up)(pid_t init, int seccomp_fd, void *data);
	int fd; /* polled; on_ready called when readable */
	void (*on_ready)(void *data);
	int keeper_fd; /* the pipe's reading end, for a session's cell-init */
	void *data;
};

/*
 * Runs a plan: creates the state and overlay directories it needs, compiles the seccomp
 * filter, starts bwrap with it and the plan's generated files on fixed descriptors, forwards
 * the signals this process is sent with kill() to the cell's init (which hands them to the
 * command), and waits. *ret_status is the cell's exit status: the command's, or 128+N when a
 * signal ended it; *ret_terminal_sig is SIGINT or SIGQUIT when the terminal sent one (else 0).
 * Returns a negative errno when the cell could not start (diag says why; -ECHILD when
 * bubblewrap failed to build it).
 */
int cell_launch(const struct cell_plan *p, const char *bwrap, struct cell_launch_session *session,
		const struct cell_launch_watch *watch, int *ret_status, int *ret_terminal_sig,
		struct cell_diag *diag);

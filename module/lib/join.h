/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

/*
 * Joining a project's open session (docs/design.md §3): what a new member does on the host to
 * become a process of the session's cell, in cell-init --join (which links libc and this only).
 *
 * The session's cell-init is in bubblewrap's user namespaces: one the cell's mounts belong to,
 * and (unprivileged bubblewrap) a second one nested in it. A process of the owner's enters the
 * outermost first (it has every capability there, so in the nested one and over the cell's
 * mounts too), then every namespace of the cell-init that is not its own, with one setns() on
 * its pidfd. The pid namespace is its children's: the member is forked after.
 */

/* The pid a pidfd refers to (its fdinfo's "Pid:"), or a negative errno (-ESRCH: it ended). */
pid_t cell_join_pidfd_pid(int pidfd);
/* Enters the namespaces of the process pidfd refers to; 0 or a negative errno. */
int cell_join_namespaces(int pidfd);
/* Installs the seccomp program (bubblewrap's --seccomp format: struct sock_filter[]) read from
 * fd; no_new_privs must be set. 0 or a negative errno. */
int cell_join_seccomp(int fd);

/* The descriptors cell-init --join gets: the session's cell-init (a pidfd), the cell's seccomp
 * program, the member's environment (NUL-separated NAME=value). */
enum {
	CELL_JOIN_FD_INIT = 3,
	CELL_JOIN_FD_SECCOMP = 4,
	CELL_JOIN_FD_ENV = 5,
};

/* SPDX-License-Identifier: MIT */
#pragma once

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "macro.h"

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

/* The most a member's environment may be (as a new cell's: execve's own limit is near). */
#define CELL_JOIN_ENV_MAX (4 * 1024 * 1024)

/* The descriptors cell-init --join gets: the session's cell-init (a pidfd), the cell's seccomp
 * program, the member's environment (NUL-separated NAME=value). */
enum {
	CELL_JOIN_FD_INIT = 3,
	CELL_JOIN_FD_SECCOMP = 4,
	CELL_JOIN_FD_ENV = 5,
};

/* A new member of a session, as cell-init --join (or cell itself, where no cell-session is
 * needed) starts it. */
struct cell_join_member {
	pid_t parent;	 /* the cell command that joins: the member ends with it */
	int init_pidfd;	 /* the session's cell-init */
	int seccomp_fd;	 /* the session's seccomp program */
	char **env;	 /* the member's environment */
	const char *dir; /* its working directory in the cell */
	const char *preload;
	const char *hooks; /* hooks.enter's file in the cell, or NULL */
	char *const *argv;
};
/*
 * In a process of its own (a forked child; single-threaded): enters the session's namespaces,
 * forks the member into its pid namespace (no_new_privs, the session's seccomp filter, every
 * capability dropped, not dumpable until its exec, the environment, the hooks, the command),
 * and supervises it as cell-init does its command; exits with its status (128+N for a signal).
 */
_noreturn_ void cell_join_member(const struct cell_join_member *m);

/* What cell-init's PID 1 and a member share. */
/* Empties the bounding, ambient, permitted, effective and inheritable sets, checks, and sets
 * no_new_privs; 0 or a negative errno. */
int cell_join_drop_capabilities(void);
/* Signal handlers in place (not SIG_DFL, so that signals to PID 1 are queued), all blocked. */
void cell_join_take_signals(sigset_t *all);
/* In a child that is to run a command: the signals' defaults back, none blocked. */
void cell_join_default_signals(void);
/* In the command's process: hooks.enter (in bash; the command gets the variables they leave, at
 * most HOOKS_ENV_MAX of them), the shim kept, then the command; never returns. */
_noreturn_ void cell_join_exec(const char *hooks, const char *preload, char *const argv[]);
/*
 * Forwards the signals someone sent with kill() to child (the terminal's reach it directly),
 * reaps, and returns child's status when it ends; a member's supervisor whose cell command is
 * gone kills and reaps child first.
 */
int cell_join_supervise(pid_t child, sigset_t *all);

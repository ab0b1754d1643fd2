/* SPDX-License-Identifier: MIT */
#pragma once

#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "diag.h"

/*
 * Cells root opens for an account's whole login (pam_cell.so, docs/design.md §3; the lifecycle
 * is instance.c's, the steps network-login.c's): the module's arguments, and what open_session
 * leaves for close_session, which may run in another process (sshd's), in a file of its own
 * under CELL_SYSCELL_STATE_DIR.
 */
#define CELL_SYSCELL_STATE_DIR "/run/cell/pam"
/* The shim's settings of each system cell in proxy mode, <id>.conf, readable by its account. */
#define CELL_SYSCELL_SHIM_DIR "/run/cell-shim"

struct cell_syscell_args {
	const char *project; /* project=DIR (required) */
	const char *config;  /* config=FILE (default DIR/.cell.json) */
	int network;	     /* network=proxy|none: an enum cell_net_mode, or -1 (the config's) */
	bool debug;	     /* debug: more in syslog */
	bool require_login_shell; /* require_login_shell: refuse an account whose login shell
				   * is not cell-login-shell */
	const char *shim;  /* libcellshim.so for the session (not an argument: the caller's) */
	const char *proxy; /* cell-proxy, which the keeper of a proxy cell execs (the caller's) */
};

/* Parses pam_cell.so's arguments (pointing into argv); an unknown or bad one fills diag. */
int cell_syscell_args_parse(int argc, const char **argv, struct cell_syscell_args *ret,
			    struct cell_diag *diag);

/*
 * Whether shell (an account's login shell) is cell-login-shell: an absolute path named so, a
 * regular file once links are followed, root's and writable by no one else (else the account
 * could make it anything).
 */
bool cell_syscell_login_shell_ok(const char *shell);

/* What close needs of an open cell. */
struct cell_syscell_state {
	char id[64];
	uid_t uid;
	pid_t proxy; /* 0: none */
	uint64_t proxy_start;
	uint16_t proxy_port;
	int64_t start; /* when the cell opened (time()) */
	char project_id[80];
	char ledger[512]; /* the account's ledger for this project */
	char cgroup[512]; /* where the caller was before it joined the cell (cgroup2 path) */
	char name[80];
};

/* Writes (atomically), reads or removes state dir/<id>; read: -ENOENT if there is none. */
int cell_syscell_state_save(const char *dir, const struct cell_syscell_state *s);
int cell_syscell_state_load(const char *dir, const char *id, struct cell_syscell_state *ret);
int cell_syscell_state_remove(const char *dir, const char *id);

/* The id of pw's cell the calling process is in (-ENOENT: none). */
int cell_syscell_find(uid_t uid, char *id, size_t size);
/* <cgroup2>/cell.slice (*ret_slice, freed by the caller) and the cgroup2 root (its parent). */
int cell_syscell_hierarchy(char **ret_slice, char *root, size_t size);

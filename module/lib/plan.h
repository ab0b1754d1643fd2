/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "diag.h"
#include "host.h"
#include "mounts.h"
#include "project.h"
#include "provider.h"
#include "seccomp.h"

/* How a cell learn cell's proxy records (and, permissive, lets through) what it refuses. */
enum cell_learn {
	CELL_LEARN_OFF,
	CELL_LEARN_RECORD,     /* refuses as ever, and records who (the process) */
	CELL_LEARN_PERMISSIVE, /* lets hosts the allowlist does not name through, recorded */
};

/* A file the cell gets that exists nowhere on disk (a generated shell rc), read-only. */
struct cell_plan_file {
	char *dest;
	char *content;
	unsigned mode; /* its permissions (0555: a program); 0: bwrap's default */
};

/*
 * Everything that decides how a cell runs, validated, and nothing done yet: phase two of
 * JSON → plan → executor. It is complete when cell_plan_build() returns it (what the cell
 * contains is decided from the config and what the host offers, nothing is added later):
 * cell explain prints it; cell_launch() runs it.
 */
struct cell_plan {
	char *name;
	char *hostname;
	struct cell_mount_plan mounts;
	struct cell_plan_file *files;
	size_t n_files;
	char **env;		       /* the cell's whole environment, NAME=value */
	char *cwd;		       /* the working directory in the cell */
	char **argv;		       /* what runs in the cell */
	enum cell_net_mode net_mode;   /* the mode in effect */
	enum cell_isolation isolation; /* a proxy cell's, auto decided (bpf or netns) */
	/* cell-session opens the cell, in a cgroup of its own (its limits held there): a BPF
	 * proxy cell, and a netns one whose config has limits where cell-session has privilege */
	bool held;
	struct cell_seccomp_options seccomp;
	char *init;	    /* host path of cell-init */
	char *shim;	    /* host path of libcellshim.so, bound at CELL_SHIM_PATH (NULL: none) */
	char *enter_hooks;  /* the cell's path of the script cell-init runs before the command
			       (hooks.enter), whose variables the command gets; NULL: none */
	char *notices_path; /* host path of the notices file, bound at /run/cell/notices (a proxy
			       cell's: the proxy's and the kernel's denials; else NULL) */
	char **notices;	    /* things the user should know before the cell starts */
	char *notice_once;  /* one to say once a project (its text changes: again), or NULL */
	uint32_t nproc;	    /* RLIMIT_NPROC of the cell's processes, set by cell-init in the
			       cell's user namespace (limits.pids where no cgroup holds it); 0: none */
	char **warnings;    /* risky choices the config made, for cell explain */
	char **bwrap_args;  /* the config's raw bubblewrap arguments, after the mounts */
	bool session;	    /* a project session's cell: no command, its members join it */
	enum cell_learn learn; /* cell learn: its proxy records who went where (learn.h) */
	char *leave_dir;       /* a session's: host directory of its members' leave files, bound at
				  CELL_PLAN_LEAVE_DIR */
};

/* Where a session's members find their leave files (cell enter --leave-to) in the cell. */
#define CELL_PLAN_LEAVE_DIR "/run/cell/leave.d"
/* The session's runtime directory in the cell ($XDG_RUNTIME_DIR there), bound from the project's
 * state directory; %u: the user's uid. */
#define CELL_PLAN_RUNTIME_DIR "/run/user/%u"

struct cell_plan_input {
	const char *cwd;      /* where the command was started */
	char *const *command; /* what to run */
	char *const *environ; /* the environment outside */
	const char *home;     /* the user's home */
	const char *user;
	const char *shell;	      /* the shell the cell's SHELL names */
	const struct cell_host *host; /* what this machine offers (host.h) */
	const char *id;		      /* the cell's id ("ID" where none is open: cell explain) */
	uint16_t proxy_port;	      /* its proxy's port, once the socket is made (else 0) */
	bool interactive;	/* cell enter: the shell, its prompt marked, replaces command */
	const char *leave_path; /* cell enter --leave-to FILE: bound at /run/cell/leave */
	const char *oldpwd;	/* the outer shell's directory, for cd - in the cell */
	/* cell login-shell: the login's cell (pam_cell) confines the network; the cell gets the
	 * session's proxy variables, CELL_ID and the shim for its proxy */
	bool login;
	/* the project's dev environment from its provider (provider.h), or NULL; its notice */
	const struct cell_provider_env *provider_env;
	const char *provider_notice;
	/* a project session's cell (cell-init holds it; every command joins it as a member) */
	bool session;
	enum cell_learn learn; /* cell learn's cell */
};

int cell_plan_build(const struct cell_project *p, const struct cell_config *c,
		    const struct cell_plan_input *in, struct cell_plan **ret,
		    struct cell_diag *diag);
/* The network a cell of config c has: the config's, but a login's cell has the host's (its own
 * cell confines it). */
enum cell_net_mode cell_plan_net_mode(const struct cell_config *c, bool login);
/*
 * How a proxy cell of config c is held to its proxy on this host: network.isolation, with
 * "auto" decided (BPF where cell-session has privilege and the kernel has every hook the BPF
 * programs need, else a network namespace of its own); in *ret_why (if set), why so.
 */
enum cell_isolation cell_plan_isolation(const struct cell_config *c, const struct cell_host *host,
					const char **ret_why);
/*
 * A whole login's cell (pam_cell.so): no bubblewrap, so its plan is what the login's
 * environment gets (env: the proxy's variables, CELL_ID, CELL_NAME, CELL_ROOT, CELL_CONFIG, and
 * the shim with its settings), the shim's settings file (files: dest is its path on the host,
 * the account's), name, shim and net_mode; the rest is empty.
 */
struct cell_plan_login_input {
	const char *root;	 /* project= as the module was given it */
	const char *config;	 /* config= (NULL: the project's .cell.json) */
	const char *shim;	 /* libcellshim.so (NULL: none) */
	const char *id;		 /* the cell's id */
	enum cell_net_mode mode; /* proxy or none */
	uint16_t proxy_port;	 /* its proxy's port (proxy) */
};
/* Where the shim's settings of login cell id are: CELL_SYSCELL_SHIM_DIR/<id>.conf. */
void cell_plan_login_shim_conf(const char *id, char *out, size_t size);
int cell_plan_build_login(const struct cell_config *c, const struct cell_plan_login_input *in,
			  struct cell_plan **ret);
void cell_plan_free(struct cell_plan *plan);

static inline void cell_plan_freep(struct cell_plan **p)
{
	cell_plan_free(*p);
}
#define _cleanup_plan_ _cleanup_(cell_plan_freep)

/*
 * Whether to say a plan's notice_once now: not if the project's state says it was said already
 * (the same text); else it records it. NULL: false.
 */
bool cell_plan_say_once(const char *project_id, const char *notice);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "diag.h"
#include "host.h"
#include "launch.h"
#include "network.h"
#include "plan.h"
#include "project.h"
#include "provider.h"

/*
 * One cell, from open to close: the lifecycle every way into a cell goes through (cell run,
 * cell enter, cell login-shell, cell doctor --escape).
 *
 *   cell_instance_open   cells cut short reaped; what the host offers looked up; the cell
 *                        named; its network opened (network.h); the plan made, complete
 *   cell_instance_run    bubblewrap started (in cell-session's cell for a proxy cell), the
 *                        command waited for
 *   cell_instance_close  the network closed (proxy stopped, record in the ledger); freed
 */
struct cell_instance {
	struct cell_host host;
	struct cell_project *own_project; /* a login's: opened here (else the caller's) */
	struct cell_config *own_config;
	struct cell_network_login login;       /* a login's cell: the account */
	struct cell_provider_env provider_env; /* the project's environment (provider.h) */
	char *provider_notice;		       /* why it has none, or its last good one */
	char *id;			       /* the tail of the project id and a random part */
	const struct cell_network *net;	       /* the network strategy */
	struct cell_network_cell cell;	       /* what it knows of the cell */
	struct cell_plan *plan;		       /* complete once open returns */
	bool plan_failed;		       /* open failed at the plan: the config's fault */
	int launch_r; /* cell_launch()'s result (-ECANCELED: not started) */
	/* a project session's keeper (keeper.c): what it watches while the cell runs */
	const struct cell_launch_watch *watch;
};

/* What a cell is asked for: the plan input's parts that come from the caller. */
struct cell_instance_args {
	const char *cwd;
	char *const *command;
	bool interactive;
	const char *leave_path;
	const char *oldpwd;
	bool login;
	bool session;	       /* a project session's cell, or a member's plan for one (keeper.h) */
	bool provider_cached;  /* the provider's cache only (its opener has just run it) */
	enum cell_learn learn; /* cell learn's cell (plan.h) */
};

/*
 * Opens a cell of project p with config c. On failure *ret is still set when the instance was
 * made (plan_failed says whether the plan refused the config), and diag says why; the caller
 * closes it either way.
 */
int cell_instance_open(const struct cell_project *p, const struct cell_config *c,
		       const struct cell_instance_args *a, struct cell_instance **ret,
		       struct cell_diag *diag);
/*
 * Runs the cell: *ret_status is the command's exit status (128+N for a signal),
 * *ret_terminal_sig SIGINT or SIGQUIT when the terminal sent one. A negative errno when the
 * cell could not start (-ECHILD: bubblewrap failed to build it); diag says why.
 */
int cell_instance_run(struct cell_instance *c, int *ret_status, int *ret_terminal_sig,
		      struct cell_diag *diag);
/* Closes the cell (what run left: the proxy, the record) and frees it; NULL is fine. */
void cell_instance_close(struct cell_instance *c);
/* The same, saying whether the record was kept: a negative errno (diag says why) if not. */
int cell_instance_end(struct cell_instance *c, struct cell_diag *diag);

/*
 * A whole login's cell (pam_cell.so, root): the same life, in other steps. cell_instance_open_login
 * opens pw's cell of the module's project (a) with the strategy network-login.c (the cell, its
 * keeper, the proxy) and plans it (cell_plan_build_login: what the login's environment gets);
 * cell_instance_join puts the login's own process in it (its member: no bubblewrap) and keeps
 * what close needs; cell_instance_release lets this process's instance go, the cell open.
 * cell_instance_resume_login takes up pw's cell id where it was left (close_session may run in
 * another process), for cell_instance_end. On failure *ret is set as with cell_instance_open;
 * resume says -ENOENT when there is no such cell (closed already, or never opened).
 */
int cell_instance_open_login(const struct cell_syscell_args *a, const struct passwd *pw,
			     struct cell_instance **ret, struct cell_diag *diag);
int cell_instance_join(struct cell_instance *c, pid_t pid, struct cell_diag *diag);
void cell_instance_release(struct cell_instance *c);
int cell_instance_resume_login(const char *id, const struct passwd *pw, struct cell_instance **ret,
			       struct cell_diag *diag);
/*
 * A member's plan for the open session id of p (its proxy at proxy_port): what the member's
 * command gets in the cell it joins (environment, working directory, command, seccomp filter),
 * with the project's environment from the provider's cache (or the provider run if it is
 * stale); *ret_host what this machine offers (cell_host_done() it). *ret_plan_failed: it failed
 * at the plan (the config's fault), not before.
 */
int cell_instance_member_plan(const struct cell_project *p, const struct cell_config *c,
			      const struct cell_instance_args *a, const char *id,
			      uint16_t proxy_port, struct cell_host *ret_host,
			      struct cell_plan **ret, bool *ret_plan_failed,
			      struct cell_diag *diag);

/*
 * The plan a cell of p would have, for cell explain: no cell is opened, so it is named "ID" and
 * its proxy's port is 0.
 */
int cell_instance_preview(const struct cell_project *p, const struct cell_config *c,
			  const struct cell_host *host, const struct cell_instance_args *a,
			  struct cell_plan **ret, struct cell_diag *diag);

/*
 * cell env: the plan a cell of p would have with its provider run now if its cache is not fresh
 * (refresh: even if it is); what the provider gave in *ret_env (cell_provider_env_done() it),
 * its notice in *ret_notice (free it).
 */
int cell_instance_environment(const struct cell_project *p, const struct cell_config *c,
			      const struct cell_host *host, bool refresh, struct cell_plan **ret,
			      struct cell_provider_env *ret_env, char **ret_notice,
			      struct cell_diag *diag);

static inline void cell_instance_closep(struct cell_instance **c)
{
	cell_instance_close(*c);
}
#define _cleanup_instance_ _cleanup_(cell_instance_closep)

/* SPDX-License-Identifier: MIT */
#pragma once

#include <pwd.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "diag.h"
#include "host.h"
#include "launch.h"
#include "plan.h"
#include "project.h"
#include "syscell.h"

/* A login's cell (pam_cell.so): root opens it for an account, and the login itself joins it. */
struct cell_network_login {
	const struct passwd *pw;	      /* the account */
	const struct cell_syscell_args *args; /* the module's arguments (NULL when resumed) */
};

/* What a network strategy knows of its cell (struct cell_instance holds it). */
struct cell_network_cell {
	const struct cell_project *project;
	const struct cell_config *config;
	const struct cell_host *host;
	const char *id;
	enum cell_net_mode mode;		/* the mode in effect */
	const struct cell_network_login *login; /* a login's cell; NULL: the caller's own */
	const struct cell_plan *plan;		/* NULL until made: open runs before */
	uint16_t proxy_port;			/* its proxy's port, if open gives it one */
	void *state;				/* the strategy's own, from open until close */
};

/*
 * How a cell gets its network: one strategy per kind of cell, each a set of steps the
 * lifecycle (instance.h) calls in order; a step left NULL has nothing to do.
 *
 *   open    before the plan: what the plan names (the proxy's socket, hence its port)
 *   start   the plan made: the session bwrap is started in (*ret NULL: bwrap runs directly)
 *   join    the plan made, a login's cell: the login's own process (pid) put in the cell, and
 *           what close needs kept for another process (resume)
 *   resume  a login's cell that another process opened and joined: what join kept, for close
 *   release this process lets a joined login's cell go, open (its state freed, nothing closed)
 *   close   the cell is over, or never started: the proxy stopped, the record kept, its state
 *           freed; launch_r is cell_launch()'s result (or the error that stopped the cell, or
 *           0 for a login's cell that was joined); a negative errno when the record was not
 *           kept (diag says why)
 */
struct cell_network {
	const char *name;
	int (*open)(struct cell_network_cell *c, struct cell_diag *d);
	int (*start)(struct cell_network_cell *c, struct cell_launch_session **ret,
		     struct cell_diag *d);
	int (*join)(struct cell_network_cell *c, pid_t pid, struct cell_diag *d);
	int (*resume)(struct cell_network_cell *c, struct cell_diag *d);
	void (*release)(struct cell_network_cell *c);
	int (*close)(struct cell_network_cell *c, int launch_r, struct cell_diag *d);
};

/* "none" and "host": bubblewrap's own (an empty network namespace, or the host's) */
extern const struct cell_network cell_network_none;
extern const struct cell_network cell_network_host;
/* "proxy", enforced by the kernel: cell-session opens the cell's cgroup, whose BPF programs let
 * its sockets reach its own proxy only (network-bpf.c) */
extern const struct cell_network cell_network_bpf;
/* A whole login's cell (network-login.c), "proxy" or "none" (c->mode): root opens the cell with
 * session.c directly; a keeper process of the account's holds it (and is its proxy); the login
 * joins its cgroup; close may come from another process (sshd's). */
extern const struct cell_network cell_network_login;

/* A proxy cell in a network namespace of its own, whose cell-init makes the proxy's socket there
 * (network-netns.c, netns.h): no privilege, no kernel counters; the proxy counts. */
extern const struct cell_network cell_network_netns;

struct cell_running;
/*
 * The user's proxy cells cut short (neither the cell command that opened them nor their keeper
 * alive) are closed and recorded in the ledger; closed, if set, is told of each. Returns how
 * many.
 */
unsigned cell_network_bpf_reap(void (*closed)(const struct cell_running *c, void *data),
			       void *data);
/*
 * What the kernel has counted so far for the user's open cells: cell-session's lines
 * ({"id":ID,"connects_allowed":N,...}, one a cell), or NULL without a helper to ask.
 */
char *cell_network_bpf_live(void);
/* Whether the memory limit of the user's open cell id has killed a process (cell-session says). */
bool cell_network_bpf_oom(const char *id);
/* Adds cell id's counts from cell_network_bpf_live()'s lines (live may be NULL) to s; false if
 * none. */
struct cell_stats;
bool cell_network_bpf_live_counters(const char *live, const char *id, struct cell_stats *s);

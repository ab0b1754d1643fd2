/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "config.h"
#include "diag.h"
#include "host.h"
#include "launch.h"
#include "plan.h"
#include "project.h"

/* What a network strategy knows of its cell (struct cell_instance holds it). */
struct cell_network_cell {
	const struct cell_project *project;
	const struct cell_config *config;
	const struct cell_host *host;
	const char *id;
	const struct cell_plan *plan; /* NULL until made: open runs before */
	uint16_t proxy_port;	      /* its proxy's port, if open gives it one */
	void *state;		      /* the strategy's own, from open until close */
};

/*
 * How a cell gets its network: one strategy per kind of cell, each a set of steps the
 * lifecycle (instance.h) calls in order; a step left NULL has nothing to do.
 *
 *   open   before the plan: what the plan names (the proxy's socket, hence its port)
 *   start  the plan made: the session bwrap is started in (*ret NULL: bwrap runs directly)
 *   close  the cell is over, or never started: the proxy stopped, the record kept, its state
 *          freed; launch_r is cell_launch()'s result (or the error that stopped the cell)
 */
struct cell_network {
	const char *name;
	int (*open)(struct cell_network_cell *c, struct cell_diag *d);
	int (*start)(struct cell_network_cell *c, struct cell_launch_session **ret,
		     struct cell_diag *d);
	void (*close)(struct cell_network_cell *c, int launch_r);
};

/* "none" and "host": bubblewrap's own (an empty network namespace, or the host's) */
extern const struct cell_network cell_network_none;
extern const struct cell_network cell_network_host;
/* "proxy", enforced by the kernel: cell-session opens the cell's cgroup, whose BPF programs let
 * its sockets reach its own proxy only (network-bpf.c) */
extern const struct cell_network cell_network_bpf;

/*
 * The user's proxy cells cut short (neither the cell command that opened them nor their keeper
 * alive) are closed and recorded in the ledger; closed, if set, is told of each. Returns how
 * many.
 */
struct cell_running;
unsigned cell_network_bpf_reap(void (*closed)(const struct cell_running *c, void *data),
			       void *data);
/*
 * What the kernel has counted so far for the user's open cells: cell-session's lines
 * ({"id":ID,"connects_allowed":N,...}, one a cell), or NULL without a helper to ask.
 */
char *cell_network_bpf_live(void);
/* Adds cell id's counts from cell_network_bpf_live()'s lines (live may be NULL) to s; false if
 * none. */
struct cell_stats;
bool cell_network_bpf_live_counters(const char *live, const char *id, struct cell_stats *s);

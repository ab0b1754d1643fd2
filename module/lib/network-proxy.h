/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What both kinds of proxy cell (network-bpf.c, network-netns.c) share: the cell's proxy, a
 * process of its own started at the cell's first connection to its socket and stopped when the
 * cell is over, the notices file the proxy writes its denials to, the cell's file among the
 * user's open cells (running.h), and its record in the project's ledger.
 */
#include <stdbool.h>
#include <sys/types.h>

#include "diag.h"
#include "launch.h"
#include "network.h"
#include "plan.h"
#include "running.h"

struct cell_proxy_cell {
	struct cell_running running; /* its id borrowed from the cell */
	struct cell_launch_session session;
	const struct cell_project *project;
	int listen_fd;	   /* the proxy's socket, until the proxy has it */
	char *peer_cgroup; /* the proxy serves only this cgroup's processes (NULL: anyone's that
			      can reach its socket) */
	/* denials for the person at the cell's prompt (the shell hook prints them): the proxy's
	 * and the kernel's, a line each (the plan's notices file) */
	const char *notices_path;
	int notices_fd;
	enum cell_learn learn; /* the plan's: the proxy is told */
};

/* Descriptors the proxy gets by socket activation, and their names (cmd-proxy.c reads them). */
#define CELL_PROXY_FDS_MAX 40
struct cell_proxy_fds {
	int fds[CELL_PROXY_FDS_MAX];
	const char *names[CELL_PROXY_FDS_MAX];
	size_t n;
};

void cell_proxy_cell_init(struct cell_proxy_cell *pc, const struct cell_project *p);
/*
 * The cell's plan made: its notices file opened, its file among the open cells written, and
 * pc->session set for a cell whose proxy starts at the first connection to pc->listen_fd (the
 * strategy adds what is its own).
 */
int cell_proxy_cell_start(struct cell_proxy_cell *pc, const struct cell_network_cell *c,
			  struct cell_diag *d);
/* Starts the proxy now, with pc->listen_fd ("proxy") and more (relays, the cell's pair), which
 * stay the caller's; pc->listen_fd is closed. */
int cell_proxy_cell_spawn(struct cell_proxy_cell *pc, const struct cell_proxy_fds *more);
/* The cell is over: the notices file gone, the socket closed, the proxy stopped (its counts
 * written). */
void cell_proxy_cell_end(struct cell_proxy_cell *pc);
/* Frees what pc holds. */
void cell_proxy_cell_done(struct cell_proxy_cell *pc);

/* Stops a proxy (it writes its counters on SIGTERM); ours: our child, waited for (one that hangs
 * is killed). */
void cell_proxy_process_stop(pid_t pid, bool ours);
/* "cell: NAME was stopped by its memory limit (64 MiB)", on stderr. */
void cell_network_say_oom(const char *name, uint64_t memory_limit);
/* The ledger's record of cell c: the kernel's counters from cell-session's line, if any; netns:
 * a cell of its own network namespace (only its proxy counted it; of the line, only what its
 * limits saw). If the line says the cell's
 * memory limit (memory_limit bytes; 0: none to speak of) killed a process, stderr says so. */
void cell_network_record(const struct cell_running *c, const char *session_line, bool netns,
			 uint64_t memory_limit);
/*
 * Closes a cell cell-session opened whose keeper is gone: its record from cell-session (its
 * reap), its proxy stopped, its record in the ledger (only if the cell ran: keep_empty), its
 * file removed.
 */
void cell_network_reap(const struct cell_running *c, const char *helper, bool keep_empty);
/*
 * The cell is over (cell_proxy_cell_end): its record in the ledger, cell-session's where it
 * opened the cell (or, should it have died before it could close it, its reap's), else the
 * cell's own if it ran (launch_r >= 0); its file among the open cells removed.
 */
void cell_proxy_cell_record(struct cell_proxy_cell *pc, int launch_r, uint64_t memory_limit);

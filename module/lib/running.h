/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The user's cells that are open, as cell knows them: one file each,
 * $XDG_STATE_HOME/cell/cells/ID.json, written before a cell starts and removed when its record
 * is in the ledger. A cell whose keeper (cell-session) is gone was cut short; the next cell
 * command reaps it (docs/design.md §3). Processes are named by pid and start time, so a reused pid
 * is never taken for them.
 */
struct cell_running {
	char *id;      /* the cell's id (cell-session's --id) */
	char *project; /* project id */
	char *name;    /* project name */
	int64_t start; /* unix seconds */
	pid_t owner;   /* the cell run or cell enter that opened it */
	uint64_t owner_start;
	pid_t keeper; /* cell-session; 0 until it runs */
	uint64_t keeper_start;
	pid_t proxy;
	uint64_t proxy_start;
	uint16_t proxy_port;
	bool netns; /* in a network namespace of its own: only its proxy counts it */
};

int cell_running_save(const struct cell_running *c);
int cell_running_remove(const char *id);
/* Calls fn for each record that parses; stops early when fn returns non-zero, returns that. */
int cell_running_list(int (*fn)(const struct cell_running *c, void *data), void *data);
void cell_running_done(struct cell_running *c);
/* A process's start time (/proc/PID/stat, clock ticks after boot); 0 when it is gone. */
uint64_t cell_process_start(pid_t pid);
/* Whether pid is still the process that started at start. */
bool cell_process_alive(pid_t pid, uint64_t start);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config-processes.h"

/*
 * cell up's files, in the project's state directory ($XDG_STATE_HOME/cell/projects/ID/up, the
 * user's, in no cell): up.lock (flock: held while a cell up runs the project's processes),
 * up.state (what cell ps shows, rewritten at each change), supervisor.log (a detached cell
 * up's own messages) and logs/NAME.log, each process's output, rotated at CELL_UP_LOG_MAX to
 * NAME.log.1 and NAME.log.2.
 */
#define CELL_UP_LOG_MAX (1024 * 1024)
#define CELL_UP_LOGS_KEPT 2

struct cell_up_proc {
	char name[CELL_PROCESS_NAME_MAX + 1];
	pid_t pid;	   /* its process on the host; 0: none runs */
	char state[16];	   /* waiting, starting, running, backoff, exited, stopping */
	unsigned restarts; /* how often it was started again */
	int ready;	   /* 1: ready, 0: not (yet), -1: it has no check */
	int64_t since;	   /* when it came to this state (unix seconds) */
	int status;	   /* its last exit status (128+N: signal N), -1: none yet */
};

struct cell_up_state {
	pid_t supervisor;	   /* the cell up */
	uint64_t supervisor_start; /* its start time (running.h's cell_process_start) */
	int64_t start;
	size_t n;
	struct cell_up_proc procs[CELL_PROCESSES_MAX];
};

/* The project's up directory (made 0700 with its logs directory if missing); *ret its path. */
int cell_up_dir(const char *state_home, const char *project_id, char **ret);
/* Takes up.lock: -EBUSY when a cell up holds it (a cell ps looking at it is waited for). */
int cell_up_lock(const char *dir, int *ret_fd);
/* Whether a cell up holds up.lock now. */
bool cell_up_running(const char *dir);
int cell_up_state_write(const char *dir, const struct cell_up_state *s);
/* Removes up.state (its writer, holding the lock, before it starts and when it ends). */
void cell_up_state_remove(const char *dir);
/* -ENOENT: none was written; -EBADMSG: not a state file. */
int cell_up_state_read(const char *dir, struct cell_up_state *ret);
/* logs/NAME.log, for appending; *ret_size: its size now. */
int cell_up_log_open(const char *dir, const char *name, int *ret_fd, off_t *ret_size);
/* NAME.log becomes NAME.log.1 (and .1 .2; the oldest goes). */
int cell_up_log_rotate(const char *dir, const char *name);
/* The path of NAME's log, generation 0 (the current one) to CELL_UP_LOGS_KEPT. */
char *cell_up_log_path(const char *dir, const char *name, unsigned generation);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "project.h"
#include "session.h"

/*
 * A project's session (docs/design.md §3, "Sessions"): one cell a project's commands share. Its
 * keeper, a process of the user's of its own (no terminal), opens the cell (its network, its
 * proxy, bubblewrap with a cell-init that holds the namespaces), and listens on
 * $XDG_STATE_HOME/cell/sessions/<project id>.sock for members: each `cell run`, `cell enter`
 * or hook's cd asks to join with the hash of its trusted config, gets the cell's id, network
 * mode, proxy port and a pidfd of its cell-init, enters the cell (member.c) and stays connected
 * while its command runs. When the last member's connection ends, the keeper stops listening
 * (a later command opens a new session), ends the cell and records it, as any cell is.
 *
 * Members are the keeper's uid only (SO_PEERCRED); the socket's directory is the user's, 0700,
 * outside every cell.
 */

#define CELL_KEEPER_MEMBERS_MAX 64

/* What a member is given. */
struct cell_keeper_grant {
	char id[CELL_SESSION_ID_MAX + 1];
	enum cell_net_mode mode;
	enum cell_isolation isolation; /* a proxy cell's: bpf or netns */
	bool held; /* cell-session opened the cell (plan.h): its members join by cell-session */
	uint16_t proxy_port;
	int init_pidfd; /* the session's cell-init */
	int seccomp_fd; /* the session's seccomp program, sealed (read it with pread) */
};

/* One member, as cell status shows it. */
struct cell_keeper_member {
	pid_t pid;     /* the cell command that joined (on the host) */
	int64_t since; /* unix seconds */
	char tty[32];  /* its terminal, or "-" */
	char what[96]; /* "shell" or the command's name */
};

/* The session as cell status shows it. */
struct cell_keeper_info {
	char id[CELL_SESSION_ID_MAX + 1];
	char project[128];
	enum cell_net_mode mode;
	enum cell_isolation isolation; /* a proxy cell's: bpf or netns */
	uint16_t proxy_port;
	int64_t start;
	pid_t keeper;
	size_t n_members;
	struct cell_keeper_member members[CELL_KEEPER_MEMBERS_MAX];
	/* a proxy cell of its own network namespace: the host's ports that reach the cell's */
	size_t n_forward;
	struct cell_forward forward[CELL_FORWARDS_MAX];
};

/* The directory of the user's session sockets and locks ($XDG_STATE_HOME/cell/sessions),
 * made 0700 if missing; an O_PATH descriptor of it. */
int cell_keeper_dir(const char *state_home, int *ret_fd);

/*
 * Connects to project_id's session in dir_fd: -ENOENT or -ECONNREFUSED when none is open.
 */
int cell_keeper_connect(int dir_fd, const char *project_id, int *ret_fd);
/*
 * Asks to join: 0 with *ret filled; -EXDEV when the session runs another config (its hash in
 * other, CELL_SHA256_HEX_LEN + 1 bytes); -ESTALE when it is closing (open a new one); another
 * negative errno when the keeper did not answer.
 */
int cell_keeper_join(int fd, const char *hash, const char *tty, const char *what,
		     struct cell_keeper_grant *ret, char *other);
/* The session's state and members. */
int cell_keeper_status(int fd, struct cell_keeper_info *ret);
/*
 * The member's command has ended: says so, and when it was the last member, waits (at most
 * timeout_ms) until the session takes no member any more and, a proxy cell's, is closed and
 * recorded.
 */
void cell_keeper_leave(int fd, int timeout_ms);

/*
 * The project's lock for opening its session (flock on <project id>.lock in dir_fd): one
 * command opens it while the others wait, then join. Returns the locked descriptor.
 */
int cell_keeper_lock(int dir_fd, const char *project_id, int *ret_fd);

/*
 * Starts project p's session with config c (hash: of the trusted config) in a keeper process of
 * its own, listening in dir_fd (cell_keeper_dir()), and waits until it listens. Its errors are said
 * on stderr (the keeper's is ours until then); a negative errno: -EINVAL when the config could not
 * be planned, -ECHILD when bubblewrap could not build the cell.
 */
int cell_keeper_start(const struct cell_project *p, const struct cell_config *c, const char *hash,
		      int dir_fd);

/*
 * cell gc's part: for each of the user's projects (under state_home), under its lock, a socket
 * whose keeper is gone is removed, and so are the runtime and leave directories of every
 * session but the open one. Returns how many sessions' leftovers went.
 */
unsigned cell_keeper_gc(const char *state_home);

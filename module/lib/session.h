/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "bpf.h"
#include "cell.h"
#include "limit.h"

/*
 * The privileged half of a cell (docs/design.md §3), for cell-session and pam_cell.so: a cell is
 * the cgroup <cgroup2>/cell.slice/<uid>-<id>, its entry in the BPF policy map, and its counters.
 * The session that opened it holds a lock on the cgroup directory for as long as it keeps the
 * cell; a cell whose lock is free has lost its keeper, and cell_session_reap() may close it.
 * Everything here needs root.
 */
#define CELL_SESSION_ID_MAX 48
#define CELL_SESSION_SLICE "cell.slice"
/*
 * How many cells one uid may have at once (open, or closed with a record not yet collected):
 * the kernel's tables (cell_policy, cell_stats: 4096 entries; 256 ring slots) are everyone's.
 */
#define CELL_SESSION_QUOTA 64
/* Records of cells closed with no one to read them, root's, until their owner's reap. */
#define CELL_SESSION_SPOOL_DIR "/run/cell/reaped"

struct cell_session {
	int dir_fd; /* the cell's cgroup directory, locked while the session keeps it */
	uid_t owner;
	uint64_t cgroup;
	char *path;
	struct cell_bpf_ring *ring; /* the cell's denials (cell_session_open's session) */
	char **limit_dirs;	    /* its limits' v1 directories (limit.h), or NULL */
};

/* An id is 1 to CELL_SESSION_ID_MAX of [A-Za-z0-9_-], not starting with '-'. */
bool cell_session_id_valid(const char *id);
/*
 * From /proc/PID/cgroup's text, the cgroup2 path ("0::PATH"), and the id of uid's cell if the
 * path is one ("SLICE/<uid>-<id>[/...]", SLICE the slice's path in the hierarchy, e.g.
 * "/cell.slice"): -ENOENT if not in a cell.
 */
int cell_session_cgroup_of(const char *proc_cgroup, char *path, size_t path_size);
int cell_session_cell_of(const char *cgroup_path, const char *slice, uid_t uid, char *id,
			 size_t id_size);
/* Whether a cgroup2 path (as /proc/PID/cgroup has it) is in a cell, anyone's. */
bool cell_session_path_in_cell(const char *cgroup_path);
/* Whether the calling process is in a cell: 1 or 0, or a negative errno. */
int cell_session_self_in_cell(void);
/* This process's cgroup2 path (/proc/self/cgroup's "0::" line), as cell_session_cgroup_of. */
int cell_session_self_cgroup(char *path, size_t path_size);
/* <cgroup2>/cell.slice, from a mountinfo file ("/proc/self/mountinfo", or a fixture). */
int cell_session_slice(const char *mountinfo, char **ret);
/*
 * Opens a new cell: the BPF programs attached to slice, the cell's cgroup made (mode 0700,
 * -EEXIST if it is there already) and locked, its ring buffer of denials and its policy
 * written; -EDQUOT when uid has CELL_SESSION_QUOTA cells (open ones and spooled records).
 * With l (limit.h; NULL: none), its limits: in its cgroup2 directory, or in v1 directories
 * that its first process joins with cell_session_limit_self() and a member with
 * cell_session_join(); -EOPNOTSUPP if a limit has no controller on this host.
 * Nothing is left behind on failure.
 */
int cell_session_open(const char *slice, uid_t uid, const char *id, const struct cell_policy *p,
		      const struct cell_limits *l, struct cell_session **ret);
/*
 * The cell's proxy is the listening socket handed to its session, not whatever listens on a
 * port: cell_session_proxy_socket_ok says whether fd is a TCP socket listening at 127.0.0.1,
 * bound to no device and not in a SO_REUSEPORT group, and
 * cell_session_own_socket makes it the cell's own (its processes may connect to it; none of theirs
 * is in the cell yet). When the proxy's socket is closed (it died), whoever listens on the port
 * next is not the cell's.
 */
bool cell_session_proxy_socket_ok(int fd);
int cell_session_own_socket(const struct cell_session *s, int fd);
/* Readable (poll) when denials wait for cell_session_events(). */
int cell_session_events_fd(const struct cell_session *s);
/* Calls fn for each denial waiting in the cell's ring buffer; stops when fn returns non-zero. */
int cell_session_events(struct cell_session *s, int (*fn)(const struct cell_event *e, void *data),
			void *data);
/*
 * Forks a child that starts in the cell's cgroup (clone3 with CLONE_INTO_CGROUP: no write to
 * cgroup.procs, which waits for an RCU grace period); returns its pid (0 in the child) and a
 * pidfd of it in *ret_pidfd, or a negative errno. The child has no hold of the cell's
 * directory (its lock is the parent's alone), and is killed should the parent die before the
 * child changes its user ids.
 */
pid_t cell_session_fork(const struct cell_session *s, int *ret_pidfd);
/*
 * In cell_session_fork()'s child, before it drops privilege: into the cell's limits' v1
 * directories, if it has them (a cgroup2 cell's limits hold from the fork).
 */
int cell_session_limit_self(const struct cell_session *s);
/*
 * Closes the cell: kills what is left in it, waits until it is empty, reads its counters into
 * *ret (if not NULL) and what its limits saw into *ret_usage (if not NULL), deletes its policy,
 * counters and ring buffer and removes the cgroup (and its limits' v1 directories).
 * Kills only the owner's processes: -EPERM, with the cell left as it is, if another uid's
 * process is in it (a login's cell holds root's sshd or su). Frees s, also on failure.
 */
int cell_session_close(struct cell_session *s, struct cell_counters *ret,
		       struct cell_limits_usage *ret_usage);
/* Releases s and its lock, leaving the cell as it is (for cell_session_reap() to close). */
void cell_session_free(struct cell_session *s);
/*
 * Closes uid's cell id if no session keeps it, as cell_session_close does (with
 * CELL_SESSION_KILL_ANY in flags, whoever is in it: root's close of a login's cell): -ENOENT
 * when there is no such cell, -EBUSY when its keeper is alive.
 */
#define CELL_SESSION_KILL_ANY (1u << 0)
int cell_session_reap(const char *slice, uid_t uid, const char *id, unsigned flags,
		      struct cell_counters *ret, struct cell_limits_usage *ret_usage);
/*
 * A closed cell's record, kept (in CELL_SESSION_SPOOL_DIR) for its owner when no one was there
 * to read it; cell_session_unspool hands it out once (-ENOENT: none).
 */
int cell_session_spool(uid_t uid, const char *id, const char *record);
int cell_session_unspool(uid_t uid, const char *id, char **ret_record);
/*
 * Root's sweep: closes every cell in slice, of any uid, whose keeper is gone and that holds no
 * other uid's process, spooling its record for its owner; fn is told of each (uid, id).
 */
int cell_session_reap_all(const char *slice, void (*fn)(uid_t uid, const char *id, void *data),
			  void *data);
/*
 * Moves the calling process into uid's cell id, which a session keeps (a new member of a project
 * session: cell-session join): -ENOENT when there is no such cell, -ESTALE when no session keeps
 * it (it is closing, or was cut short).
 */
int cell_session_join(const char *slice, uid_t uid, const char *id);
/* What the limits of uid's open cell id have seen so far (limit.h; -ENOENT: no such cell). */
int cell_session_usage(const char *slice, uid_t uid, const char *id, struct cell_limits_usage *ret);
/* The counters so far of uid's cell id (-ENOENT: no such cell). */
int cell_session_counters(const char *slice, uid_t uid, const char *id, struct cell_counters *ret);
/*
 * Calls fn with the id of each of uid's cells in slice (the part after "<uid>-"); stops early
 * when fn returns non-zero and returns that.
 */
int cell_session_list(const char *slice, uid_t uid, int (*fn)(const char *id, void *data),
		      void *data);
/*
 * One line of JSON about a closed cell: {"id":ID,"status":S,"connects_allowed":..,...} with
 * every counter, and memory_peak, oom_kills, pids_refused where u has them (not 0); status < 0
 * leaves it out (a reaped cell's status is unknown).
 */
int cell_session_record(const char *id, int status, const struct cell_counters *c,
			const struct cell_limits_usage *u, char **ret);

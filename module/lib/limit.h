/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A cell's limits.memory, limits.pids and limits.cpu held by the kernel's cgroup controllers
 * (docs/design.md §3 "Limits"): in the cell's own cgroup2 directory where its slice has the
 * controllers (a unified host), else in a directory of each cgroup v1 hierarchy that has one (a
 * hybrid host: <mount>/<the caller's cgroup there>/cell.slice/<uid>-<id>, nested under where the
 * caller already is, so that a limit an administrator set above it still holds). Needs root.
 */
struct cell_limits {
	uint64_t memory; /* bytes; 0: none */
	uint32_t pids;	 /* 0: none */
	uint32_t cpu;	 /* thousandths of a CPU; 0: none */
};

/* What the kernel saw of a limited cell, read as it closes (0 where it does not say). */
struct cell_limits_usage {
	uint64_t memory_peak;  /* bytes */
	uint64_t oom_kills;    /* processes the memory limit's OOM killer ended */
	uint64_t pids_refused; /* forks refused at the pids limit */
};

/* Where limits are held: root-owned records of the v1 directories made, one file a cell. */
#define CELL_LIMITS_DIR "/run/cell/limits"

static inline bool cell_limits_any(const struct cell_limits *l)
{
	return l->memory || l->pids || l->cpu;
}

/*
 * cgroup2: enables in the slice's cgroup.subtree_control the controllers l needs (memory, pids,
 * cpu) and writes the limits into the cell's directory (memory.max, memory.swap.max 0,
 * pids.max, cpu.max); -EOPNOTSUPP, writing nothing, if the slice's cgroup.controllers lacks
 * one (a hybrid host: take v1). Every write is logged at debug level.
 */
int cell_limits_v2_apply(int slice_fd, int cell_fd, const struct cell_limits *l);
int cell_limits_v2_usage(int cell_fd, struct cell_limits_usage *ret);

/*
 * cgroup v1, where the hierarchy of each controller l needs is mounted (mountinfo, and the
 * caller's place in each, from its /proc/PID/cgroup text): cell_limits_v1_plan names the
 * directories, cell.slice/<name> below the caller's cgroup in each (-EOPNOTSUPP: a controller l
 * needs has no hierarchy), so that they can be recorded before they are made;
 * cell_limits_v1_make makes them and writes the limits (memory.limit_in_bytes and, with swap
 * accounting, memory.memsw.limit_in_bytes; pids.max; cpu.cfs_quota_us). A cell.slice that is
 * there must be root's, writable by no one else (-EPERM). Nothing is left on failure.
 */
int cell_limits_v1_plan(const char *mountinfo, const char *proc_cgroup, const char *name,
			const struct cell_limits *l, char ***ret_dirs);
int cell_limits_v1_make(char *const *dirs, const struct cell_limits *l);
/* Moves pid (0: the caller) into each directory. */
int cell_limits_v1_join(char *const *dirs, pid_t pid);
/* Moves pid back to where the cell's opener was in each hierarchy (the parent of each
 * directory's cell.slice): out of the cell's limits, so that they can be removed. */
int cell_limits_v1_leave(char *const *dirs, pid_t pid);
int cell_limits_v1_usage(char *const *dirs, struct cell_limits_usage *ret);
/* What a cell's limits saw: in its v1 directories where it has them, else in its cgroup2
 * directory (cell_fd). */
int cell_limits_usage(int cell_fd, char *const *v1_dirs, struct cell_limits_usage *ret);
/*
 * Removes the directories (their processes gone; waits up to a second for the kernel), and
 * each cell.slice that is left empty; one never made is fine.
 */
int cell_limits_v1_remove(char *const *dirs);

/* Where a controller is for cells on this host (cell_limits_where). */
enum cell_limits_place {
	CELL_LIMITS_NOWHERE,
	CELL_LIMITS_V2, /* the cells' slice has it (or the cgroup2 root enables it for its children)
			 */
	CELL_LIMITS_V1, /* a mounted v1 hierarchy, with a place for the caller in it */
};
/*
 * Where controller ("memory", "pids", "cpu") would hold a cell's limit: slice is the cells'
 * cgroup2 slice (<cgroup2>/cell.slice, which may not exist yet); mountinfo and proc_cgroup as
 * for cell_limits_v1_plan.
 */
enum cell_limits_place cell_limits_where(const char *slice, const char *mountinfo,
					 const char *proc_cgroup, const char *controller);

/*
 * The record of a cell's v1 directories (record_dir/<name>, one path a line), so that whoever
 * closes the cell (its session, or a reap by another process) finds them.
 */
int cell_limits_save(const char *record_dir, const char *name, char *const *dirs);
/* -ENOENT: the cell has none. */
int cell_limits_load(const char *record_dir, const char *name, char ***ret_dirs);
int cell_limits_forget(const char *record_dir, const char *name);

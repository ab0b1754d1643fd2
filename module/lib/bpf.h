/* SPDX-License-Identifier: MIT */
#pragma once

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cell.h"

/*
 * The cell's BPF programs (bpf/cell.bpf.c): loaded once and attached to <cgroup2>/cell.slice
 * through bpf links pinned, with the maps, under CELL_BPF_PIN_DIR, so they outlive whoever
 * loaded them. Everything here needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN): it is for
 * cell-session and for tests.
 */
#define CELL_BPF_FS "/sys/fs/bpf"
#define CELL_BPF_PIN_DIR CELL_BPF_FS "/cell"

/*
 * The pin directory must be root's alone: a directory (not a symbolic link) owned by root that
 * no one else may write, since cell-session reuses the maps it finds there. Where bpffs is
 * mounted 1777 (some distributions), anyone could have made it first and planted maps (or a
 * link to a directory of theirs) for the privileged side to use.
 */
enum cell_bpf_pin_state {
	CELL_BPF_PIN_FINE,
	CELL_BPF_PIN_MISSING,	/* made on first use */
	CELL_BPF_PIN_NOT_ROOTS, /* not root's alone: refused */
};
struct cell_bpf_pin_dir {
	enum cell_bpf_pin_state state;
	mode_t mode; /* the file type and permissions, as lstat sees them (0 when missing) */
	uid_t uid;
};
/* What path is, looked at without following a link or making anything; -errno if it cannot be. */
int cell_bpf_pin_dir_inspect(const char *path, struct cell_bpf_pin_dir *ret);
/*
 * Opens path as the pin directory (made 0700 first when create and it is missing): returns a
 * descriptor of it (O_DIRECTORY, O_CLOEXEC) once it is root's alone, -EPERM when it is not (then
 * detail says what it is), or another -errno (-ENOENT: missing, and not create).
 */
int cell_bpf_pin_dir_open(const char *path, bool create, struct cell_bpf_pin_dir *detail);
/* "fine", "missing (made on first use)", "not root's alone". */
const char *cell_bpf_pin_state_name(enum cell_bpf_pin_state s);
/*
 * What is wrong with one that is not root's alone, as "a symbolic link, owner uid 1000" or
 * "owner uid 1000, mode 0777" (malloc'd; NULL when out of memory).
 */
char *cell_bpf_pin_dir_describe(const struct cell_bpf_pin_dir *d);
/*
 * When CELL_BPF_PIN_DIR is not root's alone, the whole story for whoever can fix it (what is
 * wrong, and to remove it as root), malloc'd; else NULL. For cell-session and pam_cell to say
 * after a refusal.
 */
char *cell_bpf_pin_dir_problem(void);

/*
 * Makes sure the programs are attached to slice (a cgroup2 directory, created if missing):
 * mounts the BPF filesystem if nothing is, loads and attaches what is missing, and replaces
 * the programs of an older CELL_BPF_VERSION in place (the maps, and so the counters and
 * policies, stay). Cheap when all is in place already. -EPROTONOSUPPORT: a newer build's
 * programs are attached, and an older build does not replace them. -EPERM: CELL_BPF_PIN_DIR is
 * not root's alone (cell_bpf_pin_dir_problem), or the kernel does not let us load programs.
 */
int cell_bpf_setup(const char *slice);
/* The CELL_BPF_VERSION of the programs attached, or 0 if none are. */
uint32_t cell_bpf_attached_version(void);
/*
 * Whether the kernel has the Unix socket hooks (cgroup/connect_unix and sendmsg_unix, 6.7+) that
 * keep cells off the host's abstract Unix sockets: read from its BTF, so anyone can ask.
 */
bool cell_bpf_has_unix_hooks(void);
/* The id of the cgroup2 directory at path (what the programs see as the cgroup id). */
int cell_bpf_cgroup_id(const char *path, uint64_t *ret);
int cell_bpf_policy_set(uint64_t cgroup, const struct cell_policy *p);
int cell_bpf_policy_delete(uint64_t cgroup);
/*
 * Makes the socket sock a socket of the cell's own (cell_owner_of), as the programs make one the
 * cell binds: its connections and datagrams may reach it. For a socket made outside the cell
 * (its proxy's listening socket); -EEXIST if it is a cell's already. The mark goes with the
 * socket: when it is closed, nothing on its port is the cell's.
 */
int cell_bpf_own_socket(uint64_t cgroup, int sock);
/* The cell's counters, summed over CPUs (zero if it has none yet). */
int cell_bpf_counters(uint64_t cgroup, struct cell_counters *ret);
int cell_bpf_counters_delete(uint64_t cgroup);
/*
 * Calls fn for each denial event waiting or arriving within timeout_ms (0: only those
 * waiting); stops early when fn returns non-zero, and returns that.
 */
int cell_bpf_events(int timeout_ms, int (*fn)(const struct cell_event *e, void *data), void *data);

/*
 * A cell's own ring buffer of denials: cell_bpf_ring_open takes a slot of the pool for the
 * cell's cgroup (-ENOSPC: all are taken; -EEXIST: the cell has one) and its ring buffer (made
 * on a slot's first use, kept for the next cell), drained by the cell's keeper, which sees only
 * the cell's own events. cell_bpf_ring_free lets go of it here; cell_bpf_ring_release gives
 * the cell's slot back (no slot is fine).
 */
struct cell_bpf_ring;
int cell_bpf_ring_open(uint64_t cgroup, struct cell_bpf_ring **ret);
/* Readable (poll) when events wait. */
int cell_bpf_ring_fd(const struct cell_bpf_ring *r);
/* Calls fn for each waiting event; stops early when fn returns non-zero, and returns that. */
int cell_bpf_ring_drain(struct cell_bpf_ring *r, int (*fn)(const struct cell_event *e, void *data),
			void *data);
void cell_bpf_ring_free(struct cell_bpf_ring *r);
int cell_bpf_ring_release(uint64_t cgroup);

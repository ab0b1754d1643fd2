/* SPDX-License-Identifier: MIT */
#pragma once

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>

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
 * Makes sure the programs are attached to slice (a cgroup2 directory, created if missing):
 * mounts the BPF filesystem if nothing is, loads and attaches what is missing, and replaces
 * the programs of an older CELL_BPF_VERSION in place (the maps, and so the counters and
 * policies, stay). Cheap when all is in place already. -EPROTONOSUPPORT: a newer build's
 * programs are attached, and an older build does not replace them.
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

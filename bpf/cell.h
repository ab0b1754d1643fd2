/* SPDX-License-Identifier: MIT */
/* What bpf/cell.bpf.c and user space (module/lib/bpf.c) share: map keys, values, events. */
#pragma once

/* Bumped when a program's behaviour or a map's layout changes: a newer loader replaces the
 * pinned programs of an older one in place. */
#define CELL_BPF_VERSION 10

#define CELL_LOCAL_PORTS_MAX 16
/* cgroup levels searched above a socket's cgroup for its cell's policy */
#define CELL_CGROUP_DEPTH_MAX 16

/* cell_policy: cgroup id → what the cell's sockets may reach (ports in host byte order) */
struct cell_policy {
	/* unused (0): was the proxy's port, which the programs no longer look at (they know the
	 * proxy by its socket, marked the cell's in cell_owner_of); kept so that the policy map
	 * an older build pinned stays the same shape and is taken over in place */
	__u16 reserved;
	__u16 n_local_ports;
	__u16 local_ports[CELL_LOCAL_PORTS_MAX]; /* TCP or UDP to loopback: network.local_ports */
	__u32 flags;				 /* CELL_POLICY_* */
};

/* no deny events for this cell (counters only) */
#define CELL_POLICY_QUIET (1u << 0)

/* cell_stats (per CPU): cgroup id → counters (all __u64: user space sums them as an array) */
struct cell_counters {
	__u64 connects_allowed; /* TCP and UDP connects, and UDP sends, let through */
	__u64 connects_denied;
	__u64 udp_denied; /* unconnected UDP (and Unix datagram) sends refused */
	__u64 bytes_in, bytes_out;
	__u64 packets_in, packets_out;
	__u64 sockets_denied; /* raw and packet sockets refused */
};

/* cell_owner_of (socket storage): the cell whose process bound the socket, or whose proxy's
 * socket it is (a cgroup id) */
struct cell_owner {
	__u64 cgroup;
};

enum cell_deny_reason {
	CELL_DENY_NO_POLICY = 1, /* a cgroup under cell.slice with no policy of its own or above */
	CELL_DENY_NOT_LOOPBACK,	 /* anything but loopback: only the proxy goes out */
	CELL_DENY_PORT, /* loopback, but not the proxy, a listed port or a socket the cell bound */
	CELL_DENY_SOCKET,	 /* a raw or packet socket */
	CELL_DENY_ABSTRACT_UNIX, /* an abstract Unix socket (shared with the host's namespace) */
};

/*
 * A cell's denials go to a ring buffer of its own, drained by its keeper: one of a pool of
 * CELL_RING_SLOTS (cell_ring_pool), each made the first time a cell takes its slot and kept
 * for the next (putting a map into a map of maps waits for an RCU grace period: ~15 ms a
 * cell). cell_ring_owner (slot → cgroup id, taken with BPF_NOEXIST) hands the slots out,
 * cell_ring_slot (cgroup id → slot) is the programs' way to a cell's. A cell with no slot (all
 * taken) reports to the shared cell_events, which no one reads: its counters still count.
 */
#define CELL_RING_SLOTS 256
#define CELL_RING_BYTES (64 * 1024)

/* one per denial */
struct cell_event {
	__u64 time_ns; /* CLOCK_BOOTTIME */
	__u64 cgroup;
	__u32 pid, tgid;
	char comm[16];
	__u16 family, protocol;
	__u16 port; /* host byte order */
	__u16 reason;
	__u8 addr[16]; /* an IPv4 address in the first four bytes */
};

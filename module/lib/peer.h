/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/*
 * Who is at the other end of an accepted TCP connection on this machine: the cgroup of the
 * peer's socket (the cgroup its creator was in), as the kernel's socket diagnostics tell it
 * (NETLINK_SOCK_DIAG, what ss uses: any user may ask). The peer's socket is the one whose own
 * end is the connection's peer address and whose other end is ours. For connections over
 * loopback (lo): a peer socket bound to another device is not found.
 */
struct cell_peer;

int cell_peer_new(struct cell_peer **ret);
void cell_peer_free(struct cell_peer *p);
/* The cgroup id of the socket at the other end of fd (-ENOENT: the kernel knows none). */
int cell_peer_cgroup(struct cell_peer *p, int fd, uint64_t *ret);

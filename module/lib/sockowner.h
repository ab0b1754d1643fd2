/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * Which process holds the other end of a TCP connection on this machine that fd accepted (a
 * cell's client of its proxy), as the kernel knows it: its comm and its executable's path.
 * Looked for among this user's processes only, in each network namespace they are in (a cell
 * may have one of its own): /proc/PID/net/tcp names the socket, /proc/PID/fd its holder. Some
 * milliseconds with hundreds of processes: for cell learn, not every connection. -ENOENT when
 * no process of the user's holds it (gone already, or someone else's).
 */
int cell_sock_owner(int fd, char *comm, size_t comm_size, char *exe, size_t exe_size);

/* SPDX-License-Identifier: MIT */
/*
 * libcellshim.so, loaded into every process of a proxy-mode cell (LD_PRELOAD): clients that
 * ignore HTTP_PROXY go through the cell's proxy anyway, by host name (docs/design.md §4). What it
 * shares with cell is in module/lib/shimproto.h.
 */
#pragma once

#include <netdb.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shimproto.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

/* The cell's settings, read once when the library loads; NULL outside a cell (then every hook
 * passes straight through). */
const struct cell_shim_conf *shim_conf(void);

/*
 * The next definitions of what the shim hooks (libc's), looked up when the library loads, or
 * by the first hook that runs before that (another library's constructor): never first in a
 * signal handler or a vfork child, where dlsym's lock may be held by someone who is not there.
 */
struct shim_nexts {
	__typeof__(&connect) connect;
	__typeof__(&sendto) sendto;
	__typeof__(&sendmsg) sendmsg;
	__typeof__(&getaddrinfo) getaddrinfo;
	__typeof__(&getnameinfo) getnameinfo;
	__typeof__(&gethostbyname2) gethostbyname2;
	__typeof__(&gethostbyname2_r) gethostbyname2_r;
	__typeof__(&execve) execve;
	__typeof__(&execvpe) execvpe;
	__typeof__(&execveat) execveat;
	__typeof__(&fexecve) fexecve;
	__typeof__(&posix_spawn) posix_spawn;
	__typeof__(&posix_spawnp) posix_spawnp;
};
const struct shim_nexts *shim_next(void);

/* Waits until fd has events, up to deadline_ms: 0, or -ETIMEDOUT (or -errno). */
int shim_wait(int fd, short events, int64_t deadline_ms);

/* Connects fd to the cell's proxy on 127.0.0.1 (IPv4-mapped on an IPv6 socket) and waits, up
 * to deadline_ms (CLOCK_MONOTONIC), until it is connected: 0 or -errno. */
int shim_connect_proxy(int fd, int family, int64_t deadline_ms);
int64_t shim_now_ms(void);
/* Writes all of buf, or reads exactly n bytes, waiting up to deadline_ms: 0 or -errno. */
int shim_send_all(int fd, const void *buf, size_t n, int64_t deadline_ms);
int shim_recv_exact(int fd, void *buf, size_t n, int64_t deadline_ms);

/* A line on stderr (never stdout), once per key for the process's life. */
void shim_say_once(const char *key, const char *line);

/* How long a connection through the proxy may take to be set up. */
#define SHIM_CONNECT_MS 30000

/* SPDX-License-Identifier: MIT */
/*
 * libcellshim.so, loaded into every process of a proxy-mode cell (LD_PRELOAD): clients that
 * ignore HTTP_PROXY go through the cell's proxy anyway, by host name (DESIGN §4). What it
 * shares with cell is in module/lib/shimproto.h.
 */
#pragma once

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "shimproto.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

/* The cell's settings, read once when the library loads; NULL outside a cell (then every hook
 * passes straight through). */
const struct cell_shim_conf *shim_conf(void);

/* The next definition of a libc function (the one the hook stands in for). */
void *shim_next(const char *name);
/*
 * The next fn, looked up once per call site and kept. exec.c looks its own up when the library
 * loads: a vfork child must not be the first to (dlsym takes the loader's lock).
 */
#define SHIM_NEXT(fn)                                                           \
	({                                                                      \
		static __typeof__(&fn) next_;                                   \
		__typeof__(&fn) f_ = __atomic_load_n(&next_, __ATOMIC_ACQUIRE); \
		if (!f_) {                                                      \
			f_ = (__typeof__(&fn))shim_next(#fn);                   \
			__atomic_store_n(&next_, f_, __ATOMIC_RELEASE);         \
		}                                                               \
		f_;                                                             \
	})

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

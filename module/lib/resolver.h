/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Name lookups off the event loop: getaddrinfo() (so /etc/hosts and nsswitch apply, as for
 * every other program) on a few worker threads, and more while all of them are busy; finished
 * lookups are handed back through an eventfd the loop watches. A slow lookup holds one worker,
 * never the loop, and does not hold up the lookups after it.
 */
struct cell_resolver;

#define CELL_RESOLVE_MAX_ADDRS 8

struct cell_resolved {
	uint64_t id;
	int gai_error; /* 0, or a getaddrinfo error (gai_strerror) */
	struct sockaddr_storage addrs[CELL_RESOLVE_MAX_ADDRS];
	socklen_t lens[CELL_RESOLVE_MAX_ADDRS];
	size_t n;
};

/* Starts threads workers; more start while every one is busy, up to max_threads. */
int cell_resolver_new(unsigned threads, unsigned max_threads, struct cell_resolver **ret);
/* Stops and joins the workers; lookups still running are waited for. */
void cell_resolver_free(struct cell_resolver *r);
/* Readable when finished lookups are waiting for cell_resolver_drain(). */
int cell_resolver_fd(const struct cell_resolver *r);
int cell_resolver_submit(struct cell_resolver *r, uint64_t id, const char *host, uint16_t port);
void cell_resolver_drain(struct cell_resolver *r,
			 void (*fn)(const struct cell_resolved *res, void *data), void *data);

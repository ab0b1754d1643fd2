/* SPDX-License-Identifier: MIT */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Fake addresses for the names a cell's shim cannot resolve (docs/design.md §4): a program in the
 * cell gets one of these for a name, connects to it, and the shim's CONNECT to the proxy carries
 * it; the proxy, which keeps the table for all the cell's processes, turns it back into the name.
 *
 * The ranges are the ones reserved for benchmarking, which no real destination uses:
 * 198.18.0.0/15 (RFC 2544) for IPv4 and 2001:2::/48 (RFC 5180) for IPv6, the same index in
 * both (not 224/4: multicast addresses make ssh and others give up before connecting). Index i
 * is 198.18.0.0 + 1 + i and 2001:2::(1 + i), so neither range's first address is used.
 */
#define CELL_FAKEADDR_MAX ((1u << 17) - 2) /* 198.18.0.1 ... 198.19.255.254 */

/* The fake IPv4 and IPv6 addresses of index (< CELL_FAKEADDR_MAX). */
void cell_fakeaddr_v4(uint32_t index, struct in_addr *ret);
void cell_fakeaddr_v6(uint32_t index, struct in6_addr *ret);
/* The index a fake address stands for (IPv4-mapped IPv6 included); false if it is not one. */
bool cell_fakeaddr_index_v4(const struct in_addr *a, uint32_t *ret);
bool cell_fakeaddr_index_v6(const struct in6_addr *a, uint32_t *ret);
/* Whether text is a fake address (either family), and its index. */
bool cell_fakeaddr_parse(const char *text, uint32_t *ret);

/*
 * The table: name ↔ index. A new name takes the next free index; once all capacity are taken,
 * the least recently used name gives its index up to the new one (an old address of it then
 * stands for the new name, so the proxy's allowlist decides for the new name). Looking a name
 * up or an index up counts as a use.
 */
struct cell_fakeaddr;

int cell_fakeaddr_new(size_t capacity, struct cell_fakeaddr **ret);
void cell_fakeaddr_free(struct cell_fakeaddr *t);
/* The index of name (a host name, at most 253 characters), given one if it has none. */
int cell_fakeaddr_get(struct cell_fakeaddr *t, const char *name, uint32_t *ret);
/* The name at index, or NULL if none has it. */
const char *cell_fakeaddr_name(struct cell_fakeaddr *t, uint32_t index);
size_t cell_fakeaddr_count(const struct cell_fakeaddr *t);

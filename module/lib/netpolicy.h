/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* One entry of network.allow or network.deny. */
enum cell_netrule_kind {
	CELL_NETRULE_HOST,   /* "github.com": that host only */
	CELL_NETRULE_SUFFIX, /* "*.github.com": subdomains, not the apex */
	CELL_NETRULE_ADDR,   /* "10.1.2.3", "[fd00::1]": that address */
	CELL_NETRULE_CIDR,   /* "10.0.0.0/8", "fd00::/8": a range of addresses */
};

#define CELL_HOST_MAX 253

struct cell_netrule {
	enum cell_netrule_kind kind;
	char host[CELL_HOST_MAX + 1]; /* HOST and SUFFIX (without "*."): lowercase, no final dot */
	int family;		      /* ADDR, CIDR: AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix; /* CIDR */
	uint16_t port;	 /* 0: the default ports, 80 and 443 */
};

/*
 * Parses a rule. On error returns -EINVAL and points *ret_why at a static phrase that completes
 * "is not a host rule: ..." for the user.
 */
int cell_netrule_parse(const char *s, struct cell_netrule *ret, const char **ret_why);
/* The canonical text of a rule ("Example.COM." → "example.com"); -ENOSPC if size is too small. */
int cell_netrule_format(const struct cell_netrule *r, char *buf, size_t size);
/* Checks and normalises a plain host name (no wildcard, no port) into buf. */
int cell_hostname_normalize(const char *s, char *buf, size_t size, const char **ret_why);

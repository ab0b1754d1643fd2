/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "netpolicy.h"

/*
 * The proxy the cell's proxy goes through to reach the hosts it allows (an organisation's HTTP
 * proxy): network.upstream_proxy in the user's config, else the HTTPS_PROXY / HTTP_PROXY that
 * cell was started with (docs/design.md §4). Hosts that match no_proxy (NO_PROXY's forms: "*",
 * "example.com" and ".example.com" for the name and its subdomains, an address) go direct.
 */
struct cell_upstream {
	char host[CELL_HOST_MAX + 1];
	bool ipv6; /* host is an IPv6 literal (written without brackets) */
	uint16_t port;
	char **no_proxy;
};

/*
 * Parses "http://HOST:PORT" (the scheme, a trailing "/" and the port, 3128 if left out, as curl
 * takes them). -EINVAL with *ret_why for anything else (another scheme, credentials, a path).
 */
int cell_upstream_parse(const char *url, struct cell_upstream *ret, const char **ret_why);
/* Splits a NO_PROXY value ("a.com, .b.org,10.0.0.1") into *ret (NULL-terminated). */
int cell_upstream_no_proxy(const char *value, char ***ret);
/* The same from a list of entries (network.upstream_no_proxy). */
int cell_upstream_no_proxy_list(char *const *entries, char ***ret);
/* Whether host goes direct: no_proxy names it (or "*" is there). */
bool cell_upstream_bypass(const struct cell_upstream *u, const char *host);
void cell_upstream_done(struct cell_upstream *u);

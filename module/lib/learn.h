/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * cell learn: from what a run needed and was refused (or, permissive, got without a rule), the
 * smallest change to network.allow that would have let it through.
 */
struct cell_learn_need {
	const char *host; /* a name (lowercase) or an IP literal, without brackets */
	uint16_t port;
};

/*
 * The entries to add to network.allow, in a new NULL-ended array (cell_strv_free it): first
 * the presets ("@npm") whose hosts cover needed ones (80 or 443) and that allow does not name
 * already; then "*.DOMAIN" (":PORT" where not 80 or 443) where three or more names right below
 * one DOMAIN were needed at one port, and DOMAIN is no public suffix (psl; NULL: no wildcard at
 * all); then each other host, as "host", "host:port", "10.1.2.3:port" or "[fd00::1]:port".
 * Each once, the rules sorted. (The caller leaves out what must not be allowed by a rule:
 * cell_address_special.)
 */
struct cell_psl;
int cell_learn_propose(const struct cell_learn_need *needs, size_t n, char *const *allow,
		       size_t n_allow, const struct cell_psl *psl, char ***ret);

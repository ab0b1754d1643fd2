/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/*
 * The public suffix list (publicsuffix.org, Debian's publicsuffix package): the domains under
 * which anyone may register a name (com, co.uk, github.io), where "*.DOMAIN" would allow
 * everyone's names.
 */
#define CELL_PSL_PATH "/usr/share/publicsuffix/public_suffix_list.dat"

struct cell_psl;
int cell_psl_load(const char *path, struct cell_psl **ret);
void cell_psl_free(struct cell_psl *l);
/* Whether domain (lowercase, ASCII) is a public suffix: a rule names it, a wildcard rule names
 * its parent (and no exception names it), or it has one label. */
bool cell_psl_is_suffix(const struct cell_psl *l, const char *domain);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* Where a home keeps credentials (relative to it): cell explain warns when a mount exposes
 * one, and a provider's sandbox does not see them. */
extern const char *const cell_secret_dirs[];
extern const size_t cell_n_secret_dirs;

struct cell_config;
struct cell_diag;

/* A secret's value, as the proxy holds it (in memory locked in RAM, never written anywhere). */
struct cell_secret_value {
	char *name;
	char *value;
	size_t len;
};

struct cell_secret_values {
	struct cell_secret_value *v;
	size_t n;
};

/*
 * Reads every secret of c's "secrets" (config-secrets.h), outside any cell: a command's output
 * (its argv[0] a path, or looked up in /usr/local/bin, /usr/bin, /bin; stdin /dev/null; up to 64
 * KiB; the trailing newline dropped), a file's first line, a variable. An error names the secret
 * and what went wrong, never its value; an empty secret is an error. *ret is NULL when c has none.
 */
int cell_secrets_load(const struct cell_config *c, struct cell_secret_values **ret,
		      struct cell_diag *diag);
const struct cell_secret_value *cell_secrets_find(const struct cell_secret_values *s,
						  const char *name, size_t len);
/* Wipes the values and frees them. */
void cell_secrets_free(struct cell_secret_values *s);

static inline void cell_secrets_freep(struct cell_secret_values **s)
{
	cell_secrets_free(*s);
}

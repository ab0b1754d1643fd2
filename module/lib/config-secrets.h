/* SPDX-License-Identifier: MIT */
#pragma once

#include <cJSON.h>
#include <stddef.h>

#include "config.h"
#include "schema.h"

/*
 * The user's config's "secrets" (config.c's part for them): name → {"command": [ARGV...]},
 * {"file": PATH} or {"env": NAME}. A project's config names none (the project must not choose
 * what its cell's requests carry); allow rules refer to them in "inject" as ${secret:NAME}.
 */
#define CELL_SECRET_NAME_MAX 64

int cell_config_apply_secrets(struct cell_schema *s, const cJSON *v, struct cell_config *c,
			      const char *project_root, const struct cell_config_env *env);
void cell_config_secrets_free(struct cell_secret *secrets, size_t n);
const struct cell_secret *cell_config_secret(const struct cell_config *c, const char *name);

/*
 * Calls fn for each ${secret:NAME} in an inject value (name, its length); stops at fn's
 * non-zero return, which it returns. -EINVAL, *ret_why set, for a "${" that is no such
 * reference.
 */
int cell_secret_refs(const char *value, int (*fn)(const char *name, size_t len, void *data),
		     void *data, const char **ret_why);

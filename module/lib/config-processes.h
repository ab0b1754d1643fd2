/* SPDX-License-Identifier: MIT */
#pragma once

#include <cJSON.h>
#include <stddef.h>

#include "config.h"
#include "schema.h"

/*
 * The config's "processes" (config.c's part for them): name → {exec, ready, restart,
 * depends_on}. Maps merge by name (a later file's process replaces an earlier one's); every
 * depends_on names a process of the config, and none depends on itself through others.
 */
#define CELL_PROCESSES_MAX 32
/* A process's name: 1 to this many of [A-Za-z0-9._-], starting with a letter or digit. */
#define CELL_PROCESS_NAME_MAX 32

int cell_config_apply_processes(struct cell_schema *s, const cJSON *v, struct cell_config *c);
void cell_config_processes_free(struct cell_process *p, size_t n);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "cell.h"

/* The kernel's per-cell counters by name, as they appear in JSON (session records, the ledger). */
struct cell_counter_field {
	const char *key;
	size_t offset;
};

extern const struct cell_counter_field cell_counter_fields[];
extern const size_t cell_counter_n_fields;

static inline uint64_t *cell_counter(struct cell_counters *c, size_t i)
{
	return (uint64_t *)(void *)((char *)c + cell_counter_fields[i].offset);
}

static inline uint64_t cell_counter_get(const struct cell_counters *c, size_t i)
{
	return *(const uint64_t *)(const void *)((const char *)c + cell_counter_fields[i].offset);
}

/* SPDX-License-Identifier: MIT */
#pragma once

#include <cJSON.h>

/*
 * The Prometheus text format (0.0.4, what node_exporter's textfile collector and a scrape read)
 * of what cell counted, from a JSON array of projects, each
 *   {"user": U, "project_id": ID, "name": NAME, "open": OPEN CELLS,
 *    "record": A LEDGER RECORD (stats.h) SUMMING THE PROJECT'S,
 *    "budget": [{"kind": "out", "period": "day", "limit": N, "used": N}, ...]}
 * Every family has its HELP and TYPE; counters end in _total; label values are escaped.
 * docs/metrics.md names each family.
 */
int cell_metrics_format(const cJSON *projects, char **ret_text);

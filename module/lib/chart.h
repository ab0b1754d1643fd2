/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Bytes per host over time as a page a person would rather look at than read: a self-contained
 * HTML page (no script, no file or address it loads) with an inline SVG chart of stacked
 * columns, one per time bucket, a colour per host, its legend, and a table of the totals.
 */
#define CELL_CHART_SERIES_MAX 8

struct cell_chart {
	const char *title;    /* "webapp: bytes per host" */
	const char *subtitle; /* what the chart covers, or NULL */
	int64_t start;	      /* unix seconds: the first bucket's start */
	int64_t bucket;	      /* seconds a bucket spans */
	size_t n_buckets;
	size_t n_series;
	const char *names[CELL_CHART_SERIES_MAX];
	const uint64_t *values[CELL_CHART_SERIES_MAX]; /* n_buckets each: bytes in that bucket */
};

int cell_chart_html(const struct cell_chart *c, char **ret_html);

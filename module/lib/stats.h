/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "counters.h"

/* What a project's network did, per host: the proxy counts it, the ledger keeps it. */
struct cell_host_stats {
	char *host;
	uint64_t requests; /* forwarded HTTP requests */
	uint64_t tunnels;  /* CONNECT tunnels opened */
	uint64_t bytes_up; /* client to upstream */
	uint64_t bytes_down;
	uint64_t denied; /* requests and tunnels refused by the policy */
};

struct cell_stats {
	struct cell_host_stats *hosts;
	size_t n_hosts;
	struct cell_counters kernel; /* what the cells' cgroups counted (BPF), summed */
	uint64_t cells;		     /* records of cells the kernel counted */
	uint64_t netns_cells; /* records of cells of their own network namespace: only their proxy
				 counted them (network.isolation "netns") */
	uint64_t records;     /* ledger records merged in */
	/* what the cells' limits saw (limit.h): the largest peak of memory of one cell, the
	 * processes their memory limits killed, the forks their pids limits refused */
	uint64_t memory_peak, oom_kills, pids_refused;
	int64_t first_start, last_end; /* unix seconds; 0 when unknown */
};

/* The entry for host, or NULL. */
struct cell_host_stats *cell_stats_find(const struct cell_stats *s, const char *host);
/* The entry for host, added (zeroed) if new. */
int cell_stats_host(struct cell_stats *s, const char *host, struct cell_host_stats **ret);
void cell_stats_done(struct cell_stats *s);
/* Adds from's hosts' counts to into's (hosts with nothing counted are left out). */
int cell_stats_add(struct cell_stats *into, const struct cell_stats *from);
/* Whether any host has anything counted. */
bool cell_stats_counted(const struct cell_stats *s);
/*
 * One ledger record: {"v":1,"kind":KIND,"project":ID,"name":NAME,"start":S,"end":E,
 * "hosts":{HOST:{"requests":..,"tunnels":..,"up":..,"down":..,"denied":..}}}, and with
 * "kernel":{"connects_allowed":..,...} when s->cells is not zero, "netns_cells":N when
 * s->netns_cells is not, "limits":{"memory_peak":..,"oom_kills":..,"pids_refused":..} when
 * one of them is not.
 */
int cell_stats_record(const struct cell_stats *s, const char *kind, const char *project,
		      const char *name, int64_t start, int64_t end, char **ret_line);
/* cell_stats_record, and "writer":WRITER after "end": who counted it (a proxy, budget.h). */
int cell_stats_record_by(const struct cell_stats *s, const char *kind, const char *project,
			 const char *name, int64_t start, int64_t end, const char *writer,
			 char **ret_line);
/* Adds the counts of one ledger record into s; -EINVAL for a line that is not one. */
int cell_stats_merge_record(struct cell_stats *s, const char *line, size_t len);
/*
 * Adds a JSON object of kernel counters (a cell-session record, a ledger record's "kernel")
 * to s->kernel and counts one cell, and a cell-session record's memory_peak, oom_kills and
 * pids_refused to s's; -EINVAL when it is not one.
 */
int cell_stats_merge_kernel(struct cell_stats *s, const char *json, size_t len);
/* Only what a cell-session record says of the cell's limits (a netns cell's: the proxy counts
 * its connections and bytes), as cell_stats_merge_kernel. */
int cell_stats_merge_limits(struct cell_stats *s, const char *json, size_t len);
/* bytes for people: "512 B", "64.0 MiB", "1.5 GiB". */
void cell_stats_human(uint64_t bytes, char *buf, size_t size);
/* Sorts hosts by bytes (up + down), most first, then by name. */
void cell_stats_sort(struct cell_stats *s);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A project's network budget (network.budget): bytes out and in, in all and to any one host,
 * and connections (requests and tunnels), each per period. Use is what the project's ledger
 * holds for the period (every cell, every proxy) plus what the proxy counting it has counted
 * since; a period is a minute, an hour or a day of local time, and use starts again at its end.
 */
#define CELL_PERIOD_MINUTE 60u
#define CELL_PERIOD_HOUR 3600u
#define CELL_PERIOD_DAY 86400u

struct cell_rate {
	uint64_t amount; /* 0: no limit */
	uint32_t period; /* CELL_PERIOD_* */
};

enum cell_budget_kind {
	CELL_BUDGET_OUT, /* bytes to hosts, all of them */
	CELL_BUDGET_IN,
	CELL_BUDGET_HOST_OUT, /* bytes to any one host */
	CELL_BUDGET_HOST_IN,
	CELL_BUDGET_CONNECTIONS, /* requests and tunnels, all hosts */
	CELL_BUDGET_N,
};

struct cell_budget {
	struct cell_rate rate[CELL_BUDGET_N];
};

/* Its name in network.budget ("per_host_out"). */
const char *cell_budget_key(enum cell_budget_kind k);
bool cell_budget_any(const struct cell_budget *b);
/*
 * "50M/day", "10M/hour" (bytes: K, M, G, T, powers of 1024), "60/minute" (connections, bytes
 * false: a whole number). -EINVAL with *ret_why a phrase that completes "is not a budget: ...".
 */
int cell_rate_parse(const char *s, bool bytes, struct cell_rate *ret, const char **ret_why);
/* "50.0 MiB per day", "60 per minute". */
void cell_rate_format(const struct cell_rate *r, bool bytes, char *buf, size_t size);
/* When the period that holds now (unix seconds) began: local time's minute, hour or day. */
int64_t cell_period_start(int64_t now, uint32_t period);
int64_t cell_period_end(int64_t now, uint32_t period);
const char *cell_period_name(uint32_t period);

/*
 * What a project used of its budget: a meter reads the ledger's records as they come (all of
 * them, or all but one writer's: a proxy counts its own bytes itself, live, so that its records
 * are not counted twice), counts what it is told, and answers how much is left.
 */
struct cell_budget_meter;
/* skip_writer: the records of this writer are not read (NULL: all are). */
int cell_budget_meter_new(const char *ledger, const char *skip_writer,
			  struct cell_budget_meter **ret);
void cell_budget_meter_free(struct cell_budget_meter *m);
static inline void cell_budget_meter_freep(struct cell_budget_meter **m)
{
	cell_budget_meter_free(*m);
}
/*
 * Follows budget b (which may change: a reloaded config) at time now: a period that began since
 * starts again from the ledger (its records of the period: cell_ledger_seek); records appended
 * since the last refresh are read. Never waits for the ledger's lock. -errno when the ledger
 * cannot be read: then admit refuses, and left is 0, until a refresh can read it.
 */
int cell_budget_meter_refresh(struct cell_budget_meter *m, const struct cell_budget *b,
			      int64_t now);
/* Counts bytes of host's, and connections to it (a request or a tunnel each), at now (a period
 * that ended by now is over: the count is the next one's). */
void cell_budget_meter_count(struct cell_budget_meter *m, const char *host, uint64_t up,
			     uint64_t down, uint64_t connections, int64_t now);
/* What was used of kind (host: for the per-host kinds) in its period now. */
uint64_t cell_budget_meter_used(const struct cell_budget_meter *m, const struct cell_budget *b,
				enum cell_budget_kind k, const char *host);
/* What was used of kind k now: for a per-host kind, by the host that used the most (returned;
 * NULL: none), else in all (NULL returned). */
const char *cell_budget_meter_top(const struct cell_budget_meter *m, const struct cell_budget *b,
				  enum cell_budget_kind k, uint64_t *ret_used);
/*
 * Bytes host may still send (out) or receive, under every byte limit of b: UINT64_MAX when no
 * limit applies, 0 when the ledger could not be read (a budget that cannot be checked lets
 * nothing more through). A period that ended by now is over: the next one starts (from the
 * ledger, read again then).
 */
uint64_t cell_budget_meter_left(struct cell_budget_meter *m, const struct cell_budget *b,
				const char *host, bool out, int64_t now);
/*
 * Whether a new request or tunnel to host may start now: false when a limit is used up, and
 * why, a line for the client ("cell: ...: the budget of 50.0 MiB out per day is used (...); it
 * starts again at 00:00").
 */
bool cell_budget_meter_admit(struct cell_budget_meter *m, const struct cell_budget *b,
			     const char *project, const char *host, int64_t now, char *why,
			     size_t size);

/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "ledger.h"
#include "macro.h"
#include "stats.h"
#include "units.h"

static const char *const keys[CELL_BUDGET_N] = {
	[CELL_BUDGET_OUT] = "out",
	[CELL_BUDGET_IN] = "in",
	[CELL_BUDGET_HOST_OUT] = "per_host_out",
	[CELL_BUDGET_HOST_IN] = "per_host_in",
	[CELL_BUDGET_CONNECTIONS] = "connections",
};

static const uint32_t periods[] = {CELL_PERIOD_MINUTE, CELL_PERIOD_HOUR, CELL_PERIOD_DAY};
static const char *const period_names[] = {"minute", "hour", "day"};

const char *cell_budget_key(enum cell_budget_kind k)
{
	return keys[k];
}

bool cell_budget_any(const struct cell_budget *b)
{
	for (size_t k = 0; k < CELL_BUDGET_N; k++)
		if (b->rate[k].amount)
			return true;
	return false;
}

int cell_rate_parse(const char *s, bool bytes, struct cell_rate *ret, const char **ret_why)
{
	const char *slash = strchr(s, '/');
	char amount[64];
	uint64_t n = 0;
	size_t i;

	*ret_why = bytes ? "expected a size per period, such as \"50M/day\" or \"5M/hour\""
			 : "expected a number per period, such as \"60/minute\"";
	if (!slash || (size_t)(slash - s) >= sizeof(amount))
		return -EINVAL;
	for (i = 0; i < ELEMENTSOF(periods); i++)
		if (streq(slash + 1, period_names[i]))
			break;
	if (i == ELEMENTSOF(periods)) {
		*ret_why = "the period is minute, hour or day";
		return -EINVAL;
	}
	snprintf(amount, sizeof(amount), "%.*s", (int)(slash - s), s);
	if (bytes ? cell_size_parse(amount, &n) < 0 : cell_count_parse(amount, &n) < 0)
		return -EINVAL;
	if (n == 0) {
		*ret_why = "a budget of nothing would refuse everything (leave the host out of "
			   "network.allow instead)";
		return -EINVAL;
	}
	*ret = (struct cell_rate){.amount = n, .period = periods[i]};
	return 0;
}

const char *cell_period_name(uint32_t period)
{
	for (size_t i = 0; i < ELEMENTSOF(periods); i++)
		if (periods[i] == period)
			return period_names[i];
	return "?";
}

void cell_rate_format(const struct cell_rate *r, bool bytes, char *buf, size_t size)
{
	char amount[32];

	if (bytes)
		cell_stats_human(r->amount, amount, sizeof(amount));
	else
		snprintf(amount, sizeof(amount), "%llu", (unsigned long long)r->amount);
	snprintf(buf, size, "%s per %s", amount, cell_period_name(r->period));
}

int64_t cell_period_start(int64_t now, uint32_t period)
{
	time_t t = (time_t)now;
	struct tm tm;

	if (period == CELL_PERIOD_MINUTE)
		return now - (now % 60 + 60) % 60;
	localtime_r(&t, &tm);
	tm.tm_min = tm.tm_sec = 0;
	if (period == CELL_PERIOD_DAY)
		tm.tm_hour = 0;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

int64_t cell_period_end(int64_t now, uint32_t period)
{
	time_t t = (time_t)now;
	struct tm tm;

	if (period != CELL_PERIOD_DAY)
		return cell_period_start(now, period) + period;
	/* (a day of local time is not always 86400 s long) */
	localtime_r(&t, &tm);
	tm.tm_mday++;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

/* What one period holds: counts in all, and by host. */
/* What one period holds: counts in all, and by host (at most TALLY_HOSTS names: past them, the
 * rest are counted together, which can only make a per-host limit stricter). */
#define TALLY_HOSTS 512
#define TALLY_OTHERS "other-hosts.invalid"

struct tally {
	uint64_t out, in, connections;
	struct cell_stats hosts;
};

struct usage {
	int64_t start, end;  /* the period counted (start 0: none) */
	struct tally ledger; /* the ledger's records that ended in the period */
	struct tally own;    /* what this meter was told since the period began */
};

struct cell_budget_meter {
	char *ledger;
	char *skip_writer;
	uint64_t offset; /* the ledger is read up to here */
	bool whole;	 /* the ledger must be read again, from its records of the periods */
	int error;	 /* why the ledger could not be read (0: it was) */
	struct usage u[ELEMENTSOF(periods)];
};

static void tally_done(struct tally *t)
{
	cell_stats_done(&t->hosts);
	*t = (struct tally){0};
}

static void tally_add(struct tally *t, const char *host, uint64_t up, uint64_t down,
		      uint64_t connections)
{
	struct cell_host_stats *h;

	t->out += up;
	t->in += down;
	t->connections += connections;
	if (t->hosts.n_hosts >= TALLY_HOSTS && !cell_stats_find(&t->hosts, host))
		host = TALLY_OTHERS;
	/* (out of memory: the totals still count) */
	if (cell_stats_host(&t->hosts, host, &h) < 0)
		return;
	h->bytes_up += up;
	h->bytes_down += down;
	h->requests += connections;
}

int cell_budget_meter_new(const char *ledger, const char *skip_writer,
			  struct cell_budget_meter **ret)
{
	struct cell_budget_meter *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->ledger = strdup(ledger);
	m->skip_writer = skip_writer ? strdup(skip_writer) : NULL;
	if (!m->ledger || (skip_writer && !m->skip_writer)) {
		cell_budget_meter_free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

void cell_budget_meter_free(struct cell_budget_meter *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < ELEMENTSOF(m->u); i++) {
		tally_done(&m->u[i].ledger);
		tally_done(&m->u[i].own);
	}
	free(m->ledger);
	free(m->skip_writer);
	free(m);
}

static bool uses_period(const struct cell_budget *b, uint32_t period)
{
	for (size_t k = 0; k < CELL_BUDGET_N; k++)
		if (b->rate[k].amount && b->rate[k].period == period)
			return true;
	return false;
}

static uint64_t whole(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9007199254740992.0
		       ? (uint64_t)v->valuedouble
		       : 0;
}

/* One ledger line into the periods it ended in. */
static int read_record(const char *line, size_t len, void *data)
{
	struct cell_budget_meter *m = data;
	cJSON *o = cJSON_ParseWithLength(line, len);
	const char *writer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "writer"));
	const cJSON *end = cJSON_GetObjectItemCaseSensitive(o, "end"), *host;

	if (!o || !cJSON_IsNumber(end) ||
	    (writer && m->skip_writer && streq(writer, m->skip_writer))) {
		cJSON_Delete(o);
		return 0;
	}
	cJSON_ArrayForEach(host, cJSON_GetObjectItemCaseSensitive(o, "hosts"))
	{
		uint64_t up = whole(host, "up"), down = whole(host, "down"),
			 conns = whole(host, "requests") + whole(host, "tunnels");

		/* (a host that was only refused used nothing: a record may name thousands) */
		if (!host->string || !cJSON_IsObject(host) || !(up | down | conns))
			continue;
		for (size_t i = 0; i < ELEMENTSOF(m->u); i++)
			if (m->u[i].start && end->valuedouble >= (double)m->u[i].start)
				tally_add(&m->u[i].ledger, host->string, up, down, conns);
	}
	cJSON_Delete(o);
	return 0;
}

/* Reads what the ledger gained (or, whole, its records of the periods counted). */
static int read_ledger(struct cell_budget_meter *m)
{
	int r;

	for (;;) {
		if (m->whole) {
			int64_t since = 0;

			for (size_t i = 0; i < ELEMENTSOF(m->u); i++)
				if (m->u[i].start && (!since || m->u[i].start < since))
					since = m->u[i].start;
			for (size_t i = 0; i < ELEMENTSOF(m->u); i++)
				tally_done(&m->u[i].ledger);
			m->offset = 0;
			r = since ? cell_ledger_seek(m->ledger, since, &m->offset) : 0;
			if (r < 0)
				return m->error = r;
		}
		/* (read whole at a period's start: a writer's line and fdatasync are waited for,
		 * once; what came since, never) */
		r = cell_ledger_read_from(m->ledger, &m->offset, m->whole, read_record, m);
		if (r == -ESTALE && !m->whole) {
			m->whole = true; /* the ledger was replaced: read the new one whole */
			continue;
		}
		if (r == -EWOULDBLOCK) /* (a writer is at it: the next look) */
			return 0;
		m->error = r < 0 ? r : 0;
		if (r >= 0)
			m->whole = false;
		return r < 0 ? r : 0;
	}
}

/* Starts the periods that began by now: their own counts from nothing, the ledger again. */
static void roll(struct cell_budget_meter *m, int64_t now)
{
	for (size_t i = 0; i < ELEMENTSOF(m->u); i++) {
		if (!m->u[i].start || now < m->u[i].end)
			continue;
		m->u[i].start = cell_period_start(now, periods[i]);
		m->u[i].end = cell_period_end(now, periods[i]);
		tally_done(&m->u[i].own);
		m->whole = true;
	}
	if (m->whole)
		(void)read_ledger(m);
}

int cell_budget_meter_refresh(struct cell_budget_meter *m, const struct cell_budget *b, int64_t now)
{
	for (size_t i = 0; i < ELEMENTSOF(m->u); i++) {
		int64_t start = uses_period(b, periods[i]) ? cell_period_start(now, periods[i]) : 0;

		if (start == m->u[i].start)
			continue;
		/* a new period, or one now counted: its own counts start again, and the
		 * ledger is read again for every period */
		m->u[i].start = start;
		m->u[i].end = start ? cell_period_end(now, periods[i]) : 0;
		tally_done(&m->u[i].own);
		m->whole = true;
	}
	if (!cell_budget_any(b)) {
		m->whole = false;
		m->error = 0;
		return 0;
	}
	return read_ledger(m);
}

void cell_budget_meter_count(struct cell_budget_meter *m, const char *host, uint64_t up,
			     uint64_t down, uint64_t connections, int64_t now)
{
	roll(m, now);
	for (size_t i = 0; i < ELEMENTSOF(m->u); i++)
		if (m->u[i].start)
			tally_add(&m->u[i].own, host, up, down, connections);
}

static const struct usage *usage_of(const struct cell_budget_meter *m, uint32_t period)
{
	for (size_t i = 0; i < ELEMENTSOF(periods); i++)
		if (periods[i] == period)
			return &m->u[i];
	return NULL;
}

static uint64_t tally_used(const struct tally *t, enum cell_budget_kind k, const char *host)
{
	const struct cell_host_stats *h;

	switch (k) {
	case CELL_BUDGET_OUT:
		return t->out;
	case CELL_BUDGET_IN:
		return t->in;
	case CELL_BUDGET_CONNECTIONS:
		return t->connections;
	default:
		h = host ? cell_stats_find(&t->hosts, host) : NULL;
		return !h ? 0 : k == CELL_BUDGET_HOST_OUT ? h->bytes_up : h->bytes_down;
	}
}

uint64_t cell_budget_meter_used(const struct cell_budget_meter *m, const struct cell_budget *b,
				enum cell_budget_kind k, const char *host)
{
	const struct usage *u = usage_of(m, b->rate[k].period);

	if (!u || !u->start)
		return 0;
	return tally_used(&u->ledger, k, host) + tally_used(&u->own, k, host);
}

const char *cell_budget_meter_top(const struct cell_budget_meter *m, const struct cell_budget *b,
				  enum cell_budget_kind k, uint64_t *ret_used)
{
	const struct usage *u = usage_of(m, b->rate[k].period);
	const char *top = NULL;
	uint64_t most = 0;

	if (k != CELL_BUDGET_HOST_OUT && k != CELL_BUDGET_HOST_IN) {
		*ret_used = cell_budget_meter_used(m, b, k, NULL);
		return NULL;
	}
	for (int side = 0; u && u->start && side < 2; side++) {
		const struct tally *t = side ? &u->own : &u->ledger;

		for (size_t i = 0; i < t->hosts.n_hosts; i++) {
			const char *host = t->hosts.hosts[i].host;
			uint64_t used = cell_budget_meter_used(m, b, k, host);

			if (used > most || (used == most && top && strcmp(host, top) < 0)) {
				most = used;
				top = host;
			}
		}
	}
	*ret_used = most;
	return top;
}

uint64_t cell_budget_meter_left(struct cell_budget_meter *m, const struct cell_budget *b,
				const char *host, bool out, int64_t now)
{
	const enum cell_budget_kind kinds[] = {out ? CELL_BUDGET_OUT : CELL_BUDGET_IN,
					       out ? CELL_BUDGET_HOST_OUT : CELL_BUDGET_HOST_IN};
	uint64_t left = UINT64_MAX;

	roll(m, now);
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		const struct cell_rate *r = &b->rate[kinds[i]];
		const struct usage *u = usage_of(m, r->period);
		uint64_t used;

		if (!r->amount || !u || !u->start)
			continue;
		/* what the ledger holds cannot be known: nothing more (fail closed) */
		if (m->error)
			return 0;
		used = cell_budget_meter_used(m, b, kinds[i], host);
		if (used >= r->amount)
			left = 0;
		else if (r->amount - used < left)
			left = r->amount - used;
	}
	return left;
}

bool cell_budget_meter_admit(struct cell_budget_meter *m, const struct cell_budget *b,
			     const char *project, const char *host, int64_t now, char *why,
			     size_t size)
{
	static const enum cell_budget_kind order[] = {CELL_BUDGET_CONNECTIONS, CELL_BUDGET_OUT,
						      CELL_BUDGET_IN, CELL_BUDGET_HOST_OUT,
						      CELL_BUDGET_HOST_IN};

	roll(m, now);
	if (m->error && cell_budget_any(b)) {
		snprintf(
			why, size,
			"cell: %s's budget cannot be checked: its ledger (%s) cannot be read: %s\n",
			project, m->ledger,
			m->error == -EFBIG	   ? "the records of this period are too many"
			: m->error == -EWOULDBLOCK ? "a writer holds it; try again"
						   : strerror(-m->error));
		return false;
	}
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		enum cell_budget_kind k = order[i];
		const struct cell_rate *r = &b->rate[k];
		const struct usage *u = usage_of(m, r->period);
		bool bytes = k != CELL_BUDGET_CONNECTIONS,
		     per_host = k == CELL_BUDGET_HOST_OUT || k == CELL_BUDGET_HOST_IN;
		char amount[32], used_s[32], at[32];
		time_t reset;
		struct tm tm;
		uint64_t used;

		if (!r->amount || !u || !u->start)
			continue;
		used = cell_budget_meter_used(m, b, k, host);
		if (used < r->amount)
			continue;
		if (bytes) {
			cell_stats_human(r->amount, amount, sizeof(amount));
			cell_stats_human(used, used_s, sizeof(used_s));
		} else {
			snprintf(amount, sizeof(amount), "%llu", (unsigned long long)r->amount);
			snprintf(used_s, sizeof(used_s), "%llu", (unsigned long long)used);
		}
		reset = (time_t)cell_period_end(now, r->period);
		localtime_r(&reset, &tm);
		strftime(at, sizeof(at), r->period == CELL_PERIOD_DAY ? "%Y-%m-%d %H:%M" : "%H:%M",
			 &tm);
		snprintf(why, size,
			 "cell: %s has used its budget of %s %s per %s%s (network.budget.%s; "
			 "%s%s%s used); it starts again at %s\n",
			 project, amount,
			 !bytes						     ? "connections"
			 : k == CELL_BUDGET_OUT || k == CELL_BUDGET_HOST_OUT ? "out"
									     : "in",
			 cell_period_name(r->period), per_host ? " to any one host" : "", keys[k],
			 per_host ? host : "", per_host ? ": " : "", used_s, at);
		return false;
	}
	return true;
}

/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "helpers.h"
#include "ledger.h"

static char *tmp, *path;

static void setup(void)
{
	/* a zone with daylight saving time: a day of it is not always 86400 s */
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	tmp = th_mkdtemp();
	path = th_join(tmp, "projects/p-1/ledger.jsonl");
}

static void teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
	free(path);
}

TestSuite(budget, .init = setup, .fini = teardown);

Test(budget, rates_parse_with_a_size_or_count_and_a_period)
{
	struct cell_rate r;
	const char *why;

	cr_assert(eq(int, cell_rate_parse("50M/day", true, &r, &why), 0));
	cr_assert(eq(u64, r.amount, 50ull << 20));
	cr_assert(eq(u32, r.period, CELL_PERIOD_DAY));
	cr_assert(eq(int, cell_rate_parse("1.5G/hour", true, &r, &why), 0));
	cr_assert(eq(u64, r.amount, 3ull << 29));
	cr_assert(eq(u32, r.period, CELL_PERIOD_HOUR));
	cr_assert(eq(int, cell_rate_parse("60/minute", false, &r, &why), 0));
	cr_assert(eq(u64, r.amount, 60));
	cr_assert(eq(u32, r.period, CELL_PERIOD_MINUTE));

	cr_assert(eq(int, cell_rate_parse("50M", true, &r, &why), -EINVAL));
	cr_assert(eq(str, (char *)why,
		     "expected a size per period, such as \"50M/day\" or \"5M/hour\""));
	cr_assert(eq(int, cell_rate_parse("50M/week", true, &r, &why), -EINVAL));
	cr_assert(eq(str, (char *)why, "the period is minute, hour or day"));
	cr_assert(eq(int, cell_rate_parse("0/day", true, &r, &why), -EINVAL));
	cr_assert(not(eq(ptr, strstr(why, "nothing"), NULL)));
	cr_assert(eq(int, cell_rate_parse("10M/minute", false, &r, &why), -EINVAL));
	cr_assert(eq(int, cell_rate_parse("-1/day", false, &r, &why), -EINVAL));
	cr_assert(eq(int, cell_rate_parse("1e6/day", true, &r, &why), -EINVAL));
	cr_assert(eq(int, cell_rate_parse("/day", true, &r, &why), -EINVAL));
}

Test(budget, periods_are_local_time_and_a_day_may_be_23_hours)
{
	/* 2026-03-29 is the day Berlin moves to summer time: 23 hours long */
	struct tm tm = {.tm_year = 126, .tm_mon = 2, .tm_mday = 29, .tm_hour = 12, .tm_isdst = -1};
	int64_t noon = (int64_t)mktime(&tm), start, end;
	char buf[64];

	start = cell_period_start(noon, CELL_PERIOD_DAY);
	end = cell_period_end(noon, CELL_PERIOD_DAY);
	cr_assert(eq(i64, end - start, 23 * 3600));
	strftime(buf, sizeof(buf), "%F %T", localtime(&(time_t){(time_t)start}));
	cr_assert(eq(str, buf, "2026-03-29 00:00:00"));
	cr_assert(eq(i64, cell_period_start(noon + 59, CELL_PERIOD_MINUTE), noon));
	cr_assert(eq(i64, cell_period_end(noon + 59, CELL_PERIOD_HOUR), noon + 3600));
	cr_assert(eq(i64, cell_period_start(start - 1, CELL_PERIOD_DAY), start - 24 * 3600));
}

static void record(const char *writer, int64_t end, const char *host, unsigned up, unsigned down,
		   unsigned requests)
{
	char line[512];

	snprintf(line, sizeof(line),
		 "{\"v\":1,\"kind\":\"proxy\",\"project\":\"p-1\",\"name\":\"web\",\"start\":%lld,"
		 "\"end\":%lld%s%s%s,\"hosts\":{\"%s\":{\"requests\":%u,\"tunnels\":0,\"up\":%u,"
		 "\"down\":%u,\"denied\":0}}}",
		 (long long)end - 10, (long long)end, writer ? ",\"writer\":\"" : "",
		 writer ? writer : "", writer ? "\"" : "", host, requests, up, down);
	cr_assert(eq(int, cell_ledger_append(path, line), 0));
}

/* The ledger's records of the period, and what the meter counted itself, are the use; records
 * of the meter's own writer, and of the period before, are not. */
Test(budget, a_meter_counts_the_period_from_the_ledger_and_its_own)
{
	struct cell_budget b = {0};
	struct cell_budget_meter *m;
	int64_t now = (int64_t)time(NULL), day = cell_period_start(now, CELL_PERIOD_DAY);
	char why[512];

	b.rate[CELL_BUDGET_OUT] = (struct cell_rate){1000, CELL_PERIOD_DAY};
	b.rate[CELL_BUDGET_HOST_IN] = (struct cell_rate){500, CELL_PERIOD_DAY};
	record(NULL, day - 1, "a.test", 900, 900, 1); /* yesterday's */
	record(NULL, day, "a.test", 300, 100, 1);
	record("me", day + 1, "a.test", 300, 300, 1); /* the meter's own: counted live */
	cr_assert(eq(int, cell_budget_meter_new(path, "me", &m), 0));
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, now), 0));
	cr_assert(eq(u64, cell_budget_meter_used(m, &b, CELL_BUDGET_OUT, NULL), 300));
	cr_assert(eq(u64, cell_budget_meter_left(m, &b, "a.test", true, now), 700));
	cr_assert(eq(u64, cell_budget_meter_left(m, &b, "a.test", false, now), 400));
	cr_assert(eq(u64, cell_budget_meter_left(m, &b, "b.test", false, now), 500));
	cell_budget_meter_count(m, "b.test", 200, 450, 1, now);
	cr_assert(eq(u64, cell_budget_meter_left(m, &b, "a.test", true, now), 500));
	cr_assert(eq(u64, cell_budget_meter_left(m, &b, "b.test", false, now), 50));
	cr_assert(cell_budget_meter_admit(m, &b, "web", "b.test", now, why, sizeof(why)));

	/* another cell's record, appended since: read at the next refresh */
	record(NULL, now, "c.test", 500, 0, 1);
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, now), 0));
	cr_assert(eq(u64, cell_budget_meter_used(m, &b, CELL_BUDGET_OUT, NULL), 1000));
	cr_assert(eq(u64, cell_budget_meter_left(m, &b, "a.test", true, now), 0));
	cr_assert(not(cell_budget_meter_admit(m, &b, "web", "a.test", now, why, sizeof(why))));
	cr_assert(not(eq(ptr,
			 strstr(why, "cell: web has used its budget of 1000 B out per day "
				     "(network.budget.out; 1000 B used); it starts again at "),
			 NULL)),
		  "%s", why);

	/* the next day starts from nothing (the ledger's records all ended before it) */
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, day + 86400 + 7200), 0));
	cr_assert(eq(u64, cell_budget_meter_used(m, &b, CELL_BUDGET_OUT, NULL), 0));
	cr_assert(cell_budget_meter_admit(m, &b, "web", "a.test", day + 86400 + 7200, why,
					  sizeof(why)));
	cell_budget_meter_free(m);
}

Test(budget, per_host_limits_name_the_host_and_connections_count)
{
	struct cell_budget b = {0};
	struct cell_budget_meter *m;
	int64_t now = (int64_t)time(NULL);
	uint64_t used = 0;
	char why[512];

	b.rate[CELL_BUDGET_HOST_OUT] = (struct cell_rate){100, CELL_PERIOD_HOUR};
	b.rate[CELL_BUDGET_CONNECTIONS] = (struct cell_rate){3, CELL_PERIOD_DAY};
	record(NULL, now, "a.test", 100, 0, 2);
	cr_assert(eq(int, cell_budget_meter_new(path, NULL, &m), 0));
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, now), 0));
	cr_assert(not(cell_budget_meter_admit(m, &b, "web", "a.test", now, why, sizeof(why))));
	cr_assert(not(eq(ptr,
			 strstr(why, "100 B out per hour to any one host "
				     "(network.budget.per_host_out; a.test: 100 B used)"),
			 NULL)),
		  "%s", why);
	cr_assert(cell_budget_meter_admit(m, &b, "web", "b.test", now, why, sizeof(why)));
	cr_assert(eq(str, (char *)cell_budget_meter_top(m, &b, CELL_BUDGET_HOST_OUT, &used),
		     "a.test"));
	cr_assert(eq(u64, used, 100));
	cell_budget_meter_count(m, "b.test", 0, 0, 1, now);
	cr_assert(not(cell_budget_meter_admit(m, &b, "web", "b.test", now, why, sizeof(why))));
	cr_assert(not(eq(ptr, strstr(why, "its budget of 3 connections per day"), NULL)), "%s",
		  why);
	cell_budget_meter_free(m);
}

/* A ledger replaced by a shorter one (restored, or cut by hand) is read again whole. */
Test(budget, a_replaced_ledger_is_read_again)
{
	struct cell_budget b = {0};
	struct cell_budget_meter *m;
	int64_t now = (int64_t)time(NULL);

	b.rate[CELL_BUDGET_OUT] = (struct cell_rate){1000, CELL_PERIOD_DAY};
	record(NULL, now, "a.test", 300, 0, 1);
	record(NULL, now, "a.test", 300, 0, 1);
	cr_assert(eq(int, cell_budget_meter_new(path, NULL, &m), 0));
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, now), 0));
	cr_assert(eq(u64, cell_budget_meter_used(m, &b, CELL_BUDGET_OUT, NULL), 600));
	cr_assert(eq(int, unlink(path), 0));
	record(NULL, now, "a.test", 7, 0, 1);
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, now), 0));
	cr_assert(eq(u64, cell_budget_meter_used(m, &b, CELL_BUDGET_OUT, NULL), 7));
	cell_budget_meter_free(m);
}

/*
 * A period that ends while the proxy runs is over at once, not at its next refresh: what is
 * counted after the boundary is the new period's and counts against it (it was a window of
 * no limit, whose counts were then thrown away).
 */
Test(budget, the_next_period_starts_at_its_boundary_and_keeps_its_counts)
{
	struct cell_budget b = {0};
	struct cell_budget_meter *m;
	int64_t now = (int64_t)time(NULL), hour = cell_period_end(now, CELL_PERIOD_HOUR);
	char why[512];

	b.rate[CELL_BUDGET_OUT] = (struct cell_rate){1000, CELL_PERIOD_HOUR};
	b.rate[CELL_BUDGET_CONNECTIONS] = (struct cell_rate){2, CELL_PERIOD_MINUTE};
	cr_assert(eq(int, cell_budget_meter_new(path, "me", &m), 0));
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, hour - 10), 0));
	cell_budget_meter_count(m, "a.test", 1000, 0, 2, hour - 10);
	cr_assert(not(cell_budget_meter_admit(m, &b, "web", "a.test", hour - 9, why, sizeof(why))));
	/* two seconds into the next hour, before any refresh */
	cr_assert(cell_budget_meter_admit(m, &b, "web", "a.test", hour + 2, why, sizeof(why)));
	cr_assert(eq(u64, cell_budget_meter_left(m, &b, "a.test", true, hour + 2), 1000));
	cell_budget_meter_count(m, "a.test", 5000, 0, 2, hour + 2);
	cr_assert(eq(u64, cell_budget_meter_left(m, &b, "a.test", true, hour + 3), 0));
	cr_assert(not(cell_budget_meter_admit(m, &b, "web", "a.test", hour + 3, why, sizeof(why))));
	/* the refresh keeps them */
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, hour + 4), 0));
	cr_assert(eq(u64, cell_budget_meter_used(m, &b, CELL_BUDGET_OUT, NULL), 5000));
	cell_budget_meter_free(m);
}

/* Records naming thousands of refused hosts (a cell can make them) cost the meter nothing. */
Test(budget, hosts_that_used_nothing_are_not_tallied)
{
	struct cell_budget b = {0};
	struct cell_budget_meter *m;
	int64_t now = (int64_t)time(NULL);
	size_t cap = 1024 * 1024, n = 0;
	char *line = malloc(cap);

	n += (size_t)snprintf(line, cap,
			      "{\"v\":1,\"kind\":\"proxy\",\"project\":\"p-1\",\"name\":\"web\","
			      "\"start\":%lld,\"end\":%lld,\"hosts\":{",
			      (long long)now - 10, (long long)now);
	for (int i = 0; i < 4000; i++)
		n += (size_t)snprintf(line + n, cap - n,
				      "\"refused-%d.test\":{\"requests\":0,\"tunnels\":0,\"up\":0,"
				      "\"down\":0,\"denied\":1},",
				      i);
	snprintf(line + n, cap - n,
		 "\"a.test\":{\"requests\":1,\"tunnels\":0,\"up\":7,\"down\":0,\"denied\":0}}}");
	cr_assert(eq(int, cell_ledger_append(path, line), 0));
	free(line);
	b.rate[CELL_BUDGET_HOST_OUT] = (struct cell_rate){100, CELL_PERIOD_DAY};
	cr_assert(eq(int, cell_budget_meter_new(path, NULL, &m), 0));
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, now), 0));
	cr_assert(eq(u64, cell_budget_meter_used(m, &b, CELL_BUDGET_HOST_OUT, "a.test"), 7));
	{
		uint64_t used;

		cr_assert(eq(str, (char *)cell_budget_meter_top(m, &b, CELL_BUDGET_HOST_OUT, &used),
			     "a.test"));
	}
	cell_budget_meter_free(m);
}

/* A long ledger is read from its records of the period on, found by a binary search. */
Test(budget, a_long_ledger_is_read_from_the_period_on)
{
	struct cell_budget b = {0};
	struct cell_budget_meter *m;
	int64_t now = (int64_t)time(NULL), day = cell_period_start(now, CELL_PERIOD_DAY);
	uint64_t at = 0;

	for (int i = 0; i < 3000; i++)
		record(NULL, day - 7 * 86400 + i * 60, "a.test", 1000, 0, 1);
	record(NULL, day + 5, "a.test", 3, 0, 1);
	cr_assert(eq(int, cell_ledger_seek(path, day, &at), 0));
	cr_assert(gt(u64, at, 0));
	b.rate[CELL_BUDGET_OUT] = (struct cell_rate){100, CELL_PERIOD_DAY};
	cr_assert(eq(int, cell_budget_meter_new(path, NULL, &m), 0));
	cr_assert(eq(int, cell_budget_meter_refresh(m, &b, now), 0));
	cr_assert(eq(u64, cell_budget_meter_used(m, &b, CELL_BUDGET_OUT, NULL), 3));
	cell_budget_meter_free(m);
}

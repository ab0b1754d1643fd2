/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "chart.h"
#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "ledger.h"
#include "reqlog.h"
#include "running.h"
#include "stats.h"
#include "xdg.h"

struct merge {
	struct cell_stats stats;
	unsigned bad;	     /* lines that are not records: reported, not fatal */
	int64_t since;	     /* only records that ended then or later (0: all) */
	const char *project; /* for the open cells */
	const char *live;    /* cell-session's lines about the open cells, or NULL */
	unsigned open;	     /* open cells counted */
};

/* Whether a ledger record ended before the --since time. */
static bool too_old(const char *line, size_t len, int64_t since)
{
	cJSON *o = cJSON_ParseWithLength(line, len);
	const cJSON *end = cJSON_GetObjectItemCaseSensitive(o, "end");
	bool old = cJSON_IsNumber(end) && end->valuedouble < (double)since;

	cJSON_Delete(o);
	return old;
}

static int merge(const char *line, size_t len, void *data)
{
	struct merge *m = data;

	if (m->since && too_old(line, len, m->since))
		return 0;
	if (cell_stats_merge_record(&m->stats, line, len) < 0)
		m->bad++;
	return 0;
}

/* An open cell of the project: what the kernel counted so far. */
static int merge_open(const struct cell_running *c, void *data)
{
	struct merge *m = data;

	if (streq(c->project, m->project) && !c->netns &&
	    cell_process_alive(c->keeper, c->keeper_start) &&
	    cell_network_bpf_live_counters(m->live, c->id, &m->stats))
		m->open++;
	return 0;
}

/*
 * --since: "YYYY-MM-DD", with " HH:MM[:SS]" or "THH:MM[:SS]" (local time), "today",
 * "yesterday", or a span ago: "N" and s, m, h or d ("2h", "-7d").
 */
static int parse_since(const char *s, int64_t *ret)
{
	static const char *const formats[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
					      "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
	time_t now = time(NULL);
	struct tm tm;
	char *end;

	if (streq(s, "today") || streq(s, "yesterday")) {
		localtime_r(&now, &tm);
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		tm.tm_mday -= streq(s, "yesterday");
		tm.tm_isdst = -1;
		*ret = (int64_t)mktime(&tm);
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
		const char *rest;

		memset(&tm, 0, sizeof(tm));
		rest = strptime(s, formats[i], &tm);
		if (rest && !*rest) {
			tm.tm_isdst = -1;
			*ret = (int64_t)mktime(&tm);
			return 0;
		}
	}
	{
		long long n = strtoll(s[0] == '-' ? s + 1 : s, &end, 10);
		static const char units[] = "smhd";
		static const long long secs[] = {1, 60, 3600, 86400};
		const char *u = end && end[0] && !end[1] ? strchr(units, end[0]) : NULL;

		if (!u || n < 0 || end == (s[0] == '-' ? s + 1 : s) || n > 100LL * 365 * 86400)
			return -EINVAL;
		*ret = (int64_t)now - n * secs[u - units];
		return 0;
	}
}

static void print_table(const struct cell_stats *s, const char *name)
{
	struct cell_host_stats total = {.host = (char *)"total"};

	printf("%s: %llu record%s\n", name, (unsigned long long)s->records,
	       s->records == 1 ? "" : "s");
	if (s->cells) {
		char in[32], out[32];

		cell_stats_human(s->kernel.bytes_in, in, sizeof(in));
		cell_stats_human(s->kernel.bytes_out, out, sizeof(out));
		printf("kernel: %llu cell%s; connects %llu allowed, %llu denied; udp sends denied "
		       "%llu; raw sockets denied %llu; in %s (%llu packets), out %s (%llu packets)\n",
		       (unsigned long long)s->cells, s->cells == 1 ? "" : "s",
		       (unsigned long long)s->kernel.connects_allowed,
		       (unsigned long long)s->kernel.connects_denied,
		       (unsigned long long)s->kernel.udp_denied,
		       (unsigned long long)s->kernel.sockets_denied, in,
		       (unsigned long long)s->kernel.packets_in, out,
		       (unsigned long long)s->kernel.packets_out);
	}
	if (s->netns_cells)
		printf("proxy: %llu cell%s of %s own network namespace (no kernel counters: the "
		       "hosts below are what the proxy counted)\n",
		       (unsigned long long)s->netns_cells, s->netns_cells == 1 ? "" : "s",
		       s->netns_cells == 1 ? "its" : "their");
	if (s->memory_peak || s->oom_kills || s->pids_refused) {
		char peak[32];

		cell_stats_human(s->memory_peak, peak, sizeof(peak));
		printf("limits: peak memory %s (the most one cell used); %llu process%s killed by "
		       "the memory limit; %llu fork%s refused at the pids limit\n",
		       s->memory_peak ? peak : "unknown", (unsigned long long)s->oom_kills,
		       s->oom_kills == 1 ? "" : "es", (unsigned long long)s->pids_refused,
		       s->pids_refused == 1 ? "" : "s");
	}
	printf("%-40s %9s %8s %11s %11s %7s\n", "host", "requests", "tunnels", "up", "down",
	       "denied");
	for (size_t i = 0; i <= s->n_hosts; i++) {
		const struct cell_host_stats *h = i < s->n_hosts ? &s->hosts[i] : &total;
		char up[32], down[32];

		if (i < s->n_hosts) {
			total.requests += h->requests;
			total.tunnels += h->tunnels;
			total.bytes_up += h->bytes_up;
			total.bytes_down += h->bytes_down;
			total.denied += h->denied;
		}
		cell_stats_human(h->bytes_up, up, sizeof(up));
		cell_stats_human(h->bytes_down, down, sizeof(down));
		printf("%-40s %9llu %8llu %11s %11s %7llu\n", h->host,
		       (unsigned long long)h->requests, (unsigned long long)h->tunnels, up, down,
		       (unsigned long long)h->denied);
	}
}

/* Requests to one host under one path prefix, from the request log. */
struct path_count {
	char host[256];
	char prefix[160];
	uint64_t requests, denied, up, down;
};

struct path_counts {
	struct path_count *v;
	size_t n;
};

/* A path's first two segments ("/repos/acme/x?y" → "/repos/acme"). */
static void path_prefix(const char *path, char *buf, size_t size)
{
	size_t n = strcspn(path, "?#"), end = 0;

	for (int seg = 0; seg < 2 && end < n; seg++) {
		end++;
		end += strcspn(path + end, "/?#");
		if (end > n)
			end = n;
	}
	snprintf(buf, size, "%.*s", (int)(end ? end : 1), end ? path : "/");
}

static int count_path(const char *line, size_t len, void *data)
{
	struct path_counts *pc = data;

	cJSON *o = cJSON_ParseWithLength(line, len);
	const char *host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "host")),
		   *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "path")),
		   *decision =
			   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "decision"));
	const cJSON *up = cJSON_GetObjectItemCaseSensitive(o, "up"),
		    *down = cJSON_GetObjectItemCaseSensitive(o, "down");
	struct path_count key = {0}, *c = NULL;

	if (!host || !path) {
		cJSON_Delete(o);
		return 0;
	}
	snprintf(key.host, sizeof(key.host), "%s", host);
	path_prefix(path, key.prefix, sizeof(key.prefix));
	for (size_t i = 0; i < pc->n && !c; i++)
		if (streq(pc->v[i].host, key.host) && streq(pc->v[i].prefix, key.prefix))
			c = &pc->v[i];
	if (!c) {
		struct path_count *grown = reallocarray(pc->v, pc->n + 1, sizeof(*grown));

		if (!grown) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		pc->v = grown;
		c = &pc->v[pc->n++];
		*c = key;
	}
	c->requests++;
	c->denied += decision && !streq(decision, "allowed");
	c->up += cJSON_IsNumber(up) ? (uint64_t)up->valuedouble : 0;
	c->down += cJSON_IsNumber(down) ? (uint64_t)down->valuedouble : 0;
	cJSON_Delete(o);
	return 0;
}

static int by_requests(const void *a, const void *b)
{
	const struct path_count *x = a, *y = b;

	return x->requests < y->requests ? 1 : x->requests > y->requests ? -1 : 0;
}

/*
 * --paths: the requests the proxy saw (plain HTTP and inspected hosts: docs/inspect.md) by host
 * and path prefix, from the request log and its rotated files (the recent ones only).
 */
static int print_paths(const struct cell_project *p, const char *name)
{
	_cleanup_free_ char *log = NULL;
	struct path_counts pc = {0};
	int r = cell_project_state_file(p->id, "proxy.log", &log);

	if (r < 0)
		return CELL_EXIT_FAILURE;
	r = cell_reqlog_read(log, count_path, &pc);
	qsort(pc.v, pc.n, sizeof(*pc.v), by_requests);
	printf("%s: requests the proxy saw, by path (the request log's recent history)\n", name);
	printf("%-32s %-32s %9s %11s %11s %7s\n", "host", "path", "requests", "up", "down",
	       "denied");
	for (size_t i = 0; i < pc.n; i++) {
		char up[32], down[32];

		cell_stats_human(pc.v[i].up, up, sizeof(up));
		cell_stats_human(pc.v[i].down, down, sizeof(down));
		printf("%-32s %-32s %9llu %11s %11s %7llu\n", pc.v[i].host, pc.v[i].prefix,
		       (unsigned long long)pc.v[i].requests, up, down,
		       (unsigned long long)pc.v[i].denied);
	}
	if (pc.n == 0)
		printf("(none: only plain HTTP requests and inspected hosts' have paths)\n");
	free(pc.v);
	return r < 0 ? CELL_EXIT_FAILURE : CELL_EXIT_OK;
}

/* The ledger's records by time, for --html: each record's bytes per host at its end. */
struct timeline {
	int64_t since, first, last;
	struct cell_stats totals; /* bytes per host, to choose the series */
	/* second pass: the buckets */
	const struct cell_chart *chart;
	uint64_t *values[CELL_CHART_SERIES_MAX];
};

static int timeline_add(const char *line, size_t len, void *data)
{
	struct timeline *tl = data;
	cJSON *o = cJSON_ParseWithLength(line, len), *h;
	const cJSON *start = cJSON_GetObjectItemCaseSensitive(o, "start"),
		    *end = cJSON_GetObjectItemCaseSensitive(o, "end");
	int64_t at;

	if (!cJSON_IsNumber(start) || !cJSON_IsNumber(end) ||
	    end->valuedouble < (double)tl->since) {
		cJSON_Delete(o);
		return 0;
	}
	at = (int64_t)end->valuedouble;
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(o, "hosts"))
	{
		const cJSON *up = cJSON_GetObjectItemCaseSensitive(h, "up"),
			    *down = cJSON_GetObjectItemCaseSensitive(h, "down");
		uint64_t bytes =
			(cJSON_IsNumber(up) && up->valuedouble > 0 ? (uint64_t)up->valuedouble
								   : 0) +
			(cJSON_IsNumber(down) && down->valuedouble > 0 ? (uint64_t)down->valuedouble
								       : 0);
		struct cell_host_stats *e;

		if (!h->string || !bytes)
			continue;
		if (!tl->chart) {
			if (cell_stats_host(&tl->totals, h->string, &e) >= 0)
				e->bytes_up += bytes;
			if (!tl->first || (int64_t)start->valuedouble < tl->first)
				tl->first = (int64_t)start->valuedouble;
			tl->last = at > tl->last ? at : tl->last;
			continue;
		}
		{
			const struct cell_chart *c = tl->chart;
			size_t s = c->n_series - 1, b = (size_t)((at - c->start) / c->bucket);

			/* a host among the series, else the last series ("other hosts") */
			for (size_t i = 0; i < c->n_series; i++)
				if (streq(c->names[i], h->string)) {
					s = i;
					break;
				}
			if (at >= c->start && b < c->n_buckets)
				tl->values[s][b] += bytes;
		}
	}
	cJSON_Delete(o);
	return 0;
}

/* --html FILE: bytes per host over time, the ledger's, as a page with a chart (chart.h). */
static int write_html(const char *ledger, const char *name, int64_t since, const char *file)
{
	struct timeline tl = {.since = since};
	struct cell_chart c = {0};
	_cleanup_free_ char *title = NULL, *subtitle = NULL, *html = NULL;
	char from[32], to[32];
	size_t n_hosts;
	int r = cell_ledger_read(ledger, timeline_add, &tl);

	if (r < 0) {
		fprintf(stderr, "cell: cannot read the ledger '%s': %s\n", ledger, strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	cell_stats_sort(&tl.totals);
	n_hosts = tl.totals.n_hosts;
	c.n_series = n_hosts > CELL_CHART_SERIES_MAX ? CELL_CHART_SERIES_MAX : n_hosts;
	for (size_t i = 0; i < c.n_series; i++)
		c.names[i] = tl.totals.hosts[i].host;
	if (n_hosts > CELL_CHART_SERIES_MAX)
		c.names[CELL_CHART_SERIES_MAX - 1] = "other hosts";
	if (c.n_series) {
		int64_t span = tl.last - tl.first + 1;

		c.bucket = span / 48 + (span % 48 != 0);
		c.bucket = (c.bucket + 59) / 60 * 60; /* whole minutes */
		c.start = tl.first - tl.first % 60;
		c.n_buckets = (size_t)((tl.last - c.start) / c.bucket + 1);
		for (size_t i = 0; i < c.n_series; i++)
			if (!(tl.values[i] = calloc(c.n_buckets, sizeof(uint64_t))))
				r = -ENOMEM;
		tl.chart = &c;
		if (r >= 0)
			r = cell_ledger_read(ledger, timeline_add, &tl);
		for (size_t i = 0; i < c.n_series; i++)
			c.values[i] = tl.values[i];
	}
	strftime(from, sizeof(from), "%Y-%m-%d %H:%M", localtime(&(time_t){(time_t)tl.first}));
	strftime(to, sizeof(to), "%Y-%m-%d %H:%M", localtime(&(time_t){(time_t)tl.last}));
	if (r >= 0 &&
	    (asprintf(&title, "%s: bytes per host", name) < 0 ||
	     asprintf(&subtitle, "From %s to %s, in columns of %lld minute%s (up and down).", from,
		      to, (long long)(c.bucket / 60), c.bucket == 60 ? "" : "s") < 0))
		r = -ENOMEM;
	c.title = title;
	c.subtitle = c.n_series ? subtitle : NULL;
	if (r >= 0)
		r = cell_chart_html(&c, &html);
	if (r >= 0)
		r = cell_write_file_atomic(file, html, strlen(html), 0644, false);
	for (size_t i = 0; i < CELL_CHART_SERIES_MAX; i++)
		free(tl.values[i]);
	cell_stats_done(&tl.totals);
	if (r < 0) {
		fprintf(stderr, "cell: cannot write '%s': %s\n", file, strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	printf("cell: wrote %s (open it in a browser)\n", file);
	return CELL_EXIT_OK;
}

/* What the project used of network.budget in the periods now (the ledger's records). */
static void print_budget(const struct cell_budget *b, const char *ledger)
{
	_cleanup_(cell_budget_meter_freep) struct cell_budget_meter *m = NULL;
	int64_t now = (int64_t)time(NULL);
	int r;

	if (!cell_budget_any(b))
		return;
	r = cell_budget_meter_new(ledger, NULL, &m);
	if (r >= 0)
		r = cell_budget_meter_refresh(m, b, now);
	if (r < 0) {
		fprintf(stderr, "cell: cannot read the ledger '%s': %s\n", ledger, strerror(-r));
		return;
	}
	for (size_t k = 0; k < CELL_BUDGET_N; k++) {
		const struct cell_rate *rate = &b->rate[k];
		bool bytes = k != CELL_BUDGET_CONNECTIONS;
		const char *top = NULL;
		char used_s[32], amount[32], at[32];
		uint64_t used;
		time_t end = (time_t)cell_period_end(now, rate->period);
		struct tm tm;

		if (!rate->amount)
			continue;
		top = cell_budget_meter_top(m, b, (enum cell_budget_kind)k, &used);
		if (bytes) {
			cell_stats_human(used, used_s, sizeof(used_s));
			cell_stats_human(rate->amount, amount, sizeof(amount));
		} else {
			snprintf(used_s, sizeof(used_s), "%llu", (unsigned long long)used);
			snprintf(amount, sizeof(amount), "%llu", (unsigned long long)rate->amount);
		}
		localtime_r(&end, &tm);
		strftime(at, sizeof(at), "%Y-%m-%d %H:%M", &tm);
		printf("budget: %s %s of %s per %s (%llu%%%s%s); starts again at %s\n",
		       cell_budget_key((enum cell_budget_kind)k), used_s, amount,
		       cell_period_name(rate->period),
		       (unsigned long long)(used >= rate->amount ? 100 : used * 100 / rate->amount),
		       top ? ", the most: " : "", top ? top : "", at);
	}
}

int cmd_stats(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},	 {"json", no_argument, NULL, 'j'},
		{"since", required_argument, NULL, 's'}, {"paths", no_argument, NULL, 'p'},
		{"html", required_argument, NULL, 'H'},	 {0},
	};
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *path = NULL, *line = NULL, *live = NULL;
	struct merge m = {0};
	struct cell_stats *s = &m.stats;
	bool json = false, paths = false;
	const char *html = NULL;
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt == 's') {
			if (parse_since(optarg, &m.since) < 0)
				return cli_bad_usage(
					argv[0],
					"--since '%s': expected YYYY-MM-DD [HH:MM[:SS]], "
					"today, yesterday, or a span ago such as 2h or 7d",
					optarg);
			continue;
		}
		if (opt == 'p') {
			paths = true;
			continue;
		}
		if (opt == 'H') {
			html = optarg;
			continue;
		}
		if (opt != 'j')
			return cli_bad_option(argv, opt);
		json = true;
	}
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	r = cli_open_project(optind < argc ? argv[optind] : NULL, &p, &c);
	if (r >= 0)
		return r;
	if (paths)
		return print_paths(p, c->name);
	if (cell_ledger_path(p->id, &path) < 0)
		return CELL_EXIT_FAILURE;
	if (html)
		return write_html(path, c->name, m.since, html);
	r = cell_ledger_read(path, merge, &m);
	if (r < 0) {
		fprintf(stderr, "cell: cannot read the ledger '%s': %s\n", path, strerror(-r));
		cell_stats_done(s);
		return CELL_EXIT_FAILURE;
	}
	if (m.bad)
		fprintf(stderr, "cell: %u line%s of '%s' %s not a ledger record; skipped\n", m.bad,
			m.bad == 1 ? "" : "s", path, m.bad == 1 ? "is" : "are");
	/* and the cells still open, as far as the kernel has counted them */
	m.project = p->id;
	m.live = live = cell_network_bpf_live();
	cell_running_list(merge_open, &m);
	cell_stats_sort(s);
	if (json) {
		r = cell_stats_record(s, "total", p->id, c->name, s->first_start, s->last_end,
				      &line);
		if (r >= 0)
			printf("%s\n", line);
	} else {
		print_table(s, c->name);
		print_budget(&c->network.budget, path);
		if (m.open)
			printf("(the kernel's counts include %u open cell%s)\n", m.open,
			       m.open == 1 ? "" : "s");
	}
	cell_stats_done(s);
	return r < 0 ? CELL_EXIT_FAILURE : CELL_EXIT_OK;
}

/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "running.h"
#include "stats.h"

struct listing {
	const char *live; /* cell-session's lines, or NULL */
	bool json;
	unsigned n;
};

static const char *state_of(const struct cell_running *c)
{
	if (cell_process_alive(c->keeper, c->keeper_start))
		return "open";
	return cell_process_alive(c->owner, c->owner_start) ? "starting" : "cut short";
}

static void show_json(const struct cell_running *c, const struct cell_stats *s, bool live)
{
	_cleanup_free_ char *cgroup = NULL, *line = NULL;
	cJSON *o = cJSON_CreateObject();

	if (asprintf(&cgroup, "cell.slice/%u-%s", (unsigned)getuid(), c->id) < 0 || !o)
		goto out;
	if (!cJSON_AddStringToObject(o, "id", c->id) ||
	    !cJSON_AddStringToObject(o, "project", c->project) ||
	    !cJSON_AddStringToObject(o, "name", c->name) ||
	    !cJSON_AddStringToObject(o, "state", state_of(c)) ||
	    !cJSON_AddStringToObject(o, "mode", "proxy") ||
	    !cJSON_AddNumberToObject(o, "start", (double)c->start) ||
	    !cJSON_AddNumberToObject(o, "pid", c->owner) ||
	    !cJSON_AddNumberToObject(o, "keeper", c->keeper) ||
	    !cJSON_AddNumberToObject(o, "proxy", c->proxy) ||
	    !cJSON_AddNumberToObject(o, "proxy_port", c->proxy_port) ||
	    !cJSON_AddStringToObject(o, "cgroup", cgroup))
		goto out;
	if (live) {
		cJSON *k = cJSON_AddObjectToObject(o, "kernel");

		for (size_t i = 0; k && i < cell_counter_n_fields; i++)
			cJSON_AddNumberToObject(k, cell_counter_fields[i].key,
						(double)cell_counter_get(&s->kernel, i));
	}
	line = cJSON_PrintUnformatted(o);
	if (line)
		printf("%s\n", line);
out:
	cJSON_Delete(o);
}

static int show(const struct cell_running *c, void *data)
{
	struct listing *l = data;
	struct cell_stats s = {0};
	bool live = cell_network_bpf_live_counters(l->live, c->id, &s);
	time_t start = (time_t)c->start;
	char when[32] = "?", counts[96] = "-";
	struct tm tm;

	l->n++;
	if (l->json) {
		show_json(c, &s, live);
		return 0;
	}
	if (localtime_r(&start, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (live)
		snprintf(counts, sizeof(counts), "%llu/%llu, %llu/%llu B",
			 (unsigned long long)s.kernel.connects_allowed,
			 (unsigned long long)s.kernel.connects_denied,
			 (unsigned long long)s.kernel.bytes_in,
			 (unsigned long long)s.kernel.bytes_out);
	printf("%-22s %-16s %-19s %-9s %7d %6u  %s\n", c->id, c->name, when, state_of(c),
	       (int)c->owner, (unsigned)c->proxy_port, counts);
	return 0;
}

int cmd_status(int argc, char *argv[])
{
	static const struct option options[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	_cleanup_free_ char *live = NULL;
	struct listing l = {0};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt != 'j')
			return cli_bad_option(argv, opt);
		l.json = true;
	}
	if (optind < argc)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	live = cell_network_bpf_live();
	l.live = live;
	if (!l.json)
		printf("%-22s %-16s %-19s %-9s %7s %6s  %s\n", "cell", "project", "since", "state",
		       "pid", "proxy", "connects ok/denied, bytes in/out");
	if (cell_running_list(show, &l) < 0)
		return CELL_EXIT_FAILURE;
	if (l.n == 0 && !l.json)
		printf("(no open cells)\n");
	return CELL_EXIT_OK;
}

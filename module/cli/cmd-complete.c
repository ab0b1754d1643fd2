/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "diag.h"
#include "fileio.h"
#include "project.h"
#include "strv.h"
#include "xdg.h"

/* The options a usage string names ("[-C DIR] [--new]" → -C, --new), a line each. */
static void options_of(const char *usage)
{
	for (const char *p = usage; *p; p++) {
		size_t n;

		if (*p != '-' || (p > usage && !strchr("[ |", p[-1])) || p[1] == ' ' || !p[1] ||
		    (p[1] == '-' && (p[2] == ' ' || p[2] == ']' || !p[2])))
			continue;
		n = strspn(p, "-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
		printf("%.*s\n", (int)n, p);
		p += n - 1;
	}
	printf("--help\n");
}

/* The hosts the project's proxy refused (its request log), a line each, each once. */
static void refused_hosts(void)
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_diag_ struct cell_diag d = {0};
	_cleanup_free_ char *log = NULL, *text = NULL;
	_cleanup_strv_free_ char **seen = NULL;
	size_t len = 0;

	if (cell_project_find(".", &p, &d) < 0 ||
	    cell_project_state_file(p->id, "proxy.log", &log) < 0 ||
	    cell_read_file(log, 0, 16 * 1024 * 1024, &text, &len) < 0)
		return;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *o = cJSON_Parse(line);
		const char *host = cJSON_GetStringValue(
				   cJSON_GetObjectItemCaseSensitive(o, "host")),
			   *decision = cJSON_GetStringValue(
				   cJSON_GetObjectItemCaseSensitive(o, "decision"));

		if (host && decision && streq(decision, "denied") &&
		    !cell_strv_contains(seen, host) && cell_strv_extend(&seen, host) >= 0)
			printf("%s\n", host);
		cJSON_Delete(o);
	}
}

int cli_complete(const struct cli_command *table, size_t n, int argc, char *argv[])
{
	const char *what = argc > 2 ? argv[2] : "";

	if (streq(what, "commands")) {
		for (size_t i = 0; i < n; i++)
			printf("%s\t%s\n", table[i].name, table[i].summary);
		return CELL_EXIT_OK;
	}
	if (streq(what, "options") && argc > 3) {
		for (size_t i = 0; i < n; i++)
			if (streq(table[i].name, argv[3]))
				options_of(table[i].args);
		return CELL_EXIT_OK;
	}
	if (streq(what, "hosts")) {
		refused_hosts();
		return CELL_EXIT_OK;
	}
	return cli_bad_usage(argv[0], "--complete commands | options COMMAND | hosts");
}

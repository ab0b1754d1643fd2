/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "running.h"

static int show(const struct cell_running *c, void *data)
{
	time_t start = (time_t)c->start;
	struct tm tm;
	char when[32] = "?";
	bool alive = cell_process_alive(c->keeper, c->keeper_start);

	if (localtime_r(&start, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-24s %-20s %-19s %s\n", c->id, c->name, when,
	       alive					      ? "open"
	       : cell_process_alive(c->owner, c->owner_start) ? "starting"
							      : "cut short");
	++*(unsigned *)data;
	return 0;
}

int cmd_status(int argc, char *argv[])
{
	unsigned n = 0;

	if (argc > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[1]);
	printf("%-24s %-20s %-19s %s\n", "cell", "project", "since", "state");
	if (cell_running_list(show, &n) < 0)
		return CELL_EXIT_FAILURE;
	if (n == 0)
		printf("(no open cells)\n");
	return CELL_EXIT_OK;
}

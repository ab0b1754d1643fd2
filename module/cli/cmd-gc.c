/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "keeper.h"
#include "running.h"
#include "commands.h"
#include "macro.h"
#include "process.h"
#include "xdg.h"

/* gc --all, root's: every user's cells whose keeper is gone, closed by cell-session. */
static int gc_all(const char *cmd)
{
	const char *why = NULL;
	_cleanup_free_ char *helper = cell_host_helper(&why), *out = NULL;
	char *argv[] = {helper, (char *)"reap", (char *)"--all", (char *)"--status-fd", (char *)"1",
			NULL};
	unsigned n = 0;
	int r;

	if (geteuid() != 0) {
		fprintf(stderr, "%s: --all closes other users' cells: only root may\n", cmd);
		return CELL_EXIT_FAILURE;
	}
	if (!helper) {
		fprintf(stderr, "%s: no cell-session: %s\n", cmd, why ? why : "not found");
		return CELL_EXIT_FAILURE;
	}
	r = cell_run_capture(argv, 1024 * 1024, &out);
	for (char *line = out, *end; line && *line; line = end ? end + 1 : NULL) {
		unsigned uid;
		char id[64];

		end = strchr(line, '\n');
		if (end)
			*end = '\0';
		if (sscanf(line, "{\"uid\":%u,\"id\":\"%63[^\"]\"}", &uid, id) == 2) {
			printf("closed cell %s of uid %u (its record waits for its owner)\n", id,
			       uid);
			n++;
		}
	}
	if (r != 0) {
		fprintf(stderr, "%s: cell-session reap --all failed (status %d)\n", cmd, r);
		return CELL_EXIT_FAILURE;
	}
	if (n == 0)
		printf("no other cell to close\n");
	return CELL_EXIT_OK;
}

static void say_closed(const struct cell_running *c, void *data)
{
	(void)data;
	printf("closed cell %s of %s\n", c->id, c->name);
}

int cmd_gc(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"all", no_argument, NULL, 'a'},
		{0},
	};
	_cleanup_free_ char *state_home = NULL;
	bool all = false;
	unsigned sessions;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt != 'a')
			return cli_bad_option(argv, opt);
		all = true;
	}
	if (optind < argc)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	if (cell_network_bpf_reap(say_closed, NULL) == 0)
		printf("no cell to close\n");
	/* project sessions cut short: their socket, runtime and leave directories */
	sessions = cell_xdg_dir(CELL_XDG_STATE, &state_home) >= 0 ? cell_keeper_gc(state_home) : 0;
	if (sessions > 0)
		printf("removed what %u session%s cut short left\n", sessions,
		       sessions == 1 ? "" : "s");
	return all ? gc_all(argv[0]) : CELL_EXIT_OK;
}

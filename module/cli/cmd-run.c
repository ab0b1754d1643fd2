/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

int cmd_run(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"directory", required_argument, NULL, 'C'},
		{"user", required_argument, NULL, 'u'},
		{"allow-root", no_argument, NULL, 'R'},
		{0},
	};
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_plan_ struct cell_plan *plan = NULL;
	_cleanup_free_ char *cwd = NULL;
	struct cli_cell_options o = {0};
	int opt, r;

	opterr = 0;
	/* '+': the command's own options are not ours */
	while ((opt = getopt_long(argc, argv, "+:hC:u:", options, NULL)) >= 0) {
		switch (opt) {
		case 'h':
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		case 'C':
			o.dir = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'R':
			o.allow_root = true;
			break;
		case ':':
			return cli_bad_usage(argv[0], "option '%s' needs a value",
					     argv[optind - 1]);
		default:
			return cli_bad_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_bad_usage(argv[0], "no command given");
	r = cli_cell_open(&o, &p, &c, &cwd);
	if (r >= 0)
		return r;
	r = cli_cell_plan(p, c, cwd, argv + optind, &plan);
	if (r >= 0)
		return r;
	return cli_cell_launch(plan);
}

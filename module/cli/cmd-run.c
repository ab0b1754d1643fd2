/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

int cmd_run(int argc, char *argv[])
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *cwd = NULL;
	struct cli_cell_options o = {0};
	struct cell_instance_args a;
	int r;

	r = cli_parse_cell_options(argc, argv, true, &o);
	if (r >= 0)
		return r;
	if (optind >= argc)
		return cli_bad_usage(argv[0], "no command given");
	r = cli_cell_open(&o, &p, &c, &cwd);
	if (r >= 0)
		return r;
	a = (struct cell_instance_args){.cwd = cwd, .command = argv + optind};
	/* what the cell was refused, said once the command ends (the hook says it at a prompt) */
	cli_say_denials(!o.quiet);
	/* the project's session (one cell its commands share), unless --new */
	r = o.new_cell ? -1 : cli_session_run(p, c, &a, NULL, NULL);
	if (r >= 0)
		return r;
	return cli_cell_run(p, c, &a);
}

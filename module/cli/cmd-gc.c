/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cli.h"
#include "commands.h"

int cmd_gc(int argc, char *argv[])
{
	if (argc > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[1]);
	if (cli_reap_cells(true) == 0)
		printf("no cell to close\n");
	return CELL_EXIT_OK;
}

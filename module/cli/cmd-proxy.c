/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "host.h"
#include "log.h"
#include "macro.h"

/*
 * cell proxy: cell-proxy does it (cli/cell-proxy.c), a program of its own so that only the
 * proxy loads OpenSSL. The same arguments; -v goes as CELL_LOG.
 */
int cmd_proxy(int argc, char *argv[])
{
	_cleanup_free_ char *program = NULL;
	int r = cell_host_find_helper("cell-proxy", &program);

	(void)argc;
	if (r < 0) {
		fprintf(stderr,
			"cell proxy: cell-proxy is missing (looked beside cell and in libexec)\n");
		return CELL_EXIT_FAILURE;
	}
	if (cell_log_get_level() >= CELL_LOG_DEBUG)
		setenv("CELL_LOG", "debug", 1);
	argv[0] = program;
	execv(program, argv);
	fprintf(stderr, "cell proxy: cannot run %s: %s\n", program, strerror(errno));
	return CELL_EXIT_FAILURE;
}

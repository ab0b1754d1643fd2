/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "trust.h"

/* Allowing a config that does not load would only defer the error; it is refused instead. */
int cmd_allow(int argc, char *argv[])
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *trust = NULL;
	const char *dir;
	int r;

	r = cli_parse_dir_only(argc, argv, &dir);
	if (r >= 0)
		return r;
	r = cli_open_project(dir, &p, &c);
	if (r == CELL_EXIT_CONFIG)
		fprintf(stderr, "cell: nothing was allowed; fix the problem above first\n");
	if (r >= 0)
		return r;
	r = cell_trust_dir(&trust);
	if (r >= 0)
		r = cell_trust_allow(trust, p);
	if (r < 0) {
		fprintf(stderr, "cell: cannot record trust for %s: %s\n", p->config_path,
			strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	printf("cell: allowed %s\n", p->config_path);
	return CELL_EXIT_OK;
}

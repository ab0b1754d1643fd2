/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "path.h"
#include "trust.h"

int cmd_deny(int argc, char *argv[])
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_diag_ struct cell_diag d = {0};
	_cleanup_free_ char *dir = NULL, *config = NULL;
	const char *start;
	unsigned removed = 0;
	bool found = false;
	int r;

	r = cli_parse_dir_only(argc, argv, &start);
	if (r >= 0)
		return r;
	/* deny must work even when the config no longer parses or reads: only its path matters */
	if (!start)
		start = ".";
	r = cell_project_find(start, &p, &d);
	if (r >= 0) {
		config = strdup(p->config_path);
		found = true;
	} else if (d.file) {
		/* found, but unreadable, too large or a symlink: that file is the one to deny */
		config = strdup(d.file);
		found = true;
	} else {
		_cleanup_free_ char *real = realpath(start, NULL);

		if (!real) {
			fprintf(stderr, "cell: cannot resolve '%s': %s\n", start, strerror(errno));
			return CELL_EXIT_FAILURE;
		}
		config = cell_path_join(real, CELL_CONFIG_FILE);
	}
	if (!config)
		return CELL_EXIT_FAILURE;
	r = cell_trust_dir(&dir);
	if (r >= 0)
		r = cell_trust_deny(dir, config, &removed);
	if (r < 0) {
		fprintf(stderr, "cell: cannot remove trust for %s: %s\n", config, strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	if (removed > 0) {
		printf("cell: denied %s\n", config);
	} else if (!found) {
		/* no config and no record of one here: what cell run says */
		_cleanup_project_ struct cell_project *none = NULL;

		r = cli_find_project(start, &none);
		return r >= 0 ? r : CELL_EXIT_OK;
	} else {
		printf("cell: %s was not allowed\n", config);
	}
	return CELL_EXIT_OK;
}

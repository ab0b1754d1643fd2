/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "project.h"
#include "review.h"
#include "strv.h"
#include "trust.h"
#include "xdg.h"

/*
 * Whether to allow a config whose warnings were just shown: --yes, or "y" on a terminal. Not on
 * a terminal and without --yes: no (a script says so with --yes).
 */
static bool allow_anyway(bool yes)
{
	char line[16];

	if (yes)
		return true;
	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
		fprintf(stderr,
			"cell: nothing was allowed: allow it anyway with 'cell allow --yes'\n");
		return false;
	}
	fprintf(stderr, "allow anyway? [y/N] ");
	if (!fgets(line, sizeof(line), stdin) ||
	    (!streq(line, "y\n") && !streq(line, "Y\n") && !streq(line, "yes\n"))) {
		fprintf(stderr, "cell: nothing was allowed\n");
		return false;
	}
	return true;
}

/*
 * Allowing a config that does not load would only defer the error; it is refused instead. What
 * weakens the cell is said first (what cell explain warns of) and asked about; what the config
 * opens is said in a line.
 */
int cmd_allow(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"yes", no_argument, NULL, 'y'},
		{0},
	};
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *trust = NULL;
	_cleanup_strv_free_ char **warnings = NULL;
	_cleanup_diag_ struct cell_diag diag = {0};
	const char *dir = NULL;
	char summary[1024];
	bool yes = false;
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:hy", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt != 'y')
			return cli_bad_option(argv, opt);
		yes = true;
	}
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	if (optind < argc)
		dir = argv[optind];
	r = cli_open_project(dir, &p, &c);
	if (r == CELL_EXIT_CONFIG)
		fprintf(stderr, "cell: nothing was allowed; fix the problem above first\n");
	if (r >= 0)
		return r;
	/* (no cell could run there: refused now, not at each cd) */
	if (cell_project_root_check(p->root, cell_home(), &diag) < 0) {
		cli_print_diag(&diag);
		fprintf(stderr, "cell: nothing was allowed\n");
		return CELL_EXIT_FAILURE;
	}
	if (cell_review_warnings(c, p->root, cell_home(), &warnings) < 0)
		return CELL_EXIT_FAILURE;
	for (size_t i = 0; warnings && warnings[i]; i++)
		fprintf(stderr, "WARNING: %s\n", warnings[i]);
	if (warnings && warnings[0] && !allow_anyway(yes))
		return CELL_EXIT_FAILURE;
	r = cell_trust_dir(&trust);
	if (r >= 0)
		r = cell_trust_allow(trust, p);
	if (r < 0) {
		fprintf(stderr, "cell: cannot record trust for %s: %s\n", p->config_path,
			strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	printf("cell: allowed %s\n", p->config_path);
	if (cell_review_summary(c, summary, sizeof(summary)) >= 0)
		printf("  %s\n", summary);
	return CELL_EXIT_OK;
}

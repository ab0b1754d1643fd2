/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "netpolicy.h"
#include "trust.h"

/*
 * Adds a host to the project's network.allow and trusts the result, since the user asked for
 * it. Inside a cell it refuses: nothing in a cell may widen its own policy (and the config and
 * the trust store are not writable or visible there anyway).
 */
int cmd_allow_host(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *text = NULL, *trust = NULL;
	char canon[CELL_HOST_MAX + 16];
	struct cell_netrule rule;
	const char *why = NULL;
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		if (opt != 'h')
			return cli_bad_option(argv, opt);
		cli_usage(argv[0], false);
		return CELL_EXIT_OK;
	}
	if (optind >= argc)
		return cli_bad_usage(argv[0], "no host given");
	if (argc - optind > 2)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 2]);
	if (argv[optind][0] == '@' || cell_netrule_parse(argv[optind], &rule, &why) < 0 ||
	    cell_netrule_format(&rule, canon, sizeof(canon)) < 0) {
		fprintf(stderr, "cell: '%s' is not a host rule: %s\n", argv[optind],
			why ? why
			    : "presets are added to \"presets\" or \"network.allow\" by hand");
		return CELL_EXIT_USAGE;
	}
	r = cli_open_project(optind + 1 < argc ? argv[optind + 1] : NULL, &p, &c);
	if (r >= 0)
		return r;
	/* trusting the result must not trust other edits along with it */
	if (!cli_trusted(p, &trust)) {
		_cleanup_free_ char *allow = cli_allow_command(p);

		fprintf(stderr, "cell: %s is not allowed as it is; review it and run '%s' first\n",
			p->config_path, allow ? allow : "cell allow");
		return CELL_EXIT_FAILURE;
	}
	for (size_t i = 0; i < c->network.n_allow; i++)
		if (streq(c->network.allow[i].text, canon)) {
			printf("cell: %s already allows %s\n", p->config_path, canon);
			return CELL_EXIT_OK;
		}
	text = cli_config_with_allow(p, (char *[]){canon, NULL});
	if (!text) {
		fprintf(stderr, "cell: cannot add %s to %s\n", canon, p->config_path);
		return CELL_EXIT_FAILURE;
	}
	r = cli_config_replace(p, TAKE_PTR(text), trust);
	if (r >= 0)
		return r;
	printf("cell: %s now allows %s (and is allowed)\n", p->config_path, canon);
	return CELL_EXIT_OK;
}

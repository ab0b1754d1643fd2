/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "path.h"
#include "quote.h"
#include "xdg.h"

void cli_usage(const char *verb, bool to_stderr)
{
	const struct cli_command *c = cli_command_find(verb);
	FILE *f = to_stderr ? stderr : stdout;

	if (!c)
		return;
	fprintf(f, "usage: cell %s%s%s\n", c->name, c->args[0] ? " " : "", c->args);
	if (!to_stderr)
		fprintf(f, "\n%s.\n", c->summary);
}

int cli_bad_usage(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cell %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_usage(verb, true);
	fprintf(stderr, "Try 'cell %s --help' for more.\n", verb);
	return CELL_EXIT_USAGE;
}

int cli_parse_dir_only(int argc, char *argv[], const char **ret_dir)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
		if (c == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		return cli_bad_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
	}
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	*ret_dir = optind < argc ? argv[optind] : ".";
	return -1;
}

void cli_print_diag(const struct cell_diag *d)
{
	_cleanup_free_ char *s = cell_diag_format(d);
	unsigned col = 1;

	fprintf(stderr, "cell: %s\n", s ? s : "out of memory");
	if (!d->excerpt || d->line == 0)
		return;
	fprintf(stderr, "%5u | %s\n      | ", d->line, d->excerpt);
	/* the caret line copies tabs so it lines up with the excerpt in any terminal */
	for (const char *p = d->excerpt; *p && col < d->column; p++) {
		if (((unsigned char)*p & 0xC0) == 0x80)
			continue;
		fputc(*p == '\t' ? '\t' : ' ', stderr);
		col++;
	}
	fputs("^\n", stderr);
}

int cli_find_project(const char *dir, struct cell_project **ret)
{
	_cleanup_diag_ struct cell_diag d = {0};
	int r;

	r = cell_project_find(dir, ret, &d);
	if (r == -ENOENT && !d.message) {
		_cleanup_free_ char *real = realpath(dir, NULL);

		fprintf(stderr,
			"cell: no %s in '%s' or any directory above it (create one with 'cell init')\n",
			CELL_CONFIG_FILE, real ? real : dir);
		return CELL_EXIT_FAILURE;
	}
	if (r < 0) {
		if (d.message)
			cli_print_diag(&d);
		else
			fprintf(stderr, "cell: cannot look for %s from '%s': %s\n",
				CELL_CONFIG_FILE, dir, strerror(-r));
		return r == -ELOOP || r == -EFBIG ? CELL_EXIT_CONFIG : CELL_EXIT_FAILURE;
	}
	return -1;
}

char *cli_user_config_path(void)
{
	_cleanup_free_ char *dir = NULL;

	if (cell_xdg_dir(CELL_XDG_CONFIG, &dir) < 0)
		return NULL;
	return cell_path_join(dir, "config.json");
}

int cli_load_config(const struct cell_project *p, struct cell_config **ret)
{
	_cleanup_diag_ struct cell_diag d = {0};
	_cleanup_free_ char *user = cli_user_config_path();
	struct cell_config_env env = cell_config_env_from_process();
	int r;

	r = cell_project_load_config(p, user, &env, ret, &d);
	if (r < 0) {
		if (d.message)
			cli_print_diag(&d);
		else
			fprintf(stderr, "cell: cannot load the config of '%s': %s\n", p->root,
				strerror(-r));
		return CELL_EXIT_CONFIG;
	}
	return -1;
}

int cli_open_project(int argc, char *argv[], struct cell_project **ret_project,
		     struct cell_config **ret_config)
{
	_cleanup_project_ struct cell_project *p = NULL;
	const char *dir;
	int r;

	r = cli_parse_dir_only(argc, argv, &dir);
	if (r >= 0)
		return r;
	r = cli_find_project(dir, &p);
	if (r >= 0)
		return r;
	r = cli_load_config(p, ret_config);
	if (r >= 0)
		return r;
	*ret_project = TAKE_PTR(p);
	return -1;
}

char *cli_allow_command(const struct cell_project *p)
{
	_cleanup_free_ char *q = cell_shell_quote(p->root);
	char *s;

	if (!q || asprintf(&s, "cell allow %s", q) < 0)
		return NULL;
	return s;
}

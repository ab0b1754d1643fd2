/* SPDX-License-Identifier: MIT */
/*
 * cell import devenv [--force] [DIR]: writes DIR/.cell.json from devenv's sandbox settings
 * (devenvimport.h has the mapping). The file is new or changed, so untrusted: nothing in it
 * applies before `cell allow`. Exit codes: 0 written; 1 nothing to import, a file that cannot
 * be read or written, .cell.json already there without --force; 2 a devenv file is invalid
 * (file:line:column on stderr, nothing written); 64 bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "devenvimport.h"
#include "fileio.h"
#include "path.h"
#include "quote.h"
#include "xdg.h"

extern char **environ;

enum { USER_FILE, PROJECT_FILE, LOCAL_FILE, N_FILES };

/* The user's devenv.yaml: $XDG_CONFIG_HOME/devenv/devenv.yaml, or ~/.config/devenv/... */
static char *user_file(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = cell_home();
	char *s;

	if (xdg && xdg[0] == '/')
		return asprintf(&s, "%s/devenv/devenv.yaml", xdg) < 0 ? NULL : s;
	if (!home)
		return NULL;
	return asprintf(&s, "%s/.config/devenv/devenv.yaml", home) < 0 ? NULL : s;
}

/* Reads the files that exist (a missing one is skipped); an exit code, or -1. */
static int read_files(const char *root, struct cell_devenvimport_file *files)
{
	char *paths[N_FILES] = {user_file(), cell_path_join(root, "devenv.yaml"),
				cell_path_join(root, "devenv.local.yaml")};
	int r = 0;

	for (int i = 0; i < N_FILES; i++) {
		char *text = NULL;
		size_t len = 0;

		files[i] = (struct cell_devenvimport_file){.path = paths[i], .project = i > 0};
		if (!paths[i] || r < 0)
			continue;
		/* (the project's: not a link, and a FIFO would hang the import) */
		r = cell_read_file(paths[i], i > 0 ? O_NOFOLLOW | O_NONBLOCK : O_NONBLOCK,
				   CELL_FILE_MAX, &text, &len);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "cell: cannot read %s: %s\n", paths[i],
				r == -EINVAL  ? "not a regular file"
				: r == -ELOOP ? "a symbolic link (import reads the file itself)"
					      : strerror(-r));
			continue;
		}
		files[i].text = text;
		files[i].len = len;
	}
	if (!paths[PROJECT_FILE] || !paths[LOCAL_FILE]) {
		fprintf(stderr, "cell: out of memory\n");
		return CELL_EXIT_FAILURE;
	}
	return r < 0 ? CELL_EXIT_FAILURE : -1;
}

static void files_done(struct cell_devenvimport_file *files)
{
	for (int i = 0; i < N_FILES; i++) {
		free((char *)files[i].path);
		free((char *)files[i].text);
	}
}

static int convert(const char *real, struct cell_devenvimport_result *ret)
{
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_devenvimport_file files[N_FILES];
	struct cell_config_env env = cell_config_env_from_process();
	int r;

	r = read_files(real, files);
	if (r < 0) {
		r = cell_devenvimport_convert(files, N_FILES, environ, real, &env, ret, &d);
		if (r == -EINVAL)
			cli_print_diag(&d);
		else if (r < 0)
			fprintf(stderr, "cell: %s\n", d.message ? d.message : strerror(-r));
		r = r == -EINVAL ? CELL_EXIT_CONFIG : r < 0 ? CELL_EXIT_FAILURE : -1;
	}
	files_done(files);
	return r;
}

static void say_exists(const char *path)
{
	fprintf(stderr, "cell: %s already exists; cell import replaces it only with --force\n",
		path);
}

static bool config_exists(const char *real)
{
	_cleanup_free_ char *path = cell_path_join(real, CELL_CONFIG_FILE);
	struct stat st;

	if (!path || lstat(path, &st) < 0)
		return false;
	say_exists(path);
	return true;
}

static int write_config(const char *real, const char *text, bool force)
{
	_cleanup_free_ char *path = cell_path_join(real, CELL_CONFIG_FILE);
	int r;

	if (!path)
		return -ENOMEM;
	r = force ? cell_write_file_atomic(path, text, strlen(text), 0644, true)
		  : cell_write_file_new(path, text, strlen(text), 0644);
	if (r == -EEXIST)
		say_exists(path);
	else if (r < 0)
		fprintf(stderr, "cell: cannot write %s: %s\n", path, strerror(-r));
	else
		printf("cell: wrote %s from devenv's sandbox settings\n", path);
	return r;
}

int cmd_import(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"force", no_argument, NULL, 'f'},
		{0},
	};
	_cleanup_(cell_devenvimport_result_done) struct cell_devenvimport_result res = {0};
	_cleanup_free_ char *real = NULL, *q = NULL;
	const char *dir = ".";
	bool force = false;
	int c, r;

	opterr = 0;
	/* no '+': options may come after "devenv" too */
	while ((c = getopt_long(argc, argv, ":hf", options, NULL)) >= 0) {
		if (c == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (c != 'f')
			return cli_bad_option(argv, c);
		force = true;
	}
	if (optind >= argc)
		return cli_bad_usage(argv[0], "missing what to import (devenv)");
	if (!streq(argv[optind], "devenv"))
		return cli_bad_usage(argv[0], "unexpected argument '%s' (cell imports from devenv)",
				     argv[optind]);
	if (argc - optind > 2)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 2]);
	if (argc - optind == 2)
		dir = argv[optind + 1];

	real = realpath(dir, NULL);
	if (!real) {
		fprintf(stderr, "cell: cannot resolve '%s': %s\n", dir, strerror(errno));
		return CELL_EXIT_FAILURE;
	}
	/* said before the work too: the write itself refuses as well (a file made meanwhile) */
	if (!force && config_exists(real))
		return CELL_EXIT_FAILURE;
	r = convert(real, &res);
	if (r >= 0)
		return r;
	for (size_t i = 0; res.notes && res.notes[i]; i++) {
		fputs("cell: note: ", stderr);
		cli_put_safe(stderr, res.notes[i]);
		fputc('\n', stderr);
	}
	if (write_config(real, res.json, force) < 0)
		return CELL_EXIT_FAILURE;
	q = cell_shell_quote(real);
	printf("cell: review it, then run 'cell allow %s'; nothing in it applies before that\n",
	       q ? q : real);
	return CELL_EXIT_OK;
}

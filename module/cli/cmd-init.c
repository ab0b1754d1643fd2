/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "detect.h"
#include "fileio.h"
#include "path.h"
#include "project.h"
#include "quote.h"
#include "xdg.h"

static char *render(const char *name, const struct cell_detected *d)
{
	char list[256] = "", env[128] = "";
	char *s;

	for (size_t i = 0; i < d->n_presets; i++) {
		strcat(list, i ? ", \"" : "\"");
		strcat(list, d->presets[i]);
		strcat(list, "\"");
	}
	if (d->provider != CELL_PROVIDER_NONE)
		snprintf(env, sizeof(env), ",\n  \"env\": {\n    \"provider\": \"%s\"\n  }",
			 cell_env_provider_to_string(d->provider));
	if (asprintf(&s,
		     "{\n"
		     "  \"name\": \"%s\",\n"
		     "  \"presets\": [%s],\n"
		     "  \"network\": {\n"
		     "    \"mode\": \"proxy\",\n"
		     "    \"allow\": []\n"
		     "  }%s\n"
		     "}\n",
		     name, list, env) < 0)
		return NULL;
	return s;
}

static char *default_name(const char *real)
{
	_cleanup_config_ struct cell_config *c = NULL;
	struct cell_config_env env = {0};
	char *name;

	/* the same rule as a config without "name" */
	if (cell_config_new(&c) < 0 || cell_config_finish(c, real, &env, NULL) < 0)
		return NULL;
	name = c->name;
	c->name = NULL;
	return name;
}

int cmd_init(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"name", required_argument, NULL, 'n'},
		{0},
	};
	_cleanup_free_ char *real = NULL, *path = NULL, *text = NULL, *name = NULL, *q = NULL;
	_cleanup_close_ int dirfd = -1, fd = -1;
	_cleanup_diag_ struct cell_diag diag = {0};
	struct cell_detected d;
	const char *dir = ".";
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hn:", options, NULL)) >= 0) {
		if (c == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (c != 'n')
			return cli_bad_option(argv, c);
		free(name);
		name = strdup(optarg);
	}
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	if (optind < argc)
		dir = argv[optind];

	real = realpath(dir, NULL);
	if (!real) {
		fprintf(stderr, "cell: cannot resolve '%s': %s\n", dir, strerror(errno));
		return CELL_EXIT_FAILURE;
	}
	/* a config there would stop every cell under it, at each cd: said now, nothing written */
	if (cell_project_root_check(real, cell_home(), &diag) < 0) {
		cli_print_diag(&diag);
		return CELL_EXIT_FAILURE;
	}
	dirfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "cell: cannot open '%s': %s\n", real, strerror(errno));
		return CELL_EXIT_FAILURE;
	}
	if (name && !cell_config_valid_name(name))
		return cli_bad_usage(
			argv[0],
			"'%s' is not a cell name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)",
			name);
	if (!name)
		name = default_name(real);
	path = cell_path_join(real, CELL_CONFIG_FILE);
	cell_detect(dirfd, real, &d);
	text = name && path ? render(name, &d) : NULL;
	if (!text)
		return CELL_EXIT_FAILURE;
	fd = openat(dirfd, CELL_CONFIG_FILE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0644);
	if (fd < 0) {
		if (errno == EEXIST) {
			fprintf(stderr,
				"cell: %s already exists; cell init does not overwrite it\n", path);
			return CELL_EXIT_FAILURE;
		}
		fprintf(stderr, "cell: cannot create %s: %s\n", path, strerror(errno));
		return CELL_EXIT_FAILURE;
	}
	r = cell_write_all(fd, text, strlen(text));
	if (r < 0) {
		fprintf(stderr, "cell: cannot write %s: %s\n", path, strerror(-r));
		unlinkat(dirfd, CELL_CONFIG_FILE, 0);
		return CELL_EXIT_FAILURE;
	}
	q = cell_shell_quote(real);
	printf("cell: wrote %s (presets:", path);
	for (size_t i = 0; i < d.n_presets; i++)
		printf(" %s", d.presets[i]);
	printf("%s", d.n_presets ? "" : " none");
	if (d.provider != CELL_PROVIDER_NONE)
		printf("; env.provider: %s", cell_env_provider_to_string(d.provider));
	printf(")\n");
	for (size_t i = 0; i < d.n_notes; i++)
		printf("cell: note: %s\n", d.notes[i]);
	printf("cell: review it, then run 'cell allow %s'\n", q ? q : real);
	return CELL_EXIT_OK;
}

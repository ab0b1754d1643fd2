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
#include "fileio.h"
#include "path.h"
#include "quote.h"

/* Files that name a project type, and the preset each one implies. */
static const struct {
	const char *file;
	const char *preset;
} markers[] = {
	{"package.json", "node"}, {"pyproject.toml", "python"}, {"requirements.txt", "python"},
	{"setup.py", "python"},	  {"Cargo.toml", "rust"},	{"go.mod", "go"},
	{"flake.nix", "nix"},	  {"shell.nix", "nix"},		{"default.nix", "nix"},
};

static int detect(int dirfd, const char **presets, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ELEMENTSOF(markers); i++) {
		bool seen = false;

		if (faccessat(dirfd, markers[i].file, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		for (size_t k = 0; k < n; k++)
			seen = seen || streq(presets[k], markers[i].preset);
		if (!seen && n < max)
			presets[n++] = markers[i].preset;
	}
	return (int)n;
}

static char *render(const char *name, const char *const *presets, int n)
{
	char list[256] = "";
	char *s;

	for (int i = 0; i < n; i++) {
		strcat(list, i ? ", \"" : "\"");
		strcat(list, presets[i]);
		strcat(list, "\"");
	}
	if (asprintf(&s,
		     "{\n"
		     "  \"name\": \"%s\",\n"
		     "  \"presets\": [%s],\n"
		     "  \"network\": {\n"
		     "    \"mode\": \"proxy\",\n"
		     "    \"allow\": []\n"
		     "  }\n"
		     "}\n",
		     name, list) < 0)
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
	const char *presets[ELEMENTSOF(markers)], *dir = ".";
	int c, n, r;

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
	n = detect(dirfd, presets, ELEMENTSOF(presets));
	text = name && path ? render(name, presets, n) : NULL;
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
	for (int i = 0; i < n; i++)
		printf(" %s", presets[i]);
	printf("%s)\ncell: review it, then run 'cell allow %s'\n", n ? "" : " none", q ? q : real);
	return CELL_EXIT_OK;
}

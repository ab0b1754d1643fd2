/* SPDX-License-Identifier: MIT */
/*
 * cell logs [-f] [-C DIR] [NAME...]: the output of the project's cell up processes, from their
 * logs (the rotated ones first); with several, each line after its process's name. -f follows
 * them as they grow, across rotation.
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
#include "fileio.h"
#include "procstate.h"
#include "strv.h"

#define FOLLOW_INTERVAL_US 200000
#define LINE_BYTES 4096

struct src {
	const char *name;
	char *path; /* the current log */
	int fd;
	ino_t ino;
	char line[LINE_BYTES]; /* a line not ended yet */
	size_t len;
};

static int width;
static bool prefixed;

static void put(struct src *s, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		s->line[s->len++] = buf[i];
		if (buf[i] != '\n' && s->len < sizeof(s->line))
			continue;
		if (prefixed)
			printf("%-*s | ", width, s->name);
		fwrite(s->line, 1, s->len, stdout);
		s->len = 0;
	}
}

/* Prints what fd has from where it is to its end. */
static void copy(struct src *s, int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		put(s, buf, (size_t)n);
	fflush(stdout);
}

static void print_old(struct src *s, const char *dir)
{
	for (unsigned g = CELL_UP_LOGS_KEPT; g > 0; g--) {
		_cleanup_free_ char *path = cell_up_log_path(dir, s->name, g);
		_cleanup_close_ int fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;

		if (fd >= 0)
			copy(s, fd);
	}
}

static void open_current(struct src *s)
{
	struct stat st;

	s->fd = open(s->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	s->ino = s->fd >= 0 && fstat(s->fd, &st) == 0 ? st.st_ino : 0;
}

static void follow(struct src *srcs, size_t n)
{
	for (;;) {
		usleep(FOLLOW_INTERVAL_US);
		for (size_t i = 0; i < n; i++) {
			struct src *s = &srcs[i];
			struct stat st;

			if (s->fd >= 0)
				copy(s, s->fd);
			if (stat(s->path, &st) < 0 || st.st_ino == s->ino)
				continue;
			/* rotated: the rest of the old file, then the new one from its start */
			if (s->fd >= 0) {
				copy(s, s->fd);
				close(s->fd);
			}
			open_current(s);
			if (s->fd >= 0)
				copy(s, s->fd);
		}
	}
}

int cmd_logs(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"follow", no_argument, NULL, 'f'},
		{"directory", required_argument, NULL, 'C'},
		{0},
	};
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ struct src *srcs = NULL;
	const char *where = NULL;
	bool follows = false;
	size_t n = 0;
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hfC:", options, NULL)) >= 0)
		switch (opt) {
		case 'h':
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		case 'f':
			follows = true;
			break;
		case 'C':
			where = optarg;
			break;
		default:
			return cli_bad_option(argv, opt);
		}
	r = cli_open_project(where, &p, &c);
	if (r < 0)
		r = cli_up_dir(p, &dir);
	if (r >= 0)
		return r;
	for (int i = optind; i < argc; i++)
		if (!cell_config_process(c, argv[i]))
			return cli_bad_usage(argv[0], "the config has no process \"%s\"", argv[i]);
	srcs = calloc(c->n_processes ? c->n_processes : 1, sizeof(*srcs));
	if (!srcs)
		return CELL_EXIT_FAILURE;
	for (size_t i = 0; i < c->n_processes; i++) {
		const char *name = c->processes[i].name;

		if (optind < argc && !cell_strv_contains(argv + optind, name))
			continue;
		srcs[n] = (struct src){
			.name = name, .fd = -1, .path = cell_up_log_path(dir, name, 0)};
		if (!srcs[n].path)
			return CELL_EXIT_FAILURE;
		if ((int)strlen(name) > width)
			width = (int)strlen(name);
		n++;
	}
	prefixed = n > 1;
	if (n == 0)
		fprintf(stderr, "cell: %s's config has no \"processes\"\n", c->name);
	for (size_t i = 0; i < n; i++) {
		print_old(&srcs[i], dir);
		open_current(&srcs[i]);
		if (srcs[i].fd >= 0)
			copy(&srcs[i], srcs[i].fd);
	}
	if (follows && n > 0)
		follow(srcs, n);
	for (size_t i = 0; i < n; i++) {
		closep(&srcs[i].fd);
		free(srcs[i].path);
	}
	return n > 0 ? CELL_EXIT_OK : CELL_EXIT_FAILURE;
}

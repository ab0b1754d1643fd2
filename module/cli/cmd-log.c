/* SPDX-License-Identifier: MIT */
/*
 * cell log: what was refused to the project's cells, oldest first: the kernel's denials
 * (denials.log, written by cell from what cell-session reads off the cell's ring buffer) and
 * the proxy's (the requests in proxy.log it did not let through), merged by time. -f follows
 * both as they grow, across rotation.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "denial.h"
#include "fileio.h"
#include "project.h"
#include "xdg.h"

#define LOG_FILE_MAX (64u * 1024 * 1024)
#define FOLLOW_INTERVAL_US 200000

/* One log (its rotated files and the current one), read line by line. */
struct source {
	const char *file; /* in the project's state directory */
	char *path;
	char *text; /* what was read, and not yet printed */
	size_t len; /* of text */
	size_t at;  /* the next line in text */
	ino_t ino;  /* of the current file, and how far it was read */
	off_t off;
};

/* The "time" of a line: ISO 8601 UTC, so that comparing the strings compares the times. */
static const char *line_time(const char *line, size_t *ret_len)
{
	const char *t = strstr(line, "\"time\":\"");
	const char *end;

	if (!t)
		return NULL;
	t += strlen("\"time\":\"");
	end = strchr(t, '"');
	if (!end)
		return NULL;
	*ret_len = (size_t)(end - t);
	return t;
}

/* A UTC ISO 8601 time as local "YYYY-MM-DD HH:MM:SS". */
static void local_time(const char *iso, char *out, size_t size)
{
	struct tm tm = {0};
	time_t t;

	snprintf(out, size, "%.19s", iso ? iso : "?");
	if (!iso || !strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm))
		return;
	t = timegm(&tm);
	if (localtime_r(&t, &tm))
		strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static const char *str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s ? s : "";
}

static long num(const cJSON *o, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(n) ? (long)n->valuedouble : -1;
}

static void print_denial(const cJSON *o, const char *when)
{
	char where[128] = "", cell_pid[48] = "";
	const char *family = str(o, "family"), *addr = str(o, "address");

	if (num(o, "cell_pid") > 0)
		snprintf(cell_pid, sizeof(cell_pid), " (pid %ld in the cell)", num(o, "cell_pid"));
	if (streq(family, "unix"))
		snprintf(where, sizeof(where), "unix %s", addr);
	else if (!addr[0])
		snprintf(where, sizeof(where), "%s socket, protocol %s", family,
			 str(o, "protocol"));
	else
		snprintf(where, sizeof(where), streq(family, "ipv6") ? "%s [%s]:%ld" : "%s %s:%ld",
			 str(o, "protocol"), addr, num(o, "port"));
	printf("%s  kernel  %s[%ld]%s  %s  %s\n", when, str(o, "comm"), num(o, "pid"), cell_pid,
	       where, cell_denial_reason_text(str(o, "reason")));
}

static void print_request(const cJSON *o, const char *when)
{
	const char *method = str(o, "method");

	printf("%s  proxy   %s %s:%ld%s  %s%s%s\n", when, method[0] ? method : "CONNECT",
	       str(o, "host")[0] ? str(o, "host") : "?", num(o, "port"), str(o, "path"),
	       str(o, "decision"), str(o, "reason")[0] ? ": " : "", str(o, "reason"));
}

/* Prints a line of either log (as it is, with --json); allowed requests are not denials. */
static void print_line(const char *line, size_t len, bool json)
{
	cJSON *o = cJSON_ParseWithLength(line, len);
	const char *decision;
	char when[32];

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return;
	}
	decision = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "decision"));
	if (decision && streq(decision, "allowed")) {
		cJSON_Delete(o);
		return;
	}
	if (json) {
		printf("%.*s\n", (int)len, line);
	} else {
		local_time(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "time")), when,
			   sizeof(when));
		if (streq(str(o, "kind"), "denial"))
			print_denial(o, when);
		else
			print_request(o, when);
	}
	cJSON_Delete(o);
}

/* Appends what the file at path holds from off on; updates ino and off. */
static int read_from(struct source *s, const char *path, off_t off, bool current)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *more = NULL;
	size_t n = 0;
	struct stat st;
	int r;

	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (current) {
		if (st.st_ino != s->ino || st.st_size < off)
			off = 0; /* rotated, or a new file */
		s->ino = st.st_ino;
	}
	if (lseek(fd, off, SEEK_SET) < 0)
		return negative_errno();
	r = cell_read_full_fd(fd, LOG_FILE_MAX, &more, &n);
	if (r < 0)
		return r;
	/* only whole lines: a writer may be half way through one */
	while (n > 0 && more[n - 1] != '\n')
		n--;
	if (current)
		s->off = off + (off_t)n;
	if (n) {
		char *text = realloc(s->text, s->len + n + 1);

		if (!text)
			return -ENOMEM;
		memcpy(text + s->len, more, n);
		s->text = text;
		s->len += n;
		s->text[s->len] = '\0';
	}
	return 0;
}

/* What was added since the last read; the end of a file just rotated away is read first. */
static int follow_one(struct source *s)
{
	char rotated[4096];
	struct stat st;
	int r;

	snprintf(rotated, sizeof(rotated), "%s.1", s->path);
	if (stat(s->path, &st) == 0 && st.st_ino != s->ino) {
		struct stat old;

		if (stat(rotated, &old) == 0 && old.st_ino == s->ino) {
			r = read_from(s, rotated, s->off, false);
			if (r < 0)
				return r;
		}
	}
	return read_from(s, s->path, s->off, true);
}

/* Everything the log holds now: its rotated files, oldest first, then the current one. */
static int read_all(struct source *s)
{
	for (int i = 2; i >= 1; i--) {
		char rotated[4096];
		int r;

		snprintf(rotated, sizeof(rotated), "%s.%d", s->path, i);
		r = read_from(s, rotated, 0, false);
		if (r < 0)
			return r;
	}
	return read_from(s, s->path, 0, true);
}

/* The next unprinted line of s (its length in *ret_len), or NULL. */
static const char *peek(const struct source *s, size_t *ret_len)
{
	const char *line, *nl;

	if (s->at >= s->len)
		return NULL;
	line = s->text + s->at;
	nl = strchr(line, '\n');
	*ret_len = nl ? (size_t)(nl - line) : s->len - s->at;
	return line;
}

/* Prints what both sources hold, merged by time, and forgets it. */
static void print_merged(struct source src[2], bool json)
{
	for (;;) {
		size_t len[2] = {0, 0}, tlen[2] = {0, 0};
		const char *line[2] = {peek(&src[0], &len[0]), peek(&src[1], &len[1])};
		const char *t0, *t1;
		int pick;

		if (!line[0] && !line[1])
			break;
		if (!line[0] || !line[1]) {
			pick = line[0] ? 0 : 1;
		} else {
			t0 = line_time(line[0], &tlen[0]);
			t1 = line_time(line[1], &tlen[1]);
			pick = t0 && t1 &&
					       strncmp(t1, t0,
						       tlen[0] < tlen[1] ? tlen[0] : tlen[1]) < 0
				       ? 1
				       : 0;
		}
		print_line(line[pick], len[pick], json);
		src[pick].at += len[pick] + 1;
	}
	for (int i = 0; i < 2; i++) {
		free(src[i].text);
		src[i].text = NULL;
		src[i].len = src[i].at = 0;
	}
	fflush(stdout);
}

int cmd_log(int argc, char *argv[])
{
	static const struct option options[] = {
		{"follow", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	_cleanup_project_ struct cell_project *p = NULL;
	struct source src[2] = {{.file = "denials.log"}, {.file = "proxy.log"}};
	bool follow = false, json = false;
	int opt, r = 0;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:fh", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt == 'f')
			follow = true;
		else if (opt == 'j')
			json = true;
		else
			return cli_bad_option(argv, opt);
	}
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	r = cli_find_project(optind < argc ? argv[optind] : ".", &p);
	if (r >= 0)
		return r;
	for (int i = 0; i < 2; i++) {
		if (cell_project_state_file(p->id, src[i].file, &src[i].path) < 0) {
			r = -ENOMEM;
			break;
		}
		r = read_all(&src[i]);
		if (r < 0) {
			fprintf(stderr, "cell: cannot read '%s': %s\n", src[i].path, strerror(-r));
			break;
		}
	}
	if (r >= 0)
		print_merged(src, json);
	while (r >= 0 && follow) {
		usleep(FOLLOW_INTERVAL_US);
		for (int i = 0; r >= 0 && i < 2; i++)
			r = follow_one(&src[i]);
		print_merged(src, json);
	}
	for (int i = 0; i < 2; i++) {
		free(src[i].path);
		free(src[i].text);
	}
	return r < 0 ? CELL_EXIT_FAILURE : CELL_EXIT_OK;
}

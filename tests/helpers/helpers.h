/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A fresh directory under $TMPDIR (or /tmp); removed with th_rm_rf. Aborts the test on failure. */
char *th_mkdtemp(void);
void th_rm_rf(const char *path);
/* Writes text to dir/name (creating parent directories); returns the full path. */
char *th_write(const char *dir, const char *name, const char *text);
char *th_read(const char *path);
char *th_join(const char *a, const char *b);
/* Entries in a directory other than "." and ".."; 0 when it does not exist. */
size_t th_count_entries(const char *dir);

struct th_result {
	int status; /* exit status, or 128+signal */
	char *out;
	char *err;
};

/*
 * Runs argv (argv[0] a path) in dir with exactly the environment envp, stdin from /dev/null,
 * collecting stdout and stderr; gives up (and kills it) after 30 seconds.
 */
void th_run(const char *dir, char *const argv[], char *const envp[], struct th_result *ret);
void th_result_done(struct th_result *r);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <sys/types.h>

/* A fresh directory under $TMPDIR, /tmp or /var/tmp (the first that runs programs, and as root
 * setuid ones); removed with th_rm_rf. Aborts the test on failure. */
char *th_mkdtemp(void);
void th_rm_rf(const char *path);
/* Writes text to dir/name (creating parent directories); returns the full path. */
char *th_write(const char *dir, const char *name, const char *text);
char *th_read(const char *path);
char *th_join(const char *a, const char *b);
/* Entries in a directory other than "." and ".."; 0 when it does not exist. */
size_t th_count_entries(const char *dir);

/* Removes the directories th_mkdtemp made in this test (a skipped test runs no teardown). */
void th_skip_cleanup(void);
/* Skips the current test, saying so on stderr even without --verbose. */
#define th_skip(...)                                     \
	do {                                             \
		fprintf(stderr, "SKIP: %s: ", __func__); \
		fprintf(stderr, __VA_ARGS__);            \
		fputc('\n', stderr);                     \
		th_skip_cleanup();                       \
		cr_skip(__VA_ARGS__);                    \
	} while (0)

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
/* th_run as uid/gid (when uid is not -1: only root can), with no supplementary groups. */
void th_run_as(uid_t uid, gid_t gid, const char *dir, char *const argv[], char *const envp[],
	       struct th_result *ret);
/*
 * fork(), the child killed when the test's process ends: a test that stops early (a failed
 * assertion, a skip, which runs no teardown) leaves no server behind (holding the runner's
 * output open, it would keep make test waiting). th_die_with_parent again after a change of
 * credentials, which clears it.
 */
pid_t th_fork(void);
void th_die_with_parent(void);
/* fork + exec as th_run_as does, without waiting; stdin and stdout go to /dev/null. */
pid_t th_spawn_as(uid_t uid, gid_t gid, const char *dir, char *const argv[], char *const envp[]);
/* th_run, and the test fails unless argv exits 0. */
void th_run_ok(const char *dir, char *const argv[], char *const envp[]);
/*
 * Starts a server (argv, in dir, stderr to /dev/null) and reads the port it listens on from
 * the first line it prints, with fmt ("%u" somewhere in it). Returns its pid; kill it.
 */
pid_t th_spawn_server(const char *dir, char *const argv[], char *const envp[], const char *fmt,
		      unsigned *ret_port);
/* Waits for path to exist, up to seconds; whether it does. */
bool th_wait_for_file(const char *path, int seconds);
/* chown -R, without following symlinks. */
void th_chown_r(const char *path, uid_t uid, gid_t gid);
void th_result_done(struct th_result *r);

/* The unprivileged user root's tests run cells as; made (useradd) if missing. */
#define TH_TEST_USER "celltest"
void th_test_user(uid_t *ret_uid, gid_t *ret_gid);
/* Who a test's cells run as: the test user as root, else the caller. */
void th_cell_user(uid_t *ret_uid, gid_t *ret_gid);

/*
 * What the tests run as the test user, where that user can reach it whatever the checkout's
 * mode (a Debian home is 0700): this build's programs laid out as `make install` lays them
 * out, in a new directory of root's that only root and the test user can enter (0750, the
 * test user's group; the caller's own 0700 one when not root). th_stage_done removes it.
 */
struct th_stage {
	char *dir;
	char *cell;	  /* dir/bin/cell */
	char *helper;	  /* dir/libexec/cell/cell-session */
	char *proxy;	  /* dir/libexec/cell/cell-proxy */
	char *shim;	  /* dir/libexec/cell/libcellshim.so */
	char *pam_module; /* dir/libexec/cell/pam_cell.so (it finds the shim beside itself) */
	char *probe;	  /* dir/bin/test-probe */
};
void th_stage(struct th_stage *ret);
/*
 * Makes the staged cell-session setuid root (as root; a no-op otherwise), from the build
 * without the sanitizers: their runtime reads ASAN_OPTIONS (log_path=,
 * external_symbolizer_path=) before main(), which would give any local user root's powers.
 */
void th_stage_setuid(const struct th_stage *s);
void th_stage_done(struct th_stage *s);

/* The environment of the programs a test runs, built a variable at a time (NULL-ended). */
#define TH_ENV_MAX 24
struct th_env {
	char *v[TH_ENV_MAX + 1];
	size_t n;
};
void th_env_add(struct th_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * What a user's cell command runs with: HOME=home, USER (the test user as root, else the
 * caller), PATH, LANG and the XDG directories below home.
 */
void th_env_user(struct th_env *e, const char *home);
void th_env_done(struct th_env *e);

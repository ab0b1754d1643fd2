/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "helpers.h"
#include "macro.h"
#include "path.h"

/*
 * Where tests make their directories: $TMPDIR, else /tmp, else /var/tmp, on a mount that lets
 * programs run, and as root setuid ones too (the staged cell-session, the escape suite's
 * probe): a /tmp mounted nosuid (a tmpfs, as many machines have it) would quietly turn every
 * proxy cell into a cell without network.
 */
static const char *test_base(void)
{
	const char *bases[] = {getenv("TMPDIR"), "/tmp", "/var/tmp"};
	unsigned long refused = ST_NOEXEC | (geteuid() == 0 ? ST_NOSUID : 0);
	struct statvfs vfs;

	for (size_t i = 0; i < ELEMENTSOF(bases); i++)
		if (bases[i] && *bases[i] && statvfs(bases[i], &vfs) == 0 &&
		    !(vfs.f_flag & refused))
			return bases[i];
	cr_fatal("no directory for tests: $TMPDIR, /tmp and /var/tmp are all mounted noexec%s",
		 geteuid() == 0 ? " or nosuid" : "");
	return NULL;
}

/* The directories th_mkdtemp made in this process (a test's worker): a skipped test runs no
 * teardown (Criterion's cr_skip leaves the worker at once), so th_skip removes them. */
static char *made[32];
static size_t n_made;

void th_skip_cleanup(void)
{
	for (size_t i = 0; i < n_made; i++) {
		th_rm_rf(made[i]);
		free(made[i]);
	}
	n_made = 0;
}

char *th_mkdtemp(void)
{
	char *t;

	if (asprintf(&t, "%s/cell-test-XXXXXX", test_base()) < 0)
		cr_fatal("out of memory");
	if (!mkdtemp(t))
		cr_fatal("mkdtemp: %s", strerror(errno));
	if (n_made < ELEMENTSOF(made))
		made[n_made++] = strdup(t);
	return t;
}

/* (before nftw descends: a directory a test made unreadable or unwritable is opened up) */
static int open_up(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(path, (st->st_mode & 07777) | 0700);
	return 0;
}

/* (whatever one entry says, the rest is removed: a test's directory is never left behind) */
static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

void th_rm_rf(const char *path)
{
	if (!path)
		return;
	nftw(path, open_up, 16, FTW_PHYS);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *th_join(const char *a, const char *b)
{
	char *s = cell_path_join(a, b);

	if (!s)
		cr_fatal("out of memory");
	return s;
}

char *th_write(const char *dir, const char *name, const char *text)
{
	char *path = th_join(dir, name);
	char *parent = strdup(path);

	*strrchr(parent, '/') = '\0';
	if (cell_mkdir_p(parent, 0755) < 0)
		cr_fatal("mkdir %s", parent);
	free(parent);
	if (cell_write_file_atomic(path, text, strlen(text), 0644, true) < 0)
		cr_fatal("write %s: %s", path, strerror(errno));
	return path;
}

char *th_read(const char *path)
{
	char *s = NULL;

	if (cell_read_file(path, 0, CELL_FILE_MAX, &s, NULL) < 0)
		return NULL;
	return s;
}

size_t th_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += !streq(de->d_name, ".") && !streq(de->d_name, "..");
	closedir(d);
	return n;
}

struct sink {
	int fd;
	char *buf;
	size_t len;
};

static void drain(struct sink *s)
{
	char chunk[4096];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));

	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	s->buf = realloc(s->buf, s->len + (size_t)n + 1);
	memcpy(s->buf + s->len, chunk, (size_t)n);
	s->len += (size_t)n;
	s->buf[s->len] = '\0';
}

/* Only root switches users; anyone else already is the user the tests run as. */
void th_die_with_parent(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* (a parent gone already: the signal would never come) */
	if (getppid() == 1)
		_exit(0);
}

pid_t th_fork(void)
{
	pid_t pid = fork();

	if (pid < 0)
		cr_fatal("fork: %s", strerror(errno));
	if (pid == 0)
		th_die_with_parent();
	return pid;
}

static void become(uid_t uid, gid_t gid)
{
	if (uid == (uid_t)-1 || geteuid() != 0)
		return;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		_exit(125);
	/* (a change of credentials clears the parent-death signal) */
	th_die_with_parent();
}

pid_t th_spawn_as(uid_t uid, gid_t gid, const char *dir, char *const argv[], char *const envp[])
{
	pid_t pid = th_fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		become(uid, gid);
		if (dir && chdir(dir) < 0)
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	return pid;
}

bool th_wait_for_file(const char *path, int seconds)
{
	for (int i = 0; i < seconds * 100; i++) {
		if (access(path, F_OK) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

void th_chown_r(const char *path, uid_t uid, gid_t gid)
{
	chown_uid = uid;
	chown_gid = gid;
	if (nftw(path, chown_one, 16, FTW_PHYS) < 0)
		cr_fatal("chown -R %s: %s", path, strerror(errno));
}

void th_run(const char *dir, char *const argv[], char *const envp[], struct th_result *ret)
{
	th_run_as((uid_t)-1, (gid_t)-1, dir, argv, envp, ret);
}

void th_run_as(uid_t uid, gid_t gid, const char *dir, char *const argv[], char *const envp[],
	       struct th_result *ret)
{
	struct sink sinks[2] = {{-1, NULL, 0}, {-1, NULL, 0}};
	int out[2], err[2], status = 0;
	time_t deadline = time(NULL) + 30;
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		cr_fatal("pipe");
	pid = fork();
	if (pid < 0)
		cr_fatal("fork");
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		become(uid, gid);
		if (dir && chdir(dir) < 0)
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	sinks[0].fd = out[0];
	sinks[1].fd = err[0];
	while (sinks[0].fd >= 0 || sinks[1].fd >= 0) {
		struct pollfd p[2] = {{sinks[0].fd, POLLIN, 0}, {sinks[1].fd, POLLIN, 0}};

		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++)
			if (sinks[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				drain(&sinks[i]);
	}
	for (int i = 0; i < 2; i++)
		if (sinks[i].fd >= 0)
			close(sinks[i].fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ret->status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	ret->out = sinks[0].buf ? sinks[0].buf : strdup("");
	ret->err = sinks[1].buf ? sinks[1].buf : strdup("");
}

void th_result_done(struct th_result *r)
{
	free(r->out);
	free(r->err);
}

void th_test_user(uid_t *ret_uid, gid_t *ret_gid)
{
	struct passwd *pw;

	for (int i = 0; i < 50 && !(pw = getpwnam(TH_TEST_USER)); i++) {
		char *argv[] = {(char *)"/usr/sbin/useradd", (char *)"--create-home",
				(char *)"--shell",	     (char *)"/bin/bash",
				(char *)TH_TEST_USER,	     NULL};
		struct th_result r;

		th_run(NULL, argv, (char *[]){NULL}, &r);
		th_result_done(&r);
		/* parallel tests may race on the user database; the loser tries again */
		if (!getpwnam(TH_TEST_USER))
			usleep(100000);
	}
	pw = getpwnam(TH_TEST_USER);
	cr_assert(not(eq(ptr, pw, NULL)), "cannot create the test user " TH_TEST_USER);
	*ret_uid = pw->pw_uid;
	*ret_gid = pw->pw_gid;
}

void th_cell_user(uid_t *ret_uid, gid_t *ret_gid)
{
	if (geteuid() == 0) {
		th_test_user(ret_uid, ret_gid);
	} else {
		*ret_uid = getuid();
		*ret_gid = getgid();
	}
}

void th_run_ok(const char *dir, char *const argv[], char *const envp[])
{
	struct th_result r;

	th_run(dir, argv, envp, &r);
	cr_assert(eq(int, r.status, 0), "%s: %s%s", argv[0], r.out, r.err);
	th_result_done(&r);
}

pid_t th_spawn_server(const char *dir, char *const argv[], char *const envp[], const char *fmt,
		      unsigned *ret_port)
{
	char line[256] = "";
	size_t n = 0;
	int out[2];
	pid_t pid;

	cr_assert(eq(int, pipe(out), 0));
	pid = th_fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(out[1], 1);
		dup2(null, 2); /* servers that log every request */
		close(out[0]);
		if (dir && chdir(dir) < 0)
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(out[1]);
	while (n < sizeof(line) - 1 && !strchr(line, '\n')) {
		struct pollfd p = {out[0], POLLIN, 0};
		ssize_t r;

		cr_assert(gt(int, poll(&p, 1, 10000), 0), "%s did not start", argv[0]);
		r = read(out[0], line + n, sizeof(line) - 1 - n);
		cr_assert(gt(long, (long)r, 0), "%s exited", argv[0]);
		n += (size_t)r;
		line[n] = '\0';
	}
	close(out[0]);
	cr_assert(eq(int, sscanf(line, fmt, ret_port), 1), "%s", line);
	return pid;
}

#ifndef CELL_TEST_SETUID_HELPER
#define CELL_TEST_SETUID_HELPER CELL_TEST_BUILD "/cell-session"
#endif

/* Copies src to dst (made, with its parents) with mode, owned by root where we are root. */
static void stage_file(const char *src, const char *dst, mode_t mode)
{
	_cleanup_free_ char *text = NULL, *parent = strdup(dst);
	_cleanup_close_ int fd = -1;
	size_t len = 0;

	cr_assert(eq(int, cell_read_file(src, 0, 64 << 20, &text, &len), 0), "cannot read %s", src);
	cell_path_dirname(parent);
	cr_assert(eq(int, cell_mkdir_p(parent, 0755), 0), "mkdir %s", parent);
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	cr_assert(ge(int, fd, 0), "%s: %s", dst, strerror(errno));
	cr_assert(eq(int, cell_write_all(fd, text, len), 0));
	/* the mode last: fchown clears the setuid bit */
	cr_assert(eq(int, fchmod(fd, mode), 0), "chmod %s: %s", dst, strerror(errno));
}

void th_stage(struct th_stage *ret)
{
	struct th_stage s = {.dir = th_mkdtemp()};
	_cleanup_free_ char *init = NULL;
	uid_t uid;
	gid_t gid;

	if (geteuid() == 0) {
		th_test_user(&uid, &gid);
		cr_assert(eq(int, chown(s.dir, 0, gid), 0));
		cr_assert(eq(int, chmod(s.dir, 0750), 0));
	}
	s.cell = th_join(s.dir, "bin/cell");
	s.probe = th_join(s.dir, "bin/test-probe");
	s.helper = th_join(s.dir, "libexec/cell/cell-session");
	s.shim = th_join(s.dir, "libexec/cell/libcellshim.so");
	s.proxy = th_join(s.dir, "libexec/cell/cell-proxy");
	s.pam_module = th_join(s.dir, "libexec/cell/pam_cell.so");
	stage_file(CELL_TEST_BUILD "/cell", s.cell, 0755);
	stage_file(CELL_TEST_BUILD "/test-probe", s.probe, 0755);
	init = th_join(s.dir, "libexec/cell/cell-init");
	stage_file(CELL_TEST_BUILD "/cell-init", init, 0755);
	stage_file(CELL_TEST_BUILD "/cell-proxy", s.proxy, 0755);
	stage_file(CELL_TEST_BUILD "/libcellshim.so", s.shim, 0644);
	stage_file(CELL_TEST_BUILD "/pam_cell.so", s.pam_module, 0644);
	stage_file(CELL_TEST_BUILD "/cell-session", s.helper, 0755);
	*ret = s;
}

void th_stage_setuid(const struct th_stage *s)
{
	if (geteuid() != 0)
		return;
	cr_assert(eq(int, unlink(s->helper), 0));
	stage_file(CELL_TEST_SETUID_HELPER, s->helper, 04755);
}

void th_stage_done(struct th_stage *s)
{
	if (s->dir)
		th_rm_rf(s->dir);
	free(s->dir);
	free(s->cell);
	free(s->helper);
	free(s->proxy);
	free(s->shim);
	free(s->pam_module);
	free(s->probe);
	*s = (struct th_stage){0};
}

void th_env_add(struct th_env *e, const char *fmt, ...)
{
	va_list ap;

	cr_assert(lt(sz, e->n, (size_t)TH_ENV_MAX), "more than %d variables", TH_ENV_MAX);
	va_start(ap, fmt);
	cr_assert(ge(int, vasprintf(&e->v[e->n++], fmt, ap), 0));
	va_end(ap);
	e->v[e->n] = NULL;
}

void th_env_user(struct th_env *e, const char *home)
{
	const struct passwd *pw = getpwuid(getuid());

	th_env_add(e, "HOME=%s", home);
	th_env_add(e, "USER=%s", geteuid() == 0 ? TH_TEST_USER : pw ? pw->pw_name : "");
	th_env_add(e, "PATH=/usr/local/bin:/usr/bin:/bin");
	th_env_add(e, "LANG=C.UTF-8");
	th_env_add(e, "XDG_CONFIG_HOME=%s/.config", home);
	th_env_add(e, "XDG_DATA_HOME=%s/.local/share", home);
	th_env_add(e, "XDG_STATE_HOME=%s/.local/state", home);
}

void th_env_done(struct th_env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	e->n = 0;
	e->v[0] = NULL;
}

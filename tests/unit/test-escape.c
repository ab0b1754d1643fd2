/* SPDX-License-Identifier: MIT */
/*
 * cell doctor --escape's attempts and their words, outside any cell: there each attempt the
 * user may make succeeds (the controls for the integration tests, where the cell stops them),
 * and the secrets are found or planted in a home of the test's own.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "escape.h"
#include "fileio.h"
#include "helpers.h"
#include "macro.h"

static char *tmp;

static void setup(void)
{
	tmp = th_mkdtemp();
}

static void teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
}

TestSuite(escape_attempts, .init = setup, .fini = teardown);

static struct cell_escape_result attempt(enum cell_escape_kind kind, const char *arg)
{
	struct cell_escape e = {kind, arg};
	struct cell_escape_result r;

	cell_escape_try(&e, &r);
	return r;
}

Test(escape_attempts, words_go_to_the_probe_and_back)
{
	static const struct cell_escape all[] = {
		{CELL_ESCAPE_READ, "/home/me/.ssh/id_ed25519"},
		{CELL_ESCAPE_WRITE, "/p/.git/config"},
		{CELL_ESCAPE_SQUAT, "8080"},
		{CELL_ESCAPE_CONNECT, "203.0.113.1:80"},
		{CELL_ESCAPE_RAW, NULL},
		{CELL_ESCAPE_SOCKET, "vsock"},
		{CELL_ESCAPE_TIOCSTI, NULL},
		{CELL_ESCAPE_USERNS, NULL},
		{CELL_ESCAPE_ABSTRACT, "name:with:colons"},
		{CELL_ESCAPE_REUSEPORT, "8080"},
	};

	for (size_t i = 0; i < ELEMENTSOF(all); i++) {
		_cleanup_free_ char *word = cell_escape_format(&all[i]);
		struct cell_escape back;

		cr_assert(eq(int, cell_escape_parse(word, &back), 0), "%s", word);
		cr_assert(eq(int, (int)back.kind, (int)all[i].kind));
		if (all[i].arg)
			cr_assert(eq(str, (char *)back.arg, (char *)all[i].arg));
		else
			cr_assert(eq(ptr, (void *)back.arg, NULL));
	}
}

Test(escape_attempts, unknown_or_malformed_words_are_refused)
{
	static const char *const bad[] = {"", "read", "read:", "raw:x", "fly:away", "READ:/x"};
	struct cell_escape e;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		cr_assert(eq(int, cell_escape_parse(bad[i], &e), -EINVAL), "%s", bad[i]);
	cr_assert(eq(str, (char *)cell_escape_family_name("vsock"), "AF_VSOCK"));
	cr_assert(eq(ptr, (void *)cell_escape_family_name("inet"), NULL));
}

Test(escape_attempts, result_lines_go_both_ways)
{
	static const struct cell_escape_result all[] = {
		{0, false, "3 abcdef"},
		{EPERM, false, ""},
		{EROFS, false, "at mkdir /p/.git"},
		{0, true, "no terminal can be opened here: No such file or directory"},
	};
	char line[256];

	for (size_t i = 0; i < ELEMENTSOF(all); i++) {
		struct cell_escape_result back;

		cr_assert(eq(int, cell_escape_result_line(&all[i], line, sizeof(line)), 0));
		cr_assert(eq(int, cell_escape_result_parse(line, &back), 0), "%s", line);
		cr_assert(eq(int, back.error, all[i].error), "%s", line);
		cr_assert(eq(int, back.skipped, all[i].skipped), "%s", line);
		cr_assert(eq(str, back.detail, (char *)all[i].detail), "%s", line);
	}
	cr_assert(eq(int, cell_escape_result_line(&all[1], line, sizeof(line)), 0));
	cr_assert(eq(str, line, "err 1 "));
}

Test(escape_attempts, garbage_is_no_result)
{
	static const char *const bad[] = {"", "ok", "err x", "err 0 y", "err 1x", "fine", "skip"};
	struct cell_escape_result r;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		cr_assert(eq(int, cell_escape_result_parse(bad[i], &r), -EINVAL), "'%s'", bad[i]);
}

Test(escape_attempts, a_read_says_size_and_digest)
{
	_cleanup_free_ char *path = th_write(tmp, "secret", "FAKE PRIVATE KEY\n");
	char digest[128];
	struct cell_escape_result r = attempt(CELL_ESCAPE_READ, path);

	cr_assert(eq(int, r.error, 0));
	cr_assert(eq(int, cell_escape_file_digest(path, digest, sizeof(digest)), 0));
	cr_assert(eq(str, r.detail, digest));
	cr_assert(eq(int, strncmp(digest, "17 ", 3), 0), "%s", digest);
	r = attempt(CELL_ESCAPE_READ, "/nonexistent/secret");
	cr_assert(eq(int, r.error, ENOENT));
}

Test(escape_attempts, a_write_changes_nothing_and_leaves_nothing)
{
	_cleanup_free_ char *file = th_write(tmp, "p/.git/config", "[core]\n"), *text = NULL;
	_cleanup_free_ char *deep = th_join(tmp, "p/.git/hooks/x"), *git = th_join(tmp, "p/.git"),
			    *hooks = th_join(tmp, "p/.git/hooks");
	struct cell_escape_result r = attempt(CELL_ESCAPE_WRITE, file);

	cr_assert(eq(int, r.error, 0), "%s", r.detail);
	text = th_read(file);
	cr_assert(eq(str, text, "[core]\n"));
	/* missing, with a missing directory: both made and removed */
	r = attempt(CELL_ESCAPE_WRITE, deep);
	cr_assert(eq(int, r.error, 0), "%s", r.detail);
	cr_assert(eq(str, r.detail, "made it, and the directories it needed (then removed them)"));
	cr_assert(eq(int, access(hooks, F_OK), -1));
	cr_assert(eq(int, access(git, F_OK), 0));
	/* a read-only directory stops it where a cell's read-only mount would */
	cr_assert(eq(int, chmod(git, 0500), 0));
	if (geteuid() != 0) {
		r = attempt(CELL_ESCAPE_WRITE, deep);
		cr_assert(eq(int, r.error, EACCES));
		cr_assert(eq(int, strncmp(r.detail, "at mkdir ", 9), 0), "%s", r.detail);
	}
	chmod(git, 0700);
}

/* A TCP listener on 127.0.0.1: its port. */
static int listener(unsigned *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, listen(fd, 4), 0));
	getsockname(fd, (struct sockaddr *)&a, &len);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

Test(escape_attempts, outside_a_cell_the_squat_reaches_the_listener)
{
	unsigned port;
	int fd = listener(&port);
	char arg[16];
	struct cell_escape_result r;

	snprintf(arg, sizeof(arg), "%u", port);
	r = attempt(CELL_ESCAPE_SQUAT, arg);
	cr_assert(eq(int, r.error, 0), "%s", r.detail);
	cr_assert(not(eq(ptr, strstr(r.detail, "someone else's"), NULL)), "%s", r.detail);
	close(fd);
	/* no one listens there now */
	r = attempt(CELL_ESCAPE_SQUAT, arg);
	cr_assert(eq(int, r.error, ECONNREFUSED));
}

/* The control: outside a cell, the user joins a reuse group of its own listener. */
Test(escape_attempts, outside_a_cell_a_reuseport_group_is_joined)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct cell_escape_result r;
	char arg[16];

	cr_assert(eq(int, setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0));
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, listen(fd, 4), 0));
	getsockname(fd, (struct sockaddr *)&a, &len);
	snprintf(arg, sizeof(arg), "%u", (unsigned)ntohs(a.sin_port));
	r = attempt(CELL_ESCAPE_REUSEPORT, arg);
	cr_assert(eq(int, r.error, 0), "%s", r.detail);
	close(fd);
}

Test(escape_attempts, outside_a_cell_the_abstract_socket_answers)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char name[64];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct cell_escape_result r;

	snprintf(name, sizeof(name), "cell-unit-%d", (int)getpid());
	memcpy(a.sun_path + 1, name, strlen(name));
	cr_assert(eq(int,
		     bind(fd, (struct sockaddr *)&a,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))),
		     0));
	cr_assert(eq(int, listen(fd, 4), 0));
	r = attempt(CELL_ESCAPE_ABSTRACT, name);
	cr_assert(eq(int, r.error, 0), "%s", r.detail);
	close(fd);
	r = attempt(CELL_ESCAPE_ABSTRACT, name);
	cr_assert(eq(int, r.error, ECONNREFUSED));
}

Test(escape_attempts, outside_a_cell_the_kernel_attempts_work)
{
	struct cell_escape_result r = attempt(CELL_ESCAPE_USERNS, NULL);

	/* what a user may do outside: a user namespace (the machine allows them: cells need
	 * them), TIOCSTI on a terminal of its own (unless the kernel refuses it everyone) */
	cr_assert(eq(int, r.error, 0), "userns: %s", strerror(r.error));
	r = attempt(CELL_ESCAPE_TIOCSTI, NULL);
	cr_assert(eq(int, r.error == 0 || r.error == EIO, 1), "tiocsti: %s", strerror(r.error));
	/* raw sockets need CAP_NET_RAW outside too */
	r = attempt(CELL_ESCAPE_RAW, NULL);
	cr_assert(eq(int, r.error, geteuid() == 0 ? 0 : EPERM));
	r = attempt(CELL_ESCAPE_SOCKET, "nonsense");
	cr_assert(eq(int, r.error, EINVAL));
	r = attempt(CELL_ESCAPE_CONNECT, "not-an-address:80");
	cr_assert(eq(int, r.error, EINVAL));
}

Test(escape_attempts, a_real_key_before_a_public_one_and_nothing_planted)
{
	_cleanup_free_ char *home = th_join(tmp, "home"), *ssh = th_join(home, ".ssh");
	struct cell_escape_secret s;
	char digest[128];

	free(th_write(home, ".ssh/id_rsa.pub", "public\n"));
	free(th_write(home, ".ssh/id_rsa", "private\n"));
	free(th_write(home, ".ssh/known_hosts", "x\n"));
	cr_assert(eq(int, cell_escape_secret_find(home, ".ssh", "id_*", &s), 0));
	cr_assert(not(s.planted));
	cr_assert(eq(ptr, s.made_dir, NULL));
	cr_assert(eq(str, s.path + strlen(home), "/.ssh/id_rsa"));
	cr_assert(eq(int, cell_escape_file_digest(s.path, digest, sizeof(digest)), 0));
	cr_assert(eq(str, s.digest, digest));
	cell_escape_secret_done(&s);
	cr_assert(eq(sz, th_count_entries(ssh), 3));
}

Test(escape_attempts, where_there_is_none_a_marker_is_planted_and_removed)
{
	_cleanup_free_ char *home = th_join(tmp, "home"), *aws = th_join(home, ".aws"),
			    *gnupg = th_join(home, ".gnupg");
	struct cell_escape_secret s;

	cr_assert(eq(int, cell_mkdir_p(home, 0700), 0));
	cr_assert(eq(int, cell_escape_secret_find(home, ".aws", "credentials", &s), 0));
	cr_assert(s.planted);
	cr_assert(eq(str, s.made_dir, aws));
	cr_assert(eq(int, strncmp(s.path, aws, strlen(aws)), 0), "%s", s.path);
	cr_assert(eq(int, access(s.path, R_OK), 0));
	cell_escape_secret_done(&s);
	cr_assert(eq(int, access(aws, F_OK), -1), "the directory made for it stays");
	/* in a directory that is there, only the marker goes */
	free(th_write(home, ".gnupg/sub/x", "not a file of the top level\n"));
	cr_assert(eq(int, cell_escape_secret_find(home, ".gnupg", "*", &s), 0));
	cr_assert(s.planted);
	cr_assert(eq(ptr, s.made_dir, NULL));
	cell_escape_secret_done(&s);
	cr_assert(eq(sz, th_count_entries(gnupg), 1));
}

Test(escape_attempts, a_directory_it_may_not_write_lends_any_file_it_reads)
{
	_cleanup_free_ char *home = th_join(tmp, "home"), *ssh = th_join(home, ".ssh");
	struct cell_escape_secret s;

	if (geteuid() == 0)
		th_skip("root writes any directory");
	free(th_write(home, ".ssh/known_hosts", "x\n"));
	cr_assert(eq(int, chmod(ssh, 0500), 0));
	cr_assert(eq(int, cell_escape_secret_find(home, ".ssh", "id_*", &s), 0));
	cr_assert(not(s.planted));
	cr_assert(eq(str, s.path + strlen(home), "/.ssh/known_hosts"));
	cell_escape_secret_done(&s);
	cr_assert(eq(sz, th_count_entries(ssh), 1));
	chmod(ssh, 0700);
}

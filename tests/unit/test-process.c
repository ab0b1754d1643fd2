/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"

static char *env[] = {(char *)"PATH=/usr/bin:/bin", NULL};

static int sh(const char *script, const struct cell_run_limits *l, struct cell_run_result *res)
{
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)script, NULL};

	return cell_run_session(argv, "/", env, l, res);
}

/* Whether "sleep SECONDS" still runs, once a SIGKILL had time to land (2 s at most). */
static bool running(const char *seconds)
{
	char cmd[128];

	/* ("slee[p]": the shell running pgrep does not match itself) */
	snprintf(cmd, sizeof(cmd), "pgrep -f 'slee[p] %s' >/dev/null", seconds);
	for (int i = 0; i < 40; i++) {
		if (system(cmd) != 0)
			return false;
		usleep(50000);
	}
	return true;
}

/* Its exit is the end: a process it left holding its stderr held a provider (and cd) up until
 * the timeout; now it is killed with the session. */
Test(process, the_programs_exit_ends_it_and_what_it_left_behind)
{
	struct cell_run_limits l = {.timeout_ms = 60000, .out_max = 1 << 20, .err_max = 1 << 20};
	struct cell_run_result res;

	cr_assert(eq(int, sh("echo out; echo err >&2; sleep 613.25 >/dev/null & exit 3", &l, &res),
		     0));
	cr_assert(eq(int, res.status, 3));
	cr_assert(eq(str, res.out, (char *)"out\n"));
	cr_assert(eq(str, res.err, (char *)"err\n"));
	cr_assert(not(running("613.25")));
	cell_run_result_done(&res);
}

Test(process, the_timeout_kills_the_whole_session)
{
	struct cell_run_limits l = {.timeout_ms = 300, .out_max = 1 << 20, .err_max = 1 << 20};
	struct cell_run_result res;

	cr_assert(eq(int, sh("sleep 614.25 & sleep 614.5", &l, &res), -ETIMEDOUT));
	cr_assert(not(running("614")));
}

Test(process, too_much_output_is_an_error_too_much_stderr_is_dropped)
{
	struct cell_run_limits l = {.timeout_ms = 60000, .out_max = 1000, .err_max = 1000};
	struct cell_run_result res;

	cr_assert(eq(int, sh("head -c 100000 /dev/zero", &l, &res), -EFBIG));
	cr_assert(eq(int, sh("head -c 100000 /dev/zero >&2; echo done", &l, &res), 0));
	cr_assert(eq(int, res.status, 0));
	cr_assert(le(sz, res.err_len, 1000));
	cr_assert(eq(str, res.out, (char *)"done\n"));
	cell_run_result_done(&res);
}

/* Descriptors moved into place for an exec, one of them sitting where another goes. */
Test(process, fds_arrange_moves_descriptors_into_place_and_closes_the_rest)
{
	pid_t pid = fork();
	int status;

	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		int a = open("/dev/null", O_RDONLY), b = open("/dev/zero", O_RDONLY), extra;
		struct stat st_a, st_b, st3, st4;

		/* b at 3 and a elsewhere, then asked for in the order a, b (3 taken) */
		if (dup2(b, 3) < 0 || fstat(a, &st_a) < 0 || fstat(b, &st_b) < 0)
			_exit(10);
		close(b);
		extra = fcntl(a, F_DUPFD, 20);
		if (cell_fds_arrange((int[]){a, 3}, 2, 3) < 0)
			_exit(11);
		if (fstat(3, &st3) < 0 || fstat(4, &st4) < 0)
			_exit(12);
		if (st3.st_rdev != st_a.st_rdev || st4.st_rdev != st_b.st_rdev)
			_exit(13);
		/* kept across exec; what was above closed */
		if ((fcntl(3, F_GETFD) & FD_CLOEXEC) || extra < 20 || fcntl(extra, F_GETFD) >= 0)
			_exit(14);
		_exit(0);
	}
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(eq(int, WEXITSTATUS(status), 0));
}

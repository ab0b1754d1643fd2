/* SPDX-License-Identifier: MIT */
/* cell up's files: the lock that says one runs, the state cell ps reads, the logs' rotation. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "macro.h"
#include "procstate.h"

static char *tmp, *dir;

static void setup(void)
{
	tmp = th_mkdtemp();
	cr_assert(eq(int, cell_up_dir(tmp, "proj-1234", &dir), 0));
}

static void teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
	free(dir);
}

TestSuite(procstate, .init = setup, .fini = teardown);

Test(procstate, the_directory_is_the_projects_and_private)
{
	_cleanup_free_ char *want = NULL, *logs = NULL;
	struct stat st;

	cr_assert(ge(int, asprintf(&want, "%s/projects/proj-1234/up", tmp), 0));
	cr_assert(eq(str, dir, want));
	logs = th_join(dir, "logs");
	cr_assert(eq(int, stat(logs, &st), 0));
	cr_assert(eq(int, (int)(st.st_mode & 0777), 0700));
}

Test(procstate, one_cell_up_holds_the_lock_and_cell_ps_sees_it)
{
	int fd = -1, other = -1;
	pid_t pid;
	int status;

	cr_assert(not(cell_up_running(dir)));
	cr_assert(eq(int, cell_up_lock(dir, &fd), 0));
	/* another process (a second cell up) is refused; this one's own check sees it held */
	pid = fork();
	if (pid == 0)
		_exit(cell_up_lock(dir, &other) == -EBUSY && cell_up_running(dir) ? 0 : 1);
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(eq(int, status, 0));
	close(fd);
	cr_assert(not(cell_up_running(dir)));
}

Test(procstate, the_state_reads_back_as_written)
{
	struct cell_up_state s = {
		.supervisor = 4242, .supervisor_start = 123456789, .start = 1700000000, .n = 2};
	struct cell_up_state got;

	s.procs[0] = (struct cell_up_proc){"db", 100, "running", 0, 1, 1700000001, -1};
	s.procs[1] = (struct cell_up_proc){"web-2.x_y", 0, "backoff", 3, -1, 1700000002, 143};
	cr_assert(eq(int, cell_up_state_write(dir, &s), 0));
	cr_assert(eq(int, cell_up_state_read(dir, &got), 0));
	cr_assert(eq(int, memcmp(&s, &got, sizeof(s)), 0));
}

Test(procstate, a_damaged_state_is_refused)
{
	static const char *const bad[] = {
		"",
		"cell-up 2\nsupervisor 1 5 0\n",
		"cell-up 1\nsupervisor 0 5 0\n",
		"cell-up 1\nsupervisor 1 0\n",
		"cell-up 1\nsupervisor 1 5 0\nprocess a 1 running 0 1 0\n",
		"cell-up 1\nsupervisor 1 5 0\nprocess a 1 running 0 1 0 0 extra\n",
		"cell-up 1\nsupervisor 1 5 0\nprocess a -5 running 0 1 0 0\n",
	};
	_cleanup_free_ char *path = th_join(dir, "up.state");
	struct cell_up_state got;

	cr_assert(eq(int, cell_up_state_read(dir, &got), -ENOENT));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		free(th_write(dir, "up.state", bad[i]));
		cr_assert(eq(int, cell_up_state_read(dir, &got), -EBADMSG), "%s", bad[i]);
	}
}

Test(procstate, rotation_keeps_two_old_logs)
{
	for (int i = 0; i < 4; i++) {
		_cleanup_close_ int fd = -1;
		char text[2] = {(char)('a' + i), '\n'};
		off_t size;

		cr_assert(eq(int, cell_up_log_open(dir, "db", &fd, &size), 0));
		cr_assert(eq(long, (long)size, 0));
		cr_assert(eq(long, (long)write(fd, text, 2), 2));
		cr_assert(eq(int, cell_up_log_rotate(dir, "db"), 0));
	}
	/* d is the newest rotated, then c; a and b are gone */
	for (unsigned g = 0; g <= CELL_UP_LOGS_KEPT + 1; g++) {
		_cleanup_free_ char *path = cell_up_log_path(dir, "db", g);
		static const char *const want[] = {NULL, "d\n", "c\n", NULL};

		if (!want[g]) {
			cr_assert(not(eq(int, access(path, F_OK), 0)), "%s", path);
			continue;
		}
		_cleanup_free_ char *text = th_read(path);
		cr_assert(eq(str, text, (char *)want[g]));
	}
}

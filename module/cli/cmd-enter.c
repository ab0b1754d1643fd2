/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "path.h"
#include "strv.h"

/*
 * --leave-to FILE, the shell hook's: FILE (the user's own regular file, made if missing) is
 * emptied now, so its time says when the hook last tried; "+" is written into it once the cell
 * is to start, and the cell's shell, bound to it at /run/cell/leave (plan.c), replaces it with
 * "+DIR" to have the outer shell go to DIR.
 */
static int leave_file_reset(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1)
		return -EPERM;
	/* a file of the hook's is empty or holds "+DIR": nothing else is emptied by mistake */
	if (st.st_size > 0) {
		char c = 0;

		if (st.st_size > PATH_MAX + 1 || pread(fd, &c, 1, 0) != 1 || c != '+')
			return -EPERM;
	}
	if (ftruncate(fd, 0) < 0 || futimens(fd, NULL) < 0)
		return -errno;
	return 0;
}

/* The hook's file says the cell is to start. */
static int leave_file_mark(const char *path)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || write(fd, "+", 1) != 1)
		return -errno;
	return 0;
}

/*
 * The leave files of the hook's shells that are gone (cell-hook.UID.PID beside path, PID no
 * longer running): removed, where a shell's own way out (an EXIT trap of the user's in bash, a
 * shell killed) left them. Only the user's own regular files that look like one.
 */
static void leave_files_sweep(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	_cleanup_close_ int dfd = -1;
	char prefix[64];
	DIR *d;
	struct dirent *e;

	if (!dir)
		return;
	cell_path_dirname(dir);
	snprintf(prefix, sizeof(prefix), "cell-hook.%u.", (unsigned)geteuid());
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dfd >= 0 ? fdopendir(dup(dfd)) : NULL;
	while (d && (e = readdir(d))) {
		char *end;
		long pid;
		struct stat st;

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		pid = strtol(e->d_name + strlen(prefix), &end, 10);
		if (*end || pid <= 1 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_uid == geteuid() && st.st_size <= PATH_MAX + 1)
			(void)unlinkat(dfd, e->d_name, 0);
	}
	if (d)
		closedir(d);
}

int cmd_enter(int argc, char *argv[])
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *cwd = NULL;
	struct cli_cell_options o = {0};
	struct cell_instance_args a;
	struct cell_instance *inst = NULL;
	int r;

	r = cli_parse_cell_options(argc, argv, false, &o);
	if (r >= 0)
		return r;
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	if (optind < argc)
		o.dir = argv[optind];
	if (o.leave_to)
		leave_files_sweep(o.leave_to);
	r = o.leave_to ? leave_file_reset(o.leave_to) : 0;
	if (r < 0) {
		fprintf(stderr, "cell: --leave-to '%s': %s\n", o.leave_to,
			r == -EPERM || r == -ELOOP ? "not a shell hook's file of yours"
						   : strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	r = cli_cell_open(&o, &p, &c, &cwd);
	if (r >= 0)
		return r;
	/* the shell is the cell's command, and the same shell is $SHELL inside */
	a = (struct cell_instance_args){.cwd = cwd,
					.interactive = true,
					.leave_path = o.leave_to,
					.oldpwd = getenv("OLDPWD")};
	/* the project's session (one cell its commands share), unless --new */
	r = o.new_cell ? -1
		       : cli_session_run(p, c, &a, o.leave_to ? leave_file_mark : NULL, o.leave_to);
	if (r >= 0)
		return r;
	r = cli_instance_open(p, c, &a, &inst);
	if (r >= 0)
		return r;
	r = o.leave_to ? leave_file_mark(o.leave_to) : 0;
	if (r < 0) {
		fprintf(stderr, "cell: --leave-to '%s': %s\n", o.leave_to, strerror(-r));
		cell_instance_close(inst);
		return CELL_EXIT_FAILURE;
	}
	return cli_instance_run(inst);
}

/* SPDX-License-Identifier: MIT */
/*
 * cell up [-d] [NAME...]: the config's "processes" as members of the project's session
 * (procs.h). In the foreground their output comes after their names and ^C stops them; with
 * -d a supervisor of its own runs them, and cell up returns once each is ready (or ended, or
 * failed before it was), 0 when none failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "path.h"
#include "procs.h"
#include "procstate.h"
#include "running.h"

struct up {
	struct cell_project *p;
	struct cell_config *c;
	char *cwd, *dir;
	char *const *names;
	int lock;
};

static int run(const struct up *u, bool foreground, int ready_fd, int log_fd)
{
	_cleanup_diag_ struct cell_diag d = {0};
	char *what[] = {(char *)"cell-up", NULL};
	struct cell_instance_args a = {.cwd = u->cwd, .command = what};
	struct cell_procs_options o = {.names = u->names,
				       .root = u->p->root,
				       .up_dir = u->dir,
				       .foreground = foreground,
				       .ready_fd = ready_fd,
				       .log_fd = log_fd};
	char other[CELL_SHA256_HEX_LEN + 1];
	struct cell_member *m = NULL;
	int r;

	/* who holds the lock, at once (cell down reads it), and gone with us */
	(void)cell_up_state_write(
		u->dir, &(struct cell_up_state){.supervisor = getpid(),
						.supervisor_start = cell_process_start(getpid()),
						.start = (int64_t)time(NULL)});
	r = cli_session_join(u->p, u->c, &a, &m, other);
	if (r != -1)
		cell_up_state_remove(u->dir);

	if (r == -2) {
		fprintf(stderr,
			"cell: %s's open session runs its config as it was (%.12s); its processes "
			"run in a session of the config as it is now: leave the session's other "
			"commands first\n",
			u->c->name, other);
		return CELL_EXIT_FAILURE;
	}
	if (r >= 0)
		return r;
	r = cell_procs_run(m, u->c, &o, &d);
	cell_member_free(m);
	cell_up_state_remove(u->dir);
	if (r < 0) {
		cli_print_diag(&d);
		return CELL_EXIT_FAILURE;
	}
	return r > 0 ? CELL_EXIT_FAILURE : CELL_EXIT_OK;
}

/* cell up -d's caller: says what the supervisor tells it, until "ok" or "failed". */
static int wait_detached(int fd, const char *dir)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	char *line, *save = NULL, *last = NULL;
	int r = cell_read_full_fd(fd, 1024 * 1024, &text, &len);

	for (line = r < 0 ? NULL : strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (last)
			fprintf(stderr, "%s\n", last);
		last = line;
	}
	if (last && streq(last, "ok"))
		return CELL_EXIT_OK;
	if (last && !streq(last, "failed"))
		fprintf(stderr,
			"%s\ncell: cell up ended before its processes were up (%s/supervisor.log)\n",
			last, dir);
	else if (!last)
		fprintf(stderr,
			"cell: cell up ended before its processes were up (%s/supervisor.log)\n",
			dir);
	return CELL_EXIT_FAILURE;
}

static int detach(const struct up *u)
{
	_cleanup_free_ char *log_path = cell_path_join(u->dir, "supervisor.log");
	int fds[2], log_fd, null, r;
	pid_t pid;

	if (!log_path || pipe2(fds, O_CLOEXEC) < 0)
		return CELL_EXIT_FAILURE;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "cell: cannot start cell up's supervisor: %s\n", strerror(errno));
		return CELL_EXIT_FAILURE;
	}
	if (pid > 0) {
		close(fds[1]);
		r = wait_detached(fds[0], u->dir);
		close(fds[0]);
		return r;
	}
	/* the supervisor: no terminal; until its processes are up its errors go to the caller,
	 * then to supervisor.log */
	close(fds[0]);
	log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (log_fd < 0 || null < 0 || setsid() < 0 || dup2(null, STDIN_FILENO) < 0 ||
	    dup2(null, STDOUT_FILENO) < 0 || dup2(fds[1], STDERR_FILENO) < 0)
		_exit(CELL_EXIT_FAILURE);
	close(null);
	r = run(u, false, fds[1], log_fd);
	close(log_fd);
	return r;
}

int cmd_up(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"detach", no_argument, NULL, 'd'},
		{"directory", required_argument, NULL, 'C'},
		{"user", required_argument, NULL, 'u'},
		{"allow-root", no_argument, NULL, 'R'},
		{0},
	};
	const char *allow_root = getenv("CELL_ALLOW_ROOT");
	struct cli_cell_options co = {.allow_root = allow_root && streq(allow_root, "1")};
	struct up u = {.lock = -1};
	bool detached = false;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hdC:u:", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		case 'd':
			detached = true;
			break;
		case 'C':
			co.dir = optarg;
			break;
		case 'u':
			co.user = optarg;
			break;
		case 'R':
			co.allow_root = true;
			break;
		default:
			return cli_bad_option(argv, c);
		}
	r = cli_cell_open(&co, &u.p, &u.c, &u.cwd);
	if (r < 0 && !u.c->n_processes) {
		fprintf(stderr, "cell: %s's config has no \"processes\" for cell up to run\n",
			u.c->name);
		r = CELL_EXIT_FAILURE;
	}
	for (int i = optind; r < 0 && i < argc; i++)
		if (!cell_config_process(u.c, argv[i]))
			r = cli_bad_usage(argv[0], "the config has no process \"%s\"", argv[i]);
	u.names = optind < argc ? argv + optind : NULL;
	if (r < 0)
		r = cli_up_dir(u.p, &u.dir);
	if (r < 0) {
		r = cell_up_lock(u.dir, &u.lock);
		if (r == -EBUSY) {
			struct cell_up_state st;

			fprintf(stderr, "cell: %s's processes are up already", u.c->name);
			if (cell_up_state_read(u.dir, &st) >= 0)
				fprintf(stderr, " (cell up, pid %d)", (int)st.supervisor);
			fprintf(stderr, ": cell ps shows them, cell down stops them\n");
		} else if (r < 0) {
			fprintf(stderr, "cell: cannot lock %s/up.lock: %s\n", u.dir, strerror(-r));
		}
		r = r < 0 ? CELL_EXIT_FAILURE : -1;
	}
	/* (a state a cell up cut short left names a process that is not ours any more) */
	if (r < 0)
		cell_up_state_remove(u.dir);
	if (r < 0)
		r = detached ? detach(&u) : run(&u, true, -1, -1);
	closep(&u.lock);
	free(u.dir);
	free(u.cwd);
	cell_config_free(u.c);
	cell_project_free(u.p);
	return r;
}

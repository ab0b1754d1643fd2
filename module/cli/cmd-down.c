/* SPDX-License-Identifier: MIT */
/*
 * cell down [DIR]: stops the project's cell up (its supervisor stops the processes in order and
 * leaves the session) and waits until it has ended.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "procstate.h"
#include "running.h"

/* The supervisor's stop takes at most 10 s of grace, then the session's close. */
#define DOWN_WAIT_MS 60000
#define STATE_TRIES 40
#define STATE_WAIT_US 50000

/* A pidfd of the process st names, if it is still that one (its start time). */
static int supervisor(const struct cell_up_state *st)
{
	int fd = (int)syscall(SYS_pidfd_open, st->supervisor, 0);

	if (fd >= 0 &&
	    (!st->supervisor_start || cell_process_start(st->supervisor) != st->supervisor_start)) {
		close(fd);
		return -1;
	}
	return fd;
}

int cmd_down(int argc, char *argv[])
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int pidfd = -1;
	struct cell_up_state st;
	int r = cli_up_dir_of_args(argc, argv, &dir);

	if (r >= 0)
		return r;
	if (!cell_up_running(dir)) {
		printf("(no processes are up)\n");
		return CELL_EXIT_OK;
	}
	/* the supervisor that holds the lock: named in up.state by pid and start time (a cell up
	 * that is starting writes it at once); the pidfd is taken before the start time is
	 * compared, so it is that process that is signalled */
	for (int i = 0; i < STATE_TRIES && pidfd < 0; i++) {
		if (cell_up_state_read(dir, &st) >= 0)
			pidfd = supervisor(&st);
		if (pidfd < 0)
			usleep(STATE_WAIT_US);
	}
	if (pidfd < 0 || !cell_up_running(dir)) {
		fprintf(stderr,
			"cell: cannot find the cell up that runs the processes (%s/up.state)\n",
			dir);
		return CELL_EXIT_FAILURE;
	}
	if (syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0) < 0) {
		fprintf(stderr, "cell: cannot stop cell up (pid %d): %s\n", (int)st.supervisor,
			strerror(errno));
		return CELL_EXIT_FAILURE;
	}
	r = poll(&(struct pollfd){.fd = pidfd, .events = POLLIN}, 1, DOWN_WAIT_MS);
	if (r <= 0) {
		fprintf(stderr, "cell: cell up (pid %d) is still stopping its processes\n",
			(int)st.supervisor);
		return CELL_EXIT_FAILURE;
	}
	printf("stopped %zu process%s\n", st.n, st.n == 1 ? "" : "es");
	return CELL_EXIT_OK;
}

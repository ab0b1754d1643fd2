/* SPDX-License-Identifier: MIT */
/* cell ps [DIR]: the project's cell up processes, as its supervisor last wrote them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "procstate.h"

static const char *ready_word(int ready)
{
	return ready < 0 ? "-" : ready ? "yes" : "no";
}

int cmd_ps(int argc, char *argv[])
{
	_cleanup_free_ char *dir = NULL;
	struct cell_up_state st;
	int r = cli_up_dir_of_args(argc, argv, &dir);

	if (r >= 0)
		return r;
	if (!cell_up_running(dir) || cell_up_state_read(dir, &st) < 0) {
		printf("(no processes are up: cell up starts them)\n");
		return CELL_EXIT_OK;
	}
	printf("%-16s %-8s %-9s %-8s %-5s %-6s %s\n", "NAME", "PID", "STATE", "RESTARTS", "READY",
	       "STATUS", "SINCE");
	for (size_t i = 0; i < st.n; i++) {
		const struct cell_up_proc *u = &st.procs[i];
		char pid[16] = "-", status[16] = "-", since[32] = "?";
		time_t t = (time_t)u->since;
		struct tm tm;

		if (u->pid > 0)
			snprintf(pid, sizeof(pid), "%d", (int)u->pid);
		if (u->status >= 0)
			snprintf(status, sizeof(status), "%d", u->status);
		if (localtime_r(&t, &tm))
			strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%-16s %-8s %-9s %-8u %-5s %-6s %s\n", u->name, pid, u->state, u->restarts,
		       ready_word(u->ready), status, since);
	}
	printf("(cell up, pid %d; cell logs NAME shows a process's output)\n", (int)st.supervisor);
	return CELL_EXIT_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * The floor of `cell run`'s cost (tests/bench/cell-run.py): a program that does nothing but
 * start its arguments and wait for them, as any launcher between the caller and bubblewrap
 * must. What cell costs beyond this is its own work.
 *
 *   bench-wrap PROGRAM [ARGS...]    exits with PROGRAM's status
 */
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char *argv[])
{
	pid_t pid;
	int status;

	if (argc < 2 || posix_spawn(&pid, argv[1], NULL, NULL, argv + 1, environ) != 0)
		return 127;
	if (waitpid(pid, &status, 0) != pid)
		return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* SPDX-License-Identifier: MIT */
/*
 * A program started with an environment of its caller's making (env -i, a build tool that
 * cleans it up) still gets the shim and the proxy variables: the cell's values, fixed when it
 * started (shimproto.h), for each one the environment lacks. A variable the caller set is kept
 * as it is. This can run in a vfork child: no allocation, no locks.
 */
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"
#include "shim.h"

/* environments longer than this are passed on as they are (and execle takes this many
 * arguments at most): the room is on the caller's stack */
#define ENV_ROOM 1024

/* Room for an environment with the cell's variables, on the caller's stack. */
struct env_room {
	char *env[ENV_ROOM + CELL_SHIM_ENV_MAX + 1];
	char preload[4096]; /* a caller's LD_PRELOAD with the shim's added */
};

/* envp, or room's filled with envp and what it lacks. */
static char *const *with_cell_env(char *const envp[], struct env_room *room)
{
	const struct cell_shim_conf *c = shim_conf();

	if (c && cell_shim_env_fill(envp, c, room->env, ELEMENTSOF(room->env), room->preload,
				    sizeof(room->preload)) == 1)
		return room->env;
	return envp;
}

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	struct env_room room;

	return shim_next()->execve(path, argv, with_cell_env(envp, &room));
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	struct env_room room;

	return shim_next()->execvpe(file, argv, with_cell_env(envp, &room));
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	struct env_room room;

	return shim_next()->fexecve(fd, argv, with_cell_env(envp, &room));
}

SHIM_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
			 int flags)
{
	struct env_room room;

	return shim_next()->execveat(dirfd, path, argv, with_cell_env(envp, &room), flags);
}

/* The ones without an environment argument pass the process's: env -i empties it, then
 * calls execvp. */
SHIM_EXPORT int execv(const char *path, char *const argv[])
{
	struct env_room room;

	return shim_next()->execve(path, argv, with_cell_env(environ, &room));
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
	struct env_room room;

	return shim_next()->execvpe(file, argv, with_cell_env(environ, &room));
}

/*
 * execl, execlp and execle: the arguments after arg up to their NULL (at most ENV_ROOM, else
 * E2BIG), then for execle the environment; search: along PATH.
 */
static int exec_list(const char *file, bool search, bool has_env, const char *arg, va_list ap)
{
	char *argv[ENV_ROOM];
	struct env_room room;
	char *const *envp = environ;
	size_t n = 0;

	argv[n++] = (char *)arg;
	while (argv[n - 1] && n < ENV_ROOM)
		argv[n++] = va_arg(ap, char *);
	if (argv[n - 1]) {
		errno = E2BIG;
		return -1;
	}
	if (has_env)
		envp = va_arg(ap, char *const *);
	envp = with_cell_env(envp, &room);
	return search ? shim_next()->execvpe(file, argv, envp)
		      : shim_next()->execve(file, argv, envp);
}

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	int r;

	va_start(ap, arg);
	r = exec_list(path, false, false, arg, ap);
	va_end(ap);
	return r;
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	int r;

	va_start(ap, arg);
	r = exec_list(file, true, false, arg, ap);
	va_end(ap);
	return r;
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	int r;

	va_start(ap, arg);
	r = exec_list(path, false, true, arg, ap);
	va_end(ap);
	return r;
}

SHIM_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct env_room room;

	return shim_next()->posix_spawn(pid, path, fa, attr, argv, with_cell_env(envp, &room));
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct env_room room;

	return shim_next()->posix_spawnp(pid, file, fa, attr, argv, with_cell_env(envp, &room));
}

/* SPDX-License-Identifier: MIT */
/*
 * cell-init: PID 1 of every cell, started by bwrap (--as-pid-1) as
 *
 *     cell-init [--ready-fd FD] [--preload LIB] [--enter-hooks FILE] [--net-fd FD]
 *               [--overlay N DEST | --tmp-overlay N DEST]...
 *               (-- COMMAND [ARGS...] | --keeper-fd FD --session)
 *
 * or, on the host, to add a member to a project's open session (docs/design.md §3, join.c):
 *
 *     cell-init --join --chdir DIR [--preload LIB] [--enter-hooks FILE] -- COMMAND [ARGS...]
 *
 * With --session there is no command: PID 1 holds the session's namespaces for its members,
 * which join it, until the session's keeper ends it (SIGTERM) or is gone (FD, a pipe whose other
 * end only the keeper holds, ends).
 *
 * 1. Overlays. bwrap 0.8 has no --overlay, and unprivileged bwrap runs its child in a second,
 *    nested user namespace that does not own the cell's mount namespace. So for overlays cell
 *    starts bwrap with --cap-add ALL (capabilities of that nested namespace only), and here we
 *    make a mount namespace of our own and mount each overlay from the staging directories
 *    bwrap bound at /run/cell/overlay/N: lower/ (read-only) and rw/{upper,work} (a tmpfs for
 *    --tmp-overlay). Every mount bwrap made is locked in the new namespace: it can be neither
 *    unmounted nor remounted writable.
 * With --preload, COMMAND (not this process) gets LD_PRELOAD=LIB: the cell's shim.
 * With --enter-hooks, FILE (the project's hooks.enter) runs in bash first, in the process that
 *    then becomes COMMAND, and COMMAND gets the variables the hooks left (whatever the shell:
 *    bash, zsh and fish alike); hooks that end the shell leave the environment as it was.
 * 2. Every capability goes, for good, before COMMAND runs; with none left, we refuse to go on.
 *    With --net-fd (a proxy cell in a network namespace of its own), the host makes the
 *    sockets it needs in the cell's namespace first (netns.h: the proxy's listening socket),
 *    from us, before we say we are up; and if it asks, a child of ours goes on making them
 *    (network.forward's connections) for as long as the host holds its end.
 * 3. With --ready-fd, one byte on FD says we are up, with our signal handlers in place: until
 *    then a signal to us would be lost (PID 1 ignores signals it has no handler for), so cell
 *    holds them back until it reads that byte; and no byte means bwrap failed, not the command.
 * 4. As PID 1 we forward signals that someone sent with kill() (cell forwards its own to us) to
 *    COMMAND; signals from the terminal reach COMMAND directly, so those are not sent twice.
 *    We reap orphans, and when COMMAND ends we exit with its status (128+N for signal N); the
 *    kernel then ends whatever else is left in the cell.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bwrap.h"
#include "fileio.h"
#include "join.h"
#include "macro.h"
#include "netns.h"
#include "process.h"

#define STAGING CELL_OVERLAY_STAGING

extern char **environ;

static void die(const char *what)
{
	fprintf(stderr, "cell: cell-init: %s: %s\n", what, strerror(errno));
	_exit(127);
}

static void mount_overlay(const char *n, const char *dest, bool tmp)
{
	char rw[64], upper[64], work[64], opts[256];

	if (strspn(n, "0123456789") != strlen(n) || strlen(n) == 0 || strlen(n) > 6) {
		fprintf(stderr, "cell: cell-init: '%s' is not an overlay number\n", n);
		_exit(127);
	}
	snprintf(rw, sizeof(rw), STAGING "/%s/rw", n);
	snprintf(upper, sizeof(upper), STAGING "/%s/rw/upper", n);
	snprintf(work, sizeof(work), STAGING "/%s/rw/work", n);
	if (tmp) {
		if (mount("tmpfs", rw, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
			die("mounting the tmpfs of an ephemeral overlay");
		if (mkdir(upper, 0700) < 0 || mkdir(work, 0700) < 0)
			die("creating the directories of an ephemeral overlay");
	}
	/* the staging paths are ours, so no ',' or ':' in them needs escaping */
	snprintf(opts, sizeof(opts),
		 "lowerdir=" STAGING "/%s/lower,upperdir=%s,workdir=%s,userxattr", n, upper, work);
	if (mount("overlay", dest, "overlay", MS_NOSUID | MS_NODEV, opts) < 0) {
		fprintf(stderr, "cell: cell-init: mounting the overlay at '%s': %s\n", dest,
			strerror(errno));
		_exit(127);
	}
}
/*
 * --net-fd: the sockets the host needs made in the cell's network namespace (netns.h). If it
 * asks for more later (network.forward's connections), PID 1 of a session serves them itself
 * (nothing in the cell can stop PID 1, whose signals it cannot send it), and returns the
 * descriptor for that; any other cell's init leaves it to a child of its own. Else -1.
 */
static int make_sockets(int fd, bool session)
{
	int r = cell_netns_setup(fd);
	pid_t pid;

	if (r < 0) {
		fprintf(stderr, "cell: cell-init: the cell's network was not set up: %s\n",
			strerror(-r));
		_exit(127);
	}
	if (r > 0 && session)
		return fd;
	if (r > 0) {
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			if (cell_fds_arrange(&fd, 1, 3) < 0)
				_exit(1);
			cell_netns_serve(3);
			_exit(0);
		}
	}
	close(fd);
	return -1;
}

/* --session: reaps, until the keeper says so (SIGTERM, SIGINT or SIGHUP by kill() from outside
 * the cell: a sender in our pid namespace, the cell's own code, is not the keeper) or is gone. */
static int hold_session(int keeper_fd, int net_fd, sigset_t *all)
{
	int sigfd = signalfd(-1, all, SFD_CLOEXEC);

	if (sigfd < 0 || fcntl(keeper_fd, F_SETFD, FD_CLOEXEC) < 0)
		die("holding the session");
	for (;;) {
		struct pollfd pfd[3] = {
			{sigfd, POLLIN, 0}, {keeper_fd, POLLIN, 0}, {net_fd, POLLIN, 0}};
		struct signalfd_siginfo si;

		if (poll(pfd, 3, -1) < 0)
			continue;
		if (pfd[1].revents)
			return 0;
		/* (the host gone, or not speaking the protocol: no more sockets) */
		if (net_fd >= 0 && pfd[2].revents && cell_netns_serve_one(net_fd) <= 0) {
			close(net_fd);
			net_fd = -1;
		}
		if (!pfd[0].revents)
			continue;
		if (read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD)
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		else if ((int)si.ssi_code <= 0 && si.ssi_pid == 0 &&
			 (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT ||
			  si.ssi_signo == SIGHUP))
			return 0;
	}
}

/* The session's variables, NUL-separated on fd (the caller's memfd): the command's environment.
 */
static void environment_from(int fd)
{
	size_t len;
	char *env;

	if (cell_read_full_fd(fd, CELL_JOIN_ENV_MAX, &env, &len) < 0) {
		fprintf(stderr, "cell: cell-init: cannot read the cell's environment\n");
		_exit(127);
	}
	clearenv();
	for (char *e = env; e < env + len; e += strlen(e) + 1)
		if (strchr(e, '='))
			putenv(e);
}

/*
 * --join: a new member of an open session, run on the host (by cell-session join in the cell's
 * cgroup, or by cell directly). On descriptors CELL_JOIN_FD_*: the session's cell-init (a pidfd),
 * the cell's seccomp program and the member's environment. Enters the cell's namespaces, forks
 * the member into its pid namespace (capabilities dropped, no_new_privs, the same seccomp filter
 * as every process of the cell, the environment, the hooks), and supervises it as cell-init does
 * its command; exits with its status. Our parent ending ends it (--parent: the pid it had when it
 * forked us, else our parent now).
 */
/* --parent PID: the process that forked us (we end with it); a check against getppid() after
 * our parent death signal is set is then free of the race with its end. */
static pid_t parse_parent(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v <= 1 || v > INT32_MAX) {
		fprintf(stderr, "cell: cell-init: bad --parent '%s'\n", s);
		_exit(127);
	}
	return (pid_t)v;
}

/*
 * limits.pids where no cgroup holds the cell: RLIMIT_NPROC, which the kernel counts per user
 * namespace (5.14), so in the cell's own it counts the cell's processes; hard too, so nothing in
 * the cell raises it again (that takes CAP_SYS_RESOURCE outside).
 */
static void limit_processes(const char *s)
{
	char *end;
	unsigned long v;
	struct rlimit rl;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v > 4194304) {
		fprintf(stderr, "cell: cell-init: bad --nproc '%s'\n", s);
		_exit(127);
	}
	rl.rlim_cur = rl.rlim_max = v;
	if (setrlimit(RLIMIT_NPROC, &rl) < 0)
		die("setting RLIMIT_NPROC");
}

static _noreturn_ void join(int argc, char *argv[])
{
	const char *dir = NULL, *preload = NULL, *hooks = NULL;
	pid_t parent = getppid();
	int i = 2;

	for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
		if (strcmp(argv[i], "--parent") == 0)
			parent = parse_parent(argv[i + 1]);
		else if (strcmp(argv[i], "--chdir") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--preload") == 0)
			preload = argv[i + 1];
		else if (strcmp(argv[i], "--enter-hooks") == 0)
			hooks = argv[i + 1];
		else if (strcmp(argv[i], "--nproc") == 0)
			limit_processes(argv[i + 1]);
		else
			break;
	}
	if (!dir || i + 1 >= argc || strcmp(argv[i], "--") != 0) {
		fprintf(stderr,
			"usage: cell-init --join [--parent PID] --chdir DIR [--preload LIB] "
			"[--enter-hooks FILE] [--nproc N] -- COMMAND [ARGS...]\n");
		_exit(127);
	}
	for (int fd = CELL_JOIN_FD_INIT; fd <= CELL_JOIN_FD_ENV; fd++)
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			die("the descriptors of a member");
	environment_from(CELL_JOIN_FD_ENV);
	cell_join_member(&(struct cell_join_member){.parent = parent,
						    .init_pidfd = CELL_JOIN_FD_INIT,
						    .seccomp_fd = CELL_JOIN_FD_SECCOMP,
						    .env = environ,
						    .dir = dir,
						    .preload = preload,
						    .hooks = hooks,
						    .argv = argv + i + 1});
}

int main(int argc, char *argv[])
{
	bool newns = false, session = false;
	const char *preload = NULL, *hooks = NULL;
	int ready_fd = -1, keeper_fd = -1, net_fd = -1;
	sigset_t all;
	pid_t child;
	int i;

	if (argc > 1 && strcmp(argv[1], "--join") == 0)
		join(argc, argv);
	i = 1;
	if (i + 1 < argc && strcmp(argv[i], "--ready-fd") == 0) {
		ready_fd = atoi(argv[i + 1]);
		i += 2;
	}
	/* the cell's LD_PRELOAD (the shim) is for the command, not for PID 1: a sanitizer build
	 * of cell-init would refuse it, and PID 1 has no use for it */
	if (i + 1 < argc && strcmp(argv[i], "--preload") == 0) {
		preload = argv[i + 1];
		i += 2;
	}
	if (i + 1 < argc && strcmp(argv[i], "--enter-hooks") == 0) {
		hooks = argv[i + 1];
		i += 2;
	}
	if (i + 1 < argc && strcmp(argv[i], "--net-fd") == 0) {
		net_fd = atoi(argv[i + 1]);
		if (net_fd < 3 || fcntl(net_fd, F_SETFD, FD_CLOEXEC) < 0) {
			fprintf(stderr, "cell: cell-init: bad --net-fd '%s'\n", argv[i + 1]);
			return 127;
		}
		i += 2;
	}
	if (i + 1 < argc && strcmp(argv[i], "--nproc") == 0) {
		limit_processes(argv[i + 1]);
		i += 2;
	}
	for (; i < argc && strcmp(argv[i], "--") != 0; i += 3) {
		bool tmp = strcmp(argv[i], "--tmp-overlay") == 0;

		if (i + 3 == argc && strcmp(argv[i], "--keeper-fd") == 0 &&
		    strcmp(argv[i + 2], "--session") == 0) {
			keeper_fd = atoi(argv[i + 1]);
			session = keeper_fd > 2;
			break;
		}
		if ((!tmp && strcmp(argv[i], "--overlay") != 0) || i + 2 >= argc) {
			fprintf(stderr,
				"usage: cell-init [--ready-fd FD] [--preload LIB] [--enter-hooks FILE] "
				"[--net-fd FD] [--nproc N] [--overlay N DEST | --tmp-overlay N DEST]... "
				"(-- COMMAND [ARGS...] | "
				"--keeper-fd FD --session)\n");
			return 127;
		}
		if (!newns) {
			if (unshare(CLONE_NEWNS) < 0)
				die("making a mount namespace for overlays");
			if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
				die("making mounts private");
			newns = true;
		}
		mount_overlay(argv[i + 1], argv[i + 2], tmp);
	}
	if (!session && (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc)) {
		fprintf(stderr, "cell: cell-init: no command\n");
		return 127;
	}
	if (cell_join_drop_capabilities() < 0)
		die("dropping capabilities");
	/* nothing in the cell may trace PID 1 (stop it, so that the cell outlives its session, or
	 * take its descriptors): not dumpable, whose owner is the user namespace above the cell's
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("making cell-init undumpable");
	cell_join_take_signals(&all);
	if (net_fd >= 0)
		net_fd = make_sockets(net_fd, session);
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "1", 1);
		close(ready_fd);
	}
	if (session)
		return hold_session(keeper_fd, net_fd, &all);
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		cell_join_default_signals();
		if (preload && setenv("LD_PRELOAD", preload, 1) < 0)
			_exit(127);
		cell_join_exec(hooks, preload, argv + i + 1);
	}
	return cell_join_supervise(child, &all);
}

/* SPDX-License-Identifier: MIT */
/*
 * cell-init: PID 1 of every cell, started by bwrap (--as-pid-1) as
 *
 *     cell-init [--ready-fd FD] [--preload LIB] [--enter-hooks FILE]
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
 * 3. With --ready-fd, one byte on FD says we are up, with our signal handlers in place: until
 *    then a signal to us would be lost (PID 1 ignores signals it has no handler for), so cell
 *    holds them back until it reads that byte; and no byte means bwrap failed, not the command.
 * 4. As PID 1 we forward signals that someone sent with kill() (cell forwards its own to us) to
 *    COMMAND; signals from the terminal reach COMMAND directly, so those are not sent twice.
 *    We reap orphans, and when COMMAND ends we exit with its status (128+N for signal N); the
 *    kernel then ends whatever else is left in the cell.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bwrap.h"
#include "join.h"

#define STAGING CELL_OVERLAY_STAGING

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

static int last_cap(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return n > 0 ? atoi(buf) : 40;
}

/* Empties the bounding, ambient, permitted, effective and inheritable sets, and checks. */
static void drop_capabilities(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};

	int last = last_cap();

	for (int cap = 0; cap <= last; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			die("dropping a capability from the bounding set");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die("clearing ambient capabilities");
	if (syscall(SYS_capset, &h, d) < 0)
		die("dropping capabilities");
	if (syscall(SYS_capget, &h, d) < 0)
		die("reading capabilities");
	if (d[0].effective | d[0].permitted | d[1].effective | d[1].permitted)
		die("capabilities are still held");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("setting no_new_privs");
}

/* What a member's cell-init is sent when its cell command is gone (PR_SET_PDEATHSIG). */
#define PARENT_GONE (SIGRTMIN + 1)

static void noop(int sig)
{
	(void)sig;
}

/* The most the hooks' environment may be. */
#define HOOKS_ENV_MAX (1024 * 1024)

/* Reads fd to its end into a NUL-terminated buffer of at most HOOKS_ENV_MAX; NULL past it. */
static char *read_all(int fd, size_t *ret_len)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1), *more;

	while (buf) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len < cap)
			continue;
		more = cap < HOOKS_ENV_MAX ? realloc(buf, 2 * cap + 1) : NULL;
		if (!more)
			break;
		buf = more;
		cap *= 2;
	}
	if (!buf || len == cap) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

/*
 * Runs the hooks file in bash (in this process's child: the command to be), its environment
 * afterwards (env -0 on a pipe) made ours; a hook that fails has said so itself, and hooks that
 * end the shell leave ours as it was.
 */
static void run_enter_hooks(const char *file)
{
	char *const argv[] = {(char *)"bash", (char *)"--noprofile", (char *)"--norc", (char *)"-c",
			      /* (fd 3 only for env: a hook's background process must not
			       * hold the pipe open, the command waiting for its end) */
			      (char *)". \"$1\" 3>&-; exec env -0 >&3", (char *)"cell-hooks",
			      (char *)file, NULL};
	int p[2], status;
	size_t len;
	char *env;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "cell: hooks.enter: %s\n", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		if (dup2(p[1], 3) < 0)
			_exit(127);
		execv("/bin/bash", argv);
		fprintf(stderr, "cell: hooks.enter: bash: %s\n", strerror(errno));
		_exit(127);
	}
	close(p[1]);
	env = pid > 0 ? read_all(p[0], &len) : NULL;
	close(p[0]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid < 0 || !env || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0) {
		fprintf(stderr,
			"cell: hooks.enter ended before the end (status %d): the command gets the "
			"environment without them\n",
			pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		free(env);
		return;
	}
	/* (the strings stay: they are the environment now, until exec) */
	clearenv();
	for (char *e = env; e < env + len; e += strlen(e) + 1)
		if (strchr(e, '='))
			putenv(e);
}

static int status_code(int status)
{
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Signal handlers in place (not SIG_DFL, so that signals to PID 1 are queued), all blocked. */
static void take_signals(sigset_t *all)
{
	struct sigaction sa = {.sa_handler = noop};

	sigfillset(all);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigprocmask(SIG_BLOCK, all, NULL);
}

/* In a child that is to run a command: the signals' defaults back, none blocked. */
static void give_back_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the command's process: the hooks, the shim, then the command; never returns. */
static void exec_command(const char *hooks, const char *preload, char *argv[])
{
	if (hooks) {
		run_enter_hooks(hooks);
		/* the cell's shim stays whatever the hooks did */
		if (preload && setenv("LD_PRELOAD", preload, 1) < 0)
			_exit(127);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "cell: %s: %s\n", argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/*
 * Forwards the signals someone sent with kill() to child (the terminal's reach it directly),
 * reaps, and returns child's status when it ends.
 */
static int supervise(pid_t child, sigset_t *all)
{
	pid_t parent = getppid();

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(all, &si);

		if (sig < 0)
			continue;
		if (sig == SIGCHLD) {
			int status;
			pid_t pid;

			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				if (pid == child)
					return status_code(status);
			continue;
		}
		/* kill(), sigqueue() and tgkill() give si_code <= 0; the terminal gives SI_KERNEL
		 */
		/* (a member's cell-init: its parent, the cell command, is gone) */
		if (sig == PARENT_GONE && si.si_code <= 0 && getppid() != parent) {
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
			return 128 + SIGKILL;
		}
		if (si.si_code <= 0)
			kill(child, sig);
	}
}

/* --session: reaps, until the keeper says so (SIGTERM, SIGINT or SIGHUP by kill()) or is gone. */
static int hold_session(int keeper_fd, sigset_t *all)
{
	int sigfd = signalfd(-1, all, SFD_CLOEXEC);

	if (sigfd < 0 || fcntl(keeper_fd, F_SETFD, FD_CLOEXEC) < 0)
		die("holding the session");
	for (;;) {
		struct pollfd pfd[2] = {{sigfd, POLLIN, 0}, {keeper_fd, POLLIN, 0}};
		struct signalfd_siginfo si;

		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents)
			return 0;
		if (read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD)
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		else if ((int)si.ssi_code <= 0 &&
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
	char *env = read_all(fd, &len);

	if (!env) {
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
 * its command; exits with its status. Our parent ending ends it.
 */
static int join(int argc, char *argv[])
{
	const char *dir = NULL, *preload = NULL, *hooks = NULL;
	pid_t parent = getppid(), child;
	sigset_t all;
	int i = 2, r;

	for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
		if (strcmp(argv[i], "--chdir") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--preload") == 0)
			preload = argv[i + 1];
		else if (strcmp(argv[i], "--enter-hooks") == 0)
			hooks = argv[i + 1];
		else
			break;
	}
	if (!dir || i + 1 >= argc || strcmp(argv[i], "--") != 0) {
		fprintf(stderr, "usage: cell-init --join --chdir DIR [--preload LIB] "
				"[--enter-hooks FILE] -- COMMAND [ARGS...]\n");
		return 127;
	}
	/*
	 * Not dumpable from here until the command's exec: the cell's processes see the member (it
	 * is in their pid namespace) and are its user; dumpable, it could be traced between the
	 * capabilities' drop and the seccomp filter, or have its descriptors taken. Only a tracer
	 * with privilege over the host's user namespace may, so none in the cell.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("making the member undumpable");
	/* the member lives as long as the cell command that joined it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		return 127;
	for (int fd = CELL_JOIN_FD_INIT; fd <= CELL_JOIN_FD_ENV; fd++)
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			die("the descriptors of a member");
	environment_from(CELL_JOIN_FD_ENV);
	r = cell_join_namespaces(CELL_JOIN_FD_INIT);
	if (r < 0) {
		fprintf(stderr, "cell: cannot join the session's cell: %s\n",
			r == -ESRCH ? "it has ended" : strerror(-r));
		_exit(127);
	}
	/* (from here on _exit only: exit handlers, a sanitizer's among them, would look at this
	 * process through the cell's /proc, where it is not) */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("making the member undumpable");
	take_signals(&all);
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		give_back_signals();
		if (chdir(dir) < 0) {
			fprintf(stderr, "cell: cannot go to '%s' in the cell: %s\n", dir,
				strerror(errno));
			_exit(127);
		}
		/* the cell's filter first, then every capability goes (as bwrap, then cell-init,
		 * do for a new cell's command) */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			die("setting no_new_privs");
		r = cell_join_seccomp(CELL_JOIN_FD_SECCOMP);
		if (r < 0) {
			errno = -r;
			die("installing the cell's seccomp filter");
		}
		drop_capabilities();
		/* (after the last change of credentials, which clears them) undumpable still, and
		 * we end with our parent; outside our pid namespace, it is pid 0 to us until it is
		 * gone */
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
		    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != 0)
			_exit(127);
		if (preload && setenv("LD_PRELOAD", preload, 1) < 0)
			_exit(127);
		exec_command(hooks, preload, argv + i + 1);
	}
	close(CELL_JOIN_FD_INIT);
	close(CELL_JOIN_FD_SECCOMP);
	/* (we only wait and forward signals: what we hold over the cell's namespaces goes too) */
	drop_capabilities();
	/* entering a user namespace and dropping capabilities cleared it: set again, last; a
	 * signal we take (not SIGKILL), so that the member ends and is reaped here first: an
	 * orphan of ours would go to the host's init, outside the cell, and stay a zombie there */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_SET_PDEATHSIG, PARENT_GONE, 0, 0, 0) < 0 || getppid() != parent) {
		kill(child, SIGKILL);
		_exit(127);
	}
	_exit(supervise(child, &all));
}

int main(int argc, char *argv[])
{
	bool newns = false, session = false;
	const char *preload = NULL, *hooks = NULL;
	int ready_fd = -1, keeper_fd = -1;
	sigset_t all;
	pid_t child;
	int i;

	if (argc > 1 && strcmp(argv[1], "--join") == 0)
		return join(argc, argv);
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
				"[--overlay N DEST | --tmp-overlay N DEST]... (-- COMMAND [ARGS...] | "
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
	drop_capabilities();
	/* nothing in the cell may trace PID 1 (stop it, so that the cell outlives its session, or
	 * take its descriptors): not dumpable, whose owner is the user namespace above the cell's
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("making cell-init undumpable");
	take_signals(&all);
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "1", 1);
		close(ready_fd);
	}
	if (session)
		return hold_session(keeper_fd, &all);
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		give_back_signals();
		if (preload && setenv("LD_PRELOAD", preload, 1) < 0)
			_exit(127);
		exec_command(hooks, preload, argv + i + 1);
	}
	return supervise(child, &all);
}

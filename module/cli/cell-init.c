/* SPDX-License-Identifier: MIT */
/*
 * cell-init: PID 1 of every cell, started by bwrap (--as-pid-1) as
 *
 *     cell-init [--ready-fd FD] [--preload LIB] [--enter-hooks FILE]
 *               [--overlay N DEST | --tmp-overlay N DEST]... -- COMMAND [ARGS...]
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bwrap.h"

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

int main(int argc, char *argv[])
{
	struct sigaction sa = {.sa_handler = noop};
	bool newns = false;
	const char *preload = NULL, *hooks = NULL;
	int ready_fd = -1;
	sigset_t all;
	pid_t child;
	int i;

	i = 1;
	if (i + 1 < argc && strcmp(argv[i], "--ready-fd") == 0) {
		ready_fd = atoi(argv[i + 1]);
		i += 2;
	}
	/* the cell's LD_PRELOAD (the shim) is for the command, not for PID 1: a sanitizer build
	 * of cell-init would refuse it, and PID 1 has no use for it */
	if (i + 1 < argc && strcmp(argv[i], "--preload") == 0) {
		preload = argv[i + 1];
		if (setenv("LD_PRELOAD", preload, 1) < 0)
			die("setting LD_PRELOAD");
		i += 2;
	}
	if (i + 1 < argc && strcmp(argv[i], "--enter-hooks") == 0) {
		hooks = argv[i + 1];
		i += 2;
	}
	for (; i < argc && strcmp(argv[i], "--") != 0; i += 3) {
		bool tmp = strcmp(argv[i], "--tmp-overlay") == 0;

		if ((!tmp && strcmp(argv[i], "--overlay") != 0) || i + 2 >= argc) {
			fprintf(stderr,
				"usage: cell-init [--ready-fd FD] [--preload LIB] [--enter-hooks FILE] "
				"[--overlay N DEST | --tmp-overlay N DEST]... -- COMMAND [ARGS...]\n");
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
	if (i + 1 >= argc) {
		fprintf(stderr, "cell: cell-init: no command\n");
		return 127;
	}
	drop_capabilities();

	/* a handler (not SIG_DFL) so that signals to PID 1 are queued, then waited for */
	sigfillset(&all);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "1", 1);
		close(ready_fd);
	}

	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		sigset_t none;

		sa.sa_handler = SIG_DFL;
		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				sigaction(sig, &sa, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (hooks) {
			run_enter_hooks(hooks);
			/* the cell's shim stays whatever the hooks did */
			if (preload && setenv("LD_PRELOAD", preload, 1) < 0)
				_exit(127);
		}
		execvp(argv[i + 1], argv + i + 1);
		fprintf(stderr, "cell: %s: %s\n", argv[i + 1], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);

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
		if (si.si_code <= 0)
			kill(child, sig);
	}
}

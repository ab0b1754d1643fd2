/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/nsfs.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "join.h"
#include "macro.h"
#include "process.h"

extern char **environ;

/* The most a seccomp program may be (the kernel's BPF_MAXINSNS). */
#define SECCOMP_MAX_INSNS 4096

pid_t cell_join_pidfd_pid(int pidfd)
{
	char path[64], line[128];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %ld", &pid) == 1)
			break;
	fclose(f);
	/* -1: the process has ended (and been reaped); 0: it is in no pid namespace of ours */
	if (pid <= 0)
		return -ESRCH;
	return (pid_t)pid;
}

static int same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return -errno;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * Of the user namespaces from target up to ours, the one whose parent is ours (in *ret_fd), or
 * -1 when target is ours. -EPERM when ours is not among its ancestors.
 */
static int outermost_userns(int target, int *ret_fd)
{
	_cleanup_close_ int self = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int cur = -1;
	int r;

	if (self < 0)
		return -errno;
	r = same_file(target, self);
	if (r != 0) {
		*ret_fd = -1;
		return r < 0 ? r : 0;
	}
	cur = fcntl(target, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	/* (a user namespace is at most 32 deep) */
	for (int depth = 0; depth < 33; depth++) {
		_cleanup_close_ int parent = ioctl(cur, NS_GET_PARENT);

		if (parent < 0)
			return errno == EPERM ? -EPERM : -errno;
		r = same_file(parent, self);
		if (r < 0)
			return r;
		if (r) {
			*ret_fd = TAKE_FD(cur);
			return 0;
		}
		closep(&cur);
		cur = TAKE_FD(parent);
	}
	return -ELOOP;
}

int cell_join_namespaces(int pidfd)
{
	static const struct {
		const char *name;
		int flag;
	} ns[] = {
		{"mnt", CLONE_NEWNS},	 {"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},
		{"uts", CLONE_NEWUTS},	 {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP},
		{"user", CLONE_NEWUSER},
	};
	_cleanup_close_ int user = -1, outer = -1;
	pid_t pid = cell_join_pidfd_pid(pidfd);
	char path[64];
	int flags = 0, r;

	if (pid < 0)
		return pid;
	for (size_t i = 0; i < ELEMENTSOF(ns); i++) {
		_cleanup_close_ int theirs = -1, ours = -1;

		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns[i].name);
		theirs = open(path, O_RDONLY | O_CLOEXEC);
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i].name);
		ours = open(path, O_RDONLY | O_CLOEXEC);
		if (theirs < 0 || ours < 0)
			return -errno;
		r = same_file(theirs, ours);
		if (r < 0)
			return r;
		/* (setns to a namespace of one's own needs privilege over it: only the others) */
		if (!r)
			flags |= ns[i].flag;
		if (ns[i].flag == CLONE_NEWUSER)
			user = TAKE_FD(theirs);
	}
	/* the pid we read is the pidfd's still: it named the same process all along */
	if (cell_join_pidfd_pid(pidfd) != pid)
		return -ESRCH;
	if (flags & CLONE_NEWUSER) {
		r = outermost_userns(user, &outer);
		if (r < 0)
			return r;
		if (outer >= 0 && same_file(outer, user) == 0 && setns(outer, CLONE_NEWUSER) < 0)
			return -errno;
	}
	if (flags && setns(pidfd, flags) < 0)
		return -errno;
	return 0;
}

int cell_join_seccomp(int fd)
{
	struct sock_filter insns[SECCOMP_MAX_INSNS + 1];
	size_t len = 0;
	struct sock_fprog prog;

	/* (pread: a session's members share the descriptor, and its offset) */
	for (;;) {
		ssize_t n = pread(fd, (char *)insns + len, sizeof(insns) - len, (off_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(insns))
			return -E2BIG;
	}
	if (len == 0 || len % sizeof(insns[0]) != 0)
		return -EINVAL;
	prog = (struct sock_fprog){.len = (unsigned short)(len / sizeof(insns[0])),
				   .filter = insns};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
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

int cell_join_drop_capabilities(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};

	int last = last_cap();

	for (int cap = 0; cap <= last; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	if (d[0].effective | d[0].permitted | d[1].effective | d[1].permitted)
		return -EPERM;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* What a member's supervisor is sent when its cell command is gone (PR_SET_PDEATHSIG). */
#define PARENT_GONE (SIGRTMIN + 1)
/* The most the hooks' environment may be. */
#define HOOKS_ENV_MAX (1024 * 1024)

static void noop(int sig)
{
	(void)sig;
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
	char *env = NULL;
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
	if (pid > 0 && cell_read_full_fd(p[0], HOOKS_ENV_MAX, &env, &len) < 0)
		env = NULL;
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

void cell_join_take_signals(sigset_t *all)
{
	struct sigaction sa = {.sa_handler = noop};

	sigfillset(all);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigprocmask(SIG_BLOCK, all, NULL);
}

void cell_join_default_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void cell_join_exec(const char *hooks, const char *preload, char *const argv[])
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

int cell_join_supervise(pid_t child, sigset_t *all)
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
					return cell_exit_code(status);
			continue;
		}
		/* kill(), sigqueue() and tgkill() give si_code <= 0; the terminal gives SI_KERNEL
		 */
		/* (a member's cell-init: its parent, the cell command, is gone) */
		if (sig == PARENT_GONE && si.si_code <= 0 && getppid() != parent) {
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
			/* a member that leads a process group of its own (cell up's): what its
			 * command started goes with it (we are the last to get it) */
			if (getpgrp() == getpid())
				kill(0, SIGKILL);
			return 128 + SIGKILL;
		}
		if (si.si_code <= 0)
			kill(child, sig);
	}
}

_noreturn_ void cell_join_member(const struct cell_join_member *m)
{
	sigset_t all;
	pid_t child;
	int r;

	/*
	 * Not dumpable from here until the command's exec: the cell's processes see the member (it
	 * is in their pid namespace) and are its user; dumpable, it could be traced between the
	 * capabilities' drop and the seccomp filter, or have its descriptors taken. Only a tracer
	 * with privilege over the host's user namespace may, so none in the cell. And the member
	 * lives as long as the cell command that joined it.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != m->parent)
		_exit(127);
	/* nothing the cell command was handed (a directory of the host's, a make jobserver's or an
	 * IDE's pipe) reaches the member: every descriptor past stderr closes at its exec (ours
	 * are used before) */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		_exit(127);
	r = cell_join_namespaces(m->init_pidfd);
	if (r < 0) {
		fprintf(stderr, "cell: cannot join the session's cell: %s\n",
			r == -ESRCH ? "it has ended" : strerror(-r));
		_exit(127);
	}
	/* (_exit only: exit handlers, a sanitizer's among them, would look at this process
	 * through the cell's /proc, where it is not) */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(127);
	cell_join_take_signals(&all);
	child = fork();
	if (child < 0)
		_exit(127);
	if (child == 0) {
		cell_join_default_signals();
		if (chdir(m->dir) < 0) {
			fprintf(stderr, "cell: cannot go to '%s' in the cell: %s\n", m->dir,
				strerror(errno));
			_exit(127);
		}
		/* the cell's filter first, then every capability goes (as bwrap, then cell-init,
		 * do for a new cell's command) */
		r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
		if (r >= 0)
			r = cell_join_seccomp(m->seccomp_fd);
		if (r >= 0)
			r = cell_join_drop_capabilities();
		if (r < 0) {
			fprintf(stderr, "cell: cannot confine the member: %s\n", strerror(-r));
			_exit(127);
		}
		/* (after the last change of credentials, which clears them) undumpable still, and
		 * we end with our parent; outside our pid namespace, it is pid 0 to us until it is
		 * gone */
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
		    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != 0)
			_exit(127);
		environ = m->env;
		if (m->preload && setenv("LD_PRELOAD", m->preload, 1) < 0)
			_exit(127);
		cell_join_exec(m->hooks, m->preload, m->argv);
	}
	close(m->init_pidfd);
	close(m->seccomp_fd);
	/* (we only wait and forward signals: what we hold over the cell's namespaces goes too) */
	if (cell_join_drop_capabilities() < 0) {
		kill(child, SIGKILL);
		_exit(127);
	}
	/* entering a user namespace and dropping capabilities cleared it: set again, last; a
	 * signal we take (not SIGKILL), so that the member ends and is reaped here first: an
	 * orphan of ours would go to the host's init, outside the cell, and stay a zombie there */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_SET_PDEATHSIG, PARENT_GONE, 0, 0, 0) < 0 || getppid() != m->parent) {
		kill(child, SIGKILL);
		_exit(127);
	}
	_exit(cell_join_supervise(child, &all));
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "bwrap.h"
#include "denial.h"
#include "fileio.h"
#include "launch.h"
#include "log.h"
#include "path.h"
#include "process.h"
#include "quote.h"
#include "strv.h"

/* Signals a cell's command should get when cell is sent them; bwrap itself ignores them. */

extern char **environ;

struct spawn {
	char **argv;
	char **envp;
	const int *fds;
	size_t n;
};

static void say(const char *s)
{
	(void)!write(STDERR_FILENO, s, strlen(s));
}

/*
 * The child, sharing our memory until it execs (CLONE_VM | CLONE_VFORK): puts fds[i] on
 * descriptor 3+i (not close-on-exec), closes everything else above 2, lets bwrap outlive the
 * forwarded signals, and execs it. System calls only: no allocation, no stdio.
 */
static int exec_bwrap(void *arg)
{
	const struct spawn *s = arg;
	sigset_t none;

	if (cell_fds_arrange(s->fds, s->n, 3) < 0)
		_exit(127);
	/* a signal to bwrap would kill the cell's command with SIGKILL (--die-with-parent);
	 * cell forwards them to the cell's init instead, and cell-init restores defaults */
	for (size_t i = 0; i < ELEMENTSOF(cell_forwarded_signals); i++)
		signal(cell_forwarded_signals[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* the system call itself: a cell's environment is exactly envp, even when cell runs with
	 * an LD_PRELOAD shim of its own (in a login pam_cell.so put in a cell), whose exec hook
	 * would add that session's LD_PRELOAD and settings, paths the cell has not */
	syscall(SYS_execve, s->argv[0], s->argv, s->envp);
	say("cell: cannot run bwrap: ");
	say(strerror(errno));
	say("\n");
	_exit(127);
}

/* Starts bwrap without copying our page tables; returns its pid or a negative errno. */
static pid_t spawn_bwrap(struct spawn *s)
{
	const size_t size = 64 * 1024;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	pid_t pid;

	if (stack == MAP_FAILED)
		return negative_errno();
	pid = clone(exec_bwrap, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, s);
	if (pid < 0)
		pid = negative_errno();
	munmap(stack, size);
	return pid;
}

/* Finds "child-pid": N in what bwrap wrote to its info fd so far. */
static pid_t parse_child_pid(const char *info)
{
	const char *s = strstr(info, "\"child-pid\"");

	if (!s || !(s = strchr(s, ':')))
		return 0;
	return (pid_t)strtol(s + 1, NULL, 10);
}

struct waited {
	int status;
	bool started;	  /* bwrap reported the cell's init: the cell got as far as its command */
	int terminal_sig; /* SIGINT or SIGQUIT from the terminal, if one came */
};

/* cell-session's status pipe: denials while the cell runs, then the record of the closed cell. */
struct status_lines {
	int fd;
	struct cell_launch_session *session;
	size_t len;
	char buf[8 * CELL_EVENT_LINE_MAX];
};

static void status_line(struct status_lines *l, char *line)
{
	struct cell_launch_session *s = l->session;

	if (startswith(line, CELL_EVENT_PREFIX)) {
		if (s->denied)
			s->denied(line, s->data);
	} else if (line[0] && !s->record) {
		s->record = strdup(line);
	}
}

/* Reads what is there and hands on each whole line; at the end of the pipe, l->fd is -1. */
static void status_read(struct status_lines *l)
{
	ssize_t n = read(l->fd, l->buf + l->len, sizeof(l->buf) - 1 - l->len);
	char *line, *nl;

	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			l->fd = -1;
		return;
	}
	l->len += (size_t)n;
	l->buf[l->len] = '\0';
	for (line = l->buf; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		status_line(l, line);
	}
	l->len -= (size_t)(line - l->buf);
	memmove(l->buf, line, l->len);
	if (l->len == sizeof(l->buf) - 1)
		l->len = 0; /* no line is this long */
}

/* The listening socket whose first connection the session waits for, if it does. */
static int lazy_fd(const struct status_lines *st)
{
	return st && st->session->connection ? st->session->listen_fd : -1;
}

/* Our end of the cell's network namespace, until its cell-init said hello there. */
static int net_fd(const struct status_lines *st)
{
	return st && st->session->net_up ? st->session->net_fd : -1;
}

static int wait_cell(pid_t bwrap, int sigfd, int info_fd, int ready_fd, struct status_lines *st,
		     const struct cell_launch_watch *watch, int seccomp_fd, struct waited *w)
{
	bool told = false;
	char info[1024] = "";
	size_t info_len = 0;
	pid_t init = 0;
	sigset_t pending;

	/* signals that come before the cell's init is up wait for it, then go there */
	sigemptyset(&pending);
	for (;;) {
		struct pollfd pfd[7] = {
			{sigfd, POLLIN, 0},	  {info_fd, POLLIN, 0},
			{ready_fd, POLLIN, 0},	  {st ? st->fd : -1, POLLIN, 0},
			{lazy_fd(st), POLLIN, 0}, {watch ? watch->fd : -1, POLLIN, 0},
			{net_fd(st), POLLIN, 0}};
		struct signalfd_siginfo si;
		int status;

		if (poll(pfd, 7, -1) < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (st && st->fd >= 0 && pfd[3].revents)
			status_read(st);
		/* (before anything else: cell-init waits for it, and only then says it is up) */
		if (pfd[6].fd >= 0 && pfd[6].revents) {
			void (*net_up)(void *data) = st->session->net_up;

			st->session->net_up = NULL;
			net_up(st->session->data);
		}
		if (pfd[4].fd >= 0 && pfd[4].revents) {
			void (*connection)(void *data) = st->session->connection;

			st->session->connection = NULL;
			connection(st->session->data);
		}
		if (info_fd >= 0 && pfd[1].revents) {
			ssize_t n = read(info_fd, info + info_len, sizeof(info) - 1 - info_len);

			if (n > 0) {
				info_len += (size_t)n;
				info[info_len] = '\0';
				init = parse_child_pid(info);
			} else {
				info_fd = -1;
			}
		}
		if (ready_fd >= 0 && pfd[2].revents) {
			char byte;

			w->started = read(ready_fd, &byte, 1) == 1;
			ready_fd = -1;
		}
		if (w->started && init > 0 && watch && !told) {
			told = true;
			watch->up(init, seccomp_fd, watch->data);
		}
		if (pfd[5].fd >= 0 && pfd[5].revents)
			watch->on_ready(watch->data);
		if (w->started && init > 0) {
			for (int sig = 1; sig < NSIG; sig++)
				if (sigismember(&pending, sig) == 1)
					kill(init, sig);
			sigemptyset(&pending);
		}
		if (!pfd[0].revents || read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD) {
			pid_t pid = waitpid(bwrap, &status, WNOHANG);

			if (pid == bwrap) {
				w->status = cell_exit_code(status);
				return 0;
			}
			continue;
		}
		/* the terminal signals the whole foreground group, the command included */
		if (si.ssi_code > 0) {
			if (si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT)
				w->terminal_sig = (int)si.ssi_signo;
			continue;
		}
		if (w->started && init > 0)
			kill(init, (int)si.ssi_signo);
		else
			sigaddset(&pending, (int)si.ssi_signo);
	}
}

/* The descriptors bwrap gets, in order: the seccomp program, the info pipe, generated files. */
struct launch_fds {
	int fd[16];
	size_t n;
	/* where in fd the environment's --args, cell-session's status pipe, the proxy's socket
	 * and the cell's end of its network namespace's socket pair are (or -1) */
	int env_at, status_at, proxy_at, net_at;
};

static void launch_fds_done(struct launch_fds *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->fd[i] >= 0)
			close(f->fd[i]);
}

/* bwrap's --args for the cell's environment: NUL-separated "--clearenv --setenv NAME VALUE..." */
static int env_args(char **env)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 16;

	for (size_t i = 0; env && env[i]; i++)
		cap += strlen(env[i]) + sizeof("--setenv") + 2;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, "--clearenv", sizeof("--clearenv"));
	len = sizeof("--clearenv");
	for (size_t i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');

		if (!eq)
			continue;
		memcpy(buf + len, "--setenv", sizeof("--setenv"));
		len += sizeof("--setenv");
		memcpy(buf + len, env[i], (size_t)(eq - env[i]));
		len += (size_t)(eq - env[i]);
		buf[len++] = '\0';
		memcpy(buf + len, eq + 1, strlen(eq + 1) + 1);
		len += strlen(eq + 1) + 1;
	}
	return cell_memfd_new("cell-env", buf, len);
}

/*
 * The descriptors bwrap gets (bwrap.h), then for a session: the environment's --args,
 * cell-session's status pipe, whose reading end goes to *ret_status, and the proxy's socket.
 */
static int open_fds(const struct cell_plan *p, const struct cell_launch_session *session,
		    const struct cell_launch_watch *watch, struct launch_fds *f, int *ret_info,
		    int *ret_ready, int *ret_status)
{
	int pipefd[2], r;

	if (p->n_files + 8 > ELEMENTSOF(f->fd))
		return -E2BIG;
	r = cell_seccomp_compile(&p->seccomp, &f->fd[f->n]);
	if (r < 0)
		return r;
	f->n++;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();
	*ret_info = pipefd[0];
	f->fd[f->n++] = pipefd[1];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();
	*ret_ready = pipefd[0];
	f->fd[f->n++] = pipefd[1];
	for (size_t i = 0; i < p->n_files; i++) {
		r = cell_memfd_new("cell-file", p->files[i].content, strlen(p->files[i].content));
		if (r < 0)
			return r;
		f->fd[f->n++] = r;
	}
	/* a session's cell-init gets its keeper's pipe next (bwrap.c names it --keeper-fd) */
	if (p->session) {
		if (!watch || watch->keeper_fd < 0)
			return -EINVAL;
		r = fcntl(watch->keeper_fd, F_DUPFD_CLOEXEC, 3);
		if (r < 0)
			return negative_errno();
		f->fd[f->n++] = r;
	}
	/* and then a proxy cell's end of its network namespace (bwrap.c names it --net-fd) */
	if (cell_bwrap_netns_proxy(p)) {
		if (!session || session->init_net_fd < 0)
			return -EINVAL;
		r = fcntl(session->init_net_fd, F_DUPFD_CLOEXEC, 3);
		if (r < 0)
			return negative_errno();
		f->net_at = (int)f->n;
		f->fd[f->n++] = r;
	}
	r = env_args(p->env);
	if (r < 0)
		return r;
	f->env_at = (int)f->n;
	f->fd[f->n++] = r;
	if (!session || !session->helper)
		return 0;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();
	*ret_status = pipefd[0];
	f->status_at = (int)f->n;
	f->fd[f->n++] = pipefd[1];
	if (session->listen_fd < 0)
		return 0;
	r = fcntl(session->listen_fd, F_DUPFD_CLOEXEC, 3);
	if (r < 0)
		return negative_errno();
	f->proxy_at = (int)f->n;
	f->fd[f->n++] = r;
	return 0;
}

/* --memory BYTES --pids N --cpu MILLI, those of l that are set. */
static int limit_args(const struct cell_limits *l, char ***argv)
{
	const struct {
		const char *option;
		uint64_t value;
	} args[] = {{"--memory", l->memory}, {"--pids", l->pids}, {"--cpu", l->cpu}};
	char value[24];
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(args); i++) {
		if (!args[i].value)
			continue;
		snprintf(value, sizeof(value), "%llu", (unsigned long long)args[i].value);
		r = cell_strv_extend_many(argv, args[i].option, value, (char *)NULL);
	}
	return r;
}

/*
 * cell-session open --id ID --status-fd N [--proxy-fd N] [--local-port P]... [--quiet]
 * [--memory BYTES] [--pids N] [--cpu MILLI] --
 * BWRAP --args K ARGS...: the descriptors as the child numbers them (from 3, in f's order).
 */
static int session_argv(const struct cell_launch_session *s, char **bwrap_argv,
			const struct launch_fds *f, char ***ret)
{
	_cleanup_strv_free_ char **argv = NULL;
	char env_fd[16], status_fd[16], proxy_fd[16], port[8];
	int r;

	snprintf(env_fd, sizeof(env_fd), "%d", 3 + f->env_at);
	snprintf(status_fd, sizeof(status_fd), "%d", 3 + f->status_at);
	snprintf(proxy_fd, sizeof(proxy_fd), "%d", 3 + f->proxy_at);
	r = cell_strv_extend_many(&argv, s->helper, "open", "--id", s->id, "--status-fd", status_fd,
				  (char *)NULL);
	if (r >= 0 && f->proxy_at >= 0)
		r = cell_strv_extend_many(&argv, "--proxy-fd", proxy_fd, (char *)NULL);
	for (size_t i = 0; r >= 0 && i < s->policy.n_local_ports; i++) {
		snprintf(port, sizeof(port), "%u", (unsigned)s->policy.local_ports[i]);
		r = cell_strv_extend_many(&argv, "--local-port", port, (char *)NULL);
	}
	if (r >= 0 && (s->policy.flags & CELL_POLICY_QUIET))
		r = cell_strv_extend(&argv, "--quiet");
	if (r >= 0)
		r = limit_args(&s->limits, &argv);
	if (r >= 0)
		r = cell_strv_extend_many(&argv, "--", bwrap_argv[0], "--args", env_fd,
					  (char *)NULL);
	for (size_t i = 1; r >= 0 && bwrap_argv[i]; i++)
		r = cell_strv_extend(&argv, bwrap_argv[i]);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(argv);
	return 0;
}

/* BWRAP --args K ARGS...: bubblewrap run directly, the cell's environment in --args. */
static int direct_argv(char **bwrap_argv, const struct launch_fds *f, char ***ret)
{
	_cleanup_strv_free_ char **argv = NULL;
	char env_fd[16];
	int r;

	snprintf(env_fd, sizeof(env_fd), "%d", 3 + f->env_at);
	r = cell_strv_extend_many(&argv, bwrap_argv[0], "--args", env_fd, (char *)NULL);
	for (size_t i = 1; r >= 0 && bwrap_argv[i]; i++)
		r = cell_strv_extend(&argv, bwrap_argv[i]);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(argv);
	return 0;
}

/* With the forwarded signals and SIGCHLD taken through a signalfd: start bwrap, wait for it. */
static int start_and_wait(char **argv, char **envp, struct launch_fds *f, int info_r, int ready_r,
			  struct status_lines *st, const struct cell_launch_watch *watch,
			  struct waited *w)
{
	struct cell_launch_session *session = st ? st->session : NULL;
	_cleanup_close_ int sigfd = -1;
	sigset_t old;
	pid_t pid;
	int r;

	sigfd = cell_signalfd_forwarded(&old);
	if (sigfd < 0) {
		r = sigfd;
	} else {
		pid = spawn_bwrap(&(struct spawn){argv, envp, f->fd, f->n});
		if (pid < 0) {
			r = pid;
		} else {
			/* what only the cell's side may hold, so that its end ends ours: the
			 * write ends of the info and ready pipes and of cell-session's status, the
			 * cell's end of its network namespace's pair, the proxy's socket (so that
			 * should the proxy die, the cell's connections are refused) */
			const int theirs[] = {1, 2, f->net_at, f->status_at, f->proxy_at};

			for (size_t i = 0; i < ELEMENTSOF(theirs); i++)
				if (theirs[i] >= 0) {
					closep(&f->fd[theirs[i]]);
					f->fd[theirs[i]] = -1;
				}
			if (session && session->started)
				session->started(pid, session->data);
			r = wait_cell(pid, sigfd, info_r, ready_r, st, watch, f->fd[0], w);
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

int cell_launch(const struct cell_plan *p, const char *bwrap, struct cell_launch_session *session,
		const struct cell_launch_watch *watch, int *ret_status, int *ret_terminal_sig,
		struct cell_diag *diag)
{
	_cleanup_strv_free_ char **argv = NULL, **bwrap_argv = NULL;
	_cleanup_(launch_fds_done) struct launch_fds fds = {
		.env_at = -1, .status_at = -1, .proxy_at = -1, .net_at = -1};
	_cleanup_close_ int info_r = -1, ready_r = -1, status_r = -1;
	_cleanup_free_ struct status_lines *st = NULL;
	bool foreground = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	char *no_env[] = {NULL};
	struct waited w = {0};
	int r;

	r = cell_mounts_prepare(&p->mounts);
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL,
				     "cannot create the cell's state directories: %s",
				     strerror(-r));
	r = cell_bwrap_argv(bwrap, p, &bwrap_argv);
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL, "out of memory");
	r = open_fds(p, session, watch, &fds, &info_r, &ready_r, &status_r);
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL, "cannot prepare the cell: %s",
				     strerror(-r));
	r = session && session->helper ? session_argv(session, bwrap_argv, &fds, &argv)
				       : direct_argv(bwrap_argv, &fds, &argv);
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL, "out of memory");
	for (size_t i = 0; cell_log_get_level() >= CELL_LOG_DEBUG && argv[i]; i++) {
		_cleanup_free_ char *q = cell_shell_quote(argv[i]);

		cell_log(CELL_LOG_DEBUG, "argv[%zu] %s", i, q ? q : "?");
	}
	if (session) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return cell_diag_set(diag, -ENOMEM, NULL, NULL, "out of memory");
		st->fd = status_r;
		st->session = session;
	}
	/* bubblewrap (or cell-session) gets the cell's environment in --args, and none of its
	 * own: it runs on the host, where the dynamic loader would act on the cell's variables
	 * (LD_DEBUG_OUTPUT, LD_LIBRARY_PATH from the project's files write or run anything the
	 * user may; an LD_PRELOAD names a path only the cell has) */
	r = start_and_wait(argv, no_env, &fds, info_r, ready_r, st, watch, &w);
	/* cell-session has exited: the rest of what it wrote is in the pipe */
	while (r >= 0 && st && st->fd >= 0)
		status_read(st);
	cell_terminal_reclaim(foreground);
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL, "cannot start the cell: %s",
				     strerror(-r));
	if (!w.started)
		/* bwrap said why on stderr; the command never ran */
		return cell_diag_set(diag, -ECHILD, NULL, NULL,
				     "%s could not build the cell (its "
				     "message is above)",
				     session && session->helper ? "cell-session" : "bubblewrap");
	*ret_status = w.status;
	*ret_terminal_sig = w.terminal_sig;
	return 0;
}

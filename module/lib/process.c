/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "process.h"

extern char **environ;

int cell_run_capture(char *const argv[], size_t max, char **ret_out)
{
	posix_spawn_file_actions_t fa;
	_cleanup_free_ char *out = NULL;
	int pipefd[2], status, r;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	r = -posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r < 0) {
		close(pipefd[0]);
		return r;
	}
	r = cell_read_full_fd(pipefd[0], max, &out, NULL);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	if (r < 0)
		return r;
	if (ret_out)
		*ret_out = TAKE_PTR(out);
	return cell_exit_code(status);
}

int cell_exit_code(int wait_status)
{
	return WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status) : WEXITSTATUS(wait_status);
}

void cell_run_result_done(struct cell_run_result *r)
{
	free(r->out);
	free(r->err);
}

/* Appends what fd has to *buf (at most max: past it an error, or with drop dropped); 0 at its
 * end, 1 if more may come, -EAGAIN if nothing is there now. */
static int drain(int fd, char **buf, size_t *len, size_t max, bool drop)
{
	char chunk[65536];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	char *grown;

	if (n < 0)
		return errno == EINTR ? 1 : -errno;
	if (n == 0)
		return 0;
	if (*len + (size_t)n > max)
		return drop ? 1 : -EFBIG;
	grown = realloc(*buf, *len + (size_t)n + 1);
	if (!grown)
		return -ENOMEM;
	memcpy(grown + *len, chunk, (size_t)n);
	*len += (size_t)n;
	grown[*len] = '\0';
	*buf = grown;
	return 1;
}

/* Reads what fd i has now (all of it with all); closes it at its end. */
static int drain_pipe(struct pollfd *p, int i, const struct cell_run_limits *l,
		      struct cell_run_result *res, bool all)
{
	/* (all: what a pipe can hold; a writer the kill did not reach may go on writing) */
	unsigned reads = all ? 32 : 1;
	int d;

	do
		d = i == 0 ? drain(p->fd, &res->out, &res->out_len, l->out_max, false)
			   : drain(p->fd, &res->err, &res->err_len, l->err_max, true);
	while (--reads > 0 && d > 0);
	if (d == 0) {
		close(p->fd);
		p->fd = -1;
	}
	return d == -EAGAIN ? 0 : d;
}

static pid_t spawn(char *const argv[], const char *dir, char *const env[], int out[2], int err[2])
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (setsid() < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0 || chdir(dir) < 0)
			_exit(127);
		execve(argv[0], argv, env);
		_exit(127);
	}
	return pid;
}

/*
 * Runs argv in dir with env, stdin /dev/null, in a session of its own, until it exits (what it
 * started and left behind in its session is killed then: a background process holding its
 * output must not hold cd up), the timeout passes or its output is too much (the whole session
 * is killed).
 */
int cell_run_session(char *const argv[], const char *dir, char *const env[],
		     const struct cell_run_limits *l, struct cell_run_result *res)
{
	int out[2] = {-1, -1}, err[2] = {-1, -1}, status = 0, r = 0;
	struct pollfd p[3];
	struct timespec start, now;
	pid_t pid = -1;

	*res = (struct cell_run_result){0};
	if (pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0)
		r = -errno;
	/* (the child's ends blocking, as a program expects its output) */
	if (r >= 0 && (fcntl(out[1], F_SETFL, 0) < 0 || fcntl(err[1], F_SETFL, 0) < 0))
		r = -errno;
	if (r >= 0 && (pid = spawn(argv, dir, env, out, err)) < 0)
		r = -errno;
	if (out[1] >= 0)
		close(out[1]);
	if (err[1] >= 0)
		close(err[1]);
	p[0] = (struct pollfd){out[0], POLLIN, 0};
	p[1] = (struct pollfd){err[0], POLLIN, 0};
	p[2] = (struct pollfd){pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1, POLLIN, 0};
	if (r >= 0 && p[2].fd < 0)
		r = -errno;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (r >= 0 && p[2].fd >= 0) {
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (long)l->timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
					      (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (poll(p, 3, (int)left) < 0 && errno != EINTR)
			r = -errno;
		for (int i = 0; r >= 0 && i < 2; i++)
			if (p[i].fd >= 0 && p[i].revents)
				r = drain_pipe(&p[i], i, l, res, false);
		if (r >= 0 && p[2].revents) {
			/* it exited: what it wrote is in the pipes; what it left behind ends */
			kill(-pid, SIGKILL);
			for (int i = 0; r >= 0 && i < 2; i++)
				if (p[i].fd >= 0)
					r = drain_pipe(&p[i], i, l, res, true);
			close(p[2].fd);
			p[2].fd = -1;
		}
	}
	/* (the child itself too: before its setsid it is in no session of its own) */
	if (pid > 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	for (int i = 0; i < 3; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return r;
	res->status = cell_exit_code(status);
	return 0;
}

void cell_terminal_reclaim(bool was_foreground)
{
	sigset_t ttou, old;

	if (!was_foreground || tcgetpgrp(STDIN_FILENO) == getpgrp())
		return;
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	tcsetpgrp(STDIN_FILENO, getpgrp());
	sigprocmask(SIG_SETMASK, &old, NULL);
}

const int cell_forwarded_signals[6] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

int cell_signalfd_forwarded(sigset_t *old)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < ELEMENTSOF(cell_forwarded_signals); i++)
		sigaddset(&mask, cell_forwarded_signals[i]);
	sigprocmask(SIG_BLOCK, &mask, old);
	fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (fd < 0) {
		fd = negative_errno();
		sigprocmask(SIG_SETMASK, old, NULL);
	}
	return fd;
}

int cell_fds_arrange(const int *fds, size_t n, int first)
{
	int high[CELL_FDS_ARRANGE_MAX];

	if (n > ELEMENTSOF(high) || first + (int)n > 100)
		return -E2BIG;
	/* out of the way first (at 100 and above, past every place they go) */
	for (size_t i = 0; i < n; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD, 100)) < 0)
			return negative_errno();
	for (size_t i = 0; i < n; i++)
		if (dup2(high[i], first + (int)i) < 0)
			return negative_errno();
	close_range((unsigned)(first + (int)n), ~0U, 0);
	return 0;
}

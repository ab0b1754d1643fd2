/* SPDX-License-Identifier: MIT */
/*
 * What both kinds of proxy cell share (network-bpf.c, network-netns.c): the cell's proxy, a
 * process of its own (cell proxy) started at the cell's first connection and stopped when the
 * cell is over, and the cell's record in the project's ledger.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "macro.h"
#include "fileio.h"
#include "host.h"
#include "log.h"
#include "network-proxy.h"
#include "process.h"
#include "running.h"
#include "stats.h"
#include "strv.h"

/* How long the proxy may take to stop. */
#define PROXY_STOP_MS 5000

extern char **environ;

/* Waits up to ms for pid, our child, to exit; kills it if it does not. */
static void wait_bounded(pid_t pid, int ms)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pfd = {pidfd, POLLIN, 0};
	int n;

	do
		n = pidfd >= 0 ? poll(&pfd, 1, ms) : 0;
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void cell_proxy_process_stop(pid_t pid, bool ours)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	if (ours)
		wait_bounded(pid, PROXY_STOP_MS);
}

#define LISTEN_PID_VAR "LISTEN_PID="

/* Writes pid in decimal at to (async-signal-safe: for a child between fork and exec). */
static void put_pid(char *to, pid_t pid)
{
	char digits[16];
	size_t n = 0;

	do
		digits[n++] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0 && n < sizeof(digits));
	while (n > 0)
		*to++ = digits[--n];
	*to = '\0';
}

/* cell-proxy (socket activation as sd_listen_fds(3) has it: descriptor 3, LISTEN_FDS=1,
 * LISTEN_PID=its pid, which only the child knows: so fork, not posix_spawn) */
static pid_t spawn_proxy(const struct cell_project *p, const struct cell_proxy_fds *f,
			 const char *notices, int notices_fd, const char *peer_cgroup,
			 enum cell_learn learn)
{
	_cleanup_free_ char *program = NULL;
	char fds_var[32], pid_var[sizeof(LISTEN_PID_VAR) + 16], names_var[1024];
	char *argv[] = {NULL,
			(char *)"-C",
			p->root,
			(char *)"--notices",
			(char *)notices,
			(char *)(learn == CELL_LEARN_PERMISSIVE ? "--learn=permissive"
				 : learn == CELL_LEARN_RECORD	? "--learn"
								: "--learn=off"),
			peer_cgroup ? (char *)"--peer-cgroup" : NULL,
			(char *)peer_cgroup,
			NULL};
	_cleanup_free_ char **envp = NULL;
	size_t n = 0, at = 0;
	sigset_t none;
	pid_t pid;
	int r = cell_host_find_helper("cell-proxy", &program);

	if (r < 0)
		return r;
	argv[0] = program;
	if (f->n == 0 || f->n > CELL_PROXY_FDS_MAX)
		return -EINVAL;
	snprintf(fds_var, sizeof(fds_var), "LISTEN_FDS=%zu", f->n);
	at = (size_t)snprintf(names_var, sizeof(names_var), "LISTEN_FDNAMES=");
	for (size_t i = 0; i < f->n && at < sizeof(names_var); i++)
		at += (size_t)snprintf(names_var + at, sizeof(names_var) - at, "%s%s", i ? ":" : "",
				       f->names[i]);
	if (at >= sizeof(names_var))
		return -E2BIG;
	envp = calloc(cell_strv_length(environ) + 4, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (char **e = environ; *e; e++)
		if (!startswith(*e, "LISTEN_"))
			envp[n++] = *e;
	envp[n++] = fds_var;
	envp[n++] = names_var;
	envp[n++] = pid_var;
	memcpy(pid_var, LISTEN_PID_VAR, sizeof(LISTEN_PID_VAR));
	sigemptyset(&none);
	pid = fork();
	if (pid == 0) {
		/* system calls only from here */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* what it says (a reload, a policy kept) goes to the cell's notices: the prompt
		 * and cell run show them between commands, never onto a line being typed */
		if (null < 0 || setsid() < 0 || dup2(null, STDIN_FILENO) < 0 ||
		    dup2(null, STDOUT_FILENO) < 0 ||
		    dup2(notices_fd >= 0 ? notices_fd : null, STDERR_FILENO) < 0)
			_exit(127);
		if (cell_fds_arrange(f->fds, f->n, 3) < 0)
			_exit(127);
		sigprocmask(SIG_SETMASK, &none, NULL);
		put_pid(pid_var + strlen(LISTEN_PID_VAR), getpid());
		execve(program, argv, envp);
		_exit(127);
	}
	return pid < 0 ? negative_errno() : pid;
}

/* A limit as the config would say it: "64 MiB", "2 GiB", else "1.5 GiB". */
static void limit_text(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};

	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		uint64_t unit = 1ULL << (10 * (ELEMENTSOF(units) - i));

		if (bytes >= unit && bytes % unit == 0) {
			snprintf(buf, size, "%llu %s", (unsigned long long)(bytes / unit),
				 units[i]);
			return;
		}
	}
	cell_stats_human(bytes, buf, size);
}

void cell_network_say_oom(const char *name, uint64_t memory_limit)
{
	char limit[32];

	limit_text(memory_limit, limit, sizeof(limit));
	fprintf(stderr, "cell: %s was stopped by its memory limit (%s)\n", name, limit);
}

void cell_network_record(const struct cell_running *c, const char *session_line, bool netns,
			 uint64_t memory_limit)
{
	_cleanup_free_ char *path = NULL, *line = NULL;
	struct cell_stats s = {0};
	int r;

	s.netns_cells = netns;
	/* (a netns cell's kernel counters would count its loopback twice: the proxy's side of
	 * each connection is the cell's socket too, accepted from the one cell-init made) */
	if (session_line &&
	    (netns ? cell_stats_merge_limits(&s, session_line, strlen(session_line))
		   : cell_stats_merge_kernel(&s, session_line, strlen(session_line))) < 0)
		fprintf(stderr, "cell: cell-session's record of cell %s is unreadable\n", c->id);
	if (s.oom_kills && memory_limit)
		cell_network_say_oom(c->name, memory_limit);
	r = cell_ledger_path(c->project, &path);
	if (r >= 0)
		r = cell_stats_record(&s, "cell", c->project, c->name, c->start, time(NULL), &line);
	if (r >= 0)
		r = cell_ledger_append(path, line);
	if (r < 0)
		fprintf(stderr, "cell: cannot record cell %s in the ledger: %s\n", c->id,
			strerror(-r));
	cell_stats_done(&s);
}

int cell_proxy_cell_spawn(struct cell_proxy_cell *pc, const struct cell_proxy_fds *more)
{
	struct cell_proxy_fds f = {.fds = {pc->listen_fd}, .names = {"proxy"}, .n = 1};
	pid_t pid;

	for (size_t i = 0; more && i < more->n && f.n < CELL_PROXY_FDS_MAX; i++) {
		f.fds[f.n] = more->fds[i];
		f.names[f.n++] = more->names[i];
	}
	pid = spawn_proxy(pc->project, &f, pc->notices_path, pc->notices_fd, pc->peer_cgroup,
			  pc->learn);
	/* the proxy has it now; should the proxy die, connections are refused, not left waiting */
	close(pc->listen_fd);
	pc->listen_fd = pc->session.listen_fd = -1;
	if (pid < 0)
		return pid;
	pc->running.proxy = pid;
	pc->running.proxy_start = cell_process_start(pid);
	cell_running_save(&pc->running);
	return 0;
}

/*
 * The cell's first connection to its proxy's port: the proxy starts now, with the socket
 * (docs/design.md §4: lazily; a cell that never goes out never pays for a proxy). Until then the
 * connection waits in the socket's backlog.
 */
static void first_connection(void *data)
{
	struct cell_proxy_cell *pc = data;
	int r = cell_proxy_cell_spawn(pc, NULL);

	if (r < 0)
		fprintf(stderr, "cell: cannot start the cell's proxy: %s\n", strerror(-r));
	else
		cell_log(CELL_LOG_DEBUG, "the cell's proxy started at its first connection: pid %d",
			 (int)pc->running.proxy);
}

/* cell-session (or bwrap) runs: the cell is cut short if it ends with the process that opened
 * it */
static void keeper_started(pid_t pid, void *data)
{
	struct cell_proxy_cell *pc = data;

	pc->running.keeper = pid;
	pc->running.keeper_start = cell_process_start(pid);
	cell_running_save(&pc->running);
}

void cell_proxy_cell_init(struct cell_proxy_cell *pc, const struct cell_project *p)
{
	*pc = (struct cell_proxy_cell){.project = p, .listen_fd = -1, .notices_fd = -1};
}

int cell_proxy_cell_start(struct cell_proxy_cell *pc, const struct cell_network_cell *c,
			  struct cell_diag *d)
{
	int r;

	pc->notices_path = c->plan->notices_path;
	pc->learn = c->plan->learn;
	r = cell_mkdir_parent(pc->notices_path, 0700);
	if (r >= 0) {
		pc->notices_fd = open(
			pc->notices_path,
			O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
		r = pc->notices_fd < 0 ? negative_errno() : 0;
	}
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot prepare the cell: %s", strerror(-r));
	/* (netns: the strategy's to say, before) */
	pc->running = (struct cell_running){.netns = pc->running.netns,
					    .id = (char *)c->id, /* borrowed, never freed */
					    .project = c->project->id,
					    .name = c->config->name,
					    .start = time(NULL),
					    .owner = getpid(),
					    .owner_start = cell_process_start(getpid()),
					    .proxy_port = c->proxy_port};
	cell_running_save(&pc->running);
	pc->session = (struct cell_launch_session){
		.id = c->id,
		.started = keeper_started,
		.connection = first_connection,
		.listen_fd = pc->listen_fd,
		.init_net_fd = -1,
		.net_fd = -1,
		.data = pc,
	};
	return 0;
}

void cell_proxy_cell_end(struct cell_proxy_cell *pc)
{
	if (pc->notices_fd >= 0) {
		close(pc->notices_fd);
		unlink(pc->notices_path);
		pc->notices_fd = -1;
	}
	if (pc->listen_fd >= 0)
		close(pc->listen_fd);
	pc->listen_fd = -1;
	if (pc->running.id)
		cell_proxy_process_stop(pc->running.proxy, true);
}

void cell_proxy_cell_done(struct cell_proxy_cell *pc)
{
	free(pc->session.record);
	free(pc->peer_cgroup);
	*pc = (struct cell_proxy_cell){.listen_fd = -1, .notices_fd = -1};
}

void cell_network_reap(const struct cell_running *c, const char *helper, bool keep_empty)
{
	char *argv[] = {(char *)helper,
			(char *)"reap",
			(char *)"--id",
			c->id,
			(char *)"--status-fd",
			(char *)"1",
			NULL};
	_cleanup_free_ char *out = NULL;
	int r = -ENOENT;

	if (helper) {
		r = cell_run_capture(argv, 64 * 1024, &out);
		if (r == 3) /* its keeper is alive after all */
			return;
	}
	if (cell_process_alive(c->proxy, c->proxy_start))
		cell_proxy_process_stop(c->proxy, false);
	if (out && strchr(out, '\n'))
		*strchr(out, '\n') = '\0';
	if (r == 0 && out && *out)
		cell_network_record(c, out, c->netns, 0);
	else if (keep_empty)
		cell_network_record(c, NULL, c->netns, 0);
	cell_running_remove(c->id);
}

void cell_proxy_cell_record(struct cell_proxy_cell *pc, int launch_r, uint64_t memory_limit)
{
	if (!pc->running.id)
		return;
	if (pc->session.record) {
		cell_network_record(&pc->running, pc->session.record, pc->running.netns,
				    memory_limit);
	} else if (pc->session.helper) {
		/* cell-session died before it could close the cell, or never opened it */
		cell_network_reap(&pc->running, pc->session.helper, launch_r >= 0);
		return;
	} else if (launch_r >= 0) {
		/* (the proxy writes its own counts; the cell's record says it ran) */
		cell_network_record(&pc->running, NULL, pc->running.netns, 0);
	}
	cell_running_remove(pc->running.id);
}

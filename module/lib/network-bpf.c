/* SPDX-License-Identifier: MIT */
/*
 * network.mode "proxy", enforced by the kernel: the cell's own proxy, started as the user at the
 * cell's first connection, and the cell opened by cell-session so that the kernel lets its
 * sockets reach that proxy only (docs/design.md §3, §4). When the cell is over, its record (the
 * kernel's counters) goes to the project's ledger; the proxy writes its per-host counts there
 * itself.
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

#include "denial.h"
#include "fileio.h"
#include "ledger.h"
#include "log.h"
#include "network.h"
#include "process.h"
#include "proxy.h"
#include "reqlog.h"
#include "running.h"
#include "session.h"
#include "stats.h"
#include "strv.h"
#include "xdg.h"

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

/* Stops the proxy (it writes its counters on SIGTERM); a proxy that hangs is killed. */
static void stop_proxy(pid_t pid, bool ours)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	if (ours)
		wait_bounded(pid, PROXY_STOP_MS);
}

/* The cell's proxy's socket: listening on an ephemeral loopback port, whose number it returns. */
static int proxy_socket(int *ret_fd, uint16_t *ret_port)
{
	_cleanup_free_ char *desc = NULL;
	const char *colon;
	int fd, r;

	r = cell_proxy_listen("127.0.0.1:0", &fd, &desc);
	if (r < 0)
		return r;
	/* "127.0.0.1:PORT" */
	colon = strrchr(desc, ':');
	*ret_port = (uint16_t)strtoul(colon + 1, NULL, 10);
	*ret_fd = fd;
	return 0;
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

/*
 * cell proxy for the project, in its own session (the terminal's signals are the cell's),
 * handed the listening socket as socket activation does (sd_listen_fds(3): descriptor 3,
 * LISTEN_FDS=1, LISTEN_PID=its pid, which only the child knows: so fork, not posix_spawn).
 */
static pid_t spawn_proxy(const struct cell_project *p, int listen_fd, const char *notices,
			 const char *id)
{
	char self[PATH_MAX], fds_var[] = "LISTEN_FDS=1", pid_var[sizeof(LISTEN_PID_VAR) + 16];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	_cleanup_free_ char *slice = NULL, *cgroup = NULL;
	/* the cell's cgroup (cell-session names it <uid>-<id>): only its processes are served */
	char *argv[] = {self,
			(char *)"proxy",
			(char *)"-C",
			p->root,
			(char *)"--notices",
			(char *)notices,
			(char *)"--peer-cgroup",
			NULL,
			NULL};
	_cleanup_free_ char **envp = NULL;
	size_t n = 0;
	sigset_t none;
	pid_t pid;

	if (len <= 0)
		return -ENOENT;
	self[len] = '\0';
	if (cell_session_slice("/proc/self/mountinfo", &slice) < 0)
		return -ENOENT;
	if (asprintf(&cgroup, "%s/%u-%s", slice, (unsigned)getuid(), id) < 0) {
		cgroup = NULL;
		return -ENOMEM;
	}
	argv[7] = cgroup;
	envp = calloc(cell_strv_length(environ) + 3, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (char **e = environ; *e; e++)
		if (!startswith(*e, "LISTEN_"))
			envp[n++] = *e;
	envp[n++] = fds_var;
	envp[n++] = pid_var;
	memcpy(pid_var, LISTEN_PID_VAR, sizeof(LISTEN_PID_VAR));
	sigemptyset(&none);
	pid = fork();
	if (pid == 0) {
		/* system calls only from here */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null < 0 || setsid() < 0 || dup2(null, STDIN_FILENO) < 0 ||
		    dup2(null, STDOUT_FILENO) < 0)
			_exit(127);
		if (listen_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(listen_fd, 3) < 0)
			_exit(127);
		close_range(4, ~0U, 0);
		sigprocmask(SIG_SETMASK, &none, NULL);
		put_pid(pid_var + strlen(LISTEN_PID_VAR), getpid());
		execve(self, argv, envp);
		_exit(127);
	}
	return pid < 0 ? negative_errno() : pid;
}

/* The ledger's record of a cell: the kernel's counters from cell-session's line, if any. */
static void record_cell(const struct cell_running *c, const char *session_line)
{
	_cleanup_free_ char *path = NULL, *line = NULL;
	struct cell_stats s = {0};
	int r;

	if (session_line && cell_stats_merge_kernel(&s, session_line, strlen(session_line)) < 0)
		fprintf(stderr, "cell: cell-session's record of cell %s is unreadable\n", c->id);
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

/*
 * Closes a cell whose keeper is gone: its counters from cell-session, its proxy stopped, its
 * record in the ledger (only if the cell ran: keep_empty), its file removed.
 */
static void reap(const struct cell_running *c, const char *helper, bool keep_empty)
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
		stop_proxy(c->proxy, false);
	if (out && strchr(out, '\n'))
		*strchr(out, '\n') = '\0';
	if (r == 0 && out && *out)
		record_cell(c, out);
	else if (keep_empty)
		record_cell(c, NULL);
	cell_running_remove(c->id);
}

struct reaping {
	char *helper; /* looked for at the first cell to reap: most calls find none */
	bool looked;
	void (*closed)(const struct cell_running *c, void *data);
	void *data;
	unsigned n;
};

/* A cell cut short: neither the cell command that opened it nor its keeper is alive. */
static int reap_if_orphaned(const struct cell_running *c, void *data)
{
	struct reaping *g = data;

	const char *why;

	if (cell_process_alive(c->owner, c->owner_start) ||
	    cell_process_alive(c->keeper, c->keeper_start))
		return 0;
	if (!g->looked) {
		g->helper = cell_host_helper(&why);
		g->looked = true;
	}
	reap(c, g->helper, c->keeper != 0);
	if (g->closed)
		g->closed(c, g->data);
	g->n++;
	return 0;
}

char *cell_network_bpf_live(void)
{
	const char *why;
	_cleanup_free_ char *helper = cell_host_helper(&why);
	char *argv[] = {helper, (char *)"list", (char *)"--status-fd", (char *)"1", NULL};
	char *out = NULL;

	if (!helper || cell_run_capture(argv, 1024 * 1024, &out) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

bool cell_network_bpf_live_counters(const char *live, const char *id, struct cell_stats *s)
{
	char key[96];
	const char *line, *end;

	snprintf(key, sizeof(key), "{\"id\":\"%s\"", id);
	line = live ? strstr(live, key) : NULL;
	if (!line)
		return false;
	end = strchr(line, '\n');
	return cell_stats_merge_kernel(s, line, end ? (size_t)(end - line) : strlen(line)) >= 0;
}

unsigned cell_network_bpf_reap(void (*closed)(const struct cell_running *c, void *data), void *data)
{
	struct reaping g = {.closed = closed, .data = data};

	cell_running_list(reap_if_orphaned, &g);
	free(g.helper);
	return g.n;
}

/* The kernel's denials of a project's cells, next to its ledger, rotated like the proxy's log. */
#define DENIALS_LOG "denials.log"
#define DENIALS_LOG_MAX (10 * 1024 * 1024)

/* A proxy cell's own state (cell_instance's net_state). */
struct keeping {
	struct cell_running running;
	struct cell_launch_session session;
	struct cell_reqlog *denials; /* opened at the first denial */
	bool failed;
	const struct cell_project *project;
	int listen_fd; /* the proxy's, until it starts */
	/* denials for the person at the cell's prompt (the shell hook prints them): the proxy's
	 * and the kernel's, a line each (the plan's notices file) */
	const char *notices_path;
	int notices_fd;
};

/*
 * The cell's first connection to its proxy's port: the proxy starts now, with the socket
 * (docs/design.md §4: lazily; a cell that never goes out never pays for a proxy). Until then the
 * connection waits in the socket's backlog.
 */
static void first_connection(void *data)
{
	struct keeping *k = data;
	pid_t pid = spawn_proxy(k->project, k->listen_fd, k->notices_path, k->running.id);

	/* the proxy has it now; should the proxy die, connections are refused, not left waiting */
	close(k->listen_fd);
	k->listen_fd = -1;
	if (pid < 0) {
		fprintf(stderr, "cell: cannot start the cell's proxy: %s\n", strerror(-pid));
		return;
	}
	cell_log(CELL_LOG_DEBUG, "the cell's proxy started at its first connection: pid %d",
		 (int)pid);
	k->running.proxy = pid;
	k->running.proxy_start = cell_process_start(pid);
	cell_running_save(&k->running);
}

static void keeper_started(pid_t pid, void *data)
{
	struct keeping *k = data;

	k->running.keeper = pid;
	k->running.keeper_start = cell_process_start(pid);
	cell_running_save(&k->running);
}

/* A denial from cell-session: formatted here, as the user, and kept. */
static void denied(const char *line, void *data)
{
	struct keeping *k = data;
	char buf[CELL_DENIAL_LINE_MAX + 1];
	struct cell_event e;
	int r = 0;

	if (cell_event_decode(line, &e) < 0 ||
	    cell_denial_json(k->running.id, &e, cell_denial_wall_ms(e.time_ns),
			     cell_denial_ns_pid((pid_t)e.tgid), buf, sizeof(buf) - 1) < 0)
		return;
	if (!k->denials && !k->failed) {
		_cleanup_free_ char *path = NULL;

		r = cell_project_state_file(k->running.project, DENIALS_LOG, &path);
		if (r >= 0)
			r = cell_reqlog_open(path, DENIALS_LOG_MAX, &k->denials);
	}
	if (k->denials) {
		size_t n = strlen(buf);

		buf[n++] = '\n';
		r = cell_reqlog_append(k->denials, buf, n);
	}
	if (k->notices_fd >= 0) {
		char notice[256];
		int n = cell_denial_notice(&e, notice, sizeof(notice));

		if (n > 0)
			(void)!write(k->notices_fd, notice, (size_t)n);
	}
	if (r < 0 && !k->failed) {
		k->failed = true;
		fprintf(stderr, "cell: cannot keep the cell's denials in %s: %s\n", DENIALS_LOG,
			strerror(-r));
	}
}

static int bpf_open(struct cell_network_cell *c, struct cell_diag *d)
{
	struct keeping *k;
	int r;

	if (c->config->network.n_local_ports > CELL_LOCAL_PORTS_MAX)
		return cell_diag_set(d, -E2BIG, c->project->config_path, "network.local_ports",
				     "at most %d ports can be listed", CELL_LOCAL_PORTS_MAX);
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	*k = (struct keeping){.project = c->project, .listen_fd = -1, .notices_fd = -1};
	c->state = k;
	r = proxy_socket(&k->listen_fd, &c->proxy_port);
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot make the cell's proxy socket: %s",
				     strerror(-r));
	cell_log(CELL_LOG_DEBUG, "the cell's proxy: 127.0.0.1:%u, started at the first connection",
		 (unsigned)c->proxy_port);
	return 0;
}

static int bpf_start(struct cell_network_cell *c, struct cell_launch_session **ret,
		     struct cell_diag *d)
{
	struct keeping *k = c->state;
	const struct cell_config *conf = c->config;
	int r;

	k->notices_path = c->plan->notices_path;
	r = cell_mkdir_parent(k->notices_path, 0700);
	if (r >= 0) {
		k->notices_fd = open(
			k->notices_path,
			O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
		r = k->notices_fd < 0 ? negative_errno() : 0;
	}
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot prepare the cell: %s", strerror(-r));
	k->running = (struct cell_running){.id = (char *)c->id, /* borrowed, never freed */
					   .project = c->project->id,
					   .name = conf->name,
					   .start = time(NULL),
					   .owner = getpid(),
					   .owner_start = cell_process_start(getpid()),
					   .proxy_port = c->proxy_port};
	cell_running_save(&k->running);
	k->session = (struct cell_launch_session){
		.helper = c->host->helper,
		.id = c->id,
		.started = keeper_started,
		.denied = denied,
		.connection = first_connection,
		.listen_fd = k->listen_fd,
		.data = k,
	};
	k->session.policy.n_local_ports = (__u16)conf->network.n_local_ports;
	for (size_t i = 0; i < conf->network.n_local_ports; i++)
		k->session.policy.local_ports[i] = conf->network.local_ports[i];
	*ret = &k->session;
	return 0;
}

static int bpf_close(struct cell_network_cell *c, int launch_r, struct cell_diag *d)
{
	struct keeping *k = c->state;

	(void)d; /* (what goes wrong here is said on stderr: the cell's command has ended) */
	if (!k)
		return 0;
	cell_reqlog_free(k->denials);
	if (k->notices_fd >= 0) {
		close(k->notices_fd);
		unlink(k->notices_path);
	}
	if (k->listen_fd >= 0)
		close(k->listen_fd);
	if (k->running.id) {
		stop_proxy(k->running.proxy, true);
		if (k->session.record) {
			record_cell(&k->running, k->session.record);
			cell_running_remove(k->running.id);
		} else {
			/* cell-session died before it could close the cell, or never opened it */
			reap(&k->running, c->host->helper, launch_r >= 0);
		}
	}
	free(k->session.record);
	free(k);
	c->state = NULL;
	return 0;
}

const struct cell_network cell_network_bpf = {
	.name = "proxy",
	.open = bpf_open,
	.start = bpf_start,
	.close = bpf_close,
};

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "bwrap.h"
#include "fileio.h"
#include "join.h"
#include "log.h"
#include "member.h"
#include "network.h"
#include "path.h"
#include "process.h"
#include "shimproto.h"
#include "strv.h"
#include "trust.h"
#include "xdg.h"

/* How long the last member waits for the session to close (its proxy stopping, its record). */
#define LEAVE_WAIT_MS 15000

/* How often a command tries again when the session it found was closing. */
#define JOIN_TRIES 5

void cell_member_free(struct cell_member *m)
{
	if (!m)
		return;
	if (m->conn >= 0)
		close(m->conn);
	if (m->grant.init_pidfd >= 0)
		close(m->grant.init_pidfd);
	if (m->grant.seccomp_fd >= 0)
		close(m->grant.seccomp_fd);
	cell_plan_free(m->plan);
	cell_host_done(&m->host);
	cell_strv_free(m->notices);
	free(m);
}

/* What cell status shows of the member: its terminal, and "shell" or the command's name. */
static void describe(const struct cell_instance_args *a, char *tty, size_t tty_size,
		     const char **ret_what)
{
	const char *t = ttyname(STDIN_FILENO);
	const char *what =
		a->interactive || !a->command || !a->command[0] ? "shell" : a->command[0];
	const char *slash = strrchr(what, '/');

	snprintf(tty, tty_size, "%s", t && startswith(t, "/dev/") ? t + 5 : "-");
	*ret_what = slash ? slash + 1 : what;
}

/*
 * Before a session opens: the member's plan as it will be (the config checked, with the file's
 * own words; the project's provider run if its cache is stale, which the keeper then takes).
 */
static int check_plan(const struct cell_project *p, const struct cell_config *c,
		      const struct cell_instance_args *a, char ***notices, bool *ret_plan_failed,
		      struct cell_diag *d)
{
	_cleanup_host_ struct cell_host host = {0};
	_cleanup_plan_ struct cell_plan *plan = NULL;
	int r = cell_instance_member_plan(p, c, a, "ID", 0, &host, &plan, ret_plan_failed, d);

	for (size_t i = 0; r >= 0 && plan->notices && plan->notices[i]; i++)
		r = cell_strv_extend(notices, plan->notices[i]);
	return r;
}

/* The final plan's notices after those of the opening (a notice said once). */
static int add_notices(char ***notices, char **more)
{
	for (size_t i = 0; more && more[i]; i++) {
		bool seen = false;

		for (size_t j = 0; *notices && (*notices)[j] && !seen; j++)
			seen = streq((*notices)[j], more[i]);
		if (!seen && cell_strv_extend(notices, more[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Connects to p's session, opening it (under the project's lock) if none is open. */
static int find_session(const struct cell_project *p, const struct cell_config *c,
			const struct cell_instance_args *a, const char *hash, int dir_fd,
			int *ret_fd, char ***notices, bool *ret_plan_failed, struct cell_diag *d)
{
	_cleanup_close_ int lock = -1;
	int r = cell_keeper_connect(dir_fd, p->id, ret_fd);

	if (r != -ENOENT && r != -ECONNREFUSED)
		return r < 0 ? cell_diag_set(d, r, NULL, NULL,
					     "cannot reach the project's "
					     "session: %s",
					     strerror(-r))
			     : 0;
	r = cell_keeper_lock(dir_fd, p->id, &lock);
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot lock the project's session: %s",
				     strerror(-r));
	/* someone else may have opened it while we waited for the lock */
	r = cell_keeper_connect(dir_fd, p->id, ret_fd);
	if (r != -ENOENT && r != -ECONNREFUSED)
		return r;
	cell_log(CELL_LOG_DEBUG, "no open session of %s: opening one", p->id);
	r = check_plan(p, c, a, notices, ret_plan_failed, d);
	if (r < 0)
		return r;
	r = cell_keeper_start(p, c, hash, dir_fd);
	if (r < 0)
		return r; /* (the keeper said why) */
	r = cell_keeper_connect(dir_fd, p->id, ret_fd);
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL,
				     "the session opened but cannot be reached: %s", strerror(-r));
	return 0;
}

int cell_member_open(const struct cell_project *p, const struct cell_config *c,
		     const struct cell_instance_args *a, struct cell_member **ret,
		     struct cell_diag *diag)
{
	_cleanup_free_ char *state_home = NULL;
	_cleanup_close_ int dir_fd = -1;
	char hash[CELL_SHA256_HEX_LEN + 1], tty[32];
	struct cell_member *m = calloc(1, sizeof(*m));
	const char *what;
	int r;

	*ret = m;
	if (!m)
		return -ENOMEM;
	*m = (struct cell_member){.conn = -1,
				  .grant = {.init_pidfd = -1, .seccomp_fd = -1},
				  .leave_path = a->leave_path};
	r = cell_trust_hash(p, hash);
	if (r >= 0)
		r = cell_xdg_dir(CELL_XDG_STATE, &state_home);
	if (r >= 0)
		r = cell_keeper_dir(state_home, &dir_fd);
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL, "cannot find the project's session: %s",
				     strerror(-r));
	describe(a, tty, sizeof(tty), &what);
	for (int tries = 0;; tries++) {
		r = find_session(p, c, a, hash, dir_fd, &m->conn, &m->notices, &m->plan_failed,
				 diag);
		if (r < 0)
			return r;
		r = cell_keeper_join(m->conn, hash, tty, what, &m->grant, m->other_hash);
		if (r != -ESTALE || tries == JOIN_TRIES)
			break;
		/* it was closing: the next try opens a new one */
		close(m->conn);
		m->conn = -1;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
	if (r == -EXDEV)
		return r;
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL, "cannot join the project's session: %s",
				     r == -ESTALE ? "it keeps closing" : strerror(-r));
	cell_log(CELL_LOG_DEBUG, "joining session %s (%s, proxy port %u)", m->grant.id,
		 cell_net_mode_to_string(m->grant.mode), (unsigned)m->grant.proxy_port);
	r = cell_instance_member_plan(p, c, a, m->grant.id, m->grant.proxy_port, &m->host, &m->plan,
				      &m->plan_failed, diag);
	if (r >= 0)
		r = add_notices(&m->notices, m->plan->notices);
	return r;
}

/* The member's own leave file in the session's leave directory (host side), made empty. */
static int leave_file(const struct cell_member *m, char **ret_host, char **ret_cell)
{
	_cleanup_free_ char *host = NULL;
	_cleanup_close_ int fd = -1;

	if (asprintf(&host, "%s/m%d", m->plan->leave_dir, (int)getpid()) < 0)
		return -ENOMEM;
	/* whatever the cell put there under our name (a FIFO, a link) goes; ours is new */
	if (unlink(host) < 0 && errno != ENOENT)
		return negative_errno();
	fd = open(host, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return negative_errno();
	if (asprintf(ret_cell, "%s/m%d", CELL_PLAN_LEAVE_DIR, (int)getpid()) < 0)
		return -ENOMEM;
	*ret_host = TAKE_PTR(host);
	return 0;
}

/* What the member's shell left in its leave file ("+DIR") goes to the hook's file. */
static void leave_pass_on(const char *host, const char *hook)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1, in = -1;
	struct stat st;
	size_t len = 0;

	/* the cell writes this directory: only a regular file of ours is read, and nothing waits
	 * (a FIFO opens at once with O_NONBLOCK, and is then refused) */
	in = open(host, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in >= 0 && fstat(in, &st) == 0 && S_ISREG(st.st_mode) &&
	    cell_read_full_fd(in, PATH_MAX + 2, &text, &len) >= 0 && len > 0 && text[0] == '+') {
		fd = open(hook, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			(void)cell_write_all(fd, text, len);
	}
	unlink(host);
}

/* The member's environment: the plan's, with its own leave file (if it has one). */
static int member_env(char **env, const char *leave, char ***ret)
{
	_cleanup_strv_free_ char **out = NULL;
	_cleanup_free_ char *var = NULL;
	int r = 0;

	for (size_t i = 0; r >= 0 && env && env[i]; i++)
		if (!leave || !startswith(env[i], "CELL_LEAVE="))
			r = cell_strv_extend(&out, env[i]);
	if (r >= 0 && leave && asprintf(&var, "CELL_LEAVE=%s", leave) < 0) {
		var = NULL;
		r = -ENOMEM;
	}
	if (r >= 0 && var)
		r = cell_strv_extend(&out, var);
	if (r >= 0 && !out)
		r = cell_strv_extend(&out, "PATH=/usr/bin:/bin");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

/* The environment, NUL-separated in a memfd (cell-init --join reads it). */
static int env_fd(char **env)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	for (size_t i = 0; env[i]; i++)
		len += strlen(env[i]) + 1;
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	len = 0;
	for (size_t i = 0; env[i]; i++) {
		memcpy(buf + len, env[i], strlen(env[i]) + 1);
		len += strlen(env[i]) + 1;
	}
	return cell_memfd_new("cell-member-env", buf, len);
}

/* A member of a cell that cell-session opened (the session says "held": a BPF proxy cell, a
 * netns one held to its limits there) joins by cell-session (into the cgroup), or not at all; any
 * other is joined by our own child (in a network namespace of its own, the cell's network comes
 * with its namespaces). */
static bool by_helper(const struct cell_member *m)
{
	return m->grant.held;
}

/* [cell-session join --id ID --] cell-init --join --chdir DIR [...] -- COMMAND... */
static int member_argv(const struct cell_member *m, const char *dir, char *const *command,
		       char ***ret)
{
	_cleanup_strv_free_ char **argv = NULL;
	const struct cell_plan *p = m->plan;
	char parent[16], nproc[16];
	int r = 0;

	/* (the process that forks the member: it ends, the member ends) */
	snprintf(parent, sizeof(parent), "%d", (int)getpid());

	if (by_helper(m))
		r = cell_strv_extend_many(&argv, m->host.helper, "join", "--id", m->grant.id, "--",
					  (char *)NULL);
	if (r >= 0)
		r = cell_strv_extend_many(&argv, m->host.init, "--join", "--parent", parent,
					  "--chdir", dir, (char *)NULL);
	if (r >= 0 && p->shim)
		r = cell_strv_extend_many(&argv, "--preload", CELL_SHIM_PATH, (char *)NULL);
	if (r >= 0 && p->enter_hooks)
		r = cell_strv_extend_many(&argv, "--enter-hooks", p->enter_hooks, (char *)NULL);
	snprintf(nproc, sizeof(nproc), "%u", (unsigned)p->nproc);
	if (r >= 0 && p->nproc)
		r = cell_strv_extend_many(&argv, "--nproc", nproc, (char *)NULL);
	if (r >= 0)
		r = cell_strv_extend(&argv, "--");
	for (size_t i = 0; r >= 0 && command[i]; i++)
		r = cell_strv_extend(&argv, command[i]);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(argv);
	return 0;
}

/* The child: the session's cell-init, the seccomp program and the environment on
 * CELL_JOIN_FD_*, nothing else; no environment of ours (a setuid cell-session gets none). */
static _noreturn_ void exec_member(char **argv, const int fds[3])
{
	char *no_env[] = {NULL};
	sigset_t none;

	if (cell_fds_arrange(fds, 3, CELL_JOIN_FD_INIT) < 0)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(argv[0], argv, no_env);
	fprintf(stderr, "cell: cannot run '%s': %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Waits for the member, forwarding the signals this process is sent with kill(). */
static int wait_member(pid_t pid, int sigfd, int *ret_status, int *ret_terminal_sig)
{
	for (;;) {
		struct signalfd_siginfo si;
		int status;

		if (read(sigfd, &si, sizeof(si)) != sizeof(si)) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (si.ssi_signo == SIGCHLD) {
			if (waitpid(pid, &status, WNOHANG) == pid) {
				*ret_status = cell_exit_code(status);
				return 0;
			}
			continue;
		}
		if (si.ssi_code > 0) {
			if (si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT)
				*ret_terminal_sig = (int)si.ssi_signo;
			continue;
		}
		kill(pid, (int)si.ssi_signo);
	}
}

/* What starting a member takes: the session's filter (every process of its cell has it), the
 * member's environment, and for a proxy cell's member the argv of cell-session join and the
 * environment in a memfd. */
struct start {
	int seccomp, env;
	char **envv, **argv;
};

static void start_done(struct start *st)
{
	closep(&st->seccomp);
	closep(&st->env);
	cell_strv_free(st->envv);
	cell_strv_free(st->argv);
}

static int start_prepare(const struct cell_member *m, const char *leave_cell, const char *dir,
			 char *const *command, struct start *st)
{
	int r;

	*st = (struct start){.seccomp = -1, .env = -1};
	st->seccomp = fcntl(m->grant.seccomp_fd, F_DUPFD_CLOEXEC, 3);
	r = st->seccomp < 0 ? negative_errno() : 0;
	if (r >= 0)
		r = member_env(m->plan->env, leave_cell, &st->envv);
	/* a proxy cell's member goes by cell-session join, into the cell's cgroup, and then by
	 * cell-init --join; any other is joined by our own child (one exec fewer) */
	if (r >= 0 && by_helper(m))
		r = st->env = env_fd(st->envv);
	if (r >= 0 && by_helper(m))
		r = member_argv(m, dir, command, &st->argv);
	return r < 0 ? r : 0;
}

/* In the forked child: becomes the member (never returns). */
static _noreturn_ void start_child(const struct cell_member *m, const struct start *st,
				   pid_t parent, const char *dir, char *const *command)
{
	if (by_helper(m))
		exec_member(st->argv, (int[]){m->grant.init_pidfd, st->seccomp, st->env});
	/* the session's cell-init on 3, its filter on 4, and nothing else of ours (the keeper's
	 * connection, cell up's pipes and lock): this process stays while the member runs */
	if (cell_fds_arrange((int[]){m->grant.init_pidfd, st->seccomp}, 2, CELL_JOIN_FD_INIT) < 0)
		_exit(127);
	/* limits.pids as the session's cell-init has it (counted in the cell's user namespace,
	 * which the member joins) */
	if (m->plan->nproc &&
	    setrlimit(RLIMIT_NPROC, &(struct rlimit){m->plan->nproc, m->plan->nproc}) < 0)
		_exit(127);
	cell_join_member(
		&(struct cell_join_member){.parent = parent,
					   .init_pidfd = CELL_JOIN_FD_INIT,
					   .seccomp_fd = CELL_JOIN_FD_SECCOMP,
					   .env = st->envv,
					   .dir = dir,
					   .preload = m->plan->shim ? CELL_SHIM_PATH : NULL,
					   .hooks = m->plan->enter_hooks,
					   .argv = command});
}

int cell_member_run(struct cell_member *m, int *ret_status, int *ret_terminal_sig,
		    struct cell_diag *diag)
{
	_cleanup_free_ char *leave_host = NULL, *leave_cell = NULL;
	_cleanup_close_ int sigfd = -1;
	bool foreground = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	struct start st = {.seccomp = -1, .env = -1};
	sigset_t old;
	pid_t self, pid;
	int r;

	*ret_terminal_sig = 0;
	if (by_helper(m) && !m->host.helper)
		return cell_diag_set(diag, -EPERM, NULL, NULL,
				     "the session is a proxy cell, and this cell cannot reach "
				     "cell-session (%s)",
				     m->host.why ? m->host.why : "not installed");
	r = m->leave_path ? leave_file(m, &leave_host, &leave_cell) : 0;
	if (r >= 0)
		r = start_prepare(m, leave_cell, m->plan->cwd, m->plan->argv, &st);
	if (r < 0) {
		start_done(&st);
		return cell_diag_set(diag, r, NULL, NULL, "cannot prepare the member: %s",
				     strerror(-r));
	}
	sigfd = cell_signalfd_forwarded(&old);
	self = getpid();
	pid = sigfd < 0 ? -1 : fork();
	if (pid == 0)
		start_child(m, &st, self, m->plan->cwd, m->plan->argv);
	start_done(&st);
	r = sigfd < 0 ? sigfd
	    : pid < 0 ? negative_errno()
		      : wait_member(pid, sigfd, ret_status, ret_terminal_sig);
	sigprocmask(SIG_SETMASK, &old, NULL);
	cell_terminal_reclaim(foreground);
	if (leave_host)
		leave_pass_on(leave_host, m->leave_path);
	/* killed, in a cell its cgroup holds: by its memory limit? (asked before leaving, while
	 * the session keeps the cell open) */
	if (r >= 0 && *ret_status == 128 + SIGKILL && by_helper(m))
		m->oom = cell_network_bpf_oom(m->grant.id);
	/* the last member out waits until the session takes no one more (and a proxy cell's
	 * record is kept, as a cell of its own would have it) */
	cell_keeper_leave(m->conn, LEAVE_WAIT_MS);
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL, "cannot run the member: %s",
				     strerror(-r));
	return 0;
}

void cell_member_leave(struct cell_member *m)
{
	cell_keeper_leave(m->conn, LEAVE_WAIT_MS);
}

int cell_member_spawn(const struct cell_member *m, const char *dir, char *const *command,
		      int out_fd, pid_t *ret_pid)
{
	pid_t self = getpid(), pid;
	struct start st;
	int r;

	if (by_helper(m) && !m->host.helper)
		return -EPERM;
	r = start_prepare(m, NULL, dir, command, &st);
	pid = r < 0 ? -1 : fork();
	if (pid == 0) {
		/* a session of its own: no terminal (nothing in the cell may open ours, make itself
		 * its foreground or read what is typed at it), the terminal's ^C is for cell up,
		 * which stops it in order; and a process group of its own, which that stop
		 * signals; nothing to read, its output to out_fd */
		_cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null < 0 || setsid() < 0 || dup2(null, STDIN_FILENO) < 0 ||
		    dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0)
			_exit(127);
		start_child(m, &st, self, dir, command);
	}
	if (r >= 0 && pid < 0)
		r = negative_errno();
	start_done(&st);
	if (r < 0)
		return r;
	*ret_pid = pid;
	return 0;
}

/* The probe's child: in the session's namespaces, one connect to port on 127.0.0.1 or ::1. */
static _noreturn_ void probe_child(pid_t parent, int init_pidfd, uint16_t port)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6,
				   .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd;

	/* the cell's processes may trace what joins them: nothing of ours to take (no
	 * descriptor but the pidfd, not dumpable, dead with its parent) */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (prctl(PR_SET_DUMPABLE, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
	    getppid() != parent || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(null, 2) < 0 || dup2(init_pidfd, 3) < 0)
		_exit(2);
	close_range(4, ~0U, 0);
	if (cell_join_namespaces(3) < 0)
		_exit(2);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&in4, sizeof(in4)) == 0)
		_exit(0);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&in6, sizeof(in6)) == 0)
		_exit(0);
	_exit(1);
}

int cell_member_probe_port(const struct cell_member *m, uint16_t port, pid_t *ret_pid)
{
	pid_t self = getpid(), pid = fork();

	if (pid < 0)
		return negative_errno();
	if (pid == 0)
		probe_child(self, m->grant.init_pidfd, port);
	*ret_pid = pid;
	return 0;
}

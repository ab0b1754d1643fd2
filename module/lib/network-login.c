/* SPDX-License-Identifier: MIT */
/*
 * A whole login's cell (pam_cell.so, docs/pam.md): root opens the cell for the account with
 * session.c directly (the module runs as root: no helper); a keeper process of the account's,
 * outside the cell, holds the cell's lock for as long as the login lasts (and is its proxy in
 * proxy mode); the login's own process joins the cell's cgroup; close, in whichever process of
 * the service's closes the session, stops the keeper and appends the record to the account's
 * ledger as the account. What close needs is kept in CELL_SYSCELL_STATE_DIR (syscell.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpf.h"
#include "fileio.h"
#include "ledger.h"
#include "macro.h"
#include "network.h"
#include "path.h"
#include "proxy.h"
#include "running.h"
#include "session.h"
#include "stats.h"
#include "strv.h"

extern char **environ;

/* The account's groups, looked up before a fork (NSS in a forked child of a threaded host could
 * wait on a lock no one will release). */
struct groups {
	gid_t list[NGROUPS_MAX];
	int n;
};

static int groups_of(const struct passwd *pw, struct groups *g)
{
	g->n = NGROUPS_MAX;
	if (getgrouplist(pw->pw_name, pw->pw_gid, g->list, &g->n) < 0)
		return -E2BIG;
	return 0;
}

/* Becomes uid, gid with the n groups for good (a forked child of root's): no way back, no new
 * privileges, not dumpable (a fork of the caller holds its memory: sshd's keys, say). */
static int become(uid_t uid, gid_t gid, const gid_t *groups, int n)
{
	if (setgroups((size_t)n, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0 || setuid(0) == 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -EPERM;
	return 0;
}

/* In a forked child: the caller's signal handlers (sshd's) are not ours to run, nor its
 * terminal ours to write on (fds 0 to 2 go to /dev/null). */
static void detach(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
}

/* An environment of the account's own for the keeper: nothing of the caller's. */
static void account_env(const struct passwd *pw)
{
	clearenv();
	setenv("HOME", pw->pw_dir, 1);
	setenv("USER", pw->pw_name, 1);
	setenv("LOGNAME", pw->pw_name, 1);
	setenv("PATH", "/usr/bin:/bin", 1);
}

/* What the keeper execs, opened by root before the fork: a file the account cannot change. */
struct keeper_program {
	int fd;
	const char *path; /* for words only */
	bool proxy; /* cell-proxy --system, else sleep (network none: it only holds the lock) */
};

/*
 * The keeper's credentials: the account's uid, and a group that is not the account's (nogroup),
 * with no supplementary groups. The keeper runs outside the cell: a process of the login's that
 * could trace it (ptrace, /proc/PID/mem, pidfd_getfd) would be a way out, and tracing needs
 * every uid and every gid of the target to be the tracer's (ptrace(2)). Its own files stay
 * the account's (by uid). Looked up before the fork.
 */
static int keeper_gid(const struct passwd *pw, gid_t *ret, struct cell_diag *d)
{
	const struct group *gr = getgrnam("nogroup");
	gid_t gid = gr ? gr->gr_gid : 65534;
	struct groups g;

	if (groups_of(pw, &g) < 0)
		return cell_diag_set(d, -E2BIG, NULL, NULL, "%s is in too many groups",
				     pw->pw_name);
	/* a group the account has (or may take: sg) would let its login trace the keeper */
	for (int i = 0; i < g.n; i++)
		if (g.list[i] == gid)
			return cell_diag_set(
				d, -EPERM, NULL, NULL,
				"%s is in the group nogroup (%u), which a cell's keeper "
				"runs as: no cell for an account that could trace it",
				pw->pw_name, (unsigned)gid);
	*ret = gid;
	return 0;
}

/* Where the keeper's descriptors go (a proxy's socket comes by socket activation, at 3). */
enum {
	PROXY_SOCKET = 3,
	PROXY_DIR = 4,
	PROXY_PROGRAM = 5,
	SLEEP_DIR = 3,
	SLEEP_PROGRAM = 4,
	SLEEP_READY = 5,
	KEEPER_FDS = 6,
};

/* What the keeper is started with, all of it made before the fork. */
struct keeper_start {
	const struct passwd *pw;
	gid_t gid;
	int dir_fd;    /* the cell's cgroup directory (its lock) */
	int listen_fd; /* the proxy's socket (proxy mode) */
	int ready_fd;  /* the readiness pipe's end */
	const struct keeper_program *prog;
	const char *project, *config; /* the module's project= and config= (config may be NULL) */
	const char *cgroup;	      /* the cell's cgroup, whose processes the proxy serves */
};

/*
 * The keeper of a login's cell, in a forked child: drops to the account (with a group of its
 * own: keeper_gid) for good and execs a fresh program, so nothing of the caller's memory (sshd's
 * host keys, the authentication) is left in a process the account owns. It holds the cgroup
 * directory (and so its lock, shared with the descriptor root's session closed) for as long as
 * the cell is to live: cell-proxy --system on the cell's listening socket (socket activation),
 * whose stdout is the readiness pipe that "listening on" goes to; or sleep, whose exec closes
 * the pipe. Nothing else of the caller's stays open. Never returns.
 */
static _noreturn_ void keeper(const struct keeper_start *k)
{
	/* (the proxy serves the cell's processes only: --peer-cgroup) */
	char pid[32], *const proxy_argv[] = {
			      (char *)"cell-proxy", (char *)"--system",
			      (char *)k->project,   (char *)"--peer-cgroup",
			      (char *)k->cgroup,    k->config ? (char *)"--config" : NULL,
			      (char *)k->config,    NULL};
	char *const sleep_argv[] = {(char *)"sleep", (char *)"infinity", NULL};
	const bool proxy = k->prog->proxy;
	int prog_fd = fcntl(k->prog->fd, F_DUPFD_CLOEXEC, 100), program;
	/* by way of high numbers: any of them may be where they go now */
	int dir_fd = fcntl(k->dir_fd, F_DUPFD_CLOEXEC, 100);
	int ready_fd = fcntl(k->ready_fd, F_DUPFD_CLOEXEC, 100);
	int listen_fd = proxy ? fcntl(k->listen_fd, F_DUPFD_CLOEXEC, 100) : -1;
	sigset_t none;

	if (prog_fd < 0 || dir_fd < 0 || ready_fd < 0 || (proxy && listen_fd < 0))
		_exit(127);
	detach();
	program = proxy ? PROXY_PROGRAM : SLEEP_PROGRAM;
	if (proxy ? dup2(listen_fd, PROXY_SOCKET) < 0 || dup2(dir_fd, PROXY_DIR) < 0 ||
			    dup2(ready_fd, STDOUT_FILENO) < 0
		  : dup2(dir_fd, SLEEP_DIR) < 0 || dup3(ready_fd, SLEEP_READY, O_CLOEXEC) < 0)
		_exit(127);
	if (dup3(prog_fd, program, O_CLOEXEC) < 0)
		_exit(127);
	close_range(KEEPER_FDS, ~0U, 0);
	if (setsid() < 0 || become(k->pw->pw_uid, k->gid, NULL, 0) < 0)
		_exit(127);
	account_env(k->pw);
	if (proxy) {
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pid, 1);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execveat(program, "", proxy ? proxy_argv : sleep_argv, environ, AT_EMPTY_PATH);
	(void)!write(proxy ? STDOUT_FILENO : SLEEP_READY, "x", 1);
	_exit(127);
}

static void keeper_program_close(struct keeper_program *k)
{
	closep(&k->fd);
}

/*
 * Opens what the keeper will exec, as root: cell-proxy for a proxy, else sleep;
 * a regular file of root's that no one else can write, in directories that are root's alone
 * (the account must not be able to put anything in its place).
 */
static int keeper_program(const char *program, bool proxy, struct keeper_program *ret,
			  struct cell_diag *d)
{
	const char *path = proxy ? program : "/bin/sleep";
	char real[PATH_MAX], dir[PATH_MAX], bad[PATH_MAX];
	struct stat st;
	int fd;

	if (!path)
		return cell_diag_set(d, -ENOENT, NULL, NULL,
				     "no cell-proxy for the cell's proxy (looked for it beside "
				     "pam_cell.so and in %s)",
				     CELL_LIBEXECDIR);
	if (!realpath(path, real))
		return cell_diag_set(d, -errno, path, NULL, "cannot find the keeper's program: %s",
				     strerror(errno));
	/* (the resolved path is what is checked, and what is opened) */
	memcpy(dir, real, sizeof(dir));
	cell_path_dirname(dir);
	if (!cell_root_owned_dirs(dir, bad, sizeof(bad)))
		return cell_diag_set(d, -EPERM, path, NULL,
				     "the keeper's program is in '%s', which is not root's alone",
				     bad);
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cell_diag_set(d, -errno, path, NULL, "cannot open the keeper's program: %s",
				     strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		close(fd);
		return cell_diag_set(d, -EPERM, path, NULL,
				     "the keeper's program must be a file of root's that no one "
				     "else can write");
	}
	*ret = (struct keeper_program){fd, path, proxy};
	return 0;
}

/*
 * Whether the keeper serves, within 10 s: a proxy says so on its stdout ("listening on"); sleep
 * closes the pipe by its exec, and then runs the program opened for it (a keeper that failed
 * before its exec ends, which closes the pipe too, or says 'x').
 */
static bool keeper_ready(int fd, const struct keeper_program *prog, pid_t pid)
{
	struct pollfd p = {fd, POLLIN, 0};
	struct stat want, exe;
	char c, path[64];
	ssize_t n;

	if (poll(&p, 1, 10000) != 1)
		return false;
	n = read(fd, &c, 1);
	if (prog->proxy)
		return n == 1 && c == 'l';
	/* (one that is on its way out has no program left: its exe is gone) */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	return n == 0 && fstat(prog->fd, &want) == 0 && stat(path, &exe) == 0 &&
	       exe.st_dev == want.st_dev && exe.st_ino == want.st_ino;
}

/* Stops the keeper pid if it is still the one started at start: sig (TERM, or KILL), then KILL
 * after 5 s; by pidfd, so that a pid used again by then is never signalled. */
static void stop_keeper(pid_t pid, uint64_t start, int sig)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = {fd, POLLIN, 0};

	if (fd < 0)
		return;
	if (cell_process_start(pid) == start &&
	    syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) == 0 && poll(&p, 1, 5000) != 1) {
		syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
		poll(&p, 1, 5000);
	}
	close(fd);
	/* (a child of this process's: reaped) */
	waitpid(pid, NULL, WNOHANG);
}

/* Moves pid into the cgroup at path (cgroup2). */
static int join_cgroup(const char *path, pid_t pid)
{
	_cleanup_free_ char *procs = cell_path_join(path, "cgroup.procs");
	_cleanup_close_ int fd = procs ? open(procs, O_WRONLY | O_CLOEXEC) : -1;
	char num[24];
	int n = snprintf(num, sizeof(num), "%d", (int)pid);

	if (!procs)
		return -ENOMEM;
	if (fd < 0)
		return -errno;
	return write(fd, num, (size_t)n) == n ? 0 : -errno;
}

/* Appends line to the account's ledger as the account (never root in its home); a ledger
 * the account keeps locked does not hold the login up past 10 s. */
static int append_as(const struct passwd *pw, const char *ledger, const char *line)
{
	struct groups g;
	int status;
	pid_t pid;

	if (groups_of(pw, &g) < 0)
		return -E2BIG;
	pid = fork();
	if (pid == 0) {
		detach();
		alarm(10);
		if (become(pw->pw_uid, pw->pw_gid, g.list, g.n) < 0 ||
		    cell_mkdir_parent(ledger, 0700) < 0 || cell_ledger_append(ledger, line) < 0)
			_exit(1);
		_exit(0);
	}
	if (pid < 0)
		return -errno;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The cell's record, as cell's own cells have theirs (stats.h): the kernel's counters. */
static int ledger_line(const struct cell_syscell_state *s, const struct cell_counters *counters,
		       const struct cell_limits_usage *usage, char **ret)
{
	_cleanup_free_ char *kernel = NULL;
	struct cell_stats st = {0};
	int r = cell_session_record(s->id, -1, counters, usage, &kernel);

	if (r >= 0)
		r = cell_stats_merge_kernel(&st, kernel, strlen(kernel));
	if (r >= 0)
		r = cell_stats_record(&st, "cell", s->project_id, s->name, s->start, time(NULL),
				      ret);
	cell_stats_done(&st);
	return r;
}

/* A login's cell while it is this process's: what close needs (kept in the state file once
 * the login joins), and root's hold of the cell until the keeper has it alone. */
struct login_cell {
	struct cell_syscell_state s;
	struct cell_session *session; /* until joined (NULL once resumed) */
	char *slice;		      /* <cgroup2>/cell.slice */
	char root[512];		      /* the cgroup2 root: the slice's parent */
	bool joined;		      /* the login is in the cell, and the state kept */
};

/* The slice and the cgroup2 root, into l. */
static int find_hierarchy(struct login_cell *l, struct cell_diag *d)
{
	int r = cell_syscell_hierarchy(&l->slice, l->root, sizeof(l->root));

	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot find the cgroup2 hierarchy: %s",
				     strerror(-r));
	return 0;
}

static struct login_cell *login_new(struct cell_network_cell *c)
{
	struct login_cell *l = calloc(1, sizeof(*l));

	c->state = l;
	return l;
}

/* The proxy's socket, on an ephemeral loopback port (proxy mode). */
static int proxy_socket(int *ret_fd, uint16_t *ret_port, struct cell_diag *d)
{
	_cleanup_free_ char *desc = NULL;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int r = cell_proxy_listen("127.0.0.1:0", ret_fd, &desc);

	if (r >= 0 && getsockname(*ret_fd, (struct sockaddr *)&sin, &len) < 0)
		r = -errno;
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot make the proxy's socket: %s",
				     strerror(-r));
	*ret_port = ntohs(sin.sin_port);
	return 0;
}

/* Starts the keeper with what k names; its pid, once it serves. */
static int start_keeper(const struct keeper_start *start, const struct passwd *pw, pid_t *ret,
			struct cell_diag *d)
{
	struct keeper_start k = *start;
	int ready[2], r = 0;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return cell_diag_set(d, -errno, NULL, NULL, "cannot make a pipe: %s",
				     strerror(errno));
	k.ready_fd = ready[1];
	pid = fork();
	if (pid == 0)
		keeper(&k);
	close(ready[1]);
	if (pid < 0 || !keeper_ready(ready[0], k.prog, pid)) {
		r = pid < 0 ? -errno : -EIO;
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	close(ready[0]);
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL,
				     "the cell's keeper (its proxy, as %s) did not start: is the "
				     "account's home writable?",
				     pw->pw_name);
	*ret = pid;
	return 0;
}

/*
 * Opens the cell for the account, as root: its cgroup and policy (session.c), the proxy's
 * socket made the cell's (proxy mode), and the keeper started, which holds the cell from then
 * on. The login is not in it yet (join).
 */
static int login_open(struct cell_network_cell *c, struct cell_diag *d)
{
	const struct passwd *pw = c->login->pw;
	const struct cell_syscell_args *a = c->login->args;
	struct login_cell *l = login_new(c);
	struct keeper_program prog _cleanup_(keeper_program_close) = {.fd = -1};
	_cleanup_close_ int listen_fd = -1;
	struct cell_policy policy = {0};
	struct keeper_start k;
	char cgroup[1024];
	gid_t kgid;
	int r;

	if (!l)
		return -ENOMEM;
	l->s = (struct cell_syscell_state){.uid = pw->pw_uid, .start = time(NULL)};
	snprintf(l->s.id, sizeof(l->s.id), "%s", c->id);
	snprintf(l->s.project_id, sizeof(l->s.project_id), "%s", c->project->id);
	snprintf(l->s.name, sizeof(l->s.name), "%s", c->config->name);
	r = find_hierarchy(l, d);
	if (r < 0)
		return r;
	r = cell_session_self_cgroup(l->s.cgroup, sizeof(l->s.cgroup));
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot find the cgroup2 hierarchy: %s",
				     strerror(-r));
	/* a login from within a cell (su in one) must not leave it for a cell of its own */
	if (cell_session_path_in_cell(l->s.cgroup))
		return cell_diag_set(d, -EPERM, NULL, NULL,
				     "the caller is in a cell already (%s): no new cell from there",
				     l->s.cgroup);
	if ((size_t)snprintf(l->s.ledger, sizeof(l->s.ledger),
			     "%s/.local/state/cell/projects/%s/%s", pw->pw_dir, c->project->id,
			     "ledger.jsonl") >= sizeof(l->s.ledger))
		return cell_diag_set(d, -ENAMETOOLONG, pw->pw_dir, NULL, "home is too long");
	if (c->mode == CELL_NET_PROXY) {
		r = proxy_socket(&listen_fd, &c->proxy_port, d);
		if (r < 0)
			return r;
		l->s.proxy_port = c->proxy_port;
	}
	r = keeper_gid(pw, &kgid, d);
	if (r >= 0)
		r = keeper_program(a->proxy, c->mode == CELL_NET_PROXY, &prog, d);
	if (r < 0)
		return r;
	r = cell_session_open(l->slice, pw->pw_uid, c->id, &policy,
			      &(struct cell_limits){c->config->limits.memory,
						    c->config->limits.pids, c->config->limits.cpu},
			      &l->session);
	if (r < 0) {
		_cleanup_free_ char *problem = r == -EPERM ? cell_bpf_pin_dir_problem() : NULL;

		l->session = NULL;
		if (r == -EOPNOTSUPP &&
		    (c->config->limits.memory || c->config->limits.pids || c->config->limits.cpu))
			return cell_diag_set(
				d, r, c->project->config_path, "limits",
				"this host has no cgroup controller for one of the "
				"config's limits (memory, pids, cpu: see cell doctor)");
		return cell_diag_set(d, r, NULL, NULL, "cannot open the cell: %s",
				     problem ? problem : strerror(-r));
	}
	/* its proxy is this socket, not whatever listens on its port once the proxy is gone */
	if (listen_fd >= 0) {
		r = cell_session_own_socket(l->session, listen_fd);
		if (r < 0)
			return cell_diag_set(d, r, NULL, NULL,
					     "cannot make the proxy's socket the cell's: %s",
					     strerror(-r));
	}
	snprintf(cgroup, sizeof(cgroup), "%s/%u-%s", l->slice, (unsigned)pw->pw_uid, c->id);
	k = (struct keeper_start){.pw = pw,
				  .gid = kgid,
				  .dir_fd = l->session->dir_fd,
				  .listen_fd = listen_fd,
				  .prog = &prog,
				  .project = a->project,
				  .config = a->config,
				  .cgroup = cgroup};
	r = start_keeper(&k, pw, &l->s.proxy, d);
	if (r < 0)
		return r;
	l->s.proxy_start = cell_process_start(l->s.proxy);
	return 0;
}

/* The plan's files of a login's cell (the shim's settings), the account's alone: another
 * user's process must not learn a cell's proxy from them. */
static int write_files(const struct cell_plan *plan, const struct passwd *pw, size_t *done,
		       struct cell_diag *d)
{
	int r = 0;

	for (*done = 0; r >= 0 && *done < plan->n_files; ++*done) {
		const struct cell_plan_file *f = &plan->files[*done];

		r = cell_mkdir_parent(f->dest, 0755);
		if (r >= 0)
			r = cell_write_file_atomic(f->dest, f->content, strlen(f->content), 0600,
						   false);
		if (r >= 0 && chown(f->dest, pw->pw_uid, pw->pw_gid) < 0) {
			r = -errno;
			unlink(f->dest);
		}
		if (r < 0)
			return cell_diag_set(d, r, f->dest, NULL, "cannot be written: %s",
					     strerror(-r));
	}
	return 0;
}

static void remove_files(const struct cell_plan *plan, size_t n)
{
	for (size_t i = 0; i < n; i++)
		unlink(plan->files[i].dest);
}

/* The login's process into the cell: the plan's files written, the state kept for close. */
static int login_join(struct cell_network_cell *c, pid_t pid, struct cell_diag *d)
{
	struct login_cell *l = c->state;
	char cgroup[1024];
	size_t written = 0;
	int r = write_files(c->plan, c->login->pw, &written, d);

	if (r >= 0) {
		r = cell_syscell_state_save(CELL_SYSCELL_STATE_DIR, &l->s);
		if (r < 0)
			cell_diag_set(d, r, CELL_SYSCELL_STATE_DIR, NULL,
				      "cannot keep the cell's state: %s", strerror(-r));
	}
	if (r >= 0) {
		char *const *v1 = l->session->limit_dirs;

		snprintf(cgroup, sizeof(cgroup), "%s/%u-%s", l->slice, (unsigned)l->s.uid, l->s.id);
		/* its limits' v1 directories first, where the cell has them (a hybrid host), and
		 * back out of them if the rest fails: a cell half-joined could not be closed */
		r = v1 ? cell_limits_v1_join(v1, pid) : 0;
		if (r >= 0)
			r = join_cgroup(cgroup, pid);
		if (r < 0 && v1)
			(void)cell_limits_v1_leave(v1, pid);
		if (r < 0) {
			cell_syscell_state_remove(CELL_SYSCELL_STATE_DIR, l->s.id);
			cell_diag_set(d, r, NULL, NULL, "cannot put the session in its cell: %s",
				      strerror(-r));
		}
	}
	if (r < 0) {
		remove_files(c->plan, written);
		return r;
	}
	/* the keeper holds the lock now; root's copy goes */
	cell_session_free(l->session);
	l->session = NULL;
	l->joined = true;
	return 0;
}

static int login_resume(struct cell_network_cell *c, struct cell_diag *d)
{
	const struct passwd *pw = c->login->pw;
	struct cell_syscell_state s;
	struct login_cell *l;
	int r;

	r = cell_syscell_state_load(CELL_SYSCELL_STATE_DIR, c->id, &s);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return cell_diag_set(d, r, CELL_SYSCELL_STATE_DIR, NULL, "%s: unreadable state",
				     c->id);
	/* (nothing of another account's cell is taken: close does nothing with it) */
	if (s.uid != pw->pw_uid)
		return cell_diag_set(d, -EPERM, NULL, NULL, "cell %s is not %s's", c->id,
				     pw->pw_name);
	l = login_new(c);
	if (!l)
		return -ENOMEM;
	l->s = s;
	c->mode = s.proxy_port ? CELL_NET_PROXY : CELL_NET_NONE;
	c->proxy_port = s.proxy_port;
	r = find_hierarchy(l, d);
	/* (without the hierarchy the cell cannot be closed: it stays, for gc --all) */
	l->joined = r >= 0;
	return r;
}

/* A cell this process opened that never had its login: the keeper (this process's child)
 * stopped and the cell closed, no record. (One resumed is left as it is.) */
static void close_unjoined(struct login_cell *l)
{
	if (!l->session)
		return;
	if (l->s.proxy > 0)
		stop_keeper(l->s.proxy, l->s.proxy_start, SIGKILL);
	cell_session_close(l->session, NULL, NULL);
}

/* Whether this process is in the v1 directories of cell name ("<uid>-<id>"): a line of
 * /proc/self/cgroup, not cgroup2's, that ends in /cell.slice/<name>. */
static bool in_v1_limits(const char *name)
{
	_cleanup_free_ char *text = NULL;
	char tail[96];

	snprintf(tail, sizeof(tail), "/" CELL_SESSION_SLICE "/%s", name);
	if (cell_read_file("/proc/self/cgroup", 0, 65536, &text, NULL) < 0)
		return false;
	for (const char *line = text; *line;
	     line += strcspn(line, "\n") + !!line[strcspn(line, "\n")]) {
		size_t n = strcspn(line, "\n");

		if (!startswith(line, "0::") && n >= strlen(tail) &&
		    !strncmp(line + n - strlen(tail), tail, strlen(tail)))
			return true;
	}
	return false;
}

/* The caller out of the cell first (closing it ends everything in it), then the keeper
 * stopped, the cell closed, its record appended to the account's ledger, the state gone. */
static int close_joined(struct cell_network_cell *c, struct login_cell *l, struct cell_diag *d)
{
	_cleanup_free_ char *record = NULL;
	_cleanup_strv_free_ char **limit_dirs = NULL;
	struct cell_counters counters = {0};
	struct cell_limits_usage usage = {0};
	char back[1024], shim_conf[128], name[sizeof(l->s.id) + 16];
	int r;

	snprintf(back, sizeof(back), "%s%s", l->root, l->s.cgroup);
	if (l->s.cgroup[0] != '/' || strstr(l->s.cgroup, "/..") ||
	    (join_cgroup(back, getpid()) < 0 && join_cgroup(l->root, getpid()) < 0))
		return cell_diag_set(d, -EPERM, back, NULL,
				     "cannot leave cell %s before closing it: closing would end "
				     "this process",
				     l->s.id);
	/* out of its limits' v1 directories too (a hybrid host), which go with the cell */
	snprintf(name, sizeof(name), "%u-%s", (unsigned)l->s.uid, l->s.id);
	if (in_v1_limits(name)) {
		r = cell_limits_load(CELL_LIMITS_DIR, name, &limit_dirs);
		if (r >= 0)
			r = cell_limits_v1_leave(limit_dirs, getpid());
		/* (nothing is ended yet: the cell stays as it is, for another close or gc --all,
		 * rather than closed around a process still held to its limits) */
		if (r < 0)
			return cell_diag_set(d, r, CELL_LIMITS_DIR, NULL,
					     "cannot leave cell %s's limits before closing it: %s",
					     l->s.id, strerror(-r));
	}
	if (l->s.proxy > 0 && l->s.proxy_start)
		stop_keeper(l->s.proxy, l->s.proxy_start, SIGTERM);
	for (int i = 0; i < 100; i++) {
		r = cell_session_reap(l->slice, l->s.uid, l->s.id, CELL_SESSION_KILL_ANY, &counters,
				      &usage);
		if (r != -EBUSY)
			break;
		usleep(20000);
	}
	if (r < 0 && r != -ENOENT)
		return cell_diag_set(d, r, NULL, NULL, "cannot close cell %s: %s", l->s.id,
				     strerror(-r));
	if (r == 0)
		r = ledger_line(&l->s, &counters, &usage, &record);
	if (r == 0)
		r = append_as(c->login->pw, l->s.ledger, record);
	cell_syscell_state_remove(CELL_SYSCELL_STATE_DIR, l->s.id);
	/* (named by the id: a resumed cell has no plan) */
	cell_plan_login_shim_conf(l->s.id, shim_conf, sizeof(shim_conf));
	unlink(shim_conf);
	if (r < 0)
		return cell_diag_set(d, r, l->s.ledger, NULL,
				     "the cell's record was not written: %s", strerror(-r));
	return 0;
}

static void login_release(struct cell_network_cell *c)
{
	struct login_cell *l = c->state;

	if (!l)
		return;
	/* (one not joined is closed: only a joined cell lives on without this process) */
	if (!l->joined)
		close_unjoined(l);
	free(l->slice);
	free(l);
	c->state = NULL;
}

static int login_close(struct cell_network_cell *c, int launch_r, struct cell_diag *d)
{
	struct login_cell *l = c->state;
	int r = 0;

	(void)launch_r;
	if (l && l->joined)
		r = close_joined(c, l, d);
	login_release(c);
	return r;
}

const struct cell_network cell_network_login = {
	.name = "login",
	.open = login_open,
	.join = login_join,
	.resume = login_resume,
	.release = login_release,
	.close = login_close,
};

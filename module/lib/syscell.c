/* SPDX-License-Identifier: MIT */
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
#include <sys/random.h>
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
#include "path.h"
#include "project.h"
#include "proxy.h"
#include "running.h"
#include "session.h"
#include "shimproto.h"
#include "stats.h"
#include "syscell.h"

int cell_syscell_args_parse(int argc, const char **argv, struct cell_syscell_args *ret,
			    struct cell_diag *diag)
{
	struct cell_syscell_args a = {.network = -1};

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (startswith(arg, "project=") && arg[8] == '/')
			a.project = arg + 8;
		else if (startswith(arg, "config=") && arg[7] == '/')
			a.config = arg + 7;
		else if (streq(arg, "network=proxy"))
			a.network = CELL_NET_PROXY;
		else if (streq(arg, "network=none"))
			a.network = CELL_NET_NONE;
		else if (streq(arg, "debug"))
			a.debug = true;
		else if (streq(arg, "require_login_shell"))
			a.require_login_shell = true;
		else
			return cell_diag_set(
				diag, -EINVAL, NULL, NULL,
				"unknown or bad argument '%s' (project=/DIR, "
				"config=/FILE, network=proxy|none, require_login_shell, "
				"debug)",
				arg);
	}
	if (!a.project)
		return cell_diag_set(diag, -EINVAL, NULL, NULL,
				     "project=/DIR is required (the directory the cell is for)");
	*ret = a;
	return 0;
}

bool cell_syscell_login_shell_ok(const char *shell)
{
	const char *base = shell ? strrchr(shell, '/') : NULL;
	struct stat st;

	return base && shell[0] == '/' && streq(base + 1, "cell-login-shell") &&
	       stat(shell, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

static char *state_path(const char *dir, const char *id)
{
	if (!cell_session_id_valid(id))
		return NULL;
	return cell_path_join(dir, id);
}

int cell_syscell_state_save(const char *dir, const struct cell_syscell_state *s)
{
	_cleanup_free_ char *path = state_path(dir, s->id);
	char text[2048];
	int n;

	if (!path)
		return -EINVAL;
	n = snprintf(text, sizeof(text),
		     "uid %u\nproxy %d %" PRIu64 "\nport %u\nstart %" PRId64
		     "\nproject %s\nname %s\ncgroup %s\nledger %s\n",
		     (unsigned)s->uid, (int)s->proxy, s->proxy_start, (unsigned)s->proxy_port,
		     s->start, s->project_id, s->name, s->cgroup, s->ledger);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -E2BIG;
	if (cell_mkdir_p(dir, 0700) < 0)
		return -errno;
	return cell_write_file_atomic(path, text, (size_t)n, 0600, false);
}

/* The rest of line after "key " into out (size), or -EBADMSG. */
static int field(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
		size_t n = strcspn(line, "\n");

		if (n > klen && !strncmp(line, key, klen) && line[klen] == ' ') {
			if (n - klen - 1 >= size)
				return -EBADMSG;
			memcpy(out, line + klen + 1, n - klen - 1);
			out[n - klen - 1] = '\0';
			return 0;
		}
	}
	return -EBADMSG;
}

int cell_syscell_state_load(const char *dir, const char *id, struct cell_syscell_state *ret)
{
	_cleanup_free_ char *path = state_path(dir, id), *text = NULL;
	struct cell_syscell_state s = {0};
	char num[64];
	unsigned uid, port;
	int proxy, r;

	if (!path)
		return -EINVAL;
	r = cell_read_file(path, O_NOFOLLOW, 4096, &text, NULL);
	if (r < 0)
		return r;
	snprintf(s.id, sizeof(s.id), "%s", id);
	if (field(text, "uid", num, sizeof(num)) < 0 || sscanf(num, "%u", &uid) != 1 ||
	    field(text, "proxy", num, sizeof(num)) < 0 ||
	    sscanf(num, "%d %" SCNu64, &proxy, &s.proxy_start) != 2 ||
	    field(text, "port", num, sizeof(num)) < 0 || sscanf(num, "%u", &port) != 1 ||
	    field(text, "start", num, sizeof(num)) < 0 || sscanf(num, "%" SCNd64, &s.start) != 1 ||
	    port > 65535 || field(text, "project", s.project_id, sizeof(s.project_id)) < 0 ||
	    field(text, "name", s.name, sizeof(s.name)) < 0 ||
	    field(text, "cgroup", s.cgroup, sizeof(s.cgroup)) < 0 ||
	    field(text, "ledger", s.ledger, sizeof(s.ledger)) < 0)
		return -EBADMSG;
	s.uid = (uid_t)uid;
	s.proxy = (pid_t)proxy;
	s.proxy_port = (uint16_t)port;
	*ret = s;
	return 0;
}

int cell_syscell_state_remove(const char *dir, const char *id)
{
	_cleanup_free_ char *path = state_path(dir, id);

	if (!path)
		return -EINVAL;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

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
	bool proxy; /* cell proxy --system, else sleep (network none: it only holds the lock) */
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

/*
 * The keeper of a system cell, in a forked child: drops to the account (with a group of its
 * own: keeper_gid) for good and execs a fresh program, so nothing of the caller's memory (sshd's
 * host keys, the authentication) is left in a process the account owns. It holds the cgroup
 * directory (and so its lock, shared with the descriptor root's session closed) for as long as
 * the cell is to live: cell proxy --system on the cell's listening socket (socket activation),
 * whose stdout is the readiness pipe that "listening on" goes to; or sleep, whose exec closes
 * the pipe. Nothing else of the caller's stays open. Never returns.
 */
static _noreturn_ void keeper(const struct passwd *pw, gid_t gid, int dir_fd, int listen_fd,
			      int ready_fd, const struct keeper_program *prog,
			      const struct cell_syscell_args *a, const char *cell)
{
	/* (the proxy serves the cell's processes only: --peer-cgroup) */
	char pid[32], *const proxy_argv[] = {(char *)"cell",
					     (char *)"proxy",
					     (char *)"--system",
					     (char *)a->project,
					     (char *)"--peer-cgroup",
					     (char *)cell,
					     a->config ? (char *)"--config" : NULL,
					     (char *)a->config,
					     NULL};
	char *const sleep_argv[] = {(char *)"sleep", (char *)"infinity", NULL};
	int prog_fd = fcntl(prog->fd, F_DUPFD_CLOEXEC, 100), program;
	sigset_t none;

	/* by way of high numbers: any of them may be where they go now */
	dir_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 100);
	ready_fd = fcntl(ready_fd, F_DUPFD_CLOEXEC, 100);
	if (prog->proxy)
		listen_fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 100);
	if (prog_fd < 0 || dir_fd < 0 || ready_fd < 0 || (prog->proxy && listen_fd < 0))
		_exit(127);
	detach();
	program = prog->proxy ? PROXY_PROGRAM : SLEEP_PROGRAM;
	if (prog->proxy ? dup2(listen_fd, PROXY_SOCKET) < 0 || dup2(dir_fd, PROXY_DIR) < 0 ||
				  dup2(ready_fd, STDOUT_FILENO) < 0
			: dup2(dir_fd, SLEEP_DIR) < 0 || dup3(ready_fd, SLEEP_READY, O_CLOEXEC) < 0)
		_exit(127);
	if (dup3(prog_fd, program, O_CLOEXEC) < 0)
		_exit(127);
	close_range(KEEPER_FDS, ~0U, 0);
	if (setsid() < 0 || become(pw->pw_uid, gid, NULL, 0) < 0)
		_exit(127);
	account_env(pw);
	if (prog->proxy) {
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pid, 1);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execveat(program, "", prog->proxy ? proxy_argv : sleep_argv, environ, AT_EMPTY_PATH);
	(void)!write(prog->proxy ? STDOUT_FILENO : SLEEP_READY, "x", 1);
	_exit(127);
}

static void keeper_program_close(struct keeper_program *k)
{
	closep(&k->fd);
}

/*
 * Opens what the keeper will exec, as root: the cell program (a->cell) for a proxy, else sleep;
 * a regular file of root's that no one else can write, in directories that are root's alone
 * (the account must not be able to put anything in its place).
 */
static int keeper_program(const struct cell_syscell_args *a, bool proxy, struct keeper_program *ret,
			  struct cell_diag *d)
{
	const char *path = proxy ? a->cell : "/bin/sleep";
	char real[PATH_MAX], bad[PATH_MAX];
	struct stat st;
	int fd;

	if (!path)
		return cell_diag_set(d, -ENOENT, NULL, NULL,
				     "no cell program for the cell's proxy (looked for it beside "
				     "pam_cell.so and in %s)",
				     CELL_BINDIR);
	if (!realpath(path, real))
		return cell_diag_set(d, -errno, path, NULL, "cannot find the keeper's program: %s",
				     strerror(errno));
	cell_path_dirname(real);
	if (!cell_root_owned_dirs(real, bad, sizeof(bad)))
		return cell_diag_set(d, -EPERM, path, NULL,
				     "the keeper's program is in '%s', which is not root's alone",
				     bad);
	fd = open(path, O_RDONLY | O_CLOEXEC);
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

/* Where a system cell's shim settings are: named by its id (nothing to keep in its state). */
static void shim_conf_path(const char *id, char *out, size_t size)
{
	snprintf(out, size, "%s/%s.conf", CELL_SYSCELL_SHIM_DIR, id);
}

/* The shim's settings for the session's processes: the proxy, and what a program started
 * with an environment of its own keeps (the proxy's variables, LD_PRELOAD, where these are). */
static int shim_conf(struct cell_syscell_state *s, const struct cell_config *c, const char *lib,
		     const struct passwd *pw)
{
	char preload[600], conf[600], *extra[] = {preload, conf, NULL}, text[4096];
	int r;

	shim_conf_path(s->id, s->shim_conf, sizeof(s->shim_conf));
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
	snprintf(conf, sizeof(conf), "%s=%s", CELL_SHIM_CONF_VAR, s->shim_conf);
	r = cell_shim_conf_for_proxy(s->proxy_port, c->network.local_ports,
				     c->network.n_local_ports, extra, text, sizeof(text));
	if (r >= 0 && cell_mkdir_p(CELL_SYSCELL_SHIM_DIR, 0755) < 0)
		r = -errno;
	/* the account's alone: another user's process must not learn a cell's proxy from it */
	if (r >= 0)
		r = cell_write_file_atomic(s->shim_conf, text, strlen(text), 0600, false);
	if (r >= 0 && chown(s->shim_conf, pw->pw_uid, pw->pw_gid) < 0) {
		r = -errno;
		unlink(s->shim_conf);
	}
	if (r < 0)
		s->shim_conf[0] = '\0';
	return r;
}

/* Moves pid into the cgroup at path (cgroup2). */
static int join(const char *path, pid_t pid)
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

/* The cgroup2 root: the slice's parent. */
static int cgroup_root(const char *slice, char *out, size_t size)
{
	const char *end = strrchr(slice, '/');

	if (!end || (size_t)(end - slice) >= size)
		return -EINVAL;
	memcpy(out, slice, (size_t)(end - slice));
	out[end - slice] = '\0';
	return 0;
}

int cell_syscell_open(const struct cell_syscell_args *a, const struct passwd *pw,
		      struct cell_syscell_state *ret, struct cell_diag *d)
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *slice = NULL, *desc = NULL;
	struct cell_config_env env = {.home = pw->pw_dir, .user = pw->pw_name};
	struct cell_syscell_state s = {.uid = pw->pw_uid, .start = time(NULL)};
	struct cell_policy policy = {0};
	struct cell_session *session = NULL;
	struct keeper_program prog _cleanup_(keeper_program_close) = {.fd = -1};
	_cleanup_close_ int listen_fd = -1;
	char root[512], cell[1024];
	gid_t kgid;
	int ready[2], mode, r;
	uint32_t rnd;
	pid_t pid;

	if (pw->pw_uid == 0)
		return cell_diag_set(d, -EPERM, NULL, NULL, "a cell is never root's: not for '%s'",
				     pw->pw_name);
	if (a->require_login_shell && !cell_syscell_login_shell_ok(pw->pw_shell))
		return cell_diag_set(d, -EPERM, NULL, NULL,
				     "%s's login shell is '%s', not cell-login-shell "
				     "(require_login_shell): the login would run outside the "
				     "filesystem cell",
				     pw->pw_name, pw->pw_shell);
	r = cell_project_open_system(a->project, a->config, &p, d);
	if (r < 0)
		return r;
	r = cell_project_load_config(p, NULL, &env, &c, d);
	if (r < 0)
		return r;
	mode = a->network >= 0 ? a->network : (int)c->network.mode;
	if (mode == CELL_NET_HOST)
		return cell_diag_set(d, -EPERM, p->config_path, "network.mode",
				     "\"host\" is not for a whole login: use proxy or none");
	r = cell_session_slice("/proc/self/mountinfo", &slice);
	if (r >= 0)
		r = cgroup_root(slice, root, sizeof(root));
	if (r >= 0)
		r = cell_session_self_cgroup(s.cgroup, sizeof(s.cgroup));
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot find the cgroup2 hierarchy: %s",
				     strerror(-r));
	/* a login from within a cell (su in one) must not leave it for a cell of its own */
	if (cell_session_path_in_cell(s.cgroup))
		return cell_diag_set(d, -EPERM, NULL, NULL,
				     "the caller is in a cell already (%s): no new cell from there",
				     s.cgroup);
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return cell_diag_set(d, -EIO, NULL, NULL, "no random numbers for the cell's id");
	snprintf(s.id, sizeof(s.id), "pam-%u-%08x", (unsigned)pw->pw_uid, rnd);
	snprintf(s.project_id, sizeof(s.project_id), "%s", p->id);
	snprintf(s.name, sizeof(s.name), "%s", c->name);
	if ((size_t)snprintf(s.ledger, sizeof(s.ledger), "%s/.local/state/cell/projects/%s/%s",
			     pw->pw_dir, p->id, "ledger.jsonl") >= sizeof(s.ledger))
		return cell_diag_set(d, -ENAMETOOLONG, pw->pw_dir, NULL, "home is too long");
	if (mode == CELL_NET_PROXY) {
		struct sockaddr_in sin;
		socklen_t len = sizeof(sin);

		r = cell_proxy_listen("127.0.0.1:0", &listen_fd, &desc);
		if (r >= 0 && getsockname(listen_fd, (struct sockaddr *)&sin, &len) < 0)
			r = -errno;
		if (r < 0)
			return cell_diag_set(d, r, NULL, NULL, "cannot make the proxy's socket: %s",
					     strerror(-r));
		s.proxy_port = ntohs(sin.sin_port);
	}
	r = keeper_gid(pw, &kgid, d);
	if (r >= 0)
		r = keeper_program(a, mode == CELL_NET_PROXY, &prog, d);
	if (r < 0)
		return r;
	if (pipe2(ready, O_CLOEXEC) < 0)
		return cell_diag_set(d, -errno, NULL, NULL, "cannot make a pipe: %s",
				     strerror(errno));
	r = cell_session_open(slice, pw->pw_uid, s.id, &policy, &session);
	if (r < 0) {
		_cleanup_free_ char *problem = r == -EPERM ? cell_bpf_pin_dir_problem() : NULL;

		close(ready[0]);
		close(ready[1]);
		return cell_diag_set(d, r, NULL, NULL, "cannot open the cell: %s",
				     problem ? problem : strerror(-r));
	}
	/* its proxy is this socket, not whatever listens on its port once the proxy is gone */
	if (listen_fd >= 0) {
		r = cell_session_own_socket(session, listen_fd);
		if (r < 0) {
			close(ready[0]);
			close(ready[1]);
			cell_session_close(session, NULL);
			return cell_diag_set(d, r, NULL, NULL,
					     "cannot make the proxy's socket the cell's: %s",
					     strerror(-r));
		}
	}
	snprintf(cell, sizeof(cell), "%s/%u-%s", slice, (unsigned)pw->pw_uid, s.id);
	pid = fork();
	if (pid == 0)
		keeper(pw, kgid, session->dir_fd, listen_fd, ready[1], &prog, a, cell);
	close(ready[1]);
	if (pid < 0 || !keeper_ready(ready[0], &prog, pid)) {
		r = pid < 0 ? -errno : -EIO;
		close(ready[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		cell_session_close(session, NULL);
		return cell_diag_set(d, r, s.ledger, NULL,
				     "the cell's keeper (its proxy, as %s) did not start: is the "
				     "account's home writable?",
				     pw->pw_name);
	}
	close(ready[0]);
	s.proxy = pid;
	s.proxy_start = cell_process_start(pid);
	/* (without it the session still works: clients that ignore the proxy are refused) */
	if (mode == CELL_NET_PROXY && a->shim)
		(void)shim_conf(&s, c, a->shim, pw);
	if (r >= 0)
		r = cell_syscell_state_save(CELL_SYSCELL_STATE_DIR, &s);
	if (r >= 0)
		r = join(cell, getpid());
	if (r < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		cell_syscell_state_remove(CELL_SYSCELL_STATE_DIR, s.id);
		if (s.shim_conf[0])
			unlink(s.shim_conf);
		cell_session_close(session, NULL);
		return cell_diag_set(d, r, NULL, NULL, "cannot put the session in its cell: %s",
				     strerror(-r));
	}
	/* the keeper holds the lock now; root's copy goes */
	cell_session_free(session);
	*ret = s;
	return 0;
}

/* Stops the keeper pid if it is still the one started at start: TERM, then KILL after 5 s; by
 * pidfd, so that a pid used again by then is never signalled. */
static void stop_keeper(pid_t pid, uint64_t start)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = {fd, POLLIN, 0};

	if (fd < 0)
		return;
	if (cell_process_start(pid) == start &&
	    syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0) == 0 && poll(&p, 1, 5000) != 1) {
		syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
		poll(&p, 1, 5000);
	}
	close(fd);
	/* (a child of this process's: reaped) */
	waitpid(pid, NULL, WNOHANG);
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
static int ledger_line(const struct cell_syscell_state *s, const char *id,
		       const struct cell_counters *counters, char **ret)
{
	_cleanup_free_ char *kernel = NULL;
	struct cell_stats st = {0};
	int r = cell_session_record(id, -1, counters, &kernel);

	if (r >= 0)
		r = cell_stats_merge_kernel(&st, kernel, strlen(kernel));
	if (r >= 0)
		r = cell_stats_record(&st, "cell", s->project_id, s->name, s->start, time(NULL),
				      ret);
	cell_stats_done(&st);
	return r;
}

/* The slice's path in the cgroup2 hierarchy ("/cell.slice"), as /proc/PID/cgroup names it. */
static int slice_in_hierarchy(char *out, size_t size)
{
	_cleanup_free_ char *slice = NULL;
	char root[512];
	int r = cell_session_slice("/proc/self/mountinfo", &slice);

	if (r >= 0)
		r = cgroup_root(slice, root, sizeof(root));
	if (r < 0)
		return r;
	return snprintf(out, size, "%s", slice + strlen(root)) < (int)size ? 0 : -ENAMETOOLONG;
}

int cell_syscell_find(uid_t uid, char *id, size_t size)
{
	char path[512], slice[256];
	int r = cell_session_self_cgroup(path, sizeof(path));

	if (r >= 0)
		r = slice_in_hierarchy(slice, sizeof(slice));
	return r < 0 ? r : cell_session_cell_of(path, slice, uid, id, size);
}

int cell_syscell_close(const char *id, const struct passwd *pw, struct cell_diag *d)
{
	_cleanup_free_ char *slice = NULL, *record = NULL;
	struct cell_syscell_state s;
	struct cell_counters counters = {0};
	char root[512], back[1024];
	int r;

	r = cell_syscell_state_load(CELL_SYSCELL_STATE_DIR, id, &s);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return cell_diag_set(d, r, CELL_SYSCELL_STATE_DIR, NULL, "%s: unreadable state",
				     id);
	if (s.uid != pw->pw_uid)
		return cell_diag_set(d, -EPERM, NULL, NULL, "cell %s is not %s's", id, pw->pw_name);
	r = cell_session_slice("/proc/self/mountinfo", &slice);
	if (r >= 0)
		r = cgroup_root(slice, root, sizeof(root));
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot find the cgroup2 hierarchy: %s",
				     strerror(-r));
	/* out of the cell first: closing it ends everything in it */
	snprintf(back, sizeof(back), "%s%s", root, s.cgroup);
	if (s.cgroup[0] != '/' || strstr(s.cgroup, "/..") ||
	    (join(back, getpid()) < 0 && join(root, getpid()) < 0))
		return cell_diag_set(d, -EPERM, back, NULL,
				     "cannot leave cell %s before closing it: closing would end "
				     "this process",
				     id);
	if (s.proxy > 0 && s.proxy_start)
		stop_keeper(s.proxy, s.proxy_start);
	for (int i = 0; i < 100; i++) {
		r = cell_session_reap(slice, s.uid, id, CELL_SESSION_KILL_ANY, &counters);
		if (r != -EBUSY)
			break;
		usleep(20000);
	}
	if (r < 0 && r != -ENOENT)
		return cell_diag_set(d, r, NULL, NULL, "cannot close cell %s: %s", id,
				     strerror(-r));
	if (r == 0)
		r = ledger_line(&s, id, &counters, &record);
	if (r == 0)
		r = append_as(pw, s.ledger, record);
	cell_syscell_state_remove(CELL_SYSCELL_STATE_DIR, id);
	shim_conf_path(id, s.shim_conf, sizeof(s.shim_conf));
	unlink(s.shim_conf);
	if (r < 0)
		return cell_diag_set(d, r, s.ledger, NULL, "the cell's record was not written: %s",
				     strerror(-r));
	return 0;
}

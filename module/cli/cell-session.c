/* SPDX-License-Identifier: MIT */
/*
 * cell-session: the only program of cell that holds privilege (docs/design.md §3). Installed setuid
 * root, or run by root. It trusts nothing it is given: no environment, no user file; every
 * argument is checked; the caller can open, and reap, cells under its own uid only. It serves
 * a closed table of requests:
 *
 *   cell-session open --id ID --status-fd FD [--proxy-fd FD] [--local-port P]... [--quiet]
 *                [--memory BYTES] [--pids N] [--cpu MILLI] -- BWRAP [ARGS...]
 *       opens cell ID, with the proxy's listening socket (TCP at 127.0.0.1) on --proxy-fd
 *       as the one socket outside the cell its processes may connect to besides the listed
 *       local ports (not the socket's port: whoever listens there once the proxy is gone is
 *       not the cell's proxy), runs BWRAP ARGS in it as the caller (privilege dropped for good,
 *       no_new_privs), and waits, writing each denial the kernel reports for the cell to FD
 *       (a pipe or socket: never the terminal) as {"event":HEX}, the raw event (denial.h),
 *       while the caller reads; then closes the cell and writes its counters as one line of
 *       JSON to FD (with what its limits saw: memory_peak, oom_kills, pids_refused).
 *       --memory, --pids and --cpu (thousandths of a CPU) are the cell's limits (limit.h):
 *       in its cgroup2 directory, or in v1 directories nested below the caller's own (so no
 *       limit set above the caller is escaped); exit 6 if this host has no controller for one.
 *       Exits with the cell's status.
 *       A caller with CELL_SESSION_QUOTA cells already (open, or closed with a record not yet
 *       collected) is refused (exit 5). If no one reads FD when the cell ends (its caller is
 *       gone), the cell is closed all the same and its record kept for reap.
 *   cell-session reap --id ID --status-fd FD
 *       closes cell ID if its keeper is gone (exit 3: it is alive; 4: there is no such cell)
 *       and writes its counters to FD; for a cell closed with no one to read it, its record.
 *       A cell that holds another user's process is not the caller's to end (exit 1).
 *   cell-session reap --all --status-fd FD   (root only)
 *       closes every user's cells whose keeper is gone (their records kept for their owners'
 *       reap) and writes a line {"uid":U,"id":ID} for each to FD.
 *   cell-session join --id ID -- PROGRAM [ARGS...]
 *       moves itself into the caller's open cell ID (one a session keeps), drops privilege for
 *       good (no_new_privs) and runs PROGRAM as the caller (cell-init --join: a new member of
 *       a project session, which enters the cell's namespaces itself). Exit 4: no such open
 *       cell.
 *   cell-session list --status-fd FD
 *       writes a line of JSON for each of the caller's cells to FD: its id, its counters
 *       and what its limits saw so far.
 *
 * A caller that is in a cell itself (a login's cell: pam_cell.so) gets list only; open, join
 * and reap are refused (exit 1), so a cell cannot open a sibling with a policy of its choosing,
 * or move into one.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf.h"
#include "denial.h"
#include "fileio.h"
#include "macro.h"
#include "process.h"
#include "session.h"

enum {
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_ALIVE = 3,
	EXIT_NO_CELL = 4,
	EXIT_QUOTA = 5,
	EXIT_NO_LIMITS = 6,
	EXIT_EXEC = 127,
};

#ifndef CELL_BWRAP
#define CELL_BWRAP "/usr/bin/bwrap"
#endif

/* The only programs a cell may be built by. */
static const char *const trusted_bwrap[] = {CELL_BWRAP, "/usr/bin/bwrap", "/usr/local/bin/bwrap"};

struct caller {
	uid_t uid;
	gid_t gid;
	struct rlimit fsize; /* its RLIMIT_FSIZE, which we lift for ourselves */
	gid_t groups[NGROUPS_MAX];
	int n_groups;
};

struct request {
	const char *id;
	bool all; /* reap --all */
	int status_fd;
	int proxy_fd; /* the proxy's listening socket, or -1 */
	struct cell_policy policy;
	struct cell_limits limits;
	char **argv; /* bwrap and its arguments */
};

static _printf_(1, 2) void say(const char *fmt, ...)
{
	va_list ap;

	fputs("cell-session: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int port_arg(const char *s, __u16 *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -EINVAL;
	*ret = (__u16)v;
	return 0;
}

/* A whole number in [min, max], digits only. */
static int number_arg(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* open's limits (the config's own bounds; a CPU quota below 1 ms a period the kernel refuses) */
struct limit_option {
	int opt;
	const char *name;
	uint64_t min, max;
	const char *what;
};

static const struct limit_option *limit_option(int opt)
{
	static const struct limit_option options[] = {
		{'m', "memory", 1 << 20, UINT64_MAX, "bytes, at least 1048576"},
		{'n', "pids", 1, 4194304, "processes, 1-4194304"},
		{'c', "cpu", 10, 1024000, "thousandths of a CPU, 10-1024000"},
	};

	for (size_t i = 0; i < ELEMENTSOF(options); i++)
		if (options[i].opt == opt)
			return &options[i];
	return NULL;
}

/* A descriptor we may write counters to: open for writing, and a pipe or a socket. */
static int status_fd_arg(const char *s, int *ret)
{
	char *end;
	long v;
	struct stat st;
	int fl;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || !*s || v < 1 || v > 1024)
		return -EINVAL;
	if (fstat((int)v, &st) < 0 || (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)))
		return -EBADF;
	fl = fcntl((int)v, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	/* only we write to it: bwrap and the cell must not inherit it */
	if (fcntl((int)v, F_SETFD, FD_CLOEXEC) < 0)
		return -EBADF;
	*ret = (int)v;
	return 0;
}

/* The proxy's listening socket (cell_session_proxy_socket_ok), kept from bwrap and the cell. */
static int proxy_fd_arg(const char *s, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || !*s || v < 3 || v > 1024)
		return -EINVAL;
	if (!cell_session_proxy_socket_ok((int)v) || fcntl((int)v, F_SETFD, FD_CLOEXEC) < 0)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

/* bwrap from the trusted list, owned by root and writable by no one else. */
static bool bwrap_trusted(const char *path)
{
	struct stat st;

	for (size_t i = 0; i < ELEMENTSOF(trusted_bwrap); i++)
		if (streq(path, trusted_bwrap[i]))
			return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
			       !(st.st_mode & (S_IWGRP | S_IWOTH));
	return false;
}

static int parse(int argc, char *argv[], const char *verb, struct request *q)
{
	static const struct option options[] = {
		{"id", required_argument, NULL, 'i'},
		{"status-fd", required_argument, NULL, 's'},
		{"proxy-fd", required_argument, NULL, 'p'},
		{"local-port", required_argument, NULL, 'l'},
		{"quiet", no_argument, NULL, 'q'},
		{"all", no_argument, NULL, 'a'},
		{"memory", required_argument, NULL, 'm'},
		{"pids", required_argument, NULL, 'n'},
		{"cpu", required_argument, NULL, 'c'},
		{0},
	};
	uint64_t v;
	bool open_verb = streq(verb, "open");
	int opt;

	q->status_fd = -1;
	q->proxy_fd = -1;
	opterr = 0;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "+", options, NULL)) >= 0) {
		if (opt == 'i' && cell_session_id_valid(optarg)) {
			q->id = optarg;
		} else if (opt == 'i') {
			say("'%s' is not a cell id (1-%d of A-Z a-z 0-9 _ -)", optarg,
			    CELL_SESSION_ID_MAX);
			return -EINVAL;
		} else if (opt == 's') {
			if (status_fd_arg(optarg, &q->status_fd) < 0) {
				say("--status-fd '%s' is not an open pipe or socket", optarg);
				return -EINVAL;
			}
		} else if (open_verb && opt == 'p') {
			if (proxy_fd_arg(optarg, &q->proxy_fd) < 0) {
				say("--proxy-fd '%s' is not a TCP socket listening at 127.0.0.1 "
				    "(bound to no device, no SO_REUSEPORT)",
				    optarg);
				return -EINVAL;
			}
		} else if (open_verb && opt == 'l') {
			if (q->policy.n_local_ports >= CELL_LOCAL_PORTS_MAX ||
			    port_arg(optarg, &q->policy.local_ports[q->policy.n_local_ports]) < 0) {
				say("'%s' is not a port (1-65535), or too many (at most %d)",
				    optarg, CELL_LOCAL_PORTS_MAX);
				return -EINVAL;
			}
			q->policy.n_local_ports++;
		} else if (open_verb && (opt == 'm' || opt == 'n' || opt == 'c')) {
			const struct limit_option *o = limit_option(opt);

			if (number_arg(optarg, o->min, o->max, &v) < 0) {
				say("--%s '%s' is not a limit (%s)", o->name, optarg, o->what);
				return -EINVAL;
			}
			if (opt == 'm')
				q->limits.memory = v;
			else if (opt == 'n')
				q->limits.pids = (uint32_t)v;
			else
				q->limits.cpu = (uint32_t)v;
		} else if (open_verb && opt == 'q') {
			q->policy.flags |= CELL_POLICY_QUIET;
		} else if (streq(verb, "reap") && opt == 'a') {
			q->all = true;
		} else {
			say("%s: unknown or misplaced option '%s'", verb, argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (q->proxy_fd >= 0 && q->proxy_fd == q->status_fd) {
		say("--proxy-fd and --status-fd are one descriptor");
		return -EINVAL;
	}
	if (streq(verb, "join")) {
		if (!q->id || q->status_fd >= 0 || optind >= argc || argv[optind][0] != '/') {
			say("join needs --id and, after it, a program by its absolute path");
			return -EINVAL;
		}
		q->argv = argv + optind;
		return 0;
	}
	if (q->status_fd < 0 || (!q->id && !q->all && !streq(verb, "list")) || (q->all && q->id)) {
		say("%s needs --status-fd%s", verb,
		    streq(verb, "list") ? "" : " and --id (reap: or --all, not both)");
		return -EINVAL;
	}
	if (!open_verb) {
		if (optind < argc) {
			say("%s: unexpected argument '%s'", verb, argv[optind]);
			return -EINVAL;
		}
		return 0;
	}
	if (optind >= argc || !bwrap_trusted(argv[optind])) {
		say("open: '%s' is not a trusted bubblewrap", optind < argc ? argv[optind] : "");
		return -EINVAL;
	}
	q->argv = argv + optind;
	return 0;
}

/* In the child: for good, become the caller; no way back, and no new privileges by exec. */
static int drop_privilege(const struct caller *c)
{
	/* the caller's own limit on the size of files again (the cell's files are the caller's) */
	if (setrlimit(RLIMIT_FSIZE, &c->fsize) < 0)
		return -EPERM;
	signal(SIGXFSZ, SIG_DFL);
	if (setgroups((size_t)c->n_groups, c->groups) < 0 ||
	    setresgid(c->gid, c->gid, c->gid) < 0 || setresuid(c->uid, c->uid, c->uid) < 0)
		return -EPERM;
	if (c->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0 || geteuid() != c->uid))
		return -EPERM;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -EPERM;
	return 0;
}

static int write_line(int fd, const char *line)
{
	int r = cell_write_all(fd, line, strlen(line));

	return r < 0 ? r : cell_write_all(fd, "\n", 1);
}

/* The reading end of a pipe is closed: poll() says POLLERR for its writing end (pipe(7)). */
static bool caller_gone(int fd)
{
	struct pollfd pfd = {fd, POLLOUT, 0};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP));
}

/*
 * Hands a denial to the caller as it came (denial.h: decoding and formatting it is the user's
 * work); a caller that does not read (stopped, or gone) misses it.
 */
static int forward_denial(const struct cell_event *e, void *data)
{
	const struct request *q = data;
	struct pollfd pfd = {q->status_fd, POLLOUT, 0};
	char line[CELL_EVENT_LINE_MAX + 1];
	size_t n;

	if (cell_event_encode(e, line, sizeof(line) - 1) < 0)
		return 0;
	n = strlen(line);
	line[n++] = '\n';
	if (poll(&pfd, 1, 0) == 1 && pfd.revents == POLLOUT)
		(void)!cell_write_all(q->status_fd, line, n);
	return 0;
}

/* Waits for the cell's first process, forwarding denials until it is gone. */
static int wait_forwarding(struct cell_session *s, pid_t pid, int pidfd, const struct request *q,
			   int *ret_status)
{
	for (;;) {
		struct pollfd pfd[2] = {{pidfd, POLLIN, 0}, {cell_session_events_fd(s), POLLIN, 0}};

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			cell_session_events(s, forward_denial, (void *)q);
		if (pfd[0].revents)
			break;
	}
	while (waitpid(pid, ret_status, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	cell_session_events(s, forward_denial, (void *)q);
	return 0;
}

static int run_open(const struct caller *c, const char *slice, const struct request *q)
{
	struct cell_session *s = NULL;
	struct cell_counters counters = {0};
	struct cell_limits_usage usage = {0};
	_cleanup_free_ char *record = NULL;
	char *const no_env[] = {NULL};
	int status, r;
	_cleanup_close_ int pidfd = -1;
	pid_t pid;

	r = cell_session_open(slice, c->uid, q->id, &q->policy, &q->limits, &s);
	if (r == -EDQUOT) {
		say("refused: you have %d cells already, the most one user may have (the kernel's "
		    "tables are every user's); end some, or run 'cell gc'",
		    CELL_SESSION_QUOTA);
		return EXIT_QUOTA;
	}
	if (r == -EOPNOTSUPP) {
		say("cannot hold cell '%s' to its limits: this host has no cgroup controller for "
		    "%s",
		    q->id,
		    "one of them (memory, pids, cpu: neither in cell.slice's cgroup2 "
		    "cgroup.controllers nor as a mounted v1 hierarchy)");
		return EXIT_NO_LIMITS;
	}
	if (r == -EPROTONOSUPPORT) {
		say("the BPF programs attached are a newer cell's (version %u; this cell-session is "
		    "version %u): use that cell's cell-session",
		    (unsigned)cell_bpf_attached_version(), (unsigned)CELL_BPF_VERSION);
		return EXIT_FAIL;
	}
	if (r < 0) {
		_cleanup_free_ char *problem = r == -EPERM ? cell_bpf_pin_dir_problem() : NULL;

		if (problem)
			say("cannot open cell '%s': %s", q->id, problem);
		else
			say("cannot open cell '%s' in '%s': %s", q->id, slice, strerror(-r));
		return EXIT_FAIL;
	}
	if (q->proxy_fd >= 0) {
		r = cell_session_own_socket(s, q->proxy_fd);
		/* (the cell needs it no more: the mark goes with the socket, which the caller has)
		 */
		close(q->proxy_fd);
		if (r < 0) {
			say("cannot make the proxy's socket the cell's: %s",
			    r == -EEXIST ? "it is a cell's already" : strerror(-r));
			cell_session_close(s, NULL, NULL);
			return EXIT_FAIL;
		}
	}
	pid = cell_session_fork(s, &pidfd);
	if (pid == 0) {
		/* the cell's environment comes in bwrap's arguments (--args): we pass none */
		if (cell_session_limit_self(s) < 0) {
			say("cannot move into cell '%s''s limits", q->id);
			_exit(EXIT_EXEC);
		}
		if (drop_privilege(c) < 0) {
			say("cannot become uid %u for good", (unsigned)c->uid);
			_exit(EXIT_EXEC);
		}
		execve(q->argv[0], q->argv, no_env);
		say("cannot run '%s': %s", q->argv[0], strerror(errno));
		_exit(EXIT_EXEC);
	}
	if (pid < 0) {
		say("cannot fork into the cell's cgroup: %s", strerror(-pid));
		cell_session_close(s, NULL, NULL);
		return EXIT_FAIL;
	}
	if (wait_forwarding(s, pid, pidfd, q, &status) < 0)
		return EXIT_FAIL;
	/* closed whether or not anyone reads: a cell left open holds entries of the kernel's
	 * tables, which are every user's */
	r = cell_session_close(s, &counters, &usage);
	if (r < 0)
		say("cannot close cell '%s': %s", q->id, strerror(-r));
	else if (cell_session_record(q->id, cell_exit_code(status), &counters, &usage, &record) >=
		 0) {
		/* no one reads (the caller is gone): the record waits for the caller's reap */
		if (caller_gone(q->status_fd) || write_line(q->status_fd, record) < 0)
			(void)cell_session_spool(c->uid, q->id, record);
	}
	return cell_exit_code(status);
}

/*
 * join: the caller's program becomes a member of its open cell ID (a project session's: docs/
 * design.md §3). Into the cell's cgroup, privilege dropped for good, no_new_privs; the rest (the
 * cell's namespaces, its seccomp filter) is the program's, as the caller.
 */
static int run_join(const struct caller *c, const char *slice, const struct request *q)
{
	char *const no_env[] = {NULL};
	int r = cell_session_join(slice, c->uid, q->id);

	if (r == -ENOENT || r == -ESTALE) {
		say("join: you have no open cell '%s'%s", q->id,
		    r == -ESTALE ? " (it is closing)" : "");
		return EXIT_NO_CELL;
	}
	if (r < 0) {
		say("join: cannot move into cell '%s': %s", q->id, strerror(-r));
		return EXIT_FAIL;
	}
	if (drop_privilege(c) < 0) {
		say("cannot become uid %u for good", (unsigned)c->uid);
		return EXIT_EXEC;
	}
	/* the signals the cell's own get (we ignored them until now) */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	execve(q->argv[0], q->argv, no_env);
	say("cannot run '%s': %s", q->argv[0], strerror(errno));
	return EXIT_EXEC;
}

static void say_reaped(uid_t uid, const char *id, void *data)
{
	char line[128];

	snprintf(line, sizeof(line), "{\"uid\":%u,\"id\":\"%s\"}", (unsigned)uid, id);
	(void)!write_line(*(const int *)data, line);
}

/* reap --all: root's sweep of every user's dead cells. */
static int run_reap_all(const struct caller *c, const char *slice, const struct request *q)
{
	if (c->uid != 0) {
		say("reap --all: only root reaps other users' cells");
		return EXIT_FAIL;
	}
	if (cell_session_reap_all(slice, say_reaped, (void *)&q->status_fd) < 0) {
		say("reap --all: some records could not be kept in " CELL_SESSION_SPOOL_DIR);
		return EXIT_FAIL;
	}
	return 0;
}

static int run_reap(const struct caller *c, const char *slice, const struct request *q)
{
	struct cell_counters counters = {0};
	struct cell_limits_usage usage = {0};
	_cleanup_free_ char *record = NULL;
	int r;

	if (q->all)
		return run_reap_all(c, slice, q);
	r = cell_session_reap(slice, c->uid, q->id, 0, &counters, &usage);
	if (r == -EBUSY)
		return EXIT_ALIVE;
	/* closed already, with no one to read it then: its record was kept */
	if (r == -ENOENT && cell_session_unspool(c->uid, q->id, &record) >= 0)
		return write_line(q->status_fd, record) < 0 ? EXIT_FAIL : 0;
	if (r == -ENOENT)
		return EXIT_NO_CELL;
	if (r == -EPERM) {
		say("cell '%s' holds processes of another user: not yours to end", q->id);
		return EXIT_FAIL;
	}
	if (r < 0) {
		say("cannot reap cell '%s': %s", q->id, strerror(-r));
		return EXIT_FAIL;
	}
	if (cell_session_record(q->id, -1, &counters, &usage, &record) < 0 ||
	    write_line(q->status_fd, record) < 0)
		return EXIT_FAIL;
	return 0;
}

struct listing {
	const char *slice;
	uid_t uid;
	int fd;
};

static int list_one(const char *id, void *data)
{
	const struct listing *l = data;
	struct cell_counters counters = {0};
	struct cell_limits_usage usage = {0};
	_cleanup_free_ char *record = NULL;

	(void)cell_session_usage(l->slice, l->uid, id, &usage);
	if (cell_session_counters(l->slice, l->uid, id, &counters) < 0 ||
	    cell_session_record(id, -1, &counters, &usage, &record) < 0)
		return 0; /* closed meanwhile */
	return write_line(l->fd, record) < 0 ? -EIO : 0;
}

int main(int argc, char *argv[])
{
	static const int ignored[] = {SIGINT,  SIGQUIT, SIGHUP,	 SIGTERM,
				      SIGUSR1, SIGUSR2, SIGPIPE, SIGXFSZ};
	const struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
	_cleanup_free_ char *slice = NULL;
	struct request q = {0};
	struct caller c;
	const char *verb;
	int r;

	/* nothing from the caller's environment is used; the dynamic loader (AT_SECURE) already
	 * ignored LD_* and its other unsafe variables */
	clearenv();
	umask(022);
	/* the cell's signals go to the cell; the cell ending ends us */
	for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
		signal(ignored[i], SIG_IGN);
	c.uid = getuid();
	c.gid = getgid();
	c.n_groups = getgroups(NGROUPS_MAX, c.groups);
	/* a file size limit of the caller's must not cut us short between two steps (SIGXFSZ is
	 * ignored above: a write past it fails, and what was done is undone); lifted where we may
	 * (CAP_SYS_RESOURCE: a container may not have it) */
	if (getrlimit(RLIMIT_FSIZE, &c.fsize) < 0)
		c.n_groups = -1;
	else if (setrlimit(RLIMIT_FSIZE, &unlimited) < 0)
		(void)setrlimit(RLIMIT_FSIZE, &(struct rlimit){c.fsize.rlim_max, c.fsize.rlim_max});
	if (geteuid() != 0 || c.n_groups < 0) {
		say("needs root: install it setuid root (make install SETUID=1), or run as root");
		return EXIT_FAIL;
	}
	verb = argc > 1 ? argv[1] : "";
	if (!streq(verb, "open") && !streq(verb, "reap") && !streq(verb, "list") &&
	    !streq(verb, "join")) {
		say("usage: cell-session open|join|reap|list ... (see cell-session.c)");
		return EXIT_USAGE;
	}
	if (parse(argc, argv, verb, &q) < 0)
		return EXIT_USAGE;
	/* a cell (a login's, whose processes have no no_new_privs) opens no other cell and reaps
	 * none: each would be a way out of its own policy */
	if (!streq(verb, "list")) {
		r = cell_session_self_in_cell();
		if (r != 0) {
			if (r > 0)
				say("%s: refused inside a cell: cells are opened and closed from "
				    "outside",
				    verb);
			else
				say("cannot tell which cgroup the caller is in: %s", strerror(-r));
			return EXIT_FAIL;
		}
	}
	r = cell_session_slice("/proc/self/mountinfo", &slice);
	if (r < 0) {
		say("no cgroup2 hierarchy is mounted: %s", strerror(-r));
		return EXIT_FAIL;
	}
	if (streq(verb, "open"))
		return run_open(&c, slice, &q);
	if (streq(verb, "reap"))
		return run_reap(&c, slice, &q);
	if (streq(verb, "join"))
		return run_join(&c, slice, &q);
	return cell_session_list(slice, c.uid, list_one,
				 &(struct listing){slice, c.uid, q.status_fd}) < 0
		       ? EXIT_FAIL
		       : 0;
}

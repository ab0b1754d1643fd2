/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bwrap.h"
#include "fdpass.h"
#include "fileio.h"
#include "hash.h"
#include "instance.h"
#include "keeper.h"
#include "log.h"
#include "macro.h"
#include "path.h"
#include "xdg.h"

/* How long an opened session waits for its first member (its opener died before joining). */
#define FIRST_MEMBER_MS 30000
/* How long the session's cell-init has to end when told to, before it is killed. */
#define INIT_STOP_MS 5000
/* How long cell status and cell gc wait for a keeper's answer. */
#define STATUS_TIMEOUT_MS 2000
/* The longest message either side sends. */
#define MSG_MAX 512

/* epoll's tags for the keeper's own descriptors (members are tagged by their descriptor) */
enum { TAG_LISTEN = -1, TAG_TIMER = -2 };

/* A network mode as the keeper names it (cell_net_mode_to_string). */
static enum cell_net_mode mode_of(const char *s)
{
	return streq(s, "proxy")  ? CELL_NET_PROXY
	       : streq(s, "host") ? CELL_NET_HOST
				  : CELL_NET_NONE;
}

/* A proxy cell's isolation as the keeper names it (cell_isolation_to_string): bpf or netns, or
 * for any other cell "-" (CELL_ISOLATION_AUTO: no isolation of a proxy's); -1 for anything else.
 */
static int isolation_of(const char *s)
{
	return streq(s, "bpf")	   ? CELL_ISOLATION_BPF
	       : streq(s, "netns") ? CELL_ISOLATION_NETNS
	       : streq(s, "-")	   ? CELL_ISOLATION_AUTO
				   : -1;
}

/* What the keeper says of a cell's isolation. */
static const char *isolation_word(const struct cell_plan *plan)
{
	return plan->net_mode == CELL_NET_PROXY ? cell_isolation_to_string(plan->isolation) : "-";
}

/* A project's file in the sessions directory: its socket or its lock. */
static void file_of(const char *project_id, const char *suffix, char out[256])
{
	snprintf(out, 256, "%s.%s", project_id, suffix);
}

int cell_keeper_dir(const char *state_home, int *ret_fd)
{
	_cleanup_free_ char *dir = cell_path_join(state_home, "sessions");
	struct stat st;
	int fd, r;

	if (!dir)
		return -ENOMEM;
	r = cell_mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0077)) {
		close(fd);
		return -EPERM;
	}
	*ret_fd = fd;
	return 0;
}

/* The socket's address through the directory's descriptor: short whatever the home's path. */
static int address(int dir_fd, const char *project_id, struct sockaddr_un *ret)
{
	int n;

	*ret = (struct sockaddr_un){.sun_family = AF_UNIX};
	n = snprintf(ret->sun_path, sizeof(ret->sun_path), "/proc/self/fd/%d/%s.sock", dir_fd,
		     project_id);
	return n < 0 || (size_t)n >= sizeof(ret->sun_path) ? -ENAMETOOLONG : 0;
}

int cell_keeper_connect(int dir_fd, const char *project_id, int *ret_fd)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un a;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int r = address(dir_fd, project_id, &a);

	if (r < 0)
		return r;
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return negative_errno();
	/* the keeper is ours: whoever else listens there is not asked anything */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid())
		return -EPERM;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cell_keeper_lock(int dir_fd, const char *project_id, int *ret_fd)
{
	char name[256];
	_cleanup_close_ int fd = -1;

	file_of(project_id, "lock", name);
	fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return negative_errno();
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return negative_errno();
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int send_msg(int fd, const char *text)
{
	return cell_fdpass_send(fd, text, NULL, 0);
}

/* Receives one message, with the two descriptors of a grant if ret_fds. */
static ssize_t recv_msg(int fd, char *buf, size_t size, int ret_fds[2])
{
	return cell_fdpass_recv(fd, buf, size, ret_fds, ret_fds ? 2 : 0);
}

/* A word for the protocol: no spaces, no controls, at most size - 1 bytes. */
static void word(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; s && *s && n + 1 < size; s++)
		out[n++] = (unsigned char)*s <= ' ' || *s == 0x7f ? '_' : *s;
	if (n == 0)
		out[n++] = '-';
	out[n] = '\0';
}

int cell_keeper_join(int fd, const char *hash, const char *tty, const char *what,
		     struct cell_keeper_grant *ret, char *other)
{
	char msg[MSG_MAX], t[32], w[96], id[CELL_SESSION_ID_MAX + 1], mode[16], isolation[8],
		held[8];
	_cleanup_close_ int pidfd = -1, seccomp = -1;
	int fds[2], r;
	unsigned port;
	ssize_t n;

	word(tty, t, sizeof(t));
	word(what, w, sizeof(w));
	snprintf(msg, sizeof(msg), "join %s %s %s", hash, t, w);
	r = send_msg(fd, msg);
	/* (a keeper gone, or closing with us in its backlog: a new session is the answer) */
	if (r == -EPIPE || r == -ECONNRESET)
		return -ESTALE;
	if (r < 0)
		return r;
	n = recv_msg(fd, msg, sizeof(msg), fds);
	pidfd = fds[0];
	seccomp = fds[1];
	/* the keeper closed: the session is ending */
	if (n <= 0)
		return n == 0 || n == -ECONNRESET ? -ESTALE : (int)n;
	if (startswith(msg, "config ")) {
		snprintf(other, CELL_SHA256_HEX_LEN + 1, "%.64s", msg + 7);
		return -EXDEV;
	}
	if (sscanf(msg, "ok %48s %15s %u %7s %7s", id, mode, &port, isolation, held) != 5 ||
	    pidfd < 0 || seccomp < 0 || port > 65535 || !cell_session_id_valid(id) ||
	    /* (only a proxy cell is ever held: cell-session opens nothing else) */
	    !(streq(held, "-") || (streq(held, "held") && streq(mode, "proxy"))))
		return streq(msg, "closing") ? -ESTALE : -EPROTO;
	*ret = (struct cell_keeper_grant){.proxy_port = (uint16_t)port,
					  .init_pidfd = TAKE_FD(pidfd),
					  .seccomp_fd = TAKE_FD(seccomp)};
	snprintf(ret->id, sizeof(ret->id), "%s", id);
	ret->mode = mode_of(mode);
	ret->held = streq(held, "held");
	/* (a proxy cell's members join it one way or the other: nothing is guessed; a BPF cell is
	 * always cell-session's) */
	if (isolation_of(isolation) < 0 ||
	    (ret->mode == CELL_NET_PROXY && isolation_of(isolation) == CELL_ISOLATION_AUTO) ||
	    (isolation_of(isolation) == CELL_ISOLATION_BPF && !ret->held))
		return -EPROTO;
	ret->isolation = (enum cell_isolation)isolation_of(isolation);
	return 0;
}

int cell_keeper_status(int fd, struct cell_keeper_info *ret)
{
	/* a keeper busy closing (it may be waiting for the project's lock, which our caller may
	 * hold: cell gc) is not waited for */
	struct timeval timeout = {.tv_sec = STATUS_TIMEOUT_MS / 1000};
	char msg[MSG_MAX], mode[16], isolation[8];
	unsigned port;
	long long start;
	int keeper;
	int r = send_msg(fd, "status");
	ssize_t n;

	if (r < 0)
		return r;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0)
		return negative_errno();
	*ret = (struct cell_keeper_info){0};
	n = recv_msg(fd, msg, sizeof(msg), NULL);
	if (n <= 0 || sscanf(msg, "session %48s %127s %15s %u %lld %d %7s", ret->id, ret->project,
			     mode, &port, &start, &keeper, isolation) != 7)
		return n < 0 ? (int)n : -EPROTO;
	ret->mode = mode_of(mode);
	if (isolation_of(isolation) < 0)
		return -EPROTO;
	ret->isolation = (enum cell_isolation)isolation_of(isolation);
	ret->proxy_port = (uint16_t)port;
	ret->start = start;
	ret->keeper = keeper;
	while ((n = recv_msg(fd, msg, sizeof(msg), NULL)) > 0 && !streq(msg, "end")) {
		struct cell_keeper_member *m = &ret->members[ret->n_members];
		long long since;
		unsigned host, cell;
		int pid;

		if (ret->n_forward < CELL_FORWARDS_MAX &&
		    sscanf(msg, "forward %5u %5u", &host, &cell) == 2 && host && host <= 65535 &&
		    cell && cell <= 65535) {
			ret->forward[ret->n_forward++] =
				(struct cell_forward){(uint16_t)host, (uint16_t)cell};
			continue;
		}
		if (ret->n_members == CELL_KEEPER_MEMBERS_MAX ||
		    sscanf(msg, "member %d %lld %31s %95s", &pid, &since, m->tty, m->what) != 4)
			continue;
		m->pid = pid;
		m->since = since;
		ret->n_members++;
	}
	return n < 0 ? (int)n : 0;
}

void cell_keeper_leave(int fd, int timeout_ms)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	char msg[MSG_MAX];

	if (send_msg(fd, "leave") < 0)
		return;
	/* "closed", or the end of the connection: either way the keeper is done with us */
	while (poll(&pfd, 1, timeout_ms) < 0 && errno == EINTR)
		;
	if (pfd.revents)
		(void)recv_msg(fd, msg, sizeof(msg), NULL);
}

/* The keeper's side. */

struct member {
	int fd;
	bool joined;
	bool leaving; /* waits for the session's end */
	struct cell_keeper_member info;
};

struct keeper {
	const struct cell_project *project;
	struct cell_instance *inst;
	const char *hash;
	int dir_fd;
	int epoll_fd;
	int listen_fd;
	int timer_fd;
	int ready_fd; /* the opener's pipe, until the cell is up */
	int init_pidfd;
	int seccomp_fd; /* the cell's seccomp program, compiled once for every member */
	ino_t socket_ino;
	int64_t start;
	bool ever_joined;
	bool closing;
	size_t n;
	struct member members[CELL_KEEPER_MEMBERS_MAX + 4]; /* (and a few asking for status) */
};

static int watch_fd(struct keeper *k, int fd, int tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = tag};

	return epoll_ctl(k->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? negative_errno() : 0;
}

static size_t joined(const struct keeper *k)
{
	size_t n = 0;

	for (size_t i = 0; i < k->n; i++)
		n += k->members[i].joined;
	return n;
}

/*
 * No one is left: stop listening first (a command that comes now opens a new session, never
 * this one), under the project's lock and only if the socket there is still ours, then end the
 * cell: its cell-init exits, and the kernel ends the rest of it.
 */
static void begin_close(struct keeper *k)
{
	char name[256];
	struct stat st;
	int lock = -1;

	if (k->closing)
		return;
	k->closing = true;
	cell_log(CELL_LOG_DEBUG, "session of %s: no member left, closing", k->project->id);
	file_of(k->project->id, "sock", name);
	/* (before the cell is up, our opener holds the lock, waiting for us: it connects to no
	 * one meanwhile) */
	if (k->ready_fd < 0)
		(void)cell_keeper_lock(k->dir_fd, k->project->id, &lock);
	if (k->listen_fd >= 0 && fstatat(k->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_ino == k->socket_ino)
		unlinkat(k->dir_fd, name, 0);
	if (k->listen_fd >= 0)
		close(k->listen_fd);
	k->listen_fd = -1;
	if (lock >= 0)
		close(lock);
	if (k->init_pidfd >= 0)
		syscall(SYS_pidfd_send_signal, k->init_pidfd, SIGTERM, NULL, 0);
	/* a cell-init that does not end by then (stopped: nothing in the cell may trace it, but
	 * should it) is killed, and the kernel ends the cell with it */
	if (k->timer_fd >= 0)
		timerfd_settime(k->timer_fd, 0,
				&(struct itimerspec){.it_value = {INIT_STOP_MS / 1000, 0}}, NULL);
}

static void drop_member(struct keeper *k, size_t i)
{
	close(k->members[i].fd);
	k->members[i] = k->members[--k->n];
	if (k->ever_joined && joined(k) == 0)
		begin_close(k);
}

static void send_status(struct keeper *k, int fd)
{
	const char *mode = cell_net_mode_to_string(k->inst->plan->net_mode);
	char msg[MSG_MAX];

	snprintf(msg, sizeof(msg), "session %s %s %s %u %lld %d %s", k->inst->id, k->project->id,
		 mode, (unsigned)k->inst->cell.proxy_port, (long long)k->start, (int)getpid(),
		 isolation_word(k->inst->plan));
	(void)send_msg(fd, msg);
	for (size_t i = 0; i < k->n; i++) {
		const struct cell_keeper_member *m = &k->members[i].info;

		if (!k->members[i].joined)
			continue;
		snprintf(msg, sizeof(msg), "member %d %lld %s %s", (int)m->pid, (long long)m->since,
			 m->tty, m->what);
		(void)send_msg(fd, msg);
	}
	for (size_t i = 0;
	     cell_bwrap_netns_proxy(k->inst->plan) && i < k->inst->cell.config->network.n_forward;
	     i++) {
		const struct cell_forward *f = &k->inst->cell.config->network.forward[i];

		snprintf(msg, sizeof(msg), "forward %u %u", (unsigned)f->host_port,
			 (unsigned)f->cell_port);
		(void)send_msg(fd, msg);
	}
	(void)send_msg(fd, "end");
}

static void member_message(struct keeper *k, size_t i)
{
	struct member *m = &k->members[i];
	char msg[MSG_MAX], hash[CELL_SHA256_HEX_LEN + 1], reply[MSG_MAX];
	ssize_t n = recv_msg(m->fd, msg, sizeof(msg), NULL);

	if (n <= 0) {
		drop_member(k, i);
		return;
	}
	if (streq(msg, "status")) {
		send_status(k, m->fd);
		return;
	}
	/* the member's command has ended: the last one is told when the session is closed (its
	 * record in the ledger), the others at once */
	if (streq(msg, "leave") && m->joined) {
		m->joined = false;
		if (joined(k) > 0) {
			drop_member(k, i);
			return;
		}
		begin_close(k);
		/* a proxy cell's record (the proxy's counts, the kernel's) is waited for; any other
		 * cell keeps none: it is enough that no command joins this session any more */
		if (k->inst->plan->net_mode == CELL_NET_PROXY)
			m->leaving = true;
		else
			(void)send_msg(m->fd, "left");
		return;
	}
	if (m->joined || sscanf(msg, "join %64s %31s %95s", hash, m->info.tty, m->info.what) != 3) {
		drop_member(k, i);
		return;
	}
	if (k->closing) {
		(void)send_msg(m->fd, "closing");
		return;
	}
	if (!streq(hash, k->hash)) {
		snprintf(reply, sizeof(reply), "config %s", k->hash);
		(void)send_msg(m->fd, reply);
		return;
	}
	snprintf(reply, sizeof(reply), "ok %s %s %u %s %s", k->inst->id,
		 cell_net_mode_to_string(k->inst->plan->net_mode),
		 (unsigned)k->inst->cell.proxy_port, isolation_word(k->inst->plan),
		 k->inst->plan->held ? "held" : "-");
	if (cell_fdpass_send(m->fd, reply, (int[]){k->init_pidfd, k->seccomp_fd}, 2) < 0) {
		drop_member(k, i);
		return;
	}
	m->joined = true;
	m->info.since = time(NULL);
	k->ever_joined = true;
}

static void accept_member(struct keeper *k)
{
	int fd = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (fd < 0)
		return;
	/* another user's process is no member of ours; past the most, none is taken */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid() ||
	    k->n == ELEMENTSOF(k->members) || watch_fd(k, fd, fd) < 0) {
		close(fd);
		return;
	}
	k->members[k->n++] = (struct member){.fd = fd, .info = {.pid = cred.pid}};
}

static void on_ready(void *data)
{
	struct keeper *k = data;
	struct epoll_event ev[16];
	int n = epoll_wait(k->epoll_fd, ev, ELEMENTSOF(ev), 0);

	for (int e = 0; e < n; e++) {
		int tag = ev[e].data.fd;

		if (tag == TAG_LISTEN && k->listen_fd >= 0) {
			accept_member(k);
		} else if (tag == TAG_TIMER) {
			uint64_t ticks;

			(void)!read(k->timer_fd, &ticks, sizeof(ticks));
			if (k->closing)
				syscall(SYS_pidfd_send_signal, k->init_pidfd, SIGKILL, NULL, 0);
			else if (!k->ever_joined)
				begin_close(k);
		} else {
			for (size_t i = 0; i < k->n; i++)
				if (k->members[i].fd == tag) {
					member_message(k, i);
					break;
				}
		}
	}
}

/* Listens at the project's socket (a stale one, its keeper gone, is replaced). */
static int listen_at(struct keeper *k)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	char name[256];
	struct sockaddr_un a;
	struct stat st;
	int r = address(k->dir_fd, k->project->id, &a);

	if (r < 0)
		return r;
	if (fd < 0)
		return negative_errno();
	file_of(k->project->id, "sock", name);
	if (unlinkat(k->dir_fd, name, 0) < 0 && errno != ENOENT)
		return negative_errno();
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0)
		return negative_errno();
	if (fstatat(k->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return negative_errno();
	k->socket_ino = st.st_ino;
	r = watch_fd(k, fd, TAG_LISTEN);
	if (r < 0)
		return r;
	k->listen_fd = TAKE_FD(fd);
	return 0;
}

/* The cell's init is up: members may come, and the opener is told. */
static void up(pid_t init, int seccomp_fd, void *data)
{
	struct keeper *k = data;
	struct itimerspec first = {.it_value = {FIRST_MEMBER_MS / 1000, 0}};
	int r;

	k->init_pidfd = (int)syscall(SYS_pidfd_open, init, 0);
	r = k->init_pidfd < 0 ? negative_errno() : 0;
	if (r >= 0) {
		k->seccomp_fd = fcntl(seccomp_fd, F_DUPFD_CLOEXEC, 3);
		r = k->seccomp_fd < 0 ? negative_errno() : 0;
	}
	if (r >= 0)
		r = listen_at(k);
	if (r >= 0) {
		k->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (k->timer_fd < 0 || timerfd_settime(k->timer_fd, 0, &first, NULL) < 0 ||
		    watch_fd(k, k->timer_fd, TAG_TIMER) < 0)
			r = -EIO;
	}
	if (r < 0) {
		fprintf(stderr, "cell: the session cannot take members: %s\n", strerror(-r));
		begin_close(k);
		return;
	}
	(void)!write(k->ready_fd, "1", 1);
	close(k->ready_fd);
	k->ready_fd = -1;
}

/* The session's own directories in the project's state (its runtime and leave directories). */
static void remove_session_dirs(const struct cell_instance *inst)
{
	static const char *const kinds[] = {"run", "leave"};

	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		_cleanup_free_ char *dir = NULL;
		_cleanup_close_ int fd = -1;

		if (asprintf(&dir, "%s/projects/%s/%s", inst->host.state_home,
			     inst->cell.project->id, kinds[i]) < 0)
			continue;
		fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			(void)cell_remove_tree_at(fd, inst->id);
	}
}

/* What the opener is told when the session could not start. */
static char failure_byte(int r, const struct cell_instance *inst)
{
	if (inst && inst->plan_failed && r != -ENOMEM)
		return 'C';
	return r == -ECHILD ? 'X' : 'F';
}

/* The keeper, in its own process: the session from open to close. Returns the exit code. */
static int keep(const struct cell_project *p, const struct cell_config *c, const char *hash,
		int dir_fd, int ready_fd, int log_fd)
{
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_instance *inst = NULL;
	struct keeper keeper, *k = &keeper;
	/* (the opener has just run the project's provider: its cache is what the cell gets) */
	struct cell_instance_args a = {
		.cwd = p->root, .interactive = true, .session = true, .provider_cached = true};
	int pipefd[2] = {-1, -1}, status = 0, sig = 0, r;
	char failed;

	*k = (struct keeper){.project = p,
			     .hash = hash,
			     .listen_fd = -1,
			     .timer_fd = -1,
			     .ready_fd = ready_fd,
			     .init_pidfd = -1,
			     .dir_fd = dir_fd,
			     .start = time(NULL)};
	k->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (k->epoll_fd < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		fprintf(stderr, "cell: cannot keep a session: %s\n", strerror(errno));
		(void)!write(ready_fd, "F", 1);
		return 1;
	}
	r = cell_instance_open(p, c, &a, &inst, &d);
	/* the cell gets the log as its stderr, never the opener's terminal (its PID 1 lives as
	 * long as the session, the terminal's shell back at its prompt): what bubblewrap says if it
	 * cannot build the cell, our opener shows from the log */
	if (r >= 0 && dup2(log_fd, STDERR_FILENO) < 0)
		r = negative_errno();
	if (r >= 0) {
		k->inst = inst;
		inst->watch = &(struct cell_launch_watch){.up = up,
							  .fd = k->epoll_fd,
							  .on_ready = on_ready,
							  .keeper_fd = pipefd[0],
							  .data = k};
		r = cell_instance_run(inst, &status, &sig, &d);
		close(pipefd[0]);
	}
	if (r < 0 && d.message)
		cell_diag_print(stderr, &d);
	failed = failure_byte(r, inst);
	if (!k->closing)
		begin_close(k);
	if (inst && inst->id)
		remove_session_dirs(inst);
	cell_instance_close(inst);
	/* a session that never started is told once its cell is closed: the opener's command
	 * ends with nothing of the cell left */
	if (k->ready_fd >= 0)
		(void)!write(k->ready_fd, &failed, 1);
	for (size_t i = 0; i < k->n; i++) {
		if (k->members[i].leaving)
			(void)send_msg(k->members[i].fd, "closed");
		close(k->members[i].fd);
	}
	close(pipefd[1]);
	return r < 0 ? 1 : 0;
}

/* The session log's start (what a keeper that could not open the cell wrote), made safe. */
static void show_log(int log_fd)
{
	char buf[4096];
	ssize_t n = pread(log_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = buf, *end; line && *line; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (end)
			*end = '\0';
		cell_diag_put_safe(stderr, line);
		fputc('\n', stderr);
	}
}

int cell_keeper_start(const struct cell_project *p, const struct cell_config *c, const char *hash,
		      int dir_fd)
{
	_cleanup_free_ char *log = NULL;
	_cleanup_close_ int log_fd = -1;
	int pipefd[2], status;
	char byte = 0;
	pid_t pid;
	int r;

	r = cell_project_state_file(p->id, "session.log", &log);
	if (r >= 0)
		r = cell_mkdir_parent(log, 0700);
	if (r < 0)
		return r;
	log_fd = open(log, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return negative_errno();
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		close(pipefd[0]);
		/* the keeper is no one's: no terminal, and its opener's end is not its own */
		if (null < 0 || setsid() < 0 || dup2(null, STDIN_FILENO) < 0 ||
		    dup2(null, STDOUT_FILENO) < 0)
			_exit(1);
		pid = fork();
		if (pid != 0)
			_exit(pid < 0);
		/* nothing of the opener's but these (its lock on the project is not ours) */
		if (dup2(dir_fd, 3) < 0 || dup2(pipefd[1], 4) < 0 || dup2(log_fd, 5) < 0)
			_exit(1);
		close_range(6, ~0U, 0);
		(void)prctl(PR_SET_NAME, "cell-keeper", 0, 0, 0);
		_exit(keep(p, c, hash, 3, 4, 5));
	}
	close(pipefd[1]);
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	while (pid > 0 && read(pipefd[0], &byte, 1) < 0 && errno == EINTR)
		;
	close(pipefd[0]);
	if (pid < 0)
		return -errno;
	if (byte == '1')
		return 0;
	if (byte == 'C')
		return -EINVAL;
	/* what bubblewrap (or the keeper) said, into the log: ours to show */
	show_log(log_fd);
	return byte == 'X' ? -ECHILD : -EIO;
}

/* Removes what is in dir_fd/kind but keep (a session's id, or NULL); how many went. */
static unsigned remove_leftovers(int proj_fd, const char *kind, const char *keep)
{
	_cleanup_close_ int fd =
		openat(proj_fd, kind, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	unsigned n = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d)
		return 0;
	fd = -1; /* the stream's */
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.' || (keep && streq(e->d_name, keep)) ||
		    !cell_session_id_valid(e->d_name))
			continue;
		n += cell_remove_tree_at(dirfd(d), e->d_name) >= 0;
	}
	closedir(d);
	return n;
}

unsigned cell_keeper_gc(const char *state_home)
{
	_cleanup_free_ char *projects = cell_path_join(state_home, "projects");
	_cleanup_close_ int dir_fd = -1, projects_fd = -1;
	unsigned n = 0;
	DIR *d;

	if (!projects || cell_keeper_dir(state_home, &dir_fd) < 0)
		return 0;
	projects_fd = open(projects, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = projects_fd >= 0 ? fdopendir(projects_fd) : NULL;
	if (!d)
		return 0;
	projects_fd = -1;
	for (struct dirent *e; (e = readdir(d));) {
		_cleanup_close_ int lock = -1, conn = -1, proj_fd = -1;
		struct cell_keeper_info info;
		const char *keep = NULL;
		char sock[256];
		unsigned removed;

		if (e->d_name[0] == '.' || strlen(e->d_name) > 200 ||
		    cell_keeper_lock(dir_fd, e->d_name, &lock) < 0)
			continue;
		if (cell_keeper_connect(dir_fd, e->d_name, &conn) >= 0 &&
		    cell_keeper_status(conn, &info) >= 0)
			keep = info.id;
		else if (conn < 0) {
			file_of(e->d_name, "sock", sock);
			(void)unlinkat(dir_fd, sock, 0);
		} else
			continue; /* a keeper that does not answer: left as it is */
		proj_fd =
			openat(dirfd(d), e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (proj_fd < 0)
			continue;
		removed = remove_leftovers(proj_fd, "run", keep) +
			  remove_leftovers(proj_fd, "leave", keep);
		n += removed > 0;
	}
	closedir(d);
	return n;
}

/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <linux/sched.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bpf.h"
#include "cgroup.h"
#include "counters.h"
#include "fileio.h"
#include "limit.h"
#include "log.h"
#include "macro.h"
#include "path.h"
#include "session.h"
#include "strv.h"

/* How long close waits for a killed cell's processes to be gone. */
#define EMPTY_WAIT_MS 5000

bool cell_session_id_valid(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= CELL_SESSION_ID_MAX && id[0] != '-' &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int cell_session_slice(const char *mountinfo, char **ret)
{
	_cleanup_free_ char *cg2 = NULL;
	bool hybrid;
	int r;

	r = cell_cgroup_find(mountinfo, &cg2, &hybrid);
	if (r < 0)
		return r;
	*ret = cell_path_join(cg2, CELL_SESSION_SLICE);
	return *ret ? 0 : -ENOMEM;
}

int cell_session_cgroup_of(const char *proc_cgroup, char *path, size_t path_size)
{
	for (const char *line = proc_cgroup; line && *line;
	     line = strchr(line, '\n'), line += !!line) {
		size_t n = strcspn(line, "\n");

		if (n > 3 && !strncmp(line, "0::", 3)) {
			if (n - 3 >= path_size)
				return -ENAMETOOLONG;
			memcpy(path, line + 3, n - 3);
			path[n - 3] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

int cell_session_cell_of(const char *cgroup_path, const char *slice, uid_t uid, char *id,
			 size_t id_size)
{
	const char *at = cgroup_path;
	char prefix[32];
	size_t n;

	/* the real slice only: a cgroup of the user's own (systemd's user@ subtree) may be named
	 * cell.slice as well */
	if (strncmp(at, slice, strlen(slice)) || at[strlen(slice)] != '/')
		return -ENOENT;
	at += strlen(slice) + 1;
	snprintf(prefix, sizeof(prefix), "%u-", (unsigned)uid);
	if (strncmp(at, prefix, strlen(prefix)))
		return -ENOENT;
	at += strlen(prefix);
	n = strcspn(at, "/");
	if (n == 0 || n >= id_size)
		return -ENOENT;
	memcpy(id, at, n);
	id[n] = '\0';
	return cell_session_id_valid(id) ? 0 : -ENOENT;
}

bool cell_session_path_in_cell(const char *cgroup_path)
{
	static const char slice[] = "/" CELL_SESSION_SLICE "/";

	return strncmp(cgroup_path, slice, strlen(slice)) == 0;
}

int cell_session_self_cgroup(char *path, size_t path_size)
{
	_cleanup_free_ char *text = NULL;
	int r = cell_read_file("/proc/self/cgroup", 0, 65536, &text, NULL);

	return r < 0 ? r : cell_session_cgroup_of(text, path, path_size);
}

int cell_session_self_in_cell(void)
{
	char path[PATH_MAX];
	int r = cell_session_self_cgroup(path, sizeof(path));

	return r < 0 ? r : cell_session_path_in_cell(path);
}

static char *cell_name(uid_t uid, const char *id)
{
	char *name;

	if (asprintf(&name, "%u-%s", (unsigned)uid, id) < 0)
		return NULL;
	return name;
}

/* uid's cell id: its name ("<uid>-<id>") and its directory in slice (-EINVAL: not an id). */
static int cell_dir(const char *slice, uid_t uid, const char *id, char **ret_name, char **ret_path)
{
	if (!cell_session_id_valid(id))
		return -EINVAL;
	*ret_name = cell_name(uid, id);
	*ret_path = *ret_name ? cell_path_join(slice, *ret_name) : NULL;
	return *ret_path ? 0 : -ENOMEM;
}

void cell_session_free(struct cell_session *s)
{
	if (!s)
		return;
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	cell_bpf_ring_free(s->ring);
	cell_strv_free(s->limit_dirs);
	free(s->path);
	free(s);
}

static void session_freep(struct cell_session **s)
{
	cell_session_free(*s);
}

/* Opens and locks the cell's cgroup directory (-EBUSY: someone keeps it). */
static int session_get(const char *slice, uid_t uid, const char *id, struct cell_session **ret)
{
	struct cell_session *s = calloc(1, sizeof(*s));
	char *name = cell_name(uid, id);
	int r = -ENOMEM;

	if (!s || !name)
		goto out;
	s->dir_fd = -1;
	s->owner = uid;
	s->path = cell_path_join(slice, name);
	if (!s->path)
		goto out;
	s->dir_fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (s->dir_fd < 0) {
		r = negative_errno();
		goto out;
	}
	if (flock(s->dir_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : negative_errno();
		goto out;
	}
	r = cell_bpf_cgroup_id(s->path, &s->cgroup);
	if (r >= 0) {
		*ret = s;
		s = NULL;
	}
out:
	cell_session_free(s);
	free(name);
	return r;
}

/* The entries of dir named "<uid>-<valid id>", counted. */
static unsigned count_named(const char *dir, uid_t uid)
{
	DIR *d = opendir(dir);
	char prefix[24];
	unsigned n = 0;

	if (!d)
		return 0;
	snprintf(prefix, sizeof(prefix), "%u-", (unsigned)uid);
	for (struct dirent *e; (e = readdir(d));)
		n += startswith(e->d_name, prefix) &&
		     cell_session_id_valid(e->d_name + strlen(prefix));
	closedir(d);
	return n;
}

/*
 * Makes uid's cell directory at path (root's, 0700: no one else can open, and so lock, it)
 * unless uid is at its quota. The count and the mkdir are under the slice's lock, so that two
 * opens at once cannot both take the last place.
 */
static int make_cell_dir(const char *slice, uid_t uid, const char *path)
{
	_cleanup_close_ int lock = open(slice, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (lock < 0)
		return negative_errno();
	while (flock(lock, LOCK_EX) < 0)
		if (errno != EINTR)
			return negative_errno();
	if (count_named(slice, uid) + count_named(CELL_SESSION_SPOOL_DIR, uid) >=
	    CELL_SESSION_QUOTA)
		return -EDQUOT;
	return mkdir(path, 0700) < 0 ? negative_errno() : 0;
}

/*
 * The cell's limits: in its own cgroup2 directory where the slice has the controllers, else in
 * the v1 hierarchies (their directories recorded for whoever closes the cell).
 */
static int limit(struct cell_session *s, const char *slice, const char *name,
		 const struct cell_limits *l)
{
	_cleanup_close_ int slice_fd = open(slice, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *proc_cgroup = NULL;
	int r;

	if (slice_fd < 0)
		return negative_errno();
	r = cell_limits_v2_apply(slice_fd, s->dir_fd, l);
	if (r != -EOPNOTSUPP)
		return r;
	r = cell_read_file("/proc/self/cgroup", 0, 65536, &proc_cgroup, NULL);
	if (r < 0)
		return r;
	r = cell_limits_v1_plan("/proc/self/mountinfo", proc_cgroup, name, l, &s->limit_dirs);
	if (r < 0)
		return r;
	/* recorded before they are made: a session cut short at any point leaves its reap all it
	 * needs to remove them */
	r = cell_limits_save(CELL_LIMITS_DIR, name, s->limit_dirs);
	if (r >= 0)
		r = cell_limits_v1_make(s->limit_dirs, l);
	if (r < 0)
		(void)cell_limits_forget(CELL_LIMITS_DIR, name);
	return r;
}

int cell_session_open(const char *slice, uid_t uid, const char *id, const struct cell_policy *p,
		      const struct cell_limits *l, struct cell_session **ret)
{
	_cleanup_(session_freep) struct cell_session *s = NULL;
	_cleanup_free_ char *name = NULL, *path = NULL;
	int r;

	r = cell_dir(slice, uid, id, &name, &path);
	if (r < 0)
		return r;
	r = cell_bpf_setup(slice);
	if (r < 0)
		return r;
	r = make_cell_dir(slice, uid, path);
	if (r < 0)
		return r;
	r = session_get(slice, uid, id, &s);
	if (r >= 0) {
		r = cell_bpf_ring_open(s->cgroup, &s->ring);
		/* with every slot taken, the cell runs without a live log of its denials */
		if (r == -ENOSPC)
			r = 0;
	}
	if (r >= 0 && l && cell_limits_any(l))
		r = limit(s, slice, name, l);
	if (r >= 0)
		r = cell_bpf_policy_set(s->cgroup, p);
	if (r < 0) {
		if (s && s->ring)
			cell_bpf_ring_release(s->cgroup);
		if (s && s->limit_dirs) {
			(void)cell_limits_v1_remove(s->limit_dirs);
			(void)cell_limits_forget(CELL_LIMITS_DIR, name);
		}
		rmdir(path);
		return r;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

bool cell_session_proxy_socket_ok(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int domain = 0, type = 0, protocol = 0, listening = 0, reuseport = 0, device = 0;
	socklen_t n = sizeof(int);
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &n) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &n) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &n) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuseport, &n) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &device, &n) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return false;
	/* a reuseport group could hand the cell's connections to a sibling's socket; one bound to
	 * a device is not what the cell's lookup finds */
	return domain == AF_INET && type == SOCK_STREAM && protocol == IPPROTO_TCP && listening &&
	       !reuseport && !device && len == sizeof(a) &&
	       a.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && a.sin_port;
}

int cell_session_own_socket(const struct cell_session *s, int fd)
{
	return cell_bpf_own_socket(s->cgroup, fd);
}

int cell_session_events_fd(const struct cell_session *s)
{
	return s->ring ? cell_bpf_ring_fd(s->ring) : -EBADF;
}

int cell_session_events(struct cell_session *s, int (*fn)(const struct cell_event *e, void *data),
			void *data)
{
	return s->ring ? cell_bpf_ring_drain(s->ring, fn, data) : 0;
}

int cell_session_limit_self(const struct cell_session *s)
{
	return cell_limits_v1_join(s->limit_dirs, 0);
}

pid_t cell_session_fork(const struct cell_session *s, int *ret_pidfd)
{
	struct clone_args args = {
		.flags = CLONE_INTO_CGROUP | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)ret_pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)s->dir_fd,
	};
	pid_t parent = getpid();
	long pid = syscall(SYS_clone3, &args, sizeof(args));

	/* Should cell-session die before the child's exec, the cell's reap must be able to end
	 * it: the child lets go of the cell's locked directory at once (else the cell is "alive"
	 * to the reap), and dies with its parent while it is root (a process not the user's in the
	 * cell makes the reap refuse; dropping privilege clears the signal) */
	if (pid == 0) {
		close(s->dir_fd);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
			_exit(127);
	}
	return pid < 0 ? negative_errno() : (pid_t)pid;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool populated(int events_fd)
{
	char buf[256];
	ssize_t n = pread(events_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	return !strstr(buf, "populated 0");
}

/* Whether every id (real, effective, saved, file system) on a "Uid:" or "Gid:" line of
 * /proc/PID/status is uid. */
static bool status_ids_are(const char *status, const char *field, unsigned uid)
{
	const char *line = strstr(status, field);
	unsigned ids[4];

	return line &&
	       sscanf(line + strlen(field), "%u %u %u %u", &ids[0], &ids[1], &ids[2], &ids[3]) ==
		       4 &&
	       ids[0] == uid && ids[1] == uid && ids[2] == uid && ids[3] == uid;
}

/*
 * Whether a process not wholly uid's is in the cgroup at dir_fd or below it (a login's cell
 * holds root's sshd or su process; the owner must not be able to end those).
 */
static bool foreign_processes(int dir_fd, uid_t uid)
{
	_cleanup_free_ char *procs = NULL;
	_cleanup_close_ int fd = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	bool foreign = false;
	DIR *d;

	if (fd < 0 || cell_read_full_fd(fd, 1 << 20, &procs, NULL) < 0)
		return true; /* unknown: as good as foreign */
	for (char *p = procs; *p && !foreign; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
		_cleanup_free_ char *status = NULL;
		char path[64];

		snprintf(path, sizeof(path), "/proc/%ld/status", strtol(p, NULL, 10));
		/* a process gone meanwhile is no one's */
		if (cell_read_file(path, 0, 65536, &status, NULL) < 0)
			continue;
		foreign = !status_ids_are(status, "\nUid:", (unsigned)uid);
	}
	d = fdopendir(fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
	for (struct dirent *e; d && !foreign && (e = readdir(d));) {
		_cleanup_close_ int sub = -1;

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		foreign = sub < 0 || foreign_processes(sub, uid);
	}
	if (d)
		closedir(d);
	return foreign;
}

/*
 * Kills whatever is still in the cell (cgroup.kill, Linux 5.14) and waits until it is empty;
 * -EPERM, killing nothing, if a process in it is not the owner's and not kill_any.
 */
static int empty(const struct cell_session *s, bool kill_any)
{
	_cleanup_close_ int events = openat(s->dir_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int kill_fd = -1;
	int64_t deadline = now_ms() + EMPTY_WAIT_MS;

	if (events < 0)
		return negative_errno();
	if (!populated(events))
		return 0;
	if (!kill_any && foreign_processes(s->dir_fd, s->owner))
		return -EPERM;
	kill_fd = openat(s->dir_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
	if (kill_fd < 0 || cell_write_all(kill_fd, "1", 1) < 0)
		return kill_fd < 0 ? negative_errno() : -EIO;
	/* cgroup.events signals a change of "populated" as POLLPRI (cgroup-v2.rst) */
	while (populated(events)) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = {events, POLLPRI, 0};

		if (left <= 0)
			return -EBUSY;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return negative_errno();
	}
	return 0;
}

/*
 * What the cell's limits saw, and their v1 directories removed (they are empty: their processes
 * are the cell's, gone).
 */
static int unlimit(struct cell_session *s, struct cell_limits_usage *ret)
{
	const char *name = strrchr(s->path, '/') + 1; /* "<uid>-<id>" */
	_cleanup_strv_free_ char **loaded = NULL;
	char *const *dirs = s->limit_dirs;
	struct cell_limits_usage usage = {0};
	int r;

	/* a cell reaped by another process: its directories are in the record */
	if (!dirs && cell_limits_load(CELL_LIMITS_DIR, name, &loaded) >= 0)
		dirs = loaded;
	cell_limits_usage(s->dir_fd, dirs, &usage);
	if (ret)
		*ret = usage;
	if (!dirs)
		return 0;
	r = cell_limits_v1_remove(dirs);
	return r < 0 ? r : cell_limits_forget(CELL_LIMITS_DIR, name);
}

/* cell_session_close, and with kill_any whoever is in the cell. */
static int close_cell(struct cell_session *s, bool kill_any, struct cell_counters *ret,
		      struct cell_limits_usage *ret_usage)
{
	_cleanup_(session_freep) struct cell_session *owned = s;
	int r;

	r = empty(s, kill_any);
	if (r < 0)
		return r;
	if (ret) {
		r = cell_bpf_counters(s->cgroup, ret);
		if (r < 0)
			return r;
	}
	r = unlimit(s, ret_usage);
	if (r < 0)
		return r;
	r = cell_bpf_policy_delete(s->cgroup);
	if (r < 0 && r != -ENOENT)
		return r;
	r = cell_bpf_counters_delete(s->cgroup);
	if (r < 0 && r != -ENOENT)
		return r;
	r = cell_bpf_ring_release(s->cgroup);
	if (r < 0 && r != -ENOENT)
		return r;
	if (rmdir(s->path) < 0)
		return negative_errno();
	return 0;
}

int cell_session_close(struct cell_session *s, struct cell_counters *ret,
		       struct cell_limits_usage *ret_usage)
{
	return close_cell(s, false, ret, ret_usage);
}

int cell_session_reap(const char *slice, uid_t uid, const char *id, unsigned flags,
		      struct cell_counters *ret, struct cell_limits_usage *ret_usage)
{
	struct cell_session *s = NULL;
	int r;

	if (!cell_session_id_valid(id))
		return -EINVAL;
	r = session_get(slice, uid, id, &s);
	if (r < 0)
		return r;
	return close_cell(s, flags & CELL_SESSION_KILL_ANY, ret, ret_usage);
}

static char *spool_path(uid_t uid, const char *id)
{
	char *name = cell_session_id_valid(id) ? cell_name(uid, id) : NULL;
	char *path = name ? cell_path_join(CELL_SESSION_SPOOL_DIR, name) : NULL;

	free(name);
	return path;
}

int cell_session_spool(uid_t uid, const char *id, const char *record)
{
	_cleanup_free_ char *path = spool_path(uid, id);
	int r;

	if (!path)
		return -EINVAL;
	r = cell_mkdir_p(CELL_SESSION_SPOOL_DIR, 0700);
	if (r < 0)
		return r;
	return cell_write_file_atomic(path, record, strlen(record), 0600, false);
}

int cell_session_unspool(uid_t uid, const char *id, char **ret_record)
{
	_cleanup_free_ char *path = spool_path(uid, id), *text = NULL;
	int r;

	if (!path)
		return -EINVAL;
	r = cell_read_file(path, 0, 4096, &text, NULL);
	if (r < 0)
		return r;
	if (unlink(path) < 0)
		return negative_errno();
	*ret_record = TAKE_PTR(text);
	return 0;
}

int cell_session_reap_all(const char *slice, void (*fn)(uid_t uid, const char *id, void *data),
			  void *data)
{
	DIR *d = opendir(slice);
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : negative_errno();
	for (struct dirent *e; (e = readdir(d));) {
		struct cell_counters counters = {0};
		struct cell_limits_usage usage = {0};
		_cleanup_free_ char *record = NULL;
		unsigned long uid;
		char *end;
		const char *id;

		errno = 0;
		uid = strtoul(e->d_name, &end, 10);
		if (e->d_type != DT_DIR || errno || end == e->d_name || *end != '-' ||
		    !cell_session_id_valid(end + 1))
			continue;
		id = end + 1;
		/* alive (-EBUSY), or holding another uid's processes (-EPERM): not dead */
		if (cell_session_reap(slice, (uid_t)uid, id, 0, &counters, &usage) < 0)
			continue;
		if (cell_session_record(id, -1, &counters, &usage, &record) < 0 ||
		    cell_session_spool((uid_t)uid, id, record) < 0)
			r = -EIO;
		if (fn)
			fn((uid_t)uid, id, data);
	}
	closedir(d);
	return r;
}

int cell_session_join(const char *slice, uid_t uid, const char *id)
{
	_cleanup_free_ char *name = NULL, *path = NULL;
	_cleanup_strv_free_ char **limit_dirs = NULL;
	_cleanup_close_ int dir_fd = -1, procs = -1;
	char pid[16];
	int n, r;

	r = cell_dir(slice, uid, id, &name, &path);
	if (r < 0)
		return r;
	dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dir_fd < 0)
		return negative_errno();
	/* a cell no session keeps is closing, or cut short: not one to join */
	if (flock(dir_fd, LOCK_EX | LOCK_NB) == 0)
		return -ESTALE;
	if (errno != EWOULDBLOCK)
		return negative_errno();
	procs = openat(dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (procs < 0)
		return negative_errno();
	n = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (write(procs, pid, (size_t)n) != n)
		return negative_errno();
	/* and into its limits' v1 directories, if it has them */
	r = cell_limits_load(CELL_LIMITS_DIR, name, &limit_dirs);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : cell_limits_v1_join(limit_dirs, 0);
}

int cell_session_counters(const char *slice, uid_t uid, const char *id, struct cell_counters *ret)
{
	_cleanup_free_ char *name = NULL, *path = NULL;
	uint64_t cg;
	int r;

	r = cell_dir(slice, uid, id, &name, &path);
	if (r < 0)
		return r;
	r = cell_bpf_cgroup_id(path, &cg);
	if (r < 0)
		return r;
	return cell_bpf_counters(cg, ret);
}

int cell_session_usage(const char *slice, uid_t uid, const char *id, struct cell_limits_usage *ret)
{
	_cleanup_free_ char *name = NULL, *path = NULL;
	_cleanup_strv_free_ char **dirs = NULL;
	_cleanup_close_ int dir_fd = -1;
	int r;

	r = cell_dir(slice, uid, id, &name, &path);
	if (r < 0)
		return r;
	dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dir_fd < 0)
		return negative_errno();
	(void)cell_limits_load(CELL_LIMITS_DIR, name, &dirs); /* -ENOENT: none in v1 */
	return cell_limits_usage(dir_fd, dirs, ret);
}

int cell_session_list(const char *slice, uid_t uid, int (*fn)(const char *id, void *data),
		      void *data)
{
	DIR *d = opendir(slice);
	char prefix[24];
	struct dirent *e;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : negative_errno();
	snprintf(prefix, sizeof(prefix), "%u-", (unsigned)uid);
	while (r == 0 && (e = readdir(d)))
		if (e->d_type == DT_DIR && startswith(e->d_name, prefix) &&
		    cell_session_id_valid(e->d_name + strlen(prefix)))
			r = fn(e->d_name + strlen(prefix), data);
	closedir(d);
	return r;
}

int cell_session_record(const char *id, int status, const struct cell_counters *c,
			const struct cell_limits_usage *u, char **ret)
{
	char buf[1024];
	size_t n;

	n = (size_t)snprintf(buf, sizeof(buf), "{\"id\":\"%s\"", id);
	if (status >= 0)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"status\":%d", status);
	for (size_t i = 0; i < cell_counter_n_fields; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"%s\":%llu",
				      cell_counter_fields[i].key,
				      (unsigned long long)cell_counter_get(c, i));
	if (u && u->memory_peak)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"memory_peak\":%llu",
				      (unsigned long long)u->memory_peak);
	if (u && u->oom_kills)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"oom_kills\":%llu",
				      (unsigned long long)u->oom_kills);
	if (u && u->pids_refused)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"pids_refused\":%llu",
				      (unsigned long long)u->pids_refused);
	snprintf(buf + n, sizeof(buf) - n, "}");
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

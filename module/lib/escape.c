/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "escape.h"
#include "fileio.h"
#include "macro.h"
#include "path.h"

static const struct {
	const char *word;
	bool arg;
} kinds[] = {
	[CELL_ESCAPE_READ] = {"read", true},	     [CELL_ESCAPE_WRITE] = {"write", true},
	[CELL_ESCAPE_SQUAT] = {"squat", true},	     [CELL_ESCAPE_CONNECT] = {"connect", true},
	[CELL_ESCAPE_RAW] = {"raw", false},	     [CELL_ESCAPE_SOCKET] = {"socket", true},
	[CELL_ESCAPE_TIOCSTI] = {"tiocsti", false},  [CELL_ESCAPE_USERNS] = {"userns", false},
	[CELL_ESCAPE_ABSTRACT] = {"abstract", true}, [CELL_ESCAPE_REUSEPORT] = {"reuseport", true},
};

/* Families no cell has (the seccomp filter's EAFNOSUPPORT), with a type their code takes from
 * anyone: outside a cell a user opens them. */
static const struct {
	const char *word, *name;
	int family, type;
} families[] = {
	{"vsock", "AF_VSOCK", AF_VSOCK, SOCK_STREAM},
	{"bluetooth", "AF_BLUETOOTH", AF_BLUETOOTH, SOCK_SEQPACKET},
	{"alg", "AF_ALG", AF_ALG, SOCK_SEQPACKET},
};

char *cell_escape_format(const struct cell_escape *e)
{
	char *s;

	if (asprintf(&s, "%s%s%s", kinds[e->kind].word, e->arg ? ":" : "", e->arg ? e->arg : "") <
	    0)
		return NULL;
	return s;
}

int cell_escape_parse(const char *s, struct cell_escape *ret)
{
	size_t n = strcspn(s, ":");

	for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
		if (strlen(kinds[k].word) != n || strncmp(s, kinds[k].word, n))
			continue;
		if (kinds[k].arg != (s[n] == ':') || (kinds[k].arg && !s[n + 1]))
			return -EINVAL;
		*ret = (struct cell_escape){(enum cell_escape_kind)k, s[n] ? s + n + 1 : NULL};
		return 0;
	}
	return -EINVAL;
}

const char *cell_escape_family_name(const char *word)
{
	for (size_t i = 0; i < ELEMENTSOF(families); i++)
		if (streq(word, families[i].word))
			return families[i].name;
	return NULL;
}

int cell_escape_file_digest(const char *path, char *buf, size_t size)
{
	_cleanup_free_ char *text = NULL;
	char hex[CELL_SHA256_HEX_LEN + 1];
	size_t len = 0;
	int r = cell_read_file(path, 0, CELL_ESCAPE_READ_MAX, &text, &len);

	if (r >= 0)
		r = cell_sha256_hex(&(struct cell_hash_piece){text, len}, 1, hex);
	if (r < 0)
		return r;
	snprintf(buf, size, "%zu %s", len, hex);
	return 0;
}

/*
 * Makes the missing directories of path and then path itself, and removes all it made: whether
 * it could. p is a copy of the path to work in.
 */
static int create_missing(char *p, char *detail, size_t size)
{
	size_t made[16], n = 0;
	int r = 0, fd;

	for (char *s = strchr(p + 1, '/'); s && r == 0; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (n == ELEMENTSOF(made))
			r = -ENAMETOOLONG;
		else if (mkdir(p, 0700) == 0)
			made[n++] = (size_t)(s - p);
		else if (errno != EEXIST)
			r = negative_errno();
		if (r < 0)
			snprintf(detail, size, "at mkdir %s", p);
		*s = '/';
	}
	if (r == 0) {
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			unlink(p);
			snprintf(detail, size,
				 n ? "made it, and the directories it needed (then removed them)"
				   : "made it (then removed it)");
		} else {
			r = negative_errno();
		}
	}
	while (n > 0) {
		p[made[--n]] = '\0';
		rmdir(p);
	}
	return r;
}

/* Opening for writing is the escape: nothing is written, and a file made is removed. */
static int try_write(const char *path, char *detail, size_t size)
{
	_cleanup_free_ char *copy = NULL;
	int fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		snprintf(detail, size, "opened it for writing (and wrote nothing)");
		return 0;
	}
	if (errno != ENOENT || path[0] != '/')
		return negative_errno();
	copy = strdup(path);
	return copy ? create_missing(copy, detail, size) : -ENOMEM;
}

/* connect(2) as the kernel answers it: the shim of a proxy cell would take a TCP socket to
 * the proxy instead. */
static int raw_connect(int fd, const void *addr, socklen_t len)
{
	return syscall(SYS_connect, fd, addr, len) < 0 ? negative_errno() : 0;
}

static struct sockaddr_in loopback(const char *ip, unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

/* Binds 127.0.0.2:port, a port someone listens on at 127.0.0.1, and connects to that one. */
static int try_squat(const char *arg, char *detail, size_t size)
{
	unsigned port = (unsigned)strtoul(arg, NULL, 10);
	struct sockaddr_in own = loopback("127.0.0.2", port), theirs = loopback("127.0.0.1", port);
	_cleanup_close_ int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	_cleanup_close_ int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r;

	if (l < 0 || c < 0)
		return negative_errno();
	if (bind(l, (struct sockaddr *)&own, sizeof(own)) < 0 || listen(l, 1) < 0) {
		r = negative_errno();
		snprintf(detail, size, "at bind 127.0.0.2:%u", port);
		return r;
	}
	r = raw_connect(c, &theirs, sizeof(theirs));
	if (r == 0)
		snprintf(detail, size, "connected to 127.0.0.1:%u, someone else's", port);
	return r;
}

/* Joins the reuse group of a listener at 127.0.0.1:port: the group, not the cell's rules,
 * would pick who gets a connection. */
static int try_reuseport(const char *arg, char *detail, size_t size)
{
	unsigned port = (unsigned)strtoul(arg, NULL, 10);
	struct sockaddr_in a = loopback("127.0.0.1", port);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return negative_errno();
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		snprintf(detail, size, "at SO_REUSEPORT");
		return negative_errno();
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0) {
		snprintf(detail, size, "at bind 127.0.0.1:%u", port);
		return negative_errno();
	}
	snprintf(detail, size, "shares 127.0.0.1:%u with the listener outside", port);
	return 0;
}

/* A connection that starts (EINPROGRESS) is out: the kernel sent its SYN. */
static int try_connect(const char *arg, char *detail, size_t size)
{
	const char *colon = strrchr(arg, ':');
	struct sockaddr_in a = {.sin_family = AF_INET};
	char ip[INET_ADDRSTRLEN];
	_cleanup_close_ int fd = -1;
	int r;

	if (!colon || (size_t)(colon - arg) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, arg, (size_t)(colon - arg));
	ip[colon - arg] = '\0';
	a.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	r = raw_connect(fd, &a, sizeof(a));
	if (r == 0 || r == -EINPROGRESS) {
		snprintf(detail, size, "the kernel let a connection to %s start", arg);
		return 0;
	}
	return r;
}

static int try_socket(const char *word)
{
	for (size_t i = 0; i < ELEMENTSOF(families); i++) {
		if (streq(word, families[i].word)) {
			int fd = socket(families[i].family, families[i].type | SOCK_CLOEXEC, 0);

			if (fd < 0)
				return negative_errno();
			close(fd);
			return 0;
		}
	}
	return -EINVAL;
}

static int try_abstract(const char *name, char *detail, size_t size)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r;

	if (n + 1 > sizeof(a.sun_path))
		return -ENAMETOOLONG;
	if (fd < 0)
		return negative_errno();
	memcpy(a.sun_path + 1, name, n);
	r = raw_connect(fd, &a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n));
	if (r == 0)
		snprintf(detail, size, "connected to @%s, a socket outside", name);
	return r;
}

/* Runs fn(arg) in a child (an attempt that changes the process that makes it): its -errno, or 0. */
static int in_child(int (*fn)(int arg), int arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return negative_errno();
	if (pid == 0)
		_exit(-fn(arg));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	return WIFEXITED(status) ? -WEXITSTATUS(status) : -ECHILD;
}

static int unshare_user(_unused_ int arg)
{
	return unshare(CLONE_NEWUSER) < 0 ? negative_errno() : 0;
}

/* TIOCSTI on the pty pty, made the controlling terminal of a new session as a shell's is. */
static int tiocsti_child(int pty)
{
	char c = ' ';
	int s;

	if (setsid() < 0)
		return negative_errno();
	s = open(ptsname(pty), O_RDWR | O_CLOEXEC);
	if (s < 0)
		return negative_errno();
	return ioctl(s, TIOCSTI, &c) < 0 ? negative_errno() : 0;
}

static void try_tiocsti(struct cell_escape_result *ret)
{
	_cleanup_close_ int pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (pty < 0 || grantpt(pty) < 0 || unlockpt(pty) < 0) {
		ret->skipped = true;
		snprintf(ret->detail, sizeof(ret->detail), "no terminal can be opened here: %s",
			 strerror(errno));
		return;
	}
	ret->error = -in_child(tiocsti_child, pty);
}

void cell_escape_try(const struct cell_escape *e, struct cell_escape_result *ret)
{
	char *detail = ret->detail;
	size_t size = sizeof(ret->detail);
	int r = 0, fd;

	*ret = (struct cell_escape_result){0};
	switch (e->kind) {
	case CELL_ESCAPE_READ:
		r = cell_escape_file_digest(e->arg, detail, size);
		break;
	case CELL_ESCAPE_WRITE:
		r = try_write(e->arg, detail, size);
		break;
	case CELL_ESCAPE_SQUAT:
		r = try_squat(e->arg, detail, size);
		break;
	case CELL_ESCAPE_CONNECT:
		r = try_connect(e->arg, detail, size);
		break;
	case CELL_ESCAPE_RAW:
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
		r = fd < 0 ? negative_errno() : close(fd);
		break;
	case CELL_ESCAPE_SOCKET:
		r = try_socket(e->arg);
		break;
	case CELL_ESCAPE_TIOCSTI:
		try_tiocsti(ret);
		return;
	case CELL_ESCAPE_USERNS:
		r = in_child(unshare_user, 0);
		break;
	case CELL_ESCAPE_ABSTRACT:
		r = try_abstract(e->arg, detail, size);
		break;
	case CELL_ESCAPE_REUSEPORT:
		r = try_reuseport(e->arg, detail, size);
		break;
	}
	ret->error = -r;
}

int cell_escape_result_line(const struct cell_escape_result *r, char *buf, size_t size)
{
	int n;

	if (r->skipped)
		n = snprintf(buf, size, "skip %s", r->detail);
	else if (r->error)
		n = snprintf(buf, size, "err %d %s", r->error, r->detail);
	else
		n = snprintf(buf, size, "ok %s", r->detail);
	return n < 0 || (size_t)n >= size ? -ENOBUFS : 0;
}

int cell_escape_result_parse(const char *line, struct cell_escape_result *ret)
{
	struct cell_escape_result r = {0};
	const char *detail;
	char *end;
	long e;

	if (startswith(line, "ok ")) {
		detail = line + 3;
	} else if (startswith(line, "skip ")) {
		r.skipped = true;
		detail = line + 5;
	} else if (startswith(line, "err ")) {
		e = strtol(line + 4, &end, 10);
		if (end == line + 4 || e <= 0 || e > 4095 || (*end && *end != ' '))
			return -EINVAL;
		r.error = (int)e;
		detail = *end ? end + 1 : end;
	} else {
		return -EINVAL;
	}
	if (strlen(detail) >= sizeof(r.detail) || strchr(detail, '\n'))
		return -EINVAL;
	strcpy(r.detail, detail);
	*ret = r;
	return 0;
}

/* The best real secret in dir: a regular file we can read whose name matches pattern, a
 * private key before a public one, then by name. NULL if none. */
static char *real_secret(const char *dir, const char *pattern)
{
	_cleanup_free_ char *best = NULL;
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		struct stat st;
		bool pub = endswith(e->d_name, ".pub");

		if (fnmatch(pattern, e->d_name, FNM_PERIOD) != 0 ||
		    fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
		    faccessat(dirfd(d), e->d_name, R_OK, AT_EACCESS) < 0)
			continue;
		if (best && (pub > endswith(best, ".pub") ||
			     (pub == endswith(best, ".pub") && strcmp(e->d_name, best) > 0)))
			continue;
		free(best);
		best = strdup(e->d_name);
	}
	closedir(d);
	return best ? cell_path_join(dir, best) : NULL;
}

/* Plants a marker file in dir (made if missing): its path in s. */
static int plant(const char *dir, struct cell_escape_secret *s)
{
	_cleanup_close_ int fd = -1;
	uint64_t token = 0;
	char text[128];

	if (mkdir(dir, 0700) == 0) {
		s->made_dir = strdup(dir);
		if (!s->made_dir)
			return -ENOMEM;
	} else if (errno != EEXIST) {
		return negative_errno();
	}
	if (asprintf(&s->path, "%s/cell-escape-marker-XXXXXX", dir) < 0) {
		s->path = NULL;
		return -ENOMEM;
	}
	fd = mkostemp(s->path, O_CLOEXEC);
	if (fd < 0) {
		int r = negative_errno();

		/* nothing planted: no path of ours (the caller may look for another file) */
		free(s->path);
		s->path = NULL;
		return r;
	}
	s->planted = true;
	if (getrandom(&token, sizeof(token), 0) < 0)
		return negative_errno();
	snprintf(text, sizeof(text),
		 "cell doctor --escape planted this marker and removes it when done: %016llx\n",
		 (unsigned long long)token);
	return cell_write_all(fd, text, strlen(text));
}

int cell_escape_secret_find(const char *home, const char *dir, const char *pattern,
			    struct cell_escape_secret *ret)
{
	_cleanup_free_ char *where = cell_path_join(home, dir);
	struct cell_escape_secret s = {0};
	int r;

	if (!where)
		return -ENOMEM;
	s.path = real_secret(where, pattern);
	r = s.path ? cell_escape_file_digest(s.path, s.digest, sizeof(s.digest)) : -ENOENT;
	if (r < 0) {
		cell_escape_secret_done(&s);
		r = plant(where, &s);
		if (r >= 0)
			r = cell_escape_file_digest(s.path, s.digest, sizeof(s.digest));
	}
	/* a directory we may not write (made by someone else) may still hold a file we read */
	if (r < 0 && !s.planted && (s.path = real_secret(where, "*")))
		r = cell_escape_file_digest(s.path, s.digest, sizeof(s.digest));
	if (r < 0) {
		cell_escape_secret_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

void cell_escape_secret_done(struct cell_escape_secret *s)
{
	if (s->planted && s->path)
		unlink(s->path);
	if (s->made_dir)
		rmdir(s->made_dir);
	free(s->path);
	free(s->made_dir);
	*s = (struct cell_escape_secret){0};
}

/* SPDX-License-Identifier: MIT */
/* The shim's settings, the next definitions of what it hooks, and its I/O helpers. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

static struct cell_shim_conf conf;
/* 0 not read, 1 read: in a cell, 2 read: not in a cell, 3 being read */
static atomic_int conf_state;

/* Reads the settings (open/read only: this can run in any process at any moment), once. */
static void load(void)
{
	char buf[sizeof(conf.text)];
	const char *path;
	size_t len = 0;
	int fd, state = 2, expected = 0;

	if (!atomic_compare_exchange_strong(&conf_state, &expected, 3)) {
		/* another thread reads them: a moment */
		while (atomic_load(&conf_state) == 3)
			sched_yield();
		return;
	}
	/* no one reads conf until the state says 1 */
	/* a login pam_cell.so put in a cell has them elsewhere (no cell's /run/cell there) */
	path = getenv(CELL_SHIM_CONF_VAR);
	fd = open(path && path[0] == '/' ? path : CELL_SHIM_CONF_PATH, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		for (;;) {
			ssize_t n = read(fd, buf + len, sizeof(buf) - len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
			if (len == sizeof(buf))
				break;
		}
		close(fd);
		if (len < sizeof(buf) && cell_shim_conf_parse(buf, len, &conf) == 0)
			state = 1;
	}
	atomic_store(&conf_state, state);
}

static struct shim_nexts nexts;
static atomic_int nexts_state; /* 0 not looked up, 1 being looked up, 2 done */

static void load_nexts(void)
{
	int expected = 0;

	if (!atomic_compare_exchange_strong(&nexts_state, &expected, 1)) {
		while (atomic_load(&nexts_state) != 2)
			sched_yield();
		return;
	}
	nexts.connect = (__typeof__(nexts.connect))dlsym(RTLD_NEXT, "connect");
	nexts.sendto = (__typeof__(nexts.sendto))dlsym(RTLD_NEXT, "sendto");
	nexts.sendmsg = (__typeof__(nexts.sendmsg))dlsym(RTLD_NEXT, "sendmsg");
	nexts.getaddrinfo = (__typeof__(nexts.getaddrinfo))dlsym(RTLD_NEXT, "getaddrinfo");
	nexts.getnameinfo = (__typeof__(nexts.getnameinfo))dlsym(RTLD_NEXT, "getnameinfo");
	nexts.gethostbyname2 = (__typeof__(nexts.gethostbyname2))dlsym(RTLD_NEXT, "gethostbyname2");
	nexts.gethostbyname2_r =
		(__typeof__(nexts.gethostbyname2_r))dlsym(RTLD_NEXT, "gethostbyname2_r");
	nexts.execve = (__typeof__(nexts.execve))dlsym(RTLD_NEXT, "execve");
	nexts.execvpe = (__typeof__(nexts.execvpe))dlsym(RTLD_NEXT, "execvpe");
	nexts.execveat = (__typeof__(nexts.execveat))dlsym(RTLD_NEXT, "execveat");
	nexts.fexecve = (__typeof__(nexts.fexecve))dlsym(RTLD_NEXT, "fexecve");
	nexts.posix_spawn = (__typeof__(nexts.posix_spawn))dlsym(RTLD_NEXT, "posix_spawn");
	nexts.posix_spawnp = (__typeof__(nexts.posix_spawnp))dlsym(RTLD_NEXT, "posix_spawnp");
	atomic_store(&nexts_state, 2);
}

const struct shim_nexts *shim_next(void)
{
	if (atomic_load(&nexts_state) != 2)
		load_nexts();
	return &nexts;
}

/* What descriptor 2 was when the program started: the shim says things there only while it
 * still is (a program that closed it may have put a file or a socket of its own there). */
static dev_t stderr_dev;
static ino_t stderr_ino;
static bool stderr_known;

__attribute__((constructor)) static void shim_init(void)
{
	int saved = errno;
	struct stat st;

	if (fstat(STDERR_FILENO, &st) == 0) {
		stderr_dev = st.st_dev;
		stderr_ino = st.st_ino;
		stderr_known = true;
	}
	load_nexts();
	if (atomic_load(&conf_state) == 0)
		load();
	errno = saved;
}

const struct cell_shim_conf *shim_conf(void)
{
	int state = atomic_load(&conf_state);

	/* a hook called by another library's constructor, before ours ran */
	if (state == 0 || state == 3) {
		int saved = errno;

		load();
		errno = saved;
		state = atomic_load(&conf_state);
	}
	return state == 1 ? &conf : NULL;
}

int64_t shim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int shim_wait(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - shim_now_ms();
		struct pollfd p = {fd, events, 0};
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int shim_connect_proxy(int fd, int family, int64_t deadline_ms)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	const struct sockaddr *sa;
	socklen_t len, elen = sizeof(int);
	int err = 0;

	if (family == AF_INET6) {
		int v6only = 0, off = 0;
		socklen_t olen = sizeof(v6only);

		/* an IPv6-only socket cannot reach the proxy's IPv4 address: it may, for this
		 * connection (the option matters no more once the socket is connected) */
		if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen) == 0 && v6only &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)
			return -errno;
		sin6.sin6_port = htons(shim_conf()->proxy_port);
		/* ::ffff:127.0.0.1 (an IPV6_V6ONLY socket cannot: it fails) */
		sin6.sin6_addr.s6_addr[10] = sin6.sin6_addr.s6_addr[11] = 0xff;
		sin6.sin6_addr.s6_addr[12] = 127;
		sin6.sin6_addr.s6_addr[15] = 1;
		sa = (const struct sockaddr *)&sin6;
		len = sizeof(sin6);
	} else {
		sin.sin_port = htons(shim_conf()->proxy_port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa = (const struct sockaddr *)&sin;
		len = sizeof(sin);
	}
	if (shim_next()->connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	/* interrupted or non-blocking: the connection goes on; its end shows as writable */
	err = shim_wait(fd, POLLOUT, deadline_ms);
	if (err < 0)
		return err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -errno;
	return -err;
}

int shim_send_all(int fd, const void *buf, size_t n, int64_t deadline_ms)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		r = shim_wait(fd, POLLOUT, deadline_ms);
		if (r < 0)
			return r;
	}
	return 0;
}

int shim_recv_exact(int fd, void *buf, size_t n, int64_t deadline_ms)
{
	char *p = buf;

	while (n > 0) {
		ssize_t got = recv(fd, p, n, MSG_DONTWAIT);
		int r;

		if (got > 0) {
			p += got;
			n -= (size_t)got;
			continue;
		}
		if (got == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		r = shim_wait(fd, POLLIN, deadline_ms);
		if (r < 0)
			return r;
	}
	return 0;
}

#define SAID_MAX 64

/* FNV-1a hashes of what was said; 0 is a free slot */
static _Atomic uint64_t said[SAID_MAX];

void shim_say_once(const char *key, const char *line)
{
	uint64_t h = 0xcbf29ce484222325ull;
	struct stat st;

	for (const char *s = key; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	h |= 1;
	for (size_t i = 0; i < SAID_MAX; i++) {
		uint64_t free_slot = 0;

		if (atomic_load(&said[i]) == h)
			return;
		if (atomic_compare_exchange_strong(&said[i], &free_slot, h))
			break;
		if (free_slot == h)
			return;
	}
	/* a full table says it again: better than staying silent */
	if (stderr_known && fstat(STDERR_FILENO, &st) == 0 && st.st_dev == stderr_dev &&
	    st.st_ino == stderr_ino)
		(void)!write(STDERR_FILENO, line, strlen(line));
}

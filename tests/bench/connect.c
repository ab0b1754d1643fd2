/* SPDX-License-Identifier: MIT */
/*
 * The BPF benchmark's workload (tests/bench/bpf.py), run in a proxy-mode cell and outside one.
 * It talks to a listener of its own on 127.0.0.1, a port a cell may reach because it bound it.
 *
 *   bench-connect connect N    N TCP connections, one after another: socket, connect, accept,
 *                              close (the client with SO_LINGER 0, so no TIME_WAIT piles up).
 *                              Prints "connect CYCLE_NS CONNECT_NS": the mean of the whole
 *                              cycle and of connect() alone (the handshake included: on
 *                              loopback it completes inside connect()).
 *   bench-connect stream BYTES BYTES over one TCP connection, from a thread to this one.
 *                              Prints "stream MB_PER_S" (10^6 bytes a second).
 *
 * libc only, so that it runs from any cell's /usr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

/* connections made and thrown away first: page cache, slab and branch predictors warm */
#define WARMUP 1000
#define CHUNK (256 * 1024)

struct stream {
	struct sockaddr_in addr;
	long long bytes;
	int r;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A TCP listener on 127.0.0.1, port chosen by the kernel; its address in *ret_addr. */
static int listener(struct sockaddr_in *ret_addr)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return negative_errno();
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return negative_errno();
	*ret_addr = a;
	return TAKE_FD(fd);
}

/* One connection to lfd at addr and its end; the time connect() took in *ret_connect_ns. */
static int one_connection(int lfd, const struct sockaddr_in *addr, int64_t *ret_connect_ns)
{
	static const struct linger reset = {.l_onoff = 1, .l_linger = 0};
	/* closed in reverse order: the client first, its reset ends both */
	_cleanup_close_ int a = -1;
	_cleanup_close_ int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int64_t t0;

	if (c < 0)
		return negative_errno();
	t0 = now_ns();
	if (connect(c, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
		return negative_errno();
	*ret_connect_ns = now_ns() - t0;
	a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (a < 0)
		return negative_errno();
	if (setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)) < 0)
		return negative_errno();
	return 0;
}

static int run_connect(long long n)
{
	struct sockaddr_in addr;
	_cleanup_close_ int lfd = listener(&addr);
	int64_t connect_ns = 0, t0 = 0, one;
	int r;

	if (lfd < 0)
		return lfd;
	for (long long i = 0; i < WARMUP + n; i++) {
		if (i == WARMUP) {
			connect_ns = 0;
			t0 = now_ns();
		}
		r = one_connection(lfd, &addr, &one);
		if (r < 0)
			return r;
		connect_ns += one;
	}
	printf("connect %.1f %.1f\n", (double)(now_ns() - t0) / (double)n,
	       (double)connect_ns / (double)n);
	return 0;
}

static void *send_all(void *data)
{
	static char chunk[CHUNK];
	struct stream *s = data;
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	long long sent = 0;

	if (fd < 0 || connect(fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0) {
		s->r = negative_errno();
		return NULL;
	}
	while (sent < s->bytes) {
		size_t want = s->bytes - sent < CHUNK ? (size_t)(s->bytes - sent) : CHUNK;
		/* not write(): should the reader be gone, EPIPE rather than SIGPIPE */
		ssize_t w = send(fd, chunk, want, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			s->r = negative_errno();
			return NULL;
		}
		sent += w;
	}
	return NULL;
}

/* Reads fd to its end; the number of bytes read, or -errno. */
static long long drain(int fd)
{
	static char buf[CHUNK];
	long long got = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		got += n;
	}
	return got;
}

static int run_stream(long long bytes)
{
	struct stream s = {.bytes = bytes};
	_cleanup_close_ int lfd = listener(&s.addr);
	_cleanup_close_ int fd = -1;
	pthread_t sender;
	long long got;
	int64_t t0;
	int r;

	if (lfd < 0)
		return lfd;
	t0 = now_ns();
	r = -pthread_create(&sender, NULL, send_all, &s);
	if (r < 0)
		return r;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	got = fd < 0 ? negative_errno() : drain(fd);
	pthread_join(sender, NULL);
	if (s.r < 0)
		return s.r;
	if (got < 0)
		return (int)got;
	if (got != bytes)
		return -EPIPE;
	printf("stream %.1f\n", (double)bytes * 1000.0 / (double)(now_ns() - t0));
	return 0;
}

int main(int argc, char *argv[])
{
	long long n = argc == 3 ? atoll(argv[2]) : 0;
	int r;

	if (n <= 0 || (!streq(argv[1], "connect") && !streq(argv[1], "stream"))) {
		fprintf(stderr, "usage: bench-connect connect N | stream BYTES\n");
		return 2;
	}
	r = streq(argv[1], "connect") ? run_connect(n) : run_stream(n);
	if (r < 0) {
		fprintf(stderr, "bench-connect %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	return 0;
}

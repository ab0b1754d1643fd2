/* SPDX-License-Identifier: MIT */
/*
 * The proxy benchmark's exchanges (tests/bench/proxy.py): request/response traffic as a database
 * driver, git or an RPC client makes it, over one connection.
 *
 *   bench-exchange serve PORT-FILE
 *        listens on 127.0.0.1 (the port goes to PORT-FILE); on each connection, over and over:
 *        reads a 100-byte head and a 100-byte body, answers one byte
 *   bench-exchange run PORT N [PROXY-PORT]
 *        connects to 127.0.0.1:PORT (through a CONNECT tunnel of the proxy at
 *        127.0.0.1:PROXY-PORT when given), sets TCP_NODELAY as such clients do, then N times:
 *        writes the head, writes the body (two writes), waits for the answer. Prints each
 *        exchange's time in nanoseconds, one a line.
 *
 * libc only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PART 100

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Reads exactly n bytes; false at the end of the stream or on an error. */
static int read_all(int fd, char *buf, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, buf, n);

		if (r <= 0)
			return 0;
		buf += r;
		n -= (size_t)r;
	}
	return 1;
}

static int serve(const char *port_file)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	FILE *f;

	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0)
		return 1;
	getsockname(fd, (struct sockaddr *)&a, &alen);
	f = fopen(port_file, "w");
	if (!f)
		return 1;
	fprintf(f, "%u\n", ntohs(a.sin_port));
	fclose(f);
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(fd, NULL, NULL);
		char buf[2 * PART];

		if (c < 0)
			continue;
		if (fork() == 0) {
			while (read_all(c, buf, sizeof(buf)) && write(c, "k", 1) == 1)
				;
			_exit(0);
		}
		close(c);
	}
}

/* A connection to 127.0.0.1:port, through a CONNECT tunnel when proxy_port is not 0. */
static int dial(unsigned port, unsigned proxy_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	char req[128], resp[512];
	size_t len = 0;

	a.sin_port = htons(proxy_port ? proxy_port : port);
	if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	if (!proxy_port)
		return fd;
	snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
		 port, port);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return -1;
	/* the proxy's answer is a head and nothing after it until we speak */
	while (len < sizeof(resp) - 1) {
		ssize_t r = read(fd, resp + len, 1);

		if (r <= 0)
			return -1;
		len++;
		resp[len] = '\0';
		if (strstr(resp, "\r\n\r\n"))
			break;
	}
	if (strncmp(resp, "HTTP/1.1 200", 12) != 0 && strncmp(resp, "HTTP/1.0 200", 12) != 0) {
		fprintf(stderr, "bench-exchange: the proxy said: %s\n", resp);
		return -1;
	}
	return fd;
}

static int run(unsigned port, long n, unsigned proxy_port)
{
	char head[PART], body[PART], answer;
	int fd = dial(port, proxy_port);

	if (fd < 0) {
		perror("bench-exchange: connect");
		return 1;
	}
	memset(head, 'h', sizeof(head));
	memset(body, 'b', sizeof(body));
	for (long i = 0; i < n; i++) {
		int64_t t0 = now_ns();

		if (write(fd, head, sizeof(head)) != sizeof(head) ||
		    write(fd, body, sizeof(body)) != sizeof(body) || !read_all(fd, &answer, 1)) {
			perror("bench-exchange: exchange");
			return 1;
		}
		printf("%lld\n", (long long)(now_ns() - t0));
	}
	close(fd);
	return 0;
}

int main(int argc, char *argv[])
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "run") == 0)
		return run((unsigned)atoi(argv[2]), atol(argv[3]),
			   argc == 5 ? (unsigned)atoi(argv[4]) : 0);
	fprintf(stderr, "usage: bench-exchange serve PORT-FILE | run PORT N [PROXY-PORT]\n");
	return 64;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdbool.h>

#include "fdpass.h"
#include "macro.h"
#include "netns.h"

/*
 * Whether fd's socket belongs to a network namespace other than ours: a socket of the host's own
 * would be bound and listened to on the host's loopback.
 */
static bool another_namespace(int fd)
{
	_cleanup_close_ int ns = ioctl(fd, SIOCGSKNS);
	struct stat theirs, ours;

	return ns >= 0 && fstat(ns, &theirs) == 0 && stat("/proc/self/ns/net", &ours) == 0 &&
	       (theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev);
}

/* Answers one request: a socket bound and listening, or connecting, or "0ERRNO". */
static int answer(int sock, char op, uint16_t port)
{
	struct sockaddr_in at = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int type = SOCK_STREAM | SOCK_CLOEXEC | (op == CELL_NETNS_CONNECT ? SOCK_NONBLOCK : 0);
	_cleanup_close_ int fd = socket(AF_INET, type, IPPROTO_TCP);
	int one = 1, ok = fd >= 0;
	char no[16];

	if (ok && op == CELL_NETNS_LISTEN)
		ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		     bind(fd, (struct sockaddr *)&at, sizeof(at)) == 0 &&
		     listen(fd, SOMAXCONN) == 0;
	else if (ok)
		ok = connect(fd, (struct sockaddr *)&at, sizeof(at)) == 0 || errno == EINPROGRESS;
	if (ok)
		return cell_fdpass_send(sock, "1", &fd, 1);
	snprintf(no, sizeof(no), "0%d", errno);
	return cell_fdpass_send(sock, no, NULL, 0);
}

/* The next request, its letter and port; 0 at the end of the stream, -EPROTO for a message that
 * is not one. */
static int request(int sock, char *ret, uint16_t *ret_port)
{
	char buf[16];
	ssize_t n = cell_fdpass_recv(sock, buf, sizeof(buf), NULL, 0);
	size_t digits;

	if (n <= 0)
		return n == 0 ? 0 : (int)n;
	*ret = buf[0];
	*ret_port = 0;
	if (buf[0] != CELL_NETNS_LISTEN && buf[0] != CELL_NETNS_CONNECT)
		return 1;
	digits = strspn(buf + 1, "0123456789");
	if (digits == 0 || digits > 5 || buf[1 + digits] || strtoul(buf + 1, NULL, 10) > 65535)
		return -EPROTO;
	*ret_port = (uint16_t)strtoul(buf + 1, NULL, 10);
	return 1;
}

int cell_netns_setup(int sock)
{
	char c = 0;
	uint16_t port = 0;
	int r = cell_fdpass_send(sock, (char[]){CELL_NETNS_HELLO, '\0'}, NULL, 0);

	while (r >= 0) {
		r = request(sock, &c, &port);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0)
			return r;
		if (c == CELL_NETNS_DONE || c == CELL_NETNS_SERVE)
			return c == CELL_NETNS_SERVE;
		if (c != CELL_NETNS_LISTEN && c != CELL_NETNS_CONNECT)
			return -EPROTO;
		r = answer(sock, c, port);
	}
	return r;
}

int cell_netns_serve_one(int sock)
{
	char c = 0;
	uint16_t port = 0;
	int r = request(sock, &c, &port);

	if (r <= 0)
		return r;
	if (c != CELL_NETNS_LISTEN && c != CELL_NETNS_CONNECT)
		return -EPROTO;
	r = answer(sock, c, port);
	return r < 0 ? r : 1;
}

void cell_netns_serve(int sock)
{
	while (cell_netns_serve_one(sock) > 0)
		;
}

int cell_netns_hello(int sock)
{
	char buf[8];
	ssize_t n = cell_fdpass_recv(sock, buf, sizeof(buf), NULL, 0);

	if (n < 0)
		return (int)n;
	return n == 1 && buf[0] == CELL_NETNS_HELLO ? 0 : -EPROTO;
}

/*
 * Asks the init for a socket (op, port) and takes only what was asked for: a TCP socket of IPv4
 * in a network namespace other than ours (a socket of the host's would be the host's network),
 * listening at 127.0.0.1 (at port, if not 0) or not listening, as asked; made non-blocking.
 * What the init answers it could not do is a positive errno (the pair is in step still); a
 * negative one is the pair's failure, or an answer that is not one.
 */
static int ask(int sock, char op, uint16_t port, int *ret_fd)
{
	char req[8], buf[16];
	_cleanup_close_ int fd = -1;
	int domain = 0, type = 0, protocol = 0, listening = 0, e;
	struct sockaddr_in at = {0};
	socklen_t len = sizeof(int), at_len = sizeof(at);
	ssize_t n;
	int r;

	snprintf(req, sizeof(req), "%c%u", op, (unsigned)port);
	r = cell_fdpass_send(sock, req, NULL, 0);
	if (r < 0)
		return r;
	n = cell_fdpass_recv(sock, buf, sizeof(buf), &fd, 1);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	if (buf[0] == '0' && fd < 0) {
		/* what stopped it over there: an errno, nothing else */
		e = buf[1] && strspn(buf + 1, "0123456789") == strlen(buf + 1) && strlen(buf) < 7
			    ? atoi(buf + 1)
			    : 0;
		return e > 0 && e < 4096 ? e : -EIO;
	}
	if (buf[0] != '1' || buf[1] || fd < 0)
		return -EIO;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&at, &at_len) < 0)
		return negative_errno();
	if (domain != AF_INET || type != SOCK_STREAM || protocol != IPPROTO_TCP ||
	    listening != (op == CELL_NETNS_LISTEN) || !another_namespace(fd))
		return -EPROTO;
	if (op == CELL_NETNS_LISTEN &&
	    (at.sin_addr.s_addr != htonl(INADDR_LOOPBACK) || (port && ntohs(at.sin_port) != port)))
		return -EPROTO;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return negative_errno();
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cell_netns_listen(int sock, uint16_t port, int *ret_fd, uint16_t *ret_port)
{
	struct sockaddr_in at = {0};
	socklen_t len = sizeof(at);
	int fd, r = ask(sock, CELL_NETNS_LISTEN, port, &fd);

	if (r != 0)
		return r < 0 ? r : -r;
	if (getsockname(fd, (struct sockaddr *)&at, &len) < 0) {
		r = negative_errno();
		close(fd);
		return r;
	}
	*ret_port = ntohs(at.sin_port);
	*ret_fd = fd;
	return 0;
}

int cell_netns_connect(int sock, uint16_t port, int *ret_fd)
{
	return ask(sock, CELL_NETNS_CONNECT, port, ret_fd);
}

int cell_netns_go(int sock, bool serve)
{
	return cell_fdpass_send(sock, (char[]){serve ? CELL_NETNS_SERVE : CELL_NETNS_DONE, '\0'},
				NULL, 0);
}

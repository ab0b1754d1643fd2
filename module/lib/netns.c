/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
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

/* Answers one request: a new socket, or "0" when none can be made. */
static int answer(int sock, char request)
{
	int family = request == CELL_NETNS_SOCKET6 ? AF_INET6 : AF_INET;
	_cleanup_close_ int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);

	if (fd < 0)
		return cell_fdpass_send(sock, "0", NULL, 0);
	return cell_fdpass_send(sock, "1", &fd, 1);
}

/* The next request; 0 at the end of the stream. */
static int request(int sock, char *ret)
{
	char buf[8];
	ssize_t n = cell_fdpass_recv(sock, buf, sizeof(buf), NULL, 0);

	if (n <= 0)
		return n == 0 ? 0 : (int)n;
	*ret = buf[0];
	return 1;
}

int cell_netns_setup(int sock)
{
	char c = 0;
	int r = cell_fdpass_send(sock, (char[]){CELL_NETNS_HELLO, '\0'}, NULL, 0);

	while (r >= 0) {
		r = request(sock, &c);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0)
			return r;
		if (c == CELL_NETNS_DONE || c == CELL_NETNS_SERVE)
			return c == CELL_NETNS_SERVE;
		if (c != CELL_NETNS_SOCKET4 && c != CELL_NETNS_SOCKET6)
			return -EPROTO;
		r = answer(sock, c);
	}
	return r;
}

int cell_netns_serve_one(int sock)
{
	char c = 0;
	int r = request(sock, &c);

	if (r <= 0)
		return r;
	if (c != CELL_NETNS_SOCKET4 && c != CELL_NETNS_SOCKET6)
		return -EPROTO;
	r = answer(sock, c);
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

int cell_netns_socket(int sock, int family, int *ret_fd)
{
	char ask[2] = {family == AF_INET6 ? CELL_NETNS_SOCKET6 : CELL_NETNS_SOCKET4, '\0'}, buf[8];
	_cleanup_close_ int fd = -1;
	int domain = 0, type = 0, protocol = 0, listening = 1;
	struct sockaddr_storage at;
	socklen_t len = sizeof(int), at_len = sizeof(at);
	ssize_t n;
	int r;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	r = cell_fdpass_send(sock, ask, NULL, 0);
	if (r < 0)
		return r;
	n = cell_fdpass_recv(sock, buf, sizeof(buf), &fd, 1);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	if (buf[0] != '1' || fd < 0)
		return -EIO;
	/* what came is what was asked for, whatever the other end is now: a new TCP socket (not
	 * bound, so not listening or connected either) */
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&at, &at_len) < 0)
		return negative_errno();
	if (domain != family || type != SOCK_STREAM || protocol != IPPROTO_TCP || listening ||
	    !another_namespace(fd) ||
	    (family == AF_INET ? ((struct sockaddr_in *)&at)->sin_port
			       : ((struct sockaddr_in6 *)&at)->sin6_port) != 0)
		return -EPROTO;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return negative_errno();
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cell_netns_listen(int sock, uint16_t port, int *ret_fd, uint16_t *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	_cleanup_close_ int fd = -1;
	int one = 1, r;

	r = cell_netns_socket(sock, AF_INET, &fd);
	if (r < 0)
		return r;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return negative_errno();
	*ret_port = ntohs(a.sin_port);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cell_netns_go(int sock, bool serve)
{
	return cell_fdpass_send(sock, (char[]){serve ? CELL_NETNS_SERVE : CELL_NETNS_DONE, '\0'},
				NULL, 0);
}

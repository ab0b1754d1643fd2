/* SPDX-License-Identifier: MIT */
/*
 * connect() (and the ways glibc programs open TCP connections without it: sendto and sendmsg
 * with MSG_FASTOPEN) of a TCP socket to anywhere but loopback: the socket is connected to the
 * cell's proxy instead, which is asked for a tunnel with CONNECT. On 200 the caller has a
 * connected socket; a refusal is ECONNREFUSED, with the proxy's reason on stderr once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "shim.h"

/* The destination as the proxy is to see it (its text), unless it is one to leave alone. */
static bool destination(const struct sockaddr *sa, socklen_t len, char *text, uint16_t *port)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		uint32_t a = ntohl(in->sin_addr.s_addr);

		/* loopback, and 0.0.0.0 (which Linux takes for loopback) */
		if ((a >> 24) == 127 || a == 0)
			return false;
		inet_ntop(AF_INET, &in->sin_addr, text, INET6_ADDRSTRLEN);
		*port = ntohs(in->sin_port);
		return true;
	}
	/* (RFC 2133's sockaddr_in6, without sin6_scope_id, is as good to the kernel) */
	if (sa->sa_family == AF_INET6 && len >= offsetof(struct sockaddr_in6, sin6_scope_id)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const struct in6_addr *a = &in6->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
			return false;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			if (a->s6_addr[12] == 127 || !memcmp(a->s6_addr + 12, "\0\0\0\0", 4))
				return false;
			inet_ntop(AF_INET, a->s6_addr + 12, text, INET6_ADDRSTRLEN);
		} else {
			inet_ntop(AF_INET6, a, text, INET6_ADDRSTRLEN);
		}
		*port = ntohs(in6->sin6_port);
		return true;
	}
	return false;
}

/* Whether fd is a TCP socket, or a Multipath TCP one (of the destination's family: connect
 * takes no other). */
static bool tcp_socket(int fd)
{
	int protocol = 0;
	socklen_t len = sizeof(protocol);

	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 &&
	       (protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP);
}

/* The proxy's answer to the CONNECT: its status (the head consumed, nothing after it), or
 * -errno; a refusal's reason in why. */
static int read_reply(int fd, int64_t deadline, char *why, size_t why_size)
{
	char head[8192];
	size_t body_len = 0;
	int status = 0, n;

	*why = '\0';
	for (;;) {
		/* peek, so that nothing past the head (the upstream's first bytes) is taken */
		ssize_t got = recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
		struct pollfd p = {fd, POLLIN, 0};
		int64_t left;

		if (got == 0)
			return -ECONNRESET;
		if (got < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (got > 0) {
			n = cell_shim_reply_parse(head, (size_t)got, &status, &body_len);
			if (n < 0 || (n == 0 && (size_t)got == sizeof(head)))
				return -EPROTO;
			if (n > 0)
				break;
		}
		left = deadline - shim_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (got > 0) {
			/* a part of the head: poll would say readable at once */
			usleep(1000);
			continue;
		}
		poll(&p, 1, (int)left);
	}
	if (shim_recv_exact(fd, head, (size_t)n, deadline) < 0)
		return -ECONNRESET;
	if (status != 200 && body_len > 0) {
		size_t take = body_len < why_size - 1 ? body_len : why_size - 1;

		if (shim_recv_exact(fd, why, take, deadline) == 0)
			why[take] = '\0';
	}
	return status;
}

/*
 * How long setting up the tunnel may take: SHIM_CONNECT_MS, or less if the socket has a send
 * timeout (which bounds a blocking connect). A signal does not end the wait: its handler runs
 * and the wait goes on, as if it had SA_RESTART (returning EINTR halfway would leave a socket
 * that polls as connected to the proxy, not to where the caller asked).
 */
static int64_t deadline_of(int fd)
{
	struct timeval tv = {0, 0};
	socklen_t len = sizeof(tv);
	int64_t ms = SHIM_CONNECT_MS;

	if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0 && (tv.tv_sec || tv.tv_usec) &&
	    tv.tv_sec < SHIM_CONNECT_MS / 1000)
		ms = (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	return shim_now_ms() + ms;
}

/* Through the proxy: 0 (fd is a tunnel to text:port) or -errno. */
static int via_proxy(int fd, int family, const char *text, uint16_t port)
{
	int64_t deadline = deadline_of(fd);
	char req[600], why[512];
	int flags = fcntl(fd, F_GETFL), r, status;

	/* a non-blocking caller is answered once the allowlist lets it through, not after the
	 * upstream connected (which then shows as a reset, as a failed connect would) */
	r = cell_shim_connect_request(text, port, flags >= 0 && (flags & O_NONBLOCK), req,
				      sizeof(req));
	if (r < 0)
		return -EINVAL;
	r = shim_connect_proxy(fd, family, deadline);
	if (r < 0) {
		/* (not for a second connect of a socket, which says EISCONN or EALREADY) */
		if (r == -ECONNREFUSED || r == -ETIMEDOUT)
			shim_say_once(
				"noproxy",
				"cell: the cell's proxy cannot be reached: connections out fail\n");
		return r;
	}
	/* the helpers use MSG_DONTWAIT and poll: the descriptor's flags stay as they are */
	r = shim_send_all(fd, req, strlen(req), deadline);
	status = r < 0 ? r : read_reply(fd, deadline, why, sizeof(why));
	if (status == 200)
		return 0;
	/* keyed by the reason, which names the host: a client that tries the name's IPv4 and
	 * IPv6 addresses in turn hears it once */
	if (status > 0 && why[0]) {
		char line[600];

		snprintf(line, sizeof(line), "%s%s", why, why[strlen(why) - 1] == '\n' ? "" : "\n");
		shim_say_once(line, line);
	}
	/* the proxy closes after a refusal: the socket is of no more use, as after a refused
	 * connect */
	return status == -ETIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
}

/* The hook's work: -1 with errno, or the next connect's result. */
static int hooked_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int (*next)(int, const struct sockaddr *, socklen_t) = shim_next()->connect;
	char text[INET6_ADDRSTRLEN];
	uint16_t port;
	int saved = errno, r;

	if (!shim_conf() || !sa || !destination(sa, len, text, &port) || !tcp_socket(fd))
		return next(fd, sa, len);
	r = via_proxy(fd, sa->sa_family, text, port);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	errno = saved;
	return 0;
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return hooked_connect(fd, sa, len);
}

/* glibc 2.36 exports it too (and calls it itself) */
SHIM_EXPORT int __connect(int fd, const struct sockaddr *sa, socklen_t len);
SHIM_EXPORT int __connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return hooked_connect(fd, sa, len);
}

/* TCP Fast Open: a connect and a send in one call. Through the proxy: a connect, then a send. */
SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
			   socklen_t len)
{
	ssize_t (*next)(int, const void *, size_t, int, const struct sockaddr *, socklen_t) =
		shim_next()->sendto;
	char text[INET6_ADDRSTRLEN];
	uint16_t port;

	if (!(flags & MSG_FASTOPEN) || !shim_conf() || !sa || !destination(sa, len, text, &port) ||
	    !tcp_socket(fd))
		return next(fd, buf, n, flags, sa, len);
	if (hooked_connect(fd, sa, len) < 0)
		return -1;
	return next(fd, buf, n, flags & ~MSG_FASTOPEN, NULL, 0);
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t (*next)(int, const struct msghdr *, int) = shim_next()->sendmsg;
	char text[INET6_ADDRSTRLEN];
	struct msghdr plain;
	uint16_t port;

	if (!(flags & MSG_FASTOPEN) || !shim_conf() || !msg || !msg->msg_name ||
	    !destination(msg->msg_name, msg->msg_namelen, text, &port) || !tcp_socket(fd))
		return next(fd, msg, flags);
	if (hooked_connect(fd, msg->msg_name, msg->msg_namelen) < 0)
		return -1;
	plain = *msg;
	plain.msg_name = NULL;
	plain.msg_namelen = 0;
	return next(fd, &plain, flags & ~MSG_FASTOPEN);
}

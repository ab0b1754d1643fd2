/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"
#include "listen.h"
#include "macro.h"

bool cell_sockaddr_from_literal(const char *text, uint16_t port, struct sockaddr_storage *ss,
				socklen_t *ret_len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*ret_len = sizeof(*s4);
		return true;
	}
	if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*ret_len = sizeof(*s6);
		return true;
	}
	return false;
}

uint16_t cell_sockaddr_text(const struct sockaddr *sa, char text[INET6_ADDRSTRLEN])
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, text, INET6_ADDRSTRLEN);
		return ntohs(s6->sin6_port);
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, text, INET6_ADDRSTRLEN);
		return ntohs(s4->sin_port);
	}
	return 0;
}

int cell_proxy_listen(const char *spec, int *ret_fd, char **ret_desc)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd, one = 1, r;

	if (startswith(spec, "unix:")) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;

		if (strlen(spec + 5) >= sizeof(un->sun_path))
			return -ENAMETOOLONG;
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, spec + 5);
		len = sizeof(*un);
	} else {
		char host[CELL_HOST_MAX + 1];
		const char *why;
		uint16_t port = 0;
		bool v6;
		const char *colon = strrchr(spec, ':');

		/* port 0 is any free port, which the authority parser refuses: handle it here */
		if (colon && streq(colon, ":0")) {
			if (cell_http_parse_authority(spec, (size_t)(colon - spec), false, 1, host,
						      &v6, &port, &why) < 0)
				return -EINVAL;
			port = 0;
		} else if (cell_http_parse_authority(spec, strlen(spec), true, 0, host, &v6, &port,
						     &why) < 0) {
			return -EINVAL;
		}
		if (!cell_sockaddr_from_literal(host, port, &ss, &len))
			return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
		r = negative_errno();
		close(fd);
		return r;
	}
	r = cell_proxy_describe(fd, ret_desc);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int cell_proxy_describe(int fd, char **ret_desc)
{
	struct sockaddr_storage ss = {0};
	socklen_t len = sizeof(ss);
	int r;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return negative_errno();
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;

		r = asprintf(ret_desc, "unix:%.*s", (int)sizeof(un->sun_path), un->sun_path);
	} else {
		char text[INET6_ADDRSTRLEN] = "?";
		uint16_t bound = cell_sockaddr_text((struct sockaddr *)&ss, text);

		r = asprintf(ret_desc, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, bound);
	}
	return r < 0 ? -ENOMEM : 0;
}

int cell_proxy_adopt(int fd)
{
	int type = 0, listening = 0, flags;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return errno == EBADF ? -EBADF : -ENOTSOCK;
	len = sizeof(listening);
	if (type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
		return -EINVAL;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return negative_errno();
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"
#include "macro.h"

int cell_fdpass_send(int sock, const char *text, const int *fds, size_t n)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(CELL_FDPASS_MAX * sizeof(int))];
	} control;
	struct iovec iov = {(void *)text, strlen(text)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t sent;

	if (n > CELL_FDPASS_MAX)
		return -EINVAL;
	if (n > 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		m.msg_control = control.buf;
		m.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	do
		sent = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	return sent < 0 ? negative_errno() : 0;
}

ssize_t cell_fdpass_recv(int sock, char *buf, size_t size, int *ret_fds, size_t n)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(CELL_FDPASS_MAX * sizeof(int))];
	} control;
	struct iovec iov = {buf, size - 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	size_t got = 0;
	ssize_t len;

	for (size_t i = 0; i < n; i++)
		ret_fds[i] = -1;
	if (n > 0) {
		m.msg_control = control.buf;
		m.msg_controllen = sizeof(control.buf);
	}
	do
		len = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (len < 0 && errno == EINTR);
	if (len < 0)
		return negative_errno();
	for (struct cmsghdr *c = n ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c)) {
		int fds[CELL_FDPASS_MAX];
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (k > ELEMENTSOF(fds))
			k = ELEMENTSOF(fds);
		memcpy(fds, CMSG_DATA(c), k * sizeof(int));
		for (size_t i = 0; i < k; i++) {
			if (got < n)
				ret_fds[got++] = fds[i];
			else
				close(fds[i]);
		}
	}
	buf[len] = '\0';
	return len;
}

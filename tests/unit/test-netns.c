/* SPDX-License-Identifier: MIT */
/* The protocol by which a cell's init makes sockets for the host (netns.h), both ends real: the
 * init's side in a child, the host's here, over a socket pair. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

#include "fdpass.h"
#include "netns.h"

/* The init's side in a child: set-up, then (if asked) serving; exits 0, or 1 if the set-up
 * failed. */
static pid_t init_side(const int sv[2])
{
	int sock = sv[1];
	pid_t pid = fork();

	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		int r;

		/* (the host's end is the host's alone: its close is the end of the stream) */
		close(sv[0]);
		alarm(20);
		/* a network namespace of its own, as a cell's init has */
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
			_exit(3);
		/* its loopback up, as bubblewrap has it */
		{
			struct ifreq ifr = {.ifr_name = "lo"};
			int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

			if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
				_exit(3);
			ifr.ifr_flags |= IFF_UP;
			if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
				_exit(3);
			close(s);
		}
		r = cell_netns_setup(sock);

		if (r > 0)
			cell_netns_serve(sock);
		_exit(r < 0);
	}
	close(sock);
	return pid;
}

static int exit_of(pid_t pid)
{
	int status;

	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void pair(int sv[2])
{
	cr_assert(eq(int, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0));
}

Test(netns, the_host_gets_a_listening_socket_and_more_sockets_after)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int sv[2], listen_fd, fd, client, listening = 0;
	socklen_t len = sizeof(listening);
	uint16_t port;
	pid_t pid;

	pair(sv);
	pid = init_side(sv);
	if (cell_netns_hello(sv[0]) < 0) {
		close(sv[0]);
		if (exit_of(pid) == 3)
			cr_skip("no user namespaces here");
		cr_assert(false, "no hello from the init's side");
	}
	cr_assert(eq(int, cell_netns_listen(sv[0], 0, &listen_fd, &port), 0));
	cr_assert(gt(int, port, 0));
	cr_assert(eq(int, fcntl(listen_fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC));
	cr_assert(eq(int, fcntl(listen_fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK));
	cr_assert(eq(int, getsockopt(listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len), 0));
	cr_assert(eq(int, listening, 1));
	/* it listens over there: here, the port is no one's */
	client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	to.sin_port = htons(port);
	cr_assert(eq(int, connect(client, (struct sockaddr *)&to, sizeof(to)), -1));
	cr_assert(eq(int, errno, ECONNREFUSED));
	/* serving on: a socket connected over there, to the listening one (which the host has:
	 * its accept is the connection's other end); a port nothing listens on refuses it */
	cr_assert(eq(int, cell_netns_go(sv[0], true), 0));
	cr_assert(eq(int, cell_netns_connect(sv[0], port, &fd), 0));
	cr_assert(eq(int, fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK));
	{
		struct pollfd p = {listen_fd, POLLIN, 0};
		int accepted;

		cr_assert(eq(int, poll(&p, 1, 5000), 1));
		accepted = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		cr_assert(ge(int, accepted, 0));
		cr_assert(eq(long, (long)write(fd, "hi", 2), 2L));
		{
			char got[4] = {0};

			cr_assert(eq(long, (long)read(accepted, got, sizeof(got)), 2L));
			cr_assert(eq(str, got, "hi"));
		}
		close(accepted);
	}
	close(fd);
	{
		uint16_t other;
		int l2;

		/* a port taken over there is refused with the reason */
		cr_assert(eq(int, cell_netns_listen(sv[0], port, &l2, &other), -EADDRINUSE));
		cr_assert(eq(int, cell_netns_listen(sv[0], 0, &l2, &other), 0));
		close(l2);
		/* (connecting there: the refusal comes to the socket, as to one's own) */
		cr_assert(eq(int, cell_netns_connect(sv[0], other, &fd), 0));
		{
			struct pollfd p = {fd, POLLOUT, 0};
			int error = 0;
			socklen_t n = sizeof(error);

			cr_assert(eq(int, poll(&p, 1, 5000), 1));
			cr_assert(eq(int, getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &n), 0));
			cr_assert(eq(int, error, ECONNREFUSED));
		}
		close(fd);
	}
	/* the host's end closed: the init's child is done */
	close(sv[0]);
	cr_assert(eq(int, exit_of(pid), 0));
	close(client);
	close(listen_fd);
}

/* A pair, the init's side on it, and its hello (the test skipped without user namespaces). */
static pid_t init_said_hello(int sv[2])
{
	pid_t pid;

	pair(sv);
	pid = init_side(sv);
	if (cell_netns_hello(sv[0]) < 0)
		cr_skip("no user namespaces here");
	return pid;
}

Test(netns, done_ends_the_set_up_and_the_host_gone_first_fails_it)
{
	int sv[2];
	pid_t pid = init_said_hello(sv);

	cr_assert(eq(int, cell_netns_go(sv[0], false), 0));
	cr_assert(eq(int, exit_of(pid), 0));
	close(sv[0]);
	/* the host never said go: the cell must not start */
	pair(sv);
	pid = init_side(sv);
	cr_assert(eq(int, cell_netns_hello(sv[0]), 0));
	close(sv[0]);
	cr_assert(eq(int, exit_of(pid), 1));
}

/* An init that answers with something else than what was asked for (a cell that took it over)
 * gets nothing used: the host checks what came. */
Test(netns, the_host_takes_only_what_it_asked_for)
{
	int sv[2], other[2], fd = -1;
	uint16_t port = 0;
	char buf[16];

	pair(sv);
	pair(other);
	/* a listening TCP socket, but the host's own (on the host's loopback) */
	{
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		cr_assert(eq(int, bind(l, (struct sockaddr *)&a, sizeof(a)), 0));
		cr_assert(eq(int, listen(l, 1), 0));
		cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &l, 1), 0));
		cr_assert(eq(int, cell_netns_listen(sv[0], 0, &fd, &port), -EPROTO));
		/* (the request it sent) */
		cr_assert(eq(int, (int)cell_fdpass_recv(sv[1], buf, sizeof(buf), NULL, 0), 2));
		cr_assert(eq(str, buf, "L0"));
		/* nor as a connection */
		cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &l, 1), 0));
		cr_assert(eq(int, cell_netns_connect(sv[0], 3000, &fd), -EPROTO));
		cr_assert(eq(int, (int)cell_fdpass_recv(sv[1], buf, sizeof(buf), NULL, 0), 5));
		cr_assert(eq(str, buf, "C3000"));
		close(l);
	}
	/* not a socket at all, a UDP socket, a new socket not listening when asked to listen */
	cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &other[0], 1), 0));
	cr_assert(eq(int, cell_netns_listen(sv[0], 0, &fd, &port), -EPROTO));
	cr_assert(eq(int, fd, -1));
	{
		int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &udp, 1), 0));
		cr_assert(eq(int, cell_netns_connect(sv[0], 3000, &fd), -EPROTO));
		close(udp);
	}
	{
		int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &tcp, 1), 0));
		cr_assert(eq(int, cell_netns_listen(sv[0], 0, &fd, &port), -EPROTO));
		close(tcp);
	}
	/* a refusal says its errno, and nothing else: the connection's failure, not the pair's
	 * (a positive errno); for a listener, the set-up's */
	cr_assert(eq(int, cell_fdpass_send(sv[1], "0111", NULL, 0), 0));
	cr_assert(eq(int, cell_netns_connect(sv[0], 3000, &fd), ECONNREFUSED));
	cr_assert(eq(int, cell_fdpass_send(sv[1], "01", NULL, 0), 0));
	cr_assert(eq(int, cell_netns_connect(sv[0], 3000, &fd), EPERM));
	cr_assert(eq(int, cell_fdpass_send(sv[1], "098", NULL, 0), 0));
	cr_assert(eq(int, cell_netns_listen(sv[0], 3000, &fd, &port), -EADDRINUSE));
	cr_assert(eq(int, cell_fdpass_send(sv[1], "0", NULL, 0), 0));
	cr_assert(eq(int, cell_netns_connect(sv[0], 3000, &fd), -EIO));
	cr_assert(eq(int, cell_fdpass_send(sv[1], "0-1", NULL, 0), 0));
	cr_assert(eq(int, cell_netns_connect(sv[0], 3000, &fd), -EIO));
	cr_assert(eq(int, cell_fdpass_send(sv[1], "0999999", NULL, 0), 0));
	cr_assert(eq(int, cell_netns_connect(sv[0], 3000, &fd), -EIO));
	cr_assert(eq(int, cell_fdpass_send(sv[1], "yes", NULL, 0), 0));
	cr_assert(eq(int, cell_netns_connect(sv[0], 3000, &fd), -EIO));
	close(other[0]);
	close(other[1]);
	close(sv[0]);
	close(sv[1]);
}

/* The init's side refuses a request that is not one (a port past 65535, no port, junk). */
Test(netns, the_init_refuses_a_request_that_is_not_one)
{
	static const char *const bad[] = {"L65536", "L", "C-1", "L80x", "L123456", "Z"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int sv[2];
		pid_t pid = init_said_hello(sv);

		cr_assert(eq(int, cell_fdpass_send(sv[0], bad[i], NULL, 0), 0));
		/* the set-up fails: the cell does not start */
		cr_assert(eq(int, exit_of(pid), 1), "%s", bad[i]);
		close(sv[0]);
	}
}

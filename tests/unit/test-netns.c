/* SPDX-License-Identifier: MIT */
/* The protocol by which a cell's init makes sockets for the host (netns.h), both ends real: the
 * init's side in a child, the host's here, over a socket pair. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <netinet/in.h>
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
	/* serving on: a socket of each family, made over there */
	cr_assert(eq(int, cell_netns_go(sv[0], true), 0));
	cr_assert(eq(int, cell_netns_socket(sv[0], AF_INET6, &fd), 0));
	close(fd);
	cr_assert(eq(int, cell_netns_socket(sv[0], AF_INET, &fd), 0));
	close(fd);
	cr_assert(eq(int, cell_netns_socket(sv[0], AF_UNIX, &fd), -EAFNOSUPPORT));
	/* the host's end closed: the init's child is done */
	close(sv[0]);
	cr_assert(eq(int, exit_of(pid), 0));
	close(client);
	close(listen_fd);
}

Test(netns, done_ends_the_set_up_and_the_host_gone_first_fails_it)
{
	int sv[2];
	pid_t pid;

	pair(sv);
	pid = init_side(sv);
	if (cell_netns_hello(sv[0]) < 0)
		cr_skip("no user namespaces here");
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

/* An init that answers with something else than a TCP socket of the family asked for (a cell
 * that took it over) gets nothing used: the host checks what came. */
Test(netns, the_host_takes_only_what_it_asked_for)
{
	int sv[2], other[2], fd = -1;
	char buf[8];

	pair(sv);
	pair(other);
	/* a new TCP socket, but the host's own (bound, it would listen on the host's loopback) */
	{
		int ours = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &ours, 1), 0));
		cr_assert(eq(int, cell_netns_socket(sv[0], AF_INET, &fd), -EPROTO));
		close(ours);
	}
	cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &other[0], 1), 0));
	cr_assert(eq(int, cell_netns_socket(sv[0], AF_INET, &fd), -EPROTO));
	cr_assert(eq(int, fd, -1));
	/* (the request it sent) */
	cr_assert(eq(int, (int)cell_fdpass_recv(sv[1], buf, sizeof(buf), NULL, 0), 1));
	cr_assert(eq(int, buf[0], CELL_NETNS_SOCKET4));
	{
		int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &udp, 1), 0));
		cr_assert(eq(int, cell_netns_socket(sv[0], AF_INET, &fd), -EPROTO));
		close(udp);
	}
	/* a TCP socket that is not new: listening (its other copy the sender's to play with) */
	{
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		cr_assert(eq(int, bind(l, (struct sockaddr *)&a, sizeof(a)), 0));
		cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &l, 1), 0));
		cr_assert(eq(int, cell_netns_socket(sv[0], AF_INET, &fd), -EPROTO));
		cr_assert(eq(int, listen(l, 1), 0));
		cr_assert(eq(int, cell_fdpass_send(sv[1], "1", &l, 1), 0));
		cr_assert(eq(int, cell_netns_socket(sv[0], AF_INET, &fd), -EPROTO));
		close(l);
	}
	cr_assert(eq(int, cell_fdpass_send(sv[1], "0", NULL, 0), 0));
	cr_assert(eq(int, cell_netns_socket(sv[0], AF_INET, &fd), -EIO));
	close(other[0]);
	close(other[1]);
	close(sv[0]);
	close(sv[1]);
}

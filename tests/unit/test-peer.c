/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bpf.h"
#include "cgroup.h"
#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "peer.h"
#include "session.h"

/* This process's cgroup id (its cgroup2 directory's handle). */
static uint64_t own_cgroup(void)
{
	_cleanup_free_ char *cg2 = NULL, *text = NULL, *dir = NULL;
	char path[512];
	uint64_t id = 0;
	bool hybrid;

	cr_assert(eq(int, cell_cgroup_find("/proc/self/mountinfo", &cg2, &hybrid), 0));
	cr_assert(eq(int, cell_read_file("/proc/self/cgroup", 0, 65536, &text, NULL), 0));
	cr_assert(eq(int, cell_session_cgroup_of(text, path, sizeof(path)), 0));
	dir = cell_path_join(cg2, path);
	cr_assert(eq(int, cell_bpf_cgroup_id(dir, &id), 0), "%s", dir);
	return id;
}

/* A connection to ourselves over loopback (family's); the accepted end in *ret_accepted. */
static int connected(int family, int *ret_accepted)
{
	struct sockaddr_storage ss = {.ss_family = (sa_family_t)family};
	socklen_t len =
		family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), c;

	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	cr_assert(eq(int, bind(l, (struct sockaddr *)&ss, len), 0));
	cr_assert(eq(int, listen(l, 1), 0));
	cr_assert(eq(int, getsockname(l, (struct sockaddr *)&ss, &len), 0));
	c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(eq(int, connect(c, (struct sockaddr *)&ss, len), 0));
	*ret_accepted = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert(ge(int, *ret_accepted, 0));
	close(l);
	return c;
}

Test(peer, the_cgroup_of_the_other_end_of_a_loopback_connection)
{
	uint64_t want = own_cgroup(), got = 0;
	struct cell_peer *p = NULL;
	int accepted, client;

	cr_assert(eq(int, cell_peer_new(&p), 0));
	for (int family = AF_INET; family; family = family == AF_INET ? AF_INET6 : 0) {
		client = connected(family, &accepted);
		got = 0;
		cr_assert(eq(int, cell_peer_cgroup(p, accepted, &got), 0));
		cr_assert(eq(u64, got, want));
		/* and from the client's end, the listener's side */
		got = 0;
		cr_assert(eq(int, cell_peer_cgroup(p, client, &got), 0));
		cr_assert(eq(u64, got, want));
		close(accepted);
		close(client);
	}
	cell_peer_free(p);
}

/* A dual-stack IPv6 client (::ffff:127.0.0.1) of an IPv4 server: its socket is AF_INET6. */
Test(peer, a_dual_stack_client_of_an_ipv4_server)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 to = {.sin6_family = AF_INET6};
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c, accepted;
	struct cell_peer *p = NULL;
	uint64_t got = 0;

	cr_assert(eq(int, bind(l, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, listen(l, 1), 0));
	cr_assert(eq(int, getsockname(l, (struct sockaddr *)&a, &len), 0));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &to.sin6_addr);
	to.sin6_port = a.sin_port;
	c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(eq(int, connect(c, (struct sockaddr *)&to, sizeof(to)), 0));
	accepted = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert(eq(int, cell_peer_new(&p), 0));
	cr_assert(eq(int, cell_peer_cgroup(p, accepted, &got), 0));
	cr_assert(eq(u64, got, own_cgroup()));
	cell_peer_free(p);
	close(accepted);
	close(c);
	close(l);
}

Test(peer, a_socket_with_no_peer_has_no_answer)
{
	struct cell_peer *p = NULL;
	uint64_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(eq(int, cell_peer_new(&p), 0));
	cr_assert(eq(int, cell_peer_cgroup(p, fd, &got), -ENOTCONN));
	close(fd);
	cell_peer_free(p);
}

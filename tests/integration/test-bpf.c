/* SPDX-License-Identifier: MIT */
/*
 * The BPF programs on a real kernel: a cgroup below cell.slice with a policy is a cell, and a
 * process moved into it tries real connects, sends and sockets. Needs root (loading BPF).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf.h"
#include "cgroup.h"
#include "helpers.h"
#include "macro.h"

static struct {
	char *cell_cg;
	uint64_t cgid;
	int host_tcp, host_udp, host_tcp6, proxy, local;
	uint16_t host_tcp_port, host_udp_port, host_tcp6_port, proxy_port, local_port;
	pid_t drain;
} b;

/* A socket of type on [::1] or 127.0.0.1 port 0, listening if TCP; its port. */
static int listener(int family, int type, uint16_t *ret_port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len =
		family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	cr_assert(ge(int, fd, 0));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&ss, len), 0), "%s", strerror(errno));
	if (type == SOCK_STREAM)
		cr_assert(eq(int, listen(fd, 128), 0));
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*ret_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* Accepts on fd and reads everything, in a child, until killed. */
static pid_t drain(int fd)
{
	pid_t pid = th_fork();

	if (pid == 0) {
		char buf[65536];

		for (;;) {
			int c = accept(fd, NULL, NULL);

			while (c >= 0 && read(c, buf, sizeof(buf)) > 0)
				;
			if (c >= 0)
				close(c);
		}
	}
	return pid;
}

static void setup(void)
{
	_cleanup_free_ char *cg2 = NULL, *slice = NULL;
	struct cell_policy policy = {0};
	bool hybrid;
	int r;

	memset(&b, 0, sizeof(b));
	if (geteuid() != 0)
		th_skip("needs root to load BPF programs");
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0)
		th_skip("the kernel has no BTF");
	cr_assert(eq(int, cell_cgroup_find("/proc/self/mountinfo", &cg2, &hybrid), 0));
	slice = th_join(cg2, "cell.slice");
	r = cell_bpf_setup(slice);
	if (r == -EPERM)
		th_skip("loading BPF programs is not permitted here");
	cr_assert(eq(int, r, 0), "cell_bpf_setup: %s", strerror(-r));
	cr_assert(ge(int, asprintf(&b.cell_cg, "%s/test-%d", slice, (int)getpid()), 0));
	cr_assert(eq(int, mkdir(b.cell_cg, 0755), 0), "%s", strerror(errno));
	cr_assert(eq(int, cell_bpf_cgroup_id(b.cell_cg, &b.cgid), 0));
	b.host_tcp = listener(AF_INET, SOCK_STREAM, &b.host_tcp_port);
	b.host_udp = listener(AF_INET, SOCK_DGRAM, &b.host_udp_port);
	b.host_tcp6 = listener(AF_INET6, SOCK_STREAM, &b.host_tcp6_port);
	b.proxy = listener(AF_INET, SOCK_STREAM, &b.proxy_port);
	b.local = listener(AF_INET, SOCK_STREAM, &b.local_port);
	b.drain = drain(b.proxy);
	policy.n_local_ports = 1;
	policy.local_ports[0] = b.local_port;
	cr_assert(eq(int, cell_bpf_policy_set(b.cgid, &policy), 0));
	/* the proxy is the cell's by its socket, as a session makes it */
	cr_assert(eq(int, cell_bpf_own_socket(b.cgid, b.proxy), 0));
}

static void teardown(void)
{
	if (!b.cell_cg)
		return;
	if (b.drain > 0) {
		kill(b.drain, SIGKILL);
		waitpid(b.drain, NULL, 0);
	}
	cell_bpf_policy_delete(b.cgid);
	cell_bpf_counters_delete(b.cgid);
	rmdir(b.cell_cg);
	free(b.cell_cg);
}

TestSuite(bpf, .init = setup, .fini = teardown, .timeout = 60);

static pid_t last_probe; /* the pid of in_cell()'s last child */

/* Moves the calling process into the cgroup at path; false if it cannot. */
static bool join(const char *path)
{
	char *procs = th_join(path, "cgroup.procs");
	int fd = open(procs, O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, "0", 1) == 1;

	if (fd >= 0)
		close(fd);
	free(procs);
	return ok;
}

/* Runs fn in a child (named "cellprobe") moved into the cell's cgroup; returns what fn
 * returned (an errno). */
static int in_cell(int (*fn)(void))
{
	pid_t pid = fork();
	int status;

	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		if (!join(b.cell_cg))
			_exit(200);
		prctl(PR_SET_NAME, "cellprobe");
		_exit(fn());
	}
	waitpid(pid, &status, 0);
	last_probe = pid;
	cr_assert(eq(int, WIFEXITED(status), 1), "the probe died");
	cr_assert(ne(int, WEXITSTATUS(status), 200), "could not join the cell's cgroup");
	return WEXITSTATUS(status);
}

/* 0 if a connect of type to text:port succeeds, else its errno. */
static int try_connect(int type, const char *text, uint16_t port)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	bool v6 = strchr(text, ':') != NULL;
	int fd = socket(v6 ? AF_INET6 : AF_INET, type, 0), r;

	if (fd < 0)
		return errno;
	if (v6)
		inet_pton(AF_INET6, text, &a6.sin6_addr);
	else
		inet_pton(AF_INET, text, &a4.sin_addr);
	r = v6 ? connect(fd, (struct sockaddr *)&a6, sizeof(a6))
	       : connect(fd, (struct sockaddr *)&a4, sizeof(a4));
	r = r < 0 ? errno : 0;
	close(fd);
	return r;
}

static int udp_send(const char *text, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), r;

	inet_pton(AF_INET, text, &a.sin_addr);
	r = sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) < 0 ? errno : 0;
	close(fd);
	return r;
}

static int connect_host_tcp(void)
{
	return try_connect(SOCK_STREAM, "127.0.0.1", b.host_tcp_port);
}

static int connect_proxy(void)
{
	return try_connect(SOCK_STREAM, "127.0.0.1", b.proxy_port);
}
/* What probe() tries in the cell: a connect, or a UDP send (fork copies it to the child). */
static struct {
	int type; /* SOCK_STREAM or SOCK_DGRAM; 0: an unconnected UDP send */
	const char *addr;
	uint16_t port;
} try;

static int probe(void)
{
	return try.type ? try_connect(try.type, try.addr, try.port) : udp_send(try.addr, try.port);
}

/* try_connect() (type 0: udp_send()) from inside the cell: 0 or the errno. */
static int from_cell(int type, const char *addr, uint16_t port)
{
	try.type = type;
	try.addr = addr;
	try.port = port;
	return in_cell(probe);
}

Test(bpf, loopback_reaches_only_the_proxy_and_listed_ports)
{
	/* ports the host bound: TCP, UDP connect, UDP send, IPv6, IPv4-mapped */
	cr_assert(eq(int, from_cell(SOCK_STREAM, "127.0.0.1", b.host_tcp_port), EPERM));
	cr_assert(eq(int, from_cell(SOCK_STREAM, "127.0.0.2", b.host_tcp_port), EPERM));
	cr_assert(eq(int, from_cell(SOCK_DGRAM, "127.0.0.1", b.host_udp_port), EPERM));
	cr_assert(eq(int, from_cell(0, "127.0.0.1", b.host_udp_port), EPERM));
	cr_assert(eq(int, from_cell(SOCK_STREAM, "::1", b.host_tcp6_port), EPERM));
	cr_assert(eq(int, from_cell(SOCK_STREAM, "::ffff:127.0.0.1", b.host_tcp_port), EPERM));
	/* the proxy, also as ::ffff:127.0.0.1, and network.local_ports */
	cr_assert(eq(int, from_cell(SOCK_STREAM, "127.0.0.1", b.proxy_port), 0));
	cr_assert(eq(int, from_cell(SOCK_STREAM, "::ffff:127.0.0.1", b.proxy_port), 0));
	cr_assert(eq(int, from_cell(SOCK_STREAM, "127.0.0.1", b.local_port), 0));
	/* the positive control: outside the cell the host's port answers */
	cr_assert(eq(int, connect_host_tcp(), 0));
}

/* A server the cell starts is reachable from the cell, until it closes. */
static int own_server(void)
{
	uint16_t port, port6;
	int fd = listener(AF_INET, SOCK_STREAM, &port);
	int fd6 = listener(AF_INET6, SOCK_STREAM, &port6);
	int udp;
	uint16_t uport;

	if (try_connect(SOCK_STREAM, "127.0.0.1", port) != 0)
		return 10;
	if (try_connect(SOCK_STREAM, "::1", port6) != 0)
		return 11;
	/* a port is bound per protocol: the TCP port does not open UDP */
	if (try_connect(SOCK_DGRAM, "127.0.0.1", port) != EPERM)
		return 12;
	udp = listener(AF_INET, SOCK_DGRAM, &uport);
	if (udp_send("127.0.0.1", uport) != 0)
		return 13;
	close(fd);
	close(fd6);
	close(udp);
	/* released with the socket */
	if (try_connect(SOCK_STREAM, "127.0.0.1", port) != EPERM)
		return 14;
	if (udp_send("127.0.0.1", uport) != EPERM)
		return 15;
	return 0;
}

/* A dual-stack wildcard server (Node's default) takes IPv4 connections from the cell. */
static int own_wildcard_server(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0)
		return 20;
	getsockname(fd, (struct sockaddr *)&a, &len);
	if (try_connect(SOCK_STREAM, "127.0.0.1", ntohs(a.sin6_port)) != 0)
		return 21;
	if (try_connect(SOCK_STREAM, "::1", ntohs(a.sin6_port)) != 0)
		return 22;
	if (try_connect(SOCK_STREAM, "::ffff:127.0.0.1", ntohs(a.sin6_port)) != 0)
		return 23;
	close(fd);
	return 0;
}

Test(bpf, the_cell_reaches_the_servers_it_started)
{
	cr_assert(eq(int, in_cell(own_server), 0));
	cr_assert(eq(int, in_cell(own_wildcard_server), 0));
}

/*
 * Squats: a socket the cell binds on someone else's port, at another address, must not open
 * that someone's socket. Each returns the errno of the connect (or send) past the squat.
 */
static uint16_t squat_port, wildcard_port;

static int bind_at(int type, const char *text, uint16_t port, bool v6only)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	bool v6 = strchr(text, ':') != NULL;
	int fd = socket(v6 ? AF_INET6 : AF_INET, type, 0), one = 1;

	if (v6only && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -1;
	if (v6)
		inet_pton(AF_INET6, text, &a6.sin6_addr);
	else
		inet_pton(AF_INET, text, &a4.sin_addr);
	if ((v6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
		: bind(fd, (struct sockaddr *)&a4, sizeof(a4))) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 8) < 0))
		return -1;
	return fd;
}

static int squat_another_address(void)
{
	if (bind_at(SOCK_STREAM, "127.0.0.2", squat_port, false) < 0)
		return 100;
	return try_connect(SOCK_STREAM, "127.0.0.1", squat_port);
}

static int squat_v6only(void)
{
	if (bind_at(SOCK_STREAM, "::", wildcard_port, true) < 0)
		return 100;
	/* its own socket answers ::1; 127.0.0.1 is the host's wildcard listener's */
	if (try_connect(SOCK_STREAM, "::1", wildcard_port) != 0)
		return 101;
	return try_connect(SOCK_STREAM, "127.0.0.1", wildcard_port);
}

static int squat_udp(void)
{
	if (bind_at(SOCK_DGRAM, "127.0.0.2", squat_port, false) < 0)
		return 100;
	return udp_send("127.0.0.1", squat_port);
}

Test(bpf, a_port_the_cell_bound_at_another_address_opens_no_one_elses_socket)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int any = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* the host's: 127.0.0.1 (TCP and UDP) and 0.0.0.0 */
	cr_assert(eq(int, bind(any, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, listen(any, 8), 0));
	getsockname(any, (struct sockaddr *)&a, &len);
	wildcard_port = ntohs(a.sin_port);
	squat_port = b.host_tcp_port;
	cr_assert(eq(int, in_cell(squat_another_address), EPERM));
	cr_assert(eq(int, in_cell(squat_v6only), EPERM));
	squat_port = b.host_udp_port;
	cr_assert(eq(int, in_cell(squat_udp), EPERM));
	/* the positive controls: outside a cell the same squats reach the host's sockets */
	squat_port = b.host_tcp_port;
	cr_assert(eq(int, squat_another_address(), 0));
	cr_assert(eq(int, squat_v6only(), 0));
	close(any);
}

/*
 * A broadcast on loopback (127.255.255.255) reaches every UDP socket of its port, the host's
 * on 0.0.0.0 too: a cell that binds the broadcast address itself (its own socket is then what
 * a lookup finds) must still not send there. Returns the send's errno.
 */
static int broadcast_port;

static int broadcast(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(broadcast_port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;

	inet_pton(AF_INET, "127.255.255.255", &a.sin_addr);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 100;
	return sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) < 0 ? errno : 0;
}

Test(bpf, a_broadcast_on_loopback_reaches_no_one_elses_socket)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int host = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
	char c;

	/* the host's: 0.0.0.0, as UDP services that share their port have it */
	cr_assert(eq(int, setsockopt(host, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0));
	cr_assert(eq(int, bind(host, (struct sockaddr *)&a, sizeof(a)), 0));
	getsockname(host, (struct sockaddr *)&a, &len);
	broadcast_port = ntohs(a.sin_port);
	cr_assert(eq(int, in_cell(broadcast), EPERM));
	cr_assert(eq(long, (long)recv(host, &c, 1, MSG_DONTWAIT), -1L));
	/* nor by connect (a connected socket's datagrams the egress program judges) */
	cr_assert(eq(int, from_cell(SOCK_DGRAM, "127.255.255.255", broadcast_port), EPERM));
	/* the positive control: outside a cell the broadcast reaches the host's socket */
	cr_assert(eq(int, broadcast(), 0));
	cr_assert(eq(long, (long)recv(host, &c, 1, MSG_DONTWAIT), 1L));
	close(host);
}

/* A non-loopback IPv4 address of this machine, or false. */
static bool other_local_address(struct in_addr *ret)
{
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (getifaddrs(&ifs) < 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    (ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) >> 24) != 127) {
			*ret = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			found = true;
		}
	freeifaddrs(ifs);
	return found;
}

static struct in_addr other_addr;
static int heard[2];

/*
 * A UDP socket on 0.0.0.0 tells its port over heard[1], then says which source the first
 * datagram it receives came from: 0 loopback, 1 another address, 2 none within 10 s.
 */
static int first_datagram_from(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct timeval tv = {10, 0};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	char c;

	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    write(heard[1], &a.sin_port, sizeof(a.sin_port)) != sizeof(a.sin_port))
		return 3;
	len = sizeof(a);
	if (recvfrom(fd, &c, 1, 0, (struct sockaddr *)&a, &len) != 1)
		return 2;
	return (ntohl(a.sin_addr.s_addr) >> 24) == 127 ? 0 : 1;
}

/* Sends a datagram to port at other_addr from other_addr, then one from and to loopback. */
static void send_both(in_port_t port)
{
	struct sockaddr_in there = {
		.sin_family = AF_INET, .sin_port = port, .sin_addr = other_addr};
	struct sockaddr_in lo = {
		.sin_family = AF_INET, .sin_port = port, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(eq(int, sendto(fd, "x", 1, 0, (struct sockaddr *)&there, sizeof(there)), 1));
	cr_assert(eq(int, sendto(fd, "y", 1, 0, (struct sockaddr *)&lo, sizeof(lo)), 1));
	close(fd);
}

/* What first_datagram_from() says, run in the cell (in_cell) or here. */
static int listen_and_send(bool cell)
{
	pid_t pid;
	in_port_t port;
	int status;

	cr_assert(eq(int, pipe(heard), 0));
	pid = fork();
	if (pid == 0)
		_exit(cell ? (join(b.cell_cg) ? first_datagram_from() : 200)
			   : first_datagram_from());
	cr_assert(eq(long, (long)read(heard[0], &port, sizeof(port)), (long)sizeof(port)));
	send_both(port);
	waitpid(pid, &status, 0);
	close(heard[0]);
	close(heard[1]);
	cr_assert(eq(int, WIFEXITED(status), 1));
	return WEXITSTATUS(status);
}

Test(bpf, a_cell_hears_nothing_from_other_addresses)
{
	if (!other_local_address(&other_addr))
		th_skip("this machine has no IPv4 address but loopback");
	/* outside a cell, the datagram from the other address comes first */
	cr_assert(eq(int, listen_and_send(false), 1));
	/* a cell's socket on 0.0.0.0 gets only the one from loopback */
	cr_assert(eq(int, listen_and_send(true), 0));
}

/*
 * The receiver of a cell's connection request or datagram is judged when it is sent, not only
 * when the connection or the send began: a UDP socket the cell connected to a port of its own,
 * or a SYN still on its way to a listener of its own, must not reach a service of the host's
 * that takes the port after the cell's socket is gone.
 */
static int arm[2], go[2];

static uint16_t bound_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	getsockname(fd, (struct sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

/* A UDP socket connected to a port the cell bound and then let go; sends once told to. */
static int udp_connected_then_freed(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int own = socket(AF_INET, SOCK_DGRAM, 0), c = socket(AF_INET, SOCK_DGRAM, 0);
	uint16_t port;
	char x;

	if (bind(own, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 100;
	port = bound_port(own);
	a.sin_port = htons(port);
	if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 101;
	close(own);
	if (write(arm[1], &port, sizeof(port)) != sizeof(port) || read(go[0], &x, 1) != 1)
		return 102;
	return send(c, "x", 1, 0) == 1 ? 0 : errno;
}

/* A SYN on its way to a listener of the cell's whose queue is full; the listener then goes,
 * and the connect goes on (the SYN is sent again) once told to. */
static int syn_on_its_way(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int l = socket(AF_INET, SOCK_STREAM, 0), filler = socket(AF_INET, SOCK_STREAM, 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct pollfd p = {c, POLLOUT, 0};
	uint16_t port;
	char x;

	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 0) < 0)
		return 100;
	port = bound_port(l);
	a.sin_port = htons(port);
	if (connect(filler, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 101;
	/* the queue is full: this SYN is dropped, and sent again later */
	if (connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 || errno != EINPROGRESS)
		return 102;
	close(l);
	close(filler);
	if (write(arm[1], &port, sizeof(port)) != sizeof(port) || read(go[0], &x, 1) != 1)
		return 103;
	/* until the connect ends (refused, timed out) or 20 s pass */
	poll(&p, 1, 20000);
	return 0;
}

/* Runs fn in the cell in the background; returns its pid once it says which port it armed. */
static pid_t armed(int (*fn)(void), uint16_t *ret_port)
{
	pid_t pid;

	cr_assert(eq(int, pipe(arm), 0));
	cr_assert(eq(int, pipe(go), 0));
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(join(b.cell_cg) ? fn() : 200);
	}
	cr_assert(
		eq(long, (long)read(arm[0], ret_port, sizeof(*ret_port)), (long)sizeof(*ret_port)));
	return pid;
}

Test(bpf, a_datagram_to_a_port_the_cell_let_go_never_reaches_the_host)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int host = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), status;
	uint16_t port;
	char buf[8];
	pid_t pid = armed(udp_connected_then_freed, &port);

	/* the host's service takes the port */
	a.sin_port = htons(port);
	cr_assert(eq(int, bind(host, (struct sockaddr *)&a, sizeof(a)), 0), "%s", strerror(errno));
	cr_assert(eq(long, (long)write(go[1], "g", 1), 1L));
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(eq(int, WEXITSTATUS(status), EPERM), "the send was not refused");
	cr_assert(eq(long, (long)recv(host, buf, sizeof(buf), MSG_DONTWAIT), -1L),
		  "the host's service got the cell's datagram");
	close(host);
}

Test(bpf, a_syn_on_its_way_to_a_port_the_cell_let_go_never_reaches_the_host)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int host = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
	struct cell_counters before, now;
	uint16_t port;
	pid_t pid = armed(syn_on_its_way, &port);

	cr_assert(eq(int, cell_bpf_counters(b.cgid, &before), 0));
	/* the host's service listens there now */
	a.sin_port = htons(port);
	setsockopt(host, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert(eq(int, bind(host, (struct sockaddr *)&a, sizeof(a)), 0), "%s", strerror(errno));
	cr_assert(eq(int, listen(host, 8), 0));
	cr_assert(eq(long, (long)write(go[1], "g", 1), 1L));
	/* until the SYN is sent again (about a second) and refused there, at most 10 s */
	now = before;
	for (int i = 0; i < 1000 && now.connects_denied == before.connects_denied; i++) {
		usleep(10000);
		cr_assert(eq(int, cell_bpf_counters(b.cgid, &now), 0));
	}
	cr_assert(gt(u64, now.connects_denied, before.connects_denied),
		  "the SYN sent again was not refused");
	cr_assert(eq(int, accept(host, NULL, NULL), -1), "the host's service got the connection");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(host);
}

/* Another cell's server stays closed. */
static uint16_t other_port;

static int connect_other(void)
{
	return try_connect(SOCK_STREAM, "127.0.0.1", other_port);
}

Test(bpf, another_cells_server_is_closed)
{
	char *other_cg;
	uint64_t other_id;
	struct cell_policy policy = {0};
	int ready[2];
	pid_t server;

	cr_assert(ge(int, asprintf(&other_cg, "%s-other", b.cell_cg), 0));
	cr_assert(eq(int, mkdir(other_cg, 0755), 0));
	cr_assert(eq(int, cell_bpf_cgroup_id(other_cg, &other_id), 0));
	cr_assert(eq(int, cell_bpf_policy_set(other_id, &policy), 0));
	cr_assert(eq(int, pipe(ready), 0));
	server = th_fork();
	if (server == 0) {
		uint16_t port;

		if (!join(other_cg))
			_exit(1);
		listener(AF_INET, SOCK_STREAM, &port);
		(void)!write(ready[1], &port, sizeof(port));
		pause();
		_exit(0);
	}
	cr_assert(eq(long, (long)read(ready[0], &other_port, sizeof(other_port)),
		     (long)sizeof(other_port)));
	cr_assert(eq(int, in_cell(connect_other), EPERM));
	kill(server, SIGKILL);
	waitpid(server, &(int){0}, 0);
	cell_bpf_policy_delete(other_id);
	cell_bpf_counters_delete(other_id);
	rmdir(other_cg);
	free(other_cg);
}

static int raw_socket(void)
{
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);

	return fd < 0 ? errno : 0;
}

static int raw_socket6(void)
{
	int fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);

	return fd < 0 ? errno : 0;
}

Test(bpf, no_raw_sockets)
{
	/* the test runs as root: without the program these would succeed */
	cr_assert(eq(int, raw_socket(), 0), "the positive control");
	cr_assert(eq(int, in_cell(raw_socket), EPERM));
	cr_assert(eq(int, in_cell(raw_socket6), EPERM));
}

/* Five connects to the proxy, 1 MB through one of them; three refused. */
static int counted_traffic(void)
{
	static char chunk[65536];
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(b.proxy_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	size_t sent = 0;
	int fd;

	for (int i = 0; i < 4; i++)
		if (connect_proxy() != 0)
			return 30;
	for (int i = 0; i < 3; i++)
		if (connect_host_tcp() != EPERM)
			return 31;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 32;
	while (sent < 1000000) {
		size_t want = 1000000 - sent < sizeof(chunk) ? 1000000 - sent : sizeof(chunk);
		ssize_t n = write(fd, chunk, want);

		if (n <= 0)
			return 33;
		sent += (size_t)n;
	}
	/* the bytes are counted when they go out, not when write() queues them: wait for the
	 * proxy's end of file, which comes after it read them all */
	shutdown(fd, SHUT_WR);
	while (read(fd, chunk, sizeof(chunk)) > 0)
		;
	close(fd);
	return 0;
}

Test(bpf, counts_connects_and_bytes_per_cell)
{
	struct cell_counters c;

	cr_assert(eq(int, in_cell(counted_traffic), 0));
	cr_assert(eq(int, cell_bpf_counters(b.cgid, &c), 0));
	cr_assert(eq(u64, c.connects_allowed, 5));
	cr_assert(eq(u64, c.connects_denied, 3));
	/* the payload plus the TCP/IP headers: within 1% */
	cr_assert(ge(u64, c.bytes_out, 1000000));
	cr_assert(le(u64, c.bytes_out, 1010000), "%llu bytes out", (unsigned long long)c.bytes_out);
	cr_assert(gt(u64, c.packets_out, 0));
	cr_assert(gt(u64, c.bytes_in, 0), "the proxy's ACKs and handshakes come back");
}

struct seen {
	pid_t pid;
	uint16_t port;
	int found;
	char comm[16];
	uint16_t reason;
};

static int on_denial(const struct cell_event *e, void *data)
{
	struct seen *s = data;

	if (e->cgroup == b.cgid && e->port == s->port) {
		s->found++;
		s->pid = (pid_t)e->tgid;
		memcpy(s->comm, e->comm, sizeof(s->comm));
		s->reason = e->reason;
	}
	return 0;
}

Test(bpf, denials_are_reported_with_pid_and_comm)
{
	struct seen s = {.port = b.host_tcp_port};

	cr_assert(eq(int, in_cell(connect_host_tcp), EPERM));
	/* earlier tests' events may wait in the ring too: only this cell's count */
	cr_assert(ge(int, cell_bpf_events(1000, on_denial, &s), 0));
	cr_assert(eq(int, s.found, 1));
	cr_assert(eq(int, s.pid, last_probe));
	cr_assert(eq(str, s.comm, "cellprobe"));
	cr_assert(eq(u16, s.reason, CELL_DENY_PORT));
}

/* A cgroup under cell.slice with no policy of its own, below a cell: the cell's policy. */
static int in_sub_cgroup(void)
{
	char *sub = th_join(b.cell_cg, "sub");

	if (mkdir(sub, 0755) < 0)
		return 40;
	if (!join(sub))
		return 41;
	if (connect_proxy() != 0)
		return 42;
	if (connect_host_tcp() != EPERM)
		return 43;
	return 0;
}

Test(bpf, a_cgroup_below_a_cell_has_the_cells_policy_and_none_means_deny)
{
	char *sub = th_join(b.cell_cg, "sub");
	uint64_t id = b.cgid;

	cr_assert(eq(int, in_cell(in_sub_cgroup), 0));
	rmdir(sub);
	free(sub);
	/* without the policy entry the cell may not even reach its proxy */
	cr_assert(eq(int, cell_bpf_policy_delete(b.cgid), 0));
	cr_assert(eq(int, in_cell(connect_proxy), EPERM));
	b.cgid = id;
}

static struct bpf_link_info pinned_link(const char *name)
{
	struct bpf_link_info info = {0};
	uint32_t len = sizeof(info);
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/link_%s", CELL_BPF_PIN_DIR, name);
	fd = bpf_obj_get(path);
	cr_assert(ge(int, fd, 0), "%s: %s", path, strerror(errno));
	cr_assert(eq(int, bpf_obj_get_info_by_fd(fd, &info, &len), 0));
	close(fd);
	return info;
}

/*
 * An older build finds a newer one's programs: it leaves them alone and says so. (In the test
 * above: the two change cell_meta, and must not do it at once.)
 */
static void older_build_leaves_newer_programs_alone(const char *slice)
{
	uint32_t key = 0, newer = CELL_BPF_VERSION + 1, now = CELL_BPF_VERSION;
	struct bpf_link_info before;
	int fd, lock;

	/* cells opening meanwhile wait for the loader's lock instead of seeing the fake version */
	lock = open(CELL_BPF_PIN_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert(ge(int, lock, 0));
	cr_assert(eq(int, flock(lock, LOCK_EX), 0));
	before = pinned_link("cell_connect4");
	fd = bpf_obj_get(CELL_BPF_PIN_DIR "/cell_meta");
	cr_assert(ge(int, fd, 0));
	cr_assert(eq(int, bpf_map_update_elem(fd, &key, &newer, BPF_ANY), 0));
	cr_assert(eq(int, cell_bpf_setup(slice), -EPROTONOSUPPORT));
	cr_assert(eq(u32, cell_bpf_attached_version(), CELL_BPF_VERSION + 1));
	cr_assert(eq(int, bpf_map_update_elem(fd, &key, &now, BPF_ANY), 0));
	cr_assert(eq(u32, pinned_link("cell_connect4").prog_id, before.prog_id));
	close(fd);
	close(lock);
}

Test(bpf, a_newer_build_replaces_older_programs_in_place_and_keeps_the_maps)
{
	_cleanup_free_ char *cg2 = NULL, *slice = NULL;
	struct bpf_link_info before = pinned_link("cell_connect4"), after;
	uint32_t key = 0, old = 0;
	struct cell_counters c;
	bool hybrid;
	int fd;

	cr_assert(eq(int, in_cell(connect_proxy), 0));
	/* pretend the attached programs are an older version's */
	fd = bpf_obj_get(CELL_BPF_PIN_DIR "/cell_meta");
	cr_assert(ge(int, fd, 0));
	cr_assert(eq(int, bpf_map_update_elem(fd, &key, &old, BPF_ANY), 0));
	cr_assert(eq(int, cell_cgroup_find("/proc/self/mountinfo", &cg2, &hybrid), 0));
	slice = th_join(cg2, "cell.slice");
	cr_assert(eq(int, cell_bpf_setup(slice), 0));
	after = pinned_link("cell_connect4");
	/* the same link, a new program in it */
	cr_assert(eq(u32, after.id, before.id));
	cr_assert(ne(u32, after.prog_id, before.prog_id));
	cr_assert(eq(int, bpf_map_lookup_elem(fd, &key, &old), 0));
	cr_assert(eq(u32, old, CELL_BPF_VERSION));
	close(fd);
	/* the policy and the counters are still there */
	cr_assert(eq(int, in_cell(connect_proxy), 0));
	cr_assert(eq(int, cell_bpf_counters(b.cgid, &c), 0));
	cr_assert(eq(u64, c.connects_allowed, 2));
	/* and a second setup finds everything in place: nothing changes */
	cr_assert(eq(int, cell_bpf_setup(slice), 0));
	cr_assert(eq(u32, pinned_link("cell_connect4").prog_id, after.prog_id));
	older_build_leaves_newer_programs_alone(slice);
}

static int count_denial(const struct cell_event *e, void *data)
{
	uint64_t *cg = data;

	cr_assert(eq(u64, e->cgroup, cg[0]), "another cell's denial");
	cg[1]++;
	return 0;
}

static uint32_t ring_slot(uint64_t cg)
{
	int fd = bpf_obj_get(CELL_BPF_PIN_DIR "/cell_ring_slot");
	uint32_t slot = UINT32_MAX;

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(int, bpf_map_lookup_elem(fd, &cg, &slot), 0), "no slot for %llu",
		  (unsigned long long)cg);
	close(fd);
	return slot;
}

static uint32_t slot_ring_id(uint32_t slot)
{
	int fd = bpf_obj_get(CELL_BPF_PIN_DIR "/cell_ring_pool");
	uint32_t id = 0;

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(int, bpf_map_lookup_elem(fd, &slot, &id), 0));
	close(fd);
	return id;
}

Test(bpf, a_cells_ring_has_its_own_denials_and_the_next_cell_reuses_it)
{
	struct cell_bpf_ring *ring = NULL, *again = NULL;
	/* an id no cgroup has */
	uint64_t mine[2] = {b.cgid, 0}, other[2] = {UINT64_MAX - 1, 0};
	uint32_t slot, id;

	cr_assert(eq(int, cell_bpf_ring_open(b.cgid, &ring), 0));
	cr_assert(eq(int, cell_bpf_ring_open(b.cgid, &again), -EEXIST));
	slot = ring_slot(b.cgid);
	id = slot_ring_id(slot);
	cr_assert(eq(int, in_cell(connect_host_tcp), EPERM));
	cr_assert(eq(int, cell_bpf_ring_drain(ring, count_denial, mine), 0));
	cr_assert(eq(u64, mine[1], 1));
	/* a denial left unread when the cell goes */
	cr_assert(eq(int, in_cell(connect_host_tcp), EPERM));
	cell_bpf_ring_free(ring);
	cr_assert(eq(int, cell_bpf_ring_release(b.cgid), 0));
	cr_assert(eq(int, cell_bpf_ring_release(b.cgid), 0), "releasing twice is fine");
	/* the next cell gets the slot and its ring buffer as it was, without the denial */
	cr_assert(eq(int, cell_bpf_ring_open(other[0], &ring), 0));
	cr_assert(eq(u32, ring_slot(other[0]), slot), "the slot was not free (another test?)");
	cr_assert(eq(u32, slot_ring_id(slot), id));
	cr_assert(eq(int, cell_bpf_ring_drain(ring, count_denial, other), 0));
	cr_assert(eq(u64, other[1], 0));
	cell_bpf_ring_free(ring);
	cr_assert(eq(int, cell_bpf_ring_release(other[0]), 0));
}

/* SPDX-License-Identifier: MIT */
/*
 * network.mode "proxy" in a network namespace of the cell's own (network.isolation "netns";
 * docs/design.md §3 "Unprivileged mode"): bwrap --unshare-net leaves the cell nothing but its own
 * loopback, and the proxy's listening socket is made there, by the cell's init (netns.h), before
 * anything in the cell runs. The proxy, on the host, accepts the cell's connections on it and
 * connects upstream from the host's namespace. No privilege and no kernel counters: the proxy
 * counts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "netns.h"
#include "network-proxy.h"

/* Where the proxy's port is picked from: the kernel's own range for ports nobody names. */
#define PORT_FIRST 32768
#define PORT_LAST 60999

struct netns_cell {
	struct cell_proxy_cell pc; /* (first: the session's callbacks get &pc) */
	const struct cell_config *config;
	uint16_t port;
	int host_fd, cell_fd; /* the socket pair to the cell's init */
	/* the ports the proxy relays (network.forward's listeners on the host, network.local_ports'
	 * in the cell), and their names for it, until it has them */
	struct cell_proxy_fds relays;
	char names[CELL_PROXY_FDS_MAX][16];
};

/* A port in the cell's namespace for its proxy: any that the config does not name for its own. */
static int pick_port(const struct cell_config *c, uint16_t *ret)
{
	for (int tries = 0; tries < 64; tries++) {
		uint32_t rnd;
		uint16_t port;
		bool taken = false;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -EIO;
		port = (uint16_t)(PORT_FIRST + rnd % (PORT_LAST - PORT_FIRST + 1));
		for (size_t i = 0; i < c->network.n_local_ports; i++)
			taken = taken || c->network.local_ports[i] == port;
		for (size_t i = 0; i < c->network.n_forward; i++)
			taken = taken || c->network.forward[i].cell_port == port;
		if (!taken) {
			*ret = port;
			return 0;
		}
	}
	return -EADDRINUSE;
}

static void relay_add(struct netns_cell *k, int fd, const char *kind, uint16_t port)
{
	size_t i = k->relays.n++;

	if (port)
		snprintf(k->names[i], sizeof(k->names[i]), "%s.%u", kind, (unsigned)port);
	else
		snprintf(k->names[i], sizeof(k->names[i]), "%s", kind);
	k->relays.fds[i] = fd;
	k->relays.names[i] = k->names[i];
}

/* network.forward's listeners, on the host's loopback: taken now, before the cell starts. */
static int forward_listeners(struct netns_cell *k, const struct cell_network_cell *c,
			     struct cell_diag *d)
{
	const struct cell_config *conf = c->config;

	for (size_t i = 0; i < conf->network.n_forward; i++) {
		const struct cell_forward *f = &conf->network.forward[i];
		struct sockaddr_in at = {.sin_family = AF_INET,
					 .sin_port = htons(f->host_port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
		char path[48];

		if (fd >= 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&at, sizeof(at)) < 0 ||
		    listen(fd, SOMAXCONN) < 0) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			snprintf(path, sizeof(path), "network.forward[%zu]", i);
			if (e == EADDRINUSE)
				return cell_diag_set(
					d, -e, c->project->config_path, path,
					"the host's 127.0.0.1:%u cannot be the cell's port %u: %s (another "
					"program listens there: forward another host port, as in "
					"\"%u:%u\")",
					(unsigned)f->host_port, (unsigned)f->cell_port, strerror(e),
					f->host_port < 65535 ? (unsigned)f->host_port + 1 : 1024u,
					(unsigned)f->cell_port);
			return cell_diag_set(
				d, -e, c->project->config_path, path,
				"the host's 127.0.0.1:%u cannot be the cell's port %u: %s",
				(unsigned)f->host_port, (unsigned)f->cell_port, strerror(e));
		}
		relay_add(k, fd, "into", f->cell_port);
	}
	return 0;
}

static int netns_open(struct cell_network_cell *c, struct cell_diag *d)
{
	struct netns_cell *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	cell_proxy_cell_init(&k->pc, c->project);
	k->host_fd = k->cell_fd = -1;
	k->config = c->config;
	c->state = k;
	if (c->config->network.n_local_ports > CELL_LOCAL_PORTS_MAX)
		return cell_diag_set(d, -E2BIG, c->project->config_path, "network.local_ports",
				     "at most %d ports can be listed", CELL_LOCAL_PORTS_MAX);
	r = pick_port(c->config, &k->port);
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL,
				     "cannot pick a port for the cell's proxy: %s", strerror(-r));
	c->proxy_port = k->port;
	return forward_listeners(k, c, d);
}

/* network.local_ports' listeners, in the cell's namespace (the proxy joins them to the host's). */
static int local_listeners(struct netns_cell *k)
{
	for (size_t i = 0; i < k->config->network.n_local_ports; i++) {
		uint16_t port = k->config->network.local_ports[i], got;
		int fd, r = cell_netns_listen(k->host_fd, port, &fd, &got);

		if (r < 0)
			return r;
		relay_add(k, fd, "host", port);
	}
	return 0;
}

static void relays_close(struct netns_cell *k)
{
	for (size_t i = 0; i < k->relays.n; i++)
		close(k->relays.fds[i]);
	k->relays.n = 0;
}

/*
 * The cell's init says hello: it waits for the proxy's socket to be made in its namespace (its
 * command starts after). Should that fail, our end closes, and the cell does not start.
 */
static void net_up(void *data)
{
	struct netns_cell *k = data;
	bool forwards = k->config->network.n_forward > 0;
	/* (an init that stalls, which nothing in the cell can make it, must not stall the cell's
	 * command or keeper: its answers come at once) */
	struct timeval limit = {.tv_sec = 5};
	uint16_t port = 0;
	int fd = -1, r = 0;

	closep(&k->cell_fd);
	k->cell_fd = -1;
	if (setsockopt(k->host_fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) < 0 ||
	    setsockopt(k->host_fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)) < 0)
		r = negative_errno();
	if (r >= 0)
		r = cell_netns_hello(k->host_fd);
	if (r >= 0)
		r = cell_netns_listen(k->host_fd, k->port, &fd, &port);
	if (r >= 0)
		r = local_listeners(k);
	/* (network.forward's connections need sockets in the cell for as long as it runs) */
	if (r >= 0)
		r = cell_netns_go(k->host_fd, forwards);
	if (r < 0) {
		fprintf(stderr, "cell: cannot make the proxy's sockets in the cell's network: %s\n",
			strerror(-r));
		closep(&fd);
		relays_close(k);
		closep(&k->host_fd);
		k->host_fd = -1;
		return;
	}
	k->pc.listen_fd = k->pc.session.listen_fd = fd;
	if (forwards)
		relay_add(k, k->host_fd, "cellnet", 0);
	else
		closep(&k->host_fd);
	k->host_fd = -1;
	/* with ports to relay the proxy starts now (their first connection is no one's to watch
	 * for); else at the cell's first connection */
	if (k->relays.n > 0) {
		k->pc.session.connection = NULL;
		r = cell_proxy_cell_spawn(&k->pc, &k->relays);
		if (r < 0)
			fprintf(stderr, "cell: cannot start the cell's proxy: %s\n", strerror(-r));
		relays_close(k);
	}
	cell_log(CELL_LOG_DEBUG, "the cell's proxy: 127.0.0.1:%u in the cell's network namespace",
		 (unsigned)port);
}

static int netns_start(struct cell_network_cell *c, struct cell_launch_session **ret,
		       struct cell_diag *d)
{
	struct netns_cell *k = c->state;
	int pair[2], r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return cell_diag_set(d, -errno, NULL, NULL, "cannot prepare the cell: %s",
				     strerror(errno));
	k->host_fd = pair[0];
	k->cell_fd = pair[1];
	k->pc.running.netns = true;
	r = cell_proxy_cell_start(&k->pc, c, d);
	if (r < 0)
		return r;
	k->pc.session.init_net_fd = k->cell_fd;
	k->pc.session.net_fd = k->host_fd;
	k->pc.session.net_up = net_up;
	if (c->plan->held) {
		/* cell-session opens the cell too, for its limits: its cgroup, with a BPF cell's
		 * policy (what the cell's processes bind in its namespace, the proxy's socket
		 * among them, is the cell's own, which they may reach) */
		const struct cell_config *conf = c->config;

		k->pc.session.helper = c->host->helper;
		k->pc.session.limits = (struct cell_limits){conf->limits.memory, conf->limits.pids,
							    conf->limits.cpu};
	}
	*ret = &k->pc.session;
	return 0;
}

static int netns_close(struct cell_network_cell *c, int launch_r, struct cell_diag *d)
{
	struct netns_cell *k = c->state;

	(void)d; /* (what goes wrong here is said on stderr: the cell's command has ended) */
	if (!k)
		return 0;
	closep(&k->host_fd);
	closep(&k->cell_fd);
	relays_close(k);
	cell_proxy_cell_end(&k->pc);
	cell_proxy_cell_record(&k->pc, launch_r, k->config->limits.memory);
	cell_proxy_cell_done(&k->pc);
	free(k);
	c->state = NULL;
	return 0;
}

const struct cell_network cell_network_netns = {
	.name = "proxy",
	.open = netns_open,
	.start = netns_start,
	.close = netns_close,
};

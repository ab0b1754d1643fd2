/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listen.h"
#include "netpolicy.h"
#include "plan.h"
#include "secrets.h"
#include "upstream.h"

/*
 * A port the proxy relays, bytes both ways and counted, no HTTP (a cell in a network namespace of
 * its own: network.forward, network.local_ports): each connection accepted on listen_fd is
 * joined to 127.0.0.1:to_port, in the cell's namespace (into_cell: on a socket the cell's init
 * makes, netns.h) or the host's. Counted under name ("forward:3000", "host:5432").
 */
struct cell_proxy_relay {
	int listen_fd;
	uint16_t to_port;
	bool into_cell;
	char name[32];
};

struct cell_proxy_options {
	size_t max_head;	/* request head size limit (431 past it); default 16 KiB */
	int head_timeout_ms;	/* to receive a whole head (against slowloris); default 10 s */
	int connect_timeout_ms; /* lookup plus connect; default 10 s */
	int idle_timeout_ms;	/* a tunnel with no bytes either way; default 300 s */
	size_t max_conns;	/* over it a client gets 503; default 4096 */
	int flush_ms;	/* counters go to the ledger this often, and at exit; default 10 s */
	size_t log_max; /* the request log is rotated past this size; default 10 MiB */
	/* with it, only connections from a socket of this cgroup (the cell's) are served: another
	 * user's process on this machine must not use a cell's proxy (its allowlist, its names);
	 * 0: anyone's */
	uint64_t peer_cgroup;
	/* the ports it relays (copied), and for those into the cell the socket pair to its init */
	const struct cell_proxy_relay *relays;
	size_t n_relays;
	int cell_net_fd;
	/* the proxy allowed hosts are reached through (upstream.h; kept by the caller), or NULL:
	 * straight */
	const struct cell_upstream *upstream;
	/* the user's CA for inspected hosts (tls.h), made at the first inspected tunnel; NULL:
	 * inspection cannot be done (an inspected host's tunnel gets 502) */
	const char *tls_dir;
	/* the values of the user's secrets (secrets.h; kept by the caller), for the rules that
	 * inject them, and to refuse requests that carry them elsewhere; NULL: none. And, when
	 * they could not be read, why (an inject then answers 502 with it). */
	const struct cell_secret_values *secrets;
	const char *secrets_error;
	/* cell learn's cell: who connected is logged with each request (sockowner.h), and,
	 * permissive, hosts no rule names are let through (network.deny still refuses) */
	enum cell_learn learn;
};

/* What the proxy works for: the project's policy, its names, and where the counts go. */
struct cell_proxy_project {
	const struct cell_netpolicy *policy;
	const char *id;	    /* for the ledger record */
	const char *name;   /* for the 403 message */
	const char *ledger; /* path, or NULL to keep no ledger */
	const char *log;    /* the request log's path (see reqlog.h), or NULL for none */
	/*
	 * With watch_dir, a change to watch_dir/watch_file (written or renamed into place) calls
	 * reload, which may put a new policy in *policy (and free the old one: the proxy holds no
	 * other reference to it). Requests already decided, and open tunnels, are unaffected.
	 */
	const char *watch_dir;
	const char *watch_file;
	const char *trust_dir; /* a record added or removed here calls reload as well (or NULL) */
	void (*reload)(void *data, const struct cell_netpolicy **policy);
	void *reload_data;
	const char *notices; /* each denial appended here too, a line for people (or NULL) */
};

struct cell_proxy;

/* (its listening socket: listen.h) */
int cell_proxy_new(const struct cell_proxy_project *project, const struct cell_proxy_options *o,
		   int listen_fd, struct cell_proxy **ret);
/* Serves until SIGTERM or SIGINT, then stops accepting, writes the counters, closes all. */
int cell_proxy_run(struct cell_proxy *p);
void cell_proxy_free(struct cell_proxy *p);

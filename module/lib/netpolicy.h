/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cell_budget;
struct cell_config;

/* One entry of network.allow or network.deny. */
enum cell_netrule_kind {
	CELL_NETRULE_HOST,   /* "github.com": that host only */
	CELL_NETRULE_SUFFIX, /* "*.github.com": subdomains, not the apex */
	CELL_NETRULE_ADDR,   /* "10.1.2.3", "[fd00::1]": that address */
	CELL_NETRULE_CIDR,   /* "10.0.0.0/8", "fd00::/8": a range of addresses */
};

#define CELL_HOST_MAX 253

struct cell_netrule {
	enum cell_netrule_kind kind;
	char host[CELL_HOST_MAX + 1]; /* HOST and SUFFIX (without "*."): lowercase, no final dot */
	int family;		      /* ADDR, CIDR: AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix; /* CIDR */
	uint16_t port;	 /* 0: the default ports, 80 and 443 */
};

/*
 * Parses a rule. On error returns -EINVAL and points *ret_why at a static phrase that completes
 * "is not a host rule: ..." for the user.
 */
int cell_netrule_parse(const char *s, struct cell_netrule *ret, const char **ret_why);
/* The canonical text of a rule ("Example.COM." → "example.com"); -ENOSPC if size is too small. */
int cell_netrule_format(const struct cell_netrule *r, char *buf, size_t size);
/* Checks and normalises a plain host name (no wildcard, no port) into buf. */
int cell_hostname_normalize(const char *s, char *buf, size_t size, const char **ret_why);
/* A port from 1 to 65535 in decimal digits (s need not be NUL-terminated). */
bool cell_port_parse(const char *s, size_t len, uint16_t *ret);

/*
 * A project's network policy, compiled from its config: default deny; network.deny wins over
 * network.allow; a rule without a port allows ports 80 and 443 (a deny rule without a port
 * denies every port); "*.d" matches below d, never d itself; host rules match names, address
 * and range rules match IP literals. IPv4 written as IPv6 (::ffff:a.b.c.d, NAT64) is that IPv4
 * address: an IPv4 rule matches those forms, and an IPv6 rule that holds a form of an IPv4
 * address (as [::ffff:10.1.2.3] does, and ::/0) matches the IPv4 address.
 */
struct cell_netpolicy;

enum cell_netverdict {
	CELL_NET_DENIED,
	CELL_NET_ALLOWED,
};

int cell_netpolicy_new(const struct cell_config *c, struct cell_netpolicy **ret);
void cell_netpolicy_free(struct cell_netpolicy *p);
/*
 * Decides a request for host (normalised, or an IP literal without brackets) and port.
 * *ret_rule is the rule that decided, in canonical text (NULL for the default deny).
 */
enum cell_netverdict cell_netpolicy_check(const struct cell_netpolicy *p, const char *host,
					  uint16_t port, const char **ret_rule);
/*
 * The ports the allow rules let host through on (a rule without a port: 80 and 443), the
 * lowest max of them in ascending order, into ports; returns how many it put there.
 */
size_t cell_netpolicy_host_ports(const struct cell_netpolicy *p, const char *host, uint16_t *ports,
				 size_t max);
/*
 * What the allow rules that match host and port let through, as flags: CELL_NETHOST_OPEN, a
 * rule allows any request (a tunnel may go blind); CELL_NETHOST_INSPECT, a rule asks for the
 * host's TLS to be terminated (its requests are seen). Neither: only some requests, which the
 * proxy must see (plain HTTP).
 */
#define CELL_NETHOST_OPEN 1u
#define CELL_NETHOST_INSPECT 2u
unsigned cell_netpolicy_host(const struct cell_netpolicy *p, const char *host, uint16_t port);
/*
 * Decides one request the proxy sees (its host allowed by cell_netpolicy_check): allowed when
 * an allow rule that matches host and port allows method and path (path_len bytes from '/',
 * its query not part of what paths match). Denied, why says what the rule allows ("methods:
 * GET, HEAD; paths: /repos/acme/x") or what is wrong with the path.
 */
enum cell_netverdict cell_netpolicy_request(const struct cell_netpolicy *p, const char *host,
					    uint16_t port, const char *method, const char *path,
					    size_t path_len, char *why, size_t why_size);
/* The allow rule that injects a header into requests to host and port (tls.h), or NULL. */
const struct cell_rule *cell_netpolicy_injection(const struct cell_netpolicy *p, const char *host,
						 uint16_t port);
/*
 * Whether a request's path (n bytes) is in the plain form path rules are matched against: from
 * '/', no empty, "." or ".." segment, no '\', ';' or '#', and none of them (nor '.', NUL or
 * '%') percent-encoded.
 */
bool cell_netpolicy_path_plain(const char *path, size_t n);
/* The config's network.budget (budget.h). */
const struct cell_budget *cell_netpolicy_budget(const struct cell_netpolicy *p);
/* What kind of special address an IP literal is ("a loopback address", "the cloud metadata
 * address", ...), which the proxy refuses unless a rule names it; NULL for an ordinary address
 * or a name. */
const char *cell_address_special(const char *literal);
/* The config's resolve map: the address a host is pinned to, or NULL. */
const char *cell_netpolicy_pinned(const struct cell_netpolicy *p, const char *host);
/* An IPv4 or IPv6 address, in network byte order. */
struct cell_ipaddr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
};

/*
 * The addresses of this machine's interfaces (getifaddrs(3)), IPv4 and IPv6, in a new array
 * (ret: free() it). A netlink dump: some tens of microseconds, more with many interfaces, so a
 * long-running caller keeps the list a while rather than read it per connection.
 */
int cell_local_addresses(struct cell_ipaddr **ret, size_t *ret_n);

/*
 * After resolution, before connecting: whether the address a name resolved to may be dialled.
 * Loopback, unspecified, private (RFC 1918, ULA), CGNAT, link-local (the cloud metadata
 * address among them), multicast and reserved addresses, and local[] (this machine's own
 * addresses, whose services listen there too), are refused (DNS rebinding must not reach the
 * host's own services) unless an allow rule names the address and the port, or the resolve map
 * pinned the host to it; an address that network.deny names is refused whatever the name.
 * IPv4-mapped and NAT64 IPv6 addresses (64:ff9b::/96, 64:ff9b:1::/48) are judged by their IPv4
 * part, by the special ranges and by the rules alike (cell_netpolicy_check too).
 */
/* (address_ok's why for an address network.deny names: no allow rule undoes that) */
#define CELL_NETPOLICY_WHY_DENIED "an address network.deny names"
bool cell_netpolicy_address_ok(const struct cell_netpolicy *p, const char *host, uint16_t port,
			       const struct sockaddr *sa, const struct cell_ipaddr *local,
			       size_t n_local, const char **ret_why);

/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "macro.h"
#include "netpolicy.h"

/* Parameters are copied into worker processes, which may be new images: no pointers in them. */
struct good {
	char in[48];
	char canonical[48];
	enum cell_netrule_kind kind;
	unsigned port;
};

ParameterizedTestParameters(netpolicy, accepts)
{
	static struct good cases[] = {
		{"github.com", "github.com", CELL_NETRULE_HOST, 0},
		{"GitHub.COM.", "github.com", CELL_NETRULE_HOST, 0},
		{"api.example.com:8443", "api.example.com:8443", CELL_NETRULE_HOST, 8443},
		{"*.githubusercontent.com", "*.githubusercontent.com", CELL_NETRULE_SUFFIX, 0},
		{"*.Example.org:443", "*.example.org:443", CELL_NETRULE_SUFFIX, 443},
		{"localhost", "localhost", CELL_NETRULE_HOST, 0},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", CELL_NETRULE_HOST, 0},
		{"_dmarc.example.com", "_dmarc.example.com", CELL_NETRULE_HOST, 0},
		{"10.1.2.3", "10.1.2.3", CELL_NETRULE_ADDR, 0},
		{"10.1.2.3:5432", "10.1.2.3:5432", CELL_NETRULE_ADDR, 5432},
		{"10.0.0.0/8", "10.0.0.0/8", CELL_NETRULE_CIDR, 0},
		{"[::1]", "[::1]", CELL_NETRULE_ADDR, 0},
		{"[2001:DB8::1]:443", "[2001:db8::1]:443", CELL_NETRULE_ADDR, 443},
		{"fd00::/8", "fd00::/8", CELL_NETRULE_CIDR, 0},
		{"[fd00::/8]", "fd00::/8", CELL_NETRULE_CIDR, 0},
		{"10.0.0.0/8:5432", "10.0.0.0/8:5432", CELL_NETRULE_CIDR, 5432},
		{"[fd00::/8]:5432", "[fd00::/8]:5432", CELL_NETRULE_CIDR, 5432},
		{"2001:db8::5", "[2001:db8::5]", CELL_NETRULE_ADDR, 0},
	};
	return cr_make_param_array(struct good, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct good *c, netpolicy, accepts)
{
	struct cell_netrule r;
	const char *why = NULL;
	char buf[300];

	cr_assert(eq(int, cell_netrule_parse(c->in, &r, &why), 0), "%s: %s", c->in, why);
	cr_assert(eq(int, r.kind, c->kind), "%s", c->in);
	cr_assert(eq(u32, r.port, c->port), "%s", c->in);
	cr_assert(eq(int, cell_netrule_format(&r, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf, (char *)c->canonical));
}

struct bad {
	char in[48];
	char why[160];
};

ParameterizedTestParameters(netpolicy, rejects)
{
	static struct bad cases[] = {
		{"", "it is empty"},
		{"https://github.com", "it is a URL; write the host name only (\"example.com\")"},
		{"github.com/org", "it has a path; a rule names a host, not a URL"},
		{"exa mple.com", "a rule has no spaces, '@' or '%'"},
		{"user@host.com", "a rule has no spaces, '@' or '%'"},
		{"*",
		 "a lone \"*\" would allow every host; set network.mode to \"host\" to turn filtering off"},
		{"*.com",
		 "\"*.\" needs a domain below a top-level domain (\"*.example.com\", not \"*.com\")"},
		{"a.*.com", "a wildcard is allowed only as a leading \"*.\""},
		{"**.a.com", "a wildcard is allowed only as a leading \"*.\""},
		{"a..com", "a host name has no empty labels (\"..\")"},
		{"*.com..", "a host name has no empty labels (\"..\")"},
		{"example.com..", "a host name has no empty labels (\"..\")"},
		{"-a.com", "a label of a host name does not start with '-'"},
		{"a-.com", "a label of a host name does not end with '-'"},
		{"a.com:", "the port is not a number from 1 to 65535"},
		{"a.com:65536", "the port is not a number from 1 to 65535"},
		{"a.com:http", "the port is not a number from 1 to 65535"},
		{"1.2.3", "it looks like an IPv4 address but is not one"},
		{"256.1.1.1", "it looks like an IPv4 address but is not one"},
		{"10.0.0.1/8", "the address has bits set past the prefix length"},
		{"10.0.0.0/33", "the prefix length is not from 0 to 32"},
		{"[::1", "a bracketed IPv6 address is written \"[addr]\" or \"[addr]:port\""},
		{"[nope]", "not a valid IPv6 address"},
		{"fe80::1%eth0", "a rule has no spaces, '@' or '%'"},
	};
	return cr_make_param_array(struct bad, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad *c, netpolicy, rejects)
{
	struct cell_netrule r;
	const char *why = NULL;

	cr_assert(eq(int, cell_netrule_parse(c->in, &r, &why), -EINVAL), "accepted '%s'", c->in);
	cr_assert(eq(str, (char *)why, (char *)c->why), "for '%s'", c->in);
}

Test(netpolicy, long_names_are_refused)
{
	char label[70], name[300];
	struct cell_netrule r;
	const char *why = NULL;

	memset(label, 'a', 64);
	label[64] = '\0';
	strcpy(name, label);
	strcat(name, ".com");
	cr_assert(eq(int, cell_netrule_parse(name, &r, &why), -EINVAL));
	cr_assert(eq(str, (char *)why, "a label of a host name has at most 63 characters"));
	memset(name, 'a', 260);
	for (int i = 10; i < 260; i += 10)
		name[i] = '.';
	name[260] = '\0';
	cr_assert(eq(int, cell_netrule_parse(name, &r, &why), -EINVAL));
	cr_assert(eq(str, (char *)why, "a host name has at most 253 characters"));
}

/* A policy from config text, through the real loader. */
static struct cell_netpolicy *policy(const char *json, struct cell_config **ret_c)
{
	static const struct cell_config_env env = {"/home/u", "u", NULL};
	struct cell_netpolicy *p = NULL;
	struct cell_diag d = {0};

	cr_assert(eq(int, cell_config_new(ret_c), 0));
	cr_assert(eq(int,
		     cell_config_apply(*ret_c, "/p/.cell.json", json, strlen(json), "/p", &env, &d),
		     0),
		  "%s", d.message ? d.message : "");
	cr_assert(eq(int, cell_config_finish(*ret_c, "/p", &env, &d), 0));
	cr_assert(eq(int, cell_netpolicy_new(*ret_c, &p), 0));
	return p;
}

struct decision {
	char host[48];
	unsigned port;
	int verdict;
	char rule[40]; /* "" for the default deny */
};

ParameterizedTestParameters(netpolicy, decides)
{
	static struct decision cases[] = {
		{"github.com", 443, CELL_NET_ALLOWED, "github.com"},
		{"github.com", 80, CELL_NET_ALLOWED, "github.com"},
		{"github.com", 22, CELL_NET_DENIED, ""},
		{"api.github.com", 443, CELL_NET_DENIED, ""},
		{"raw.githubusercontent.com", 443, CELL_NET_ALLOWED, "*.githubusercontent.com"},
		{"a.b.githubusercontent.com", 443, CELL_NET_ALLOWED, "*.githubusercontent.com"},
		/* a wildcard never matches its apex, nor a name that merely ends the same way */
		{"githubusercontent.com", 443, CELL_NET_DENIED, ""},
		{"evilgithubusercontent.com", 443, CELL_NET_DENIED, ""},
		{"api.example.com", 8443, CELL_NET_ALLOWED, "api.example.com:8443"},
		{"api.example.com", 443, CELL_NET_ALLOWED, "*.example.com"},
		/* deny beats allow, and a deny rule without a port denies every port */
		{"telemetry.example.com", 443, CELL_NET_DENIED, "telemetry.example.com"},
		{"telemetry.example.com", 9999, CELL_NET_DENIED, "telemetry.example.com"},
		{"registry.npmjs.org", 443, CELL_NET_ALLOWED, "registry.npmjs.org"},
		{"10.1.2.3", 5432, CELL_NET_ALLOWED, "10.0.0.0/8:5432"},
		{"10.1.2.3", 443, CELL_NET_ALLOWED, "10.0.0.0/8"},
		{"10.1.2.3", 22, CELL_NET_DENIED, ""},
		{"2001:db8::7", 443, CELL_NET_ALLOWED, "[2001:db8::7]"},
		{"11.0.0.1", 443, CELL_NET_DENIED, ""},
		{"example.net", 443, CELL_NET_DENIED, ""},
	};
	return cr_make_param_array(struct decision, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct decision *c, netpolicy, decides)
{
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p = policy(
		"{\"network\": {\"allow\": [\"github.com\", \"*.githubusercontent.com\", "
		"\"api.example.com:8443\", \"*.example.com\", \"@npm\", \"10.0.0.0/8\", "
		"\"10.0.0.0/8:5432\", \"[2001:db8::7]\"], \"deny\": [\"telemetry.example.com\"]}}",
		&cfg);
	const char *rule = NULL;
	int v = (int)cell_netpolicy_check(p, c->host, (uint16_t)c->port, &rule);

	cr_assert(eq(int, v, c->verdict), "%s:%u", c->host, c->port);
	if (c->verdict == CELL_NET_ALLOWED || c->rule[0])
		cr_assert(eq(str, (char *)rule, c->rule), "%s:%u", c->host, c->port);
	else
		cr_assert(eq(ptr, (void *)rule, NULL), "%s:%u matched %s", c->host, c->port, rule);
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

/* An address as the tests write it. */
static struct cell_ipaddr ip(const char *text)
{
	struct cell_ipaddr a = {.family = AF_INET};

	if (inet_pton(AF_INET, text, a.addr) != 1) {
		a.family = AF_INET6;
		cr_assert(eq(int, inet_pton(AF_INET6, text, a.addr), 1), "%s", text);
	}
	return a;
}

/* Whether host may dial addr at port on a machine whose own addresses are local[]. */
static bool ok_addr_local(const struct cell_netpolicy *p, const char *host, uint16_t port,
			  const char *addr, const struct cell_ipaddr *local, size_t n_local,
			  const char **why)
{
	struct cell_ipaddr a = ip(addr);
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	struct sockaddr_in s4 = {.sin_family = AF_INET};

	if (a.family == AF_INET) {
		memcpy(&s4.sin_addr, a.addr, 4);
		return cell_netpolicy_address_ok(p, host, port, (struct sockaddr *)&s4, local,
						 n_local, why);
	}
	memcpy(&s6.sin6_addr, a.addr, 16);
	return cell_netpolicy_address_ok(p, host, port, (struct sockaddr *)&s6, local, n_local,
					 why);
}

static bool ok_addr_port(const struct cell_netpolicy *p, const char *host, uint16_t port,
			 const char *addr, const char **why)
{
	return ok_addr_local(p, host, port, addr, NULL, 0, why);
}

static bool ok_addr(const struct cell_netpolicy *p, const char *host, const char *addr,
		    const char **why)
{
	return ok_addr_port(p, host, 443, addr, why);
}

Test(netpolicy, rebinding_to_special_addresses_is_refused)
{
	static const char *const refused[][2] = {
		{"127.0.0.1", "a loopback address"},
		{"0.0.0.0", "an unspecified address"},
		{"10.0.0.5", "a private address"},
		{"172.16.0.1", "a private address"},
		{"172.31.255.255", "a private address"},
		{"192.168.1.1", "a private address"},
		{"100.64.0.1", "a carrier-grade NAT address"},
		{"169.254.169.254", "the cloud metadata address"},
		{"169.254.1.1", "a link-local address"},
		{"224.0.0.1", "a multicast address"},
		{"255.255.255.255", "a reserved address"},
		{"::1", "a loopback address"},
		{"::", "an unspecified address"},
		{"fd00::1", "a private (ULA) address"},
		{"fe80::1", "a link-local address"},
		{"ff02::1", "a multicast address"},
		{"::ffff:127.0.0.1", "a loopback address"},
		{"::ffff:10.0.0.5", "a private address"},
		{"64:ff9b::a9fe:a9fe", "the cloud metadata address"},
		/* local-use NAT64, the address in bits 48-63 and 72-87 (RFC 6052's /48) */
		{"64:ff9b:1:7f00:0:100::", "a loopback address"},
		{"64:ff9b:1:a9fe:a9:fe00::", "the cloud metadata address"},
		{"64:ff9b:1:a00:0:500::", "a private address"},
	};
	static const char *const fine[] = {
		"93.184.216.34",	   "172.32.0.1",     "100.128.0.1",
		"2606:2800:220:1::1",	   "::ffff:8.8.8.8", "64:ff9b::808:808",
		"64:ff9b:1:5db8:d8:2200::"};
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p = policy("{\"network\": {\"allow\": [\"a.test\"]}}", &cfg);
	const char *why = NULL;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		why = NULL;
		cr_assert(not(ok_addr(p, "a.test", refused[i][0], &why)), "%s", refused[i][0]);
		cr_assert(eq(str, (char *)why, (char *)refused[i][1]), "%s", refused[i][0]);
	}
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		cr_assert(ok_addr(p, "a.test", fine[i], &why), "%s", fine[i]);
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

Test(netpolicy, a_pin_or_an_address_rule_lets_a_special_address_through)
{
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p = policy(
		"{\"network\": {\"allow\": [\"registry.test\", \"db.test:5432\", \"10.9.0.0/16\"], "
		"\"resolve\": {\"registry.test\": \"127.0.0.1\", \"v6.test\": \"::1\"}}}",
		&cfg);
	const char *why = NULL;

	cr_assert(eq(str, (char *)cell_netpolicy_pinned(p, "registry.test"), "127.0.0.1"));
	cr_assert(eq(ptr, (void *)cell_netpolicy_pinned(p, "db.test"), NULL));
	/* the pin is the user's own choice */
	cr_assert(ok_addr(p, "registry.test", "127.0.0.1", &why));
	cr_assert(ok_addr(p, "v6.test", "::1", &why));
	/* but a pin is for its own address only, and only for its own host */
	cr_assert(not(ok_addr(p, "registry.test", "127.0.0.2", &why)));
	cr_assert(not(ok_addr(p, "db.test", "127.0.0.1", &why)));
	/* an address rule names the range */
	cr_assert(ok_addr(p, "db.test", "10.9.3.4", &why));
	cr_assert(not(ok_addr(p, "db.test", "10.8.3.4", &why)));
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

Test(netpolicy, an_address_rule_lifts_the_block_only_for_its_own_port)
{
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p = policy(
		"{\"network\": {\"allow\": [\"localhost:8080\", \"127.0.0.1:5432\"]}}", &cfg);
	const char *why = NULL;

	/* a rule for the database does not open every loopback port to names */
	cr_assert(not(ok_addr_port(p, "localhost", 8080, "127.0.0.1", &why)));
	cr_assert(eq(str, (char *)why, "a loopback address"));
	cr_assert(ok_addr_port(p, "localhost", 5432, "127.0.0.1", &why));
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

Test(netpolicy, address_deny_rules_hold_after_resolution)
{
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p = policy(
		"{\"network\": {\"allow\": [\"a.test\", \"93.184.0.0/16\"], \"deny\": [\"93.184.216.34\"]}}",
		&cfg);
	const char *why = NULL;

	cr_assert(not(ok_addr(p, "a.test", "93.184.216.34", &why)));
	cr_assert(eq(str, (char *)why, "an address network.deny names"));
	cr_assert(ok_addr(p, "a.test", "93.184.216.35", &why));
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

ParameterizedTestParameters(netpolicy, ipv4_written_as_ipv6_is_ipv4_to_the_rules)
{
	static struct decision cases[] = {
		{"10.1.2.3", 443, CELL_NET_ALLOWED, "10.0.0.0/8"},
		{"::ffff:10.1.2.3", 443, CELL_NET_ALLOWED, "10.0.0.0/8"},
		{"64:ff9b::a01:203", 443, CELL_NET_ALLOWED, "10.0.0.0/8"},
		{"64:ff9b:1:a01:2:300::", 443, CELL_NET_ALLOWED, "10.0.0.0/8"},
		/* an IPv4 deny rule holds every IPv6 form of its address */
		{"10.9.9.9", 443, CELL_NET_DENIED, "10.9.9.9"},
		{"::ffff:10.9.9.9", 443, CELL_NET_DENIED, "10.9.9.9"},
		{"::ffff:a09:909", 443, CELL_NET_DENIED, "10.9.9.9"},
		{"64:ff9b::a09:909", 443, CELL_NET_DENIED, "10.9.9.9"},
		{"64:ff9b:1:a09:9:900::", 443, CELL_NET_DENIED, "10.9.9.9"},
		/* the u octet and the suffix are not read: a translator reaches 10.9.9.9 still */
		{"64:ff9b:1:a09:ff09:900:1:2", 443, CELL_NET_DENIED, "10.9.9.9"},
		/* and an IPv6 deny rule written as IPv4 holds the IPv4 address and its other forms
		 */
		{"10.8.8.8", 443, CELL_NET_DENIED, "[::ffff:10.8.8.8]"},
		{"64:ff9b::a08:808", 443, CELL_NET_DENIED, "[::ffff:10.8.8.8]"},
		{"64:ff9b:1:a08:8:800::", 443, CELL_NET_DENIED, "[::ffff:10.8.8.8]"},
		{"10.7.1.1", 443, CELL_NET_DENIED, "64:ff9b::a07:0/112"},
		{"::ffff:10.7.255.1", 443, CELL_NET_DENIED, "64:ff9b::a07:0/112"},
		{"10.6.1.1", 443, CELL_NET_ALLOWED, "10.0.0.0/8"},
		/* allow rules alike */
		{"192.0.2.7", 443, CELL_NET_ALLOWED, "[::ffff:192.0.2.7]"},
		{"64:ff9b::c000:207", 443, CELL_NET_ALLOWED, "[::ffff:192.0.2.7]"},
		{"192.0.2.8", 443, CELL_NET_DENIED, ""},
		{"::ffff:11.0.0.1", 443, CELL_NET_DENIED, ""},
		/* not IPv4 written as IPv6: IPv4-compatible (deprecated, RFC 4291), another /48 */
		{"::a01:203", 443, CELL_NET_DENIED, ""},
		{"64:ff9b:2:a01:2:300::", 443, CELL_NET_DENIED, ""},
	};
	return cr_make_param_array(struct decision, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct decision *c, netpolicy, ipv4_written_as_ipv6_is_ipv4_to_the_rules)
{
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p =
		policy("{\"network\": {\"allow\": [\"10.0.0.0/8\", \"[::ffff:192.0.2.7]\"], "
		       "\"deny\": [\"10.9.9.9\", \"[::ffff:10.8.8.8]\", \"64:ff9b::a07:0/112\"]}}",
		       &cfg);
	const char *rule = NULL;
	int v = (int)cell_netpolicy_check(p, c->host, (uint16_t)c->port, &rule);

	cr_assert(eq(int, v, c->verdict), "%s:%u (%s)", c->host, c->port, rule ? rule : "-");
	if (c->rule[0]) {
		cr_assert(not(eq(ptr, (void *)rule, NULL)), "%s:%u: the default", c->host, c->port);
		cr_assert(eq(str, (char *)rule, c->rule), "%s:%u", c->host, c->port);
	} else
		cr_assert(eq(ptr, (void *)rule, NULL), "%s:%u matched %s", c->host, c->port, rule);
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

Test(netpolicy, address_rules_hold_for_every_form_after_resolution)
{
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p =
		policy("{\"network\": {\"allow\": [\"a.test\", \"[::ffff:10.9.0.0/112]:5432\"], "
		       "\"deny\": [\"93.184.216.34\", \"[::ffff:93.184.216.35]\"]}}",
		       &cfg);
	static const char *const denied[] = {"93.184.216.34",	   "::ffff:93.184.216.34",
					     "64:ff9b::5db8:d822", "64:ff9b:1:5db8:d8:2200::",
					     "93.184.216.35",	   "64:ff9b:1:5db8:d8:2300::"};
	const char *why = NULL;

	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		why = NULL;
		cr_assert(not(ok_addr(p, "a.test", denied[i], &why)), "%s", denied[i]);
		cr_assert(eq(str, (char *)why, "an address network.deny names"), "%s", denied[i]);
	}
	cr_assert(ok_addr(p, "a.test", "93.184.216.36", &why));
	/* a range written as IPv6 names its private IPv4 addresses however they come */
	cr_assert(ok_addr_port(p, "a.test", 5432, "10.9.3.4", &why));
	cr_assert(ok_addr_port(p, "a.test", 5432, "64:ff9b::a09:304", &why));
	cr_assert(not(ok_addr_port(p, "a.test", 5432, "10.8.3.4", &why)));
	cr_assert(eq(str, (char *)why, "a private address"));
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

struct own {
	char host[24];
	unsigned port;
	char addr[40];
	char why[40]; /* "" when it may be dialled */
};

ParameterizedTestParameters(netpolicy, this_machines_own_addresses_are_refused)
{
	static struct own cases[] = {
		{"a.test", 443, "192.0.2.2", "an address of this machine"},
		{"a.test", 443, "::ffff:192.0.2.2", "an address of this machine"},
		{"a.test", 443, "64:ff9b::c000:202", "an address of this machine"},
		{"a.test", 443, "64:ff9b:1:c000:2:200::", "an address of this machine"},
		{"a.test", 443, "2001:db8::2", "an address of this machine"},
		{"a.test", 443, "192.0.2.3", ""},
		{"a.test", 443, "2001:db8::3", ""},
		/* a special address keeps its own reason */
		{"a.test", 443, "127.0.0.1", "a loopback address"},
		{"a.test", 443, "fe80::1", "a link-local address"},
		/* unless the resolve map pinned the host there, or a rule names the address */
		{"pinned.test", 443, "192.0.2.2", ""},
		{"pinned.test", 443, "2001:db8::2", "an address of this machine"},
		{"b.test", 8080, "192.0.2.2", ""},
		{"b.test", 8080, "::ffff:192.0.2.2", ""},
		{"b.test", 8081, "192.0.2.2", "an address of this machine"},
	};
	return cr_make_param_array(struct own, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct own *c, netpolicy, this_machines_own_addresses_are_refused)
{
	const struct cell_ipaddr local[] = {ip("127.0.0.1"), ip("::1"), ip("192.0.2.2"),
					    ip("2001:db8::2"), ip("fe80::1")};
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p = policy(
		"{\"network\": {\"allow\": [\"a.test\", \"pinned.test\", \"b.test:8080\", "
		"\"b.test:8081\", \"192.0.2.2:8080\"], \"resolve\": {\"pinned.test\": \"192.0.2.2\"}}}",
		&cfg);
	const char *why = NULL;
	bool ok = ok_addr_local(p, c->host, (uint16_t)c->port, c->addr, local,
				sizeof(local) / sizeof(local[0]), &why);

	if (c->why[0]) {
		cr_assert(not(ok), "%s:%u at %s", c->host, c->port, c->addr);
		cr_assert(eq(str, (char *)why, c->why), "%s:%u at %s", c->host, c->port, c->addr);
	} else {
		cr_assert(ok, "%s:%u at %s: %s", c->host, c->port, c->addr, why);
	}
	/* where they are not this machine's, they are ordinary addresses */
	if (streq(c->why, "an address of this machine"))
		cr_assert(ok_addr_port(p, c->host, (uint16_t)c->port, c->addr, &why), "%s: %s",
			  c->addr, why);
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

Test(netpolicy, reads_this_machines_addresses)
{
	struct cell_ipaddr *local = NULL;
	size_t n = 0;
	FILE *f;
	char hex[40];

	cr_assert(eq(int, cell_local_addresses(&local, &n), 0));
	for (size_t i = 0; i < n; i++)
		cr_assert(local[i].family == AF_INET || local[i].family == AF_INET6);
	/* every IPv6 address the kernel lists is there (IPv4 has no such simple list) */
	f = fopen("/proc/net/if_inet6", "re");
	while (f && fscanf(f, "%32s %*[^\n]", hex) == 1) {
		unsigned char a[16];
		bool found = false;

		for (size_t k = 0; k < 16; k++)
			cr_assert(eq(int, sscanf(hex + 2 * k, "%2hhx", &a[k]), 1));
		for (size_t i = 0; i < n; i++)
			found |= local[i].family == AF_INET6 && memcmp(local[i].addr, a, 16) == 0;
		cr_assert(found, "%s is not in the list", hex);
	}
	if (f)
		fclose(f);
	free(local);
}

struct request_case {
	char host[32];
	unsigned port;
	char method[8];
	char path[64];
	int verdict;
	char why[96]; /* what the refusal says ("" when allowed) */
};

ParameterizedTestParameters(netpolicy, decides_requests)
{
	static struct request_case cases[] = {
		{"api.github.com", 443, "GET", "/repos/acme/x", CELL_NET_ALLOWED, ""},
		{"api.github.com", 443, "HEAD", "/repos/acme/", CELL_NET_ALLOWED, ""},
		/* the query is not part of what paths match */
		{"api.github.com", 443, "GET", "/repos/acme/x?page=2", CELL_NET_ALLOWED, ""},
		{"api.github.com", 443, "POST", "/repos/acme/x/git/refs", CELL_NET_DENIED,
		 "methods: GET, HEAD; paths: /repos/acme/*"},
		{"api.github.com", 443, "GET", "/repos/other/x", CELL_NET_DENIED,
		 "methods: GET, HEAD; paths: /repos/acme/*"},
		/* a prefix is not a path of its own: "/repos/acme" is not below "/repos/acme/" */
		{"api.github.com", 443, "GET", "/repos/acme", CELL_NET_DENIED,
		 "methods: GET, HEAD; paths: /repos/acme/*"},
		/* what a server could read as another path is refused before matching */
		{"api.github.com", 443, "GET", "/repos/acme/../other", CELL_NET_DENIED,
		 "its path is not in plain form"},
		{"api.github.com", 443, "GET", "/repos/acme/%2e%2e/other", CELL_NET_DENIED,
		 "its path is not in plain form"},
		{"api.github.com", 443, "GET", "/repos/acme/x%2Fy", CELL_NET_DENIED,
		 "its path is not in plain form"},
		{"api.github.com", 443, "GET", "/repos//acme/x", CELL_NET_DENIED,
		 "its path is not in plain form"},
		{"api.github.com", 443, "GET", "/repos/acme/./x", CELL_NET_DENIED,
		 "its path is not in plain form"},
		/* path parameters, fragments and double encoding (a server that cuts ";..." from
		 * each segment resolves "/..;/" as ".."; one that decodes twice reads %252e as .)
		 */
		{"api.github.com", 443, "GET", "/repos/acme/..;/other/x", CELL_NET_DENIED,
		 "its path is not in plain form"},
		{"api.github.com", 443, "GET", "/repos/acme/x#/../../other", CELL_NET_DENIED,
		 "its path is not in plain form"},
		{"api.github.com", 443, "GET", "/repos/acme/%252e%252e/other", CELL_NET_DENIED,
		 "its path is not in plain form"},
		{"api.github.com", 443, "GET", "/repos/acme/x%3B/y", CELL_NET_DENIED,
		 "its path is not in plain form"},
		/* an exact path, and a '*' inside one */
		{"plain.test", 80, "POST", "/upload", CELL_NET_ALLOWED, ""},
		{"plain.test", 80, "POST", "/upload/x", CELL_NET_DENIED,
		 "methods: POST; paths: /upload"},
		{"plain.test", 80, "GET", "/a/b/git-upload-pack", CELL_NET_ALLOWED, ""},
		{"plain.test", 80, "GET", "/a/b/git-receive-pack", CELL_NET_DENIED,
		 "methods: POST; paths: /upload, or methods: GET; paths: /*/git-upload-pack"},
		/* a second rule for the host that allows everything wins */
		{"open.test", 443, "DELETE", "/x", CELL_NET_ALLOWED, ""},
	};
	return cr_make_param_array(struct request_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct request_case *c, netpolicy, decides_requests)
{
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p = policy(
		"{\"network\": {\"allow\": ["
		"{\"host\": \"api.github.com\", \"inspect\": true, \"methods\": [\"GET\", \"HEAD\"], "
		"\"paths\": [\"/repos/acme/*\"]},"
		"{\"host\": \"plain.test:80\", \"methods\": [\"POST\"], \"paths\": [\"/upload\"]},"
		"{\"host\": \"plain.test:80\", \"methods\": [\"GET\"], \"paths\": [\"/*/git-upload-pack\"]},"
		"{\"host\": \"open.test\", \"inspect\": true, \"methods\": [\"GET\"]}, \"open.test\"]}}",
		&cfg);
	char why[256];
	int v = (int)cell_netpolicy_request(p, c->host, (uint16_t)c->port, c->method, c->path,
					    strlen(c->path), why, sizeof(why));

	cr_assert(eq(int, v, c->verdict), "%s %s%s: %s", c->method, c->host, c->path, why);
	if (c->verdict == CELL_NET_DENIED)
		cr_assert(eq(int, strncmp(why, c->why, strlen(c->why)), 0), "%s", why);
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

Test(netpolicy, says_which_hosts_are_inspected_and_which_are_open)
{
	struct cell_config *cfg = NULL;
	struct cell_netpolicy *p = policy(
		"{\"network\": {\"allow\": [\"github.com\", {\"host\": \"api.github.com\", "
		"\"inspect\": true}, {\"host\": \"*.acme.test\", \"inspect\": true, "
		"\"methods\": [\"GET\"]}, {\"host\": \"plain.test:80\", \"paths\": [\"/x\"]}]}}",
		&cfg);

	cr_assert(eq(u32, cell_netpolicy_host(p, "github.com", 443), CELL_NETHOST_OPEN));
	cr_assert(eq(u32, cell_netpolicy_host(p, "api.github.com", 443),
		     CELL_NETHOST_OPEN | CELL_NETHOST_INSPECT));
	cr_assert(eq(u32, cell_netpolicy_host(p, "a.acme.test", 443), CELL_NETHOST_INSPECT));
	cr_assert(eq(u32, cell_netpolicy_host(p, "plain.test", 80), 0));
	cr_assert(eq(u32, cell_netpolicy_host(p, "plain.test", 443), 0));
	cell_netpolicy_free(p);
	cell_config_free(cfg);
}

/* The ports a host is allowed on (what a refusal says when only the port is missing). */
Test(netpolicy, the_ports_a_host_is_allowed_on)
{
	struct cell_config *c = NULL;
	struct cell_netpolicy *p = policy(
		"{\"network\": {\"allow\": [\"api.test:8765\", \"api.test\", \"*.pkg.test:9000\", "
		"\"10.0.0.1:5432\", \"many.test:1\", \"many.test:2\", \"many.test:3\", "
		"\"many.test:4\", \"many.test:5\"]}}",
		&c);
	uint16_t ports[4];

	cr_assert(eq(sz, cell_netpolicy_host_ports(p, "api.test", ports, 4), (size_t)3));
	cr_assert(eq(u16, ports[0], 80));
	cr_assert(eq(u16, ports[1], 443));
	cr_assert(eq(u16, ports[2], 8765));
	cr_assert(eq(sz, cell_netpolicy_host_ports(p, "a.pkg.test", ports, 4), (size_t)1));
	cr_assert(eq(u16, ports[0], 9000));
	/* the apex is not below itself */
	cr_assert(eq(sz, cell_netpolicy_host_ports(p, "pkg.test", ports, 4), (size_t)0));
	cr_assert(eq(sz, cell_netpolicy_host_ports(p, "10.0.0.1", ports, 4), (size_t)1));
	cr_assert(eq(sz, cell_netpolicy_host_ports(p, "other.test", ports, 4), (size_t)0));
	/* the lowest max of them */
	cr_assert(eq(sz, cell_netpolicy_host_ports(p, "many.test", ports, 4), (size_t)4));
	cr_assert(eq(u16, ports[0], 1));
	cr_assert(eq(u16, ports[3], 4));
	cell_netpolicy_free(p);
	cell_config_free(c);
}

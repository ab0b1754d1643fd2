/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>

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
		{"10.0.0.0/8:443", "an address range takes no port"},
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

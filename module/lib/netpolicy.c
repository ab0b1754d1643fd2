/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "config.h"
#include "netpolicy.h"
#include "strv.h"

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

int cell_hostname_normalize(const char *s, char *buf, size_t size, const char **ret_why)
{
	size_t n = strlen(s), label = 0;
	const char *last;

	/* one final dot (the DNS root) is dropped; "a.com.." keeps an empty label and is refused */
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0) {
		*ret_why = "the host name is empty";
		return -EINVAL;
	}
	if (s[n - 1] == '.') {
		*ret_why = "a host name has no empty labels (\"..\")";
		return -EINVAL;
	}
	if (n > CELL_HOST_MAX || n >= size) {
		*ret_why = "a host name has at most 253 characters";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0) {
				*ret_why = "a host name has no empty labels (\"..\")";
				return -EINVAL;
			}
			if (s[i - 1] == '-') {
				*ret_why = "a label of a host name does not end with '-'";
				return -EINVAL;
			}
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (label == 0 && c == '-') {
				*ret_why = "a label of a host name does not start with '-'";
				return -EINVAL;
			}
			if (++label > 63) {
				*ret_why = "a label of a host name has at most 63 characters";
				return -EINVAL;
			}
		} else if (c == '*') {
			*ret_why = "a wildcard is allowed only as a leading \"*.\"";
			return -EINVAL;
		} else {
			*ret_why = "a host name has only letters, digits, '-', '_' and '.'";
			return -EINVAL;
		}
		buf[i] = (char)tolower(c);
	}
	if (s[n - 1] == '-') {
		*ret_why = "a label of a host name does not end with '-'";
		return -EINVAL;
	}
	buf[n] = '\0';
	last = strrchr(buf, '.');
	last = last ? last + 1 : buf;
	if (all_digits(last, strlen(last))) {
		*ret_why = "it looks like an IPv4 address but is not one";
		return -EINVAL;
	}
	return 0;
}

bool cell_port_parse(const char *s, size_t len, uint16_t *ret)
{
	unsigned long v = 0;

	if (len > 5 || !all_digits(s, len))
		return false;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (v < 1 || v > 65535)
		return false;
	*ret = (uint16_t)v;
	return true;
}

static int parse_port(const char *s, uint16_t *ret, const char **ret_why)
{
	if (!cell_port_parse(s, strlen(s), ret)) {
		*ret_why = "the port is not a number from 1 to 65535";
		return -EINVAL;
	}
	return 0;
}

/* "addr" or "addr/prefix" of one family into r. */
static int parse_address(const char *s, int family, struct cell_netrule *r, const char **ret_why)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	unsigned max = family == AF_INET ? 32 : 128;
	char *slash;

	if (strlen(s) >= sizeof(tmp)) {
		*ret_why =
			family == AF_INET ? "not a valid IPv4 address" : "not a valid IPv6 address";
		return -EINVAL;
	}
	strcpy(tmp, s);
	slash = strchr(tmp, '/');
	if (slash) {
		*slash++ = '\0';
		if (!all_digits(slash, strlen(slash)) || strlen(slash) > 3 ||
		    strtoul(slash, NULL, 10) > max) {
			*ret_why = family == AF_INET ? "the prefix length is not from 0 to 32"
						     : "the prefix length is not from 0 to 128";
			return -EINVAL;
		}
		r->kind = CELL_NETRULE_CIDR;
		r->prefix = (unsigned)strtoul(slash, NULL, 10);
	} else {
		r->kind = CELL_NETRULE_ADDR;
		r->prefix = max;
	}
	if (inet_pton(family, tmp, r->addr) != 1) {
		*ret_why =
			family == AF_INET ? "not a valid IPv4 address" : "not a valid IPv6 address";
		return -EINVAL;
	}
	r->family = family;
	for (unsigned bit = r->prefix; bit < max; bit++)
		if (r->addr[bit / 8] & (0x80 >> (bit % 8))) {
			*ret_why = "the address has bits set past the prefix length";
			return -EINVAL;
		}
	return 0;
}

int cell_netrule_parse(const char *s, struct cell_netrule *ret, const char **ret_why)
{
	struct cell_netrule r = {0};
	char host[CELL_HOST_MAX + 8];
	const char *port = NULL;
	size_t n = strlen(s);

	if (n == 0) {
		*ret_why = "it is empty";
		return -EINVAL;
	}
	if (strstr(s, "://")) {
		*ret_why = "it is a URL; write the host name only (\"example.com\")";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (isspace((unsigned char)s[i]) || s[i] == '@' || s[i] == '%') {
			*ret_why = "a rule has no spaces, '@' or '%'";
			return -EINVAL;
		}
	if (streq(s, "*") || startswith(s, "*:")) {
		*ret_why =
			"a lone \"*\" would allow every host; set network.mode to \"host\" to turn filtering off";
		return -EINVAL;
	}

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || (close[1] != '\0' && close[1] != ':')) {
			*ret_why =
				"a bracketed IPv6 address is written \"[addr]\" or \"[addr]:port\"";
			return -EINVAL;
		}
		if ((size_t)(close - s - 1) >= sizeof(host)) {
			*ret_why = "not a valid IPv6 address";
			return -EINVAL;
		}
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		if (close[1] == ':')
			port = close + 2;
		if (parse_address(host, AF_INET6, &r, ret_why) < 0)
			return -EINVAL;
	} else if (strchr(s, ':') != strrchr(s, ':')) {
		/* two or more colons and no brackets: a bare IPv6 address, which takes no port */
		if (parse_address(s, AF_INET6, &r, ret_why) < 0)
			return -EINVAL;
	} else {
		const char *colon = strchr(s, ':');
		size_t hl = colon ? (size_t)(colon - s) : n;

		if (hl >= sizeof(host)) {
			*ret_why = "a host name has at most 253 characters";
			return -EINVAL;
		}
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (colon)
			port = colon + 1;
		if (strchr(host, '/')) {
			if (!isdigit((unsigned char)host[0])) {
				*ret_why = "it has a path; a rule names a host, not a URL";
				return -EINVAL;
			}
			if (parse_address(host, AF_INET, &r, ret_why) < 0)
				return -EINVAL;
		} else if (inet_pton(AF_INET, host, r.addr) == 1) {
			r.kind = CELL_NETRULE_ADDR;
			r.family = AF_INET;
			r.prefix = 32;
		} else if (startswith(host, "*.")) {
			r.kind = CELL_NETRULE_SUFFIX;
			if (cell_hostname_normalize(host + 2, r.host, sizeof(r.host), ret_why) < 0)
				return -EINVAL;
			if (!strchr(r.host, '.')) {
				*ret_why =
					"\"*.\" needs a domain below a top-level domain (\"*.example.com\", not \"*.com\")";
				return -EINVAL;
			}
		} else {
			r.kind = CELL_NETRULE_HOST;
			if (cell_hostname_normalize(host, r.host, sizeof(r.host), ret_why) < 0)
				return -EINVAL;
		}
	}
	if (port) {
		if (parse_port(port, &r.port, ret_why) < 0)
			return -EINVAL;
	}
	*ret = r;
	return 0;
}

int cell_netrule_format(const struct cell_netrule *r, char *buf, size_t size)
{
	char addr[INET6_ADDRSTRLEN], port[8] = "";
	int n;

	if (r->port)
		snprintf(port, sizeof(port), ":%u", r->port);
	switch (r->kind) {
	case CELL_NETRULE_HOST:
		n = snprintf(buf, size, "%s%s", r->host, port);
		break;
	case CELL_NETRULE_SUFFIX:
		n = snprintf(buf, size, "*.%s%s", r->host, port);
		break;
	case CELL_NETRULE_ADDR:
	case CELL_NETRULE_CIDR:
		if (!inet_ntop(r->family, r->addr, addr, sizeof(addr)))
			return -EINVAL;
		if (r->kind == CELL_NETRULE_CIDR && r->family == AF_INET6 && r->port)
			n = snprintf(buf, size, "[%s/%u]%s", addr, r->prefix, port);
		else if (r->kind == CELL_NETRULE_CIDR)
			n = snprintf(buf, size, "%s/%u%s", addr, r->prefix, port);
		else if (r->family == AF_INET6)
			n = snprintf(buf, size, "[%s]%s", addr, port);
		else
			n = snprintf(buf, size, "%s%s", addr, port);
		break;
	default:
		return -EINVAL;
	}
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

struct compiled {
	struct cell_netrule rule;
	const char *text;
	const struct cell_rule *src; /* its methods, paths and inspect */
};

struct cell_netpolicy {
	struct compiled *allow, *deny;
	size_t n_allow, n_deny;
	const struct cell_kv *pins;
	size_t n_pins;
	struct cell_budget budget;
};

static int compile(const struct cell_rule *rules, size_t n, struct compiled **ret)
{
	struct compiled *out = calloc(n ? n : 1, sizeof(*out));

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *why;

		/* the config holds canonical rules that parsed once already */
		if (cell_netrule_parse(rules[i].text, &out[i].rule, &why) < 0) {
			free(out);
			return -EINVAL;
		}
		out[i].text = rules[i].text;
		out[i].src = &rules[i];
	}
	*ret = out;
	return 0;
}

int cell_netpolicy_new(const struct cell_config *c, struct cell_netpolicy **ret)
{
	struct cell_netpolicy *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	r = compile(c->network.allow, c->network.n_allow, &p->allow);
	if (r >= 0)
		r = compile(c->network.deny, c->network.n_deny, &p->deny);
	if (r < 0) {
		cell_netpolicy_free(p);
		return r;
	}
	p->n_allow = c->network.n_allow;
	p->n_deny = c->network.n_deny;
	p->pins = c->network.resolve;
	p->n_pins = c->network.n_resolve;
	p->budget = c->network.budget;
	*ret = p;
	return 0;
}

const struct cell_budget *cell_netpolicy_budget(const struct cell_netpolicy *p)
{
	return &p->budget;
}

void cell_netpolicy_free(struct cell_netpolicy *p)
{
	if (!p)
		return;
	free(p->allow);
	free(p->deny);
	free(p);
}

/* The address of an IP literal host, or family 0 for a name. */
static int literal(const char *host, unsigned char addr[16])
{
	if (inet_pton(AF_INET, host, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, host, addr) == 1)
		return AF_INET6;
	return 0;
}

static bool in_range(const struct cell_netrule *r, int family, const unsigned char *addr)
{
	unsigned full = r->prefix / 8, rest = r->prefix % 8;

	if (r->family != family)
		return false;
	if (memcmp(r->addr, addr, full) != 0)
		return false;
	return rest == 0 || ((r->addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0;
}

/*
 * IPv4 written as IPv6: the prefix, and where the IPv4 address's four bytes are. A host dialling
 * one of these reaches that IPv4 address (mapped: through its own IPv4 stack; NAT64: through a
 * translator), so rules and the special ranges judge it as that IPv4 address.
 */
static const struct embedding {
	unsigned char prefix[12];
	size_t prefix_len;
	unsigned char at[4];
} embeddings[] = {
	/* ::ffff:0:0/96, IPv4-mapped (RFC 4291) */
	{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 12, {12, 13, 14, 15}},
	/* 64:ff9b::/96, NAT64's well-known prefix (RFC 6052) */
	{{0, 0x64, 0xff, 0x9b}, 12, {12, 13, 14, 15}},
	/*
	 * 64:ff9b:1::/48, local-use NAT64 (RFC 8215), laid out as RFC 6052 section 2.2 has it for
	 * a /48: the first half of the IPv4 address in bits 48-63, the u octet (bits 64-71, zero),
	 * the second half in bits 72-87, then the suffix. The u octet and the suffix are not read:
	 * whatever they hold, a translator reaches the same IPv4 address.
	 */
	{{0, 0x64, 0xff, 0x9b, 0, 1}, 6, {6, 7, 9, 10}},
};

/* The IPv4 address an IPv6 address stands for, if it is IPv4 written as IPv6. */
static bool embedded_v4(const unsigned char a[16], unsigned char ret[4])
{
	for (size_t i = 0; i < ELEMENTSOF(embeddings); i++) {
		const struct embedding *e = &embeddings[i];

		if (memcmp(a, e->prefix, e->prefix_len) != 0)
			continue;
		for (size_t k = 0; k < 4; k++)
			ret[k] = a[e->at[k]];
		return true;
	}
	return false;
}

/* The IPv4 address v4 written as IPv6 the way e does it (what is not the address is zero). */
static void embed(const struct embedding *e, const unsigned char v4[4], unsigned char ret[16])
{
	memset(ret, 0, 16);
	memcpy(ret, e->prefix, e->prefix_len);
	for (size_t k = 0; k < 4; k++)
		ret[e->at[k]] = v4[k];
}

/*
 * Whether the rule's address or range holds addr, however either is written: an IPv4 rule holds
 * ::ffff:10.1.2.3 and 64:ff9b::a01:203, and an IPv6 rule that holds any IPv6 form of 10.1.2.3
 * ([::ffff:10.1.2.3], 64:ff9b::/96, ::/0) holds 10.1.2.3 and its other forms.
 */
static bool addr_matches(const struct cell_netrule *r, int family, const unsigned char *addr)
{
	unsigned char v4[4], v6[16];

	if (in_range(r, family, addr))
		return true;
	if (family == AF_INET6 && !embedded_v4(addr, v4))
		return false;
	if (family == AF_INET)
		memcpy(v4, addr, 4);
	if (r->family == AF_INET)
		return in_range(r, AF_INET, v4);
	for (size_t i = 0; i < ELEMENTSOF(embeddings); i++) {
		embed(&embeddings[i], v4, v6);
		if (in_range(r, AF_INET6, v6))
			return true;
	}
	return false;
}

/* An address in its plainest form (IPv4 when it is IPv4 written as IPv6) into ret; the family. */
static int plainest(int family, const unsigned char *addr, unsigned char ret[16])
{
	if (family == AF_INET6 && embedded_v4(addr, ret))
		return AF_INET;
	memcpy(ret, addr, family == AF_INET ? 4 : 16);
	return family;
}

static bool same_address(int fa, const unsigned char *a, int fb, const unsigned char *b)
{
	unsigned char pa[16], pb[16];

	fa = plainest(fa, a, pa);
	fb = plainest(fb, b, pb);
	return fa == fb && memcmp(pa, pb, fa == AF_INET ? 4 : 16) == 0;
}

static bool port_matches(const struct cell_netrule *r, uint16_t port, bool deny)
{
	if (r->port)
		return r->port == port;
	return deny || port == 80 || port == 443;
}

static bool host_matches(const struct cell_netrule *r, const char *host, int family,
			 const unsigned char *addr)
{
	size_t hl, dl;

	switch (r->kind) {
	case CELL_NETRULE_HOST:
		return !family && streq(r->host, host);
	case CELL_NETRULE_SUFFIX:
		hl = strlen(host);
		dl = strlen(r->host);
		return !family && hl > dl + 1 && host[hl - dl - 1] == '.' &&
		       streq(host + hl - dl, r->host);
	case CELL_NETRULE_ADDR:
	case CELL_NETRULE_CIDR:
		return family && addr_matches(r, family, addr);
	}
	return false;
}

/* The first rule for host, or (family set) for the address addr, and port. */
static const struct compiled *match(const struct compiled *rules, size_t n, const char *host,
				    int family, const unsigned char *addr, uint16_t port, bool deny)
{
	for (size_t i = 0; i < n; i++)
		if (host_matches(&rules[i].rule, host, family, addr) &&
		    port_matches(&rules[i].rule, port, deny))
			return &rules[i];
	return NULL;
}

static const struct compiled *first_match(const struct compiled *rules, size_t n, const char *host,
					  uint16_t port, bool deny)
{
	unsigned char addr[16];

	return match(rules, n, host, literal(host, addr), addr, port, deny);
}

enum cell_netverdict cell_netpolicy_check(const struct cell_netpolicy *p, const char *host,
					  uint16_t port, const char **ret_rule)
{
	const struct compiled *m = first_match(p->deny, p->n_deny, host, port, true);

	if (m) {
		*ret_rule = m->text;
		return CELL_NET_DENIED;
	}
	m = first_match(p->allow, p->n_allow, host, port, false);
	*ret_rule = m ? m->text : NULL;
	return m ? CELL_NET_ALLOWED : CELL_NET_DENIED;
}

/* The allow rule after prev (NULL: the first) that matches host (family, addr) and port. */
static const struct compiled *next_allow(const struct cell_netpolicy *p,
					 const struct compiled *prev, const char *host, int family,
					 const unsigned char *addr, uint16_t port)
{
	const struct compiled *from = prev ? prev + 1 : p->allow;

	return match(from, (size_t)(p->allow + p->n_allow - from), host, family, addr, port, false);
}

/* Adds port to the ascending set ports (n of them, at most max: the lowest); the new n. */
static size_t add_port(uint16_t *ports, size_t n, size_t max, uint16_t port)
{
	size_t i = 0;

	while (i < n && ports[i] < port)
		i++;
	if (i == max || (i < n && ports[i] == port))
		return n;
	if (n == max)
		n--;
	memmove(ports + i + 1, ports + i, (n - i) * sizeof(*ports));
	ports[i] = port;
	return n + 1;
}

size_t cell_netpolicy_host_ports(const struct cell_netpolicy *p, const char *host, uint16_t *ports,
				 size_t max)
{
	unsigned char addr[16];
	int family = literal(host, addr);
	size_t n = 0;

	for (size_t i = 0; i < p->n_allow; i++) {
		const struct cell_netrule *r = &p->allow[i].rule;

		if (!host_matches(r, host, family, addr))
			continue;
		if (r->port) {
			n = add_port(ports, n, max, r->port);
		} else {
			n = add_port(ports, n, max, 80);
			n = add_port(ports, n, max, 443);
		}
	}
	return n;
}

unsigned cell_netpolicy_host(const struct cell_netpolicy *p, const char *host, uint16_t port)
{
	unsigned char addr[16];
	int family = literal(host, addr);
	unsigned flags = 0;

	for (const struct compiled *m = next_allow(p, NULL, host, family, addr, port); m;
	     m = next_allow(p, m, host, family, addr, port)) {
		if (m->src->inspect)
			flags |= CELL_NETHOST_INSPECT;
		if (!m->src->methods && !m->src->paths)
			flags |= CELL_NETHOST_OPEN;
	}
	return flags;
}

const struct cell_rule *cell_netpolicy_injection(const struct cell_netpolicy *p, const char *host,
						 uint16_t port)
{
	unsigned char addr[16];
	int family = literal(host, addr);

	for (const struct compiled *m = next_allow(p, NULL, host, family, addr, port); m;
	     m = next_allow(p, m, host, family, addr, port))
		if (m->src->inject_header)
			return m->src;
	return NULL;
}

/* Whether s matches pattern, where '*' matches any run of characters ('/' among them). */
static bool star_match(const char *pattern, const char *s, size_t n)
{
	const char *star = NULL, *resume = NULL, *end = s + n;

	while (s < end) {
		if (*pattern == '*') {
			star = pattern++;
			resume = s;
		} else if (*pattern && *pattern == *s) {
			pattern++;
			s++;
		} else if (star) {
			pattern = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*pattern == '*')
		pattern++;
	return !*pattern;
}

bool cell_netpolicy_path_plain(const char *path, size_t n)
{
	if (n == 0 || path[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t seg = 0;

		/* (';': path parameters, which servers cut from each segment before they resolve
		 * "..": "/a/..;/b"; '#': no client sends a fragment, a server may cut there) */
		if (path[i] == '\\' || path[i] == ';' || path[i] == '#')
			return false;
		if (path[i] == '%' && i + 3 <= n &&
		    (!strncasecmp(path + i, "%2e", 3) || !strncasecmp(path + i, "%2f", 3) ||
		     !strncasecmp(path + i, "%5c", 3) || !strncmp(path + i, "%00", 3) ||
		     !strncmp(path + i, "%25", 3) || !strncasecmp(path + i, "%3b", 3)))
			return false;
		if (path[i] != '/')
			continue;
		while (i + 1 + seg < n && path[i + 1 + seg] != '/')
			seg++;
		/* "//", "/./", "/../": a server may read them as another path than the rule saw */
		if ((seg == 0 && i + 1 < n) || (seg == 1 && path[i + 1] == '.') ||
		    (seg == 2 && path[i + 1] == '.' && path[i + 2] == '.'))
			return false;
	}
	return true;
}

static bool rule_allows(const struct cell_rule *r, const char *method, const char *path,
			size_t path_len)
{
	bool paths_ok = !r->paths;

	if (r->methods && !cell_strv_contains(r->methods, method))
		return false;
	for (char **pp = r->paths; pp && *pp && !paths_ok; pp++)
		paths_ok = star_match(*pp, path, path_len);
	return paths_ok;
}

/* "methods: GET, HEAD; paths: /repos/acme/x", after what buf has ("..., or "). */
static void describe(const struct cell_rule *r, char *buf, size_t size)
{
	size_t used = strlen(buf), start;

	if (used)
		used += (size_t)snprintf(buf + used, size > used ? size - used : 0, ", or ");
	start = used;
	for (int list = 0; list < 2; list++) {
		char **l = list == 0 ? r->methods : r->paths;

		if (!l)
			continue;
		used += (size_t)snprintf(buf + used, size > used ? size - used : 0,
					 "%s%s: ", used > start ? "; " : "",
					 list == 0 ? "methods" : "paths");
		for (char **e = l; *e; e++)
			used += (size_t)snprintf(buf + used, size > used ? size - used : 0, "%s%s",
						 e == l ? "" : ", ", *e);
	}
}

enum cell_netverdict cell_netpolicy_request(const struct cell_netpolicy *p, const char *host,
					    uint16_t port, const char *method, const char *path,
					    size_t path_len, char *why, size_t why_size)
{
	bool plain_form = true;
	unsigned char addr[16];
	int family = literal(host, addr);
	const char *query = memchr(path, '?', path_len);

	/* (the path is the request's bytes, not a string: nothing past path_len is read) */
	if (query)
		path_len = (size_t)(query - path);
	why[0] = '\0';
	for (const struct compiled *m = next_allow(p, NULL, host, family, addr, port); m;
	     m = next_allow(p, m, host, family, addr, port)) {
		if (!m->src->methods && !m->src->paths)
			return CELL_NET_ALLOWED;
		if (m->src->paths && !cell_netpolicy_path_plain(path, path_len)) {
			plain_form = false;
			continue;
		}
		if (rule_allows(m->src, method, path, path_len))
			return CELL_NET_ALLOWED;
		describe(m->src, why, why_size);
	}
	if (!plain_form)
		snprintf(why, why_size,
			 "its path is not in plain form (\"//\", \".\" or \"..\" segments, "
			 "';', '#', '\\', or such encoded)");
	return CELL_NET_DENIED;
}

const char *cell_netpolicy_pinned(const struct cell_netpolicy *p, const char *host)
{
	for (size_t i = 0; i < p->n_pins; i++)
		if (streq(p->pins[i].key, host))
			return p->pins[i].value;
	return NULL;
}

/* What kind of special-purpose IPv4 address this is, or NULL for an ordinary one. */
static const char *special_v4(const unsigned char a[4])
{
	if (a[0] == 0)
		return "an unspecified address";
	if (a[0] == 127)
		return "a loopback address";
	if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168))
		return "a private address";
	if (a[0] == 100 && (a[1] & 0xc0) == 64)
		return "a carrier-grade NAT address";
	if (a[0] == 169 && a[1] == 254)
		return a[2] == 169 && a[3] == 254 ? "the cloud metadata address"
						  : "a link-local address";
	if (a[0] >= 224)
		return a[0] < 240 ? "a multicast address" : "a reserved address";
	return NULL;
}

static const char *special_v6(const unsigned char a[16])
{
	static const unsigned char zero[16];
	unsigned char v4[4];

	if (embedded_v4(a, v4))
		return special_v4(v4);
	if (memcmp(a, zero, 16) == 0)
		return "an unspecified address";
	if (memcmp(a, zero, 15) == 0 && a[15] == 1)
		return "a loopback address";
	if ((a[0] & 0xfe) == 0xfc)
		return "a private (ULA) address";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "a link-local address";
	if (a[0] == 0xff)
		return "a multicast address";
	return NULL;
}

const char *cell_address_special(const char *literal)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, literal, a) == 1)
		return special_v4(a);
	if (inet_pton(AF_INET6, literal, a) == 1)
		return special_v6(a);
	return NULL;
}

static void freeifaddrsp(struct ifaddrs **p)
{
	if (*p)
		freeifaddrs(*p);
}

static bool ip_family(const struct sockaddr *sa)
{
	return sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

int cell_local_addresses(struct cell_ipaddr **ret, size_t *ret_n)
{
	_cleanup_(freeifaddrsp) struct ifaddrs *list = NULL;
	_cleanup_free_ struct cell_ipaddr *a = NULL;
	size_t n = 0;

	if (getifaddrs(&list) < 0)
		return negative_errno();
	for (const struct ifaddrs *i = list; i; i = i->ifa_next)
		n += ip_family(i->ifa_addr);
	a = calloc(n ? n : 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	n = 0;
	for (const struct ifaddrs *i = list; i; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;

		if (!ip_family(sa))
			continue;
		a[n].family = sa->sa_family;
		if (sa->sa_family == AF_INET)
			memcpy(a[n].addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		else
			memcpy(a[n].addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		n++;
	}
	*ret = TAKE_PTR(a);
	*ret_n = n;
	return 0;
}

static bool is_local(const struct cell_ipaddr *local, size_t n_local, int family,
		     const unsigned char *addr)
{
	for (size_t i = 0; i < n_local; i++)
		if (same_address(local[i].family, local[i].addr, family, addr))
			return true;
	return false;
}

bool cell_netpolicy_address_ok(const struct cell_netpolicy *p, const char *host, uint16_t port,
			       const struct sockaddr *sa, const struct cell_ipaddr *local,
			       size_t n_local, const char **ret_why)
{
	unsigned char addr[16], pin[16];
	const char *pinned, *special;
	int family = sa->sa_family, pin_family;

	if (family == AF_INET)
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (family == AF_INET6)
		memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	else {
		*ret_why = "not an IP address";
		return false;
	}
	/* an address deny rule holds whatever name led to the address */
	if (match(p->deny, p->n_deny, host, family, addr, port, true)) {
		*ret_why = CELL_NETPOLICY_WHY_DENIED;
		return false;
	}
	special = family == AF_INET ? special_v4(addr) : special_v6(addr);
	/* the host's services listen on its public addresses too, not only on loopback */
	if (!special && is_local(local, n_local, family, addr))
		special = "an address of this machine";
	if (!special)
		return true;
	/* the resolve map pinned the host here: the user's own choice */
	pinned = cell_netpolicy_pinned(p, host);
	pin_family = pinned ? literal(pinned, pin) : 0;
	if (pin_family && same_address(pin_family, pin, family, addr))
		return true;
	/* an allow rule that names the address or its range */
	if (match(p->allow, p->n_allow, host, family, addr, port, false))
		return true;
	*ret_why = special;
	return false;
}

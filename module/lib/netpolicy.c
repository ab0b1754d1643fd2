/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "netpolicy.h"

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

static int parse_port(const char *s, uint16_t *ret, const char **ret_why)
{
	unsigned long v;

	if (!all_digits(s, strlen(s)) || strlen(s) > 5) {
		*ret_why = "the port is not a number from 1 to 65535";
		return -EINVAL;
	}
	v = strtoul(s, NULL, 10);
	if (v < 1 || v > 65535) {
		*ret_why = "the port is not a number from 1 to 65535";
		return -EINVAL;
	}
	*ret = (uint16_t)v;
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
		if (r.kind == CELL_NETRULE_CIDR) {
			*ret_why = "an address range takes no port";
			return -EINVAL;
		}
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
		if (r->kind == CELL_NETRULE_CIDR)
			n = snprintf(buf, size, "%s/%u", addr, r->prefix);
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

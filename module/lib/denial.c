/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "denial.h"
#include "fileio.h"
#include "jsonline.h"
#include "macro.h"

static const struct {
	const char *key, *text;
} reasons[] = {
	[CELL_DENY_NO_POLICY] = {"no-policy", "a cgroup below cell.slice with no cell's policy"},
	[CELL_DENY_NOT_LOOPBACK] = {"not-loopback",
				    "not loopback: a cell goes out only through its proxy"},
	[CELL_DENY_PORT] = {"port", "a loopback port that is not the cell's proxy, listed in "
				    "network.local_ports, or bound by the cell"},
	[CELL_DENY_SOCKET] = {"raw-socket", "raw and packet sockets are not allowed in a cell"},
	[CELL_DENY_ABSTRACT_UNIX] = {"abstract-unix",
				     "an abstract Unix socket: those are the host's"},
};

const char *cell_denial_reason_key(unsigned reason)
{
	return reason < ELEMENTSOF(reasons) && reasons[reason].key ? reasons[reason].key
								   : "unknown";
}

const char *cell_denial_reason_text(const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
		if (reasons[i].key && streq(reasons[i].key, key))
			return reasons[i].text;
	return key;
}

static const char *family_name(unsigned family)
{
	switch (family) {
	case AF_INET:
		return "ipv4";
	case AF_INET6:
		return "ipv6";
	case AF_UNIX:
		return "unix";
	case AF_PACKET:
		return "packet";
	default:
		return NULL;
	}
}

/* The destination's address as text, or "" when the event has none. */
static void address_text(const struct cell_event *e, char *out, size_t size)
{
	out[0] = '\0';
	if (e->reason == CELL_DENY_SOCKET)
		return;
	if (e->family == AF_INET)
		inet_ntop(AF_INET, e->addr, out, (socklen_t)size);
	else if (e->family == AF_INET6)
		inet_ntop(AF_INET6, e->addr, out, (socklen_t)size);
	else if (e->family == AF_UNIX && size > sizeof(e->addr) + 1) {
		out[0] = '@';
		memcpy(out + 1, e->addr, sizeof(e->addr));
		out[sizeof(e->addr) + 1] = '\0';
	}
}

int cell_denial_json(const char *cell, const struct cell_event *e, int64_t time_ms, pid_t cell_pid,
		     char *buf, size_t size)
{
	char comm[sizeof(e->comm) + 1], addr[64];
	const char *family = family_name(e->family);
	size_t n = 0;
	bool ok;

	memcpy(comm, e->comm, sizeof(e->comm));
	comm[sizeof(e->comm)] = '\0';
	address_text(e, addr, sizeof(addr));
	ok = cell_json_put(buf, size, &n, CELL_DENIAL_PREFIX "\"time\":") &&
	     cell_json_put_time(buf, size, &n, time_ms) &&
	     cell_json_put_field(buf, size, &n, "cell", cell) &&
	     cell_json_put(buf, size, &n, ",\"pid\":%u,\"tid\":%u", e->tgid, e->pid) &&
	     (cell_pid <= 0 || cell_json_put(buf, size, &n, ",\"cell_pid\":%d", (int)cell_pid)) &&
	     cell_json_put_field(buf, size, &n, "comm", comm) &&
	     (family ? cell_json_put_field(buf, size, &n, "family", family)
		     : cell_json_put(buf, size, &n, ",\"family\":\"%u\"", e->family));
	if (ok && e->family != AF_UNIX)
		ok = e->protocol == IPPROTO_TCP
			     ? cell_json_put_field(buf, size, &n, "protocol", "tcp")
		     : e->protocol == IPPROTO_UDP
			     ? cell_json_put_field(buf, size, &n, "protocol", "udp")
			     : cell_json_put(buf, size, &n, ",\"protocol\":\"%u\"", e->protocol);
	if (ok && addr[0])
		ok = cell_json_put_field(buf, size, &n, "address", addr);
	if (ok && (e->family == AF_INET || e->family == AF_INET6) && e->reason != CELL_DENY_SOCKET)
		ok = cell_json_put(buf, size, &n, ",\"port\":%u", e->port);
	ok = ok &&
	     cell_json_put_field(buf, size, &n, "reason", cell_denial_reason_key(e->reason)) &&
	     cell_json_put(buf, size, &n, "}");
	return ok ? 0 : -E2BIG;
}

int cell_denial_notice(const struct cell_event *e, char *buf, size_t size)
{
	char comm[sizeof(e->comm) + 1], addr[64], where[96];
	int n;

	/* the program names itself: nothing in it may drive the terminal it is printed on */
	for (size_t i = 0; i < sizeof(e->comm); i++)
		comm[i] = (unsigned char)e->comm[i] < 0x20 || (unsigned char)e->comm[i] >= 0x7f
				  ? (e->comm[i] ? '?' : '\0')
				  : e->comm[i];
	comm[sizeof(e->comm)] = '\0';
	address_text(e, addr, sizeof(addr));
	for (char *c = addr; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	if (e->family == AF_INET && addr[0])
		snprintf(where, sizeof(where), "%s:%u", addr, e->port);
	else if (e->family == AF_INET6 && addr[0])
		snprintf(where, sizeof(where), "[%s]:%u", addr, e->port);
	else if (e->family == AF_UNIX)
		snprintf(where, sizeof(where), "unix %s", addr);
	else
		snprintf(where, sizeof(where), "a %s socket",
			 family_name(e->family) ? family_name(e->family) : "raw");
	n = snprintf(buf, size, "cell: blocked %s by %s: %s\n", where, comm,
		     cell_denial_reason_text(cell_denial_reason_key(e->reason)));
	return n > 0 && (size_t)n < size ? n : -E2BIG;
}

int cell_event_encode(const struct cell_event *e, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = (const unsigned char *)e;
	size_t n = strlen(CELL_EVENT_PREFIX);

	if (size < CELL_EVENT_LINE_MAX)
		return -E2BIG;
	memcpy(buf, CELL_EVENT_PREFIX, n);
	for (size_t i = 0; i < sizeof(*e); i++) {
		buf[n++] = hex[b[i] >> 4];
		buf[n++] = hex[b[i] & 15];
	}
	memcpy(buf + n, "\"}", 3);
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int cell_event_decode(const char *line, struct cell_event *ret)
{
	unsigned char *b = (unsigned char *)ret;
	const char *h;

	if (!startswith(line, CELL_EVENT_PREFIX))
		return -EINVAL;
	h = line + strlen(CELL_EVENT_PREFIX);
	if (strlen(h) != 2 * sizeof(*ret) + 2 || !streq(h + 2 * sizeof(*ret), "\"}"))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(*ret); i++) {
		int hi = hex_digit(h[2 * i]), lo = hex_digit(h[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int64_t cell_denial_wall_ms(uint64_t boot_ns)
{
	struct timespec boot, real;
	int64_t ago_ns;

	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_REALTIME, &real);
	ago_ns = (int64_t)boot.tv_sec * 1000000000 + boot.tv_nsec - (int64_t)boot_ns;
	return ((int64_t)real.tv_sec * 1000000000 + real.tv_nsec - ago_ns) / 1000000;
}

pid_t cell_denial_ns_pid(pid_t pid)
{
	_cleanup_free_ char *status = NULL;
	char path[64];
	const char *line, *last;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (cell_read_file(path, 0, 64 * 1024, &status, NULL) < 0)
		return 0;
	line = strstr(status, "\nNSpid:");
	if (!line)
		return 0;
	line += strlen("\nNSpid:");
	/* one pid per namespace, outermost first */
	last = line;
	for (const char *p = line; *p && *p != '\n'; p++)
		if ((*p == '\t' || *p == ' ') && p[1] >= '0' && p[1] <= '9')
			last = p + 1;
	return (pid_t)strtol(last, NULL, 10);
}

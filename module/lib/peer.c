/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "peer.h"

struct cell_peer {
	int fd; /* NETLINK_SOCK_DIAG */
	uint32_t seq;
	/* lo's index: a socket bound to a device is found only by a question that names the
	 * device (a client of a cell's on lo, SO_BINDTODEVICE); one bound to none, by any */
	uint32_t lo;
};

int cell_peer_new(struct cell_peer **ret)
{
	struct cell_peer *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (p->fd < 0) {
		int r = negative_errno();

		free(p);
		return r;
	}
	p->lo = if_nametoindex("lo");
	*ret = p;
	return 0;
}

void cell_peer_free(struct cell_peer *p)
{
	if (!p)
		return;
	close(p->fd);
	free(p);
}

/* The request for the socket whose own end is from and whose other end is to. */
static void request_for(struct inet_diag_req_v2 *req, const struct sockaddr_storage *from,
			const struct sockaddr_storage *to, uint32_t dev)
{
	*req = (struct inet_diag_req_v2){
		.sdiag_family = (uint8_t)from->ss_family,
		.sdiag_protocol = IPPROTO_TCP,
		.idiag_states = ~0U,
		.id.idiag_if = dev,
		.id.idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE},
	};
	if (from->ss_family == AF_INET) {
		const struct sockaddr_in *f = (const struct sockaddr_in *)from;
		const struct sockaddr_in *t = (const struct sockaddr_in *)to;

		req->id.idiag_sport = f->sin_port;
		req->id.idiag_dport = t->sin_port;
		memcpy(req->id.idiag_src, &f->sin_addr, 4);
		memcpy(req->id.idiag_dst, &t->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *f = (const struct sockaddr_in6 *)from;
		const struct sockaddr_in6 *t = (const struct sockaddr_in6 *)to;

		req->id.idiag_sport = f->sin6_port;
		req->id.idiag_dport = t->sin6_port;
		memcpy(req->id.idiag_src, &f->sin6_addr, 16);
		memcpy(req->id.idiag_dst, &t->sin6_addr, 16);
	}
}

/* Whether two addresses as inet_diag has them are one: an IPv6 socket's ::ffff:a.b.c.d (a
 * dual-stack client's, on an IPv4 connection) is a.b.c.d. */
static bool same_address(uint8_t fa, const uint32_t a[4], uint8_t fb, const uint32_t b[4])
{
	if (fa == fb)
		return memcmp(a, b, fa == AF_INET ? 4 : 16) == 0;
	if (fa == AF_INET6)
		return a[0] == 0 && a[1] == 0 && a[2] == htonl(0xffff) && a[3] == b[0];
	return same_address(fb, b, fa, a);
}

/*
 * The INET_DIAG_CGROUP_ID attribute of one answer message, if it is about the socket asked for:
 * the kernel answers a question about a socket it does not find in its table of connections
 * (one bound to a device, say) with a listener on the same address and port, which could be
 * anyone's (-ENOENT then).
 */
static int cgroup_of(const struct nlmsghdr *h, const struct inet_diag_req_v2 *req, uint64_t *ret)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	const struct nlattr *a = (const struct nlattr *)((const char *)m + NLMSG_ALIGN(sizeof(*m)));
	size_t left = h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*m)));

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EBADMSG;
	if (m->idiag_state == TCP_LISTEN || m->id.idiag_sport != req->id.idiag_sport ||
	    m->id.idiag_dport != req->id.idiag_dport ||
	    !same_address(m->idiag_family, m->id.idiag_src, req->sdiag_family, req->id.idiag_src) ||
	    !same_address(m->idiag_family, m->id.idiag_dst, req->sdiag_family, req->id.idiag_dst))
		return -ENOENT;
	while (left >= sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= left) {
		size_t step = ((size_t)a->nla_len + NLA_ALIGNTO - 1) & ~(size_t)(NLA_ALIGNTO - 1);

		if ((a->nla_type & NLA_TYPE_MASK) == INET_DIAG_CGROUP_ID &&
		    a->nla_len >= (size_t)NLA_HDRLEN + sizeof(*ret)) {
			memcpy(ret, (const char *)a + NLA_HDRLEN, sizeof(*ret));
			return 0;
		}
		if (step >= left)
			break;
		left -= step;
		a = (const struct nlattr *)((const char *)a + step);
	}
	return -ENOENT;
}

int cell_peer_cgroup(struct cell_peer *p, int fd, uint64_t *ret)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 req;
	} q = {.h = {.nlmsg_len = sizeof(q),
		     .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		     .nlmsg_flags = NLM_F_REQUEST}};
	struct sockaddr_storage self, peer;
	socklen_t slen = sizeof(self), plen = sizeof(peer);
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	ssize_t n;

	if (getsockname(fd, (struct sockaddr *)&self, &slen) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		return negative_errno();
	if (self.ss_family != AF_INET && self.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	/* the peer's socket: its own end is our peer, its other end is us */
	request_for(&q.req, &peer, &self, p->lo);
	q.h.nlmsg_seq = ++p->seq;
	if (sendto(p->fd, &q, sizeof(q), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return negative_errno();
	for (;;) {
		n = recv(p->fd, buf, sizeof(buf), 0);
		if (n < 0)
			return negative_errno();
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != p->seq)
				continue; /* an answer to an earlier question we gave up on */
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error ? e->error : -ENOENT;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
				return cgroup_of(h, &q.req, ret);
		}
	}
}

/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The cell's kernel side, attached once to <cgroup2>/cell.slice: a cell's sockets reach only
 * loopback, and there only the cell's proxy, its listed local ports and the ports the cell
 * itself bound; every connection and byte is counted per cell, every denial reported.
 *
 * A cell is a cgroup below cell.slice with an entry in cell_policy; a cgroup below a cell's
 * uses its cell's entry (the nearest ancestor's), and no entry at all means deny.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cell.h"

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define SOCK_DGRAM 2
#define SOCK_RAW 3
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

#define ALLOW 1
#define DENY 0

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* 6.2+; the Unix hooks that use it are only loaded where the kernel has them (6.7+) */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

/* what the Unix hooks read of the kernel's side of their context (CO-RE: named by its own
 * flavour, so that building on a kernel without uaddrlen still works) */
struct bpf_sock_addr_kern___cell {
	struct sockaddr *uaddr;
	u32 uaddrlen;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct cell_policy);
} cell_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct cell_counters);
} cell_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} cell_events SEC(".maps");

/* a socket bound by a process of a cell → that cell (socket storage: it goes with the socket) */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cell_owner);
} cell_owner_of SEC(".maps");

struct cell_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CELL_RING_BYTES);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CELL_RING_SLOTS);
	__type(key, __u32);
	__array(values, struct cell_ring);
} cell_ring_pool SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} cell_ring_slot SEC(".maps");

/* user space's only: who holds each slot of cell_ring_pool */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CELL_RING_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} cell_ring_owner SEC(".maps");

/* [0]: the CELL_BPF_VERSION of the programs attached, written by the loader */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cell_meta SEC(".maps");

/* The cgroup at level (its own for -1) of the packet's socket, or of the calling task if skb is
 * NULL. Always inlined with a constant skb: each program keeps only its own helpers. */
static __always_inline __u64 cgroup_at(struct __sk_buff *skb, int level)
{
	if (skb)
		return level < 0 ? bpf_skb_cgroup_id(skb) : bpf_skb_ancestor_cgroup_id(skb, level);
	return level < 0 ? bpf_get_current_cgroup_id() : bpf_get_current_ancestor_cgroup_id(level);
}

/* The policy of a packet's (or the calling task's) cell: its cgroup's, or the nearest
 * ancestor's. */
static __always_inline struct cell_policy *policy_of(struct __sk_buff *skb, __u64 *ret_cgroup)
{
	__u64 cg = cgroup_at(skb, -1);
	struct cell_policy *p = bpf_map_lookup_elem(&cell_policy, &cg);

	if (p) {
		*ret_cgroup = cg;
		return p;
	}
	for (int level = CELL_CGROUP_DEPTH_MAX - 1; level > 0; level--) {
		cg = cgroup_at(skb, level);
		if (!cg)
			continue;
		p = bpf_map_lookup_elem(&cell_policy, &cg);
		if (p) {
			*ret_cgroup = cg;
			return p;
		}
	}
	return NULL;
}

static __always_inline struct cell_counters *counters(__u64 cg)
{
	struct cell_counters *c = bpf_map_lookup_elem(&cell_stats, &cg);

	if (c)
		return c;
	{
		struct cell_counters zero = {};

		bpf_map_update_elem(&cell_stats, &cg, &zero, BPF_NOEXIST);
	}
	return bpf_map_lookup_elem(&cell_stats, &cg);
}

static __always_inline void report(__u64 cg, __u16 family, __u16 protocol, const __u32 *addr,
				   int addr_words, __u16 port, __u16 reason)
{
	__u32 *slot = bpf_map_lookup_elem(&cell_ring_slot, &cg);
	void *ring = slot ? bpf_map_lookup_elem(&cell_ring_pool, slot) : NULL;
	__u64 id = bpf_get_current_pid_tgid();
	struct cell_event *e;

	if (ring)
		e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	else
		e = bpf_ringbuf_reserve(&cell_events, sizeof(*e), 0);
	if (!e)
		return; /* full: the counters still have it */
	e->time_ns = bpf_ktime_get_boot_ns();
	e->cgroup = cg;
	e->pid = (__u32)id;
	e->tgid = (__u32)(id >> 32);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->family = family;
	e->protocol = protocol;
	e->port = port;
	e->reason = reason;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	if (addr_words >= 1)
		__builtin_memcpy(e->addr, &addr[0], 4);
	if (addr_words == 4)
		__builtin_memcpy(e->addr + 4, &addr[1], 12);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline bool local_port(const struct cell_policy *p, __u16 port)
{
	for (int i = 0; i < CELL_LOCAL_PORTS_MAX; i++) {
		if (i >= p->n_local_ports)
			break;
		if (p->local_ports[i] == port)
			return true;
	}
	return false;
}

/* Whether sk (a lookup's, released here; NULL: none) is a socket of the cell cg made. */
static __always_inline bool cells_socket(struct bpf_sock *sk, __u64 cg)
{
	struct cell_owner *o;
	bool own;

	if (!sk)
		return false;
	o = bpf_sk_storage_get(&cell_owner_of, sk, NULL, 0);
	own = o && o->cgroup == cg;
	bpf_sk_release(sk);
	return own;
}

/*
 * Whether the socket that would take a connection (or a datagram) from the calling task to
 * addr:port is one the cell bound itself. The lookup is the kernel's own, so it finds what the
 * connection would reach: an exact-address socket before a wildcard one; for IPv4, a dual-stack
 * IPv6 wildcard socket but no IPV6_V6ONLY one. A port the cell bound at another address (or
 * IPV6_V6ONLY) does not open the same port of someone else's socket.
 */
static __always_inline bool cells_own(struct bpf_sock_addr *ctx, __u64 cg, __u16 family,
				      const __u32 *addr, __u16 port, __u8 protocol)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size;

	if (family == AF_INET) {
		t.ipv4.daddr = addr[0];
		t.ipv4.dport = bpf_htons(port);
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.daddr, addr, sizeof(t.ipv6.daddr));
		t.ipv6.dport = bpf_htons(port);
		size = sizeof(t.ipv6);
	}
	if (protocol == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	else if (protocol == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	else
		return false;
	return cells_socket(sk, cg);
}

/*
 * The verdict on a connect or a UDP send by the calling task to a destination: family is the
 * one the destination is judged as (an IPv4-mapped IPv6 address is IPv4), addr its address in
 * network byte order (one word for IPv4, four for IPv6).
 */
static __always_inline int decide(struct bpf_sock_addr *ctx, __u16 family, bool loopback,
				  const __u32 *addr, int addr_words, bool send)
{
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	__u8 protocol = (__u8)ctx->protocol;
	struct cell_counters *c;
	struct cell_policy *p;
	__u16 reason = 0;
	__u64 cg = 0;

	p = policy_of(NULL, &cg);
	if (!p)
		reason = CELL_DENY_NO_POLICY;
	else if (!loopback)
		reason = CELL_DENY_NOT_LOOPBACK;
	/* the proxy is the cell's by its socket (its session marks it), not by its port: whoever
	 * listens there once it is gone, or at 127.0.0.2 or ::1, is not the cell's proxy */
	else if (!local_port(p, port) && !cells_own(ctx, cg, family, addr, port, protocol))
		reason = CELL_DENY_PORT;
	if (!p) {
		report(bpf_get_current_cgroup_id(), family, protocol, addr, addr_words, port,
		       reason);
		return DENY;
	}
	c = counters(cg);
	if (c) {
		if (!reason)
			__sync_fetch_and_add(&c->connects_allowed, 1);
		else if (send)
			__sync_fetch_and_add(&c->udp_denied, 1);
		else
			__sync_fetch_and_add(&c->connects_denied, 1);
	}
	if (!reason)
		return ALLOW;
	if (!(p->flags & CELL_POLICY_QUIET))
		report(cg, family, protocol, addr, addr_words, port, reason);
	return DENY;
}

/* A unicast address of 127.0.0.0/8: not its broadcast address (127.255.255.255, which
 * reaches every UDP socket of the port, another user's too) nor its network's (127.0.0.0,
 * a broadcast on older kernels). */
static __always_inline bool loopback4(__u32 addr_be)
{
	__u32 a = bpf_ntohl(addr_be);

	return (a >> 24) == 127 && (a & 0xffffff) != 0 && (a & 0xffffff) != 0xffffff;
}

static __always_inline bool v4_mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

static __always_inline bool loopback6(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == bpf_htonl(1);
}

static __always_inline int decide4(struct bpf_sock_addr *ctx, bool send)
{
	__u32 a = ctx->user_ip4;

	return decide(ctx, AF_INET, loopback4(a), &a, 1, send);
}

static __always_inline int decide6(struct bpf_sock_addr *ctx, bool send)
{
	__u32 a[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};

	/* ::ffff:a.b.c.d reaches a.b.c.d: judged as IPv4 */
	if (v4_mapped(a))
		return decide(ctx, AF_INET, loopback4(a[3]), &a[3], 1, send);
	return decide(ctx, AF_INET6, loopback6(a), a, 4, send);
}

SEC("cgroup/connect4")
int cell_connect4(struct bpf_sock_addr *ctx)
{
	return decide4(ctx, false);
}

SEC("cgroup/connect6")
int cell_connect6(struct bpf_sock_addr *ctx)
{
	return decide6(ctx, false);
}

SEC("cgroup/sendmsg4")
int cell_sendmsg4(struct bpf_sock_addr *ctx)
{
	return decide4(ctx, true);
}

SEC("cgroup/sendmsg6")
int cell_sendmsg6(struct bpf_sock_addr *ctx)
{
	return decide6(ctx, true);
}

/*
 * A socket of a cell's is marked with the cell (socket storage, cell_owner_of: the mark goes
 * with the socket): its own connects and datagrams may reach it. What can receive a connection
 * or a datagram is marked: a socket a process of a cell binds (post_bind), and every UDP socket
 * it makes (one that only connects is bound by the kernel, and answers come back to it); a
 * TCP socket that only connects needs none (storage costs about a microsecond a socket).
 */
static __always_inline void mark(struct bpf_sock *sk)
{
	struct cell_owner o = {};

	if (policy_of(NULL, &o.cgroup))
		bpf_sk_storage_get(&cell_owner_of, sk, &o, BPF_SK_STORAGE_GET_F_CREATE);
}

SEC("cgroup/post_bind4")
int cell_post_bind4(struct bpf_sock *sk)
{
	mark(sk);
	return ALLOW;
}

SEC("cgroup/post_bind6")
int cell_post_bind6(struct bpf_sock *sk)
{
	mark(sk);
	return ALLOW;
}

/* No raw or packet socket at all; UDP sockets marked (see mark). */
SEC("cgroup/sock_create")
int cell_sock_create(struct bpf_sock *sk)
{
	struct cell_counters *c;
	__u64 cg = 0;

	if (sk->type != SOCK_RAW && sk->family != AF_PACKET) {
		if (sk->type == SOCK_DGRAM && (sk->family == AF_INET || sk->family == AF_INET6))
			mark(sk);
		return ALLOW;
	}
	if (policy_of(NULL, &cg)) {
		c = counters(cg);
		if (c)
			__sync_fetch_and_add(&c->sockets_denied, 1);
	} else {
		cg = bpf_get_current_cgroup_id();
	}
	report(cg, (__u16)sk->family, (__u16)sk->protocol, NULL, 0, 0, CELL_DENY_SOCKET);
	return DENY;
}

/* Whether the packet's destination (or source) address is loopback (read in place: the packet
 * starts at its IP header here). */
static __always_inline bool skb_loopback(struct __sk_buff *skb, bool source)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end)
			return false;
		return loopback4(source ? ip->saddr : ip->daddr);
	}
	if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;
		__u32 a[4];

		if ((void *)(ip6 + 1) > end)
			return false;
		if (source)
			__builtin_memcpy(a, &ip6->saddr, sizeof(a));
		else
			__builtin_memcpy(a, &ip6->daddr, sizeof(a));
		return loopback6(a) || (v4_mapped(a) && loopback4(a[3]));
	}
	return false;
}

/*
 * Whether a packet's socket is in a cell, and the cell's counters in *ret (NULL if there is no
 * room for them). Most packets are of a socket in the cell's own cgroup, which has counters
 * from the cell's first connect: one lookup (a cell being closed keeps them until its
 * processes are gone). Otherwise (a cgroup below the cell's, or no counters yet) through the
 * policy.
 */
static __always_inline bool skb_cell(struct __sk_buff *skb, struct cell_counters **ret)
{
	__u64 cg = bpf_skb_cgroup_id(skb);

	*ret = bpf_map_lookup_elem(&cell_stats, &cg);
	if (*ret)
		return true;
	if (!policy_of(skb, &cg))
		return false;
	*ret = counters(cg);
	return true;
}

/* Where a packet goes, for the check of who receives it. */
struct flow {
	struct bpf_sock_tuple t;
	__u32 size; /* of t.ipv4 or t.ipv6 */
	__u8 protocol;
	bool check; /* a TCP SYN or a UDP datagram: its receiver is judged */
};

/* The lowest 8 bits of a TCP header's flags word (what tcphdr's bitfields hold). */
#define TCP_FLAGS_OFF 13
#define TCP_SYN 0x02
#define TCP_ACK 0x10

/*
 * A packet to loopback, parsed as far as its ports (in place: it starts at its IP header).
 * False for one the cell has no business sending: an IPv6 packet with extension headers.
 */
static __always_inline bool parse_flow(struct __sk_buff *skb, struct flow *f)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end, *l4;
	__be16 sport = 0, dport = 0;
	__u8 *flags;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;
		__u32 ihl;

		if ((void *)(ip + 1) > end)
			return false;
		f->protocol = ip->protocol;
		/* a fragment after the first has no ports: the first was judged */
		if (ip->frag_off & bpf_htons(0x1fff))
			return true;
		ihl = (ip->ihl & 0xf) * 4;
		if (ihl < sizeof(*ip))
			return false;
		l4 = data + ihl;
		f->t.ipv4.saddr = ip->saddr;
		f->t.ipv4.daddr = ip->daddr;
		f->size = sizeof(f->t.ipv4);
	} else {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end)
			return false;
		f->protocol = ip6->nexthdr;
		if (f->protocol != IPPROTO_TCP && f->protocol != IPPROTO_UDP)
			return f->protocol == IPPROTO_ICMPV6;
		l4 = ip6 + 1;
		__builtin_memcpy(f->t.ipv6.saddr, &ip6->saddr, sizeof(f->t.ipv6.saddr));
		__builtin_memcpy(f->t.ipv6.daddr, &ip6->daddr, sizeof(f->t.ipv6.daddr));
		f->size = sizeof(f->t.ipv6);
	}
	if (f->protocol == IPPROTO_UDP) {
		struct udphdr *u = l4;

		if ((void *)(u + 1) > end)
			return false;
		sport = u->source;
		dport = u->dest;
		f->check = true;
	} else if (f->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > end)
			return false;
		flags = (__u8 *)tcp + TCP_FLAGS_OFF;
		sport = tcp->source;
		dport = tcp->dest;
		f->check = (*flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
	}
	if (f->size == sizeof(f->t.ipv4)) {
		f->t.ipv4.sport = sport;
		f->t.ipv4.dport = dport;
	} else {
		f->t.ipv6.sport = sport;
		f->t.ipv6.dport = dport;
	}
	return true;
}

/*
 * The socket a connection request on f's tuple reaches: that connection's, or (the kernel's own
 * lookup) the listener for a new one. The tuple's connection may still be in TIME_WAIT on the
 * other side (the proxy closed first, and the cell reuses its port): the lookup finds no full
 * socket there, and a new SYN goes to the listener, which is looked up by address and port.
 */
static __always_inline struct bpf_sock *tcp_receiver(struct __sk_buff *skb, struct flow *f)
{
	struct bpf_sock_tuple l = {};
	struct bpf_sock *sk;

	if (f->size == sizeof(f->t.ipv4)) {
		sk = bpf_sk_lookup_tcp(skb, &f->t, sizeof(f->t.ipv4), BPF_F_CURRENT_NETNS, 0);
		if (sk)
			return sk;
		l.ipv4.daddr = f->t.ipv4.daddr;
		l.ipv4.dport = f->t.ipv4.dport;
		return bpf_sk_lookup_tcp(skb, &l, sizeof(l.ipv4), BPF_F_CURRENT_NETNS, 0);
	}
	sk = bpf_sk_lookup_tcp(skb, &f->t, sizeof(f->t.ipv6), BPF_F_CURRENT_NETNS, 0);
	if (sk)
		return sk;
	__builtin_memcpy(l.ipv6.daddr, f->t.ipv6.daddr, sizeof(l.ipv6.daddr));
	l.ipv6.dport = f->t.ipv6.dport;
	return bpf_sk_lookup_tcp(skb, &l, sizeof(l.ipv6), BPF_F_CURRENT_NETNS, 0);
}

/*
 * Whether the cell may send f: to a listed local port, or to a socket of the cell's (one it
 * made, or its proxy's). The connect and sendmsg hooks judged the destination when
 * the connection or the send began; this judges the receiver each time a connection is asked
 * for (every SYN, retransmissions too) and each datagram: a socket the cell bound and closed,
 * then a service of the host's on the same port, must not get what a connected UDP socket or a
 * SYN still on its way carries.
 */
static __always_inline bool receiver_ok(struct __sk_buff *skb, struct flow *f)
{
	struct cell_policy *p;
	struct bpf_sock *sk;
	__u16 port = bpf_ntohs(f->t.ipv4.dport);
	__u64 cg = 0;

	if (f->size == sizeof(f->t.ipv6))
		port = bpf_ntohs(f->t.ipv6.dport);
	p = policy_of(skb, &cg);
	if (!p)
		return false;
	if (local_port(p, port))
		return true;
	/* (the size a constant on each path: the verifier wants it bounded) */
	if (f->protocol == IPPROTO_TCP)
		sk = tcp_receiver(skb, f);
	else if (f->size == sizeof(f->t.ipv4))
		sk = bpf_sk_lookup_udp(skb, &f->t, sizeof(f->t.ipv4), BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(skb, &f->t, sizeof(f->t.ipv6), BPF_F_CURRENT_NETNS, 0);
	return cells_socket(sk, cg);
}

/* Counts what leaves; anything not to loopback is dropped (ICMP, raw: what the connect hooks
 * do not see), and so is a connection request or datagram whose receiver is not the cell's. */
SEC("cgroup_skb/egress")
int cell_egress(struct __sk_buff *skb)
{
	struct flow f = {};
	struct cell_counters *c;

	if (!skb_loopback(skb, false) || !skb_cell(skb, &c) || !parse_flow(skb, &f))
		return DENY;
	if (f.check && !receiver_ok(skb, &f)) {
		if (c)
			__sync_fetch_and_add(f.protocol == IPPROTO_UDP ? &c->udp_denied
								       : &c->connects_denied,
					     1);
		return DENY;
	}
	if (c) {
		__sync_fetch_and_add(&c->bytes_out, skb->len);
		__sync_fetch_and_add(&c->packets_out, 1);
	}
	return ALLOW;
}

/* Counts what arrives; a cell hears from loopback only: nothing from another address reaches
 * its sockets (a server on 0.0.0.0, a UDP socket), so no one outside can talk into it. */
SEC("cgroup_skb/ingress")
int cell_ingress(struct __sk_buff *skb)
{
	struct cell_counters *c;

	if (!skb_cell(skb, &c))
		return ALLOW;
	if (!skb_loopback(skb, true))
		return DENY;
	if (c) {
		__sync_fetch_and_add(&c->bytes_in, skb->len);
		__sync_fetch_and_add(&c->packets_in, 1);
	}
	return ALLOW;
}

/*
 * Abstract Unix sockets belong to a network namespace, and a cell shares the host's: an
 * abstract name (X11's, D-Bus's, a container runtime's) would be a way out. Path-bound sockets
 * are left to the file system view.
 */
static __always_inline int decide_unix(struct bpf_sock_addr *ctx, bool send)
{
	struct bpf_sock_addr_kern___cell *sa = bpf_cast_to_kern_ctx(ctx);
	__u32 name[4] = {}, len, n;
	struct cell_counters *c;
	struct cell_policy *p;
	char first = 1;
	__u64 cg = 0;

	if (!sa)
		return DENY;
	len = sa->uaddrlen;
	/* sun_family, then the path: a first byte of zero is an abstract name */
	if (len <= 2 || bpf_probe_read_kernel(&first, 1, (char *)sa->uaddr + 2) || first)
		return ALLOW;
	/* the name's first 16 bytes, for the event */
	n = len - 3 < sizeof(name) ? len - 3 : sizeof(name);
	if (n)
		bpf_probe_read_kernel(name, n, (char *)sa->uaddr + 3);
	p = policy_of(NULL, &cg);
	if (!p) {
		cg = bpf_get_current_cgroup_id();
	} else {
		c = counters(cg);
		if (c)
			__sync_fetch_and_add(send ? &c->udp_denied : &c->connects_denied, 1);
		if (p->flags & CELL_POLICY_QUIET)
			return DENY;
	}
	report(cg, AF_UNIX, 0, name, 4, 0, CELL_DENY_ABSTRACT_UNIX);
	return DENY;
}

/* Section names libbpf 1.1 does not know: the loader sets their type and attach type. */
SEC("cgroup/connect_unix")
int cell_connect_unix(struct bpf_sock_addr *ctx)
{
	return decide_unix(ctx, false);
}

SEC("cgroup/sendmsg_unix")
int cell_sendmsg_unix(struct bpf_sock_addr *ctx)
{
	return decide_unix(ctx, true);
}

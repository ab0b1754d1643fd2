/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The BPF bench's floor (tests/bench/bpf.py): the hooks bpf/cell.bpf.c uses on a connection,
 * each with a program that lets everything through and does nothing else. What a cell costs
 * above this is its programs' work; this much is the kernel's for running programs at all.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("cgroup/connect4")
int empty_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/post_bind4")
int empty_post_bind4(struct bpf_sock *sk)
{
	return 1;
}

SEC("cgroup/sock_create")
int empty_sock_create(struct bpf_sock *sk)
{
	return 1;
}

SEC("cgroup_skb/egress")
int empty_egress(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/ingress")
int empty_ingress(struct __sk_buff *skb)
{
	return 1;
}

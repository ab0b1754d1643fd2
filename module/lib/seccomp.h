/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct cell_seccomp_options {
	bool allow_userns;   /* hardening.allow_userns */
	bool allow_io_uring; /* hardening.allow_io_uring */
};

/* One line of what the filter does, for cell explain. */
struct cell_seccomp_rule {
	const char *what;   /* "ioctl(TIOCSTI)" */
	const char *result; /* the errno's name: "EPERM" */
	const char *why;
};

/*
 * The cell's syscall filter: everything is allowed except a closed list (terminal injection,
 * kernel attack surface, keyrings, BPF, nested user namespaces unless allowed, io_uring unless
 * allowed, sockets of families other than unix, inet, inet6 and netlink). The rules apply to
 * the x86-64, x32 and i386 ABIs alike. Writes the compiled BPF program to a new memfd
 * (close-on-exec, positioned at 0) for bwrap's --seccomp.
 */
int cell_seccomp_compile(const struct cell_seccomp_options *o, int *ret_fd);
/* The rules for these options, in the filter's order; *ret_n is set. */
size_t cell_seccomp_rules(const struct cell_seccomp_options *o, struct cell_seccomp_rule *buf,
			  size_t size);

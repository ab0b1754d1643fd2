/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "seccomp.h"

enum when {
	ALWAYS,
	UNLESS_USERNS,
	UNLESS_IO_URING,
};

enum match {
	ANY,	     /* every call */
	ARG1_EQ,     /* the low 32 bits of argument 1 equal value (ioctl requests) */
	ARG0_HAS,    /* argument 0 has the bits of value set (clone, unshare flags) */
	ARG0_EQ,     /* argument 0 equals value (socketcall's call number) */
	ARG0_FAMILY, /* argument 0 is not one of families[] (socket, socketpair) */
	SOCKET_OPT,  /* setsockopt(fd, SOL_SOCKET, value, ...): level and name, low 32 bits */
};

/*
 * The socket families a cell may open, in increasing order: those the cell's network rules
 * understand (the BPF programs see inet sockets only) and those everyday programs need (Unix
 * sockets; netlink for getaddrinfo and ip). AF_VSOCK is not network-namespaced and reaches the
 * hypervisor from a VM; Bluetooth, packet, AF_ALG, AF_KEY and the rest are kernel attack
 * surface no cell needs.
 */
static const int families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};

static const struct blocked {
	const char *syscall;
	enum match match;
	uint64_t value;
	int err;
	enum when when;
	const char *what;
	const char *why;
} blocked[] = {
	/*
	 * The request is an unsigned int; the kernel ignores the upper half of the register, so
	 * the comparison must too (CVE-2017-5226 was a filter that did not).
	 */
	{"ioctl", ARG1_EQ, TIOCSTI, EPERM, ALWAYS, "ioctl(TIOCSTI)",
	 "pushing input into the terminal would type commands into the shell outside"},
	{"ioctl", ARG1_EQ, TIOCLINUX, EPERM, ALWAYS, "ioctl(TIOCLINUX)",
	 "console paste can inject input as TIOCSTI does"},
	{"bpf", ANY, 0, EPERM, ALWAYS, "bpf",
	 "kernel attack surface; the cell's network rules are BPF"},
	{"perf_event_open", ANY, 0, EPERM, ALWAYS, "perf_event_open", "kernel attack surface"},
	{"keyctl", ANY, 0, EPERM, ALWAYS, "keyctl", "kernel keyrings are not namespaced"},
	{"add_key", ANY, 0, EPERM, ALWAYS, "add_key", "kernel keyrings are not namespaced"},
	{"request_key", ANY, 0, EPERM, ALWAYS, "request_key", "kernel keyrings are not namespaced"},
	{"userfaultfd", ANY, 0, EPERM, ALWAYS, "userfaultfd", "a tool for kernel race exploits"},
	{"kexec_load", ANY, 0, EPERM, ALWAYS, "kexec_load", "loads a new kernel"},
	{"kexec_file_load", ANY, 0, EPERM, ALWAYS, "kexec_file_load", "loads a new kernel"},
	{"init_module", ANY, 0, EPERM, ALWAYS, "init_module", "loads kernel code"},
	{"finit_module", ANY, 0, EPERM, ALWAYS, "finit_module", "loads kernel code"},
	{"delete_module", ANY, 0, EPERM, ALWAYS, "delete_module", "unloads kernel code"},
	{"io_uring_setup", ANY, 0, EPERM, UNLESS_IO_URING, "io_uring_setup",
	 "io_uring's socket operations bypass an LD_PRELOAD shim (hardening.allow_io_uring)"},
	{"io_uring_enter", ANY, 0, EPERM, UNLESS_IO_URING, "io_uring_enter",
	 "io_uring (hardening.allow_io_uring)"},
	{"io_uring_register", ANY, 0, EPERM, UNLESS_IO_URING, "io_uring_register",
	 "io_uring (hardening.allow_io_uring)"},
	{"unshare", ARG0_HAS, CLONE_NEWUSER, EPERM, UNLESS_USERNS, "unshare(CLONE_NEWUSER)",
	 "a nested user namespace regains every capability (hardening.allow_userns)"},
	{"clone", ARG0_HAS, CLONE_NEWUSER, EPERM, UNLESS_USERNS, "clone(CLONE_NEWUSER)",
	 "a nested user namespace regains every capability (hardening.allow_userns)"},
	/* clone3 passes its flags in memory a filter cannot read; ENOSYS makes libc use clone */
	{"clone3", ANY, 0, ENOSYS, UNLESS_USERNS, "clone3",
	 "its flags cannot be inspected; libc falls back to clone (hardening.allow_userns)"},
	/* EAFNOSUPPORT is what a program expects for a family this kernel does not have */
	{"socket", ARG0_FAMILY, 0, EAFNOSUPPORT, ALWAYS, "socket(other family)",
	 "only unix, inet, inet6 and netlink: vsock reaches the hypervisor, and the network rules "
	 "see inet only"},
	{"socketpair", ARG0_FAMILY, 0, EAFNOSUPPORT, ALWAYS, "socketpair(other family)",
	 "as for socket"},
	/*
	 * i386 also creates sockets through socketcall(2), whose arguments (the family among them)
	 * are in memory a filter cannot read, so it is refused for these two calls whatever the
	 * family. libseccomp writes the same rule itself for the socket rules above, with their
	 * errno (an explicit ENOSYS here would conflict with it); naming it keeps it visible. The
	 * cost: 32-bit glibc (Debian's, built for kernels older than 4.3) calls socketcall for
	 * socket() and socketpair() and never falls back to the direct system calls, so 32-bit
	 * glibc programs get no sockets in a cell; a libc that makes the direct calls (i386 has
	 * them since Linux 4.3: musl, glibc built for 4.3 or later) gets the rules above.
	 */
	{"socketcall", ARG0_EQ, SYS_SOCKET, EAFNOSUPPORT, ALWAYS, "socketcall(SOCKET)",
	 "i386: the family is in memory a filter cannot read (32-bit glibc's socket() fails)"},
	{"socketcall", ARG0_EQ, SYS_SOCKETPAIR, EAFNOSUPPORT, ALWAYS, "socketcall(SOCKETPAIR)",
	 "as for socketcall(SOCKET)"},
	/*
	 * A SO_REUSEPORT group shares a port among sockets of one uid, and the kernel picks the
	 * member by a hash of the whole connection (or by a program attached to the group): a cell
	 * in a group with a listener of its user's outside would get connections the network
	 * rules judged by another member (the cell's). No cell joins one.
	 */
	{"setsockopt", SOCKET_OPT, SO_REUSEPORT, EPERM, ALWAYS, "setsockopt(SO_REUSEPORT)",
	 "a port shared with the user's listeners outside would let the cell reach them"},
	{"setsockopt", SOCKET_OPT, SO_ATTACH_REUSEPORT_CBPF, EPERM, ALWAYS,
	 "setsockopt(SO_ATTACH_REUSEPORT_CBPF)", "as for SO_REUSEPORT"},
	{"setsockopt", SOCKET_OPT, SO_ATTACH_REUSEPORT_EBPF, EPERM, ALWAYS,
	 "setsockopt(SO_ATTACH_REUSEPORT_EBPF)", "as for SO_REUSEPORT"},
	/* i386's socketcall(SETSOCKOPT) has its level and name in memory a filter cannot read */
	{"socketcall", ARG0_EQ, SYS_SETSOCKOPT, EPERM, ALWAYS, "socketcall(SETSOCKOPT)",
	 "i386: the option is in memory a filter cannot read"},
};

static bool applies(const struct blocked *b, const struct cell_seccomp_options *o)
{
	return b->when == ALWAYS || (b->when == UNLESS_USERNS && !o->allow_userns) ||
	       (b->when == UNLESS_IO_URING && !o->allow_io_uring);
}

size_t cell_seccomp_rules(const struct cell_seccomp_options *o, struct cell_seccomp_rule *buf,
			  size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < ELEMENTSOF(blocked); i++) {
		if (!applies(&blocked[i], o))
			continue;
		if (n < size)
			buf[n] = (struct cell_seccomp_rule){
				blocked[i].what, strerrorname_np(blocked[i].err), blocked[i].why};
		n++;
	}
	return n;
}

static bool allowed_family(uint64_t v)
{
	for (size_t i = 0; i < ELEMENTSOF(families); i++)
		if (v == (uint64_t)families[i])
			return true;
	return false;
}

/*
 * libseccomp takes one comparison per argument in a rule, so "not one of families[]" is a rule
 * for each other value below the largest family and one for every value above it. On x86-64
 * the comparison is of all 64 bits, where the kernel reads an int: a value with bits in the
 * upper half is above, and refused (libc passes a sign-extended int, so nothing real is). Being
 * an allowlist, this fails closed, unlike a denylist on the low half (CVE-2017-5226).
 */
static int add_family_rules(scmp_filter_ctx ctx, uint32_t action, int nr)
{
	uint64_t last = (uint64_t)families[ELEMENTSOF(families) - 1];
	int r = seccomp_rule_add(ctx, action, nr, 1, SCMP_A0(SCMP_CMP_GT, last));

	for (uint64_t v = 0; v < last && r >= 0; v++)
		if (!allowed_family(v))
			r = seccomp_rule_add(ctx, action, nr, 1, SCMP_A0(SCMP_CMP_EQ, v));
	return r;
}

static int add_rule(scmp_filter_ctx ctx, const struct blocked *b)
{
	int nr = seccomp_syscall_resolve_name(b->syscall);

	if (nr == __NR_SCMP_ERROR)
		return -ENOSYS;
	switch (b->match) {
	case ARG0_FAMILY:
		return add_family_rules(ctx, SCMP_ACT_ERRNO(b->err), nr);
	case ARG0_EQ:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(b->err), nr, 1,
					SCMP_A0(SCMP_CMP_EQ, b->value));
	case ARG1_EQ:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(b->err), nr, 1,
					SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, b->value));
	case SOCKET_OPT:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(b->err), nr, 2,
					SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, SOL_SOCKET),
					SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffULL, b->value));
	case ARG0_HAS:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(b->err), nr, 1,
					SCMP_A0(SCMP_CMP_MASKED_EQ, b->value, b->value));
	default:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(b->err), nr, 0);
	}
}

int cell_seccomp_compile(const struct cell_seccomp_options *o, int *ret_fd)
{
	static const uint32_t arches[] = {SCMP_ARCH_X86, SCMP_ARCH_X32};
	_cleanup_close_ int fd = -1;
	scmp_filter_ctx ctx;
	int r = 0;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	/* the other ABIs of this machine get the same rules, not a way around them */
	for (size_t i = 0; i < ELEMENTSOF(arches) && r >= 0; i++)
		if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
			r = seccomp_arch_add(ctx, arches[i]);
			if (r == -EEXIST)
				r = 0;
		}
	for (size_t i = 0; i < ELEMENTSOF(blocked) && r >= 0; i++)
		if (applies(&blocked[i], o))
			r = add_rule(ctx, &blocked[i]);
	if (r >= 0) {
		fd = memfd_create("cell-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0)
			r = negative_errno();
	}
	if (r >= 0)
		r = seccomp_export_bpf(ctx, fd);
	if (r >= 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = negative_errno();
	/* the program as compiled, whoever the descriptor goes to (a session's members share it) */
	if (r >= 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		r = negative_errno();
	seccomp_release(ctx);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

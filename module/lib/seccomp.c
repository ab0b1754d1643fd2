/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "seccomp.h"

enum when {
	ALWAYS,
	UNLESS_USERNS,
	UNLESS_IO_URING,
};

enum match {
	ANY,	  /* every call */
	ARG1_EQ,  /* the low 32 bits of argument 1 equal value (ioctl requests) */
	ARG0_HAS, /* argument 0 has the bits of value set (clone, unshare flags) */
};

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
				blocked[i].what, blocked[i].err == ENOSYS ? "ENOSYS" : "EPERM",
				blocked[i].why};
		n++;
	}
	return n;
}

static int add_rule(scmp_filter_ctx ctx, const struct blocked *b)
{
	int nr = seccomp_syscall_resolve_name(b->syscall);

	if (nr == __NR_SCMP_ERROR)
		return -ENOSYS;
	switch (b->match) {
	case ARG1_EQ:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(b->err), nr, 1,
					SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, b->value));
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
		fd = memfd_create("cell-seccomp", MFD_CLOEXEC);
		if (fd < 0)
			r = negative_errno();
	}
	if (r >= 0)
		r = seccomp_export_bpf(ctx, fd);
	if (r >= 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = negative_errno();
	seccomp_release(ctx);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

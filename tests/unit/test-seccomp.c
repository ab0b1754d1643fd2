/* SPDX-License-Identifier: MIT */
/*
 * The syscall filter as bwrap loads it, run here by a small classic BPF interpreter (the
 * instructions libseccomp emits) on a struct seccomp_data: every ABI the filter covers can be
 * tried, x32 included, which few kernels still have. The escape suite tries the real thing.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/net.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "fileio.h"
#include "macro.h"
#include "seccomp.h"

/* the other ABIs' numbers (arch/x86/entry/syscalls/syscall_32.tbl; x32: the x86-64 number with
 * __X32_SYSCALL_BIT) */
#define X32 0x40000000
#define I386_SOCKETCALL 102
#define I386_KEYCTL 288
#define I386_SOCKET 359
#define I386_SOCKETPAIR 360
#define I386_SETSOCKOPT 366
/* x32 has its own setsockopt (the 64-bit one, 54, is not an x32 call) */
#define X32_SETSOCKOPT 541

#define ALLOW SECCOMP_RET_ALLOW
#define ERRNO(e) (SECCOMP_RET_ERRNO | (e))

/* Runs the program on d and returns its action; fails the test on anything unexpected. */
static uint32_t run(const struct sock_filter *prog, size_t n, const struct seccomp_data *d)
{
	uint32_t a = 0;

	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *f = &prog[pc];
		bool taken;

		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			cr_assert(le(u64, (uint64_t)f->k + 4, sizeof(*d)), "a load past the data");
			memcpy(&a, (const char *)d + f->k, 4);
			continue;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= f->k;
			continue;
		case BPF_RET | BPF_K:
			return f->k;
		case BPF_JMP | BPF_JA:
			pc += f->k;
			continue;
		case BPF_JMP | BPF_JEQ | BPF_K:
			taken = a == f->k;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			taken = a > f->k;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			taken = a >= f->k;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			taken = (a & f->k) != 0;
			break;
		default:
			cr_fail("instruction %#x at %zu is not one this interpreter knows", f->code,
				pc);
			return 0;
		}
		pc += taken ? f->jt : f->jf;
	}
	cr_fail("the program ran past its end");
	return 0;
}

static uint32_t decide(uint32_t arch, int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct cell_seccomp_options o = {0};
	struct seccomp_data d = {.nr = nr, .arch = arch, .args = {a0, a1, a2}};
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *prog = NULL;
	size_t len = 0;

	cr_assert(eq(int, cell_seccomp_compile(&o, &fd), 0));
	cr_assert(eq(int, cell_read_full_fd(fd, CELL_FILE_MAX, &prog, &len), 0));
	cr_assert(eq(sz, len % sizeof(struct sock_filter), 0));
	return run((const struct sock_filter *)prog, len / sizeof(struct sock_filter), &d);
}

/* Parameters are copied into worker processes: no pointers in them. */
struct call {
	char what[48];
	uint32_t arch;
	int nr;
	uint64_t a0, a1;
	uint32_t action;
	uint64_t a2;
};

ParameterizedTestParameters(seccomp, socket_families)
{
	static struct call cases[] = {
		{"socket(AF_UNIX)", AUDIT_ARCH_X86_64, SYS_socket, AF_UNIX, SOCK_STREAM, ALLOW, 0},
		{"socket(AF_INET)", AUDIT_ARCH_X86_64, SYS_socket, AF_INET, SOCK_STREAM, ALLOW, 0},
		{"socket(AF_INET6)", AUDIT_ARCH_X86_64, SYS_socket, AF_INET6, SOCK_DGRAM, ALLOW, 0},
		{"socket(AF_NETLINK)", AUDIT_ARCH_X86_64, SYS_socket, AF_NETLINK, SOCK_RAW, ALLOW,
		 0},
		{"socket(AF_VSOCK)", AUDIT_ARCH_X86_64, SYS_socket, AF_VSOCK, SOCK_STREAM,
		 ERRNO(EAFNOSUPPORT), 0},
		{"socket(AF_BLUETOOTH)", AUDIT_ARCH_X86_64, SYS_socket, AF_BLUETOOTH, SOCK_RAW,
		 ERRNO(EAFNOSUPPORT), 0},
		{"socket(AF_PACKET)", AUDIT_ARCH_X86_64, SYS_socket, AF_PACKET, SOCK_RAW,
		 ERRNO(EAFNOSUPPORT), 0},
		{"socket(AF_ALG)", AUDIT_ARCH_X86_64, SYS_socket, AF_ALG, SOCK_SEQPACKET,
		 ERRNO(EAFNOSUPPORT), 0},
		{"socket(AF_KEY)", AUDIT_ARCH_X86_64, SYS_socket, AF_KEY, SOCK_RAW,
		 ERRNO(EAFNOSUPPORT), 0},
		{"socket(AF_UNSPEC)", AUDIT_ARCH_X86_64, SYS_socket, AF_UNSPEC, SOCK_STREAM,
		 ERRNO(EAFNOSUPPORT), 0},
		{"socket(17)", AUDIT_ARCH_X86_64, SYS_socket, 17, SOCK_STREAM, ERRNO(EAFNOSUPPORT),
		 0},
		{"socket(-1)", AUDIT_ARCH_X86_64, SYS_socket, (uint64_t)-1, SOCK_STREAM,
		 ERRNO(EAFNOSUPPORT), 0},
		/* the kernel reads an int; a filter that read the low half only could be fooled */
		{"socket(AF_VSOCK + 2^32)", AUDIT_ARCH_X86_64, SYS_socket, (1ULL << 32) | AF_VSOCK,
		 SOCK_STREAM, ERRNO(EAFNOSUPPORT), 0},
		{"socket(AF_UNIX + 2^32)", AUDIT_ARCH_X86_64, SYS_socket, (1ULL << 32) | AF_UNIX,
		 SOCK_STREAM, ERRNO(EAFNOSUPPORT), 0},
		{"socketpair(AF_UNIX)", AUDIT_ARCH_X86_64, SYS_socketpair, AF_UNIX, SOCK_STREAM,
		 ALLOW, 0},
		{"socketpair(AF_VSOCK)", AUDIT_ARCH_X86_64, SYS_socketpair, AF_VSOCK, SOCK_STREAM,
		 ERRNO(EAFNOSUPPORT), 0},
		{"x32 socket(AF_UNIX)", AUDIT_ARCH_X86_64, X32 | SYS_socket, AF_UNIX, SOCK_STREAM,
		 ALLOW, 0},
		{"x32 socket(AF_VSOCK)", AUDIT_ARCH_X86_64, X32 | SYS_socket, AF_VSOCK, SOCK_STREAM,
		 ERRNO(EAFNOSUPPORT), 0},
		{"x32 socketpair(AF_VSOCK)", AUDIT_ARCH_X86_64, X32 | SYS_socketpair, AF_VSOCK,
		 SOCK_STREAM, ERRNO(EAFNOSUPPORT), 0},
		{"i386 socket(AF_INET)", AUDIT_ARCH_I386, I386_SOCKET, AF_INET, SOCK_STREAM, ALLOW,
		 0},
		{"i386 socket(AF_VSOCK)", AUDIT_ARCH_I386, I386_SOCKET, AF_VSOCK, SOCK_STREAM,
		 ERRNO(EAFNOSUPPORT), 0},
		{"i386 socketpair(AF_VSOCK)", AUDIT_ARCH_I386, I386_SOCKETPAIR, AF_VSOCK,
		 SOCK_STREAM, ERRNO(EAFNOSUPPORT), 0},
		/* the family is behind the pointer in argument 1: refused whatever it is */
		{"i386 socketcall(SOCKET)", AUDIT_ARCH_I386, I386_SOCKETCALL, SYS_SOCKET, 0x10000,
		 ERRNO(EAFNOSUPPORT), 0},
		{"i386 socketcall(SOCKETPAIR)", AUDIT_ARCH_I386, I386_SOCKETCALL, SYS_SOCKETPAIR,
		 0x10000, ERRNO(EAFNOSUPPORT), 0},
		{"i386 socketcall(CONNECT)", AUDIT_ARCH_I386, I386_SOCKETCALL, SYS_CONNECT, 0x10000,
		 ALLOW, 0},
		/* no SO_REUSEPORT group (setsockopt(fd, level, name): level a1, name a2) */
		{"setsockopt(SO_REUSEPORT)", AUDIT_ARCH_X86_64, SYS_setsockopt, 3, SOL_SOCKET,
		 ERRNO(EPERM), SO_REUSEPORT},
		{"setsockopt(SO_REUSEPORT + 2^32)", AUDIT_ARCH_X86_64, SYS_setsockopt, 3,
		 SOL_SOCKET | (1ULL << 32), ERRNO(EPERM), SO_REUSEPORT | (1ULL << 32)},
		{"setsockopt(SO_ATTACH_REUSEPORT_CBPF)", AUDIT_ARCH_X86_64, SYS_setsockopt, 3,
		 SOL_SOCKET, ERRNO(EPERM), SO_ATTACH_REUSEPORT_CBPF},
		{"setsockopt(SO_ATTACH_REUSEPORT_EBPF)", AUDIT_ARCH_X86_64, SYS_setsockopt, 3,
		 SOL_SOCKET, ERRNO(EPERM), SO_ATTACH_REUSEPORT_EBPF},
		{"x32 setsockopt(SO_REUSEPORT)", AUDIT_ARCH_X86_64, X32 | X32_SETSOCKOPT, 3,
		 SOL_SOCKET, ERRNO(EPERM), SO_REUSEPORT},
		{"i386 setsockopt(SO_REUSEPORT)", AUDIT_ARCH_I386, I386_SETSOCKOPT, 3, SOL_SOCKET,
		 ERRNO(EPERM), SO_REUSEPORT},
		{"i386 socketcall(SETSOCKOPT)", AUDIT_ARCH_I386, I386_SOCKETCALL, SYS_SETSOCKOPT,
		 0x10000, ERRNO(EPERM), 0},
		/* the options everyday servers set, and the same number at another level */
		{"setsockopt(SO_REUSEADDR)", AUDIT_ARCH_X86_64, SYS_setsockopt, 3, SOL_SOCKET,
		 ALLOW, SO_REUSEADDR},
		{"setsockopt(IPPROTO_TCP, 15)", AUDIT_ARCH_X86_64, SYS_setsockopt, 3, IPPROTO_TCP,
		 ALLOW, 15},
		/* the interpreter agrees with the rules that were there before */
		{"keyctl", AUDIT_ARCH_X86_64, SYS_keyctl, 0, 0, ERRNO(EPERM), 0},
		{"i386 keyctl", AUDIT_ARCH_I386, I386_KEYCTL, 0, 0, ERRNO(EPERM), 0},
		{"getpid", AUDIT_ARCH_X86_64, SYS_getpid, 0, 0, ALLOW, 0},
	};
	return cr_make_param_array(struct call, cases, ELEMENTSOF(cases));
}

ParameterizedTest(struct call *c, seccomp, socket_families)
{
	uint32_t action = decide(c->arch, c->nr, c->a0, c->a1, c->a2);

	cr_assert(eq(u32, action, c->action), "%s: %#x, not %#x", c->what, action, c->action);
}

Test(seccomp, explain_names_the_socket_rules_and_their_errno)
{
	struct cell_seccomp_options o = {0};
	struct cell_seccomp_rule rules[64];
	size_t n = cell_seccomp_rules(&o, rules, ELEMENTSOF(rules));
	const char *const socket_rules[] = {"socket(other family)", "socketpair(other family)",
					    "socketcall(SOCKET)", "socketcall(SOCKETPAIR)"};

	cr_assert(le(sz, n, ELEMENTSOF(rules)));
	for (size_t i = 0; i < ELEMENTSOF(socket_rules); i++) {
		size_t j = 0;

		while (j < n && !streq(rules[j].what, socket_rules[i]))
			j++;
		cr_assert(lt(sz, j, n), "no rule %s", socket_rules[i]);
		cr_assert(eq(str, (char *)rules[j].result, "EAFNOSUPPORT"));
		cr_assert(gt(sz, strlen(rules[j].why), 0));
	}
}

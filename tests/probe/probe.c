/* SPDX-License-Identifier: MIT */
/*
 * The escape suite's probe: one attempt per sub-command, run inside a cell and outside it (the
 * positive control). Prints "ok" or "errno=NAME" and exits 0 when the attempt succeeded, 1 when
 * it failed, 2 when it could not be tried. libc only: it runs from the project dir of a cell.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/net.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int result(long r)
{
	if (r >= 0)
		printf("ok\n");
	else
		printf("errno=%s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	fflush(stdout);
	return r >= 0 ? 0 : 1;
}

/* TIOCSTI on our own controlling terminal: a new session on a new pty. */
static int tiocsti(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY), status;
	pid_t pid;

	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		return printf("cannot open a pty: %s\n", strerror(errno)), 2;
	pid = fork();
	if (pid == 0) {
		char c = 'x';
		int s;

		setsid();
		s = open(ptsname(m), O_RDWR);
		if (s < 0)
			_exit(3);
		_exit(result(ioctl(s, TIOCSTI, &c)));
	}
	waitpid(pid, &status, 0);
	fflush(stdout);
	return WEXITSTATUS(status);
}

static int ptrace_child(void)
{
	pid_t pid = fork();
	long r;

	if (pid == 0) {
		pause();
		_exit(0);
	}
	r = ptrace(PTRACE_SEIZE, pid, 0, 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return result(r);
}

/*
 * A system call through the i386 gate (int $0x80), as a 32-bit program makes it: pointers must
 * be below 4 GiB. The kernel zeroes r8-r11 on the way back.
 */
static long syscall32(long nr, long a, long b, long c, long d)
{
	long r;

	__asm__ volatile("int $0x80"
			 : "=a"(r)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d)
			 : "memory", "r8", "r9", "r10", "r11");
	if (r < 0) {
		errno = (int)-r;
		r = -1;
	}
	return r;
}

/* keyctl through the i386 system call gate, to show the filter covers that ABI too */
static int keyctl32(void)
{
	return result(syscall32(288, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0));
}

/*
 * A socket of each family, of a type and protocol its kernel code accepts from anyone (AF_PACKET
 * and AF_KEY still want a capability: EPERM outside a cell, not EAFNOSUPPORT).
 */
static const struct family {
	const char *name;
	int family, type, protocol;
} families[] = {
	{"unix", AF_UNIX, SOCK_STREAM, 0},
	{"inet", AF_INET, SOCK_STREAM, 0},
	{"inet6", AF_INET6, SOCK_STREAM, 0},
	{"netlink", AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */},
	{"vsock", AF_VSOCK, SOCK_STREAM, 0},
	{"bluetooth", AF_BLUETOOTH, SOCK_SEQPACKET, 0 /* BTPROTO_L2CAP */},
	{"packet", AF_PACKET, SOCK_DGRAM, 0},
	{"alg", AF_ALG, SOCK_SEQPACKET, 0},
	{"key", AF_KEY, SOCK_RAW, 2 /* PF_KEY_V2 */},
};

static const struct family *family(const char *name)
{
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (!strcmp(families[i].name, name))
			return &families[i];
	return NULL;
}

/*
 * how: "socket" and "socketpair" (this ABI), "socket32" and "socketpair32" (the direct i386
 * calls, Linux 4.3+), "socketcall32" (i386's multiplexer: the arguments in memory, as 32-bit
 * glibc calls it for socket()).
 */
static int open_socket(const char *how, const char *name)
{
	const struct family *f = family(name);
	/* socketcall's arguments, and socketpair's fds, where a 32-bit pointer reaches them */
	int *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
			-1, 0);

	if (!f || low == MAP_FAILED)
		return printf("no such family, or no memory below 4 GiB\n"), 2;
	if (!strcmp(how, "socket"))
		return result(socket(f->family, f->type, f->protocol));
	/* only Unix sockets come in pairs: the others get EOPNOTSUPP outside a cell */
	if (!strcmp(how, "socketpair"))
		return result(socketpair(f->family, f->type, f->protocol, low));
	if (!strcmp(how, "socket32"))
		return result(syscall32(359, f->family, f->type, f->protocol, 0));
	if (!strcmp(how, "socketpair32"))
		return result(syscall32(360, f->family, f->type, f->protocol, (long)low));
	low[0] = f->family;
	low[1] = f->type;
	low[2] = f->protocol;
	return result(syscall32(102, SYS_SOCKET, (long)low, 0, 0));
}

static int connect_port(const char *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)atoi(port)),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	return result(connect(fd, (struct sockaddr *)&a, sizeof(a)));
}

/* The pid namespace's last pid. */
static int last_pid(void)
{
	char buf[32] = "";
	int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return n > 0 ? atoi(buf) : -1;
}

/*
 * For seconds, waits for each next process of the pid namespace and tries to trace it from
 * the moment it exists until it is traced or gone; a traced one is stopped and its seccomp
 * state read. Says how many it traced and how many of those had no filter yet: a member joining
 * a session must never be caught between its capabilities' drop and its filter.
 */
static int trace_newcomers(int seconds)
{
	time_t end = time(NULL) + seconds;
	unsigned attached = 0, unfiltered = 0;

	while (time(NULL) < end) {
		int target = last_pid() + 1, status;
		char path[64], line[128];
		FILE *f;

		if (target <= 0)
			return printf("cannot read ns_last_pid\n"), 2;
		while (last_pid() < target && time(NULL) < end)
			;
		for (long tries = 0; tries < 2000000; tries++) {
			if (ptrace(PTRACE_SEIZE, target, 0, 0) == 0)
				break;
			if (errno == ESRCH) {
				tries = -1;
				break;
			}
		}
		if (ptrace(PTRACE_INTERRUPT, target, 0, 0) < 0)
			continue;
		waitpid(target, &status, __WALL);
		attached++;
		snprintf(path, sizeof(path), "/proc/%d/status", target);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (!strcmp(line, "Seccomp:\t0\n"))
				unfiltered++;
		if (f)
			fclose(f);
		ptrace(PTRACE_DETACH, target, 0, 0);
	}
	printf("attached %u unfiltered %u\n", attached, unfiltered);
	return 0;
}

int main(int argc, char *argv[])
{
	const char *what = argc > 1 ? argv[1] : "";

	if (!strcmp(what, "tiocsti"))
		return tiocsti();
	if (!strcmp(what, "keyctl"))
		return result(
			syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
	if (!strcmp(what, "keyctl32"))
		return keyctl32();
	if (!strcmp(what, "bpf")) {
		/* BPF_OBJ_GET is open to unprivileged callers since 5.19: ENOENT outside */
		union bpf_attr attr = {.pathname = (__u64)(unsigned long)"/sys/fs/bpf/none"};

		return result(syscall(SYS_bpf, BPF_OBJ_GET, &attr, sizeof(attr)));
	}
	if (!strcmp(what, "perf")) {
		struct perf_event_attr attr = {.type = PERF_TYPE_SOFTWARE,
					       .size = sizeof(attr),
					       .config = PERF_COUNT_SW_TASK_CLOCK,
					       .exclude_kernel = 1,
					       .exclude_hv = 1};

		return result(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
	}
	if (!strcmp(what, "userfaultfd"))
		return result(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
	if (!strcmp(what, "io_uring")) {
		struct io_uring_params p = {0};

		return result(syscall(SYS_io_uring_setup, 1, &p));
	}
	if (!strcmp(what, "unshare-user"))
		return result(unshare(CLONE_NEWUSER));
	if (!strcmp(what, "ptrace") && argc > 2)
		return result(ptrace(PTRACE_SEIZE, atoi(argv[2]), 0, 0));
	if (!strcmp(what, "trace-newcomers") && argc > 2)
		return trace_newcomers(atoi(argv[2]));
	if (!strcmp(what, "ptrace-child"))
		return ptrace_child();
	if (!strcmp(what, "mount"))
		return result(mount("none", "/tmp", "tmpfs", 0, NULL));
	if (!strcmp(what, "remount-usr"))
		return result(mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL));
	if (!strcmp(what, "euid"))
		return printf("euid=%d\n", (int)geteuid()), 0;
	if (!strcmp(what, "connect") && argc > 2)
		return connect_port(argv[2]);
	if ((!strcmp(what, "socket") || !strcmp(what, "socketpair") || !strcmp(what, "socket32") ||
	     !strcmp(what, "socketpair32") || !strcmp(what, "socketcall32")) &&
	    argc > 2)
		return open_socket(what, argv[2]);
	fprintf(stderr,
		"usage: probe tiocsti|keyctl|keyctl32|bpf|perf|userfaultfd|io_uring|unshare-user|ptrace PID|trace-newcomers SECONDS|ptrace-child|mount|remount-usr|euid|connect PORT|socket FAMILY|socketpair FAMILY|socket32 FAMILY|socketpair32 FAMILY|socketcall32 FAMILY\n");
	return 2;
}

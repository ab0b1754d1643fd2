/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/nsfs.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "join.h"
#include "macro.h"

/* The most a seccomp program may be (the kernel's BPF_MAXINSNS). */
#define SECCOMP_MAX_INSNS 4096

pid_t cell_join_pidfd_pid(int pidfd)
{
	char path[64], line[128];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %ld", &pid) == 1)
			break;
	fclose(f);
	/* -1: the process has ended (and been reaped); 0: it is in no pid namespace of ours */
	if (pid <= 0)
		return -ESRCH;
	return (pid_t)pid;
}

static int same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return -errno;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * Of the user namespaces from target up to ours, the one whose parent is ours (in *ret_fd), or
 * -1 when target is ours. -EPERM when ours is not among its ancestors.
 */
static int outermost_userns(int target, int *ret_fd)
{
	_cleanup_close_ int self = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int cur = -1;
	int r;

	if (self < 0)
		return -errno;
	r = same_file(target, self);
	if (r != 0) {
		*ret_fd = -1;
		return r < 0 ? r : 0;
	}
	cur = fcntl(target, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	/* (a user namespace is at most 32 deep) */
	for (int depth = 0; depth < 33; depth++) {
		_cleanup_close_ int parent = ioctl(cur, NS_GET_PARENT);

		if (parent < 0)
			return errno == EPERM ? -EPERM : -errno;
		r = same_file(parent, self);
		if (r < 0)
			return r;
		if (r) {
			*ret_fd = TAKE_FD(cur);
			return 0;
		}
		closep(&cur);
		cur = TAKE_FD(parent);
	}
	return -ELOOP;
}

int cell_join_namespaces(int pidfd)
{
	static const struct {
		const char *name;
		int flag;
	} ns[] = {
		{"mnt", CLONE_NEWNS},	 {"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},
		{"uts", CLONE_NEWUTS},	 {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP},
		{"user", CLONE_NEWUSER},
	};
	_cleanup_close_ int user = -1, outer = -1;
	pid_t pid = cell_join_pidfd_pid(pidfd);
	char path[64];
	int flags = 0, r;

	if (pid < 0)
		return pid;
	for (size_t i = 0; i < ELEMENTSOF(ns); i++) {
		_cleanup_close_ int theirs = -1, ours = -1;

		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns[i].name);
		theirs = open(path, O_RDONLY | O_CLOEXEC);
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i].name);
		ours = open(path, O_RDONLY | O_CLOEXEC);
		if (theirs < 0 || ours < 0)
			return -errno;
		r = same_file(theirs, ours);
		if (r < 0)
			return r;
		/* (setns to a namespace of one's own needs privilege over it: only the others) */
		if (!r)
			flags |= ns[i].flag;
		if (ns[i].flag == CLONE_NEWUSER)
			user = TAKE_FD(theirs);
	}
	/* the pid we read is the pidfd's still: it named the same process all along */
	if (cell_join_pidfd_pid(pidfd) != pid)
		return -ESRCH;
	if (flags & CLONE_NEWUSER) {
		r = outermost_userns(user, &outer);
		if (r < 0)
			return r;
		if (outer >= 0 && same_file(outer, user) == 0 && setns(outer, CLONE_NEWUSER) < 0)
			return -errno;
	}
	if (flags && setns(pidfd, flags) < 0)
		return -errno;
	return 0;
}

int cell_join_seccomp(int fd)
{
	struct sock_filter insns[SECCOMP_MAX_INSNS + 1];
	size_t len = 0;
	struct sock_fprog prog;

	/* (pread: a session's members share the descriptor, and its offset) */
	for (;;) {
		ssize_t n = pread(fd, (char *)insns + len, sizeof(insns) - len, (off_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(insns))
			return -E2BIG;
	}
	if (len == 0 || len % sizeof(insns[0]) != 0)
		return -EINVAL;
	prog = (struct sock_fprog){.len = (unsigned short)(len / sizeof(insns[0])),
				   .filter = insns};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

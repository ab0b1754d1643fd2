/* SPDX-License-Identifier: MIT */
/* The session protocol's member side against a keeper played by the test (a socket pair). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "join.h"
#include "keeper.h"
#include "macro.h"

/* A member's end and the keeper's. */
static void pair(int fds[2])
{
	cr_assert(eq(int, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0));
}

/* The keeper answers text, with n descriptors of /dev/null. */
static void answer(int fd, const char *text, size_t n)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} control;
	int fds[2] = {open("/dev/null", O_RDONLY), open("/dev/null", O_RDONLY)};
	struct iovec iov = {(void *)text, strlen(text)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	if (n > 0) {
		memset(&control, 0, sizeof(control));
		m.msg_control = control.buf;
		m.msg_controllen = CMSG_SPACE(n * sizeof(int));
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), fds, n * sizeof(int));
	}
	cr_assert(ge(long, (long)sendmsg(fd, &m, 0), 0L));
	close(fds[0]);
	close(fds[1]);
}

static int join_with(const char *reply, size_t n_fds, struct cell_keeper_grant *g, char *other)
{
	int fds[2], r;
	char asked[256] = "";

	pair(fds);
	answer(fds[1], reply, n_fds);
	r = cell_keeper_join(fds[0], "abc", "pts/1", "my shell", g, other);
	/* the question, as the keeper reads it: a word each, spaces made safe */
	cr_assert(gt(long, (long)recv(fds[1], asked, sizeof(asked) - 1, 0), 0L));
	cr_assert(eq(str, asked, "join abc pts/1 my_shell"));
	close(fds[0]);
	close(fds[1]);
	return r;
}

Test(keeper, a_grant_gives_the_cell_and_its_descriptors)
{
	struct cell_keeper_grant g;
	char other[CELL_SHA256_HEX_LEN + 1];

	cr_assert(eq(int, join_with("ok proj-1234abcd none 0 - -", 2, &g, other), 0));
	cr_assert(eq(str, g.id, "proj-1234abcd"));
	cr_assert(eq(int, g.mode, CELL_NET_NONE));
	cr_assert(ge(int, g.init_pidfd, 0));
	cr_assert(ge(int, g.seccomp_fd, 0));
	cr_assert(eq(int, fcntl(g.init_pidfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC));
	close(g.init_pidfd);
	close(g.seccomp_fd);
	cr_assert(eq(int, join_with("ok proj-1 proxy 41234 netns -", 2, &g, other), 0));
	cr_assert(eq(int, g.mode, CELL_NET_PROXY));
	cr_assert(eq(int, g.isolation, CELL_ISOLATION_NETNS));
	cr_assert(eq(int, g.proxy_port, 41234));
	cr_assert(not(g.held));
	close(g.init_pidfd);
	close(g.seccomp_fd);
	/* (a member of a cell that cell-session opened joins it by cell-session, into its cgroup:
	 * a BPF cell's, a netns cell's held to its limits) */
	cr_assert(eq(int, join_with("ok proj-1 proxy 41234 bpf held", 2, &g, other), 0));
	cr_assert(eq(int, g.isolation, CELL_ISOLATION_BPF));
	cr_assert(g.held);
	close(g.init_pidfd);
	close(g.seccomp_fd);
	cr_assert(eq(int, join_with("ok proj-1 proxy 41234 netns held", 2, &g, other), 0));
	cr_assert(eq(int, g.isolation, CELL_ISOLATION_NETNS));
	cr_assert(g.held);
	close(g.init_pidfd);
	close(g.seccomp_fd);
}

Test(keeper, other_answers_are_said_apart)
{
	struct cell_keeper_grant g;
	char other[CELL_SHA256_HEX_LEN + 1];

	cr_assert(eq(int, join_with("config 0123456789abcdef", 0, &g, other), -EXDEV));
	cr_assert(eq(str, other, "0123456789abcdef"));
	cr_assert(eq(int, join_with("closing", 0, &g, other), -ESTALE));
	/* a grant without its descriptors, an id that is not one, a port past 65535: refused */
	cr_assert(eq(int, join_with("ok proj-1 none 0 - -", 1, &g, other), -EPROTO));
	cr_assert(eq(int, join_with("ok ../x none 0 - -", 2, &g, other), -EPROTO));
	cr_assert(eq(int, join_with("ok proj-1 none 70000 - -", 2, &g, other), -EPROTO));
	/* a proxy cell's grant that says no isolation, or one not known: a member would not know
	 * whether to join the cell's cgroup (and went outside it): refused, never guessed */
	cr_assert(eq(int, join_with("ok proj-1 proxy 1234 auto -", 2, &g, other), -EPROTO));
	cr_assert(eq(int, join_with("ok proj-1 proxy 1234 - -", 2, &g, other), -EPROTO));
	cr_assert(eq(int, join_with("ok proj-1 proxy 1234 cgroup -", 2, &g, other), -EPROTO));
	/* (a keeper of an older build: its grant says nothing of the isolation, or of whether
	 * cell-session holds the cell) */
	cr_assert(eq(int, join_with("ok proj-1 proxy 41234", 2, &g, other), -EPROTO));
	cr_assert(eq(int, join_with("ok proj-1 proxy 41234 bpf", 2, &g, other), -EPROTO));
	/* held is a word of two, and only a proxy cell's; a BPF cell is always held */
	cr_assert(eq(int, join_with("ok proj-1 proxy 41234 bpf -", 2, &g, other), -EPROTO));
	cr_assert(eq(int, join_with("ok proj-1 proxy 41234 netns yes", 2, &g, other), -EPROTO));
	cr_assert(eq(int, join_with("ok proj-1 none 0 - held", 2, &g, other), -EPROTO));
	cr_assert(eq(int, join_with("nonsense", 0, &g, other), -EPROTO));
}

Test(keeper, a_keeper_gone_before_it_answers_is_a_closing_session)
{
	struct cell_keeper_grant g;
	char other[CELL_SHA256_HEX_LEN + 1];
	int fds[2];

	pair(fds);
	close(fds[1]);
	cr_assert(eq(int, cell_keeper_join(fds[0], "abc", "-", "true", &g, other), -ESTALE));
	close(fds[0]);
	pair(fds);
	cr_assert(eq(int, shutdown(fds[1], SHUT_RDWR), 0));
	cr_assert(eq(int, cell_keeper_join(fds[0], "abc", "-", "true", &g, other), -ESTALE));
	close(fds[0]);
	close(fds[1]);
}

Test(keeper, the_sessions_directory_is_the_users_alone)
{
	char *state = th_mkdtemp(), *dir = th_join(state, "sessions");
	int fd = -1;

	cr_assert(eq(int, cell_keeper_dir(state, &fd), 0));
	close(fd);
	cr_assert(eq(int, chmod(dir, 0755), 0));
	cr_assert(eq(int, cell_keeper_dir(state, &fd), -EPERM));
	/* no session: nothing to connect to */
	cr_assert(eq(int, chmod(dir, 0700), 0));
	cr_assert(eq(int, cell_keeper_dir(state, &fd), 0));
	cr_assert(eq(int, cell_keeper_connect(fd, "proj-1", &(int){-1}), -ENOENT));
	close(fd);
	th_rm_rf(state);
	free(state);
	free(dir);
}

Test(keeper, a_pidfds_pid_is_read_and_an_ended_one_is_said)
{
	pid_t child = fork();
	int pidfd;

	cr_assert(ge(int, child, 0));
	if (child == 0) {
		pause();
		_exit(0);
	}
	pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	cr_assert(ge(int, pidfd, 0));
	cr_assert(eq(int, cell_join_pidfd_pid(pidfd), child));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	cr_assert(eq(int, cell_join_pidfd_pid(pidfd), -ESRCH));
	close(pidfd);
}

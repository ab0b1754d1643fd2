/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "sockowner.h"

/* An address and port as /proc/net/tcp{,6} prints them ("0100007F:1F90"). */
static void proc_form(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		snprintf(buf, size, "%08X:%04X", (unsigned)a->sin_addr.s_addr,
			 (unsigned)ntohs(a->sin_port));
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uint32_t w[4];

		memcpy(w, &a->sin6_addr, sizeof(w));
		snprintf(buf, size, "%08X%08X%08X%08X:%04X", (unsigned)w[0], (unsigned)w[1],
			 (unsigned)w[2], (unsigned)w[3], (unsigned)ntohs(a->sin6_port));
	}
}

/* The inode of the socket at local, connected to remote, in pid's network namespace; 0 if
 * none. */
static unsigned long find_inode(const char *pid, bool v6, const char *local, const char *remote)
{
	_cleanup_free_ char *text = NULL;
	char path[300];
	unsigned long inode = 0;

	snprintf(path, sizeof(path), "/proc/%s/net/%s", pid, v6 ? "tcp6" : "tcp");
	if (cell_read_file(path, 0, 64 * 1024 * 1024, &text, NULL) < 0)
		return 0;
	for (char *line = strtok(text, "\n"); line && !inode; line = strtok(NULL, "\n")) {
		char l[64], r[64];
		unsigned long ino;

		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %*u %*u %lu", l, r, &ino) == 3 &&
		    streq(l, local) && streq(r, remote))
			inode = ino;
	}
	return inode;
}

static bool ours(const char *pid)
{
	char path[300];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%s", pid);
	return stat(path, &st) == 0 && st.st_uid == getuid();
}

/* Whether pid holds the socket whose fd links read "socket:[inode]". */
static bool holds(const char *pid, const char *link)
{
	char dir[300];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	d = opendir(dir);
	while (d && !found && (e = readdir(d))) {
		char path[600], target[64];
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			found = streq(target, link);
		}
	}
	if (d)
		closedir(d);
	return found;
}

int cell_sock_owner(int fd, char *comm, size_t comm_size, char *exe, size_t exe_size)
{
	struct sockaddr_storage me, peer;
	socklen_t len = sizeof(me), plen = sizeof(peer);
	char local[64], remote[64], link[64], seen[32][64];
	unsigned long inode = 0;
	size_t n_seen = 0;
	struct dirent *e;
	DIR *d;

	if (getsockname(fd, (struct sockaddr *)&me, &len) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		return negative_errno();
	if (me.ss_family != AF_INET && me.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	/* the other end's socket is at our peer's address, connected to ours */
	proc_form(&peer, local, sizeof(local));
	proc_form(&me, remote, sizeof(remote));
	d = opendir("/proc");
	if (!d)
		return negative_errno();
	while (!inode && (e = readdir(d))) {
		char ns_path[300], ns[64];
		ssize_t n;
		bool known = false;

		if (e->d_name[0] < '1' || e->d_name[0] > '9' || !ours(e->d_name))
			continue;
		snprintf(ns_path, sizeof(ns_path), "/proc/%s/ns/net", e->d_name);
		n = readlink(ns_path, ns, sizeof(ns) - 1);
		if (n <= 0)
			continue;
		ns[n] = '\0';
		for (size_t i = 0; i < n_seen && !known; i++)
			known = streq(seen[i], ns);
		if (known)
			continue;
		if (n_seen < ELEMENTSOF(seen))
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s", ns);
		inode = find_inode(e->d_name, me.ss_family == AF_INET6, local, remote);
	}
	if (!inode) {
		closedir(d);
		return -ENOENT;
	}
	snprintf(link, sizeof(link), "socket:[%lu]", inode);
	rewinddir(d);
	while ((e = readdir(d))) {
		char path[300];
		ssize_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9' || !ours(e->d_name) ||
		    !holds(e->d_name, link))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		{
			_cleanup_close_ int cfd = open(path, O_RDONLY | O_CLOEXEC);

			n = cfd >= 0 ? read(cfd, comm, comm_size - 1) : -1;
		}
		comm[n > 0 ? (size_t)n : 0] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(path, sizeof(path), "/proc/%s/exe", e->d_name);
		n = readlink(path, exe, exe_size - 1);
		exe[n > 0 ? (size_t)n : 0] = '\0';
		closedir(d);
		return 0;
	}
	closedir(d);
	return -ENOENT;
}

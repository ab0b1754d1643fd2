/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "path.h"
#include "macro.h"

int cell_read_full_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, size = 0;

	for (;;) {
		ssize_t n;

		if (len + 1 >= size) {
			size_t nsize = size ? size * 2 : 4096;
			char *nbuf;

			if (nsize > max + 1)
				nsize = max + 2;
			if (nsize <= len + 1)
				return -EFBIG;
			nbuf = realloc(buf, nsize);
			if (!nbuf)
				return -ENOMEM;
			buf = nbuf;
			size = nsize;
		}
		n = read(fd, buf + len, size - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return -EFBIG;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int cell_read_file(const char *path, int flags, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | flags);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return cell_read_full_fd(fd, max, ret, ret_len);
}

int cell_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cell_write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode, bool durable)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	/* a new file of a name no one could guess: nothing planted there (a FIFO, a hard link to
	 * another file) is opened, let alone truncated */
	for (int attempt = 0; fd < 0 && attempt < 16; attempt++) {
		uint64_t id = 0;

		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint64_t)getpid() << 16 ^ (uint64_t)attempt;
		free(tmp);
		if (asprintf(&tmp, "%s.tmp.%016llx", path, (unsigned long long)id) < 0) {
			tmp = NULL;
			return -ENOMEM;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd < 0 && errno != EEXIST)
			return negative_errno();
	}
	if (fd < 0)
		return -EEXIST;
	r = cell_write_all(fd, buf, len);
	if (r >= 0 && durable && fsync(fd) < 0)
		r = negative_errno();
	if (r >= 0 && rename(tmp, path) < 0)
		r = negative_errno();
	if (r < 0)
		unlink(tmp);
	return r;
}

int cell_write_file_new(const char *path, const void *buf, size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return negative_errno();
	r = cell_write_all(fd, buf, len);
	if (r >= 0 && fsync(fd) < 0)
		r = negative_errno();
	/* link(2), unlike rename(2), fails rather than replace what is there */
	if (r >= 0 && link(tmp, path) < 0)
		r = negative_errno();
	unlink(tmp);
	return r;
}

int cell_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = NULL;

	if (path[strspn(path, "/")] == '\0')
		return 0;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return negative_errno();
		*s = c;
		if (c == '\0')
			break;
	}
	return 0;
}

int cell_mkdir_parent(const char *path, mode_t mode)
{
	_cleanup_free_ char *dir = strdup(path);

	if (!dir)
		return -ENOMEM;
	cell_path_dirname(dir);
	return cell_mkdir_p(dir, mode);
}

/*
 * (see fileio.h)
 */
bool cell_root_owned_dirs(const char *dir, char *bad, size_t size)
{
	char path[PATH_MAX];
	struct stat st;

	if (!realpath(dir, path)) {
		snprintf(bad, size, "%s", dir);
		return false;
	}
	for (;;) {
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
			snprintf(bad, size, "%s", path);
			return false;
		}
		if (streq(path, "/"))
			return true;
		cell_path_dirname(path);
	}
}

static int remove_tree_depth(int at, const char *name, unsigned depth)
{
	_cleanup_close_ int fd = -1;
	DIR *d;
	int r = 0;

	if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return negative_errno();
	if (depth > 64)
		return -ELOOP;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	d = fdopendir(fd);
	if (!d)
		return negative_errno();
	fd = -1; /* the stream's now */
	for (struct dirent *e; (e = readdir(d));) {
		int q;

		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		q = remove_tree_depth(dirfd(d), e->d_name, depth + 1);
		if (q < 0 && r == 0)
			r = q;
	}
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = negative_errno();
	return r;
}

int cell_remove_tree_at(int dirfd, const char *name)
{
	return remove_tree_depth(dirfd, name, 0);
}

int cell_memfd_new(const char *name, const void *content, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC), r;

	if (fd < 0)
		return negative_errno();
	r = cell_write_all(fd, content, len);
	if (r >= 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = negative_errno();
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "ledger.h"
#include "macro.h"
#include "xdg.h"

#define LEDGER_MAX (64 * 1024 * 1024)

int cell_ledger_path(const char *project_id, char **ret)
{
	return cell_project_state_file(project_id, "ledger.jsonl", ret);
}

static int lock(int fd, int op)
{
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return negative_errno();
	return 0;
}

int cell_ledger_append(const char *path, const char *line)
{
	_cleanup_free_ char *dir = NULL, *rec = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len;
	int r;

	if (strchr(line, '\n'))
		return -EINVAL;
	r = cell_mkdir_parent(path, 0700);
	if (r < 0)
		return r;
	/* read-write: the last byte is read to find a torn line */
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	r = lock(fd, LOCK_EX);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	len = strlen(line);
	rec = malloc(len + 2);
	if (!rec)
		return -ENOMEM;
	len = 0;
	if (st.st_size > 0) {
		char last = '\n';

		/* a writer that died mid-line left it open: close it so our record stands alone */
		if (pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
			rec[len++] = '\n';
	}
	strcpy(rec + len, line);
	len += strlen(line);
	rec[len++] = '\n';
	r = cell_write_all(fd, rec, len);
	if (r >= 0 && fdatasync(fd) < 0)
		r = negative_errno();
	/* closing the fd releases the lock */
	return r;
}

int cell_ledger_read(const char *path, int (*fn)(const char *line, size_t len, void *data),
		     void *data)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	r = lock(fd, LOCK_SH);
	if (r < 0)
		return r;
	r = cell_read_full_fd(fd, LEDGER_MAX, &text, &len);
	if (r < 0)
		return r;
	for (char *p = text, *nl; (nl = memchr(p, '\n', len - (size_t)(p - text))); p = nl + 1) {
		if (nl == p)
			continue;
		r = fn(p, (size_t)(nl - p), data);
		if (r != 0)
			return r;
	}
	return 0;
}

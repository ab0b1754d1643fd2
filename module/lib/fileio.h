/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Largest config or record file cell reads. */
#define CELL_FILE_MAX (1024 * 1024)

/* Reads all of fd into a NUL-terminated buffer; -EFBIG past max bytes. */
int cell_read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
/* Opens path with O_RDONLY | flags (O_NOFOLLOW, say) and reads it; it must be a regular file. */
int cell_read_file(const char *path, int flags, size_t max, char **ret, size_t *ret_len);
/* write(2) until done, retrying on EINTR and short writes. */
int cell_write_all(int fd, const void *buf, size_t len);
/*
 * Writes a new file next to path and renames it into place; durable: synced to disk first, so
 * that a crash leaves the old file or the new one, never an empty one.
 */
int cell_write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode,
			   bool durable);
/* As cell_write_file_atomic (durable), but never replaces a file: -EEXIST if path exists. */
int cell_write_file_new(const char *path, const void *buf, size_t len, mode_t mode);
/* mkdir -p; existing directories are fine. */
int cell_mkdir_p(const char *path, mode_t mode);
/* mkdir -p of the directory path is in. */
int cell_mkdir_parent(const char *path, mode_t mode);

/*
 * Whether dir and each directory above it (links resolved) is root's and writable by no one
 * else (or sticky, as /tmp: others cannot rename root's entries there): else someone else
 * could put another file in place of one root trusts there. The first that is not, in bad.
 */
bool cell_root_owned_dirs(const char *dir, char *bad, size_t size);
/*
 * rm -r of name in dirfd, following no link (a directory a cell could write holds what the cell
 * put there: links are removed, never followed). Missing is fine.
 */
int cell_remove_tree_at(int dirfd, const char *name);
/* A new memfd (close-on-exec) holding content, at offset 0; a negative errno. */
int cell_memfd_new(const char *name, const void *content, size_t len);

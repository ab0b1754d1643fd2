/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "path.h"
#include "provider.h"
#include "trust.h"
#include "xdg.h"

int cell_trust_dir(char **ret)
{
	_cleanup_free_ char *data = NULL;
	int r = cell_xdg_dir(CELL_XDG_DATA, &data);

	if (r < 0)
		return r;
	*ret = cell_path_join(data, "allow");
	return *ret ? 0 : -ENOMEM;
}

/* The most of a provider's input file that is hashed whole; past it the hash fails. */
#define INPUT_MAX (16 * 1024 * 1024)

int cell_trust_hash(const struct cell_project *p, char ret[CELL_SHA256_HEX_LEN + 1])
{
	/* NUL can be in neither a path nor a config, so the split is unambiguous */
	struct cell_hash_piece pieces[3 + 3 * CELL_PROVIDER_INPUTS_MAX] = {
		{p->config_path, strlen(p->config_path)},
		{"", 1},
		{p->text, p->len},
	};
	char *texts[CELL_PROVIDER_INPUTS_MAX] = {0};
	size_t n = 3, t = 0;
	int r = 0;

	/*
	 * What a provider evaluates outside the cell (provider.h) is trusted with the config: an
	 * edited flake.lock or .envrc, or one that appears, needs cell allow again. (Not there:
	 * nothing added, so a project without them keeps the hash it had.)
	 */
	for (size_t i = 0; r >= 0 && cell_provider_input(i); i++) {
		const char *name = cell_provider_input(i);
		_cleanup_free_ char *path = cell_path_join(p->root, name);
		size_t len = 0;

		r = path ? cell_read_file(path, O_NOFOLLOW | O_NONBLOCK, INPUT_MAX, &texts[t], &len)
			 : -ENOMEM;
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		/* (a link or something other than a file is trusted by what it is: its name) */
		if (r == -ELOOP || r == -EINVAL || r == -EISDIR) {
			pieces[n++] = (struct cell_hash_piece){"\1", 2};
			pieces[n++] = (struct cell_hash_piece){name, strlen(name) + 1};
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		pieces[n++] = (struct cell_hash_piece){"\2", 2};
		pieces[n++] = (struct cell_hash_piece){name, strlen(name) + 1};
		pieces[n++] = (struct cell_hash_piece){texts[t++], len};
	}
	if (r >= 0)
		r = cell_sha256_hex(pieces, n, ret);
	for (size_t i = 0; i < t; i++)
		free(texts[i]);
	return r;
}

int cell_trust_check(const char *allow_dir, const struct cell_project *p, bool *ret_trusted)
{
	char hex[CELL_SHA256_HEX_LEN + 1];
	_cleanup_free_ char *record = NULL;
	struct stat st;
	int r;

	r = cell_trust_hash(p, hex);
	if (r < 0)
		return r;
	record = cell_path_join(allow_dir, hex);
	if (!record)
		return -ENOMEM;
	if (lstat(record, &st) < 0) {
		if (errno != ENOENT)
			return negative_errno();
		*ret_trusted = false;
		return 0;
	}
	*ret_trusted = S_ISREG(st.st_mode);
	return 0;
}

static bool is_record_name(const char *name)
{
	if (strlen(name) != CELL_SHA256_HEX_LEN)
		return false;
	return strspn(name, "0123456789abcdef") == CELL_SHA256_HEX_LEN;
}

int cell_trust_deny(const char *allow_dir, const char *config_path, unsigned *ret_removed)
{
	_cleanup_free_ char *want = NULL;
	unsigned removed = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (asprintf(&want, "%s\n", config_path) < 0)
		return -ENOMEM;
	d = opendir(allow_dir);
	if (!d) {
		if (errno != ENOENT)
			return negative_errno();
		if (ret_removed)
			*ret_removed = 0;
		return 0;
	}
	while ((errno = 0, de = readdir(d))) {
		_cleanup_free_ char *text = NULL;
		_cleanup_close_ int fd = -1;

		if (!is_record_name(de->d_name))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || cell_read_full_fd(fd, 8192, &text, NULL) < 0)
			continue;
		if (!streq(text, want))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			r = negative_errno();
			break;
		}
		removed++;
	}
	if (r == 0 && errno != 0)
		r = negative_errno();
	closedir(d);
	if (r < 0)
		return r;
	if (ret_removed)
		*ret_removed = removed;
	return 0;
}

int cell_trust_allow(const char *allow_dir, const struct cell_project *p)
{
	char hex[CELL_SHA256_HEX_LEN + 1];
	_cleanup_free_ char *record = NULL, *content = NULL;
	int r;

	r = cell_trust_hash(p, hex);
	if (r < 0)
		return r;
	r = cell_mkdir_p(allow_dir, 0700);
	if (r < 0)
		return r;
	r = cell_trust_deny(allow_dir, p->config_path, NULL);
	if (r < 0)
		return r;
	record = cell_path_join(allow_dir, hex);
	if (!record || asprintf(&content, "%s\n", p->config_path) < 0)
		return -ENOMEM;
	return cell_write_file_atomic(record, content, strlen(content), 0600, true);
}

/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "project.h"
#include "xdg.h"

void cell_project_free(struct cell_project *p)
{
	if (!p)
		return;
	free(p->root);
	free(p->config_path);
	free(p->id);
	free(p->text);
	free(p);
}

static char *project_id(const char *root)
{
	struct cell_hash_piece piece = {root, strlen(root)};
	char hex[CELL_SHA256_HEX_LEN + 1], *id;
	const char *base = cell_path_basename(root);
	char name[33];
	size_t n = 0;

	if (cell_sha256_hex(&piece, 1, hex) < 0)
		return NULL;
	for (const char *s = base; *s && n < sizeof(name) - 1; s++)
		name[n++] = isalnum((unsigned char)*s) || *s == '.' || *s == '_' || *s == '-' ? *s
											      : '_';
	name[n] = '\0';
	if (n == 0 || streq(base, "/"))
		strcpy(name, "root");
	if (asprintf(&id, "%s-%.12s", name, hex) < 0)
		return NULL;
	return id;
}

/* Reads dir/.cell.json into p; -ENOENT when there is none in that directory. */
static int try_dir(const char *dir, struct cell_project *p, struct cell_diag *diag)
{
	_cleanup_free_ char *path = cell_path_join(dir, CELL_CONFIG_FILE);
	int r;

	if (!path)
		return -ENOMEM;
	r = cell_read_file(path, O_NOFOLLOW, CELL_FILE_MAX, &p->text, &p->len);
	if (r == -ENOENT || r == -ENOTDIR)
		return -ENOENT;
	if (r == -ELOOP)
		return cell_diag_set(diag, r, path, NULL,
				     "is a symbolic link; cell reads only a regular file here");
	if (r == -EFBIG)
		return cell_diag_set(diag, r, path, NULL, "is larger than 1 MiB");
	if (r == -EISDIR || r == -EINVAL)
		return cell_diag_set(diag, r, path, NULL, "is not a regular file");
	if (r < 0)
		return cell_diag_set(diag, r, path, NULL, "cannot be read: %s", strerror(-r));
	p->config_path = TAKE_PTR(path);
	return 0;
}

int cell_project_find(const char *dir, struct cell_project **ret, struct cell_diag *diag)
{
	struct cell_project *p;
	char *cur;
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	cur = realpath(dir, NULL);
	if (!cur) {
		r = negative_errno();
		cell_project_free(p);
		return cell_diag_set(diag, r, dir, NULL, "cannot resolve the directory: %s",
				     strerror(-r));
	}
	for (;;) {
		r = try_dir(cur, p, diag);
		if (r != -ENOENT || streq(cur, "/"))
			break;
		cell_path_dirname(cur);
	}
	if (r < 0) {
		free(cur);
		cell_project_free(p);
		return r;
	}
	p->root = cur;
	p->id = project_id(cur);
	if (!p->id) {
		cell_project_free(p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

/* cell_project_open_system's work, into p (which the caller frees). */
static int open_system(struct cell_project *p, const char *root, const char *config,
		       struct cell_diag *diag)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	p->root = realpath(root, NULL);
	r = !p->root || stat(p->root, &st) < 0 ? negative_errno()
	    : S_ISDIR(st.st_mode)	       ? 0
					       : -ENOTDIR;
	if (r < 0)
		return cell_diag_set(diag, r, root, NULL, "is not a directory that can be used: %s",
				     strerror(-r));
	p->config_path = config ? strdup(config) : cell_path_join(p->root, CELL_CONFIG_FILE);
	p->id = project_id(p->root);
	if (!p->config_path || !p->id)
		return -ENOMEM;
	fd = open(p->config_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = negative_errno();
		return cell_diag_set(diag, r, p->config_path, NULL, "cannot be read: %s",
				     strerror(-r));
	}
	{
		_cleanup_free_ char *dir = strdup(p->config_path);
		char bad[PATH_MAX];

		if (!dir)
			return -ENOMEM;
		cell_path_dirname(dir);
		if (!cell_root_owned_dirs(dir, bad, sizeof(bad)))
			return cell_diag_set(
				diag, -EPERM, p->config_path, NULL,
				"'%s' above it is not root's alone: someone else could "
				"put another file in its place (a project the account "
				"may write wants its config elsewhere: config=/etc/cell/"
				"NAME.json)",
				bad);
	}
	/* root reads it and a whole login obeys it: only root may have written it */
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return cell_diag_set(diag, -EPERM, p->config_path, NULL,
				     "must be a regular file owned by root and writable by no one "
				     "else (it is %s, owner %u, mode %04o)",
				     S_ISREG(st.st_mode) ? "a file" : "not a regular file",
				     (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	r = cell_read_full_fd(fd, CELL_FILE_MAX, &p->text, &p->len);
	if (r == -EFBIG)
		return cell_diag_set(diag, r, p->config_path, NULL, "is larger than 1 MiB");
	if (r < 0)
		return cell_diag_set(diag, r, p->config_path, NULL, "cannot be read: %s",
				     strerror(-r));
	return 0;
}

int cell_project_open_system(const char *root, const char *config, struct cell_project **ret,
			     struct cell_diag *diag)
{
	struct cell_project *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	r = open_system(p, root, config, diag);
	if (r < 0) {
		cell_project_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

struct cell_config_env cell_config_env_from_process(void)
{
	struct cell_config_env env = {
		.home = cell_home(),
		.user = getenv("USER"),
		.xdg_runtime_dir = getenv("XDG_RUNTIME_DIR"),
	};

	if (!env.user || !env.user[0]) {
		struct passwd *pw = getpwuid(getuid());

		env.user = pw ? pw->pw_name : NULL;
	}
	if (env.xdg_runtime_dir && env.xdg_runtime_dir[0] != '/')
		env.xdg_runtime_dir = NULL;
	return env;
}

int cell_project_load_config(const struct cell_project *p, const char *user_config,
			     const struct cell_config_env *env, struct cell_config **ret,
			     struct cell_diag *diag)
{
	_cleanup_config_ struct cell_config *c = NULL;
	int r;

	r = cell_config_new(&c);
	if (r < 0)
		return r;
	if (user_config) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;

		r = cell_read_file(user_config, 0, CELL_FILE_MAX, &text, &len);
		if (r < 0 && r != -ENOENT)
			return cell_diag_set(diag, r, user_config, NULL, "cannot be read: %s",
					     r == -EINVAL ? "not a regular file" : strerror(-r));
		if (r >= 0) {
			r = cell_config_apply_user(c, user_config, text, len, p->root, env, diag);
			if (r < 0)
				return r;
			/* (the user's own bwrap_args need no flag) */
			cell_diag_clear(&c->bwrap_args_objection);
		}
	}
	r = cell_config_apply(c, p->config_path, p->text, p->len, p->root, env, diag);
	if (r < 0)
		return r;
	if (c->bwrap_args_objection.message && !c->hardening.raw_bwrap_args) {
		if (diag) {
			cell_diag_clear(diag);
			*diag = c->bwrap_args_objection;
			c->bwrap_args_objection = (struct cell_diag){0};
		}
		return -EINVAL;
	}
	r = cell_config_finish(c, p->root, env, diag);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

int cell_project_root_check(const char *root, const char *home, struct cell_diag *diag)
{
	_cleanup_free_ char *real_home = home ? realpath(home, NULL) : NULL;

	if (streq(root, "/"))
		return cell_diag_set(
			diag, -EINVAL, NULL, NULL,
			"the project root cannot be '/': the cell would be the whole system");
	if ((home && cell_path_is_below(home, root)) ||
	    (real_home && cell_path_is_below(real_home, root)))
		return cell_diag_set(
			diag, -EINVAL, NULL, NULL,
			"the project '%s' holds your home directory '%s': a cell there "
			"would expose all of it (~/.ssh, your shell rc files, cell's own "
			"trust records); put .cell.json in a project directory",
			root, home);
	return 0;
}

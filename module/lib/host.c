/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bwrap.h"
#include "host.h"
#include "log.h"
#include "macro.h"
#include "path.h"
#include "xdg.h"

#ifndef CELL_LIBEXECDIR
#define CELL_LIBEXECDIR "/usr/local/libexec/cell"
#endif

static int helper_at(const char *dir, const char *rel, const char *name, char **ret)
{
	_cleanup_free_ char *d = rel ? cell_path_join(dir, rel) : strdup(dir), *path = NULL;
	struct stat st;

	if (!d || !(path = cell_path_join(d, name)))
		return -ENOMEM;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	/* "bin/../libexec" reads badly in ps and in the cell's mounts */
	*ret = realpath(path, NULL);
	return *ret ? 0 : negative_errno();
}

int cell_host_find_helper(const char *name, char **ret)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int r = -ENOENT;

	if (n > 0) {
		self[n] = '\0';
		cell_path_dirname(self);
		r = helper_at(self, NULL, name, ret);
		if (r == -ENOENT)
			r = helper_at(self, "../libexec/cell", name, ret);
	}
	if (r == -ENOENT)
		r = helper_at(CELL_LIBEXECDIR, NULL, name, ret);
	return r;
}

char *cell_host_helper(const char **why)
{
	_cleanup_free_ char *helper = NULL;
	struct statvfs vfs;
	struct stat st;

	if (cell_host_find_helper("cell-session", &helper) < 0) {
		*why = "cell-session is not installed";
		return NULL;
	}
	if (getuid() == 0 && geteuid() == 0)
		return TAKE_PTR(helper);
	if (stat(helper, &st) < 0 || st.st_uid != 0 || !(st.st_mode & S_ISUID)) {
		*why = "cell-session is not setuid root (make install SETUID=1), and cell is not "
		       "running as root";
		return NULL;
	}
	if (statvfs(helper, &vfs) == 0 && (vfs.f_flag & ST_NOSUID)) {
		*why = "cell-session is on a nosuid mount";
		return NULL;
	}
	return TAKE_PTR(helper);
}

/*
 * Whether the running kernel is 6.7 or later, which has the abstract-Unix hooks: its release,
 * not its BTF (a look at that takes some milliseconds, at every cell command). A kernel that
 * has them backported to an older number gets "netns" from "auto": the safe side.
 */
static bool kernel_has_unix_hooks(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 7);
}

int cell_host_probe(struct cell_host *ret, struct cell_diag *diag)
{
	struct cell_host h = {0};
	int r;

	r = cell_xdg_dir(CELL_XDG_STATE, &h.state_home);
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL, "cannot find your state directory: %s",
				     strerror(-r));
	if (cell_host_find_helper("cell-init", &h.init) < 0) {
		free(h.state_home);
		return cell_diag_set(diag, -ENOENT, NULL, NULL,
				     "cell-init is missing (looked beside cell and in libexec)");
	}
	if (cell_bwrap_find(&h.bwrap) < 0)
		h.bwrap = NULL;
	h.helper = cell_host_helper(&h.why);
	h.unix_hooks = h.helper && kernel_has_unix_hooks();
	if (cell_host_find_helper("libcellshim.so", &h.shim) < 0) {
		h.shim = NULL;
		cell_log(CELL_LOG_DEBUG, "no libcellshim.so: a cell runs without the shim");
	}
	if (cell_host_find_helper("cell-proxy", &h.proxy) < 0)
		h.proxy = NULL;
	h.self = realpath("/proc/self/exe", NULL);
	*ret = h;
	return 0;
}

void cell_host_done(struct cell_host *h)
{
	if (!h)
		return;
	free(h->init);
	free(h->bwrap);
	free(h->helper);
	free(h->shim);
	free(h->proxy);
	free(h->self);
	free(h->state_home);
	*h = (struct cell_host){0};
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "fileio.h"
#include "macro.h"

/* Decodes mountinfo's \ooo escapes (space, tab, newline, backslash) in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

static int rank(const char *fstype, const char *mnt)
{
	if (!streq(fstype, "cgroup2"))
		return 0;
	if (streq(mnt, "/sys/fs/cgroup"))
		return 0;
	if (streq(mnt, "/sys/fs/cgroup/unified"))
		return 1;
	return 2;
}

/* Whether list ("rw,memory,nsdelegate") has item as one of its comma-separated words. */
static bool has_word(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; p; p = strchr(p, ','), p += !!p)
		if (!strncmp(p, item, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* The best mount point of fstype (rank), with option among its super options if set. */
static int mountinfo_find(const char *mountinfo, const char *fstype, const char *option, char **ret)
{
	_cleanup_free_ char *text = NULL, *best = NULL;
	int best_rank = 100;
	char *line, *save = NULL;
	int r;

	r = cell_read_file(mountinfo, 0, 16 * 1024 * 1024, &text, NULL);
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *fields[5], *sep, *type, *tok, *lsave = NULL;
		size_t n = 0;

		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"
		 */
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		type = strtok_r(sep + 3, " ", &lsave);
		if (!type || !streq(type, fstype))
			continue;
		if (option) {
			const char *opts;

			(void)strtok_r(NULL, " ", &lsave); /* the source */
			opts = strtok_r(NULL, " ", &lsave);
			if (!opts || !has_word(opts, option))
				continue;
		}
		lsave = NULL;
		for (tok = strtok_r(line, " ", &lsave); tok && n < ELEMENTSOF(fields);
		     tok = strtok_r(NULL, " ", &lsave))
			fields[n++] = tok;
		if (n < 5)
			continue;
		/* a hierarchy mounted from below its root (a bind, a container's view): its
		 * mount point and a cgroup's path do not add up */
		if (option && !streq(fields[3], "/"))
			continue;
		unescape(fields[4]);
		if (rank(fstype, fields[4]) < best_rank) {
			free(best);
			best = strdup(fields[4]);
			if (!best)
				return -ENOMEM;
			best_rank = rank(fstype, fields[4]);
		}
	}
	if (!best)
		return -ENOENT;
	*ret = TAKE_PTR(best);
	return 0;
}

int cell_mountinfo_find(const char *mountinfo, const char *fstype, char **ret)
{
	return mountinfo_find(mountinfo, fstype, NULL, ret);
}

int cell_cgroup_v1_find(const char *mountinfo, const char *proc_cgroup, const char *controller,
			char **ret_mount, char **ret_path)
{
	_cleanup_free_ char *mnt = NULL;
	int r = mountinfo_find(mountinfo, "cgroup", controller, &mnt);

	if (r < 0)
		return r;
	/* "ID:CONTROLLERS:PATH" lines; the path may hold ':' */
	for (const char *line = proc_cgroup; line && *line;
	     line = strchr(line, '\n'), line += !!line) {
		size_t n = strcspn(line, "\n");
		const char *c1 = memchr(line, ':', n), *c2;
		_cleanup_free_ char *controllers = NULL;

		c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line)) : NULL;
		if (!c2)
			continue;
		controllers = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
		if (!controllers)
			return -ENOMEM;
		if (!has_word(controllers, controller))
			continue;
		if (c2[1] != '/')
			return -EINVAL;
		*ret_path = strndup(c2 + 1, n - (size_t)(c2 + 1 - line));
		if (!*ret_path)
			return -ENOMEM;
		*ret_mount = TAKE_PTR(mnt);
		return 0;
	}
	return -ENOENT;
}

int cell_cgroup_find(const char *mountinfo, char **ret_path, bool *ret_hybrid)
{
	_cleanup_free_ char *v1 = NULL;
	int r;

	r = cell_mountinfo_find(mountinfo, "cgroup2", ret_path);
	if (r < 0)
		return r;
	r = cell_mountinfo_find(mountinfo, "cgroup", &v1);
	if (r < 0 && r != -ENOENT) {
		free(*ret_path);
		*ret_path = NULL;
		return r;
	}
	*ret_hybrid = r >= 0;
	return 0;
}

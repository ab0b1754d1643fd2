/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "session.h"
#include "syscell.h"

int cell_syscell_args_parse(int argc, const char **argv, struct cell_syscell_args *ret,
			    struct cell_diag *diag)
{
	struct cell_syscell_args a = {.network = -1};

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (startswith(arg, "project=") && arg[8] == '/')
			a.project = arg + 8;
		else if (startswith(arg, "config=") && arg[7] == '/')
			a.config = arg + 7;
		else if (streq(arg, "network=proxy"))
			a.network = CELL_NET_PROXY;
		else if (streq(arg, "network=none"))
			a.network = CELL_NET_NONE;
		else if (streq(arg, "debug"))
			a.debug = true;
		else if (streq(arg, "require_login_shell"))
			a.require_login_shell = true;
		else
			return cell_diag_set(
				diag, -EINVAL, NULL, NULL,
				"unknown or bad argument '%s' (project=/DIR, "
				"config=/FILE, network=proxy|none, require_login_shell, "
				"debug)",
				arg);
	}
	if (!a.project)
		return cell_diag_set(diag, -EINVAL, NULL, NULL,
				     "project=/DIR is required (the directory the cell is for)");
	*ret = a;
	return 0;
}

bool cell_syscell_login_shell_ok(const char *shell)
{
	const char *base = shell ? strrchr(shell, '/') : NULL;
	struct stat st;

	return base && shell[0] == '/' && streq(base + 1, "cell-login-shell") &&
	       stat(shell, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

static char *state_path(const char *dir, const char *id)
{
	if (!cell_session_id_valid(id))
		return NULL;
	return cell_path_join(dir, id);
}

int cell_syscell_state_save(const char *dir, const struct cell_syscell_state *s)
{
	_cleanup_free_ char *path = state_path(dir, s->id);
	char text[2048];
	int n;

	if (!path)
		return -EINVAL;
	n = snprintf(text, sizeof(text),
		     "uid %u\nproxy %d %" PRIu64 "\nport %u\nstart %" PRId64
		     "\nproject %s\nname %s\ncgroup %s\nledger %s\n",
		     (unsigned)s->uid, (int)s->proxy, s->proxy_start, (unsigned)s->proxy_port,
		     s->start, s->project_id, s->name, s->cgroup, s->ledger);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -E2BIG;
	if (cell_mkdir_p(dir, 0700) < 0)
		return -errno;
	return cell_write_file_atomic(path, text, (size_t)n, 0600, false);
}

/* The rest of line after "key " into out (size), or -EBADMSG. */
static int field(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
		size_t n = strcspn(line, "\n");

		if (n > klen && !strncmp(line, key, klen) && line[klen] == ' ') {
			if (n - klen - 1 >= size)
				return -EBADMSG;
			memcpy(out, line + klen + 1, n - klen - 1);
			out[n - klen - 1] = '\0';
			return 0;
		}
	}
	return -EBADMSG;
}

int cell_syscell_state_load(const char *dir, const char *id, struct cell_syscell_state *ret)
{
	_cleanup_free_ char *path = state_path(dir, id), *text = NULL;
	struct cell_syscell_state s = {0};
	char num[64];
	unsigned uid, port;
	int proxy, r;

	if (!path)
		return -EINVAL;
	r = cell_read_file(path, O_NOFOLLOW, 4096, &text, NULL);
	if (r < 0)
		return r;
	snprintf(s.id, sizeof(s.id), "%s", id);
	if (field(text, "uid", num, sizeof(num)) < 0 || sscanf(num, "%u", &uid) != 1 ||
	    field(text, "proxy", num, sizeof(num)) < 0 ||
	    sscanf(num, "%d %" SCNu64, &proxy, &s.proxy_start) != 2 ||
	    field(text, "port", num, sizeof(num)) < 0 || sscanf(num, "%u", &port) != 1 ||
	    field(text, "start", num, sizeof(num)) < 0 || sscanf(num, "%" SCNd64, &s.start) != 1 ||
	    port > 65535 || field(text, "project", s.project_id, sizeof(s.project_id)) < 0 ||
	    field(text, "name", s.name, sizeof(s.name)) < 0 ||
	    field(text, "cgroup", s.cgroup, sizeof(s.cgroup)) < 0 ||
	    field(text, "ledger", s.ledger, sizeof(s.ledger)) < 0)
		return -EBADMSG;
	s.uid = (uid_t)uid;
	s.proxy = (pid_t)proxy;
	s.proxy_port = (uint16_t)port;
	*ret = s;
	return 0;
}

int cell_syscell_state_remove(const char *dir, const char *id)
{
	_cleanup_free_ char *path = state_path(dir, id);

	if (!path)
		return -EINVAL;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int cell_syscell_hierarchy(char **ret_slice, char *root, size_t size)
{
	_cleanup_free_ char *slice = NULL;
	int r = cell_session_slice("/proc/self/mountinfo", &slice);
	const char *end = r >= 0 ? strrchr(slice, '/') : NULL;

	if (r < 0)
		return r;
	if (!end || (size_t)(end - slice) >= size)
		return -EINVAL;
	memcpy(root, slice, (size_t)(end - slice));
	root[end - slice] = '\0';
	*ret_slice = TAKE_PTR(slice);
	return 0;
}

/* The slice's path in the cgroup2 hierarchy ("/cell.slice"), as /proc/PID/cgroup names it. */
static int slice_in_hierarchy(char *out, size_t size)
{
	_cleanup_free_ char *slice = NULL;
	char root[512];
	int r = cell_syscell_hierarchy(&slice, root, sizeof(root));

	if (r < 0)
		return r;
	return snprintf(out, size, "%s", slice + strlen(root)) < (int)size ? 0 : -ENAMETOOLONG;
}

int cell_syscell_find(uid_t uid, char *id, size_t size)
{
	char path[512], slice[256];
	int r = cell_session_self_cgroup(path, sizeof(path));

	if (r >= 0)
		r = slice_in_hierarchy(slice, sizeof(slice));
	return r < 0 ? r : cell_session_cell_of(path, slice, uid, id, size);
}

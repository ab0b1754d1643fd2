/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "fileio.h"
#include "limit.h"
#include "log.h"
#include "macro.h"
#include "path.h"
#include "strv.h"

/* cpu.max's and cpu.cfs_period_us's period, in microseconds (the kernel's default) */
#define CPU_PERIOD_US 100000
/* How long the removal of a v1 directory waits for the kernel to let its dead processes go. */
#define REMOVE_WAIT_MS 1000

/* Whether word is one of the blank-separated words of list ("cpu memory pids\n"). */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; *p; p += strcspn(p, " \n"), p += strspn(p, " \n"))
		if (!strncmp(p, word, n) && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* Writes value into the control file name of the cgroup directory dir_fd (debug-logged). */
static int write_control(int dir_fd, const char *dir, const char *name, const char *value)
{
	_cleanup_close_ int fd = openat(dir_fd, name, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	int r;

	cell_log(CELL_LOG_DEBUG, "limits: %s/%s <- %s", dir, name, value);
	if (fd < 0)
		return negative_errno();
	r = cell_write_all(fd, value, strlen(value));
	return r < 0 ? r : 0;
}

static int read_control(int dir_fd, const char *name, char **ret)
{
	_cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return negative_errno();
	return cell_read_full_fd(fd, 65536, ret, NULL);
}

/* The number after "key " on a line of a flat-keyed file (memory.events, pids.events). */
static uint64_t keyed(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line)
		if (!strncmp(line, key, n) && line[n] == ' ')
			return strtoull(line + n + 1, NULL, 10);
	return 0;
}

static uint64_t keyed_at(int dir_fd, const char *name, const char *key)
{
	_cleanup_free_ char *text = NULL;

	return read_control(dir_fd, name, &text) < 0 ? 0 : keyed(text, key);
}

static uint64_t number_at(int dir_fd, const char *name)
{
	_cleanup_free_ char *text = NULL;

	return read_control(dir_fd, name, &text) < 0 ? 0 : strtoull(text, NULL, 10);
}

static bool exists_at(int dir_fd, const char *name)
{
	return faccessat(dir_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The controllers l needs (memory, pids, cpu: the order of cell_limits_v1_plan's directories). */
static size_t wanted_controllers(const struct cell_limits *l, const char *ret[3])
{
	size_t n = 0;

	if (l->memory)
		ret[n++] = "memory";
	if (l->pids)
		ret[n++] = "pids";
	if (l->cpu)
		ret[n++] = "cpu";
	return n;
}

int cell_limits_v2_apply(int slice_fd, int cell_fd, const struct cell_limits *l)
{
	const char *wanted[3];
	_cleanup_free_ char *available = NULL;
	char enable[64] = "", value[64];
	size_t n = wanted_controllers(l, wanted);
	int r;

	if (n == 0)
		return 0;
	r = read_control(slice_fd, "cgroup.controllers", &available);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (!has_word(available, wanted[i]))
			return -EOPNOTSUPP;
		snprintf(enable + strlen(enable), sizeof(enable) - strlen(enable), "%s+%s",
			 i ? " " : "", wanted[i]);
	}
	r = write_control(slice_fd, "slice", "cgroup.subtree_control", enable);
	if (r < 0)
		return r;
	if (l->memory) {
		snprintf(value, sizeof(value), "%" PRIu64, l->memory);
		r = write_control(cell_fd, "cell", "memory.max", value);
		/* the limit is the limit: no swapping around it (where swap is accounted) */
		if (r >= 0 && exists_at(cell_fd, "memory.swap.max"))
			r = write_control(cell_fd, "cell", "memory.swap.max", "0");
		if (r < 0)
			return r;
	}
	if (l->pids) {
		snprintf(value, sizeof(value), "%" PRIu32, l->pids);
		r = write_control(cell_fd, "cell", "pids.max", value);
		if (r < 0)
			return r;
	}
	if (l->cpu) {
		snprintf(value, sizeof(value), "%" PRIu64 " %d", (uint64_t)l->cpu * 100,
			 CPU_PERIOD_US);
		r = write_control(cell_fd, "cell", "cpu.max", value);
		if (r < 0)
			return r;
	}
	return 0;
}

int cell_limits_v2_usage(int cell_fd, struct cell_limits_usage *ret)
{
	*ret = (struct cell_limits_usage){
		.memory_peak = number_at(cell_fd, "memory.peak"),
		.oom_kills = keyed_at(cell_fd, "memory.events", "oom_kill"),
		.pids_refused = keyed_at(cell_fd, "pids.events", "max"),
	};
	return 0;
}

/* The v1 control writes of one controller into the directory dir_fd. */
static int v1_write(const char *controller, int dir_fd, const char *dir,
		    const struct cell_limits *l)
{
	char value[32];
	int r;

	if (streq(controller, "memory")) {
		snprintf(value, sizeof(value), "%" PRIu64, l->memory);
		r = write_control(dir_fd, dir, "memory.limit_in_bytes", value);
		/* with swap accounted, memory and swap together: no swapping around the limit */
		if (r >= 0 && exists_at(dir_fd, "memory.memsw.limit_in_bytes"))
			r = write_control(dir_fd, dir, "memory.memsw.limit_in_bytes", value);
		return r;
	}
	if (streq(controller, "pids")) {
		snprintf(value, sizeof(value), "%" PRIu32, l->pids);
		return write_control(dir_fd, dir, "pids.max", value);
	}
	snprintf(value, sizeof(value), "%d", CPU_PERIOD_US);
	r = write_control(dir_fd, dir, "cpu.cfs_period_us", value);
	snprintf(value, sizeof(value), "%" PRIu64, (uint64_t)l->cpu * 100);
	return r < 0 ? r : write_control(dir_fd, dir, "cpu.cfs_quota_us", value);
}

/* Whether a path of a cgroup (as /proc/PID/cgroup gives it) has a "." or ".." part. */
static bool path_plain(const char *path)
{
	for (const char *p = path; *p; p += strcspn(p, "/"), p += strspn(p, "/")) {
		size_t n = strcspn(p, "/");

		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
	}
	return true;
}

int cell_limits_v1_plan(const char *mountinfo, const char *proc_cgroup, const char *name,
			const struct cell_limits *l, char ***ret_dirs)
{
	_cleanup_strv_free_ char **dirs = calloc(1, sizeof(char *));
	const char *wanted[3];
	size_t n = wanted_controllers(l, wanted);

	if (!dirs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *mnt = NULL, *path = NULL, *base = NULL, *slice = NULL;
		int r = cell_cgroup_v1_find(mountinfo, proc_cgroup, wanted[i], &mnt, &path);

		if (r == -ENOENT)
			return -EOPNOTSUPP;
		if (r < 0)
			return r;
		if (!path_plain(path))
			return -EINVAL;
		base = cell_path_join(mnt, path);
		slice = base ? cell_path_join(base, "cell.slice") : NULL;
		if (!slice || cell_strv_consume(&dirs, cell_path_join(slice, name)) < 0)
			return -ENOMEM;
	}
	*ret_dirs = TAKE_PTR(dirs);
	return 0;
}

/*
 * mkdir of a v1 directory's cell.slice, or the one there if it is root's and no one else may
 * write in it (a slice of the caller's making would let the caller move what root puts there).
 */
static int v1_slice(const char *dir)
{
	char slice[PATH_MAX], *slash;
	struct stat st;

	if (snprintf(slice, sizeof(slice), "%s", dir) >= (int)sizeof(slice))
		return -ENAMETOOLONG;
	slash = strrchr(slice, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if (mkdir(slice, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return negative_errno();
	if (lstat(slice, &st) < 0)
		return negative_errno();
	return S_ISDIR(st.st_mode) && st.st_uid == 0 && !(st.st_mode & (S_IWGRP | S_IWOTH))
		       ? 0
		       : -EPERM;
}

/* Makes dir (in controller's hierarchy) and writes controller's limits into it. */
static int v1_make(const char *controller, const char *dir, const struct cell_limits *l)
{
	_cleanup_close_ int dir_fd = -1;
	int r;

	cell_log(CELL_LOG_DEBUG, "limits: mkdir %s", dir);
	/* (another cell's close may remove the slice between the two: then again) */
	for (int tries = 0;; tries++) {
		r = v1_slice(dir);
		if (r < 0)
			return r;
		if (mkdir(dir, 0755) == 0)
			break;
		if (errno != ENOENT || tries == 3)
			return negative_errno();
	}
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return dir_fd < 0 ? negative_errno() : v1_write(controller, dir_fd, dir, l);
}

int cell_limits_v1_make(char *const *dirs, const struct cell_limits *l)
{
	const char *wanted[3];
	size_t n = wanted_controllers(l, wanted);
	int r = 0;

	if (cell_strv_length(dirs) != n)
		return -EINVAL;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = v1_make(wanted[i], dirs[i], l);
	if (r < 0)
		(void)cell_limits_v1_remove(dirs);
	return r;
}

int cell_limits_v1_join(char *const *dirs, pid_t pid)
{
	char value[16];

	snprintf(value, sizeof(value), "%d", (int)pid);
	for (char *const *d = dirs; d && *d; d++) {
		_cleanup_close_ int fd = open(*d, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		int r = fd < 0 ? negative_errno() : write_control(fd, *d, "cgroup.procs", value);

		if (r < 0)
			return r;
	}
	return 0;
}

int cell_limits_v1_leave(char *const *dirs, pid_t pid)
{
	char value[16];

	snprintf(value, sizeof(value), "%d", (int)pid);
	for (char *const *d = dirs; d && *d; d++) {
		/* <mount>/<where the opener was>/cell.slice/<name>: back to where the opener was */
		char up[PATH_MAX], *slash;
		_cleanup_close_ int fd = -1;
		int r;

		if ((size_t)snprintf(up, sizeof(up), "%s", *d) >= sizeof(up))
			return -ENAMETOOLONG;
		slash = strrchr(up, '/');
		if (slash)
			*slash = '\0';
		slash = slash ? strrchr(up, '/') : NULL;
		if (!slash || !streq(slash + 1, "cell.slice"))
			return -EINVAL;
		*slash = '\0';
		fd = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		r = fd < 0 ? negative_errno() : write_control(fd, up, "cgroup.procs", value);
		if (r < 0)
			return r;
	}
	return 0;
}

int cell_limits_v1_usage(char *const *dirs, struct cell_limits_usage *ret)
{
	*ret = (struct cell_limits_usage){0};
	for (char *const *d = dirs; d && *d; d++) {
		_cleanup_close_ int fd = open(*d, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

		if (fd < 0)
			continue;
		if (exists_at(fd, "memory.max_usage_in_bytes")) {
			ret->memory_peak = number_at(fd, "memory.max_usage_in_bytes");
			ret->oom_kills = keyed_at(fd, "memory.oom_control", "oom_kill");
		}
		if (exists_at(fd, "pids.events"))
			ret->pids_refused = keyed_at(fd, "pids.events", "max");
	}
	return 0;
}

int cell_limits_usage(int cell_fd, char *const *v1_dirs, struct cell_limits_usage *ret)
{
	return v1_dirs ? cell_limits_v1_usage(v1_dirs, ret) : cell_limits_v2_usage(cell_fd, ret);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void remove_parent(const char *dir)
{
	_cleanup_free_ char *parent = strdup(dir);
	char *slash = parent ? strrchr(parent, '/') : NULL;

	if (slash && slash != parent) {
		*slash = '\0';
		(void)rmdir(parent);
	}
}

int cell_limits_v1_remove(char *const *dirs)
{
	int64_t deadline = now_ms() + REMOVE_WAIT_MS;
	int r = 0;

	for (char *const *d = dirs; d && *d; d++) {
		int k;

		/* a process killed a moment ago may still be leaving the cgroup */
		while ((k = rmdir(*d)) < 0 && errno == EBUSY && now_ms() < deadline)
			usleep(10 * 1000);
		if (k == 0) {
			/* and cell.slice with it, when it was the last cell there (else: EBUSY) */
			remove_parent(*d);
		} else if (errno != ENOENT) {
			/* (never made, or gone already: as good as removed) */
			cell_log(CELL_LOG_WARNING, "limits: cannot remove %s: %m", *d);
			r = -EBUSY;
		}
	}
	return r;
}

enum cell_limits_place cell_limits_where(const char *slice, const char *mountinfo,
					 const char *proc_cgroup, const char *controller)
{
	_cleanup_free_ char *text = NULL, *mnt = NULL, *path = NULL;
	_cleanup_close_ int fd = open(slice, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char parent[PATH_MAX], *slash = NULL;

	if (snprintf(parent, sizeof(parent), "%s", slice) < (int)sizeof(parent))
		slash = strrchr(parent, '/');

	/* the slice's controllers, or (no slice yet) those the root enables for its children */
	if (fd >= 0) {
		(void)read_control(fd, "cgroup.controllers", &text);
	} else if (slash) {
		*slash = '\0';
		fd = open(*parent ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			(void)read_control(fd, "cgroup.subtree_control", &text);
	}
	if (text && has_word(text, controller))
		return CELL_LIMITS_V2;
	if (cell_cgroup_v1_find(mountinfo, proc_cgroup, controller, &mnt, &path) >= 0)
		return CELL_LIMITS_V1;
	return CELL_LIMITS_NOWHERE;
}

int cell_limits_save(const char *record_dir, const char *name, char *const *dirs)
{
	_cleanup_free_ char *path = cell_path_join(record_dir, name), *text = NULL;
	size_t len = 0;
	int r;

	if (!path)
		return -ENOMEM;
	for (char *const *d = dirs; d && *d; d++) {
		char *more = NULL;

		if (asprintf(&more, "%s%s\n", text ? text : "", *d) < 0)
			return -ENOMEM;
		free(text);
		text = more;
	}
	if (!text)
		return 0;
	len = strlen(text);
	r = cell_mkdir_p(record_dir, 0700);
	return r < 0 ? r : cell_write_file_atomic(path, text, len, 0600, false);
}

int cell_limits_load(const char *record_dir, const char *name, char ***ret_dirs)
{
	_cleanup_free_ char *path = cell_path_join(record_dir, name), *text = NULL;
	_cleanup_strv_free_ char **dirs = NULL;
	char *save = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = cell_read_file(path, O_NOFOLLOW, 65536, &text, NULL);
	if (r < 0)
		return r;
	dirs = calloc(1, sizeof(char *));
	if (!dirs)
		return -ENOMEM;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] == '/' && cell_strv_extend(&dirs, line) < 0)
			return -ENOMEM;
	*ret_dirs = TAKE_PTR(dirs);
	return 0;
}

int cell_limits_forget(const char *record_dir, const char *name)
{
	_cleanup_free_ char *path = cell_path_join(record_dir, name);

	if (!path)
		return -ENOMEM;
	return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
}

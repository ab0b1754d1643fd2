/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/*
 * The mount point of the first filesystem of type fstype in a mountinfo file
 * ("/proc/self/mountinfo", or a fixture in tests), with mountinfo's octal escapes decoded.
 * For "cgroup2", /sys/fs/cgroup wins over /sys/fs/cgroup/unified over any other.
 * Returns -ENOENT when there is none.
 */
int cell_mountinfo_find(const char *mountinfo, const char *fstype, char **ret);
/*
 * Where the cgroup2 hierarchy is, and whether v1 hierarchies are mounted beside it (a hybrid
 * host, where cgroup2 has no controllers).
 */
int cell_cgroup_find(const char *mountinfo, char **ret_path, bool *ret_hybrid);
/*
 * A cgroup v1 hierarchy that has controller ("memory", "pids", "cpu"): where it is mounted,
 * and the path in it of a process whose /proc/PID/cgroup text is proc_cgroup ("/..."). -ENOENT
 * when no such hierarchy is mounted, or the process has no place in it.
 */
int cell_cgroup_v1_find(const char *mountinfo, const char *proc_cgroup, const char *controller,
			char **ret_mount, char **ret_path);

/* SPDX-License-Identifier: MIT */
/*
 * limit.h against trees the test builds: cgroup2's control files as plain files (what the code
 * writes, and that a slice without the controllers gets nothing), the v1 hierarchies found from
 * mountinfo and /proc/PID/cgroup text, and the record of a cell's v1 directories.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "fileio.h"
#include "limit.h"
#include "log.h"
#include "macro.h"
#include "path.h"
#include "strv.h"

#define FIXTURE(name) CELL_TEST_SRC "/tests/fixtures/mountinfo/" name

static char dir[] = "/tmp/cell-test-limit-XXXXXX";

static void setup(void)
{
	cr_assert(not(eq(ptr, mkdtemp(dir), NULL)));
}

static void teardown(void)
{
	cell_remove_tree_at(AT_FDCWD, dir);
}

TestSuite(limit, .init = setup, .fini = teardown);

static void put(const char *sub, const char *name, const char *text)
{
	_cleanup_free_ char *d = cell_path_join(dir, sub), *path = cell_path_join(d, name);

	cr_assert(eq(int, cell_mkdir_p(d, 0755), 0));
	cr_assert(eq(int, cell_write_file_atomic(path, text, strlen(text), 0644, false), 0));
}

static char *get(const char *sub, const char *name)
{
	_cleanup_free_ char *d = cell_path_join(dir, sub), *path = cell_path_join(d, name);
	char *text = NULL;

	if (cell_read_file(path, 0, 4096, &text, NULL) < 0)
		return NULL;
	return text;
}

static int open_dir(const char *sub)
{
	_cleanup_free_ char *d = cell_path_join(dir, sub);

	return open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A slice whose controllers are there (a unified host). */
static void unified_tree(const char *controllers)
{
	put("slice", "cgroup.controllers", controllers);
	put("slice", "cgroup.subtree_control", "");
	put("slice/cell", "memory.max", "max\n");
	put("slice/cell", "memory.swap.max", "max\n");
	put("slice/cell", "pids.max", "max\n");
	put("slice/cell", "cpu.max", "max 100000\n");
}

Test(limit, v2_writes_the_limits_and_enables_the_controllers)
{
	const struct cell_limits l = {.memory = 64 << 20, .pids = 32, .cpu = 1500};
	int slice, cell;
	char *text;

	unified_tree("cpuset cpu io memory hugetlb pids rdma misc\n");
	slice = open_dir("slice");
	cell = open_dir("slice/cell");
	cr_assert(eq(int, cell_limits_v2_apply(slice, cell, &l), 0));
	cr_assert(eq(str, (text = get("slice", "cgroup.subtree_control")), "+memory +pids +cpu"));
	free(text);
	cr_assert(eq(str, (text = get("slice/cell", "memory.max")), "67108864"));
	free(text);
	cr_assert(eq(str, (text = get("slice/cell", "memory.swap.max")), "0"));
	free(text);
	cr_assert(eq(str, (text = get("slice/cell", "pids.max")), "32"));
	free(text);
	cr_assert(eq(str, (text = get("slice/cell", "cpu.max")), "150000 100000"));
	free(text);
	close(slice);
	close(cell);
}

/* Only what the config sets is enabled and written. */
Test(limit, v2_writes_only_what_is_set)
{
	const struct cell_limits l = {.pids = 7};
	int slice, cell;
	char *text;

	unified_tree("memory pids\n");
	slice = open_dir("slice");
	cell = open_dir("slice/cell");
	cr_assert(eq(int, cell_limits_v2_apply(slice, cell, &l), 0));
	cr_assert(eq(str, (text = get("slice", "cgroup.subtree_control")), "+pids"));
	free(text);
	cr_assert(eq(str, (text = get("slice/cell", "memory.max")), "max\n"));
	free(text);
	cr_assert(eq(str, (text = get("slice/cell", "pids.max")), "7"));
	free(text);
	close(slice);
	close(cell);
}

/* A hybrid host's cgroup2 has no controllers: nothing written, and the caller takes v1. */
Test(limit, v2_without_the_controllers_writes_nothing)
{
	const struct cell_limits l = {.memory = 64 << 20, .cpu = 500};
	int slice, cell;
	char *text;

	unified_tree("memory pids\n"); /* no cpu */
	slice = open_dir("slice");
	cell = open_dir("slice/cell");
	cr_assert(eq(int, cell_limits_v2_apply(slice, cell, &l), -EOPNOTSUPP));
	cr_assert(eq(str, (text = get("slice", "cgroup.subtree_control")), ""));
	free(text);
	cr_assert(eq(str, (text = get("slice/cell", "memory.max")), "max\n"));
	free(text);
	close(slice);
	close(cell);
}

/* The writes are logged at debug level. */
Test(limit, v2_writes_are_logged_at_debug_level)
{
	const struct cell_limits l = {.pids = 3};
	int slice, cell, err[2], saved;
	char buf[4096] = "";
	ssize_t n;

	unified_tree("pids\n");
	slice = open_dir("slice");
	cell = open_dir("slice/cell");
	cr_assert(eq(int, pipe(err), 0));
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(err[1], STDERR_FILENO);
	cell_log_set_level(CELL_LOG_DEBUG);
	cr_assert(eq(int, cell_limits_v2_apply(slice, cell, &l), 0));
	cell_log_set_level(CELL_LOG_NOTICE);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(err[1]);
	n = read(err[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	cr_assert(not(eq(ptr, strstr(buf, "limits: cell/pids.max <- 3"), NULL)), "%s", buf);
	cr_assert(not(eq(ptr, strstr(buf, "limits: slice/cgroup.subtree_control <- +pids"), NULL)),
		  "%s", buf);
	close(err[0]);
	close(slice);
	close(cell);
}

Test(limit, v2_usage_is_read_from_the_cells_files)
{
	struct cell_limits_usage u;
	int cell;

	put("cell", "memory.peak", "123456\n");
	put("cell", "memory.events", "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\n");
	put("cell", "pids.events", "max 5\n");
	cell = open_dir("cell");
	cr_assert(eq(int, cell_limits_v2_usage(cell, &u), 0));
	cr_assert(eq(u64, u.memory_peak, 123456));
	cr_assert(eq(u64, u.oom_kills, 2));
	cr_assert(eq(u64, u.pids_refused, 5));
	close(cell);
}

/* Where each controller's v1 hierarchy is, and where the process is in it. */
Test(limit, v1_hierarchies_from_mountinfo_and_proc_cgroup)
{
	const char *proc = "12:pids:/user.slice/a:b\n"
			   "4:memory:/process_api/x\n"
			   "3:cpu,cpuacct:/\n"
			   "1:name=systemd:/init.scope\n"
			   "0::/user.slice\n";
	char *mnt = NULL, *path = NULL;

	cr_assert(eq(int, cell_cgroup_v1_find(FIXTURE("hybrid"), proc, "memory", &mnt, &path), 0));
	cr_assert(eq(str, mnt, "/sys/fs/cgroup/memory"));
	cr_assert(eq(str, path, "/process_api/x"));
	free(mnt);
	free(path);
	cr_assert(eq(int, cell_cgroup_v1_find(FIXTURE("hybrid"), proc, "cpu", &mnt, &path), 0));
	cr_assert(eq(str, mnt, "/sys/fs/cgroup/cpu,cpuacct"));
	cr_assert(eq(str, path, "/"));
	free(mnt);
	free(path);
	/* the fixture's pids hierarchy is mounted from below its root (/lxc/c1): its mount point
	 * and the process's path there do not add up */
	cr_assert(eq(int, cell_cgroup_v1_find(FIXTURE("hybrid"), proc, "pids", &mnt, &path),
		     -ENOENT));
	cr_assert(eq(int, cell_cgroup_v1_find(FIXTURE("unified"), proc, "memory", &mnt, &path),
		     -ENOENT));
}

Test(limit, the_record_of_a_cells_directories_round_trips)
{
	char *const dirs[] = {(char *)"/sys/fs/cgroup/memory/x/cell.slice/1000-a",
			      (char *)"/sys/fs/cgroup/pids/cell.slice/1000-a", NULL};
	char **back = NULL;

	cr_assert(eq(int, cell_limits_save(dir, "1000-a", dirs), 0));
	cr_assert(eq(int, cell_limits_load(dir, "1000-a", &back), 0));
	cr_assert(eq(sz, cell_strv_length(back), 2));
	cr_assert(eq(str, back[0], dirs[0]));
	cr_assert(eq(str, back[1], dirs[1]));
	cell_strv_free(back);
	cr_assert(eq(int, cell_limits_forget(dir, "1000-a"), 0));
	cr_assert(eq(int, cell_limits_load(dir, "1000-a", &back), -ENOENT));
	cr_assert(eq(int, cell_limits_forget(dir, "1000-a"), 0), "forgetting twice is fine");
}

/* What cell doctor says: each controller where a cell's limit would be held. */
Test(limit, where_each_controller_is)
{
	const char *proc = "4:memory:/x\n3:cpu,cpuacct:/\n0::/\n";
	_cleanup_free_ char *slice = cell_path_join(dir, "root/cell.slice");

	/* no slice yet: what the root enables for its children */
	put("root", "cgroup.subtree_control", "memory pids\n");
	cr_assert(
		eq(int, cell_limits_where(slice, FIXTURE("hybrid"), proc, "pids"), CELL_LIMITS_V2));
	cr_assert(
		eq(int, cell_limits_where(slice, FIXTURE("hybrid"), proc, "cpu"), CELL_LIMITS_V1));
	cr_assert(eq(int, cell_limits_where(slice, FIXTURE("unified"), proc, "cpu"),
		     CELL_LIMITS_NOWHERE));
	/* the slice: its own controllers */
	put("root/cell.slice", "cgroup.controllers", "cpu\n");
	cr_assert(
		eq(int, cell_limits_where(slice, FIXTURE("unified"), proc, "cpu"), CELL_LIMITS_V2));
	cr_assert(eq(int, cell_limits_where(slice, FIXTURE("unified"), proc, "pids"),
		     CELL_LIMITS_NOWHERE));
}

/* The directories are named before they are made (recorded in between), and made with their
 * limits; a cell.slice that someone else may write in is refused, nothing made. */
Test(limit, v1_directories_are_named_then_made)
{
	const char *proc = "4:memory:/a\n3:cpu,cpuacct:/\n0::/\n";
	const struct cell_limits l = {.memory = 2 << 20, .cpu = 250};
	_cleanup_free_ char *mountinfo = NULL, *slice = NULL;
	char **dirs = NULL;
	char line[2048];
	FILE *f;

	/* a hybrid host whose hierarchies are this test's directories */
	put("memory/a", "x", "");
	put("cpu", "x", "");
	mountinfo = cell_path_join(dir, "mountinfo");
	f = fopen(mountinfo, "w");
	cr_assert(not(eq(ptr, f, NULL)));
	snprintf(line, sizeof(line),
		 "31 26 0:30 / %s/memory rw - cgroup cgroup rw,memory\n"
		 "32 26 0:31 / %s/cpu rw - cgroup cgroup rw,cpu,cpuacct\n",
		 dir, dir);
	fputs(line, f);
	fclose(f);
	cr_assert(eq(int, cell_limits_v1_plan(mountinfo, proc, "7-x", &l, &dirs), 0));
	cr_assert(eq(sz, cell_strv_length(dirs), 2));
	cr_assert(not(eq(ptr, strstr(dirs[0], "/memory/a/cell.slice/7-x"), NULL)), "%s", dirs[0]);
	cr_assert(not(eq(ptr, strstr(dirs[1], "/cpu/cell.slice/7-x"), NULL)), "%s", dirs[1]);
	cr_assert(not(eq(int, access(dirs[0], F_OK), 0)), "named, not made");
	/* a cell.slice of someone else's writing: refused, nothing made (the real making, in
	 * the kernel's hierarchies, is test-limits.c's) */
	slice = cell_path_join(dir, "memory/a/cell.slice");
	cr_assert(eq(int, mkdir(slice, 0777), 0));
	cr_assert(eq(int, chmod(slice, 0777), 0));
	cr_assert(eq(int, cell_limits_v1_make(dirs, &l), -EPERM));
	cr_assert(not(eq(int, access(dirs[0], F_OK), 0)), "%s is left", dirs[0]);
	cr_assert(not(eq(int, access(dirs[1], F_OK), 0)), "%s is left", dirs[1]);
	cr_assert(eq(int, access(slice, F_OK), 0),
		  "a slice root did not make is not root's to remove");
	cell_strv_free(dirs);
}

/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdlib.h>

#include "cgroup.h"

#define FIXTURE(name) CELL_TEST_SRC "/tests/fixtures/mountinfo/" name

Test(cgroup, hybrid_host_uses_unified_and_says_hybrid)
{
	char *path = NULL;
	bool hybrid = false;

	cr_assert(eq(int, cell_cgroup_find(FIXTURE("hybrid"), &path, &hybrid), 0));
	cr_assert(eq(str, path, "/sys/fs/cgroup/unified"));
	cr_assert(hybrid);
	free(path);
}

Test(cgroup, unified_host_prefers_sys_fs_cgroup)
{
	char *path = NULL, *bpf = NULL;
	bool hybrid = true;

	cr_assert(eq(int, cell_cgroup_find(FIXTURE("unified"), &path, &hybrid), 0));
	cr_assert(eq(str, path, "/sys/fs/cgroup"));
	cr_assert(not(hybrid));
	cr_assert(eq(int, cell_mountinfo_find(FIXTURE("unified"), "bpf", &bpf), 0));
	cr_assert(eq(str, bpf, "/sys/fs/bpf"));
	free(path);
	free(bpf);
}

Test(cgroup, v1_only_host_has_no_cgroup2)
{
	char *path = NULL;
	bool hybrid;

	cr_assert(eq(int, cell_cgroup_find(FIXTURE("v1-only"), &path, &hybrid), -ENOENT));
	cr_assert(eq(int, cell_mountinfo_find(FIXTURE("v1-only"), "bpf", &path), -ENOENT));
}

Test(cgroup, escapes_and_optional_fields_are_decoded)
{
	char *path = NULL;

	cr_assert(eq(int, cell_mountinfo_find(FIXTURE("escaped"), "cgroup2", &path), 0));
	cr_assert(eq(str, path, "/srv/my cgroup\\dir"));
	free(path);
}

Test(cgroup, missing_file_is_an_error)
{
	char *path = NULL;

	cr_assert(eq(int, cell_mountinfo_find(FIXTURE("nope"), "cgroup2", &path), -ENOENT));
}

Test(cgroup, this_machine_has_a_readable_mountinfo)
{
	char *path = NULL;
	int r = cell_mountinfo_find("/proc/self/mountinfo", "proc", &path);

	cr_assert(eq(int, r, 0));
	cr_assert(eq(str, path, "/proc"));
	free(path);
}

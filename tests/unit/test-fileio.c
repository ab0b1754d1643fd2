/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "helpers.h"

Test(fileio, write_file_new_never_replaces)
{
	char *dir = th_mkdtemp(), *path = th_join(dir, "f"), *text;

	cr_assert(eq(int, cell_write_file_new(path, "one", 3, 0644), 0));
	cr_assert(eq(int, cell_write_file_new(path, "two", 3, 0644), -EEXIST));
	text = th_read(path);
	cr_assert(eq(str, text, "one"));
	/* and it leaves no temporary file behind */
	cr_assert(eq(sz, th_count_entries(dir), 1));
	free(text);
	th_rm_rf(dir);
	free(path);
	free(dir);
}

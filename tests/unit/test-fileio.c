/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

Test(fileio, remove_tree_at_follows_no_link)
{
	char *dir = th_mkdtemp(), *outside = th_join(dir, "outside"), *tree = th_join(dir, "tree");
	char *kept = th_join(outside, "kept"), *link = th_join(tree, "a/link"),
	     *dlink = th_join(tree, "dirlink");
	int fd = open(dir, O_PATH | O_DIRECTORY);

	free(th_write(outside, "kept", "x"));
	free(th_write(tree, "a/b/c", "y"));
	cr_assert(eq(int, symlink(kept, link), 0));
	cr_assert(eq(int, symlink(outside, dlink), 0));
	cr_assert(eq(int, cell_remove_tree_at(fd, "tree"), 0));
	cr_assert(eq(int, access(tree, F_OK), -1));
	/* what the links pointed at is untouched */
	cr_assert(eq(int, access(kept, F_OK), 0));
	/* missing is fine */
	cr_assert(eq(int, cell_remove_tree_at(fd, "tree"), 0));
	close(fd);
	th_rm_rf(dir);
	free(dir);
	free(outside);
	free(tree);
	free(kept);
	free(link);
	free(dlink);
}

/* A FIFO (or a hard link) planted where the temporary file used to be named (PATH.tmp.PID) is
 * never opened: the temporary name cannot be guessed, and an existing file is never reused. */
Test(fileio, an_atomic_write_opens_nothing_planted_for_it, .timeout = 10)
{
	char *tmp = th_mkdtemp(), *path = th_join(tmp, "cell.prom"), *planted = NULL, *text;

	cr_assert(ge(int, asprintf(&planted, "%s.tmp.%d", path, (int)getpid()), 0));
	cr_assert(eq(int, mkfifo(planted, 0600), 0));
	cr_assert(eq(int, cell_write_file_atomic(path, "x 1\n", 4, 0644, false), 0));
	text = th_read(path);
	cr_assert(eq(str, text, "x 1\n"));
	free(text);
	th_rm_rf(tmp);
	free(tmp);
	free(path);
	free(planted);
}

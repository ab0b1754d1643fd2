/* SPDX-License-Identifier: MIT */
/*
 * The BPF pin directory must be root's alone: the check, pointed at a temporary directory. As
 * root every case runs; as another user the caller's own directories are "not root's" and refused.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf.h"
#include "helpers.h"
#include "macro.h"

static char *tmp, *pin;

static void setup(void)
{
	tmp = th_mkdtemp();
	pin = th_join(tmp, "cell");
}

static void teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
	free(pin);
}

TestSuite(bpf_pin, .init = setup, .fini = teardown);

/* cell_bpf_pin_dir_open on pin (made if create): -EPERM or the descriptor, closed here. */
static int open_pin(bool create, struct cell_bpf_pin_dir *detail)
{
	int fd = cell_bpf_pin_dir_open(pin, create, detail);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return fd;
}

static void make_dir(mode_t mode)
{
	cr_assert(eq(int, mkdir(pin, 0700), 0));
	cr_assert(eq(int, chmod(pin, mode), 0));
}

/* Refused, with those words for what it is (NULL: any). */
static void expect_refused(const char *words)
{
	struct cell_bpf_pin_dir d = {0}, seen = {0};
	_cleanup_free_ char *s = NULL;

	cr_assert(eq(int, open_pin(true, &d), -EPERM));
	cr_assert(eq(int, (int)d.state, CELL_BPF_PIN_NOT_ROOTS));
	s = cell_bpf_pin_dir_describe(&d);
	if (words)
		cr_assert(eq(str, s, (char *)words));
	cr_assert(eq(int, cell_bpf_pin_dir_inspect(pin, &seen), 0));
	cr_assert(eq(int, (int)seen.state, CELL_BPF_PIN_NOT_ROOTS));
	cr_assert(eq(str, (char *)cell_bpf_pin_state_name(seen.state), "not root's alone"));
}

Test(bpf_pin, a_root_owned_0700_directory_is_fine)
{
	struct cell_bpf_pin_dir d = {0};
	char words[64];

	make_dir(0700);
	if (geteuid() != 0) {
		/* the caller's own directory is not root's */
		snprintf(words, sizeof(words), "owner uid %u, mode 0700", (unsigned)getuid());
		expect_refused(words);
		return;
	}
	cr_assert(eq(int, open_pin(true, &d), 0));
	cr_assert(eq(int, (int)d.state, CELL_BPF_PIN_FINE));
	cr_assert(eq(int, cell_bpf_pin_dir_inspect(pin, &d), 0));
	cr_assert(eq(int, (int)d.state, CELL_BPF_PIN_FINE));
	cr_assert(eq(str, (char *)cell_bpf_pin_state_name(d.state), "fine"));
	/* 0755: others may read, not write */
	cr_assert(eq(int, chmod(pin, 0755), 0));
	cr_assert(eq(int, open_pin(false, &d), 0));
}

Test(bpf_pin, a_directory_others_may_write_is_refused)
{
	char words[64];

	make_dir(0777);
	snprintf(words, sizeof(words), "owner uid %u, mode 0777", (unsigned)geteuid());
	expect_refused(words);
	cr_assert(eq(int, chmod(pin, 0775), 0));
	snprintf(words, sizeof(words), "owner uid %u, mode 0775", (unsigned)geteuid());
	expect_refused(words);
	/* sticky, as /tmp: others still add entries of their own */
	cr_assert(eq(int, chmod(pin, 01777), 0));
	snprintf(words, sizeof(words), "owner uid %u, mode 1777", (unsigned)geteuid());
	expect_refused(words);
}

Test(bpf_pin, another_users_directory_is_refused)
{
	if (geteuid() != 0)
		th_skip("giving a directory to another user needs root");
	make_dir(0700);
	cr_assert(eq(int, chown(pin, 65534, 65534), 0));
	expect_refused("owner uid 65534, mode 0700");
}

Test(bpf_pin, a_symbolic_link_is_refused_even_to_a_fine_directory)
{
	char *real = th_join(tmp, "real");
	struct cell_bpf_pin_dir d = {0};

	cr_assert(eq(int, mkdir(real, 0700), 0));
	cr_assert(eq(int, symlink(real, pin), 0));
	cr_assert(eq(int, open_pin(true, &d), -EPERM));
	cr_assert(eq(int, (int)d.state, CELL_BPF_PIN_NOT_ROOTS));
	cr_assert(eq(int, (int)(d.mode & S_IFMT), S_IFLNK));
	expect_refused(geteuid() == 0 ? "a symbolic link, owner uid 0" : NULL);
	free(real);
}

Test(bpf_pin, a_file_is_refused)
{
	struct cell_bpf_pin_dir d = {0};
	_cleanup_free_ char *s = NULL;

	free(th_write(tmp, "cell", ""));
	cr_assert(eq(int, open_pin(true, &d), -EPERM));
	cr_assert(eq(int, (int)d.state, CELL_BPF_PIN_NOT_ROOTS));
	s = cell_bpf_pin_dir_describe(&d);
	cr_assert(eq(int, strncmp(s, "not a directory, owner uid ", 27), 0), "%s", s);
}

Test(bpf_pin, a_missing_directory_is_made_root_s_alone)
{
	struct cell_bpf_pin_dir d = {0};
	struct stat st;

	cr_assert(eq(int, cell_bpf_pin_dir_inspect(pin, &d), 0));
	cr_assert(eq(int, (int)d.state, CELL_BPF_PIN_MISSING));
	cr_assert(eq(str, (char *)cell_bpf_pin_state_name(d.state), "missing (made on first use)"));
	/* not made unless asked */
	cr_assert(eq(int, open_pin(false, &d), -ENOENT));
	cr_assert(eq(int, lstat(pin, &st), -1));
	if (geteuid() != 0) {
		/* made, as the caller's: refused all the same */
		cr_assert(eq(int, open_pin(true, &d), -EPERM));
		cr_assert(eq(int, (int)d.uid, (int)getuid()));
		return;
	}
	cr_assert(eq(int, open_pin(true, &d), 0));
	cr_assert(eq(int, (int)d.state, CELL_BPF_PIN_FINE));
	cr_assert(eq(int, lstat(pin, &st), 0));
	cr_assert(eq(int, (int)(st.st_mode & S_IFMT), S_IFDIR));
	cr_assert(eq(int, (int)(st.st_mode & 07777), 0700));
	cr_assert(eq(int, (int)st.st_uid, 0));
}

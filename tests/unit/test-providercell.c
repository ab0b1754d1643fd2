/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "providercell.h"
#include "strv.h"

/* The index of the first "a b c" (b, c may be NULL: fewer) in argv, or -1. */
static long find3(char **argv, const char *a, const char *b, const char *c)
{
	for (long i = 0; argv[i]; i++)
		if (!strcmp(argv[i], a) && (!b || (argv[i + 1] && !strcmp(argv[i + 1], b))) &&
		    (!c || (argv[i + 1] && argv[i + 2] && !strcmp(argv[i + 2], c))))
			return i;
	return -1;
}

static char *tmp, *home, *root, *state;

static void setup(void)
{
	tmp = th_mkdtemp();
	home = th_join(tmp, "home");
	root = th_join(home, "src/proj");
	state = th_join(home, ".local/state/cell/projects/p-1/provider");
	free(th_write(root, ".envrc", "use flake\n"));
}

static void teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
	free(home);
	free(root);
	free(state);
}

TestSuite(providercell, .init = setup, .fini = teardown);

/*
 * The host read-only, the home empty but for the providers' settings (read-only), the runtime
 * directory empty; written: its state, its own directory in the project (as opened), /nix; the
 * command after "--".
 */
Test(providercell, the_host_read_only_and_the_home_empty)
{
	char *run = th_join(tmp, "run"), *config = th_join(home, ".config/direnv"),
	     *direnv = th_join(root, ".direnv");
	char *command[] = {(char *)"/usr/bin/direnv", (char *)"export", (char *)"json", NULL};
	struct cell_provider_cell in = {.bwrap = "/usr/bin/bwrap",
					.home = home,
					.runtime_dir = run,
					.root = root,
					.state = state};
	char **argv = NULL, fd_path[64];
	long dash, empty_home;

	free(th_write(run, "bus", ""));
	cr_assert(eq(int,
		     cell_provider_cell_prepare(&in, CELL_PROVIDER_DIRENV, &in.project_dir_fd,
						&in.project_dir),
		     0));
	cr_assert(ge(int, in.project_dir_fd, 0));
	cr_assert(eq(int, access(state, F_OK), 0));
	cr_assert(eq(int, access(direnv, F_OK), 0));
	cr_assert(eq(int, cell_provider_cell_argv(&in, command, &argv), 0));
	cr_assert(eq(str, argv[0], (char *)"/usr/bin/bwrap"));
	empty_home = find3(argv, "--tmpfs", home, NULL);
	cr_assert(gt(long, empty_home, find3(argv, "--ro-bind", "/", "/")));
	cr_assert(gt(long, find3(argv, "--tmpfs", run, NULL), empty_home));
	cr_assert(gt(long, find3(argv, "--ro-bind-try", config, config), empty_home));
	cr_assert(gt(long, find3(argv, "--ro-bind", root, root), empty_home));
	cr_assert(gt(long, find3(argv, "--bind", state, state), empty_home));
	/* (by descriptor: bubblewrap closes it, and nothing in the sandbox climbs up from it) */
	snprintf(fd_path, sizeof(fd_path), "%d", in.project_dir_fd);
	cr_assert(gt(long, find3(argv, "--bind-fd", fd_path, direnv),
		     find3(argv, "--ro-bind", root, root)));
	cr_assert(ge(long, find3(argv, "--unshare-user", NULL, NULL), 0));
	cr_assert(ge(long, find3(argv, "--new-session", NULL, NULL), 0));
	/* written: nothing else */
	for (long i = 0; argv[i]; i++)
		if (!strcmp(argv[i], "--bind") || !strcmp(argv[i], "--bind-try") ||
		    !strcmp(argv[i], "--bind-fd"))
			cr_assert(strcmp(argv[i + 1], "/nix") == 0 ||
					  strcmp(argv[i + 1], state) == 0 ||
					  strcmp(argv[i + 1], fd_path) == 0,
				  "%s", argv[i + 1]);
	dash = find3(argv, "--", NULL, NULL);
	cr_assert(gt(long, dash, 0));
	cr_assert(eq(str, argv[dash + 1], (char *)"/usr/bin/direnv"));
	cr_assert(eq(str, argv[dash - 1], root)); /* --chdir ROOT */
	cr_assert(eq(ptr, argv[dash + 4], NULL));
	close(in.project_dir_fd);
	cell_strv_free(argv);
	free(run);
	free(config);
	free(direnv);
}

/* The project's .direnv made a link (to a directory that runs code: ~/.config/systemd/user):
 * not opened, so not bound: the provider does not run. A provider without such a directory
 * (nix) has none bound. */
Test(providercell, a_linked_direnv_is_refused)
{
	char *target = th_join(home, ".config/systemd/user"), *link = th_join(root, ".direnv");
	struct cell_provider_cell in = {
		.bwrap = "/usr/bin/bwrap", .home = home, .root = root, .state = state};
	const char *dir;
	int fd;

	free(th_write(target, ".keep", ""));
	cr_assert(eq(int, symlink(target, link), 0));
	cr_assert(
		eq(int, cell_provider_cell_prepare(&in, CELL_PROVIDER_DIRENV, &fd, &dir), -ELOOP));
	cr_assert(eq(int, fd, -1));
	cr_assert(eq(int, cell_provider_cell_prepare(&in, CELL_PROVIDER_NIX, &fd, &dir), 0));
	cr_assert(eq(int, fd, -1));
	cr_assert(eq(ptr, (void *)dir, NULL));
	free(target);
	free(link);
}

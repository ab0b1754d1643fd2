/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

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

/* The host read-only; the home's credentials and the runtime directory hidden, after the
 * binds; written: the providers' own places only; the command after "--". */
Test(providercell, the_host_read_only_without_credentials)
{
	char *tmp = th_mkdtemp(), *home = th_join(tmp, "home"), *root = th_join(tmp, "proj");
	char *run = th_join(tmp, "run"), *ssh = th_join(home, ".ssh"),
	     *netrc = th_join(home, ".netrc"), *cache = th_join(home, ".cache/nix");
	char *command[] = {(char *)"/usr/bin/direnv", (char *)"export", (char *)"json", NULL};
	struct cell_provider_cell in = {.bwrap = "/usr/bin/bwrap",
					.home = home,
					.runtime_dir = run,
					.root = root,
					.nix_state = "/state/nix"};
	char **argv = NULL;
	long dash;

	free(th_write(home, ".ssh/id_ed25519", "key"));
	free(th_write(home, ".netrc", "machine x"));
	free(th_write(run, "bus", ""));
	free(th_write(home, ".cache/nix/.keep", ""));
	cr_assert(eq(int, cell_provider_cell_argv(&in, command, &argv), 0));
	cr_assert(eq(str, argv[0], (char *)"/usr/bin/bwrap"));
	cr_assert(
		eq(long, find3(argv, "--ro-bind", "/", "/"), find3(argv, "--ro-bind", NULL, NULL)));
	cr_assert(gt(long, find3(argv, "--tmpfs", ssh, NULL), find3(argv, "--ro-bind", "/", "/")));
	cr_assert(ge(long, find3(argv, "--ro-bind", "/dev/null", netrc), 0));
	cr_assert(ge(long, find3(argv, "--tmpfs", run, NULL), 0));
	cr_assert(ge(long, find3(argv, "--bind", cache, cache), 0));
	cr_assert(ge(long, find3(argv, "--bind", "/state/nix", "/state/nix"), 0));
	cr_assert(ge(long, find3(argv, "--unshare-user", NULL, NULL), 0));
	cr_assert(ge(long, find3(argv, "--new-session", NULL, NULL), 0));
	/* nothing of the home or the project written but those */
	for (long i = 0; argv[i]; i++)
		if (!strcmp(argv[i], "--bind") || !strcmp(argv[i], "--bind-try"))
			cr_assert(strstr(argv[i + 1], "/nix") || strstr(argv[i + 1], "direnv") ||
					  strstr(argv[i + 1], "mise") ||
					  strstr(argv[i + 1], "devenv"),
				  "%s", argv[i + 1]);
	dash = find3(argv, "--", NULL, NULL);
	cr_assert(gt(long, dash, 0));
	cr_assert(eq(str, argv[dash + 1], (char *)"/usr/bin/direnv"));
	cr_assert(eq(str, argv[dash - 1], root)); /* --chdir ROOT */
	cr_assert(eq(ptr, argv[dash + 4], NULL));
	cell_strv_free(argv);
	th_rm_rf(tmp);
	free(tmp);
	free(home);
	free(root);
	free(run);
	free(ssh);
	free(netrc);
	free(cache);
}

/* The project's .direnv made a link (to a directory that runs code: ~/.config/systemd/user)
 * is neither made nor bound read-write: the provider does not run. */
Test(providercell, a_linked_direnv_is_not_bound)
{
	char *tmp = th_mkdtemp(), *home = th_join(tmp, "home"), *root = th_join(tmp, "proj");
	char *target = th_join(home, ".config/systemd/user"), *link = th_join(root, ".direnv");
	char *command[] = {(char *)"/usr/bin/direnv", NULL};
	struct cell_provider_cell in = {.bwrap = "/usr/bin/bwrap", .home = home, .root = root};
	char **argv = NULL;

	free(th_write(target, ".keep", ""));
	free(th_write(root, ".envrc", ""));
	cr_assert(eq(int, symlink(target, link), 0));
	cr_assert(eq(int, cell_provider_cell_prepare(&in, CELL_PROVIDER_DIRENV), -ELOOP));
	cr_assert(eq(int, cell_provider_cell_argv(&in, command, &argv), 0));
	for (size_t i = 0; argv[i]; i++)
		cr_assert(not(eq(str, argv[i], link)));
	cell_strv_free(argv);
	th_rm_rf(tmp);
	free(tmp);
	free(home);
	free(root);
	free(target);
	free(link);
}

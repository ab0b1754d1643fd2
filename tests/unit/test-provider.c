/* SPDX-License-Identifier: MIT */
/*
 * What providers print, parsed: nix's and devenv's from the real nix (tests/fixtures, made by
 * Debian's nix-bin from the flake the integration test uses), direnv's and mise's flat maps.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "helpers.h"
#include "provider.h"
#include "providerread.h"
#include "strv.h"

#define FIXTURE CELL_TEST_SRC "/tests/fixtures/nix-print-dev-env.json"

static const char *var(const struct cell_provider_env *e, const char *key)
{
	for (size_t i = 0; i < e->n_vars; i++)
		if (!strcmp(e->vars[i].key, key))
			return e->vars[i].value;
	return NULL;
}

Test(provider, nix_and_devenv_give_the_shells_exported_variables_and_its_hook)
{
	static const enum cell_env_provider both[] = {CELL_PROVIDER_NIX, CELL_PROVIDER_DEVENV};
	char *json = NULL;
	size_t len = 0;

	cr_assert(eq(int, cell_read_file(FIXTURE, 0, CELL_FILE_MAX, &json, &len), 0));
	for (size_t k = 0; k < 2; k++) {
		struct cell_provider_env e;

		cr_assert(eq(int, cell_provider_parse(both[k], json, len, "/usr/bin", &e), 0));
		cr_assert(eq(str, (char *)var(&e, "GREETING"), (char *)"hello from nix"));
		cr_assert(eq(str, (char *)var(&e, "IN_NIX_SHELL"), (char *)"impure"));
		/* the build's, not the shell's; and bash's own state */
		for (const char *const *n =
			     (const char *const[]){"HOME", "TMPDIR", "TEMP", "NIX_BUILD_TOP",
						   "NIX_LOG_FD", "TERM", "BASH", "IFS", "shellHook",
						   NULL};
		     *n; n++)
			cr_assert(eq(ptr, (void *)var(&e, *n), NULL), "%s", *n);
		cr_assert(eq(str, e.shell_hook,
			     (char *)"echo hooked > /tmp/nix-hook; export HOOKED=1"));
		/* nix's "/path-not-set" is no entry */
		cr_assert(eq(ptr, e.path, NULL));
		cell_provider_env_done(&e);
	}
	free(json);
}

Test(provider, direnv_and_mise_give_what_they_changed_and_path_entries_first)
{
	const char direnv[] = "{\"A\":\"1\",\"GONE\":null,\"DIRENV_DIR\":\"-/p\","
			      "\"DIRENV_DIFF\":\"x\",\"PATH\":\"/p/bin:/usr/bin:/p/tools:/bin\"}";
	const char mise[] = "{\"M\":\"2\",\"PATH\":\"/m/bin:/usr/bin:/bin\"}";
	struct cell_provider_env e;

	cr_assert(eq(int,
		     cell_provider_parse(CELL_PROVIDER_DIRENV, direnv, strlen(direnv),
					 "/usr/bin:/bin", &e),
		     0));
	cr_assert(eq(sz, e.n_vars, 1));
	cr_assert(eq(str, (char *)var(&e, "A"), (char *)"1"));
	cr_assert(eq(str, e.path, (char *)"/p/bin:/p/tools"));
	/* (null: the .envrc unset it) */
	cr_assert(eq(sz, cell_strv_length(e.unset), 1));
	cr_assert(eq(str, e.unset[0], (char *)"GONE"));
	cell_provider_env_done(&e);
	cr_assert(
		eq(int,
		   cell_provider_parse(CELL_PROVIDER_MISE, mise, strlen(mise), "/usr/bin:/bin", &e),
		   0));
	cr_assert(eq(str, (char *)var(&e, "M"), (char *)"2"));
	cr_assert(eq(str, e.path, (char *)"/m/bin"));
	cell_provider_env_done(&e);
	/* nothing printed: nothing changed (direnv with nothing to export) */
	cr_assert(eq(int, cell_provider_parse(CELL_PROVIDER_DIRENV, "", 0, "/bin", &e), 0));
	cr_assert(eq(sz, e.n_vars, 0));
	cell_provider_env_done(&e);
	cr_assert(eq(int, cell_provider_parse(CELL_PROVIDER_MISE, "{\"M\":", 5, "/bin", &e),
		     -EBADMSG));
	cr_assert(eq(int, cell_provider_parse(CELL_PROVIDER_NIX, "[]", 2, "/bin", &e), -EBADMSG));
}

Test(provider, auto_picks_by_the_files_there)
{
	char *root = th_mkdtemp();

	cr_assert(eq(int, cell_provider_pick(root, CELL_PROVIDER_AUTO), CELL_PROVIDER_NONE));
	free(th_write(root, ".tool-versions", "node 20\n"));
	cr_assert(eq(int, cell_provider_pick(root, CELL_PROVIDER_AUTO), CELL_PROVIDER_MISE));
	free(th_write(root, ".envrc", "use flake\n"));
	cr_assert(eq(int, cell_provider_pick(root, CELL_PROVIDER_AUTO), CELL_PROVIDER_DIRENV));
	/* a lock file alone picks nothing */
	free(th_write(root, "flake.lock", "{}\n"));
	cr_assert(eq(int, cell_provider_pick(root, CELL_PROVIDER_AUTO), CELL_PROVIDER_DIRENV));
	free(th_write(root, "flake.nix", "{}\n"));
	cr_assert(eq(int, cell_provider_pick(root, CELL_PROVIDER_AUTO), CELL_PROVIDER_NIX));
	free(th_write(root, "devenv.nix", "{}\n"));
	cr_assert(eq(int, cell_provider_pick(root, CELL_PROVIDER_AUTO), CELL_PROVIDER_DEVENV));
	/* configured: that one, whatever is there */
	cr_assert(eq(int, cell_provider_pick(root, CELL_PROVIDER_NONE), CELL_PROVIDER_NONE));
	cr_assert(eq(int, cell_provider_pick(root, CELL_PROVIDER_MISE), CELL_PROVIDER_MISE));
	th_rm_rf(root);
	free(root);
}

/* The provider's program from fixed directories only: ~/.nix-profile/bin, never the project. */
Test(provider, the_program_is_found_only_in_fixed_directories)
{
	char *home = th_mkdtemp(), *in_profile, *found;

	free(th_write(home, "project/devenv", "#!/bin/sh\n"));
	free(th_write(home, ".nix-profile/bin/devenv", "#!/bin/sh\n"));
	in_profile = th_join(home, ".nix-profile/bin/devenv");
	/* not executable: not a program */
	cr_assert(eq(ptr, cell_provider_find(CELL_PROVIDER_DEVENV, home), NULL));
	chmod(in_profile, 0755);
	found = cell_provider_find(CELL_PROVIDER_DEVENV, home);
	cr_assert(eq(str, found, in_profile));
	free(found);
	cr_assert(eq(ptr, cell_provider_find(CELL_PROVIDER_NONE, home), NULL));
	th_rm_rf(home);
	free(home);
	free(in_profile);
}

Test(provider, names_that_are_no_variables_are_left_out)
{
	const char json[] = "{\"A=B\":\"x\",\"\":\"y\",\"1X\":\"z\",\"OK_1\":\"w\"}";
	struct cell_provider_env e;

	cr_assert(eq(int, cell_provider_parse(CELL_PROVIDER_MISE, json, strlen(json), "/bin", &e),
		     0));
	cr_assert(eq(sz, e.n_vars, 1));
	cr_assert(eq(str, e.vars[0].key, (char *)"OK_1"));
	cell_provider_env_done(&e);
}

/* Callers size their arrays by CELL_PROVIDER_INPUTS_MAX: the list must fit, each name once. */
Test(provider, the_inputs_fit_their_bound_and_each_is_named_once)
{
	size_t n = 0;

	while (cell_provider_input(n))
		n++;
	cr_assert(n >= 17 && n <= CELL_PROVIDER_INPUTS_MAX, "%zu inputs", n);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			cr_assert(not(eq(str, (char *)cell_provider_input(i),
					 (char *)cell_provider_input(j))));
	cr_assert(eq(str, (char *)cell_provider_input(n - 1), (char *)".config/mise/config.toml"));
}

/* What execve could not take is refused as a whole: a variable over 128 KiB, or over 1 MiB of
 * them (the cell's command would not start). */
Test(provider, what_no_program_could_start_with_is_refused)
{
	size_t big = 128 * 1024;
	char *json = malloc(big + 64), *p;
	struct cell_provider_env e;

	p = json + sprintf(json, "{\"BIG\":\"");
	memset(p, 'x', big);
	strcpy(p + big, "\"}");
	cr_assert(eq(int, cell_provider_parse(CELL_PROVIDER_DIRENV, json, strlen(json), "/bin", &e),
		     -E2BIG));
	/* just under: fine */
	strcpy(p + big - 8, "\"}");
	cr_assert(eq(int, cell_provider_parse(CELL_PROVIDER_DIRENV, json, strlen(json), "/bin", &e),
		     0));
	cell_provider_env_done(&e);
	free(json);
	/* 12 of 100 KiB */
	json = malloc(12 * (100 * 1024 + 16) + 8);
	p = json + sprintf(json, "{");
	for (int i = 0; i < 12; i++) {
		p += sprintf(p, "%s\"V%d\":\"", i ? "," : "", i);
		memset(p, 'y', 100 * 1024);
		p += 100 * 1024;
		*p++ = '"';
	}
	strcpy(p, "}");
	cr_assert(eq(int, cell_provider_parse(CELL_PROVIDER_MISE, json, strlen(json), "/bin", &e),
		     -E2BIG));
	free(json);
}

/* What the provider said it read: direnv's DIRENV_WATCHES (as direnv writes it: base64url of
 * zlib of JSON), devenv's .devenv/input-paths.txt; absolute paths only; nothing from what is
 * not that shape. */
Test(provider, what_the_provider_read_is_read_from_its_own_words)
{
	const char *out = "{\"A\":\"1\",\"DIRENV_WATCHES\":\"eJyLrlYKSCzJULJSUNIv0NdLzSsrSlbSUVDyz"
			  "U8pycxNBYobAnmuFZnFJcVATklRaWqtjgIWTXo5-cmJOaRoLUolqDwWAP0oMHI\"}";
	char *tmp = th_mkdtemp(), **read = NULL;

	cr_assert(eq(int, cell_provider_read_list(CELL_PROVIDER_DIRENV, tmp, out, &read), 0));
	cr_assert(eq(sz, cell_strv_length(read), 2));
	cr_assert(eq(str, read[0], (char *)"/p/.envrc"));
	cr_assert(eq(str, read[1], (char *)"/p/.envrc.local"));
	cell_strv_free(read);
	cr_assert(eq(int,
		     cell_provider_read_list(CELL_PROVIDER_DIRENV, tmp,
					     "{\"DIRENV_WATCHES\":\"not*base64\"}", &read),
		     0));
	cr_assert(eq(ptr, read, NULL));
	cr_assert(eq(int,
		     cell_provider_read_list(CELL_PROVIDER_DIRENV, tmp,
					     "{\"DIRENV_WATCHES\":\"eJzL\"}", &read),
		     0));
	cr_assert(eq(ptr, read, NULL));
	free(th_write(tmp, ".devenv/input-paths.txt", "/p/devenv.nix\n/p/modules/a.nix\nrel\n"));
	cr_assert(eq(int, cell_provider_read_list(CELL_PROVIDER_DEVENV, tmp, NULL, &read), 0));
	cr_assert(eq(sz, cell_strv_length(read), 2));
	cr_assert(eq(str, read[1], (char *)"/p/modules/a.nix"));
	cell_strv_free(read);
	cr_assert(eq(int, cell_provider_read_list(CELL_PROVIDER_NIX, tmp, "{}", &read), 0));
	cr_assert(eq(ptr, read, NULL));
	th_rm_rf(tmp);
	free(tmp);
}

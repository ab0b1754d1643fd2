/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "helpers.h"
#include "secrets.h"

/* The user's config with these secrets, read. */
static struct cell_config *config(const char *secrets)
{
	static const struct cell_config_env env = {"/home/u", "u", NULL};
	struct cell_config *c = NULL;
	struct cell_diag d = {0};
	char *json = NULL;

	cr_assert(ge(int, asprintf(&json, "{\"secrets\": %s}", secrets), 0));
	cr_assert(eq(int, cell_config_new(&c), 0));
	cr_assert(eq(int, cell_config_apply_user(c, "/u.json", json, strlen(json), "/p", &env, &d),
		     0),
		  "%s", d.message ? d.message : "");
	free(json);
	return c;
}

Test(secrets, are_read_from_a_command_a_file_and_a_variable)
{
	char *dir = th_mkdtemp(), *file = th_write(dir, "token", "from-file\nsecond line\n");
	char *json = NULL;
	struct cell_secret_values *v = NULL;
	struct cell_diag d = {0};
	struct cell_config *c;

	setenv("CELL_TEST_SECRET", "from-env", 1);
	cr_assert(ge(
		int,
		asprintf(
			&json,
			"{\"a\": {\"command\": [\"printf\", \"%%s\\\\r\\\\n\", \"from-command\"]}, "
			"\"b\": {\"file\": \"%s\"}, \"c\": {\"env\": \"CELL_TEST_SECRET\"}}",
			file),
		0));
	c = config(json);
	cr_assert(eq(int, cell_secrets_load(c, &v, &d), 0), "%s", d.message ? d.message : "");
	cr_assert(eq(sz, v->n, 3));
	/* (the trailing newline is not the secret's; a file's first line is) */
	cr_assert(eq(str, cell_secrets_find(v, "a", 1)->value, "from-command"));
	cr_assert(eq(str, cell_secrets_find(v, "b", 1)->value, "from-file"));
	cr_assert(eq(str, cell_secrets_find(v, "c", 1)->value, "from-env"));
	cr_assert(eq(ptr, (void *)cell_secrets_find(v, "d", 1), NULL));
	cell_secrets_free(v);
	cell_config_free(c);
	unsetenv("CELL_TEST_SECRET");
	th_rm_rf(dir);
	free(dir);
	free(file);
	free(json);
}

/* A secret that cannot be read says which and why, never a value. */
Test(secrets, that_cannot_be_read_are_named)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"{\"x\": {\"command\": [\"cell-no-such-program\"]}}",
		 "secret \"x\": its command 'cell-no-such-program' is not in /usr/local/bin, /usr/bin or "
		 "/bin (give its path)"},
		{"{\"x\": {\"command\": [\"false\"]}}",
		 "secret \"x\": its command 'false' exited with status 1"},
		{"{\"x\": {\"command\": [\"printf\", \"a\\\\nb\"]}}",
		 "secret \"x\": it has more than one line"},
		{"{\"x\": {\"command\": [\"true\"]}}", "secret \"x\": it is empty"},
		{"{\"x\": {\"env\": \"CELL_TEST_UNSET_VARIABLE\"}}",
		 "secret \"x\": the variable CELL_TEST_UNSET_VARIABLE is not set"},
		{"{\"x\": {\"file\": \"/nonexistent/token\"}}",
		 "secret \"x\": cannot read '/nonexistent/token': No such file or directory"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cell_config *c = config(cases[i].json);
		struct cell_secret_values *v = NULL;
		struct cell_diag d = {0};

		cr_assert(lt(int, cell_secrets_load(c, &v, &d), 0), "%s", cases[i].json);
		cr_assert(eq(ptr, (void *)v, NULL));
		cr_assert(eq(str, d.message, (char *)cases[i].want));
		cell_diag_clear(&d);
		cell_config_free(c);
	}
}

/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "helpers.h"
#include "review.h"
#include "strv.h"

/* A config from text, through the real loader (home /home/u). */
static struct cell_config *config(const char *json)
{
	static const struct cell_config_env env = {"/home/u", "u", NULL};
	struct cell_config *c = NULL;
	struct cell_diag d = {0};

	cr_assert(eq(int, cell_config_new(&c), 0));
	cr_assert(eq(int, cell_config_apply(c, "/p/.cell.json", json, strlen(json), "/p", &env, &d),
		     0),
		  "%s", d.message ? d.message : "");
	cr_assert(eq(int, cell_config_finish(c, "/p", &env, &d), 0), "%s",
		  d.message ? d.message : "");
	return c;
}

/* The warnings of json, one string. */
static char *warnings_of(const char *json)
{
	struct cell_config *c = config(json);
	char **w = NULL, *all = strdup("");

	cr_assert(eq(int, cell_review_warnings(c, "/home/u", &w), 0));
	for (size_t i = 0; w && w[i]; i++) {
		char *more = NULL;

		cr_assert(ge(int, asprintf(&more, "%s%s\n", all, w[i]), 0));
		free(all);
		all = more;
	}
	cell_strv_free(w);
	cell_config_free(c);
	return all;
}

Test(review, a_plain_config_has_no_warning)
{
	char *w = warnings_of("{\"network\": {\"allow\": [\"github.com\"]}}");

	cr_assert(eq(str, w, ""));
	free(w);
}

/* Each thing that weakens the cell is said. */
Test(review, what_weakens_the_cell_is_said)
{
	static const struct {
		const char *json, *said;
	} cases[] = {
		{"{\"network\": {\"mode\": \"host\"}}", "network.mode is \"host\""},
		{"{\"mounts\": [{\"path\": \"~\", \"mode\": \"rw\"}]}",
		 "binds your home directory read-write"},
		{"{\"mounts\": [{\"path\": \"~/.ssh\", \"mode\": \"ro\"}]}",
		 "exposes ~/.ssh, which holds credentials"},
		{"{\"mounts\": [{\"path\": \"~/.aws\", \"mode\": \"ro\"}]}", "exposes ~/.aws"},
		{"{\"mounts\": [{\"path\": \"~/.gnupg/private-keys-v1.d\", \"mode\": \"ro\"}]}",
		 "exposes ~/.gnupg"},
		{"{\"hardening\": {\"allow_userns\": true}}", "hardening.allow_userns"},
		{"{\"hardening\": {\"allow_io_uring\": true}}", "hardening.allow_io_uring"},
		{"{\"hardening\": {\"git_writable\": true}}", "hardening.git_writable"},
		{"{\"presets\": [\"nix-daemon\"]}", "preset nix-daemon"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *w = warnings_of(cases[i].json);

		cr_assert(not(eq(ptr, strstr(w, cases[i].said), NULL)), "%s: %s", cases[i].json, w);
		free(w);
	}
}

/* The line cell allow prints: the hosts (a preset's by its name, once), mounts, variables. */
Test(review, the_summary_says_what_the_config_opens)
{
	struct cell_config *c = config(
		"{\"network\": {\"allow\": [\"@npm\", \"github.com\", \"api.test:8443\", \"x.test\"]}, "
		"\"mounts\": [{\"path\": \"/data\", \"mode\": \"ro\"}], \"env\": {\"set\": {\"A\": \"1\"}}}");
	char line[512];

	cr_assert(eq(int, cell_review_summary(c, line, sizeof(line)), 0));
	cr_assert(not(eq(ptr, strstr(line, "network: "), NULL)), "%s", line);
	cr_assert(not(eq(ptr, strstr(line, " hosts (@npm, github.com, api.test:8443, ...)"), NULL)),
		  "%s", line);
	cr_assert(not(eq(ptr, strstr(line, "; mounts: 1; env: 1 variable"), NULL)), "%s", line);
	cell_config_free(c);
	c = config("{\"network\": {\"mode\": \"none\"}}");
	cr_assert(eq(int, cell_review_summary(c, line, sizeof(line)), 0));
	cr_assert(eq(str, line, "network: none; mounts: 0; env: 0 variables"));
	cell_config_free(c);
}

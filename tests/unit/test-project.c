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
#include "project.h"
#include "strv.h"

static char *tmp;

static void setup(void)
{
	tmp = th_mkdtemp();
}

static void teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
}

TestSuite(project, .init = setup, .fini = teardown);

Test(project, walks_up_and_the_nearest_wins)
{
	struct cell_project *p = NULL;
	char *outer = th_join(tmp, "outer"), *inner = th_join(tmp, "outer/inner");
	char *start = th_join(tmp, "outer/inner/src/deep");

	free(th_write(tmp, "outer/.cell.json", "{\"name\": \"outer\"}"));
	free(th_write(tmp, "outer/inner/.cell.json", "{\"name\": \"inner\"}"));
	cr_assert(eq(int, cell_mkdir_p(start, 0755), 0));

	cr_assert(eq(int, cell_project_find(start, &p, NULL), 0));
	cr_assert(eq(str, p->root, inner));
	cr_assert(eq(str, p->text, "{\"name\": \"inner\"}"));
	cr_assert(eq(sz, p->len, strlen("{\"name\": \"inner\"}")));
	cell_project_free(p);

	free(start);
	start = th_join(tmp, "outer/other");
	cr_assert(eq(int, cell_mkdir_p(start, 0755), 0));
	cr_assert(eq(int, cell_project_find(start, &p, NULL), 0));
	cr_assert(eq(str, p->root, outer));
	cell_project_free(p);
	free(outer);
	free(inner);
	free(start);
}

Test(project, none_found_is_enoent)
{
	struct cell_project *p = NULL;
	struct cell_diag d = {0};

	/* the temp dir's ancestors (/, /tmp) hold no .cell.json on a test machine */
	cr_assert(eq(int, cell_project_find(tmp, &p, &d), -ENOENT));
	cr_assert(eq(ptr, d.message, NULL));
}

Test(project, symlinked_config_is_refused)
{
	struct cell_project *p = NULL;
	struct cell_diag d = {0};
	char *target = th_write(tmp, "elsewhere.json", "{}");
	char *link = th_join(tmp, "proj/.cell.json"), *dir = th_join(tmp, "proj");
	char *want;

	cr_assert(eq(int, cell_mkdir_p(dir, 0755), 0));
	cr_assert(eq(int, symlink(target, link), 0));
	cr_assert(eq(int, cell_project_find(dir, &p, &d), -ELOOP));
	want = cell_diag_format(&d);
	cr_assert(eq(str, strstr(want, ".cell.json: "),
		     ".cell.json: is a symbolic link; cell reads only a regular file here"));
	free(want);
	cell_diag_clear(&d);
	free(target);
	free(link);
	free(dir);
}

Test(project, directory_named_like_the_config_is_refused)
{
	struct cell_project *p = NULL;
	struct cell_diag d = {0};
	char *cfg = th_join(tmp, ".cell.json");

	cr_assert(eq(int, mkdir(cfg, 0755), 0));
	cr_assert(eq(int, cell_project_find(tmp, &p, &d), -EISDIR));
	cr_assert(eq(str, d.message, "is not a regular file"));
	cell_diag_clear(&d);
	free(cfg);
}

Test(project, oversized_config_is_refused)
{
	struct cell_project *p = NULL;
	struct cell_diag d = {0};
	char *big = malloc(CELL_FILE_MAX + 2);

	memset(big, ' ', CELL_FILE_MAX + 1);
	big[CELL_FILE_MAX + 1] = '\0';
	free(th_write(tmp, ".cell.json", big));
	cr_assert(eq(int, cell_project_find(tmp, &p, &d), -EFBIG));
	cr_assert(eq(str, d.message, "is larger than 1 MiB"));
	cell_diag_clear(&d);
	free(big);
}

Test(project, id_is_stable_safe_and_per_path)
{
	struct cell_project *a = NULL, *b = NULL, *again = NULL;
	char *da = th_join(tmp, "my app"), *db = th_join(tmp, "other/my app");

	free(th_write(tmp, "my app/.cell.json", "{}"));
	free(th_write(tmp, "other/my app/.cell.json", "{}"));
	cr_assert(eq(int, cell_project_find(da, &a, NULL), 0));
	cr_assert(eq(int, cell_project_find(db, &b, NULL), 0));
	cr_assert(eq(int, cell_project_find(da, &again, NULL), 0));
	cr_assert(eq(sz, strlen(a->id), strlen("my_app-") + 12));
	cr_assert(eq(int, strncmp(a->id, "my_app-", 7), 0));
	cr_assert(eq(str, a->id, again->id));
	cr_assert(ne(str, a->id, b->id));
	cell_project_free(a);
	cell_project_free(b);
	cell_project_free(again);
	free(da);
	free(db);
}

Test(project, user_config_may_be_a_symlink_and_may_be_missing)
{
	struct cell_project *p = NULL;
	struct cell_config *c = NULL;
	struct cell_diag d = {0};
	struct cell_config_env env = {"/home/u", "u", NULL};
	char *real = th_write(tmp, "dotfiles/cell.json", "{\"network\": {\"mode\": \"none\"}}");
	char *link = th_join(tmp, "config.json"), *missing = th_join(tmp, "nope.json");

	cr_assert(eq(int, symlink(real, link), 0));
	free(th_write(tmp, "p/.cell.json", "{\"name\": \"p\"}"));
	free(real);
	real = th_join(tmp, "p");
	cr_assert(eq(int, cell_project_find(real, &p, NULL), 0));
	cr_assert(eq(int, cell_project_load_config(p, link, &env, &c, &d), 0));
	cr_assert(eq(int, c->network.mode, CELL_NET_NONE));
	cell_config_free(c);
	cr_assert(eq(int, cell_project_load_config(p, missing, &env, &c, &d), 0));
	cr_assert(eq(int, c->network.mode, CELL_NET_PROXY));
	cell_config_free(c);
	cell_project_free(p);
	free(real);
	free(link);
	free(missing);
}

/* bwrap_args: the user's config may give them; a project's only with hardening.raw_bwrap_args
 * (in either file, before or after the arguments), and the error points at the project's. */
Test(project, a_projects_raw_bwrap_args_need_the_hardening_flag)
{
	static const struct {
		const char *user, *project;
		int want;
	} cases[] = {
		{"{\"bwrap_args\": [\"--setenv\", \"A\", \"1\"]}", "{}", 0},
		{"{}", "{\"bwrap_args\": [\"--setenv\", \"A\", \"1\"]}", -EINVAL},
		{"{\"bwrap_args\": [\"--setenv\", \"A\", \"1\"]}",
		 "{\"name\": \"p\",\n \"bwrap_args\": [\"--setenv\", \"B\", \"2\"]}", -EINVAL},
		{"{}",
		 "{\"bwrap_args\": [\"--setenv\", \"A\", \"1\"], \"hardening\": "
		 "{\"raw_bwrap_args\": true}}",
		 0},
		{"{\"hardening\": {\"raw_bwrap_args\": true}}",
		 "{\"bwrap_args\": [\"--setenv\", \"A\", \"1\"]}", 0},
	};
	struct cell_config_env env = {"/home/u", "u", NULL};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *user = th_write(tmp, "config.json", cases[i].user);
		char *conf = th_write(tmp, "p/.cell.json", cases[i].project),
		     *root = th_join(tmp, "p");
		struct cell_project *p = NULL;
		struct cell_config *c = NULL;
		struct cell_diag d = {0};

		cr_assert(eq(int, cell_project_find(root, &p, NULL), 0));
		cr_assert(eq(int, cell_project_load_config(p, user, &env, &c, &d), cases[i].want),
			  "case %zu: %s", i, d.message ? d.message : "");
		if (cases[i].want) {
			cr_assert(eq(str, d.file, conf));
			cr_assert(eq(str, d.json_path, (char *)"bwrap_args"));
			cr_assert(eq(u32, d.line, i == 2 ? 2 : 1), "case %zu", i);
			cr_assert(not(eq(ptr, strstr(d.message, "raw_bwrap_args"), NULL)));
		} else {
			cr_assert(eq(sz, cell_strv_length(c->bwrap_args), 3));
		}
		cell_diag_clear(&d);
		cell_config_free(c);
		cell_project_free(p);
		free(user);
		free(conf);
		free(root);
	}
}

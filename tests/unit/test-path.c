/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bwrap.h"
#include "expand.h"
#include "path.h"
#include "quote.h"
#include "strv.h"

/* Parameters are copied into worker processes, which may be new images: no pointers in them. */
struct norm {
	char in[32], out[32];
};

ParameterizedTestParameters(path, normalize)
{
	static struct norm cases[] = {
		{"/", "/"},
		{"//", "/"},
		{"/a/b", "/a/b"},
		{"/a//b/", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/../..", "/"},
		{"/a/b/..", "/a"},
		{"/a/b/../..", "/"},
		{"/a/.../b", "/a/.../b"},
		{"/a/..b/c", "/a/..b/c"},
		{"/.hidden/./x/", "/.hidden/x"},
	};
	return cr_make_param_array(struct norm, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct norm *c, path, normalize)
{
	char *s = strdup(c->in);

	cr_assert(eq(int, cell_path_normalize(s), 0));
	cr_assert(eq(str, s, (char *)c->out), "for %s", c->in);
	free(s);
}

Test(path, relative_is_refused)
{
	char s[] = "a/b";

	cr_assert(eq(int, cell_path_normalize(s), -EINVAL));
}

Test(path, join_below_basename)
{
	char *j = cell_path_join("/a/", "/b");

	cr_assert(eq(str, j, "/a/b"));
	free(j);
	cr_assert(cell_path_is_below("/a/b", "/a"));
	cr_assert(cell_path_is_below("/a", "/a"));
	cr_assert(not(cell_path_is_below("/ab", "/a")));
	cr_assert(cell_path_is_below("/x", "/"));
	cr_assert(eq(str, (char *)cell_path_basename("/a/b"), "b"));
	cr_assert(eq(str, (char *)cell_path_basename("/"), "/"));
}

Test(path, dirname_cuts_in_place)
{
	char a[] = "/a/b", b[] = "/a", c[] = "a", d[] = "/";

	cell_path_dirname(a);
	cell_path_dirname(b);
	cell_path_dirname(c);
	cell_path_dirname(d);
	cr_assert(eq(str, a, "/a"));
	cr_assert(eq(str, b, "/"));
	cr_assert(eq(str, c, "."));
	cr_assert(eq(str, d, "/"));
}

Test(expand, variables_and_errors)
{
	struct cell_config_env env = {"/home/u", "u", NULL};
	char *out = NULL, *why = NULL;

	cr_assert(eq(int, cell_expand_path("$HOME/${USER}/x", "/p", &env, &out, &why), 0));
	cr_assert(eq(str, out, "/home/u/u/x"));
	free(out);
	cr_assert(eq(int, cell_expand_path("./a/../../b", "/p/q", &env, &out, &why), 0));
	cr_assert(eq(str, out, "/p/b"));
	free(out);
	/* "./" only expands at the start: elsewhere it is an ordinary path element */
	cr_assert(eq(int, cell_expand_path("/x/./y", "/p", &env, &out, &why), 0));
	cr_assert(eq(str, out, "/x/y"));
	free(out);

	cr_assert(eq(int, cell_expand_path("$XDG_RUNTIME_DIR/x", "/p", &env, &out, &why), -ENXIO));
	cr_assert(eq(str, why, "$XDG_RUNTIME_DIR is not set"));
	free(why);
	cr_assert(eq(int, cell_expand_path("/a/$", "/p", &env, &out, &why), -EINVAL));
	cr_assert(eq(
		str, why,
		"a '$' with no variable name (only ~, $HOME, $USER, $XDG_RUNTIME_DIR and a leading ./ expand)"));
	free(why);
	cr_assert(eq(int, cell_expand_path("${HOME", "/p", &env, &out, &why), -EINVAL));
	cr_assert(eq(str, why, "\"${\" has no closing '}'"));
	free(why);
	env.home = NULL;
	cr_assert(eq(int, cell_expand_path("~/x", "/p", &env, &out, &why), -ENXIO));
	cr_assert(eq(str, why, "~ needs $HOME, which is not set"));
	free(why);
}

Test(quote, shell_words)
{
	static const char *const cases[][2] = {
		{"plain/path-1.2", "plain/path-1.2"},
		{"with space", "'with space'"},
		{"it's", "'it'\\''s'"},
		{"", "''"},
		{"-rf", "-rf"},
		{"=x", "'=x'"},
		{"a\nb", "'a\nb'"},
		{"$HOME", "'$HOME'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *q = cell_shell_quote(cases[i][0]);

		cr_assert(eq(str, q, (char *)cases[i][1]));
		free(q);
	}
}

Test(strv, extend_merge_contains)
{
	char **l = NULL;
	char *more[] = {(char *)"b", (char *)"c", NULL};

	cr_assert(eq(sz, cell_strv_length(l), 0));
	cr_assert(eq(int, cell_strv_extend(&l, "a"), 0));
	cr_assert(eq(int, cell_strv_extend(&l, "b"), 0));
	cr_assert(eq(int, cell_strv_merge_unique(&l, more), 0));
	cr_assert(eq(sz, cell_strv_length(l), 3));
	cr_assert(eq(str, l[2], "c"));
	cr_assert(cell_strv_contains(l, "a"));
	cr_assert(not(cell_strv_contains(l, "d")));
	cr_assert(eq(int, cell_strv_extend_many(&l, "x", "y", (char *)NULL), 0));
	cr_assert(eq(sz, cell_strv_length(l), 5));
	cr_assert(eq(str, l[4], "y"));
	cell_strv_free(l);
}

Test(bwrap, versions_compare_by_number)
{
	cr_assert(gt(int, cell_version_compare("0.10.0", "0.8.0"), 0));
	cr_assert(lt(int, cell_version_compare("0.4.1", CELL_BWRAP_MIN_VERSION), 0));
	cr_assert(eq(int, cell_version_compare("0.8.0", "0.8.0"), 0));
	cr_assert(gt(int, cell_version_compare("0.8.0.1", "0.8.0"), 0));
	cr_assert(lt(int, cell_version_compare("0.8", "0.8.1"), 0));
}

/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "learn.h"
#include "psl.h"
#include "strv.h"

static struct cell_psl *psl;

static void setup(void)
{
	/* Debian's list (publicsuffix): the real one */
	if (cell_psl_load(CELL_PSL_PATH, &psl) < 0)
		th_skip("the public suffix list is not installed (make deps: publicsuffix)");
}

static void teardown(void)
{
	cell_psl_free(psl);
	psl = NULL;
}

TestSuite(learn, .init = setup, .fini = teardown);

/* The proposal for needs, joined with spaces. */
static char *propose(const struct cell_learn_need *needs, size_t n, char *const *allow,
		     size_t n_allow)
{
	char **rules = NULL, *out = calloc(1, 4096);

	cr_assert(eq(int, cell_learn_propose(needs, n, allow, n_allow, psl, &rules), 0));
	for (size_t i = 0; rules[i]; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, rules[i]);
	}
	cell_strv_free(rules);
	return out;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(learn, a_preset_covers_its_registrys_hosts)
{
	const struct cell_learn_need needs[] = {
		{"registry.npmjs.org", 443}, {"registry.yarnpkg.com", 443}, {"api.acme.test", 443}};
	char *got = propose(needs, N(needs), NULL, 0);

	cr_assert(eq(str, got, "@npm api.acme.test"));
	free(got);
	/* a preset already allowed is not proposed again; its hosts need nothing */
	got = propose(needs, N(needs), (char *[]){(char *)"@npm"}, 1);
	cr_assert(eq(str, got, "api.acme.test"));
	free(got);
	/* a preset's host at another port is no preset's */
	got = propose((struct cell_learn_need[]){{"registry.npmjs.org", 8443}}, 1, NULL, 0);
	cr_assert(eq(str, got, "registry.npmjs.org:8443"));
	free(got);
}

Test(learn, three_names_below_a_domain_make_a_wildcard_two_do_not)
{
	const struct cell_learn_need two[] = {
		{"a.cdn.test", 443}, {"b.cdn.test", 80}, {"a.cdn.test", 443}};
	const struct cell_learn_need three[] = {{"a.cdn.test", 443},
						{"b.cdn.test", 80},
						{"c.cdn.test", 443},
						{"cdn.test", 443},
						{"x.y.cdn.test", 443}};
	char *got = propose(two, N(two), NULL, 0);

	cr_assert(eq(str, got, "a.cdn.test b.cdn.test"));
	free(got);
	/* the apex is no subdomain of itself ("*." does not match it); a deeper name is below
	 * another domain */
	got = propose(three, N(three), NULL, 0);
	cr_assert(eq(str, got, "*.cdn.test cdn.test x.y.cdn.test"));
	free(got);
}

Test(learn, ports_and_addresses_stay_apart)
{
	const struct cell_learn_need needs[] = {{"a.pkg.test", 8080}, {"b.pkg.test", 8080},
						{"c.pkg.test", 9090}, {"d.pkg.test", 8080},
						{"10.1.2.3", 5432},   {"fd00::1", 443},
						{"1.2.3.4", 443},     {"a.co", 443},
						{"b.co", 443},	      {"c.co", 443}};
	char *got = propose(needs, N(needs), NULL, 0);

	/* (no "*.co": a domain of one label is no one's) */
	cr_assert(eq(str, got,
		     "*.pkg.test:8080 1.2.3.4 10.1.2.3:5432 [fd00::1] a.co b.co c.co "
		     "c.pkg.test:9090"));
	free(got);
}

Test(learn, nothing_needed_proposes_nothing)
{
	char *got = propose(NULL, 0, NULL, 0);

	cr_assert(eq(str, got, ""));
	free(got);
}

/* No "*." of a domain anyone may register under: everyone's names would be allowed. */
Test(learn, no_wildcard_of_a_public_suffix)
{
	const struct cell_learn_need needs[] = {{"a.co.uk", 443},     {"b.co.uk", 443},
						{"c.co.uk", 443},     {"x.github.io", 443},
						{"y.github.io", 443}, {"z.github.io", 443}};
	char **rules = NULL;
	char *got = propose(needs, N(needs), NULL, 0);

	cr_assert(eq(str, got, "a.co.uk b.co.uk c.co.uk x.github.io y.github.io z.github.io"));
	free(got);
	cr_assert(cell_psl_is_suffix(psl, "com"));
	cr_assert(not(cell_psl_is_suffix(psl, "example.com")));
	/* without the list, no wildcard at all */
	cr_assert(eq(int,
		     cell_learn_propose((struct cell_learn_need[]){{"a.x.test", 443},
								   {"b.x.test", 443},
								   {"c.x.test", 443}},
					3, NULL, 0, NULL, &rules),
		     0));
	cr_assert(eq(str, rules[0], "a.x.test"));
	cell_strv_free(rules);
}

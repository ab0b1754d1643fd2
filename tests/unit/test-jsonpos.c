/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "diag.h"
#include "jsonpos.h"

static const char doc[] = "{\n"
			  "  \"a\": [1, {\"x\": \"}]\\\"\"}, [2, 3]],\n"
			  "  \"b\": {\"c\": true, \"c\": -1.5e3},\n"
			  "  \"d\": \"z\"\n"
			  "}\n";

static long at(const size_t *ord, size_t depth, bool key)
{
	return cell_json_locate(doc, strlen(doc), ord, depth, key);
}

Test(jsonpos, finds_values_and_keys_by_ordinal)
{
	size_t a[] = {0}, a1x[] = {0, 1, 0}, a22[] = {0, 2, 1}, b1[] = {1, 1}, d[] = {2};

	cr_assert(eq(long, at(NULL, 0, false), 0));
	cr_assert(eq(long, at(a, 1, true), (long)(strstr(doc, "\"a\"") - doc)));
	cr_assert(eq(long, at(a, 1, false), (long)(strstr(doc, "[1,") - doc)));
	/* a string holding brackets and an escaped quote is skipped whole */
	cr_assert(eq(long, at(a1x, 3, false), (long)(strstr(doc, "\"}]") - doc)));
	cr_assert(eq(long, at(a22, 3, false), (long)(strstr(doc, "3]]") - doc)));
	/* the second of two equal keys is found by its ordinal */
	cr_assert(eq(long, at(b1, 2, true), (long)(strstr(doc, "\"c\": -") - doc)));
	cr_assert(eq(long, at(d, 1, false), (long)(strstr(doc, "\"z\"") - doc)));
}

Test(jsonpos, wrong_shape_is_minus_one)
{
	size_t past[] = {5}, deep[] = {2, 0};

	cr_assert(eq(long, at(past, 1, false), -1));
	cr_assert(eq(long, at(deep, 2, false), -1));
}

Test(diag, locate_and_format)
{
	struct cell_diag d = {0};
	const char text[] = "{\n\t\"é\": x\n}";
	char *s;

	cell_diag_set(&d, -22, "/f.json", "a.b", "bad %s", "thing");
	cell_diag_locate(&d, text, strlen(text), (size_t)(strchr(text, 'x') - text));
	cr_assert(eq(u32, d.line, 2));
	cr_assert(eq(u32, d.column, 7));
	cr_assert(eq(str, d.excerpt, "\t\"é\": x"));
	s = cell_diag_format(&d);
	cr_assert(eq(str, s, "/f.json:2:7: a.b: bad thing"));
	free(s);
	cell_diag_set(&d, -22, NULL, NULL, "plain");
	s = cell_diag_format(&d);
	cr_assert(eq(str, s, "plain"));
	free(s);
	cell_diag_clear(&d);
}

/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"

static const char *value(const struct cell_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].value;
	return NULL;
}

Test(dotenv, the_forms_people_write)
{
	const char text[] = "# settings\n"
			    "\n"
			    "PLAIN=hello world  \n"
			    "export EXPORTED=1\n"
			    "  INDENTED=yes\n"
			    "COMMENTED=value # a comment\n"
			    "HASH=a#b\n"
			    "SINGLE='lit $HOME \\n # not a comment'\n"
			    "DOUBLE=\"a\\nb \\\"q\\\" \\\\ \\$HOME $HOME\" # after\n"
			    "EMPTY=\n"
			    "QUOTED_EMPTY=\"\"\n"
			    "APOSTROPHE=it's\n"
			    "URL=postgres://u:p@localhost:5432/db?x=1\n"
			    "CRLF=dos\r\n"
			    "PLAIN=again\n";
	struct cell_kv *kv = NULL;
	struct cell_diag d = {0};
	size_t n = 0;

	cr_assert(eq(int, cell_dotenv_parse(".env", text, strlen(text), &kv, &n, &d), 0), "%s",
		  d.message);
	cr_assert(eq(sz, n, 12));
	cr_assert(eq(str, (char *)value(kv, n, "PLAIN"), (char *)"again"));
	cr_assert(eq(str, (char *)value(kv, n, "EXPORTED"), (char *)"1"));
	cr_assert(eq(str, (char *)value(kv, n, "INDENTED"), (char *)"yes"));
	cr_assert(eq(str, (char *)value(kv, n, "COMMENTED"), (char *)"value"));
	cr_assert(eq(str, (char *)value(kv, n, "HASH"), (char *)"a#b"));
	cr_assert(eq(str, (char *)value(kv, n, "SINGLE"), (char *)"lit $HOME \\n # not a comment"));
	cr_assert(eq(str, (char *)value(kv, n, "DOUBLE"), (char *)"a\nb \"q\" \\ $HOME $HOME"));
	cr_assert(eq(str, (char *)value(kv, n, "EMPTY"), (char *)""));
	cr_assert(eq(str, (char *)value(kv, n, "QUOTED_EMPTY"), (char *)""));
	cr_assert(eq(str, (char *)value(kv, n, "APOSTROPHE"), (char *)"it's"));
	cr_assert(eq(str, (char *)value(kv, n, "URL"),
		     (char *)"postgres://u:p@localhost:5432/db?x=1"));
	cr_assert(eq(str, (char *)value(kv, n, "CRLF"), (char *)"dos"));
	cell_dotenv_free(kv, n);
}

/* Each bad line is named by file, line and column, with what was expected. */
Test(dotenv, bad_lines_name_file_line_and_what_was_expected)
{
	static const struct {
		const char *text;
		unsigned line, column;
		const char *says;
	} cases[] = {
		{"A=1\nnot a line\n", 2, 4, "expected NAME=value"},
		{"A=1\n\n1X=2\n", 3, 1, "expected NAME=value"},
		{"=value\n", 1, 1, "expected NAME=value"},
		{"A=1\nB=\"open\nC=3\n", 2, 8, "B: expected a closing '\"' on the same line"},
		{"S='open\n", 1, 8, "S: expected a closing ''' on the same line"},
		{"Q=\"x\" y\n", 1, 7, "Q: expected nothing after the closing quote but a comment"},
		{"E=\"a\\qb\"\n", 1, 5, "E: expected an escape"},
		{"export\n", 1, 7, "expected NAME=value"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cell_kv *kv = NULL;
		struct cell_diag d = {0};
		size_t n = 0;

		cr_assert(eq(int,
			     cell_dotenv_parse("proj/.env", cases[i].text, strlen(cases[i].text),
					       &kv, &n, &d),
			     -EINVAL),
			  "case %zu", i);
		cr_assert(eq(str, d.file, (char *)"proj/.env"));
		cr_assert(eq(u32, d.line, cases[i].line), "case %zu: line %u", i, d.line);
		cr_assert(eq(u32, d.column, cases[i].column), "case %zu: column %u", i, d.column);
		cr_assert(not(eq(ptr, strstr(d.message, cases[i].says), NULL)), "case %zu: %s", i,
			  d.message);
		cr_assert(eq(ptr, kv, NULL));
		cell_diag_clear(&d);
	}
}

Test(dotenv, a_nul_byte_is_not_text)
{
	const char text[] = "A=1\0B=2\n";
	struct cell_kv *kv = NULL;
	struct cell_diag d = {0};
	size_t n = 0;

	cr_assert(eq(int, cell_dotenv_parse(".env", text, sizeof(text) - 1, &kv, &n, &d), -EINVAL));
	cell_diag_clear(&d);
}

Test(dotenv, the_loader_cells_own_and_the_proxys_variables_are_refused)
{
	const char *refused[] = {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",	 "CELL_ID",
				 "CELL_NAME",  "HTTP_PROXY",	  "https_proxy", "NO_PROXY"};

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_assert(not(eq(ptr, (void *)cell_dotenv_refused(refused[i]), NULL)), "%s",
			  refused[i]);
	cr_assert(eq(ptr, (void *)cell_dotenv_refused("DATABASE_URL"), NULL));
	cr_assert(eq(ptr, (void *)cell_dotenv_refused("PATH"), NULL));
	cr_assert(eq(ptr, (void *)cell_dotenv_refused("LD_BIND_NOW"), NULL));
}

/* A cell may write the file: it brings at most CELL_DOTENV_VARS_MAX variables. */
Test(dotenv, too_many_variables_are_refused)
{
	size_t size = (CELL_DOTENV_VARS_MAX + 1) * 16;
	char *text = malloc(size), *p = text;
	struct cell_kv *kv = NULL;
	struct cell_diag d = {0};
	size_t n = 0;

	for (int i = 0; i <= CELL_DOTENV_VARS_MAX; i++)
		p += sprintf(p, "V%d=1\n", i);
	cr_assert(
		eq(int, cell_dotenv_parse(".env", text, (size_t)(p - text), &kv, &n, &d), -E2BIG));
	cr_assert(eq(u32, d.line, CELL_DOTENV_VARS_MAX + 1));
	cr_assert(not(eq(ptr, strstr(d.message, "more than 4096 variables"), NULL)), "%s",
		  d.message);
	cell_diag_clear(&d);
	/* the same number once each is fine */
	p = text;
	for (int i = 0; i < CELL_DOTENV_VARS_MAX; i++)
		p += sprintf(p, "V%d=1\n", i);
	cr_assert(eq(int, cell_dotenv_parse(".env", text, (size_t)(p - text), &kv, &n, &d), 0));
	cr_assert(eq(sz, n, CELL_DOTENV_VARS_MAX));
	cell_dotenv_free(kv, n);
	free(text);
}

/* What no dotenv file may set is refused at its line, before anything is applied. */
Test(dotenv, a_refused_name_is_named_at_its_line)
{
	const char text[] = "A=1\n  export LD_PRELOAD=/tmp/evil.so\n";
	struct cell_kv *kv = NULL;
	struct cell_diag d = {0};
	size_t n = 0;

	cr_assert(eq(int, cell_dotenv_parse(".env", text, sizeof(text) - 1, &kv, &n, &d), -EPERM));
	cr_assert(eq(u32, d.line, 2));
	cr_assert(eq(u32, d.column, 10));
	cr_assert(
		not(eq(ptr, strstr(d.message, "LD_PRELOAD may not be set by a dotenv file"), NULL)),
		"%s", d.message);
	cr_assert(eq(ptr, kv, NULL));
	cell_diag_clear(&d);
}

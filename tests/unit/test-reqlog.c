/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "reqlog.h"

/* A request whose path is all bytes that each take six in JSON is logged with its path cut, not
 * dropped (cell learn --permissive must see every request it let through). */
Test(reqlog, a_line_too_long_is_cut_not_dropped)
{
	char *tmp = th_mkdtemp(), *path = th_join(tmp, "proxy.log"), *text, rough[701];
	struct cell_reqlog *l;
	struct cell_reqlog_entry e = {.kind = "request",
				      .method = "GET",
				      .path = rough,
				      .host = "evil.test",
				      .port = 80,
				      .decision = "learned",
				      .learn = "permissive"};

	memset(rough, 0xff, 700);
	rough[0] = '/';
	rough[700] = '\0';
	cr_assert(eq(int, cell_reqlog_open(path, 1 << 20, &l), 0));
	cr_assert(eq(int, cell_reqlog_write(l, &e), 0));
	cell_reqlog_free(l);
	text = th_read(path);
	cr_assert(not(eq(ptr, strstr(text, "\"host\":\"evil.test\""), NULL)), "%s", text);
	cr_assert(not(eq(ptr, strstr(text, "\"decision\":\"learned\""), NULL)), "%s", text);
	cr_assert(lt(sz, strlen(text), (size_t)4096));
	free(text);
	th_rm_rf(tmp);
	free(tmp);
	free(path);
}

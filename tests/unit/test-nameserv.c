/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "nameserv.h"

static int ask(struct cell_fakeaddr **t, const char *path, char *body)
{
	return cell_nameserv_answer(t, path, strlen(path), body, 512);
}

Test(nameserv, resolves_names_and_maps_addresses_back)
{
	struct cell_fakeaddr *t = NULL;
	char body[512], host[256];

	/* nothing handed out yet: no table, no name */
	cr_assert(eq(int, ask(&t, "/cell/name/198.18.0.1", body), 404));
	cr_assert(eq(ptr, t, NULL));
	cr_assert(eq(int, ask(&t, "/cell/resolve/Example.COM.", body), 200));
	cr_assert(eq(str, body, "198.18.0.1 2001:2::1\n"));
	cr_assert(eq(int, ask(&t, "/cell/name/::ffff:198.18.0.1", body), 200));
	cr_assert(eq(str, body, "example.com\n"));
	/* a CONNECT to it names the host; a real address stays as it is */
	strcpy(host, "2001:2::1");
	cr_assert(eq(int, cell_nameserv_unfake(t, host, sizeof(host)), 1));
	cr_assert(eq(str, host, "example.com"));
	strcpy(host, "192.0.2.7");
	cr_assert(eq(int, cell_nameserv_unfake(t, host, sizeof(host)), 0));
	cr_assert(eq(str, host, "192.0.2.7"));
	strcpy(host, "198.18.0.2");
	cr_assert(eq(int, cell_nameserv_unfake(t, host, sizeof(host)), -ENOENT));
	cell_fakeaddr_free(t);
}

Test(nameserv, bad_requests_say_why)
{
	struct cell_fakeaddr *t = NULL;
	char body[512];

	cr_assert(eq(int, ask(&t, "/cell/resolve/a b", body), 400));
	cr_assert(eq(str, body, "cell: 'a b' is not a host name\n"));
	cr_assert(eq(int, ask(&t, "/cell/resolve/127.0.0.1", body), 400));
	cr_assert(eq(int, ask(&t, "/cell/resolve/", body), 404));
	cr_assert(eq(int, ask(&t, "/cell/name/example.com", body), 400));
	cr_assert(eq(str, body, "cell: 'example.com' is not a fake address\n"));
	cr_assert(eq(int, ask(&t, "/cell/stats", body), 404));
	cr_assert(eq(str, body, "cell: the proxy has no /cell/stats\n"));
	cell_fakeaddr_free(t);
}

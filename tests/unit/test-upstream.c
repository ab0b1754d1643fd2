/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>

#include "upstream.h"

Test(upstream, parses_what_curl_takes_and_refuses_the_rest)
{
	struct cell_upstream u;
	const char *why = NULL;

	cr_assert(eq(int, cell_upstream_parse("http://proxy.corp.example:8080", &u, &why), 0));
	cr_assert(eq(str, u.host, "proxy.corp.example"));
	cr_assert(eq(u16, u.port, 8080));
	cr_assert(eq(int, cell_upstream_parse("HTTP://10.0.0.1:3128/", &u, &why), 0));
	cr_assert(eq(str, u.host, "10.0.0.1"));
	cr_assert(eq(int, cell_upstream_parse("proxy:8080", &u, &why), 0));
	cr_assert(eq(u16, u.port, 8080));
	cr_assert(eq(int, cell_upstream_parse("http://proxy", &u, &why), 0));
	cr_assert(eq(u16, u.port, 3128));
	cr_assert(eq(int, cell_upstream_parse("http://[fd00::1]:8080", &u, &why), 0));
	cr_assert(eq(str, u.host, "fd00::1"));
	cr_assert(u.ipv6);
	cr_assert(eq(int, cell_upstream_parse("https://proxy:443", &u, &why), -EINVAL));
	cr_assert(eq(str, (char *)why, "only http:// proxies are supported"));
	cr_assert(eq(int, cell_upstream_parse("http://me:secret@proxy:8080", &u, &why), -EINVAL));
	cr_assert(eq(str, (char *)why, "credentials in the proxy's URL are not supported"));
	cr_assert(eq(int, cell_upstream_parse("http://proxy:8080/path", &u, &why), -EINVAL));
	cr_assert(eq(int, cell_upstream_parse("http://", &u, &why), -EINVAL));
	cr_assert(eq(int, cell_upstream_parse("http://proxy:99999", &u, &why), -EINVAL));
}

Test(upstream, no_proxy_matches_names_below_and_addresses)
{
	struct cell_upstream u = {0};

	cr_assert(eq(int,
		     cell_upstream_no_proxy("corp.example, .internal,*.lan 10.0.0.5, "
					    "[fd00::5]:80,::1,host:8080",
					    &u.no_proxy),
		     0));
	cr_assert(cell_upstream_bypass(&u, "corp.example"));
	cr_assert(cell_upstream_bypass(&u, "git.corp.example"));
	cr_assert(cell_upstream_bypass(&u, "GIT.Corp.Example"));
	cr_assert(not(cell_upstream_bypass(&u, "evilcorp.example")));
	cr_assert(cell_upstream_bypass(&u, "a.internal"));
	cr_assert(cell_upstream_bypass(&u, "internal"));
	cr_assert(cell_upstream_bypass(&u, "printer.lan"));
	cr_assert(cell_upstream_bypass(&u, "10.0.0.5"));
	cr_assert(not(cell_upstream_bypass(&u, "110.0.0.5")));
	cr_assert(cell_upstream_bypass(&u, "fd00::5"));
	cr_assert(cell_upstream_bypass(&u, "::1"));
	cr_assert(cell_upstream_bypass(&u, "host"));
	cr_assert(not(cell_upstream_bypass(&u, "registry.npmjs.org")));
	cell_upstream_done(&u);
	cr_assert(eq(int, cell_upstream_no_proxy("*", &u.no_proxy), 0));
	cr_assert(cell_upstream_bypass(&u, "anything.example"));
	cell_upstream_done(&u);
	cr_assert(eq(int, cell_upstream_no_proxy(NULL, &u.no_proxy), 0));
	cr_assert(not(cell_upstream_bypass(&u, "corp.example")));
	cell_upstream_done(&u);
}

/* network.upstream_no_proxy's entries read as NO_PROXY's do. */
Test(upstream, the_configs_entries_are_read_as_no_proxys)
{
	struct cell_upstream u = {0};
	char *entries[] = {(char *)".corp.example", (char *)"*.lan", (char *)"host.example.",
			   (char *)"", NULL};

	cr_assert(eq(int, cell_upstream_no_proxy_list(entries, &u.no_proxy), 0));
	cr_assert(cell_upstream_bypass(&u, "git.corp.example"));
	cr_assert(cell_upstream_bypass(&u, "printer.lan"));
	cr_assert(cell_upstream_bypass(&u, "host.example"));
	cr_assert(not(cell_upstream_bypass(&u, "example")));
	cell_upstream_done(&u);
}

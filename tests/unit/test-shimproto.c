/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "shimproto.h"

Test(shimproto, settings_round_trip)
{
	char *env[] = {(char *)"HTTP_PROXY=http://127.0.0.1:4000",
		       (char *)"LD_PRELOAD=/run/cell/libcellshim.so", NULL};
	uint16_t local[] = {5432, 6379};
	struct cell_shim_conf c;
	char buf[1024];

	cr_assert(eq(int, cell_shim_conf_format(4000, local, 2, env, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf,
		     "proxy 4000\nlocal 5432\nlocal 6379\nenv HTTP_PROXY=http://127.0.0.1:4000\n"
		     "env LD_PRELOAD=/run/cell/libcellshim.so\n"));
	cr_assert(eq(int, cell_shim_conf_parse(buf, strlen(buf), &c), 0));
	cr_assert(eq(u16, c.proxy_port, 4000));
	cr_assert(eq(sz, c.n_local_ports, 2));
	cr_assert(eq(u16, c.local_ports[1], 6379));
	cr_assert(eq(sz, c.n_env, 2));
	cr_assert(eq(str, (char *)c.env[0], "HTTP_PROXY=http://127.0.0.1:4000"));
}

Test(shimproto, bad_settings_are_refused)
{
	const char *bad[] = {"",
			     "proxy 0\n",
			     "proxy 70000\n",
			     "proxy 80x\n",
			     "proxy 80\nlocal\n",
			     "proxy 80\nenv X\n",
			     "proxy 80\nenv =1\n",
			     "proxy 80\nwhat 1\n"};
	struct cell_shim_conf c;
	char *nl[] = {(char *)"A=b\nproxy 1", NULL};
	char buf[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(eq(int, cell_shim_conf_parse(bad[i], strlen(bad[i]), &c), -EINVAL), "%s",
			  bad[i]);
	/* a value with a newline would be a line of its own */
	cr_assert(eq(int, cell_shim_conf_format(80, NULL, 0, nl, buf, sizeof(buf)), -EINVAL));
	cr_assert(eq(int, cell_shim_conf_format(80, NULL, 0, NULL, buf, 5), -ENOSPC));
}

Test(shimproto, connect_requests_bracket_ipv6)
{
	char buf[256];

	cr_assert(
		gt(int, cell_shim_connect_request("198.18.0.1", 443, false, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf, "CONNECT 198.18.0.1:443 HTTP/1.1\r\nHost: 198.18.0.1:443\r\n\r\n"));
	cr_assert(gt(int, cell_shim_connect_request("2001:2::1", 80, true, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf,
		     "CONNECT [2001:2::1]:80 HTTP/1.1\r\nHost: [2001:2::1]:80\r\n"
		     "Cell-Early: 1\r\n\r\n"));
	cr_assert(eq(int, cell_shim_connect_request("a.test", 80, false, buf, 10), -ENOSPC));
}

Test(shimproto, replies_are_parsed_without_reading_past_the_head)
{
	const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\nTLS bytes";
	const char no[] = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
			  "content-length: 12\r\nConnection: close\r\n\r\ncell: no\n...";
	size_t body;
	int status;

	cr_assert(eq(int, cell_shim_reply_parse(ok, sizeof(ok) - 1, &status, &body),
		     (int)(sizeof(ok) - 1 - strlen("TLS bytes"))));
	cr_assert(eq(int, status, 200));
	cr_assert(eq(sz, body, 0));
	cr_assert(gt(int, cell_shim_reply_parse(no, sizeof(no) - 1, &status, &body), 0));
	cr_assert(eq(int, status, 403));
	cr_assert(eq(sz, body, 12));
	/* every prefix of a head is incomplete, not bad */
	for (size_t n = 0; n < sizeof(ok) - 1 - strlen("TLS bytes"); n++)
		cr_assert(eq(int, cell_shim_reply_parse(ok, n, &status, &body), 0), "%zu", n);
	cr_assert(
		eq(int, cell_shim_reply_parse("SSH-2.0-x\r\n\r\n", 13, &status, &body), -EBADMSG));
	cr_assert(eq(int, cell_shim_reply_parse("HTTP/1.1 2x0 OK\r\n\r\n", 19, &status, &body),
		     -EBADMSG));
	/* a Content-Length that is no number, or says nothing, is no answer to trust */
	{
		const char *bad[] = {"HTTP/1.1 403 No\r\nContent-Length:\r\n\r\nxx",
				     "HTTP/1.1 403 No\r\nContent-Length: 12x\r\n\r\n",
				     "HTTP/1.1 403 No\r\nContent-Length: 99999999\r\n\r\n"};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			cr_assert(eq(int,
				     cell_shim_reply_parse(bad[i], strlen(bad[i]), &status, &body),
				     -EBADMSG),
				  "%s", bad[i]);
	}
}

Test(shimproto, missing_variables_are_added_and_present_ones_kept)
{
	const char text[] =
		"proxy 4000\nenv HTTP_PROXY=http://127.0.0.1:4000\nenv LD_PRELOAD=/x.so\n";
	char *envp[] = {(char *)"PATH=/bin", (char *)"HTTP_PROXY=http://elsewhere", NULL};
	char *full[] = {(char *)"HTTP_PROXY=1", (char *)"LD_PRELOAD=", NULL};
	struct cell_shim_conf c;
	char *out[8], preload[64];

	cr_assert(eq(int, cell_shim_conf_parse(text, sizeof(text) - 1, &c), 0));
	cr_assert(eq(int, cell_shim_env_fill(envp, &c, out, 8, preload, sizeof(preload)), 1));
	cr_assert(eq(str, out[0], "PATH=/bin"));
	cr_assert(eq(str, out[1], "HTTP_PROXY=http://elsewhere"));
	cr_assert(eq(str, out[2], "LD_PRELOAD=/x.so"));
	cr_assert(eq(ptr, out[3], NULL));
	/* env -i: an empty environment gets them all */
	cr_assert(eq(int, cell_shim_env_fill(NULL, &c, out, 8, preload, sizeof(preload)), 1));
	cr_assert(eq(str, out[0], "HTTP_PROXY=http://127.0.0.1:4000"));
	/* nothing missing, or no room: the caller's environment as it is */
	cr_assert(eq(int, cell_shim_env_fill(full, &c, out, 8, preload, sizeof(preload)), 0));
	cr_assert(eq(int, cell_shim_env_fill(envp, &c, out, 3, preload, sizeof(preload)), 0));
}

Test(shimproto, a_callers_own_ld_preload_gets_the_shim_added_after_its_entries)
{
	const char text[] = "proxy 4000\nenv HTTP_PROXY=h\nenv LD_PRELOAD=/run/cell/s.so\n";
	char *theirs[] = {(char *)"HTTP_PROXY=h", (char *)"LD_PRELOAD=/a.so /b.so", NULL};
	char *listed[] = {(char *)"HTTP_PROXY=h", (char *)"LD_PRELOAD=/a.so:/run/cell/s.so", NULL};
	char *prefix[] = {(char *)"HTTP_PROXY=h", (char *)"LD_PRELOAD=/run/cell/s.so.1", NULL};
	char *missing[] = {(char *)"LD_PRELOAD=/a.so", NULL};
	struct cell_shim_conf c;
	char *out[8], preload[64];

	cr_assert(eq(int, cell_shim_conf_parse(text, sizeof(text) - 1, &c), 0));
	cr_assert(eq(int, cell_shim_env_fill(theirs, &c, out, 8, preload, sizeof(preload)), 1));
	cr_assert(eq(str, out[0], "HTTP_PROXY=h"));
	cr_assert(eq(str, out[1], "LD_PRELOAD=/a.so /b.so:/run/cell/s.so"));
	cr_assert(eq(ptr, out[2], NULL));
	/* listed already (with a colon): as it is */
	cr_assert(eq(int, cell_shim_env_fill(listed, &c, out, 8, preload, sizeof(preload)), 0));
	/* a longer name that starts like it is another library */
	cr_assert(eq(int, cell_shim_env_fill(prefix, &c, out, 8, preload, sizeof(preload)), 1));
	cr_assert(eq(str, out[1], "LD_PRELOAD=/run/cell/s.so.1:/run/cell/s.so"));
	/* joined and a variable added at once */
	cr_assert(eq(int, cell_shim_env_fill(missing, &c, out, 8, preload, sizeof(preload)), 1));
	cr_assert(eq(str, out[0], "LD_PRELOAD=/a.so:/run/cell/s.so"));
	cr_assert(eq(str, out[1], "HTTP_PROXY=h"));
	cr_assert(eq(ptr, out[2], NULL));
	/* no room for the joined value: as it is */
	cr_assert(eq(int, cell_shim_env_fill(theirs, &c, out, 8, preload, 20), 0));
}

/* Every cell's shim keeps the same proxy variables, after what the cell adds of its own. */
Test(shimproto, a_proxy_cells_settings_name_its_variables)
{
	char *extra[] = {(char *)"LD_PRELOAD=/run/cell/libcellshim.so", NULL}, buf[4096];
	char *many[CELL_SHIM_ENV_MAX + 1] = {NULL};
	uint16_t local[] = {5173};
	struct cell_shim_conf c;

	cr_assert(eq(int, cell_shim_conf_for_proxy(4321, local, 1, extra, buf, sizeof(buf)), 0));
	cr_assert(eq(int, cell_shim_conf_parse(buf, strlen(buf), &c), 0));
	cr_assert(eq(u16, c.proxy_port, 4321));
	cr_assert(eq(sz, c.n_env, 1 + CELL_PROXY_VARS));
	cr_assert(eq(str, (char *)c.env[0], extra[0]));
	cr_assert(eq(str, (char *)c.env[1], (char *)"HTTP_PROXY=http://127.0.0.1:4321"));
	cr_assert(eq(str, (char *)c.env[CELL_PROXY_VARS], (char *)"no_proxy=" CELL_NO_PROXY));
	/* past what the shim parses, refused rather than cut */
	for (size_t i = 0; i < CELL_SHIM_ENV_MAX; i++)
		many[i] = extra[0];
	cr_assert(eq(int, cell_shim_conf_for_proxy(4321, NULL, 0, many, buf, sizeof(buf)), -E2BIG));
}

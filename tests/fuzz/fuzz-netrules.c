/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: allow rules as objects (methods, paths, inspect, inject) and the requests
 * they decide. The input is a user config (its first line), then "METHOD PATH" lines, each
 * decided for a.test:443 and b.test:80: a hostile rule or path never crashes the matcher, an
 * error always says why, and a refusal always says what the rule allows or what is wrong.
 */
#include <stdint.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "config.h"
#include "netpolicy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decide(const struct cell_netpolicy *p, const char *line)
{
	static const struct {
		const char *host;
		uint16_t port;
	} at[] = {{"a.test", 443}, {"b.test", 80}, {"x.a.test", 443}};
	char method[32], why[512];
	const char *path = strchr(line, ' ');
	size_t n = path ? (size_t)(path - line) : 0;

	if (!path || n == 0 || n >= sizeof(method))
		return;
	memcpy(method, line, n);
	method[n] = '\0';
	path++;
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		const char *rule = NULL;

		if (cell_netpolicy_check(p, at[i].host, at[i].port, &rule) != CELL_NET_ALLOWED)
			continue;
		(void)cell_netpolicy_host(p, at[i].host, at[i].port);
		(void)cell_netpolicy_injection(p, at[i].host, at[i].port);
		if (cell_netpolicy_request(p, at[i].host, at[i].port, method, path, strlen(path),
					   why, sizeof(why)) == CELL_NET_DENIED &&
		    !why[0])
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cell_config_env env = {"/home/u", "u", "/run/user/1000"};
	struct cell_config *c = NULL;
	struct cell_netpolicy *p = NULL;
	struct cell_diag d = {0};
	char *text = malloc(size + 1), *nl, *save = NULL;
	int r;

	if (!text || cell_config_new(&c) < 0)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	r = cell_config_apply_user(c, "/h/config.json", text, strlen(text), "/p", &env, &d);
	if (r >= 0)
		r = cell_config_finish(c, "/p", &env, &d);
	if (r < 0 && r != -ENOMEM && !d.message)
		abort();
	if (r >= 0 && cell_netpolicy_new(c, &p) >= 0 && nl)
		for (char *line = strtok_r(nl + 1, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			decide(p, line);
	cell_netpolicy_free(p);
	cell_diag_clear(&d);
	cell_config_free(c);
	free(text);
	return 0;
}

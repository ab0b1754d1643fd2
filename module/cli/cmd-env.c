/* SPDX-License-Identifier: MIT */
/*
 * cell env [--json] [--refresh] [DIR]: what a cell of the project gets in its environment, and
 * where each variable comes from (outside, the provider, a dotenv file, env.set, cell). The
 * provider runs if its cache is not fresh (--refresh: even if it is), so only for a trusted
 * config.
 */
#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "dotenv.h"
#include "host.h"
#include "instance.h"
#include "path.h"
#include "shimproto.h"

/* The last of kv's values for name, or NULL. */
static const char *kv_get(const struct cell_kv *kv, size_t n, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < n; i++)
		if (streq(kv[i].key, name))
			v = kv[i].value;
	return v;
}

/* Where name's value comes from, in the order they are applied (the last one wins). */
static char *origin(const char *name, const struct cell_config *c, const struct cell_project *p,
		    const struct cell_provider_env *penv)
{
	char *from = NULL;

	if (startswith(name, "CELL_") || streq(name, "LD_PRELOAD"))
		return strdup("cell");
	for (size_t i = 0; i < CELL_PROXY_VARS; i++)
		if (streq(name, cell_proxy_vars[i]))
			return strdup(
				streq(name, "NO_PROXY") || streq(name, "no_proxy")
					? "cell"
					: "cell: its proxy, whose port is chosen when the cell "
					  "opens");
	if (streq(name, "PATH"))
		return strdup(penv->path || c->n_scripts ? "outside, after the scripts' and the "
							   "provider's directories"
							 : "outside");
	if (kv_get(c->env.set, c->env.n_set, name))
		return strdup("env.set");
	for (size_t i = 0; c->env.files && c->env.files[i]; i++) {
		_cleanup_diag_ struct cell_diag d = {0};
		struct cell_kv *kv = NULL;
		size_t n = 0;

		if (cell_dotenv_load(p->root, c->env.files[i], &kv, &n, &d) < 0)
			continue;
		if (kv_get(kv, n, name)) {
			free(from);
			from = strdup(c->env.files[i]);
		}
		cell_dotenv_free(kv, n);
	}
	if (from)
		return from;
	if (kv_get(penv->vars, penv->n_vars, name) &&
	    asprintf(&from, "%s%s", cell_env_provider_to_string(penv->provider),
		     penv->cached ? " (cached)" : "") >= 0)
		return from;
	return strdup("outside");
}

static int print(const struct cell_plan *plan, const struct cell_config *c,
		 const struct cell_project *p, const struct cell_provider_env *penv,
		 const char *notice, bool json)
{
	cJSON *root = json ? cJSON_CreateObject() : NULL, *vars = NULL;
	char *text;

	if (json) {
		vars = cJSON_CreateObject();
		if (!root || !vars ||
		    !cJSON_AddStringToObject(root, "provider",
					     cell_env_provider_to_string(penv->provider)) ||
		    !cJSON_AddBoolToObject(root, "cached", penv->cached) ||
		    (notice && !cJSON_AddStringToObject(root, "notice", notice)) ||
		    (penv->shell_hook &&
		     !cJSON_AddStringToObject(root, "shell_hook", penv->shell_hook)) ||
		    !cJSON_AddItemToObject(root, "variables", vars)) {
			cJSON_Delete(vars);
			cJSON_Delete(root);
			return CELL_EXIT_FAILURE;
		}
	} else
		printf("provider: %s%s\n", cell_env_provider_to_string(penv->provider),
		       penv->cached ? " (from its cache)" : "");
	if (!json && notice) {
		fputs("notice: ", stdout);
		cli_put_safe(stdout, notice);
		putchar('\n');
	}
	for (size_t i = 0; plan->env && plan->env[i]; i++) {
		const char *eq = strchr(plan->env[i], '=');
		_cleanup_free_ char *name = eq ? strndup(plan->env[i], (size_t)(eq - plan->env[i]))
					       : NULL,
				    *from = name ? origin(name, c, p, penv) : NULL;
		cJSON *v;

		if (!from)
			continue;
		if (!json) {
			/* (values may come from files a cell wrote) */
			printf("%s=", name);
			cli_put_safe(stdout, eq + 1);
			printf("\t(%s)\n", from);
			continue;
		}
		v = cJSON_CreateObject();
		if (!v || !cJSON_AddStringToObject(v, "value", eq + 1) ||
		    !cJSON_AddStringToObject(v, "from", from) ||
		    !cJSON_AddItemToObject(vars, name, v)) {
			cJSON_Delete(v);
			cJSON_Delete(root);
			return CELL_EXIT_FAILURE;
		}
	}
	if (!json)
		return CELL_EXIT_OK;
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return CELL_EXIT_FAILURE;
	printf("%s\n", text);
	free(text);
	return CELL_EXIT_OK;
}

int cmd_env(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"json", no_argument, NULL, 'j'},
		{"refresh", no_argument, NULL, 'r'},
		{0},
	};
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_plan_ struct cell_plan *plan = NULL;
	_cleanup_host_ struct cell_host host = {0};
	_cleanup_diag_ struct cell_diag d = {0};
	_cleanup_free_ char *notice = NULL, *allow = NULL;
	struct cell_provider_env penv = {.provider = CELL_PROVIDER_NONE};
	bool json = false, refresh = false;
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		switch (opt) {
		case 'h':
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		case 'j':
			json = true;
			break;
		case 'r':
			refresh = true;
			break;
		default:
			return cli_bad_option(argv, opt);
		}
	}
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	r = cli_open_project(optind < argc ? argv[optind] : NULL, &p, &c);
	if (r >= 0)
		return r;
	/* the provider evaluates the project's files outside: only for a trusted config */
	if (!cli_trusted(p, NULL)) {
		allow = cli_allow_command(p);
		fprintf(stderr, "cell: %s is not allowed; run '%s' to trust it\n", p->config_path,
			allow ? allow : "cell allow");
		return CELL_EXIT_FAILURE;
	}
	r = cell_host_probe(&host, &d);
	if (r >= 0)
		r = cell_instance_environment(p, c, &host, refresh, &plan, &penv, &notice, &d);
	if (r < 0) {
		if (d.message)
			cli_print_diag(&d);
		else
			fprintf(stderr, "cell: %s\n", strerror(-r));
		cell_provider_env_done(&penv);
		return CELL_EXIT_FAILURE;
	}
	r = print(plan, c, p, &penv, notice, json);
	cell_provider_env_done(&penv);
	return r;
}

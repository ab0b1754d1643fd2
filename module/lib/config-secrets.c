/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config-secrets.h"
#include "expand.h"
#include "macro.h"
#include "strv.h"

/* The state of one pass over "secrets"; s first, as config.c's ctx. */
struct sctx {
	struct cell_schema s;
	struct cell_config *c;
	const char *root;
	const struct cell_config_env *env;
	struct cell_secret secret; /* the one being read */
};

static struct sctx *sctx_of(struct cell_schema *s)
{
	return (struct sctx *)((char *)s - offsetof(struct sctx, s));
}

static bool valid_secret_name(const char *n, size_t len)
{
	if (len == 0 || len > CELL_SECRET_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && n[i] != '_' && n[i] != '-' && n[i] != '.')
			return false;
	return true;
}

static void secret_done(struct cell_secret *s)
{
	free(s->name);
	cell_strv_free(s->command);
	free(s->where);
	*s = (struct cell_secret){0};
}

void cell_config_secrets_free(struct cell_secret *secrets, size_t n)
{
	for (size_t i = 0; i < n; i++)
		secret_done(&secrets[i]);
	free(secrets);
}

const struct cell_secret *cell_config_secret(const struct cell_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_secrets; i++)
		if (streq(c->secrets[i].name, name))
			return &c->secrets[i];
	return NULL;
}

static int oom(struct cell_schema *s)
{
	return cell_schema_fail(s, false, "out of memory");
}

/* A source given twice, or after another: one a secret. */
static int one_source(struct cell_schema *s)
{
	struct cell_secret *sec = &sctx_of(s)->secret;

	if (sec->command || sec->where)
		return cell_schema_fail(
			s, true, "a secret has one source: \"command\", \"file\" or \"env\"");
	return 0;
}

static int arg_one(struct cell_schema *s, const cJSON *v)
{
	int r = cell_schema_expect(s, v, cJSON_IsString, "a string");

	if (r < 0)
		return r;
	return cell_strv_extend(&sctx_of(s)->secret.command, v->valuestring) < 0 ? oom(s) : 0;
}

static int apply_command(struct cell_schema *s, const cJSON *v)
{
	struct cell_secret *sec = &sctx_of(s)->secret;
	int r = one_source(s);

	if (r >= 0)
		r = cell_schema_elements(
			s, v, "an array of strings (the command and its arguments)", arg_one);
	if (r >= 0 && !sec->command)
		r = cell_schema_fail(s, false, "the command is empty");
	if (r >= 0 && strchr(sec->command[0], '/') && sec->command[0][0] != '/')
		r = cell_schema_fail(s, false,
				     "\"%s\": a command is a name (found in /usr/local/bin, "
				     "/usr/bin or /bin) or an absolute path",
				     sec->command[0]);
	sec->source = CELL_SECRET_COMMAND;
	return r;
}

static int apply_file(struct cell_schema *s, const cJSON *v)
{
	struct sctx *x = sctx_of(s);
	_cleanup_free_ char *why = NULL;
	int r = one_source(s);

	if (r >= 0)
		r = cell_schema_expect(s, v, cJSON_IsString, "a path");
	if (r < 0)
		return r;
	r = cell_expand_path(v->valuestring, x->root, x->env, &x->secret.where, &why);
	if (r < 0)
		return cell_schema_fail(s, false, "\"%s\": %s", v->valuestring,
					why ? why : "cannot be expanded");
	x->secret.source = CELL_SECRET_FILE;
	return 0;
}

static int apply_env(struct cell_schema *s, const cJSON *v)
{
	struct cell_secret *sec = &sctx_of(s)->secret;
	int r = one_source(s);

	if (r >= 0)
		r = cell_schema_expect(s, v, cJSON_IsString, "a variable's name");
	if (r < 0)
		return r;
	if (!v->valuestring[0] || strchr(v->valuestring, '='))
		return cell_schema_fail(s, false, "\"%s\" is not a variable's name",
					v->valuestring);
	sec->where = strdup(v->valuestring);
	sec->source = CELL_SECRET_ENV;
	return sec->where ? 0 : oom(s);
}

static int secret_one(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"command", apply_command},
		{"file", apply_file},
		{"env", apply_env},
	};
	struct sctx *x = sctx_of(s);
	struct cell_secret *grown;
	int r;

	if (!valid_secret_name(v->string, strlen(v->string)))
		return cell_schema_fail(s, true,
					"a secret's name has 1 to 64 letters, digits, '.', '_' "
					"or '-'");
	secret_done(&x->secret);
	r = cell_schema_members(s, v, "an object with one of \"command\", \"file\", \"env\"",
				members, ELEMENTSOF(members));
	if (r >= 0 && !x->secret.command && !x->secret.where)
		r = cell_schema_fail(s, false,
				     "a secret needs a source: \"command\", \"file\" or \"env\"");
	if (r < 0) {
		secret_done(&x->secret);
		return r;
	}
	/* a later file's secret of the same name replaces an earlier one's */
	for (size_t i = 0; i < x->c->n_secrets; i++)
		if (streq(x->c->secrets[i].name, v->string)) {
			secret_done(&x->c->secrets[i]);
			x->c->secrets[i] = x->secret;
			x->c->secrets[i].name = strdup(v->string);
			x->secret = (struct cell_secret){0};
			return x->c->secrets[i].name ? 0 : oom(s);
		}
	grown = reallocarray(x->c->secrets, x->c->n_secrets + 1, sizeof(*grown));
	if (!grown) {
		secret_done(&x->secret);
		return oom(s);
	}
	x->c->secrets = grown;
	x->secret.name = strdup(v->string);
	grown[x->c->n_secrets++] = x->secret;
	x->secret = (struct cell_secret){0};
	return grown[x->c->n_secrets - 1].name ? 0 : oom(s);
}

int cell_config_apply_secrets(struct cell_schema *s, const cJSON *v, struct cell_config *c,
			      const char *project_root, const struct cell_config_env *env)
{
	struct sctx x = {.s = *s, .c = c, .root = project_root, .env = env};
	int r = cell_schema_map(&x.s, v, "an object mapping secret names to their sources",
				secret_one);

	secret_done(&x.secret);
	return r;
}

int cell_secret_refs(const char *value, int (*fn)(const char *name, size_t len, void *data),
		     void *data, const char **ret_why)
{
	static const char open[] = "${secret:";

	for (const char *at = strstr(value, "${"); at; at = strstr(at, "${")) {
		const char *name = at + strlen(open), *end;
		int r;

		if (strncmp(at, open, strlen(open)) != 0) {
			*ret_why = "\"${\" starts a secret's name here, as ${secret:NAME}";
			return -EINVAL;
		}
		end = strchr(name, '}');
		if (!end || !valid_secret_name(name, (size_t)(end - name))) {
			*ret_why = "a secret's name has 1 to 64 letters, digits, '.', '_' or '-', "
				   "then '}'";
			return -EINVAL;
		}
		r = fn(name, (size_t)(end - name), data);
		if (r)
			return r;
		at = end + 1;
	}
	return 0;
}

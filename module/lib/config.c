/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-processes.h"
#include "config-secrets.h"
#include "expand.h"
#include "schema.h"
#include "suggest.h"
#include "netpolicy.h"
#include "path.h"
#include "preset.h"
#include "rawargs.h"
#include "strv.h"
#include "units.h"
#include "upstream.h"

static const char *const mount_modes[_CELL_MOUNT_MAX] = {
	[CELL_MOUNT_RO] = "ro",		  [CELL_MOUNT_RW] = "rw",
	[CELL_MOUNT_DEV] = "dev",	  [CELL_MOUNT_TMPFS] = "tmpfs",
	[CELL_MOUNT_OVERLAY] = "overlay", [CELL_MOUNT_STATE] = "state",
};

static const char *const net_modes[_CELL_NET_MAX] = {
	[CELL_NET_PROXY] = "proxy",
	[CELL_NET_NONE] = "none",
	[CELL_NET_HOST] = "host",
};

static const char *const isolations[_CELL_ISOLATION_MAX] = {
	[CELL_ISOLATION_AUTO] = "auto",
	[CELL_ISOLATION_BPF] = "bpf",
	[CELL_ISOLATION_NETNS] = "netns",
};

static const char *const env_providers[_CELL_PROVIDER_MAX] = {
	[CELL_PROVIDER_AUTO] = "auto", [CELL_PROVIDER_DEVENV] = "devenv",
	[CELL_PROVIDER_NIX] = "nix",   [CELL_PROVIDER_DIRENV] = "direnv",
	[CELL_PROVIDER_MISE] = "mise", [CELL_PROVIDER_NONE] = "none",
};

#define NAME_MAX_LEN 64
#define PIDS_MAX 4194304
#define MEMORY_MIN (1024 * 1024)
/* limits.cpu, in thousandths of a CPU: 1% of one, to 1024 CPUs */
#define CPU_MIN 10
#define CPU_MAX (1024 * 1000)

const char *cell_mount_mode_to_string(enum cell_mount_mode m)
{
	return m < _CELL_MOUNT_MAX ? mount_modes[m] : NULL;
}

const char *cell_net_mode_to_string(enum cell_net_mode m)
{
	return m < _CELL_NET_MAX ? net_modes[m] : NULL;
}

const char *cell_isolation_to_string(enum cell_isolation i)
{
	return i < _CELL_ISOLATION_MAX ? isolations[i] : NULL;
}

const char *cell_env_provider_to_string(enum cell_env_provider p)
{
	return p < _CELL_PROVIDER_MAX ? env_providers[p] : NULL;
}

/*
 * The config-specific state of one validation pass. s, the generic walker, comes first: the
 * walker's callbacks get &x->s and find x again with ctx_of().
 */
struct ctx {
	struct cell_schema s;
	struct cell_config *c;
	const char *root;
	const struct cell_config_env *env;
	struct {
		struct cell_mount m; /* the mount being read */
		const cJSON *path, *dest;
		size_t path_ordinal, dest_ordinal;
	} mount;
	bool user;		  /* the user's own config */
	struct cell_rule **rules; /* the list network.allow or network.deny goes to */
	size_t *n_rules;
	struct cell_rule rule;	/* the rule object being read */
	const cJSON *rule_host; /* ...its "host" */
	char **raw;		/* bwrap_args being read */
};

static struct ctx *ctx_of(struct cell_schema *s)
{
	return (struct ctx *)((char *)s - offsetof(struct ctx, s));
}

static int oom(struct cell_schema *s)
{
	return cell_schema_fail(s, false, "out of memory");
}

static int set_string(struct cell_schema *s, char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return oom(s);
	free(*field);
	*field = copy;
	return 0;
}

bool cell_config_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static int apply_name(struct cell_schema *s, const cJSON *v)
{
	int r = cell_schema_expect(s, v, cJSON_IsString, "a string");

	if (r < 0)
		return r;
	if (!cell_config_valid_name(v->valuestring))
		return cell_schema_fail(
			s, false,
			"\"%s\" is not a cell name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)",
			v->valuestring);
	return set_string(s, &ctx_of(s)->c->name, v->valuestring);
}

static int apply_shell(struct cell_schema *s, const cJSON *v)
{
	int r = cell_schema_expect(s, v, cJSON_IsString, "a string");

	if (r < 0)
		return r;
	if (v->valuestring[0] != '/')
		return cell_schema_fail(s, false, "\"%s\" is not an absolute path (\"/bin/bash\")",
					v->valuestring);
	return set_string(s, &ctx_of(s)->c->shell, v->valuestring);
}

static int preset_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	size_t n;
	const struct cell_preset *all = cell_presets(&n);
	_cleanup_free_ const char **names = calloc(n, sizeof(*names));
	int which, r;

	if (!names)
		return oom(s);
	for (size_t k = 0; k < n; k++)
		names[k] = all[k].name;
	r = cell_schema_get_enum(s, v, names, n, "a preset", &which);
	if (r < 0)
		return r;
	if (!cell_strv_contains(c->presets, v->valuestring) &&
	    cell_strv_extend(&c->presets, v->valuestring) < 0)
		return oom(s);
	return 0;
}

static int apply_presets(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_elements(s, v, "an array of preset names", preset_one);
}

/* Inserts m at position pos (c->n_mounts appends), taking ownership of its strings. */
static int insert_mount(struct cell_config *c, const struct cell_mount *m, size_t pos)
{
	struct cell_mount *nm = reallocarray(c->mounts, c->n_mounts + 1, sizeof(*nm));

	if (!nm)
		return -ENOMEM;
	c->mounts = nm;
	memmove(nm + pos + 1, nm + pos, (c->n_mounts - pos) * sizeof(*nm));
	nm[pos] = *m;
	c->n_mounts++;
	return 0;
}

static bool mount_known(const struct cell_config *c, const struct cell_mount *m)
{
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct cell_mount *o = &c->mounts[i];

		if (streq(o->path, m->path) && streq(o->dest, m->dest) && o->mode == m->mode &&
		    o->optional == m->optional && o->canonicalize == m->canonicalize &&
		    o->ephemeral == m->ephemeral)
			return true;
	}
	return false;
}

static void mount_done(struct cell_mount *m)
{
	free(m->path);
	free(m->dest);
	free(m->origin);
	free(m->where);
}

static int mount_path_or_dest(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);
	bool is_path = streq(v->string, "path");
	int r;

	r = cell_schema_expect(s, v, cJSON_IsString, "a string");
	if (r < 0)
		return r;
	if (v->valuestring[0] == '\0')
		return cell_schema_fail(s, false, "expected a path, got an empty string");
	*(is_path ? &x->mount.path : &x->mount.dest) = v;
	*(is_path ? &x->mount.path_ordinal : &x->mount.dest_ordinal) =
		s->segs[s->depth - 1].ordinal;
	return 0;
}

static int mount_mode(struct cell_schema *s, const cJSON *v)
{
	int mode, r;

	r = cell_schema_get_enum(s, v, mount_modes, ELEMENTSOF(mount_modes), "a mount mode", &mode);
	if (r < 0)
		return r;
	ctx_of(s)->mount.m.mode = (enum cell_mount_mode)mode;
	return 0;
}

static int mount_flag(struct cell_schema *s, const cJSON *v)
{
	struct cell_mount *m = &ctx_of(s)->mount.m;
	int r = cell_schema_expect(s, v, cJSON_IsBool, "true or false");

	if (r < 0)
		return r;
	if (streq(v->string, "optional"))
		m->optional = cJSON_IsTrue(v);
	else if (streq(v->string, "canonicalize"))
		m->canonicalize = cJSON_IsTrue(v);
	else
		m->ephemeral = cJSON_IsTrue(v);
	return 0;
}

/*
 * Expands the path or dest member at ordinal into *ret. Returns -ENXIO (without a diag) when
 * an optional mount names an unset variable: the mount is then skipped.
 */
static int expand_member(struct ctx *x, const cJSON *v, size_t ordinal, char **ret)
{
	_cleanup_free_ char *why = NULL;
	int r;

	r = cell_expand_path(v->valuestring, x->root, x->env, ret, &why);
	if (r == -ENXIO && x->mount.m.optional)
		return r;
	if (r < 0) {
		cell_schema_push(&x->s, v->string, -1, ordinal);
		return cell_schema_fail(&x->s, false, "\"%s\": %s", v->valuestring,
					why ? why : "cannot be expanded");
	}
	return 0;
}

static int mount_one(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"path", mount_path_or_dest}, {"dest", mount_path_or_dest},
		{"mode", mount_mode},	      {"optional", mount_flag},
		{"canonicalize", mount_flag}, {"ephemeral", mount_flag},
	};
	struct ctx *x = ctx_of(s);
	struct cell_mount *m = &x->mount.m;
	int r;

	memset(&x->mount, 0, sizeof(x->mount));
	m->mode = CELL_MOUNT_RO;
	r = cell_schema_members(
		s, v,
		"an object with \"path\" (and \"mode\", \"dest\", \"optional\", \"canonicalize\", \"ephemeral\")",
		members, ELEMENTSOF(members));
	if (r < 0)
		return r;
	if (!x->mount.path)
		return cell_schema_fail(s, false, "a mount needs \"path\"");
	r = expand_member(x, x->mount.path, x->mount.path_ordinal, &m->path);
	if (r >= 0 && x->mount.dest)
		r = expand_member(x, x->mount.dest, x->mount.dest_ordinal, &m->dest);
	if (r >= 0 && !m->dest)
		m->dest = strdup(m->path);
	if (r >= 0 && m->dest && mount_known(x->c, m))
		r = -ENXIO; /* the same mount from the user's config and the project's: once is
			       enough */
	if (r >= 0) {
		m->origin = cell_schema_origin(s);
		m->where = cell_schema_origin_at(s);
		if (!m->dest || !m->origin || !m->where ||
		    insert_mount(x->c, m, x->c->n_mounts) < 0)
			r = oom(s);
		else
			memset(m, 0, sizeof(*m));
	}
	mount_done(m);
	return r == -ENXIO ? 0 : r;
}

static int apply_mounts(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_elements(s, v, "an array of mounts", mount_one);
}

static bool rule_plain(const struct cell_rule *r)
{
	return !r->methods && !r->paths && !r->inspect && !r->inject_header;
}

/* Adds a plain rule (host only), unless the list has it already. */
static int add_rule(struct cell_rule **rules, size_t *n, const char *text, const char *origin)
{
	struct cell_rule *nr;

	for (size_t i = 0; i < *n; i++)
		if (streq((*rules)[i].text, text) && rule_plain(&(*rules)[i]))
			return 0;
	nr = reallocarray(*rules, *n + 1, sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	*rules = nr;
	nr[*n] = (struct cell_rule){.text = strdup(text), .origin = strdup(origin)};
	if (!nr[*n].text || !nr[*n].origin) {
		free(nr[*n].text);
		free(nr[*n].origin);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

/* A request preset's rule, inspected, with origin o. */
static int add_preset_rule(struct cell_rule **rules, size_t *n,
			   const struct cell_netpreset_rule *pr, const char *o)
{
	struct cell_rule *grown = reallocarray(*rules, *n + 1, sizeof(*grown));
	struct cell_rule *r;

	if (!grown)
		return -ENOMEM;
	*rules = grown;
	r = &grown[*n];
	*r = (struct cell_rule){.text = strdup(pr->host), .origin = strdup(o), .inspect = true};
	(*n)++;
	for (const char *const *m = pr->methods; m && *m; m++)
		if (cell_strv_extend(&r->methods, *m) < 0)
			return -ENOMEM;
	for (const char *const *p = pr->paths; p && *p; p++)
		if (cell_strv_extend(&r->paths, *p) < 0)
			return -ENOMEM;
	return r->text && r->origin ? 0 : -ENOMEM;
}

/* Adds the hosts (or rules) of a known "@preset", each with origin "ORIGIN (@preset)". */
static int add_netpreset(struct cell_rule **rules, size_t *n, const struct cell_netpreset *p,
			 const char *origin)
{
	_cleanup_free_ char *o = NULL;
	int r;

	if (asprintf(&o, "%s (%s)", origin, p->name) < 0)
		return -ENOMEM;
	for (const char *const *h = p->hosts; h && *h; h++) {
		r = add_rule(rules, n, *h, o);
		if (r < 0)
			return r;
	}
	for (const struct cell_netpreset_rule *pr = p->rules; pr && pr->host; pr++) {
		r = add_preset_rule(rules, n, pr, o);
		if (r < 0)
			return r;
	}
	return 0;
}

/* An HTTP method as a rule names it: a token of capitals ("GET", "PROPFIND"). */
static bool valid_method(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isupper((unsigned char)m[i]) && m[i] != '-' && m[i] != '_')
			return false;
	return true;
}

static int method_one(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);
	int r = cell_schema_expect(s, v, cJSON_IsString, "a method");

	if (r < 0)
		return r;
	if (!valid_method(v->valuestring))
		return cell_schema_fail(s, false,
					"\"%s\" is not an HTTP method (capitals, as \"GET\" or "
					"\"POST\")",
					v->valuestring);
	if (cell_strv_contains(x->rule.methods, v->valuestring))
		return 0;
	return cell_strv_extend(&x->rule.methods, v->valuestring) < 0 ? oom(s) : 0;
}

/* A path a rule names: from "/", printable, no spaces, '*' anywhere (matching anything). */
static const char *path_problem(const char *p)
{
	if (p[0] != '/')
		return "it does not start with '/'";
	if (strlen(p) > 1024)
		return "it is longer than 1024 characters";
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
			return "it has a space, a control or a non-ASCII character (write it "
			       "percent-encoded, as a request has it)";
	if (strchr(p, '?') || strchr(p, '#'))
		return "a path rule matches the path without its query ('?') or fragment ('#')";
	return NULL;
}

static int path_one(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);
	int r = cell_schema_expect(s, v, cJSON_IsString, "a path");
	const char *why;

	if (r < 0)
		return r;
	why = path_problem(v->valuestring);
	if (why)
		return cell_schema_fail(s, false, "\"%s\" is not a path rule: %s", v->valuestring,
					why);
	if (cell_strv_contains(x->rule.paths, v->valuestring))
		return 0;
	return cell_strv_extend(&x->rule.paths, v->valuestring) < 0 ? oom(s) : 0;
}

static int rule_host(struct cell_schema *s, const cJSON *v)
{
	int r = cell_schema_expect(s, v, cJSON_IsString, "a host rule");

	if (r < 0)
		return r;
	ctx_of(s)->rule_host = v;
	return 0;
}

static int rule_methods(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_elements(s, v, "an array of methods", method_one);
}

static int rule_paths(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_elements(s, v, "an array of paths", path_one);
}

static int rule_inspect(struct cell_schema *s, const cJSON *v)
{
	int r = cell_schema_expect(s, v, cJSON_IsBool, "true or false");

	if (r >= 0)
		ctx_of(s)->rule.inspect = cJSON_IsTrue(v);
	return r;
}

/* An HTTP field name (RFC 9110 5.1: a token). */
static bool valid_field_name(const char *n)
{
	if (!*n || strlen(n) > 64)
		return false;
	for (const char *c = n; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("!#$%&'*+-.^_`|~", *c))
			return false;
	return true;
}

static int inject_header(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);
	int r = cell_schema_expect(s, v, cJSON_IsString, "a header's name");

	if (r < 0)
		return r;
	if (!valid_field_name(v->valuestring))
		return cell_schema_fail(s, false, "\"%s\" is not a header's name", v->valuestring);
	return set_string(s, &x->rule.inject_header, v->valuestring);
}

static int no_ref(const char *name, size_t len, void *data)
{
	(void)name;
	(void)len;
	(void)data;
	return 0;
}

static int inject_value(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);
	const char *why = NULL;
	int r = cell_schema_expect(s, v, cJSON_IsString, "a string");

	if (r < 0)
		return r;
	for (const char *c = v->valuestring; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			return cell_schema_fail(s, false,
						"a header's value has no control characters");
	if (cell_secret_refs(v->valuestring, no_ref, NULL, &why) < 0)
		return cell_schema_fail(s, false, "\"%s\": %s", v->valuestring, why);
	return set_string(s, &x->rule.inject_value, v->valuestring);
}

static int rule_inject(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"header", inject_header},
		{"value", inject_value},
	};
	struct ctx *x = ctx_of(s);
	int r = cell_schema_members(s, v, "an object with \"header\" and \"value\"", members,
				    ELEMENTSOF(members));

	if (r >= 0 && (!x->rule.inject_header || !x->rule.inject_value))
		r = cell_schema_fail(s, false, "\"inject\" needs \"header\" and \"value\"");
	return r;
}

static void rule_done(struct cell_rule *r)
{
	free(r->text);
	free(r->origin);
	free(r->inject_header);
	free(r->inject_value);
	cell_strv_free(r->methods);
	cell_strv_free(r->paths);
	*r = (struct cell_rule){0};
}

/*
 * {"host": "api.github.com", "methods": [...], "paths": [...], "inspect": true}: an allow rule
 * that sees requests. Over HTTPS (a rule without a port covers 443) the proxy sees them only
 * when it terminates the host's TLS: methods and paths there need "inspect".
 */
static int rule_object(struct cell_schema *s, const cJSON *v, const char *origin)
{
	static const struct cell_schema_member members[] = {
		{"host", rule_host},	   {"methods", rule_methods}, {"paths", rule_paths},
		{"inspect", rule_inspect}, {"inject", rule_inject},
	};
	struct ctx *x = ctx_of(s);
	char canon[CELL_HOST_MAX + 16];
	struct cell_netrule nr;
	const char *why = NULL;
	struct cell_rule *grown;
	int r;

	if (x->rules != &x->c->network.allow)
		return cell_schema_fail(s, false,
					"network.deny takes host rules (strings): a denied host "
					"is denied whatever the request");
	rule_done(&x->rule);
	x->rule_host = NULL;
	r = cell_schema_members(
		s, v,
		"an object with \"host\" (and \"methods\", \"paths\", \"inspect\", \"inject\")",
		members, ELEMENTSOF(members));
	if (r >= 0 && !x->rule_host)
		r = cell_schema_fail(s, false, "a rule object needs \"host\"");
	if (r >= 0 && cell_netrule_parse(x->rule_host->valuestring, &nr, &why) < 0)
		r = cell_schema_fail(s, false, "\"%s\" is not a host rule: %s",
				     x->rule_host->valuestring, why);
	if (r >= 0 && x->rule.inspect && nr.kind != CELL_NETRULE_HOST &&
	    nr.kind != CELL_NETRULE_SUFFIX)
		r = cell_schema_fail(s, false,
				     "\"inspect\" needs a host name (the certificate the cell "
				     "sees is made for it), not an address");
	if (r >= 0 && x->rule.inject_header && !x->rule.inspect)
		r = cell_schema_fail(
			s, false,
			"\"inject\" needs \"inspect\": true (the proxy sets the header "
			"only in requests it sees)");
	if (r >= 0 && (x->rule.methods || x->rule.paths) && !x->rule.inspect &&
	    (nr.port == 0 || nr.port == 443))
		r = cell_schema_fail(s, false,
				     "methods and paths of %s over HTTPS are seen only with "
				     "\"inspect\": true (or give the rule a plain HTTP port, as "
				     "\"%s:80\")",
				     x->rule_host->valuestring, x->rule_host->valuestring);
	if (r < 0)
		return r;
	if (cell_netrule_format(&nr, canon, sizeof(canon)) < 0)
		return oom(s);
	if (rule_plain(&x->rule))
		return add_rule(x->rules, x->n_rules, canon, origin) < 0 ? oom(s) : 0;
	grown = reallocarray(*x->rules, *x->n_rules + 1, sizeof(*grown));
	if (!grown)
		return oom(s);
	*x->rules = grown;
	x->rule.text = strdup(canon);
	x->rule.origin = strdup(origin);
	if (!x->rule.text || !x->rule.origin)
		return oom(s);
	grown[(*x->n_rules)++] = x->rule;
	x->rule = (struct cell_rule){0};
	return 0;
}

static int rule_one(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);
	_cleanup_free_ char *origin = NULL;
	char canon[CELL_HOST_MAX + 16];
	struct cell_netrule rule;
	const char *why = NULL;
	int r;

	if (cJSON_IsObject(v)) {
		origin = cell_schema_origin(s);
		if (!origin)
			return oom(s);
		r = rule_object(s, v, origin);
		rule_done(&x->rule);
		return r;
	}
	r = cell_schema_expect(s, v, cJSON_IsString,
			       x->rules == &x->c->network.allow ? "a string or a rule object"
								: "a string");
	if (r < 0)
		return r;
	origin = cell_schema_origin(s);
	if (!origin)
		return oom(s);
	if (v->valuestring[0] == '@') {
		size_t n;
		const struct cell_netpreset *all = cell_netpresets(&n);
		_cleanup_free_ const char **names = calloc(n, sizeof(*names));
		int which;

		if (!names)
			return oom(s);
		for (size_t k = 0; k < n; k++)
			names[k] = all[k].name;
		r = cell_schema_get_enum(s, v, names, n, "a host preset", &which);
		if (r < 0)
			return r;
		if (all[which].rules && x->rules != &x->c->network.allow)
			return cell_schema_fail(
				s, false,
				"%s allows some requests to its hosts: network.deny "
				"takes host presets",
				all[which].name);
		return add_netpreset(x->rules, x->n_rules, &all[which], origin) < 0 ? oom(s) : 0;
	}
	if (cell_netrule_parse(v->valuestring, &rule, &why) < 0)
		return cell_schema_fail(s, false, "\"%s\" is not a host rule: %s", v->valuestring,
					why);
	if (cell_netrule_format(&rule, canon, sizeof(canon)) < 0 ||
	    add_rule(x->rules, x->n_rules, canon, origin) < 0)
		return oom(s);
	return 0;
}

static int apply_rules(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);
	bool allow = streq(v->string, "allow");

	x->rules = allow ? &x->c->network.allow : &x->c->network.deny;
	x->n_rules = allow ? &x->c->network.n_allow : &x->c->network.n_deny;
	return cell_schema_elements(s, v, "an array of host rules", rule_one);
}

static int local_port_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	uint16_t *np;
	double port;
	int r;

	r = cell_schema_get_int(s, v, 1, 65535, "a port", &port);
	if (r < 0)
		return r;
	for (size_t k = 0; k < c->network.n_local_ports; k++)
		if (c->network.local_ports[k] == (uint16_t)port)
			return 0;
	np = reallocarray(c->network.local_ports, c->network.n_local_ports + 1, sizeof(*np));
	if (!np)
		return oom(s);
	c->network.local_ports = np;
	np[c->network.n_local_ports++] = (uint16_t)port;
	return 0;
}

static int apply_local_ports(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_elements(s, v, "an array of port numbers", local_port_one);
}

/* 3000 (the same port on both sides) or "8080:8000" (the host's 8080 to the cell's 8000). */
static int forward_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	struct cell_forward f, *nf;
	unsigned host, cell;
	char end;
	double port;
	int r;

	if (cJSON_IsString(v)) {
		if (sscanf(v->valuestring, "%5u:%5u%c", &host, &cell, &end) != 2 || host < 1 ||
		    host > 65535 || cell < 1 || cell > 65535 ||
		    strspn(v->valuestring, "0123456789:") != strlen(v->valuestring))
			return cell_schema_fail(s, false,
						"\"%s\" is not HOSTPORT:CELLPORT (ports 1-65535, "
						"as in \"8080:8000\")",
						v->valuestring);
		f = (struct cell_forward){(uint16_t)host, (uint16_t)cell};
	} else {
		r = cell_schema_get_int(s, v, 1, 65535, "a port or \"HOSTPORT:CELLPORT\"", &port);
		if (r < 0)
			return r;
		f = (struct cell_forward){(uint16_t)port, (uint16_t)port};
	}
	for (size_t k = 0; k < c->network.n_forward; k++)
		if (c->network.forward[k].host_port == f.host_port)
			return cell_schema_fail(s, false, "the host's port %u is forwarded already",
						(unsigned)f.host_port);
	if (c->network.n_forward == CELL_FORWARDS_MAX)
		return cell_schema_fail(s, false, "at most %d ports can be forwarded",
					CELL_FORWARDS_MAX);
	nf = reallocarray(c->network.forward, c->network.n_forward + 1, sizeof(*nf));
	if (!nf)
		return oom(s);
	c->network.forward = nf;
	nf[c->network.n_forward++] = f;
	return 0;
}

static int apply_forward(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_elements(s, v, "an array of ports and \"HOSTPORT:CELLPORT\" strings",
				    forward_one);
}

/* Sets key to a copy of value in a key-value list, replacing an earlier value of that key. */
static int kv_set(struct cell_kv **kv, size_t *n, const char *key, const char *value)
{
	char *v = strdup(value);
	struct cell_kv *nkv;

	if (!v)
		return -ENOMEM;
	for (size_t k = 0; k < *n; k++)
		if (streq((*kv)[k].key, key)) {
			free((*kv)[k].value);
			(*kv)[k].value = v;
			return 0;
		}
	nkv = reallocarray(*kv, *n + 1, sizeof(*nkv));
	if (!nkv) {
		free(v);
		return -ENOMEM;
	}
	*kv = nkv;
	nkv[*n] = (struct cell_kv){strdup(key), v};
	if (!nkv[*n].key) {
		free(v);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

static int resolve_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	char host[CELL_HOST_MAX + 1];
	unsigned char addr[16];
	const char *why = NULL;
	int r;

	if (cell_hostname_normalize(v->string, host, sizeof(host), &why) < 0)
		return cell_schema_fail(s, true, "\"%s\" is not a host name: %s", v->string, why);
	r = cell_schema_expect(s, v, cJSON_IsString, "an IP address as a string");
	if (r < 0)
		return r;
	if (inet_pton(AF_INET, v->valuestring, addr) != 1 &&
	    inet_pton(AF_INET6, v->valuestring, addr) != 1)
		return cell_schema_fail(s, false, "\"%s\" is not an IPv4 or IPv6 address",
					v->valuestring);
	if (kv_set(&c->network.resolve, &c->network.n_resolve, host, v->valuestring) < 0)
		return oom(s);
	return 0;
}

static int apply_resolve(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_map(s, v, "an object mapping host names to addresses", resolve_one);
}

static int apply_net_mode(struct cell_schema *s, const cJSON *v)
{
	int mode, r;

	r = cell_schema_get_enum(s, v, net_modes, ELEMENTSOF(net_modes), "a network mode", &mode);
	if (r < 0)
		return r;
	ctx_of(s)->c->network.mode = (enum cell_net_mode)mode;
	return 0;
}

/* What only the user's own config may say: a project never chooses where traffic goes. */
static int user_only(struct cell_schema *s)
{
	if (ctx_of(s)->user)
		return 0;
	return cell_schema_fail(
		s, true,
		"belongs in your own config (~/.config/cell/config.json): a project "
		"does not choose which proxy your traffic goes through");
}

static int apply_upstream(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	struct cell_upstream u;
	const char *why = NULL;
	int r = user_only(s);

	if (r >= 0)
		r = cell_schema_expect(s, v, cJSON_IsString, "\"http://HOST:PORT\" or \"none\"");
	if (r < 0)
		return r;
	if (!streq(v->valuestring, "none") && cell_upstream_parse(v->valuestring, &u, &why) < 0)
		return cell_schema_fail(s, false,
					"\"%s\" is not \"http://HOST:PORT\" or \"none\": %s",
					v->valuestring, why);
	free(c->network.upstream_proxy);
	c->network.upstream_proxy = strdup(v->valuestring);
	return c->network.upstream_proxy ? 0 : oom(s);
}

static int no_proxy_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	int r = cell_schema_expect(s, v, cJSON_IsString, "a host, \".domain\" or an address");

	if (r < 0)
		return r;
	if (!v->valuestring[0] || strpbrk(v->valuestring, ", \t"))
		return cell_schema_fail(s, false, "\"%s\" is not one host, \".domain\" or address",
					v->valuestring);
	return cell_strv_extend(&c->network.upstream_no_proxy, v->valuestring) < 0 ? oom(s) : 0;
}

static int apply_no_proxy(struct cell_schema *s, const cJSON *v)
{
	int r = user_only(s);

	if (r < 0)
		return r;
	ctx_of(s)->c->network.upstream_no_proxy_set = true;
	return cell_schema_elements(s, v, "an array of hosts", no_proxy_one);
}

static int apply_isolation(struct cell_schema *s, const cJSON *v)
{
	int i, r;

	r = cell_schema_get_enum(s, v, isolations, ELEMENTSOF(isolations), "an isolation", &i);
	if (r < 0)
		return r;
	ctx_of(s)->c->network.isolation = (enum cell_isolation)i;
	return 0;
}

static int apply_budget_one(struct cell_schema *s, const cJSON *v, enum cell_budget_kind k)
{
	const char *why = NULL;
	int r = cell_schema_expect(s, v, cJSON_IsString,
				   k == CELL_BUDGET_CONNECTIONS
					   ? "a number per period (\"60/minute\")"
					   : "a size per period (\"50M/day\")");

	if (r < 0)
		return r;
	if (cell_rate_parse(v->valuestring, k != CELL_BUDGET_CONNECTIONS,
			    &ctx_of(s)->c->network.budget.rate[k], &why) < 0)
		return cell_schema_fail(s, false, "\"%s\" is not a budget: %s", v->valuestring,
					why);
	return 0;
}

static int apply_budget_out(struct cell_schema *s, const cJSON *v)
{
	return apply_budget_one(s, v, CELL_BUDGET_OUT);
}

static int apply_budget_in(struct cell_schema *s, const cJSON *v)
{
	return apply_budget_one(s, v, CELL_BUDGET_IN);
}

static int apply_budget_host_out(struct cell_schema *s, const cJSON *v)
{
	return apply_budget_one(s, v, CELL_BUDGET_HOST_OUT);
}

static int apply_budget_host_in(struct cell_schema *s, const cJSON *v)
{
	return apply_budget_one(s, v, CELL_BUDGET_HOST_IN);
}

static int apply_budget_connections(struct cell_schema *s, const cJSON *v)
{
	return apply_budget_one(s, v, CELL_BUDGET_CONNECTIONS);
}

/* network.budget: what the project may send and receive, and connect, per period (budget.h). */
static int apply_budget(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"out", apply_budget_out},
		{"in", apply_budget_in},
		{"per_host_out", apply_budget_host_out},
		{"per_host_in", apply_budget_host_in},
		{"connections", apply_budget_connections},
	};

	return cell_schema_members(s, v, "an object", members, ELEMENTSOF(members));
}

static int apply_network(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"mode", apply_net_mode},
		{"isolation", apply_isolation},
		{"allow", apply_rules},
		{"deny", apply_rules},
		{"local_ports", apply_local_ports},
		{"resolve", apply_resolve},
		{"forward", apply_forward},
		{"upstream_proxy", apply_upstream},
		{"upstream_no_proxy", apply_no_proxy},
		{"budget", apply_budget},
	};

	return cell_schema_members(s, v, "an object", members, ELEMENTSOF(members));
}

/* An environment variable name, or with glob a prefix pattern ending in '*' ("LC_*"). */
static bool valid_env_name(const char *s, bool glob)
{
	size_t n = strlen(s);

	if (glob && n > 1 && s[n - 1] == '*')
		n--;
	if (n == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static int pass_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	int r = cell_schema_expect(s, v, cJSON_IsString, "a variable name");

	if (r < 0)
		return r;
	if (!valid_env_name(v->valuestring, true))
		return cell_schema_fail(
			s, false,
			"\"%s\" is not a variable name (letters, digits and '_', not starting with a digit; a final '*' matches a prefix)",
			v->valuestring);
	if (!cell_strv_contains(c->env.pass, v->valuestring) &&
	    cell_strv_extend(&c->env.pass, v->valuestring) < 0)
		return oom(s);
	return 0;
}

static int apply_env_pass(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_elements(s, v, "an array of variable names", pass_one);
}

static int setenv_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	int r;

	if (!valid_env_name(v->string, false))
		return cell_schema_fail(s, true, "\"%s\" is not a variable name", v->string);
	if (startswith(v->string, "CELL_"))
		return cell_schema_fail(s, true, "CELL_* variables are set by cell itself");
	r = cell_schema_expect(s, v, cJSON_IsString, "a string");
	if (r < 0)
		return r;
	if (kv_set(&c->env.set, &c->env.n_set, v->string, v->valuestring) < 0)
		return oom(s);
	return 0;
}

static int apply_env_set(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_map(s, v, "an object mapping names to values", setenv_one);
}

/* A dotenv file: a path in the project, relative to its root ("./" or not), without "..". */
static int env_file_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	const char *path;
	int r = cell_schema_expect(s, v, cJSON_IsString, "a path in the project (\".env\")");

	if (r < 0)
		return r;
	path = v->valuestring;
	while (startswith(path, "./"))
		path += 2;
	if (!*path || path[0] == '/' || streq(path, "..") || startswith(path, "../") ||
	    strstr(path, "/../") || endswith(path, "/..") || strchr(path, '\n'))
		return cell_schema_fail(
			s, false,
			"\"%s\" is not a path in the project (relative to its root, without \"..\")",
			v->valuestring);
	if (!cell_strv_contains(c->env.files, path) && cell_strv_extend(&c->env.files, path) < 0)
		return oom(s);
	return 0;
}

static int apply_env_files(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_elements(s, v, "an array of dotenv files", env_file_one);
}

static int apply_env_provider(struct cell_schema *s, const cJSON *v)
{
	int p, r;

	r = cell_schema_get_enum(s, v, env_providers, ELEMENTSOF(env_providers),
				 "an environment provider", &p);
	if (r < 0)
		return r;
	ctx_of(s)->c->env.provider = (enum cell_env_provider)p;
	return 0;
}

static int apply_env_required(struct cell_schema *s, const cJSON *v)
{
	int r = cell_schema_expect(s, v, cJSON_IsBool, "true or false");

	if (r < 0)
		return r;
	ctx_of(s)->c->env.required = cJSON_IsTrue(v);
	return 0;
}

static int apply_env(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"pass", apply_env_pass},	  {"set", apply_env_set},
		{"files", apply_env_files},	  {"provider", apply_env_provider},
		{"required", apply_env_required},
	};

	return cell_schema_members(s, v, "an object", members, ELEMENTSOF(members));
}

/* A script's name is a program's name: [A-Za-z0-9._-], not starting with '.' or '-'. */
static bool valid_script_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static int script_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	int r;

	if (!valid_script_name(v->string))
		return cell_schema_fail(s, true,
					"\"%s\" is not a script name (1 to 64 of letters, digits, "
					"'.', '_' and '-', not starting with '.' or '-')",
					v->string);
	r = cell_schema_expect(s, v, cJSON_IsString, "a shell command");
	if (r < 0)
		return r;
	if (!*v->valuestring)
		return cell_schema_fail(s, false, "a script needs a command");
	if (kv_set(&c->scripts, &c->n_scripts, v->string, v->valuestring) < 0)
		return oom(s);
	return 0;
}

static int apply_scripts(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_map(s, v, "an object mapping script names to shell commands",
			       script_one);
}

static int hook_one(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	int r = cell_schema_expect(s, v, cJSON_IsString, "a shell command");

	if (r < 0)
		return r;
	if (cell_strv_extend(&c->hooks.enter, v->valuestring) < 0)
		return oom(s);
	return 0;
}

static int apply_hooks_enter(struct cell_schema *s, const cJSON *v)
{
	return cell_schema_elements(s, v, "an array of shell commands", hook_one);
}

static int apply_hooks(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"enter", apply_hooks_enter},
	};

	return cell_schema_members(s, v, "an object", members, ELEMENTSOF(members));
}

static int apply_memory(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	uint64_t bytes;
	double n;
	int r;

	if (cJSON_IsNumber(v)) {
		r = cell_schema_get_int(s, v, MEMORY_MIN, 9007199254740992.0, "a size in bytes",
					&n);
		if (r < 0)
			return r;
		c->limits.memory = (uint64_t)n;
		return 0;
	}
	r = cell_schema_expect(s, v, cJSON_IsString, "a size (\"4G\") or a number of bytes");
	if (r < 0)
		return r;
	if (cell_size_parse(v->valuestring, &bytes) < 0)
		return cell_schema_fail(
			s, false,
			"\"%s\" is not a size (a number with K, M, G or T: \"512M\", \"4G\")",
			v->valuestring);
	if (bytes < MEMORY_MIN)
		return cell_schema_fail(s, false, "\"%s\" is less than the smallest limit, 1M",
					v->valuestring);
	c->limits.memory = bytes;
	return 0;
}

static int apply_pids(struct cell_schema *s, const cJSON *v)
{
	double n;
	int r = cell_schema_get_int(s, v, 1, PIDS_MAX, "a number of processes", &n);

	if (r < 0)
		return r;
	ctx_of(s)->c->limits.pids = (uint32_t)n;
	return 0;
}

/* "2" (CPUs), "0.5", "50%" (of one CPU, as systemd's CPUQuota=), or a number of CPUs. */
static int parse_cpu(const char *s, uint32_t *ret)
{
	char *end;
	double v;

	if (!(*s >= '0' && *s <= '9'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -EINVAL;
	if (streq(end, "%"))
		v /= 100.0;
	else if (*end)
		return -EINVAL;
	v *= 1000.0;
	if (v < CPU_MIN || v > CPU_MAX || v != floor(v))
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

static int apply_cpu(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	uint32_t milli;
	double n;
	int r;

	if (cJSON_IsNumber(v)) {
		n = v->valuedouble * 1000.0;
		if (n < CPU_MIN || n > CPU_MAX || n != floor(n))
			return cell_schema_fail(s, false,
						"%.17g is not a number of CPUs (0.01..%d, to a "
						"thousandth)",
						v->valuedouble, CPU_MAX / 1000);
		c->limits.cpu = (uint32_t)n;
		return 0;
	}
	r = cell_schema_expect(
		s, v, cJSON_IsString,
		"a number of CPUs (\"2\", \"0.5\") or a percentage of one (\"50%\")");
	if (r < 0)
		return r;
	r = parse_cpu(v->valuestring, &milli);
	if (r == -ERANGE)
		return cell_schema_fail(s, false,
					"\"%s\" is outside 1%% (\"0.01\") to %d CPUs, or finer "
					"than a thousandth of one",
					v->valuestring, CPU_MAX / 1000);
	if (r < 0)
		return cell_schema_fail(
			s, false,
			"\"%s\" is not a number of CPUs (\"2\", \"0.5\") or a percentage of one "
			"(\"50%%\")",
			v->valuestring);
	c->limits.cpu = milli;
	return 0;
}

static int apply_limits(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"memory", apply_memory},
		{"pids", apply_pids},
		{"cpu", apply_cpu},
	};

	return cell_schema_members(s, v, "an object", members, ELEMENTSOF(members));
}

static int apply_hardening_flag(struct cell_schema *s, const cJSON *v)
{
	struct cell_config *c = ctx_of(s)->c;
	int r = cell_schema_expect(s, v, cJSON_IsBool, "true or false");

	if (r < 0)
		return r;
	if (streq(v->string, "allow_userns"))
		c->hardening.allow_userns = cJSON_IsTrue(v);
	else if (streq(v->string, "allow_io_uring"))
		c->hardening.allow_io_uring = cJSON_IsTrue(v);
	else if (streq(v->string, "git_writable"))
		c->hardening.git_writable = cJSON_IsTrue(v);
	else
		c->hardening.raw_bwrap_args = cJSON_IsTrue(v);
	return 0;
}

static int apply_hardening(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"allow_userns", apply_hardening_flag},
		{"allow_io_uring", apply_hardening_flag},
		{"git_writable", apply_hardening_flag},
		{"raw_bwrap_args", apply_hardening_flag},
	};

	return cell_schema_members(s, v, "an object", members, ELEMENTSOF(members));
}

static int bwrap_arg_one(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);
	int r = cell_schema_expect(s, v, cJSON_IsString, "a bubblewrap argument (a string)");

	if (r < 0)
		return r;
	if (cell_strv_extend(&x->raw, v->valuestring) < 0)
		return oom(s);
	return 0;
}

/*
 * Raw bubblewrap arguments: each file's must pass rawargs.h as a whole (an option and its values
 * are checked together). The user's config may give them; a project's only with
 * hardening.raw_bwrap_args: the error for that waits in c->bwrap_args_objection.
 */
static int apply_bwrap_args(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);
	struct cell_diag *diag = s->diag;
	const char *why;
	size_t at = 0;
	int r;

	cell_strv_free(x->raw);
	x->raw = NULL;
	r = cell_schema_elements(s, v, "an array of bubblewrap arguments", bwrap_arg_one);
	if (r < 0)
		return r;
	why = cell_rawargs_refused(x->raw, cell_strv_length(x->raw), &at);
	if (why) {
		cell_schema_push(s, NULL, (int)at, at);
		return cell_schema_fail(s, false, "\"%s\": %s", x->raw[at], why);
	}
	for (size_t i = 0; x->raw && x->raw[i]; i++)
		if (cell_strv_extend(&x->c->bwrap_args, x->raw[i]) < 0)
			return oom(s);
	cell_diag_clear(&x->c->bwrap_args_objection);
	s->diag = &x->c->bwrap_args_objection;
	cell_schema_fail(s, true,
			 "raw bubblewrap arguments in a project's config need \"hardening\": "
			 "{\"raw_bwrap_args\": true} (cell cannot vouch for a cell they change)");
	s->diag = diag;
	return 0;
}

static int apply_processes(struct cell_schema *s, const cJSON *v)
{
	return cell_config_apply_processes(s, v, ctx_of(s)->c);
}

static int apply_secrets(struct cell_schema *s, const cJSON *v)
{
	struct ctx *x = ctx_of(s);

	if (!x->user)
		return cell_schema_fail(
			s, true,
			"belongs in your own config (~/.config/cell/config.json): a project does "
			"not choose what its cell's requests carry");
	return cell_config_apply_secrets(s, v, x->c, x->root, x->env);
}

static const struct cell_schema_member top_members[] = {
	{"name", apply_name},
	{"presets", apply_presets},
	{"shell", apply_shell},
	{"mounts", apply_mounts},
	{"network", apply_network},
	{"env", apply_env},
	{"limits", apply_limits},
	{"hardening", apply_hardening},
	{"scripts", apply_scripts},
	{"hooks", apply_hooks},
	{"bwrap_args", apply_bwrap_args},
	{"processes", apply_processes},
	{"secrets", apply_secrets},
};

static int apply(struct cell_config *c, bool user, const char *file, const char *text, size_t len,
		 const char *project_root, const struct cell_config_env *env,
		 struct cell_diag *diag)
{
	struct ctx x = {
		.s = {.file = file, .text = text, .len = len, .diag = diag},
		.c = c,
		.root = project_root,
		.env = env,
		.user = user,
	};
	cJSON *root = NULL;
	int r;

	r = cell_schema_parse(&x.s, &root);
	if (r < 0)
		return r;
	r = cell_schema_members(&x.s, root, "an object at the top level", top_members,
				ELEMENTSOF(top_members));
	cJSON_Delete(root);
	cell_strv_free(x.raw);
	return r;
}

int cell_config_apply(struct cell_config *c, const char *file, const char *text, size_t len,
		      const char *project_root, const struct cell_config_env *env,
		      struct cell_diag *diag)
{
	return apply(c, false, file, text, len, project_root, env, diag);
}

int cell_config_apply_user(struct cell_config *c, const char *file, const char *text, size_t len,
			   const char *project_root, const struct cell_config_env *env,
			   struct cell_diag *diag)
{
	return apply(c, true, file, text, len, project_root, env, diag);
}

int cell_config_new(struct cell_config **ret)
{
	struct cell_config *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->network.mode = CELL_NET_PROXY;
	/* a provider evaluates the project's files outside the cell: only when asked for */
	c->env.provider = CELL_PROVIDER_NONE;
	*ret = c;
	return 0;
}

/* A default name from the project directory: invalid characters become '-'. */
static char *name_from_root(const char *root)
{
	const char *base = cell_path_basename(root);
	char *s = strndup(streq(base, "/") ? "root" : base, NAME_MAX_LEN);

	if (!s)
		return NULL;
	for (char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			*p = '-';
	if (!isalnum((unsigned char)s[0]))
		s[0] = 'x';
	return s;
}

/* The first secret an inject names that the config does not define. */
struct unknown_secret {
	const struct cell_config *c;
	const char *name;
	size_t len;
};

static int find_unknown(const char *name, size_t len, void *data)
{
	struct unknown_secret *u = data;

	for (size_t i = 0; i < u->c->n_secrets; i++)
		if (strlen(u->c->secrets[i].name) == len &&
		    !strncmp(u->c->secrets[i].name, name, len))
			return 0;
	u->name = name;
	u->len = len;
	return 1;
}

/* Each ${secret:NAME} of an inject names a secret of the user's config. */
static int check_injects(const struct cell_config *c, struct cell_diag *diag)
{
	for (size_t i = 0; i < c->network.n_allow; i++) {
		const struct cell_rule *r = &c->network.allow[i];
		struct unknown_secret u = {.c = c};
		const char *why = NULL;

		if (!r->inject_value ||
		    cell_secret_refs(r->inject_value, find_unknown, &u, &why) <= 0)
			continue;
		return cell_diag_set(diag, -EINVAL, NULL, NULL,
				     "%s: inject names secret \"%.*s\", which \"secrets\" in your "
				     "own config (~/.config/cell/config.json) does not define",
				     r->origin, (int)u.len, u.name);
	}
	return 0;
}

int cell_config_finish(struct cell_config *c, const char *project_root,
		       const struct cell_config_env *env, struct cell_diag *diag)
{
	size_t n_front = 0;
	int r;

	r = check_injects(c, diag);
	if (r < 0)
		return r;
	if (!c->name) {
		c->name = name_from_root(project_root);
		if (!c->name)
			return -ENOMEM;
	}
	for (size_t i = 0; c->presets && c->presets[i]; i++) {
		const struct cell_preset *p = cell_preset_find(c->presets[i]);
		_cleanup_free_ char *origin = NULL;

		if (!p)
			return cell_diag_set(diag, -EINVAL, NULL, "presets",
					     "unknown preset \"%s\"", c->presets[i]);
		if (asprintf(&origin, "preset %s", p->name) < 0)
			return -ENOMEM;
		r = add_netpreset(&c->network.allow, &c->network.n_allow,
				  cell_netpreset_find(p->netpreset), origin);
		if (r < 0)
			return r;
		for (size_t k = 0; k < p->n_mounts; k++) {
			struct cell_mount m = {.mode = p->mounts[k].mode,
					       .optional = p->mounts[k].optional,
					       .from_preset = true};
			_cleanup_free_ char *why = NULL;

			r = cell_expand_path(p->mounts[k].path, project_root, env, &m.path, &why);
			if (r == -ENXIO && m.optional)
				continue;
			if (r < 0)
				return cell_diag_set(diag, r, NULL, NULL, "preset %s: \"%s\": %s",
						     p->name, p->mounts[k].path, why ? why : "?");
			m.dest = strdup(m.path);
			m.origin = strdup(origin);
			if (m.dest && mount_known(c, &m)) {
				mount_done(&m);
				continue;
			}
			if (!m.dest || !m.origin) {
				mount_done(&m);
				return -ENOMEM;
			}
			/* preset mounts go first, in order, so the project's own come after them */
			r = insert_mount(c, &m, n_front);
			if (r < 0) {
				mount_done(&m);
				return r;
			}
			n_front++;
		}
	}
	return 0;
}

static void rules_free(struct cell_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rule_done(&rules[i]);
	free(rules);
}

static void kv_free(struct cell_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void cell_config_free(struct cell_config *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->shell);
	cell_strv_free(c->presets);
	for (size_t i = 0; i < c->n_mounts; i++)
		mount_done(&c->mounts[i]);
	free(c->mounts);
	rules_free(c->network.allow, c->network.n_allow);
	rules_free(c->network.deny, c->network.n_deny);
	free(c->network.local_ports);
	free(c->network.forward);
	free(c->network.upstream_proxy);
	cell_strv_free(c->network.upstream_no_proxy);
	kv_free(c->network.resolve, c->network.n_resolve);
	cell_strv_free(c->env.pass);
	kv_free(c->env.set, c->env.n_set);
	cell_strv_free(c->env.files);
	kv_free(c->scripts, c->n_scripts);
	cell_strv_free(c->hooks.enter);
	cell_strv_free(c->bwrap_args);
	cell_config_processes_free(c->processes, c->n_processes);
	cell_config_secrets_free(c->secrets, c->n_secrets);
	cell_diag_clear(&c->bwrap_args_objection);
	free(c);
}

/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "expand.h"
#include "fileio.h"
#include "jsonpos.h"
#include "netpolicy.h"
#include "path.h"
#include "preset.h"
#include "strv.h"

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

#define NAME_MAX_LEN 64
#define PIDS_MAX 4194304
#define MEMORY_MIN (1024 * 1024)

const char *cell_mount_mode_to_string(enum cell_mount_mode m)
{
	return m < _CELL_MOUNT_MAX ? mount_modes[m] : NULL;
}

const char *cell_net_mode_to_string(enum cell_net_mode m)
{
	return m < _CELL_NET_MAX ? net_modes[m] : NULL;
}

/* Levenshtein distance, for "did you mean"; words longer than 63 characters are never close. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= ELEMENTSOF(row) || lb >= ELEMENTSOF(row))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost =
				tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1])
					? 0
					: 1;
			size_t best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *cell_config_suggest(const char *word, const char *const *candidates, size_t n)
{
	size_t limit = strlen(word) <= 3 ? 1 : 2, best = SIZE_MAX;
	const char *found = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t d;

		if (!candidates[i])
			continue;
		d = distance(word, candidates[i]);
		if (d <= limit && d < best) {
			best = d;
			found = candidates[i];
		}
	}
	return found;
}

/* One step of the JSON path being validated: a key or an array index, and its ordinal. */
struct segment {
	const char *key;
	int index;
	size_t ordinal;
};

struct ctx {
	struct cell_config *c;
	const char *file;
	const char *text;
	size_t len;
	const char *root;
	const struct cell_config_env *env;
	struct cell_diag *diag;
	struct segment segs[8];
	size_t depth;
};

static void push(struct ctx *x, const char *key, int index, size_t ordinal)
{
	if (x->depth < ELEMENTSOF(x->segs))
		x->segs[x->depth] = (struct segment){key, index, ordinal};
	x->depth++;
}

static void pop(struct ctx *x)
{
	x->depth--;
}

static void render_path(const struct ctx *x, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < x->depth && i < ELEMENTSOF(x->segs) && used < size; i++) {
		const struct segment *s = &x->segs[i];
		int n;

		if (s->index >= 0)
			n = snprintf(buf + used, size - used, "[%d]", s->index);
		else
			n = snprintf(buf + used, size - used, "%s%s", i > 0 ? "." : "", s->key);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Reports a problem at the current path (at its key with at_key); returns -EINVAL. */
_printf_(3, 4) static int fail(struct ctx *x, bool at_key, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	size_t ordinals[ELEMENTSOF(x->segs)];
	char path[512];
	va_list ap;
	long off;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	render_path(x, path, sizeof(path));
	cell_diag_set(x->diag, -EINVAL, x->file, path, "%s", msg ? msg : "invalid value");
	for (size_t i = 0; i < x->depth && i < ELEMENTSOF(ordinals); i++)
		ordinals[i] = x->segs[i].ordinal;
	off = cell_json_locate(x->text, x->len, ordinals, x->depth, at_key);
	if (off >= 0)
		cell_diag_locate(x->diag, x->text, x->len, (size_t)off);
	return -EINVAL;
}

/* The current path, for the origin of a rule or mount. */
static char *origin_here(const struct ctx *x)
{
	char path[512], *s;

	render_path(x, path, sizeof(path));
	if (asprintf(&s, "%s: %s", x->file, path) < 0)
		return NULL;
	return s;
}

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "an unknown value";
}

static int expect(struct ctx *x, const cJSON *v, cJSON_bool (*is)(const cJSON *), const char *what)
{
	if (is(v))
		return 0;
	return fail(x, false, "expected %s, got %s", what, type_name(v));
}

static char *join_words(const char *const *words, size_t n)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(words[i]) + 2;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, ", ");
		strcat(s, words[i]);
	}
	return s;
}

/* Rejects duplicate and unknown members of obj, suggesting the nearest known key. */
static int check_keys(struct ctx *x, const cJSON *obj, const char *const *keys, size_t n)
{
	const cJSON *item;
	size_t i = 0;

	cJSON_ArrayForEach(item, obj)
	{
		bool known = false;

		push(x, item->string, -1, i++);
		for (const cJSON *p = obj->child; p != item; p = p->next)
			if (streq(p->string, item->string))
				return fail(x, true, "duplicate key; each key may appear once");
		for (size_t k = 0; k < n; k++)
			known = known || streq(keys[k], item->string);
		if (!known) {
			const char *s = cell_config_suggest(item->string, keys, n);
			_cleanup_free_ char *all = NULL;

			if (s)
				return fail(x, true, "unknown key; did you mean \"%s\"?", s);
			all = join_words(keys, n);
			return fail(x, true, "unknown key (known keys here: %s)", all ? all : "?");
		}
		pop(x);
	}
	return 0;
}

static int get_enum(struct ctx *x, const cJSON *v, const char *const *names, size_t n,
		    const char *what, int *ret)
{
	_cleanup_free_ char *all = NULL;
	const char *s;
	int r;

	r = expect(x, v, cJSON_IsString, "a string");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (streq(names[i], v->valuestring)) {
			*ret = (int)i;
			return 0;
		}
	all = join_words(names, n);
	s = cell_config_suggest(v->valuestring, names, n);
	if (s)
		return fail(x, false, "\"%s\" is not %s (%s); did you mean \"%s\"?", v->valuestring,
			    what, all ? all : "?", s);
	return fail(x, false, "\"%s\" is not %s (%s)", v->valuestring, what, all ? all : "?");
}

static int get_int(struct ctx *x, const cJSON *v, double min, double max, const char *what,
		   double *ret)
{
	int r = expect(x, v, cJSON_IsNumber, "an integer");

	if (r < 0)
		return r;
	if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < min || v->valuedouble > max)
		return fail(x, false, "%.15g is not %s (%.15g..%.15g)", v->valuedouble, what, min,
			    max);
	*ret = v->valuedouble;
	return 0;
}

static int set_string(struct ctx *x, char **field, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return fail(x, false, "out of memory");
	free(*field);
	*field = s;
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

static int apply_name(struct ctx *x, const cJSON *v)
{
	int r = expect(x, v, cJSON_IsString, "a string");

	if (r < 0)
		return r;
	if (!cell_config_valid_name(v->valuestring))
		return fail(
			x, false,
			"\"%s\" is not a cell name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)",
			v->valuestring);
	return set_string(x, &x->c->name, v->valuestring);
}

static int apply_shell(struct ctx *x, const cJSON *v)
{
	int r = expect(x, v, cJSON_IsString, "a string");

	if (r < 0)
		return r;
	if (v->valuestring[0] != '/')
		return fail(x, false, "\"%s\" is not an absolute path (\"/bin/bash\")",
			    v->valuestring);
	return set_string(x, &x->c->shell, v->valuestring);
}

static int apply_presets(struct ctx *x, const cJSON *v)
{
	const cJSON *item;
	int i = 0, r;

	r = expect(x, v, cJSON_IsArray, "an array of preset names");
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		push(x, NULL, i, (size_t)i);
		i++;
		r = expect(x, item, cJSON_IsString, "a preset name");
		if (r < 0)
			return r;
		if (!cell_preset_find(item->valuestring)) {
			size_t n;
			const struct cell_preset *all = cell_presets(&n);
			const char *names[16] = {0};
			_cleanup_free_ char *list = NULL;
			const char *s;

			for (size_t k = 0; k < n && k < ELEMENTSOF(names); k++)
				names[k] = all[k].name;
			list = join_words(names, n);
			s = cell_config_suggest(item->valuestring, names, n);
			if (s)
				return fail(x, false,
					    "\"%s\" is not a preset (%s); did you mean \"%s\"?",
					    item->valuestring, list ? list : "?", s);
			return fail(x, false, "\"%s\" is not a preset (%s)", item->valuestring,
				    list ? list : "?");
		}
		if (!cell_strv_contains(x->c->presets, item->valuestring) &&
		    cell_strv_extend(&x->c->presets, item->valuestring) < 0)
			return fail(x, false, "out of memory");
		pop(x);
	}
	return 0;
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

static void mount_done(struct cell_mount *m)
{
	free(m->path);
	free(m->dest);
	free(m->origin);
}

/* Expands a path value at the current place; -ENXIO (no diag) when an optional one can't be. */
static int expand_here(struct ctx *x, const char *in, bool optional, char **ret)
{
	_cleanup_free_ char *why = NULL;
	int r;

	r = cell_expand_path(in, x->root, x->env, ret, &why);
	if (r == -ENXIO && optional)
		return r;
	if (r < 0)
		return fail(x, false, "\"%s\": %s", in, why ? why : "cannot be expanded");
	return 0;
}

static int apply_mount(struct ctx *x, const cJSON *v)
{
	static const char *const keys[] = {"path", "dest", "mode", "optional", "canonicalize"};
	struct cell_mount m = {.mode = CELL_MOUNT_RO};
	const cJSON *path = NULL, *dest = NULL, *item;
	size_t i = 0;
	int r;

	r = expect(
		x, v, cJSON_IsObject,
		"an object with \"path\" (and \"mode\", \"dest\", \"optional\", \"canonicalize\")");
	if (r < 0)
		return r;
	r = check_keys(x, v, keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		int mode;

		push(x, item->string, -1, i++);
		if (streq(item->string, "path") || streq(item->string, "dest")) {
			r = expect(x, item, cJSON_IsString, "a string");
			if (r >= 0 && item->valuestring[0] == '\0')
				r = fail(x, false, "expected a path, got an empty string");
			*(streq(item->string, "path") ? &path : &dest) = item;
		} else if (streq(item->string, "mode")) {
			r = get_enum(x, item, mount_modes, ELEMENTSOF(mount_modes), "a mount mode",
				     &mode);
			m.mode = (enum cell_mount_mode)mode;
		} else {
			r = expect(x, item, cJSON_IsBool, "true or false");
			*(streq(item->string, "optional") ? &m.optional : &m.canonicalize) =
				cJSON_IsTrue(item);
		}
		if (r < 0)
			return r;
		pop(x);
	}
	if (!path)
		return fail(x, false, "a mount needs \"path\"");

	i = 0;
	cJSON_ArrayForEach(item, v)
	{
		char **field = streq(item->string, "path")   ? &m.path
			       : streq(item->string, "dest") ? &m.dest
							     : NULL;

		push(x, item->string, -1, i++);
		if (field) {
			r = expand_here(x, item->valuestring, m.optional, field);
			if (r == -ENXIO) {
				/* optional, and a variable it needs is unset: the mount is skipped
				 */
				mount_done(&m);
				return 0;
			}
			if (r < 0) {
				mount_done(&m);
				return r;
			}
		}
		pop(x);
	}
	if (!m.dest)
		m.dest = strdup(m.path);
	m.origin = origin_here(x);
	if (!m.dest || !m.origin || insert_mount(x->c, &m, x->c->n_mounts) < 0) {
		mount_done(&m);
		return fail(x, false, "out of memory");
	}
	return 0;
}

static int apply_mounts(struct ctx *x, const cJSON *v)
{
	const cJSON *item;
	int i = 0, r;

	r = expect(x, v, cJSON_IsArray, "an array of mounts");
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		push(x, NULL, i, (size_t)i);
		i++;
		r = apply_mount(x, item);
		if (r < 0)
			return r;
		pop(x);
	}
	return 0;
}

static int add_rule(struct cell_rule **rules, size_t *n, const char *text, const char *origin)
{
	struct cell_rule *nr;

	for (size_t i = 0; i < *n; i++)
		if (streq((*rules)[i].text, text))
			return 0;
	nr = reallocarray(*rules, *n + 1, sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	*rules = nr;
	nr[*n].text = strdup(text);
	nr[*n].origin = strdup(origin);
	if (!nr[*n].text || !nr[*n].origin) {
		free(nr[*n].text);
		free(nr[*n].origin);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

/* Adds a rule or the hosts of an "@preset"; on a bad rule returns -EINVAL with *ret_why. */
static int add_rule_or_preset(struct cell_rule **rules, size_t *n, const char *text,
			      const char *origin, const char **ret_why)
{
	struct cell_netrule rule;
	char canon[CELL_HOST_MAX + 16];
	int r;

	if (text[0] == '@') {
		const struct cell_netpreset *p = cell_netpreset_find(text);
		_cleanup_free_ char *o = NULL;

		if (!p) {
			*ret_why = NULL;
			return -ENOENT;
		}
		if (asprintf(&o, "%s (%s)", origin, text) < 0)
			return -ENOMEM;
		for (const char *const *h = p->hosts; *h; h++) {
			r = add_rule(rules, n, *h, o);
			if (r < 0)
				return r;
		}
		return 0;
	}
	r = cell_netrule_parse(text, &rule, ret_why);
	if (r < 0)
		return r;
	r = cell_netrule_format(&rule, canon, sizeof(canon));
	if (r < 0)
		return r;
	return add_rule(rules, n, canon, origin);
}

static int apply_rules(struct ctx *x, const cJSON *v, struct cell_rule **rules, size_t *n)
{
	const cJSON *item;
	int i = 0, r;

	r = expect(x, v, cJSON_IsArray, "an array of host rules");
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		_cleanup_free_ char *origin = NULL;
		const char *why = NULL;

		push(x, NULL, i, (size_t)i);
		i++;
		r = expect(x, item, cJSON_IsString, "a string");
		if (r < 0)
			return r;
		origin = origin_here(x);
		if (!origin)
			return fail(x, false, "out of memory");
		r = add_rule_or_preset(rules, n, item->valuestring, origin, &why);
		if (r == -ENOENT) {
			size_t np;
			const struct cell_netpreset *all = cell_netpresets(&np);
			const char *names[16] = {0};
			const char *s;

			for (size_t k = 0; k < np && k < ELEMENTSOF(names); k++)
				names[k] = all[k].name;
			s = cell_config_suggest(item->valuestring + 1, names, np);
			if (s)
				return fail(x, false,
					    "\"%s\" is not a host preset; did you mean \"@%s\"?",
					    item->valuestring, s);
			return fail(
				x, false,
				"\"%s\" is not a host preset (@npm, @pypi, @crates, @go, @nix, @github)",
				item->valuestring);
		}
		if (r == -EINVAL)
			return fail(x, false, "\"%s\" is not a host rule: %s", item->valuestring,
				    why ? why : "invalid");
		if (r < 0)
			return fail(x, false, "out of memory");
		pop(x);
	}
	return 0;
}

static int apply_local_ports(struct ctx *x, const cJSON *v)
{
	const cJSON *item;
	int i = 0, r;

	r = expect(x, v, cJSON_IsArray, "an array of port numbers");
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		struct cell_config *c = x->c;
		bool seen = false;
		uint16_t *np;
		double port;

		push(x, NULL, i, (size_t)i);
		i++;
		r = get_int(x, item, 1, 65535, "a port", &port);
		if (r < 0)
			return r;
		for (size_t k = 0; k < c->network.n_local_ports; k++)
			seen = seen || c->network.local_ports[k] == (uint16_t)port;
		if (!seen) {
			np = reallocarray(c->network.local_ports, c->network.n_local_ports + 1,
					  sizeof(*np));
			if (!np)
				return fail(x, false, "out of memory");
			c->network.local_ports = np;
			np[c->network.n_local_ports++] = (uint16_t)port;
		}
		pop(x);
	}
	return 0;
}

static int apply_resolve(struct ctx *x, const cJSON *v)
{
	const cJSON *item;
	size_t i = 0;
	int r;

	r = expect(x, v, cJSON_IsObject, "an object mapping host names to addresses");
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		struct cell_config *c = x->c;
		char host[CELL_HOST_MAX + 1];
		unsigned char addr[16];
		const char *why = NULL;
		struct cell_resolve *nr;
		size_t k;

		push(x, item->string, -1, i++);
		for (const cJSON *p = v->child; p != item; p = p->next)
			if (streq(p->string, item->string))
				return fail(x, true, "duplicate key; each key may appear once");
		if (cell_hostname_normalize(item->string, host, sizeof(host), &why) < 0)
			return fail(x, true, "\"%s\" is not a host name: %s", item->string, why);
		r = expect(x, item, cJSON_IsString, "an IP address as a string");
		if (r < 0)
			return r;
		if (inet_pton(AF_INET, item->valuestring, addr) != 1 &&
		    inet_pton(AF_INET6, item->valuestring, addr) != 1)
			return fail(x, false, "\"%s\" is not an IPv4 or IPv6 address",
				    item->valuestring);
		for (k = 0; k < c->network.n_resolve; k++)
			if (streq(c->network.resolve[k].host, host))
				break;
		if (k == c->network.n_resolve) {
			nr = reallocarray(c->network.resolve, k + 1, sizeof(*nr));
			if (!nr)
				return fail(x, false, "out of memory");
			c->network.resolve = nr;
			nr[k] = (struct cell_resolve){strdup(host), NULL};
			c->network.n_resolve++;
			if (!nr[k].host)
				return fail(x, false, "out of memory");
		}
		r = set_string(x, &c->network.resolve[k].address, item->valuestring);
		if (r < 0)
			return r;
		pop(x);
	}
	return 0;
}

static int apply_network(struct ctx *x, const cJSON *v)
{
	static const char *const keys[] = {"mode", "allow", "deny", "local_ports", "resolve"};
	struct cell_config *c = x->c;
	const cJSON *item;
	size_t i = 0;
	int r;

	r = expect(x, v, cJSON_IsObject, "an object");
	if (r < 0)
		return r;
	r = check_keys(x, v, keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		const char *k = item->string;
		int mode;

		push(x, k, -1, i++);
		if (streq(k, "mode")) {
			r = get_enum(x, item, net_modes, ELEMENTSOF(net_modes), "a network mode",
				     &mode);
			c->network.mode = (enum cell_net_mode)mode;
		} else if (streq(k, "allow")) {
			r = apply_rules(x, item, &c->network.allow, &c->network.n_allow);
		} else if (streq(k, "deny")) {
			r = apply_rules(x, item, &c->network.deny, &c->network.n_deny);
		} else if (streq(k, "local_ports")) {
			r = apply_local_ports(x, item);
		} else {
			r = apply_resolve(x, item);
		}
		if (r < 0)
			return r;
		pop(x);
	}
	return 0;
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

static int apply_env_pass(struct ctx *x, const cJSON *v)
{
	const cJSON *item;
	int i = 0, r;

	r = expect(x, v, cJSON_IsArray, "an array of variable names");
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		push(x, NULL, i, (size_t)i);
		i++;
		r = expect(x, item, cJSON_IsString, "a variable name");
		if (r < 0)
			return r;
		if (!valid_env_name(item->valuestring, true))
			return fail(
				x, false,
				"\"%s\" is not a variable name (letters, digits and '_', not starting with a digit; a final '*' matches a prefix)",
				item->valuestring);
		if (!cell_strv_contains(x->c->env.pass, item->valuestring) &&
		    cell_strv_extend(&x->c->env.pass, item->valuestring) < 0)
			return fail(x, false, "out of memory");
		pop(x);
	}
	return 0;
}

static int apply_env_set(struct ctx *x, const cJSON *v)
{
	struct cell_config *c = x->c;
	const cJSON *item;
	size_t i = 0;
	int r;

	r = expect(x, v, cJSON_IsObject, "an object mapping names to values");
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		struct cell_setenv *ns;
		size_t k;

		push(x, item->string, -1, i++);
		for (const cJSON *p = v->child; p != item; p = p->next)
			if (streq(p->string, item->string))
				return fail(x, true, "duplicate key; each key may appear once");
		if (!valid_env_name(item->string, false))
			return fail(x, true, "\"%s\" is not a variable name", item->string);
		if (startswith(item->string, "CELL_"))
			return fail(x, true, "CELL_* variables are set by cell itself");
		r = expect(x, item, cJSON_IsString, "a string");
		if (r < 0)
			return r;
		for (k = 0; k < c->env.n_set; k++)
			if (streq(c->env.set[k].name, item->string))
				break;
		if (k == c->env.n_set) {
			ns = reallocarray(c->env.set, k + 1, sizeof(*ns));
			if (!ns)
				return fail(x, false, "out of memory");
			c->env.set = ns;
			ns[k] = (struct cell_setenv){strdup(item->string), NULL};
			c->env.n_set++;
			if (!ns[k].name)
				return fail(x, false, "out of memory");
		}
		r = set_string(x, &c->env.set[k].value, item->valuestring);
		if (r < 0)
			return r;
		pop(x);
	}
	return 0;
}

static int apply_env(struct ctx *x, const cJSON *v)
{
	static const char *const keys[] = {"pass", "set"};
	const cJSON *item;
	size_t i = 0;
	int r;

	r = expect(x, v, cJSON_IsObject, "an object");
	if (r < 0)
		return r;
	r = check_keys(x, v, keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		push(x, item->string, -1, i++);
		r = streq(item->string, "pass") ? apply_env_pass(x, item) : apply_env_set(x, item);
		if (r < 0)
			return r;
		pop(x);
	}
	return 0;
}

/* "4G", "512M", "1.5G" (binary units, an optional "B" or "iB"), or a whole number of bytes. */
static int parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "KMGT";
	char *end;
	double v, mult = 1;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0)
		return -EINVAL;
	if (*end) {
		const char *u = strchr(units, toupper((unsigned char)*end));

		if (!u)
			return -EINVAL;
		mult = ldexp(1.0, 10 * (int)(u - units + 1));
		end++;
		if (streq(end, "iB") || streq(end, "B"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	v *= mult;
	if (v >= 18446744073709551615.0 || v != floor(v))
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

static int apply_limits(struct ctx *x, const cJSON *v)
{
	static const char *const keys[] = {"memory", "pids"};
	const cJSON *item;
	size_t i = 0;
	int r;

	r = expect(x, v, cJSON_IsObject, "an object");
	if (r < 0)
		return r;
	r = check_keys(x, v, keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		double n;

		push(x, item->string, -1, i++);
		if (streq(item->string, "pids")) {
			r = get_int(x, item, 1, PIDS_MAX, "a number of processes", &n);
			if (r < 0)
				return r;
			x->c->limits.pids = (uint32_t)n;
		} else if (cJSON_IsNumber(item)) {
			r = get_int(x, item, MEMORY_MIN, 9007199254740992.0, "a size in bytes", &n);
			if (r < 0)
				return r;
			x->c->limits.memory = (uint64_t)n;
		} else {
			uint64_t bytes;

			r = expect(x, item, cJSON_IsString, "a size (\"4G\") or a number of bytes");
			if (r < 0)
				return r;
			if (parse_size(item->valuestring, &bytes) < 0)
				return fail(
					x, false,
					"\"%s\" is not a size (a number with K, M, G or T: \"512M\", \"4G\")",
					item->valuestring);
			if (bytes < MEMORY_MIN)
				return fail(x, false, "\"%s\" is less than the smallest limit, 1M",
					    item->valuestring);
			x->c->limits.memory = bytes;
		}
		pop(x);
	}
	return 0;
}

static int apply_hardening(struct ctx *x, const cJSON *v)
{
	static const char *const keys[] = {"allow_userns", "allow_io_uring"};
	const cJSON *item;
	size_t i = 0;
	int r;

	r = expect(x, v, cJSON_IsObject, "an object");
	if (r < 0)
		return r;
	r = check_keys(x, v, keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		push(x, item->string, -1, i++);
		r = expect(x, item, cJSON_IsBool, "true or false");
		if (r < 0)
			return r;
		if (streq(item->string, "allow_userns"))
			x->c->hardening.allow_userns = cJSON_IsTrue(item);
		else
			x->c->hardening.allow_io_uring = cJSON_IsTrue(item);
		pop(x);
	}
	return 0;
}

static int apply_top(struct ctx *x, const cJSON *root)
{
	static const char *const keys[] = {"name",    "presets", "shell",  "mounts",
					   "network", "env",	 "limits", "hardening"};
	const cJSON *item;
	size_t i = 0;
	int r;

	if (!cJSON_IsObject(root))
		return fail(x, false, "expected an object at the top level, got %s",
			    type_name(root));
	r = check_keys(x, root, keys, ELEMENTSOF(keys));
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, root)
	{
		const char *k = item->string;

		push(x, k, -1, i++);
		if (streq(k, "name"))
			r = apply_name(x, item);
		else if (streq(k, "presets"))
			r = apply_presets(x, item);
		else if (streq(k, "shell"))
			r = apply_shell(x, item);
		else if (streq(k, "mounts"))
			r = apply_mounts(x, item);
		else if (streq(k, "network"))
			r = apply_network(x, item);
		else if (streq(k, "env"))
			r = apply_env(x, item);
		else if (streq(k, "limits"))
			r = apply_limits(x, item);
		else
			r = apply_hardening(x, item);
		if (r < 0)
			return r;
		pop(x);
	}
	return 0;
}

/* Whether a string whose content starts at off has a closing quote anywhere after it. */
static bool unterminated_string_ends(const char *text, size_t len, size_t off)
{
	for (size_t i = off; i < len; i++) {
		if (text[i] == '\\')
			i++;
		else if (text[i] == '"')
			return true;
	}
	return false;
}

/* Words for a syntax error at offset: what is there, and a hint for the usual mistakes. */
static void describe_syntax_error(const char *text, size_t len, size_t off, char *buf, size_t size)
{
	size_t prev = off;

	if (off >= len) {
		snprintf(buf, size, "unexpected end of file (is a '}', ']' or '\"' missing?)");
		return;
	}
	while (prev > 0 && isspace((unsigned char)text[prev - 1]))
		prev--;
	if (off > 0 && text[off - 1] == '"' && !unterminated_string_ends(text, len, off))
		snprintf(buf, size, "a string is not closed (a '\"' is missing)");
	else if ((text[off] == '}' || text[off] == ']') && prev > 0 && text[prev - 1] == ',')
		snprintf(buf, size, "unexpected '%c' after a trailing comma", text[off]);
	else if (text[off] == '/')
		snprintf(buf, size, "unexpected '/' (JSON has no comments)");
	else if (text[off] == '\'')
		snprintf(buf, size, "unexpected \"'\" (JSON strings use double quotes)");
	else if (isprint((unsigned char)text[off]))
		snprintf(buf, size, "unexpected '%c'", text[off]);
	else
		snprintf(buf, size, "unexpected byte 0x%02x", (unsigned char)text[off]);
}

int cell_config_apply(struct cell_config *c, const char *file, const char *text, size_t len,
		      const char *project_root, const struct cell_config_env *env,
		      struct cell_diag *diag)
{
	struct ctx x = {.c = c,
			.file = file,
			.text = text,
			.len = len,
			.root = project_root,
			.env = env,
			.diag = diag};
	cJSON *root;
	const char *end = NULL, *start = text;
	size_t skip = 0;
	int r;

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		skip = 3;
	start = text + skip;
	while (start < text + len && isspace((unsigned char)*start))
		start++;
	if (start == text + len)
		return cell_diag_set(diag, -EINVAL, file, NULL,
				     "the file is empty; a config is a JSON object, at least {}");
	if (memchr(text, '\0', len)) {
		r = cell_diag_set(diag, -EINVAL, file, NULL, "the file contains a NUL byte");
		cell_diag_locate(diag, text, len,
				 (size_t)((const char *)memchr(text, '\0', len) - text));
		return r;
	}
	/* with a length, cJSON wants the terminating NUL inside it to accept the document's end */
	root = cJSON_ParseWithLengthOpts(text + skip, len - skip + 1, &end, 1);
	if (!root) {
		size_t off = end ? (size_t)(end - text) : len;
		char what[128];

		if (off > len)
			off = len;
		/*
		 * Where an object key should start, cJSON reports one byte past the character it
		 * refused ("{'a'", "{\"a\": 1,}"): step back onto it.
		 */
		if (off > 0 && !isspace((unsigned char)text[off - 1]) && text[off - 1] != '"') {
			size_t q = off - 1;

			while (q > 0 && isspace((unsigned char)text[q - 1]))
				q--;
			if (q > 0 && (text[q - 1] == '{' || text[q - 1] == ','))
				off--;
		}
		describe_syntax_error(text, len, off, what, sizeof(what));
		r = cell_diag_set(diag, -EINVAL, file, NULL, "syntax error: %s", what);
		cell_diag_locate(diag, text, len, off);
		return r;
	}
	r = apply_top(&x, root);
	cJSON_Delete(root);
	return r;
}

int cell_config_new(struct cell_config **ret)
{
	struct cell_config *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->network.mode = CELL_NET_PROXY;
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

int cell_config_finish(struct cell_config *c, const char *project_root,
		       const struct cell_config_env *env, struct cell_diag *diag)
{
	size_t n_front = 0;
	int r;

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
		for (const char *const *a = p->allow; *a; a++) {
			const char *why = NULL;

			r = add_rule_or_preset(&c->network.allow, &c->network.n_allow, *a, origin,
					       &why);
			if (r < 0)
				return r;
		}
		for (size_t k = 0; k < p->n_mounts; k++) {
			struct cell_mount m = {.mode = p->mounts[k].mode,
					       .optional = p->mounts[k].optional};
			_cleanup_free_ char *why = NULL;

			r = cell_expand_path(p->mounts[k].path, project_root, env, &m.path, &why);
			if (r == -ENXIO && m.optional)
				continue;
			if (r < 0)
				return cell_diag_set(diag, r, NULL, NULL, "preset %s: \"%s\": %s",
						     p->name, p->mounts[k].path, why ? why : "?");
			m.dest = strdup(m.path);
			m.origin = strdup(origin);
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
	for (size_t i = 0; i < n; i++) {
		free(rules[i].text);
		free(rules[i].origin);
	}
	free(rules);
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
	for (size_t i = 0; i < c->network.n_resolve; i++) {
		free(c->network.resolve[i].host);
		free(c->network.resolve[i].address);
	}
	free(c->network.resolve);
	cell_strv_free(c->env.pass);
	for (size_t i = 0; i < c->env.n_set; i++) {
		free(c->env.set[i].name);
		free(c->env.set[i].value);
	}
	free(c->env.set);
	free(c);
}

/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonpos.h"
#include "macro.h"
#include "schema.h"
#include "suggest.h"

void cell_schema_push(struct cell_schema *s, const char *key, int index, size_t ordinal)
{
	if (s->depth < CELL_SCHEMA_DEPTH)
		s->segs[s->depth] = (struct cell_schema_segment){key, index, ordinal};
	s->depth++;
}

static void pop(struct cell_schema *s)
{
	s->depth--;
}

static bool plain_key(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '_' && *k != '$')
			return false;
	return true;
}

/* Appends key as `["..."]`, with '"', '\\' and control characters escaped. */
static size_t render_quoted_key(char *buf, size_t size, const char *k)
{
	size_t used = 0;

	used += (size_t)snprintf(buf, size, "[\"");
	for (; *k && used + 8 < size; k++) {
		unsigned char c = (unsigned char)*k;

		if (c < 0x20 || c == 0x7f)
			used += (size_t)snprintf(buf + used, size - used, "\\u%04x", c);
		else if (c == '"' || c == '\\')
			used += (size_t)snprintf(buf + used, size - used, "\\%c", c);
		else
			buf[used++] = (char)c;
	}
	used += (size_t)snprintf(buf + used, size > used ? size - used : 0, "\"]");
	return used;
}

/* network.allow[2], env.set.NODE_ENV, network.resolve["registry.test"] */
static void render_path(const struct cell_schema *s, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->depth && i < CELL_SCHEMA_DEPTH && used + 16 < size; i++) {
		const struct cell_schema_segment *g = &s->segs[i];

		if (g->index >= 0)
			used += (size_t)snprintf(buf + used, size - used, "[%d]", g->index);
		else if (plain_key(g->key))
			used += (size_t)snprintf(buf + used, size - used, "%s%s", i > 0 ? "." : "",
						 g->key);
		else
			used += render_quoted_key(buf + used, size - used, g->key);
	}
	if (used >= size)
		buf[size - 1] = '\0';
}

int cell_schema_fail(struct cell_schema *s, bool at_key, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	size_t ordinals[CELL_SCHEMA_DEPTH];
	char path[512];
	va_list ap;
	long off;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	render_path(s, path, sizeof(path));
	cell_diag_set(s->diag, -EINVAL, s->file, path, "%s", msg ? msg : "invalid value");
	for (size_t i = 0; i < s->depth && i < CELL_SCHEMA_DEPTH; i++)
		ordinals[i] = s->segs[i].ordinal;
	off = s->depth <= CELL_SCHEMA_DEPTH
		      ? cell_json_locate(s->text, s->len, ordinals, s->depth, at_key)
		      : -1;
	if (off >= 0)
		cell_diag_locate(s->diag, s->text, s->len, (size_t)off);
	return -EINVAL;
}

char *cell_schema_origin(const struct cell_schema *s)
{
	char path[512], *o;

	render_path(s, path, sizeof(path));
	if (asprintf(&o, "%s: %s", s->file, path) < 0)
		return NULL;
	return o;
}

char *cell_schema_origin_at(const struct cell_schema *s)
{
	_cleanup_diag_ struct cell_diag d = {0};
	size_t ordinals[CELL_SCHEMA_DEPTH];
	char path[512], *o;
	long off = -1;

	render_path(s, path, sizeof(path));
	for (size_t i = 0; i < s->depth && i < CELL_SCHEMA_DEPTH; i++)
		ordinals[i] = s->segs[i].ordinal;
	if (s->depth <= CELL_SCHEMA_DEPTH)
		off = cell_json_locate(s->text, s->len, ordinals, s->depth, false);
	if (off >= 0)
		cell_diag_locate(&d, s->text, s->len, (size_t)off);
	if (d.line ? asprintf(&o, "%s:%u:%u: %s", s->file, d.line, d.column, path) < 0
		   : asprintf(&o, "%s: %s", s->file, path) < 0)
		return NULL;
	return o;
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

int cell_schema_expect(struct cell_schema *s, const cJSON *v, cJSON_bool (*is)(const cJSON *),
		       const char *what)
{
	if (is(v))
		return 0;
	return cell_schema_fail(s, false, "expected %s, got %s", what, type_name(v));
}

static int check_unique(struct cell_schema *s, const cJSON *obj, const cJSON *item)
{
	for (const cJSON *p = obj->child; p && p != item; p = p->next)
		if (streq(p->string, item->string))
			return cell_schema_fail(s, true, "duplicate key; each key may appear once");
	return 0;
}

static int check_keys(struct cell_schema *s, const cJSON *obj, const char *const *keys, size_t n)
{
	const cJSON *item;
	size_t i = 0;
	int r;

	cJSON_ArrayForEach(item, obj)
	{
		bool known = false;

		cell_schema_push(s, item->string, -1, i++);
		r = check_unique(s, obj, item);
		if (r < 0)
			return r;
		for (size_t k = 0; k < n; k++)
			known = known || streq(keys[k], item->string);
		if (!known) {
			const char *near = cell_suggest(item->string, keys, n);
			_cleanup_free_ char *all = NULL;

			if (near)
				return cell_schema_fail(s, true,
							"unknown key; did you mean \"%s\"?", near);
			all = cell_join_words(keys, n);
			return cell_schema_fail(s, true, "unknown key (known keys here: %s)",
						all ? all : "?");
		}
		pop(s);
	}
	return 0;
}

static int check_object(struct cell_schema *s, const cJSON *v, const char *what,
			const char *const *keys, size_t n)
{
	int r = cell_schema_expect(s, v, cJSON_IsObject, what);

	if (r < 0)
		return r;
	return check_keys(s, v, keys, n);
}

int cell_schema_members(struct cell_schema *s, const cJSON *v, const char *what,
			const struct cell_schema_member *members, size_t n)
{
	const char *keys[16];
	const cJSON *item;
	size_t i = 0;
	int r;

	if (n > ELEMENTSOF(keys))
		return -E2BIG;
	for (size_t k = 0; k < n; k++)
		keys[k] = members[k].key;
	r = check_object(s, v, what, keys, n);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(item, v)
	{
		cell_schema_push(s, item->string, -1, i++);
		for (size_t k = 0; k < n; k++)
			if (streq(members[k].key, item->string)) {
				r = members[k].apply(s, item);
				break;
			}
		if (r < 0)
			return r;
		pop(s);
	}
	return 0;
}

/* An array or a map (an object with keys of its own choosing): fn for each entry, at its path. */
static int each(struct cell_schema *s, const cJSON *v, bool map, const char *what,
		int (*fn)(struct cell_schema *s, const cJSON *item))
{
	const cJSON *item;
	int i = 0, r;

	r = cell_schema_expect(s, v, map ? cJSON_IsObject : cJSON_IsArray, what);
	if (r < 0)
		return r;
	if (cJSON_GetArraySize(v) > CELL_SCHEMA_MAX_ITEMS)
		return cell_schema_fail(s, false, "has %d entries; at most %d are allowed",
					cJSON_GetArraySize(v), CELL_SCHEMA_MAX_ITEMS);
	cJSON_ArrayForEach(item, v)
	{
		cell_schema_push(s, map ? item->string : NULL, map ? -1 : i, (size_t)i);
		i++;
		r = map ? check_unique(s, v, item) : 0;
		if (r >= 0)
			r = fn(s, item);
		if (r < 0)
			return r;
		pop(s);
	}
	return 0;
}

int cell_schema_elements(struct cell_schema *s, const cJSON *v, const char *what,
			 int (*fn)(struct cell_schema *s, const cJSON *item))
{
	return each(s, v, false, what, fn);
}

int cell_schema_map(struct cell_schema *s, const cJSON *v, const char *what,
		    int (*fn)(struct cell_schema *s, const cJSON *item))
{
	return each(s, v, true, what, fn);
}

int cell_schema_get_enum(struct cell_schema *s, const cJSON *v, const char *const *names, size_t n,
			 const char *what, int *ret)
{
	_cleanup_free_ char *all = NULL;
	const char *near;
	int r;

	r = cell_schema_expect(s, v, cJSON_IsString, "a string");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (streq(names[i], v->valuestring)) {
			*ret = (int)i;
			return 0;
		}
	all = cell_join_words(names, n);
	near = cell_suggest(v->valuestring, names, n);
	if (near)
		return cell_schema_fail(s, false, "\"%s\" is not %s (%s); did you mean \"%s\"?",
					v->valuestring, what, all ? all : "?", near);
	return cell_schema_fail(s, false, "\"%s\" is not %s (%s)", v->valuestring, what,
				all ? all : "?");
}

int cell_schema_get_int(struct cell_schema *s, const cJSON *v, double min, double max,
			const char *what, double *ret)
{
	int r = cell_schema_expect(s, v, cJSON_IsNumber, "an integer");

	if (r < 0)
		return r;
	if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < min || v->valuedouble > max)
		return cell_schema_fail(s, false, "%.17g is not %s (%.17g..%.17g)", v->valuedouble,
					what, min, max);
	*ret = v->valuedouble;
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

/*
 * What cJSON lets through but JSON does not, or what would make the config mean something other
 * than it shows: control bytes (cJSON takes any byte up to 0x20 as white space, and raw tabs and
 * line breaks inside strings), and "\u0000", which cJSON decodes into a NUL that silently cuts
 * the string short.
 */
static int check_text(struct cell_schema *s)
{
	bool in_string = false;

	for (size_t i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->text[i];
		const char *what = NULL;
		size_t at = i;

		if (c == '"')
			in_string = !in_string;
		else if (in_string && c == '\\' && i + 1 < s->len) {
			if (s->text[i + 1] == 'u' && i + 5 < s->len &&
			    strncmp(s->text + i + 2, "0000", 4) == 0)
				what = "\"\\u0000\" would cut the string short; it is not allowed";
			i++;
		} else if ((c < 0x20 || c == 0x7f) &&
			   (in_string || (c != '\t' && c != '\n' && c != '\r'))) {
			what = in_string
				       ? "a control character inside a string (write it as an escape)"
				       : "a control character outside a string";
		}
		if (what) {
			int r = cell_diag_set(s->diag, -EINVAL, s->file, NULL, "syntax error: %s",
					      what);

			cell_diag_locate(s->diag, s->text, s->len, at);
			return r;
		}
	}
	return 0;
}

static bool has_control(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * No key or string value may hold a control character, escaped or not: cell explain prints
 * them, and a config must not be able to rewrite the terminal of the user reviewing it.
 */
static int check_strings(struct cell_schema *s, const cJSON *node)
{
	const cJSON *item;
	int i = 0, r;

	cJSON_ArrayForEach(item, node)
	{
		cell_schema_push(s, cJSON_IsObject(node) ? item->string : NULL,
				 cJSON_IsObject(node) ? -1 : i, (size_t)i);
		i++;
		if (cJSON_IsObject(node) && has_control(item->string))
			return cell_schema_fail(s, true, "a key holds a control character");
		if (cJSON_IsString(item) && has_control(item->valuestring))
			return cell_schema_fail(s, false, "a string holds a control character");
		r = check_strings(s, item);
		if (r < 0)
			return r;
		pop(s);
	}
	return 0;
}

int cell_schema_parse(struct cell_schema *s, cJSON **ret)
{
	const char *text = s->text, *end = NULL, *start, *nul;
	size_t len = s->len, skip = 0;
	cJSON *root;
	int r;

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		skip = 3;
	start = text + skip;
	while (start < text + len && isspace((unsigned char)*start))
		start++;
	if (start == text + len)
		return cell_diag_set(s->diag, -EINVAL, s->file, NULL,
				     "the file is empty; a config is a JSON object, at least {}");
	nul = memchr(text, '\0', len);
	if (nul) {
		r = cell_diag_set(s->diag, -EINVAL, s->file, NULL, "the file contains a NUL byte");
		cell_diag_locate(s->diag, text, len, (size_t)(nul - text));
		return r;
	}
	r = check_text(s);
	if (r < 0)
		return r;
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
		r = cell_diag_set(s->diag, -EINVAL, s->file, NULL, "syntax error: %s", what);
		cell_diag_locate(s->diag, text, len, off);
		return r;
	}
	r = check_strings(s, root);
	if (r < 0) {
		cJSON_Delete(root);
		s->depth = 0;
		return r;
	}
	*ret = root;
	return 0;
}

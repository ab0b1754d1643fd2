/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "devenvimport.h"
#include "macro.h"
#include "path.h"
#include "project.h"
#include "strv.h"
#include "suggest.h"

/* A mount as it will be written, and where it came from (for an error cell's parser finds). */
struct mount {
	char *path;
	char *dest; /* NULL: at path */
	enum cell_mount_mode mode;
	bool optional, canonicalize, ephemeral;
	const struct cell_devenvimport_file *file;
	yaml_mark_t mark;
	size_t index; /* in its file's sandbox.mounts */
};

/* A setting a later file may replace: its value, and where the last one said it. */
struct setting {
	int value; /* -1: no file said */
	const struct cell_devenvimport_file *file;
	yaml_mark_t mark;
};

struct import {
	const struct cell_devenvimport_file *file; /* the file being read */
	char *const *envp;
	struct cell_diag *diag;
	struct setting enable, network;
	struct mount *mounts;
	size_t n_mounts;
	char **notes; /* about mounts, in the order read */
};

static const struct {
	const char *name;
	enum cell_mount_mode mode;
	bool ephemeral;
	const char *note;
} modes[] = {
	{"read-only", CELL_MOUNT_RO, false, NULL},
	{"ro", CELL_MOUNT_RO, false, NULL},
	{"read-write", CELL_MOUNT_RW, false, NULL},
	{"rw", CELL_MOUNT_RW, false, NULL},
	{"device", CELL_MOUNT_DEV, false, NULL},
	{"dev", CELL_MOUNT_DEV, false, NULL},
	{"tmpfs", CELL_MOUNT_TMPFS, false, NULL},
	{"overlay", CELL_MOUNT_OVERLAY, false, NULL},
	{"overlay-tmpfs", CELL_MOUNT_OVERLAY, true, NULL},
	{"overlay-ro", CELL_MOUNT_RO, false,
	 "cell has no read-only overlay; it becomes \"ro\", a read-only bind: nothing in the cell can write there, not even to a layer of its own"},
	{"state-dir", CELL_MOUNT_STATE, false, NULL},
};

static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* The 0-based line and column of a libyaml mark as diag's 1-based ones, with the line's text. */
static void locate(struct cell_diag *d, const struct cell_devenvimport_file *f, yaml_mark_t mark)
{
	const char *s = f->text, *end = f->text + f->len, *eol;

	if (f->len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	for (size_t line = 0; line < mark.line && s < end; s++)
		if (*s == '\n')
			line++;
	eol = s;
	while (eol < end && *eol != '\n' && *eol != '\r')
		eol++;
	d->line = (unsigned)mark.line + 1;
	d->column = (unsigned)mark.column + 1;
	free(d->excerpt);
	d->excerpt = strndup(s, (size_t)(eol - s));
}

static int fail(struct import *im, yaml_mark_t mark, const char *where, const char *fmt, ...)
	_printf_(4, 5);
static int fail(struct import *im, yaml_mark_t mark, const char *where, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!im->diag)
		return -EINVAL;
	cell_diag_set(im->diag, -EINVAL, im->file->path, where, "%s", msg ? msg : "out of memory");
	locate(im->diag, im->file, mark);
	return -EINVAL;
}

static int note(char ***notes, const struct cell_devenvimport_file *f, yaml_mark_t mark,
		const char *fmt, ...) _printf_(4, 5);
static int note(char ***notes, const struct cell_devenvimport_file *f, yaml_mark_t mark,
		const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	char *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg || asprintf(&s, "%s:%zu: %s", f->path, mark.line + 1, msg) < 0)
		return -ENOMEM;
	return cell_strv_consume(notes, s);
}

static const char *value_of(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = value_of(n);
	return !*v || streq(v, "~") || streq(v, "null") || streq(v, "Null") || streq(v, "NULL");
}

static const char *type_of(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	return is_null(n) ? "nothing" : "a string";
}

/* A YAML 1.2 core boolean, written plain (a quoted "true" is a string, as devenv reads it). */
static int get_bool(struct import *im, const yaml_node_t *n, const char *where, bool *ret)
{
	static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False",
										  "FALSE"};

	for (size_t i = 0; n->type == YAML_SCALAR_NODE &&
			   n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && i < ELEMENTSOF(yes);
	     i++) {
		if (streq(value_of(n), yes[i]) || streq(value_of(n), no[i])) {
			*ret = streq(value_of(n), yes[i]);
			return 0;
		}
	}
	if (n->type == YAML_SCALAR_NODE && !is_null(n))
		return fail(im, n->start_mark, where,
			    "expected true or false, got the string \"%s\"", value_of(n));
	return fail(im, n->start_mark, where, "expected true or false, got %s", type_of(n));
}

static int get_string(struct import *im, const yaml_node_t *n, const char *where, const char **ret)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return fail(im, n->start_mark, where, "expected a string, got %s", type_of(n));
	/* a double-quoted "\0" decodes to a NUL that would cut the value short */
	if (strlen(value_of(n)) != n->data.scalar.length)
		return fail(im, n->start_mark, where, "a NUL character is not allowed here");
	*ret = value_of(n);
	return 0;
}

/*
 * The members of mapping node map (at where) that are keys[i], into values[i] (NULL when
 * absent): any other key, or one given twice, is an error at the key.
 */
static int members(struct import *im, yaml_document_t *doc, const yaml_node_t *map,
		   const char *where, const char *const *keys, size_t n, yaml_node_t **values)
{
	_cleanup_free_ char *list = NULL;

	if (map->type != YAML_MAPPING_NODE) {
		list = cell_join_words(keys, n);
		return fail(im, map->start_mark, where, "expected a mapping (%s), got %s",
			    list ? list : "", type_of(map));
	}
	memset(values, 0, n * sizeof(*values));
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		const char *s;
		size_t i = 0;

		if (k->type != YAML_SCALAR_NODE)
			return fail(im, k->start_mark, where, "expected a key, got %s", type_of(k));
		while (i < n && !streq(value_of(k), keys[i]))
			i++;
		if (i == n) {
			s = cell_suggest(value_of(k), keys, n);
			list = cell_join_words(keys, n);
			return fail(im, k->start_mark, where,
				    "unknown key \"%s\" (devenv's sandbox has %s here)%s%s%s",
				    value_of(k), list ? list : "", s ? "; did you mean \"" : "",
				    s ? s : "", s ? "\"?" : "");
		}
		if (values[i])
			return fail(im, k->start_mark, where, "\"%s\" is given twice", keys[i]);
		values[i] = yaml_document_get_node(doc, p->value);
	}
	return 0;
}

/* Where character `at` (a byte offset) of scalar n is, when its text reads as its value (plain,
 * or quoted without escapes, on one line); else where the scalar starts. */
static yaml_mark_t mark_in(const yaml_node_t *n, size_t at)
{
	yaml_mark_t m = n->start_mark;
	yaml_scalar_style_t style = n->data.scalar.style;
	size_t chars = 0, before = 0, quote = style == YAML_PLAIN_SCALAR_STYLE ? 0 : 1;

	for (size_t i = 0; i < n->data.scalar.length; i++) {
		bool counts = (n->data.scalar.value[i] & 0xC0) != 0x80;

		chars += counts;
		before += counts && i < at;
	}
	/* libyaml's marks count characters, as diag's columns do */
	if ((style != YAML_PLAIN_SCALAR_STYLE && style != YAML_SINGLE_QUOTED_SCALAR_STYLE &&
	     style != YAML_DOUBLE_QUOTED_SCALAR_STYLE) ||
	    n->end_mark.line != m.line || n->end_mark.index - m.index != chars + 2 * quote)
		return m;
	m.column += quote + before;
	return m;
}

static const char *lookup(char *const *envp, const char *name, size_t n)
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/* The variable at p ("$NAME" or "${NAME}"): its name, and where the text after it starts. */
static bool variable(const char *p, const char **ret_name, size_t *ret_n, const char **ret_next)
{
	bool braced = p[1] == '{';
	const char *name = p + 1 + braced;
	size_t n = 0;

	while (isalnum((unsigned char)name[n]) || name[n] == '_')
		n++;
	if (n == 0 || isdigit((unsigned char)name[0]) || (braced && name[n] != '}'))
		return false;
	*ret_name = name;
	*ret_n = n;
	*ret_next = name + n + braced;
	return true;
}

/* Expands $VAR and ${VAR} in scalar n from the environment; a leading $HOME becomes ~. */
static bool is_cells_variable(const char *name, size_t len)
{
	static const char *const names[] = {"HOME", "USER", "XDG_RUNTIME_DIR"};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strlen(names[i]) == len && !strncmp(names[i], name, len))
			return true;
	return false;
}

static int expand(struct import *im, const yaml_node_t *n, const char *where, char **ret)
{
	_cleanup_free_ char *out = NULL;
	size_t size = 0;
	_cleanup_(fclosep) FILE *f = open_memstream(&out, &size);
	const char *v = value_of(n), *p = v;

	if (!f)
		return -ENOMEM;
	while (*p) {
		const char *name, *next, *value;
		size_t len;

		if (*p != '$') {
			fputc(*p++, f);
			continue;
		}
		if (!variable(p, &name, &len, &next))
			return fail(
				im, mark_in(n, (size_t)(p - v)), where,
				"\"%s\": a '$' without a variable name (expected $NAME or ${NAME})",
				v);
		/* a value would be written into the project, where the cell reads it: only the
		 * variables cell's config expands itself when the cell starts pass, as variables */
		if (!is_cells_variable(name, len))
			return fail(
				im, mark_in(n, (size_t)(p - v)), where,
				"\"%s\": $%.*s: cell import keeps only $HOME, $USER and "
				"$XDG_RUNTIME_DIR, which cell expands itself (another variable's "
				"value would be written into the project, where the cell reads it; "
				"write the path)",
				v, (int)len, name);
		value = lookup(im->envp, name, len);
		if (!value)
			return fail(im, mark_in(n, (size_t)(p - v)), where,
				    "\"%s\": $%.*s is not set (set it and import again)", v,
				    (int)len, name);
		/* ~ keeps the file right for everyone who checks it out, as $HOME did */
		if (p == v && len == 4 && strncmp(name, "HOME", 4) == 0 && (!*next || *next == '/'))
			fputs("~", f);
		else
			fprintf(f, "${%.*s}", (int)len, name);
		p = next;
	}
	if (fclose(TAKE_PTR(f)) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

/*
 * A path as cell's config takes it (expand.h): absolute (normalised), ~ or ~/..., or ./...
 * (relative to the project, as devenv reads a relative path).
 */
static int convert_path(struct import *im, const yaml_node_t *n, const char *where, char **ret)
{
	_cleanup_free_ char *s = NULL;
	const char *v;
	int r;

	r = get_string(im, n, where, &v);
	if (r >= 0)
		r = expand(im, n, where, &s);
	if (r < 0)
		return r;
	if (!*s)
		return fail(im, n->start_mark, where, "expected a path, got an empty string");
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fail(im, n->start_mark, where, "\"%s\" holds a control character",
				    v);
	if (s[0] == '~' && s[1] != '/' && s[1] != '\0')
		return fail(im, n->start_mark, where,
			    "\"%s\": ~user is not supported (write ~/ for your home, or the path)",
			    v);
	if (s[0] == '/' && cell_path_normalize(s) < 0)
		return -ENOMEM;
	/* (a variable of cell's stands as it is: cell's config expands it) */
	if (s[0] != '/' && s[0] != '~' && s[0] != '$' && !streq(s, ".") && !startswith(s, "./")) {
		char *rel;

		if (asprintf(&rel, "./%s", s) < 0)
			return -ENOMEM;
		free(s);
		s = rel;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

/* Why cell leaves a mount out when it lands on a place every cell already has; NULL if not. */
static const char *given_by_cell(const char *path)
{
	if (path[0] != '/')
		return NULL;
	if (cell_path_is_below(path, "/nix/store"))
		return "the nix preset already mounts /nix/store read-only";
	if (cell_path_is_below(path, "/dev"))
		return "every cell has its own minimal /dev";
	if (cell_path_is_below(path, "/proc"))
		return "every cell has its own /proc";
	if (cell_path_is_below(path, "/sys"))
		return "cell keeps the host's /sys out of its cells";
	return NULL;
}

/* "sandbox.mounts[2].mode": where a member of a mount is, in buf. */
static const char *at_key(char *buf, size_t size, const char *where, const char *key)
{
	snprintf(buf, size, "%s.%s", where, key);
	return buf;
}

static void mount_done(struct mount *m)
{
	free(m->path);
	free(m->dest);
}

/* A mount's mode, optional, canonicalize and late, into m; notes for what changes. */
static int mount_flags(struct import *im, yaml_node_t *const *v, const char *where, struct mount *m)
{
	const char *s;
	char at[80];
	bool late = false;
	size_t i = 0;
	int r = 0;

	if (v[2]) {
		r = get_string(im, v[2], at_key(at, sizeof(at), where, "mode"), &s);
		while (r >= 0 && i < ELEMENTSOF(modes) && !streq(s, modes[i].name))
			i++;
		if (r >= 0 && i == ELEMENTSOF(modes)) {
			const char *names[ELEMENTSOF(modes)], *near;
			_cleanup_free_ char *list = NULL;

			for (size_t k = 0; k < ELEMENTSOF(modes); k++)
				names[k] = modes[k].name;
			near = cell_suggest(s, names, ELEMENTSOF(names));
			list = cell_join_words(names, ELEMENTSOF(names));
			return fail(im, v[2]->start_mark, at,
				    "\"%s\" is not a mount mode (%s)%s%s%s", s, list ? list : "",
				    near ? "; did you mean \"" : "", near ? near : "",
				    near ? "\"?" : "");
		}
		if (r >= 0) {
			m->mode = modes[i].mode;
			m->ephemeral = modes[i].ephemeral;
		}
		if (r >= 0 && modes[i].note)
			r = note(&im->notes, im->file, v[2]->start_mark, "%s: mode %s: %s", where,
				 s, modes[i].note);
	}
	if (r >= 0 && v[3])
		r = get_bool(im, v[3], at_key(at, sizeof(at), where, "optional"), &m->optional);
	if (r >= 0 && v[4])
		r = get_bool(im, v[4], at_key(at, sizeof(at), where, "canonicalize"),
			     &m->canonicalize);
	if (r >= 0 && v[5])
		r = get_bool(im, v[5], at_key(at, sizeof(at), where, "late"), &late);
	if (r >= 0 && late)
		r = note(&im->notes, im->file, v[5]->start_mark,
			 "%s: late dropped: cell orders the mounts itself (a mount inside another "
			 "comes after it)",
			 where);
	return r;
}

static int read_mount(struct import *im, yaml_document_t *doc, const yaml_node_t *n, size_t index)
{
	static const char *const keys[] = {"path",     "dest",	       "mode",
					   "optional", "canonicalize", "late"};
	yaml_node_t *v[ELEMENTSOF(keys)];
	struct mount m = {
		.mode = CELL_MOUNT_RO, .file = im->file, .mark = n->start_mark, .index = index};
	struct mount *nm;
	const char *why = NULL;
	char where[64], at[80];
	int r;

	snprintf(where, sizeof(where), "sandbox.mounts[%zu]", index);
	r = members(im, doc, n, where, keys, ELEMENTSOF(keys), v);
	if (r >= 0 && !v[0])
		r = fail(im, n->start_mark, where, "a mount needs \"path\"");
	if (r >= 0)
		r = convert_path(im, v[0], at_key(at, sizeof(at), where, "path"), &m.path);
	if (r >= 0 && v[1])
		r = convert_path(im, v[1], at_key(at, sizeof(at), where, "dest"), &m.dest);
	if (r >= 0)
		r = mount_flags(im, v, where, &m);
	if (r >= 0) {
		why = given_by_cell(m.dest ? m.dest : m.path);
		if (!why && m.dest)
			why = given_by_cell(m.path);
	}
	if (r >= 0 && why) {
		r = note(&im->notes, im->file, n->start_mark, "%s '%s' dropped: %s", where,
			 m.dest ? m.dest : m.path, why);
		mount_done(&m);
		return r;
	}
	nm = r >= 0 ? reallocarray(im->mounts, im->n_mounts + 1, sizeof(*nm)) : NULL;
	if (r >= 0 && !nm)
		r = -ENOMEM;
	if (r < 0) {
		mount_done(&m);
		return r;
	}
	im->mounts = nm;
	im->mounts[im->n_mounts++] = m;
	return 0;
}

static int read_sandbox(struct import *im, yaml_document_t *doc, const yaml_node_t *n)
{
	static const char *const keys[] = {"enable", "network", "mounts"};
	static const char *const net_keys[] = {"enable"};
	yaml_node_t *v[ELEMENTSOF(keys)], *net[ELEMENTSOF(net_keys)];
	bool b = false;
	int r;

	if (is_null(n))
		return 0;
	r = members(im, doc, n, "sandbox", keys, ELEMENTSOF(keys), v);
	if (r >= 0 && v[0]) {
		r = get_bool(im, v[0], "sandbox.enable", &b);
		if (r >= 0)
			im->enable = (struct setting){b, im->file, v[0]->start_mark};
	}
	if (r >= 0 && v[1] && !is_null(v[1]))
		r = members(im, doc, v[1], "sandbox.network", net_keys, ELEMENTSOF(net_keys), net);
	if (r >= 0 && v[1] && !is_null(v[1]) && net[0]) {
		r = get_bool(im, net[0], "sandbox.network.enable", &b);
		if (r >= 0)
			im->network = (struct setting){b, im->file, net[0]->start_mark};
	}
	if (r < 0 || !v[2] || is_null(v[2]))
		return r;
	if (v[2]->type != YAML_SEQUENCE_NODE)
		return fail(im, v[2]->start_mark, "sandbox.mounts", "expected a list, got %s",
			    type_of(v[2]));
	for (yaml_node_item_t *i = v[2]->data.sequence.items.start;
	     r >= 0 && i < v[2]->data.sequence.items.top; i++)
		r = read_mount(im, doc, yaml_document_get_node(doc, *i),
			       (size_t)(i - v[2]->data.sequence.items.start));
	return r;
}

static int syntax_error(struct import *im, const yaml_parser_t *p)
{
	const struct cell_devenvimport_file *f = im->file;

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (p->error == YAML_READER_ERROR) {
		cell_diag_set(im->diag, -EINVAL, f->path, NULL, "not YAML text: %s",
			      p->problem ? p->problem : "unreadable");
		cell_diag_locate(im->diag, f->text, f->len, p->problem_offset);
		return -EINVAL;
	}
	if (p->context)
		return fail(im, p->problem_mark, NULL,
			    "YAML syntax error: %s (%s that starts at line %zu, column %zu)",
			    p->problem ? p->problem : "?", p->context, p->context_mark.line + 1,
			    p->context_mark.column + 1);
	return fail(im, p->problem_mark, NULL, "YAML syntax error: %s",
		    p->problem ? p->problem : "?");
}

/* The node of top-level key "sandbox" of doc, or NULL; the rest of devenv.yaml is not ours. */
static int find_sandbox(struct import *im, yaml_document_t *doc, yaml_node_t **ret)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);

	*ret = NULL;
	if (!root || is_null(root))
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return fail(im, root->start_mark, NULL,
			    "expected a mapping at the top level, got %s", type_of(root));
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k->type != YAML_SCALAR_NODE || !streq(value_of(k), "sandbox"))
			continue;
		if (*ret)
			return fail(im, k->start_mark, NULL, "\"sandbox\" is given twice");
		*ret = yaml_document_get_node(doc, p->value);
	}
	return 0;
}

/* Reads one file's sandbox section into im; *ret_found says whether it has one. */
static int read_file(struct import *im, bool *ret_found)
{
	yaml_parser_t parser;
	yaml_document_t doc, more;
	yaml_node_t *sandbox = NULL;
	int r;

	*ret_found = false;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)im->file->text, im->file->len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = syntax_error(im, &parser);
		goto out_parser;
	}
	r = find_sandbox(im, &doc, &sandbox);
	if (r >= 0 && sandbox) {
		*ret_found = true;
		r = read_sandbox(im, &doc, sandbox);
	}
	/* devenv reads one document; a second one would be ignored there, so it is an error here */
	if (r >= 0 && !yaml_parser_load(&parser, &more))
		r = syntax_error(im, &parser);
	else if (r >= 0) {
		yaml_node_t *root = yaml_document_get_root_node(&more);

		if (root)
			r = fail(im, root->start_mark, NULL,
				 "a second YAML document; devenv.yaml holds one");
		yaml_document_delete(&more);
	}
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	return r;
}

/* s as a JSON string; control characters were refused earlier (convert_path, the name rule). */
static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void put_mount(FILE *f, const struct mount *m)
{
	fputs("    {\"path\": ", f);
	put_string(f, m->path);
	if (m->dest && !streq(m->dest, m->path)) {
		fputs(", \"dest\": ", f);
		put_string(f, m->dest);
	}
	fprintf(f, ", \"mode\": \"%s\"", cell_mount_mode_to_string(m->mode));
	if (m->optional)
		fputs(", \"optional\": true", f);
	if (m->canonicalize)
		fputs(", \"canonicalize\": true", f);
	if (m->ephemeral)
		fputs(", \"ephemeral\": true", f);
	fputc('}', f);
}

/* The .cell.json text, laid out as cell init writes one. */
static int render(const struct import *im, const char *name, char **ret)
{
	_cleanup_free_ char *out = NULL;
	size_t size = 0;
	_cleanup_(fclosep) FILE *f = open_memstream(&out, &size);

	if (!f)
		return -ENOMEM;
	fputs("{\n  \"name\": ", f);
	put_string(f, name);
	/* a devenv project's tools are in the store */
	fputs(",\n  \"presets\": [\"nix\"],\n  \"network\": {\n", f);
	if (im->network.value == 0)
		fputs("    \"mode\": \"none\"\n", f);
	else
		fputs("    \"mode\": \"proxy\",\n    \"allow\": []\n", f);
	fputs("  },\n", f);
	if (im->n_mounts > 0) {
		fputs("  \"mounts\": [\n", f);
		for (size_t i = 0; i < im->n_mounts; i++) {
			put_mount(f, &im->mounts[i]);
			fputs(i + 1 < im->n_mounts ? ",\n" : "\n", f);
		}
		fputs("  ],\n", f);
	}
	fputs("  \"env\": {\n    \"provider\": \"devenv\"\n  }\n}\n", f);
	if (fclose(TAKE_PTR(f)) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

/*
 * Runs cell's own config parser on json, as the project's .cell.json. A mount it refuses is
 * reported at that mount in the YAML: the user can fix it there, and the JSON was never written.
 */
static int validate(struct import *im, const char *json, const char *root,
		    const struct cell_config_env *env)
{
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *file = cell_path_join(root, CELL_CONFIG_FILE), *msg = NULL;
	struct cell_diag *d = im->diag;
	const struct mount *m;
	char where[64];
	size_t k;
	int r;

	if (!file || cell_config_new(&c) < 0)
		return -ENOMEM;
	r = cell_config_apply(c, file, json, strlen(json), root, env, d);
	if (r >= 0)
		r = cell_config_finish(c, root, env, d);
	if (r != -EINVAL || !d || !d->json_path || sscanf(d->json_path, "mounts[%zu]", &k) != 1 ||
	    k >= im->n_mounts)
		return r;
	m = &im->mounts[k];
	msg = d->message ? strdup(d->message) : NULL;
	im->file = m->file;
	snprintf(where, sizeof(where), "sandbox.mounts[%zu]", m->index);
	return fail(im, m->mark, where, "cell's config refuses this mount: %s",
		    msg ? msg : "out of memory");
}

/* The notes about enable and network.enable, as the last file to set each left them. */
static int setting_notes(const struct import *im, char ***notes)
{
	int r = 0;

	if (im->enable.value == 0)
		r = note(
			notes, im->enable.file, im->enable.mark,
			"sandbox.enable is false: devenv's sandbox was disabled; this cell applies "
			"all the same once you run 'cell allow'");
	if (r >= 0 && im->network.value == 1)
		r = note(
			notes, im->network.file, im->network.mark,
			"sandbox.network.enable is true: devenv let the sandbox reach every host; "
			"cell's proxy lets it reach only the hosts in network.allow (add each with "
			"'cell allow-host HOST')");
	else if (r >= 0 && im->network.value < 0)
		r = cell_strv_extend(
			notes,
			"no file sets sandbox.network.enable: the cell gets cell's default, its proxy "
			"with an empty network.allow (add each host with 'cell allow-host HOST')");
	return r;
}

static char *default_name(const char *root, const struct cell_config_env *env)
{
	_cleanup_config_ struct cell_config *c = NULL;

	/* the same rule as a config without "name" */
	if (cell_config_new(&c) < 0 || cell_config_finish(c, root, env, NULL) < 0)
		return NULL;
	return TAKE_PTR(c->name);
}

/* Reads every file that exists; fails when the project has no devenv file with sandbox:. */
static int read_files(struct import *im, const struct cell_devenvimport_file *files, size_t n,
		      const char *root)
{
	size_t n_project = 0, n_sandbox = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < n; i++) {
		bool found = false;

		if (!files[i].text)
			continue;
		im->file = &files[i];
		r = read_file(im, &found);
		n_project += files[i].project;
		n_sandbox += files[i].project && found;
	}
	if (r >= 0 && n_project == 0)
		return cell_diag_set(im->diag, -ENOENT, NULL, NULL,
				     "no devenv.yaml or devenv.local.yaml in '%s'", root);
	if (r >= 0 && n_sandbox == 0)
		return cell_diag_set(
			im->diag, -ENOENT, NULL, NULL,
			"neither devenv.yaml nor devenv.local.yaml in '%s' has a sandbox: section; "
			"there is nothing to import",
			root);
	return r;
}

int cell_devenvimport_convert(const struct cell_devenvimport_file *files, size_t n,
			      char *const *envp, const char *project_root,
			      const struct cell_config_env *env,
			      struct cell_devenvimport_result *ret, struct cell_diag *diag)
{
	struct import im = {
		.envp = envp,
		.diag = diag,
		.enable.value = -1,
		.network.value = -1,
	};
	_cleanup_free_ char *name = NULL, *json = NULL;
	_cleanup_strv_free_ char **notes = NULL;
	int r;

	r = read_files(&im, files, n, project_root);
	if (r >= 0) {
		name = default_name(project_root, env);
		r = name ? render(&im, name, &json) : -ENOMEM;
	}
	if (r >= 0)
		r = validate(&im, json, project_root, env);
	if (r >= 0)
		r = setting_notes(&im, &notes);
	for (size_t i = 0; im.notes && im.notes[i] && r >= 0; i++)
		r = cell_strv_extend(&notes, im.notes[i]);
	if (r == -ENOMEM)
		cell_diag_set(diag, r, NULL, NULL, "out of memory");
	if (r >= 0) {
		ret->json = TAKE_PTR(json);
		ret->notes = TAKE_PTR(notes);
	}
	for (size_t i = 0; i < im.n_mounts; i++)
		mount_done(&im.mounts[i]);
	free(im.mounts);
	cell_strv_free(im.notes);
	return r;
}

void cell_devenvimport_result_done(struct cell_devenvimport_result *r)
{
	free(r->json);
	cell_strv_free(r->notes);
	*r = (struct cell_devenvimport_result){0};
}

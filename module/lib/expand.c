/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expand.h"
#include "macro.h"
#include "path.h"

#define EXPANDS "only ~, $HOME, $USER, $XDG_RUNTIME_DIR and a leading ./ expand"

struct buf {
	char *s;
	size_t len, size;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->size) {
		size_t size = (b->len + n + 1) * 2;
		char *ns = realloc(b->s, size);

		if (!ns)
			return -ENOMEM;
		b->s = ns;
		b->size = size;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

static const char *lookup(const struct cell_config_env *env, const char *name, size_t n,
			  bool *ret_known)
{
	*ret_known = true;
	if (n == 4 && strncmp(name, "HOME", n) == 0)
		return env->home;
	if (n == 4 && strncmp(name, "USER", n) == 0)
		return env->user;
	if (n == 15 && strncmp(name, "XDG_RUNTIME_DIR", n) == 0)
		return env->xdg_runtime_dir;
	*ret_known = false;
	return NULL;
}

static int why(char **ret_why, int r, const char *fmt, ...) _printf_(3, 4);
static int why(char **ret_why, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(ret_why, fmt, ap) < 0)
		*ret_why = NULL;
	va_end(ap);
	return r;
}

int cell_expand_path(const char *in, const char *project_root, const struct cell_config_env *env,
		     char **ret, char **ret_why)
{
	struct buf b = {0};
	const char *p = in;
	int r = 0;

	*ret_why = NULL;
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		if (!env->home)
			return why(ret_why, -ENXIO, "~ needs $HOME, which is not set");
		r = buf_add(&b, env->home, strlen(env->home));
		p++;
	} else if (p[0] == '~') {
		return why(ret_why, -EINVAL, "~user is not supported (%s)", EXPANDS);
	} else if (p[0] == '.' && (p[1] == '/' || p[1] == '\0')) {
		r = buf_add(&b, project_root, strlen(project_root));
		p++;
	}
	while (r >= 0 && *p) {
		const char *name, *value;
		size_t n;
		bool known;

		if (*p != '$') {
			n = strcspn(p, "$");
			r = buf_add(&b, p, n);
			p += n;
			continue;
		}
		if (p[1] == '{') {
			const char *close = strchr(p + 2, '}');

			if (!close) {
				free(b.s);
				return why(ret_why, -EINVAL, "\"${\" has no closing '}'");
			}
			name = p + 2;
			n = (size_t)(close - name);
			p = close + 1;
		} else {
			name = p + 1;
			n = 0;
			while (isalnum((unsigned char)name[n]) || name[n] == '_')
				n++;
			p = name + n;
		}
		if (n == 0) {
			free(b.s);
			return why(ret_why, -EINVAL, "a '$' with no variable name (%s)", EXPANDS);
		}
		value = lookup(env, name, n, &known);
		if (!known) {
			free(b.s);
			return why(ret_why, -EINVAL, "unknown variable $%.*s (%s)", (int)n, name,
				   EXPANDS);
		}
		if (!value) {
			free(b.s);
			return why(ret_why, -ENXIO, "$%.*s is not set", (int)n, name);
		}
		r = buf_add(&b, value, strlen(value));
	}
	if (r < 0) {
		free(b.s);
		return why(ret_why, r, "out of memory");
	}
	if (!b.s || b.s[0] != '/') {
		free(b.s);
		return why(
			ret_why, -EINVAL,
			"a relative path; start it with ./ for a path in the project, ~/ for one in your home, or /");
	}
	r = cell_path_normalize(b.s);
	if (r < 0) {
		free(b.s);
		return why(ret_why, r, "cannot be normalised");
	}
	*ret = b.s;
	return 0;
}

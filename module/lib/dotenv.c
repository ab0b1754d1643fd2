/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dotenv.h"
#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "shimproto.h"

void cell_dotenv_free(struct cell_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

const char *cell_dotenv_refused(const char *name)
{
	static const char *const loader[] = {"LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH"};

	for (size_t i = 0; i < ELEMENTSOF(loader); i++)
		if (streq(name, loader[i]))
			return "what programs load is not the project's to choose";
	if (startswith(name, "CELL_"))
		return "CELL_* variables are set by cell itself";
	for (size_t i = 0; i < CELL_PROXY_VARS; i++)
		if (streq(name, cell_proxy_vars[i]))
			return "the cell's proxy variables are cell's";
	return NULL;
}

/* A value being built. */
struct buf {
	char *s;
	size_t n, cap;
};

static int put(struct buf *b, char c)
{
	if (b->n + 1 >= b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		char *s = realloc(b->s, cap);

		if (!s)
			return -ENOMEM;
		b->s = s;
		b->cap = cap;
	}
	b->s[b->n++] = c;
	b->s[b->n] = '\0';
	return 0;
}

/* One line's value, from p to end (the line without its newline), into b; or why not. */
static const char *value_of(const char *p, const char *end, struct buf *b, int *r, const char **at)
{
	*r = 0;
	*at = p;
	if (p < end && (*p == '\'' || *p == '"')) {
		char q = *p++;

		for (; p < end && *p != q && *r >= 0; p++) {
			char c = *p;

			if (q == '"' && c == '\\' && p + 1 < end) {
				const char *from = "ntr\"\\$", *to = "\n\t\r\"\\$",
					   *k = strchr(from, p[1]);

				*at = p;
				if (!k || !p[1])
					return "an escape (\\n \\t \\r \\\" \\\\ \\$) after '\\'";
				c = to[k - from];
				p++;
			}
			*r = put(b, c);
		}
		*at = p;
		if (p >= end)
			return q == '"' ? "a closing '\"' on the same line"
					: "a closing ''' on the same line";
		for (p++; p < end && (*p == ' ' || *p == '\t'); p++)
			;
		*at = p;
		if (p < end && *p != '#')
			return "nothing after the closing quote but a comment";
		return NULL;
	}
	/* unquoted: to a " #" comment or the end, without the blanks around */
	for (const char *s = p; s < end && *r >= 0; s++) {
		if (*s == '#' && s > p && (s[-1] == ' ' || s[-1] == '\t'))
			break;
		*r = put(b, *s);
	}
	while (b->n > 0 &&
	       (b->s[b->n - 1] == ' ' || b->s[b->n - 1] == '\t' || b->s[b->n - 1] == '\r'))
		b->s[--b->n] = '\0';
	return NULL;
}

static int add(struct cell_kv **kv, size_t *n, const char *key, size_t key_len, struct buf *b)
{
	struct cell_kv *k;

	/* (a cell may write the file: the variables it can bring are bounded) */
	if (*n >= CELL_DOTENV_VARS_MAX)
		return -E2BIG;
	for (size_t i = 0; i < *n; i++)
		if (strlen((*kv)[i].key) == key_len && !strncmp((*kv)[i].key, key, key_len)) {
			free((*kv)[i].value);
			(*kv)[i].value = b->s ? b->s : strdup("");
			b->s = NULL;
			return (*kv)[i].value ? 0 : -ENOMEM;
		}
	k = reallocarray(*kv, *n + 1, sizeof(**kv));
	if (!k)
		return -ENOMEM;
	*kv = k;
	k[*n] = (struct cell_kv){strndup(key, key_len), b->s ? b->s : strdup("")};
	b->s = NULL;
	(*n)++;
	return k[*n - 1].key && k[*n - 1].value ? 0 : -ENOMEM;
}

int cell_dotenv_parse(const char *file, const char *text, size_t len, struct cell_kv **ret,
		      size_t *ret_n, struct cell_diag *diag)
{
	struct cell_kv *kv = NULL;
	size_t n = 0;
	const char *p = text, *end = text + len;
	int r = 0;

	if (memchr(text, '\0', len))
		return cell_diag_set(diag, -EINVAL, file, NULL, "is not a text file (a NUL byte)");
	while (p < end && r >= 0) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *key, *why = NULL, *at;
		struct buf b = {0};
		size_t key_len;

		eol = eol ? eol : end;
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		if (p == eol || *p == '#' || (*p == '\r' && p + 1 == eol)) {
			p = eol + 1;
			continue;
		}
		if (!strncmp(p, "export", 6) && p + 6 < eol && (p[6] == ' ' || p[6] == '\t'))
			for (p += 6; p < eol && (*p == ' ' || *p == '\t'); p++)
				;
		key = p;
		while (p < eol && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		key_len = (size_t)(p - key);
		if (key_len == 0 || isdigit((unsigned char)*key) || p == eol || *p != '=') {
			cell_dotenv_free(kv, n);
			cell_diag_set(diag, -EINVAL, file, NULL,
				      "expected NAME=value (a name of letters, digits and '_', not "
				      "starting with a digit)");
			/* at the name if it is one that cannot be, else where '=' should be */
			cell_diag_locate(
				diag, text, len,
				(size_t)((key_len && !isdigit((unsigned char)*key) ? p : key) -
					 text));
			return -EINVAL;
		}
		/* (what no dotenv file may set: said at its line, before anything is applied) */
		{
			_cleanup_free_ char *name = strndup(key, key_len);
			const char *no = name ? cell_dotenv_refused(name) : NULL;

			if (no) {
				cell_dotenv_free(kv, n);
				cell_diag_set(diag, -EPERM, file, NULL,
					      "%s may not be set by a dotenv file: %s", name, no);
				cell_diag_locate(diag, text, len, (size_t)(key - text));
				return -EPERM;
			}
		}
		why = value_of(p + 1, eol, &b, &r, &at);
		if (!why && r >= 0)
			r = add(&kv, &n, key, key_len, &b);
		free(b.s);
		if (r == -E2BIG) {
			cell_dotenv_free(kv, n);
			cell_diag_set(
				diag, -E2BIG, file, NULL,
				"more than %d variables: a dotenv file holds settings, not data",
				CELL_DOTENV_VARS_MAX);
			cell_diag_locate(diag, text, len, (size_t)(key - text));
			return -E2BIG;
		}
		if (why) {
			cell_dotenv_free(kv, n);
			cell_diag_set(diag, -EINVAL, file, NULL, "%.*s: expected %s", (int)key_len,
				      key, why);
			cell_diag_locate(diag, text, len, (size_t)(at - text));
			return -EINVAL;
		}
		p = eol + 1;
	}
	if (r < 0) {
		cell_dotenv_free(kv, n);
		return r;
	}
	*ret = kv;
	*ret_n = n;
	return 0;
}

int cell_dotenv_load(const char *root, const char *path, struct cell_kv **ret, size_t *ret_n,
		     struct cell_diag *diag)
{
	struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	_cleanup_close_ int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -1;
	_cleanup_free_ char *full = cell_path_join(root, path), *text = NULL;
	struct stat st;
	size_t len;
	int r;

	if (!full)
		return -ENOMEM;
	if (dir < 0)
		return cell_diag_set(diag, -errno, root, NULL, "cannot be opened: %s",
				     strerror(errno));
	fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0 && errno == EXDEV)
		return cell_diag_set(diag, -EXDEV, full, "env.files",
				     "leads out of the project (a link): not read");
	if (fd < 0)
		return cell_diag_set(diag, -errno, full, "env.files", "cannot be read: %s",
				     strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return cell_diag_set(diag, -EINVAL, full, "env.files", "is not a regular file");
	r = cell_read_full_fd(fd, CELL_FILE_MAX, &text, &len);
	if (r < 0)
		return cell_diag_set(diag, r, full, "env.files", "cannot be read: %s",
				     strerror(-r));
	return cell_dotenv_parse(full, text, len, ret, ret_n, diag);
}

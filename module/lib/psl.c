/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"
#include "psl.h"

struct cell_psl {
	char *text;   /* the file, its rules cut into strings in place */
	char **rules; /* sorted */
	size_t n;
};

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cell_psl_load(const char *path, struct cell_psl **ret)
{
	struct cell_psl *l = calloc(1, sizeof(*l));
	size_t len = 0, cap = 0;
	int r;

	if (!l)
		return -ENOMEM;
	r = cell_read_file(path, 0, 16 * 1024 * 1024, &l->text, &len);
	for (char *line = l->text, *next; r >= 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* a rule is the line's first word; comments start with // */
		line[strcspn(line, " \t\r")] = '\0';
		if (!*line || startswith(line, "//"))
			continue;
		for (char *c = line; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (l->n == cap) {
			char **grown = reallocarray(l->rules, cap ? cap * 2 : 1024, sizeof(char *));

			if (!grown) {
				r = -ENOMEM;
				break;
			}
			l->rules = grown;
			cap = cap ? cap * 2 : 1024;
		}
		l->rules[l->n++] = line;
	}
	if (r < 0) {
		cell_psl_free(l);
		return r;
	}
	if (l->n)
		qsort(l->rules, l->n, sizeof(*l->rules), by_text);
	*ret = l;
	return 0;
}

void cell_psl_free(struct cell_psl *l)
{
	if (!l)
		return;
	free(l->rules);
	free(l->text);
	free(l);
}

static bool listed(const struct cell_psl *l, const char *prefix, const char *domain)
{
	char key[300];
	const char *k = key;

	snprintf(key, sizeof(key), "%s%s", prefix, domain);
	return bsearch(&k, l->rules, l->n, sizeof(*l->rules), by_text) != NULL;
}

bool cell_psl_is_suffix(const struct cell_psl *l, const char *domain)
{
	const char *dot = strchr(domain, '.');

	if (!dot)
		return true;
	if (listed(l, "!", domain))
		return false;
	return listed(l, "", domain) || listed(l, "*.", dot + 1);
}

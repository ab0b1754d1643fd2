/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn.h"
#include "psl.h"
#include "macro.h"
#include "preset.h"
#include "strv.h"

static bool default_port(uint16_t port)
{
	return port == 80 || port == 443;
}

static bool ip_literal(const char *host)
{
	return strchr(host, ':') || strspn(host, "0123456789.") == strlen(host);
}

/* Whether a preset's host entry ("a.b", "*.b") matches host. */
static bool preset_matches(const char *entry, const char *host)
{
	size_t n = strlen(host), m;

	if (!startswith(entry, "*."))
		return streq(entry, host);
	m = strlen(entry + 1); /* ".b" */
	return n > m && streq(host + n - m, entry + 1);
}

static bool named(char *const *allow, size_t n, const char *entry)
{
	for (size_t i = 0; i < n; i++)
		if (streq(allow[i], entry))
			return true;
	return false;
}

/* The domain right above host ("b.c" of "a.b.c"), if it has two labels or more; else NULL. */
static const char *parent(const char *host)
{
	const char *dot = strchr(host, '.');

	return dot && strchr(dot + 1, '.') && !ip_literal(host) ? dot + 1 : NULL;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* host (and port, unless a default one) as an allow entry. */
static char *entry_of(const char *prefix, const char *host, uint16_t port)
{
	char *s = NULL;
	bool v6 = strchr(host, ':') != NULL;

	if (default_port(port) && !v6)
		return asprintf(&s, "%s%s", prefix, host) < 0 ? NULL : s;
	if (default_port(port))
		return asprintf(&s, "[%s]", host) < 0 ? NULL : s;
	return asprintf(&s, v6 ? "%s[%s]:%u" : "%s%s:%u", prefix, host, (unsigned)port) < 0 ? NULL
											    : s;
}

static int add(char ***v, size_t *n, char *s)
{
	char **grown;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++)
		if (streq((*v)[i], s)) {
			free(s);
			return 0;
		}
	grown = reallocarray(*v, *n + 2, sizeof(**v));
	if (!grown) {
		free(s);
		return -ENOMEM;
	}
	*v = grown;
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
	return 0;
}

/* The port a rule names for port: 0 for the default ones (a rule without a port allows both). */
static uint16_t rule_port(uint16_t port)
{
	return default_port(port) ? 0 : port;
}

/* Whether need is right below dom at port (a rule_port). */
static bool below(const struct cell_learn_need *need, const char *dom, uint16_t port)
{
	const char *up = parent(need->host);

	return up && streq(up, dom) && rule_port(need->port) == port;
}

int cell_learn_propose(const struct cell_learn_need *needs, size_t n, char *const *allow,
		       size_t n_allow, const struct cell_psl *psl, char ***ret)
{
	_cleanup_free_ bool *covered = calloc(n ? n : 1, sizeof(bool));
	char **presets = NULL, **rules = NULL;
	size_t n_presets = 0, n_rules = 0, n_sets = 0;
	const struct cell_netpreset *sets = cell_netpresets(&n_sets);
	int r = covered ? 0 : -ENOMEM;

	/* presets: one entry for the hosts a package registry (or forge) is known by */
	for (size_t s = 0; r >= 0 && s < n_sets; s++) {
		bool used = false;

		for (size_t i = 0; sets[s].hosts && i < n; i++)
			for (size_t h = 0; sets[s].hosts[h] && default_port(needs[i].port); h++)
				if (preset_matches(sets[s].hosts[h], needs[i].host)) {
					covered[i] = true;
					used = true;
				}
		if (used && !named(allow, n_allow, sets[s].name))
			r = add(&presets, &n_presets, strdup(sets[s].name));
	}
	/* "*.domain" for three names or more right below it, at one port */
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const char *dom = covered[i] ? NULL : parent(needs[i].host);

		/* never "*." of a domain anyone may register names under (co.uk, github.io) */
		if (dom && (!psl || cell_psl_is_suffix(psl, dom)))
			dom = NULL;
		uint16_t port = rule_port(needs[i].port);
		size_t names = 0;

		for (size_t j = 0; dom && j < n; j++) {
			bool again = false;

			for (size_t k = 0; k < j && !again; k++)
				again = streq(needs[k].host, needs[j].host) &&
					rule_port(needs[k].port) == rule_port(needs[j].port);
			names += !covered[j] && !again && below(&needs[j], dom, port);
		}
		if (names < 3)
			continue;
		r = add(&rules, &n_rules, entry_of("*.", dom, needs[i].port));
		for (size_t j = 0; j < n; j++)
			covered[j] = covered[j] || below(&needs[j], dom, port);
	}
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (!covered[i])
			r = add(&rules, &n_rules, entry_of("", needs[i].host, needs[i].port));
	if (r >= 0 && n_rules)
		qsort(rules, n_rules, sizeof(*rules), by_name);
	for (size_t i = 0; r >= 0 && i < n_rules; i++)
		r = add(&presets, &n_presets, TAKE_PTR(rules[i]));
	cell_strv_free(rules);
	if (r >= 0 && !presets && !(presets = calloc(1, sizeof(*presets))))
		r = -ENOMEM;
	if (r < 0) {
		cell_strv_free(presets);
		return r;
	}
	*ret = presets;
	return 0;
}

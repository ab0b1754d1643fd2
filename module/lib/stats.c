/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "netpolicy.h"
#include "stats.h"

struct cell_host_stats *cell_stats_find(const struct cell_stats *s, const char *host)
{
	for (size_t i = 0; i < s->n_hosts; i++)
		if (streq(s->hosts[i].host, host))
			return &s->hosts[i];
	return NULL;
}

int cell_stats_host(struct cell_stats *s, const char *host, struct cell_host_stats **ret)
{
	struct cell_host_stats *h = cell_stats_find(s, host);

	if (h) {
		*ret = h;
		return 0;
	}
	h = reallocarray(s->hosts, s->n_hosts + 1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	s->hosts = h;
	h[s->n_hosts] = (struct cell_host_stats){.host = strdup(host)};
	if (!h[s->n_hosts].host)
		return -ENOMEM;
	*ret = &h[s->n_hosts++];
	return 0;
}

void cell_stats_done(struct cell_stats *s)
{
	for (size_t i = 0; i < s->n_hosts; i++)
		free(s->hosts[i].host);
	free(s->hosts);
	*s = (struct cell_stats){0};
}

static const struct {
	const char *key;
	size_t offset;
} counters[] = {
	{"requests", offsetof(struct cell_host_stats, requests)},
	{"tunnels", offsetof(struct cell_host_stats, tunnels)},
	{"up", offsetof(struct cell_host_stats, bytes_up)},
	{"down", offsetof(struct cell_host_stats, bytes_down)},
	{"denied", offsetof(struct cell_host_stats, denied)},
};

static uint64_t *counter(struct cell_host_stats *h, size_t i)
{
	return (uint64_t *)((char *)h + counters[i].offset);
}

static bool counted(const struct cell_host_stats *e)
{
	return e->requests | e->tunnels | e->bytes_up | e->bytes_down | e->denied;
}

bool cell_stats_counted(const struct cell_stats *s)
{
	for (size_t i = 0; i < s->n_hosts; i++)
		if (counted(&s->hosts[i]))
			return true;
	return false;
}

int cell_stats_record(const struct cell_stats *s, const char *kind, const char *project,
		      const char *name, int64_t start, int64_t end, char **ret_line)
{
	cJSON *root = cJSON_CreateObject(), *hosts;
	int r = -ENOMEM;

	if (!root)
		return -ENOMEM;
	if (!cJSON_AddNumberToObject(root, "v", 1) ||
	    !cJSON_AddStringToObject(root, "kind", kind) ||
	    !cJSON_AddStringToObject(root, "project", project) ||
	    !cJSON_AddStringToObject(root, "name", name) ||
	    !cJSON_AddNumberToObject(root, "start", (double)start) ||
	    !cJSON_AddNumberToObject(root, "end", (double)end) ||
	    !(hosts = cJSON_AddObjectToObject(root, "hosts")))
		goto out;
	if (s->cells) {
		cJSON *k = cJSON_AddObjectToObject(root, "kernel");

		if (!k || !cJSON_AddNumberToObject(k, "cells", (double)s->cells))
			goto out;
		for (size_t i = 0; i < cell_counter_n_fields; i++)
			if (!cJSON_AddNumberToObject(k, cell_counter_fields[i].key,
						     (double)cell_counter_get(&s->kernel, i)))
				goto out;
	}
	if (s->netns_cells && !cJSON_AddNumberToObject(root, "netns_cells", (double)s->netns_cells))
		goto out;
	for (size_t i = 0; i < s->n_hosts; i++) {
		const struct cell_host_stats *e = &s->hosts[i];
		cJSON *h;

		/* a host with nothing counted (an idle tunnel between flushes) is no news */
		if (!counted(e))
			continue;
		h = cJSON_AddObjectToObject(hosts, e->host);

		if (!h)
			goto out;
		for (size_t k = 0; k < ELEMENTSOF(counters); k++)
			if (!cJSON_AddNumberToObject(h, counters[k].key,
						     (double)*counter(&s->hosts[i], k)))
				goto out;
	}
	*ret_line = cJSON_PrintUnformatted(root);
	r = *ret_line ? 0 : -ENOMEM;
out:
	cJSON_Delete(root);
	return r;
}

static bool whole(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 0 &&
	       v->valuedouble == floor(v->valuedouble) && v->valuedouble < 9007199254740992.0;
}

/* Adds kernel counters from k to *sum (all or nothing); "cells" says how many cells they sum. */
static int merge_kernel(struct cell_counters *sum, uint64_t *cells, const cJSON *k)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(k, "cells");

	if (!cJSON_IsObject(k) || (n && !whole(n)))
		return -EINVAL;
	for (size_t i = 0; i < cell_counter_n_fields; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(k, cell_counter_fields[i].key);

		if (v && !whole(v))
			return -EINVAL;
	}
	for (size_t i = 0; i < cell_counter_n_fields; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(k, cell_counter_fields[i].key);

		if (v)
			*cell_counter(sum, i) += (uint64_t)v->valuedouble;
	}
	*cells += n ? (uint64_t)n->valuedouble : 1;
	return 0;
}

int cell_stats_merge_kernel(struct cell_stats *s, const char *json, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	int r = root ? merge_kernel(&s->kernel, &s->cells, root) : -EINVAL;

	cJSON_Delete(root);
	return r;
}

int cell_stats_merge_record(struct cell_stats *s, const char *line, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(line, len), *hosts, *h;
	const cJSON *start, *end, *kernel, *netns;
	struct cell_counters kernel_sum = {0};
	uint64_t cells = 0;
	int r = 0;

	if (!root)
		return -EINVAL;
	hosts = cJSON_GetObjectItemCaseSensitive(root, "hosts");
	start = cJSON_GetObjectItemCaseSensitive(root, "start");
	end = cJSON_GetObjectItemCaseSensitive(root, "end");
	if (!cJSON_IsObject(hosts) || !whole(start) || !whole(end)) {
		cJSON_Delete(root);
		return -EINVAL;
	}
	kernel = cJSON_GetObjectItemCaseSensitive(root, "kernel");
	netns = cJSON_GetObjectItemCaseSensitive(root, "netns_cells");
	/* check the whole record before counting any of it */
	if ((kernel && merge_kernel(&kernel_sum, &cells, kernel) < 0) || (netns && !whole(netns)))
		r = -EINVAL;
	cJSON_ArrayForEach(h, hosts)
	{
		size_t n = strlen(h->string);

		/* a name or an IP literal, nothing that could drive a terminal when printed */
		if (!cJSON_IsObject(h) || n == 0 || n > CELL_HOST_MAX ||
		    strspn(h->string, "abcdefghijklmnopqrstuvwxyz0123456789.-_:") != n)
			r = -EINVAL;
		for (size_t k = 0; r >= 0 && k < ELEMENTSOF(counters); k++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, counters[k].key);

			if (v && !whole(v))
				r = -EINVAL;
		}
	}
	cJSON_ArrayForEach(h, hosts)
	{
		struct cell_host_stats *e;

		if (r < 0 || (r = cell_stats_host(s, h->string, &e)) < 0)
			break;
		for (size_t k = 0; k < ELEMENTSOF(counters); k++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, counters[k].key);

			if (v)
				*counter(e, k) += (uint64_t)v->valuedouble;
		}
	}
	if (r >= 0) {
		for (size_t i = 0; i < cell_counter_n_fields; i++)
			*cell_counter(&s->kernel, i) += cell_counter_get(&kernel_sum, i);
		s->cells += cells;
		s->netns_cells += netns ? (uint64_t)netns->valuedouble : 0;
		s->records++;
		if (!s->first_start || (int64_t)start->valuedouble < s->first_start)
			s->first_start = (int64_t)start->valuedouble;
		if ((int64_t)end->valuedouble > s->last_end)
			s->last_end = (int64_t)end->valuedouble;
	}
	cJSON_Delete(root);
	return r;
}

static int by_bytes(const void *a, const void *b)
{
	const struct cell_host_stats *x = a, *y = b;
	uint64_t bx = x->bytes_up + x->bytes_down, by = y->bytes_up + y->bytes_down;

	if (bx != by)
		return bx > by ? -1 : 1;
	return strcmp(x->host, y->host);
}

void cell_stats_sort(struct cell_stats *s)
{
	if (s->n_hosts > 1)
		qsort(s->hosts, s->n_hosts, sizeof(*s->hosts), by_bytes);
}

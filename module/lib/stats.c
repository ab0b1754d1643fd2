/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
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

static bool counted(const struct cell_host_stats *e)
{
	return e->requests | e->tunnels | e->bytes_up | e->bytes_down | e->denied;
}

static uint64_t *counter(struct cell_host_stats *h, size_t i)
{
	return (uint64_t *)((char *)h + counters[i].offset);
}

int cell_stats_add(struct cell_stats *into, const struct cell_stats *from)
{
	for (size_t i = 0; i < from->n_hosts; i++) {
		const struct cell_host_stats *f = &from->hosts[i];
		struct cell_host_stats *h;
		int r;

		if (!counted(f))
			continue;
		r = cell_stats_host(into, f->host, &h);
		if (r < 0)
			return r;
		for (size_t k = 0; k < ELEMENTSOF(counters); k++)
			*counter(h, k) += *counter((struct cell_host_stats *)f, k);
	}
	return 0;
}

bool cell_stats_counted(const struct cell_stats *s)
{
	for (size_t i = 0; i < s->n_hosts; i++)
		if (counted(&s->hosts[i]))
			return true;
	return false;
}

void cell_stats_human(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

int cell_stats_record(const struct cell_stats *s, const char *kind, const char *project,
		      const char *name, int64_t start, int64_t end, char **ret_line)
{
	return cell_stats_record_by(s, kind, project, name, start, end, NULL, ret_line);
}

int cell_stats_record_by(const struct cell_stats *s, const char *kind, const char *project,
			 const char *name, int64_t start, int64_t end, const char *writer,
			 char **ret_line)
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
	    (writer && !cJSON_AddStringToObject(root, "writer", writer)) ||
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
	if (s->memory_peak || s->oom_kills || s->pids_refused) {
		cJSON *l = cJSON_AddObjectToObject(root, "limits");

		if (!l || !cJSON_AddNumberToObject(l, "memory_peak", (double)s->memory_peak) ||
		    !cJSON_AddNumberToObject(l, "oom_kills", (double)s->oom_kills) ||
		    !cJSON_AddNumberToObject(l, "pids_refused", (double)s->pids_refused))
			goto out;
	}
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

static const char *const limit_keys[] = {"memory_peak", "oom_kills", "pids_refused"};

/* Whether o's limit_keys are whole numbers where present. */
static bool limits_valid(const cJSON *o)
{
	for (size_t i = 0; i < ELEMENTSOF(limit_keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, limit_keys[i]);

		if (v && !whole(v))
			return false;
	}
	return true;
}

/* Adds what o's limit_keys say to s (the peak: the larger one). */
static void merge_limits(struct cell_stats *s, const cJSON *o)
{
	uint64_t v[ELEMENTSOF(limit_keys)] = {0};

	for (size_t i = 0; i < ELEMENTSOF(limit_keys); i++) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, limit_keys[i]);

		v[i] = n ? (uint64_t)n->valuedouble : 0;
	}
	if (v[0] > s->memory_peak)
		s->memory_peak = v[0];
	s->oom_kills += v[1];
	s->pids_refused += v[2];
}

int cell_stats_merge_kernel(struct cell_stats *s, const char *json, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	int r = root && limits_valid(root) ? merge_kernel(&s->kernel, &s->cells, root) : -EINVAL;

	if (r >= 0)
		merge_limits(s, root);
	cJSON_Delete(root);
	return r;
}

int cell_stats_merge_limits(struct cell_stats *s, const char *json, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	int r = cJSON_IsObject(root) && limits_valid(root) ? 0 : -EINVAL;

	if (r >= 0)
		merge_limits(s, root);
	cJSON_Delete(root);
	return r;
}

int cell_stats_merge_record(struct cell_stats *s, const char *line, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(line, len), *hosts, *h;
	const cJSON *start, *end, *kernel, *netns, *limits;
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
	limits = cJSON_GetObjectItemCaseSensitive(root, "limits");
	/* check the whole record before counting any of it */
	if ((kernel && merge_kernel(&kernel_sum, &cells, kernel) < 0) || (netns && !whole(netns)) ||
	    (limits && (!cJSON_IsObject(limits) || !limits_valid(limits))))
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
		if (limits)
			merge_limits(s, limits);
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

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "metrics.h"

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] < 0x80		   ? 1
		   : (s[0] & 0xe0) == 0xc0 ? 2
		   : (s[0] & 0xf0) == 0xe0 ? 3
		   : (s[0] & 0xf8) == 0xf0 ? 4
					   : 0;

	if (n == 2 && s[0] < 0xc2)
		return 0; /* overlong */
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * A label value as the text format has it: \, " and newline escaped, and what Prometheus would
 * refuse (invalid UTF-8, which fails the whole scrape) or a terminal would act on (control
 * bytes) as '?': a user's project names are theirs to choose.
 */
static void put_value(FILE *f, const char *v)
{
	const unsigned char *c = (const unsigned char *)v;

	while (c && *c) {
		size_t n = utf8_len(c);

		if (*c == '\\' || *c == '"') {
			fputc('\\', f);
			fputc(*c, f);
		} else if (*c == '\n') {
			fputs("\\n", f);
		} else if (n == 0 || *c < 0x20 || *c == 0x7f) {
			fputc('?', f);
			n = 1;
		} else {
			fwrite(c, 1, n, f);
		}
		c += n ? n : 1;
	}
}

static const char *str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s ? s : "";
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : 0;
}

/* name{user=..,project=..,project_id=..[,k1=v1[,k2=v2]]} value */
static void sample(FILE *f, const char *name, const cJSON *project, const char *k1, const char *v1,
		   const char *k2, const char *v2, double value)
{
	fprintf(f, "%s{user=\"", name);
	put_value(f, str(project, "user"));
	fputs("\",project=\"", f);
	put_value(f, str(project, "name"));
	fputs("\",project_id=\"", f);
	put_value(f, str(project, "project_id"));
	fputc('"', f);
	if (k1) {
		fprintf(f, ",%s=\"", k1);
		put_value(f, v1);
		fputc('"', f);
	}
	if (k2) {
		fprintf(f, ",%s=\"", k2);
		put_value(f, v2);
		fputc('"', f);
	}
	fprintf(f, "} %.0f\n", value);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The proxy's counts by host: one family per counter of a host's ledger entry. */
static void proxy_families(FILE *f, const cJSON *projects)
{
	static const struct {
		const char *name, *key, *help;
	} per_host[] = {
		{"cell_proxy_requests_total", "requests",
		 "HTTP requests the proxy forwarded, by host."},
		{"cell_proxy_tunnels_total", "tunnels",
		 "CONNECT tunnels the proxy opened, by host."},
		{"cell_proxy_denied_total", "denied",
		 "Requests and tunnels the proxy refused (the policy, the budget), by host."},
	};
	const cJSON *p, *h;

	for (size_t i = 0; i < ELEMENTSOF(per_host); i++) {
		family(f, per_host[i].name, "counter", per_host[i].help);
		cJSON_ArrayForEach(p, projects)
		{
			const cJSON *hosts = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(p, "record"), "hosts");

			cJSON_ArrayForEach(h, hosts)
			{
				sample(f, per_host[i].name, p, "host", h->string, NULL, NULL,
				       num(h, per_host[i].key));
			}
		}
	}
	family(f, "cell_proxy_bytes_total", "counter",
	       "Bytes the proxy relayed, by host and direction (up: to the host).");
	cJSON_ArrayForEach(p, projects)
	{
		const cJSON *hosts = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(p, "record"), "hosts");

		cJSON_ArrayForEach(h, hosts)
		{
			sample(f, "cell_proxy_bytes_total", p, "host", h->string, "direction", "up",
			       num(h, "up"));
			sample(f, "cell_proxy_bytes_total", p, "host", h->string, "direction",
			       "down", num(h, "down"));
		}
	}
}

/* What the kernel counted for the project's cells (BPF mode). */
static void kernel_families(FILE *f, const cJSON *projects)
{
	static const struct {
		const char *name, *help, *label, *v1, *k1, *v2, *k2;
	} fams[] = {
		{"cell_kernel_connects_total", "Connections the cells' sockets made, by verdict.",
		 "verdict", "allowed", "connects_allowed", "denied", "connects_denied"},
		{"cell_kernel_bytes_total", "Bytes the cells' sockets sent and received.",
		 "direction", "out", "bytes_out", "in", "bytes_in"},
		{"cell_kernel_packets_total", "Packets the cells' sockets sent and received.",
		 "direction", "out", "packets_out", "in", "packets_in"},
		{"cell_kernel_refused_total",
		 "UDP sends and raw or packet sockets the kernel refused the cells.", "what",
		 "udp_send", "udp_denied", "socket", "sockets_denied"},
	};
	const cJSON *p;

	for (size_t i = 0; i < ELEMENTSOF(fams); i++) {
		family(f, fams[i].name, "counter", fams[i].help);
		cJSON_ArrayForEach(p, projects)
		{
			const cJSON *k = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(p, "record"), "kernel");

			if (!k)
				continue;
			sample(f, fams[i].name, p, fams[i].label, fams[i].v1, NULL, NULL,
			       num(k, fams[i].k1));
			sample(f, fams[i].name, p, fams[i].label, fams[i].v2, NULL, NULL,
			       num(k, fams[i].k2));
		}
	}
}

static void cell_families(FILE *f, const cJSON *projects)
{
	const cJSON *p;

	family(f, "cell_cells_opened_total", "counter",
	       "Cells of the project that opened and closed (ledger records of cells).");
	cJSON_ArrayForEach(p, projects)
	{
		const cJSON *rec = cJSON_GetObjectItemCaseSensitive(p, "record");

		sample(f, "cell_cells_opened_total", p, NULL, NULL, NULL, NULL,
		       num(cJSON_GetObjectItemCaseSensitive(rec, "kernel"), "cells") +
			       num(rec, "netns_cells"));
	}
	family(f, "cell_cells_open", "gauge", "Cells of the project open now.");
	cJSON_ArrayForEach(p, projects)
	{
		sample(f, "cell_cells_open", p, NULL, NULL, NULL, NULL, num(p, "open"));
	}
}

static void budget_families(FILE *f, const cJSON *projects)
{
	static const struct {
		const char *name, *field, *help;
		bool bytes;
	} fams[] = {
		{"cell_budget_limit_bytes", "limit", "network.budget: bytes allowed per period.",
		 true},
		{"cell_budget_used_bytes", "used", "Bytes used of network.budget in this period.",
		 true},
		{"cell_budget_limit_connections", "limit",
		 "network.budget: connections allowed per period.", false},
		{"cell_budget_used_connections", "used",
		 "Connections used of network.budget in this period.", false},
	};
	const cJSON *p, *b;

	for (size_t i = 0; i < ELEMENTSOF(fams); i++) {
		family(f, fams[i].name, "gauge", fams[i].help);
		cJSON_ArrayForEach(p, projects)
		{
			cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(p, "budget"))
			{
				const char *kind = str(b, "kind");

				if (streq(kind, "connections") == fams[i].bytes)
					continue;
				sample(f, fams[i].name, p, "kind", kind, "period", str(b, "period"),
				       num(b, fams[i].field));
			}
		}
	}
}

int cell_metrics_format(const cJSON *projects, char **ret_text)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	proxy_families(f, projects);
	kernel_families(f, projects);
	cell_families(f, projects);
	budget_families(f, projects);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	return 0;
}

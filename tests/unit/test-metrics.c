/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *format(const char *json)
{
	cJSON *projects = cJSON_Parse(json);
	char *text = NULL;

	cr_assert(not(eq(ptr, projects, NULL)), "%s", json);
	cr_assert(eq(int, cell_metrics_format(projects, &text), 0));
	cJSON_Delete(projects);
	return text;
}

Test(metrics, samples_carry_the_project_and_host)
{
	char *text = format(
		"[{\"user\":\"dev\",\"project_id\":\"web-1a2b\",\"name\":\"web\",\"open\":2,"
		"\"record\":{\"hosts\":{\"registry.npmjs.org\":{\"requests\":3,\"tunnels\":1,\"up\":10,"
		"\"down\":2000,\"denied\":1}},\"kernel\":{\"cells\":4,\"connects_allowed\":9},"
		"\"netns_cells\":1},\"budget\":[{\"kind\":\"out\",\"period\":\"day\",\"limit\":100,"
		"\"used\":10},{\"kind\":\"connections\",\"period\":\"minute\",\"limit\":60,"
		"\"used\":4}]}]");

	cr_assert(not(eq(ptr, strstr(text, "# TYPE cell_proxy_bytes_total counter\n"), NULL)));
	cr_assert(not(eq(ptr,
			 strstr(text, "cell_proxy_bytes_total{user=\"dev\",project=\"web\","
				      "project_id=\"web-1a2b\",host=\"registry.npmjs.org\","
				      "direction=\"down\"} 2000\n"),
			 NULL)),
		  "%s", text);
	cr_assert(not(eq(ptr,
			 strstr(text, "cell_cells_opened_total{user=\"dev\",project=\"web\","
				      "project_id=\"web-1a2b\"} 5\n"),
			 NULL)),
		  "%s", text);
	cr_assert(not(eq(ptr,
			 strstr(text, "cell_cells_open{user=\"dev\",project=\"web\","
				      "project_id=\"web-1a2b\"} 2\n"),
			 NULL)));
	cr_assert(not(eq(ptr, strstr(text, ",kind=\"out\",period=\"day\"} 100\n"), NULL)), "%s",
		  text);
	cr_assert(not(eq(ptr,
			 strstr(text, "cell_budget_used_connections{user=\"dev\",project=\"web\","
				      "project_id=\"web-1a2b\",kind=\"connections\",period="
				      "\"minute\"} 4\n"),
			 NULL)),
		  "%s", text);
	free(text);
}

/* A name a user chose cannot break the format or the scrape: quotes and backslashes escaped,
 * control bytes and invalid UTF-8 as '?', valid UTF-8 kept. */
Test(metrics, label_values_are_escaped_and_valid_utf8)
{
	char *text = format(
		"[{\"user\":\"dev\",\"project_id\":\"x\",\"name\":\"a\\\"b\\\\c\\r\\nd\\u00e9\","
		"\"open\":0,\"record\":{\"hosts\":{}}}]");
	char *bad = NULL;
	cJSON *p = cJSON_CreateArray(), *o = cJSON_CreateObject();

	cr_assert(not(eq(ptr, strstr(text, "project=\"a\\\"b\\\\c?\\nd\xc3\xa9\""), NULL)), "%s",
		  text);
	free(text);
	/* bytes that are no UTF-8 (cJSON keeps them as they are) */
	cJSON_AddStringToObject(o, "user", "dev");
	cJSON_AddStringToObject(o, "project_id", "x");
	cJSON_AddStringToObject(o, "name", "\xff\xfe\xc3");
	cJSON_AddNumberToObject(o, "open", 0);
	cJSON_AddItemToArray(p, o);
	cr_assert(eq(int, cell_metrics_format(p, &bad), 0));
	cr_assert(not(eq(ptr, strstr(bad, "project=\"???\""), NULL)), "%s", bad);
	free(bad);
	cJSON_Delete(p);
}

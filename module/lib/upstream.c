/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "macro.h"
#include "strv.h"
#include "upstream.h"

int cell_upstream_parse(const char *url, struct cell_upstream *ret, const char **ret_why)
{
	const char *at = url;
	size_t len;

	*ret = (struct cell_upstream){0};
	if (strncasecmp(at, "http://", 7) == 0) {
		at += 7;
	} else if (strstr(at, "://")) {
		*ret_why = "only http:// proxies are supported";
		return -EINVAL;
	}
	len = strlen(at);
	if (len > 0 && at[len - 1] == '/')
		len--;
	if (memchr(at, '@', len)) {
		*ret_why = "credentials in the proxy's URL are not supported";
		return -EINVAL;
	}
	if (memchr(at, '/', len) || memchr(at, '?', len) || memchr(at, '#', len)) {
		*ret_why = "a proxy's URL has no path";
		return -EINVAL;
	}
	if (len == 0) {
		*ret_why = "no host";
		return -EINVAL;
	}
	return cell_http_parse_authority(at, len, false, 3128, ret->host, &ret->ipv6, &ret->port,
					 ret_why);
}

/* Adds one entry: "*.example.com" and ".example.com" both mean the name and below it, and a
 * name's final dot is no part of it. */
static int add_entry(char ***list, char *w)
{
	size_t n;

	while (*w == '*' && w[1] == '.')
		w++;
	while (*w == '.')
		w++;
	n = strlen(w);
	while (n > 0 && w[n - 1] == '.')
		w[--n] = '\0';
	return *w ? cell_strv_extend(list, w) : 0;
}

int cell_upstream_no_proxy(const char *value, char ***ret)
{
	_cleanup_strv_free_ char **list = NULL;
	_cleanup_free_ char *copy = strdup(value ? value : "");
	char *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *w = strtok_r(copy, ", \t", &save); w && r >= 0;
	     w = strtok_r(NULL, ", \t", &save))
		r = add_entry(&list, w);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(list);
	return 0;
}

int cell_upstream_no_proxy_list(char *const *entries, char ***ret)
{
	_cleanup_strv_free_ char **list = NULL;
	int r = 0;

	for (size_t i = 0; entries && entries[i] && r >= 0; i++) {
		_cleanup_free_ char *w = strdup(entries[i]);

		r = w ? add_entry(&list, w) : -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(list);
	return 0;
}

bool cell_upstream_bypass(const struct cell_upstream *u, const char *host)
{
	size_t hl = strlen(host);

	for (size_t i = 0; u->no_proxy && u->no_proxy[i]; i++) {
		const char *e = u->no_proxy[i];
		size_t el;

		/* "host:port" and "[v6]:port" entries: the host; a bare IPv6 address whole */
		if (e[0] == '[')
			el = strcspn(++e, "]");
		else if (strchr(e, ':') != strrchr(e, ':'))
			el = strlen(e);
		else
			el = strcspn(e, ":");
		if (streq(e, "*"))
			return true;
		if (el == 0 || el > hl)
			continue;
		if (strncasecmp(host + hl - el, e, el) == 0 &&
		    (hl == el || host[hl - el - 1] == '.'))
			return true;
	}
	return false;
}

void cell_upstream_done(struct cell_upstream *u)
{
	if (!u)
		return;
	cell_strv_free(u->no_proxy);
	u->no_proxy = NULL;
}

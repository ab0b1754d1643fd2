/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "nameserv.h"
#include "netpolicy.h"

#define RESOLVE "/cell/resolve/"
#define NAME "/cell/name/"

static int resolve(struct cell_fakeaddr **t, const char *arg, char *body, size_t size)
{
	char name[256], v4[INET_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	struct in_addr a4;
	const char *why;
	uint32_t index;
	int r;

	if (cell_hostname_normalize(arg, name, sizeof(name), &why) < 0 ||
	    inet_pton(AF_INET, name, &a4) == 1) {
		snprintf(body, size, "cell: '%.100s' is not a host name\n", arg);
		return 400;
	}
	if (!*t) {
		r = cell_fakeaddr_new(CELL_FAKEADDR_MAX, t);
		if (r < 0) {
			snprintf(body, size, "cell: no memory for the fake address table\n");
			return 500;
		}
	}
	if (cell_fakeaddr_get(*t, name, &index) < 0) {
		snprintf(body, size, "cell: '%.100s' is not a host name\n", arg);
		return 400;
	}
	cell_fakeaddr_v4(index, &a4);
	cell_fakeaddr_v6(index, &a6);
	inet_ntop(AF_INET, &a4, v4, sizeof(v4));
	inet_ntop(AF_INET6, &a6, v6, sizeof(v6));
	snprintf(body, size, "%s %s\n", v4, v6);
	return 200;
}

static int name_of(struct cell_fakeaddr *t, const char *arg, char *body, size_t size)
{
	const char *name;
	uint32_t index;

	if (!cell_fakeaddr_parse(arg, &index)) {
		snprintf(body, size, "cell: '%.100s' is not a fake address\n", arg);
		return 400;
	}
	name = t ? cell_fakeaddr_name(t, index) : NULL;
	if (!name) {
		snprintf(body, size, "cell: %s stands for no name in this cell\n", arg);
		return 404;
	}
	snprintf(body, size, "%s\n", name);
	return 200;
}

int cell_nameserv_answer(struct cell_fakeaddr **t, const char *path, size_t path_len, char *body,
			 size_t body_size)
{
	char arg[256];
	size_t skip;

	if (path_len > strlen(RESOLVE) && !strncmp(path, RESOLVE, strlen(RESOLVE)))
		skip = strlen(RESOLVE);
	else if (path_len > strlen(NAME) && !strncmp(path, NAME, strlen(NAME)))
		skip = strlen(NAME);
	else
		skip = 0;
	if (!skip || path_len - skip >= sizeof(arg)) {
		snprintf(body, body_size, "cell: the proxy has no %.*s\n",
			 (int)(path_len < 100 ? path_len : 100), path);
		return skip ? 400 : 404;
	}
	memcpy(arg, path + skip, path_len - skip);
	arg[path_len - skip] = '\0';
	if (skip == strlen(RESOLVE))
		return resolve(t, arg, body, body_size);
	return name_of(*t, arg, body, body_size);
}

int cell_nameserv_unfake(struct cell_fakeaddr *t, char *host, size_t size)
{
	const char *name;
	uint32_t index;

	if (!cell_fakeaddr_parse(host, &index))
		return 0;
	name = t ? cell_fakeaddr_name(t, index) : NULL;
	if (!name || strlen(name) >= size)
		return -ENOENT;
	strcpy(host, name);
	return 1;
}

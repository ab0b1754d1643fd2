/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "running.h"
#include "session.h"
#include "xdg.h"

static int dir_path(char **ret)
{
	_cleanup_free_ char *state = NULL;
	int r = cell_xdg_dir(CELL_XDG_STATE, &state);

	if (r < 0)
		return r;
	*ret = cell_path_join(state, "cells");
	return *ret ? 0 : -ENOMEM;
}

static int file_path(const char *id, char **ret)
{
	_cleanup_free_ char *dir = NULL;
	int r;

	if (!cell_session_id_valid(id))
		return -EINVAL;
	r = dir_path(&dir);
	if (r < 0)
		return r;
	if (asprintf(ret, "%s/%s.json", dir, id) < 0)
		return -ENOMEM;
	return 0;
}

int cell_running_save(const struct cell_running *c)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	cJSON *o = cJSON_CreateObject();
	int r = -ENOMEM;

	if (!o)
		return -ENOMEM;
	if (cJSON_AddStringToObject(o, "id", c->id) &&
	    cJSON_AddStringToObject(o, "project", c->project) &&
	    cJSON_AddStringToObject(o, "name", c->name) &&
	    cJSON_AddNumberToObject(o, "start", (double)c->start) &&
	    cJSON_AddNumberToObject(o, "owner", c->owner) &&
	    cJSON_AddNumberToObject(o, "owner_start", (double)c->owner_start) &&
	    cJSON_AddNumberToObject(o, "keeper", c->keeper) &&
	    cJSON_AddNumberToObject(o, "keeper_start", (double)c->keeper_start) &&
	    cJSON_AddNumberToObject(o, "proxy", c->proxy) &&
	    cJSON_AddNumberToObject(o, "proxy_start", (double)c->proxy_start) &&
	    cJSON_AddNumberToObject(o, "proxy_port", c->proxy_port) &&
	    cJSON_AddBoolToObject(o, "netns", c->netns))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return r;
	r = file_path(c->id, &path);
	if (r >= 0)
		r = cell_mkdir_parent(path, 0700);
	/* not synced: after a crash of the machine no cell is left to describe */
	if (r >= 0)
		r = cell_write_file_atomic(path, text, strlen(text), 0600, false);
	return r;
}

int cell_running_remove(const char *id)
{
	_cleanup_free_ char *path = NULL;
	int r = file_path(id, &path);

	if (r < 0)
		return r;
	return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
}

void cell_running_done(struct cell_running *c)
{
	free(c->id);
	free(c->project);
	free(c->name);
	*c = (struct cell_running){0};
}

static double number(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : 0;
}

static char *string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static int parse(const char *text, struct cell_running *c)
{
	cJSON *o = cJSON_Parse(text);

	if (!o)
		return -EINVAL;
	*c = (struct cell_running){
		.id = string(o, "id"),
		.project = string(o, "project"),
		.name = string(o, "name"),
		.start = (int64_t)number(o, "start"),
		.owner = (pid_t)number(o, "owner"),
		.owner_start = (uint64_t)number(o, "owner_start"),
		.keeper = (pid_t)number(o, "keeper"),
		.keeper_start = (uint64_t)number(o, "keeper_start"),
		.proxy = (pid_t)number(o, "proxy"),
		.proxy_start = (uint64_t)number(o, "proxy_start"),
		.proxy_port = (uint16_t)number(o, "proxy_port"),
		.netns = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "netns")),
	};
	cJSON_Delete(o);
	if (!c->id || !c->project || !c->name || !cell_session_id_valid(c->id)) {
		cell_running_done(c);
		return -EINVAL;
	}
	return 0;
}

int cell_running_list(int (*fn)(const struct cell_running *c, void *data), void *data)
{
	_cleanup_free_ char *dir = NULL;
	struct dirent *e;
	DIR *d;
	int r = dir_path(&dir);

	if (r < 0)
		return r;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : negative_errno();
	while (r == 0 && (e = readdir(d))) {
		_cleanup_free_ char *path = NULL, *text = NULL;
		struct cell_running c;

		if (!endswith(e->d_name, ".json") || !(path = cell_path_join(dir, e->d_name)))
			continue;
		if (cell_read_file(path, O_NOFOLLOW, 64 * 1024, &text, NULL) < 0 ||
		    parse(text, &c) < 0)
			continue;
		r = fn(&c, data);
		cell_running_done(&c);
	}
	closedir(d);
	return r;
}

uint64_t cell_process_start(pid_t pid)
{
	char path[32], buf[1024], *p;
	unsigned long long start = 0;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pid <= 0 || fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return 0;
	buf[n] = '\0';
	/* "PID (COMM) STATE ...": comm may hold anything, so count fields after its last ')';
	 * starttime is field 22 (proc(5)), the 20th after it */
	p = strrchr(buf, ')');
	for (int i = 0; p && i < 20; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start) != 1)
		return 0;
	/* a zombie is gone for our purposes */
	return strstr(buf, ") Z ") ? 0 : start;
}

bool cell_process_alive(pid_t pid, uint64_t start)
{
	return pid > 0 && start && cell_process_start(pid) == start;
}

/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "providerread.h"
#include "strv.h"

#define WATCHES_MAX (1024 * 1024)

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* base64url, padded or not, into out (at least len * 3 / 4 bytes); the length or -EBADMSG. */
static ssize_t b64url_decode(const char *s, size_t len, unsigned char *out)
{
	uint32_t acc = 0;
	size_t bits = 0, n = 0;

	while (len > 0 && s[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(s[i]);

		if (v < 0)
			return -EBADMSG;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return (ssize_t)n;
}

static int add_path(char ***list, const char *path)
{
	if (!path || path[0] != '/' || cell_strv_length(*list) >= CELL_PROVIDER_READ_MAX ||
	    cell_strv_contains(*list, path))
		return 0;
	return cell_strv_extend(list, path);
}

static int direnv_watches(const char *output, char ***ret)
{
	cJSON *root = cJSON_Parse(output), *list = NULL;
	const char *w =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "DIRENV_WATCHES"));
	_cleanup_free_ unsigned char *packed = NULL, *json = NULL;
	uLongf json_len = WATCHES_MAX;
	const cJSON *item;
	ssize_t n;
	int r = 0;

	if (!w || strlen(w) > WATCHES_MAX) {
		cJSON_Delete(root);
		return 0;
	}
	packed = malloc(strlen(w) * 3 / 4 + 3);
	json = malloc(WATCHES_MAX + 1);
	if (!packed || !json) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	n = b64url_decode(w, strlen(w), packed);
	/* (what is not direnv's shape says nothing: the cache is keyed by the inputs alone) */
	if (n > 0 && uncompress(json, &json_len, packed, (uLong)n) == Z_OK) {
		json[json_len] = '\0';
		list = cJSON_ParseWithLength((const char *)json, json_len);
	}
	cJSON_ArrayForEach(item, list)
	{
		if (r >= 0)
			r = add_path(ret, cJSON_GetStringValue(
						  cJSON_GetObjectItemCaseSensitive(item, "Path")));
	}
	cJSON_Delete(list);
	cJSON_Delete(root);
	return r;
}

static int devenv_inputs(const char *root, char ***ret)
{
	_cleanup_free_ char *path = cell_path_join(root, ".devenv/input-paths.txt"), *text = NULL;
	size_t len = 0;
	int r;

	if (!path)
		return -ENOMEM;
	if (cell_read_file(path, O_NOFOLLOW | O_NONBLOCK, WATCHES_MAX, &text, &len) < 0)
		return 0;
	r = 0;
	for (char *line = text, *next; r >= 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		r = add_path(ret, line);
	}
	return r;
}

int cell_provider_read_list(enum cell_env_provider p, const char *root, const char *output,
			    char ***ret)
{
	*ret = NULL;
	if (p == CELL_PROVIDER_DIRENV && output)
		return direnv_watches(output, ret);
	if (p == CELL_PROVIDER_DEVENV)
		return devenv_inputs(root, ret);
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "shimproto.h"

/* A port in decimal, 1 to 65535, the whole of s. */
static bool port_of(const char *s, uint16_t *ret)
{
	unsigned long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return false;
	}
	if (v == 0)
		return false;
	*ret = (uint16_t)v;
	return true;
}

int cell_shim_conf_parse(const char *text, size_t len, struct cell_shim_conf *c)
{
	char *line, *next;

	memset(c, 0, sizeof(*c));
	if (len >= sizeof(c->text))
		return -EINVAL;
	memcpy(c->text, text, len);
	c->text[len] = '\0';
	for (line = c->text; *line; line = next) {
		char *nl = strchr(line, '\n');

		next = nl ? nl + 1 : line + strlen(line);
		if (nl)
			*nl = '\0';
		if (!*line)
			continue;
		if (!strncmp(line, "proxy ", 6)) {
			if (!port_of(line + 6, &c->proxy_port))
				return -EINVAL;
		} else if (!strncmp(line, "local ", 6)) {
			if (c->n_local_ports == CELL_SHIM_LOCAL_PORTS_MAX ||
			    !port_of(line + 6, &c->local_ports[c->n_local_ports]))
				return -EINVAL;
			c->n_local_ports++;
		} else if (!strncmp(line, "env ", 4)) {
			const char *kv = line + 4, *eq = strchr(kv, '=');

			if (c->n_env == CELL_SHIM_ENV_MAX || !eq || eq == kv)
				return -EINVAL;
			c->env[c->n_env++] = kv;
		} else {
			return -EINVAL;
		}
	}
	return c->proxy_port ? 0 : -EINVAL;
}

const char *const cell_proxy_vars[CELL_PROXY_VARS] = {
	"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
	"ALL_PROXY",  "all_proxy",   "NO_PROXY",   "no_proxy",
};

int cell_shim_conf_format(uint16_t proxy_port, const uint16_t *local_ports, size_t n_local,
			  char *const *env, char *buf, size_t size)
{
	size_t n = 0;
	int w;

	w = snprintf(buf, size, "proxy %u\n", (unsigned)proxy_port);
	if (w < 0 || (size_t)w >= size)
		return -ENOSPC;
	n = (size_t)w;
	for (size_t i = 0; i < n_local; i++) {
		w = snprintf(buf + n, size - n, "local %u\n", (unsigned)local_ports[i]);
		if (w < 0 || (size_t)w >= size - n)
			return -ENOSPC;
		n += (size_t)w;
	}
	for (size_t i = 0; env && env[i]; i++) {
		if (i == CELL_SHIM_ENV_MAX || strchr(env[i], '\n') || !strchr(env[i], '='))
			return -EINVAL;
		w = snprintf(buf + n, size - n, "env %s\n", env[i]);
		if (w < 0 || (size_t)w >= size - n)
			return -ENOSPC;
		n += (size_t)w;
	}
	/* what the shim reads must fit what it parses into */
	return n < sizeof(((struct cell_shim_conf *)0)->text) ? 0 : -ENOSPC;
}

int cell_shim_connect_request(const char *host, uint16_t port, bool early, char *buf, size_t size)
{
	bool v6 = strchr(host, ':') != NULL;
	int w = snprintf(buf, size, "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n%s\r\n",
			 v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port, v6 ? "[" : "", host,
			 v6 ? "]" : "", (unsigned)port,
			 early ? CELL_SHIM_EARLY_FIELD ": 1\r\n" : "");

	return w < 0 || (size_t)w >= size ? -ENOSPC : w;
}

/* The value of header name (case-insensitive) in head[0..len), or NULL. */
static const char *field(const char *head, size_t len, const char *name)
{
	size_t nlen = strlen(name);

	for (const char *p = head; p < head + len;) {
		const char *eol = memchr(p, '\n', (size_t)(head + len - p));

		if (!eol)
			break;
		if ((size_t)(eol - p) > nlen && !strncasecmp(p, name, nlen) && p[nlen] == ':')
			return p + nlen + 1;
		p = eol + 1;
	}
	return NULL;
}

int cell_shim_reply_parse(const char *buf, size_t len, int *status, size_t *body_len)
{
	const char *end = NULL, *cl;

	for (size_t i = 0; i + 3 < len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			end = buf + i + 4;
			break;
		}
	if (len >= 7 && strncmp(buf, "HTTP/1.", 7) != 0)
		return -EBADMSG;
	if (!end)
		return len > 8192 ? -EBADMSG : 0;
	if (end - buf < 13 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' || buf[9] < '1' ||
	    buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
		return -EBADMSG;
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	*body_len = 0;
	cl = field(buf, (size_t)(end - buf), "Content-Length");
	if (cl) {
		/* digits only, within the head (buf is not NUL-terminated) */
		size_t v = 0, digits = 0;

		while (cl < end && (*cl == ' ' || *cl == '\t'))
			cl++;
		for (; cl < end && *cl >= '0' && *cl <= '9' && v <= 65536; cl++, digits++)
			v = v * 10 + (size_t)(*cl - '0');
		if (!digits || v > 65536 || cl >= end || (*cl != '\r' && *cl != ' '))
			return -EBADMSG;
		*body_len = v;
	}
	return (int)(end - buf);
}

/* Whether envp has a variable named like kv's name (up to its '='). */
static bool has_name(char *const envp[], const char *kv)
{
	size_t n = (size_t)(strchr(kv, '=') - kv);

	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], kv, n) && envp[i][n] == '=')
			return true;
	return false;
}

/* Whether list (ld.so's: separated by spaces or colons) has item as one of its entries. */
static bool has_entry(const char *list, const char *item, size_t len)
{
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, " :");

		if (n == len && !strncmp(p, item, len))
			return true;
		p += n;
		p += *p != '\0';
	}
	return false;
}

/* kv ("LD_PRELOAD=OURS") joined onto envp's own non-empty LD_PRELOAD that lacks OURS, in buf:
 * index of that entry in envp, or -1 if there is nothing to join (or no room). */
static ssize_t join_preload(char *const envp[], const char *kv, char *buf, size_t size)
{
	static const char name[] = "LD_PRELOAD=";
	const char *ours = kv + strlen(name);

	if (strncmp(kv, name, strlen(name)))
		return -1;
	for (size_t i = 0; envp && envp[i]; i++) {
		const char *theirs = envp[i] + strlen(name);
		size_t tl, ol = strlen(ours);

		if (strncmp(envp[i], name, strlen(name)))
			continue;
		/* empty: the caller asked for no preloading at all, and gets none */
		tl = strlen(theirs);
		if (!tl || has_entry(theirs, ours, ol) || strlen(name) + tl + 1 + ol + 1 > size)
			return -1;
		/* theirs first: a library of theirs that hooks connect too wraps ours */
		memcpy(buf, envp[i], strlen(name) + tl);
		buf[strlen(name) + tl] = ':';
		memcpy(buf + strlen(name) + tl + 1, ours, ol + 1);
		return (ssize_t)i;
	}
	return -1;
}

int cell_shim_env_fill(char *const envp[], const struct cell_shim_conf *c, char **out, size_t n,
		       char *preload, size_t preload_size)
{
	size_t have = 0, missing = 0, k;
	ssize_t joined = -1;

	while (envp && envp[have])
		have++;
	for (size_t i = 0; i < c->n_env; i++) {
		if (!has_name(envp, c->env[i]))
			missing++;
		else if (joined < 0)
			joined = join_preload(envp, c->env[i], preload, preload_size);
	}
	if ((!missing && joined < 0) || have + missing + 1 > n)
		return 0;
	for (k = 0; k < have; k++)
		out[k] = (ssize_t)k == joined ? preload : envp[k];
	for (size_t i = 0; i < c->n_env; i++)
		if (!has_name(envp, c->env[i]))
			out[k++] = (char *)c->env[i];
	out[k] = NULL;
	return 1;
}

int cell_shim_conf_for_proxy(uint16_t proxy_port, const uint16_t *local_ports, size_t n_local,
			     char *const *extra, char *buf, size_t size)
{
	char vars[CELL_PROXY_VARS][64], *env[CELL_SHIM_ENV_MAX + 1] = {NULL};
	size_t n = 0;

	for (size_t i = 0; extra && extra[i]; i++) {
		if (n == CELL_SHIM_ENV_MAX - CELL_PROXY_VARS)
			return -E2BIG;
		env[n++] = extra[i];
	}
	for (size_t i = 0; i < CELL_PROXY_VARS; i++) {
		if (i < CELL_PROXY_URL_VARS)
			snprintf(vars[i], sizeof(vars[i]), "%s=http://127.0.0.1:%u",
				 cell_proxy_vars[i], (unsigned)proxy_port);
		else
			snprintf(vars[i], sizeof(vars[i]), "%s=" CELL_NO_PROXY, cell_proxy_vars[i]);
		env[n++] = vars[i];
	}
	return cell_shim_conf_format(proxy_port, local_ports, n_local, env, buf, size);
}

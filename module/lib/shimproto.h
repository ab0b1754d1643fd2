/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What the LD_PRELOAD shim (shim/) and cell share: the cell's settings for the shim, fixed
 * when the cell starts and read by the shim in every process, and the shim's side of the
 * proxy's protocol. Nothing here allocates: the shim runs it in any process, at any moment.
 */

/* Where the cell has the shim and its settings (read-only binds). */
#define CELL_SHIM_PATH "/run/cell/libcellshim.so"
#define CELL_SHIM_CONF_PATH "/run/cell/shim.conf"
/* Outside a bubblewrap cell (a login pam_cell.so put in a cell), where the settings are. */
#define CELL_SHIM_CONF_VAR "CELL_SHIM_CONF"

/*
 * A CONNECT with this header field is answered 200 by the proxy as soon as the allowlist lets
 * it through: an upstream that then cannot be reached resets the connection. The shim asks
 * for it for non-blocking sockets.
 */
#define CELL_SHIM_EARLY_FIELD "Cell-Early"

/*
 * The proxy's variables a proxy cell (or a login in one) has: the first CELL_PROXY_URL_VARS
 * name the proxy, http://127.0.0.1:PORT; the rest exempt loopback (CELL_NO_PROXY).
 */
#define CELL_PROXY_VARS 8
#define CELL_PROXY_URL_VARS 6
#define CELL_NO_PROXY "localhost,127.0.0.1,::1"
extern const char *const cell_proxy_vars[CELL_PROXY_VARS];

#define CELL_SHIM_LOCAL_PORTS_MAX 16
#define CELL_SHIM_ENV_MAX 16

/*
 * The settings, one per line: "proxy PORT" (the proxy on 127.0.0.1), "local PORT" (a
 * network.local_ports entry: loopback ports the shim leaves alone anyway, kept for the
 * record), "env NAME=VALUE" (what a program started with an environment that lacks NAME gets).
 */
struct cell_shim_conf {
	uint16_t proxy_port;
	uint16_t local_ports[CELL_SHIM_LOCAL_PORTS_MAX];
	size_t n_local_ports;
	const char *env[CELL_SHIM_ENV_MAX]; /* "NAME=VALUE", pointing into text */
	size_t n_env;
	char text[4096]; /* the file's text, lines cut at their ends */
};

/* Parses the settings file's text (copied into c->text); -EINVAL if a line is bad. */
int cell_shim_conf_parse(const char *text, size_t len, struct cell_shim_conf *c);
/* Writes the settings file's text for proxy_port and env (NULL-terminated "NAME=VALUE"s). */
int cell_shim_conf_format(uint16_t proxy_port, const uint16_t *local_ports, size_t n_local,
			  char *const *env, char *buf, size_t size);

/*
 * The settings of a cell whose proxy is at 127.0.0.1:proxy_port: cell_shim_conf_format() with
 * first the variables in extra (NULL-terminated "NAME=VALUE"s: LD_PRELOAD, where the settings
 * are), then the proxy's variables for that port, as every cell's shim keeps them.
 */
int cell_shim_conf_for_proxy(uint16_t proxy_port, const uint16_t *local_ports, size_t n_local,
			     char *const *extra, char *buf, size_t size);

/*
 * The CONNECT request head for host (a name or an IP literal) and port; early: asking to be
 * answered once the allowlist lets it through, before the upstream is connected
 * (CELL_SHIM_EARLY_FIELD).
 */
int cell_shim_connect_request(const char *host, uint16_t port, bool early, char *buf, size_t size);

/*
 * The proxy's reply head in buf[0..len): its length (up to and with the empty line) and status
 * in *status, and its Content-Length in *body_len (0 if none); 0 if the head is not complete
 * yet, -EBADMSG if it is no HTTP/1.x reply.
 */
int cell_shim_reply_parse(const char *buf, size_t len, int *status, size_t *body_len);

/*
 * Fills out (room for n pointers, NULL-terminated) with envp and then each of c->env whose
 * name envp lacks. An LD_PRELOAD of envp's own that does not list c's gets c's added after
 * its own entries, written into preload (an empty one is left empty: no preloading asked
 * for). Returns 1 if out is the environment to use; 0 (out not written) if envp needs
 * nothing, or out or preload is too small.
 */
int cell_shim_env_fill(char *const envp[], const struct cell_shim_conf *c, char **out, size_t n,
		       char *preload, size_t preload_size);

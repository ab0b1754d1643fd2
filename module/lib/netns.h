/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * A proxy cell in a network namespace of its own (network.isolation "netns"; docs/design.md
 * §3): sockets that belong to that namespace, made by the cell's init on request over a socket
 * pair, and used outside. A socket stays in the namespace it was made in, whoever binds,
 * listens or connects it: the proxy, on the host, accepts the cell's connections on a
 * listening socket made so and connects upstream from the host's namespace.
 *
 * The protocol, a message a byte (SOCK_SEQPACKET): the init says CELL_NETNS_HELLO before its
 * command starts and then answers each CELL_NETNS_SOCKET4 / CELL_NETNS_SOCKET6 with a new TCP
 * socket of that family (a message "1" and the socket) or "0" and nothing, until
 * CELL_NETNS_DONE (no more: the command starts) or CELL_NETNS_SERVE (the command starts, and
 * sockets are made for as long as the host end is open: network.forward's connections).
 */
#define CELL_NETNS_HELLO 'H'
#define CELL_NETNS_SOCKET4 '4'
#define CELL_NETNS_SOCKET6 '6'
#define CELL_NETNS_DONE '.'
#define CELL_NETNS_SERVE '+'

/*
 * The init's side, before its command starts: hello, then sockets until told to stop. Returns
 * 1 (CELL_NETNS_SERVE: serve the rest with cell_netns_serve), 0 (done), or a negative errno
 * (the host end closed before it said either: the cell must not start).
 */
int cell_netns_setup(int sock);
/* Serves socket requests until the host end closes. */
void cell_netns_serve(int sock);
/* Serves one request (sock readable): 1, or 0 when the host end closed, or a negative errno. */
int cell_netns_serve_one(int sock);

/* The host's side: waits for the init's hello (what comes first on sock). */
int cell_netns_hello(int sock);
/* A new TCP socket of family (AF_INET or AF_INET6) in the cell's namespace, close-on-exec and
 * non-blocking. */
int cell_netns_socket(int sock, int family, int *ret_fd);
/* A socket of the cell's namespace listening at 127.0.0.1:port there (0: a port the kernel
 * picks), non-blocking; its port in *ret_port. */
int cell_netns_listen(int sock, uint16_t port, int *ret_fd, uint16_t *ret_port);
/* Ends the set-up: the cell's command may start; with serve, the init goes on making sockets. */
int cell_netns_go(int sock, bool serve);

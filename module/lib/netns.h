/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * A proxy cell in a network namespace of its own (network.isolation "netns"; docs/design.md
 * §3): sockets that belong to that namespace, made by the cell's init on request over a socket
 * pair, and used outside. A socket stays in the namespace it was made in, whoever accepts on it
 * or reads and writes it: the proxy, on the host, accepts the cell's connections on a listening
 * socket made so and connects upstream from the host's namespace. The init binds and connects
 * them itself, so that they are the cell's own to the kernel too (a cell that cell-session
 * opened for its limits has a BPF cell's policy: the cell may reach what it bound).
 *
 * The protocol, a message each (SOCK_SEQPACKET): the init says CELL_NETNS_HELLO before its
 * command starts and then answers each request, a letter and a port in decimal
 * (CELL_NETNS_LISTEN "L8080": a TCP socket listening at 127.0.0.1:8080 there, 0 for a port the
 * kernel picks; CELL_NETNS_CONNECT "C3000": one connecting to 127.0.0.1:3000 there) with "1" and
 * the socket, or "0" and the errno that stopped it, until CELL_NETNS_DONE (no more: the command
 * starts) or CELL_NETNS_SERVE (the command starts, and requests are answered for as long as the
 * host end is open: network.forward's connections).
 */
#define CELL_NETNS_HELLO 'H'
#define CELL_NETNS_LISTEN 'L'
#define CELL_NETNS_CONNECT 'C'
#define CELL_NETNS_DONE '.'
#define CELL_NETNS_SERVE '+'

/*
 * The init's side, before its command starts: hello, then requests until told to stop. Returns
 * 1 (CELL_NETNS_SERVE: serve the rest with cell_netns_serve), 0 (done), or a negative errno
 * (the host end closed before it said either: the cell must not start).
 */
int cell_netns_setup(int sock);
/* Serves requests until the host end closes. */
void cell_netns_serve(int sock);
/* Serves one request (sock readable): 1, or 0 when the host end closed, or a negative errno. */
int cell_netns_serve_one(int sock);

/* The host's side: waits for the init's hello (what comes first on sock). */
int cell_netns_hello(int sock);
/*
 * A TCP socket of the cell's namespace listening at 127.0.0.1:port there (0: a port the kernel
 * picks), non-blocking and close-on-exec; its port in *ret_port. What the init says stopped it
 * is the error (-EADDRINUSE); -EPROTO when what came is not that.
 */
int cell_netns_listen(int sock, uint16_t port, int *ret_fd, uint16_t *ret_port);
/*
 * A TCP socket of the cell's namespace connected (or connecting: non-blocking) to 127.0.0.1:port
 * there: 0. What the init answers stopped it is a positive errno (ECONNREFUSED; EPERM, where the
 * kernel's policy holds the cell and nothing of the cell's listens there): that connection
 * fails, the pair goes on. A negative errno is the pair's failure (no answer in time, the init
 * gone: -EAGAIN, -ECONNRESET) or -EPROTO, -EIO when what came is not what was asked.
 */
int cell_netns_connect(int sock, uint16_t port, int *ret_fd);
/* Ends the set-up: the cell's command may start; with serve, the init goes on answering. */
int cell_netns_go(int sock, bool serve);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * The proxy's listening socket. "127.0.0.1:PORT" (0: any free port), "[::1]:PORT", or
 * "unix:PATH". Returns a listening, non-blocking socket and, in *ret_desc, what to print after
 * "listening on ".
 */
int cell_proxy_listen(const char *spec, int *ret_fd, char **ret_desc);
/* What to print after "listening on " for the listening socket fd. */
int cell_proxy_describe(int fd, char **ret_desc);
/*
 * Takes on a listening socket someone else made (socket activation): -EINVAL unless fd is a
 * listening stream socket; makes it non-blocking and close-on-exec.
 */
int cell_proxy_adopt(int fd);

/* An IP literal and a port as a socket address; false for a name. */
bool cell_sockaddr_from_literal(const char *text, uint16_t port, struct sockaddr_storage *ss,
				socklen_t *ret_len);
/* The address of an IPv4 or IPv6 socket address as text, and its port (0: another family). */
uint16_t cell_sockaddr_text(const struct sockaddr *sa, char text[INET6_ADDRSTRLEN]);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* (the proxy's listening sockets: cell_proxy_listen, _describe and _adopt in proxy.h) */

/* An IP literal and a port as a socket address; false for a name. */
bool cell_sockaddr_from_literal(const char *text, uint16_t port, struct sockaddr_storage *ss,
				socklen_t *ret_len);
/* The address of an IPv4 or IPv6 socket address as text, and its port (0: another family). */
uint16_t cell_sockaddr_text(const struct sockaddr *sa, char text[INET6_ADDRSTRLEN]);

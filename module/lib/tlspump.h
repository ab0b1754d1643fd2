/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "event.h"

/*
 * A TLS pump: TLS on a socket (net_fd) on one side, the same bytes in the clear on the other
 * (plain_fd, a socket pair's end the proxy serves as any connection), in the proxy's event loop
 * with memory BIOs. The proxy's HTTP code never sees TLS: an inspected tunnel's client side is
 * a pump in server mode, the connection to the host a pump in client mode.
 *
 * A pump ends when its plain side has ended and all it had went out as TLS (close_notify, then
 * the socket closed), or when either side fails. A client-mode pump whose handshake fails (the
 * host's certificate not valid) answers on its plain side as the host would have: a 502 with
 * the reason, never the host's bytes.
 */
struct cell_tlspump;

/*
 * Starts a pump that owns ssl (SSL_new'd, in accept or connect state), net_fd and plain_fd;
 * early (n bytes) came from net_fd already (a TLS hello read with the request head). host names
 * the other end in a failure's answer. The pump goes on the list at *list; dead ones are freed
 * by cell_tlspump_collect.
 */
int cell_tlspump_start(struct cell_event_loop *loop, struct cell_tlspump **list, SSL *ssl,
		       int net_fd, int plain_fd, const char *early, size_t n, const char *host);
/*
 * Frees the pumps of the list that have ended, or moved nothing for too long (10 s before the
 * handshake is done, 5 s once the plain side has ended, else 300 s); call from the loop's tick,
 * not in a callback, with the loop's clock. Returns how many are left.
 */
size_t cell_tlspump_collect(struct cell_tlspump **list, long now);
/* Ends and frees every pump of the list. */
void cell_tlspump_free_all(struct cell_tlspump **list);

/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/ssl.h>

#include "ca.h"

/*
 * TLS for the hosts a rule inspects (docs/design.md §11). The user's CA (ca.h: its key 0600
 * in $XDG_DATA_HOME/cell/ca, outside every cell) signs, on the fly, a certificate for each
 * inspected host the cell asks for; the cell trusts the CA (plan.c binds a bundle with it). The
 * proxy's own connection to the host is real TLS, verified against the system's trust store
 * (SSL_CERT_FILE and SSL_CERT_DIR as OpenSSL reads them), the host's name checked.
 */
struct cell_tls;

/*
 * The CA in dir (made 0700 if missing): loaded, or made on first use (EC P-256, ten years; the
 * key 0600, written before the certificate, both under a lock so that two cells' first uses
 * make one CA). Its certificate in PEM in *ret_pem (free it).
 */
int cell_tls_ca_ensure(const char *dir, char **ret_pem);

/* The CA in dir (cell_tls_ca_ensure) with a fresh key for the hosts' certificates. */
int cell_tls_new(const char *dir, struct cell_tls **ret);
void cell_tls_free(struct cell_tls *t);

/*
 * A server-side connection that shows the cell a certificate for host (made and kept a while:
 * certificates last a day, at most 64 are kept). ALPN: http/1.1 only. NULL on failure.
 */
SSL *cell_tls_accept(struct cell_tls *t, const char *host);
/* A client-side connection to host: SNI, the certificate verified and its name checked. */
SSL *cell_tls_connect(struct cell_tls *t, const char *host);
/* Why a client-side handshake failed, in a few words ("certificate has expired"). */
const char *cell_tls_failure(SSL *ssl);

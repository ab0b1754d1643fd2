/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The user's CA for the hosts a rule inspects, as a cell's plan needs it: where it is and its
 * certificate (libc only; making it and everything else TLS is cell-proxy's, tls.h, so that
 * OpenSSL is loaded by the proxy alone and not at every cell command).
 */

#define CELL_CA_KEY "ca.key"
#define CELL_CA_CERT "ca.crt"

/* The user's CA directory: $XDG_DATA_HOME/cell/ca. */
int cell_ca_dir(char **ret);

/*
 * The CA's certificate in PEM (free it): DIR/ca.crt as it is, once there is one (its key is
 * written before it); else what `proxy --print-ca` prints (proxy: cell-proxy, which makes the
 * CA on first use). -ENOENT: no certificate and no proxy program; -EIO: the program failed
 * (it says why when run by hand); -EBADMSG: what came is not one certificate and nothing else.
 */
int cell_ca_certificate(const char *dir, const char *proxy, char **ret_pem);

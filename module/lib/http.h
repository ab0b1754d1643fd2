/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netpolicy.h"

#define CELL_HTTP_MAX_HEADERS 100
#define CELL_HTTP_INCOMPLETE (-2)
#define CELL_HTTP_BAD (-1)
#define CELL_HTTP_TOO_MANY (-3) /* more than CELL_HTTP_MAX_HEADERS fields (HTTP 431) */

struct cell_http_header {
	const char *name; /* points into the parsed buffer; not NUL-terminated */
	size_t name_len;
	const char *value; /* without surrounding white space */
	size_t value_len;
};

enum cell_http_form {
	CELL_HTTP_CONNECT,  /* CONNECT host:port: a tunnel */
	CELL_HTTP_ABSOLUTE, /* METHOD http://host[:port]/path: a request to forward */
	CELL_HTTP_ORIGIN,   /* METHOD /path: addressed to the proxy itself (path, no host) */
};

/* A proxy request head. Pointers point into the buffer given to the parser. */
struct cell_http_request {
	enum cell_http_form form;
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	int minor_version; /* HTTP/1.0 or HTTP/1.1 */
	struct cell_http_header headers[CELL_HTTP_MAX_HEADERS];
	size_t n_headers;
	/* the upstream the request names: normalised host (or IP literal) and port */
	char host[CELL_HOST_MAX + 1];
	bool host_is_ipv6; /* host is an IPv6 literal, written without brackets */
	uint16_t port;
	const char *path; /* absolute form: from the first '/' of the path on ("/" if none) */
	size_t path_len;
	bool chunked;		/* Transfer-Encoding: chunked */
	int64_t content_length; /* -1: none */
};

/*
 * Parses a request head: the request line, the header fields and the empty line, CRLF line
 * endings only. Returns the length of the head, CELL_HTTP_INCOMPLETE when buf ends before it
 * does, or CELL_HTTP_BAD with *ret_why saying why in a few words. An origin-form target
 * ("GET /cell/...") is a request to the proxy itself: CELL_HTTP_ORIGIN, with only the path
 * set. Refused as bad: CONNECT without a port, schemes other than http in absolute form, HTTP
 * versions other than 1.0 and 1.1, obsolete line folding, control characters, and what request
 * smuggling is made of (Content-Length with
 * Transfer-Encoding, differing Content-Lengths, a Transfer-Encoding other than chunked, a Host
 * field naming another host than the target). More than CELL_HTTP_MAX_HEADERS fields give
 * CELL_HTTP_TOO_MANY.
 */
long cell_http_parse_request(const char *buf, size_t len, struct cell_http_request *ret,
			     const char **ret_why);
/* A response head from an upstream. Pointers point into the buffer given to the parser. */
struct cell_http_response {
	int minor_version;
	int status;
	size_t status_line_len; /* with its CRLF */
	struct cell_http_header headers[CELL_HTTP_MAX_HEADERS];
	size_t n_headers;
	bool chunked;		/* Transfer-Encoding: chunked */
	int64_t content_length; /* -1: none */
	bool until_close;	/* neither: the body runs until the connection closes */
};

/*
 * Parses a response head as cell_http_parse_request() parses a request head. Refused as bad:
 * versions other than 1.0 and 1.1, a malformed status line, the header field errors, and
 * Content-Length together with Transfer-Encoding or two different Content-Lengths.
 */
long cell_http_parse_response(const char *buf, size_t len, struct cell_http_response *ret,
			      const char **ret_why);

/*
 * Where a chunked body ends, found as its bytes stream past (they are not changed or kept).
 * Start from a zeroed struct.
 */
struct cell_http_chunks {
	int state;
	unsigned digits;
	uint64_t left; /* size being read, then data bytes left in the chunk */
};

/*
 * Scans bytes of a chunked body: returns how many belong to it (fewer than len only when the
 * body ended before len), or CELL_HTTP_BAD for a malformed body.
 */
long cell_http_chunks_scan(struct cell_http_chunks *s, const char *buf, size_t len);
bool cell_http_chunks_done(const struct cell_http_chunks *s);

/* The first of the n headers named name (case-insensitively), or NULL. */
const struct cell_http_header *cell_http_find_header(const struct cell_http_header *headers,
						     size_t n, const char *name);
/* Whether the comma-separated list in field h (may be NULL) has token, case-insensitively. */
bool cell_http_has_token(const struct cell_http_header *h, const char *token);
/*
 * Whether h is a hop-by-hop field (RFC 9110 7.6.1), not to be forwarded: one of the standard
 * ones, or one the request's Connection field (if any) names.
 */
bool cell_http_hop_by_hop(const struct cell_http_header *connection,
			  const struct cell_http_header *h);
/* Parses "host:port" or "[v6]:port" (port required with need_port, else default_port). */
int cell_http_parse_authority(const char *s, size_t len, bool need_port, uint16_t default_port,
			      char host[CELL_HOST_MAX + 1], bool *ret_ipv6, uint16_t *ret_port,
			      const char **ret_why);

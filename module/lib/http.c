/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "macro.h"

/* RFC 9110 5.6.2: tchar */
static bool is_tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A visible character or white space in a field value: no controls, no DEL. */
static bool is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool eq_nocase(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Without the white space (SP, HTAB) at either end of [*b, *e). */
static void trim(const char **b, const char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

#define BAD(why)                      \
	do {                          \
		*ret_why = (why);     \
		return CELL_HTTP_BAD; \
	} while (0)

int cell_http_parse_authority(const char *s, size_t len, bool need_port, uint16_t default_port,
			      char host[CELL_HOST_MAX + 1], bool *ret_ipv6, uint16_t *ret_port,
			      const char **ret_why)
{
	char name[CELL_HOST_MAX + 1];
	const char *port = NULL, *end = s + len;
	size_t nlen;
	bool v6 = false;

	if (len == 0) {
		*ret_why = "no host";
		return -EINVAL;
	}
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		unsigned char addr[16];

		if (!close || close - s - 1 >= INET6_ADDRSTRLEN) {
			*ret_why = "a bad IPv6 address";
			return -EINVAL;
		}
		nlen = (size_t)(close - s - 1);
		memcpy(name, s + 1, nlen);
		name[nlen] = '\0';
		if (inet_pton(AF_INET6, name, addr) != 1) {
			*ret_why = "a bad IPv6 address";
			return -EINVAL;
		}
		inet_ntop(AF_INET6, addr, name, sizeof(name));
		v6 = true;
		if (close + 1 < end) {
			if (close[1] != ':') {
				*ret_why = "junk after an IPv6 address";
				return -EINVAL;
			}
			port = close + 2;
		}
	} else {
		const char *colon = memchr(s, ':', len);
		const char *why;

		nlen = colon ? (size_t)(colon - s) : len;
		if (nlen == 0 || nlen > CELL_HOST_MAX) {
			*ret_why = "a bad host";
			return -EINVAL;
		}
		memcpy(name, s, nlen);
		name[nlen] = '\0';
		if (colon)
			port = colon + 1;
		if (cell_hostname_normalize(name, name, sizeof(name), &why) < 0) {
			struct in_addr a4;

			if (inet_pton(AF_INET, name, &a4) != 1) {
				*ret_why = "a bad host";
				return -EINVAL;
			}
		}
	}
	if (port) {
		if (!cell_port_parse(port, (size_t)(end - port), ret_port)) {
			*ret_why = "a bad port";
			return -EINVAL;
		}
	} else if (need_port) {
		*ret_why = "no port";
		return -EINVAL;
	} else {
		*ret_port = default_port;
	}
	strcpy(host, name);
	*ret_ipv6 = v6;
	return 0;
}

/* "http://authority/path" into the request; any other scheme is refused. */
static int parse_absolute(struct cell_http_request *r, const char **ret_why)
{
	static const char scheme[] = "http://";
	const char *t = r->target, *end = r->target + r->target_len, *auth, *slash;

	if (r->target_len < sizeof(scheme) - 1 || strncasecmp(t, scheme, sizeof(scheme) - 1) != 0) {
		*ret_why = "not an http:// URL (use CONNECT for https)";
		return -EINVAL;
	}
	auth = t + sizeof(scheme) - 1;
	slash = memchr(auth, '/', (size_t)(end - auth));
	if (!slash)
		slash = memchr(auth, '?', (size_t)(end - auth));
	if (!slash)
		slash = end;
	/* userinfo ("user@host") in a proxy URL is a classic confusion: refused */
	if (memchr(auth, '@', (size_t)(slash - auth))) {
		*ret_why = "userinfo in the URL";
		return -EINVAL;
	}
	if (cell_http_parse_authority(auth, (size_t)(slash - auth), false, 80, r->host,
				      &r->host_is_ipv6, &r->port, ret_why) < 0)
		return -EINVAL;
	r->path = slash < end ? slash : "/";
	r->path_len = slash < end ? (size_t)(end - slash) : 1;
	return 0;
}

/*
 * Content-Length and Transfer-Encoding, the stuff request smuggling is made of. A message
 * with a Transfer-Encoding other than one "chunked" sets *ret_other_te (a request with one is
 * refused by the caller; a response with one runs until the connection closes).
 */
static int check_framing(const struct cell_http_header *headers, size_t n, bool *ret_chunked,
			 bool *ret_other_te, int64_t *ret_length, const char **ret_why)
{
	bool has_te = false, other_te = false;
	int64_t length = -1;

	for (size_t i = 0; i < n; i++) {
		const struct cell_http_header *h = &headers[i];

		if (eq_nocase(h->name, h->name_len, "Content-Length")) {
			int64_t v = 0;

			if (h->value_len == 0 || h->value_len > 15) {
				*ret_why = "a bad Content-Length";
				return -EINVAL;
			}
			for (size_t k = 0; k < h->value_len; k++) {
				if (!isdigit((unsigned char)h->value[k])) {
					*ret_why = "a bad Content-Length";
					return -EINVAL;
				}
				v = v * 10 + (h->value[k] - '0');
			}
			if (length >= 0 && length != v) {
				*ret_why = "two different Content-Lengths";
				return -EINVAL;
			}
			length = v;
		} else if (eq_nocase(h->name, h->name_len, "Transfer-Encoding")) {
			if (has_te || !eq_nocase(h->value, h->value_len, "chunked"))
				other_te = true;
			has_te = true;
		}
	}
	if (has_te && length >= 0) {
		*ret_why = "both Content-Length and Transfer-Encoding";
		return -EINVAL;
	}
	*ret_chunked = has_te && !other_te;
	*ret_other_te = other_te;
	*ret_length = length;
	return 0;
}

/* An absolute-form request's Host field, if any, must name the same host and port. */
static int check_host_field(const struct cell_http_request *r, const char **ret_why)
{
	const struct cell_http_header *h = NULL;
	char host[CELL_HOST_MAX + 1];
	uint16_t port;
	bool v6;

	for (size_t i = 0; i < r->n_headers; i++)
		if (eq_nocase(r->headers[i].name, r->headers[i].name_len, "Host")) {
			if (h) {
				*ret_why = "two Host fields";
				return -EINVAL;
			}
			h = &r->headers[i];
		}
	if (!h || r->form != CELL_HTTP_ABSOLUTE)
		return 0;
	if (cell_http_parse_authority(h->value, h->value_len, false, 80, host, &v6, &port,
				      ret_why) < 0 ||
	    !streq(host, r->host) || port != r->port) {
		*ret_why = "a Host field that names another host than the URL";
		return -EINVAL;
	}
	return 0;
}

/*
 * Header fields from p on, then the empty line: returns the bytes they take, or one of the
 * CELL_HTTP_ codes.
 */
static long parse_fields(const char *start, const char *end, struct cell_http_header *headers,
			 size_t *ret_n, const char **ret_why)
{
	const char *p = start;

	*ret_n = 0;
	for (;;) {
		const char *colon, *v, *ve, *eol;

		if (end - p < 2)
			return CELL_HTTP_INCOMPLETE;
		if (p[0] == '\r' && p[1] == '\n')
			return (long)(p + 2 - start);
		if (*p == ' ' || *p == '\t')
			BAD("obsolete line folding");
		colon = p;
		while (colon < end && is_tchar((unsigned char)*colon))
			colon++;
		if (colon == end)
			return CELL_HTTP_INCOMPLETE;
		if (colon == p || *colon != ':')
			BAD("a bad header field name");
		eol = colon + 1;
		while (eol < end && is_field_char((unsigned char)*eol))
			eol++;
		if (eol == end)
			return CELL_HTTP_INCOMPLETE;
		if (*eol != '\r')
			BAD("a control character in a header field");
		if (eol + 1 == end)
			return CELL_HTTP_INCOMPLETE;
		if (eol[1] != '\n')
			BAD("a header line that does not end in CRLF");
		if (*ret_n == CELL_HTTP_MAX_HEADERS) {
			*ret_why = "too many header fields";
			return CELL_HTTP_TOO_MANY;
		}
		v = colon + 1;
		ve = eol;
		trim(&v, &ve);
		headers[(*ret_n)++] =
			(struct cell_http_header){p, (size_t)(colon - p), v, (size_t)(ve - v)};
		p = eol + 2;
	}
}

long cell_http_parse_request(const char *buf, size_t len, struct cell_http_request *ret,
			     const char **ret_why)
{
	struct cell_http_request r = {0};
	const char *p = buf, *end = buf + len, *sp;
	bool other_te;
	long n;

	/* request line: METHOD SP TARGET SP HTTP/1.x CRLF */
	sp = p;
	while (sp < end && is_tchar((unsigned char)*sp))
		sp++;
	if (sp == end)
		return CELL_HTTP_INCOMPLETE;
	if (sp == p || *sp != ' ')
		BAD("not an HTTP request");
	r.method = p;
	r.method_len = (size_t)(sp - p);
	p = sp + 1;
	sp = p;
	while (sp < end && *sp != ' ' && (unsigned char)*sp > 0x20 && *sp != 0x7f)
		sp++;
	if (sp == end)
		return CELL_HTTP_INCOMPLETE;
	if (sp == p || *sp != ' ')
		BAD("a bad request target");
	r.target = p;
	r.target_len = (size_t)(sp - p);
	p = sp + 1;
	if ((size_t)(end - p) < 10) {
		size_t have = (size_t)(end - p) < 7 ? (size_t)(end - p) : 7;

		if (memcmp(p, "HTTP/1.", have) != 0)
			BAD("not HTTP/1.0 or HTTP/1.1");
		return CELL_HTTP_INCOMPLETE;
	}
	if (memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1'))
		BAD("not HTTP/1.0 or HTTP/1.1");
	r.minor_version = p[7] - '0';
	if (p[8] != '\r' || p[9] != '\n')
		BAD("a request line that does not end in CRLF");
	p += 10;

	n = parse_fields(p, end, r.headers, &r.n_headers, ret_why);
	if (n < 0)
		return n;
	p += n;

	if (eq_nocase(r.method, r.method_len, "CONNECT")) {
		r.form = CELL_HTTP_CONNECT;
		if (cell_http_parse_authority(r.target, r.target_len, true, 0, r.host,
					      &r.host_is_ipv6, &r.port, ret_why) < 0)
			return CELL_HTTP_BAD;
	} else if (r.target[0] == '/') {
		r.form = CELL_HTTP_ORIGIN;
		r.path = r.target;
		r.path_len = r.target_len;
	} else {
		r.form = CELL_HTTP_ABSOLUTE;
		if (parse_absolute(&r, ret_why) < 0)
			return CELL_HTTP_BAD;
	}
	if (check_framing(r.headers, r.n_headers, &r.chunked, &other_te, &r.content_length,
			  ret_why) < 0 ||
	    check_host_field(&r, ret_why) < 0)
		return CELL_HTTP_BAD;
	if (other_te)
		BAD("a Transfer-Encoding other than chunked");
	/* (HTTP/1.0 has no chunked framing: a server may read the body as requests of their own;
	 * RFC 9112 6.1) */
	if (r.chunked && r.minor_version == 0)
		BAD("Transfer-Encoding in an HTTP/1.0 request");
	*ret = r;
	return (long)(p - buf);
}

long cell_http_parse_response(const char *buf, size_t len, struct cell_http_response *ret,
			      const char **ret_why)
{
	static const char version[] = "HTTP/1.";
	struct cell_http_response r = {0};
	const char *p = buf, *end = buf + len;
	bool other_te;
	long n;

	/* status line: HTTP/1.x SP 3DIGIT SP reason CRLF */
	if (len < 13) {
		if (memcmp(buf, version, len < 7 ? len : 7) != 0)
			BAD("not an HTTP/1.x response");
		return CELL_HTTP_INCOMPLETE;
	}
	if (memcmp(p, version, 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11]) || p[9] == '0' || (p[12] != ' ' && p[12] != '\r'))
		BAD("a bad status line");
	r.minor_version = p[7] - '0';
	r.status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	p += 12;
	while (p < end && is_field_char((unsigned char)*p))
		p++;
	if (end - p < 2)
		return CELL_HTTP_INCOMPLETE;
	if (p[0] != '\r' || p[1] != '\n')
		BAD("a status line that does not end in CRLF");
	p += 2;
	r.status_line_len = (size_t)(p - buf);
	n = parse_fields(p, end, r.headers, &r.n_headers, ret_why);
	if (n < 0)
		return n;
	p += n;
	if (check_framing(r.headers, r.n_headers, &r.chunked, &other_te, &r.content_length,
			  ret_why) < 0)
		return CELL_HTTP_BAD;
	r.until_close = other_te || (!r.chunked && r.content_length < 0);
	*ret = r;
	return (long)(p - buf);
}

static int hex_digit(unsigned char c)
{
	if (isdigit(c))
		return c - '0';
	c = (unsigned char)tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 9112 7.1: chunk-size [ext] CRLF data CRLF ... 0 [ext] CRLF trailers CRLF */
enum {
	CHUNK_SIZE = 0, /* the first digit of a size line */
	CHUNK_SIZE_MORE,
	CHUNK_EXT,
	CHUNK_SIZE_LF,
	CHUNK_DATA,
	CHUNK_DATA_CR,
	CHUNK_DATA_LF,
	CHUNK_TRAILER, /* the start of a trailer line, or the final CRLF */
	CHUNK_TRAILER_LINE,
	CHUNK_TRAILER_LF,
	CHUNK_FINAL_LF,
	CHUNK_DONE,
};

/* The states that take one exact character, and where it leads. */
static const struct {
	char ch;
	int next;
} exact[] = {
	[CHUNK_DATA_CR] = {'\r', CHUNK_DATA_LF},
	[CHUNK_DATA_LF] = {'\n', CHUNK_SIZE},
	[CHUNK_TRAILER_LF] = {'\n', CHUNK_TRAILER},
	[CHUNK_FINAL_LF] = {'\n', CHUNK_DONE},
};

long cell_http_chunks_scan(struct cell_http_chunks *s, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && s->state != CHUNK_DONE) {
		unsigned char ch = (unsigned char)buf[i];
		int d;

		if (s->state == CHUNK_DATA) {
			size_t take = len - i < s->left ? len - i : (size_t)s->left;

			s->left -= take;
			i += take;
			if (s->left == 0)
				s->state = CHUNK_DATA_CR;
			continue;
		}
		i++;
		switch (s->state) {
		case CHUNK_SIZE:
		case CHUNK_SIZE_MORE:
			d = hex_digit(ch);
			if (d >= 0) {
				/* 15 hex digits: more than any body, less than overflow */
				if (++s->digits > 15)
					return CELL_HTTP_BAD;
				s->left = s->left * 16 + (uint64_t)d;
				s->state = CHUNK_SIZE_MORE;
			} else if (s->state == CHUNK_SIZE) {
				return CELL_HTTP_BAD;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				s->state = CHUNK_EXT;
			} else if (ch == '\r') {
				s->state = CHUNK_SIZE_LF;
			} else {
				return CELL_HTTP_BAD;
			}
			break;
		case CHUNK_EXT:
			if (ch == '\r')
				s->state = CHUNK_SIZE_LF;
			else if (!is_field_char(ch))
				return CELL_HTTP_BAD;
			break;
		case CHUNK_TRAILER_LINE:
			if (ch == '\r')
				s->state = CHUNK_TRAILER_LF;
			else if (!is_field_char(ch))
				return CELL_HTTP_BAD;
			break;
		case CHUNK_SIZE_LF:
			if (ch != '\n')
				return CELL_HTTP_BAD;
			s->state = s->left ? CHUNK_DATA : CHUNK_TRAILER;
			s->digits = 0;
			break;
		case CHUNK_TRAILER:
			if (ch == '\r')
				s->state = CHUNK_FINAL_LF;
			else if (is_tchar(ch))
				s->state = CHUNK_TRAILER_LINE;
			else
				return CELL_HTTP_BAD;
			break;
		default:
			if ((size_t)s->state >= ELEMENTSOF(exact) || !exact[s->state].ch ||
			    ch != (unsigned char)exact[s->state].ch)
				return CELL_HTTP_BAD;
			s->state = exact[s->state].next;
		}
	}
	return (long)i;
}

bool cell_http_chunks_done(const struct cell_http_chunks *s)
{
	return s->state == CHUNK_DONE;
}

const struct cell_http_header *cell_http_find_header(const struct cell_http_header *headers,
						     size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (eq_nocase(headers[i].name, headers[i].name_len, name))
			return &headers[i];
	return NULL;
}

/* Whether the comma-separated list [p, end) has the token tok (case-insensitively). */
static bool list_has(const char *p, const char *end, const char *tok, size_t tok_len)
{
	while (p && p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *t = p, *t_end = comma ? comma : end;

		trim(&t, &t_end);
		if ((size_t)(t_end - t) == tok_len && !strncasecmp(t, tok, tok_len))
			return true;
		p = comma ? comma + 1 : end;
	}
	return false;
}

bool cell_http_has_token(const struct cell_http_header *h, const char *token)
{
	return h && list_has(h->value, h->value + h->value_len, token, strlen(token));
}

bool cell_http_hop_by_hop(const struct cell_http_header *connection,
			  const struct cell_http_header *h)
{
	/* RFC 9110 7.6.1, and what is for the proxy alone. Transfer-Encoding is passed on: the
	 * proxy forwards a chunked body as it is. */
	static const char *const fields[] = {
		"Connection", "Proxy-Connection",    "Keep-Alive",	  "TE",
		"Upgrade",    "Proxy-Authorization", "Proxy-Authenticate"};

	for (size_t i = 0; i < ELEMENTSOF(fields); i++)
		if (eq_nocase(h->name, h->name_len, fields[i]))
			return true;
	/* the fields the Connection field names */
	return connection && list_has(connection->value, connection->value + connection->value_len,
				      h->name, h->name_len);
}

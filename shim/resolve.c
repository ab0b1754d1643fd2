/* SPDX-License-Identifier: MIT */
/*
 * Name lookups. A cell cannot reach a DNS server (its sockets reach only its proxy), so a name
 * that is not numeric, not localhost and not in /etc/hosts gets a fake address from the cell's
 * proxy (nameserv.h), which turns it back into the name when a connection to it comes
 * through. The results are built by glibc's own getaddrinfo from the fake address as a numeric
 * host, so freeaddrinfo frees them as it frees any.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fakeaddr.h"
#include "shim.h"

/* Whether the line of /etc/hosts names name (after its address). */
static bool line_names(char *line, const char *name)
{
	char *save = NULL, *tok = strtok_r(line, " \t\r", &save);

	if (!tok || *tok == '#')
		return false;
	while ((tok = strtok_r(NULL, " \t\r", &save)) && *tok != '#')
		if (!strcasecmp(tok, name))
			return true;
	return false;
}

/* Whether /etc/hosts names name, read a piece at a time (a line longer than a piece, 4 KiB,
 * is not looked at). */
static bool in_hosts_file(const char *name)
{
	char buf[4096], *start, *nl;
	size_t len = 0;
	bool found = false, skipping = false;
	int fd, cancel;

	/* (not cancelled with the file open: see ask_proxy) */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pthread_setcancelstate(cancel, NULL);
		return false;
	}
	while (!found) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (n == 0) {
			/* the last line, without its newline */
			buf[len] = '\0';
			found = !skipping && len && line_names(buf, name);
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		for (start = buf; !found && (nl = memchr(start, '\n', len - (size_t)(start - buf)));
		     start = nl + 1) {
			*nl = '\0';
			found = !skipping && line_names(start, name);
			skipping = false;
		}
		len -= (size_t)(start - buf);
		memmove(buf, start, len);
		if (len == sizeof(buf) - 1) {
			skipping = true;
			len = 0;
		}
	}
	close(fd);
	pthread_setcancelstate(cancel, NULL);
	return found;
}

/* Whether the system resolves name itself: localhost, or a name in /etc/hosts. */
static bool local_name(const char *name)
{
	char host[256];

	if (!strcasecmp(name, "localhost") || !strcasecmp(name, "localhost.") ||
	    (strlen(name) > 10 && !strcasecmp(name + strlen(name) - 10, ".localhost")))
		return true;
	/* the machine's own name (nss-myhostname answers it when /etc/hosts does not) */
	if (gethostname(host, sizeof(host)) == 0 && !strcasecmp(name, host))
		return true;
	return in_hosts_file(name);
}

/* Whether name is one to give a fake address: a host name the system does not know itself. */
static bool fake_name(const char *name)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!name || !*name || strlen(name) > 253)
		return false;
	/* numeric as glibc takes it: inet_aton's forms too (127.1, 0x7f000001) */
	if (inet_aton(name, &a4) || inet_pton(AF_INET6, name, &a6) == 1)
		return false;
	for (const char *s = name; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' && *s != '_')
			return false;
	return !local_name(name);
}

static int ask(const char *path, char *body, size_t size)
{
	int64_t deadline = shim_now_ms() + SHIM_CONNECT_MS;
	char req[512], reply[1024];
	size_t len = 0, body_len;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r, status = 0;
	const char *nl;

	if (fd < 0)
		return -errno;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: cell\r\n\r\n", path);
	r = shim_connect_proxy(fd, AF_INET, deadline);
	if (r >= 0)
		r = shim_send_all(fd, req, strlen(req), deadline);
	/* the proxy answers and closes: read to the end, or to the deadline */
	while (r >= 0 && len < sizeof(reply) - 1) {
		ssize_t n = recv(fd, reply + len, sizeof(reply) - 1 - len, MSG_DONTWAIT);

		if (n > 0)
			len += (size_t)n;
		else if (n == 0)
			break;
		else if (errno == EAGAIN)
			r = shim_wait(fd, POLLIN, deadline);
		else if (errno != EINTR)
			r = -errno;
	}
	close(fd);
	if (r < 0)
		return r;
	reply[len] = '\0';
	r = cell_shim_reply_parse(reply, len, &status, &body_len);
	if (r <= 0)
		return -EPROTO;
	nl = strchr(reply + r, '\n');
	snprintf(body, size, "%.*s", nl ? (int)(nl - (reply + r)) : (int)strlen(reply + r),
		 reply + r);
	return status;
}

/*
 * Asks the proxy GET path; its body (one line, without the newline) in body: the HTTP status,
 * or -errno. A thread cancelled while it waits here would leave a descriptor open: it is
 * cancelled at its next cancellation point after this.
 */
static int ask_proxy(const char *path, char *body, size_t size)
{
	int cancel, r;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	r = ask(path, body, size);
	pthread_setcancelstate(cancel, NULL);
	return r;
}

/* The name's fake addresses as text, or an EAI_ error. */
static int fake_addresses(const char *name, char *v4, char *v6)
{
	char path[300], body[256];
	int status;

	snprintf(path, sizeof(path), "/cell/resolve/%s", name);
	status = ask_proxy(path, body, sizeof(body));
	if (status < 0)
		return EAI_AGAIN;
	if (status != 200)
		return EAI_NONAME;
	if (sscanf(body, "%45s %45s", v4, v6) != 2)
		return EAI_FAIL;
	return 0;
}

/* Appends list to the end of *head. */
static void append(struct addrinfo **head, struct addrinfo *list)
{
	while (*head)
		head = &(*head)->ai_next;
	*head = list;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			    struct addrinfo **res)
{
	int (*next)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
		shim_next()->getaddrinfo;
	char v4[INET6_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];
	struct addrinfo h = {0}, *out = NULL, *part;
	int family, r, r6 = EAI_NONAME;

	if (hints)
		h = *hints;
	if (!shim_conf() || (h.ai_flags & AI_NUMERICHOST) || !fake_name(node))
		return next(node, service, hints, res);
	family = h.ai_family;
	if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
		return next(node, service, hints, res);
	r = fake_addresses(node, v4, v6);
	if (r)
		return r;
	/* glibc builds the entries (service, socket types, flags) for the fake addresses */
	h.ai_flags = (h.ai_flags | AI_NUMERICHOST) & ~AI_CANONNAME;
	if (family != AF_INET6) {
		h.ai_family = AF_INET;
		r = next(v4, service, &h, &part);
		if (r == 0)
			append(&out, part);
	}
	if (family != AF_INET) {
		h.ai_family = AF_INET6;
		/* AF_INET6 with AI_V4MAPPED still gets the IPv6 one: it reaches the proxy too */
		h.ai_flags &= ~AI_V4MAPPED;
		r6 = next(v6, service, &h, &part);
		if (r6 == 0)
			append(&out, part);
	}
	if (!out)
		return family == AF_INET6 ? r6 : r;
	if (hints && (hints->ai_flags & AI_CANONNAME))
		out->ai_canonname = strdup(node);
	*res = out;
	return 0;
}

SHIM_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
			    socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	int (*next)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t, int) =
		shim_next()->getnameinfo;
	char text[INET6_ADDRSTRLEN], path[300], name[256];
	uint32_t index;
	bool fake = false;
	int r;

	if (shim_conf() && sa && host && hostlen && !(flags & NI_NUMERICHOST)) {
		if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in))
			fake = cell_fakeaddr_index_v4(&((const struct sockaddr_in *)sa)->sin_addr,
						      &index);
		else if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6))
			fake = cell_fakeaddr_index_v6(&((const struct sockaddr_in6 *)sa)->sin6_addr,
						      &index);
	}
	if (!fake)
		return next(sa, salen, host, hostlen, serv, servlen, flags);
	/* the service the usual way, the host from the proxy */
	r = next(sa, salen, text, sizeof(text), serv, servlen, flags | NI_NUMERICHOST);
	if (r)
		return r;
	snprintf(path, sizeof(path), "/cell/name/%s", text);
	if (ask_proxy(path, name, sizeof(name)) != 200)
		return (flags & NI_NAMEREQD)
			       ? EAI_NONAME
			       : next(sa, salen, host, hostlen, NULL, 0, flags | NI_NUMERICHOST);
	if (strlen(name) >= hostlen)
		return EAI_OVERFLOW;
	strcpy(host, name);
	return 0;
}

/*
 * The gethostbyname family: a name to fake is answered with its fake address of family af,
 * laid out in buf (the address, the address list, an empty alias list, the name). 0, ERANGE
 * if buf is too small, or -1 with *h_err set.
 */
static int fake_hostent(const char *name, int af, struct hostent *h, char *buf, size_t len,
			int *h_err)
{
	char v4[INET6_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];
	size_t alen = af == AF_INET6 ? sizeof(struct in6_addr) : sizeof(struct in_addr);
	size_t nlen = strlen(name) + 1, need;
	char **list;
	uintptr_t at;
	int r;

	/* the address first, then the pointers, aligned */
	need = alen + sizeof(char *) - 1 + 3 * sizeof(char *) + nlen;
	if (len < need)
		return ERANGE;
	r = fake_addresses(name, v4, v6);
	if (r) {
		*h_err = r == EAI_AGAIN ? TRY_AGAIN : HOST_NOT_FOUND;
		return -1;
	}
	if (inet_pton(af, af == AF_INET6 ? v6 : v4, buf) != 1) {
		*h_err = NO_RECOVERY;
		return -1;
	}
	at = ((uintptr_t)buf + alen + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1);
	list = (char **)at;
	list[0] = buf;
	list[1] = NULL;
	list[2] = NULL; /* the aliases: none */
	memcpy((char *)(list + 3), name, nlen);
	h->h_name = (char *)(list + 3);
	h->h_aliases = list + 2;
	h->h_addrtype = af;
	h->h_length = (int)alen;
	h->h_addr_list = list;
	*h_err = NETDB_SUCCESS;
	return 0;
}

SHIM_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
				 size_t buflen, struct hostent **result, int *h_errnop)
{
	int r;

	if (!shim_conf() || (af != AF_INET && af != AF_INET6) || !fake_name(name))
		return shim_next()->gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
	*result = NULL;
	r = fake_hostent(name, af, ret, buf, buflen, h_errnop);
	if (r == 0)
		*result = ret;
	return r < 0 ? 0 : r;
}

SHIM_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
				struct hostent **result, int *h_errnop)
{
	return gethostbyname2_r(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

SHIM_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	/* like glibc's: one static result for the whole process (the API has no other) */
	static struct hostent h;
	static char buf[512];
	struct hostent *result = NULL;
	int err = 0;

	if (!shim_conf() || (af != AF_INET && af != AF_INET6) || !fake_name(name))
		return shim_next()->gethostbyname2(name, af);
	if (fake_hostent(name, af, &h, buf, sizeof(buf), &err) == 0)
		result = &h;
	else
		h_errno = err;
	return result;
}

SHIM_EXPORT struct hostent *gethostbyname(const char *name)
{
	return gethostbyname2(name, AF_INET);
}

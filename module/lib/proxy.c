/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config-secrets.h"
#include "config.h"
#include "event.h"
#include "http.h"
#include "listen.h"
#include "budget.h"
#include "fileio.h"
#include "ledger.h"
#include "macro.h"
#include "nameserv.h"
#include "netns.h"
#include "peer.h"
#include "proxy.h"
#include "sockowner.h"
#include "reqlog.h"
#include "resolver.h"
#include "shimproto.h"
#include "stats.h"
#include "tls.h"
#include "tlspump.h"
#include "upstream.h"

#define BUF_SIZE (256 * 1024)
/* free buffers kept for reuse; past that they go back to the kernel */
#define POOL_MAX 16
/* room a response head keeps free in its buffer for what the rewrite adds ("Connection: ...") */
#define HEAD_ROOM 64
/* at exit, how long the last records may wait for the ledger's lock (a login's keeper is
 * killed 5 s after it is asked to stop) */
#define FINISH_MS 2000
/* distinct hosts in one ledger record; past them, the rest count as OTHER_HOSTS (a name
 * that is no one's: .invalid, RFC 6761) */
#define HOSTS_MAX 4096
#define OTHER_HOSTS "other-hosts.invalid"
#define REFUSED_HOSTS_MAX 64
/*
 * How long the list of this machine's own addresses (refused as upstreams) is kept: reading it
 * is a netlink dump, a dozen system calls and some tens of microseconds (more on a host with
 * many interfaces), too much for every connection. An address added since is missed for at
 * most this long; only root adds addresses.
 */
#define LOCAL_ADDRS_MS 1000

enum state {
	HEAD,	    /* reading the request head */
	RESOLVING,  /* waiting for the resolver */
	CONNECTING, /* non-blocking connect under way */
	UPSTREAM,   /* asked the upstream proxy to CONNECT: waiting for its answer's head */
	RELAY,	    /* bytes both ways */
	ANSWERING,  /* sending our own response, then closing */
};

/* Where a message body ends: a length, chunks, the end of the connection, or no body. */
struct body {
	enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE } kind;
	bool done;
	int64_t left; /* BODY_LENGTH */
	struct cell_http_chunks chunks;
};

/*
 * A buffer holds memory (BUF_SIZE bytes from the proxy's pool) only while bytes wait in it or
 * are about to: an idle tunnel holds none.
 */
struct buf {
	char *data;
	size_t off, len; /* the bytes waiting are data[off, off + len) */
};

struct conn {
	struct cell_proxy *p;
	struct conn *next;
	struct cell_event_source client, upstream;
	enum state state;
	uint64_t id;
	long deadline; /* ms, monotonic: head, lookup and connect deadlines, then idle */
	bool dead;
	char host[CELL_HOST_MAX + 1];
	uint16_t port;
	enum cell_http_form form;
	size_t stats; /* index into p->stats.hosts */
	size_t head_len;
	/* a forwarded request (absolute form): where its body and its response's end */
	struct body req, resp;
	bool resp_head;	  /* the response head (or an interim one's) is still to come */
	bool head_method; /* a HEAD request: the response has no body */
	bool keep_alive;  /* the client may send another request on this connection */
	bool answered;	  /* a response head went to the client */
	size_t u2c_ready; /* bytes at the front of u2c checked and ready for the client */
	char *pending;	  /* bytes after the request, read with it: the next request's */
	size_t pending_len;
	bool served; /* a request was answered: the client may now idle between requests */
	/* for the request log: this request's or tunnel's */
	bool logged;
	char method[24]; /* (a longer one is refused where rules decide by method) */
	char *path;	 /* a request's, as the log has it (NULL: a tunnel's) */
	char *rule;
	int status;
	long started;
	int64_t started_wall;
	uint64_t up, down;
	struct cell_resolved *addrs; /* while resolving and connecting */
	size_t next_addr;
	struct buf c2u, u2c; /* client to upstream, upstream to client */
	bool client_eof, upstream_eof;
	bool client_shut, upstream_shut; /* our writing half of that side is shut */
	size_t ours_down; /* bytes at the head of u2c that we wrote (a 200), not the upstream */
	bool early;	  /* a CONNECT answered 200 at once (CELL_SHIM_EARLY_FIELD): a failure later
			     resets the client's connection */
	bool via;	  /* through the upstream proxy (cell_proxy_options.upstream) */
	bool via_checked; /* ...the host's addresses (as we see them) held to the rules */
	bool relayed;	  /* accepted on a relayed port (cell_proxy_relay) */
	bool inspected;	  /* the clear side of an inspected tunnel to host:port (tls.h) */
	bool learned;	  /* let through by cell learn --permissive: no rule allows it */
	char comm[16];	  /* cell learn: the process that connected (sockowner.h) */
	char *exe;
};

/* A relayed port's listening socket (cell_proxy_relay). */
struct relay_listener {
	struct cell_event_source src;
	struct cell_proxy *p;
	struct cell_proxy_relay r;
};

struct cell_proxy {
	struct cell_proxy_project project;
	struct cell_proxy_options o;
	struct cell_event_loop *loop;
	struct cell_event_source listener, resolved, signals, watcher;
	struct relay_listener *relays;
	size_t n_relays;
	int trust_wd; /* the trust directory's watch, or -1 */
	struct cell_resolver *resolver;
	struct cell_fakeaddr *fakes; /* the cell's fake addresses (nameserv.h), from the first */
	struct conn *conns;
	size_t n_conns;
	size_t n_relayed; /* of them, connections to relayed ports (anyone's on this machine) */
	uint64_t next_id;
	bool accept_paused;
	struct cell_stats stats;
	size_t n_refused_hosts; /* names in stats only refused since the last flush */
	struct cell_reqlog *log;
	bool log_failed;		   /* said once on stderr */
	struct cell_ledger_writer *ledger; /* project.ledger's, or NULL */
	struct cell_budget_meter *budget;  /* what the project used of its budget (with a ledger) */
	char writer[24];		   /* this proxy's name in its records ("writer") */
	int notices_fd;			   /* project.notices, or -1 */
	long last_flush;
	int64_t flush_start;
	struct cell_stats flushed; /* what the records written so far counted (cell top) */
	char *live_path;	   /* where cell top reads the counts so far, or NULL */
	long last_live;		   /* when they were last written, on the loop's clock */
	uint64_t live_sum;	   /* ... and what they summed to then */
	int64_t started;
	char *pool[POOL_MAX]; /* free buffers */
	size_t n_pool;
	struct cell_peer *peers;   /* who connects (o.peer_cgroup), or NULL */
	bool peer_refused;	   /* said once on stderr */
	struct cell_ipaddr *local; /* this machine's addresses, read when a connection needs them */
	size_t n_local;
	bool local_known;
	long local_read;	    /* when, on the loop's clock */
	struct cell_tls *tls;	    /* the CA's, made at the first inspected tunnel */
	struct cell_tlspump *pumps; /* inspected tunnels' TLS, both sides */
	size_t n_pumps;		    /* (counted with the connections, against max_conns) */
	char scratch[BUF_SIZE];	    /* where heads are rewritten */
};

static struct cell_host_stats *host_stats(struct conn *c)
{
	return &c->p->stats.hosts[c->stats];
}

/* Gives b memory if it has none; false when there is none to give. */
static bool buf_hold(struct cell_proxy *p, struct buf *b)
{
	void *m;

	if (b->data)
		return true;
	if (p->n_pool) {
		b->data = p->pool[--p->n_pool];
		return true;
	}
	m = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b->data = m == MAP_FAILED ? NULL : m;
	return b->data != NULL;
}

/* Gives b's memory back while nothing waits in it. */
static void buf_drop(struct cell_proxy *p, struct buf *b)
{
	if (!b->data || b->len > 0)
		return;
	if (p->n_pool < POOL_MAX)
		p->pool[p->n_pool++] = b->data;
	else
		munmap(b->data, BUF_SIZE);
	b->data = NULL;
	b->off = 0;
}

static void body_start(struct body *b, int kind, int64_t length)
{
	*b = (struct body){.kind = kind, .left = length};
	b->done = kind == BODY_NONE || (kind == BODY_LENGTH && length == 0);
}

/* How many of the n bytes at p belong to the body (the rest follow it), or -1 if malformed. */
static long body_take(struct body *b, const char *p, size_t n)
{
	long k;

	if (b->done)
		return 0;
	switch (b->kind) {
	case BODY_LENGTH:
		k = (int64_t)n < b->left ? (long)n : (long)b->left;
		b->left -= k;
		b->done = b->left == 0;
		return k;
	case BODY_CHUNKED:
		k = cell_http_chunks_scan(&b->chunks, p, n);
		b->done = k >= 0 && cell_http_chunks_done(&b->chunks);
		return k < 0 ? -1 : k;
	case BODY_UNTIL_CLOSE:
		return (long)n;
	default:
		return 0;
	}
}

/* The bytes in u2c the client may have now: a response's head waits until it is complete. */
static size_t for_client(const struct conn *c)
{
	return c->state == RELAY && c->form == CELL_HTTP_ABSOLUTE ? c->u2c_ready : c->u2c.len;
}

/* How full u2c may get: a response head keeps room for its rewrite. */
static size_t u2c_cap(const struct conn *c)
{
	return c->form == CELL_HTTP_ABSOLUTE && c->resp_head ? BUF_SIZE - HEAD_ROOM : BUF_SIZE;
}

/*
 * Watches a side for events; one with none to watch whose buffer to read into is full is taken
 * out of epoll instead: epoll reports a hang-up whatever was asked for, and with nowhere to
 * read it to, the end of file behind the bytes could not be taken and the report would come
 * again at once, for ever. It is watched again once there is room.
 */
static void watch_side(struct conn *c, struct cell_event_source *s, uint32_t events, bool full)
{
	if (!events && full)
		cell_event_unwatch(c->p->loop, s);
	else
		cell_event_watch(c->p->loop, s, events);
}

static void watch(struct conn *c)
{
	uint32_t ce = 0, ue = 0;
	bool relaying = c->state == RELAY;

	if (c->dead)
		return;
	if (c->state == HEAD || c->state == ANSWERING ||
	    (relaying && !c->client_eof && c->c2u.len < BUF_SIZE &&
	     (c->form == CELL_HTTP_CONNECT || (!c->req.done && c->upstream.fd >= 0))))
		ce |= EPOLLIN;
	if (for_client(c) > 0)
		ce |= EPOLLOUT;
	watch_side(c, &c->client, ce, relaying && c->c2u.len >= BUF_SIZE);
	if (c->upstream.fd < 0)
		return;
	if (c->state == CONNECTING)
		ue = EPOLLOUT;
	if (c->state == UPSTREAM)
		ue = EPOLLIN;
	if (relaying && !c->upstream_eof && c->u2c.len < u2c_cap(c) && !c->resp.done)
		ue |= EPOLLIN;
	if (relaying && c->c2u.len > 0)
		ue |= EPOLLOUT;
	watch_side(c, &c->upstream, ue, relaying && c->u2c.len >= u2c_cap(c));
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A new request starts on c: for the request log. */
static void log_start(struct conn *c)
{
	c->started = cell_event_now(c->p->loop);
	c->started_wall = wall_ms();
}

/* The request's (or tunnel's) line in the request log, once. */
static void log_request(struct conn *c, const char *decision, const char *reason)
{
	struct cell_proxy *p = c->p;
	struct cell_reqlog_entry e;
	int r;

	if (c->logged || !p->log)
		return;
	c->logged = true;
	e = (struct cell_reqlog_entry){
		.time_ms = c->started_wall,
		/* a request refused before it was parsed is no tunnel */
		.kind = c->form == CELL_HTTP_CONNECT && c->method[0] ? "tunnel" : "request",
		.method = c->form == CELL_HTTP_CONNECT || !c->method[0] ? NULL : c->method,
		.path = c->form == CELL_HTTP_CONNECT ? NULL : c->path,
		.host = c->host[0] ? c->host : NULL,
		.port = c->port,
		.decision = decision,
		.rule = c->rule,
		.status = c->status,
		.up = c->up,
		.down = c->down,
		.duration_ms = cell_event_now(p->loop) - c->started,
		.reason = reason,
		.learn = p->o.learn == CELL_LEARN_PERMISSIVE ? "permissive"
			 : p->o.learn == CELL_LEARN_RECORD   ? "record"
							     : NULL,
		.comm = c->comm[0] ? c->comm : NULL,
		.exe = c->exe,
	};
	if (c->learned && streq(decision, "allowed"))
		e.decision = "learned";
	r = cell_reqlog_write(p->log, &e);
	if (r < 0 && !p->log_failed) {
		fprintf(stderr, "cell: cannot write to the request log: %s\n", strerror(-r));
		p->log_failed = true;
	}
}

/* Closes both sides now; the memory goes on the next tick (events may still name it). */
static void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	if (c->host[0] && !c->logged) {
		const char *why = NULL;

		if (c->state == RESOLVING || c->state == CONNECTING || c->state == UPSTREAM)
			why = "the client left before the upstream answered";
		else if (c->form == CELL_HTTP_ABSOLUTE && !c->resp.done)
			why = "closed before the response ended";
		log_request(c, "allowed", why);
	}
	c->dead = true;
	cell_event_close(&c->client);
	cell_event_close(&c->upstream);
	c->p->n_conns--;
	if (c->relayed)
		c->p->n_relayed--;
	if (c->p->accept_paused) {
		c->p->accept_paused = false;
		cell_event_watch(c->p->loop, &c->p->listener, EPOLLIN);
		for (size_t i = 0; i < c->p->n_relays; i++)
			cell_event_watch(c->p->loop, &c->p->relays[i].src, EPOLLIN);
	}
}

static void conn_free(struct conn *c)
{
	free(c->exe);
	free(c->rule);
	free(c->path);
	free(c->pending);
	free(c->addrs);
	c->c2u.len = c->u2c.len = 0;
	buf_drop(c->p, &c->c2u);
	buf_drop(c->p, &c->u2c);
	free(c);
}

/* Sends our own response and closes once it is out. */
static void answer(struct conn *c, int status, const char *reason, const char *body)
{
	int n;

	if (!buf_hold(c->p, &c->u2c)) {
		conn_close(c);
		return;
	}
	n = snprintf(c->u2c.data, BUF_SIZE,
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     status, reason, strlen(body), body);

	c->u2c.off = 0;
	c->u2c.len = n > 0 && (size_t)n < BUF_SIZE ? (size_t)n : 0;
	c->status = status;
	{
		/* the body without "cell: " and its newline */
		char why[512];
		const char *b = startswith(body, "cell: ") ? body + 6 : body;
		size_t len = strcspn(b, "\n");

		snprintf(why, sizeof(why), "%.*s", (int)len, b);
		log_request(c,
			    status == 403   ? "denied"
			    : status == 429 ? "over-budget"
			    : status >= 500 ? "failed"
					    : "bad",
			    why);
	}
	c->state = ANSWERING;
	c->deadline = cell_event_now(c->p->loop) + 2000;
	cell_event_close(&c->upstream);
	watch(c);
}

/*
 * A 403 with body, counted, and for a tunnel its line for the cell's prompt (one write: lines of
 * two writers never mix). A request's own 403 carries the line as its body, which the client
 * shows where it shows bodies: the prompt does not say it again. A refused CONNECT's body is
 * what clients drop (curl: "CONNECT tunnel failed, response 403"), so the prompt says why.
 */
static void refuse(struct conn *c, const char *body)
{
	host_stats(c)->denied++;
	if (c->p->notices_fd >= 0 && c->form == CELL_HTTP_CONNECT)
		(void)!write(c->p->notices_fd, body, strlen(body));
	answer(c, 403, "Forbidden", body);
}

/* The host as a rule names it, with the port where the port is not a default one (80, 443) or
 * always: "api.test", "api.test:8765", "[::1]:8080". */
static void host_text(const struct conn *c, bool port, char *buf, size_t size)
{
	bool v6 = strchr(c->host, ':') != NULL;

	port = port || (c->port != 80 && c->port != 443);
	if (port)
		snprintf(buf, size, "%s%s%s:%u", v6 ? "[" : "", c->host, v6 ? "]" : "",
			 (unsigned)c->port);
	else
		snprintf(buf, size, "%s", c->host);
}

/*
 * No rule names the host at this port. The fix said is the one that lets exactly this through:
 * the port named where it is not a default one, or where the host is allowed on others (then
 * they are said: the host is not what is missing).
 */
static void deny_unlisted(struct conn *c)
{
	char body[1024], name[CELL_HOST_MAX + 16], list[64] = "";
	uint16_t ports[4];
	size_t n =
		cell_netpolicy_host_ports(c->p->project.policy, c->host, ports, ELEMENTSOF(ports));
	size_t at = 0;

	host_text(c, n > 0, name, sizeof(name));
	for (size_t i = 0; i < n && at < sizeof(list); i++)
		at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%u",
				       i == 0	    ? ""
				       : i + 1 == n ? " and "
						    : ", ",
				       (unsigned)ports[i]);
	if (n > 0)
		snprintf(body, sizeof(body),
			 "cell: %s is not in %s's network allowlist: %s is allowed on port%s %s "
			 "only (cell allow-host %s)\n",
			 name, c->p->project.name, c->host, n > 1 ? "s" : "", list, name);
	else
		snprintf(body, sizeof(body),
			 "cell: %s is not in %s's network allowlist (cell allow-host %s)\n", name,
			 c->p->project.name, name);
	refuse(c, body);
}

/* A network.deny rule names the host: no allow rule can undo that. */
static void deny_by_rule(struct conn *c, const char *rule)
{
	char body[1024], name[CELL_HOST_MAX + 16];

	host_text(c, false, name, sizeof(name));
	snprintf(body, sizeof(body), "cell: %s is refused by %s's network.deny (%s)\n", name,
		 c->p->project.name, rule);
	refuse(c, body);
}

/* Whether a rule naming the address lets it through (address_ok said why not). */
static bool address_fixable(const char *why)
{
	return !streq(why, CELL_NETPOLICY_WHY_DENIED);
}

/*
 * The host is allowed, but the address it resolved to is not one its name may reach (why: a
 * loopback address, ...). Only a pin of this name to the address (network.resolve) lets it
 * through as narrowly as asked (an allow rule for the address would open it to every name),
 * unless network.deny names the address (fixable false).
 */
static void deny_address(struct conn *c, const struct sockaddr *sa, const char *why, bool fixable)
{
	char body[1024], name[CELL_HOST_MAX + 16], text[INET6_ADDRSTRLEN] = "?";

	cell_sockaddr_text(sa, text);
	host_text(c, false, name, sizeof(name));
	if (fixable)
		snprintf(body, sizeof(body),
			 "cell: %s resolves to %s, %s, where a name may not lead (a pin in "
			 "%s's network.resolve can let %s reach it)\n",
			 name, text, why, c->p->project.name, c->host);
	else
		snprintf(body, sizeof(body), "cell: %s resolves to %s, %s\n", name, text, why);
	refuse(c, body);
}

static int names_secret(const char *name, size_t len, void *data)
{
	const char *wanted = data;

	return strlen(wanted) == len && !strncmp(wanted, name, len);
}

/*
 * The first secret whose value the request carries (in its head, or in what came of its body
 * with it) to a host whose rules do not inject that secret: exfiltration of a value that leaked
 * into the cell. NULL when none.
 */
static const struct cell_secret_value *carried_secret(const struct conn *c,
						      const struct cell_rule *inject)
{
	const struct cell_secret_values *s = c->p->o.secrets;
	size_t n = c->c2u.len < c->head_len + 4096 ? c->c2u.len : c->head_len + 4096;
	const char *why = NULL;

	for (size_t i = 0; s && i < s->n; i++) {
		if (inject && cell_secret_refs(inject->inject_value, names_secret,
					       (void *)s->v[i].name, &why) > 0)
			continue;
		if (memmem(c->c2u.data, n, s->v[i].value, s->v[i].len))
			return &s->v[i];
	}
	return NULL;
}

/* An inject value being filled in: the text up to each ${secret:NAME}, then the secret. */
struct filling {
	const struct cell_secret_values *secrets;
	const char *from; /* the template's text not copied yet */
	char *buf;
	size_t size, n;
	const char *missing;
};

static bool put(struct filling *f, const char *s, size_t len)
{
	if (f->n + len >= f->size)
		return false;
	memcpy(f->buf + f->n, s, len);
	f->n += len;
	return true;
}

static int fill_secret(const char *name, size_t len, void *data)
{
	struct filling *f = data;
	const struct cell_secret_value *v = cell_secrets_find(f->secrets, name, len);
	const char *ref = name - strlen("${secret:");

	if (!v) {
		f->missing = name;
		return -ENOKEY;
	}
	if (!put(f, f->from, (size_t)(ref - f->from)) || !put(f, v->value, v->len))
		return -E2BIG;
	f->from = name + len + 1;
	return 0;
}

/* The value of an inject rule's header into buf, each ${secret:NAME} replaced; -ENOKEY (with
 * *ret_missing) for a secret the proxy does not hold. */
static int injected_value(const struct cell_proxy *p, const char *tmpl, char *buf, size_t size,
			  const char **ret_missing)
{
	struct filling f = {.secrets = p->o.secrets, .from = tmpl, .buf = buf, .size = size};
	const char *why = NULL;
	int r = cell_secret_refs(tmpl, fill_secret, &f, &why);

	if (r == -ENOKEY)
		*ret_missing = f.missing;
	if (r < 0)
		return r;
	if (!put(&f, f.from, strlen(f.from)))
		return -E2BIG;
	buf[f.n] = '\0';
	return 0;
}

/* A request (or a tunnel) to an allowed host that its rules do not allow. */
static void deny_request(struct conn *c, const char *what, const char *why)
{
	char body[1024];

	snprintf(body, sizeof(body), "cell: %s is not allowed for %s in %s (%s)\n", what, c->host,
		 c->p->project.name, why);
	refuse(c, body);
}

/* Fields that servers take for another method or path than the request line's. */
static const char *const overrides[] = {"X-HTTP-Method-Override", "X-HTTP-Method",
					"X-Method-Override", "X-Original-URL", "X-Rewrite-URL"};

/* A forwarded request's path, for the log: as it came, but never a secret's value. */
static void note_path(struct conn *c, const struct cell_http_request *r)
{
	const struct cell_secret_values *secrets = c->p->o.secrets;

	free(c->path);
	c->path = strndup(r->path, r->path_len < 1024 ? r->path_len : 1024);
	for (size_t i = 0; c->path && secrets && i < secrets->n; i++)
		if (memmem(r->path, r->path_len, secrets->v[i].value, secrets->v[i].len)) {
			free(c->path);
			if (asprintf(&c->path, "(a path with secret %s in it)",
				     secrets->v[i].name) < 0)
				c->path = NULL;
			break;
		}
}

/* Whether the rules for c's host (host_flags: cell_netpolicy_host's) allow request r, else it
 * is answered 403. */
static bool request_allowed(struct conn *c, const struct cell_http_request *r, unsigned host_flags)
{
	char why[512], what[160];
	bool open = host_flags & CELL_NETHOST_OPEN;

	if (!open && r->method_len >= sizeof(c->method)) {
		deny_request(c, "a request with a method this long", "no rule names one");
		return false;
	}
	for (size_t i = 0; !open && i < ELEMENTSOF(overrides); i++)
		if (cell_http_find_header(r->headers, r->n_headers, overrides[i])) {
			snprintf(what, sizeof(what), "a request with %s", overrides[i]);
			deny_request(c, what, "its rules decide by the method and path it names");
			return false;
		}
	if (cell_netpolicy_request(c->p->project.policy, c->host, c->port, c->method, r->path,
				   r->path_len, why, sizeof(why)) == CELL_NET_ALLOWED)
		return true;
	snprintf(what, sizeof(what), "%s %.120s%s", c->method, c->path ? c->path : "?",
		 c->path && strlen(c->path) > 120 ? "..." : "");
	deny_request(c, what, why);
	return false;
}

static void fail(struct conn *c, int status, const char *fmt, ...) _printf_(3, 4);
static void fail(struct conn *c, int status, const char *fmt, ...)
{
	char body[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(body) - 2)
		n = (int)sizeof(body) - 2;
	body[n] = '\n';
	body[n + 1] = '\0';
	if (c->early) {
		/* the client was told 200 already: the tunnel breaks (a reset) instead */
		struct linger reset = {1, 0};

		c->status = status;
		body[n] = '\0';
		log_request(c, "failed", startswith(body, "cell: ") ? body + 6 : body);
		setsockopt(c->client.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		conn_close(c);
		return;
	}
	answer(c, status, status == 504 ? "Gateway Timeout" : "Bad Gateway", body);
}

static void try_connect(struct conn *c);

static void upstream_event(struct cell_event_source *s, uint32_t events);
static void client_event(struct cell_event_source *s, uint32_t events);

/* Keeps the n bytes at p for the next request (they came with this one). */
static int keep_pending(struct conn *c, const char *p, size_t n)
{
	char *k;

	if (n == 0)
		return 0;
	k = realloc(c->pending, c->pending_len + n);
	if (!k)
		return -ENOMEM;
	memcpy(k + c->pending_len, p, n);
	c->pending = k;
	c->pending_len += n;
	return 0;
}

/* Whether the client asks to keep the connection open after this request. */
static bool wants_keep_alive(const struct cell_http_request *r)
{
	const struct cell_http_header *conn =
		cell_http_find_header(r->headers, r->n_headers, "Connection");
	const struct cell_http_header *pconn =
		cell_http_find_header(r->headers, r->n_headers, "Proxy-Connection");

	if (cell_http_has_token(conn, "close") || cell_http_has_token(pconn, "close"))
		return false;
	return r->minor_version > 0 || cell_http_has_token(conn, "keep-alive") ||
	       cell_http_has_token(pconn, "keep-alive");
}

/*
 * Replaces the request head r (parsed from c2u) with the request to send upstream: origin-form,
 * hop-by-hop fields dropped, "Connection: close" (one request per connection to the upstream),
 * then whatever of the body already arrived. Bytes after the body are the next request's.
 */
static int rewrite_request(struct conn *c, const struct cell_http_request *r,
			   const char *inject_header, const char *inject_value)
{
	const struct cell_http_header *conn =
		cell_http_find_header(r->headers, r->n_headers, "Connection");
	char *out = c->p->scratch, *body = c->c2u.data + c->head_len;
	size_t n = 0, rest = c->c2u.len - c->head_len;
	bool v6 = strchr(c->host, ':') != NULL;
	long k;

	/* (to the upstream proxy: the absolute form, as it was asked of us, with c->host: the name
	 * a fake address of the shim's stands for, as the allowlist saw it) */
	if (c->via)
		n += (size_t)snprintf(out, BUF_SIZE,
				      v6 ? "%.*s http://[%s]:%u" : "%.*s http://%s:%u",
				      (int)r->method_len, r->method, c->host, c->port);
	else
		n += (size_t)snprintf(out, BUF_SIZE, "%.*s ", (int)r->method_len, r->method);
	n += (size_t)snprintf(out + n, BUF_SIZE - n, "%s%.*s HTTP/1.%d\r\n",
			      r->path[0] == '?' ? "/" : "", (int)r->path_len, r->path,
			      r->minor_version);
	if (!cell_http_find_header(r->headers, r->n_headers, "Host"))
		n += (size_t)snprintf(out + n, BUF_SIZE - n,
				      v6 ? "Host: [%s]:%u\r\n" : "Host: %s:%u\r\n", c->host,
				      c->port);
	for (size_t i = 0; i < r->n_headers && n < BUF_SIZE; i++) {
		const struct cell_http_header *h = &r->headers[i];

		/* (the injected header replaces whatever the client sent under that name) */
		if (cell_http_hop_by_hop(conn, h) ||
		    (inject_header && strlen(inject_header) == h->name_len &&
		     !strncasecmp(inject_header, h->name, h->name_len)))
			continue;
		n += (size_t)snprintf(out + n, BUF_SIZE - n, "%.*s: %.*s\r\n", (int)h->name_len,
				      h->name, (int)h->value_len, h->value);
	}
	if (inject_header && n < BUF_SIZE)
		n += (size_t)snprintf(out + n, BUF_SIZE - n, "%s: %s\r\n", inject_header,
				      inject_value);
	if (n < BUF_SIZE)
		n += (size_t)snprintf(out + n, BUF_SIZE - n, "Connection: close\r\n\r\n");
	if (r->chunked)
		body_start(&c->req, BODY_CHUNKED, 0);
	else
		body_start(&c->req, BODY_LENGTH, r->content_length > 0 ? r->content_length : 0);
	k = body_take(&c->req, body, rest);
	if (k < 0)
		return -EBADMSG;
	if (n >= BUF_SIZE || n + (size_t)k > BUF_SIZE)
		return -E2BIG;
	if (keep_pending(c, body + k, rest - (size_t)k) < 0)
		return -ENOMEM;
	memcpy(out + n, body, (size_t)k);
	memcpy(c->c2u.data, out, n + (size_t)k);
	c->c2u.off = 0;
	c->c2u.len = n + (size_t)k;
	return 0;
}

static void tunnel_ready(struct conn *c);
static int tls_to_host(struct conn *c);

/*
 * Connected to the upstream proxy for a tunnel: it is asked to CONNECT the host (its answer's
 * head is waited for in UPSTREAM). The socket is new and empty: the request goes at once.
 */
static void ask_upstream(struct conn *c)
{
	char req[2 * CELL_HOST_MAX + 128];
	bool v6 = strchr(c->host, ':') != NULL;
	int n = snprintf(req, sizeof(req),
			 v6 ? "CONNECT [%s]:%u HTTP/1.1\r\nHost: [%s]:%u\r\n\r\n"
			    : "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n",
			 c->host, c->port, c->host, c->port);

	if (n < 0 || (size_t)n >= sizeof(req) ||
	    send(c->upstream.fd, req, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		fail(c, 502, "cell: cannot ask the upstream proxy for %s:%u", c->host, c->port);
		return;
	}
	c->state = UPSTREAM;
	watch(c);
}

/* The longest answer head the upstream proxy may give to CONNECT. */
#define UPSTREAM_HEAD_MAX 4096

/*
 * The upstream proxy's answer to CONNECT, read into u2c as it comes (a head written in pieces
 * waits for the rest; nothing stays unread on the socket to wake the loop again): on a 2xx its
 * head goes and what came after it stays in u2c, the tunnel's first bytes for the client; any
 * other answer fails the client's request with its status line.
 */
static void upstream_answer(struct conn *c)
{
	struct buf *b = &c->u2c;
	char *end, status_line[256];
	int minor, status;
	size_t head;
	ssize_t n;

	if (!buf_hold(c->p, b)) {
		conn_close(c);
		return;
	}
	n = recv(c->upstream.fd, b->data + b->len, UPSTREAM_HEAD_MAX - b->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fail(c, 502, "cell: the upstream proxy closed the connection for %s:%u", c->host,
		     c->port);
		return;
	}
	b->len += (size_t)n;
	end = memmem(b->data, b->len, "\r\n\r\n", 4);
	if (!end) {
		if (b->len == UPSTREAM_HEAD_MAX)
			fail(c, 502, "cell: the upstream proxy's answer for %s:%u is too long",
			     c->host, c->port);
		return;
	}
	head = (size_t)(end + 4 - b->data);
	snprintf(status_line, sizeof(status_line), "%.*s", (int)strcspn(b->data, "\r\n"), b->data);
	if (sscanf(status_line, "HTTP/1.%1d %3d", &minor, &status) != 2 || status < 200 ||
	    status > 299 || (status_line[12] != ' ' && status_line[12] != '\0')) {
		b->len = 0;
		fail(c, 502, "cell: the upstream proxy did not connect %s:%u: %.200s", c->host,
		     c->port, status_line);
		return;
	}
	b->len -= head;
	memmove(b->data, b->data + head, b->len);
	tunnel_ready(c);
}

static void established(struct conn *c)
{
	if (c->via && c->form == CELL_HTTP_CONNECT) {
		free(c->addrs);
		c->addrs = NULL;
		ask_upstream(c);
		return;
	}
	if (c->inspected && tls_to_host(c) < 0) {
		fail(c, 502, "cell: cannot start TLS to %s", c->host);
		return;
	}
	tunnel_ready(c);
}

static void tunnel_ready(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";

	free(c->addrs);
	c->addrs = NULL;
	if (c->form == CELL_HTTP_CONNECT && c->early) {
		host_stats(c)->tunnels++;
	} else if (c->form == CELL_HTTP_CONNECT) {
		if (!buf_hold(c->p, &c->u2c)) {
			conn_close(c);
			return;
		}
		host_stats(c)->tunnels++;
		c->status = 200;
		/* (before what the upstream proxy sent after its own answer, if anything) */
		memmove(c->u2c.data + sizeof(ok) - 1, c->u2c.data, c->u2c.len);
		memcpy(c->u2c.data, ok, sizeof(ok) - 1);
		c->u2c.len += sizeof(ok) - 1;
		c->ours_down = sizeof(ok) - 1;
	} else {
		host_stats(c)->requests++;
	}
	c->state = RELAY;
	c->deadline = cell_event_now(c->p->loop) + c->p->o.idle_timeout_ms;
	watch(c);
}

/*
 * Both legs of a relayed connection send what they have at once (TCP_NODELAY). A client that
 * set it (curl, git, database drivers, ssh) would otherwise lose it at the relay: the proxy's
 * second small write would wait for the peer's delayed ACK, some 40 ms (Nagle, RFC 896), for
 * every request that goes out in two writes. A client that coalesces its own writes still does
 * so on its own leg. No effect (and no harm) on a Unix socket.
 */
static void no_delay(int fd)
{
	static const int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * This machine's addresses, read again once they are LOCAL_ADDRS_MS old; false when there are
 * none to check against (a read failed and none came before: the list before is kept).
 */
static bool local_addresses(struct cell_proxy *p)
{
	long now = cell_event_now(p->loop);
	struct cell_ipaddr *a;
	size_t n;

	if (p->local_known && now - p->local_read < LOCAL_ADDRS_MS)
		return true;
	if (cell_local_addresses(&a, &n) < 0)
		return p->local_known;
	free(p->local);
	p->local = a;
	p->n_local = n;
	p->local_known = true;
	p->local_read = now;
	return true;
}

static void try_connect(struct conn *c)
{
	if (!local_addresses(c->p)) {
		fail(c, 502,
		     "cell: cannot read this machine's addresses to check %s's against them",
		     c->host);
		return;
	}
	while (c->addrs && c->next_addr < c->addrs->n) {
		const struct sockaddr *sa = (const struct sockaddr *)&c->addrs->addrs[c->next_addr];
		socklen_t len = c->addrs->lens[c->next_addr];
		const char *why = NULL;
		int fd;

		c->next_addr++;
		/* (the upstream proxy is the user's choice: it is not held to the rules for hosts)
		 */
		if (!c->via && !cell_netpolicy_address_ok(c->p->project.policy, c->host, c->port,
							  sa, c->p->local, c->p->n_local, &why)) {
			deny_address(c, sa, why, address_fixable(why));
			return;
		}
		fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		no_delay(fd);
		if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
			close(fd);
			continue;
		}
		c->upstream.fd = fd;
		c->state = CONNECTING;
		watch(c);
		return;
	}
	if (c->via)
		fail(c, 502, "cell: cannot connect to the upstream proxy %s:%u for %s",
		     c->p->o.upstream->host, c->p->o.upstream->port, c->host);
	else
		fail(c, 502, "cell: cannot connect to %s:%u", c->host, c->port);
}

/* The address list for a literal or pinned host at port, without a lookup. */
static bool known_address_at(struct conn *c, const char *text, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!cell_sockaddr_from_literal(text, port, &ss, &len))
		return false;
	free(c->addrs);
	c->addrs = calloc(1, sizeof(*c->addrs));
	if (c->addrs) {
		c->addrs->addrs[0] = ss;
		c->addrs->lens[0] = len;
		c->addrs->n = 1;
	}
	c->next_addr = 0;
	return true;
}

/*
 * The addresses of host at port (what: how a failure names it): a literal's at once (true,
 * c->addrs set), else asked of the resolver (false: RESOLVING until on_resolved, or failed).
 */
static bool look_up(struct conn *c, const char *host, uint16_t port, const char *what)
{
	if (known_address_at(c, host, port))
		return true;
	if (cell_resolver_submit(c->p->resolver, c->id, host, port) < 0) {
		fail(c, 502, "cell: cannot look up %s%s", what, host);
		return false;
	}
	c->state = RESOLVING;
	watch(c);
	return false;
}

/*
 * A CONNECT that asked for it (the shim, for a caller's non-blocking socket) is answered 200
 * once the allowlist lets it through, before the upstream is looked up and connected: should
 * that fail, the client's connection is reset. The 200 goes out at once: the client's socket
 * has room for it, having had nothing else from us.
 */
static void answer_early(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";

	if (send(c->client.fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)sizeof(ok) - 1)
		return; /* then it is answered the usual way, once connected */
	c->early = true;
	c->status = 200;
}

/* A request to the proxy itself: the shim's name service (not in the request log), or a bad
 * request. */
static void serve_own(struct conn *c, const struct cell_http_request *r)
{
	static const char *const reasons[] = {[200] = "OK",
					      [400] = "Bad Request",
					      [404] = "Not Found",
					      [500] = "Internal Server Error"};
	char body[512];
	int status;

	if (r->path_len < strlen(CELL_NAMESERV_PREFIX) ||
	    strncmp(r->path, CELL_NAMESERV_PREFIX, strlen(CELL_NAMESERV_PREFIX)) != 0) {
		answer(c, 400, "Bad Request",
		       "cell: a bad request: an origin-form request; a proxy needs an absolute URL\n");
		return;
	}
	status = cell_nameserv_answer(&c->p->fakes, r->path, r->path_len, body, sizeof(body));
	c->logged = true;
	answer(c, status, reasons[status] ? reasons[status] : "Error", body);
}

/*
 * Through the upstream proxy, the host's addresses as we see them are held to the rules all the
 * same (loopback, private, this machine's own, the deny rules' addresses): the upstream looks
 * the name up again, but a name of ours that is the host's loopback (localhost, a name pointed
 * at 127.0.0.1) must not become the upstream's loopback when that is this machine's (a local
 * cntlm or px). Where we cannot look it up (a network whose names only its proxy resolves), the
 * upstream's answer stands. Denies and returns false for a refused address.
 */
static bool via_allowed(struct conn *c)
{
	if (!c->addrs)
		return true;
	if (!local_addresses(c->p)) {
		fail(c, 502,
		     "cell: cannot read this machine's addresses to check %s's against them",
		     c->host);
		return false;
	}
	for (size_t i = 0; i < c->addrs->n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&c->addrs->addrs[i];
		const char *why = NULL;

		if (!cell_netpolicy_address_ok(c->p->project.policy, c->host, c->port, sa,
					       c->p->local, c->p->n_local, &why)) {
			deny_address(c, sa, why, address_fixable(why));
			return false;
		}
	}
	return true;
}

/* Connects to the upstream proxy (looked up first, if it is a name). */
static void via_connect(struct conn *c)
{
	const struct cell_upstream *u = c->p->o.upstream;

	c->via_checked = true;
	free(c->addrs);
	c->addrs = NULL;
	if (look_up(c, u->host, u->port, "the upstream proxy "))
		try_connect(c);
}

static void read_head(struct conn *c);

/* A new connection on fd (the client's), its head awaited; NULL (fd closed) without memory. */
static struct conn *conn_new(struct cell_proxy *p, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return NULL;
	}
	c->p = p;
	c->id = ++p->next_id;
	c->client = (struct cell_event_source){.fd = fd, .on_event = client_event};
	c->upstream = (struct cell_event_source){.fd = -1, .on_event = upstream_event};
	c->deadline = cell_event_now(p->loop) + p->o.head_timeout_ms;
	log_start(c);
	c->next = p->conns;
	p->conns = c;
	p->n_conns++;
	watch(c);
	return c;
}

/*
 * A request in an inspected tunnel: in origin form ("GET /path"), its Host the tunnel's (a
 * request for another name would be that name's, on the tunnel host's connection).
 */
static bool inspected_request_ok(struct conn *c, const struct cell_http_request *r)
{
	const struct cell_http_header *h = cell_http_find_header(r->headers, r->n_headers, "Host");
	char host[CELL_HOST_MAX + 1];
	uint16_t port = 0;
	bool v6;

	if (r->form != CELL_HTTP_ORIGIN) {
		answer(c, 400, "Bad Request",
		       "cell: a bad request: in an inspected tunnel a request names a path, not a "
		       "host\n");
		return false;
	}
	if (!h ||
	    cell_http_parse_authority(h->value, h->value_len, false, c->port, host, &v6, &port,
				      &(const char *){NULL}) < 0 ||
	    strcasecmp(host, c->host) != 0 || port != c->port) {
		answer(c, 400, "Bad Request",
		       "cell: a bad request: in an inspected tunnel, Host names the tunnel's host\n");
		return false;
	}
	return true;
}

/*
 * An allowed CONNECT to a host a rule inspects: the client is told 200 and its TLS ends here
 * (a pump, with a certificate for the host from the user's CA); what it sends in the clear
 * comes back as a new connection of ours, whose requests go to the host over TLS of our own.
 */
static void inspect(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
	struct cell_proxy *p = c->p;
	struct conn *inner;
	int pair[2] = {-1, -1}, fd, r;
	SSL *ssl = NULL;

	if (!p->tls && (!p->o.tls_dir || cell_tls_new(p->o.tls_dir, &p->tls) < 0)) {
		fail(c, 502, "cell: cannot inspect %s: the CA in %s cannot be used", c->host,
		     p->o.tls_dir ? p->o.tls_dir : "(none)");
		return;
	}
	ssl = cell_tls_accept(p->tls, c->host);
	if (!ssl || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
		SSL_free(ssl);
		fail(c, 502, "cell: cannot inspect %s: out of memory", c->host);
		return;
	}
	if (!c->early &&
	    send(c->client.fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) != sizeof(ok) - 1) {
		SSL_free(ssl);
		close(pair[0]);
		close(pair[1]);
		conn_close(c);
		return;
	}
	host_stats(c)->tunnels++;
	c->status = 200;
	log_request(c, "allowed", NULL);
	cell_event_unwatch(p->loop, &c->client);
	fd = c->client.fd;
	c->client.fd = -1;
	inner = conn_new(p, pair[1]);
	if (inner) {
		inner->inspected = true;
		memcpy(inner->comm, c->comm, sizeof(inner->comm));
		inner->exe = c->exe ? strdup(c->exe) : NULL;
		memcpy(inner->host, c->host, sizeof(inner->host));
		inner->port = c->port;
	}
	/* (what the client sent after the head, its TLS hello perhaps, is the pump's first) */
	r = cell_tlspump_start(p->loop, &p->pumps, ssl, fd, pair[0], c->c2u.data + c->head_len,
			       c->c2u.len - c->head_len, c->host);
	p->n_pumps++;
	if (r < 0 && inner)
		conn_close(inner);
	conn_close(c);
}

/* Connected to an inspected host: TLS of our own to it, the request goes in the clear. */
static int tls_to_host(struct conn *c)
{
	struct cell_proxy *p = c->p;
	SSL *ssl = cell_tls_connect(p->tls, c->host);
	int pair[2], net;

	if (!ssl)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
		SSL_free(ssl);
		return -errno;
	}
	cell_event_unwatch(p->loop, &c->upstream);
	net = c->upstream.fd;
	c->upstream.fd = pair[1];
	p->n_pumps++;
	return cell_tlspump_start(p->loop, &p->pumps, ssl, net, pair[0], NULL, 0, c->host);
}

/* A request whose Connection field names what frames it (or says where it goes): passed on
 * without them, the next hop would read its body as requests of their own. */
static bool names_framing(const struct cell_http_request *r)
{
	static const char *const framing[] = {"content-length", "transfer-encoding", "host"};
	const struct cell_http_header *conn =
		cell_http_find_header(r->headers, r->n_headers, "Connection");

	for (size_t i = 0; conn && i < ELEMENTSOF(framing); i++)
		if (cell_http_has_token(conn, framing[i]))
			return true;
	return false;
}

/* A request or tunnel the budget has room for is counted against it; one it has none for is
 * answered 429, counted as denied. */
static bool within_budget(struct conn *c)
{
	struct cell_proxy *p = c->p;
	char why[512];

	if (!p->budget)
		return true;
	if (cell_budget_meter_admit(p->budget, cell_netpolicy_budget(p->project.policy),
				    p->project.name, c->host, (int64_t)time(NULL), why,
				    sizeof(why))) {
		cell_budget_meter_count(p->budget, c->host, 0, 0, 1, (int64_t)time(NULL));
		return true;
	}
	host_stats(c)->denied++;
	if (p->notices_fd >= 0)
		(void)!write(p->notices_fd, why, strlen(why));
	answer(c, 429, "Too Many Requests", why);
	return false;
}

static void handle_request(struct conn *c, const struct cell_http_request *r)
{
	const char *rule = NULL, *pinned;
	enum cell_netverdict verdict;
	enum cell_http_form form = r->form;
	const struct cell_rule *inject;
	const struct cell_secret_value *leaked;
	unsigned host_flags;

	if (c->inspected) {
		/* (in the tunnel the requests are the host's: a path, and its name in Host) */
		if (!inspected_request_ok(c, r))
			return;
		form = CELL_HTTP_ABSOLUTE;
	} else if (r->form == CELL_HTTP_ORIGIN) {
		serve_own(c, r);
		return;
	} else {
		memcpy(c->host, r->host, sizeof(c->host));
		c->port = r->port;
	}
	/* an address the shim handed out stands for its name: the allowlist and the counts see
	 * the name */
	if (!c->inspected && cell_nameserv_unfake(c->p->fakes, c->host, sizeof(c->host)) < 0) {
		fail(c, 502,
		     "cell: %s is a fake address that stands for no name here (looked up in another "
		     "cell, or before the cell's proxy restarted)",
		     r->host);
		return;
	}
	c->form = form;
	snprintf(c->method, sizeof(c->method), "%.*s", (int)r->method_len, r->method);
	c->keep_alive = form == CELL_HTTP_ABSOLUTE && wants_keep_alive(r);
	c->head_method = r->method_len == 4 && !memcmp(r->method, "HEAD", 4);
	if (form == CELL_HTTP_ABSOLUTE)
		note_path(c, r);
	c->resp_head = true;
	verdict = cell_netpolicy_check(c->p->project.policy, c->host, c->port, &rule);
	{
		struct cell_stats *st = &c->p->stats;
		struct cell_host_stats *h;
		bool known = cell_stats_find(st, c->host) != NULL,
		     refused =
			     verdict != CELL_NET_ALLOWED && c->p->o.learn != CELL_LEARN_PERMISSIVE;
		/* a cell that asks for ever new names cannot grow a record (or the proxy) without
		 * end: past HOSTS_MAX, new names are counted together, and past
		 * REFUSED_HOSTS_MAX names that are refused (a record every 10 s names each) */
		const char *counted =
			known || (st->n_hosts < HOSTS_MAX &&
				  (!refused || c->p->n_refused_hosts < REFUSED_HOSTS_MAX))
				? c->host
				: OTHER_HOSTS;

		if (cell_stats_host(st, counted, &h) < 0) {
			conn_close(c);
			return;
		}
		c->p->n_refused_hosts += !known && refused && counted == c->host;
		c->stats = (size_t)(h - st->hosts);
	}
	/* for the request log; a reload may replace the policy while a tunnel is open */
	free(c->rule);
	c->rule = rule ? strdup(rule) : NULL;
	/* cell learn --permissive: what no rule names goes, and is logged as learned */
	c->learned = verdict != CELL_NET_ALLOWED && !rule && c->p->o.learn == CELL_LEARN_PERMISSIVE;
	if (verdict != CELL_NET_ALLOWED && !c->learned) {
		if (rule)
			deny_by_rule(c, rule);
		else
			deny_unlisted(c);
		return;
	}
	host_flags = c->learned ? CELL_NETHOST_OPEN
				: cell_netpolicy_host(c->p->project.policy, c->host, c->port);
	inject = c->inspected ? cell_netpolicy_injection(c->p->project.policy, c->host, c->port)
			      : NULL;
	leaked = carried_secret(c, inject);
	if (leaked) {
		char body[512];

		snprintf(body, sizeof(body),
			 "cell: a request to %s carries the value of secret %s, which goes only to "
			 "the hosts whose rules inject it\n",
			 c->host, leaked->name);
		refuse(c, body);
		return;
	}
	if (form == CELL_HTTP_ABSOLUTE && !c->learned && !request_allowed(c, r, host_flags))
		return;
	if (!within_budget(c))
		return;
	if (form == CELL_HTTP_CONNECT && (host_flags & CELL_NETHOST_INSPECT)) {
		inspect(c);
		return;
	}
	/* a blind tunnel hides the requests that a host's rules must see */
	if (form == CELL_HTTP_CONNECT && !(host_flags & CELL_NETHOST_OPEN)) {
		char what[CELL_HOST_MAX + 32];

		snprintf(what, sizeof(what), "a tunnel to port %u", (unsigned)c->port);
		deny_request(c, what,
			     "its rules allow some requests only, which the proxy sees in plain "
			     "HTTP, or with \"inspect\": true");
		return;
	}
	/* an allowed host goes through the upstream proxy, unless NO_PROXY names it or the config
	 * pins its address (network.resolve: a name of the user's, at an address of the user's) */
	pinned = cell_netpolicy_pinned(c->p->project.policy, c->host);
	c->via = c->p->o.upstream && !pinned && !cell_upstream_bypass(c->p->o.upstream, c->host);
	if (c->inspected && c->via) {
		fail(c, 502,
		     "cell: %s is inspected, and an inspected host is not reached through an "
		     "upstream proxy (yet): add it to network.upstream_no_proxy",
		     c->host);
		return;
	}
	if (form == CELL_HTTP_ABSOLUTE && names_framing(r)) {
		answer(c, 400, "Bad Request",
		       "cell: a bad request: its Connection field names Content-Length, "
		       "Transfer-Encoding or Host, which go to the next hop\n");
		return;
	}
	/* the parsed head points into c2u: rewrite it now, not parse it again once connected */
	if (form == CELL_HTTP_ABSOLUTE) {
		char value[8192];
		const char *missing = NULL;
		int e = inject ? injected_value(c->p, inject->inject_value, value, sizeof(value),
						&missing)
			       : 0;

		if (e < 0) {
			const char *err = e == -ENOKEY ? c->p->o.secrets_error : NULL;

			fail(c, 502, "cell: the %s header for %s cannot be set: %s%.*s%s%s%s",
			     inject->inject_header, c->host,
			     e == -ENOKEY ? "the proxy holds no secret " : "it is too long",
			     missing ? (int)strcspn(missing, "}") : 0, missing ? missing : "",
			     err ? " (" : "", err ? err : "", err ? ")" : "");
			return;
		}
		e = rewrite_request(c, r, inject ? inject->inject_header : NULL, value);

		if (e == -EBADMSG) {
			answer(c, 400, "Bad Request",
			       "cell: a bad request: a malformed chunked body\n");
			return;
		}
		if (e < 0) {
			fail(c, 502, "cell: the request to %s could not be forwarded", c->host);
			return;
		}
	}
	if (form == CELL_HTTP_CONNECT &&
	    cell_http_find_header(r->headers, r->n_headers, CELL_SHIM_EARLY_FIELD))
		answer_early(c);
	c->deadline = cell_event_now(c->p->loop) + c->p->o.connect_timeout_ms;
	/* (through the upstream proxy, the host's addresses as far as we can see them first:
	 * on_resolved goes on with via_checked) */
	if (c->via && look_up(c, c->host, c->port, "") && via_allowed(c))
		via_connect(c);
	else if (!c->via && look_up(c, pinned ? pinned : c->host, c->port, ""))
		try_connect(c);
}

/* Acts on the request head in c2u once it is complete. */
static void parse_head(struct conn *c)
{
	struct cell_http_request r;
	const char *why = NULL;
	long len = cell_http_parse_request(c->c2u.data, c->c2u.len, &r, &why);

	if (len == CELL_HTTP_INCOMPLETE || len == CELL_HTTP_TOO_MANY) {
		if (c->c2u.len >= c->p->o.max_head || len == CELL_HTTP_TOO_MANY)
			answer(c, 431, "Request Header Fields Too Large",
			       "cell: the request head is too large\n");
		return;
	}
	if (len < 0) {
		char body[256];

		snprintf(body, sizeof(body), "cell: a bad request: %s\n", why ? why : "?");
		answer(c, 400, "Bad Request", body);
		return;
	}
	c->head_len = (size_t)len;
	handle_request(c, &r);
	if (!c->dead && c->form == CELL_HTTP_CONNECT && c->state != ANSWERING) {
		/* bytes the client sent after the head (a TLS hello) go upstream as they are */
		c->c2u.len -= c->head_len;
		memmove(c->c2u.data, c->c2u.data + c->head_len, c->c2u.len);
		c->head_len = 0;
		buf_drop(c->p, &c->c2u);
	}
}

static void read_head(struct conn *c)
{
	ssize_t n;

	if (c->c2u.len >= c->p->o.max_head) {
		parse_head(c);
		return;
	}
	if (!buf_hold(c->p, &c->c2u)) {
		conn_close(c);
		return;
	}
	n = read(c->client.fd, c->c2u.data + c->c2u.len, c->p->o.max_head - c->c2u.len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		buf_drop(c->p, &c->c2u);
		return;
	}
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->c2u.len += (size_t)n;
	parse_head(c);
}

/* Moves bytes from fd into b, filling it up to cap; returns false when the connection must
 * close. */
static bool pull(struct cell_proxy *p, int fd, struct buf *b, size_t cap, bool *eof)
{
	ssize_t n;

	/* a read of 0 bytes returns 0, which would look like the end of the stream */
	if (b->len >= cap)
		return true;
	if (!buf_hold(p, b))
		return false;
	/* what waits moves to the front only once all the free space is before it */
	if (b->off + b->len >= cap) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	n = read(fd, b->data + b->off + b->len, cap - b->off - b->len);

	if (n < 0) {
		buf_drop(p, b);
		return errno == EAGAIN || errno == EINTR;
	}
	if (n == 0)
		*eof = true;
	b->len += (size_t)n;
	buf_drop(p, b);
	return true;
}

/* Moves up to max bytes from b into fd; returns the count, or -1 when the connection must
 * close. */
static ssize_t push(struct cell_proxy *p, int fd, struct buf *b, size_t max)
{
	ssize_t n = send(fd, b->data + b->off, max, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	b->len -= (size_t)n;
	b->off = b->len ? b->off + (size_t)n : 0;
	buf_drop(p, b);
	return n;
}

/* The response went out: a closing linger, as for our own answers. */
static void linger(struct conn *c)
{
	cell_event_close(&c->upstream);
	if (!c->client_shut)
		c->client_shut = shutdown(c->client.fd, SHUT_WR) == 0;
	c->state = ANSWERING;
	c->deadline = cell_event_now(c->p->loop) + 2000;
	watch(c);
}

/* The response went out and the client keeps the connection: on to its next request. */
static void next_request(struct conn *c)
{
	cell_event_close(&c->upstream);
	c->state = HEAD;
	if (!c->inspected) { /* (an inspected tunnel's requests are all its host's) */
		c->host[0] = '\0';
		c->port = 0;
	}
	c->head_len = 0;
	c->req = c->resp = (struct body){0};
	c->resp_head = c->head_method = c->keep_alive = c->answered = false;
	c->u2c_ready = 0;
	free(c->addrs);
	c->addrs = NULL;
	c->next_addr = 0;
	c->upstream_eof = c->upstream_shut = false;
	c->u2c.off = c->u2c.len = 0;
	c->c2u.off = c->c2u.len = 0;
	c->logged = false;
	c->method[0] = '\0';
	free(c->rule);
	c->rule = NULL;
	c->status = 0;
	c->up = c->down = 0;
	log_start(c);
	c->deadline = cell_event_now(c->p->loop) + c->p->o.head_timeout_ms;
	watch(c);
	if (c->pending_len > BUF_SIZE) {
		conn_close(c);
		return;
	}
	if (c->pending_len) {
		if (!buf_hold(c->p, &c->c2u)) {
			conn_close(c);
			return;
		}
		memcpy(c->c2u.data, c->pending, c->pending_len);
		c->c2u.len = c->pending_len;
		free(c->pending);
		c->pending = NULL;
		c->pending_len = 0;
		parse_head(c);
	}
}

/* A forwarded request: once its response is all out, the next request or the end. */
static void forward_done(struct conn *c)
{
	if (!c->resp.done) {
		if (!c->upstream_eof)
			return;
		if (c->resp_head) {
			if (c->answered)
				conn_close(c);
			else
				fail(c, 502, "cell: %s:%u closed the connection without a response",
				     c->host, c->port);
			return;
		}
		/* the end of a body that runs until the close, or a truncated one: the client
		 * learns of the truncation from the close */
		if (c->resp.kind != BODY_UNTIL_CLOSE)
			c->keep_alive = false;
		c->resp.done = true;
	}
	/* nothing more from upstream is for the client */
	cell_event_close(&c->upstream);
	if (c->u2c.len > 0)
		return;
	log_request(c, "allowed",
		    c->resp.kind != BODY_UNTIL_CLOSE && !c->keep_alive && c->upstream_eof
			    ? "the upstream cut the response short"
			    : NULL);
	c->served = true;
	if (c->keep_alive && c->resp.kind != BODY_UNTIL_CLOSE && c->req.done && c->c2u.len == 0 &&
	    !c->client_eof)
		next_request(c);
	else
		linger(c);
}

/* After a side's end of file has been passed on, shut the other side's writing half. */
static void half_close(struct conn *c)
{
	bool c2u_done = c->client_eof && c->c2u.len == 0;
	bool u2c_done = c->upstream_eof && c->u2c.len == 0;

	if (c->form == CELL_HTTP_ABSOLUTE) {
		/* a request body cut short by the client's end of file: the upstream learns of it
		 * the same way, rather than wait for the rest until the idle timeout */
		if (c2u_done && !c->req.done && !c->upstream_shut && c->upstream.fd >= 0)
			c->upstream_shut = shutdown(c->upstream.fd, SHUT_WR) == 0;
		forward_done(c);
		return;
	}
	if (c2u_done && !c->upstream_shut)
		c->upstream_shut = shutdown(c->upstream.fd, SHUT_WR) == 0;
	if (u2c_done && !c->client_shut)
		c->client_shut = shutdown(c->client.fd, SHUT_WR) == 0;
	if (u2c_done && c2u_done)
		conn_close(c);
}

/* Bytes moved on a relaying connection: it is not idle. */
static void moved(struct conn *c, ssize_t n)
{
	if (n > 0 && c->state == RELAY)
		c->deadline = cell_event_now(c->p->loop) + c->p->o.idle_timeout_ms;
}

/* Bytes host may still move in that direction under the budget (UINT64_MAX: no limit). */
static uint64_t budget_left(struct conn *c, bool out)
{
	const struct cell_proxy *p = c->p;

	return p->budget
		       ? cell_budget_meter_left(p->budget, cell_netpolicy_budget(p->project.policy),
						host_stats(c)->host, out, (int64_t)time(NULL))
		       : UINT64_MAX;
}

/* A connection that would go past the budget: closed, and said why. */
static bool budget_cut(struct conn *c)
{
	struct cell_proxy *p = c->p;
	char why[512];

	if (cell_budget_meter_admit(p->budget, cell_netpolicy_budget(p->project.policy),
				    p->project.name, c->host, (int64_t)time(NULL), why,
				    sizeof(why)))
		return true;
	snprintf(why + strcspn(why, "\n"), sizeof(why) - strcspn(why, "\n"),
		 ": the connection to %s was closed\n", c->host);
	host_stats(c)->denied++;
	if (p->notices_fd >= 0)
		(void)!write(p->notices_fd, why, strlen(why));
	return false;
}

/* Sends what waits for the client; counts what came from upstream (not our own 200). */
static bool to_client(struct conn *c)
{
	size_t max = for_client(c);
	uint64_t left = c->state == RELAY ? budget_left(c, false) : UINT64_MAX;
	ssize_t n;
	size_t ours;

	/* (what the budget lets through: our own bytes first, then as many of the host's) */
	if (left < UINT64_MAX && (uint64_t)max > c->ours_down + left)
		max = c->ours_down + (size_t)left;
	n = max ? push(c->p, c->client.fd, &c->u2c, max) : 0;
	if (n < 0)
		return false;
	if (c->state == RELAY && c->form == CELL_HTTP_ABSOLUTE)
		c->u2c_ready -= (size_t)n;
	ours = (size_t)n < c->ours_down ? (size_t)n : c->ours_down;
	c->ours_down -= ours;
	if (c->state == RELAY) {
		host_stats(c)->bytes_down += (uint64_t)n - ours;
		c->down += (uint64_t)n - ours;
		if (c->p->budget)
			cell_budget_meter_count(c->p->budget, c->host, 0, (uint64_t)n - ours, 0,
						(int64_t)time(NULL));
		if (for_client(c) && budget_left(c, false) == 0)
			return budget_cut(c);
	}
	moved(c, n);
	return true;
}

/* Sends what waits for the upstream, and counts it. */
static bool to_upstream(struct conn *c)
{
	uint64_t left = c->c2u.len && c->upstream.fd >= 0 ? budget_left(c, true) : 0;
	size_t max = (uint64_t)c->c2u.len < left ? c->c2u.len : (size_t)left;
	ssize_t n = max ? push(c->p, c->upstream.fd, &c->c2u, max) : 0;

	if (n < 0)
		return false;
	host_stats(c)->bytes_up += (uint64_t)n;
	c->up += (uint64_t)n;
	if (c->p->budget && n > 0)
		cell_budget_meter_count(c->p->budget, c->host, (uint64_t)n, 0, 0,
					(int64_t)time(NULL));
	if (c->c2u.len && c->upstream.fd >= 0 && budget_left(c, true) == 0)
		return budget_cut(c);
	moved(c, n);
	return true;
}

/*
 * The response head at the front of the n bytes at p, if complete, in its place rewritten for
 * the client: hop-by-hop fields dropped, our own Connection field. Returns false when the
 * connection must close (having answered 502 if the client had nothing yet).
 */
static bool response_head(struct conn *c, char *p, size_t n)
{
	struct cell_http_response r;
	const struct cell_http_header *conn;
	const char *why = "?";
	char *out = c->p->scratch;
	size_t o;
	long len = cell_http_parse_response(p, n, &r, &why);
	bool interim;

	if (len == CELL_HTTP_INCOMPLETE && c->u2c.len < u2c_cap(c) && !c->upstream_eof)
		return true;
	if (len == CELL_HTTP_INCOMPLETE)
		why = c->upstream_eof ? "an incomplete head" : "a head too large";
	if (len < 0 || r.status == 101) {
		if (len >= 0)
			why = "a protocol switch it was not asked for";
		if (c->answered) {
			conn_close(c);
			return false;
		}
		fail(c, 502, "cell: %s:%u sent a bad response: %s", c->host, c->port, why);
		return false;
	}
	interim = r.status < 200;
	/* our own version (RFC 9110 6.2): the upstream's would tell the client what we speak */
	memcpy(out, "HTTP/1.1", 8);
	memcpy(out + 8, p + 8, r.status_line_len - 8);
	o = r.status_line_len;
	conn = cell_http_find_header(r.headers, r.n_headers, "Connection");
	for (size_t i = 0; i < r.n_headers && o < BUF_SIZE; i++)
		if (!cell_http_hop_by_hop(conn, &r.headers[i]))
			o += (size_t)snprintf(out + o, BUF_SIZE - o, "%.*s: %.*s\r\n",
					      (int)r.headers[i].name_len, r.headers[i].name,
					      (int)r.headers[i].value_len, r.headers[i].value);
	if (!interim) {
		if (c->head_method || r.status == 204 || r.status == 304)
			body_start(&c->resp, BODY_NONE, 0);
		else if (r.chunked)
			body_start(&c->resp, BODY_CHUNKED, 0);
		else if (!r.until_close)
			body_start(&c->resp, BODY_LENGTH, r.content_length);
		else
			body_start(&c->resp, BODY_UNTIL_CLOSE, 0);
		if (c->resp.kind == BODY_UNTIL_CLOSE)
			c->keep_alive = false;
		if (o < BUF_SIZE)
			o += (size_t)snprintf(out + o, BUF_SIZE - o, "Connection: %s\r\n",
					      c->keep_alive ? "keep-alive" : "close");
		c->status = r.status;
	}
	if (o < BUF_SIZE)
		o += (size_t)snprintf(out + o, BUF_SIZE - o, "\r\n");
	/* the head grows by our Connection field (HEAD_ROOM keeps room for it) and by a space
	 * after each field's colon that the upstream left out: one that does not fit is refused */
	if (o >= BUF_SIZE || c->u2c.len - (size_t)len + o > BUF_SIZE) {
		c->status = 0;
		if (c->answered) {
			conn_close(c);
			return false;
		}
		fail(c, 502, "cell: %s:%u sent a bad response: a head too large", c->host, c->port);
		return false;
	}
	memmove(p + o, p + len, n - (size_t)len);
	memcpy(p, out, o);
	c->u2c.len = c->u2c.len + o - (size_t)len;
	c->u2c_ready += o;
	c->answered = true;
	c->resp_head = interim;
	return true;
}

/*
 * Checks the bytes from upstream not checked yet: a response head is rewritten once complete,
 * and the body is passed on up to its end (what follows it is dropped). Returns false when the
 * connection must close.
 */
static bool scan_response(struct conn *c)
{
	struct buf *b = &c->u2c;

	while (c->u2c_ready < b->len && !c->resp.done) {
		char *at = b->data + b->off + c->u2c_ready;
		size_t n = b->len - c->u2c_ready, was = c->u2c_ready;
		long k;

		if (c->resp_head) {
			if (!response_head(c, at, n))
				return false;
			if (c->u2c_ready == was)
				return true; /* not complete yet */
			continue;
		}
		k = body_take(&c->resp, at, n);
		if (k < 0) {
			conn_close(c); /* the client sees the body cut short */
			return false;
		}
		c->u2c_ready += (size_t)k;
	}
	if (c->resp.done && !c->resp_head)
		b->len = c->u2c_ready;
	return true;
}

/* Reads from fd into b, then passes it straight on rather than via another epoll round. */
static bool relay_from(struct conn *c, int fd, struct buf *b, bool *eof,
		       bool (*pass_on)(struct conn *c))
{
	size_t before = b->len;

	if (!pull(c->p, fd, b, b == &c->u2c ? u2c_cap(c) : BUF_SIZE, eof))
		return false;
	if (c->form == CELL_HTTP_ABSOLUTE && b == &c->c2u) {
		/* a forwarded request's body ends where its framing says: the rest is the next
		 * request's */
		size_t n = b->len - before;
		char *fresh = n ? b->data + b->off + before : NULL;
		long k = n ? body_take(&c->req, fresh, n) : 0;

		if (k < 0 || (n && keep_pending(c, fresh + k, n - (size_t)k) < 0))
			return false;
		b->len = before + (size_t)k;
		buf_drop(c->p, b);
	} else if (c->form == CELL_HTTP_ABSOLUTE) {
		if (!scan_response(c))
			return true; /* closed, or answered */
	}
	moved(c, (ssize_t)(b->len - before));
	return pass_on(c);
}

/* After bytes moved either way: pass on ends of file, then watch what is next (unless that
 * closed the connection, answered, or went on to the next request). */
static void after_relay(struct conn *c)
{
	if (c->dead || c->state != RELAY)
		return;
	half_close(c);
	if (!c->dead && c->state == RELAY)
		watch(c);
}

/* What is left after the client's reads and hang-ups in ANSWERING: drain, then close. */
static void answering_event(struct conn *c, uint32_t events)
{
	char sink[4096];
	ssize_t n = -1;

	/*
	 * Closing with unread bytes would reset the connection and could destroy the answer at
	 * the client: half-close once it is out, then read until the client closes (the
	 * deadline bounds it).
	 */
	if (c->u2c.len == 0 && !c->client_shut)
		c->client_shut = shutdown(c->client.fd, SHUT_WR) == 0;
	c->c2u.len = 0; /* nothing more goes upstream */
	buf_drop(c->p, &c->c2u);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		n = read(c->client.fd, sink, sizeof(sink));
	if (n == 0 ||
	    (n < 0 && (events & (EPOLLHUP | EPOLLERR)) && errno != EAGAIN && errno != EINTR))
		conn_close(c);
	else
		watch(c);
}

static void client_event(struct cell_event_source *s, uint32_t events)
{
	struct conn *c = container_of(s, struct conn, client);
	bool forwarding = c->form == CELL_HTTP_ABSOLUTE;

	if (c->dead)
		return;
	if (c->state == HEAD && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		read_head(c);
		return;
	}
	/*
	 * epoll reports these whatever we watch: a client gone mid-lookup or mid-connect, reset
	 * while relaying, hung up after its end of file with nothing left for it, or gone while
	 * its request waits for the response
	 */
	if (((c->state == RESOLVING || c->state == CONNECTING || c->state == UPSTREAM) &&
	     (events & (EPOLLHUP | EPOLLERR))) ||
	    (c->state == RELAY && (events & EPOLLERR)) ||
	    (c->state == RELAY && (events & EPOLLHUP) &&
	     ((c->client_eof && c->u2c.len == 0) || (forwarding && c->req.done)))) {
		conn_close(c);
		return;
	}
	if ((events & EPOLLOUT) && !to_client(c)) {
		conn_close(c);
		return;
	}
	if (c->state == ANSWERING) {
		answering_event(c, events);
		return;
	}
	if (c->state != RELAY) {
		watch(c);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->client_eof &&
	    (!forwarding || !c->req.done) &&
	    !relay_from(c, c->client.fd, &c->c2u, &c->client_eof, to_upstream)) {
		conn_close(c);
		return;
	}
	after_relay(c);
}

static void upstream_event(struct cell_event_source *s, uint32_t events)
{
	struct conn *c = container_of(s, struct conn, upstream);

	if (c->dead)
		return;
	if (c->state == CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->upstream.fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			cell_event_close(&c->upstream);
			if (c->addrs && c->next_addr < c->addrs->n) {
				try_connect(c);
				return;
			}
			if (c->via)
				fail(c, 502,
				     "cell: the upstream proxy %s:%u refused the connection: %s",
				     c->p->o.upstream->host, c->p->o.upstream->port, strerror(err));
			else
				fail(c, 502, "cell: %s:%u refused the connection: %s", c->host,
				     c->port, strerror(err));
			return;
		}
		established(c);
		return;
	}
	if (c->state == UPSTREAM) {
		upstream_answer(c);
		return;
	}
	if (c->state != RELAY)
		return;
	/* reset, or (a tunnel) hung up after its end of file with nothing left for the client:
	 * epoll would report it on every round from now on */
	if ((events & EPOLLERR) || ((events & EPOLLHUP) && c->form == CELL_HTTP_CONNECT &&
				    c->upstream_eof && c->u2c.len == 0)) {
		conn_close(c);
		return;
	}
	if ((events & EPOLLOUT) && !to_upstream(c)) {
		conn_close(c);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP)) && !c->upstream_eof &&
	    !relay_from(c, c->upstream.fd, &c->u2c, &c->upstream_eof, to_client)) {
		conn_close(c);
		return;
	}
	after_relay(c);
}

static void on_resolved(const struct cell_resolved *res, void *data)
{
	struct cell_proxy *p = data;
	struct conn *c;

	for (c = p->conns; c; c = c->next)
		if (c->id == res->id && !c->dead && c->state == RESOLVING)
			break;
	if (!c)
		return;
	/* through the upstream proxy: a name we cannot look up is the upstream's to find */
	if (c->via && !c->via_checked && (res->gai_error || res->n == 0)) {
		via_connect(c);
		return;
	}
	if (res->gai_error || res->n == 0) {
		fail(c, 502, "cell: DNS lookup of %s failed: %s",
		     c->via ? c->p->o.upstream->host : c->host,
		     res->gai_error ? gai_strerror(res->gai_error) : "no address");
		return;
	}
	free(c->addrs);
	c->addrs = malloc(sizeof(*c->addrs));
	if (c->addrs)
		*c->addrs = *res;
	c->next_addr = 0;
	if (c->via && !c->via_checked) {
		if (via_allowed(c))
			via_connect(c);
		return;
	}
	try_connect(c);
}

static void resolved_event(struct cell_event_source *s, uint32_t events)
{
	struct cell_proxy *p = container_of(s, struct cell_proxy, resolved);

	(void)events;
	cell_resolver_drain(p->resolver, on_resolved, p);
}

/*
 * Whether an accepted connection comes from the cell (o.peer_cgroup): its peer's socket, as the
 * kernel's socket diagnostics tell, is of the cell's cgroup. Anything it cannot tell is not.
 */
static bool from_the_cell(struct cell_proxy *p, int fd)
{
	uint64_t cg = 0;
	int r;

	if (!p->o.peer_cgroup)
		return true;
	r = p->peers ? cell_peer_cgroup(p->peers, fd, &cg) : -ENOTSUP;
	if (r >= 0 && cg == p->o.peer_cgroup)
		return true;
	if (!p->peer_refused) {
		fprintf(stderr, "cell: refused a connection from outside the cell (%s)\n",
			r < 0 ? strerror(-r) : "another cgroup");
		p->peer_refused = true;
	}
	return false;
}

static void listener_event(struct cell_event_source *s, uint32_t events)
{
	struct cell_proxy *p = container_of(s, struct cell_proxy, listener);

	(void)events;
	for (;;) {
		int fd = accept4(p->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			/* out of descriptors: the listener would stay readable and spin the loop;
			 * it is watched again when a connection closes */
			if (errno == EMFILE || errno == ENFILE) {
				cell_event_unwatch(p->loop, &p->listener);
				p->accept_paused = true;
			}
			return;
		}
		if (!from_the_cell(p, fd)) {
			static const char body[] =
				"cell: this proxy serves only its own cell's processes\n";
			char refused[256];
			int n = snprintf(refused, sizeof(refused),
					 "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
					 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
					 sizeof(body) - 1, body);

			(void)!send(fd, refused, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		if (p->n_conns + p->n_pumps >= p->o.max_conns) {
			static const char busy[] =
				"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
				"Connection: close\r\n\r\n";

			(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		no_delay(fd);
		c = conn_new(p, fd);
		if (c && p->o.learn != CELL_LEARN_OFF) {
			char exe[PATH_MAX];

			if (cell_sock_owner(fd, c->comm, sizeof(c->comm), exe, sizeof(exe)) >= 0)
				c->exe = exe[0] ? strdup(exe) : NULL;
			else
				c->comm[0] = '\0';
		}
		/* on loopback the request is often there already: no epoll round to wait for it */
		if (c)
			read_head(c);
	}
}

/* The upstream of a relayed connection: 127.0.0.1:to_port here, or in the cell's namespace. */
static int relay_upstream(const struct relay_listener *rl, int *ret_fd)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(rl->r.to_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd, r;

	if (rl->r.into_cell) {
		if (rl->p->o.cell_net_fd < 0)
			return -ENOTCONN;
		/* the cell's init connects it (a connection of the cell's own, to the kernel); one
		 * it answers it could not make (nothing listens there yet) fails alone */
		r = cell_netns_connect(rl->p->o.cell_net_fd, rl->r.to_port, &fd);
		if (r > 0)
			return -r;
		/* an init that does not answer in time (the cell stopped it) answers no more: the
		 * pair is closed, forwards fail from now on, and nothing waits again */
		if (r < 0) {
			close(rl->p->o.cell_net_fd);
			rl->p->o.cell_net_fd = -1;
			fprintf(stderr,
				"cell: the cell's init did not make a socket for a forwarded port "
				"(%s): network.forward is off for the rest of the cell\n",
				strerror(-r));
			return r;
		}
	} else {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return negative_errno();
	}
	no_delay(fd);
	if (!rl->r.into_cell && connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 &&
	    errno != EINPROGRESS) {
		r = negative_errno();
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* How many connections relayed ports may have at once. */
static size_t relay_max(const struct cell_proxy *p)
{
	return p->o.max_conns / 4 ? p->o.max_conns / 4 : 1;
}

/* A connection to a relayed port: joined to its upstream as a tunnel is, with no HTTP. */
static void relay_event(struct cell_event_source *s, uint32_t events)
{
	struct relay_listener *rl = container_of(s, struct relay_listener, src);
	struct cell_proxy *p = rl->p;

	(void)events;
	for (;;) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), up = -1, r;
		struct cell_host_stats *h;
		struct conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				cell_event_unwatch(p->loop, s);
				p->accept_paused = true;
			}
			return;
		}
		/* a forwarded port is on the host's loopback, where any user may connect: those
		 * connections have a quarter of the proxy's, never the cell's own traffic's */
		c = p->n_conns < p->o.max_conns && p->n_relayed < relay_max(p)
			    ? calloc(1, sizeof(*c))
			    : NULL;
		r = c ? relay_upstream(rl, &up) : -EBUSY;
		if (r >= 0)
			r = cell_stats_host(&p->stats, rl->r.name, &h);
		if (r < 0) {
			if (up >= 0)
				close(up);
			free(c);
			close(fd);
			continue;
		}
		no_delay(fd);
		c->p = p;
		c->id = ++p->next_id;
		c->client = (struct cell_event_source){.fd = fd, .on_event = client_event};
		c->upstream = (struct cell_event_source){.fd = up, .on_event = upstream_event};
		/* a tunnel whose client needs no answer: a failure resets it */
		c->form = CELL_HTTP_CONNECT;
		c->early = true;
		snprintf(c->host, sizeof(c->host), "%s", rl->r.name);
		c->port = rl->r.to_port;
		snprintf(c->method, sizeof(c->method), "RELAY");
		c->stats = (size_t)(h - p->stats.hosts);
		c->state = CONNECTING;
		c->deadline = cell_event_now(p->loop) + p->o.connect_timeout_ms;
		log_start(c);
		c->next = p->conns;
		p->conns = c;
		p->n_conns++;
		p->n_relayed++;
		c->relayed = true;
		watch(c);
	}
}

/*
 * Counting starts again from zero, with entries only for the hosts of open connections (so that
 * names tried once do not pile up). Connections point at their host's entry by index: the new
 * table replaces the old only once it holds every one of them; if it cannot, the old one is
 * zeroed where it stands.
 */
static void restart_stats(struct cell_proxy *p)
{
	struct cell_stats fresh = {0};
	struct cell_host_stats *h;
	int r = 0;

	for (struct conn *c = p->conns; c && r >= 0; c = c->next)
		if (!c->dead && c->host[0])
			r = cell_stats_host(&fresh, c->host, &h);
	if (r < 0) {
		cell_stats_done(&fresh);
		for (size_t i = 0; i < p->stats.n_hosts; i++)
			p->stats.hosts[i] =
				(struct cell_host_stats){.host = p->stats.hosts[i].host};
		return;
	}
	cell_stats_done(&p->stats);
	p->stats = fresh;
	p->n_refused_hosts = 0;
	/* every host is in the table now: these lookups find, never add */
	for (struct conn *c = p->conns; c; c = c->next)
		if (!c->dead && c->host[0] && cell_stats_host(&p->stats, c->host, &h) >= 0)
			c->stats = (size_t)(h - p->stats.hosts);
}

/*
 * The counters since the last flush become one ledger record, then start again from zero. The
 * record goes to the ledger's writer thread: the relay never waits for the ledger's lock or
 * the disk.
 */
static void flush(struct cell_proxy *p)
{
	_cleanup_free_ char *line = NULL;
	int64_t now = (int64_t)time(NULL);

	p->last_flush = cell_event_now(p->loop);
	if (!p->ledger || !cell_stats_counted(&p->stats)) {
		p->flush_start = now;
		return;
	}
	if (p->budget)
		(void)cell_budget_meter_refresh(p->budget, cell_netpolicy_budget(p->project.policy),
						now);
	if (cell_stats_record_by(&p->stats, "proxy", p->project.id, p->project.name, p->flush_start,
				 now, p->writer, &line) < 0 ||
	    cell_ledger_writer_add(p->ledger, line) < 0)
		return; /* kept, and tried again at the next flush */
	(void)cell_stats_add(&p->flushed, &p->stats);
	restart_stats(p);
	p->flush_start = now;
}

/*
 * For cell top: what this proxy counted since it started, and its open connections, in a file
 * of the project's live/ directory (written whole, renamed into place) once a second when they
 * changed.
 */
static void write_live(struct cell_proxy *p, long now)
{
	_cleanup_free_ char *line = NULL, *doc = NULL;
	struct cell_stats all = {0};
	uint64_t sum = p->n_conns;

	if (!p->live_path || now - p->last_live < 1000)
		return;
	p->last_live = now;
	for (size_t i = 0; i < p->stats.n_hosts; i++)
		sum += p->stats.hosts[i].bytes_up + p->stats.hosts[i].bytes_down +
		       p->stats.hosts[i].requests + p->stats.hosts[i].tunnels +
		       p->stats.hosts[i].denied;
	sum += p->flush_start;
	if (sum == p->live_sum)
		return;
	p->live_sum = sum;
	if (cell_stats_add(&all, &p->flushed) >= 0 && cell_stats_add(&all, &p->stats) >= 0 &&
	    cell_stats_record_by(&all, "live", p->project.id, p->project.name, p->started,
				 (int64_t)time(NULL), p->writer, &line) >= 0 &&
	    asprintf(&doc, "{\"pid\":%d,\"conns\":%zu,\"record\":%s}\n", (int)getpid(), p->n_conns,
		     line) >= 0)
		(void)cell_write_file_atomic(p->live_path, doc, strlen(doc), 0600, false);
	cell_stats_done(&all);
}

static void tick(void *data)
{
	struct cell_proxy *p = data;
	long now = cell_event_now(p->loop);

	for (struct conn **pc = &p->conns; *pc;) {
		struct conn *c = *pc;

		if (!c->dead && now > c->deadline) {
			if (c->state == HEAD && c->served && c->c2u.len == 0)
				conn_close(c); /* a kept-alive connection, idle */
			else if (c->state == HEAD)
				answer(c, 408, "Request Timeout",
				       "cell: the request head took too long\n");
			else if (c->state == RESOLVING || c->state == CONNECTING ||
				 c->state == UPSTREAM)
				fail(c, 504, "cell: %s:%u did not answer in time", c->host,
				     c->port);
			else
				conn_close(c);
		}
		if (c->dead) {
			*pc = c->next;
			conn_free(c);
			continue;
		}
		pc = &c->next;
	}
	p->n_pumps = cell_tlspump_collect(&p->pumps, now);
	if (now - p->last_flush >= p->o.flush_ms)
		flush(p);
	write_live(p, now);
}

static void watch_event(struct cell_event_source *s, uint32_t events)
{
	struct cell_proxy *p = container_of(s, struct cell_proxy, watcher);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	(void)events;
	while ((n = read(s->fd, buf, sizeof(buf))) > 0)
		for (char *e = buf; e < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)e;

			if (ev->wd == p->trust_wd ||
			    (ev->len && streq(ev->name, p->project.watch_file)))
				changed = true;
			e += sizeof(*ev) + ev->len;
		}
	if (changed && p->project.reload)
		p->project.reload(p->project.reload_data, &p->project.policy);
}

static void signal_event(struct cell_event_source *s, uint32_t events)
{
	struct cell_proxy *p = container_of(s, struct cell_proxy, signals);
	struct signalfd_siginfo si;

	(void)events;
	if (read(s->fd, &si, sizeof(si)) == sizeof(si))
		cell_event_loop_quit(p->loop);
}

int cell_proxy_new(const struct cell_proxy_project *project, const struct cell_proxy_options *o,
		   int listen_fd, struct cell_proxy **ret)
{
	struct cell_proxy *p = calloc(1, sizeof(*p));
	sigset_t mask;
	int r;

	if (!p)
		return -ENOMEM;
	p->project = *project;
	p->o = (struct cell_proxy_options){.max_head = 16 * 1024,
					   .head_timeout_ms = 10000,
					   .connect_timeout_ms = 10000,
					   .idle_timeout_ms = 300000,
					   .max_conns = 4096,
					   .flush_ms = 10000,
					   .log_max = 10 * 1024 * 1024};
	if (o) {
		if (o->max_head)
			p->o.max_head = o->max_head < BUF_SIZE ? o->max_head : BUF_SIZE;
		if (o->head_timeout_ms)
			p->o.head_timeout_ms = o->head_timeout_ms;
		if (o->connect_timeout_ms)
			p->o.connect_timeout_ms = o->connect_timeout_ms;
		if (o->idle_timeout_ms)
			p->o.idle_timeout_ms = o->idle_timeout_ms;
		if (o->max_conns)
			p->o.max_conns = o->max_conns;
		if (o->flush_ms)
			p->o.flush_ms = o->flush_ms;
		if (o->log_max)
			p->o.log_max = o->log_max;
		p->o.peer_cgroup = o->peer_cgroup;
		p->o.cell_net_fd = o->cell_net_fd;
		p->o.upstream = o->upstream;
		p->o.tls_dir = o->tls_dir;
		p->o.secrets = o->secrets;
		p->o.learn = o->learn;
		p->o.secrets_error = o->secrets_error;
	}
	{
		/* two descriptors a connection, and a few for ourselves */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur > 64 && p->o.max_conns > (rl.rlim_cur - 32) / 2)
			p->o.max_conns = (rl.rlim_cur - 32) / 2;
	}
	p->notices_fd = -1;
	if (project->notices) {
		p->notices_fd =
			open(project->notices, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
		if (p->notices_fd < 0) {
			r = -errno;
			free(p);
			return r;
		}
	}
	p->listener = (struct cell_event_source){.fd = listen_fd, .on_event = listener_event};
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	p->signals = (struct cell_event_source){
		.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK), .on_event = signal_event};
	r = p->signals.fd < 0 ? negative_errno() : cell_event_loop_new(&p->loop);
	if (r >= 0 && project->log)
		r = cell_reqlog_open(project->log, p->o.log_max, &p->log);
	if (r >= 0 && project->ledger)
		r = cell_ledger_writer_new(project->ledger, p->o.flush_ms, FINISH_MS, &p->ledger);
	if (r >= 0 && project->ledger) {
		uint64_t id = 0;

		/* (records of this proxy are counted live, not again from the ledger) */
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
		snprintf(p->writer, sizeof(p->writer), "proxy-%016llx", (unsigned long long)id);
		r = cell_budget_meter_new(project->ledger, p->writer, &p->budget);
	}
	if (r >= 0 && p->budget)
		(void)cell_budget_meter_refresh(p->budget, cell_netpolicy_budget(project->policy),
						(int64_t)time(NULL));
	if (r >= 0 && p->o.peer_cgroup)
		r = cell_peer_new(&p->peers);
	if (r >= 0)
		r = cell_resolver_new(2, 32, &p->resolver);
	if (r >= 0) {
		p->resolved = (struct cell_event_source){.fd = cell_resolver_fd(p->resolver),
							 .on_event = resolved_event};
		r = cell_event_watch(p->loop, &p->listener, EPOLLIN);
	}
	if (r >= 0)
		r = cell_event_watch(p->loop, &p->resolved, EPOLLIN);
	if (r >= 0)
		r = cell_event_watch(p->loop, &p->signals, EPOLLIN);
	if (r >= 0 && o && o->n_relays) {
		/* the cell's init answers at once; one that does not (stopped by the cell) must not
		 * stop the proxy: a connection then fails, and the next asks again */
		struct timeval limit = {.tv_sec = 1};

		p->relays = calloc(o->n_relays, sizeof(*p->relays));
		r = p->relays ? 0 : -ENOMEM;
		if (r >= 0 && o->cell_net_fd > 2 &&
		    (setsockopt(o->cell_net_fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) <
			     0 ||
		     setsockopt(o->cell_net_fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)) <
			     0))
			r = negative_errno();
	}
	for (size_t i = 0; r >= 0 && o && i < o->n_relays; i++) {
		p->relays[i] = (struct relay_listener){
			.src = {.fd = o->relays[i].listen_fd, .on_event = relay_event},
			.p = p,
			.r = o->relays[i]};
		p->n_relays++;
		r = cell_event_watch(p->loop, &p->relays[i].src, EPOLLIN);
	}
	p->watcher.fd = -1;
	p->trust_wd = -1;
	if (r >= 0 && project->watch_dir) {
		p->watcher = (struct cell_event_source){
			.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), .on_event = watch_event};
		if (p->watcher.fd < 0 ||
		    inotify_add_watch(p->watcher.fd, project->watch_dir,
				      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0)
			r = negative_errno();
		else
			r = cell_event_watch(p->loop, &p->watcher, EPOLLIN);
		/* `cell allow` after an edit changes only the trust records */
		if (r >= 0 && project->trust_dir)
			p->trust_wd = inotify_add_watch(p->watcher.fd, project->trust_dir,
							IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE |
								IN_MOVED_FROM);
	}
	if (r < 0) {
		cell_proxy_free(p);
		return r;
	}
	p->last_flush = cell_event_now(p->loop);
	p->flush_start = p->started = (int64_t)time(NULL);
	/* (cell top's: next to the ledger; none for a proxy that keeps no ledger) */
	if (project->ledger && strrchr(project->ledger, '/')) {
		int len = (int)(strrchr(project->ledger, '/') - project->ledger);

		if (asprintf(&p->live_path, "%.*s/live/%d.json", len, project->ledger,
			     (int)getpid()) < 0)
			p->live_path = NULL;
		else if (cell_mkdir_parent(p->live_path, 0700) < 0) {
			free(p->live_path);
			p->live_path = NULL;
		}
	}
	*ret = p;
	return 0;
}

int cell_proxy_run(struct cell_proxy *p)
{
	int r = cell_event_loop_run(p->loop, 250, tick, p);
	size_t lost;

	/* stop accepting, count what was done, close everything */
	cell_event_unwatch(p->loop, &p->listener);
	for (size_t i = 0; i < p->n_relays; i++)
		cell_event_unwatch(p->loop, &p->relays[i].src);
	for (struct conn *c = p->conns; c; c = c->next)
		conn_close(c);
	flush(p);
	lost = cell_ledger_writer_free(TAKE_PTR(p->ledger));
	if (lost > 0)
		fprintf(stderr, "cell: %zu of the proxy's records could not be written to '%s'\n",
			lost, p->project.ledger);
	return r;
}

void cell_proxy_free(struct cell_proxy *p)
{
	if (!p)
		return;
	while (p->conns) {
		struct conn *c = p->conns;

		p->conns = c->next;
		conn_close(c);
		conn_free(c);
	}
	cell_tlspump_free_all(&p->pumps);
	cell_tls_free(p->tls);
	if (p->notices_fd >= 0)
		close(p->notices_fd);
	cell_resolver_free(p->resolver);
	cell_fakeaddr_free(p->fakes);
	cell_event_loop_free(p->loop);
	if (p->signals.fd >= 0)
		close(p->signals.fd);
	if (p->watcher.fd >= 0)
		close(p->watcher.fd);
	cell_stats_done(&p->stats);
	cell_stats_done(&p->flushed);
	if (p->live_path)
		unlink(p->live_path);
	free(p->live_path);
	cell_reqlog_free(p->log);
	cell_ledger_writer_free(p->ledger);
	cell_budget_meter_free(p->budget);
	cell_peer_free(p->peers);
	free(p->relays);
	free(p->local);
	while (p->n_pool)
		munmap(p->pool[--p->n_pool], BUF_SIZE);
	free(p);
}

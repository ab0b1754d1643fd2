/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "macro.h"
#include "tls.h"
#include "tlspump.h"

/* what waits on either side at most (TLS bytes in the engine, clear bytes for the plain side) */
#define CAP (64 * 1024)
#define CHUNK (16 * 1024)
/* a pump that moves nothing this long ends: before its handshake is done, while both sides
 * are open (as a tunnel's idle timeout), and once its plain side has ended (what is left for
 * the peer, which may never read it) */
#define HANDSHAKE_MS 10000
#define IDLE_MS 300000
#define DRAIN_MS 5000

struct cell_tlspump {
	struct cell_tlspump *next;
	struct cell_event_loop *loop;
	struct cell_event_source net, plain;
	SSL *ssl;
	BIO *rbio, *wbio; /* the engine's input (we write it) and output (we read it) */
	bool handshaken;
	bool failed;	    /* TLS is over: the socket is closed, the plain side told or closed */
	bool dead;	    /* for cell_tlspump_collect */
	bool net_eof;	    /* the socket has nothing more to read */
	bool tls_eof;	    /* no more clear bytes will come from the peer */
	bool plain_eof;	    /* the plain side has said all it will */
	bool plain_closed;  /* ...and reads no more (a hang-up) */
	bool plain_wr_shut; /* we told the plain side we have no more */
	bool net_wr_shut;   /* close_notify sent and the socket's writing half shut */
	long deadline;	    /* on the loop's clock: past it, the pump ends */
	char host[256];
	size_t to_plain_len;
	size_t to_net_off, to_net_len;
	char to_plain[CAP];
	char to_net[CAP];
};

static void net_event(struct cell_event_source *s, uint32_t events);
static void plain_event(struct cell_event_source *s, uint32_t events);

static size_t net_pending(const struct cell_tlspump *t)
{
	return t->to_net_len + BIO_ctrl_pending(t->wbio);
}

/* A client pump that could not reach the host over TLS answers as the host would have. */
static void fail(struct cell_tlspump *t, bool client)
{
	const char *why = client ? cell_tls_failure(t->ssl) : NULL;

	t->failed = true;
	t->net_wr_shut = true;
	cell_event_close(&t->net);
	if (!client) {
		t->dead = true;
		cell_event_close(&t->plain);
		return;
	}
	if (!t->handshaken) {
		char body[512];
		int n = snprintf(body, sizeof(body),
				 "cell: the TLS connection to %s failed (the proxy verifies the "
				 "host's certificate against this machine's trust store): %s\n",
				 t->host, why);
		int k = snprintf(
			t->to_plain, CAP,
			"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; "
			"charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			n, body);

		t->to_plain_len = k > 0 && k < CAP ? (size_t)k : 0;
	}
	t->tls_eof = true;
}

/* The peer's TLS bytes into the engine, and the handshake on. */
static bool from_net(struct cell_tlspump *t, bool client)
{
	char chunk[CHUNK];
	bool progress = false;

	if (!t->failed && !t->net_eof && BIO_ctrl_pending(t->rbio) < CAP) {
		ssize_t n = read(t->net.fd, chunk, sizeof(chunk));

		if (n > 0) {
			BIO_write(t->rbio, chunk, (int)n);
			progress = true;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			t->net_eof = true;
			progress = true;
		}
	}
	if (!t->failed && !t->handshaken) {
		int k, e;

		ERR_clear_error();
		k = SSL_do_handshake(t->ssl);
		e = k == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, k);
		if (k == 1) {
			t->handshaken = true;
			progress = true;
		} else if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
			   (e == SSL_ERROR_WANT_READ && t->net_eof)) {
			fail(t, client);
			progress = true;
		}
	}
	return progress;
}

/* Clear bytes out of the engine and on to the plain side. */
static bool to_plain(struct cell_tlspump *t)
{
	bool progress = false;

	while (t->handshaken && !t->failed && !t->tls_eof && t->to_plain_len < CAP) {
		int k, e;

		ERR_clear_error();
		k = SSL_read(t->ssl, t->to_plain + t->to_plain_len, (int)(CAP - t->to_plain_len));
		if (k > 0) {
			t->to_plain_len += (size_t)k;
			progress = true;
			continue;
		}
		e = SSL_get_error(t->ssl, k);
		if ((e == SSL_ERROR_WANT_READ && !t->net_eof) || e == SSL_ERROR_WANT_WRITE)
			break;
		/* close_notify, or the end of the socket, or a TLS error: no more from the peer */
		t->tls_eof = true;
		progress = true;
	}
	if (t->to_plain_len > 0 && !t->plain_wr_shut) {
		ssize_t n = send(t->plain.fd, t->to_plain, t->to_plain_len, MSG_NOSIGNAL);

		if (n > 0) {
			memmove(t->to_plain, t->to_plain + n, t->to_plain_len - (size_t)n);
			t->to_plain_len -= (size_t)n;
			progress = true;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			t->plain_closed = t->plain_eof = true;
			progress = true;
		}
	}
	if (t->plain_closed)
		t->to_plain_len = 0;
	if ((t->tls_eof || t->plain_closed) && t->to_plain_len == 0 && !t->plain_wr_shut) {
		if (!t->plain_closed)
			(void)shutdown(t->plain.fd, SHUT_WR);
		t->plain_wr_shut = true;
		progress = true;
	}
	return progress;
}

/* The plain side's bytes into the engine, and the engine's TLS bytes to the peer. */
static bool to_net(struct cell_tlspump *t)
{
	char chunk[CHUNK];
	bool progress = false;

	if ((t->handshaken || t->failed) && !t->plain_eof && (t->failed || net_pending(t) < CAP)) {
		ssize_t n = read(t->plain.fd, chunk, sizeof(chunk));

		if (n > 0 && !t->failed) {
			ERR_clear_error();
			/* (a memory BIO takes all: the write is whole) */
			if (SSL_write(t->ssl, chunk, (int)n) != (int)n)
				fail(t, false);
			progress = true;
		} else if (n > 0) {
			progress =
				true; /* (failed: what the plain side still sends goes nowhere) */
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			t->plain_eof = true;
			progress = true;
		}
	}
	if (t->failed)
		return progress;
	if (t->plain_eof && !t->net_wr_shut && t->handshaken) {
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl); /* close_notify, once */
	}
	while (t->to_net_len < CAP && BIO_ctrl_pending(t->wbio) > 0) {
		int k;

		if (t->to_net_off > 0) {
			memmove(t->to_net, t->to_net + t->to_net_off, t->to_net_len);
			t->to_net_off = 0;
		}
		k = BIO_read(t->wbio, t->to_net + t->to_net_len, (int)(CAP - t->to_net_len));
		if (k <= 0)
			break;
		t->to_net_len += (size_t)k;
	}
	if (t->to_net_len > 0) {
		ssize_t n = send(t->net.fd, t->to_net + t->to_net_off, t->to_net_len, MSG_NOSIGNAL);

		if (n > 0) {
			t->to_net_off += (size_t)n;
			t->to_net_len -= (size_t)n;
			if (t->to_net_len == 0)
				t->to_net_off = 0;
			progress = true;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			/* the peer is gone: nothing more to say to it, nor to hear */
			t->to_net_len = 0;
			t->net_eof = t->tls_eof = t->net_wr_shut = true;
			progress = true;
		}
	}
	if (t->plain_eof && !t->net_wr_shut && t->to_net_len == 0 &&
	    BIO_ctrl_pending(t->wbio) == 0) {
		(void)shutdown(t->net.fd, SHUT_WR);
		t->net_wr_shut = true;
		progress = true;
	}
	return progress;
}

static void watch(struct cell_tlspump *t)
{
	uint32_t net = 0, plain = 0;

	if (!t->failed && !t->net_eof && BIO_ctrl_pending(t->rbio) < CAP)
		net |= EPOLLIN;
	if (!t->failed && t->to_net_len > 0)
		net |= EPOLLOUT;
	if ((t->handshaken || t->failed) && !t->plain_eof && (t->failed || net_pending(t) < CAP))
		plain |= EPOLLIN | EPOLLRDHUP;
	if (t->to_plain_len > 0 && !t->plain_wr_shut)
		plain |= EPOLLOUT;
	/* a side with nothing to wait for is not watched at all: epoll reports a hang-up
	 * whatever it is asked, and level-triggered, a closed side would wake the loop for
	 * ever (the deadline ends a pump that waits too long) */
	if (t->net.fd >= 0)
		(void)(net ? cell_event_watch(t->loop, &t->net, net)
			   : cell_event_unwatch(t->loop, &t->net));
	if (t->plain.fd >= 0)
		(void)(plain ? cell_event_watch(t->loop, &t->plain, plain)
			     : cell_event_unwatch(t->loop, &t->plain));
}

static void run(struct cell_tlspump *t)
{
	bool client = !SSL_is_server(t->ssl);
	bool progress = true, moved = false;

	while (progress && !t->dead) {
		progress = from_net(t, client);
		progress |= to_plain(t);
		progress |= to_net(t);
		moved |= progress;
	}
	if (moved || !t->deadline)
		t->deadline = cell_event_now(t->loop) + (!t->handshaken && !t->failed ? HANDSHAKE_MS
							 : t->plain_eof		      ? DRAIN_MS
										      : IDLE_MS);
	/* both ways done: what we had is out, and the plain side has ended */
	if (!t->dead && t->plain_eof && t->net_wr_shut && t->plain_wr_shut) {
		t->dead = true;
		cell_event_close(&t->net);
		cell_event_close(&t->plain);
	}
	if (!t->dead)
		watch(t);
}

static void net_event(struct cell_event_source *s, uint32_t events)
{
	struct cell_tlspump *t = container_of(s, struct cell_tlspump, net);

	/* (a reset or a hang-up while we only write: the writes that follow fail and end it) */
	if ((events & (EPOLLHUP | EPOLLERR)) && !(t->net.events & EPOLLIN))
		t->net_eof = true;
	run(t);
}

static void plain_event(struct cell_event_source *s, uint32_t events)
{
	struct cell_tlspump *t = container_of(s, struct cell_tlspump, plain);

	/* the plain side closed (not only its writing half): it reads nothing more */
	if (events & (EPOLLHUP | EPOLLERR)) {
		t->plain_closed = true;
		t->plain_eof = true;
	}
	run(t);
}

int cell_tlspump_start(struct cell_event_loop *loop, struct cell_tlspump **list, SSL *ssl,
		       int net_fd, int plain_fd, const char *early, size_t n, const char *host)
{
	struct cell_tlspump *t = calloc(1, sizeof(*t));

	if (!t) {
		SSL_free(ssl);
		close(net_fd);
		close(plain_fd);
		return -ENOMEM;
	}
	t->loop = loop;
	t->ssl = ssl;
	t->net = (struct cell_event_source){.fd = net_fd, .on_event = net_event};
	t->plain = (struct cell_event_source){.fd = plain_fd, .on_event = plain_event};
	snprintf(t->host, sizeof(t->host), "%s", host);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	t->next = *list;
	*list = t;
	if (!t->rbio || !t->wbio) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		t->rbio = t->wbio = NULL;
		t->dead = true;
		cell_event_close(&t->net);
		cell_event_close(&t->plain);
		return -ENOMEM;
	}
	/* (an empty input reads as "more to come", not as the end) */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(ssl, t->rbio, t->wbio);
	if (n > 0)
		BIO_write(t->rbio, early, (int)n);
	run(t);
	return 0;
}

static void pump_free(struct cell_tlspump *t)
{
	cell_event_close(&t->net);
	cell_event_close(&t->plain);
	SSL_free(t->ssl); /* (and its BIOs) */
	free(t);
}

size_t cell_tlspump_collect(struct cell_tlspump **list, long now)
{
	size_t alive = 0;

	while (*list) {
		struct cell_tlspump *t = *list;

		if (t->dead || now > t->deadline) {
			*list = t->next;
			pump_free(t);
		} else {
			list = &t->next;
			alive++;
		}
	}
	return alive;
}

void cell_tlspump_free_all(struct cell_tlspump **list)
{
	while (*list) {
		struct cell_tlspump *t = *list;

		*list = t->next;
		pump_free(t);
	}
}

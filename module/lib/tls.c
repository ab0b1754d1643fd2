/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "tls.h"

#define LEAVES_MAX 64
#define LEAF_SECONDS (24 * 3600)
/* a leaf is made anew this long before it expires */
#define LEAF_MARGIN (3600)
#define CA_DAYS 3650

struct leaf {
	char host[256];
	SSL_CTX *ctx;
	time_t expires;
};

struct cell_tls {
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	EVP_PKEY *leaf_key;
	SSL_CTX *client;
	struct leaf leaves[LEAVES_MAX];
};

static void x509_freep(X509 **x)
{
	X509_free(*x);
}

static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}

static void bio_freep(BIO **b)
{
	BIO_free_all(*b);
}

/* A random positive 127-bit serial number. */
static int set_serial(X509 *x)
{
	unsigned char bytes[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return -EIO;
	bytes[0] &= 0x7f;
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	return ok ? 0 : -ENOMEM;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = e && X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -EINVAL;
}

/* A certificate for key, named cn, valid from an hour ago for seconds. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, long seconds)
{
	X509 *x = X509_new();

	/* (a CN holds 64 characters at most: a longer name is the SAN's alone) */
	if (!x || !X509_set_version(x, 2) || set_serial(x) < 0 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), seconds) || !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
					(const unsigned char *)cn,
					strlen(cn) > 64 ? 64 : (int)strlen(cn), -1, 0)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int make_ca(EVP_PKEY **ret_key, X509 **ret_cert)
{
	_cleanup_(pkey_freep) EVP_PKEY *key = EVP_EC_gen("P-256");
	_cleanup_(x509_freep) X509 *x = NULL;
	char cn[128], host[64] = "";

	(void)gethostname(host, sizeof(host) - 1);
	snprintf(cn, sizeof(cn), "cell inspection CA (uid %u on %s)", (unsigned)getuid(), host);
	x = key ? new_cert(key, cn, (long)CA_DAYS * 24 * 3600) : NULL;
	if (!x || !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(x, x, NID_subject_key_identifier, "hash") < 0 ||
	    !X509_sign(x, key, EVP_sha256()))
		return -EIO;
	*ret_key = TAKE_PTR(key);
	*ret_cert = TAKE_PTR(x);
	return 0;
}

static char *pem_of(int (*write)(BIO *, const void *), const void *obj)
{
	_cleanup_(bio_freep) BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *out;
	long n;

	if (!b || !write(b, obj))
		return NULL;
	n = BIO_get_mem_data(b, &data);
	out = n > 0 ? strndup(data, (size_t)n) : NULL;
	return out;
}

static int write_key(BIO *b, const void *key)
{
	return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)key, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(BIO *b, const void *x)
{
	return PEM_write_bio_X509(b, (X509 *)x);
}

/* The CA's key and certificate from dir, or -ENOENT. */
static int load_ca(const char *dir, EVP_PKEY **ret_key, X509 **ret_cert)
{
	_cleanup_free_ char *key_path = cell_path_join(dir, CELL_CA_KEY),
			    *cert_path = cell_path_join(dir, CELL_CA_CERT), *key_pem = NULL,
			    *cert_pem = NULL;
	_cleanup_(bio_freep) BIO *kb = NULL, *cb = NULL;
	EVP_PKEY *key;
	X509 *x;
	int r;

	if (!key_path || !cert_path)
		return -ENOMEM;
	/* (non-blocking: a FIFO in their place is refused, never waited on) */
	r = cell_read_file(key_path, O_NOFOLLOW | O_NONBLOCK, 64 * 1024, &key_pem, NULL);
	if (r >= 0)
		r = cell_read_file(cert_path, O_NOFOLLOW | O_NONBLOCK, 64 * 1024, &cert_pem, NULL);
	if (r < 0)
		return r;
	kb = BIO_new_mem_buf(key_pem, -1);
	cb = BIO_new_mem_buf(cert_pem, -1);
	if (!kb || !cb)
		return -ENOMEM;
	key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	if (!key || !x || X509_check_private_key(x, key) != 1) {
		EVP_PKEY_free(key);
		X509_free(x);
		return -EBADMSG;
	}
	*ret_key = key;
	*ret_cert = x;
	return 0;
}

/* Loads the CA from dir, making it first if it is not there (under dir's lock). */
static int ca_open(const char *dir, EVP_PKEY **ret_key, X509 **ret_cert)
{
	_cleanup_close_ int lock = -1;
	_cleanup_free_ char *key_path = NULL, *cert_path = NULL, *key_pem = NULL, *cert_pem = NULL;
	_cleanup_(pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_(x509_freep) X509 *x = NULL;
	int r;

	r = cell_mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (lock < 0)
		return -errno;
	while (flock(lock, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	r = load_ca(dir, ret_key, ret_cert);
	if (r != -ENOENT)
		return r;
	r = make_ca(&key, &x);
	if (r < 0)
		return r;
	key_path = cell_path_join(dir, CELL_CA_KEY);
	cert_path = cell_path_join(dir, CELL_CA_CERT);
	key_pem = pem_of(write_key, key);
	cert_pem = pem_of(write_cert, x);
	if (!key_path || !cert_path || !key_pem || !cert_pem)
		return -ENOMEM;
	/* the key first: a certificate without its key would be a CA no one can use */
	r = cell_write_file_atomic(key_path, key_pem, strlen(key_pem), 0600, true);
	if (r >= 0)
		r = cell_write_file_atomic(cert_path, cert_pem, strlen(cert_pem), 0644, true);
	OPENSSL_cleanse(key_pem, strlen(key_pem));
	if (r < 0)
		return r;
	*ret_key = TAKE_PTR(key);
	*ret_cert = TAKE_PTR(x);
	return 0;
}

int cell_tls_ca_ensure(const char *dir, char **ret_pem)
{
	_cleanup_(pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_(x509_freep) X509 *x = NULL;
	int r = ca_open(dir, &key, &x);

	if (r < 0)
		return r;
	*ret_pem = pem_of(write_cert, x);
	return *ret_pem ? 0 : -ENOMEM;
}

static int select_http1(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char http1[] = "\x08http/1.1";

	(void)ssl;
	(void)arg;
	/* HTTP/2 is not terminated (yet): a client that offers only h2 gets no ALPN at all */
	if (SSL_select_next_proto((unsigned char **)out, outlen, http1, sizeof(http1) - 1, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

int cell_tls_new(const char *dir, struct cell_tls **ret)
{
	static const unsigned char http1[] = "\x08http/1.1";
	struct cell_tls *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	r = ca_open(dir, &t->ca_key, &t->ca_cert);
	if (r >= 0) {
		t->leaf_key = EVP_EC_gen("P-256");
		t->client = SSL_CTX_new(TLS_client_method());
		if (!t->leaf_key || !t->client)
			r = -ENOMEM;
	}
	if (r >= 0) {
		SSL_CTX_set_min_proto_version(t->client, TLS1_2_VERSION);
		SSL_CTX_set_verify(t->client, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_set_default_verify_paths(t->client) != 1 ||
		    SSL_CTX_set_alpn_protos(t->client, http1, sizeof(http1) - 1) != 0)
			r = -EIO;
	}
	if (r < 0) {
		cell_tls_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void cell_tls_free(struct cell_tls *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < LEAVES_MAX; i++)
		SSL_CTX_free(t->leaves[i].ctx);
	SSL_CTX_free(t->client);
	EVP_PKEY_free(t->leaf_key);
	EVP_PKEY_free(t->ca_key);
	X509_free(t->ca_cert);
	free(t);
}

/* A server context with a new certificate for host, signed by the CA. */
static SSL_CTX *leaf_ctx(struct cell_tls *t, const char *host)
{
	_cleanup_(x509_freep) X509 *x = new_cert(t->leaf_key, host, LEAF_SECONDS);
	char san[300];
	SSL_CTX *ctx;

	snprintf(san, sizeof(san), "DNS:%s", host);
	if (!x || !X509_set_issuer_name(x, X509_get_subject_name(t->ca_cert)) ||
	    add_ext(x, t->ca_cert, NID_subject_alt_name, san) < 0 ||
	    add_ext(x, t->ca_cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, t->ca_cert, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, t->ca_cert, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, t->ca_cert, NID_authority_key_identifier, "keyid:always") < 0 ||
	    !X509_sign(x, t->ca_key, EVP_sha256()))
		return NULL;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_alpn_select_cb(ctx, select_http1, NULL);
	if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, t->leaf_key) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL *cell_tls_accept(struct cell_tls *t, const char *host)
{
	time_t now = time(NULL);
	struct leaf *slot = &t->leaves[0];
	SSL *ssl;

	if (strlen(host) >= sizeof(slot->host))
		return NULL;
	for (size_t i = 0; i < LEAVES_MAX; i++) {
		struct leaf *l = &t->leaves[i];

		if (l->ctx && streq(l->host, host) && l->expires - LEAF_MARGIN > now) {
			slot = l;
			goto have;
		}
		/* else the oldest slot (an empty one is oldest) */
		if (l->expires < slot->expires)
			slot = l;
	}
	SSL_CTX_free(slot->ctx);
	*slot = (struct leaf){.ctx = leaf_ctx(t, host), .expires = now + LEAF_SECONDS};
	if (!slot->ctx)
		return NULL;
	snprintf(slot->host, sizeof(slot->host), "%s", host);
have:
	ssl = SSL_new(slot->ctx);
	if (ssl)
		SSL_set_accept_state(ssl);
	return ssl;
}

SSL *cell_tls_connect(struct cell_tls *t, const char *host)
{
	SSL *ssl = SSL_new(t->client);

	if (!ssl)
		return NULL;
	if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

const char *cell_tls_failure(SSL *ssl)
{
	long v = SSL_get_verify_result(ssl);
	unsigned long e;

	if (v != X509_V_OK)
		return X509_verify_cert_error_string(v);
	e = ERR_peek_last_error();
	return e ? ERR_reason_error_string(e) : "the TLS handshake failed";
}

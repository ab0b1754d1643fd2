/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"
#include "tls.h"

/* The CA is made once (its key 0600 in a 0700 directory), then loaded as it is. */
Test(tls, the_ca_is_made_on_first_use_and_kept)
{
	char *tmp = th_mkdtemp(), *dir = th_join(tmp, "ca"), *key = th_join(dir, CELL_CA_KEY);
	char *first = NULL, *again = NULL;
	struct cell_tls *t = NULL;
	struct stat st;

	cr_assert(eq(int, cell_tls_ca_ensure(dir, &first), 0));
	cr_assert(eq(int, strncmp(first, "-----BEGIN CERTIFICATE-----", 27), 0));
	cr_assert(eq(int, stat(key, &st), 0));
	cr_assert(eq(int, (int)(st.st_mode & 0777), 0600));
	cr_assert(eq(int, stat(dir, &st), 0));
	cr_assert(eq(int, (int)(st.st_mode & 0777), 0700));
	cr_assert(eq(int, cell_tls_ca_ensure(dir, &again), 0));
	cr_assert(eq(str, first, again));
	/* the proxy's side loads the same CA and makes certificates for hosts with it */
	cr_assert(eq(int, cell_tls_new(dir, &t), 0));
	{
		SSL *a = cell_tls_accept(t, "api.example.test"),
		    *b = cell_tls_accept(t, "api.example.test");

		cr_assert(not(eq(ptr, a, NULL)));
		cr_assert(not(eq(ptr, b, NULL)));
		/* (the second from the cache: the same certificate) */
		cr_assert(eq(ptr, (void *)SSL_get_certificate(a), (void *)SSL_get_certificate(b)));
		SSL_free(a);
		SSL_free(b);
	}
	cell_tls_free(t);
	free(first);
	free(again);
	th_rm_rf(tmp);
	free(tmp);
	free(dir);
	free(key);
}

/* A CA file that is not one is an error, not replaced. */
Test(tls, a_damaged_ca_is_refused)
{
	char *tmp = th_mkdtemp(), *dir = th_join(tmp, "ca"), *pem = NULL;

	free(th_write(dir, CELL_CA_KEY, "not a key\n"));
	free(th_write(dir, CELL_CA_CERT, "not a certificate\n"));
	cr_assert(lt(int, cell_tls_ca_ensure(dir, &pem), 0));
	th_rm_rf(tmp);
	free(tmp);
	free(dir);
}

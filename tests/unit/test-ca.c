/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ca.h"
#include "helpers.h"

#define PROXY CELL_TEST_BUILD "/cell-proxy"

/* The CA of a data directory of the test's own (XDG_DATA_HOME). */
static char *ca_dir_in(const char *tmp)
{
	char *data = th_join(tmp, "data"), *dir = NULL;

	cr_assert(eq(int, setenv("XDG_DATA_HOME", data, 1), 0));
	cr_assert(eq(int, cell_ca_dir(&dir), 0));
	{
		char *want = th_join(data, "cell/ca");

		cr_assert(eq(str, dir, want));
		free(want);
	}
	free(data);
	return dir;
}

/* No CA yet: cell-proxy (the real one) makes it and prints its certificate; then it is read. */
Test(ca, the_proxy_makes_it_on_first_use_then_it_is_read)
{
	char *tmp = th_mkdtemp(), *dir = ca_dir_in(tmp), *first = NULL, *again = NULL;
	char *key = th_join(dir, CELL_CA_KEY), *cert = th_join(dir, CELL_CA_CERT);
	struct stat st;

	cr_assert(eq(int, cell_ca_certificate(dir, PROXY, &first), 0));
	cr_assert(eq(int, strncmp(first, "-----BEGIN CERTIFICATE-----\n", 28), 0));
	cr_assert(eq(int, stat(key, &st), 0));
	cr_assert(eq(int, (int)(st.st_mode & 0777), 0600));
	/* (no program: what is there is read) */
	cr_assert(eq(int, cell_ca_certificate(dir, NULL, &again), 0));
	cr_assert(eq(str, first, again));
	{
		char *file = th_read(cert);

		cr_assert(eq(str, again, file));
		free(file);
	}
	th_rm_rf(tmp);
	free(tmp);
	free(dir);
	free(key);
	free(cert);
	free(first);
	free(again);
}

/* Nothing there and no program to make it: said, not made up. */
Test(ca, without_a_certificate_or_the_proxy_there_is_none)
{
	char *tmp = th_mkdtemp(), *dir = ca_dir_in(tmp), *pem = NULL;

	cr_assert(eq(int, cell_ca_certificate(dir, NULL, &pem), -ENOENT));
	cr_assert(eq(ptr, pem, NULL));
	th_rm_rf(tmp);
	free(tmp);
	free(dir);
}

/* What is not a certificate alone never goes into a cell's trust bundle: a key beside it, or
 * something else in its place. */
Test(ca, a_file_that_is_not_a_certificate_alone_is_refused)
{
	char *tmp = th_mkdtemp(), *dir = ca_dir_in(tmp), *pem = NULL;

	free(th_write(dir, CELL_CA_CERT,
		      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		      "-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n"));
	cr_assert(eq(int, cell_ca_certificate(dir, PROXY, &pem), -EBADMSG));
	free(th_write(dir, CELL_CA_CERT, "hello\n"));
	cr_assert(eq(int, cell_ca_certificate(dir, PROXY, &pem), -EBADMSG));
	/* a second block, or text after the one, or a key in another form within it */
	free(th_write(dir, CELL_CA_CERT,
		      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		      "-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n"));
	cr_assert(eq(int, cell_ca_certificate(dir, PROXY, &pem), -EBADMSG));
	free(th_write(dir, CELL_CA_CERT,
		      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\nPRIVATE\n"));
	cr_assert(eq(int, cell_ca_certificate(dir, PROXY, &pem), -EBADMSG));
	free(th_write(dir, CELL_CA_CERT,
		      "-----BEGIN CERTIFICATE-----\nPrivate-Lines: 1\nAAAA\n"
		      "-----END CERTIFICATE-----\n"));
	cr_assert(eq(int, cell_ca_certificate(dir, PROXY, &pem), -EBADMSG));
	cr_assert(eq(ptr, pem, NULL));
	th_rm_rf(tmp);
	free(tmp);
	free(dir);
}

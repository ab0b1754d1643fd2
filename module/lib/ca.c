/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "process.h"
#include "xdg.h"

#define CERT_MAX (64 * 1024)
#define CERT_BEGIN "-----BEGIN CERTIFICATE-----\n"
#define CERT_END "-----END CERTIFICATE-----\n"

int cell_ca_dir(char **ret)
{
	_cleanup_free_ char *data = NULL;
	int r = cell_xdg_dir(CELL_XDG_DATA, &data);

	if (r < 0)
		return r;
	*ret = cell_path_join(data, "ca");
	return *ret ? 0 : -ENOMEM;
}

/*
 * One PEM certificate and nothing else: its BEGIN line, base64 lines, its END line (no key, no
 * second block, no other text may ever reach a cell's trust bundle), len bytes with no NUL.
 */
static bool one_certificate(const char *pem, size_t len)
{
	const char *p = pem + strlen(CERT_BEGIN), *end;

	if (strlen(pem) != len || strncmp(pem, CERT_BEGIN, strlen(CERT_BEGIN)) != 0)
		return false;
	end = strstr(p, CERT_END);
	if (!end || end[strlen(CERT_END)] != '\0')
		return false;
	for (; p < end; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+/=\n", *p))
			return false;
	return true;
}

int cell_ca_certificate(const char *dir, const char *proxy, char **ret_pem)
{
	_cleanup_free_ char *path = cell_path_join(dir, CELL_CA_CERT), *pem = NULL;
	size_t len = 0;
	int r;

	if (!path)
		return -ENOMEM;
	r = cell_read_file(path, O_NOFOLLOW | O_NONBLOCK, CERT_MAX, &pem, &len);
	if (r == -ENOENT) {
		char *const argv[] = {(char *)proxy, (char *)"--print-ca", NULL};

		if (!proxy)
			return -ENOENT;
		r = cell_run_capture(argv, CERT_MAX, &pem);
		if (r > 0)
			r = -EIO;
		len = pem ? strlen(pem) : 0;
	}
	if (r < 0)
		return r;
	if (!one_certificate(pem, len))
		return -EBADMSG;
	*ret_pem = TAKE_PTR(pem);
	return 0;
}

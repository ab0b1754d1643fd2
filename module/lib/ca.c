/* SPDX-License-Identifier: MIT */
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

int cell_ca_dir(char **ret)
{
	_cleanup_free_ char *data = NULL;
	int r = cell_xdg_dir(CELL_XDG_DATA, &data);

	if (r < 0)
		return r;
	*ret = cell_path_join(data, "ca");
	return *ret ? 0 : -ENOMEM;
}

/* A PEM certificate and nothing else (no key may ever reach a cell's trust bundle). */
static bool certificate_only(const char *pem)
{
	return strncmp(pem, CERT_BEGIN, strlen(CERT_BEGIN)) == 0 && !strstr(pem, "PRIVATE KEY");
}

int cell_ca_certificate(const char *dir, const char *proxy, char **ret_pem)
{
	_cleanup_free_ char *path = cell_path_join(dir, CELL_CA_CERT), *pem = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = cell_read_file(path, O_NOFOLLOW | O_NONBLOCK, CERT_MAX, &pem, NULL);
	if (r == -ENOENT) {
		char *const argv[] = {(char *)proxy, (char *)"--print-ca", NULL};

		if (!proxy)
			return -ENOENT;
		r = cell_run_capture(argv, CERT_MAX, &pem);
		if (r > 0)
			r = -EIO;
	}
	if (r < 0)
		return r;
	if (!certificate_only(pem))
		return -EBADMSG;
	*ret_pem = TAKE_PTR(pem);
	return 0;
}

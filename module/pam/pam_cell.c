/* SPDX-License-Identifier: MIT */
/*
 * pam_cell.so: a whole login session in a cell (docs/design.md §3).
 *
 *   session required pam_cell.so project=/srv/agent/work [config=/etc/cell/agent.json]
 *                                [network=proxy|none] [debug]
 *
 * open_session opens the account's cell (module/lib/syscell.c: the same session code as
 * cell-session) and exports the cell's variables into the PAM environment; close_session
 * closes it and writes its record to the account's ledger. With "required" a cell that cannot
 * be opened denies the session; with "optional" the session goes on without one.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "diag.h"
#include "macro.h"
#include "shimproto.h"
#include "syscell.h"

#define DATA_ID "pam_cell.id"

static void cleanup_id(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	free(data);
}

static int account(pam_handle_t *pamh, struct passwd *pw, char *buf, size_t size)
{
	const char *user = NULL;
	struct passwd *found = NULL;

	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !*user)
		return PAM_USER_UNKNOWN;
	if (getpwnam_r(user, pw, buf, size, &found) != 0 || !found) {
		pam_syslog(pamh, LOG_ERR, "no such user '%s'", user);
		return PAM_USER_UNKNOWN;
	}
	return PAM_SUCCESS;
}

static void say(pam_handle_t *pamh, const struct cell_diag *d, const char *what)
{
	_cleanup_free_ char *text = cell_diag_format(d);

	pam_syslog(pamh, LOG_ERR, "%s: %s", what, text ? text : "out of memory");
}

/* rel, from this module's directory, into buf if there is such a file; else NULL. */
static const char *beside(const char *rel, char *buf, size_t size)
{
	Dl_info info;
	char *slash;

	if (!dladdr((void *)pam_sm_open_session, &info) || !info.dli_fname ||
	    (size_t)snprintf(buf, size, "%s", info.dli_fname) >= size ||
	    !(slash = strrchr(buf, '/')) ||
	    (size_t)snprintf(slash + 1, size - (size_t)(slash + 1 - buf), "%s", rel) >=
		    size - (size_t)(slash + 1 - buf))
		return NULL;
	return access(buf, R_OK) == 0 ? buf : NULL;
}

/* path into buf if there is such a file; else NULL. */
static const char *installed(const char *path, char *buf, size_t size)
{
	snprintf(buf, size, "%s", path);
	return access(buf, R_OK) == 0 ? buf : NULL;
}

/*
 * The shim and the cell program: beside this module (a build tree), or as a prefix that make
 * install laid out has them from libexec/cell/, else where make install puts them.
 */
static void find_programs(struct cell_syscell_args *a, char *shim, char *cell, size_t size)
{
	a->shim = beside("libcellshim.so", shim, size);
	if (!a->shim)
		a->shim = installed(CELL_LIBEXECDIR "/libcellshim.so", shim, size);
	a->cell = beside("cell", cell, size);
	if (!a->cell)
		a->cell = beside("../../bin/cell", cell, size);
	if (!a->cell)
		a->cell = installed(CELL_BINDIR "/cell", cell, size);
}

/* The variables export() may set besides the proxy's, for taking them back. */
static const char *const exported[] = {
	"CELL_ID", "CELL_NAME", "CELL_ROOT", "CELL_CONFIG", "LD_PRELOAD", CELL_SHIM_CONF_VAR,
};

/* NAME=VALUE into the PAM environment, whatever its length. */
static int put(pam_handle_t *pamh, const char *name, const char *value)
{
	char *kv;
	int r;

	if (asprintf(&kv, "%s=%s", name, value) < 0)
		return PAM_BUF_ERR;
	r = pam_putenv(pamh, kv);
	free(kv);
	return r;
}

/* The cell's variables for the session's processes; on failure none of them. */
static int export(pam_handle_t *pamh, const struct cell_syscell_state *s, const char *project,
		  const char *config, const char *shim)
{
	char url[64];
	int r = PAM_SUCCESS;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)s->proxy_port);
	for (size_t i = 0; s->proxy_port && r == PAM_SUCCESS && i < CELL_PROXY_VARS; i++)
		r = put(pamh, cell_proxy_vars[i], i < CELL_PROXY_URL_VARS ? url : CELL_NO_PROXY);
	if (r == PAM_SUCCESS)
		r = put(pamh, "CELL_ID", s->id);
	if (r == PAM_SUCCESS)
		r = put(pamh, "CELL_NAME", s->name);
	if (r == PAM_SUCCESS)
		r = put(pamh, "CELL_ROOT", project);
	/* for cell login-shell */
	if (r == PAM_SUCCESS && config)
		r = put(pamh, "CELL_CONFIG", config);
	if (r == PAM_SUCCESS && s->shim_conf[0] && shim) {
		r = put(pamh, CELL_SHIM_CONF_VAR, s->shim_conf);
		if (r == PAM_SUCCESS)
			r = put(pamh, "LD_PRELOAD", shim);
	}
	for (size_t i = 0; r != PAM_SUCCESS && i < CELL_PROXY_VARS; i++)
		pam_putenv(pamh, cell_proxy_vars[i]);
	for (size_t i = 0; r != PAM_SUCCESS && i < ELEMENTSOF(exported); i++)
		pam_putenv(pamh, exported[i]);
	return r;
}

/* What both entry points start with: the module's arguments, and the account. */
static int begin(pam_handle_t *pamh, int argc, const char **argv, struct cell_syscell_args *a,
		 struct passwd *pw, char *buf, size_t size)
{
	_cleanup_diag_ struct cell_diag d = {0};

	if (cell_syscell_args_parse(argc, argv, a, &d) < 0) {
		say(pamh, &d, "bad arguments");
		return PAM_SERVICE_ERR;
	}
	return account(pamh, pw, buf, size);
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_syscell_args a;
	struct cell_syscell_state s;
	struct passwd pw;
	char buf[4096], shim[PATH_MAX], cell[PATH_MAX], *id;
	int r;

	(void)flags;
	r = begin(pamh, argc, argv, &a, &pw, buf, sizeof(buf));
	if (r != PAM_SUCCESS)
		return r;
	find_programs(&a, shim, cell, PATH_MAX);
	if (cell_syscell_open(&a, &pw, &s, &d) < 0) {
		say(pamh, &d, "no cell for this session");
		return PAM_SESSION_ERR;
	}
	if (a.debug)
		pam_syslog(pamh, LOG_DEBUG, "cell %s for %s: project %s, proxy port %u, keeper %d",
			   s.id, pw.pw_name, a.project, (unsigned)s.proxy_port, (int)s.proxy);
	id = strdup(s.id);
	if (!id || pam_set_data(pamh, DATA_ID, id, cleanup_id) != PAM_SUCCESS ||
	    export(pamh, &s, a.project, a.config, a.shim) != PAM_SUCCESS) {
		if (!id)
			pam_syslog(pamh, LOG_ERR, "out of memory");
		cell_syscell_close(s.id, &pw, &d);
		return PAM_SESSION_ERR;
	}
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_syscell_args a = {0};
	const void *data = NULL;
	struct passwd pw;
	char buf[4096], id[64];
	int r;

	(void)flags;
	r = begin(pamh, argc, argv, &a, &pw, buf, sizeof(buf));
	if (r != PAM_SUCCESS)
		return r;
	/* the cell this handle opened, else the one this process is in (sshd may close from
	 * another process than the one that opened) */
	if (pam_get_data(pamh, DATA_ID, &data) == PAM_SUCCESS && data)
		snprintf(id, sizeof(id), "%s", (const char *)data);
	else if (cell_syscell_find(pw.pw_uid, id, sizeof(id)) < 0) {
		if (a.debug)
			pam_syslog(pamh, LOG_DEBUG, "no cell to close for %s", pw.pw_name);
		return PAM_SUCCESS;
	}
	r = cell_syscell_close(id, &pw, &d);
	if (r == -ENOENT) {
		if (a.debug)
			pam_syslog(pamh, LOG_DEBUG, "cell %s was closed already", id);
		return PAM_SUCCESS;
	}
	if (r < 0) {
		say(pamh, &d, "closing the cell");
		return PAM_SESSION_ERR;
	}
	if (a.debug)
		pam_syslog(pamh, LOG_DEBUG, "cell %s of %s closed", id, pw.pw_name);
	pam_set_data(pamh, DATA_ID, NULL, NULL);
	return PAM_SUCCESS;
}

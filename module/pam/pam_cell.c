/* SPDX-License-Identifier: MIT */
/*
 * pam_cell.so: a whole login session in a cell (docs/design.md §3).
 *
 *   session required pam_cell.so project=/srv/agent/work [config=/etc/cell/agent.json]
 *                                [network=proxy|none] [debug]
 *
 * open_session opens the account's cell through the one lifecycle (module/lib/instance.c, with
 * the steps of module/lib/network-login.c: the same session code as cell-session), joins this
 * process to it and exports the cell's variables (its plan's) into the PAM environment;
 * close_session closes it and writes its record to the account's ledger. With "required" a cell
 * that cannot be opened denies the session; with "optional" the session goes on without one.
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
#include "instance.h"
#include "macro.h"
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
 * The shim and the proxy program: beside this module (a build tree), else where make install
 * puts them.
 */
static void find_programs(struct cell_syscell_args *a, char *shim, char *proxy, size_t size)
{
	a->shim = beside("libcellshim.so", shim, size);
	if (!a->shim)
		a->shim = installed(CELL_LIBEXECDIR "/libcellshim.so", shim, size);
	a->proxy = beside("cell-proxy", proxy, size);
	if (!a->proxy)
		a->proxy = installed(CELL_LIBEXECDIR "/cell-proxy", proxy, size);
}

/* The cell's variables (its plan's) for the session's processes; on failure none of them. */
static int export(pam_handle_t *pamh, const struct cell_plan *plan)
{
	int r = PAM_SUCCESS;
	size_t i;

	for (i = 0; plan->env && plan->env[i] && r == PAM_SUCCESS; i++)
		r = pam_putenv(pamh, plan->env[i]);
	/* (taken back by name: NAME alone removes it) */
	while (r != PAM_SUCCESS && i-- > 0) {
		_cleanup_free_ char *name = strndup(plan->env[i], strcspn(plan->env[i], "="));

		if (name)
			pam_putenv(pamh, name);
	}
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
	_cleanup_instance_ struct cell_instance *cell = NULL;
	struct cell_syscell_args a;
	struct passwd pw;
	char buf[4096], shim[PATH_MAX], prog[PATH_MAX], *id;
	int r;

	(void)flags;
	r = begin(pamh, argc, argv, &a, &pw, buf, sizeof(buf));
	if (r != PAM_SUCCESS)
		return r;
	find_programs(&a, shim, prog, PATH_MAX);
	/* the cell opened, and this process (the login's) in it */
	if (cell_instance_open_login(&a, &pw, &cell, &d) < 0 ||
	    cell_instance_join(cell, getpid(), &d) < 0) {
		say(pamh, &d, "no cell for this session");
		return PAM_SESSION_ERR;
	}
	if (a.debug)
		pam_syslog(pamh, LOG_DEBUG, "cell %s for %s: project %s, network %s, proxy port %u",
			   cell->id, pw.pw_name, a.project,
			   cell_net_mode_to_string(cell->cell.mode),
			   (unsigned)cell->cell.proxy_port);
	id = strdup(cell->id);
	if (!id || pam_set_data(pamh, DATA_ID, id, cleanup_id) != PAM_SUCCESS ||
	    export(pamh, cell->plan) != PAM_SUCCESS) {
		if (!id)
			pam_syslog(pamh, LOG_ERR, "out of memory");
		/* (closed here: the record is kept, as for any cell that was joined) */
		return PAM_SESSION_ERR;
	}
	/* the keeper holds it now; close_session closes it */
	cell_instance_release(TAKE_PTR(cell));
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_instance *cell = NULL;
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
	r = cell_instance_resume_login(id, &pw, &cell, &d);
	if (r >= 0)
		r = cell_instance_end(TAKE_PTR(cell), &d);
	cell_instance_close(cell);
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

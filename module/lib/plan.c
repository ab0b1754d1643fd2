/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca.h"
#include "dotenv.h"
#include "fileio.h"
#include "mounts.h"
#include "path.h"
#include "plan.h"
#include "quote.h"
#include "review.h"
#include "rawargs.h"
#include "secrets.h"
#include "shellrc.h"
#include "shimproto.h"
#include "strv.h"
#include "syscell.h"
#include "xdg.h"

/* Where a cell finds what its cell command keeps for it. */
#define CELL_NOTICES_PATH "/run/cell/notices"
#define CELL_LEAVE_PATH "/run/cell/leave"
/* The project's scripts: one program, and a link to it by each script's name on PATH. */
#define CELL_SCRIPTS_PATH "/run/cell/scripts"
#define CELL_SCRIPTS_DIR "/run/cell/bin"
#define CELL_ENTER_HOOKS_PATH "/run/cell/hooks/enter"

/* The variables passed from outside unless a config adds more (env.pass). */
static const char *const env_default_pass[] = {
	"TERM",	 "COLORTERM", "LANG",	"LC_*",	  "TZ",	   "USER",	  "LOGNAME", "HOME",
	"SHELL", "PATH",      "EDITOR", "VISUAL", "PAGER", "CELL_PROMPT", NULL,
};

/* Where TLS clients find their trust store (an organisation's CA behind its TLS-inspecting
 * proxy): passed when set, with the file bound into the cell if it is not there already. */
static const char *const env_tls_pass[] = {
	"SSL_CERT_FILE",      "NIX_SSL_CERT_FILE",   "SSL_CERT_DIR",   "CURL_CA_BUNDLE",
	"REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO",
};

/* Secret-holding places that a bound mount should make the user look at twice. */

void cell_plan_free(struct cell_plan *plan)
{
	if (!plan)
		return;
	free(plan->name);
	free(plan->hostname);
	cell_mount_plan_done(&plan->mounts);
	for (size_t i = 0; i < plan->n_files; i++) {
		free(plan->files[i].dest);
		free(plan->files[i].content);
	}
	free(plan->files);
	cell_strv_free(plan->env);
	free(plan->cwd);
	cell_strv_free(plan->argv);
	free(plan->init);
	free(plan->shim);
	free(plan->enter_hooks);
	free(plan->notices_path);
	free(plan->leave_dir);
	cell_strv_free(plan->notices);
	free(plan->notice_once);
	cell_strv_free(plan->warnings);
	cell_strv_free(plan->bwrap_args);
	free(plan);
}

static int plan_new(struct cell_plan **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

/* A generated read-only file at dest. */
static int add_file(struct cell_plan *plan, const char *dest, const char *content)
{
	struct cell_plan_file *f = reallocarray(plan->files, plan->n_files + 1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	plan->files = f;
	f[plan->n_files] = (struct cell_plan_file){strdup(dest), strdup(content), 0};
	plan->n_files++;
	if (!f[plan->n_files - 1].dest || !f[plan->n_files - 1].content)
		return -ENOMEM;
	return 0;
}

/* Whether the plan has a generated file at dest already. */
static bool file_at_dest(const struct cell_plan *plan, const char *dest)
{
	for (size_t i = 0; i < plan->n_files; i++)
		if (streq(plan->files[i].dest, dest))
			return true;
	return false;
}

/* Whether NAME=... matches a pattern: a name, or a prefix ending in '*'. */
static bool env_matches(const char *entry, const char *pattern)
{
	size_t n = strlen(pattern);
	const char *eq = strchr(entry, '=');

	if (!eq)
		return false;
	if (n > 0 && pattern[n - 1] == '*')
		return strncmp(entry, pattern, n - 1) == 0;
	return (size_t)(eq - entry) == n && strncmp(entry, pattern, n) == 0;
}

static bool passes(const char *entry, char *const *extra)
{
	for (const char *const *p = env_default_pass; *p; p++)
		if (env_matches(entry, *p))
			return true;
	for (size_t i = 0; extra && extra[i]; i++)
		if (env_matches(entry, extra[i]))
			return true;
	return false;
}

/* The value of the first NAME=value of env that pattern matches, or NULL. */
static const char *env_get(char *const *env, const char *pattern)
{
	for (size_t i = 0; env && env[i]; i++)
		if (env_matches(env[i], pattern))
			return strchr(env[i], '=') + 1;
	return NULL;
}

/* Sets NAME=value in env, replacing an earlier NAME. */
static int env_set(char ***env, const char *name, const char *value)
{
	size_t n = strlen(name);
	char *entry;

	if (asprintf(&entry, "%s=%s", name, value) < 0)
		return -ENOMEM;
	for (size_t i = 0; *env && (*env)[i]; i++)
		if (strncmp((*env)[i], name, n) == 0 && (*env)[i][n] == '=') {
			free((*env)[i]);
			(*env)[i] = entry;
			return 0;
		}
	return cell_strv_consume(env, entry);
}

/* Removes NAME=... from env. */
static void env_unset(char **env, const char *name)
{
	size_t n = strlen(name), k = 0;

	for (size_t i = 0; env && env[i]; i++) {
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			free(env[i]);
		else
			env[k++] = env[i];
	}
	if (env)
		env[k] = NULL;
}

static int warn(struct cell_plan *plan, const char *fmt, ...) _printf_(2, 3);

/* Whether path is one the cell sees: in the project, a mount's destination, or the system's. */
static bool visible_in_cell(const struct cell_plan *plan, const char *root, const char *path)
{
	static const char *const system[] = {"/etc/", "/usr/", "/nix/store/"};

	if (path[0] != '/' || strstr(path, "/.."))
		return false;
	if (cell_path_is_below(path, root))
		return true;
	for (size_t i = 0; i < ELEMENTSOF(system); i++)
		if (startswith(path, system[i]))
			return true;
	for (size_t i = 0; i < plan->mounts.n; i++) {
		const struct cell_mount_op *op = &plan->mounts.ops[i];

		if ((op->kind == CELL_OP_RO_BIND || op->kind == CELL_OP_BIND ||
		     op->kind == CELL_OP_DEV_BIND) &&
		    strcmp(op->dest, "/") && cell_path_is_below(path, op->dest))
			return true;
	}
	return false;
}

/*
 * The certificates of the PEM file at path (its CERTIFICATE blocks, nothing else of it: never a
 * key or a token that a variable of the user's happened to name), read once from a regular file;
 * NULL when it has none.
 */
static char *certificates_of(const char *path)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----",
			  end[] = "-----END CERTIFICATE-----";
	_cleanup_free_ char *text = NULL;
	char *out = NULL;
	size_t len = 0, n = 0;

	/* (O_NONBLOCK: a FIFO named there is refused, not waited on) */
	if (cell_read_file(path, O_NONBLOCK, 4 * 1024 * 1024, &text, &len) < 0 ||
	    memchr(text, '\0', len))
		return NULL;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	for (const char *at = text, *b; (b = strstr(at, begin));) {
		const char *e = strstr(b, end);

		if (!e)
			break;
		e += sizeof(end) - 1;
		memcpy(out + n, b, (size_t)(e - b));
		n += (size_t)(e - b);
		out[n++] = '\n';
		at = e;
	}
	out[n] = '\0';
	if (n == 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The TLS trust store's variables, when set; a file the cell does not have comes in as a file of
 * its certificates (cell_plan_file), never bound: what the cell sees is what was read. */
static int pass_tls(struct cell_plan *plan, const struct cell_project *p,
		    const struct cell_plan_input *in)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(env_tls_pass); i++) {
		const char *v = env_get(in->environ, env_tls_pass[i]);

		if (!v)
			continue;
		/* (two variables may name one file: it comes in once) */
		if (!visible_in_cell(plan, p->root, v) && !file_at_dest(plan, v)) {
			_cleanup_free_ char *certs = NULL;

			if (v[0] != '/' || strstr(v, "/..") || !(certs = certificates_of(v)))
				continue;
			r = add_file(plan, v, certs);
		}
		if (r >= 0)
			r = env_set(&plan->env, env_tls_pass[i], v);
	}
	return r;
}

/*
 * The provider's variables (before env.files and env.set), its PATH entries first; what no
 * project may set (the loader's preload, cell's own and the proxy's variables) is left out, and
 * cell explain says so.
 */
static int apply_provider(struct cell_plan *plan, const struct cell_plan_input *in)
{
	const struct cell_provider_env *e = in->provider_env;
	const char *old;
	int r = 0;

	if (!e)
		return 0;
	for (size_t i = 0; r >= 0 && i < e->n_vars; i++) {
		const char *key = e->vars[i].key, *why = cell_dotenv_refused(key);

		/* (a nix shell's libraries: the provider's to say, unlike a dotenv file's) */
		if (why && !streq(key, "LD_LIBRARY_PATH"))
			r = warn(plan, "%s from %s is left out: %s", key,
				 cell_env_provider_to_string(e->provider), why);
		else
			r = env_set(&plan->env, key, e->vars[i].value);
	}
	/* what the .envrc unset goes, unless it is cell's own */
	for (size_t i = 0; r >= 0 && e->unset && e->unset[i]; i++)
		if (!cell_dotenv_refused(e->unset[i]))
			env_unset(plan->env, e->unset[i]);
	old = env_get(plan->env, "PATH");
	if (r >= 0 && e->path && *e->path) {
		_cleanup_free_ char *path = NULL;

		if (asprintf(&path, "%s%s%s", e->path, old && *old ? ":" : "", old ? old : "") < 0)
			return -ENOMEM;
		r = env_set(&plan->env, "PATH", path);
	}
	return r;
}

/* env.files, in order: each file's variables (a file that is not there is skipped). */
static int apply_env_files(struct cell_plan *plan, const struct cell_project *p,
			   const struct cell_config *c, struct cell_diag *d)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && c->env.files && c->env.files[i]; i++) {
		struct cell_kv *kv = NULL;
		size_t n = 0;

		r = cell_dotenv_load(p->root, c->env.files[i], &kv, &n, d);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		for (size_t k = 0; r >= 0 && k < n; k++) {
			const char *why = cell_dotenv_refused(kv[k].key);

			if (why) {
				_cleanup_free_ char *file =
					cell_path_join(p->root, c->env.files[i]);

				r = cell_diag_set(d, -EPERM, file, "env.files",
						  "%s may not be set by a dotenv file: %s",
						  kv[k].key, why);
			} else
				r = env_set(&plan->env, kv[k].key, kv[k].value);
		}
		cell_dotenv_free(kv, n);
	}
	return r;
}

/* Cleared, then the allowlist, then env.files, then env.set, then who and where the cell is. */
static int build_env(struct cell_plan *plan, const struct cell_project *p,
		     const struct cell_config *c, const struct cell_plan_input *in,
		     struct cell_diag *d)
{
	int r = 0;

	for (size_t i = 0; in->environ && in->environ[i] && r >= 0; i++)
		if (passes(in->environ[i], c->env.pass))
			r = cell_strv_extend(&plan->env, in->environ[i]);
	if (r >= 0)
		r = pass_tls(plan, p, in);
	if (r >= 0 && in->home)
		r = env_set(&plan->env, "HOME", in->home);
	if (r >= 0 && in->user)
		r = env_set(&plan->env, "USER", in->user);
	if (r >= 0 && in->user)
		r = env_set(&plan->env, "LOGNAME", in->user);
	if (r >= 0 && in->shell)
		r = env_set(&plan->env, "SHELL", in->shell);
	if (r >= 0 && !env_get(plan->env, "PATH"))
		r = env_set(&plan->env, "PATH", "/usr/local/bin:/usr/bin:/bin");
	if (r >= 0)
		r = apply_provider(plan, in);
	if (r >= 0)
		r = apply_env_files(plan, p, c, d);
	for (size_t i = 0; i < c->env.n_set && r >= 0; i++)
		r = env_set(&plan->env, c->env.set[i].key, c->env.set[i].value);
	if (r >= 0)
		r = env_set(&plan->env, "CELL_NAME", c->name);
	if (r >= 0)
		r = env_set(&plan->env, "CELL_ROOT", p->root);
	if (r >= 0)
		r = env_set(&plan->env, "CELL_ID", p->id);
	return r;
}

static int warn(struct cell_plan *plan, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	return cell_strv_consume(&plan->warnings, s);
}

/*
 * Whether path is where the cell can write on the host (the project, rw and device binds,
 * overlays' upper directories: a link it makes there would decide what a raw bind's source is),
 * or, with rw, holds such a place (bound read-write elsewhere, it would be without the
 * read-only parts cell puts over it: .git, .cell.json).
 */
static bool cell_writes_host(const struct cell_plan *plan, const char *root, const char *path,
			     bool rw)
{
	if (cell_path_is_below(path, root) || (rw && cell_path_is_below(root, path)))
		return true;
	for (size_t i = 0; i < plan->mounts.n; i++) {
		const struct cell_mount_op *op = &plan->mounts.ops[i];
		const char *w = op->kind == CELL_OP_BIND || op->kind == CELL_OP_DEV_BIND ? op->src
				: op->kind == CELL_OP_OVERLAY ? op->upper_dir
							      : NULL;

		if (w && (cell_path_is_below(path, w) || (rw && cell_path_is_below(w, path))))
			return true;
	}
	return false;
}

/* Where in the cell what the cell writes persists (the project, rw binds, overlays): bubblewrap
 * follows a link there while the host's / is still at /oldroot. */
static bool cell_writes_cell(const struct cell_plan *plan, const char *root, const char *dest)
{
	if (cell_path_is_below(dest, root))
		return true;
	for (size_t i = 0; i < plan->mounts.n; i++) {
		const struct cell_mount_op *op = &plan->mounts.ops[i];

		if ((op->kind == CELL_OP_BIND || op->kind == CELL_OP_DEV_BIND ||
		     op->kind == CELL_OP_OVERLAY) &&
		    cell_path_is_below(dest, op->dest))
			return true;
	}
	return false;
}

/* One raw argument: a source made absolute (from the project root), checked with its real
 * path; a destination checked. */
static int raw_arg(struct cell_plan *plan, const char *root, const char *opt, const char *a,
		   enum cell_rawarg_role role, struct cell_diag *diag)
{
	bool rw = !startswith(opt, "--ro-");
	_cleanup_free_ char *path = NULL, *real = NULL;
	const char *why = NULL;

	if (role != CELL_RAWARG_SOURCE && role != CELL_RAWARG_DEST)
		return cell_strv_extend(&plan->bwrap_args, a);
	path = a[0] == '/' ? strdup(a) : cell_path_join(root, a);
	if (!path || cell_path_normalize(path) < 0)
		return -ENOMEM;
	if (role == CELL_RAWARG_DEST) {
		if (cell_writes_cell(plan, root, path))
			return cell_diag_set(diag, -EPERM, NULL, "bwrap_args",
					     "\"%s\" is where the cell writes: bubblewrap would "
					     "follow a link the cell made there, out to the host",
					     a);
		return cell_strv_extend(&plan->bwrap_args, path);
	}
	real = realpath(path, NULL);
	if (cell_writes_host(plan, root, path, rw) ||
	    (real && cell_writes_host(plan, root, real, rw)))
		why = "the cell writes there, and a link it made would choose what is bound (a "
		      "directory of the project goes in mounts[], whose checks are cell's)";
	else
		why = cell_rawargs_source_refused(real ? real : path);
	if (why)
		return cell_diag_set(diag, -EPERM, NULL, "bwrap_args", "\"%s\" (%s now): %s", a,
				     real ? real : path, why);
	return cell_strv_extend(&plan->bwrap_args, real ? real : path);
}

/*
 * The config's raw bubblewrap arguments (rawargs.h vetted them as written) after the plan's
 * mounts: no source where the cell can write (a link there would choose what is bound) and no
 * destination there (bubblewrap would follow a link out to the host's files).
 */
static int add_raw_args(struct cell_plan *plan, const struct cell_config *c, const char *root,
			struct cell_diag *diag)
{
	size_t n = cell_strv_length(c->bwrap_args);
	_cleanup_free_ enum cell_rawarg_role *roles = NULL;
	int r = 0;

	if (!n)
		return 0;
	roles = calloc(n, sizeof(*roles));
	if (!roles)
		return -ENOMEM;
	cell_rawargs_roles(c->bwrap_args, n, roles);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = raw_arg(plan, root, i ? c->bwrap_args[i - 1] : "", c->bwrap_args[i], roles[i],
			    diag);
	return r;
}

/* The network in effect: the config's; a login's cell has the login's network (host, confined
 * by the session's cell). */
enum cell_net_mode cell_plan_net_mode(const struct cell_config *c, bool login)
{
	return login ? CELL_NET_HOST : c->network.mode;
}

enum cell_isolation cell_plan_isolation(const struct cell_config *c, const struct cell_host *host,
					const char **ret_why)
{
	const char *why = NULL;
	enum cell_isolation i = c->network.isolation;

	if (i == CELL_ISOLATION_BPF)
		why = "network.isolation is \"bpf\"";
	else if (i == CELL_ISOLATION_NETNS)
		why = "network.isolation is \"netns\"";
	else if (!host->helper)
		why = host->why, i = CELL_ISOLATION_NETNS;
	else if (!host->unix_hooks)
		why = "this kernel has no hooks for abstract Unix sockets (Linux 6.7+), which a cell "
		      "sharing the host's network namespace would reach",
		i = CELL_ISOLATION_NETNS;
	else
		why = "cell-session has privilege and the kernel has every hook",
		i = CELL_ISOLATION_BPF;
	if (ret_why)
		*ret_why = why;
	return i;
}

static int net_mode(struct cell_plan *plan, const struct cell_project *p,
		    const struct cell_config *c, const struct cell_plan_input *in,
		    struct cell_diag *diag)
{
	plan->net_mode = cell_plan_net_mode(c, in->login);
	plan->learn = in->login ? CELL_LEARN_OFF : in->learn;
	if (plan->net_mode != CELL_NET_PROXY)
		return 0;
	plan->isolation = cell_plan_isolation(c, in->host, NULL);
	/* (in a namespace of the cell's own, whose programs have no privilege there either) */
	for (size_t i = 0; plan->isolation == CELL_ISOLATION_NETNS && i < c->network.n_forward;
	     i++) {
		char *notice;

		if (c->network.forward[i].cell_port >= 1024)
			continue;
		if (asprintf(
			    &notice,
			    "network.forward[%zu]: nothing in the cell may listen on its port %u (below "
			    "1024, the kernel's privileged ports): forward to a port of 1024 or above",
			    i, (unsigned)c->network.forward[i].cell_port) < 0 ||
		    cell_strv_consume(&plan->notices, notice) < 0)
			return -ENOMEM;
	}
	if (plan->isolation == CELL_ISOLATION_BPF && !in->host->helper)
		return cell_diag_set(
			diag, -EPERM, p->config_path, "network.isolation",
			"\"bpf\" needs cell-session's privilege, and %s; use \"auto\" or "
			"\"netns\" (a network namespace of the cell's own)",
			in->host->why);
	return 0;
}

/*
 * How the config's limits hold (docs/design.md §3 "Limits"): a cell cell-session opens (a BPF
 * proxy cell; a netns one where cell-session has privilege: plan->held) is held by its cgroup;
 * any other only by what an rlimit can do, which is said once a project (plan->notice_once).
 */
static int limits(struct cell_plan *plan, const struct cell_config *c, const struct cell_host *h)
{
	bool root = getuid() == 0, any = c->limits.memory || c->limits.pids || c->limits.cpu;
	char unheld[64] = "", *notice;

	if (plan->net_mode == CELL_NET_PROXY)
		plan->held = plan->isolation == CELL_ISOLATION_BPF || (any && h->helper);
	if (!any || plan->held)
		return 0;
	/* RLIMIT_NPROC counts a uid's processes in a user namespace (Linux 5.14): set by cell-init
	 * in the cell's own, it counts the cell's; root's processes it never stops */
	plan->nproc = root ? 0 : c->limits.pids;
	if (c->limits.memory)
		strcat(unheld, "limits.memory");
	if (c->limits.cpu)
		strcat(strcat(unheld, *unheld ? ", " : ""), "limits.cpu");
	if (c->limits.pids && root)
		strcat(strcat(unheld, *unheld ? ", " : ""), "limits.pids");
	if (*unheld)
		strcat(unheld, strchr(unheld, ',') ? " are" : " is");
	if (asprintf(
		    &notice,
		    "this cell has no cgroup of its own (only a proxy cell that cell-session, with "
		    "privilege, opens has one)%s%s%s%s",
		    plan->nproc ? ": limits.pids is held by RLIMIT_NPROC in its user namespace"
				: "",
		    *unheld ? (plan->nproc ? "; " : ": ") : "", unheld,
		    !*unheld	       ? ""
		    : c->limits.memory ? " not enforced (RLIMIT_AS would cap each process's "
					 "address space, not the cell's memory)"
		    : root	       ? " not enforced (RLIMIT_NPROC never stops root)"
				       : " not enforced") < 0)
		return -ENOMEM;
	free(plan->notice_once);
	plan->notice_once = notice;
	return 0;
}

bool cell_plan_say_once(const char *project_id, const char *notice)
{
	_cleanup_free_ char *path = NULL, *said = NULL;

	if (!notice || cell_project_state_file(project_id, "notice-once", &path) < 0)
		return notice != NULL;
	if (cell_read_file(path, O_NOFOLLOW, 65536, &said, NULL) >= 0 && streq(said, notice))
		return false;
	(void)cell_mkdir_parent(path, 0700);
	(void)cell_write_file_atomic(path, notice, strlen(notice), 0600, false);
	return true;
}

/*
 * cell itself in the cell, at its own path, for the shell hook in the user's rc files there
 * (eval "$(cell hook bash)") and cell status: bound read-only unless the system directories
 * bring it already, or it is the project's own (a build of cell, which must stay writable).
 */
static int add_self(struct cell_plan *plan, const char *root, const char *self)
{
	static const char *const system[] = {"/usr/", "/bin/", "/sbin/",     "/lib",
					     "/etc/", "/opt/", "/nix/store/"};

	if (!self)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(system); i++)
		if (!strncmp(self, system[i], strlen(system[i])))
			return 0;
	if (cell_path_is_below(self, root))
		return 0;
	return cell_mount_plan_add(&plan->mounts, CELL_OP_RO_BIND, self, self, "cell itself");
}

/*
 * The LD_PRELOAD shim, for clients that ignore the proxy variables: bound read-only at
 * CELL_SHIM_PATH, with its settings (the proxy's port, and the variables a program started with
 * a cleaned-up environment is to keep) at CELL_SHIM_CONF_PATH. A build without it runs the cell
 * without it.
 */
static int add_shim(struct cell_plan *plan, const struct cell_config *c, const char *lib,
		    uint16_t port)
{
	/* cell-init puts it in the command's environment (--preload), not in its own; and a
	 * program that clears its environment keeps the trust store's variables too (node's
	 * NODE_EXTRA_CA_CERTS behind a TLS-inspecting proxy) */
	char *keep[ELEMENTSOF(env_tls_pass) + 2] = {(char *)"LD_PRELOAD=" CELL_SHIM_PATH},
					      text[4096];
	size_t n = 1;
	int r;

	if (!lib)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(env_tls_pass); i++)
		for (size_t k = 0; plan->env && plan->env[k] && n + 1 < ELEMENTSOF(keep); k++)
			if (startswith(plan->env[k], env_tls_pass[i]) &&
			    plan->env[k][strlen(env_tls_pass[i])] == '=') {
				keep[n++] = plan->env[k];
				break;
			}
	keep[n] = NULL;
	r = cell_shim_conf_for_proxy(port, c->network.local_ports, c->network.n_local_ports, keep,
				     text, sizeof(text));
	if (r >= 0)
		r = add_file(plan, CELL_SHIM_CONF_PATH, text);
	if (r >= 0 && !(plan->shim = strdup(lib)))
		r = -ENOMEM;
	return r;
}

/* Where a cell with inspected hosts has its trust bundle: the system's own path. */
#define CELL_TLS_BUNDLE_PATH "/etc/ssl/certs/ca-certificates.crt"

static bool inspects(const struct cell_config *c)
{
	for (size_t i = 0; i < c->network.n_allow; i++)
		if (c->network.allow[i].inspect)
			return true;
	return false;
}

/*
 * A cell whose rules inspect hosts trusts the user's CA (ca.h; made by cell-proxy on first use,
 * its key never bound): a bundle of what it trusted (the system's bundle, and the file the user's
 * SSL_CERT_FILE names) and the CA, at the system bundle's path, and the variables TLS clients
 * read pointing at it.
 */
static int add_inspection(struct cell_plan *plan, const struct cell_config *c,
			  const struct cell_plan_input *in)
{
	static const char *const vars[] = {"SSL_CERT_FILE",	 "NODE_EXTRA_CA_CERTS",
					   "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
					   "GIT_SSL_CAINFO",	 "NIX_SSL_CERT_FILE"};
	_cleanup_free_ char *dir = NULL, *ca = NULL, *system = NULL, *user = NULL, *bundle = NULL;
	const char *user_file = env_get(in->environ, "SSL_CERT_FILE");
	int r;

	if (!inspects(c))
		return 0;
	r = cell_ca_dir(&dir);
	/* (cell-proxy makes the CA on first use: the proxy is the one with OpenSSL) */
	if (r >= 0)
		r = cell_ca_certificate(dir, in->host->proxy, &ca);
	if (r < 0)
		return r;
	system = certificates_of(CELL_TLS_BUNDLE_PATH);
	if (user_file && user_file[0] == '/' && !streq(user_file, CELL_TLS_BUNDLE_PATH))
		user = certificates_of(user_file);
	if (asprintf(&bundle, "%s%s%s", system ? system : "", user ? user : "", ca) < 0)
		return -ENOMEM;
	r = add_file(plan, CELL_TLS_BUNDLE_PATH, bundle);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(vars); i++)
		r = env_set(&plan->env, vars[i], CELL_TLS_BUNDLE_PATH);
	return r;
}

/*
 * A proxy cell: the proxy's variables, the shim, and the notices file (the proxy's and the
 * kernel's denials, a line each, for the shell hook to show at the prompt).
 */
static int add_proxy(struct cell_plan *plan, const struct cell_project *p,
		     const struct cell_config *c, const struct cell_plan_input *in)
{
	char url[64];
	int r = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)in->proxy_port);
	for (size_t i = 0; r >= 0 && i < CELL_PROXY_VARS; i++)
		r = env_set(&plan->env, cell_proxy_vars[i],
			    i < CELL_PROXY_URL_VARS ? url : CELL_NO_PROXY);
	if (r >= 0)
		r = add_shim(plan, c, in->host->shim, in->proxy_port);
	if (r < 0)
		return r;
	if (asprintf(&plan->notices_path, "%s/projects/%s/notices-%s", in->host->state_home, p->id,
		     in->id) < 0) {
		plan->notices_path = NULL;
		return -ENOMEM;
	}
	r = cell_mount_plan_add(&plan->mounts, CELL_OP_RO_BIND, plan->notices_path,
				CELL_NOTICES_PATH, "the cell's notices");
	if (r >= 0)
		r = env_set(&plan->env, "CELL_NOTICES", CELL_NOTICES_PATH);
	return r < 0 ? r : add_inspection(plan, c, in);
}

/* A login's cell: the session's proxy variables and CELL_ID, and the shim for its proxy. */
static int add_login_network(struct cell_plan *plan, const struct cell_config *c,
			     const struct cell_plan_input *in)
{
	const char *proxy = env_get(in->environ, "HTTP_PROXY"), *id;
	unsigned port = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < CELL_PROXY_VARS; i++) {
		const char *v = env_get(in->environ, cell_proxy_vars[i]);

		if (v)
			r = env_set(&plan->env, cell_proxy_vars[i], v);
	}
	id = env_get(in->environ, "CELL_ID");
	if (r >= 0 && id)
		r = env_set(&plan->env, "CELL_ID", id);
	if (r >= 0 && proxy && sscanf(proxy, "http://127.0.0.1:%u", &port) == 1 && port > 0 &&
	    port < 65536)
		r = add_shim(plan, c, in->host->shim, (uint16_t)port);
	return r;
}

/* cell enter: the shell with its prompt marked, in place of the command. */
/* A state directory (made when the cell starts) bound read-write at dest. */
static int add_state_bind(struct cell_plan *plan, const char *src, const char *dest,
			  const char *origin)
{
	int r = cell_mount_plan_add(&plan->mounts, CELL_OP_BIND, src, dest, origin);
	struct cell_mount_op *op = &plan->mounts.ops[plan->mounts.n - 1];

	if (r < 0)
		return r;
	op->upper_dir = strdup(src);
	return op->upper_dir ? 0 : -ENOMEM;
}

/*
 * The shell's history, the project's own: a directory in its state directory (made when the
 * cell starts), bound where the shell keeps it (bash's and zsh's HISTFILE is set there by the
 * cell's rc; fish keeps it in its data directory, bound from there). Your own history stays
 * outside, unseen by the cell; every visit of the project sees the ones before.
 */
static int add_history(struct cell_plan *plan, const char *shell, const char *state_dir,
		       const char *home)
{
	_cleanup_free_ char *dir = cell_path_join(state_dir, "history"), *fish = NULL;

	if (!dir)
		return -ENOMEM;
	if (!streq(cell_path_basename(shell), "fish"))
		return add_state_bind(plan, dir, CELL_SHELL_HISTORY_DIR,
				      "your shell's history here");
	fish = home ? cell_path_join(home, ".local/share/fish") : NULL;
	if (!fish)
		return home ? -ENOMEM : 0;
	return add_state_bind(plan, dir, fish, "your shell's history here");
}

static int add_shell(struct cell_plan *plan, const char *shell, const char *state_dir,
		     const char *home)
{
	struct cell_shellrc rc;
	int r = 0;

	cell_shellrc_for(shell, &rc);
	cell_strv_free(plan->argv);
	plan->argv = NULL;
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(rc.argv) && rc.argv[i]; i++)
		r = cell_strv_extend(&plan->argv, rc.argv[i]);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(rc.files) && rc.files[i].dest; i++)
		r = add_file(plan, rc.files[i].dest, rc.files[i].content);
	if (r >= 0 && rc.env_name)
		r = env_set(&plan->env, rc.env_name, rc.env_value);
	return r < 0 ? r : add_history(plan, shell, state_dir, home);
}

/* cell enter --leave-to: the shell hook's file, and where the outer shell was (cd -). */
static int add_leave(struct cell_plan *plan, const struct cell_plan_input *in)
{
	int r = 0;

	/* (a session's member has its own file in the session's leave directory: member.c) */
	if (!in->session)
		r = cell_mount_plan_add(&plan->mounts, CELL_OP_BIND, in->leave_path,
					CELL_LEAVE_PATH, "the shell hook");
	if (r >= 0 && !in->session)
		r = env_set(&plan->env, "CELL_LEAVE", CELL_LEAVE_PATH);
	if (r >= 0 && in->oldpwd && in->oldpwd[0] == '/')
		r = env_set(&plan->env, "CELL_OLDPWD", in->oldpwd);
	return r;
}

/*
 * A project session's cell (its members join it): its runtime directory, $XDG_RUNTIME_DIR for
 * every member (a socket one makes, another reaches), and the directory of its members' leave
 * files, both in the project's state directory under the cell's id.
 */
static int add_session(struct cell_plan *plan, const struct cell_plan_input *in,
		       const char *state_dir)
{
	_cleanup_free_ char *run = NULL, *leave = NULL;
	char dest[64];
	int r;

	if (asprintf(&run, "%s/run/%s", state_dir, in->id) < 0) {
		run = NULL;
		return -ENOMEM;
	}
	if (asprintf(&leave, "%s/leave/%s", state_dir, in->id) < 0) {
		leave = NULL;
		return -ENOMEM;
	}
	snprintf(dest, sizeof(dest), CELL_PLAN_RUNTIME_DIR, (unsigned)getuid());
	plan->session = true;
	r = add_state_bind(plan, run, dest, "the session's runtime directory");
	if (r >= 0)
		r = add_state_bind(plan, leave, CELL_PLAN_LEAVE_DIR, "the shell hook");
	if (r >= 0)
		r = env_set(&plan->env, "XDG_RUNTIME_DIR", dest);
	if (r < 0)
		return r;
	plan->leave_dir = TAKE_PTR(leave);
	return 0;
}

/* Appends s to *buf (a growing string); false when out of memory. */
static bool append(char **buf, const char *s)
{
	size_t n = *buf ? strlen(*buf) : 0;
	char *b = realloc(*buf, n + strlen(s) + 1);

	if (!b)
		return false;
	memcpy(b + n, s, strlen(s) + 1);
	*buf = b;
	return true;
}

/*
 * scripts: one bash program at CELL_SCRIPTS_PATH that runs the script its name says (each
 * script's command as written, with the program's arguments in "$@"), a link to it by each
 * name in CELL_SCRIPTS_DIR, and that directory first on PATH.
 */
static int add_scripts(struct cell_plan *plan, const struct cell_config *c)
{
	_cleanup_free_ char *text = NULL, *path = NULL;
	const char *old = env_get(plan->env, "PATH");
	bool ok = append(&text, "#!/bin/bash\n# the project's scripts (.cell.json \"scripts\")\n"
				"case ${0##*/} in\n");
	int r;

	if (c->n_scripts == 0)
		return 0;
	for (size_t i = 0; ok && i < c->n_scripts; i++) {
		_cleanup_free_ char *q = cell_shell_quote(c->scripts[i].value);

		ok = q && append(&text, c->scripts[i].key) && append(&text, ") eval ") &&
		     append(&text, q) && append(&text, " ;;\n");
	}
	ok = ok && append(&text, "*) echo \"cell: no script ${0##*/}\" >&2; exit 127 ;;\nesac\n");
	if (!ok)
		return -ENOMEM;
	r = add_file(plan, CELL_SCRIPTS_PATH, text);
	if (r < 0)
		return r;
	plan->files[plan->n_files - 1].mode = 0555;
	for (size_t i = 0; r >= 0 && i < c->n_scripts; i++) {
		_cleanup_free_ char *link = cell_path_join(CELL_SCRIPTS_DIR, c->scripts[i].key);

		r = link ? cell_mount_plan_add(&plan->mounts, CELL_OP_SYMLINK, CELL_SCRIPTS_PATH,
					       link, "scripts")
			 : -ENOMEM;
	}
	if (r < 0)
		return r;
	if (asprintf(&path, "%s%s%s", CELL_SCRIPTS_DIR, old && *old ? ":" : "", old ? old : "") <
	    0) {
		path = NULL;
		return -ENOMEM;
	}
	return env_set(&plan->env, "PATH", path);
}

/*
 * hooks.enter: a bash script cell-init runs in the cell before the command (each hook in turn;
 * one that fails says so and the rest go on), whose variables it then gives the command.
 */
static int add_enter_hooks(struct cell_plan *plan, const struct cell_config *c,
			   const struct cell_provider_env *e)
{
	_cleanup_free_ char *text = NULL;
	bool ok;

	if ((!c->hooks.enter || !c->hooks.enter[0]) && (!e || !e->shell_hook))
		return 0;
	ok = append(&text, "# the project's hooks.enter, run by cell-init before the command\n");
	/* the provider's shell hook first (its own variables and functions stay in this shell) */
	if (ok && e && e->shell_hook) {
		_cleanup_free_ char *q = cell_shell_quote(e->shell_hook), *line = NULL;

		ok = q && asprintf(&line,
				   "eval %s || echo \"cell: the %s shell hook failed (exit $?)\" "
				   ">&2\n",
				   q, cell_env_provider_to_string(e->provider)) >= 0;
		if (!ok)
			line = NULL;
		ok = ok && append(&text, line);
	}
	for (size_t i = 0; ok && c->hooks.enter && c->hooks.enter[i]; i++) {
		_cleanup_free_ char *q = cell_shell_quote(c->hooks.enter[i]), *line = NULL;

		ok = q && asprintf(&line,
				   "eval %s || echo \"cell: hooks.enter[%zu] failed (exit $?)\" "
				   ">&2\n",
				   q, i) >= 0;
		if (!ok)
			line = NULL;
		ok = ok && append(&text, line);
	}
	if (!ok)
		return -ENOMEM;
	plan->enter_hooks = strdup(CELL_ENTER_HOOKS_PATH);
	if (!plan->enter_hooks)
		return -ENOMEM;
	return add_file(plan, CELL_ENTER_HOOKS_PATH, text);
}

int cell_plan_build(const struct cell_project *p, const struct cell_config *c,
		    const struct cell_plan_input *in, struct cell_plan **ret,
		    struct cell_diag *diag)
{
	_cleanup_plan_ struct cell_plan *plan = NULL;
	_cleanup_free_ char *state_dir = NULL;
	struct cell_mounts_input mi;
	int r;

	r = plan_new(&plan);
	if (r < 0)
		return r;
	if (asprintf(&state_dir, "%s/projects/%s", in->host->state_home, p->id) < 0)
		return -ENOMEM;
	mi = (struct cell_mounts_input){.root = p->root, .home = in->home, .state_dir = state_dir};
	r = cell_mounts_plan(c, &mi, &plan->mounts, diag);
	if (r < 0)
		return r;
	plan->name = strdup(c->name);
	if (asprintf(&plan->hostname, "cell-%s", c->name) < 0)
		plan->hostname = NULL;
	/* inside the project the directory is kept; from elsewhere (-C DIR) the cell starts at the
	 * root */
	plan->cwd = strdup(in->cwd && cell_path_is_below(in->cwd, p->root) ? in->cwd : p->root);
	if (!in->host->init)
		return cell_diag_set(diag, -ENOENT, NULL, NULL, "cell-init is missing");
	plan->init = strdup(in->host->init);
	if (!plan->name || !plan->hostname || !plan->cwd || !plan->init)
		return -ENOMEM;
	for (size_t i = 0; in->command && in->command[i]; i++)
		if (cell_strv_extend(&plan->argv, in->command[i]) < 0)
			return -ENOMEM;
	if (!plan->argv)
		return cell_diag_set(diag, -EINVAL, NULL, NULL, "no command to run");
	plan->seccomp = (struct cell_seccomp_options){c->hardening.allow_userns,
						      c->hardening.allow_io_uring};
	r = net_mode(plan, p, c, in, diag);
	if (r >= 0)
		r = limits(plan, c, in->host);
	if (r >= 0)
		r = build_env(plan, p, c, in, diag);
	if (r >= 0)
		r = add_scripts(plan, c);
	if (r >= 0)
		r = add_enter_hooks(plan, c, in->provider_env);
	if (r >= 0 && in->provider_notice)
		r = cell_strv_extend(&plan->notices, in->provider_notice);
	if (r >= 0)
		r = add_self(plan, p->root, in->host->self);
	if (r >= 0 && plan->net_mode == CELL_NET_PROXY)
		r = add_proxy(plan, p, c, in);
	if (r >= 0 && in->login)
		r = add_login_network(plan, c, in);
	if (r >= 0 && in->interactive)
		r = add_shell(plan, in->shell, state_dir, in->home);
	if (r >= 0 && in->session)
		r = add_session(plan, in, state_dir);
	if (r >= 0 && in->leave_path)
		r = add_leave(plan, in);
	if (r >= 0)
		r = cell_review_warnings(c, p->root, in->home, &plan->warnings);
	if (r >= 0)
		r = add_raw_args(plan, c, p->root, diag);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(plan);
	return 0;
}

void cell_plan_login_shim_conf(const char *id, char *out, size_t size)
{
	snprintf(out, size, "%s/%s.conf", CELL_SYSCELL_SHIM_DIR, id);
}

/*
 * A whole login's cell: the variables its environment gets (the proxy's, who and where the cell
 * is, the shim with its settings) and the shim's settings file, the account's on the host.
 */
int cell_plan_build_login(const struct cell_config *c, const struct cell_plan_login_input *in,
			  struct cell_plan **ret)
{
	_cleanup_plan_ struct cell_plan *plan = NULL;
	char url[64], conf[128], preload[600], conf_var[600], *extra[] = {preload, conf_var, NULL},
							      text[4096];
	int r = plan_new(&plan);

	if (r < 0)
		return r;
	plan->net_mode = in->mode;
	plan->name = strdup(c->name);
	if (!plan->name)
		return -ENOMEM;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)in->proxy_port);
	for (size_t i = 0; in->mode == CELL_NET_PROXY && r >= 0 && i < CELL_PROXY_VARS; i++)
		r = env_set(&plan->env, cell_proxy_vars[i],
			    i < CELL_PROXY_URL_VARS ? url : CELL_NO_PROXY);
	if (r >= 0)
		r = env_set(&plan->env, "CELL_ID", in->id);
	if (r >= 0)
		r = env_set(&plan->env, "CELL_NAME", c->name);
	if (r >= 0)
		r = env_set(&plan->env, "CELL_ROOT", in->root);
	/* for cell login-shell */
	if (r >= 0 && in->config)
		r = env_set(&plan->env, "CELL_CONFIG", in->config);
	if (r < 0 || in->mode != CELL_NET_PROXY || !in->shim) {
		*ret = r < 0 ? NULL : TAKE_PTR(plan);
		return r;
	}
	/* the shim, for clients that ignore the proxy, and what a program started with an
	 * environment of its own keeps (the proxy's variables, LD_PRELOAD, where these are) */
	cell_plan_login_shim_conf(in->id, conf, sizeof(conf));
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", in->shim);
	snprintf(conf_var, sizeof(conf_var), "%s=%s", CELL_SHIM_CONF_VAR, conf);
	r = cell_shim_conf_for_proxy(in->proxy_port, c->network.local_ports,
				     c->network.n_local_ports, extra, text, sizeof(text));
	if (r >= 0)
		r = add_file(plan, conf, text);
	if (r >= 0)
		r = env_set(&plan->env, CELL_SHIM_CONF_VAR, conf);
	if (r >= 0)
		r = env_set(&plan->env, "LD_PRELOAD", in->shim);
	if (r >= 0 && !(plan->shim = strdup(in->shim)))
		r = -ENOMEM;
	if (r < 0)
		return r;
	*ret = TAKE_PTR(plan);
	return 0;
}

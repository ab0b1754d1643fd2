/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"
#include "plan.h"
#include "strv.h"

/* The variables passed from outside unless a config adds more (env.pass). */
static const char *const env_default_pass[] = {
	"TERM",	 "COLORTERM", "LANG",	"LC_*",	  "TZ",	   "USER",	  "LOGNAME", "HOME",
	"SHELL", "PATH",      "EDITOR", "VISUAL", "PAGER", "CELL_PROMPT", NULL,
};

/* Secret-holding places that a bound mount should make the user look at twice. */
static const char *const secret_dirs[] = {
	".ssh", ".gnupg", ".aws", ".config/gh", ".docker", ".kube", ".netrc", ".password-store",
};

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
	cell_strv_free(plan->notices);
	cell_strv_free(plan->warnings);
	free(plan);
}

static int plan_new(struct cell_plan **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

int cell_plan_add_file(struct cell_plan *plan, const char *dest, const char *content)
{
	struct cell_plan_file *f = reallocarray(plan->files, plan->n_files + 1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	plan->files = f;
	f[plan->n_files] = (struct cell_plan_file){strdup(dest), strdup(content)};
	plan->n_files++;
	if (!f[plan->n_files - 1].dest || !f[plan->n_files - 1].content)
		return -ENOMEM;
	return 0;
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

static bool env_has(char *const *env, const char *name)
{
	for (size_t i = 0; env && env[i]; i++)
		if (env_matches(env[i], name))
			return true;
	return false;
}

/* Sets NAME=value in env, replacing an earlier NAME. */
static int env_set(char ***env, const char *name, const char *value);

int cell_plan_setenv(struct cell_plan *plan, const char *name, const char *value)
{
	return env_set(&plan->env, name, value);
}

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

/* Cleared, then the allowlist, then env.set, then who and where the cell is. */
static int build_env(struct cell_plan *plan, const struct cell_project *p,
		     const struct cell_config *c, const struct cell_plan_input *in)
{
	int r = 0;

	for (size_t i = 0; in->environ && in->environ[i] && r >= 0; i++)
		if (passes(in->environ[i], c->env.pass))
			r = cell_strv_extend(&plan->env, in->environ[i]);
	if (r >= 0 && in->home)
		r = env_set(&plan->env, "HOME", in->home);
	if (r >= 0 && in->user)
		r = env_set(&plan->env, "USER", in->user);
	if (r >= 0 && in->user)
		r = env_set(&plan->env, "LOGNAME", in->user);
	if (r >= 0 && in->shell)
		r = env_set(&plan->env, "SHELL", in->shell);
	if (r >= 0 && !env_has(plan->env, "PATH"))
		r = env_set(&plan->env, "PATH", "/usr/local/bin:/usr/bin:/bin");
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

static int warn(struct cell_plan *plan, const char *fmt, ...) _printf_(2, 3);
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

/* What a careful reviewer of the config should be told before allowing it. */
static int collect_warnings(struct cell_plan *plan, const struct cell_config *c, const char *home)
{
	int r = 0;

	if (c->network.mode == CELL_NET_HOST)
		r = warn(plan, "network.mode is \"host\": the cell reaches any host, unfiltered "
			       "and uncounted");
	for (size_t i = 0; i < c->n_mounts && r >= 0; i++) {
		const struct cell_mount *m = &c->mounts[i];
		bool writable = m->mode == CELL_MOUNT_RW || m->mode == CELL_MOUNT_DEV;

		if (streq(m->path, "/"))
			r = warn(plan, "%s binds / into the cell: the whole system is visible",
				 m->origin);
		else if (home && streq(m->path, home) && writable)
			r = warn(plan, "%s binds your home directory read-write", m->origin);
		else if (home && streq(m->path, home))
			r = warn(plan,
				 "%s binds your home directory: every secret in it is readable",
				 m->origin);
		for (size_t k = 0; home && r >= 0 && k < ELEMENTSOF(secret_dirs); k++) {
			_cleanup_free_ char *secret = cell_path_join(home, secret_dirs[k]);

			if (!secret)
				return -ENOMEM;
			if (m->mode != CELL_MOUNT_TMPFS && m->mode != CELL_MOUNT_STATE &&
			    (cell_path_is_below(m->path, secret) ||
			     (cell_path_is_below(secret, m->path) && !streq(m->path, "/") &&
			      !streq(m->path, home))))
				r = warn(plan, "%s exposes ~/%s, which holds credentials",
					 m->origin, secret_dirs[k]);
		}
	}
	return r;
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
	if (asprintf(&state_dir, "%s/projects/%s", in->state_home, p->id) < 0)
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
	plan->init = strdup(in->init);
	if (!plan->name || !plan->hostname || !plan->cwd || !plan->init)
		return -ENOMEM;
	for (size_t i = 0; in->command && in->command[i]; i++)
		if (cell_strv_extend(&plan->argv, in->command[i]) < 0)
			return -ENOMEM;
	if (!plan->argv)
		return cell_diag_set(diag, -EINVAL, NULL, NULL, "no command to run");
	plan->seccomp = (struct cell_seccomp_options){c->hardening.allow_userns,
						      c->hardening.allow_io_uring};
	plan->net_mode = c->network.mode;
	if (c->limits.memory || c->limits.pids) {
		r = cell_strv_extend(
			&plan->notices,
			"limits.memory and limits.pids are not enforced yet (they come with "
			"the cell's cgroup)");
		if (r < 0)
			return r;
	}
	r = build_env(plan, p, c, in);
	if (r >= 0)
		r = collect_warnings(plan, c, in->home);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(plan);
	return 0;
}

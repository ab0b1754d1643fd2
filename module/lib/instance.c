/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "instance.h"
#include "launch.h"
#include "macro.h"
#include "session.h"

extern char **environ;

const struct cell_network cell_network_none = {.name = "none"};
const struct cell_network cell_network_host = {.name = "host"};

/* The tail of the project id and a random part: unique, and tells whose cell it is. */
static int new_id(const struct cell_project *p, char **ret)
{
	const char *dash = strrchr(p->id, '-');
	uint32_t rnd;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	if (asprintf(ret, "%.12s-%08x", dash ? dash + 1 : "cell", rnd) < 0)
		return -ENOMEM;
	return cell_session_id_valid(*ret) ? 0 : -EINVAL;
}

/* The cell's shell: the config's, else a non-empty $SHELL, else /bin/sh. */
static const char *shell_of(const struct cell_config *c)
{
	const char *shell = c->shell ? c->shell : getenv("SHELL");

	return shell && *shell ? shell : "/bin/sh";
}

/* How a provider may be run for the project's environment. */
enum provider_use {
	PROVIDER_IF_STALE, /* when its cache is not fresh */
	PROVIDER_CACHE,	   /* never: the cache or nothing (cell explain) */
	PROVIDER_REFRESH,  /* even if the cache is fresh (cell env --refresh) */
};

/* The project's environment from its provider. */
static int provider_env(const struct cell_project *p, const struct cell_config *c,
			const struct cell_host *host, enum provider_use use,
			struct cell_provider_env *ret, char **ret_notice, struct cell_diag *d)
{
	struct cell_config_env env = cell_config_env_from_process();
	_cleanup_free_ char *state_dir = NULL;
	struct cell_provider_request req = {
		.root = p->root,
		.home = env.home,
		.environ = environ,
		.bwrap = host->bwrap,
		.provider = c->env.provider,
		.required = c->env.required,
		.cache_only = use == PROVIDER_CACHE,
		.refresh = use == PROVIDER_REFRESH,
	};

	if (asprintf(&state_dir, "%s/projects/%s", host->state_home, p->id) < 0)
		return -ENOMEM;
	req.state_dir = state_dir;
	return cell_provider_env(&req, ret, ret_notice, d);
}

static int plan(const struct cell_project *p, const struct cell_config *c,
		const struct cell_host *host, const char *id, uint16_t proxy_port,
		const struct cell_instance_args *a, const struct cell_provider_env *penv,
		const char *notice, struct cell_plan **ret, struct cell_diag *d)
{
	struct cell_config_env env = cell_config_env_from_process();
	char *shell_argv[] = {(char *)shell_of(c), NULL};
	struct cell_plan_input in = {
		.cwd = a->cwd,
		.command = a->interactive ? shell_argv : a->command,
		.environ = environ,
		.home = env.home,
		.user = env.user,
		.shell = shell_of(c),
		.host = host,
		.id = id,
		.proxy_port = proxy_port,
		.interactive = a->interactive,
		.leave_path = a->leave_path,
		.oldpwd = a->oldpwd,
		.login = a->login,
		.session = a->session,
		.learn = a->learn,
		.provider_env = penv,
		.provider_notice = notice,
	};

	return cell_plan_build(p, c, &in, ret, d);
}

int cell_instance_environment(const struct cell_project *p, const struct cell_config *c,
			      const struct cell_host *host, bool refresh, struct cell_plan **ret,
			      struct cell_provider_env *ret_env, char **ret_notice,
			      struct cell_diag *diag)
{
	struct cell_instance_args a = {.cwd = p->root, .command = (char *[]){(char *)"true", NULL}};
	int r = provider_env(p, c, host, refresh ? PROVIDER_REFRESH : PROVIDER_IF_STALE, ret_env,
			     ret_notice, diag);

	if (r >= 0)
		r = plan(p, c, host, "ID", 0, &a, ret_env, *ret_notice, ret, diag);
	return r;
}

int cell_instance_preview(const struct cell_project *p, const struct cell_config *c,
			  const struct cell_host *host, const struct cell_instance_args *a,
			  struct cell_plan **ret, struct cell_diag *diag)
{
	struct cell_provider_env penv = {.provider = CELL_PROVIDER_NONE};
	_cleanup_free_ char *notice = NULL;
	int r = provider_env(p, c, host, PROVIDER_CACHE, &penv, &notice, diag);

	if (r >= 0)
		r = plan(p, c, host, "ID", 0, a, &penv, notice, ret, diag);
	cell_provider_env_done(&penv);
	return r;
}

int cell_instance_member_plan(const struct cell_project *p, const struct cell_config *c,
			      const struct cell_instance_args *a, const char *id,
			      uint16_t proxy_port, struct cell_host *ret_host,
			      struct cell_plan **ret, bool *ret_plan_failed, struct cell_diag *diag)
{
	struct cell_provider_env penv = {.provider = CELL_PROVIDER_NONE};
	_cleanup_free_ char *notice = NULL;
	struct cell_instance_args member = *a;
	int r = cell_host_probe(ret_host, diag);

	member.session = true;
	*ret_plan_failed = false;
	if (r >= 0)
		r = provider_env(p, c, ret_host, PROVIDER_IF_STALE, &penv, &notice, diag);
	if (r >= 0) {
		r = plan(p, c, ret_host, id, proxy_port, &member, &penv, notice, ret, diag);
		*ret_plan_failed = r < 0 && r != -ENOMEM;
	}
	cell_provider_env_done(&penv);
	return r;
}

/* The network strategy for a plan's mode and isolation in effect. */
static const struct cell_network *network_for(enum cell_net_mode mode, enum cell_isolation i)
{
	switch (mode) {
	case CELL_NET_PROXY:
		return i == CELL_ISOLATION_BPF ? &cell_network_bpf : &cell_network_netns;
	case CELL_NET_HOST:
		return &cell_network_host;
	default:
		return &cell_network_none;
	}
}

int cell_instance_open(const struct cell_project *p, const struct cell_config *c,
		       const struct cell_instance_args *a, struct cell_instance **ret,
		       struct cell_diag *diag)
{
	struct cell_instance *inst = calloc(1, sizeof(*inst));
	int r;

	*ret = inst;
	if (!inst)
		return -ENOMEM;
	*inst = (struct cell_instance){.launch_r = -ECANCELED,
				       .provider_env = {.provider = CELL_PROVIDER_NONE}};
	inst->cell = (struct cell_network_cell){.project = p, .config = c, .host = &inst->host};
	/* cells cut short are closed before another opens (their kernel entries are every user's)
	 */
	cell_network_bpf_reap(NULL, NULL);
	r = cell_host_probe(&inst->host, diag);
	if (r < 0)
		return r;
	r = new_id(p, &inst->id);
	if (r < 0)
		return cell_diag_set(diag, r, NULL, NULL, "cannot name the cell: %s", strerror(-r));
	inst->cell.id = inst->id;
	/* the project's environment first: a provider that must not fail stops the cell here */
	r = provider_env(p, c, &inst->host, a->provider_cached ? PROVIDER_CACHE : PROVIDER_IF_STALE,
			 &inst->provider_env, &inst->provider_notice, diag);
	if (r < 0)
		return r;
	inst->net = network_for(cell_plan_net_mode(c, a->login),
				cell_plan_isolation(c, &inst->host, NULL));
	r = inst->net->open ? inst->net->open(&inst->cell, diag) : 0;
	if (r < 0)
		return r;
	r = plan(p, c, &inst->host, inst->id, inst->cell.proxy_port, a, &inst->provider_env,
		 inst->provider_notice, &inst->plan, diag);
	inst->cell.plan = inst->plan;
	if (r < 0) {
		inst->plan_failed = true;
		if (!diag->message)
			cell_diag_set(diag, r, NULL, NULL, "cannot plan the cell: %s",
				      strerror(-r));
	}
	return r;
}

int cell_instance_run(struct cell_instance *c, int *ret_status, int *ret_terminal_sig,
		      struct cell_diag *diag)
{
	struct cell_launch_session *session = NULL;
	int r;

	if (!c->host.bwrap)
		return cell_diag_set(diag, -ENOENT, NULL, NULL,
				     "bubblewrap is not installed (apt-get install bubblewrap)");
	r = c->net->start ? c->net->start(&c->cell, &session, diag) : 0;
	if (r < 0)
		return r;
	c->launch_r = cell_launch(c->plan, c->host.bwrap, session, c->watch, ret_status,
				  ret_terminal_sig, diag);
	return c->launch_r;
}

/* Frees what c holds, the cell left as it is. */
static void instance_free(struct cell_instance *c)
{
	cell_plan_free(c->plan);
	free(c->id);
	cell_host_done(&c->host);
	cell_provider_env_done(&c->provider_env);
	free(c->provider_notice);
	cell_config_free(c->own_config);
	cell_project_free(c->own_project);
	free(c);
}

int cell_instance_end(struct cell_instance *c, struct cell_diag *diag)
{
	int r = 0;

	if (!c)
		return 0;
	if (c->net && c->net->close)
		r = c->net->close(&c->cell, c->launch_r, diag);
	instance_free(c);
	return r;
}

void cell_instance_close(struct cell_instance *c)
{
	_cleanup_diag_ struct cell_diag d = {0};

	cell_instance_end(c, &d);
}

void cell_instance_release(struct cell_instance *c)
{
	if (!c)
		return;
	/* the strategy's hold of its cell is let go, never closed */
	if (c->net && c->net->release)
		c->net->release(&c->cell);
	instance_free(c);
}

/* A login's instance, before it is opened or resumed: pw's, with args (NULL: resumed). */
static struct cell_instance *login_new(const struct cell_syscell_args *a, const struct passwd *pw)
{
	struct cell_instance *inst = calloc(1, sizeof(*inst));

	if (!inst)
		return NULL;
	*inst = (struct cell_instance){.launch_r = -ECANCELED, .net = &cell_network_login};
	inst->login = (struct cell_network_login){.pw = pw, .args = a};
	inst->cell = (struct cell_network_cell){.host = &inst->host, .login = &inst->login};
	return inst;
}

int cell_instance_open_login(const struct cell_syscell_args *a, const struct passwd *pw,
			     struct cell_instance **ret, struct cell_diag *diag)
{
	struct cell_instance *inst = login_new(a, pw);
	struct cell_config_env env = {.home = pw->pw_dir, .user = pw->pw_name};
	struct cell_plan_login_input in;
	uint32_t rnd;
	int r;

	*ret = inst;
	if (!inst)
		return -ENOMEM;
	if (pw->pw_uid == 0)
		return cell_diag_set(diag, -EPERM, NULL, NULL,
				     "a cell is never root's: not for '%s'", pw->pw_name);
	if (a->require_login_shell && !cell_syscell_login_shell_ok(pw->pw_shell))
		return cell_diag_set(diag, -EPERM, NULL, NULL,
				     "%s's login shell is '%s', not cell-login-shell "
				     "(require_login_shell): the login would run outside the "
				     "filesystem cell",
				     pw->pw_name, pw->pw_shell);
	r = cell_project_open_system(a->project, a->config, &inst->own_project, diag);
	if (r >= 0)
		r = cell_project_load_config(inst->own_project, NULL, &env, &inst->own_config,
					     diag);
	if (r < 0)
		return r;
	inst->cell.project = inst->own_project;
	inst->cell.config = inst->own_config;
	inst->cell.mode =
		a->network >= 0 ? (enum cell_net_mode)a->network : inst->own_config->network.mode;
	if (inst->cell.mode == CELL_NET_HOST)
		return cell_diag_set(diag, -EPERM, inst->own_project->config_path, "network.mode",
				     "\"host\" is not for a whole login: use proxy or none");
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return cell_diag_set(diag, -EIO, NULL, NULL, "no random numbers for the cell's id");
	if (asprintf(&inst->id, "pam-%u-%08x", (unsigned)pw->pw_uid, rnd) < 0) {
		inst->id = NULL;
		return -ENOMEM;
	}
	inst->cell.id = inst->id;
	r = inst->net->open(&inst->cell, diag);
	if (r < 0)
		return r;
	in = (struct cell_plan_login_input){.root = a->project,
					    .config = a->config,
					    .shim = a->shim,
					    .id = inst->id,
					    .mode = inst->cell.mode,
					    .proxy_port = inst->cell.proxy_port};
	r = cell_plan_build_login(inst->own_config, &in, &inst->plan);
	inst->cell.plan = inst->plan;
	if (r < 0) {
		inst->plan_failed = true;
		return cell_diag_set(diag, r, NULL, NULL, "cannot plan the cell: %s", strerror(-r));
	}
	return 0;
}

int cell_instance_join(struct cell_instance *c, pid_t pid, struct cell_diag *diag)
{
	int r;

	if (!c->net->join)
		return cell_diag_set(diag, -EOPNOTSUPP, NULL, NULL,
				     "a %s cell is not joined by a process of its own",
				     c->net->name);
	r = c->net->join(&c->cell, pid, diag);
	if (r >= 0)
		c->launch_r = 0;
	return r;
}

int cell_instance_resume_login(const char *id, const struct passwd *pw, struct cell_instance **ret,
			       struct cell_diag *diag)
{
	struct cell_instance *inst = login_new(NULL, pw);
	int r;

	*ret = inst;
	if (!inst)
		return -ENOMEM;
	if (!cell_session_id_valid(id))
		return cell_diag_set(diag, -EINVAL, NULL, NULL, "'%s' is not a cell's id", id);
	inst->id = strdup(id);
	if (!inst->id)
		return -ENOMEM;
	inst->cell.id = inst->id;
	r = inst->net->resume(&inst->cell, diag);
	if (r >= 0)
		inst->launch_r = 0;
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * The plan is complete when cell_plan_build() returns it: what a cell contains follows from the
 * config and what the host offers (struct cell_host), and is compared here as data.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bwrap.h"
#include "helpers.h"
#include "plan.h"
#include "project.h"
#include "shimproto.h"
#include "strv.h"

static char *tmp, *root, *home, *state, *self;
static struct cell_project *project;
static struct cell_config *config;
static struct cell_host host;

static void load(const char *json)
{
	struct cell_config_env env = {.home = home, .user = "dev"};
	struct cell_diag d = {0};

	free(th_write(root, ".cell.json", json));
	cell_config_free(config);
	cell_project_free(project);
	config = NULL;
	project = NULL;
	cr_assert(eq(int, cell_project_find(root, &project, &d), 0));
	cr_assert(eq(int, cell_project_load_config(project, NULL, &env, &config, &d), 0), "%s",
		  d.message);
}

static void setup(void)
{
	tmp = th_mkdtemp();
	root = th_join(tmp, "src/proj");
	home = th_join(tmp, "home");
	state = th_join(tmp, "state");
	free(th_write(home, ".bashrc", "# rc"));
	self = th_join(tmp, "cell/build/cell");
	host = (struct cell_host){
		.init = (char *)"/opt/cell/libexec/cell-init",
		.bwrap = (char *)"/usr/bin/bwrap",
		.helper = (char *)"/opt/cell/libexec/cell-session",
		.shim = (char *)"/opt/cell/libexec/libcellshim.so",
		.self = NULL, /* a build tree's, set below */
		.state_home = state,
		.unix_hooks = true,
	};
	host.self = self;
	load("{\"name\": \"proj\", \"network\": {\"mode\": \"proxy\", \"local_ports\": [5173]}}");
}

static void teardown(void)
{
	cell_config_free(config);
	cell_project_free(project);
	th_rm_rf(tmp);
	free(tmp);
	free(root);
	free(home);
	free(state);
	free(self);
}

TestSuite(plan, .init = setup, .fini = teardown);

static struct cell_plan *build_with_shell(const struct cell_plan_input *extra, const char *shell)
{
	char *command[] = {(char *)"make", NULL};
	char *environ[] = {(char *)"PATH=/usr/bin:/bin", (char *)"AWS_SECRET_ACCESS_KEY=x",
			   (char *)"HTTP_PROXY=http://127.0.0.1:9", NULL};
	struct cell_plan_input in = {.cwd = root,
				     .command = command,
				     .environ = environ,
				     .home = home,
				     .user = "dev",
				     .shell = shell,
				     .host = &host,
				     .id = "proj-0000abcd",
				     .proxy_port = 4321};
	struct cell_plan *plan = NULL;
	struct cell_diag d = {0};

	if (extra) {
		in.interactive = extra->interactive;
		in.leave_path = extra->leave_path;
		in.oldpwd = extra->oldpwd;
		in.login = extra->login;
		if (extra->environ)
			in.environ = extra->environ;
	}
	cr_assert(eq(int, cell_plan_build(project, config, &in, &plan, &d), 0), "%s", d.message);
	return plan;
}

static struct cell_plan *build(const struct cell_plan_input *extra)
{
	return build_with_shell(extra, "/bin/bash");
}

/* Whether argv has arg, followed by value if that is set. */
static bool has_arg(char **argv, const char *arg, const char *value)
{
	for (size_t i = 0; argv[i]; i++)
		if (streq(argv[i], arg) && (!value || (argv[i + 1] && streq(argv[i + 1], value))))
			return true;
	return false;
}

static const char *env_of(const struct cell_plan *p, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; p->env && p->env[i]; i++)
		if (!strncmp(p->env[i], name, n) && p->env[i][n] == '=')
			return p->env[i] + n + 1;
	return NULL;
}

static const struct cell_mount_op *mount_at(const struct cell_plan *p, const char *dest)
{
	for (size_t i = 0; i < p->mounts.n; i++)
		if (!strcmp(p->mounts.ops[i].dest, dest))
			return &p->mounts.ops[i];
	return NULL;
}

static const char *file_at(const struct cell_plan *p, const char *dest)
{
	for (size_t i = 0; i < p->n_files; i++)
		if (!strcmp(p->files[i].dest, dest))
			return p->files[i].content;
	return NULL;
}

Test(plan, a_proxy_cell_has_its_proxy_the_shim_and_the_notices_file)
{
	struct cell_plan *p = build(NULL);
	char *notices = NULL;
	const char *conf;

	cr_assert(eq(int, p->net_mode, CELL_NET_PROXY));
	for (size_t i = 0; i < CELL_PROXY_VARS; i++)
		cr_assert(eq(str, (char *)env_of(p, cell_proxy_vars[i]),
			     (char *)(i < CELL_PROXY_URL_VARS ? "http://127.0.0.1:4321"
							      : CELL_NO_PROXY)));
	cr_assert(eq(ptr, (void *)env_of(p, "AWS_SECRET_ACCESS_KEY"), NULL));
	cr_assert(eq(str, p->shim, host.shim));
	conf = file_at(p, CELL_SHIM_CONF_PATH);
	cr_assert(not(eq(ptr, (void *)conf, NULL)));
	cr_assert(not(eq(ptr, strstr(conf, "proxy 4321\nlocal 5173\nenv LD_PRELOAD="), NULL)), "%s",
		  conf);
	cr_assert(not(eq(ptr, strstr(conf, "env HTTP_PROXY=http://127.0.0.1:4321\n"), NULL)));
	cr_assert(ge(int,
		     asprintf(&notices, "%s/projects/%s/notices-proj-0000abcd", state, project->id),
		     0));
	cr_assert(eq(str, p->notices_path, notices));
	cr_assert(eq(str, mount_at(p, "/run/cell/notices")->src, notices));
	cr_assert(eq(int, mount_at(p, "/run/cell/notices")->kind, CELL_OP_RO_BIND));
	cr_assert(eq(str, (char *)env_of(p, "CELL_NOTICES"), (char *)"/run/cell/notices"));
	/* cell itself, outside the system's directories, is bound at its own path */
	cr_assert(not(eq(ptr, (void *)mount_at(p, self), NULL)));
	cr_assert(eq(int, mount_at(p, self)->kind, CELL_OP_RO_BIND));
	cr_assert(eq(ptr, p->notices, NULL));
	free(notices);
	cell_plan_free(p);
}

Test(plan, without_cell_session_a_proxy_cell_gets_a_network_namespace_of_its_own)
{
	struct cell_plan *p;
	char **argv = NULL, fd[16];

	host.helper = NULL;
	host.why = "cell-session is not installed";
	p = build(NULL);
	cr_assert(eq(int, p->net_mode, CELL_NET_PROXY));
	cr_assert(eq(int, p->isolation, CELL_ISOLATION_NETNS));
	cr_assert(eq(str, (char *)env_of(p, "HTTP_PROXY"), (char *)"http://127.0.0.1:4321"));
	cr_assert(not(eq(ptr, p->notices_path, NULL)));
	cr_assert(eq(ptr, p->notices, NULL));
	/* bubblewrap makes the namespace; cell-init gets the socket pair after the files */
	cr_assert(eq(int, cell_bwrap_argv("/usr/bin/bwrap", p, &argv), 0));
	snprintf(fd, sizeof(fd), "%d", cell_bwrap_net_fd(p));
	cr_assert(has_arg(argv, "--unshare-net", NULL));
	cr_assert(has_arg(argv, "--net-fd", fd));
	cr_assert(eq(int, cell_bwrap_net_fd(p), (int)(CELL_BWRAP_FD_FILES + p->n_files)));
	cell_strv_free(argv);
	cell_plan_free(p);
}

/* Which cells cell-session opens (plan.h's held): every BPF proxy cell; a netns one only when
 * its config sets limits and the helper has privilege (its cgroup holds them); never one of
 * none or host mode, whose limits.pids is RLIMIT_NPROC and the rest said once. */
Test(plan, a_netns_cell_with_limits_is_held_where_cell_session_may)
{
	struct cell_plan *p;

	p = build(NULL);
	cr_assert(eq(int, p->isolation, CELL_ISOLATION_BPF));
	cr_assert(p->held);
	cell_plan_free(p);
	load("{\"name\": \"proj\", \"network\": {\"isolation\": \"netns\"}}");
	p = build(NULL);
	cr_assert(not(p->held));
	cell_plan_free(p);
	load("{\"name\": \"proj\", \"network\": {\"isolation\": \"netns\"}, "
	     "\"limits\": {\"memory\": \"64M\", \"pids\": 32}}");
	p = build(NULL);
	cr_assert(p->held);
	cr_assert(eq(u32, p->nproc, 0));
	cr_assert(eq(ptr, p->notice_once, NULL));
	cell_plan_free(p);
	host.helper = NULL;
	host.why = "cell-session is not installed";
	p = build(NULL);
	cr_assert(not(p->held));
	cr_assert(not(eq(ptr, p->notice_once, NULL)));
	cell_plan_free(p);
	host.helper = (char *)"/opt/cell/libexec/cell-session";
	load("{\"name\": \"proj\", \"network\": {\"mode\": \"none\"}, "
	     "\"limits\": {\"memory\": \"64M\", \"pids\": 32}}");
	p = build(NULL);
	cr_assert(not(p->held));
	cr_assert(not(eq(ptr, strstr(p->notice_once, "limits.memory"), NULL)), "%s",
		  p->notice_once);
	cell_plan_free(p);
}

/* network.isolation: auto takes BPF only where the helper has privilege and the kernel has every
 * hook; bpf without the helper is an error that names the file, the key and a way out. */
Test(plan, isolation_auto_bpf_and_netns)
{
	char *command[] = {(char *)"make", NULL};
	struct cell_plan_input input = {.cwd = root,
					.command = command,
					.environ = (char *[]){NULL},
					.home = home,
					.user = "dev",
					.shell = "/bin/sh",
					.host = &host,
					.id = "proj-0000abcd",
					.proxy_port = 4321};
	struct cell_diag d = {0};
	struct cell_plan *p = NULL;
	const char *why;

	host.unix_hooks = true;
	cr_assert(eq(int, cell_plan_isolation(config, &host, &why), CELL_ISOLATION_BPF));
	host.unix_hooks = false;
	cr_assert(eq(int, cell_plan_isolation(config, &host, &why), CELL_ISOLATION_NETNS));
	cr_assert(not(eq(ptr, strstr(why, "abstract Unix sockets"), NULL)));
	host.unix_hooks = true;
	host.helper = NULL;
	host.why = "cell-session is not setuid root";
	cr_assert(eq(int, cell_plan_isolation(config, &host, &why), CELL_ISOLATION_NETNS));
	cr_assert(eq(str, (char *)why, (char *)"cell-session is not setuid root"));
	config->network.isolation = CELL_ISOLATION_BPF;
	cr_assert(eq(int, cell_plan_build(project, config, &input, &p, &d), -EPERM));
	cr_assert(eq(str, d.json_path, (char *)"network.isolation"));
	cr_assert(not(eq(ptr,
			 strstr(d.message, "\"bpf\" needs cell-session's privilege, and "
					   "cell-session is not setuid root; use \"auto\" or "
					   "\"netns\""),
			 NULL)),
		  "%s", d.message);
	cr_assert(eq(str, d.file, project->config_path));
	cell_diag_clear(&d);
}

Test(plan, a_build_without_the_shim_runs_a_proxy_cell_without_it)
{
	struct cell_plan *p;

	host.shim = NULL;
	p = build(NULL);
	cr_assert(eq(int, p->net_mode, CELL_NET_PROXY));
	cr_assert(eq(ptr, p->shim, NULL));
	cr_assert(eq(ptr, (void *)file_at(p, CELL_SHIM_CONF_PATH), NULL));
	cr_assert(eq(str, (char *)env_of(p, "HTTP_PROXY"), (char *)"http://127.0.0.1:4321"));
	cell_plan_free(p);
}

Test(plan, a_logins_cell_has_the_sessions_proxy_and_id)
{
	char *environ[] = {(char *)"PATH=/usr/bin", (char *)"HTTP_PROXY=http://127.0.0.1:4444",
			   (char *)"https_proxy=http://127.0.0.1:4444",
			   (char *)"CELL_ID=pam-1000-abcd", NULL};
	struct cell_plan_input extra = {.login = true, .environ = environ};
	struct cell_plan *p = build(&extra);

	cr_assert(eq(int, p->net_mode, CELL_NET_HOST));
	cr_assert(eq(str, (char *)env_of(p, "HTTP_PROXY"), (char *)"http://127.0.0.1:4444"));
	cr_assert(eq(str, (char *)env_of(p, "https_proxy"), (char *)"http://127.0.0.1:4444"));
	cr_assert(eq(ptr, (void *)env_of(p, "ALL_PROXY"), NULL));
	cr_assert(eq(str, (char *)env_of(p, "CELL_ID"), (char *)"pam-1000-abcd"));
	cr_assert(not(eq(ptr, strstr(file_at(p, CELL_SHIM_CONF_PATH), "proxy 4444\n"), NULL)));
	/* the session keeps the notices: the cell has none of its own */
	cr_assert(eq(ptr, p->notices_path, NULL));
	cell_plan_free(p);
}

Test(plan, an_interactive_shell_with_the_hooks_file)
{
	char *leave = th_join(tmp, "cell-hook.1000.42");
	struct cell_plan_input extra = {
		.interactive = true, .leave_path = leave, .oldpwd = "/home/dev/notes"};
	struct cell_plan *p = build(&extra);

	cr_assert(eq(str, p->argv[0], (char *)"/bin/bash"));
	cr_assert(eq(str, p->argv[1], (char *)"--rcfile"));
	cr_assert(not(eq(ptr, (void *)file_at(p, p->argv[2]), NULL)));
	cr_assert(eq(str, mount_at(p, "/run/cell/leave")->src, leave));
	cr_assert(eq(int, mount_at(p, "/run/cell/leave")->kind, CELL_OP_BIND));
	cr_assert(eq(str, (char *)env_of(p, "CELL_LEAVE"), (char *)"/run/cell/leave"));
	cr_assert(eq(str, (char *)env_of(p, "CELL_OLDPWD"), (char *)"/home/dev/notes"));
	cell_plan_free(p);
	free(leave);
}

Test(plan, cell_from_the_system_or_the_project_is_not_bound_again)
{
	char *in_project = th_join(root, "build/cell");
	struct cell_plan *p;

	host.self = (char *)"/usr/bin/cell";
	p = build(NULL);
	cr_assert(eq(ptr, (void *)mount_at(p, "/usr/bin/cell"), NULL));
	cell_plan_free(p);
	host.self = in_project;
	p = build(NULL);
	cr_assert(eq(ptr, (void *)mount_at(p, in_project), NULL));
	cell_plan_free(p);
	free(in_project);
}

/* Each shell gets the rc files that mark its prompt, read-only, and reads the user's own. */
Test(plan, zsh_fish_and_sh_get_their_own_rc)
{
	struct cell_plan_input extra = {.interactive = true};
	struct cell_plan *p;

	p = build_with_shell(&extra, "/usr/bin/zsh");
	cr_assert(eq(str, p->argv[0], (char *)"/usr/bin/zsh"));
	cr_assert(eq(str, p->argv[1], (char *)"-l"));
	cr_assert(eq(ptr, p->argv[2], NULL));
	cr_assert(eq(str, (char *)env_of(p, "ZDOTDIR"), (char *)"/run/cell/rc/zsh"));
	cr_assert(
		not(eq(ptr, strstr(file_at(p, "/run/cell/rc/zsh/.zshrc"), "$HOME/.zshrc"), NULL)));
	cell_plan_free(p);
	p = build_with_shell(&extra, "/usr/bin/fish");
	cr_assert(eq(str, p->argv[2], (char *)"-C"));
	cr_assert(eq(sz, p->n_files, 1)); /* the shim's settings only */
	cell_plan_free(p);
	p = build_with_shell(&extra, "/bin/dash");
	cr_assert(eq(str, (char *)env_of(p, "ENV"), (char *)"/run/cell/rc/shrc"));
	/* (not a login shell: the rc reads the login files after saving the cell's PATH) */
	cr_assert(eq(str, p->argv[1], (char *)"-i"));
	cr_assert(eq(ptr, p->argv[2], NULL));
	cr_assert(not(eq(ptr, strstr(file_at(p, "/run/cell/rc/shrc"), ". /etc/profile"), NULL)));
	cell_plan_free(p);
}

/* pam_cell.so's plan: what the login's environment gets, and the shim's settings file. */
Test(plan, a_whole_logins_cell_is_its_variables_and_the_shims_settings)
{
	struct cell_plan_login_input in = {.root = "/srv/agent/work",
					   .config = "/etc/cell/agent.json",
					   .shim = "/usr/libexec/cell/libcellshim.so",
					   .id = "pam-1001-0000beef",
					   .mode = CELL_NET_PROXY,
					   .proxy_port = 40001};
	const char *want[] = {
		"HTTP_PROXY=http://127.0.0.1:40001",
		"CELL_ID=pam-1001-0000beef",
		"CELL_NAME=proj",
		"CELL_ROOT=/srv/agent/work",
		"CELL_CONFIG=/etc/cell/agent.json",
		CELL_SHIM_CONF_VAR "=/run/cell-shim/pam-1001-0000beef.conf",
		"LD_PRELOAD=/usr/libexec/cell/libcellshim.so",
	};
	struct cell_plan *p = NULL;
	const char *conf;
	size_t n = 0;

	cr_assert(eq(int, cell_plan_build_login(config, &in, &p), 0));
	cr_assert(eq(int, p->net_mode, CELL_NET_PROXY));
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		size_t k = strcspn(want[i], "=");
		char name[64];

		snprintf(name, sizeof(name), "%.*s", (int)k, want[i]);
		cr_assert(eq(str, (char *)env_of(p, name), (char *)want[i] + k + 1), "%s", name);
	}
	for (size_t i = 0; i < CELL_PROXY_VARS; i++)
		cr_assert(not(eq(ptr, (void *)env_of(p, cell_proxy_vars[i]), NULL)));
	while (p->env[n])
		n++;
	/* nothing else: a login keeps its own environment */
	cr_assert(eq(sz, n, CELL_PROXY_VARS + ELEMENTSOF(want) - 1));
	cr_assert(eq(sz, p->n_files, 1));
	conf = file_at(p, "/run/cell-shim/pam-1001-0000beef.conf");
	cr_assert(not(eq(ptr, (void *)conf, NULL)));
	cr_assert(not(eq(ptr,
			 strstr(conf, "proxy 40001\nlocal 5173\nenv LD_PRELOAD=/usr/libexec/cell/"
				      "libcellshim.so\nenv " CELL_SHIM_CONF_VAR
				      "=/run/cell-shim/pam-1001-0000beef.conf\n"),
			 NULL)),
		  "%s", conf);
	cr_assert(eq(ptr, p->argv, NULL));
	cr_assert(eq(sz, p->mounts.n, 0));
	cell_plan_free(p);

	/* network none: no proxy, no shim; without config= no CELL_CONFIG */
	in.mode = CELL_NET_NONE;
	in.proxy_port = 0;
	in.config = NULL;
	cr_assert(eq(int, cell_plan_build_login(config, &in, &p), 0));
	cr_assert(eq(ptr, (void *)env_of(p, "HTTP_PROXY"), NULL));
	cr_assert(eq(ptr, (void *)env_of(p, "LD_PRELOAD"), NULL));
	cr_assert(eq(ptr, (void *)env_of(p, "CELL_CONFIG"), NULL));
	cr_assert(eq(str, (char *)env_of(p, "CELL_ID"), (char *)"pam-1001-0000beef"));
	cr_assert(eq(sz, p->n_files, 0));
	cell_plan_free(p);
}

/* The provider's... then env.files in order, then env.set; scripts and hooks as files. */
Test(plan, dotenv_files_then_env_set_scripts_and_enter_hooks)
{
	struct cell_plan *p;
	const char *scripts, *hooks;

	free(th_write(root, ".env", "A=env\nB=env\nC=env\n"));
	free(th_write(root, "config/local.env", "B=local\n"));
	load("{\"name\": \"proj\", \"network\": {\"mode\": \"none\"},"
	     " \"env\": {\"files\": [\".env\", \"./config/local.env\", \"missing.env\"],"
	     " \"set\": {\"C\": \"set\"}},"
	     " \"scripts\": {\"test\": \"pytest -q\", \"say\": \"echo 'it is'\"},"
	     " \"hooks\": {\"enter\": [\"echo ready\"]}}");
	p = build(NULL);
	cr_assert(eq(str, (char *)env_of(p, "A"), (char *)"env"));
	cr_assert(eq(str, (char *)env_of(p, "B"), (char *)"local"));
	cr_assert(eq(str, (char *)env_of(p, "C"), (char *)"set"));
	cr_assert(eq(int, strncmp(env_of(p, "PATH"), "/run/cell/bin:", 14), 0), "%s",
		  env_of(p, "PATH"));
	scripts = file_at(p, "/run/cell/scripts");
	cr_assert(not(eq(ptr, (void *)scripts, NULL)));
	cr_assert(not(eq(ptr, strstr(scripts, "test) eval 'pytest -q' ;;\n"), NULL)), "%s",
		  scripts);
	cr_assert(not(eq(ptr, strstr(scripts, "say) eval 'echo '\\''it is'\\''' ;;\n"), NULL)),
		  "%s", scripts);
	cr_assert(eq(u32, p->files[0].mode, 0555));
	cr_assert(eq(str, mount_at(p, "/run/cell/bin/test")->src, (char *)"/run/cell/scripts"));
	cr_assert(eq(int, mount_at(p, "/run/cell/bin/test")->kind, CELL_OP_SYMLINK));
	hooks = file_at(p, "/run/cell/hooks/enter");
	cr_assert(not(eq(ptr, strstr(hooks, "eval 'echo ready' || echo \"cell: hooks.enter[0]"),
			 NULL)),
		  "%s", hooks);
	cr_assert(eq(str, p->enter_hooks, (char *)"/run/cell/hooks/enter"));
	cell_plan_free(p);
}

/* Where TLS clients find their CAs passes if the cell has the file there. */
Test(plan, TLS_trust_store_variables_pass_when_the_cell_has_the_file)
{
	char *ca = th_join(root, "certs/ca.pem");
	char *env_ca = NULL, *environ[] = {(char *)"PATH=/usr/bin", NULL, NULL, NULL};
	struct cell_plan_input extra = {.environ = environ};
	struct cell_plan *p;

	cr_assert(ge(int, asprintf(&env_ca, "SSL_CERT_FILE=%s", ca), 0));
	environ[1] = env_ca;
	environ[2] = (char *)"NODE_EXTRA_CA_CERTS=/home/someone/private/ca.pem";
	p = build(&extra);
	cr_assert(eq(str, (char *)env_of(p, "SSL_CERT_FILE"), ca));
	cr_assert(eq(ptr, (void *)env_of(p, "NODE_EXTRA_CA_CERTS"), NULL));
	cell_plan_free(p);
	free(env_ca);
	free(ca);
}

/* bwrap_args: after cell's own mounts, a source as it resolves; nothing from where the cell
 * writes (a link it made there would choose the source) and nothing onto it (bubblewrap would
 * follow a link there out to the host's files). */
Test(plan, raw_bwrap_args_follow_the_mounts_and_stay_off_what_the_cell_writes)
{
	char *command[] = {(char *)"make", NULL};
	struct cell_plan_input in = {.cwd = root,
				     .command = command,
				     .home = home,
				     .user = "dev",
				     .shell = "/bin/bash",
				     .host = &host,
				     .id = "proj-0000abcd"};
	char *sdk = th_join(tmp, "sdk"), *vendor = th_join(root, "vendor"), **argv = NULL;
	char json[2048];
	static const char *const refused[][3] = {
		/* the project's own directory, or the project again (without its read-only .git) */
		{"--ro-bind", "./vendor", "/opt/vendor"},
		{"--bind", ".", "/workspace"},
		{"--bind", "%s", "/workspace"},
		/* onto the project */
		{"--ro-bind", "%s", "%s/sdk"},
		{"--chmod", "0644", "%s/run.sh"},
	};
	struct cell_plan *plan;
	size_t i = 0;

	cr_assert(eq(int, mkdir(sdk, 0755), 0));
	cr_assert(eq(int, mkdir(vendor, 0755), 0));
	snprintf(json, sizeof(json),
		 "{\"name\": \"proj\", \"network\": {\"mode\": \"none\"}, \"hardening\": "
		 "{\"raw_bwrap_args\": true}, \"bwrap_args\": [\"--ro-bind\", \"%s\", "
		 "\"/opt/sdk\", \"--setenv\", \"A\", \"1\"]}",
		 sdk);
	load(json);
	plan = build(NULL);
	cr_assert(eq(sz, cell_strv_length(plan->bwrap_args), 6));
	cr_assert(eq(str, plan->bwrap_args[1], sdk));
	cr_assert(eq(str, plan->bwrap_args[2], (char *)"/opt/sdk"));
	cr_assert(not(eq(ptr, plan->warnings, NULL)));
	cr_assert(not(eq(ptr, strstr(plan->warnings[0], "cannot vouch"), NULL)));
	cr_assert(eq(int, cell_bwrap_argv("/usr/bin/bwrap", plan, &argv), 0));
	while (argv[i] && !(streq(argv[i], "--ro-bind") && streq(argv[i + 1], sdk)))
		i++;
	cr_assert(not(eq(ptr, argv[i], NULL)));
	/* after every mount of cell's own, before cell-init's bind */
	for (size_t k = 0; k < i; k++)
		cr_assert(not(eq(str, argv[k], (char *)"/opt/cell/libexec/cell-init")));
	cell_strv_free(argv);
	cell_plan_free(plan);
	for (size_t k = 0; k < ELEMENTSOF(refused); k++) {
		char a[3][256];
		struct cell_diag d = {0};

		for (int j = 0; j < 3; j++)
			snprintf(a[j], sizeof(a[j]), refused[k][j], j == 1 && k == 3 ? sdk : root);
		snprintf(json, sizeof(json),
			 "{\"name\": \"proj\", \"hardening\": {\"raw_bwrap_args\": true}, "
			 "\"bwrap_args\": [\"%s\", \"%s\", \"%s\"]}",
			 a[0], a[1], a[2]);
		load(json);
		plan = NULL;
		cr_assert(eq(int, cell_plan_build(project, config, &in, &plan, &d), -EPERM),
			  "%s %s %s", a[0], a[1], a[2]);
		cr_assert(strstr(d.message, "where the cell writes") ||
				  strstr(d.message, "the cell writes there"),
			  "%s", d.message);
		cell_diag_clear(&d);
	}
	free(sdk);
	free(vendor);
}

/* The nix-daemon preset binds the daemon's socket and says what that gives away. */
Test(plan, the_nix_daemon_preset_binds_the_socket_and_warns)
{
	struct cell_plan *plan;
	bool warned = false;

	load("{\"name\": \"proj\", \"network\": {\"mode\": \"none\"}, \"presets\": "
	     "[\"nix-daemon\"]}");
	plan = build(NULL);
	for (size_t i = 0; plan->warnings && plan->warnings[i]; i++)
		warned = warned || strstr(plan->warnings[i], "outside the cell, with the network");
	cr_assert(warned);
	cell_plan_free(plan);
}

/* The organisation's CA named outside, in a file the cell has not: its certificates come in
 * (nothing else of the file), the variable with them, and the shim keeps it; a FIFO or a file
 * without certificates brings nothing (and stops nothing). */
Test(plan, a_trust_stores_certificates_come_in_and_nothing_else_of_its_file)
{
	char *pem = th_write(home, "corp/ca.pem",
			     "# the corp's bundle\n-----BEGIN CERTIFICATE-----\nQUJD\n"
			     "-----END CERTIFICATE-----\ntoken=not-for-the-cell\n"
			     "-----BEGIN PRIVATE KEY-----\nREVG\n-----END PRIVATE KEY-----\n");
	char *key = th_write(home, "corp/only.key",
			     "-----BEGIN PRIVATE KEY-----\nREVG\n-----END PRIVATE KEY-----\n");
	char *fifo = th_join(home, "corp/fifo"), *nev, *req, *git, *environ[6];
	struct cell_plan_input extra = {.environ = environ};
	struct cell_plan *p;
	const char *conf;

	cr_assert(eq(int, mkfifo(fifo, 0600), 0));
	cr_assert(ge(int, asprintf(&nev, "NODE_EXTRA_CA_CERTS=%s", pem), 0));
	cr_assert(ge(int, asprintf(&req, "REQUESTS_CA_BUNDLE=%s", key), 0));
	cr_assert(ge(int, asprintf(&git, "GIT_SSL_CAINFO=%s", fifo), 0));
	environ[0] = (char *)"PATH=/usr/bin:/bin";
	environ[1] = nev;
	environ[2] = req;
	environ[3] = git;
	environ[4] = NULL;
	p = build(&extra);
	cr_assert(eq(str, (char *)env_of(p, "NODE_EXTRA_CA_CERTS"), pem));
	cr_assert(eq(str, (char *)file_at(p, pem),
		     "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"));
	cr_assert(eq(ptr, (void *)env_of(p, "REQUESTS_CA_BUNDLE"), NULL));
	cr_assert(eq(ptr, (void *)file_at(p, key), NULL));
	cr_assert(eq(ptr, (void *)env_of(p, "GIT_SSL_CAINFO"), NULL));
	conf = file_at(p, CELL_SHIM_CONF_PATH);
	cr_assert(not(eq(ptr, strstr(conf, nev), NULL)), "%s", conf);
	cell_plan_free(p);
	free(pem);
	free(key);
	free(fifo);
	free(nev);
	free(req);
	free(git);
}

/* A forward to a port below 1024 of a cell of its own network namespace, where nothing may
 * listen there: said before the cell starts; with BPF (the host's loopback) nothing to say. */
Test(plan, a_forward_to_a_privileged_port_of_a_netns_cell_is_said)
{
	struct cell_plan *p;

	load("{\"name\": \"proj\", \"network\": {\"mode\": \"proxy\", "
	     "\"forward\": [3000, \"8080:80\"]}}");
	host.helper = NULL;
	host.why = "cell-session is not installed";
	p = build(NULL);
	cr_assert(eq(str, p->notices[0],
		     (char *)"network.forward[1]: nothing in the cell may listen on its port 80 "
			     "(below 1024, the kernel's privileged ports): forward to a port of "
			     "1024 or above"));
	cr_assert(eq(ptr, p->notices[1], NULL));
	cell_plan_free(p);
	host.helper = (char *)"/opt/cell/libexec/cell-session";
	p = build(NULL);
	cr_assert(eq(ptr, p->notices, NULL));
	cell_plan_free(p);
}

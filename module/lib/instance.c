/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "instance.h"
#include "launch.h"
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

static int plan(const struct cell_project *p, const struct cell_config *c,
		const struct cell_host *host, const char *id, uint16_t proxy_port,
		const struct cell_instance_args *a, struct cell_plan **ret, struct cell_diag *d)
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
	};

	return cell_plan_build(p, c, &in, ret, d);
}

int cell_instance_preview(const struct cell_project *p, const struct cell_config *c,
			  const struct cell_host *host, const struct cell_instance_args *a,
			  struct cell_plan **ret, struct cell_diag *diag)
{
	return plan(p, c, host, "ID", 0, a, ret, diag);
}

/* The network strategy for a plan's mode in effect. */
static const struct cell_network *network_for(enum cell_net_mode mode)
{
	switch (mode) {
	case CELL_NET_PROXY:
		return &cell_network_bpf;
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
	*inst = (struct cell_instance){.launch_r = -ECANCELED};
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
	inst->net = network_for(cell_plan_net_mode(c, &inst->host, a->login));
	r = inst->net->open ? inst->net->open(&inst->cell, diag) : 0;
	if (r < 0)
		return r;
	r = plan(p, c, &inst->host, inst->id, inst->cell.proxy_port, a, &inst->plan, diag);
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
	c->launch_r =
		cell_launch(c->plan, c->host.bwrap, session, ret_status, ret_terminal_sig, diag);
	return c->launch_r;
}

void cell_instance_close(struct cell_instance *c)
{
	if (!c)
		return;
	if (c->net && c->net->close)
		c->net->close(&c->cell, c->launch_r);
	cell_plan_free(c->plan);
	free(c->id);
	cell_host_done(&c->host);
	free(c);
}

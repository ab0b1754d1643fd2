/* SPDX-License-Identifier: MIT */
/*
 * cell login-shell [-c COMMAND]: an account's login shell for logins pam_cell.so puts in a cell
 * (docs/pam.md). Set as the account's shell by way of the name cell-login-shell (a link to
 * cell: /etc/passwd holds no arguments); sshd and login run it as "-cell-login-shell" and
 * with "-c COMMAND" for a command.
 *
 * The login is in its cell already (pam_cell.so: the cgroup, the kernel's rules, the proxy and
 * its variables); this adds the filesystem: the shell runs in a bubblewrap cell of the
 * project pam_cell.so named (CELL_ROOT, and CELL_CONFIG when the service gave config=), with
 * the host's network as the session has it, which the kernel confines.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "plan.h"
#include "project.h"
#include "shimproto.h"
#include "syscell.h"

/* The shell to start: the config's, else bash, else sh (the account's own is this). */
static const char *inner_shell(const struct cell_config *c)
{
	if (c->shell)
		return c->shell;
	return access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
}

int cmd_login_shell(int argc, char *argv[])
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_config_env env = cell_config_env_from_process();
	const char *root = getenv("CELL_ROOT"), *command = NULL;
	char *shell_argv[4] = {NULL}, id[64];
	int opt, r;

	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{0},
	};

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:hc:", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage("login-shell", false);
			return CELL_EXIT_OK;
		}
		if (opt != 'c')
			return cli_bad_option(argv, opt);
		command = optarg;
	}
	if (optind < argc)
		return cli_bad_usage("login-shell", "unexpected argument '%s'", argv[optind]);
	if (!root || root[0] != '/') {
		fprintf(stderr, "cell login-shell: this login has no cell (pam_cell.so in the "
				"service's session stack sets CELL_ROOT)\n");
		return CELL_EXIT_FAILURE;
	}
	/* the kernel's confinement comes from the session's cell: never start a shell outside */
	if (cell_syscell_find(getuid(), id, sizeof(id)) < 0) {
		fprintf(stderr, "cell login-shell: this process is not in its login's cell\n");
		return CELL_EXIT_FAILURE;
	}
	r = cell_project_open_system(root, getenv("CELL_CONFIG"), &p, &d);
	if (r >= 0)
		r = cell_project_load_config(p, NULL, &env, &c, &d);
	if (r < 0) {
		cli_print_diag(&d);
		return CELL_EXIT_CONFIG;
	}
	shell_argv[0] = (char *)inner_shell(c);
	shell_argv[1] = (char *)(command ? "-c" : "-l");
	shell_argv[2] = (char *)command;
	/* the host's network, as the session's cell lets it: its proxy, and nothing else */
	return cli_cell_run(
		p, c,
		&(struct cell_instance_args){.cwd = p->root, .command = shell_argv, .login = true});
}

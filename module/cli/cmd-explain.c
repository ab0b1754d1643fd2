/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "bwrap.h"
#include "fileio.h"
#include "quote.h"
#include "seccomp.h"
#include "strv.h"

/* Warnings in red on a terminal (unless NO_COLOR is set, https://no-color.org). */
static const char *red(bool on)
{
	static int tty = -1;

	if (tty < 0)
		tty = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	return !tty ? "" : on ? "\033[1;31m" : "\033[0m";
}

static void print_list(const char *title, char *const *l)
{
	if (!l)
		return;
	printf("        %s: ", title);
	for (size_t i = 0; l[i]; i++)
		printf("%s%s", i ? ", " : "", l[i]);
	printf("\n");
}

static void print_rules(const char *title, const struct cell_rule *rules, size_t n)
{
	printf("  %s:%s\n", title, n ? "" : " (none)");
	for (size_t i = 0; i < n; i++) {
		const struct cell_rule *r = &rules[i];

		printf("    %-34s %s\n", r->text, r->origin);
		if (r->inspect)
			printf("        inspect: the proxy ends its TLS (the cell trusts your cell CA) "
			       "and sees each request\n");
		print_list("methods", r->methods);
		print_list("paths", r->paths);
		/* (as written: the secret's value never shows) */
		if (r->inject_header)
			printf("        inject: %s: %s\n", r->inject_header, r->inject_value);
	}
}

/* The user's secrets: their names and where they come from, never their values. */
static void print_secrets(const struct cell_config *c)
{
	static const char *const sources[] = {"command", "file", "env"};

	for (size_t i = 0; i < c->n_secrets; i++) {
		const struct cell_secret *sec = &c->secrets[i];

		printf("  secret %s: %s %s\n", sec->name, sources[sec->source],
		       sec->source == CELL_SECRET_COMMAND ? sec->command[0] : sec->where);
	}
}

/* How a proxy cell is held to its proxy here, and why (plan.h). */
static void print_isolation(const struct cell_config *c)
{
	_cleanup_diag_ struct cell_diag d = {0};
	_cleanup_host_ struct cell_host host = {0};
	const char *why = NULL;
	enum cell_isolation i;

	if (cell_host_probe(&host, &d) < 0) {
		printf("  isolation: %s (%s)\n", cell_isolation_to_string(c->network.isolation),
		       d.message ? d.message : "this machine could not be probed");
		return;
	}
	i = cell_plan_isolation(c, &host, &why);
	printf("  isolation: %s", cell_isolation_to_string(i));
	if (c->network.isolation == CELL_ISOLATION_AUTO)
		printf(" (auto: %s)", why);
	printf("\n    %s\n",
	       i == CELL_ISOLATION_BPF
		       ? "the host's network namespace; the cell's cgroup's BPF programs let its "
			 "sockets reach its proxy only, and count them"
		       : "a network namespace of the cell's own (only its loopback, where its "
			 "proxy's socket is); the proxy counts");
	if (i == CELL_ISOLATION_BPF && !host.helper)
		printf("  %sERROR: \"bpf\" needs cell-session's privilege, and %s%s\n", red(true),
		       host.why, red(false));
}

static void print_network(const struct cell_config *c)
{
	printf("network:\n  mode: %s", cell_net_mode_to_string(c->network.mode));
	switch (c->network.mode) {
	case CELL_NET_PROXY:
		printf(" (default deny: only the hosts allowed below, through the cell's proxy)\n");
		print_isolation(c);
		break;
	case CELL_NET_NONE:
		printf(" (no network at all)\n");
		break;
	default:
		printf("\n  %sWARNING: network.mode is \"host\": the cell can reach any host, and "
		       "nothing is filtered or counted%s\n",
		       red(true), red(false));
		break;
	}
	print_rules("allow", c->network.allow, c->network.n_allow);
	print_secrets(c);
	print_rules("deny", c->network.deny, c->network.n_deny);
	printf("  local ports:");
	for (size_t i = 0; i < c->network.n_local_ports; i++)
		printf(" %u", c->network.local_ports[i]);
	printf("%s\n", c->network.n_local_ports ? "" : " (none)");
	printf("  forward:");
	for (size_t i = 0; i < c->network.n_forward; i++)
		printf(" 127.0.0.1:%u->%u", (unsigned)c->network.forward[i].host_port,
		       (unsigned)c->network.forward[i].cell_port);
	printf("%s\n", c->network.n_forward ? " (the host's port -> the cell's, in a cell of its "
					      "own network namespace)"
					    : " (none)");
	for (size_t i = 0; i < c->network.n_resolve; i++)
		printf("  resolve: %s -> %s\n", c->network.resolve[i].key,
		       c->network.resolve[i].value);
}

static void print_config(const struct cell_config *c)
{
	printf("name: %s\n", c->name);
	printf("shell: %s\n", c->shell ? c->shell : "(your login shell)");
	printf("presets:");
	for (size_t i = 0; c->presets && c->presets[i]; i++)
		printf(" %s", c->presets[i]);
	printf("%s\n", c->presets && c->presets[0] ? "" : " (none)");
	print_network(c);
	printf("mounts:%s\n", c->n_mounts ? "" : " (only the defaults)");
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct cell_mount *m = &c->mounts[i];

		printf("  %-7s %s", cell_mount_mode_to_string(m->mode), m->path);
		if (!streq(m->dest, m->path))
			printf(" -> %s", m->dest);
		printf("%s%s\n", m->optional ? " (optional)" : "",
		       m->canonicalize ? " (canonicalize)" : "");
		printf("          from %s\n", m->origin);
		/* (the cell below cannot be planned then: this is why) */
		if (m->mode != CELL_MOUNT_TMPFS && m->mode != CELL_MOUNT_STATE && !m->optional &&
		    access(m->path, F_OK) < 0 && errno == ENOENT)
			printf("%s          ERROR: '%s' does not exist (\"optional\": true skips a "
			       "missing source)%s\n",
			       red(true), m->path, red(false));
	}
	printf("env:\n  pass:");
	for (size_t i = 0; c->env.pass && c->env.pass[i]; i++)
		printf(" %s", c->env.pass[i]);
	printf("%s\n", c->env.pass && c->env.pass[0] ? "" : " (none beyond the defaults)");
	for (size_t i = 0; c->env.files && c->env.files[i]; i++)
		printf("  file: %s\n", c->env.files[i]);
	for (size_t i = 0; i < c->env.n_set; i++)
		printf("  set: %s=%s\n", c->env.set[i].key, c->env.set[i].value);
	printf("scripts:%s\n", c->n_scripts ? " (in /run/cell/bin, first on PATH)" : " (none)");
	for (size_t i = 0; i < c->n_scripts; i++)
		printf("  %s: %s\n", c->scripts[i].key, c->scripts[i].value);
	printf("hooks.enter:%s\n", c->hooks.enter && c->hooks.enter[0] ? "" : " (none)");
	for (size_t i = 0; c->hooks.enter && c->hooks.enter[i]; i++)
		printf("  %s\n", c->hooks.enter[i]);
	printf("processes:%s\n",
	       c->n_processes ? " (cell up runs them in the project's session)" : " (none)");
	for (size_t i = 0; i < c->n_processes; i++) {
		const struct cell_process *p = &c->processes[i];

		printf("  %s: %s\n    restart %s", p->name, p->exec,
		       cell_restart_to_string(p->restart));
		if (p->ready_port)
			printf(", ready when port %u accepts", (unsigned)p->ready_port);
		if (p->ready_command)
			printf(", ready when this succeeds: %s", p->ready_command);
		for (size_t k = 0; p->depends_on && p->depends_on[k]; k++)
			printf("%s%s", k ? ", " : ", after ", p->depends_on[k]);
		printf("\n");
	}
	printf("limits:");
	if (c->limits.memory)
		printf(" memory=%llu bytes", (unsigned long long)c->limits.memory);
	if (c->limits.pids)
		printf(" pids=%u", c->limits.pids);
	if (c->limits.cpu)
		printf(" cpu=%u.%03u", c->limits.cpu / 1000, c->limits.cpu % 1000);
	printf("%s\n", c->limits.memory || c->limits.pids || c->limits.cpu ? "" : " (none)");
	printf("hardening: allow_userns=%s allow_io_uring=%s\n",
	       c->hardening.allow_userns ? "true" : "false",
	       c->hardening.allow_io_uring ? "true" : "false");
	printf("bwrap_args:%s%s\n", red(c->bwrap_args), c->bwrap_args ? "" : " (none)");
	for (size_t i = 0; c->bwrap_args && c->bwrap_args[i]; i++) {
		_cleanup_free_ char *q = cell_shell_quote(c->bwrap_args[i]);

		printf("  %s\n", q ? q : c->bwrap_args[i]);
	}
	printf("%s", red(false));
}

/* The exact bwrap command line, the syscall filter, and what deserves a second look. */
/* Writes the compiled filter (raw BPF, as bwrap loads it) for inspection: scmp_bpf_disasm. */
static int write_seccomp(const struct cell_seccomp_options *o, const char *path)
{
	_cleanup_close_ int in = -1, out = -1;
	_cleanup_free_ char *bpf = NULL;
	size_t len = 0;

	if (cell_seccomp_compile(o, &in) < 0 ||
	    cell_read_full_fd(in, CELL_FILE_MAX, &bpf, &len) < 0)
		return -EIO;
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (out < 0)
		return negative_errno();
	return cell_write_all(out, bpf, len);
}

static int print_cell(const struct cell_project *p, const struct cell_config *c,
		      const char *seccomp_out)
{
	_cleanup_plan_ struct cell_plan *plan = NULL;
	_cleanup_strv_free_ char **argv = NULL;
	_cleanup_free_ char *bwrap = NULL;
	struct cell_seccomp_rule rules[32];
	char *command[] = {(char *)"COMMAND", NULL};
	size_t n, width = 0;
	int r;

	r = cli_plan_preview(p, c, command, &plan);
	if (r >= 0)
		return r;
	if (cell_bwrap_find(&bwrap) < 0)
		bwrap = strdup("bwrap");
	if (!bwrap || cell_bwrap_argv(bwrap, plan, &argv) < 0)
		return CELL_EXIT_FAILURE;
	printf("cell (cell run puts its command where COMMAND is; cell enter runs your shell):\n");
	for (size_t i = 0; argv[i]; i++) {
		_cleanup_free_ char *q = cell_shell_quote(argv[i]);

		printf("  %s\n", q ? q : argv[i]);
	}
	printf("seccomp (x86-64, x32 and i386 alike):\n");
	n = cell_seccomp_rules(&plan->seccomp, rules, ELEMENTSOF(rules));
	n = n < ELEMENTSOF(rules) ? n : ELEMENTSOF(rules);
	for (size_t i = 0; i < n; i++)
		width = strlen(rules[i].what) > width ? strlen(rules[i].what) : width;
	for (size_t i = 0; i < n; i++)
		printf("  %-*s %-12s %s\n", (int)width, rules[i].what, rules[i].result,
		       rules[i].why);
	if (seccomp_out && write_seccomp(&plan->seccomp, seccomp_out) < 0) {
		fprintf(stderr, "cell: cannot write the seccomp program to '%s'\n", seccomp_out);
		return CELL_EXIT_FAILURE;
	}
	for (size_t i = 0; plan->notices && plan->notices[i]; i++)
		printf("notice: %s\n", plan->notices[i]);
	if (plan->notice_once)
		printf("notice: %s\n", plan->notice_once);
	else if (plan->held && (c->limits.memory || c->limits.pids || c->limits.cpu))
		printf("limits: held by the cell's cgroup (cell-session opens it)\n");
	for (size_t i = 0; plan->warnings && plan->warnings[i]; i++)
		printf("%sWARNING: %s%s\n", red(true), plan->warnings[i], red(false));
	return -1;
}

static int parse_options(int argc, char *argv[], const char **ret_seccomp_out)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"write-seccomp", required_argument, NULL, 'S'},
		{0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		case 'S':
			*ret_seccomp_out = optarg;
			break;
		default:
			return cli_bad_option(argv, c);
		}
	}
	return -1;
}

/*
 * explain is how a user reviews a config before allowing it, so it works on untrusted configs
 * too, and says loudly that they are not in effect.
 */
int cmd_explain(int argc, char *argv[])
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *user = NULL, *allow = NULL;
	const char *seccomp_out = NULL;
	bool trusted = false;
	struct stat st;
	int r;

	r = parse_options(argc, argv, &seccomp_out);
	if (r >= 0)
		return r;
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	r = cli_open_project(optind < argc ? argv[optind] : NULL, &p, &c);
	if (r >= 0)
		return r;
	trusted = cli_trusted(p, NULL);
	user = cli_user_config_path();
	allow = cli_allow_command(p);

	printf("project: %s\n", p->root);
	printf("id: %s\n", p->id);
	printf("config: %s (%s)\n", p->config_path, trusted ? "trusted" : "NOT TRUSTED");
	printf("user config: %s%s\n", user ? user : "(no home directory)",
	       user && stat(user, &st) == 0 ? "" : " (not present)");
	print_config(c);
	/* (a cell that cannot be planned is said, and the rest still is) */
	r = print_cell(p, c, seccomp_out);
	if (!trusted) {
		fprintf(stderr,
			"cell: %s is not allowed; nothing above takes effect until you run '%s'\n",
			p->config_path, allow ? allow : "cell allow");
	}
	return r >= 0 ? r : CELL_EXIT_OK;
}

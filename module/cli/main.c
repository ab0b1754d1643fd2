/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "bwrap.h"
#include "commands.h"
#include "log.h"
#include "path.h"
#include "suggest.h"

static const struct cli_command commands[] = {
	{"run", cmd_run,
	 "[-C DIR] [--new] [--quiet] [--user NAME] [--allow-root] [--] COMMAND [ARGS...]",
	 "Run COMMAND in the cell of the project around the current directory",
	 "What the cell's proxy and the kernel refused it is said on stderr when COMMAND ends,\n"
	 "a line each, as the shell hook says it at a prompt.\n"
	 "\n"
	 "  -C DIR          the project around DIR (default: the current directory)\n"
	 "  --new           a cell of its own, not the project's open session\n"
	 "  -q, --quiet     say nothing of what was refused\n"
	 "  --user NAME     (root) run the cell as NAME\n"
	 "  --allow-root    run the cell as root (in a user namespace, no capabilities)"},
	{"enter", cmd_enter, "[--new] [--user NAME] [--allow-root] [--leave-to FILE] [DIR]",
	 "Start your shell in the project's cell; exit it to leave",
	 "  --new             a cell of its own, not the project's open session\n"
	 "  --user NAME       (root) the cell's user\n"
	 "  --allow-root      run the cell as root (in a user namespace, no capabilities)\n"
	 "  --leave-to FILE   the shell hook's: where the cell's shell says to go next\n"
	 "  DIR               the project around DIR (default: the current directory)"},
	{"hook", cmd_hook, "bash|zsh|fish | --status",
	 "Print the shell code that enters a project's cell on cd (eval it in your shell's rc)",
	 "  bash, zsh, fish   the shell whose code: eval \"$(cell hook bash)\" in ~/.bashrc,\n"
	 "                    eval \"$(cell hook zsh)\" in ~/.zshrc, cell hook fish | source\n"
	 "                    in ~/.config/fish/config.fish\n"
	 "  --status          whether this shell has the hook, and where it is"},
	{"login-shell", cmd_login_shell, "[-c COMMAND]",
	 "An account's login shell for logins pam_cell.so puts in a cell (as cell-login-shell)",
	 "  -c COMMAND   run COMMAND (ssh host COMMAND), not an interactive login shell"},
	{"proxy", cmd_proxy, CELL_PROXY_ARGS, CELL_PROXY_SUMMARY, CELL_PROXY_HELP},
	{"stats", cmd_stats, "[--json] [--since DATE] [--paths] [--html FILE] [DIR]",
	 "Print the project's network use per host, from its ledger",
	 "  --json          the totals as JSON\n"
	 "  --since DATE    the records that ended at or after DATE (YYYY-MM-DD [HH:MM[:SS]],\n"
	 "                  today, yesterday, or a span ago: 2h, 7d)\n"
	 "  --paths         the requests by host and path prefix (plain HTTP, inspected hosts)\n"
	 "  --html FILE     bytes per host over time, as a page with a chart\n"
	 "  DIR             the project around DIR (default: the current directory)"},
	{"learn", cmd_learn,
	 "[-C DIR] [--permissive] [--apply] [--user NAME] [--allow-root] [-- COMMAND [ARGS...]]",
	 "Run the project's cell (or COMMAND in it) recording what it reaches that no rule "
	 "allows, then propose the smallest change to network.allow; --apply writes it",
	 "Connections to hosts the config does not allow are refused as ever, and recorded by\n"
	 "host, port, process, method and path (where the proxy sees them). --permissive lets\n"
	 "them through instead (network.deny still refuses), with a banner. The proposal uses a\n"
	 "preset where one covers the hosts, and *.DOMAIN where three names or more below one\n"
	 "domain were needed; it is printed as a diff of .cell.json. --apply writes it and\n"
	 "allows it, as cell allow-host does.\n"
	 "\n"
	 "  -C DIR          the project around DIR (default: the current directory)\n"
	 "  --permissive    let what no rule names through (network.deny still refuses)\n"
	 "  --apply         write the proposal into .cell.json and allow it\n"
	 "  --user NAME     (root) the cell's user\n"
	 "  --allow-root    run the cell as root (in a user namespace, no capabilities)\n"
	 "  COMMAND         what to run in the cell (default: your shell)"},
	{"top", cmd_top, "[-n COUNT] [-d SECONDS]",
	 "Watch your open cells' traffic: connections, bytes per second per host, refusals as "
	 "they come (Tab: next project, q: quit); plain lines when not on a terminal",
	 "  -n COUNT     stop after COUNT updates\n"
	 "  -d SECONDS   seconds between updates (default 1)"},
	{"metrics", cmd_metrics, "[--textfile DIR | --listen ADDR:PORT]",
	 "Print your projects' counts (root: every user's) in the Prometheus text format; "
	 "--textfile: into DIR/cell.prom for node_exporter; --listen: serve them over HTTP",
	 "  --textfile DIR          write them to DIR/cell.prom (node_exporter's textfile\n"
	 "                          collector), replaced whole\n"
	 "  --listen ADDR:PORT      serve them at http://ADDR:PORT/metrics, with no\n"
	 "                          authentication (keep it on 127.0.0.1)"},
	{"log", cmd_log, "[-f] [--json] [DIR]",
	 "Print what the kernel and the proxy refused the project's cells; -f follows",
	 "  -f, --follow   go on printing as the logs grow\n"
	 "  --json         the logs' own lines\n"
	 "  DIR            the project around DIR (default: the current directory)"},
	{"status", cmd_status, "[--json]",
	 "List your open cells: project, since when, state, pid, proxy port, live counters",
	 "  --json   a line of JSON each, with the keeper and proxy pids, cgroup, counters"},
	{"up", cmd_up, "[-d] [-C DIR] [--user NAME] [--allow-root] [NAME...]",
	 "Run the config's processes in the project's session: prefixed output, ^C stops them; "
	 "-d: in the background, once they are ready",
	 "  -d, --detach    start them in the background, and return once they are ready\n"
	 "  -C DIR          the project around DIR (default: the current directory)\n"
	 "  --user NAME     (root) the cell's user\n"
	 "  --allow-root    run the cell as root (in a user namespace, no capabilities)\n"
	 "  NAME            only these processes (and what they depend on)"},
	{"down", cmd_down, "[DIR]", "Stop the project's processes that cell up runs",
	 "  DIR   the project around DIR (default: the current directory)"},
	{"ps", cmd_ps, "[DIR]",
	 "List the project's processes: name, pid, state, restarts, ready, last status",
	 "  DIR   the project around DIR (default: the current directory)"},
	{"logs", cmd_logs, "[-f] [-C DIR] [NAME...]",
	 "Print the output of the project's processes; -f follows it",
	 "  -f, --follow   go on printing as they write\n"
	 "  -C DIR         the project around DIR (default: the current directory)\n"
	 "  NAME           only these processes"},
	{"gc", cmd_gc, "[--all]",
	 "Close and record cells cut short (a killed cell command or keeper); cell run and cell "
	 "enter do it too. --all (root): every user's dead cells",
	 "  --all   (root) every user's cells cut short, not only yours"},
	{"allow-host", cmd_allow_host, "HOST [DIR]",
	 "Add HOST (a host rule: name, *.domain, host:port, address) to the project's network.allow",
	 "The rule goes into .cell.json as a line of its own, the rest of the file as it was,\n"
	 "and the result is allowed (the config must be allowed as it is first).\n"
	 "\n"
	 "  HOST   registry.npmjs.org (ports 80 and 443), *.example.com, api.test:8443,\n"
	 "         10.0.0.0/8:5432\n"
	 "  DIR    the project around DIR (default: the current directory)"},
	{"allow", cmd_allow, "[--yes] [DIR]", "Trust the project's .cell.json as it is now",
	 "What in it weakens the cell (what cell explain warns of: the network unfiltered, your\n"
	 "home or a directory of credentials bound, relaxed hardening, raw bubblewrap arguments)\n"
	 "is said first, and on a terminal asked about: allow anyway? [y/N]. Elsewhere such a\n"
	 "config is allowed only with --yes. Then a line of what it opens: its hosts, mounts\n"
	 "and variables.\n"
	 "\n"
	 "  -y, --yes   allow a config with warnings without asking\n"
	 "  DIR         the project around DIR (default: the current directory)"},
	{"deny", cmd_deny, "[DIR]", "Revoke trust in the project's .cell.json",
	 "  DIR   the project around DIR (default: the current directory)"},
	{"explain", cmd_explain, "[--write-seccomp FILE] [DIR]",
	 "Print the project's merged, resolved config and whether it is trusted",
	 "  --write-seccomp FILE   also write the cell's syscall filter (raw BPF) to FILE\n"
	 "  DIR                    the project around DIR (default: the current directory)"},
	{"env", cmd_env, "[--json] [--refresh] [DIR]",
	 "Show the environment a cell of the project gets and where each variable comes from "
	 "(its provider runs if its cache is stale; --refresh: even if not)",
	 "  --json      the variables as JSON, each with where it comes from\n"
	 "  --refresh   run the provider (devenv, nix, direnv, mise) even if its cache is fresh\n"
	 "  DIR         the project around DIR (default: the current directory)"},
	{"doctor", cmd_doctor, "[--escape [--user NAME] [--allow-root] [DIR]]",
	 "Check what this machine offers cell, and how to fix what is missing; --escape tries escapes from inside a real cell",
	 "  --escape       try the escapes of the escape suite from inside a real cell\n"
	 "  --user NAME    (root) the cell's user\n"
	 "  --allow-root   run the cell as root (in a user namespace, no capabilities)\n"
	 "  DIR            the project whose config the cell has (default: a minimal one)"},
	{"init", cmd_init, "[--name NAME] [DIR]",
	 "Write a starter .cell.json for the project type found in DIR",
	 "  --name NAME   the cell's name (default: DIR's)\n"
	 "  DIR           where (default: the current directory; not your home, nor /)"},
	{"import", cmd_import, "devenv [--force] [DIR]",
	 "Write DIR/.cell.json from devenv's sandbox settings, for you to review and allow",
	 "Reads the sandbox: section of ~/.config/devenv/devenv.yaml ($XDG_CONFIG_HOME/devenv/),\n"
	 "DIR/devenv.yaml and DIR/devenv.local.yaml, in that order: a later file's enable and\n"
	 "network.enable win, mounts add up. At least one of DIR's files must have sandbox:.\n"
	 "\n"
	 "  network.enable: false      network mode none\n"
	 "  network.enable: true       the proxy, allowing no host yet (cell allow-host HOST)\n"
	 "  read-only|ro, read-write|rw, device|dev, tmpfs, overlay, state-dir\n"
	 "                             ro, rw, dev, tmpfs, overlay, state\n"
	 "  overlay-tmpfs              overlay with \"ephemeral\": true\n"
	 "  overlay-ro                 ro (cell has no read-only overlay)\n"
	 "  optional, canonicalize, dest  as they are\n"
	 "  late                       dropped: cell orders mounts itself\n"
	 "  /nix/store, /dev, /proc, /sys  dropped: every cell has them (or keeps them out)\n"
	 "\n"
	 "$VAR and ${VAR} expand from your environment (a leading $HOME becomes ~); relative\n"
	 "paths are the project's (./). The file also gets the nix preset and env.provider\n"
	 "devenv. What does not carry over as it was is noted on stderr.\n"
	 "\n"
	 "An error names the YAML file, line and column, and writes nothing. An existing\n"
	 ".cell.json is replaced only with --force. Like any new .cell.json, nothing in it\n"
	 "applies before 'cell allow'.\n"
	 "\n"
	 "  --force   replace an existing .cell.json\n"
	 "  DIR       the project (default: the current directory)"},
	{"help", cmd_help, "[COMMAND]", "Show help for cell or for one command",
	 "  COMMAND   its usage, what it does, and its options"},
	{"version", cmd_version, "", "Print cell's version", NULL},
};

/* Not listed and never suggested: cell doctor --escape runs it in the cell it opened. */
static const struct cli_command escape_probe = {
	CELL_ESCAPE_PROBE_VERB, cmd_escape_probe, "ATTEMPT...",
	"Make cell doctor --escape's attempts, in the cell it opened", NULL};

static const struct cli_command *command_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (streq(commands[i].name, name))
			return &commands[i];
	return streq(name, escape_probe.name) ? &escape_probe : NULL;
}

/*
 * Inside a cell, a command sees the cell's files, not the user's: its trust records, state
 * and config are not there, so what it would say is wrong and what it would change stays in
 * the cell. Only these work there as outside: help (and any command's --help as its first
 * argument), the version, the hook's code (the cell's shell rc evals it), a login's shell,
 * and cell doctor --escape's attempts (made in the cell it opened).
 */
static bool works_inside(const char *verb, int argc, char *argv[])
{
	static const char *const verbs[] = {"help", "version", "hook", "login-shell",
					    CELL_ESCAPE_PROBE_VERB};

	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(verb, verbs[i]))
			return true;
	/* (only right after the verb: later, an option's argument or an operand may be spelled
	 * --help, and the command would go on with it) */
	return argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h"));
}

/* Whether this process is in a cell (the cell's init is at CELL_INIT_PATH in every cell, and
 * its processes have CELL_ID), and the cell's name if it says one (NULL: it does not). */
static bool inside_cell(const char **ret_name)
{
	const char *name = getenv("CELL_NAME");

	*ret_name = name && *name && !strpbrk(name, "\n\r\033") ? name : NULL;
	return getenv("CELL_ID") || access(CELL_INIT_PATH, F_OK) == 0;
}

static void help(FILE *f)
{
	size_t width = 0;

	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		width = strlen(commands[i].name) > width ? strlen(commands[i].name) : width;
	fprintf(f, "usage: cell [--verbose] COMMAND [ARGS]\n\n"
		   "A sandbox cell for every project.\n\nCommands:\n");
	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		fprintf(f, "  %-*s  ", (int)width, commands[i].name);
		cli_put_wrapped(f, commands[i].summary, width + 4, width + 4);
	}
	fprintf(f, "\nRun 'cell COMMAND --help' for a command's options.\n");
}

/* text for scdoc(5): its markup characters (*, _, \\) taken as they are */
static void put_scdoc(FILE *f, const char *text)
{
	for (; *text; text++) {
		if (*text == '*' || *text == '_' || *text == '\\')
			fputc('\\', f);
		fputc(*text, f);
	}
}

/*
 * cell help --man: the COMMANDS section of cell(1) in scdoc, from the table `cell help` reads
 * (the man page and `cell help COMMAND` say the same: one source). make builds the page.
 */
static void man_commands(FILE *f)
{
	fputs("# COMMANDS\n\n", f);
	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		const struct cli_command *c = &commands[i];

		fputs("*cell ", f);
		put_scdoc(f, c->name);
		fputs("*", f);
		if (c->args[0]) {
			fputc(' ', f);
			put_scdoc(f, c->args);
		}
		fputs("\n\t", f);
		put_scdoc(f, c->summary);
		fputs(".\n", f);
		for (const char *line = c->help; line && *line;) {
			size_t n = strcspn(line, "\n"), lead = strspn(line, " ");
			size_t len = n > lead ? n - lead : 0;
			const char *next = line + n + (line[n] == '\n');
			char *one = strndup(line + n - len, len);

			/* (a blank line is a new paragraph of the same indented block; a line
			 * that starts with spaces is a row of a table: a paragraph of its own,
			 * indented further) */
			fputs(!n ? "\n" : lead ? "\n\t\t" : "\n\t", f);
			/* (a row that starts with - is an option, not a list entry) */
			if (one && one[0] == '-')
				fputc('\\', f);
			if (one)
				put_scdoc(f, one);
			if (len && lead && startswith(next, "  "))
				fputc('\n', f); /* (rows: paragraphs of their own) */
			free(one);
			line = next;
		}
		fputs("\n\n", f);
	}
}

int cmd_help(int argc, char *argv[])
{
	if (argc == 2 && streq(argv[1], "--man")) {
		man_commands(stdout);
		return CELL_EXIT_OK;
	}
	/* (for the shells' completions: shell/completion.*) */
	if (argc >= 2 && streq(argv[1], "--complete"))
		return cli_complete(commands, ELEMENTSOF(commands), argc, argv);
	if (argc > 2)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[2]);
	if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		cli_usage(argv[0], false);
		return CELL_EXIT_OK;
	}
	if (argc == 2) {
		if (!command_find(argv[1]))
			return cli_bad_usage(argv[0], "unknown command '%s'", argv[1]);
		cli_usage(argv[1], false);
		return CELL_EXIT_OK;
	}
	help(stdout);
	return CELL_EXIT_OK;
}

int cmd_version(int argc, char *argv[])
{
	const char *dir;
	int r = cli_parse_dir_only(argc, argv, &dir);

	if (r >= 0)
		return r;
	if (dir)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", dir);
	printf("cell %s\n", CELL_VERSION);
	return CELL_EXIT_OK;
}

static const char *suggest_command(const char *word)
{
	const char *names[ELEMENTSOF(commands)];

	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		names[i] = commands[i].name;
	return cell_suggest(word, names, ELEMENTSOF(names));
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"verbose", no_argument, NULL, 'v'},
		{0},
	};
	const struct cli_command *cmd;
	const char *level = getenv("CELL_LOG"), *name;
	enum cell_log_level l;
	int c;

	cli_usage_table(commands, ELEMENTSOF(commands));
	if (level && cell_log_parse_level(level, &l) >= 0)
		cell_log_set_level(l);
	/* a login shell by the name cell-login-shell ("-cell-login-shell" from login and sshd) */
	if (argc > 0 &&
	    streq(cell_path_basename(argv[0]) + (argv[0][0] == '-'), "cell-login-shell"))
		return cmd_login_shell(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hVv", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help(stdout);
			return CELL_EXIT_OK;
		case 'V':
			printf("cell %s\n", CELL_VERSION);
			return CELL_EXIT_OK;
		case 'v':
			cell_log_set_level(CELL_LOG_DEBUG);
			break;
		default:
			fprintf(stderr, "cell: unknown option '%s'\n", argv[optind - 1]);
			help(stderr);
			return CELL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		help(stderr);
		return CELL_EXIT_USAGE;
	}
	cmd = command_find(argv[optind]);
	if (!cmd) {
		const char *s = suggest_command(argv[optind]);

		fprintf(stderr, "cell: unknown command '%s'", argv[optind]);
		if (s)
			fprintf(stderr, "; did you mean 'cell %s'?", s);
		fprintf(stderr, "\nRun 'cell help' for the list of commands.\n");
		return CELL_EXIT_USAGE;
	}
	/* each command parses its own options from its verb on */
	argv += optind;
	argc -= optind;
	optind = 0;
	if (!works_inside(cmd->name, argc, argv) && inside_cell(&name)) {
		fprintf(stderr, "cell: you are inside %s%s; run 'cell %s' outside it\n",
			name ? "cell " : "a cell", name ? name : "", cmd->name);
		return CELL_EXIT_FAILURE;
	}
	return cmd->run(argc, argv);
}

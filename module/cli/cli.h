/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "diag.h"
#include "instance.h"
#include "macro.h"
#include "member.h"
#include "plan.h"
#include "project.h"

/* Exit codes of the cell command (README, "Exit status"). */
enum {
	CELL_EXIT_OK = 0,
	CELL_EXIT_FAILURE = 1, /* something did not work: untrusted config, missing tool, ... */
	CELL_EXIT_CONFIG = 2,  /* a config file is invalid */
	CELL_EXIT_USAGE = 64,  /* bad command line (sysexits.h EX_USAGE) */
	CELL_EXIT_CELL = 125,  /* bubblewrap could not build the cell; the command never ran */
};

struct cli_command {
	const char *name;
	int (*run)(int argc, char *argv[]);
	const char *args;
	const char *summary;
	const char *help; /* more, after the summary in `cell help VERB`, or NULL */
};

/* text, from column at of f's line, in lines that end before column 80, each later one from
 * column indent; ends with a newline. */
void cli_put_wrapped(FILE *f, const char *text, size_t at, size_t indent);
/* Registers the command table cli_usage() reads (main() does, first). */
void cli_usage_table(const struct cli_command *commands, size_t n);

/* Prints "usage: cell VERB ARGS" and the summary, to stdout or stderr. */
void cli_usage(const char *verb, bool to_stderr);
/* Reports an unknown option or stray argument with usage on stderr; returns CELL_EXIT_USAGE. */
int cli_bad_usage(const char *verb, const char *fmt, ...) _printf_(2, 3);
/*
 * Parses a sub-command that takes only --help and an optional DIR. Returns -1 when parsing
 * succeeded (*ret_dir is the DIR, or NULL when none was given), otherwise the exit code.
 */
int cli_parse_dir_only(int argc, char *argv[], const char **ret_dir);
/* Prints a diag on stderr, with the source line and a caret when the place is known. */
void cli_print_diag(const struct cell_diag *d);
/* s on f with what could drive a terminal (C0 and C1 controls but tabs, DEL, bidi controls,
 * bytes that are no UTF-8) shown as '?': for text a cell may have written. */
void cli_put_safe(FILE *f, const char *s);
/* Finds the project around dir; prints why not and returns an exit code (or -1 on success). */
int cli_find_project(const char *dir, struct cell_project **ret);
/* The user's config.json path ($XDG_CONFIG_HOME/cell/config.json). */
char *cli_user_config_path(void);
/* Loads the project's effective config; on error prints it and returns CELL_EXIT_CONFIG. */
int cli_load_config(const struct cell_project *p, struct cell_config **ret);
/* Finds the project around dir (NULL: here) and loads its config; -1, or an exit code. */
int cli_open_project(const char *dir, struct cell_project **ret_project,
		     struct cell_config **ret_config);
/* What cell run and cell enter share on their command lines. */
struct cli_cell_options {
	const char *dir;      /* -C DIR (run) or DIR (enter); NULL: the current directory */
	const char *user;     /* --user NAME */
	bool allow_root;      /* --allow-root */
	const char *leave_to; /* enter --leave-to FILE (the shell hook's) */
	bool new_cell;	      /* --new: a cell of its own, not the project's session */
	bool quiet;	      /* run -q, --quiet: the cell's denials are not said at its end */
};

/*
 * Parses --help, --user NAME, --allow-root and, with with_dir, -C DIR (else --leave-to FILE);
 * stops at the first argument that is not an option (optind points at it). Returns -1, or the
 * exit code.
 */
int cli_parse_cell_options(int argc, char *argv[], bool with_dir, struct cli_cell_options *o);
/* Reports the option getopt refused (c is ':' or '?'); returns CELL_EXIT_USAGE. */
int cli_bad_option(char *argv[], int c);
/*
 * As root: becomes, for good, the user a cell is for (--user, else $SUDO_USER; with neither,
 * refused unless --allow-root). Returns -1 to go on, or the exit code (having said why).
 */
int cli_become_user(const struct cli_cell_options *o);
/*
 * Opens a trusted project for running a cell: as root, first becomes the user the cell is for
 * (--user, else $SUDO_USER; no user and no --allow-root: refused). Then finds the project around
 * the directory, loads its config and requires it to be allowed. On success returns -1 and the
 * real path of the directory in *ret_cwd; otherwise prints why and returns the exit code.
 */
int cli_cell_open(const struct cli_cell_options *o, struct cell_project **ret_project,
		  struct cell_config **ret_config, char **ret_cwd);
/*
 * Joins p's session as a (cell_member_open), opening it if none is open, and says the notices:
 * -1 and the member in *ret; -2 when the session runs another config (its hash in ret_other,
 * CELL_SHA256_HEX_LEN + 1 bytes); else the exit code, having said why.
 */
int cli_session_join(const struct cell_project *p, const struct cell_config *c,
		     const struct cell_instance_args *a, struct cell_member **ret, char *ret_other);
/*
 * Runs a (cell run, cell enter) as a member of p's session (member.h), opening it if none is
 * open; returns the exit code, or -1 when the session runs another config (said on stderr):
 * then the command gets a cell of its own. leave_to: the hook's file, marked once the session
 * is joined.
 */
int cli_session_run(const struct cell_project *p, const struct cell_config *c,
		    const struct cell_instance_args *a, int (*joined)(const char *leave_to),
		    const char *leave_to);
/* The plan a cell of p would have for command (cell explain, doctor --escape); prints problems
 * and returns an exit code, or -1. */
int cli_plan_preview(const struct cell_project *p, const struct cell_config *c,
		     char *const *command, struct cell_plan **ret);
/*
 * Opens a cell of p (instance.h); on failure prints why and returns the exit code
 * (CELL_EXIT_CONFIG when the config is at fault), else -1 and the cell in *ret.
 */
int cli_instance_open(const struct cell_project *p, const struct cell_config *c,
		      const struct cell_instance_args *a, struct cell_instance **ret);
/* Prints the plan's notices, runs the cell, closes it; returns the cell's exit status. */
int cli_instance_run(struct cell_instance *inst);
/* cell run's: what the proxy and the kernel refused its cell, said when its command ends (the
 * lines the shell hook shows at a prompt); off by default. */
void cli_say_denials(bool on);
/* Both: a cell of p, from open to close; the exit code. */
int cli_cell_run(const struct cell_project *p, const struct cell_config *c,
		 const struct cell_instance_args *a);
/* The hidden command that makes cell doctor --escape's attempts inside the cell. */
#define CELL_ESCAPE_PROBE_VERB "__escape-probe"
/*
 * cell doctor --escape: the escapes a cell of the project around o->dir (or of a default one)
 * stops, tried from inside it (cmd-doctor-escape.c); the exit code.
 */
int cli_doctor_escape(const struct cli_cell_options *o);
/* "cell allow '/path with space'": the exact command that would trust this project. */
char *cli_allow_command(const struct cell_project *p);
/* Whether the trust store records p's config as it is now; errors count as not trusted. The trust
 * directory goes to *ret_dir if asked for (NULL if it cannot be found). */
bool cli_trusted(const struct cell_project *p, char **ret_dir);
/* The project's cell up directory (procstate.h) in *ret: -1, or the exit code (said why). */
int cli_up_dir(const struct cell_project *p, char **ret);
/* cell down's and cell ps's command line ([DIR]): the up directory of the project there. */
int cli_up_dir_of_args(int argc, char *argv[], char **ret);
/* p's config text with entries (NULL-ended) appended to network.allow, made if missing; NULL
 * when it is not an object. */
char *cli_config_with_allow(const struct cell_project *p, char *const *entries);
/*
 * Makes text (taken) p's config, trusted (trust: cli_trusted's record): it must load; trusted
 * first, then written. Returns -1, or the exit code, having said why.
 */
int cli_config_replace(struct cell_project *p, char *text, const char *trust);
/*
 * cell help --complete commands | options COMMAND | hosts: what the shells' completions offer
 * (the commands of table with their summaries, a tab between; the options COMMAND's usage
 * names; the hosts the project's proxy refused), a line each.
 */
int cli_complete(const struct cli_command *table, size_t n, int argc, char *argv[]);

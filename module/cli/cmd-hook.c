/* SPDX-License-Identifier: MIT */
/*
 * cell hook bash|zsh|fish: the shell code that enters a project's cell on cd (shell/cell.*,
 * built in). cell hook --status: whether the shell that runs it has the hook.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "hook-scripts.h"
#include "quote.h"
#include "trust.h"

/* s in single quotes for fish, which (unlike sh) takes \\ and \' as escapes inside them. */
static char *fish_quote(const char *s)
{
	char *out = malloc(strlen(s) * 2 + 3), *o = out;

	if (!out)
		return NULL;
	*o++ = '\'';
	for (; *s; s++) {
		if (*s == '\\' || *s == '\'')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

/* Writes script with @CELL@ and @TRUST_DIR@ replaced by those paths, quoted, and @COMMON@ by
 * the part bash and zsh share. */
static int print_script(const char *script, bool fish, const char *self, const char *trust)
{
	_cleanup_free_ char *q_self = fish ? fish_quote(self) : cell_shell_quote(self);
	_cleanup_free_ char *q_trust = fish ? fish_quote(trust) : cell_shell_quote(trust);
	const char *s = script;

	if (!q_self || !q_trust)
		return -ENOMEM;
	while (*s) {
		const char *at = strchr(s, '@');

		if (!at) {
			fputs(s, stdout);
			break;
		}
		fwrite(s, 1, (size_t)(at - s), stdout);
		if (!strncmp(at, "@CELL@", 6)) {
			fputs(q_self, stdout);
			s = at + 6;
		} else if (!strncmp(at, "@COMMON@\n", 9)) {
			fputs(cell_hook_sh, stdout);
			s = at + 9;
		} else if (!strncmp(at, "@TRUST_DIR@", 11)) {
			fputs(q_trust, stdout);
			s = at + 11;
		} else {
			putchar('@');
			s = at + 1;
		}
	}
	return fflush(stdout) == 0 ? 0 : -EIO;
}

/* Whether the shell this runs from has the hook: it exports CELL_HOOK="SHELL PID". */
static int status(void)
{
	const char *hook = getenv("CELL_HOOK"), *disable = getenv("CELL_DISABLE");
	char shell[16];
	long pid = 0;

	if (!hook || sscanf(hook, "%15s %ld", shell, &pid) != 2 || pid != (long)getppid()) {
		printf("cell hook: not active in this shell (add eval \"$(cell hook bash)\" to "
		       "~/.bashrc, eval \"$(cell hook zsh)\" to ~/.zshrc, or 'cell hook fish | "
		       "source' to config.fish)\n");
		return CELL_EXIT_FAILURE;
	}
	if (disable && *disable && strcmp(disable, "0")) {
		printf("cell hook: installed in this %s, and turned off (CELL_DISABLE=%s)\n", shell,
		       disable);
		return CELL_EXIT_FAILURE;
	}
	printf("cell hook: active in this %s%s\n", shell,
	       getenv("CELL_ID") ? ", inside a cell" : "");
	return CELL_EXIT_OK;
}

int cmd_hook(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"status", no_argument, NULL, 's'},
		{0},
	};
	static const struct {
		const char *name, *script;
	} shells[] = {
		{"bash", cell_hook_bash},
		{"zsh", cell_hook_zsh},
		{"fish", cell_hook_fish},
	};
	_cleanup_free_ char *self = NULL, *trust = NULL;
	bool want_status = false;
	int c, r;

	/* (cell hook bash --help too: the shell's name is no option) */
	for (int i = 1; i < argc; i++)
		if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		case 's':
			want_status = true;
			break;
		default:
			return cli_bad_option(argv, c);
		}
	}
	if (want_status) {
		if (optind < argc)
			return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind]);
		return status();
	}
	if (optind >= argc)
		return cli_bad_usage(argv[0], "name a shell: bash, zsh or fish");
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	self = realpath("/proc/self/exe", NULL);
	r = cell_trust_dir(&trust);
	if (!self || r < 0) {
		fprintf(stderr, "cell: cannot find %s: %s\n",
			!self ? "cell itself" : "your data directory",
			strerror(!self ? errno : -r));
		return CELL_EXIT_FAILURE;
	}
	for (size_t i = 0; i < ELEMENTSOF(shells); i++)
		if (streq(argv[optind], shells[i].name)) {
			r = print_script(shells[i].script, streq(shells[i].name, "fish"), self,
					 trust);
			return r < 0 ? CELL_EXIT_FAILURE : CELL_EXIT_OK;
		}
	return cli_bad_usage(argv[0], "'%s' is not a shell cell has a hook for (bash, zsh, fish)",
			     argv[optind]);
}

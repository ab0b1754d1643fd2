/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "path.h"
#include "strv.h"

#define RC_DIR "/run/cell/rc"

/*
 * The prompt shows [cell:NAME] without touching the user's files: each shell gets a small rc of
 * ours, bound read-only into the cell, that reads the user's own files first. CELL_PROMPT=0
 * leaves the prompt alone (starship and powerlevel users place $CELL_NAME themselves).
 */
static const char bash_rc[] =
	"# cell: a login shell's files, then the prompt\n"
	"if [ -r /etc/profile ]; then . /etc/profile; fi\n"
	"__cell_login=\n"
	"for __cell_f in ~/.bash_profile ~/.bash_login ~/.profile; do\n"
	"\tif [ -r \"$__cell_f\" ]; then . \"$__cell_f\"; __cell_login=1; break; fi\n"
	"done\n"
	"if [ -z \"$__cell_login\" ] && [ -r ~/.bashrc ]; then . ~/.bashrc; fi\n"
	"unset __cell_f __cell_login\n"
	"if [ \"${CELL_PROMPT-1}\" != 0 ]; then PS1=\"[cell:$CELL_NAME] $PS1\"; fi\n";

static const char zsh_env[] = "[ -r \"$HOME/.zshenv\" ] && . \"$HOME/.zshenv\"\n";
static const char zsh_profile[] = "[ -r \"$HOME/.zprofile\" ] && . \"$HOME/.zprofile\"\n";
/* ZDOTDIR goes back to $HOME here, so zsh reads the user's own .zlogin next */
static const char zsh_rc[] =
	"[ -r \"$HOME/.zshrc\" ] && . \"$HOME/.zshrc\"\n"
	"if [ \"${CELL_PROMPT-1}\" != 0 ]; then PROMPT=\"[cell:$CELL_NAME] $PROMPT\"; fi\n"
	"ZDOTDIR=\"$HOME\"\n";

static const char fish_init[] =
	"if test \"$CELL_PROMPT\" != 0; and functions -q fish_prompt\n"
	"  functions -c fish_prompt __cell_fish_prompt\n"
	"  function fish_prompt; printf '[cell:%s] ' $CELL_NAME; __cell_fish_prompt; end\n"
	"end";

static const char sh_rc[] =
	"if [ \"${CELL_PROMPT-1}\" != 0 ]; then PS1=\"[cell:$CELL_NAME] ${PS1-$ }\"; fi\n";

/* The shell's argv and the files and variables that mark its prompt. */
static int shell_setup(struct cell_plan *plan, const char *shell)
{
	const char *name = cell_path_basename(shell);
	int r;

	cell_strv_free(plan->argv);
	plan->argv = NULL;
	if (streq(name, "bash")) {
		r = cell_plan_add_file(plan, RC_DIR "/bashrc", bash_rc);
		if (r >= 0)
			r = cell_strv_extend_many(&plan->argv, shell, "--rcfile", RC_DIR "/bashrc",
						  "-i", (char *)NULL);
	} else if (streq(name, "zsh")) {
		r = cell_plan_add_file(plan, RC_DIR "/zsh/.zshenv", zsh_env);
		if (r >= 0)
			r = cell_plan_add_file(plan, RC_DIR "/zsh/.zprofile", zsh_profile);
		if (r >= 0)
			r = cell_plan_add_file(plan, RC_DIR "/zsh/.zshrc", zsh_rc);
		if (r >= 0)
			r = cell_plan_setenv(plan, "ZDOTDIR", RC_DIR "/zsh");
		if (r >= 0)
			r = cell_strv_extend_many(&plan->argv, shell, "-l", (char *)NULL);
	} else if (streq(name, "fish")) {
		r = cell_strv_extend_many(&plan->argv, shell, "-l", "-C", fish_init, (char *)NULL);
	} else {
		r = cell_plan_add_file(plan, RC_DIR "/shrc", sh_rc);
		if (r >= 0)
			r = cell_plan_setenv(plan, "ENV", RC_DIR "/shrc");
		if (r >= 0)
			r = cell_strv_extend_many(&plan->argv, shell, "-l", "-i", (char *)NULL);
	}
	return r;
}

/*
 * --leave-to FILE, the shell hook's: FILE (the user's own regular file, made if missing) is
 * emptied now, so its time says when the hook last tried; "+" is written into it once the cell
 * is to start, and the cell's shell, bound to it at LEAVE_PATH, replaces it with "+DIR" to have
 * the outer shell go to DIR.
 */
#define LEAVE_PATH "/run/cell/leave"

static int leave_file_reset(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1)
		return -EPERM;
	/* a file of the hook's is empty or holds "+DIR": nothing else is emptied by mistake */
	if (st.st_size > 0) {
		char c = 0;

		if (st.st_size > PATH_MAX + 1 || pread(fd, &c, 1, 0) != 1 || c != '+')
			return -EPERM;
	}
	if (ftruncate(fd, 0) < 0 || futimens(fd, NULL) < 0)
		return -errno;
	return 0;
}

static int leave_file_mark(const char *path, struct cell_plan *plan)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (fd < 0 || write(fd, "+", 1) != 1)
		return -errno;
	r = cell_mount_plan_add(&plan->mounts, CELL_OP_BIND, path, LEAVE_PATH, "the shell hook");
	if (r >= 0)
		r = cell_plan_setenv(plan, "CELL_LEAVE", LEAVE_PATH);
	/* cd - in the cell's shell goes where the outer one was */
	if (r >= 0 && getenv("OLDPWD") && getenv("OLDPWD")[0] == '/')
		r = cell_plan_setenv(plan, "CELL_OLDPWD", getenv("OLDPWD"));
	return r;
}

int cmd_enter(int argc, char *argv[])
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_plan_ struct cell_plan *plan = NULL;
	_cleanup_free_ char *cwd = NULL;
	struct cli_cell_options o = {0};
	char *command[2] = {NULL, NULL};
	int r;

	r = cli_parse_cell_options(argc, argv, false, &o);
	if (r >= 0)
		return r;
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	if (optind < argc)
		o.dir = argv[optind];
	r = o.leave_to ? leave_file_reset(o.leave_to) : 0;
	if (r < 0) {
		fprintf(stderr, "cell: --leave-to '%s': %s\n", o.leave_to,
			r == -EPERM || r == -ELOOP ? "not a shell hook's file of yours"
						   : strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	r = cli_cell_open(&o, &p, &c, &cwd);
	if (r >= 0)
		return r;
	/* the plan's command is replaced by shell_setup(); the same shell is $SHELL inside */
	command[0] = (char *)cli_shell(c);
	r = cli_cell_plan(p, c, cwd, command, &plan);
	if (r >= 0)
		return r;
	if (shell_setup(plan, command[0]) < 0)
		return CELL_EXIT_FAILURE;
	r = o.leave_to ? leave_file_mark(o.leave_to, plan) : 0;
	if (r < 0) {
		fprintf(stderr, "cell: --leave-to '%s': %s\n", o.leave_to, strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	return cli_cell_launch(p, c, plan);
}

/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "path.h"
#include "shellrc.h"

#define RC_DIR "/run/cell/rc"

/*
 * The login files set PATH (Debian's /etc/profile sets its own): the cell's (its scripts, the
 * provider's tools, what the enter hooks put there) goes first again after them, and what the
 * files added stays, after it. POSIX sh (bash, dash); __cell_path is saved before the files.
 */
#define PATH_FIRST                                                                  \
	"__cell_rest=\n"                                                            \
	"__cell_ifs=${IFS-}; __cell_had_ifs=${IFS+y}\n"                             \
	"case $- in *f*) __cell_glob= ;; *) __cell_glob=y; set -f ;; esac\n"        \
	"IFS=:\n"                                                                   \
	"for __cell_d in $PATH; do\n"                                               \
	"\tcase \":${__cell_path-}:\" in *\":$__cell_d:\"*) ;; *) "                 \
	"__cell_rest=\"$__cell_rest:$__cell_d\" ;; esac\n"                          \
	"done\n"                                                                    \
	"if [ -n \"$__cell_had_ifs\" ]; then IFS=$__cell_ifs; else unset IFS; fi\n" \
	"if [ -n \"$__cell_glob\" ]; then set +f; fi\n"                             \
	"PATH=${__cell_path-}$__cell_rest; PATH=${PATH#:}\n"                        \
	"unset __cell_path __cell_rest __cell_ifs __cell_had_ifs __cell_glob __cell_d\n"

/* The project's history (plan.c binds its directory at CELL_SHELL_HISTORY_DIR), whatever the
 * user's files said: theirs is outside, and the cell's home is gone with the cell. */
#define HISTORY_SH(file) "HISTFILE=" CELL_SHELL_HISTORY_DIR "/" file "\n"

/*
 * The prompt shows [cell:NAME] without touching the user's files: each shell gets a small rc of
 * ours, bound read-only into the cell, that reads the user's own files first. CELL_PROMPT=0
 * leaves the prompt alone (starship and powerlevel users place $CELL_NAME themselves).
 */
static const char bash_rc[] =
	"# cell: a login shell's files, then the cell's PATH first, then the prompt\n"
	"__cell_path=$PATH\n"
	"if [ -r /etc/profile ]; then . /etc/profile; fi\n"
	"__cell_login=\n"
	"for __cell_f in ~/.bash_profile ~/.bash_login ~/.profile; do\n"
	"\tif [ -r \"$__cell_f\" ]; then . \"$__cell_f\"; __cell_login=1; break; fi\n"
	"done\n"
	"if [ -z \"$__cell_login\" ] && [ -r ~/.bashrc ]; then . ~/.bashrc; fi\n"
	"unset __cell_f __cell_login\n" PATH_FIRST
	"if [ \"${CELL_PROMPT-1}\" != 0 ]; then PS1=\"[cell:$CELL_NAME] $PS1\"; fi\n" HISTORY_SH(
		"bash_history");

/* (zsh: /etc/zsh/zshenv runs before ours and keeps a PATH that is set) */
static const char zsh_env[] = "__cell_path=$PATH\n"
			      "[ -r \"$HOME/.zshenv\" ] && . \"$HOME/.zshenv\"\n";
static const char zsh_profile[] = "[ -r \"$HOME/.zprofile\" ] && . \"$HOME/.zprofile\"\n";
/* ZDOTDIR goes back to $HOME here, so zsh reads the user's own .zlogin next */
static const char zsh_rc[] =
	"[ -r \"$HOME/.zshrc\" ] && . \"$HOME/.zshrc\"\n"
	"__cell_rest=()\n"
	"for __cell_d in $path; do\n"
	"\t[[ \":$__cell_path:\" == *\":$__cell_d:\"* ]] || __cell_rest+=(\"$__cell_d\")\n"
	"done\n"
	"PATH=$__cell_path${__cell_rest:+:${(j.:.)__cell_rest}}\n"
	"unset __cell_path __cell_rest __cell_d\n"
	"if [ \"${CELL_PROMPT-1}\" != 0 ]; then PROMPT=\"[cell:$CELL_NAME] $PROMPT\"; fi\n"
	"ZDOTDIR=\"$HOME\"\n" HISTORY_SH(
		"zsh_history") "(( ${SAVEHIST:-0} > 0 )) || SAVEHIST=1000\n"
			       "(( ${HISTSIZE:-0} >= SAVEHIST )) || HISTSIZE=$SAVEHIST\n";

static const char fish_init[] =
	"if test \"$CELL_PROMPT\" != 0; and functions -q fish_prompt\n"
	"  functions -c fish_prompt __cell_fish_prompt\n"
	"  function fish_prompt; printf '[cell:%s] ' $CELL_NAME; __cell_fish_prompt; end\n"
	"end";

/* (sh reads its login files here, not as a login shell, so that PATH is saved first) */
static const char sh_rc[] =
	"__cell_path=$PATH\n"
	"if [ -r /etc/profile ]; then . /etc/profile; fi\n"
	"if [ -r \"$HOME/.profile\" ]; then . \"$HOME/.profile\"; fi\n" PATH_FIRST
	"if [ \"${CELL_PROMPT-1}\" != 0 ]; then PS1=\"[cell:$CELL_NAME] ${PS1-$ }\"; fi\n";

void cell_shellrc_for(const char *shell, struct cell_shellrc *ret)
{
	const char *name = cell_path_basename(shell);
	struct cell_shellrc rc = {.argv = {shell}};

	if (streq(name, "bash")) {
		rc.files[0] = (struct cell_shellrc_file){RC_DIR "/bashrc", bash_rc};
		rc.argv[1] = "--rcfile";
		rc.argv[2] = RC_DIR "/bashrc";
		rc.argv[3] = "-i";
	} else if (streq(name, "zsh")) {
		rc.files[0] = (struct cell_shellrc_file){RC_DIR "/zsh/.zshenv", zsh_env};
		rc.files[1] = (struct cell_shellrc_file){RC_DIR "/zsh/.zprofile", zsh_profile};
		rc.files[2] = (struct cell_shellrc_file){RC_DIR "/zsh/.zshrc", zsh_rc};
		rc.env_name = "ZDOTDIR";
		rc.env_value = RC_DIR "/zsh";
		rc.argv[1] = "-l";
	} else if (streq(name, "fish")) {
		rc.argv[1] = "-l";
		rc.argv[2] = "-C";
		rc.argv[3] = fish_init;
	} else {
		rc.files[0] = (struct cell_shellrc_file){RC_DIR "/shrc", sh_rc};
		rc.env_name = "ENV";
		rc.env_value = RC_DIR "/shrc";
		rc.argv[1] = "-i";
	}
	*ret = rc;
}

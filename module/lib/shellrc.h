/* SPDX-License-Identifier: MIT */
#pragma once

/* One of the rc files an interactive shell in a cell reads (read-only, at dest). */
struct cell_shellrc_file {
	const char *dest;
	const char *content;
};

/*
 * An interactive shell as the cell's command (cell enter): its argv, and the rc files and the
 * variable that mark its prompt with [cell:NAME] while reading the user's own files first.
 * Unused entries are NULL. Everything points at static text, or at shell.
 */
/* Where an interactive cell's shell keeps its history (the project's, from its state directory:
 * plan.c binds it): bash's and zsh's HISTFILE; fish's data directory is bound from there too. */
#define CELL_SHELL_HISTORY_DIR "/run/cell/history"

struct cell_shellrc {
	const char *argv[5];
	struct cell_shellrc_file files[3];
	const char *env_name;
	const char *env_value;
};

void cell_shellrc_for(const char *shell, struct cell_shellrc *ret);

/* SPDX-License-Identifier: MIT */
#pragma once

enum cell_xdg {
	CELL_XDG_CONFIG, /* $XDG_CONFIG_HOME or ~/.config */
	CELL_XDG_DATA,	 /* $XDG_DATA_HOME or ~/.local/share */
	CELL_XDG_STATE,	 /* $XDG_STATE_HOME or ~/.local/state */
};

/* The user's base directory of that kind with "/cell" appended. Relative $XDG_* are ignored. */
int cell_xdg_dir(enum cell_xdg kind, char **ret);
/* FILE in the project's state directory: $XDG_STATE_HOME/cell/projects/ID/FILE. */
int cell_project_state_file(const char *project_id, const char *file, char **ret);
/* $HOME, or the home directory of the real user from the password database. */
const char *cell_home(void);

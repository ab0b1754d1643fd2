/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"
#include "xdg.h"

const char *cell_home(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && h[0] == '/')
		return h;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

int cell_xdg_dir(enum cell_xdg kind, char **ret)
{
	static const struct {
		const char *var, *fallback;
	} table[] = {
		[CELL_XDG_CONFIG] = {"XDG_CONFIG_HOME", ".config"},
		[CELL_XDG_DATA] = {"XDG_DATA_HOME", ".local/share"},
		[CELL_XDG_STATE] = {"XDG_STATE_HOME", ".local/state"},
	};
	const char *v = getenv(table[kind].var), *home;

	/* the XDG base directory spec: a relative path in these variables is invalid, ignore it */
	if (v && v[0] == '/')
		return asprintf(ret, "%s/cell", v) < 0 ? -ENOMEM : 0;
	home = cell_home();
	if (!home)
		return -ENOENT;
	return asprintf(ret, "%s/%s/cell", home, table[kind].fallback) < 0 ? -ENOMEM : 0;
}

int cell_project_state_file(const char *project_id, const char *file, char **ret)
{
	_cleanup_free_ char *state = NULL;
	int r = cell_xdg_dir(CELL_XDG_STATE, &state);

	if (r < 0)
		return r;
	return asprintf(ret, "%s/projects/%s/%s", state, project_id, file) < 0 ? -ENOMEM : 0;
}

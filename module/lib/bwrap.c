/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bwrap.h"
#include "macro.h"
#include "process.h"

static const char *const bwrap_paths[] = {"/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"};

int cell_bwrap_find(char **ret)
{
	for (size_t i = 0; i < ELEMENTSOF(bwrap_paths); i++) {
		struct stat st;

		if (stat(bwrap_paths[i], &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (access(bwrap_paths[i], X_OK) < 0)
			continue;
		*ret = strdup(bwrap_paths[i]);
		return *ret ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

int cell_bwrap_version(const char *bwrap, char **ret)
{
	char *argv[] = {(char *)bwrap, (char *)"--version", NULL};
	_cleanup_free_ char *out = NULL;
	char *v, *end;
	int r;

	r = cell_run_capture(argv, 4096, &out);
	if (r < 0)
		return r;
	if (r != 0 || !out)
		return -EIO;
	/* "bubblewrap 0.8.0\n" */
	v = strrchr(out, ' ');
	v = v ? v + 1 : out;
	end = v + strcspn(v, "\n");
	*end = '\0';
	if (!*v)
		return -EIO;
	*ret = strdup(v);
	return *ret ? 0 : -ENOMEM;
}

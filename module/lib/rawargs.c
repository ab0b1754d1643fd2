/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <string.h>

#include "macro.h"
#include "rawargs.h"

/* The options a config may add, and how many arguments each takes (bubblewrap 0.8). */
static const struct {
	const char *name;
	unsigned argc;
	bool binds; /* the first argument is a source on the host */
} allowed[] = {
	{"--unshare-net", 0, false}, {"--new-session", 0, false}, {"--disable-userns", 0, false},
	{"--unsetenv", 1, false},    {"--tmpfs", 1, false},	  {"--dir", 1, false},
	{"--remount-ro", 1, false},  {"--proc", 1, false},	  {"--dev", 1, false},
	{"--mqueue", 1, false},	     {"--hostname", 1, false},	  {"--chdir", 1, false},
	{"--perms", 1, false},	     {"--size", 1, false},	  {"--cap-drop", 1, false},
	{"--setenv", 2, false},	     {"--symlink", 2, false},	  {"--chmod", 2, false},
	{"--bind", 2, true},	     {"--bind-try", 2, true},	  {"--ro-bind", 2, true},
	{"--ro-bind-try", 2, true},  {"--dev-bind", 2, true},	  {"--dev-bind-try", 2, true},
};

/* Refused with their own reason; any other option is refused as unknown to this list. */
static const struct {
	const char *name;
	const char *why;
} refused[] = {
	{"--share-net", "network.mode decides the cell's network (\"host\" shares the host's)"},
	{"--unshare-all", "it includes the network, which network.mode decides"},
	{"--cap-add", "it gives the cell's processes capabilities cell drops"},
	{"--seccomp", "it replaces the cell's syscall filter"},
	{"--add-seccomp-fd", "it replaces the cell's syscall filter"},
	{"--userns", "it joins another user namespace"},
	{"--userns2", "it joins another user namespace"},
	{"--pidns", "it joins another pid namespace"},
	{"--as-pid-1", "cell-init is the cell's first process"},
	{"--clearenv", "cell sets the cell's environment (use env.set, or --unsetenv NAME)"},
	{"--args", "the descriptors are cell's"},
	{"--file", "the descriptors are cell's"},
	{"--bind-data", "the descriptors are cell's"},
	{"--ro-bind-data", "the descriptors are cell's"},
	{"--bind-fd", "the descriptors are cell's"},
	{"--ro-bind-fd", "the descriptors are cell's"},
	{"--block-fd", "the descriptors are cell's"},
	{"--userns-block-fd", "the descriptors are cell's"},
	{"--info-fd", "the descriptors are cell's"},
	{"--json-status-fd", "the descriptors are cell's"},
	{"--sync-fd", "the descriptors are cell's"},
	{"--", "the command is cell's (cell run COMMAND)"},
};

/* (the host's / however written, /proc and below, any "..") */
const char *cell_rawargs_source_refused(const char *src)
{
	const char *p = src, *first = NULL;
	size_t first_len = 0;

	while (*p) {
		size_t len;

		p += strspn(p, "/");
		len = strcspn(p, "/");
		if (len == 2 && !strncmp(p, "..", 2))
			return "'..' in a bind's source is refused (it climbs out of what was reviewed)";
		if (len && !(len == 1 && *p == '.') && !first) {
			first = p;
			first_len = len;
		}
		p += len;
	}
	if (*src != '/')
		return NULL;
	if (!first || (first_len == 4 && !strncmp(first, "proc", 4)))
		return "the host's / or /proc as a bind's source undoes the cell's mount namespace";
	return NULL;
}

const char *cell_rawargs_refused(char *const *args, size_t n, size_t *ret_at)
{
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		*ret_at = i;
		for (size_t j = 0; j < ELEMENTSOF(refused); j++)
			if (streq(args[i], refused[j].name))
				return refused[j].why;
		while (k < ELEMENTSOF(allowed) && !streq(args[i], allowed[k].name))
			k++;
		if (k == ELEMENTSOF(allowed))
			return args[i][0] == '-'
				       ? "an option that adds mounts, variables or isolation "
					 "(--bind, --ro-bind, --dev-bind and their -try, --tmpfs, "
					 "--dir, --symlink, --setenv, --unsetenv, --remount-ro, ...)"
				       : "an option, not a value (each option's values follow it)";
		if (n - i - 1 < allowed[k].argc)
			return "all of the option's arguments (it ends too early)";
		if (allowed[k].binds && cell_rawargs_source_refused(args[i + 1])) {
			*ret_at = i + 1;
			return cell_rawargs_source_refused(args[i + 1]);
		}
		i += allowed[k].argc;
	}
	return NULL;
}

bool cell_rawargs_is_bind(const char *opt)
{
	for (size_t k = 0; k < ELEMENTSOF(allowed); k++)
		if (streq(opt, allowed[k].name))
			return allowed[k].binds;
	return false;
}

/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <string.h>

#include "dotenv.h"
#include "macro.h"
#include "rawargs.h"

#define S CELL_RAWARG_SOURCE
#define D CELL_RAWARG_DEST
#define V CELL_RAWARG_VALUE

/* The options a config may add, and what each of their arguments is (bubblewrap 0.8). */
static const struct {
	const char *name;
	unsigned argc;
	enum cell_rawarg_role role[2];
} allowed[] = {
	{"--unshare-net", 0, {0}},    {"--new-session", 0, {0}}, {"--disable-userns", 0, {0}},
	{"--unsetenv", 1, {V}},	      {"--tmpfs", 1, {D}},	 {"--dir", 1, {D}},
	{"--remount-ro", 1, {D}},     {"--proc", 1, {D}},	 {"--dev", 1, {D}},
	{"--mqueue", 1, {D}},	      {"--hostname", 1, {V}},	 {"--chdir", 1, {V}},
	{"--perms", 1, {V}},	      {"--size", 1, {V}},	 {"--cap-drop", 1, {V}},
	{"--setenv", 2, {V, V}},      {"--symlink", 2, {V, D}},	 {"--chmod", 2, {V, D}},
	{"--bind", 2, {S, D}},	      {"--bind-try", 2, {S, D}}, {"--ro-bind", 2, {S, D}},
	{"--ro-bind-try", 2, {S, D}}, {"--dev-bind", 2, {S, D}}, {"--dev-bind-try", 2, {S, D}},
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

static bool has_dotdot(const char *path)
{
	for (const char *p = path; *p;) {
		size_t len;

		p += strspn(p, "/");
		len = strcspn(p, "/");
		if (len == 2 && !strncmp(p, "..", 2))
			return true;
		p += len;
	}
	return false;
}

/* (the host's / however written, /proc and below, any "..") */
const char *cell_rawargs_source_refused(const char *src)
{
	const char *p = src, *first = NULL;
	size_t first_len = 0;

	if (has_dotdot(src))
		return "'..' in a bind's source is refused (it climbs out of what was reviewed)";
	while (*p) {
		size_t len;

		p += strspn(p, "/");
		len = strcspn(p, "/");
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

static int find_allowed(const char *opt)
{
	for (size_t k = 0; k < ELEMENTSOF(allowed); k++)
		if (streq(opt, allowed[k].name))
			return (int)k;
	return -1;
}

/* Why one argument with its role in allowed[k] is refused, or NULL. */
static const char *value_refused(const char *opt, enum cell_rawarg_role role, unsigned at,
				 const char *a)
{
	if (role == S)
		return cell_rawargs_source_refused(a);
	if (role == D && (a[0] != '/' || has_dotdot(a)))
		return "a destination in the cell is an absolute path without '..'";
	/* the variables' rules are env.set's */
	if (at == 0 && (streq(opt, "--setenv") || streq(opt, "--unsetenv")))
		return cell_dotenv_refused(a);
	return NULL;
}

const char *cell_rawargs_refused(char *const *args, size_t n, size_t *ret_at)
{
	/* --perms and --size change the next --dir or --tmpfs: never one of cell's own */
	size_t modifier = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		int k;

		*ret_at = i;
		for (size_t j = 0; j < ELEMENTSOF(refused); j++)
			if (streq(args[i], refused[j].name))
				return refused[j].why;
		k = find_allowed(args[i]);
		if (k < 0)
			return args[i][0] == '-'
				       ? "an option that adds mounts, variables or isolation "
					 "(--bind, --ro-bind, --dev-bind and their -try, --tmpfs, "
					 "--dir, --symlink, --setenv, --unsetenv, --remount-ro, ...)"
				       : "an option, not a value (each option's values follow it)";
		if (modifier != SIZE_MAX && !streq(args[i], "--perms") &&
		    !streq(args[i], "--size") && !streq(args[i], "--dir") &&
		    !streq(args[i], "--tmpfs")) {
			*ret_at = modifier;
			return "--perms and --size go right before the --dir or --tmpfs they change";
		}
		modifier = streq(args[i], "--perms") || streq(args[i], "--size")  ? i
			   : streq(args[i], "--dir") || streq(args[i], "--tmpfs") ? SIZE_MAX
										  : modifier;
		if (n - i - 1 < allowed[k].argc)
			return "all of the option's arguments (it ends too early)";
		for (unsigned a = 0; a < allowed[k].argc; a++) {
			const char *why =
				value_refused(args[i], allowed[k].role[a], a, args[i + 1 + a]);

			if (why) {
				*ret_at = i + 1 + a;
				return why;
			}
		}
		i += allowed[k].argc;
	}
	if (modifier != SIZE_MAX) {
		*ret_at = modifier;
		return "--perms and --size go right before the --dir or --tmpfs they change";
	}
	return NULL;
}

void cell_rawargs_roles(char *const *args, size_t n, enum cell_rawarg_role *roles)
{
	for (size_t i = 0; i < n; i++) {
		int k = find_allowed(args[i]);

		roles[i] = CELL_RAWARG_OPTION;
		for (unsigned a = 0; k >= 0 && a < allowed[k].argc && i + 1 < n; a++)
			roles[++i] = allowed[k].role[a];
	}
}

/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "rawargs.h"

#define ARGS(...) ((char *[]){__VA_ARGS__}), sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)

static void refused_at(char **args, size_t n, size_t want_at, const char *why_part)
{
	size_t at = 99;
	const char *why = cell_rawargs_refused(args, n, &at);

	cr_assert(not(eq(ptr, (void *)why, NULL)), "%s not refused", args[want_at]);
	cr_assert(eq(sz, at, want_at), "%s: at %zu", why, at);
	cr_assert(not(eq(ptr, strstr(why, why_part), NULL)), "%s", why);
}

Test(rawargs, mounts_variables_and_isolation_pass)
{
	size_t at;

	cr_assert(
		eq(ptr,
		   (void *)cell_rawargs_refused(
			   ARGS("--setenv", "A", "--share-net", "--ro-bind", "/opt/sdk", "/opt/sdk",
				"--bind-try", "./cache", "/tmp/c", "--tmpfs", "/mnt", "--unsetenv",
				"X", "--symlink", "/", "/tmp/root", "--unshare-net", "--chmod",
				"0700", "/tmp/c", "--dev-bind", "/dev/kvm", "/dev/kvm"),
			   &at),
		   NULL));
	cr_assert(eq(ptr, (void *)cell_rawargs_refused(NULL, 0, &at), NULL));
}

Test(rawargs, what_undoes_the_cell_is_refused)
{
	refused_at(ARGS("--setenv", "A", "1", "--share-net"), 3, "network.mode");
	refused_at(ARGS("--unshare-all"), 0, "network");
	refused_at(ARGS("--cap-add", "CAP_SYS_ADMIN"), 0, "capabilities");
	refused_at(ARGS("--seccomp", "9"), 0, "filter");
	refused_at(ARGS("--add-seccomp-fd", "9"), 0, "filter");
	refused_at(ARGS("--userns", "3"), 0, "user namespace");
	refused_at(ARGS("--args", "3"), 0, "descriptors");
	refused_at(ARGS("--ro-bind-data", "4", "/etc/x"), 0, "descriptors");
	refused_at(ARGS("--clearenv"), 0, "environment");
	refused_at(ARGS("--", "sh"), 0, "command");
	refused_at(ARGS("--bind", "/", "/"), 1, "host's /");
	refused_at(ARGS("--ro-bind", "//./", "/mnt"), 1, "host's /");
	refused_at(ARGS("--dev-bind-try", "/proc/1/root", "/mnt"), 1, "/proc");
	refused_at(ARGS("--ro-bind", "/./proc", "/mnt"), 1, "/proc");
	refused_at(ARGS("--ro-bind", "/home/u/../..", "/mnt"), 1, "'..'");
	refused_at(ARGS("--ro-bind", "../up", "/mnt"), 1, "'..'");
	refused_at(ARGS("--made-up", "x"), 0, "adds mounts");
	refused_at(ARGS("/bin/sh"), 0, "not a value");
	refused_at(ARGS("--tmpfs", "/a", "--bind", "/x"), 2, "ends too early");
	/* what env.set may not set, --setenv may not either, nor unset */
	refused_at(ARGS("--setenv", "LD_PRELOAD", "/p/x.so"), 1, "load");
	refused_at(ARGS("--setenv", "CELL_ID", "x"), 1, "CELL_");
	refused_at(ARGS("--unsetenv", "HTTPS_PROXY"), 1, "proxy");
	/* destinations: absolute, no '..' */
	refused_at(ARGS("--tmpfs", "cache"), 1, "absolute");
	refused_at(ARGS("--ro-bind", "/opt/x", "/opt/../etc"), 2, "'..'");
	/* --perms and --size change the next --dir or --tmpfs, never one of cell's own */
	refused_at(ARGS("--setenv", "A", "1", "--perms", "0666"), 3, "right before");
	refused_at(ARGS("--size", "10", "--bind", "/opt/x", "/opt/x"), 0, "right before");
}

Test(rawargs, sources_are_checked_however_written)
{
	cr_assert(eq(ptr, (void *)cell_rawargs_source_refused("/processes"), NULL));
	cr_assert(eq(ptr, (void *)cell_rawargs_source_refused("./proc"), NULL));
	cr_assert(eq(ptr, (void *)cell_rawargs_source_refused("/opt/..x"), NULL));
	cr_assert(not(eq(ptr, (void *)cell_rawargs_source_refused("/"), NULL)));
	cr_assert(not(eq(ptr, (void *)cell_rawargs_source_refused("/proc/"), NULL)));
}

Test(rawargs, each_argument_has_its_role)
{
	char *args[] = {"--ro-bind", "/a", "/b", "--setenv", "X",  "1",
			"--symlink", "t",  "/l", "--tmpfs",  "/t", "--unshare-net"};
	enum cell_rawarg_role want[] = {
		CELL_RAWARG_OPTION, CELL_RAWARG_SOURCE, CELL_RAWARG_DEST,   CELL_RAWARG_OPTION,
		CELL_RAWARG_VALUE,  CELL_RAWARG_VALUE,	CELL_RAWARG_OPTION, CELL_RAWARG_VALUE,
		CELL_RAWARG_DEST,   CELL_RAWARG_OPTION, CELL_RAWARG_DEST,   CELL_RAWARG_OPTION,
	};
	enum cell_rawarg_role got[12];

	cell_rawargs_roles(args, 12, got);
	for (size_t i = 0; i < 12; i++)
		cr_assert(eq(int, got[i], want[i]), "argument %zu", i);
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf.h"
#include "bwrap.h"
#include "cgroup.h"
#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "limit.h"
#include "provider.h"
#include "session.h"

#define MOUNTINFO "/proc/self/mountinfo"

enum verdict { OK, WARN, FAIL };

static void report(enum verdict v, const char *what, const char *fix)
{
	static const char *const tags[] = {"ok", "warn", "FAIL"};

	printf("  %-5s %s\n", tags[v], what);
	if (fix && v != OK)
		printf("        fix: %s\n", fix);
}

/* A sysctl's value as an integer; -1 when the knob does not exist. */
static long sysctl_long(const char *path)
{
	_cleanup_free_ char *text = NULL;

	if (cell_read_file(path, 0, 64, &text, NULL) < 0)
		return -1;
	return strtol(text, NULL, 10);
}

static bool check_bwrap(void)
{
	_cleanup_free_ char *path = NULL, *version = NULL;
	char what[256];

	if (cell_bwrap_find(&path) < 0) {
		report(FAIL, "bubblewrap: not found in /usr/bin, /usr/local/bin or /bin",
		       "apt-get install bubblewrap");
		return false;
	}
	if (cell_bwrap_version(path, &version) < 0) {
		snprintf(what, sizeof(what), "bubblewrap at %s does not answer --version", path);
		report(FAIL, what, "reinstall bubblewrap (apt-get install --reinstall bubblewrap)");
		return false;
	}
	if (cell_version_compare(version, CELL_BWRAP_MIN_VERSION) < 0) {
		snprintf(what, sizeof(what), "bubblewrap %s at %s is older than %s", version, path,
			 CELL_BWRAP_MIN_VERSION);
		report(FAIL, what, "a newer bubblewrap (Debian 12 has 0.8.0)");
		return false;
	}
	snprintf(what, sizeof(what), "bubblewrap %s at %s", version, path);
	report(OK, what, NULL);
	return true;
}

/* Tries unshare(CLONE_NEWUSER) in a child, which is what bwrap will do. */
static bool check_userns(void)
{
	long clone = sysctl_long("/proc/sys/kernel/unprivileged_userns_clone");
	long max = sysctl_long("/proc/sys/user/max_user_namespaces");
	int status = 0;
	char what[256];
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER) < 0 ? 1 : 0);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		report(FAIL, "user namespaces: unshare(CLONE_NEWUSER) is refused",
		       clone == 0 ? "sysctl -w kernel.unprivileged_userns_clone=1"
				  : "sysctl -w user.max_user_namespaces=15000");
		return false;
	}
	snprintf(what, sizeof(what), "user namespaces (max_user_namespaces=%ld%s)%s", max,
		 clone == 0 ? ", unprivileged_userns_clone=0" : "",
		 geteuid() == 0 ? " (checked as root)" : "");
	report(clone == 0 ? WARN : OK, what,
	       "sysctl -w kernel.unprivileged_userns_clone=1, so users other than root get cells");
	return true;
}

static void check_cgroup(void)
{
	_cleanup_free_ char *path = NULL;
	bool hybrid = false;
	char what[512];

	if (cell_cgroup_find(MOUNTINFO, &path, &hybrid) < 0) {
		report(WARN, "cgroup2: not mounted; the BPF network rules need it",
		       "mount -t cgroup2 none /sys/fs/cgroup (or boot with systemd.unified_cgroup_hierarchy=1)");
		return;
	}
	snprintf(what, sizeof(what), "cgroup2 at %s%s", path,
		 hybrid ? " (hybrid host: v1 controllers beside it; enough for BPF)" : "");
	report(OK, what, NULL);
}

/*
 * The pin directory: cell-session refuses one that is not root's alone. Where /sys/fs/bpf is
 * root's alone itself (0700, as systemd mounts it), only root can look in, or make it.
 */
static bool check_pin_dir(void)
{
	struct cell_bpf_pin_dir d;
	_cleanup_free_ char *words = NULL;
	struct stat parent;
	char what[512];
	int r = cell_bpf_pin_dir_inspect(CELL_BPF_PIN_DIR, &d);

	if (r == -EACCES && stat(CELL_BPF_FS, &parent) == 0 && parent.st_uid == 0 &&
	    !(parent.st_mode & (S_IWGRP | S_IWOTH))) {
		report(OK,
		       "BPF pin directory /sys/fs/bpf/cell: fine as far as a user can tell (only root can make it or look in: /sys/fs/bpf is root's alone)",
		       NULL);
		return true;
	}
	if (r < 0) {
		snprintf(what, sizeof(what), "BPF pin directory %s: cannot be looked at: %s",
			 CELL_BPF_PIN_DIR, strerror(-r));
		report(WARN, what, "run cell doctor as root");
		return true;
	}
	if (d.state == CELL_BPF_PIN_NOT_ROOTS)
		words = cell_bpf_pin_dir_describe(&d);
	snprintf(what, sizeof(what), "BPF pin directory %s: %s%s%s%s", CELL_BPF_PIN_DIR,
		 cell_bpf_pin_state_name(d.state), words ? " (" : "", words ? words : "",
		 words ? "): cell-session refuses it, and so proxy cells" : "");
	report(d.state == CELL_BPF_PIN_NOT_ROOTS ? FAIL : OK, what,
	       "as root: rm -r /sys/fs/bpf/cell (cell-session makes it again, root's alone)");
	return d.state != CELL_BPF_PIN_NOT_ROOTS;
}

static bool check_bpf(void)
{
	_cleanup_free_ char *bpffs = NULL;
	long disabled = sysctl_long("/proc/sys/kernel/unprivileged_bpf_disabled");
	struct stat st;
	char what[256];
	bool ok;

	if (stat("/sys/kernel/btf/vmlinux", &st) == 0)
		report(OK, "kernel BTF at /sys/kernel/btf/vmlinux", NULL);
	else
		report(WARN, "kernel BTF: /sys/kernel/btf/vmlinux is missing",
		       "a kernel built with CONFIG_DEBUG_INFO_BTF=y");
	if (cell_mountinfo_find(MOUNTINFO, "bpf", &bpffs) >= 0) {
		snprintf(what, sizeof(what), "bpffs at %s", bpffs);
		report(OK, what, NULL);
	} else {
		report(WARN, "bpffs: not mounted; pinned BPF programs need it",
		       "mount -t bpf bpf /sys/fs/bpf");
	}
	ok = check_pin_dir();
	snprintf(what, sizeof(what), "kernel.unprivileged_bpf_disabled=%ld%s", disabled,
		 disabled != 0 ? " (only privileged code loads BPF: the session helper's job)"
			       : "");
	report(OK, what, NULL);
	return ok;
}

/* What holds a cell's limits here: the cgroup of a cell cell-session opens, or rlimits. */
static void check_limits(const struct cell_host *host)
{
	static const char *const controllers[] = {"memory", "pids", "cpu"};
	_cleanup_free_ char *slice = NULL, *proc_cgroup = NULL;
	char what[512] = "", missing[64] = "";

	if (!host->helper) {
		report(OK,
		       "limits: no cgroup for cells without cell-session's privilege: limits.pids "
		       "is RLIMIT_NPROC in the cell's user namespace; limits.memory and limits.cpu "
		       "are not enforced",
		       "make install SETUID=1 (then proxy cells get cgroups of their own)");
		return;
	}
	if (cell_session_slice(MOUNTINFO, &slice) < 0 ||
	    cell_read_file("/proc/self/cgroup", 0, 65536, &proc_cgroup, NULL) < 0) {
		report(WARN, "limits: cannot tell where the cgroup controllers are", NULL);
		return;
	}
	snprintf(what, sizeof(what), "limits: held by a proxy cell's cgroup:");
	for (size_t i = 0; i < ELEMENTSOF(controllers); i++) {
		enum cell_limits_place at =
			cell_limits_where(slice, MOUNTINFO, proc_cgroup, controllers[i]);

		if (at == CELL_LIMITS_NOWHERE)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 "%s%s", *missing ? ", " : "", controllers[i]);
		else
			snprintf(what + strlen(what), sizeof(what) - strlen(what), " %s (%s)",
				 controllers[i], at == CELL_LIMITS_V2 ? "cgroup2" : "cgroup v1");
	}
	report(OK, what, NULL);
	if (*missing) {
		snprintf(what, sizeof(what),
			 "limits: no %s controller here: a proxy cell whose config sets that limit "
			 "does not start",
			 missing);
		report(WARN, what,
		       "mount its cgroup v1 hierarchy, or enable it in cgroup2's "
		       "cgroup.subtree_control");
	}
}

/* How a proxy cell is isolated here (network.isolation "auto"), and why. */
static void check_network(void)
{
	_cleanup_diag_ struct cell_diag d = {0};
	_cleanup_host_ struct cell_host host = {0};
	const struct cell_config c = {.network.isolation = CELL_ISOLATION_AUTO};
	const char *why = NULL;
	struct utsname u = {0};
	char what[640];

	if (cell_host_probe(&host, &d) < 0) {
		report(FAIL, d.message ? d.message : "cell cannot look at this machine", NULL);
		return;
	}
	if (cell_plan_isolation(&c, &host, &why) == CELL_ISOLATION_BPF) {
		snprintf(what, sizeof(what),
			 "network: proxy cells are held to their proxy by BPF (the host's network "
			 "namespace, kernel counters) through %s%s",
			 host.helper, geteuid() == 0 ? " (cell runs as root)" : " (setuid root)");
		report(OK, what, NULL);
	} else {
		snprintf(what, sizeof(what),
			 "network: proxy cells get a network namespace of their own (netns): %s",
			 why);
		report(OK, what, NULL);
	}
	uname(&u);
	if (!host.helper) {
		report(OK, "abstract Unix sockets: closed to cells (their own network namespace)",
		       NULL);
	} else if (host.unix_hooks) {
		report(OK, "abstract Unix sockets: closed to cells (cgroup/connect_unix)", NULL);
	} else {
		snprintf(
			what, sizeof(what),
			"abstract Unix sockets: kernel %s has no cgroup/connect_unix (6.7+): a cell "
			"with network.isolation \"bpf\" can reach the host's (X11, D-Bus, container "
			"runtimes); \"auto\" gives proxy cells a network namespace of their own",
			u.release);
		report(WARN, what, "a 6.7 or newer kernel (Debian 12: bookworm-backports)");
	}
	check_limits(&host);
}

static void check_seccomp(void)
{
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL)
		report(FAIL, "seccomp: the kernel has no seccomp", "a kernel with CONFIG_SECCOMP");
	else
		report(OK, "seccomp filters", NULL);
}

/* --escape [--user NAME] [--allow-root] [DIR], or nothing. Returns -1, or the exit code. */
static int parse(int argc, char *argv[], bool *ret_escape, struct cli_cell_options *o)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"escape", no_argument, NULL, 'e'},
		{"user", required_argument, NULL, 'u'},
		{"allow-root", no_argument, NULL, 'R'},
		{0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hu:", options, NULL)) >= 0) {
		if (c == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		} else if (c == 'e') {
			*ret_escape = true;
		} else if (c == 'u') {
			o->user = optarg;
		} else if (c == 'R') {
			o->allow_root = true;
		} else {
			return cli_bad_option(argv, c);
		}
	}
	if (!*ret_escape && (o->user || o->allow_root))
		return cli_bad_usage(argv[0], "--user and --allow-root go with --escape");
	if (optind < argc && (!*ret_escape || argc - optind > 1))
		return cli_bad_usage(argv[0], "unexpected argument '%s'",
				     argv[optind + (*ret_escape ? 1 : 0)]);
	o->dir = optind < argc ? argv[optind] : NULL;
	return -1;
}

/* The dev-environment providers found (in the fixed directories cell looks in, only). */
static void check_providers(void)
{
	static const enum cell_env_provider all[] = {CELL_PROVIDER_DEVENV, CELL_PROVIDER_NIX,
						     CELL_PROVIDER_DIRENV, CELL_PROVIDER_MISE};
	const char *home = getenv("HOME");

	for (size_t i = 0; i < ELEMENTSOF(all); i++) {
		_cleanup_free_ char *path = cell_provider_find(all[i], home);
		char what[4200];

		snprintf(what, sizeof(what), "env.provider %s: %s",
			 cell_env_provider_to_string(all[i]),
			 path ? path
			      : "not installed (projects that use it get no environment from it)");
		report(path ? OK : WARN, what, NULL);
	}
}

int cmd_doctor(int argc, char *argv[])
{
	struct cli_cell_options o = {0};
	bool escape = false, ok;
	int r;

	r = parse(argc, argv, &escape, &o);
	if (r >= 0)
		return r;
	if (escape)
		return cli_doctor_escape(&o);
	printf("cell %s doctor\n", CELL_VERSION);
	ok = check_bwrap();
	ok = check_userns() && ok;
	check_seccomp();
	check_cgroup();
	ok = check_bpf() && ok;
	check_network();
	check_providers();
	printf("%s\n", ok ? "cell can build cells on this machine"
			  : "cell cannot build cells here until the FAIL lines are fixed");
	return ok ? CELL_EXIT_OK : CELL_EXIT_FAILURE;
}

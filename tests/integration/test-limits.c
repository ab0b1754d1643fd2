/* SPDX-License-Identifier: MIT */
/*
 * limits.memory, limits.pids and limits.cpu held by the kernel (docs/design.md §3 "Limits"):
 * with cell-session setuid root (suite limits: needs root), a proxy cell's cgroup holds them, in
 * the v1 hierarchies on a hybrid host like this one, its directories gone with the cell; without
 * privilege (suite rlimits), limits.pids holds by RLIMIT_NPROC in the cell's user namespace and
 * the rest is said, once.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "fileio.h"
#include "helpers.h"
#include "limit.h"
#include "macro.h"

static struct {
	char *tmp, *home, *proj;
	struct th_stage stage;
	uid_t uid;
	gid_t gid;
	struct th_env env;
} t;

/* Python in the cell: forks children that sleep until it has as many as it can (at most 100). */
static const char forks_py[] = "import os, time\n"
			       "n = 0\n"
			       "for _ in range(100):\n"
			       "    try: pid = os.fork()\n"
			       "    except OSError: break\n"
			       "    if pid == 0: time.sleep(2); os._exit(0)\n"
			       "    n += 1\n"
			       "print('forked', n, flush=True)\n";

/* Python in the cell: 2 s busy, then CPU time / wall time. */
static const char busy_py[] =
	"import time\n"
	"t, c = time.time(), time.process_time()\n"
	"while time.time() - t < 2: pass\n"
	"print('%.2f' % ((time.process_time() - c) / (time.time() - t)), flush=True)\n";

static void setup_with(bool privileged)
{
	memset(&t, 0, sizeof(t));
	if (privileged && geteuid() != 0)
		th_skip("needs root (to install cell-session setuid)");
	th_cell_user(&t.uid, &t.gid);
	t.tmp = th_mkdtemp();
	chmod(t.tmp, 0755);
	th_stage(&t.stage);
	if (privileged)
		th_stage_setuid(&t.stage);
	t.home = th_join(t.tmp, "home");
	t.proj = th_join(t.tmp, "proj");
	free(th_write(t.proj, "forks.py", forks_py));
	free(th_write(t.proj, "busy.py", busy_py));
	free(th_write(t.home, ".profile", "\n"));
	th_chown_r(t.tmp, t.uid, t.gid);
	th_env_user(&t.env, t.home);
}

static void setup_privileged(void)
{
	setup_with(true);
}

static void setup_unprivileged(void)
{
	setup_with(false);
}

static void teardown(void)
{
	if (t.tmp)
		th_rm_rf(t.tmp);
	free(t.tmp);
	th_stage_done(&t.stage);
	free(t.home);
	free(t.proj);
	th_env_done(&t.env);
}

TestSuite(limits, .init = setup_privileged, .fini = teardown, .timeout = 120);
TestSuite(rlimits, .init = setup_unprivileged, .fini = teardown, .timeout = 120);

/* cell ARGS... in the project, as the test user. */
static struct th_result cell(char *const args[])
{
	char *argv[32] = {t.stage.cell};
	size_t n = 1;
	struct th_result r;

	for (size_t i = 0; args[i] && n < ELEMENTSOF(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	th_run_as(t.uid, t.gid, t.proj, argv, t.env.v, &r);
	return r;
}

/* .cell.json of a cell with these limits and network (an object), allowed by the test user. */
static void set_config_network(const char *limits, const char *network)
{
	_cleanup_free_ char *json = NULL;
	struct th_result r;

	cr_assert(ge(int,
		     asprintf(&json, "{\"name\": \"webapp\", \"limits\": %s, \"network\": %s}",
			      limits, network),
		     0));
	free(th_write(t.proj, ".cell.json", json));
	th_chown_r(t.proj, t.uid, t.gid);
	r = cell((char *[]){(char *)"allow", NULL});
	cr_assert(eq(int, r.status, 0), "cell allow: %s", r.err);
	th_result_done(&r);
}

/* The same, with network.mode mode. */
static void set_config(const char *limits, const char *mode)
{
	_cleanup_free_ char *network = NULL;

	cr_assert(ge(int, asprintf(&network, "{\"mode\": \"%s\"}", mode), 0));
	set_config_network(limits, network);
}

static bool contains(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle);
}

/* The project's cell stats --json line. */
static char *stats_json(void)
{
	struct th_result r = cell((char *[]){(char *)"stats", (char *)"--json", NULL});
	char *out;

	cr_assert(eq(int, r.status, 0), "cell stats: %s", r.err);
	out = strdup(r.out);
	th_result_done(&r);
	return out;
}

/* Entries of dir whose names begin with prefix. */
static size_t count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	size_t n = 0;

	for (struct dirent *e; d && (e = readdir(d));)
		n += startswith(e->d_name, prefix);
	if (d)
		closedir(d);
	return n;
}

/* Directories in controller's v1 hierarchy's cell.slice below where we are, named prefix... */
static size_t v1_named(const char *controller, const char *prefix)
{
	_cleanup_free_ char *proc_cgroup = NULL, *mnt = NULL, *path = NULL, *base = NULL,
			    *slice = NULL;
	size_t n = 0;
	DIR *d;

	cr_assert(ge(int, cell_read_file("/proc/self/cgroup", 0, 65536, &proc_cgroup, NULL), 0));
	if (cell_cgroup_v1_find("/proc/self/mountinfo", proc_cgroup, controller, &mnt, &path) < 0)
		return 0;
	base = th_join(mnt, path);
	slice = th_join(base, "cell.slice");
	d = opendir(slice);
	for (struct dirent *e; d && (e = readdir(d));)
		n += startswith(e->d_name, prefix);
	if (d)
		closedir(d);
	return n;
}

/* How this test's cells are named: the test user's ("<uid>-"), of this test's project (its id's
 * tail begins their ids). */
static void cells_prefix(char prefix[64])
{
	_cleanup_free_ char *stats = stats_json();
	const char *project = strstr(stats, "\"project\":\"");

	cr_assert(not(eq(ptr, (void *)project, NULL)), "%s", stats);
	project += 11;
	project += strcspn(project, "\"") - 12; /* "<dirname>-<12 hex>" */
	snprintf(prefix, 64, "%u-%.12s-", (unsigned)t.uid, project);
}

/* This test's cells' directories in controller's v1 hierarchy, below where we are. */
static size_t v1_cells_left(const char *controller)
{
	char prefix[64];

	cells_prefix(prefix);
	return v1_named(controller, prefix);
}

static bool hybrid_host(void)
{
	_cleanup_free_ char *cg2 = NULL;
	bool hybrid = false;

	return cell_cgroup_find("/proc/self/mountinfo", &cg2, &hybrid) >= 0 && hybrid;
}

/* The issue's own case: 64M, and a process that allocates 256 MiB, stopped and said so. */
Test(limits, a_cell_over_its_memory_limit_is_stopped_and_says_so)
{
	_cleanup_free_ char *stats = NULL;
	struct th_result r;

	set_config("{\"memory\": \"64M\"}", "proxy");
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/usr/bin/python3", (char *)"-c",
			    (char *)"b = bytearray(256 << 20); print('alive')", NULL});
	cr_assert(eq(int, r.status, 137), "status %d, out %s, err %s", r.status, r.out, r.err);
	cr_assert(not(contains(r.out, "alive")), "%s", r.out);
	cr_assert(contains(r.err, "cell: webapp was stopped by its memory limit (64 MiB)"), "%s",
		  r.err);
	th_result_done(&r);
	/* the ledger has it, and the peak the kernel saw: at most the limit */
	stats = stats_json();
	cr_assert(contains(stats, "\"limits\":{\"memory_peak\":"), "%s", stats);
	cr_assert(not(contains(stats, "\"oom_kills\":0")), "%s", stats);
	cr_assert(le(u64, strtoull(strstr(stats, "\"memory_peak\":") + 14, NULL, 10), 64ULL << 20),
		  "%s", stats);
	r = cell((char *[]){(char *)"stats", NULL});
	cr_assert(contains(r.out, "limits: peak memory "), "%s", r.out);
	th_result_done(&r);
	/* nothing of the cell is left in the v1 hierarchies, or in cell-session's records */
	if (hybrid_host())
		cr_assert(eq(sz, v1_cells_left("memory"), 0));
	cr_assert(eq(sz, v1_cells_left("pids"), 0));
}

/* While the cell runs, its directories are there (the count above sees them), and they go with
 * it; a member's process is in them too. */
Test(limits, the_cells_v1_directories_come_and_go_with_it)
{
	char *argv[] = {t.stage.cell,	      (char *)"run", (char *)"--",
			(char *)"/bin/sleep", (char *)"30",  NULL};
	const char *controller = hybrid_host() ? "memory" : NULL;
	struct th_result r;
	pid_t pid;
	int i;

	if (!controller)
		th_skip("not a hybrid host: the limits are in the cell's cgroup2 directory");
	set_config("{\"memory\": \"128M\", \"pids\": 64}", "proxy");
	pid = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env.v);
	for (i = 0; i < 100 && v1_cells_left(controller) == 0; i++)
		usleep(100 * 1000);
	cr_assert(eq(sz, v1_cells_left(controller), 1));
	cr_assert(eq(sz, v1_cells_left("pids"), 1));
	/* a member of the session: its processes count against the same limit */
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/bin/sh", (char *)"-c",
			    (char *)"cat /proc/self/cgroup", NULL});
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	/* (the cell's cgroup namespace is rooted at its own directory: one outside it is "/..") */
	cr_assert(contains(r.out, ":memory:/\n"), "%s", r.out);
	cr_assert(contains(r.out, ":pids:/\n"), "%s", r.out);
	th_result_done(&r);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	for (i = 0; i < 100 && v1_cells_left(controller) != 0; i++)
		usleep(100 * 1000);
	cr_assert(eq(sz, v1_cells_left(controller), 0));
	cr_assert(eq(sz, v1_cells_left("pids"), 0));
}

/* Python in the cell: what a proxy cell's process reaches in a network namespace of the cell's
 * own that a BPF cell's policy holds too: the proxy (its 403 for a host not allowed) and a
 * server of the cell's own; then it allocates 256 MiB. */
static const char netns_py[] =
	"import os, socket, urllib.error, urllib.request\n"
	"try: urllib.request.urlopen('http://denied.test/', timeout=10); print('fetched')\n"
	"except urllib.error.HTTPError as e: print('proxy', e.code)\n"
	"s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
	"c = socket.create_connection(s.getsockname(), timeout=5); print('own', 'ok')\n"
	"print(open('/proc/self/cgroup').read().count(':memory:/\\n'), flush=True)\n"
	"b = bytearray(256 << 20); print('alive')\n";

/* A proxy cell in a network namespace of its own is held to its limits as well where
 * cell-session has privilege (it opens the cell's cgroup, with a BPF cell's policy, which lets
 * the cell reach what it bound in its namespace, its proxy's socket among them). */
Test(limits, a_netns_cell_is_held_to_its_limits_too)
{
	_cleanup_free_ char *stats = NULL;
	struct th_result r;

	free(th_write(t.proj, "netns.py", netns_py));
	th_chown_r(t.proj, t.uid, t.gid);
	set_config_network("{\"memory\": \"64M\"}", "{\"isolation\": \"netns\"}");
	r = cell((char *[]){(char *)"explain", NULL});
	cr_assert(contains(r.out, "isolation: netns"), "%s", r.out);
	cr_assert(contains(r.out, "limits: held by the cell's cgroup"), "%s", r.out);
	cr_assert(not(contains(r.out, "no cgroup of its own")), "%s", r.out);
	th_result_done(&r);
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/usr/bin/python3",
			    (char *)"netns.py", NULL});
	cr_assert(eq(int, r.status, 137), "status %d, out %s, err %s", r.status, r.out, r.err);
	cr_assert(contains(r.out, "proxy 403\nown ok\n"), "%s", r.out);
	if (hybrid_host())
		cr_assert(contains(r.out, "own ok\n1\n"), "in its v1 memory directory: %s", r.out);
	cr_assert(not(contains(r.out, "alive")), "%s", r.out);
	cr_assert(contains(r.err, "cell: webapp was stopped by its memory limit (64 MiB)"), "%s",
		  r.err);
	cr_assert(not(contains(r.err, "not enforced")), "%s", r.err);
	th_result_done(&r);
	/* the ledger: the proxy counted the cell (netns), its limits what they saw */
	stats = stats_json();
	cr_assert(contains(stats, "\"netns_cells\":1"), "%s", stats);
	cr_assert(not(contains(stats, "\"oom_kills\":0")), "%s", stats);
	cr_assert(contains(stats, "\"memory_peak\":"), "%s", stats);
	if (hybrid_host())
		cr_assert(eq(sz, v1_cells_left("memory"), 0));
}

/* A netns project session's member joins the cell's cgroup too (by cell-session), and its
 * limits' directories go with the cell. */
Test(limits, a_netns_sessions_member_is_held_to_its_limits)
{
	char *argv[] = {t.stage.cell,	      (char *)"run", (char *)"--",
			(char *)"/bin/sleep", (char *)"30",  NULL};
	struct th_result r;
	pid_t pid;
	int i;

	set_config_network("{\"memory\": \"128M\", \"pids\": 64}", "{\"isolation\": \"netns\"}");
	pid = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env.v);
	for (i = 0; i < 100 && v1_cells_left("pids") == 0; i++)
		usleep(100 * 1000);
	cr_assert(eq(sz, v1_cells_left("pids"), 1));
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/bin/sh", (char *)"-c",
			    (char *)"cat /proc/self/cgroup; echo nproc=$(ulimit -u)", NULL});
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, ":pids:/\n"), "%s", r.out);
	/* (the cgroup holds limits.pids: no RLIMIT_NPROC of it) */
	cr_assert(contains(r.out, "nproc="), "%s", r.out);
	cr_assert(not(contains(r.out, "nproc=64\n")), "%s", r.out);
	th_result_done(&r);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	for (i = 0; i < 100 && v1_cells_left("pids") != 0; i++)
		usleep(100 * 1000);
	cr_assert(eq(sz, v1_cells_left("pids"), 0));
}

/* The pid of the test user's "cell-session open" (0: none). */
static pid_t session_open_pid(void)
{
	DIR *d = opendir("/proc");
	pid_t found = 0;

	for (struct dirent *e; d && !found && (e = readdir(d));) {
		_cleanup_free_ char *cmdline = NULL;
		char path[64];
		size_t size = 0;
		int n = atoi(e->d_name);

		if (n <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", n);
		/* (NULs between the arguments: the first two read as strings; the stage's helper
		 * path is this test's own) */
		if (cell_read_file(path, 0, 65536, &cmdline, &size) >= 0 &&
		    size > strlen(cmdline) + 1 && streq(cmdline, t.stage.helper) &&
		    streq(cmdline + strlen(cmdline) + 1, "open"))
			found = n;
	}
	if (d)
		closedir(d);
	return found;
}

/* A held netns cell whose cell-session is killed: the cell command closes it by a reap, and
 * nothing is left (no v1 directory, no record of its limits), and its one record is kept. */
Test(limits, a_held_netns_cell_cut_short_leaves_nothing_and_one_record)
{
	char *argv[] = {t.stage.cell,	      (char *)"run", (char *)"--",
			(char *)"/bin/sleep", (char *)"30",  NULL};
	_cleanup_free_ char *stats = NULL;
	struct th_result r;
	char prefix[64];
	pid_t pid, helper = 0;
	int i, status;

	set_config_network("{\"memory\": \"128M\", \"pids\": 64}", "{\"isolation\": \"netns\"}");
	pid = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env.v);
	for (i = 0; i < 100 && v1_cells_left("pids") == 0; i++)
		usleep(100 * 1000);
	cr_assert(eq(sz, v1_cells_left("pids"), 1));
	for (i = 0; i < 100 && !(helper = session_open_pid()); i++)
		usleep(50 * 1000);
	cr_assert(gt(int, helper, 0), "no cell-session open");
	/* (the command in the cell first: a session that ends before its member joins is opened
	 * anew for it, a second cell) */
	for (i = 0; i < 200; i++) {
		bool joined;

		r = cell((char *[]){(char *)"status", (char *)"--json", NULL});
		joined = contains(r.out, "\"members\":[{");
		th_result_done(&r);
		if (joined)
			break;
		usleep(50 * 1000);
	}
	cr_assert(lt(int, i, 200), "the command never joined its session");
	cr_assert(eq(int, kill(helper, SIGKILL), 0));
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(eq(sz, v1_cells_left("pids"), 0));
	if (hybrid_host())
		cr_assert(eq(sz, v1_cells_left("memory"), 0));
	/* (this test's: an earlier test's cell may be forgetting its record still) */
	cells_prefix(prefix);
	cr_assert(eq(sz, count_prefixed(CELL_LIMITS_DIR, prefix), 0));
	r = cell((char *[]){(char *)"stats", NULL});
	cr_assert(contains(r.out, "webapp: 1 record"), "%s", r.out);
	th_result_done(&r);
	stats = stats_json();
	cr_assert(contains(stats, "\"netns_cells\":1"), "%s", stats);
	cr_assert(contains(stats, "\"memory_peak\":"), "its reap's record: %s", stats);
}

/* Within its limit, a cell runs as before, and its command's status is its own. */
Test(limits, a_cell_within_its_memory_limit_runs_as_before)
{
	struct th_result r;

	set_config("{\"memory\": \"256M\"}", "proxy");
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/usr/bin/python3", (char *)"-c",
			    (char *)"b = bytearray(16 << 20); print('alive'); raise SystemExit(3)",
			    NULL});
	cr_assert(eq(int, r.status, 3), "status %d, err %s", r.status, r.err);
	cr_assert(contains(r.out, "alive"));
	cr_assert(not(contains(r.err, "memory limit")), "%s", r.err);
	th_result_done(&r);
}

/* limits.pids: 32 stops a fork loop at 32 processes in the cell (its own count the first). */
Test(limits, a_fork_loop_stops_at_the_pids_limit)
{
	_cleanup_free_ char *stats = NULL;
	struct th_result r;
	int forked;

	set_config("{\"pids\": 32}", "proxy");
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/usr/bin/python3",
			    (char *)"forks.py", NULL});
	cr_assert(eq(int, r.status, 0), "status %d, err %s", r.status, r.err);
	cr_assert(contains(r.out, "forked "), "%s", r.out);
	forked = atoi(strstr(r.out, "forked ") + 7);
	/* the cell's own processes (bwrap, cell-init, python) count too */
	cr_assert(lt(int, forked, 32), "%s", r.out);
	cr_assert(ge(int, forked, 20), "%s", r.out);
	th_result_done(&r);
	stats = stats_json();
	cr_assert(contains(stats, "\"pids_refused\":"), "%s", stats);
	cr_assert(not(contains(stats, "\"pids_refused\":0")), "%s", stats);
	cr_assert(eq(sz, v1_cells_left("pids"), 0));
}

/* limits.cpu: half a CPU; a busy loop gets about that much of one. */
Test(limits, a_busy_cell_gets_its_cpu_limit)
{
	struct th_result r;

	set_config("{\"cpu\": \"50%\"}", "proxy");
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/usr/bin/python3",
			    (char *)"busy.py", NULL});
	cr_assert(eq(int, r.status, 0), "status %d, err %s", r.status, r.err);
	/* unlimited, it would be close to 1.00 */
	cr_assert(lt(dbl, atof(r.out), 0.75), "CPU time / wall time %s", r.out);
	cr_assert(gt(dbl, atof(r.out), 0.2), "CPU time / wall time %s", r.out);
	th_result_done(&r);
	cr_assert(eq(sz, v1_cells_left("cpu"), 0));
}

/* A limit the host has no controller for is an error before the cell starts, not a cell
 * without it: cell-session's own check of what it is given. */
Test(limits, cell_session_refuses_a_limit_out_of_range)
{
	char *argv[] = {t.stage.helper, (char *)"open",		  (char *)"--id",
			(char *)"x",	(char *)"--pids",	  (char *)"0",
			(char *)"--",	(char *)"/usr/bin/bwrap", NULL};
	struct th_result r;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env.v, &r);
	cr_assert(eq(int, r.status, 2), "%d %s", r.status, r.err);
	cr_assert(contains(r.err, "--pids '0' is not a limit"), "%s", r.err);
	th_result_done(&r);
}

/* Without privilege: limits.pids holds by RLIMIT_NPROC, counted in the cell's user namespace
 * (the user's processes outside do not count). */
Test(rlimits, a_fork_loop_stops_at_the_pids_limit_without_privilege)
{
	struct th_result r;
	int forked;

	if (geteuid() == 0 && t.uid == 0)
		th_skip("RLIMIT_NPROC never stops root");
	set_config("{\"pids\": 32}", "none");
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/usr/bin/python3",
			    (char *)"forks.py", NULL});
	cr_assert(eq(int, r.status, 0), "status %d, err %s", r.status, r.err);
	forked = atoi(strstr(r.out, "forked ") ? strstr(r.out, "forked ") + 7 : "100");
	cr_assert(lt(int, forked, 32), "%s", r.out);
	cr_assert(ge(int, forked, 20), "%s", r.out);
	th_result_done(&r);
}

/* Without a cgroup, what is not enforced is said, once a project (again when it changes). */
Test(rlimits, what_is_not_enforced_is_said_once)
{
	struct th_result r;

	set_config("{\"memory\": \"64M\", \"pids\": 64}", "none");
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/bin/true", NULL});
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.err, "limits.memory is not enforced (RLIMIT_AS would cap each "
				  "process's address space, not the cell's memory)"),
		  "%s", r.err);
	cr_assert(contains(r.err, "limits.pids is held by RLIMIT_NPROC in its user namespace"),
		  "%s", r.err);
	th_result_done(&r);
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/bin/true", NULL});
	cr_assert(not(contains(r.err, "not enforced")), "said twice: %s", r.err);
	th_result_done(&r);
	/* cell explain always says it */
	r = cell((char *[]){(char *)"explain", NULL});
	cr_assert(contains(r.out, "notice: this cell has no cgroup of its own"), "%s", r.out);
	th_result_done(&r);
	/* another limit, another notice */
	set_config("{\"memory\": \"64M\", \"cpu\": 1}", "none");
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"/bin/true", NULL});
	cr_assert(contains(r.err, "limits.memory, limits.cpu are not enforced"), "%s", r.err);
	th_result_done(&r);
}

/* cell doctor says what holds limits here. */
Test(limits, doctor_says_the_cgroup_holds_them)
{
	struct th_result r = cell((char *[]){(char *)"doctor", NULL});

	cr_assert(contains(r.out, "limits: held by a proxy cell's cgroup: memory ("), "%s", r.out);
	th_result_done(&r);
}

Test(rlimits, doctor_says_only_pids_holds_without_privilege)
{
	struct th_result r = cell((char *[]){(char *)"doctor", NULL});

	cr_assert(contains(r.out, "limits: no cgroup for cells without cell-session's privilege: "
				  "limits.pids is RLIMIT_NPROC"),
		  "%s", r.out);
	th_result_done(&r);
}

/*
 * The caller's limits are the caller's: a file size limit of 0 (a write past it raises
 * SIGXFSZ) must not cut cell-session short between making a cell's limits and recording them,
 * which would leave directories no reap finds. The cell itself gets the caller's limit back.
 */
Test(limits, a_file_size_limit_of_the_callers_cuts_nothing_short)
{
	char id[48], script[1024], record[128];
	struct th_result r;

	snprintf(id, sizeof(id), "fsize-%d", (int)getpid());
	snprintf(script, sizeof(script),
		 "prlimit --fsize=0 %s open --id %s --memory 16777216 --pids 64 --status-fd 3 -- "
		 "/usr/bin/bwrap --ro-bind / / /bin/sh -c 'echo ran; ulimit -f' 3>&1 2>&1 | cat; "
		 "exit 0",
		 t.stage.helper, id);
	th_run_as(t.uid, t.gid, t.proj, (char *[]){(char *)"/bin/sh", (char *)"-c", script, NULL},
		  t.env.v, &r);
	/* where cell-session may lift the limit (CAP_SYS_RESOURCE) the cell runs, with the
	 * caller's limit; else it is refused whole, saying why */
	if (contains(r.out, "File too large")) {
		cr_assert(contains(r.out, "cell-session: cannot open cell"), "%s", r.out);
	} else {
		cr_assert(contains(r.out, "ran\n0\n"), "the cell runs with the caller's limit: %s",
			  r.out);
		cr_assert(contains(r.out, "\"memory_peak\":"), "its record: %s", r.out);
	}
	th_result_done(&r);
	/* either way nothing is left: no record (or half of one), no directory */
	snprintf(record, sizeof(record), CELL_LIMITS_DIR "/%u-%s", (unsigned)t.uid, id);
	cr_assert(not(eq(int, access(record, F_OK), 0)), "%s is left", record);
	snprintf(record, sizeof(record), "%u-%s", (unsigned)t.uid, id);
	cr_assert(eq(sz, v1_named("memory", record), 0));
	cr_assert(eq(sz, v1_named("pids", record), 0));
	cr_assert(eq(sz, count_prefixed(CELL_LIMITS_DIR, record), 0));
}

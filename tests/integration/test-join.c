/* SPDX-License-Identifier: MIT */
/*
 * Project sessions (docs/design.md §3, "Sessions"): the commands of one project share one cell,
 * which closes when the last of them ends. Real cells (network "none": no privilege needed),
 * run as the test user when root, else as ourselves.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "helpers.h"
#include "macro.h"

#define CELL t.stage.cell

static const char config[] = "{\"name\": \"joined\", \"network\": {\"mode\": \"none\"}}\n";

static struct {
	char *tmp, *home, *proj, *state;
	struct th_stage stage;
	uid_t uid;
	gid_t gid;
	char *env[16];
	size_t n_env;
	pid_t bg[4]; /* commands started in the background, killed by teardown */
} t;

static void env_add(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cr_assert(ge(int, vasprintf(&t.env[t.n_env++], fmt, ap), 0));
	va_end(ap);
	t.env[t.n_env] = NULL;
}

static void cell_ok(const char *verb)
{
	char *argv[] = {(char *)CELL, (char *)verb, NULL};
	struct th_result r;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "cell %s: %s", verb, r.err);
	th_result_done(&r);
}

static void setup(void)
{
	memset(&t, 0, sizeof(t));
	th_cell_user(&t.uid, &t.gid);
	t.tmp = th_mkdtemp();
	chmod(t.tmp, 0755);
	th_stage(&t.stage);
	t.home = th_join(t.tmp, "home");
	t.proj = th_join(t.tmp, "proj");
	t.state = th_join(t.home, ".local/state");
	free(th_write(t.home, ".profile", "\n"));
	free(th_write(t.proj, ".cell.json", config));
	th_chown_r(t.tmp, t.uid, t.gid);
	env_add("HOME=%s", t.home);
	env_add("USER=%s", geteuid() == 0 ? TH_TEST_USER : getpwuid(getuid())->pw_name);
	env_add("PATH=/usr/local/bin:/usr/bin:/bin");
	env_add("LANG=C.UTF-8");
	env_add("XDG_CONFIG_HOME=%s/.config", t.home);
	env_add("XDG_DATA_HOME=%s/.local/share", t.home);
	env_add("XDG_STATE_HOME=%s", t.state);
	cell_ok("allow");
}

static void teardown(void)
{
	for (size_t i = 0; i < ELEMENTSOF(t.bg); i++)
		if (t.bg[i] > 0) {
			kill(t.bg[i], SIGKILL);
			waitpid(t.bg[i], NULL, 0);
		}
	for (size_t i = 0; i < t.n_env; i++)
		free(t.env[i]);
	th_rm_rf(t.tmp);
	free(t.tmp);
	free(t.home);
	free(t.proj);
	free(t.state);
	th_stage_done(&t.stage);
}

TestSuite(join, .init = setup, .fini = teardown, .timeout = 60);

/* cell run [OPTION] -- sh -c SCRIPT in the project, as the test user. */
static struct th_result run(const char *option, const char *script)
{
	char *argv[8] = {(char *)CELL, (char *)"run"};
	size_t n = 2;
	struct th_result r;

	if (option)
		argv[n++] = (char *)option;
	argv[n++] = (char *)"--";
	argv[n++] = (char *)"/bin/sh";
	argv[n++] = (char *)"-c";
	argv[n++] = (char *)script;
	argv[n] = NULL;
	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	return r;
}

/* cell run -- sh -c SCRIPT in the background (slot i), as the test user. */
static pid_t run_bg(size_t i, const char *script)
{
	char *argv[] = {(char *)CELL, (char *)"run",  (char *)"--", (char *)"/bin/sh",
			(char *)"-c", (char *)script, NULL};

	t.bg[i] = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	return t.bg[i];
}

static char *status_json(void)
{
	char *argv[] = {(char *)CELL, (char *)"status", (char *)"--json", NULL};
	struct th_result r;
	char *out;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "cell status: %s", r.err);
	out = TAKE_PTR(r.out);
	th_result_done(&r);
	return out;
}

/* How many members cell status shows in the project's session (-1: no session). */
static int members(void)
{
	_cleanup_free_ char *s = status_json();
	const char *m = strstr(s, "\"members\":[");
	int n = 0;

	if (!m)
		return -1;
	for (const char *p = m; (p = strstr(p, "\"pid\":")) && p < strstr(m, "]"); p++)
		n++;
	return n;
}

/* Waits until the session has n members (-1: until there is none); whether it came. */
static bool wait_members(int n)
{
	for (int i = 0; i < 200; i++) {
		if (members() == n)
			return true;
		usleep(50000);
	}
	return false;
}

/* The runtime directories of the project's sessions, on the host. */
static size_t runtime_dirs(void)
{
	_cleanup_free_ char *projects = th_join(t.state, "cell/projects");
	DIR *d = opendir(projects);
	size_t n = 0;

	for (struct dirent *e; d && (e = readdir(d));) {
		_cleanup_free_ char *p = th_join(projects, e->d_name);
		_cleanup_free_ char *run_dir = th_join(p, "run");

		if (e->d_name[0] != '.')
			n += th_count_entries(run_dir);
	}
	if (d)
		closedir(d);
	return n;
}

Test(join, a_second_command_joins_the_running_cell)
{
	struct th_result r;

	run_bg(0, "echo from-the-first > /tmp/shared; echo $$ > \"$XDG_RUNTIME_DIR/first\"; "
		  "exec sleep 30");
	cr_assert(wait_members(1), "the first command's session did not open");
	r = run(NULL, "cat /tmp/shared \"$XDG_RUNTIME_DIR/first\" && ps -e -o comm= | sort | "
		      "tr '\\n' ' ' && hostname");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	/* its /tmp and runtime directory, and its processes: one pid namespace */
	cr_assert(not(eq(ptr, strstr(r.out, "from-the-first\n"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "sleep"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "init"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "cell-joined"), NULL)), "%s", r.out);
	th_result_done(&r);
	/* the first is still the one member; its end closes the session, and nothing is left */
	cr_assert(eq(int, members(), 1));
	kill(t.bg[0], SIGTERM);
	waitpid(t.bg[0], NULL, 0);
	t.bg[0] = 0;
	cr_assert(wait_members(-1), "the session stayed open");
	{
		_cleanup_free_ char *sessions = th_join(t.state, "cell/sessions");
		DIR *d = opendir(sessions);

		for (struct dirent *e; d && (e = readdir(d));)
			cr_assert(not(endswith(e->d_name, ".sock")), "%s is left", e->d_name);
		if (d)
			closedir(d);
		for (int i = 0; i < 100 && runtime_dirs() > 0; i++)
			usleep(50000);
		cr_assert(eq(sz, runtime_dirs(), 0), "the runtime directory is left");
	}
	/* the next command opens a new session: the old /tmp is gone */
	r = run(NULL, "cat /tmp/shared");
	cr_assert(not(eq(int, r.status, 0)), "%s", r.out);
	th_result_done(&r);
}

Test(join, a_server_one_member_starts_is_reached_from_another)
{
	static const char server[] =
		"import os, socket\n"
		"u = socket.socket(socket.AF_UNIX); u.bind(os.environ['XDG_RUNTIME_DIR'] + '/db.sock')\n"
		"t = socket.socket(); t.bind(('127.0.0.1', 0))\n"
		"open('/tmp/port', 'w').write(str(t.getsockname()[1]))\n"
		"u.listen(); t.listen()\n"
		"for s in (u, t):\n"
		"    c, _ = s.accept(); c.sendall(b'hello from the server\\n'); c.close()\n";
	static const char client[] =
		"import os, socket\n"
		"u = socket.socket(socket.AF_UNIX); u.connect(os.environ['XDG_RUNTIME_DIR'] + '/db.sock')\n"
		"print(u.recv(100).decode(), end='')\n"
		"t = socket.create_connection(('127.0.0.1', int(open('/tmp/port').read())))\n"
		"print(t.recv(100).decode(), end='')\n";
	struct th_result r;
	char *script;

	free(th_write(t.proj, "server.py", server));
	free(th_write(t.proj, "client.py", client));
	th_chown_r(t.proj, t.uid, t.gid);
	run_bg(0, "exec python3 server.py");
	cr_assert(wait_members(1));
	cr_assert(ge(int,
		     asprintf(&script, "for i in $(seq 100); do [ -s /tmp/port ] && break; "
				       "sleep 0.05; done; python3 client.py"),
		     0));
	r = run(NULL, script);
	free(script);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, "hello from the server\nhello from the server\n"));
	th_result_done(&r);
}

Test(join, a_member_is_confined_as_a_new_cells_command_is)
{
	struct th_result r;

	run_bg(0, "exec sleep 30");
	cr_assert(wait_members(1));
	/* no capability, no_new_privs, the cell's seccomp filter (no user namespaces), the cell's
	 * view of the home */
	r = run(NULL, "grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status; "
		      "unshare -U true 2>/dev/null && echo userns-made; "
		      "ls -A ~ | tr '\\n' ' '");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "CapBnd:\t0000000000000000"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "CapEff:\t0000000000000000"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "NoNewPrivs:\t1"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "Seccomp:\t2"), NULL)), "%s", r.out);
	cr_assert(eq(ptr, strstr(r.out, "userns-made"), NULL), "%s", r.out);
	cr_assert(eq(ptr, strstr(r.out, ".local"), NULL), "the host's state is seen: %s", r.out);
	th_result_done(&r);
}

Test(join, status_lists_the_members_and_new_gets_a_cell_of_its_own)
{
	_cleanup_free_ char *s = NULL;
	struct th_result r;

	run_bg(0, "echo first > /tmp/mark; exec sleep 30");
	cr_assert(wait_members(1));
	run_bg(1, "exec sleep 30");
	cr_assert(wait_members(2));
	s = status_json();
	cr_assert(not(eq(ptr, strstr(s, "\"command\":\"sh\""), NULL)), "%s", s);
	cr_assert(not(eq(ptr, strstr(s, "\"mode\":\"none\""), NULL)), "%s", s);
	r = run("--new", "cat /tmp/mark");
	cr_assert(not(eq(int, r.status, 0)), "a --new cell saw the session's /tmp: %s", r.out);
	th_result_done(&r);
	cr_assert(eq(int, members(), 2));
}

Test(join, a_changed_config_is_not_joined)
{
	struct th_result r;

	run_bg(0, "echo first > /tmp/mark; exec sleep 30");
	cr_assert(wait_members(1));
	free(th_write(t.proj, ".cell.json",
		      "{\"name\": \"joined\", \"network\": {\"mode\": \"none\"}, "
		      "\"env\": {\"set\": {\"NEW_CONFIG\": \"yes\"}}}\n"));
	th_chown_r(t.proj, t.uid, t.gid);
	cell_ok("allow");
	/* (and its cell is whole: its standard input too) */
	r = run(NULL, "echo \"$NEW_CONFIG\"; test -e /proc/$$/fd/0 && echo stdin; cat /tmp/mark");
	cr_assert(eq(str, r.out, "yes\nstdin\n"), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.err, "open session runs its config as it was"), NULL)), "%s",
		  r.err);
	th_result_done(&r);
	cr_assert(eq(int, members(), 1));
}

Test(join, killing_a_member_or_the_first_command_leaves_the_others)
{
	struct th_result r;

	run_bg(0, "exec sleep 30");
	cr_assert(wait_members(1));
	run_bg(1, "echo alive > /tmp/second; exec sleep 30");
	cr_assert(wait_members(2));
	/* the command that opened the session, killed: its member ends with it */
	kill(t.bg[0], SIGKILL);
	waitpid(t.bg[0], NULL, 0);
	t.bg[0] = 0;
	cr_assert(wait_members(1));
	r = run(NULL, "cat /tmp/second; ps -e -o comm= | grep -c sleep");
	cr_assert(eq(str, r.out, "alive\n1\n"), "%s %s", r.out, r.err);
	th_result_done(&r);
	kill(t.bg[1], SIGKILL);
	waitpid(t.bg[1], NULL, 0);
	t.bg[1] = 0;
	cr_assert(wait_members(-1), "the session stayed open");
}

/* The keeper (the session's own process), by its pid in cell status. */
static pid_t keeper(void)
{
	_cleanup_free_ char *s = status_json();
	const char *k = strstr(s, "\"keeper\":");

	return k ? (pid_t)atoi(k + strlen("\"keeper\":")) : 0;
}

Test(join, killing_the_keeper_ends_the_cell_and_leaves_nothing)
{
	_cleanup_free_ char *gc_out = NULL;
	char *gc[] = {(char *)CELL, (char *)"gc", NULL};
	struct th_result r;
	pid_t k;
	int status;

	run_bg(0, "exec sleep 30");
	cr_assert(wait_members(1));
	k = keeper();
	cr_assert(gt(int, k, 0));
	cr_assert(eq(int, kill(k, SIGKILL), 0));
	/* its cell-init sees the keeper's pipe end: the cell, and its member, end */
	cr_assert(eq(int, waitpid(t.bg[0], &status, 0), t.bg[0]));
	t.bg[0] = 0;
	cr_assert(eq(sz, runtime_dirs(), 1), "the session had no runtime directory");
	th_run_as(t.uid, t.gid, t.proj, gc, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "removed what 1 session cut short left"), NULL)), "%s",
		  r.out);
	th_result_done(&r);
	cr_assert(eq(sz, runtime_dirs(), 0), "cell gc left the runtime directory");
	cr_assert(wait_members(-1), "the dead keeper's session is listed");
	r = run(NULL, "echo new");
	cr_assert(eq(str, r.out, "new\n"), "%s", r.err);
	th_result_done(&r);
}

/* The escape suite's probe, in the project (where the cell can run it). */
static void stage_probe(void)
{
	char *probe = th_join(t.proj, "probe");
	char *argv[] = {(char *)"/bin/cp", t.stage.probe, probe, NULL};

	th_run_ok(NULL, argv, (char *[]){NULL});
	th_chown_r(t.proj, t.uid, t.gid);
	free(probe);
}

/*
 * A process the cell left running (an npm script's daemon) watches for every new process in
 * the session and tries to trace it: a member joining must never be caught before its seccomp
 * filter is on (traced there, its filter could be skipped), and the session's PID 1 (stopped,
 * it would hold the session open past its end) cannot be traced at all.
 */
Test(join, the_cell_cannot_trace_a_joining_member_or_the_sessions_init)
{
	_cleanup_free_ char *traced = NULL, *path = th_join(t.proj, "traced.txt");
	struct th_result r;
	int status;

	stage_probe();
	run_bg(0, "exec ./probe trace-newcomers 8 > traced.txt");
	cr_assert(wait_members(1));
	for (int i = 0; i < 40; i++) {
		r = run(NULL, "true");
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		th_result_done(&r);
	}
	r = run(NULL, "./probe ptrace 1; ls /proc/1/fd >/dev/null 2>&1 && echo fds-listed");
	cr_assert(eq(str, r.out, "errno=EPERM\n"), "%s", r.out);
	th_result_done(&r);
	cr_assert(eq(int, waitpid(t.bg[0], &status, 0), t.bg[0]));
	t.bg[0] = 0;
	traced = th_read(path);
	cr_assert(eq(int, strncmp(traced, "attached ", 9), 0), "%s", traced);
	cr_assert(not(eq(ptr, strstr(traced, " unfiltered 0\n"), NULL)),
		  "a member was caught before its filter: %s", traced);
}

/* A process's parent, from /proc (0: gone). */
static pid_t parent_of(pid_t pid)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	const char *p;
	size_t len;

	if (asprintf(&path, "/proc/%d/status", (int)pid) < 0 ||
	    cell_read_file(path, 0, 65536, &text, &len) < 0 || !(p = strstr(text, "\nPPid:")))
		return 0;
	return (pid_t)atoi(p + strlen("\nPPid:"));
}

/* The session's cell-init, on the host: the process of the test user's whose command line
 * says --session, below this session's keeper. */
static pid_t session_init(void)
{
	_cleanup_free_ char *status = status_json();
	const char *k = strstr(status, "\"keeper\":");
	pid_t keeper = k ? (pid_t)atoi(k + strlen("\"keeper\":")) : 0;
	DIR *d = opendir("/proc");
	pid_t found = 0;

	/* (other tests' sessions run meanwhile, as the same user: this one's is its keeper's) */
	cr_assert(gt(int, keeper, 0), "no keeper in %s", status);
	for (struct dirent *e; d && !found && (e = readdir(d));) {
		_cleanup_free_ char *path = NULL, *cmdline = NULL;
		size_t len = 0;
		struct stat st;
		pid_t pid = (pid_t)atoi(e->d_name);

		if (asprintf(&path, "/proc/%s/cmdline", e->d_name) < 0)
			continue;
		if (stat(path, &st) < 0 || st.st_uid != t.uid ||
		    cell_read_file(path, 0, 4096, &cmdline, &len) < 0)
			continue;
		for (size_t i = 0; i + 1 < len; i++)
			if (cmdline[i] == '\0')
				cmdline[i] = ' ';
		if (!strstr(cmdline, "/run/cell/init") || !strstr(cmdline, "--session"))
			continue;
		for (pid_t a = parent_of(pid), n = 0; a > 1 && n < 16 && !found;
		     a = parent_of(a), n++)
			if (a == keeper)
				found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

/* The session's PID 1 outlives the command that opened it: it must not hold that command's
 * terminal (the cell would read what is typed at the shell's prompt afterwards). */
Test(join, the_sessions_init_holds_no_terminal_of_its_opener)
{
	char link[64], target[256] = "";
	pid_t init;
	ssize_t n;

	if (geteuid() != 0)
		th_skip("reading the session's init's descriptors from outside needs root");
	run_bg(0, "exec sleep 30");
	cr_assert(wait_members(1));
	init = session_init();
	cr_assert(gt(int, init, 0), "no session init found");
	for (int fd = 0; fd <= 2; fd++) {
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)init, fd);
		n = readlink(link, target, sizeof(target) - 1);
		cr_assert(gt(long, (long)n, 0L), "%s: %s", link, strerror(errno));
		target[n] = '\0';
		cr_assert(strcmp(target, "/dev/null") == 0 || strstr(target, "session.log"),
			  "fd %d of the session's init is %s", fd, target);
	}
}

/* The cell writes its session's leave directory: a FIFO (or a link) put in the place of a
 * member's leave file must not hold up, or mislead, the cell enter that reads it. */
Test(join, a_fifo_for_a_leave_file_holds_nothing_up)
{
	_cleanup_free_ char *leave = th_join(t.home, "leave");
	char *argv[] = {(char *)CELL, (char *)"enter", (char *)"--leave-to", leave, NULL};
	char *env[20];
	struct th_result r;
	size_t n = 0;

	/* the cell's login shell reads ~/.profile (the home's own, read-only in the cell) */
	free(th_write(t.home, ".profile",
		      "rm -f \"$CELL_LEAVE\"; mkfifo \"$CELL_LEAVE\"; ln -sf /etc/passwd "
		      "\"${CELL_LEAVE%/*}/m1\"; exit 0\n"));
	free(th_write(t.home, "leave", ""));
	th_chown_r(t.home, t.uid, t.gid);
	for (; t.env[n]; n++)
		env[n] = t.env[n];
	env[n++] = (char *)"SHELL=/bin/sh";
	env[n] = NULL;
	run_bg(0, "exec sleep 30");
	cr_assert(wait_members(1));
	th_run_as(t.uid, t.gid, t.proj, argv, env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	/* nothing of the FIFO's or the link's: the hook's file keeps what cell enter wrote */
	{
		_cleanup_free_ char *text = th_read(leave);

		cr_assert(eq(str, text, "+"), "%s", text);
	}
}

/* SIGKILL of the session's cell-init: the kernel ends the cell and its members with it; the
 * keeper closes the session and leaves nothing. */
Test(join, killing_the_sessions_init_ends_its_members_and_leaves_nothing)
{
	struct th_result r;
	pid_t init;

	run_bg(0, "exec sleep 30");
	cr_assert(wait_members(1));
	run_bg(1, "exec sleep 30");
	cr_assert(wait_members(2));
	init = session_init();
	cr_assert(gt(int, init, 0), "no session init found");
	cr_assert(eq(int, kill(init, SIGKILL), 0));
	for (size_t i = 0; i < 2; i++) {
		int status;

		cr_assert(eq(int, waitpid(t.bg[i], &status, 0), t.bg[i]));
		t.bg[i] = 0;
		cr_assert(not(eq(int, status, 0)), "a member of a killed cell ended well");
	}
	cr_assert(wait_members(-1), "the session stayed open");
	for (int i = 0; i < 100 && runtime_dirs() > 0; i++)
		usleep(50000);
	cr_assert(eq(sz, runtime_dirs(), 0), "the runtime directory is left");
	r = run(NULL, "echo new");
	cr_assert(eq(str, r.out, "new\n"), "%s", r.err);
	th_result_done(&r);
}

/* What the cell command was handed (here a directory of the host's, as make's jobserver, flock
 * scripts or an agent's harness hand theirs on) is not the member's: through a directory
 * descriptor the cell would read and write the home. */
Test(join, a_descriptor_the_command_inherits_does_not_reach_the_member)
{
	int fd = open(t.home, O_RDONLY | O_DIRECTORY | O_CLOEXEC), high, status;
	struct th_result r;
	char *script;

	cr_assert(ge(int, fd, 0));
	run_bg(0, "exec sleep 30");
	cr_assert(wait_members(1));
	/* (F_DUPFD: open across exec, for the cell run below; far from the test runner's own) */
	high = fcntl(fd, F_DUPFD, 200);
	cr_assert(ge(int, high, 200));
	cr_assert(ge(int,
		     asprintf(&script,
			      "test -e /proc/$$/fd/%d && echo leaked; ls /proc/$$/fd/%d/ "
			      "2>/dev/null",
			      high, high),
		     0));
	r = run(NULL, script);
	free(script);
	close(high);
	close(fd);
	cr_assert(eq(str, r.out, ""), "the member has the host's directory: %s", r.out);
	th_result_done(&r);
	kill(t.bg[0], SIGTERM);
	waitpid(t.bg[0], &status, 0);
	t.bg[0] = 0;
}

/*
 * Inside a cell, a command that would read or change the user's trust records, state or config
 * (none of which the cell has) refuses in one line that says where to run it; help, the version
 * and the hook's code work as outside. Every command of the table is tried, in a real cell.
 */
Test(join, a_command_inside_a_cell_says_to_run_it_outside)
{
	static const char *const works[] = {"help", "version", "hook", "login-shell"};
	char script[1024], *line, *save = NULL, *lines;
	struct th_result r;
	size_t refused = 0;

	snprintf(script, sizeof(script),
		 "for v in $(%s help --complete commands | cut -f1); do "
		 "  case $v in help|version|hook|login-shell) continue ;; esac; "
		 "  out=$(%s $v </dev/null 2>&1); echo \"$v $? $out\"; "
		 "done; %s version; %s help >/dev/null && echo help works",
		 CELL, CELL, CELL, CELL);
	r = run(NULL, script);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	lines = strdup(r.out);
	for (line = strtok_r(lines, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char verb[32], want[160];
		int status;

		if (sscanf(line, "%31s %d", verb, &status) != 2 || streq(verb, "cell") ||
		    streq(verb, "help"))
			continue;
		for (size_t i = 0; i < ELEMENTSOF(works); i++)
			cr_assert(not(streq(verb, works[i])));
		snprintf(want, sizeof(want),
			 "%s 1 cell: you are inside cell joined; run 'cell %s' outside it", verb,
			 verb);
		cr_assert(streq(line, want), "%s", line);
		refused++;
	}
	/* (run, enter, allow, deny, status, stats, doctor, ...: the table has 20 more) */
	cr_assert(ge(sz, refused, (size_t)20), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "cell " CELL_VERSION "\n"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "help works\n"), NULL)), "%s", r.out);
	free(lines);
	th_result_done(&r);
}

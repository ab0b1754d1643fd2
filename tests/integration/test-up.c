/* SPDX-License-Identifier: MIT */
/*
 * cell up (docs/design.md §10): the config's "processes" run as members of the project's
 * session. Real cells (network "none": no privilege needed), real servers (Python's, Debian's
 * PostgreSQL), run as the test user when root, else as ourselves.
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
#define PG_BIN "/usr/lib/postgresql/15/bin"
#define CELL_LOG_MAX_BYTES (1024 * 1024) /* procstate.h */

static struct {
	char *tmp, *home, *proj, *state;
	struct th_stage stage;
	uid_t uid;
	gid_t gid;
	char *env[16];
	size_t n_env;
	pid_t bg; /* a cell up in the foreground, killed by teardown */
} t;

static void env_add(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cr_assert(ge(int, vasprintf(&t.env[t.n_env++], fmt, ap), 0));
	va_end(ap);
	t.env[t.n_env] = NULL;
}

/* cell ARGS... in the project, as the test user. */
static struct th_result cell(const char *a1, const char *a2, const char *a3)
{
	char *argv[] = {(char *)CELL, (char *)a1, (char *)a2, (char *)a3, NULL};
	struct th_result r;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	return r;
}

static char *cell_ok(const char *a1, const char *a2, const char *a3)
{
	struct th_result r = cell(a1, a2, a3);
	char *out;

	cr_assert(eq(int, r.status, 0), "cell %s %s: %s%s", a1, a2 ? a2 : "", r.out, r.err);
	out = TAKE_PTR(r.out);
	th_result_done(&r);
	return out;
}

/* The project's config: a network-less cell with these processes. */
static void config(const char *processes)
{
	_cleanup_free_ char *json = NULL;
	struct th_result r;

	cr_assert(ge(int,
		     asprintf(&json,
			      "{\"name\": \"upproj\", \"network\": {\"mode\": \"none\"},\n"
			      " \"processes\": %s}\n",
			      processes),
		     0));
	free(th_write(t.proj, ".cell.json", json));
	th_chown_r(t.proj, t.uid, t.gid);
	r = cell("allow", NULL, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
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
	th_chown_r(t.tmp, t.uid, t.gid);
	env_add("HOME=%s", t.home);
	env_add("USER=%s", geteuid() == 0 ? TH_TEST_USER : getpwuid(getuid())->pw_name);
	env_add("PATH=/usr/local/bin:/usr/bin:/bin");
	env_add("LANG=C.UTF-8");
	env_add("XDG_CONFIG_HOME=%s/.config", t.home);
	env_add("XDG_DATA_HOME=%s/.local/share", t.home);
	env_add("XDG_STATE_HOME=%s", t.state);
}

static void teardown(void)
{
	struct th_result r;

	if (t.bg > 0) {
		kill(t.bg, SIGKILL);
		waitpid(t.bg, NULL, 0);
	}
	/* a test that failed half-way: its processes go */
	r = cell("down", NULL, NULL);
	th_result_done(&r);
	for (size_t i = 0; i < t.n_env; i++)
		free(t.env[i]);
	th_rm_rf(t.tmp);
	free(t.tmp);
	free(t.home);
	free(t.proj);
	free(t.state);
	th_stage_done(&t.stage);
}

TestSuite(up, .init = setup, .fini = teardown, .timeout = 90);

/* cell up in the foreground, in the background, its output to FILE in the project. */
static void up_foreground(const char *file)
{
	_cleanup_free_ char *script = NULL;
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", NULL, NULL};

	cr_assert(ge(int, asprintf(&script, "exec %s up > %s 2>&1", CELL, file), 0));
	argv[2] = script;
	t.bg = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
}

/* Waits (at most 20 s) until path holds text; whether it came. */
static bool wait_text(const char *path, const char *text)
{
	for (int i = 0; i < 400; i++) {
		_cleanup_free_ char *s = NULL;
		size_t len;

		if (cell_read_file(path, 0, 1 << 24, &s, &len) >= 0 && strstr(s, text))
			return true;
		usleep(50000);
	}
	return false;
}

/* Waits (at most 20 s) until cell ps's output holds text. */
static bool wait_ps(const char *text)
{
	for (int i = 0; i < 200; i++) {
		_cleanup_free_ char *out = cell_ok("ps", NULL, NULL);

		if (strstr(out, text))
			return true;
		usleep(100000);
	}
	return false;
}

/* Whether the test user has a process whose command line holds text (cells included). */
static bool user_runs(const char *text)
{
	DIR *d = opendir("/proc");
	bool found = false;

	for (struct dirent *e; d && !found && (e = readdir(d));) {
		_cleanup_free_ char *path = NULL, *cmd = NULL;
		struct stat st;
		size_t len;

		if (e->d_name[0] < '1' || e->d_name[0] > '9' ||
		    asprintf(&path, "/proc/%s/cmdline", e->d_name) < 0)
			continue;
		if (stat(path, &st) < 0 || st.st_uid != t.uid ||
		    cell_read_file(path, 0, 65536, &cmd, &len) < 0)
			continue;
		for (size_t i = 0; i + 1 < len; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		found = strstr(cmd, text) != NULL;
	}
	if (d)
		closedir(d);
	return found;
}

/* Whether no process of the test user's command line holds text. */
static bool gone(const char *text)
{
	return !user_runs(text);
}

/* Whether the project has an open session, as cell status says. */
static bool session_open(void)
{
	_cleanup_free_ char *out = cell_ok("status", NULL, NULL);

	return !strstr(out, "(no open sessions)");
}

static bool wait_closed(void)
{
	for (int i = 0; i < 200; i++) {
		if (!session_open())
			return true;
		usleep(50000);
	}
	return false;
}

/* A server that accepts on port after a second (so "ready" is seen to wait for it), and a
 * process that needs it: it connects at its start. */
#define SERVER_AND_CLIENT                                                                                 \
	"{\"db\": {\"exec\": \"sleep 1; exec python3 -c 'import socket,time; "                            \
	"s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "                    \
	"s.bind((\\\"127.0.0.1\\\", 47321)); s.listen(); print(\\\"db listening\\\", flush=True); "       \
	"time.sleep(300)'\", \"ready\": {\"port\": 47321}},\n"                                            \
	" \"web\": {\"exec\": \"python3 -c 'import socket; socket.create_connection((\\\"127.0.0.1\\\", " \
	"47321)); print(\\\"web reached db\\\", flush=True)'; exec sleep 300\", "                         \
	"\"depends_on\": [\"db\"]}}"

Test(up, the_foreground_prefixes_output_waits_for_ready_and_ctrl_c_stops_in_order)
{
	_cleanup_free_ char *out = th_join(t.proj, "up.out"), *text = NULL;
	const char *web_stop, *db_stop;
	int status;

	config(SERVER_AND_CLIENT);
	up_foreground(out);
	/* web started only once db accepted: its connect at its start worked */
	cr_assert(wait_text(out, "web | web reached db"), "%s", th_read(out));
	text = th_read(out);
	cr_assert(not(eq(ptr, strstr(text, "db  | db listening"), NULL)), "%s", text);
	cr_assert(strstr(text, "db  | [cell up] ready") &&
			  strstr(text, "db  | [cell up] ready") <
				  strstr(text, "web | [cell up] started"),
		  "%s", text);
	free(TAKE_PTR(text));
	/* both are members of one session: a command joins it and sees them */
	{
		char *argv[] = {(char *)CELL, (char *)"run",
				(char *)"--", (char *)"/bin/sh",
				(char *)"-c", (char *)"ps -e -o args=",
				NULL};
		struct th_result r;

		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		cr_assert(not(eq(ptr, strstr(r.out, "sleep 300"), NULL)), "%s", r.out);
		th_result_done(&r);
	}
	/* ^C (the terminal's SIGINT to cell up's process group): web stops first, then db */
	kill(t.bg, SIGINT);
	cr_assert(eq(int, waitpid(t.bg, &status, 0), t.bg));
	t.bg = 0;
	cr_assert(eq(int, status, 0), "status %#x", status);
	text = th_read(out);
	web_stop = strstr(text, "web | [cell up] stopped");
	db_stop = strstr(text, "db  | [cell up] stopped");
	cr_assert(web_stop && db_stop && web_stop < db_stop, "%s", text);
	cr_assert(wait_closed(), "the session stayed open");
	cr_assert(gone("sleep 300"), "a process is left");
}

Test(up, detached_postgresql_is_reached_by_psql_from_a_joined_command)
{
	_cleanup_free_ char *ps = NULL, *out = NULL;
	struct th_result r;
	char *argv[] = {
		(char *)CELL, (char *)"run",
		(char *)"--", (char *)"/bin/sh",
		(char *)"-c", (char *)"psql -h \"$XDG_RUNTIME_DIR\" -d postgres -Atc 'select 1+1'",
		NULL};

	if (access(PG_BIN "/postgres", X_OK) < 0 || access("/usr/bin/psql", X_OK) < 0)
		th_skip("SKIP: Debian's PostgreSQL 15 is not installed (make deps)");
	config("{\"db\": {\"exec\": \"[ -d pg ] || " PG_BIN "/initdb -D pg >/dev/null; exec " PG_BIN
	       "/postgres -D pg -k $XDG_RUNTIME_DIR -c listen_addresses=\", "
	       "\"ready\": {\"command\": \"" PG_BIN "/pg_isready -q -h $XDG_RUNTIME_DIR\"}, "
	       "\"restart\": \"on-failure\"}}");
	r = cell("up", "-d", NULL);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "db is ready"), NULL)), "%s", r.err);
	th_result_done(&r);
	/* the server's socket is in the session's runtime directory: a joined command reaches it */
	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, "2\n"));
	th_result_done(&r);
	ps = cell_ok("ps", NULL, NULL);
	cr_assert(not(eq(ptr, strstr(ps, "running   0        yes"), NULL)), "%s", ps);
	out = cell_ok("logs", "db", NULL);
	cr_assert(not(eq(ptr, strstr(out, "database system is ready to accept connections"), NULL)),
		  "%s", out);
	/* down: nothing is left (the server, the session, cell up) */
	free(cell_ok("down", NULL, NULL));
	cr_assert(gone("bin/postgres -D pg"), "postgres is left");
	cr_assert(wait_closed(), "the session stayed open");
	free(ps);
	ps = cell_ok("ps", NULL, NULL);
	cr_assert(not(eq(ptr, strstr(ps, "no processes are up"), NULL)), "%s", ps);
}

Test(up, a_failing_process_restarts_with_backoff_as_its_policy_says)
{
	_cleanup_free_ char *ps = NULL, *log = NULL;
	struct th_result r;

	/* fails twice, then runs; "once" fails and is not started again; "done" ends well */
	config("{\"flaky\": {\"exec\": \"n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; "
	       "[ $n -ge 2 ] && exec sleep 305; echo failing; exit 3\", \"restart\": \"on-failure\"},\n"
	       " \"once\": {\"exec\": \"exit 4\", \"ready\": {\"port\": 4444}},\n"
	       " \"done\": {\"exec\": \"echo done\", \"restart\": \"on-failure\"}}");
	r = cell("up", "-d", NULL);
	/* once failed before it was ready: said, and not 0 (flaky, with no check, was up once
	 * started) */
	cr_assert(eq(int, r.status, 1), "%s%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "once ended with status 4 before it was ready"), NULL)),
		  "%s", r.err);
	th_result_done(&r);
	/* 0.5 s, then 1 s: the third start stays */
	cr_assert(wait_ps("flaky            "), "no flaky");
	cr_assert(wait_ps("running   2"), "flaky did not start a third time");
	ps = cell_ok("ps", NULL, NULL);
	cr_assert(not(eq(ptr, strstr(ps, "once             -        exited    0        no    4"),
			 NULL)),
		  "%s", ps);
	cr_assert(not(eq(ptr, strstr(ps, "done             -        exited    0        -     0"),
			 NULL)),
		  "%s", ps);
	log = cell_ok("logs", "flaky", NULL);
	cr_assert(not(eq(ptr,
			 strstr(log,
				"failing\n[cell up] ended with status 3; starting again in 0.5 s"),
			 NULL)),
		  "%s", log);
	cr_assert(not(eq(ptr, strstr(log, "starting again in 1.0 s"), NULL)), "%s", log);
	free(cell_ok("down", NULL, NULL));
	cr_assert(gone("sleep 305"), "flaky is left");
}

Test(up, a_killed_cell_up_takes_its_processes_and_session_with_it)
{
	_cleanup_free_ char *ps = NULL;
	struct th_result r;
	bool both = false;
	pid_t sup;

	config("{\"a\": {\"exec\": \"exec sleep 301\"}, \"b\": {\"exec\": \"exec sleep 302\"}}");
	r = cell("up", "-d", NULL);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	th_result_done(&r);
	/* (seen once is seen: a second look may fall in a process's exec, from "sh -c exec sleep
	 * 301" to "sleep 301", when its cmdline reads empty) */
	for (int i = 0; i < 100 && !(both = user_runs("sleep 301") && user_runs("sleep 302")); i++)
		usleep(50000);
	cr_assert(both);
	ps = cell_ok("ps", NULL, NULL);
	cr_assert(eq(int, sscanf(strstr(ps, "(cell up, pid "), "(cell up, pid %d", &sup), 1), "%s",
		  ps);
	/* a second cell up is refused while this one runs */
	r = cell("up", NULL, NULL);
	cr_assert(eq(int, r.status, 1));
	cr_assert(not(eq(ptr, strstr(r.err, "processes are up already"), NULL)), "%s", r.err);
	th_result_done(&r);
	cr_assert(eq(int, kill(sup, SIGKILL), 0));
	for (int i = 0; i < 100 && (user_runs("sleep 301") || user_runs("sleep 302")); i++)
		usleep(50000);
	cr_assert(gone("sleep 301") && gone("sleep 302"), "processes are left");
	cr_assert(wait_closed(), "the session stayed open");
	free(ps);
	ps = cell_ok("ps", NULL, NULL);
	cr_assert(not(eq(ptr, strstr(ps, "no processes are up"), NULL)), "%s", ps);
	/* and a new cell up starts */
	r = cell("up", "-d", NULL);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	th_result_done(&r);
	free(cell_ok("down", NULL, NULL));
}

Test(up, a_log_is_rotated_and_cell_logs_reads_it_all_in_order)
{
	_cleanup_free_ char *out = NULL, *dir = NULL, *path = NULL;
	struct th_result r;
	struct stat st;
	size_t lines = 0;

	/* 30000 lines of 64 bytes: 1.9 MB, past the 1 MiB a log holds */
	config("{\"talk\": {\"exec\": \"seq -f '%063g' 1 30000\"}}");
	r = cell("up", NULL, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	out = cell_ok("logs", "talk", NULL);
	for (const char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	/* every line (and cell up's own two), in order */
	cr_assert(eq(sz, lines, 30002));
	cr_assert(strstr(out, "00001\n") && strstr(out, "00001\n") < strstr(out, "30000\n"));
	cr_assert(ge(int, asprintf(&dir, "%s/cell/projects", t.state), 0));
	{
		DIR *d = opendir(dir);
		struct dirent *e;

		while (d && (e = readdir(d)) && e->d_name[0] == '.')
			;
		cr_assert(d && e);
		cr_assert(ge(int, asprintf(&path, "%s/%s/up/logs/talk.log", dir, e->d_name), 0));
		closedir(d);
	}
	cr_assert(eq(int, stat(path, &st), 0));
	cr_assert(le(long, (long)st.st_size, CELL_LOG_MAX_BYTES));
	free(TAKE_PTR(dir));
	cr_assert(ge(int, asprintf(&dir, "%s.1", path), 0));
	cr_assert(eq(int, stat(dir, &st), 0), "%s was not rotated", path);
	cr_assert(le(long, (long)st.st_size, CELL_LOG_MAX_BYTES));
}

/* cell run -- sleep 60 in the background: a member that keeps the session open. */
static pid_t hold_session(void)
{
	char *argv[] = {(char *)CELL,	 (char *)"run", (char *)"--",
			(char *)"sleep", (char *)"60",	NULL};

	t.bg = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	for (int i = 0; i < 200 && !session_open(); i++)
		usleep(50000);
	cr_assert(session_open(), "the holding command's session did not open");
	return t.bg;
}

/* A process's command starts a child and waits (sh does not exec a command that is not its
 * last): cell down ends the child too, and so does a cell up killed outright, while another
 * member keeps the session (and so its pid namespace) alive. */
Test(up, what_a_process_started_goes_with_it)
{
	struct th_result r;
	_cleanup_free_ char *ps = NULL;
	pid_t sup;

	config("{\"a\": {\"exec\": \"sleep 1001; true\"}, \"b\": {\"exec\": \"sleep 1002; true\"}}");
	hold_session();
	r = cell("up", "-d", NULL);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	th_result_done(&r);
	for (int i = 0; i < 100 && !(user_runs("sleep 1001") && user_runs("sleep 1002")); i++)
		usleep(50000);
	cr_assert(user_runs("sleep 1001") && user_runs("sleep 1002"));
	free(cell_ok("down", NULL, NULL));
	cr_assert(gone("sleep 1001") && gone("sleep 1002"), "a child of a process is left");
	/* again, and cell up killed */
	r = cell("up", "-d", NULL);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	th_result_done(&r);
	for (int i = 0; i < 100 && !user_runs("sleep 1001"); i++)
		usleep(50000);
	ps = cell_ok("ps", NULL, NULL);
	cr_assert(eq(int, sscanf(strstr(ps, "(cell up, pid "), "(cell up, pid %d", &sup), 1), "%s",
		  ps);
	cr_assert(eq(int, kill(sup, SIGKILL), 0));
	for (int i = 0; i < 100 && (user_runs("sleep 1001") || user_runs("sleep 1002")); i++)
		usleep(50000);
	cr_assert(gone("sleep 1001") && gone("sleep 1002"), "a child of a process is left");
	/* the other member still works in the session */
	cr_assert(session_open());
}

/* A process that writes without end ("yes") does not keep cell up from its signals: cell down
 * stops it at once. */
Test(up, endless_output_does_not_stop_cell_down)
{
	struct th_result r;

	config("{\"loud\": {\"exec\": \"exec yes y\"}}");
	r = cell("up", "-d", NULL);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	th_result_done(&r);
	usleep(300000);
	r = cell("down", NULL, NULL);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	th_result_done(&r);
	cr_assert(gone("yes y"));
}

/* With a terminal (cell up run under script(1)), a process gets none: it cannot open
 * /dev/tty, so cannot make itself the terminal's foreground or read what is typed there. */
Test(up, a_process_has_no_terminal)
{
	_cleanup_free_ char *script = NULL, *log = NULL;
	char *argv[] = {(char *)"/usr/bin/script", (char *)"-qec", NULL, (char *)"/dev/null", NULL};
	struct th_result r;

	if (access("/usr/bin/script", X_OK) < 0)
		th_skip("SKIP: no script(1) (util-linux) to give cell up a terminal");
	config("{\"tty\": {\"exec\": \"if (exec 3</dev/tty) 2>/dev/null; then echo tty-opened; "
	       "else echo no-tty; fi; tty || true\"}}");
	cr_assert(ge(int, asprintf(&script, "%s up", CELL), 0));
	argv[2] = script;
	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	th_result_done(&r);
	log = cell_ok("logs", "tty", NULL);
	cr_assert(not(eq(ptr, strstr(log, "no-tty\nnot a tty\n"), NULL)), "%s", log);
}

/* Replaces path's content. */
static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(long, (long)write(fd, text, strlen(text)), (long)strlen(text)));
	close(fd);
}

/* cell down signals the cell up that holds the lock, named by pid and start time: a state
 * file that names another process of the user's (a pid reused) does not get it killed. */
Test(up, cell_down_signals_only_the_cell_up_itself)
{
	_cleanup_free_ char *dir = NULL, *state = NULL, *lock = NULL, *real = NULL;
	char *sleeper[] = {(char *)"/bin/sleep", (char *)"1003", NULL};
	struct th_result r;
	pid_t victim;

	config("{\"a\": {\"exec\": \"exec sleep 1004\"}}");
	r = cell("up", "-d", NULL);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	th_result_done(&r);
	victim = th_spawn_as(t.uid, t.gid, t.proj, sleeper, t.env);
	cr_assert(gt(int, victim, 0));
	/* the state now names the victim, with a start time it does not have */
	{
		_cleanup_free_ char *projects = th_join(t.state, "cell/projects");
		DIR *d = opendir(projects);
		struct dirent *e;

		while (d && (e = readdir(d)) && e->d_name[0] == '.')
			;
		cr_assert(d && e);
		cr_assert(ge(int, asprintf(&dir, "%s/%s/up", projects, e->d_name), 0));
		closedir(d);
	}
	cr_assert(ge(int, asprintf(&state, "cell-up 1\nsupervisor %d 1 0\n", (int)victim), 0));
	lock = th_join(dir, "up.state");
	real = th_read(lock);
	put(lock, state);
	r = cell("down", NULL, NULL);
	cr_assert(not(eq(int, r.status, 0)), "%s", r.out);
	th_result_done(&r);
	cr_assert(eq(int, kill(victim, 0), 0), "cell down killed another process");
	cr_assert(eq(int, waitpid(victim, NULL, WNOHANG), 0), "cell down killed another process");
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	/* the real state back: cell down finds the cell up */
	put(lock, real);
	free(cell_ok("down", NULL, NULL));
	cr_assert(gone("sleep 1004"));
}

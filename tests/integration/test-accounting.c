/* SPDX-License-Identifier: MIT */
/*
 * Accounting people act on (docs/design.md §7): a project's budget across its cells, its counts
 * as Prometheus metrics (checked by Debian's promtool, scraped by a real Prometheus). Real
 * clients in real cells (a network namespace of the cell's own: no privilege needed) against
 * this test's own HTTP server on the host's loopback.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "helpers.h"
#include "ledger.h"
#include "macro.h"

static struct {
	char *tmp, *home, *proj;
	struct th_stage stage;
	uid_t uid;
	gid_t gid;
	struct th_env env;
	pid_t server;
	unsigned port;
} t;

static char *fmt(const char *f, ...) _printf_(1, 2);
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	cr_assert(ge(int, n, 0));
	return s;
}

static bool contains(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle);
}

/* Each request answered "METHOD PATH got N" (N: the body's bytes), keep-alive. */
static const char server_py[] =
	"import http.server\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    protocol_version = 'HTTP/1.1'\n"
	"    def log_message(self, *a): pass\n"
	"    def answer(self):\n"
	"        n = int(self.headers.get('Content-Length') or 0)\n"
	"        body = self.rfile.read(n) if n else b''\n"
	"        out = ('%s %s got %d\\n' % (self.command, self.path, len(body))).encode()\n"
	"        self.send_response(200)\n"
	"        self.send_header('Content-Length', str(len(out)))\n"
	"        self.end_headers()\n"
	"        self.wfile.write(out)\n"
	"    do_GET = do_POST = answer\n"
	"s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
	"print(s.server_address[1], flush=True)\n"
	"s.serve_forever()\n";

/* cell ARGS... in dir (NULL: the project), as the test user. */
static struct th_result cell_in(const char *dir, char *const args[])
{
	char *argv[32] = {t.stage.cell};
	size_t n = 1;
	struct th_result r;

	for (size_t i = 0; args[i] && n < ELEMENTSOF(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	th_run_as(t.uid, t.gid, dir ? dir : t.proj, argv, t.env.v, &r);
	return r;
}

static struct th_result cell(char *const args[])
{
	return cell_in(NULL, args);
}

/* sh -c SCRIPT in a cell of the project in dir. */
static struct th_result in_cell_of(const char *dir, const char *script)
{
	return cell_in(dir, (char *[]){(char *)"run", (char *)"--", (char *)"/bin/sh", (char *)"-c",
				       (char *)script, NULL});
}

/* dir/.cell.json (project name) allowing the test's server as up.test, with more of
 * network, allowed. */
static void set_config_of(const char *dir, const char *name, const char *more)
{
	_cleanup_free_ char *json =
		fmt("{\"name\": \"%s\", \"network\": {\"mode\": \"proxy\", \"isolation\": "
		    "\"netns\", \"allow\": [\"up.test:%u\"], \"resolve\": {\"up.test\": "
		    "\"127.0.0.1\"}%s}}",
		    name, t.port, more);
	struct th_result r;

	free(th_write(dir, ".cell.json", json));
	th_chown_r(dir, t.uid, t.gid);
	r = cell_in(dir, (char *[]){(char *)"allow", NULL});
	cr_assert(eq(int, r.status, 0), "cell allow: %s", r.err);
	th_result_done(&r);
}

static void setup(void)
{
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)server_py, NULL};

	memset(&t, 0, sizeof(t));
	th_cell_user(&t.uid, &t.gid);
	t.tmp = th_mkdtemp();
	chmod(t.tmp, 0755);
	th_stage(&t.stage);
	t.home = th_join(t.tmp, "home");
	t.proj = th_join(t.tmp, "proj");
	free(th_write(t.home, ".profile", "\n"));
	free(th_write(t.proj, "README", "webapp\n"));
	th_env_user(&t.env, t.home);
	th_chown_r(t.tmp, t.uid, t.gid);
	t.server = th_spawn_server(NULL, argv, t.env.v, "%u", &t.port);
}

static void teardown(void)
{
	if (t.server > 0) {
		kill(t.server, SIGKILL);
		waitpid(t.server, NULL, 0);
	}
	th_env_done(&t.env);
	th_rm_rf(t.tmp);
	free(t.tmp);
	free(t.home);
	free(t.proj);
	th_stage_done(&t.stage);
}

TestSuite(accounting, .init = setup, .fini = teardown, .timeout = 180);

/*
 * The budget is the project's: a second cell, opened after the first closed, has what the first
 * left; the upload that would cross it is cut there and the next request gets the reason;
 * cell stats shows the use against the budget.
 */
Test(accounting, a_budget_spans_the_cells_of_a_project)
{
	_cleanup_free_ char *up = NULL;
	struct th_result r;

	set_config_of(t.proj, "webapp", ", \"budget\": {\"per_host_out\": \"100K/day\"}");
	up = fmt("head -c 61440 /dev/zero > /tmp/body; "
		 "curl -sS --data-binary @/tmp/body http://up.test:%u/up",
		 t.port);
	r = in_cell_of(t.proj, up);
	cr_assert(eq(str, r.out, "POST /up got 61440\n"), "%s", r.err);
	th_result_done(&r);
	/* a second cell: 40 KiB left */
	free(up);
	up = fmt("head -c 61440 /dev/zero > /tmp/body; "
		 "curl -sS --data-binary @/tmp/body http://up.test:%u/up; echo curl=$?; "
		 "curl -sS http://up.test:%u/small",
		 t.port, t.port);
	r = in_cell_of(t.proj, up);
	cr_assert(not(contains(r.out, "got 61440")), "went through: %s", r.out);
	cr_assert(contains(r.out, "curl=52\n") || contains(r.out, "curl=56\n"), "%s %s", r.out,
		  r.err);
	cr_assert(contains(r.out, "cell: webapp has used its budget of 100.0 KiB out per day to "
				  "any one host (network.budget.per_host_out; up.test: 100.0 KiB "
				  "used); it starts again at "),
		  "%s", r.out);
	th_result_done(&r);
	r = cell((char *[]){(char *)"stats", NULL});
	cr_assert(contains(r.out, "budget: per_host_out 100.0 KiB of 100.0 KiB per day (100%, "
				  "the most: up.test)"),
		  "%s %s", r.out, r.err);
	th_result_done(&r);
}

/* promtool's verdict on text (Debian's prometheus package has it). */
static void promtool_check(const char *text)
{
	_cleanup_free_ char *file = th_write(t.tmp, "metrics.prom", text), *sh = NULL;
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", NULL, NULL};
	struct th_result r;

	sh = fmt("promtool check metrics < %s", file);
	argv[2] = sh;
	th_run(NULL, argv, t.env.v, &r);
	cr_assert(eq(int, r.status, 0), "promtool: %s %s", r.out, r.err);
	th_result_done(&r);
}

static void need_promtool(void)
{
	if (access("/usr/bin/promtool", X_OK) != 0)
		th_skip("promtool is not installed (make deps: Debian's prometheus)");
}

/*
 * Sixteen cells at once, of four projects, each making three requests: every request is in
 * the metrics (no record lost), and the text is what promtool accepts.
 */
Test(accounting, metrics_of_16_concurrent_cells_lose_no_record)
{
	enum { PROJECTS = 4, CELLS = 16, REQUESTS = 3 };
	_cleanup_free_ char *sh = NULL;
	pid_t pids[CELLS];
	char *dirs[PROJECTS];
	struct th_result r;

	need_promtool();
	for (int i = 0; i < PROJECTS; i++) {
		_cleanup_free_ char *name = fmt("p%d", i);

		dirs[i] = th_join(t.tmp, name);
		free(th_write(dirs[i], "README", "x\n"));
		set_config_of(dirs[i], name, "");
	}
	sh = fmt("for i in 1 2 3; do curl -sS http://up.test:%u/n$i >/dev/null || exit 1; done",
		 t.port);
	for (int i = 0; i < CELLS; i++) {
		char *argv[] = {
			t.stage.cell, (char *)"run", (char *)"--", (char *)"/bin/sh", (char *)"-c",
			sh,	      NULL};

		pids[i] = th_spawn_as(t.uid, t.gid, dirs[i % PROJECTS], argv, t.env.v);
	}
	for (int i = 0; i < CELLS; i++) {
		int status;

		cr_assert(eq(int, waitpid(pids[i], &status, 0), pids[i]));
		cr_assert(eq(int, WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0), "cell %d", i);
	}
	r = cell((char *[]){(char *)"metrics", NULL});
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	for (int i = 0; i < PROJECTS; i++) {
		_cleanup_free_ char *want = fmt("project=\"p%d\",", i), *line = NULL;
		const char *at = r.out;
		bool found = false;

		/* cell_proxy_requests_total{user=..,project="pI",project_id=..,host="up.test"} 12
		 */
		while ((at = strstr(at, "\ncell_proxy_requests_total{"))) {
			size_t len = strcspn(at + 1, "\n");

			free(line);
			line = strndup(at + 1, len);
			at += 1 + len;
			if (contains(line, want) && contains(line, "host=\"up.test\"")) {
				cr_assert(endswith(line, "} 12"), "%s", line);
				found = true;
			}
		}
		cr_assert(found, "no requests of p%d in:\n%s", i, r.out);
		free(dirs[i]);
	}
	promtool_check(r.out);
	th_result_done(&r);
}

/* --textfile writes DIR/cell.prom for node_exporter, whole. */
Test(accounting, metrics_go_to_a_textfile_for_node_exporter)
{
	_cleanup_free_ char *dir = th_join(t.tmp, "textfile"), *path = NULL, *text = NULL,
			    *sh = NULL;
	struct th_result r;

	need_promtool();
	set_config_of(t.proj, "webapp", ", \"budget\": {\"out\": \"1G/day\"}");
	sh = fmt("curl -sS http://up.test:%u/t", t.port);
	th_result_done((r = in_cell_of(t.proj, sh), &r));
	cr_assert(eq(int, cell_mkdir_p(dir, 0755), 0));
	th_chown_r(dir, t.uid, t.gid);
	r = cell((char *[]){(char *)"metrics", (char *)"--textfile", dir, NULL});
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	path = th_join(dir, "cell.prom");
	text = th_read(path);
	cr_assert(contains(text, "host=\"up.test\"} 1\n"), "%s", text);
	cr_assert(contains(text, "cell_budget_limit_bytes{user="), "%s", text);
	cr_assert(contains(text, ",kind=\"out\",period=\"day\"} 1073741824\n"), "%s", text);
	promtool_check(text);
	cr_assert(eq(sz, th_count_entries(dir), 1), "a temporary file was left in %s", dir);
}

/* A real Prometheus scrapes cell metrics --listen; its API then has the project's series. */
Test(accounting, prometheus_scrapes_cell_metrics)
{
	_cleanup_free_ char *sh = NULL, *yml = NULL, *ymlpath = NULL, *data = NULL, *q = NULL;
	char *listen[] = {t.stage.cell, (char *)"metrics", (char *)"--listen",
			  (char *)"127.0.0.1:0", NULL};
	char *prom[8];
	unsigned mport = 0, pport = 0;
	pid_t metrics, prometheus = 0;
	struct th_result r;
	bool seen = false;

	if (access("/usr/bin/prometheus", X_OK) != 0)
		th_skip("prometheus is not installed (make deps)");
	set_config_of(t.proj, "webapp", "");
	sh = fmt("curl -sS http://up.test:%u/a http://up.test:%u/b", t.port, t.port);
	th_result_done((r = in_cell_of(t.proj, sh), &r));
	/* as the test user (root's would be every user's projects) */
	if (getuid() == 0) {
		_cleanup_free_ char *reuid = fmt("--reuid=%u", (unsigned)t.uid),
				    *regid = fmt("--regid=%u", (unsigned)t.gid);
		char *argv[] = {(char *)"/usr/bin/setpriv",
				reuid,
				regid,
				(char *)"--clear-groups",
				(char *)"--",
				listen[0],
				listen[1],
				listen[2],
				listen[3],
				NULL};

		metrics =
			th_spawn_server(t.home, argv, t.env.v, "listening on 127.0.0.1:%u", &mport);
	} else {
		metrics = th_spawn_server(t.home, listen, t.env.v, "listening on 127.0.0.1:%u",
					  &mport);
	}
	data = th_join(t.tmp, "prometheus");
	yml = fmt("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: cell\n"
		  "    static_configs:\n      - targets: ['127.0.0.1:%u']\n",
		  mport);
	ymlpath = th_write(t.tmp, "prometheus.yml", yml);
	{
		/* a free port for Prometheus' own listener: one the kernel just gave */
		char *probe[] = {(char *)"/usr/bin/python3", (char *)"-c",
				 (char *)"import socket; s = socket.socket(); s.bind(('127.0.0.1', "
					 "0)); print(s.getsockname()[1])",
				 NULL};

		th_run(NULL, probe, t.env.v, &r);
		cr_assert(eq(int, sscanf(r.out, "%u", &pport), 1));
		th_result_done(&r);
	}
	{
		_cleanup_free_ char *cfg = fmt("--config.file=%s", ymlpath),
				    *st = fmt("--storage.tsdb.path=%s", data),
				    *web = fmt("--web.listen-address=127.0.0.1:%u", pport);

		prom[0] = (char *)"/usr/bin/prometheus";
		prom[1] = cfg;
		prom[2] = st;
		prom[3] = web;
		prom[4] = NULL;
		prometheus = th_fork();
		if (prometheus == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 1);
			dup2(null, 2);
			execve(prom[0], prom, t.env.v);
			_exit(127);
		}
	}
	q = fmt("curl -sS 'http://127.0.0.1:%u/api/v1/query?query="
		"cell_proxy_requests_total%%7Bproject%%3D%%22webapp%%22%%7D'",
		pport);
	for (int i = 0; i < 60 && !seen; i++) {
		char *argv[] = {(char *)"/bin/sh", (char *)"-c", q, NULL};

		sleep(1);
		th_run(NULL, argv, t.env.v, &r);
		seen = contains(r.out, "\"host\":\"up.test\"") && contains(r.out, "\"2\"]");
		if (!seen && i == 59)
			cr_assert(seen, "Prometheus never had the series: %s %s", r.out, r.err);
		th_result_done(&r);
	}
	kill(prometheus, SIGKILL);
	waitpid(prometheus, NULL, 0);
	kill(metrics, SIGKILL);
	waitpid(metrics, NULL, 0);
}

/* An npm-like run: packages from three hosts of one domain, an API from another, in two
 * clients. */
static char *fetches(void)
{
	return fmt("curl -sS http://a.pkg.test:%u/pkg/a http://b.pkg.test:%u/pkg/b "
		   "http://c.pkg.test:%u/pkg/c; "
		   "python3 -c 'import urllib.request as u, sys; "
		   "print(u.urlopen(sys.argv[1]).read().decode(), end=\"\")' "
		   "http://api.solo.test:%u/v1 2>/dev/null || echo python refused",
		   t.port, t.port, t.port, t.port);
}

/* What a hostile run adds: the cloud metadata address (an allow rule for it would open the
 * proxy's guard), and a process whose name would drive the terminal of the person reading the
 * report. */
static char *hostile_fetches(void)
{
	return fmt("curl -s -o /dev/null http://169.254.169.254/latest/meta-data/; "
		   "python3 -c 'import ctypes, urllib.request as u; "
		   "ctypes.CDLL(None).prctl(15, b\"\\x1b[2J\\x1b]52;c;aGk=\\x07\", 0, 0, 0); "
		   "u.urlopen(\"http://api.solo.test:%u/esc\")' 2>/dev/null; true",
		   t.port);
}

static void set_learn_config(void)
{
	_cleanup_free_ char *json =
		fmt("{\"name\": \"webapp\", \"network\": {\"mode\": \"proxy\", \"isolation\": "
		    "\"netns\", \"allow\": [\"up.test:%u\"], \"resolve\": {\"a.pkg.test\": "
		    "\"127.0.0.1\", \"b.pkg.test\": \"127.0.0.1\", \"c.pkg.test\": \"127.0.0.1\", "
		    "\"api.solo.test\": \"127.0.0.1\", \"up.test\": \"127.0.0.1\"}}}",
		    t.port);
	struct th_result r;

	free(th_write(t.proj, ".cell.json", json));
	th_chown_r(t.proj, t.uid, t.gid);
	r = cell((char *[]){(char *)"allow", NULL});
	cr_assert(eq(int, r.status, 0), "cell allow: %s", r.err);
	th_result_done(&r);
}

static const char all_fetched[] = "GET /pkg/a got 0\nGET /pkg/b got 0\nGET /pkg/c got 0\n"
				  "GET /v1 got 0\n";

/*
 * cell learn records what the run was refused, by whom (curl, python3), proposes the smallest
 * change (a wildcard for the three package hosts, the API host alone) as a diff; --apply writes
 * and allows it, and the same run then goes through.
 */
Test(accounting, learn_proposes_the_change_that_passes_the_run)
{
	_cleanup_free_ char *sh = fetches(),
			    *proposed = fmt("+{\"name\": \"webapp\", \"network\": {\"mode\": "
					    "\"proxy\", \"isolation\": \"netns\", \"allow\": "
					    "[\"up.test:%u\", \"*.pkg.test:%u\", "
					    "\"api.solo.test:%u\"], ",
					    t.port, t.port, t.port),
			    *by_curl =
				    fmt("a.pkg.test:%u  refused 1 time, by curl (/usr/bin/curl); "
					"GET /pkg/a",
					t.port),
			    *by_python =
				    fmt("api.solo.test:%u  refused 1 time, by python3 (", t.port);
	char *learn[] = {(char *)"learn", (char *)"--", (char *)"/bin/sh", (char *)"-c", sh, NULL};
	char *apply[] = {(char *)"learn",
			 (char *)"--apply",
			 (char *)"--",
			 (char *)"/bin/sh",
			 (char *)"-c",
			 sh,
			 NULL};
	struct th_result r;

	set_learn_config();
	/* a hostile run first: its process names and a loopback address */
	{
		_cleanup_free_ char *hostile = hostile_fetches();
		char *h[] = {(char *)"learn", (char *)"--", (char *)"/bin/sh",
			     (char *)"-c",    hostile,	    NULL};

		r = cell(h);
		cr_assert(not(contains(r.out, "\x1b")), "an escape reached the terminal: %s",
			  r.out);
		cr_assert(contains(r.out, "169.254.169.254:80  refused 1 time"), "%s", r.out);
		cr_assert(contains(r.out, "not proposed: the cloud metadata address"), "%s", r.out);
		cr_assert(not(contains(r.out, "\"169.254.169.254\"")), "proposed: %s", r.out);
		/* (comm holds 15 bytes: the BEL at the end is cut by the kernel) */
		cr_assert(contains(r.out, "by ?[2J?]52;c;aGk= ("), "%s", r.out);
		th_result_done(&r);
	}
	r = cell(learn);
	cr_assert(contains(r.out, "python refused\n"), "%s", r.out);
	cr_assert(contains(r.out, by_curl), "%s\n%s", r.out, r.err);
	cr_assert(contains(r.out, by_python), "%s", r.out);
	cr_assert(contains(r.out, proposed), "%s", r.out);
	cr_assert(contains(r.out, "(cell learn --apply writes it and allows it)"), "%s", r.out);
	th_result_done(&r);
	/* cell log shows the refusals with their method and path */
	r = cell((char *[]){(char *)"log", NULL});
	cr_assert(contains(r.out, "proxy   GET a.pkg.test:"), "%s %s", r.out, r.err);
	cr_assert(contains(r.out, "/pkg/a  denied"), "%s", r.out);
	th_result_done(&r);
	/* nothing written without --apply */
	r = in_cell_of(t.proj, sh);
	cr_assert(contains(r.out, "python refused\n"), "%s", r.out);
	th_result_done(&r);

	r = cell(apply);
	cr_assert(contains(r.out, "now allows what the run needed (and is allowed)"), "%s %s",
		  r.out, r.err);
	th_result_done(&r);
	r = in_cell_of(t.proj, sh);
	cr_assert(eq(str, r.out, (char *)all_fetched), "%s", r.err);
	th_result_done(&r);
	/* and a run that needs nothing more says so */
	r = cell(learn);
	cr_assert(contains(r.out, "cell learn: the run needed no host that "), "%s", r.out);
	th_result_done(&r);
}

/* --permissive lets the run through (with a banner), and what it needed is proposed the same. */
Test(accounting, learn_permissive_lets_the_run_through_and_records_it)
{
	_cleanup_free_ char *sh = fetches(),
			    *star = fmt("\"up.test:%u\", \"*.pkg.test:%u\", \"api.solo.test:%u\"]",
					t.port, t.port, t.port),
			    *passed = fmt("b.pkg.test:%u  let through 1 time, by curl", t.port);
	char *learn[] = {(char *)"learn",
			 (char *)"--permissive",
			 (char *)"--",
			 (char *)"/bin/sh",
			 (char *)"-c",
			 sh,
			 NULL};
	struct th_result r;

	set_learn_config();
	r = cell(learn);
	cr_assert(eq(int, r.status, 0), "%s %s", r.out, r.err);
	cr_assert(contains(r.out, all_fetched), "%s", r.out);
	cr_assert(contains(r.err, "THIS CELL MAY REACH ANY HOST"), "%s", r.err);
	cr_assert(contains(r.out, passed), "%s", r.out);
	cr_assert(contains(r.out, star), "%s", r.out);
	th_result_done(&r);
	/* the config is as it was: an ordinary cell is refused */
	r = in_cell_of(t.proj, sh);
	cr_assert(contains(r.out, "python refused\n"), "%s", r.out);
	th_result_done(&r);
}

/* tmux ARGS... as the test user, on the test's own server socket. */
static struct th_result tmux(const char *const *args)
{
	_cleanup_free_ char *sock = th_join(t.tmp, "tmux.sock");
	char *argv[16] = {(char *)"/usr/bin/tmux", (char *)"-S", sock};
	size_t n = 3;
	struct th_result r;

	while (*args && n < ELEMENTSOF(argv) - 1)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	th_run_as(t.uid, t.gid, t.home, argv, t.env.v, &r);
	return r;
}

/* What the tmux pane shows, once it has want (within 10 s); the last capture otherwise. */
static char *pane_with(const char *want)
{
	char *out = NULL;

	for (int i = 0; i < 50; i++) {
		struct th_result r =
			tmux((const char *[]){"capture-pane", "-p", "-t", "top", NULL});

		free(out);
		out = strdup(r.out ? r.out : "");
		th_result_done(&r);
		if (contains(out, want))
			break;
		usleep(200 * 1000);
	}
	return out;
}

/*
 * cell top: the open cells of two projects and their hosts, on a terminal (tmux) with Tab to
 * switch project, q to quit; refusals as they come; plain lines when not on a terminal.
 */
Test(accounting, top_watches_open_cells_on_a_terminal_and_in_lines)
{
	_cleanup_free_ char *loop = NULL, *cmd = NULL, *pane = NULL;
	pid_t pids[2];
	char *dirs[2];
	struct th_result r;

	if (access("/usr/bin/tmux", X_OK) != 0)
		th_skip("tmux is not installed (make deps)");
	loop = fmt("for i in $(seq 1 60); do curl -s http://up.test:%u/x$i >/dev/null; "
		   "curl -s http://nope.test/ >/dev/null; sleep 0.2; done",
		   t.port);
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *name = fmt("top%d", i);
		char *argv[] = {t.stage.cell, (char *)"run", (char *)"--", (char *)"/bin/sh",
				(char *)"-c", loop,	     NULL};

		dirs[i] = th_join(t.tmp, name);
		free(th_write(dirs[i], "README", "x\n"));
		set_config_of(dirs[i], name, "");
		pids[i] = th_spawn_as(t.uid, t.gid, dirs[i], argv, t.env.v);
	}
	/* plain lines */
	r = cell((char *[]){(char *)"top", (char *)"-n", (char *)"4", (char *)"-d", (char *)"0.5",
			    NULL});
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "  top0  up.test  connections "), "%s", r.out);
	cr_assert(contains(r.out, "  top1  up.test  connections "), "%s", r.out);
	cr_assert(contains(r.out,
			   "  top0  denied GET nope.test  nope.test is not in top0's network "
			   "allowlist"),
		  "%s", r.out);
	th_result_done(&r);

	/* a terminal */
	cmd = fmt("exec env -i HOME=%s PATH=/usr/bin:/bin XDG_STATE_HOME=%s/.local/state "
		  "XDG_CONFIG_HOME=%s/.config XDG_DATA_HOME=%s/.local/share %s top -d 0.3",
		  t.home, t.home, t.home, t.home, t.stage.cell);
	r = tmux((const char *[]){"new-session", "-d", "-s", "top", "-x", "132", "-y", "40", cmd,
				  NULL});
	cr_assert(eq(int, r.status, 0), "tmux: %s", r.err);
	th_result_done(&r);
	pane = pane_with("cell top: 2 projects with open cells");
	cr_assert(contains(pane, "cell top: 2 projects with open cells"), "%s", pane);
	cr_assert(contains(pane, "up.test"), "%s", pane);
	cr_assert(contains(pane, "denied GET nope.test"), "%s", pane);
	{
		/* the project shown in detail is the one marked; Tab moves the mark */
		const char *first = contains(pane, "> top0") ? "> top0" : "> top1";
		const char *second = streq(first, "> top0") ? "> top1" : "> top0";

		cr_assert(contains(pane, first), "%s", pane);
		th_result_done(
			(r = tmux((const char *[]){"send-keys", "-t", "top", "Tab", NULL}), &r));
		free(pane);
		pane = pane_with(second);
		cr_assert(contains(pane, second), "Tab did not switch:\n%s", pane);
	}
	th_result_done((r = tmux((const char *[]){"send-keys", "-t", "top", "q", NULL}), &r));
	for (int i = 0; i < 50; i++) {
		r = tmux((const char *[]){"has-session", "-t", "top", NULL});
		bool gone = r.status != 0;

		th_result_done(&r);
		if (gone)
			break;
		usleep(100 * 1000);
	}
	r = tmux((const char *[]){"has-session", "-t", "top", NULL});
	cr_assert(not(eq(int, r.status, 0)), "q did not quit cell top");
	th_result_done(&r);
	for (int i = 0; i < 2; i++) {
		kill(pids[i], SIGTERM);
		waitpid(pids[i], NULL, 0);
		free(dirs[i]);
	}
}

/* What Chromium rendered of the chart: a copy of the page with a script that measures it. */
static const char measure_js[] =
	"<script>addEventListener('load', () => {"
	"  const svg = document.querySelector('svg.chart').getBoundingClientRect();"
	"  const bars = [...document.querySelectorAll('rect.bar')].map(r => "
	"    r.getBoundingClientRect());"
	"  const inside = bars.filter(b => b.width > 2 && b.height > 0 && b.left >= svg.left && "
	"    b.right <= svg.right && b.top >= svg.top && b.bottom <= svg.bottom).length;"
	"  const legend = [...document.querySelectorAll('.legend li')].map(l => l.textContent);"
	"  const p = document.createElement('pre'); p.id = 'measured';"
	"  p.textContent = 'svg ' + Math.round(svg.width) + 'x' + Math.round(svg.height) + "
	"    ' bars ' + bars.length + ' inside ' + inside + ' legend ' + legend.join('|');"
	"  document.body.appendChild(p);"
	"});</script>";

/*
 * cell stats --html: the ledger's bytes per host over time as a page with an SVG chart; Chromium
 * renders it, and every column of every host is drawn inside the chart with its legend.
 */
Test(accounting, stats_html_is_a_chart_chromium_renders)
{
	_cleanup_free_ char *page = th_join(t.tmp, "stats.html"), *ledger = NULL, *html = NULL,
			    *copy = NULL, *url = NULL, *id = NULL, *dom = NULL;
	const char *chromium = "/usr/bin/chromium-headless-shell";
	int64_t now = (int64_t)time(NULL);
	struct th_result r;

	if (access(chromium, X_OK) != 0)
		th_skip("chromium-headless-shell is not installed (make deps)");
	set_config_of(t.proj, "webapp", "");
	r = cell((char *[]){(char *)"stats", (char *)"--json", NULL});
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	{
		const char *at = strstr(r.out, "\"project\":\"");

		cr_assert(not(eq(ptr, (void *)at, NULL)), "%s", r.out);
		id = strndup(at + 11, strcspn(at + 11, "\""));
	}
	th_result_done(&r);
	ledger = fmt("%s/.local/state/cell/projects/%s/ledger.jsonl", t.home, id);
	/* three hosts, an hour: six records (one name that needs escaping in HTML) */
	for (int i = 0; i < 6; i++) {
		_cleanup_free_ char *line = fmt(
			"{\"v\":1,\"kind\":\"proxy\",\"project\":\"%s\",\"name\":\"webapp\","
			"\"start\":%lld,\"end\":%lld,\"hosts\":{\"registry.npmjs.org\":{\"requests\":3,"
			"\"tunnels\":0,\"up\":%d,\"down\":%d,\"denied\":0},\"github.com\":{\"requests\":"
			"1,\"tunnels\":0,\"up\":100,\"down\":%d,\"denied\":0},\"a<b>&c.test\":{"
			"\"requests\":1,\"tunnels\":0,\"up\":10,\"down\":5000,\"denied\":0}}}",
			id, (long long)(now - 3600 + i * 600 - 10),
			(long long)(now - 3600 + i * 600), 1000 * (i + 1), 200000 * (i + 1),
			50000 * (6 - i));

		cr_assert(eq(int, cell_ledger_append(ledger, line), 0));
	}
	th_chown_r(t.home, t.uid, t.gid);
	r = cell((char *[]){(char *)"stats", (char *)"--html", page, NULL});
	cr_assert(eq(int, r.status, 0), "%s %s", r.out, r.err);
	th_result_done(&r);
	html = th_read(page);
	cr_assert(contains(html, "<svg class=\"chart\""), "%s", html);
	cr_assert(contains(html, "a&lt;b&gt;&amp;c.test"), "not escaped: %s", html);
	cr_assert(not(contains(html, "<script")), "the page runs no script");
	cr_assert(not(contains(html, "http://") && !contains(html, "xmlns=\"http://www.w3.org")),
		  "the page loads nothing");
	copy = fmt("%.*s%s</body></html>\n", (int)(strstr(html, "</body>") - html), html,
		   measure_js);
	free(th_write(t.tmp, "measure.html", copy));
	url = fmt("file://%s/measure.html", t.tmp);
	{
		char *argv[] = {(char *)chromium,
				(char *)"--no-sandbox",
				(char *)"--disable-gpu",
				(char *)"--window-size=1000,900",
				(char *)"--dump-dom",
				url,
				NULL};

		th_run(NULL, argv, t.env.v, &r);
	}
	cr_assert(eq(int, r.status, 0), "chromium: %s", r.err);
	dom = strdup(r.out);
	th_result_done(&r);
	/* six records, each with three hosts: 18 columns' parts, all drawn inside the chart */
	cr_assert(contains(dom, "<pre id=\"measured\">svg 860x380 bars 18 inside 18 legend "
				"registry.npmjs.org|github.com|a&lt;b&gt;&amp;c.test</pre>"),
		  "%s", dom);
}

/*
 * A budget's next period starts at its boundary, not at the proxy's next flush: a cell that
 * sends right after the minute turns gets no window without a limit (it had up to 10 s, and
 * what it sent then was never counted).
 */
Test(accounting, a_budget_period_has_no_open_window_at_its_start)
{
	_cleanup_free_ char *sh = NULL;
	struct th_result r;
	time_t now = time(NULL);
	int sec = (int)(now % 60);

	set_config_of(t.proj, "webapp", ", \"budget\": {\"connections\": \"2/minute\"}");
	/* start at :50 of a minute (local minutes are whole minutes of the epoch) */
	sleep((unsigned)((50 - sec + 60) % 60));
	sh = fmt("u=http://up.test:%u; curl -s $u/a; curl -s $u/b; "
		 "s=$(date +%%S); sleep $((61 - ${s#0})); "
		 "for i in 1 2 3 4; do curl -s $u/n$i; done",
		 t.port);
	r = in_cell_of(t.proj, sh);
	/* two in the first minute, two in the next, the rest refused */
	cr_assert(contains(r.out, "GET /a got 0\nGET /b got 0\nGET /n1 got 0\nGET /n2 got 0\n"),
		  "%s", r.out);
	cr_assert(contains(r.out, "its budget of 2 connections per minute"), "%s", r.out);
	cr_assert(not(contains(r.out, "GET /n3 got 0")), "%s", r.out);
	th_result_done(&r);
}

/* As root, cell metrics reads each user's state as that user, in a child with a deadline: a
 * user whose ledger is a FIFO (any read of it waits for ever) is left out, the rest reported. */
Test(accounting, metrics_as_root_survive_a_users_fifo)
{
	_cleanup_free_ char *dir = NULL, *fifo = NULL, *sh = NULL;
	struct passwd *pw;
	struct th_result r;
	time_t before;

	if (getuid() != 0)
		th_skip("needs root (cell metrics reads every user's projects only as root)");
	pw = getpwnam(TH_TEST_USER);
	cr_assert(not(eq(ptr, pw, NULL)));
	sh = fmt("curl -sS http://up.test:%u/m", t.port);
	th_result_done((r = in_cell_of(t.proj, sh), &r));
	dir = fmt("%s/.local/state/cell/projects/zz-fifo-test", pw->pw_dir);
	cr_assert(eq(int, cell_mkdir_p(dir, 0700), 0));
	fifo = th_join(dir, "ledger.jsonl");
	unlink(fifo);
	cr_assert(eq(int, mkfifo(fifo, 0600), 0));
	th_chown_r(dir, pw->pw_uid, pw->pw_gid);
	before = time(NULL);
	{
		char *argv[] = {t.stage.cell, (char *)"metrics", NULL};

		th_run(NULL, argv, t.env.v, &r);
	}
	unlink(fifo);
	rmdir(dir);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(le(long, (long)(time(NULL) - before), 20L));
	cr_assert(contains(r.err, "cell: " TH_TEST_USER "'s projects are left out: reading them "
				  "took too long"),
		  "%s", r.err);
	/* root's own (the test's HOME) are there */
	cr_assert(contains(r.out, "# TYPE cell_proxy_requests_total counter"), "%s", r.out);
	th_result_done(&r);
}

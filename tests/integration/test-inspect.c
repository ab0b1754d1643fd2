/* SPDX-License-Identifier: MIT */
/*
 * Seeing inside requests (docs/design.md §11): allow rules with methods and paths, and hosts
 * whose TLS the proxy terminates ("inspect": true). Real clients in real cells (a network
 * namespace of the cell's own, no privilege needed) against this test's own TLS servers on the
 * host's loopback: their CA is the one the proxy trusts for upstreams (SSL_CERT_FILE, as
 * OpenSSL reads it), the cell trusts the user's cell CA, made on first use.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
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

static struct {
	char *tmp, *home, *proj, *pki;
	struct th_stage stage;
	uid_t uid;
	gid_t gid;
	struct th_env env;
	pid_t good, bad, plain;
	unsigned good_port; /* inspect.test: a certificate the proxy trusts */
	unsigned bad_port;  /* bad.test: a certificate no one trusts */
	unsigned plain_port;
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

/* The secret the cell's requests get from the proxy (the user's config's), and the placeholder
 * the cell holds instead. */
#define REAL_TOKEN "s3cr3t-real-value-9f8e7d6c"
#define PLACEHOLDER "cell-placeholder-github"

/*
 * An echoing server: each request answered with "METHOD PATH auth=AUTH body=N" (keep-alive,
 * HTTP/1.1), AUTH "real" for the real token, else the Authorization field as it came (the real
 * value never goes back); over TLS with cert (a file of pki) unless cert is NULL.
 */
static const char server_py[] =
	"import http.server, ssl, sys\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    protocol_version = 'HTTP/1.1'\n"
	"    def log_message(self, *a): pass\n"
	"    def answer(self):\n"
	"        n = int(self.headers.get('Content-Length') or 0)\n"
	"        body = self.rfile.read(n) if n else b''\n"
	"        a = self.headers.get('Authorization')\n"
	"        a = 'real' if a == 'Bearer ' + sys.argv[2] else a\n"
	"        out = ('%s %s auth=%s body=%d\\n' % (self.command, self.path, a,\n"
	"               len(body))).encode()\n"
	"        self.send_response(200)\n"
	"        self.send_header('Content-Length', str(len(out)))\n"
	"        self.end_headers()\n"
	"        if self.command != 'HEAD': self.wfile.write(out)\n"
	"    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = answer\n"
	"s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
	"if sys.argv[1] != '-':\n"
	"    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
	"    c.load_cert_chain(sys.argv[1] + '.pem', sys.argv[1] + '.key')\n"
	"    s.socket = c.wrap_socket(s.socket, server_side=True)\n"
	"print(s.server_address[1], flush=True)\n"
	"s.serve_forever()\n";

static pid_t server(const char *cert, unsigned *ret_port)
{
	_cleanup_free_ char *path = cert ? th_join(t.pki, cert) : NULL;
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c",	(char *)server_py,
			path ? path : (char *)"-",  (char *)REAL_TOKEN, NULL};

	return th_spawn_server(NULL, argv, t.env.v, "%u", ret_port);
}

/* The upstreams' CA, and certificates: inspect.test's signed by it, bad.test's self-signed. */
static void make_pki(void)
{
	_cleanup_free_ char *sh = NULL;
	char *gen[] = {(char *)"/bin/sh", (char *)"-c", NULL, NULL};
	struct th_result r;

	if (access("/usr/bin/openssl", X_OK) != 0)
		th_skip("openssl is not installed (make deps)");
	sh = fmt("set -e; mkdir -p %s; cd %s; "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
		 "-subj /CN=upstream-ca -keyout ca.key -out ca.pem 2>/dev/null; "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-subj /CN=inspect.test -keyout good.key -out good.csr 2>/dev/null; "
		 "printf 'subjectAltName=DNS:inspect.test,DNS:blind.test\\n' > ext; "
		 "openssl x509 -req -in good.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
		 "-extfile ext -out good.pem 2>/dev/null; "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
		 "-subj /CN=bad.test -addext subjectAltName=DNS:bad.test -keyout bad.key "
		 "-out bad.pem 2>/dev/null",
		 t.pki, t.pki);
	gen[2] = sh;
	th_run(NULL, gen, t.env.v, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
}

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

/* sh -c SCRIPT in a cell of the project. */
static struct th_result in_cell(const char *script)
{
	return cell((char *[]){(char *)"run", (char *)"--", (char *)"/bin/sh", (char *)"-c",
			       (char *)script, NULL});
}

/* .cell.json with these allow rules (the test's names pinned to its servers), allowed. */
static void set_allow(const char *allow)
{
	_cleanup_free_ char *json = fmt(
		"{\"name\": \"webapp\", \"network\": {\"mode\": \"proxy\", \"isolation\": "
		"\"netns\", \"allow\": [%s], \"resolve\": {\"inspect.test\": \"127.0.0.1\", "
		"\"bad.test\": \"127.0.0.1\", \"blind.test\": \"127.0.0.1\", \"plain.test\": "
		"\"127.0.0.1\", \"hostile.test\": \"127.0.0.1\"}}, \"env\": {\"set\": {\"GITHUB_TOKEN\": \"" PLACEHOLDER
		"\"}}}",
		allow);
	struct th_result r;

	free(th_write(t.proj, ".cell.json", json));
	th_chown_r(t.proj, t.uid, t.gid);
	r = cell((char *[]){(char *)"allow", NULL});
	cr_assert(eq(int, r.status, 0), "cell allow: %s", r.err);
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
	t.pki = th_join(t.tmp, "pki");
	free(th_write(t.home, ".profile", "\n"));
	free(th_write(t.proj, "README", "webapp\n"));
	th_env_user(&t.env, t.home);
	make_pki();
	th_chown_r(t.tmp, t.uid, t.gid);
	/* the proxy verifies upstreams against this (OpenSSL's own variable) */
	th_env_add(&t.env, "SSL_CERT_FILE=%s/ca.pem", t.pki);
	t.good = server("good", &t.good_port);
	t.bad = server("bad", &t.bad_port);
	t.plain = server(NULL, &t.plain_port);
}

static void teardown(void)
{
	pid_t *servers[] = {&t.good, &t.bad, &t.plain};

	for (size_t i = 0; i < ELEMENTSOF(servers); i++)
		if (*servers[i] > 0) {
			kill(*servers[i], SIGKILL);
			waitpid(*servers[i], NULL, 0);
		}
	th_env_done(&t.env);
	th_rm_rf(t.tmp);
	free(t.tmp);
	free(t.home);
	free(t.proj);
	free(t.pki);
	th_stage_done(&t.stage);
}

TestSuite(inspect, .init = setup, .fini = teardown, .timeout = 120);

/* Node through the proxy by hand: CONNECT, then its own TLS (NODE_EXTRA_CA_CERTS). */
static const char node_js[] =
	"const http = require(\"http\"), tls = require(\"tls\");"
	"const u = new URL(process.env.https_proxy), [h, p] = process.argv.slice(1);"
	"http.request({host: u.hostname, port: u.port, method: \"CONNECT\", path: h + \":\" + p})"
	".on(\"connect\", (res, sock) => {"
	"  const s = tls.connect({socket: sock, servername: h}, () => s.write(\"GET /ok/node "
	"HTTP/1.1\\r\\nHost: \" + h + \":\" + p + \"\\r\\nConnection: close\\r\\n\\r\\n\"));"
	"  let d = \"\"; s.on(\"data\", c => d += c);"
	"  s.on(\"end\", () => process.stdout.write(\"node \" + d.split(\"\\r\\n\\r\\n\")[1]));"
	"}).end();";

/* curl, Python and Node in the cell trust the cell's CA without a flag; the proxy sees each
 * request inside the tunnel and holds it to the rule's methods and paths. */
Test(inspect, clients_trust_the_cells_ca_and_requests_are_held_to_the_rule)
{
	_cleanup_free_ char *allow = NULL, *sh = NULL, *want = NULL, *log = NULL, *logpath = NULL;
	struct th_result r;

	allow = fmt("{\"host\": \"inspect.test:%u\", \"inspect\": true, \"methods\": [\"GET\", "
		    "\"HEAD\"], \"paths\": [\"/ok/*\"]}",
		    t.good_port);
	set_allow(allow);
	sh = fmt("u=https://inspect.test:%u; "
		 "curl -sS $u/ok/a $u/ok/b; "
		 "curl -sS -X POST -d x=1 $u/ok/a; "
		 "curl -sS $u/secret; "
		 "python3 -c 'import urllib.request as u, sys; "
		 "print(\"py\", u.urlopen(sys.argv[1]).read().decode(), end=\"\")' $u/ok/py; "
		 /* (Node's fetch ignores the proxy variables; its tls module is what trusts) */
		 "node -e '%s' inspect.test %u",
		 t.good_port, node_js, t.good_port);
	r = in_cell(sh);
	want = fmt(
		"GET /ok/a auth=None body=0\n"
		"GET /ok/b auth=None body=0\n"
		"cell: POST /ok/a is not allowed for inspect.test in webapp (methods: GET, HEAD; "
		"paths: /ok/*)\n"
		"cell: GET /secret is not allowed for inspect.test in webapp (methods: GET, "
		"HEAD; paths: /ok/*)\n"
		"py GET /ok/py auth=None body=0\n"
		"node GET /ok/node auth=None body=0\n");
	cr_assert(eq(str, r.out, want), "%s", r.err);
	th_result_done(&r);
	/* the request log has the method and path of what the proxy saw, cell log the denials */
	r = cell((char *[]){(char *)"log", NULL});
	cr_assert(contains(r.out, "proxy   POST inspect.test:"), "%s %s", r.out, r.err);
	cr_assert(contains(r.out, "/ok/a  denied: POST /ok/a is not allowed"), "%s", r.out);
	th_result_done(&r);
	logpath = fmt("cat %s/.local/state/cell/projects/*/proxy.log", t.home);
	{
		char *sh_log[] = {(char *)"/bin/sh", (char *)"-c", logpath, NULL};

		th_run(NULL, sh_log, t.env.v, &r);
	}
	cr_assert(contains(r.out, "\"method\":\"GET\",\"path\":\"/ok/node\""), "%s", r.out);
	th_result_done(&r);
	/* and cell stats groups them by host and path */
	r = cell((char *[]){(char *)"stats", (char *)"--paths", NULL});
	cr_assert(contains(r.out, "/ok/a "), "%s %s", r.out, r.err);
	cr_assert(contains(r.out, "/secret "), "%s", r.out);
	cr_assert(contains(r.out, "inspect.test"), "%s", r.out);
	th_result_done(&r);
}

/* The host's certificate is verified: one no one trusts is a 502 that says why. */
Test(inspect, a_bad_upstream_certificate_is_a_502_with_the_reason)
{
	_cleanup_free_ char *allow = NULL, *sh = NULL;
	struct th_result r;

	allow = fmt("{\"host\": \"bad.test:%u\", \"inspect\": true}", t.bad_port);
	set_allow(allow);
	sh = fmt("curl -sS -w '%%{http_code}\\n' https://bad.test:%u/x", t.bad_port);
	r = in_cell(sh);
	cr_assert(contains(r.out, "cell: the TLS connection to bad.test failed"), "%s %s", r.out,
		  r.err);
	cr_assert(contains(r.out, "self-signed certificate"), "%s", r.out);
	cr_assert(contains(r.out, "\n502\n"), "%s", r.out);
	th_result_done(&r);
}

/* A host without inspect stays a blind tunnel: a client that pins the host's own key still
 * gets through (and the cell's CA plays no part). */
Test(inspect, a_host_not_inspected_stays_a_blind_tunnel)
{
	_cleanup_free_ char *allow = NULL, *sh = NULL, *pin = NULL, *want = NULL;
	char *key[] = {(char *)"/bin/sh", (char *)"-c", NULL, NULL};
	struct th_result r;

	key[2] = fmt("openssl pkey -in %s/good.key -pubout -outform der | openssl dgst -sha256 "
		     "-binary | base64",
		     t.pki);
	th_run(NULL, key, t.env.v, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	pin = strndup(r.out, strcspn(r.out, "\n"));
	th_result_done(&r);
	free(key[2]);
	allow = fmt("\"blind.test:%u\", {\"host\": \"inspect.test:%u\", \"inspect\": true}",
		    t.good_port, t.good_port);
	set_allow(allow);
	sh = fmt("curl -sS --cacert %s/ca.pem --pinnedpubkey 'sha256//%s' "
		 "https://blind.test:%u/pinned; "
		 "curl -sS --cacert %s/ca.pem https://inspect.test:%u/x; echo \"exit $?\"",
		 t.pki, pin, t.good_port, t.pki, t.good_port);
	/* (the cell has the upstreams' CA at the same path: the test's directory is bound) */
	r = in_cell(sh);
	/* inspected, the cell sees the cell CA's certificate, which the upstreams' CA alone
	 * does not verify: curl's 60 */
	want = fmt("GET /pinned auth=None body=0\nexit 60\n");
	cr_assert(eq(str, r.out, want), "%s", r.err);
	th_result_done(&r);
}

/* On plain HTTP a rule's methods and paths hold without inspection; a tunnel to such a host
 * (which would hide its requests) is refused. */
Test(inspect, plain_http_requests_are_held_to_the_rule)
{
	_cleanup_free_ char *allow = NULL, *sh = NULL, *want = NULL;
	struct th_result r;

	allow = fmt("{\"host\": \"plain.test:%u\", \"methods\": [\"GET\"], \"paths\": "
		    "[\"/pub/*\"]}",
		    t.plain_port);
	set_allow(allow);
	sh = fmt("u=http://plain.test:%u; curl -sS $u/pub/a; curl -sS -X DELETE $u/pub/a; "
		 "curl -sS $u/pub/../etc/passwd --path-as-is; "
		 "curl -sS --path-as-is \"$u/pub/..;/secret\"; "
		 "curl -sS -H 'X-HTTP-Method-Override: DELETE' $u/pub/a; "
		 "curl -sS -p $u/pub/a; echo \"exit $?\"",
		 t.plain_port);
	r = in_cell(sh);
	want = fmt("GET /pub/a auth=None body=0\n"
		   "cell: DELETE /pub/a is not allowed for plain.test in webapp (methods: GET; "
		   "paths: /pub/*)\n"
		   "cell: GET /pub/../etc/passwd is not allowed for plain.test in webapp (its path "
		   "is not in plain form (\"//\", \".\" or \"..\" segments, ';', '#', '\\', or "
		   "such encoded))\n"
		   "cell: GET /pub/..;/secret is not allowed for plain.test in webapp (its path "
		   "is not in plain form (\"//\", \".\" or \"..\" segments, ';', '#', '\\', or "
		   "such encoded))\n"
		   "cell: a request with X-HTTP-Method-Override is not allowed for plain.test in "
		   "webapp (its rules decide by the method and path it names)\n"
		   "exit 56\n");
	cr_assert(eq(str, r.out, want), "%s", r.err);
	cr_assert(contains(r.err, "CONNECT tunnel failed, response 403"), "%s", r.err);
	th_result_done(&r);
}

/* The CA's key stays outside: no file the cell can read holds it. */
Test(inspect, the_cas_key_is_out_of_the_cells_reach)
{
	_cleanup_free_ char *allow = NULL, *key_path = NULL, *key = NULL, *sh = NULL;
	char line[128];
	const char *body;
	struct th_result r;

	allow = fmt("{\"host\": \"inspect.test:%u\", \"inspect\": true}", t.good_port);
	set_allow(allow);
	r = in_cell("true");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	key_path = th_join(t.home, ".local/share/cell/ca/ca.key");
	key = th_read(key_path);
	{
		struct stat st;

		cr_assert(eq(int, stat(key_path, &st), 0));
		cr_assert(eq(int, (int)(st.st_mode & 0777), 0600));
	}
	/* a line of the key's base64 (the second: the first may be a common prefix) */
	body = strchr(key, '\n') + 1;
	body = strchr(body, '\n') + 1;
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(body, "\n"), body);
	cr_assert(gt(sz, strlen(line), 20));
	/* every file the cell can read, but the system's own trees (read-only, older than the
	 * key) and the kernel's */
	sh = fmt("grep -rlsF -e '%s' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "
		 "--exclude-dir=usr --exclude-dir=nix; echo done",
		 line);
	r = in_cell(sh);
	cr_assert(eq(str, r.out, "done\n"), "%s", r.err);
	th_result_done(&r);
}

/* The user's config names the secret; the rule injects it. */
static void set_secret(void)
{
	_cleanup_free_ char *dir = th_join(t.home, ".config/cell");

	free(th_write(dir, "config.json",
		      "{\"secrets\": {\"github\": {\"command\": [\"printf\", \"%s\", "
		      "\"" REAL_TOKEN "\"]}}}"));
	th_chown_r(t.home, t.uid, t.gid);
}

/* The cell holds a placeholder; the proxy puts the real value in, on the inspected host only;
 * the real value, should it leak into the cell, cannot leave it for another host. */
Test(inspect, the_proxy_injects_the_secret_and_stops_it_going_elsewhere)
{
	_cleanup_free_ char *allow = NULL, *sh = NULL, *want = NULL, *logs = NULL;
	char *grep_logs[] = {(char *)"/bin/sh", (char *)"-c", NULL, NULL};
	struct th_result r;

	set_secret();
	allow = fmt("{\"host\": \"inspect.test:%u\", \"inspect\": true, \"inject\": "
		    "{\"header\": \"Authorization\", \"value\": \"Bearer ${secret:github}\"}}, "
		    "\"plain.test:%u\"",
		    t.good_port, t.plain_port);
	set_allow(allow);
	sh = fmt("u=https://inspect.test:%u; "
		 "curl -sS -H \"Authorization: Bearer $GITHUB_TOKEN\" $u/api; "
		 "curl -sS $u/none; "
		 /* nowhere in the cell: its processes' environments, the files it can read */
		 "grep -l '" REAL_TOKEN "' /proc/[0-9]*/environ; "
		 "grep -rlsF '" REAL_TOKEN "' / --exclude-dir=proc --exclude-dir=sys "
		 "--exclude-dir=dev --exclude-dir=usr --exclude-dir=nix; "
		 /* a value that leaked (here: written by the test) goes nowhere else */
		 "v=$(printf %%s " REAL_TOKEN "); p=http://plain.test:%u; "
		 "curl -sS -H \"X-Token: $v\" $p/h; curl -sS \"$p/q?t=$v\"; "
		 "curl -sS -d \"t=$v\" $p/b; curl -sS $p/fine",
		 t.good_port, t.plain_port);
	r = in_cell(sh);
	want = fmt("GET /api auth=real body=0\n"
		   "GET /none auth=real body=0\n"
		   "cell: a request to plain.test carries the value of secret github, which goes "
		   "only to the hosts whose rules inject it\n"
		   "cell: a request to plain.test carries the value of secret github, which goes "
		   "only to the hosts whose rules inject it\n"
		   "cell: a request to plain.test carries the value of secret github, which goes "
		   "only to the hosts whose rules inject it\n"
		   "GET /fine auth=None body=0\n");
	cr_assert(eq(str, r.out, want), "%s", r.err);
	th_result_done(&r);
	/* nor in any log of ours */
	logs = fmt("grep -rlsF '" REAL_TOKEN "' %s/.local/state %s/.local/share; echo done", t.home,
		   t.home);
	grep_logs[2] = logs;
	th_run(NULL, grep_logs, t.env.v, &r);
	cr_assert(eq(str, r.out, "done\n"), "%s", r.err);
	th_result_done(&r);
	/* cell explain shows the rule as written */
	r = cell((char *[]){(char *)"explain", NULL});
	cr_assert(contains(r.out, "Authorization: Bearer ${secret:github}"), "%s", r.out);
	cr_assert(not(contains(r.out, REAL_TOKEN)), "%s", r.out);
	th_result_done(&r);
}

/* A secret that cannot be read: the injecting host's requests get 502 saying why. */
Test(inspect, a_secret_that_cannot_be_read_is_a_502_that_says_why)
{
	_cleanup_free_ char *dir = th_join(t.home, ".config/cell"), *allow = NULL, *sh = NULL;
	struct th_result r;

	free(th_write(dir, "config.json",
		      "{\"secrets\": {\"github\": {\"env\": \"CELL_TEST_NO_SUCH_VARIABLE\"}}}"));
	th_chown_r(t.home, t.uid, t.gid);
	allow = fmt("{\"host\": \"inspect.test:%u\", \"inspect\": true, \"inject\": "
		    "{\"header\": \"Authorization\", \"value\": \"Bearer ${secret:github}\"}}",
		    t.good_port);
	set_allow(allow);
	sh = fmt("curl -sS -w '%%{http_code}\\n' https://inspect.test:%u/api", t.good_port);
	r = in_cell(sh);
	cr_assert(eq(str, r.out,
		     "cell: the Authorization header for inspect.test cannot be set: the proxy "
		     "holds no secret github (secret \"github\": the variable "
		     "CELL_TEST_NO_SUCH_VARIABLE is not set)\n502\n"),
		  "%s", r.err);
	th_result_done(&r);
}

/* git's smart HTTP over TLS: git http-backend as CGI, for the repositories in argv[2]. */
static const char git_py[] =
	"import http.server, os, ssl, subprocess, sys\n"
	"class G(http.server.BaseHTTPRequestHandler):\n"
	"    protocol_version = 'HTTP/1.1'\n"
	"    def log_message(self, *a): pass\n"
	"    def run(self):\n"
	"        path, _, query = self.path.partition('?')\n"
	"        n = int(self.headers.get('Content-Length') or 0)\n"
	"        body = self.rfile.read(n) if n else b''\n"
	"        env = dict(os.environ, GIT_PROJECT_ROOT=sys.argv[2], GIT_HTTP_EXPORT_ALL='1',\n"
	"                   REQUEST_METHOD=self.command, PATH_INFO=path, QUERY_STRING=query,\n"
	"                   CONTENT_TYPE=self.headers.get('Content-Type', ''),\n"
	"                   CONTENT_LENGTH=str(n), REMOTE_USER='t', REMOTE_ADDR='127.0.0.1',\n"
	"                   HTTP_CONTENT_ENCODING=self.headers.get('Content-Encoding', ''),\n"
	"                   GIT_PROTOCOL=self.headers.get('Git-Protocol', ''))\n"
	"        out = subprocess.run(['git', 'http-backend'], input=body, env=env,\n"
	"                             capture_output=True).stdout\n"
	"        head, _, rest = out.partition(b'\\r\\n\\r\\n')\n"
	"        status, fields = 200, []\n"
	"        for line in head.decode().split('\\r\\n'):\n"
	"            k, _, v = line.partition(': ')\n"
	"            if k.lower() == 'status': status = int(v.split()[0])\n"
	"            elif k: fields.append((k, v))\n"
	"        self.send_response(status)\n"
	"        for k, v in fields: self.send_header(k, v)\n"
	"        self.send_header('Content-Length', str(len(rest)))\n"
	"        self.end_headers()\n"
	"        self.wfile.write(rest)\n"
	"    do_GET = do_POST = run\n"
	"s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), G)\n"
	"c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
	"c.load_cert_chain(sys.argv[1] + '.pem', sys.argv[1] + '.key')\n"
	"s.socket = c.wrap_socket(s.socket, server_side=True)\n"
	"print(s.server_address[1], flush=True)\n"
	"s.serve_forever()\n";

/* As @github-read allows: git clone works through the inspected host, git push is refused
 * (its POST to git-receive-pack) with the rule's message in cell log. */
Test(inspect, git_clones_over_https_and_a_push_is_refused_by_the_rule)
{
	_cleanup_free_ char *repos = th_join(t.tmp, "repos"), *cert = th_join(t.pki, "good"),
			    *make = NULL, *allow = NULL, *sh = NULL;
	char *gen[] = {(char *)"/bin/sh", (char *)"-c", NULL, NULL};
	char *serve[] = {
		(char *)"/usr/bin/python3", (char *)"-c", (char *)git_py, cert, repos, NULL};
	struct th_result r;
	unsigned port;
	pid_t git;

	if (access("/usr/bin/git", X_OK) != 0)
		th_skip("git is not installed (make deps)");
	make = fmt(
		"set -e; mkdir -p %s; cd %s; git init -q --bare -b main app.git; "
		"git init -q -b main w; cd w; echo hello > README; git add README; "
		"git -c user.name=t -c user.email=t@t commit -qm one; git push -q ../app.git main",
		repos, repos);
	gen[2] = make;
	th_run(NULL, gen, t.env.v, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	git = th_spawn_server(NULL, serve, t.env.v, "%u", &port);
	allow = fmt("{\"host\": \"inspect.test:%u\", \"inspect\": true, \"methods\": [\"GET\", "
		    "\"HEAD\"]}, {\"host\": \"inspect.test:%u\", \"inspect\": true, \"methods\": "
		    "[\"POST\"], \"paths\": [\"/*/git-upload-pack\"]}",
		    port, port);
	set_allow(allow);
	sh = fmt("git clone -q https://inspect.test:%u/app.git && cat app/README && cd app && "
		 "echo more >> README && git -c user.name=t -c user.email=t@t commit -qam two && "
		 "git push -q origin main; echo \"push $?\"",
		 port);
	r = in_cell(sh);
	cr_assert(eq(str, r.out, "hello\npush 1\n"), "%s", r.err);
	cr_assert(contains(r.err, "403"), "%s", r.err);
	th_result_done(&r);
	r = cell((char *[]){(char *)"log", NULL});
	cr_assert(contains(r.out,
			   "/app.git/git-receive-pack  denied: POST /app.git/git-receive-pack "
			   "is not allowed for inspect.test in webapp (methods: GET, HEAD, or "
			   "methods: POST; paths: /*/git-upload-pack)"),
		  "%s", r.out);
	th_result_done(&r);
	kill(git, SIGKILL);
	waitpid(git, NULL, 0);
}

/* Python in the cell: an inspected tunnel that never starts its TLS; it says so and stays. */
static const char silent_py[] =
	"import os, socket, sys, time, urllib.parse\n"
	"p = urllib.parse.urlsplit(os.environ['https_proxy'])\n"
	"h, port = sys.argv[1], sys.argv[2]\n"
	"s = socket.create_connection((p.hostname, p.port))\n"
	"s.sendall(('CONNECT %s:%s HTTP/1.1\\r\\nHost: %s:%s\\r\\n\\r\\n' % (h, port, h, port)).encode())\n"
	"head = b''\n"
	"while not head.endswith(b'\\r\\n\\r\\n'): head += s.recv(1)\n"
	"print(head.split(b'\\r\\n')[0].decode(), flush=True)\n"
	"open('silent', 'w').close()\n"
	"time.sleep(60)\n";

/* The CPU time (ticks) of the test user's cell proxy, or -1. */
static long proxy_ticks(void)
{
	DIR *d = opendir("/proc");
	long ticks = -1;

	for (struct dirent *e; d && ticks < 0 && (e = readdir(d));) {
		_cleanup_free_ char *cmdline = NULL, *stat = NULL, *path = NULL;
		size_t n = 0;
		unsigned long ut, st;
		const char *rest;

		if (atoi(e->d_name) <= 0)
			continue;
		size_t len = 0;

		path = fmt("/proc/%s/cmdline", e->d_name);
		if (cell_read_file(path, 0, 65536, &cmdline, &len) < 0)
			continue;
		n = strlen(cmdline);
		if (n + 1 >= len || !streq(cmdline, t.stage.proxy))
			continue;
		free(path);
		path = fmt("/proc/%s/stat", e->d_name);
		stat = th_read(path);
		rest = stat ? strrchr(stat, ')') : NULL;
		/* fields 14 and 15: utime, stime */
		if (rest && sscanf(rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				   &ut, &st) == 2)
			ticks = (long)(ut + st);
	}
	if (d)
		closedir(d);
	return ticks;
}

/*
 * A client that opens an inspected tunnel and never says a word: the proxy gives up on it (its
 * request head's timeout, 10 s, then the handshake's), and waits for nothing meanwhile: it does
 * not spin on the half-closed pair.
 */
Test(inspect, a_silent_tunnel_does_not_keep_the_proxy_busy)
{
	_cleanup_free_ char *allow = NULL, *port = NULL, *done = th_join(t.proj, "silent");
	char *argv[] = {t.stage.cell,
			(char *)"run",
			(char *)"--",
			(char *)"/usr/bin/python3",
			(char *)"silent.py",
			(char *)"inspect.test",
			NULL,
			NULL};
	long before, after;
	pid_t pid;

	allow = fmt("{\"host\": \"inspect.test:%u\", \"inspect\": true}", t.good_port);
	set_allow(allow);
	free(th_write(t.proj, "silent.py", silent_py));
	th_chown_r(t.proj, t.uid, t.gid);
	port = fmt("%u", t.good_port);
	argv[6] = port;
	pid = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env.v);
	cr_assert(th_wait_for_file(done, 20), "the tunnel was not made");
	/* past the head's timeout: the proxy has answered 408 on the pair and closed its end */
	sleep(12);
	before = proxy_ticks();
	cr_assert(ge(long, before, 0), "no proxy found");
	sleep(2);
	after = proxy_ticks();
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	/* (spinning, it would take all of the 2 s: 200 ticks at 100 Hz) */
	cr_assert(lt(long, after - before, sysconf(_SC_CLK_TCK) / 2), "the proxy took %ld ticks",
		  after - before);
}

/*
 * A hostile upstream: a response head just short of the proxy's buffer, its fields written
 * "name:value" (no space, which the proxy's rewrite adds), so that the rewritten head would
 * run past the buffer's end.
 */
static const char hostile_py[] =
	"import socket\n"
	"s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(4)\n"
	"print(s.getsockname()[1], flush=True)\n"
	"while True:\n"
	"    c, _ = s.accept()\n"
	"    r = b''\n"
	"    while b'\\r\\n\\r\\n' not in r: r += c.recv(4096)\n"
	"    total = 256 * 1024 - 80\n"
	"    head = b'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n'\n"
	"    fields = [b'x%02d:' % i for i in range(98)]\n"
	"    fill = total - len(head) - 2 - sum(len(f) + 2 for f in fields)\n"
	"    per = fill // len(fields)\n"
	"    for i, f in enumerate(fields):\n"
	"        n = per + (fill - per * len(fields) if i == 0 else 0)\n"
	"        head += f + b'v' * n + b'\\r\\n'\n"
	"    c.sendall(head + b'\\r\\n')\n"
	"    c.close()\n";

/* The proxy refuses a response head its rewrite would grow past its buffer, and goes on. */
Test(inspect, a_response_head_that_would_outgrow_the_buffer_is_refused)
{
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)hostile_py, NULL};
	_cleanup_free_ char *allow = NULL, *sh = NULL, *want = NULL;
	struct th_result r;
	unsigned port;
	pid_t hostile = th_spawn_server(NULL, argv, t.env.v, "%u", &port);

	allow = fmt("\"hostile.test:%u\", \"plain.test:%u\"", port, t.plain_port);
	set_allow(allow);
	sh = fmt("curl -sS -w '%%{http_code}\\n' http://hostile.test:%u/x; "
		 "curl -sS http://plain.test:%u/after",
		 port, t.plain_port);
	r = in_cell(sh);
	want = fmt("cell: hostile.test:%u sent a bad response: a head too large\n502\n"
		   "GET /after auth=None body=0\n",
		   port);
	cr_assert(eq(str, r.out, want), "%s", r.err);
	th_result_done(&r);
	kill(hostile, SIGKILL);
	waitpid(hostile, NULL, 0);
}

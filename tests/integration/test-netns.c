/* SPDX-License-Identifier: MIT */
/*
 * Proxy cells without privilege (network.isolation "netns"; docs/design.md §3): cell installed
 * into a temporary prefix with cell-session NOT setuid, cells run by an unprivileged user (the
 * test user as root, else the caller). The cell gets a network namespace of its own; its proxy's
 * socket is made in it; the proxy, outside, reaches the allowed hosts.
 *
 * Suite netns_held (root: cell-session setuid) runs the cases that apply to a netns cell whose
 * config sets limits, which cell-session opens for them: the same cell in a cgroup of its own,
 * with a BPF cell's policy on top of its namespace (what the namespace refuses, the kernel's
 * policy refuses first: EPERM).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf.h"
#include "helpers.h"
#include "macro.h"

static struct {
	char *tmp, *home, *proj, *www;
	struct th_stage stage;
	uid_t uid;
	gid_t gid;
	struct th_env env;
	pid_t upstream, wide;
	unsigned port;	    /* the upstream's, on the host's loopback */
	unsigned wide_port; /* a server's on every address of the host */
	int abstract_fd;    /* a Unix socket listening at an abstract address, outside */
	char abstract[64];
	bool held; /* suite netns_held: cell-session setuid, and the config sets limits */
} t;

/* Python in the cell: each argument is one probe; one line of result each. */
static const char net_py[] =
	"import os, socket, sys, urllib.request\n"
	"def tcp(host, port):\n"
	"    s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)\n"
	"    s.settimeout(5)\n"
	"    try: s.connect((host, int(port))); return 'ok'\n"
	"    except OSError as e: return 'errno %d' % (e.errno or 0)\n"
	"    finally: s.close()\n"
	"def unix(addr):\n"
	"    s = socket.socket(socket.AF_UNIX)\n"
	"    try: s.connect('\\0' + addr[1:]); return 'ok'\n"
	"    except OSError as e: return 'errno %d' % e.errno\n"
	"    finally: s.close()\n"
	"def fetch(url):\n"
	"    try:\n"
	"        with urllib.request.urlopen(url, timeout=10) as r:\n"
	"            return '%d %d' % (r.status, len(r.read()))\n"
	"    except urllib.error.HTTPError as e: return '%d' % e.code\n"
	"    except urllib.error.URLError as e: return 'error %s' % e.reason\n"
	"for a in sys.argv[1:]:\n"
	"    op, *args = a.split()\n"
	"    print({'tcp': tcp, 'unix': unix, 'fetch': fetch}[op](*args), flush=True)\n";

static const char upstream_py[] =
	"import http.server, functools, sys\n"
	"class H(http.server.SimpleHTTPRequestHandler):\n"
	"    def log_message(self, *a): pass\n"
	"s = http.server.HTTPServer((sys.argv[2], 0), functools.partial(H, directory=sys.argv[1]))\n"
	"print(s.server_address[1], flush=True)\n"
	"s.serve_forever()\n";

static pid_t server(const char *addr, unsigned *ret_port)
{
	char *argv[] = {(char *)"/usr/bin/python3",
			(char *)"-c",
			(char *)upstream_py,
			t.www,
			(char *)addr,
			NULL};

	return th_spawn_server(NULL, argv, t.env.v, "%u", ret_port);
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

/* .cell.json with this network section, allowed by the test user. */
static void write_network(const char *network)
{
	_cleanup_free_ char *json = NULL;
	struct th_result r;

	cr_assert(ge(int,
		     asprintf(&json, "{\"name\": \"netns\", \"network\": %s%s}", network,
			      t.held ? ", \"limits\": {\"memory\": \"512M\", \"pids\": 512}" : ""),
		     0));
	free(th_write(t.proj, ".cell.json", json));
	th_chown_r(t.proj, t.uid, t.gid);
	r = cell((char *[]){(char *)"allow", NULL});
	cr_assert(eq(int, r.status, 0), "cell allow: %s", r.err);
	th_result_done(&r);
}

/* .cell.json: a proxy cell, the upstream allowed as registry.test, and extra network members. */
static void set_config(const char *extra)
{
	_cleanup_free_ char *network = NULL;

	cr_assert(
		ge(int,
		   asprintf(&network,
			    "{\"mode\": \"proxy\", \"allow\": [\"registry.test:%u\"], "
			    "\"resolve\": {\"registry.test\": \"127.0.0.1\", "
			    "\"denied.test\": \"127.0.0.1\"}%s%s}",
			    t.port, t.held ? ", \"isolation\": \"netns\"" : "", extra ? extra : ""),
		   0));
	write_network(network);
}

static void setup_with(bool held)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(&t, 0, sizeof(t));
	t.abstract_fd = -1;
	t.held = held;
	if (held && geteuid() != 0)
		th_skip("needs root (to install cell-session setuid)");
	th_cell_user(&t.uid, &t.gid);
	t.tmp = th_mkdtemp();
	chmod(t.tmp, 0755);
	/* cell-session as make install leaves it without SETUID=1: no privilege (held: with) */
	th_stage(&t.stage);
	if (held)
		th_stage_setuid(&t.stage);
	t.home = th_join(t.tmp, "home");
	t.proj = th_join(t.tmp, "proj");
	t.www = th_join(t.tmp, "www");
	free(th_write(t.proj, "net.py", net_py));
	free(th_write(t.www, "hello", "hello\n"));
	free(th_write(t.home, ".profile", "\n"));
	th_chown_r(t.tmp, t.uid, t.gid);
	th_env_user(&t.env, t.home);
	t.upstream = server("127.0.0.1", &t.port);
	t.wide = server("0.0.0.0", &t.wide_port);
	/* an abstract Unix socket of the host's (as X11's, D-Bus's) */
	snprintf(t.abstract, sizeof(t.abstract), "@cell-netns-test-%d", (int)getpid());
	t.abstract_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path + 1, t.abstract + 1, strlen(t.abstract) - 1);
	cr_assert(eq(int,
		     bind(t.abstract_fd, (struct sockaddr *)&sa,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(t.abstract))),
		     0));
	cr_assert(eq(int, listen(t.abstract_fd, 16), 0));
	set_config(NULL);
}

static void teardown(void)
{
	struct th_result r = cell((char *[]){(char *)"down", NULL});

	th_result_done(&r);
	if (t.abstract_fd >= 0)
		close(t.abstract_fd);
	if (t.upstream > 0) {
		kill(t.upstream, SIGKILL);
		waitpid(t.upstream, NULL, 0);
	}
	if (t.wide > 0) {
		kill(t.wide, SIGKILL);
		waitpid(t.wide, NULL, 0);
	}
	th_env_done(&t.env);
	th_rm_rf(t.tmp);
	free(t.tmp);
	free(t.home);
	free(t.proj);
	free(t.www);
	th_stage_done(&t.stage);
}

static void setup(void)
{
	setup_with(false);
}

static void setup_held(void)
{
	setup_with(true);
}

TestSuite(netns, .init = setup, .fini = teardown, .timeout = 90);
TestSuite(netns_held, .init = setup_held, .fini = teardown, .timeout = 90);

/* The host's first address that is not loopback (where the wide server is reachable). */
static void host_address(char out[INET_ADDRSTRLEN])
{
	struct ifaddrs *ifs, *i;

	out[0] = '\0';
	cr_assert(eq(int, getifaddrs(&ifs), 0));
	for (i = ifs; i && !out[0]; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !(i->ifa_flags & IFF_LOOPBACK))
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out,
				  INET_ADDRSTRLEN);
	freeifaddrs(ifs);
}

/* python3 net.py PROBES... as the test user: in a cell (with or without the shim), or not. */
static struct th_result probes(bool in_cell, bool shim, char *const list[])
{
	char *argv[32];
	size_t n = 0;
	struct th_result r;

	if (in_cell) {
		argv[n++] = t.stage.cell;
		argv[n++] = (char *)"run";
		argv[n++] = (char *)"--";
	}
	if (in_cell && !shim) {
		argv[n++] = (char *)"/usr/bin/env";
		argv[n++] = (char *)"LD_PRELOAD=";
	}
	argv[n++] = (char *)"/usr/bin/python3";
	argv[n++] = (char *)"net.py";
	for (size_t i = 0; list[i] && n < ELEMENTSOF(argv) - 1; i++)
		argv[n++] = list[i];
	argv[n] = NULL;
	th_run_as(t.uid, t.gid, t.proj, argv, t.env.v, &r);
	return r;
}

static bool contains(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle);
}

static char *fmt(const char *f, ...) _printf_(1, 2);
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	cr_assert(ge(int, vasprintf(&s, f, ap), 0));
	va_end(ap);
	return s;
}

static void reaches_its_proxy_and_nothing_else(void)
{
	/* (held: the kernel's policy refuses before the namespace could: EPERM) */
	const char *refused = t.held ? "errno 1" : "errno 111",
		   *unrouted = t.held ? "errno 1" : "errno 101";
	_cleanup_free_ char *want = NULL, *want_shim = NULL;
	char there[INET_ADDRSTRLEN];
	char *list[8];
	struct th_result r;

	host_address(there);
	if (!there[0])
		th_skip("this machine has no address but loopback");
	list[0] = fmt("fetch http://registry.test:%u/hello", t.port);
	list[1] = fmt("fetch http://denied.test:%u/hello", t.port);
	list[2] = fmt("tcp 127.0.0.1 %u", t.port);
	list[3] = fmt("tcp %s %u", there, t.wide_port);
	list[4] = fmt("unix %s", t.abstract);
	list[5] = NULL;
	/* the positive control: outside a cell, the user reaches the listeners directly */
	r = probes(false, false, list + 2);
	cr_assert(eq(str, r.out, "ok\nok\nok\n"), "%s", r.err);
	th_result_done(&r);
	/* the kernel's part (no shim): only the proxy; the host's loopback and its abstract
	 * sockets are another namespace's (ECONNREFUSED), other addresses have no route */
	r = probes(true, false, list);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	want = fmt("200 6\n403\n%s\n%s\n%s\n", refused, unrouted,
		   t.held && cell_bpf_has_unix_hooks() ? "errno 1" : "errno 111");
	cr_assert(eq(str, r.out, want), "%s", r.err);
	cr_assert(not(contains(r.err, "no network")), "%s", r.err);
	th_result_done(&r);
	/* with the shim, the same, but the connect to another address is the proxy's to refuse,
	 * and it says so */
	r = probes(true, true, list);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	want_shim = fmt("200 6\n403\n%s\nerrno 111\n%s\n", refused,
			t.held && cell_bpf_has_unix_hooks() ? "errno 1" : "errno 111");
	cr_assert(eq(str, r.out, want_shim), "%s", r.err);
	cr_assert(contains(r.err, "is not in netns's network allowlist"), "%s", r.err);
	th_result_done(&r);
	for (size_t i = 0; list[i]; i++)
		free(list[i]);
	/* the proxy counted: two allowed requests, two denied */
	r = cell((char *[]){(char *)"stats", (char *)"--json", NULL});
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "\"registry.test\":{\"requests\":2,"), "%s", r.out);
	cr_assert(contains(r.out, "\"denied.test\":{\"requests\":0,\"tunnels\":0,\"up\":0,"
				  "\"down\":0,\"denied\":2}"),
		  "%s", r.out);
	/* two cells, each counted by its proxy alone (no kernel counters): stats says so */
	cr_assert(contains(r.out, "\"netns_cells\":2"), "%s", r.out);
	cr_assert(not(contains(r.out, "\"kernel\"")), "%s", r.out);
	th_result_done(&r);
	r = cell((char *[]){(char *)"stats", NULL});
	cr_assert(contains(r.out, "proxy: 2 cells of their own network namespace (no kernel "
				  "counters: the hosts below are what the proxy counted)\n"),
		  "%s", r.out);
	th_result_done(&r);
}

Test(netns, a_proxy_cell_without_privilege_reaches_its_proxy_and_nothing_else)
{
	reaches_its_proxy_and_nothing_else();
}

Test(netns_held, a_held_proxy_cell_reaches_its_proxy_and_nothing_else)
{
	reaches_its_proxy_and_nothing_else();
}

/* curl, with the proxy's variables and without (the shim takes it to the proxy), and without
 * the shim a client that ignores them has no way out. */
Test(netns, real_clients_go_through_the_proxy)
{
	char *url = fmt("http://registry.test:%u/hello", t.port), *sh;
	struct th_result r;

	sh = fmt("curl -sS -o /dev/null -w '%%{http_code}\\n' %s; "
		 "curl -sS --noproxy '*' -o /dev/null -w '%%{http_code}\\n' %s; "
		 "LD_PRELOAD= curl -sS --noproxy '*' -m 5 %s; echo \"exit $?\"",
		 url, url, url);
	r = cell(
		(char *[]){(char *)"run", (char *)"--", (char *)"/bin/sh", (char *)"-c", sh, NULL});
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	/* (no name resolves in the cell but through the proxy: curl's 6) */
	cr_assert(eq(str, r.out, "200\n200\nexit 6\n"), "%s", r.err);
	th_result_done(&r);
	free(sh);
	free(url);
}

/* The cell's commands share its network namespace: a server one of them starts is reached by
 * another (and cell up's port probe finds it), never by the host. */
Test(netns, the_sessions_members_share_its_network)
{
	_cleanup_free_ char *json = NULL, *inside = NULL;
	char *control[] = {NULL, NULL};
	struct th_result r;

	cr_assert(ge(int,
		     asprintf(&json,
			      "{\"name\": \"netns\", \"network\": {\"mode\": \"proxy\"},\n"
			      " \"processes\": {\"web\": {\"exec\": \"exec python3 -m http.server "
			      "--bind 127.0.0.1 8719\", \"ready\": {\"port\": 8719}}}}\n"),
		     0));
	free(th_write(t.proj, ".cell.json", json));
	th_chown_r(t.proj, t.uid, t.gid);
	r = cell((char *[]){(char *)"allow", NULL});
	th_result_done(&r);
	r = cell((char *[]){(char *)"up", (char *)"-d", NULL});
	cr_assert(eq(int, r.status, 0), "cell up: %s%s", r.out, r.err);
	cr_assert(contains(r.err, "web is ready"), "%s", r.err);
	th_result_done(&r);
	inside = fmt("tcp 127.0.0.1 8719");
	control[0] = inside;
	r = probes(true, false, control);
	cr_assert(eq(str, r.out, "ok\n"), "a member did not reach cell up's server: %s", r.err);
	th_result_done(&r);
	r = probes(false, false, control);
	cr_assert(eq(str, r.out, "errno 111\n"), "the host reached the cell's server: %s", r.out);
	th_result_done(&r);
	r = cell((char *[]){(char *)"down", NULL});
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
}

Test(netns, bpf_isolation_without_privilege_is_refused_with_the_reason)
{
	struct th_result r;

	set_config(", \"isolation\": \"bpf\"");
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"true", NULL});
	cr_assert(eq(int, r.status, 2), "%s%s", r.out, r.err);
	cr_assert(contains(r.err, "network.isolation: \"bpf\" needs cell-session's privilege, and "
				  "cell-session is not setuid root"),
		  "%s", r.err);
	th_result_done(&r);
	r = cell((char *[]){(char *)"explain", NULL});
	cr_assert(contains(r.out, "  isolation: bpf\n"), "%s", r.out);
	th_result_done(&r);
	set_config(NULL);
	r = cell((char *[]){(char *)"explain", NULL});
	cr_assert(contains(r.out, "  isolation: netns (auto: cell-session is not setuid root"),
		  "%s", r.out);
	th_result_done(&r);
}

/* A free port on the host's loopback (bound, then let go). */
static unsigned free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, getsockname(fd, (struct sockaddr *)&a, &len), 0));
	close(fd);
	return ntohs(a.sin_port);
}

/* network.forward: a dev server in the cell is the host's at the forwarded port, counted; and
 * network.local_ports: a service of the host's is the cell's, at the same port. */
static void forwarded_and_local_ports(void)
{
	unsigned host_port = free_port(), cell_port = 18731;
	_cleanup_free_ char *extra = NULL, *sh = NULL, *url = NULL, *ready = NULL;
	char *control[] = {NULL, NULL};
	struct th_result r;
	pid_t member;

	cr_assert(ge(int,
		     asprintf(&extra, ", \"forward\": [\"%u:%u\"], \"local_ports\": [%u]",
			      host_port, cell_port, t.port),
		     0));
	set_config(extra);
	ready = th_join(t.proj, "ready");
	/* a member that serves the project at cell_port, and says what the host's service at
	 * t.port (a local port) answers */
	sh = fmt("python3 -m http.server --bind 127.0.0.1 %u >/dev/null 2>&1 & "
		 "python3 net.py 'tcp 127.0.0.1 %u' 'fetch http://127.0.0.1:%u/hello' > local.out; "
		 "sleep 0.5; touch ready; sleep 20",
		 cell_port, cell_port, t.port);
	member = th_spawn_as(t.uid, t.gid, t.proj,
			     (char *[]){t.stage.cell, (char *)"run", (char *)"--",
					(char *)"/bin/sh", (char *)"-c", sh, NULL},
			     t.env.v);
	cr_assert(th_wait_for_file(ready, 20), "the member did not start");
	{
		_cleanup_free_ char *path = th_join(t.proj, "local.out");
		_cleanup_free_ char *out = th_read(path);

		/* (the server was still starting at the first probe, or not) */
		cr_assert(contains(out, "200 6\n"), "the cell did not reach the host's service: %s",
			  out);
	}
	/* the host reaches the cell's server at the forwarded port, and only there */
	control[0] = fmt("fetch http://127.0.0.1:%u/net.py", host_port);
	r = probes(false, false, control);
	free(url);
	url = fmt("200 %zu\n", strlen(net_py));
	cr_assert(eq(str, r.out, url), "%s", r.err);
	th_result_done(&r);
	free(control[0]);
	control[0] = fmt("tcp 127.0.0.1 %u", cell_port);
	r = probes(false, false, control);
	cr_assert(eq(str, r.out, "errno 111\n"), "%s", r.err);
	th_result_done(&r);
	free(control[0]);
	r = cell((char *[]){(char *)"status", NULL});
	free(url);
	url = fmt("  forward 127.0.0.1:%u -> the cell's port %u\n", host_port, cell_port);
	cr_assert(contains(r.out, url), "%s", r.out);
	th_result_done(&r);
	kill(member, SIGTERM);
	waitpid(member, NULL, 0);
	/* the session closed, the proxy wrote its counts: one connection each way */
	for (int i = 0; i < 50; i++) {
		r = cell((char *[]){(char *)"stats", (char *)"--json", NULL});
		if (contains(r.out, "\"forward:"))
			break;
		th_result_done(&r);
		usleep(100000);
	}
	free(url);
	url = fmt("\"forward:%u\":{\"requests\":0,\"tunnels\":1,", host_port);
	cr_assert(contains(r.out, url), "%s", r.out);
	free(url);
	url = fmt("\"local:%u\":{\"requests\":0,\"tunnels\":", t.port);
	cr_assert(contains(r.out, url), "%s", r.out);
	th_result_done(&r);
}

Test(netns, forwarded_and_local_ports_are_relayed_and_counted)
{
	forwarded_and_local_ports();
}

/* (held: the proxy's socket, the relays' listeners and the forwarded connections are made by
 * the cell's init, so the kernel's policy takes them for the cell's own) */
Test(netns_held, forwarded_and_local_ports_of_a_held_cell_are_relayed)
{
	forwarded_and_local_ports();
}

/* .cell.json: set_config's, with one forward. */
static void set_forward(unsigned host_port, unsigned cell_port)
{
	_cleanup_free_ char *extra = NULL;

	cr_assert(ge(int, asprintf(&extra, ", \"forward\": [\"%u:%u\"]", host_port, cell_port), 0));
	set_config(extra);
}

/* The host's curl of url (a forwarded port), as the test user: its HTTP code ("000": none). */
static char *host_curl(const char *url)
{
	char *argv[] = {(char *)"/usr/bin/curl",
			(char *)"-s",
			(char *)"-m",
			(char *)"5",
			(char *)"-o",
			(char *)"/dev/null",
			(char *)"-w",
			(char *)"%{http_code}",
			(char *)url,
			NULL};
	struct th_result r;
	char *code;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env.v, &r);
	code = strdup(r.out);
	th_result_done(&r);
	return code;
}

/* A forwarded connection that comes before the cell's server listens fails alone: the forward
 * serves once the server is up (held: the kernel's policy refuses the init's connect, EPERM, as
 * the namespace refuses it, ECONNREFUSED, in a cell of its own). */
static void forward_before_the_server(void)
{
	unsigned host_port = free_port(), cell_port = 18733;
	_cleanup_free_ char *sh = NULL, *url = NULL, *ready = NULL, *go = NULL, *code = NULL;
	pid_t member;
	int i;

	set_forward(host_port, cell_port);
	ready = th_join(t.proj, "ready");
	go = th_join(t.proj, "go");
	sh = fmt("touch ready; while [ ! -e go ]; do sleep 0.1; done; "
		 "exec python3 -m http.server --bind 127.0.0.1 %u >/dev/null 2>&1",
		 cell_port);
	member = th_spawn_as(t.uid, t.gid, t.proj,
			     (char *[]){t.stage.cell, (char *)"run", (char *)"--",
					(char *)"/bin/sh", (char *)"-c", sh, NULL},
			     t.env.v);
	cr_assert(th_wait_for_file(ready, 20), "the cell did not start");
	url = fmt("http://127.0.0.1:%u/net.py", host_port);
	code = host_curl(url);
	cr_assert(eq(str, code, "000"), "nothing listens in the cell yet: %s", code);
	free(th_write(t.proj, "go", ""));
	for (i = 0; i < 50; i++) {
		free(code);
		code = host_curl(url);
		if (streq(code, "200"))
			break;
		usleep(100000);
	}
	cr_assert(eq(str, code, "200"), "the forward gave up after its first failure");
	kill(member, SIGTERM);
	waitpid(member, NULL, 0);
}

Test(netns, a_forwarded_connection_before_the_server_fails_alone)
{
	forward_before_the_server();
}

Test(netns_held, a_forwarded_connection_before_the_server_fails_alone)
{
	forward_before_the_server();
}

/* A forwarded port another program holds is a clear error, and the cell does not start. */
Test(netns, a_forwarded_port_in_use_is_a_clear_error)
{
	_cleanup_free_ char *extra = NULL, *want = NULL;
	struct th_result r;

	cr_assert(ge(int, asprintf(&extra, ", \"forward\": [%u]", t.port), 0));
	set_config(extra);
	r = cell((char *[]){(char *)"run", (char *)"--", (char *)"true", NULL});
	cr_assert(not(eq(int, r.status, 0)));
	want = fmt("network.forward[0]: the host's 127.0.0.1:%u cannot be the cell's port %u: "
		   "Address already in use (another program listens there",
		   t.port, t.port);
	cr_assert(contains(r.err, want), "%s", r.err);
	th_result_done(&r);
}

/* The cell tries to stop what makes the sockets for its forwarded ports (PID 1 of its session,
 * which it cannot signal; any other init there is), and the host connects there again and
 * again: the forward goes on serving, and so does the proxy the cell's own traffic. */
Test(netns, a_cell_cannot_stop_the_making_of_its_forwarded_connections)
{
	unsigned host_port = free_port(), cell_port = 18733;
	_cleanup_free_ char *sh = NULL, *ready = NULL, *out = NULL, *path = NULL, *want = NULL,
			    *done = NULL;
	char *control[] = {NULL, NULL};
	struct th_result r;
	int fds[300];
	pid_t member;

	set_forward(host_port, cell_port);
	ready = th_join(t.proj, "stopped");
	done = th_join(t.proj, "done");
	sh = fmt("python3 -m http.server --bind 127.0.0.1 %u >/dev/null 2>&1 & sleep 0.5; "
		 "kill -STOP 1; "
		 "for p in /proc/[0-9]*; do n=${p#/proc/}; [ $n != 1 ] && "
		 "[ \"$(cat $p/comm 2>/dev/null)\" = init ] && kill -STOP $n; done; "
		 "touch stopped; while [ ! -e go ]; do sleep 0.1; done; "
		 "python3 net.py 'fetch http://registry.test:%u/hello' > fetched; "
		 "while [ ! -e done ]; do sleep 0.1; done",
		 cell_port, t.port);
	member = th_spawn_as(t.uid, t.gid, t.proj,
			     (char *[]){t.stage.cell, (char *)"run", (char *)"--",
					(char *)"/bin/sh", (char *)"-c", sh, NULL},
			     t.env.v);
	cr_assert(th_wait_for_file(ready, 20), "the member did not start");
	for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
		struct sockaddr_in to = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)host_port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		(void)connect(fds[i], (struct sockaddr *)&to, sizeof(to));
	}
	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		close(fds[i]);
	free(th_write(t.proj, "go", ""));
	th_chown_r(t.proj, t.uid, t.gid);
	path = th_join(t.proj, "fetched");
	cr_assert(th_wait_for_file(path, 20), "the cell's fetch never ended");
	for (int i = 0; i < 50; i++) {
		free(out);
		out = th_read(path);
		if (out && strchr(out, '\n'))
			break;
		usleep(100000);
	}
	cr_assert(eq(str, out, "200 6\n"), "the proxy stopped serving the cell: %s", out);
	/* and the forward still serves the host */
	control[0] = fmt("fetch http://127.0.0.1:%u/net.py", host_port);
	want = fmt("200 %zu\n", strlen(net_py));
	r = probes(false, false, control);
	cr_assert(eq(str, r.out, want), "the forward stopped: %s %s", r.out, r.err);
	th_result_done(&r);
	free(control[0]);
	free(th_write(t.proj, "done", ""));
	waitpid(member, NULL, 0);
}

/* An organisation's CA (in the user's home, which the cell does not have), a certificate for
 * tls.test signed by it, and openssl s_server with it on the host's loopback. */
static pid_t tls_server(unsigned *ret_port, char **ret_ca)
{
	_cleanup_free_ char *dir = th_join(t.home, "corp"), *sh = NULL;
	char *gen[] = {(char *)"/bin/sh", (char *)"-c", NULL, NULL};
	char *serve[] = {(char *)"/usr/bin/python3", (char *)"-c", NULL, NULL};
	struct th_result r;
	pid_t pid;

	if (access("/usr/bin/openssl", X_OK) != 0)
		th_skip("openssl is not installed (make deps)");
	sh = fmt(
		"set -e; mkdir -p %s; cd %s; "
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
		"-subj /CN=corp-ca -keyout ca.key -out ca.pem 2>/dev/null; "
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=tls.test "
		"-keyout leaf.key -out leaf.csr 2>/dev/null; "
		"printf 'subjectAltName=DNS:tls.test\\n' > ext; "
		"openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
		"-extfile ext -out leaf.pem 2>/dev/null; cat ca.pem ca.key > with-key.pem",
		dir, dir);
	gen[2] = sh;
	th_run(NULL, gen, t.env.v, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	th_chown_r(t.home, t.uid, t.gid);
	serve[2] = fmt("import http.server, ssl\n"
		       "s = http.server.HTTPServer(('127.0.0.1', 0), "
		       "http.server.SimpleHTTPRequestHandler)\n"
		       "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
		       "c.load_cert_chain('%s/leaf.pem', '%s/leaf.key')\n"
		       "s.socket = c.wrap_socket(s.socket, server_side=True)\n"
		       "print(s.server_address[1], flush=True)\n"
		       "s.serve_forever()\n",
		       dir, dir);
	pid = th_spawn_server(t.www, serve, t.env.v, "%u", ret_port);
	free(serve[2]);
	*ret_ca = fmt("%s/ca.pem", dir);
	return pid;
}

/* Behind a TLS-inspecting proxy the organisation's CA is named in the user's environment: the
 * cell's programs get it (its certificates, the variable kept by programs that clear their
 * environment), and of a file with a key in it, never the key. */
Test(netns, the_organisations_ca_reaches_the_cells_programs)
{
	unsigned port;
	_cleanup_free_ char *ca = NULL, *extra = NULL, *sh = NULL, *out = NULL;
	pid_t server = tls_server(&port, &ca);
	struct th_result r;

	cr_assert(ge(int,
		     asprintf(&extra,
			      "{\"mode\": \"proxy\", \"allow\": [\"tls.test:%u\"], "
			      "\"resolve\": {\"tls.test\": \"127.0.0.1\"}}",
			      port),
		     0));
	write_network(extra);
	th_env_add(&t.env, "CURL_CA_BUNDLE=%s", ca);
	th_env_add(&t.env, "NODE_EXTRA_CA_CERTS=%s", ca);
	th_env_add(&t.env, "SSL_CERT_FILE=%s/corp/with-key.pem", t.home);
	th_env_add(&t.env, "REQUESTS_CA_BUNDLE=%s/corp/ca.key", t.home);
	sh = fmt(
		"curl -sS -o /dev/null -w '%%{http_code}\\n' https://tls.test:%u/hello; "
		"env -i /bin/sh -c 'echo \"node: $NODE_EXTRA_CA_CERTS\"'; "
		"echo \"ssl: $(grep -c CERTIFICATE $SSL_CERT_FILE) $(grep -c KEY $SSL_CERT_FILE)\"; "
		"echo \"requests: ${REQUESTS_CA_BUNDLE:-unset}\"; "
		"curl -sS --cacert /etc/ssl/certs/ca-certificates.crt -o /dev/null "
		"https://tls.test:%u/hello; echo \"exit $?\"",
		port, port);
	r = cell(
		(char *[]){(char *)"run", (char *)"--", (char *)"/bin/sh", (char *)"-c", sh, NULL});
	/* (the file with a key comes in as its certificate alone; a key alone, not at all; the
	 * system's trust store alone does not trust the server: the control) */
	out = fmt("200\nnode: %s\nssl: 2 0\nrequests: unset\nexit 60\n", ca);
	cr_assert(eq(str, r.out, out), "%s", r.err);
	th_result_done(&r);
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
}

/*
 * cell run says what its cell was refused when its command ends, as the prompt does: a refused
 * tunnel's reason (its 403 body no client shows) once; a request's own 403 body is the client's
 * to show, not said again. What the proxy says of itself (a policy kept) goes the same way,
 * never straight onto the terminal while the command runs; --quiet says none of it.
 */
Test(netns, cell_run_says_what_its_cell_was_refused_when_it_ends)
{
	char *sh = fmt("curl -sS -o /dev/null -w '%%{http_code}\\n' "
		       "http://registry.test:%u/hello; sleep 2; "
		       "curl -s -o /dev/null https://denied.test:%u/; echo tunnel refused; "
		       "curl -s http://denied.test:%u/x; echo done",
		       t.port, t.port, t.port);
	char *line =
		fmt("cell: denied.test:%u is not in netns's network allowlist (cell allow-host "
		    "denied.test:%u)\n",
		    t.port, t.port);
	/* the session's cell (its keeper starts the proxy), a cell of its own (--new: cell run
	 * starts it), and the same, --quiet */
	char *argvs[][9] = {
		{(char *)"run", (char *)"--", (char *)"/bin/sh", (char *)"-c", sh, NULL},
		{(char *)"run", (char *)"--new", (char *)"--", (char *)"/bin/sh", (char *)"-c", sh,
		 NULL},
		{(char *)"run", (char *)"--new", (char *)"--quiet", (char *)"--", (char *)"/bin/sh",
		 (char *)"-c", sh, NULL},
	};
	struct th_result r;

	set_config(NULL);
	for (int round = 0; round < 3; round++) {
		pid_t edit = fork();

		cr_assert(ge(int, edit, 0));
		if (edit == 0) {
			/* while the command runs: an edit nobody allowed, which the proxy keeps
			 * its policy through, and says so */
			usleep(800000);
			free(th_write(t.proj, ".cell.json", "{\"name\": \"netns\"}\n"));
			_exit(0);
		}
		r = cell(argvs[round]);
		waitpid(edit, NULL, 0);
		cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
		/* the request's 403 body, as curl shows it */
		cr_assert(contains(r.out, "200\ntunnel refused\ncell: denied.test:"), "%s", r.out);
		if (round < 2) {
			char *at = strstr(r.err, line);

			cr_assert(not(eq(ptr, at, NULL)), "round %d: %s", round, r.err);
			cr_assert(eq(ptr, strstr(at + 1, line), NULL), "said twice: %s", r.err);
			cr_assert(contains(r.err,
					   "changed and is not allowed; keeping the policy in "
					   "force"),
				  "%s", r.err);
		} else {
			cr_assert(not(contains(r.err, "allowlist")), "%s", r.err);
			cr_assert(not(contains(r.err, "keeping the policy")), "%s", r.err);
		}
		th_result_done(&r);
		set_config(NULL);
	}
	free(sh);
	free(line);
}

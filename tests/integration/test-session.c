/* SPDX-License-Identifier: MIT */
/*
 * Kernel-enforced cells end to end: cell and cell-session installed into a temporary prefix,
 * cell-session setuid root, cells run by an unprivileged user. Needs root (to install the
 * helper setuid and to load BPF); skips elsewhere.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf.h"
#include "cgroup.h"
#include "fileio.h"
#include "helpers.h"
#include "macro.h"
#include "limit.h"
#include "session.h"
#include "strv.h"

static struct {
	char *tmp, *cell, *helper, *home, *proj, *www, *slice;
	struct th_stage stage; /* cell and helper are its */
	uid_t uid;
	gid_t gid;
	char *env[16];
	pid_t upstream;
	unsigned port;	    /* the upstream's, on the host's loopback */
	char netns[32];	    /* a network namespace made by the test, removed by teardown */
	pid_t netns_server; /* a server in it (which keeps it alive) */
} t;

/* Python in the cell: each argument is one probe; one line of result each. */
static const char net_py[] =
	"import os, socket, sys, time, urllib.request\n"
	"def tcp(host, port):\n"
	"    fam = socket.AF_INET6 if ':' in host else socket.AF_INET\n"
	"    s = socket.socket(fam, socket.SOCK_STREAM)\n"
	"    try:\n"
	"        s.connect((host, int(port))); return 'ok'\n"
	"    except OSError as e: return 'errno %d' % e.errno\n"
	"    finally: s.close()\n"
	"def udp(host, port):\n"
	"    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
	"    try:\n"
	"        s.sendto(b'x', (host, int(port))); return 'ok'\n"
	"    except OSError as e: return 'errno %d' % e.errno\n"
	"def sock(kind):\n"
	"    try:\n"
	"        if kind == 'raw': socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)\n"
	"        else: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)\n"
	"        return 'ok'\n"
	"    except OSError as e: return 'errno %d' % e.errno\n"
	"def unix(addr, kind):\n"
	"    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM if kind == 'stream' else "
	"socket.SOCK_DGRAM)\n"
	"    a = '\\0' + addr[1:] if addr.startswith('@') else addr\n"
	"    try:\n"
	"        s.connect(a) if kind == 'stream' else s.sendto(b'x', a); return 'ok'\n"
	"    except OSError as e: return 'errno %d' % e.errno\n"
	"    finally: s.close()\n"
	"def own(n):\n"
	"    l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(16)\n"
	"    out = []\n"
	"    for _ in range(int(n)):\n"
	"        out.append(tcp('127.0.0.1', l.getsockname()[1])); l.accept()[0].close()\n"
	"    return ' '.join(out)\n"
	"def squat(at, to, port, opt=''):\n"
	"    l = socket.socket(socket.AF_INET6 if ':' in at else socket.AF_INET)\n"
	"    if opt == '6only': l.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)\n"
	"    try: l.bind((at, int(port))); l.listen(4)\n"
	"    except OSError as e: return 'bind errno %d' % e.errno\n"
	"    try: return tcp(to, l.getsockname()[1])\n"
	"    finally: l.close()\n"
	"held = []\n"
	"def hold(port):\n"
	"    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
	"    s.bind(('127.0.0.1', int(port))); s.listen(4); held.append(s); return 'held'\n"
	"def raw(host, port, fam='any'):\n"
	"    f = {'4': socket.AF_INET, '6': socket.AF_INET6, '6only': socket.AF_INET6, "
	"'mptcp': socket.AF_INET}.get(fam, 0)\n"
	"    try:\n"
	"        ai = socket.getaddrinfo(host, int(port), f, socket.SOCK_STREAM)[0]\n"
	"        s = socket.socket(ai[0], socket.SOCK_STREAM, 262 if fam == 'mptcp' else 0)\n"
	"        if fam == '6only': s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)\n"
	"        s.connect(ai[4])\n"
	"        s.sendall(b'GET /hello HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')\n"
	"        return s.recv(64).split(b' ')[1].decode()\n"
	"    except OSError as e: return 'errno %d' % e.errno\n"
	"def lofetch(url):\n"
	"    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'lo')\n"
	"    s.connect(('127.0.0.1', int(os.environ['HTTP_PROXY'].rsplit(':', 1)[1])))\n"
	"    s.sendall(b'GET %s HTTP/1.0\\r\\n\\r\\n' % url.encode())\n"
	"    return s.recv(64).split(b' ')[1].decode()\n"
	"def again(url):\n"
	"    port = int(os.environ['HTTP_PROXY'].rsplit(':', 1)[1])\n"
	"    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
	"    s.bind(('127.0.0.1', 0)); src = s.getsockname()[1]; s.connect(('127.0.0.1', port))\n"
	"    s.sendall(b'GET %s HTTP/1.0\\r\\n\\r\\n' % url.encode()); code = s.recv(64).split(b' ')[1]\n"
	"    while s.recv(4096): pass\n"
	"    s.close(); time.sleep(0.2)\n"
	"    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
	"    s.bind(('127.0.0.1', src)); s.settimeout(5)\n"
	"    try: s.connect(('127.0.0.1', port)); return code.decode() + ' connected'\n"
	"    except OSError as e: return code.decode() + ' ' + str(e)\n"
	"def proxy(addr='127.0.0.1'):\n"
	"    return tcp(addr, os.environ['HTTP_PROXY'].rsplit(':', 1)[1])\n"
	"def listening():\n"
	"    n = 0\n"
	"    for fd in os.listdir('/proc/self/fd'):\n"
	"        try: s = socket.socket(fileno=int(fd))\n"
	"        except OSError: continue\n"
	"        n += s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN); s.detach()\n"
	"    return str(n)\n"
	"def fetch(url):\n"
	"    try:\n"
	"        with urllib.request.urlopen(url, timeout=10) as r: return '%d %d' % (r.status, "
	"len(r.read()))\n"
	"    except urllib.error.HTTPError as e: return '%d' % e.code\n"
	"for a in sys.argv[1:]:\n"
	"    op, *args = a.split()\n"
	"    if op == 'sleep': time.sleep(float(args[0])); print('slept'); continue\n"
	"    if op == 'pid': print(os.getpid(), flush=True); continue\n"
	"    if op == 'wait':\n"
	"        for _ in range(400):\n"
	"            if os.path.exists(args[0]): break\n"
	"            time.sleep(0.05)\n"
	"        continue\n"
	"    print({'tcp': tcp, 'udp': udp, 'unix': unix, 'sock': sock, 'own': own, 'fetch': fetch,"
	" 'proxy': proxy, 'listening': listening, 'raw': raw, 'squat': squat, 'hold': hold,"
	" 'lofetch': lofetch, 'again': again}[op](*args),"
	" flush=True)\n";

static const char upstream_py[] =
	"import http.server, functools, sys\n"
	"class H(http.server.SimpleHTTPRequestHandler):\n"
	"    def log_message(self, *a): pass\n"
	"addr = sys.argv[2] if len(sys.argv) > 2 else '127.0.0.1'\n"
	"s = http.server.HTTPServer((addr, 0), functools.partial(H, directory=sys.argv[1]))\n"
	"print(s.server_address[1], flush=True)\n"
	"s.serve_forever()\n";

static void env_add(size_t i, const char *fmt, const char *value)
{
	cr_assert(ge(int, asprintf(&t.env[i], fmt, value), 0));
}

static void start_upstream(void)
{
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)upstream_py, t.www, NULL};

	t.upstream = th_spawn_server(NULL, argv, t.env, "%u", &t.port);
}

/* .cell.json with this network section, trusted by the test user. */
static void write_config(const char *network)
{
	char *json, *argv[] = {t.cell, (char *)"allow", NULL};
	struct th_result r;

	cr_assert(ge(int, asprintf(&json, "{\"name\": \"sess\", \"network\": %s}", network), 0));
	free(th_write(t.proj, ".cell.json", json));
	free(json);
	th_chown_r(t.proj, t.uid, t.gid);
	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "cell allow: %s", r.err);
	th_result_done(&r);
}

/* .cell.json: proxy mode, the upstream allowed as registry.test, and extra JSON members. */
static void set_config(const char *extra)
{
	char *network;

	cr_assert(ge(int,
		     asprintf(&network,
			      "{\"mode\": \"proxy\", \"allow\": [\"registry.test:%u\"], "
			      "\"resolve\": {\"registry.test\": \"127.0.0.1\"}%s}",
			      t.port, extra ? extra : ""),
		     0));
	write_config(network);
	free(network);
}

static void setup(void)
{
	char *big;

	if (geteuid() != 0)
		th_skip("needs root (to install cell-session setuid and load BPF)");
	memset(&t, 0, sizeof(t));
	th_test_user(&t.uid, &t.gid);
	t.tmp = th_mkdtemp();
	chmod(t.tmp, 0755);
	t.home = th_join(t.tmp, "home");
	t.proj = th_join(t.tmp, "proj");
	t.www = th_join(t.tmp, "www");
	th_stage(&t.stage);
	th_stage_setuid(&t.stage);
	t.cell = t.stage.cell;
	t.helper = t.stage.helper;
	free(th_write(t.proj, "net.py", net_py));
	free(th_write(t.www, "hello", "hello\n"));
	/* 1 MiB for the byte counters */
	big = calloc(1, 1 << 20);
	cr_assert(not(eq(ptr, big, NULL)));
	memset(big, 'x', (1 << 20) - 1);
	free(th_write(t.www, "big", big));
	free(big);
	free(th_write(t.home, ".profile", "\n"));
	th_chown_r(t.home, t.uid, t.gid);
	env_add(0, "HOME=%s", t.home);
	env_add(1, "PATH=%s", "/usr/local/bin:/usr/bin:/bin");
	env_add(2, "XDG_STATE_HOME=%s/.local/state", t.home);
	env_add(3, "XDG_CONFIG_HOME=%s/.config", t.home);
	env_add(4, "XDG_DATA_HOME=%s/.local/share", t.home);
	env_add(5, "USER=%s", TH_TEST_USER);
	env_add(6, "LANG=%s", "C.UTF-8");
	cr_assert(eq(int, cell_session_slice("/proc/self/mountinfo", &t.slice), 0));
	start_upstream();
	set_config(NULL);
}

/* A cell of the test user's that this test made (its id ends in "-PID..."): closed, and its
 * record gone, so that a failed test does not leave the user at its quota. */
static int forget_own(const char *id, void *data)
{
	char tag[24], *spool, name[96];

	(void)data;
	snprintf(tag, sizeof(tag), "-%d", (int)getpid());
	if (!strstr(id, tag))
		return 0;
	cell_session_reap(t.slice, t.uid, id, CELL_SESSION_KILL_ANY, NULL, NULL);
	snprintf(name, sizeof(name), "%u-%s", (unsigned)t.uid, id);
	spool = th_join(CELL_SESSION_SPOOL_DIR, name);
	unlink(spool);
	free(spool);
	return 0;
}

static void teardown(void)
{
	DIR *spooled = opendir(CELL_SESSION_SPOOL_DIR);

	if (t.slice)
		cell_session_list(t.slice, t.uid, forget_own, NULL);
	for (struct dirent *e; spooled && (e = readdir(spooled));) {
		char prefix[24];

		snprintf(prefix, sizeof(prefix), "%u-", (unsigned)t.uid);
		if (startswith(e->d_name, prefix))
			forget_own(e->d_name + strlen(prefix), NULL);
	}
	if (spooled)
		closedir(spooled);
	if (t.netns_server > 0) {
		kill(t.netns_server, SIGKILL);
		waitpid(t.netns_server, NULL, 0);
	}
	if (t.netns[0]) {
		/* the namespace's end would go with it, but only once the kernel gets to it */
		char veth[32], *del_veth[] = {(char *)"/usr/sbin/ip", (char *)"link",
					      (char *)"delete", veth, NULL};
		char *del_ns[] = {(char *)"/usr/sbin/ip", (char *)"netns", (char *)"delete",
				  t.netns, NULL};
		struct th_result r;

		snprintf(veth, sizeof(veth), "ch%d", (int)getpid());
		th_run(NULL, del_veth, (char *[]){NULL}, &r);
		th_result_done(&r);
		th_run_ok(NULL, del_ns, (char *[]){NULL});
	}
	if (t.upstream > 0) {
		kill(t.upstream, SIGKILL);
		waitpid(t.upstream, NULL, 0);
	}
	if (t.tmp)
		th_rm_rf(t.tmp);
	free(t.tmp);
	th_stage_done(&t.stage);
	free(t.home);
	free(t.proj);
	free(t.www);
	free(t.slice);
	for (size_t i = 0; i < ELEMENTSOF(t.env); i++)
		free(t.env[i]);
}

TestSuite(session, .init = setup, .fini = teardown, .timeout = 90);

/* cell run -- python3 net.py PROBES... as the test user, in the project. */
/* cell run -- python3 net.py PROBES... as the test user; without the shim (LD_PRELOAD
 * emptied) unless shim: what the kernel alone does. */
static struct th_result probes_in_cell(bool shim, char *const probes[])
{
	char *argv[32] = {t.cell, (char *)"run", (char *)"--"};
	size_t n = 3;
	struct th_result r;

	if (!shim) {
		argv[n++] = (char *)"/usr/bin/env";
		argv[n++] = (char *)"LD_PRELOAD=";
	}
	argv[n++] = (char *)"/usr/bin/python3";
	argv[n++] = (char *)"net.py";
	for (size_t i = 0; probes[i] && n < ELEMENTSOF(argv) - 1; i++)
		argv[n++] = probes[i];
	argv[n] = NULL;
	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	return r;
}

static struct th_result in_cell(char *const probes[])
{
	return probes_in_cell(true, probes);
}

/* cell run -- INTERPRETER NAME as the test user, NAME written into the project with text. */
static struct th_result run_file(const char *interpreter, const char *name, const char *text)
{
	/* (--quiet: what a test's program says on stderr is all there is) */
	char *argv[] = {t.cell,	      (char *)"run",	   (char *)"--quiet",
			(char *)"--", (char *)interpreter, (char *)name,
			NULL};
	struct th_result r;

	free(th_write(t.proj, name, text));
	th_chown_r(t.proj, t.uid, t.gid);
	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	return r;
}

static char *probe(const char *fmt, unsigned port)
{
	char *s;

	cr_assert(ge(int, asprintf(&s, fmt, port), 0));
	return s;
}

/* One probe (fmt with the upstream's port) in a cell of the project: it prints want. */
static void probe_says(const char *fmt, const char *want)
{
	char *probes[] = {probe(fmt, t.port), NULL};
	struct th_result r = in_cell(probes);

	cr_assert(eq(str, r.out, (char *)want), "stderr: %s", r.err);
	th_result_done(&r);
	free(probes[0]);
}

/* What `cell stats --json` says, as text. */
static char *stats_json(void)
{
	char *argv[] = {t.cell, (char *)"stats", (char *)"--json", NULL};
	struct th_result r;
	char *out;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "cell stats: %s", r.err);
	out = r.out;
	r.out = NULL;
	th_result_done(&r);
	return out;
}

static unsigned long long stat_of(const char *json, const char *key)
{
	char pat[64];
	const char *s;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	s = strstr(json, pat);
	cr_assert(not(eq(ptr, (void *)s, NULL)), "no %s in %s", key, json);
	return strtoull(s + strlen(pat), NULL, 10);
}

/* The test user's cells under cell.slice whose id starts with a prefix. */
struct counting {
	const char *prefix;
	int n;
};

static int count_one(const char *id, void *data)
{
	struct counting *c = data;

	c->n += startswith(id, c->prefix);
	return 0;
}

static int cells_named(const char *prefix)
{
	struct counting c = {prefix, 0};

	cell_session_list(t.slice, t.uid, count_one, &c);
	return c.n;
}

/* This project's cells: their ids start with the hex tail of the project id. */
static int user_cells(void)
{
	char *dir = th_join(t.home, ".local/state/cell/projects"), prefix[16] = "";
	struct dirent *e;
	DIR *d = opendir(dir);

	cr_assert(not(eq(ptr, d, NULL)), "no %s", dir);
	while ((e = readdir(d)))
		if (strrchr(e->d_name, '-'))
			snprintf(prefix, sizeof(prefix), "%s", strrchr(e->d_name, '-') + 1);
	closedir(d);
	free(dir);
	cr_assert(eq(sz, strlen(prefix), 12));
	return cells_named(prefix);
}

static size_t running_files(void)
{
	char *dir = th_join(t.home, ".local/state/cell/cells");
	size_t n = th_count_entries(dir);

	free(dir);
	return n;
}

Test(session, a_cell_reaches_its_proxy_and_own_servers_and_nothing_else)
{
	char *probes[] = {probe("fetch http://registry.test:%u/hello", t.port),
			  probe("tcp 127.0.0.1 %u", t.port),
			  probe("tcp ::1 %u", t.port),
			  probe("tcp ::ffff:127.0.0.1 %u", t.port),
			  probe("udp 127.0.0.1 %u", t.port),
			  (char *)"own 5",
			  (char *)"sock raw",
			  (char *)"sock packet",
			  NULL};
	struct th_result r = in_cell(probes);
	char *json;

	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	cr_assert(eq(str, r.out,
		     (char *)"200 6\nerrno 1\nerrno 1\nerrno 1\nerrno 1\nok ok ok ok ok\n"
			     /* (a packet socket: the syscall filter's EAFNOSUPPORT first) */
			     "errno 1\nerrno 97\n"),
		  "stderr: %s", r.err);
	th_result_done(&r);
	/* the positive control: outside the cell the same port answers */
	{
		char *argv[] = {(char *)"/usr/bin/python3", (char *)"net.py", probes[1], NULL};

		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		cr_assert(eq(str, r.out, (char *)"ok\n"), "%s", r.err);
		th_result_done(&r);
	}
	json = stats_json();
	/* the proxy and five to its own server; three TCP and one UDP to the host's port */
	cr_assert(eq(ullong, stat_of(json, "connects_allowed"), 6), "%s", json);
	cr_assert(eq(ullong, stat_of(json, "connects_denied"), 3), "%s", json);
	cr_assert(eq(ullong, stat_of(json, "udp_denied"), 1), "%s", json);
	/* (raw sockets: the kernel's capability check refuses them before the BPF hook can) */
	cr_assert(eq(ullong, stat_of(json, "cells"), 1), "%s", json);
	cr_assert(eq(ullong, stat_of(json, "requests"), 1), "%s", json);
	free(json);
	cr_assert(eq(int, user_cells(), 0));
	cr_assert(eq(sz, running_files(), 0));
	for (size_t i = 0; i < 5; i++)
		free(probes[i]);
}

/* The proxy's port is the cell's proxy at 127.0.0.1 only: a listener on that port at another
 * loopback address (someone's outside the cell, on 127.0.0.2 or ::1) is refused by the kernel
 * (EPERM, not the ECONNREFUSED of a port no one listens on). */
Test(session, the_proxys_port_at_another_loopback_address_is_not_the_proxy)
{
	char *probes[] = {(char *)"proxy", (char *)"proxy 127.0.0.2", (char *)"proxy ::1",
			  (char *)"proxy ::ffff:127.0.0.1", NULL};
	struct th_result r = in_cell(probes);

	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	cr_assert(eq(str, r.out, (char *)"ok\nerrno 1\nerrno 1\nok\n"), "stderr: %s", r.err);
	th_result_done(&r);
}

/*
 * A socket the cell binds on a host port at another address (127.0.0.2, or [::] with
 * IPV6_V6ONLY, which does not clash with the host's 0.0.0.0) does not open the host's socket
 * on that port; the cell's own servers on 127.0.0.1, dual-stack [::] and [::1] stay reachable.
 */
Test(session, a_port_squatted_at_another_address_does_not_reach_the_hosts_socket)
{
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)upstream_py, t.www,
			(char *)"0.0.0.0",	    NULL};
	unsigned any_port;
	pid_t any = th_spawn_server(NULL, argv, t.env, "%u", &any_port);
	char *probes[] = {probe("squat 127.0.0.2 127.0.0.1 %u", t.port),
			  probe("squat :: 127.0.0.1 %u 6only", any_port),
			  (char *)"squat 127.0.0.1 127.0.0.1 0",
			  (char *)"squat :: 127.0.0.1 0",
			  (char *)"squat :: ::ffff:127.0.0.1 0",
			  (char *)"squat :: ::1 0",
			  (char *)"squat ::1 ::1 0",
			  NULL};
	struct th_result r = in_cell(probes);

	kill(any, SIGKILL);
	waitpid(any, NULL, 0);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	cr_assert(eq(str, r.out, (char *)"errno 1\nerrno 1\nok\nok\nok\nok\nok\n"), "stderr: %s",
		  r.err);
	th_result_done(&r);
	free(probes[0]);
	free(probes[1]);
}

/* The machine's TCP segments retransmitted so far (RetransSegs in /proc/net/snmp). */
static unsigned long long retransmitted(void)
{
	char *text = th_read("/proc/net/snmp"), *names, *values, *save = NULL, *vsave = NULL;
	unsigned long long n = 0;

	/* "Tcp: NAME..." then "Tcp: VALUE...", in the same order */
	names = strstr(text, "\nTcp: ");
	cr_assert(not(eq(ptr, names, NULL)));
	values = strstr(names + 1, "\nTcp: ");
	cr_assert(not(eq(ptr, values, NULL)));
	*values++ = '\0';
	/* past "Tcp:" in both */
	strtok_r(values, " \n", &vsave);
	strtok_r(names + 1, " \n", &save);
	for (char *k = strtok_r(NULL, " \n", &save); k; k = strtok_r(NULL, " \n", &save)) {
		char *v = strtok_r(NULL, " \n", &vsave);

		if (streq(k, "RetransSegs") && v)
			n = strtoull(v, NULL, 10);
	}
	free(text);
	return n;
}

Test(session, bytes_are_counted_within_one_percent)
{
	char *probes[] = {probe("fetch http://registry.test:%u/big", t.port), NULL};
	unsigned long long in, retrans = retransmitted();
	struct th_result r = in_cell(probes);
	char *json;

	cr_assert(eq(str, r.out, (char *)"200 1048575\n"), "%s", r.err);
	th_result_done(&r);
	/* a segment TCP sends again crosses into the cell twice, and counts twice. On loopback
	 * that happens without loss: a sender that moves between CPUs queues its segments on
	 * different CPUs' backlogs, they arrive out of order, and the dup-ACKs make it resend
	 * (TCPOFOQueue, TCPFastRetrans, D-SACK). Each retransmission anywhere on the machine
	 * meanwhile allows one more loopback segment (64 KiB and headers); with none, the count
	 * must be exact to 1%. */
	retrans = retransmitted() - retrans;
	json = stats_json();
	in = stat_of(json, "bytes_in");
	/* the body, the response head, and TCP/IP headers of ~20 loopback segments */
	cr_assert(ge(ullong, in, 1048575ULL), "%s", json);
	cr_assert(le(ullong, in, 1048575ULL + 1048575ULL / 100 + retrans * 66000ULL),
		  "%s (%llu segments retransmitted meanwhile)", json, retrans);
	free(json);
	free(probes[0]);
}

Test(session, listed_local_ports_are_reachable)
{
	char *probes[2];
	struct th_result r;

	set_config(NULL);
	{
		char *extra = probe(", \"local_ports\": [%u]", t.port);

		set_config(extra);
		free(extra);
	}
	probes[0] = probe("tcp 127.0.0.1 %u", t.port);
	probes[1] = NULL;
	r = in_cell(probes);
	cr_assert(eq(str, r.out, (char *)"ok\n"), "%s", r.err);
	th_result_done(&r);
	free(probes[0]);
}

/* /usr/sbin/ip with these arguments (split at spaces), which must succeed. */
static void _printf_(1, 2) ip(const char *fmt, ...)
{
	char *args, *argv[16] = {(char *)"/usr/sbin/ip"}, *save = NULL;
	size_t n = 1;
	va_list ap;

	va_start(ap, fmt);
	cr_assert(ge(int, vasprintf(&args, fmt, ap), 0));
	va_end(ap);
	for (char *w = strtok_r(args, " ", &save); w && n < ELEMENTSOF(argv) - 1;
	     w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n] = NULL;
	th_run_ok(NULL, argv, (char *[]){NULL});
	free(args);
}

/* A documentation network (RFC 5737: never routed on the internet) no interface here is on. */
static const char *unused_net(void)
{
	static const char *const nets[] = {"203.0.113", "198.51.100", "192.0.2"};
	struct ifaddrs *ifs;

	cr_assert(eq(int, getifaddrs(&ifs), 0));
	for (size_t i = 0; i < ELEMENTSOF(nets); i++) {
		bool used = false;

		for (struct ifaddrs *a = ifs; a && !used; a = a->ifa_next) {
			char text[INET_ADDRSTRLEN];

			if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
				continue;
			inet_ntop(AF_INET, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, text,
				  sizeof(text));
			used = startswith(text, nets[i]) && text[strlen(nets[i])] == '.';
		}
		if (!used) {
			freeifaddrs(ifs);
			return nets[i];
		}
	}
	freeifaddrs(ifs);
	th_skip("every documentation network is on an interface of this machine");
}

/* A host that is not this machine: the test's own, in a network namespace behind a veth pair. */
Test(session, a_cell_reaches_another_host_only_through_its_proxy)
{
	const char *net = unused_net();
	char *network, *probes[4], there[INET_ADDRSTRLEN];
	int id = (int)getpid();
	unsigned port;
	struct th_result r;

	snprintf(there, sizeof(there), "%s.2", net);
	snprintf(t.netns, sizeof(t.netns), "cellt%d", id);
	ip("netns add %s", t.netns);
	ip("link add ch%d type veth peer name cn%d netns %s", id, id, t.netns);
	ip("addr add %s.1/24 dev ch%d", net, id);
	ip("link set ch%d up", id);
	ip("-n %s addr add %s/24 dev cn%d", t.netns, there, id);
	ip("-n %s link set cn%d up", t.netns, id);
	{
		char *argv[] = {(char *)"/usr/sbin/ip",
				(char *)"netns",
				(char *)"exec",
				t.netns,
				(char *)"/usr/bin/python3",
				(char *)"-c",
				(char *)upstream_py,
				t.www,
				there,
				NULL};

		t.netns_server = th_spawn_server(NULL, argv, t.env, "%u", &port);
	}
	cr_assert(ge(int,
		     asprintf(&network,
			      "{\"mode\": \"proxy\", \"allow\": [\"upstream.test:%u\"], "
			      "\"resolve\": {\"upstream.test\": \"%s\"}}",
			      port, there),
		     0));
	write_config(network);
	free(network);
	cr_assert(ge(int, asprintf(&probes[0], "tcp %s %u", there, port), 0));
	cr_assert(ge(int, asprintf(&probes[1], "udp %s %u", there, port), 0));
	probes[2] = probe("fetch http://upstream.test:%u/hello", port);
	probes[3] = NULL;
	/* the positive control: outside a cell, the test user reaches it directly */
	{
		char *argv[] = {(char *)"/usr/bin/python3", (char *)"net.py", probes[0], probes[1],
				NULL};

		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		cr_assert(eq(str, r.out, (char *)"ok\nok\n"), "%s", r.err);
		th_result_done(&r);
	}
	/* the kernel's part: without the shim, which would take the TCP connect to the proxy */
	r = probes_in_cell(false, probes);
	cr_assert(eq(str, r.out, (char *)"errno 1\nerrno 1\n200 6\n"), "%s", r.err);
	th_result_done(&r);
	{
		char *json = stats_json();

		cr_assert(eq(ullong, stat_of(json, "connects_allowed"), 1), "%s", json);
		cr_assert(eq(ullong, stat_of(json, "connects_denied"), 1), "%s", json);
		cr_assert(eq(ullong, stat_of(json, "udp_denied"), 1), "%s", json);
		free(json);
	}
	for (size_t i = 0; i < 3; i++)
		free(probes[i]);
}

/* A Unix socket listening at addr (a leading '@': abstract), of type (SOCK_STREAM or DGRAM). */
static int unix_listener(const char *addr, int type)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(addr);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	cr_assert(ge(int, fd, 0));
	memcpy(sa.sun_path, addr, len);
	if (addr[0] == '@')
		sa.sun_path[0] = '\0';
	cr_assert(eq(int,
		     bind(fd, (struct sockaddr *)&sa,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
		     0),
		  "%s: %s", addr, strerror(errno));
	if (addr[0] != '@')
		chmod(addr, 0777);
	if (type == SOCK_STREAM)
		cr_assert(eq(int, listen(fd, 16), 0));
	return fd;
}

/* The cell shares the host's network namespace, and so its abstract Unix sockets (X11's,
 * D-Bus's, a container runtime's): the kernel hooks keep cells off them. */
Test(session, a_cell_cannot_reach_the_hosts_abstract_unix_sockets)
{
	char stream[64], dgram[64], *path = th_join(t.proj, "dev.sock"), *probes[5];
	int fds[3];
	struct th_result r;

	if (!cell_bpf_has_unix_hooks())
		th_skip("this kernel has no cgroup/connect_unix (6.7+)");
	snprintf(stream, sizeof(stream), "@cell-test-%d", (int)getpid());
	snprintf(dgram, sizeof(dgram), "@cell-test-%d-dgram", (int)getpid());
	fds[0] = unix_listener(stream, SOCK_STREAM);
	fds[1] = unix_listener(dgram, SOCK_DGRAM);
	fds[2] = unix_listener(path, SOCK_STREAM);
	cr_assert(ge(int, asprintf(&probes[0], "unix %s stream", stream), 0));
	cr_assert(ge(int, asprintf(&probes[1], "unix %s dgram", dgram), 0));
	cr_assert(ge(int, asprintf(&probes[2], "unix %s stream", path), 0));
	probes[3] = NULL;
	/* the positive control: outside a cell, the test user reaches all three */
	{
		char *argv[] = {(char *)"/usr/bin/python3",
				(char *)"net.py",
				probes[0],
				probes[1],
				probes[2],
				NULL};

		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		cr_assert(eq(str, r.out, (char *)"ok\nok\nok\n"), "%s", r.err);
		th_result_done(&r);
	}
	r = in_cell(probes);
	/* a socket bound to a path in the project is the file system's business */
	cr_assert(eq(str, r.out, (char *)"errno 1\nerrno 1\nok\n"), "%s", r.err);
	th_result_done(&r);
	{
		char *json = stats_json();

		cr_assert(eq(ullong, stat_of(json, "connects_denied"), 1), "%s", json);
		cr_assert(eq(ullong, stat_of(json, "udp_denied"), 1), "%s", json);
		free(json);
	}
	for (size_t i = 0; i < 3; i++) {
		close(fds[i]);
		free(probes[i]);
	}
	free(path);
}

/* `cell log -f --json` in the project, its output on a pipe (returned in *ret_out). */
static pid_t follow_log(int *ret_out)
{
	int out[2];
	pid_t pid;

	cr_assert(eq(int, pipe2(out, O_CLOEXEC), 0));
	pid = fork();
	if (pid == 0) {
		char *argv[] = {t.cell, (char *)"log", (char *)"-f", (char *)"--json", NULL};

		dup2(out[1], 1);
		if (chdir(t.proj) < 0 || setgroups(0, NULL) < 0 || setgid(t.gid) < 0 ||
		    setuid(t.uid) < 0)
			_exit(126);
		/* (after setuid, which clears it): a failed test leaves no follower behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execve(argv[0], argv, t.env);
		_exit(127);
	}
	close(out[1]);
	*ret_out = out[0];
	return pid;
}

/* What fd says within seconds, until it says what. */
static char *read_until(int fd, const char *what, int seconds)
{
	char *buf = calloc(1, 64 * 1024);
	size_t n = 0;

	cr_assert(not(eq(ptr, buf, NULL)));
	for (int waited = 0; !strstr(buf, what) && waited < seconds * 10; waited++) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t k;

		if (poll(&pfd, 1, 100) != 1)
			continue;
		k = read(fd, buf + n, 64 * 1024 - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	return buf;
}

Test(session, denials_show_in_cell_log_with_pid_and_comm)
{
	char *probes[] = {(char *)"pid", probe("tcp 127.0.0.1 %u", t.port), NULL};
	char *argv[] = {t.cell, (char *)"log", NULL}, *want, *seen, *pid;
	int follow_fd;
	pid_t follower = follow_log(&follow_fd);
	struct th_result r = in_cell(probes);

	cr_assert(eq(int, r.status, 0), "%s", r.err);
	pid = strtok(r.out, "\n");
	cr_assert(not(eq(ptr, pid, NULL)));
	pid = strdup(pid);
	cr_assert(eq(str, strtok(NULL, "\n"), (char *)"errno 1"));
	/* the process as the cell sees it, its name, where it tried to go and why not */
	cr_assert(ge(int,
		     asprintf(&want,
			      "\"cell_pid\":%s,\"comm\":\"python3\",\"family\":\"ipv4\","
			      "\"protocol\":\"tcp\",\"address\":\"127.0.0.1\",\"port\":%u,"
			      "\"reason\":\"port\"}",
			      pid, t.port),
		     0));
	/* -f saw it as it came */
	seen = read_until(follow_fd, want, 10);
	cr_assert(not(eq(ptr, strstr(seen, want), NULL)), "%s", seen);
	cr_assert(not(eq(ptr, strstr(seen, "{\"kind\":\"denial\","), NULL)), "%s", seen);
	free(seen);
	kill(follower, SIGTERM);
	waitpid(follower, NULL, 0);
	close(follow_fd);
	th_result_done(&r);
	/* and it is kept: for people, with the host's pid and the cell's */
	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	seen = probe("tcp 127.0.0.1:%u  a loopback port", t.port);
	cr_assert(not(eq(ptr, strstr(r.out, seen), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "  kernel  python3["), NULL)), "%s", r.out);
	free(seen);
	cr_assert(ge(int, asprintf(&seen, "(pid %s in the cell)", pid), 0));
	cr_assert(not(eq(ptr, strstr(r.out, seen), NULL)), "%s", r.out);
	free(seen);
	th_result_done(&r);
	free(want);
	free(pid);
	free(probes[1]);
}

/* What the test user's cell command says, on stdout; the test fails unless it exits 0. */
static char *cell_out(const char *verb, const char *arg1, const char *arg2)
{
	char *argv[] = {t.cell, (char *)verb, (char *)arg1, (char *)arg2, NULL};
	struct th_result r;
	char *out;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "cell %s: %s", verb, r.err);
	out = r.out;
	r.out = NULL;
	th_result_done(&r);
	return out;
}

Test(session, an_open_cell_shows_its_live_counters_in_status_and_stats)
{
	char *argv[] = {t.cell,
			(char *)"run",
			(char *)"--",
			(char *)"/usr/bin/python3",
			(char *)"net.py",
			probe("tcp 127.0.0.1 %u", t.port),
			(char *)"sleep 30",
			NULL};
	pid_t cell = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	char *status = NULL, *stats;
	int status_code;

	/* the denied connect comes first, then the cell sleeps */
	for (int i = 0; i < 100; i++) {
		free(status);
		status = cell_out("status", "--json", NULL);
		if (strstr(status, "\"connects_denied\":1"))
			break;
		usleep(100000);
	}
	cr_assert(not(eq(ptr, strstr(status, "\"connects_denied\":1"), NULL)), "%s", status);
	cr_assert(not(eq(ptr, strstr(status, "\"state\":\"open\",\"mode\":\"proxy\""), NULL)), "%s",
		  status);
	cr_assert(gt(ullong, stat_of(status, "proxy_port"), 0), "%s", status);
	/* the session's members: the cell run that opened it */
	{
		char member[64];

		snprintf(member, sizeof(member), "\"members\":[{\"pid\":%d,", (int)cell);
		cr_assert(not(eq(ptr, strstr(status, member), NULL)), "%s", status);
	}
	free(status);
	/* stats counts the open cell with the ledger */
	stats = stats_json();
	cr_assert(eq(ullong, stat_of(stats, "connects_denied"), 1), "%s", stats);
	cr_assert(eq(ullong, stat_of(stats, "cells"), 1), "%s", stats);
	free(stats);
	kill(cell, SIGTERM);
	cr_assert(eq(int, waitpid(cell, &status_code, 0), cell));
	/* closed: once, from the ledger */
	stats = stats_json();
	cr_assert(eq(ullong, stat_of(stats, "connects_denied"), 1), "%s", stats);
	cr_assert(eq(ullong, stat_of(stats, "cells"), 1), "%s", stats);
	free(stats);
	status = cell_out("status", NULL, NULL);
	cr_assert(not(eq(ptr, strstr(status, "(no open cells)"), NULL)), "%s", status);
	free(status);
	/* --since: the record ended just now */
	stats = cell_out("stats", "--json", "--since=1h");
	cr_assert(eq(ullong, stat_of(stats, "cells"), 1), "%s", stats);
	free(stats);
	stats = cell_out("stats", "--json", "--since=2999-01-01");
	cr_assert(eq(ptr, strstr(stats, "\"cells\""), NULL), "%s", stats);
	free(stats);
	free(argv[5]);
}

/* cell-session as the test user, with exactly argv after the program, and stdout a pipe. */
static struct th_result helper_as(uid_t uid, gid_t gid, const char *const *args, char **env)
{
	char *argv[24] = {t.helper};
	size_t n = 1;
	struct th_result r;

	for (size_t i = 0; args[i] && n < ELEMENTSOF(argv) - 1; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	th_run_as(uid, gid, t.tmp, argv, env ? env : t.env, &r);
	return r;
}

Test(session, the_helper_refuses_crafted_arguments)
{
	static const char *const bad[][12] = {
		{"open", "--id", "../x", "--status-fd", "1", "--", "/usr/bin/bwrap"},
		{"open", "--id", "a/b", "--status-fd", "1", "--", "/usr/bin/bwrap"},
		{"open", "--id", "-x", "--status-fd", "1", "--", "/usr/bin/bwrap"},
		{"open", "--id", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--status-fd",
		 "1", "--", "/usr/bin/bwrap"},
		{"open", "--id", "ok", "--status-fd", "1", "--proxy-fd", "0", "--",
		 "/usr/bin/bwrap"},
		{"open", "--id", "ok", "--status-fd", "1", "--proxy-fd", "1", "--",
		 "/usr/bin/bwrap"},
		{"open", "--id", "ok", "--status-fd", "1", "--proxy-fd", "99", "--",
		 "/usr/bin/bwrap"},
		{"open", "--id", "ok", "--status-fd", "1", "--proxy-fd", "-1", "--",
		 "/usr/bin/bwrap"},
		{"open", "--id", "ok", "--status-fd", "1", "--proxy-port", "8080", "--",
		 "/usr/bin/bwrap"},
		{"open", "--id", "ok", "--status-fd", "1", "--local-port", "99999999999999999999",
		 "--", "/usr/bin/bwrap"},
		{"open", "--id", "ok", "--status-fd", "1", "--", "/tmp/bwrap"},
		{"open", "--id", "ok", "--status-fd", "1", "--", "/usr/bin/env"},
		{"open", "--id", "ok", "--status-fd", "1", "--", "/usr/bin/../bin/bwrap"},
		{"open", "--id", "ok", "--status-fd", "0", "--", "/usr/bin/bwrap"},
		{"open", "--id", "ok", "--status-fd", "99", "--", "/usr/bin/bwrap"},
		{"open", "--id", "ok", "--", "/usr/bin/bwrap"},
		{"reap", "--id", "ok", "--status-fd", "1", "--proxy-fd", "1"},
		{"exec", "/bin/sh"},
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct th_result r = helper_as(t.uid, t.gid, bad[i], NULL);

		cr_assert(eq(int, r.status, 2), "case %zu: status %d, %s", i, r.status, r.err);
		cr_assert(eq(str, r.out, (char *)""), "case %zu", i);
		th_result_done(&r);
	}
	cr_assert(eq(int, cells_named("ok"), 0));
}

/*
 * The proxy's socket must be a plain listener at 127.0.0.1: one in a SO_REUSEPORT group (a
 * sibling cell's socket could join it and take this cell's connections), one bound to a device,
 * or one that is also --status-fd is refused; a plain one opens the cell.
 */
Test(session, the_helper_takes_only_a_plain_loopback_listener_as_the_proxy)
{
	static const char script[] =
		"import os, socket, sys\n"
		"mode, helper = sys.argv[1], sys.argv[2]\n"
		"s = socket.socket()\n"
		"if mode == 'reuseport': s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
		"if mode == 'device': s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'lo')\n"
		"s.bind(('127.0.0.1', 0)); s.listen(4); os.dup2(s.fileno(), 5)\n"
		"os.execv(helper, [helper, 'open', '--id', 'pfd', '--status-fd',\n"
		"    '5' if mode == 'same' else '1', '--proxy-fd', '5', '--', '/usr/bin/bwrap',\n"
		"    '--ro-bind', '/', '/', '--proc', '/proc', '--', '/bin/true'])\n";
	static const char *const modes[] = {"reuseport", "device", "same", "plain"};

	for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
		char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)script,
				(char *)modes[i],	    t.helper,	  NULL};
		struct th_result r;

		th_run_as(t.uid, t.gid, t.tmp, argv, t.env, &r);
		if (streq(modes[i], "plain"))
			cr_assert(eq(int, r.status, 0), "%s", r.err);
		else
			cr_assert(eq(int, r.status, 2), "%s: status %d, %s", modes[i], r.status,
				  r.err);
		th_result_done(&r);
	}
}

Test(session, the_helper_reaps_only_its_own_users_cells)
{
	char *root_cell = th_join(t.slice, "0-victim");
	const char *reap[] = {"reap", "--id", "victim", "--status-fd", "1", NULL};
	struct th_result r;

	cr_assert(eq(int, mkdir(root_cell, 0700), 0), "%s", strerror(errno));
	r = helper_as(t.uid, t.gid, reap, NULL);
	cr_assert(eq(int, r.status, 4), "%s", r.err);
	th_result_done(&r);
	cr_assert(eq(int, access(root_cell, F_OK), 0), "another user's cell was reaped");
	/* its owner (root) can */
	r = helper_as(0, 0, reap, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "\"id\":\"victim\""), NULL)), "%s", r.out);
	th_result_done(&r);
	cr_assert(not(eq(int, access(root_cell, F_OK), 0)));
	free(root_cell);
}

/*
 * cell-session open as the test user in a mount namespace of its own, where /sys/fs/bpf is a
 * new bpffs mounted 1777 (as some distributions mount it) in which the test user made
 * "cell" first: a directory of its own (0777), or with link a symbolic link to one. The
 * cgroup2 mount there is a test cgroup of ours, so that whatever cell-session would attach
 * stays off the real cell.slice. Returns what it said on stderr; its exit status in *ret.
 */
static char *open_with_a_planted_pin_dir(bool link, const char *cgroup, int *ret)
{
	_cleanup_free_ char *cg2 = NULL;
	char *argv[] = {t.helper,
			(char *)"open",
			(char *)"--id",
			(char *)"planted",
			(char *)"--status-fd",
			(char *)"1",
			(char *)"--",
			(char *)"/usr/bin/bwrap",
			(char *)"--ro-bind",
			(char *)"/",
			(char *)"/",
			(char *)"/bin/true",
			NULL};
	char *err = calloc(1, 4096);
	size_t n = 0;
	int pipes[2], status;
	bool hybrid;
	pid_t pid;

	cr_assert(eq(int, cell_cgroup_find("/proc/self/mountinfo", &cg2, &hybrid), 0));
	cr_assert(eq(int, pipe2(pipes, O_CLOEXEC), 0));
	pid = fork();
	if (pid == 0) {
		const char *own = link ? "/sys/fs/bpf/mine" : CELL_BPF_PIN_DIR;

		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount(cgroup, cg2, NULL, MS_BIND, NULL) < 0 ||
		    mount("bpf", CELL_BPF_FS, "bpf", 0, "mode=1777") < 0)
			_exit(120);
		if (mkdir(own, 0777) < 0 || chown(own, t.uid, t.gid) < 0 || chmod(own, 0777) < 0 ||
		    (link && (symlink(own, CELL_BPF_PIN_DIR) < 0 ||
			      lchown(CELL_BPF_PIN_DIR, t.uid, t.gid) < 0)))
			_exit(121);
		if (dup2(pipes[1], 1) < 0 || dup2(pipes[1], 2) < 0 || setgroups(0, NULL) < 0 ||
		    setgid(t.gid) < 0 || setuid(t.uid) < 0)
			_exit(122);
		execve(argv[0], argv, t.env);
		_exit(127);
	}
	close(pipes[1]);
	for (ssize_t k; n < 4095 && (k = read(pipes[0], err + n, 4095 - n)) > 0;)
		n += (size_t)k;
	close(pipes[0]);
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	*ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return err;
}

/* Where bpffs is mounted 1777, a user could make /sys/fs/bpf/cell first and plant maps there
 * for the privileged side to reuse: cell-session refuses it and says what to do. */
Test(session, the_helper_refuses_a_pin_directory_that_is_not_roots_alone)
{
	_cleanup_free_ char *cg2 = NULL, *cgroup = NULL, *slice = NULL;
	char want[128];
	bool hybrid;

	cr_assert(eq(int, cell_cgroup_find("/proc/self/mountinfo", &cg2, &hybrid), 0));
	cr_assert(ge(int, asprintf(&cgroup, "%s/cell-test-pin-%d", cg2, (int)getpid()), 0));
	cr_assert(eq(int, mkdir(cgroup, 0755), 0), "%s", strerror(errno));
	slice = th_join(cgroup, CELL_SESSION_SLICE);
	for (int link = 0; link < 2; link++) {
		int status;
		char *err = open_with_a_planted_pin_dir(link, cgroup, &status);

		cr_assert(eq(int, status, 1), "%s", err);
		snprintf(
			want, sizeof(want),
			"cell-session: cannot open cell 'planted': '%s' is not root's alone (%sowner uid %u",
			CELL_BPF_PIN_DIR, link ? "a symbolic link, " : "", (unsigned)t.uid);
		cr_assert(not(eq(ptr, strstr(err, want), NULL)), "%s", err);
		cr_assert(not(eq(ptr, strstr(err, "remove it as root (rm -r /sys/fs/bpf/cell)"),
				 NULL)),
			  "%s", err);
		free(err);
	}
	/* refused before anything was made: no cell, nothing attached */
	cr_assert(not(eq(int, access(slice, F_OK), 0)));
	rmdir(slice);
	cr_assert(eq(int, rmdir(cgroup), 0), "%s", strerror(errno));
}

/* Moves pid into the cgroup at path. */
static void move_into(const char *path, pid_t pid)
{
	char *procs = th_join(path, "cgroup.procs"), text[32];
	int fd = open(procs, O_WRONLY | O_CLOEXEC);

	snprintf(text, sizeof(text), "%d", (int)pid);
	cr_assert(ge(int, fd, 0), "%s: %s", procs, strerror(errno));
	cr_assert(eq(long, (long)write(fd, text, strlen(text)), (long)strlen(text)), "%s: %s",
		  procs, strerror(errno));
	close(fd);
	free(procs);
}

/*
 * A cell of the test user's whose keeper is gone, with a process of root's in it (a login's
 * cell holds sshd's or su's): the owner's reap ends nothing and leaves the cell; root's does.
 */
Test(session, the_owners_reap_never_ends_another_users_process)
{
	char id[32];
	const char *reap[] = {"reap", "--id", id, "--status-fd", "1", NULL};
	struct cell_policy policy = {0};
	struct cell_session *s = NULL;
	char *cell;
	pid_t rooted;
	struct th_result r;

	snprintf(id, sizeof(id), "mixed-%d", (int)getpid());
	/* (forked first: a child would share the session's lock) */
	rooted = fork();
	if (rooted == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	cr_assert(eq(int, cell_session_open(t.slice, t.uid, id, &policy, NULL, &s), 0));
	cell = strdup(s->path);
	move_into(cell, rooted);
	cell_session_free(s); /* the keeper is gone: its lock is free */
	r = helper_as(t.uid, t.gid, reap, NULL);
	cr_assert(eq(int, r.status, 1), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "holds processes of another user"), NULL)), "%s",
		  r.err);
	th_result_done(&r);
	cr_assert(eq(int, kill(rooted, 0), 0), "root's process was ended by the owner's reap");
	cr_assert(eq(int, access(cell, F_OK), 0));
	/* root's close ends it all */
	cr_assert(eq(int, cell_session_reap(t.slice, t.uid, id, CELL_SESSION_KILL_ANY, NULL, NULL),
		     0));
	cr_assert(eq(int, waitpid(rooted, NULL, 0), rooted));
	cr_assert(not(eq(int, access(cell, F_OK), 0)));
	free(cell);
}

/* Whether uid's cell id has a cgroup in the slice. */
static bool cell_exists(uid_t uid, const char *id)
{
	char name[96], *path;
	bool there;

	snprintf(name, sizeof(name), "%u-%s", (unsigned)uid, id);
	path = th_join(t.slice, name);
	there = access(path, F_OK) == 0;
	free(path);
	return there;
}

/*
 * One user cannot take everyone's cells: past CELL_SESSION_QUOTA cells, its opens are refused
 * (the real helper too, in words), while another user still opens one.
 */
Test(session, a_users_cells_have_a_quota_and_others_still_open_theirs)
{
	struct cell_session *mine[CELL_SESSION_QUOTA] = {NULL}, *over = NULL, *other = NULL;
	struct cell_policy policy = {0};
	/* a uid of this test's alone: the test user's cells come and go in other tests meanwhile,
	 * and a place freed between filling the quota and the helper's try would open a cell */
	uid_t uid = 4100000 + (uid_t)getpid(), other_uid = 4000000 + (uid_t)getpid();
	char id[64], helper_id[64];
	const char *open_args[] = {"open", "--id", helper_id,	     "--status-fd",
				   "2",	   "--",   "/usr/bin/bwrap", "--ro-bind",
				   "/",	   "/",	   "/bin/true",	     NULL};
	struct th_result r;

	int n = 0, e = 0;

	/* up to the quota */
	while (n < CELL_SESSION_QUOTA && e == 0) {
		snprintf(id, sizeof(id), "quota-%d-%d", (int)getpid(), n);
		e = cell_session_open(t.slice, uid, id, &policy, NULL, &mine[n]);
		n += e == 0;
	}
	cr_assert(eq(int, n, CELL_SESSION_QUOTA), "cell %d: %s", n, strerror(-e));
	snprintf(id, sizeof(id), "quota-%d-over", (int)getpid());
	cr_assert(eq(int, cell_session_open(t.slice, uid, id, &policy, NULL, &over), -EDQUOT));
	cr_assert(not(cell_exists(uid, id)));
	/* the setuid helper, as that user, says so */
	snprintf(helper_id, sizeof(helper_id), "quota-%d-helper", (int)getpid());
	r = helper_as(uid, t.gid, open_args, NULL);
	cr_assert(eq(int, r.status, 5), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "the most one user may have"), NULL)), "%s", r.err);
	th_result_done(&r);
	/* another user is not held up */
	cr_assert(eq(int,
		     cell_session_open(t.slice, other_uid, "quota-other", &policy, NULL, &other),
		     0));
	cr_assert(eq(int, cell_session_close(other, NULL, NULL), 0));
	for (int i = 0; i < n; i++)
		cr_assert(eq(int, cell_session_close(mine[i], NULL, NULL), 0));
	/* and below the quota again, the user opens */
	r = helper_as(uid, t.gid, open_args, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
}

/*
 * A cell whose caller is gone when it ends (nothing reads its status) is closed all the same,
 * its entries out of the kernel's tables; its record waits for its owner's reap, once.
 */
Test(session, a_cell_with_no_reader_is_closed_and_its_record_kept)
{
	char id[64], script[1024];
	const char *reap[] = {"reap", "--id", id, "--status-fd", "1", NULL};
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", script, NULL};
	struct th_result r;

	snprintf(id, sizeof(id), "unread-%d", (int)getpid());
	snprintf(script, sizeof(script),
		 "import os, subprocess\n"
		 "r, w = os.pipe()\n"
		 "os.close(r)\n"
		 "p = subprocess.run(['%s', 'open', '--id', '%s', '--status-fd', str(w), '--',"
		 " '/usr/bin/bwrap', '--ro-bind', '/', '/', '/bin/true'], pass_fds=[w])\n"
		 "print('status', p.returncode)\n",
		 t.helper, id);
	th_run_as(t.uid, t.gid, t.tmp, argv, t.env, &r);
	cr_assert(eq(str, r.out, (char *)"status 0\n"), "%s", r.err);
	th_result_done(&r);
	cr_assert(not(cell_exists(t.uid, id)), "left open");
	r = helper_as(t.uid, t.gid, reap, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "\"status\":0,"), NULL)), "%s", r.out);
	th_result_done(&r);
	r = helper_as(t.uid, t.gid, reap, NULL);
	cr_assert(eq(int, r.status, 4), "%s", r.err);
	th_result_done(&r);
}

/* Root's cell gc --all closes any user's cell whose keeper is gone; the record waits for the
 * owner. As anyone else, --all is refused. */
Test(session, root_closes_every_users_dead_cells)
{
	char id[64];
	const char *reap[] = {"reap", "--id", id, "--status-fd", "1", NULL};
	char *gc[] = {t.cell, (char *)"gc", (char *)"--all", NULL};
	struct cell_policy policy = {0};
	struct cell_session *s = NULL;
	struct th_result r;
	char want[128];

	snprintf(id, sizeof(id), "dead-%d", (int)getpid());
	cr_assert(eq(int, cell_session_open(t.slice, t.uid, id, &policy, NULL, &s), 0));
	cell_session_free(s); /* its keeper is gone */
	th_run_as(t.uid, t.gid, t.proj, gc, t.env, &r);
	cr_assert(not(eq(int, r.status, 0)));
	cr_assert(not(eq(ptr, strstr(r.err, "only root may"), NULL)), "%s", r.err);
	th_result_done(&r);
	cr_assert(cell_exists(t.uid, id));
	th_run(t.proj, gc, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	snprintf(want, sizeof(want), "closed cell %s of uid %u", id, (unsigned)t.uid);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "%s", r.out);
	th_result_done(&r);
	cr_assert(not(cell_exists(t.uid, id)));
	r = helper_as(t.uid, t.gid, reap, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.out, id), NULL)), "%s", r.out);
	th_result_done(&r);
}

Test(session, the_cell_gets_no_environment_and_no_privilege_from_the_helper)
{
	/* the counters to stderr, which bwrap then does not get */
	const char *args[] = {
		"open",
		"--id",
		"envtest",
		"--status-fd",
		"2",
		"--",
		"/usr/bin/bwrap",
		"--ro-bind",
		"/",
		"/",
		"--proc",
		"/proc",
		"--",
		"/bin/sh",
		"-c",
		"env; grep -E '^(Uid|Gid|CapEff|CapPrm|NoNewPrivs)' /proc/self/status; "
		"cat /proc/self/cgroup",
		NULL};
	char *env[] = {(char *)"LD_PRELOAD=/nonexistent/libevil.so", (char *)"FOO=bar",
		       (char *)"LD_LIBRARY_PATH=/tmp", (char *)"PATH=/tmp", NULL};
	char want[256];
	struct th_result r = helper_as(t.uid, t.gid, args, env);

	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(ptr, strstr(r.out, "LD_"), NULL), "%s", r.out);
	cr_assert(eq(ptr, strstr(r.out, "FOO"), NULL), "%s", r.out);
	snprintf(want, sizeof(want), "Uid:\t%u\t%u\t%u\t%u", t.uid, t.uid, t.uid, t.uid);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "CapEff:\t0000000000000000"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "CapPrm:\t0000000000000000"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "NoNewPrivs:\t1"), NULL)), "%s", r.out);
	snprintf(want, sizeof(want), "/cell.slice/%u-envtest\n", t.uid);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "%s", r.out);
	/* and the counters came last, on the status descriptor */
	cr_assert(not(eq(ptr, strstr(r.err, "{\"id\":\"envtest\",\"status\":0,"), NULL)), "%s",
		  r.err);
	th_result_done(&r);
	cr_assert(eq(int, cells_named("envtest"), 0));
}

/* Waits (bounded) until cmdline of some process of the test user contains what. */
static pid_t find_process(const char *what)
{
	for (int i = 0; i < 200; i++) {
		char *argv[] = {(char *)"/usr/bin/pgrep", (char *)"-n", (char *)"-f", (char *)what,
				NULL};
		struct th_result r;
		pid_t pid;

		th_run(NULL, argv, (char *[]){NULL}, &r);
		pid = r.status == 0 ? (pid_t)strtol(r.out, NULL, 10) : 0;
		th_result_done(&r);
		if (pid > 0)
			return pid;
		usleep(50000);
	}
	cr_assert(0, "no process matches '%s'", what);
	return 0;
}

static bool gone(pid_t pid)
{
	for (int i = 0; i < 200; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		usleep(25000);
	}
	return false;
}

/* The number of "kind":"cell" records in the project's ledger. */
static size_t cell_records(void)
{
	char *json = stats_json();
	size_t n = (size_t)stat_of(json, "cells");

	free(json);
	return n;
}

/* Waits (bounded) until no process's command line contains what. */
static bool none_left(const char *what)
{
	for (int i = 0; i < 200; i++) {
		char *argv[] = {(char *)"/usr/bin/pgrep", (char *)"-f", (char *)what, NULL};
		struct th_result r;

		th_run(NULL, argv, (char *[]){NULL}, &r);
		th_result_done(&r);
		if (r.status == 1)
			return true;
		usleep(50000);
	}
	return false;
}

struct fault {
	int victim;    /* 0 cell-session, 1 cell run, 2 the proxy, 3 the cell's command */
	char sleep[8]; /* the command's "sleep N": tells this test's cell from the others' */
};

static struct fault faults[] = {
	{0, "1.51"},
	{1, "1.52"},
	{2, "1.53"},
	{3, "1.54"},
};

ParameterizedTestParameters(session, a_killed_process_leaves_nothing_behind)
{
	return cr_make_param_array(struct fault, faults, ELEMENTSOF(faults));
}

ParameterizedTest(struct fault *f, session, a_killed_process_leaves_nothing_behind)
{
	char *sleep, *gc[] = {t.cell, (char *)"gc", NULL};
	/* the proxy starts at the cell's first connection to it */
	char *argv[] = {t.cell,		  (char *)"run",   (char *)"--", (char *)"/usr/bin/python3",
			(char *)"net.py", (char *)"proxy", NULL,	 NULL};
	char *pattern[4];
	pid_t run, victim, proxy;
	struct th_result r;

	cr_assert(ge(int, asprintf(&sleep, "sleep %s", f->sleep), 0));
	argv[6] = sleep;
	/* anchored: bwrap's command line holds the cell's command too */
	cr_assert(ge(int, asprintf(&pattern[0], "^%s open", t.helper), 0));
	cr_assert(ge(int, asprintf(&pattern[1], "^%s run", t.cell), 0));
	cr_assert(ge(int, asprintf(&pattern[2], "^%s -C ", t.stage.proxy), 0));
	cr_assert(ge(int, asprintf(&pattern[3], "^/usr/bin/python3 net.py proxy %s", sleep), 0));
	run = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	proxy = find_process(pattern[2]);
	find_process(pattern[3]);
	victim = find_process(pattern[f->victim]);
	cr_assert(eq(int, kill(victim, SIGKILL), 0));
	waitpid(run, NULL, 0);
	/* with cell run killed, the cell runs to its end; then its keeper leaves it to a reaper */
	cr_assert(none_left(pattern[3]));
	cr_assert(none_left(pattern[0]));
	th_run_as(t.uid, t.gid, t.proj, gc, t.env, &r);
	cr_assert(eq(int, r.status, 0), "cell gc: %s", r.err);
	th_result_done(&r);
	cr_assert(eq(int, user_cells(), 0), "a cgroup is left");
	cr_assert(eq(sz, running_files(), 0), "a cell is still listed");
	cr_assert(gone(proxy), "the proxy is still running");
	cr_assert(eq(sz, cell_records(), 1), "the ledger has no record of the cell");
	for (size_t i = 0; i < ELEMENTSOF(pattern); i++)
		free(pattern[i]);
	free(sleep);
}

/* This test's one open cell's record in the registry of open cells, or NULL if none is open
 * (yet). */
static char *record_if_open(void)
{
	char *dir = th_join(t.home, ".local/state/cell/cells"), *pattern = th_join(dir, "*.json");
	char *text = NULL;
	glob_t g;

	if (glob(pattern, 0, NULL, &g) == 0) {
		cr_assert(eq(sz, g.gl_pathc, 1));
		text = th_read(g.gl_pathv[0]);
		globfree(&g);
	}
	free(pattern);
	free(dir);
	return text;
}

static char *running_record(void)
{
	char *text = record_if_open();

	cr_assert(not(eq(ptr, text, NULL)), "no open cell");
	return text;
}

/* The port of the proxy of the one running cell, once it has started (10 s at most); its pid
 * in *ret_pid if not NULL. */
static unsigned started_proxy(pid_t *ret_pid)
{
	unsigned port = 0;
	pid_t proxy = 0;

	for (int i = 0; i < 400 && proxy <= 0; i++, usleep(25000)) {
		/* (the directory may hold only the record's temporary file, before its rename) */
		char *record = record_if_open(), *at;

		if (!record)
			continue;
		at = strstr(record, "\"proxy\":");
		proxy = at ? (pid_t)strtol(at + strlen("\"proxy\":"), NULL, 10) : 0;
		at = strstr(record, "\"proxy_port\":");
		port = at ? (unsigned)strtoul(at + strlen("\"proxy_port\":"), NULL, 10) : 0;
		free(record);
	}
	cr_assert(gt(int, proxy, 0), "the proxy did not start");
	if (ret_pid)
		*ret_pid = proxy;
	return port;
}

/*
 * A cell's proxy serves the cell's processes only: another process on this machine (another
 * user's, or the same user's outside the cell) that finds its port gets a 403, not the cell's
 * allowlist and names.
 */
Test(session, a_cells_proxy_refuses_everyone_outside_the_cell)
{
	char *argv[] = {
		t.cell,		  (char *)"run",   (char *)"--",      (char *)"/usr/bin/python3",
		(char *)"net.py", (char *)"proxy", (char *)"sleep 3", NULL};
	char req[256], script[512], port[16];
	char *outside[] = {(char *)"/usr/bin/python3", (char *)"-c", script, NULL};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	unsigned proxy_port = 0;
	pid_t run;
	char buf[1024] = "";
	struct th_result r;
	ssize_t n;
	int fd, status;

	run = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	proxy_port = started_proxy(NULL);
	snprintf(req, sizeof(req),
		 "GET http://registry.test:%u/hello HTTP/1.1\r\nHost: registry.test:%u\r\n\r\n",
		 t.port, t.port);
	/* root, outside any cell */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_port = htons((uint16_t)proxy_port);
	cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(long, (long)write(fd, req, strlen(req)), (long)strlen(req)));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert(gt(long, (long)n, 0L));
	buf[n] = '\0';
	cr_assert(eq(int, strncmp(buf, "HTTP/1.1 403 ", 13), 0), "%s", buf);
	cr_assert(not(eq(ptr, strstr(buf, "serves only its own cell's processes"), NULL)), "%s",
		  buf);
	/* the same user, outside the cell */
	snprintf(port, sizeof(port), "%u", proxy_port);
	snprintf(script, sizeof(script),
		 "import socket\ns = socket.create_connection(('127.0.0.1', %s))\n"
		 "s.sendall(%s)\nprint(s.recv(64).decode().split('\\r')[0])\n",
		 port, "b'GET http://registry.test/ HTTP/1.1\\r\\n\\r\\n'");
	th_run_as(t.uid, t.gid, t.proj, outside, t.env, &r);
	cr_assert(eq(str, r.out, (char *)"HTTP/1.1 403 Forbidden\n"), "%s", r.err);
	th_result_done(&r);
	cr_assert(eq(int, waitpid(run, &status, 0), run));
	cr_assert(eq(int, status, 0));
}

/*
 * Another user's listener, at 127.0.0.1:port once it is free: accepts for 5 s, in a child;
 * returns when it listens. The child exits 1 if anything connected, else 0.
 */
static pid_t squatter(unsigned port)
{
	int ready[2];
	char c;
	pid_t pid;

	cr_assert(eq(int, pipe(ready), 0));
	pid = th_fork();
	if (pid == 0) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		struct pollfd p = {.events = POLLIN};
		int one = 1;

		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(3);
		p.fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(p.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* the port is free once the proxy's socket is closed */
		for (int i = 0; bind(p.fd, (struct sockaddr *)&a, sizeof(a)) < 0; i++) {
			if (i == 400)
				_exit(4);
			usleep(25000);
		}
		if (listen(p.fd, 8) < 0 || write(ready[1], "1", 1) != 1)
			_exit(5);
		_exit(poll(&p, 1, 5000) == 1 ? 1 : 0);
	}
	close(ready[1]);
	cr_assert(eq(long, (long)read(ready[0], &c, 1), 1L), "the squatter could not listen");
	close(ready[0]);
	return pid;
}

/*
 * The cell's proxy is its socket, not its port: when the proxy is gone, another user who
 * listens on its port gets nothing of the cell's (its connections would carry what the cell
 * asks of its proxy, credentials and all).
 */
Test(session, another_users_listener_on_a_dead_proxys_port_is_not_the_cells_proxy)
{
	char *go = th_join(t.proj, "go");
	char *argv[] = {t.cell,
			(char *)"run",
			(char *)"--",
			(char *)"/usr/bin/python3",
			(char *)"net.py",
			(char *)"proxy",
			(char *)"wait go",
			(char *)"proxy",
			NULL};
	char *outfile = th_join(t.tmp, "squat.out"), *out;
	pid_t proxy, squat, bg = th_fork();
	unsigned port;
	int status;

	if (bg == 0) {
		struct th_result r;

		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		free(th_write(t.tmp, "squat.out", r.out));
		_exit(0);
	}
	port = started_proxy(&proxy);
	cr_assert(eq(int, kill(proxy, SIGKILL), 0));
	squat = squatter(port);
	free(th_write(t.proj, "go", ""));
	cr_assert(eq(int, waitpid(bg, NULL, 0), bg));
	cr_assert(eq(int, waitpid(squat, &status, 0), squat));
	out = th_read(outfile);
	/* the first connection started the proxy; the one after its end is refused */
	cr_assert(eq(str, out, (char *)"ok\nerrno 1\n"));
	cr_assert(eq(int, WEXITSTATUS(status), 0), "the other user's listener got a connection");
	unlink(go);
	free(out);
	free(outfile);
	free(go);
}

/*
 * The kernel answers a question about a socket bound to a device, which it does not find among
 * connections, with a listener on the same address and port: a process outside that binds its
 * socket to lo, on the address and port of a server of the cell's (both SO_REUSEADDR, as Node
 * and Python servers set it), must still get the 403 from the cell's proxy.
 */
Test(session, a_cells_proxy_is_not_fooled_by_a_socket_bound_to_a_device)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	char hold[32], req[256], buf[1024] = "";
	char *argv[] = {t.cell,
			(char *)"run",
			(char *)"--",
			(char *)"/usr/bin/python3",
			(char *)"net.py",
			hold,
			(char *)"proxy",
			(char *)"sleep 3",
			NULL};
	unsigned proxy_port = 0;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status;
	pid_t run;
	ssize_t n;

	/* outside: a socket on lo's 127.0.0.1:X, not listening */
	cr_assert(eq(int, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0));
	cr_assert(eq(int, setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3), 0));
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, getsockname(fd, (struct sockaddr *)&a, &alen), 0));
	/* the cell: a server on 127.0.0.1:X, and its proxy started */
	snprintf(hold, sizeof(hold), "hold %u", (unsigned)ntohs(a.sin_port));
	run = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	proxy_port = started_proxy(NULL);
	a.sin_port = htons((uint16_t)proxy_port);
	cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof(a)), 0), "%s", strerror(errno));
	snprintf(req, sizeof(req),
		 "GET http://registry.test:%u/hello HTTP/1.1\r\nHost: registry.test:%u\r\n\r\n",
		 t.port, t.port);
	cr_assert(eq(long, (long)write(fd, req, strlen(req)), (long)strlen(req)));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert(gt(long, (long)n, 0L));
	buf[n] = '\0';
	cr_assert(eq(int, strncmp(buf, "HTTP/1.1 403 ", 13), 0), "%s", buf);
	cr_assert(eq(int, waitpid(run, &status, 0), run));
	cr_assert(eq(int, status, 0));
}

/* ...and a client of the cell's that binds its socket to lo (SO_BINDTODEVICE) is found, and
 * served. */
Test(session, a_cells_client_bound_to_lo_is_served_by_its_proxy)
{
	probe_says("lofetch http://registry.test:%u/hello", "200\n");
}

/*
 * A listener of the cell's user outside, in a SO_REUSEPORT group: the cell cannot join the
 * group (and then attach a program that hands every connection to the outside listener, while
 * the kernel's checks pick the cell's own member): setsockopt is refused, the port is not the
 * cell's, and the listener outside accepts nothing.
 */
Test(session, a_cell_joins_no_reuseport_group_of_its_users_listeners)
{
	static const char outside[] =
		"import socket, sys, time\n"
		"v = socket.socket(); v.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
		"v.bind(('127.0.0.1', 0)); v.listen(64); v.settimeout(0.2)\n"
		"open('v.port.tmp', 'w').write(str(v.getsockname()[1]))\n"
		"import os; os.rename('v.port.tmp', 'v.port')\n"
		"n, end = 0, time.time() + 6\n"
		"while time.time() < end:\n"
		"    try: v.accept()[0].close(); n += 1\n"
		"    except OSError: pass\n"
		"print(n, flush=True)\n";
	/* members of its own until the kernel's checks pick one of them (they hash a connection
	 * without its source), then a program for the group: always the first member, outside */
	static const char attack[] =
		"import ctypes, socket, struct\n"
		"port, socks = int(open('v.port').read()), []\n"
		"def reach():\n"
		"    try: socket.create_connection(('127.0.0.1', port), timeout=2).close(); "
		"return 'connected'\n"
		"    except OSError as e: return 'errno %d' % e.errno\n"
		"for i in range(64):\n"
		"    s = socket.socket()\n"
		"    try: s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
		"    except OSError as e:\n"
		"        if i == 0: print('reuseport errno', e.errno)\n"
		"    try: s.bind(('127.0.0.1', port)); s.listen(4); socks.append(s)\n"
		"    except OSError as e:\n"
		"        if i == 0: print('bind errno', e.errno)\n"
		"        break\n"
		"    if reach() == 'connected': break\n"
		"if socks:\n"
		"    ret0 = ctypes.create_string_buffer(struct.pack('HBBI', 0x06, 0, 0, 0))\n"
		"    socks[0].setsockopt(socket.SOL_SOCKET, 51, struct.pack('HL', 1, "
		"ctypes.addressof(ret0)))\n"
		"    print('joined')\n"
		"print(' '.join(sorted(set(reach() for i in range(8)))))\n";
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"v.py", NULL};
	char *port = th_join(t.proj, "v.port"), *accepted = NULL;
	struct th_result r;
	int out[2], status;
	size_t len = 0;
	pid_t v;

	free(th_write(t.proj, "v.py", outside));
	th_chown_r(t.proj, t.uid, t.gid);
	cr_assert(eq(int, pipe(out), 0));
	v = th_fork();
	if (v == 0) {
		dup2(out[1], STDOUT_FILENO);
		if (setgroups(0, NULL) < 0 || setgid(t.gid) < 0 || setuid(t.uid) < 0 ||
		    chdir(t.proj) < 0)
			_exit(127);
		execve(argv[0], argv, t.env);
		_exit(127);
	}
	close(out[1]);
	for (int i = 0; i < 200 && access(port, F_OK) < 0; i++)
		usleep(25000);
	r = run_file("/usr/bin/python3", "attack.py", attack);
	cr_assert(eq(int, cell_read_full_fd(out[0], 64, &accepted, &len), 0));
	close(out[0]);
	cr_assert(eq(int, waitpid(v, &status, 0), v));
	cr_assert(eq(str, accepted, (char *)"0\n"), "the listener outside was reached: %s", r.out);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	/* EPERM: the kernel's, as for any port of someone else's */
	cr_assert(eq(str, r.out, (char *)"reuseport errno 1\nbind errno 98\nerrno 1\n"), "%s",
		  r.err);
	th_result_done(&r);
	free(accepted);
	free(port);
}

/* The proxy closed the last connection from a port (its side waits in TIME_WAIT): the cell's
 * next connection from that port reaches the proxy all the same. */
Test(session, a_port_whose_last_connection_the_proxy_closed_reaches_it_again)
{
	probe_says("again http://evil.test:%u/", "403 connected\n");
}

Test(session, the_proxy_starts_at_the_cells_first_connection)
{
	char *argv[] = {t.cell,
			(char *)"run",
			(char *)"--",
			(char *)"/usr/bin/python3",
			(char *)"net.py",
			(char *)"sleep 1.61",
			(char *)"proxy",
			(char *)"sleep 1.62",
			NULL};
	char *probes[] = {(char *)"listening", (char *)"proxy", NULL};
	char *record = NULL, *at, path[64], cmdline[PATH_MAX] = "";
	pid_t run, proxy = 0;
	struct th_result r;
	int status, fd;

	run = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	find_process("^/usr/bin/python3 net.py sleep 1.61");
	/* a cell that has not connected to its proxy has none */
	record = running_record();
	cr_assert(not(eq(ptr, strstr(record, "\"proxy\":0,"), NULL)), "%s", record);
	free(record);
	for (int i = 0; i < 200 && proxy <= 0; i++, usleep(25000)) {
		record = running_record();
		at = strstr(record, "\"proxy\":");
		proxy = at ? (pid_t)strtol(at + strlen("\"proxy\":"), NULL, 10) : 0;
		free(record);
	}
	cr_assert(gt(int, proxy, 0), "the proxy did not start at the first connection");
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)proxy);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(ge(int, fd, 0));
	cr_assert(gt(long, (long)read(fd, cmdline, sizeof(cmdline) - 1), 0));
	close(fd);
	cr_assert(eq(str, cmdline, t.stage.proxy));
	cr_assert(eq(int, waitpid(run, &status, 0), run));
	cr_assert(eq(int, status, 0));
	cr_assert(gone(proxy), "the proxy outlived its cell");
	/* the cell holds no listening socket of the proxy's (it could answer in its place) */
	r = in_cell(probes);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, (char *)"0\nok\n"));
	th_result_done(&r);
}

Test(session, the_shim_takes_clients_that_ignore_the_proxy_through_it)
{
	char *script;
	char denied[160];
	struct th_result r;
	char *json, *at;

	cr_assert(
		ge(int,
		   asprintf(&script,
			    /* curl told not to use the proxy: the shim takes it there */
			    "curl -sS --noproxy '*' -o /dev/null -w '%%{http_code}\\n' "
			    "http://registry.test:%u/hello\n"
			    "curl -sS --noproxy '*' http://evil.test:%u/; echo \"curl $?\"\n"
			    /* a raw socket, resolving with getaddrinfo: IPv4 and IPv6 */
			    "python3 net.py 'raw registry.test %u 4' 'raw registry.test %u 6' "
			    "'raw registry.test %u 6only' 'raw registry.test %u mptcp'\n"
			    /* urllib with an environment of its own (env -i): the cell's comes
			     * back */
			    "env -i /usr/bin/python3 -c 'import urllib.request as u; "
			    "print(u.urlopen(\"http://registry.test:%u/hello\").status)'\n"
			    /* a preload of the caller's own keeps the shim after it */
			    "LD_PRELOAD=libm.so.6 python3 net.py 'raw registry.test %u 4'\n"
			    "LD_PRELOAD=libm.so.6 sh -c 'echo $LD_PRELOAD'\n"
			    /* without the shim the kernel refuses the same connect */
			    "LD_PRELOAD= python3 net.py 'tcp 198.18.0.1 %u'\n"
			    /* the gethostbyname family: gethostbyname_r (python), gethostbyname
			     * (perl) */
			    "python3 -c \"import socket; "
			    "print(socket.gethostbyname_ex('registry.test')[2][0])\"\n"
			    "perl -e 'print join(\".\", unpack(\"C4\", "
			    "(gethostbyname(\"registry.test\"))[4])), \"\\n\"'\n"
			    /* a program's own file where stderr was gets no word of the shim's */
			    "python3 -c 'import os, socket\nos.close(2); f = open(\"fd2\", \"w\")\n"
			    "try: socket.create_connection((\"evil.test\", %u))\n"
			    "except OSError: pass\n"
			    "f.close(); print(\"fd2\", os.path.getsize(\"fd2\"))'\n"
			    /* numbers glibc takes as addresses stay addresses */
			    "python3 -c \"import socket; "
			    "print(socket.getaddrinfo('127.1', 80)[0][4][0])\"\n",
			    t.port, t.port, t.port, t.port, t.port, t.port, t.port, t.port, t.port,
			    t.port),
		   0));
	r = run_file("/bin/sh", "shim.sh", script);
	free(script);
	/* (evil.test at the test's port: the fix names it) */
	snprintf(denied, sizeof(denied),
		 "cell: evil.test:%u is not in sess's network allowlist (cell allow-host "
		 "evil.test:%u)\n",
		 t.port, t.port);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(
		eq(str, r.out,
		   (char *)"200\ncurl 7\n200\n200\n200\n200\n200\n200\nlibm.so.6:/run/cell/libcellshim.so\nerrno 1\n198.18.0.1\n198.18.0.1\nfd2 0\n127.0.0.1\n"),
		"%s", r.err);
	/* the proxy's reason, once although curl tried both addresses */
	at = strstr(r.err, denied);
	cr_assert(not(eq(ptr, at, NULL)), "%s", r.err);
	cr_assert(eq(ptr, strstr(at + 1, denied), NULL), "%s", r.err);
	th_result_done(&r);
	/* the proxy counted them by name */
	json = stats_json();
	cr_assert(not(eq(ptr, strstr(json, "\"registry.test\":{\"requests\":1,\"tunnels\":6,"),
			 NULL)),
		  "%s", json);
	cr_assert(not(eq(ptr, strstr(json, "\"evil.test\":"), NULL)), "%s", json);
	free(json);
}

Test(session, real_clients_that_ignore_the_proxy_go_through_the_shim)
{
	char *script;
	struct th_result r;
	char *json;

	cr_assert(ge(
		int,
		asprintf(
			&script,
			"U=http://registry.test:%u\n"
			"wget -q --no-proxy -O - $U/hello\n"
			/* Node's fetch ignores the proxy variables */
			"node -e 'fetch(process.argv[1]).then(r => console.log(\"node\", r.status))' "
			"$U/hello\n"
			/* a non-blocking connect */
			"python3 -c 'import asyncio\n"
			"async def main():\n"
			"    r, w = await asyncio.open_connection(\"registry.test\", %u)\n"
			"    w.write(b\"GET /hello HTTP/1.0\\r\\n\\r\\n\"); await w.drain()\n"
			"    print(\"asyncio\", (await r.readline()).split()[1].decode())\n"
			"asyncio.run(main())'\n"
			/* 16 threads, 64 connections */
			"python3 -c 'import socket, concurrent.futures as f\n"
			"def get(i):\n"
			"    s = socket.create_connection((\"registry.test\", %u))\n"
			"    s.sendall(b\"GET /hello HTTP/1.0\\r\\n\\r\\n\"); return s.recv(12).split()[1]\n"
			"with f.ThreadPoolExecutor(16) as ex: r = list(ex.map(get, range(64)))\n"
			"print(\"threads\", r.count(b\"200\"))'\n"
			/* a name resolved by one process, connected to by its child */
			"python3 -c 'import socket, subprocess, sys\n"
			"a = socket.getaddrinfo(\"registry.test\", %u, socket.AF_INET)[0][4][0]\n"
			"subprocess.run([sys.executable, \"net.py\", \"raw %%s %u\" %% a])'\n"
			/* git with its proxy setting emptied: it reaches the server (a 404) */
			"git -c http.proxy= ls-remote $U/nothing 2>&1 | grep -q 'not found' && "
			"echo git reached\n",
			t.port, t.port, t.port, t.port, t.port),
		0));
	r = run_file("/bin/sh", "clients.sh", script);
	free(script);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out,
		     (char *)"hello\nnode 200\nasyncio 200\nthreads 64\n200\ngit reached\n"),
		  "%s", r.err);
	th_result_done(&r);
	json = stats_json();
	/* each through a tunnel of the proxy, under the host's name: at least 69 */
	cr_assert(ge(ullong, (unsigned long long)stat_of(json, "tunnels"), 69ULL), "%s", json);
	cr_assert(eq(ullong, (unsigned long long)stat_of(json, "connects_denied"), 0ULL), "%s",
		  json);
	free(json);
}

/* Each client of the tests above ignores the proxy variables (which the cell sets) by itself:
 * without the shim the kernel refuses its connect with EPERM. */
Test(session, without_the_shim_the_same_clients_are_refused_by_the_kernel)
{
	struct th_result r;

	r = run_file(
		"/bin/sh", "noshim.sh",
		"export LD_PRELOAD=\n"
		"[ -n \"$http_proxy\" ] && [ -n \"$HTTPS_PROXY\" ] && echo proxy variables set\n"
		"U=http://192.0.2.1:8765/hello\n"
		"p() { grep -q 'Operation not permitted\\|EPERM' && echo \"$1 EPERM\" || echo \"$1 ?\"; }\n"
		"curl -v --noproxy '*' $U 2>&1 | p curl\n"
		"wget --no-proxy -t 1 -O - $U 2>&1 | p wget\n"
		"node -e 'fetch(process.argv[1]).catch(e => console.log(e.cause.code))' $U | p node\n"
		"python3 -c 'import socket; socket.create_connection((\"192.0.2.1\", 80))' 2>&1 | p raw\n"
		"python3 -c 'import socket; socket.create_connection((\"2001:db8::1\", 80))' 2>&1 | p raw6\n"
		"python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, "
		"262).connect((\"192.0.2.1\", 80))' 2>&1 | p mptcp\n"
		"env -i /usr/bin/python3 -c 'import urllib.request as u; u.urlopen(\"'$U'\")' 2>&1 | "
		"p urllib\n"
		"python3 -c 'import asyncio; asyncio.run(asyncio.open_connection(\"192.0.2.1\", 80))' "
		"2>&1 | p asyncio\n"
		"GIT_CURL_VERBOSE=1 git -c http.proxy= ls-remote $U 2>&1 | p git\n");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out,
		     (char *)"proxy variables set\ncurl EPERM\nwget EPERM\nnode EPERM\nraw EPERM\n"
			     "raw6 EPERM\nmptcp EPERM\nurllib EPERM\nasyncio EPERM\ngit EPERM\n"),
		  "%s", r.err);
	th_result_done(&r);
}

/* Names in /etc/hosts are the system's to resolve, wherever they are in a long file. */
Test(session, the_shim_leaves_names_in_etc_hosts_to_the_system)
{
	char *hosts = NULL, *long_line = malloc(5001);
	size_t size = 0;
	FILE *f = open_memstream(&hosts, &size);
	struct th_result r;

	cr_assert(not(eq(ptr, f, NULL)));
	for (int i = 0; i < 400; i++)
		fprintf(f, "# a comment line to make the file longer than any one read %d\n", i);
	memset(long_line, 'x', 5000);
	long_line[5000] = '\0';
	fprintf(f, "127.0.0.1\tlate.test\n#%s\n127.0.0.2 afterlong.test # comment\n", long_line);
	fprintf(f, "127.0.0.3 first.last.test last.test");
	fclose(f);
	free(long_line);
	cr_assert(gt(ulong, (unsigned long)size, 20000UL));
	free(th_write(t.proj, "hosts", hosts));
	free(hosts);
	/* (a mount beside the network member) */
	write_config("{\"mode\": \"proxy\"}, \"mounts\": [{\"path\": \"./hosts\", \"dest\": "
		     "\"/etc/hosts\"}]");
	r = run_file("/usr/bin/python3", "hosts.py",
		     "import socket\n"
		     "for n in ['late.test', 'afterlong.test', 'last.test', 'other.test']:\n"
		     "    print(n, socket.getaddrinfo(n, 80, socket.AF_INET)[0][4][0])\n");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out,
		     (char *)"late.test 127.0.0.1\nafterlong.test 127.0.0.2\nlast.test "
			     "127.0.0.3\nother.test 198.18.0.1\n"),
		  "%s", r.err);
	th_result_done(&r);
}

Test(session, a_non_blocking_connect_through_the_shim_is_answered_early)
{
	char *network;
	struct th_result r;

	/* closed.test is allowed, and nothing listens where it leads */
	cr_assert(ge(int,
		     asprintf(&network,
			      "{\"mode\": \"proxy\", \"allow\": [\"registry.test:%u\", "
			      "\"closed.test:1\"], \"resolve\": {\"registry.test\": "
			      "\"127.0.0.1\", \"closed.test\": \"127.0.0.1\"}}",
			      t.port),
		     0));
	write_config(network);
	free(network);
	cr_assert(ge(int,
		     asprintf(&network,
			      "import select, socket\n"
			      "def nb(host, port):\n"
			      "    s = socket.socket(); s.setblocking(False)\n"
			      "    try: s.connect((host, port)); how = 'connected'\n"
			      "    except BlockingIOError: how = 'in progress'\n"
			      "    select.select([], [s], [], 10)\n"
			      "    try:\n"
			      "        s.send(b'GET /hello HTTP/1.0\\r\\n\\r\\n')\n"
			      "        select.select([s], [], [], 10)\n"
			      "        return how + ' ' + s.recv(12).decode().split()[1]\n"
			      "    except ConnectionResetError: return how + ' reset'\n"
			      "print(nb('registry.test', %u))\n"
			      "print(nb('closed.test', 1))\n",
			      t.port),
		     0));
	r = run_file("/usr/bin/python3", "nb.py", network);
	free(network);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	/* the allowlist answered at once; the upstream that is not there shows as a reset */
	cr_assert(eq(str, r.out, (char *)"connected 200\nconnected reset\n"), "%s", r.err);
	th_result_done(&r);
}

/* A blocking connect with a send timeout (SO_SNDTIMEO bounds a blocking connect) gives up
 * after it, through the shim too, while the proxy still waits for an upstream that does not
 * answer; and a signal meanwhile runs its handler without ending the connect. */
Test(session, a_blocking_connect_through_the_shim_keeps_to_the_sockets_send_timeout)
{
	/* a listener whose queue is full: SYNs to it go unanswered */
	static const char hole_py[] = "import socket, time\n"
				      "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(0)\n"
				      "fill = [socket.socket() for i in range(4)]\n"
				      "for c in fill:\n"
				      "    c.setblocking(False)\n"
				      "    try: c.connect(l.getsockname())\n"
				      "    except BlockingIOError: pass\n"
				      "print(l.getsockname()[1], flush=True)\n"
				      "time.sleep(600)\n";
	char *server[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)hole_py, NULL};
	char *network, *script;
	struct th_result r;
	unsigned port;
	pid_t hole;

	hole = th_spawn_server(NULL, server, t.env, "%u", &port);
	cr_assert(ge(int,
		     asprintf(&network,
			      "{\"mode\": \"proxy\", \"allow\": [\"hole.test:%u\"], "
			      "\"resolve\": {\"hole.test\": \"127.0.0.1\"}}",
			      port),
		     0));
	write_config(network);
	free(network);
	cr_assert(
		ge(int,
		   asprintf(&script,
			    "import errno, signal, socket, struct\n"
			    "signal.signal(signal.SIGALRM, lambda *a: print('alarm'))\n"
			    "signal.setitimer(signal.ITIMER_REAL, 0.3)\n"
			    "s = socket.socket()\n"
			    "s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack('ll', "
			    "1, 0))\n"
			    "try: s.connect(('hole.test', %u)); print('connected')\n"
			    "except OSError as e: print(errno.errorcode[e.errno])\n",
			    port),
		   0));
	r = run_file("/usr/bin/python3", "hole.py", script);
	free(script);
	kill(hole, SIGKILL);
	waitpid(hole, NULL, 0);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	/* not ECONNREFUSED: that is the proxy's 504, ten seconds on */
	cr_assert(eq(str, r.out, (char *)"alarm\nETIMEDOUT\n"), "%s", r.err);
	th_result_done(&r);
}

Test(session, openssl_s_client_reaches_a_tls_upstream_through_the_shim)
{
	static const char tls_py[] =
		"import functools, http.server, ssl, sys\n"
		"class H(http.server.SimpleHTTPRequestHandler):\n"
		"    def log_message(self, *a): pass\n"
		"ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
		"ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n"
		"s = http.server.HTTPServer(('127.0.0.1', 0), functools.partial(H, "
		"directory=sys.argv[1]))\n"
		"s.socket = ctx.wrap_socket(s.socket, server_side=True)\n"
		"print(s.server_address[1], flush=True)\n"
		"s.serve_forever()\n";
	char *cert = th_join(t.tmp, "cert.pem"), *key = th_join(t.tmp, "key.pem"), *network;
	char *req[] = {(char *)"/usr/bin/openssl",
		       (char *)"req",
		       (char *)"-x509",
		       (char *)"-newkey",
		       (char *)"rsa:2048",
		       (char *)"-nodes",
		       (char *)"-subj",
		       (char *)"/CN=registry.test",
		       (char *)"-days",
		       (char *)"1",
		       (char *)"-keyout",
		       key,
		       (char *)"-out",
		       cert,
		       NULL};
	char *server[] = {
		(char *)"/usr/bin/python3", (char *)"-c", (char *)tls_py, t.www, cert, key, NULL};
	struct th_result r;
	unsigned port;
	pid_t tls;
	char *script;

	th_run_ok(NULL, req, t.env);
	tls = th_spawn_server(NULL, server, t.env, "%u", &port);
	cr_assert(ge(int,
		     asprintf(&network,
			      "{\"mode\": \"proxy\", \"allow\": [\"registry.test:%u\"], "
			      "\"resolve\": {\"registry.test\": \"127.0.0.1\"}}",
			      port),
		     0));
	write_config(network);
	free(network);
	cr_assert(ge(int,
		     asprintf(&script,
			      "printf 'GET /hello HTTP/1.0\\r\\n\\r\\n' | openssl s_client -quiet "
			      "-connect registry.test:%u -servername registry.test 2>/dev/null | "
			      "head -n 1 | tr -d '\\r'\n"
			      /* without the shim: no name, no connection */
			      "LD_PRELOAD= openssl s_client -connect 198.18.0.1:%u </dev/null "
			      ">/dev/null 2>&1 || echo refused\n",
			      port, port),
		     0));
	r = run_file("/bin/sh", "tls.sh", script);
	free(script);
	kill(tls, SIGKILL);
	waitpid(tls, NULL, 0);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, (char *)"HTTP/1.0 200 OK\nrefused\n"), "%s", r.err);
	th_result_done(&r);
	free(cert);
	free(key);
}

Test(session, the_shim_changes_nothing_for_programs_that_do_not_go_out)
{
	struct th_result r;

	free(th_write(t.proj, "m.mk", "all:\n\t@echo built $(words a b c) $(shell echo x)\n"));
	r = run_file(
		"/bin/sh", "same.sh",
		"git init -q repo && echo a > repo/f\n"
		"for c in 'ls -la /usr/bin/env /run/cell' 'git -C repo status --short --branch' "
		"'python3 -c \"import os, socket; print(os.getcwd(), socket.gethostname(), "
		"socket.getaddrinfo(\\\"localhost\\\", 80)[0][4])\"' 'make -f m.mk' "
		"'getent hosts localhost'; do\n"
		"  a=$(sh -c \"$c\" 2>&1); b=$(LD_PRELOAD= sh -c \"$c\" 2>&1)\n"
		"  [ -n \"$a\" ] && [ \"$a\" = \"$b\" ] && echo same || echo \"differs: $c: $a / $b\"\n"
		"done\n");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, (char *)"same\nsame\nsame\nsame\nsame\n"), "%s", r.err);
	th_result_done(&r);
}

/* How many members the project's session has, from cell status (-1: none is open). */
static int session_members(void)
{
	char *status = cell_out("status", "--json", NULL);
	const char *m = strstr(status, "\"members\":[");
	int n = 0;

	for (const char *p = m; p && (p = strstr(p, "\"pid\":")) && p < strstr(m, "]"); p++)
		n++;
	free(status);
	return m ? n : -1;
}

/* Code in the cell signals the session's PID 1 as the keeper would (SIGTERM, SIGHUP by kill()):
 * the session is the keeper's to end, and goes on, with its members. */
Test(session, the_cell_cannot_end_its_own_session)
{
	char *first[] = {t.cell,       (char *)"run", (char *)"--", (char *)"/bin/sleep",
			 (char *)"30", NULL};
	char *second[] = {t.cell,	(char *)"run",
			  (char *)"--", (char *)"/bin/sh",
			  (char *)"-c", (char *)"kill -TERM 1; kill -HUP 1; sleep 1; echo alive",
			  NULL};
	pid_t a = th_spawn_as(t.uid, t.gid, t.proj, first, t.env);
	struct th_result r;
	int sa;

	for (int i = 0; i < 200 && session_members() != 1; i++)
		usleep(50000);
	cr_assert(eq(int, session_members(), 1));
	th_run_as(t.uid, t.gid, t.proj, second, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%d %s %s", r.status, r.out, r.err);
	cr_assert(eq(str, r.out, "alive\n"), "%s", r.err);
	th_result_done(&r);
	/* the first member is there still */
	cr_assert(eq(int, session_members(), 1));
	cr_assert(eq(int, waitpid(a, &sa, WNOHANG), 0));
	kill(a, SIGTERM);
	cr_assert(eq(int, waitpid(a, &sa, 0), a));
}

Test(session, commands_of_a_project_at_once_share_one_cell_and_one_record)
{
	char *first[] = {
		t.cell,		  (char *)"run",   (char *)"--",       (char *)"/usr/bin/python3",
		(char *)"net.py", (char *)"own 2", (char *)"sleep 30", NULL};
	char *second[] = {t.cell,
			  (char *)"run",
			  (char *)"--",
			  (char *)"/usr/bin/python3",
			  (char *)"net.py",
			  (char *)"own 2",
			  (char *)"tcp 127.0.0.1 22",
			  NULL};
	pid_t a = th_spawn_as(t.uid, t.gid, t.proj, first, t.env);
	struct th_result r;
	char *json;
	int sa;

	for (int i = 0; i < 200 && session_members() != 1; i++)
		usleep(50000);
	cr_assert(eq(int, session_members(), 1));
	/* the second command is in the first one's cgroup: its policy, its counters */
	th_run_as(t.uid, t.gid, t.proj, second, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, "ok ok\nerrno 1\n"), "%s", r.out);
	th_result_done(&r);
	kill(a, SIGTERM);
	cr_assert(eq(int, waitpid(a, &sa, 0), a));
	json = stats_json();
	cr_assert(eq(ullong, stat_of(json, "cells"), 1), "%s", json);
	cr_assert(eq(ullong, stat_of(json, "connects_allowed"), 4), "%s", json);
	cr_assert(eq(ullong, stat_of(json, "connects_denied"), 1), "%s", json);
	free(json);
	cr_assert(eq(int, user_cells(), 0));
	cr_assert(eq(int, session_members(), -1));
}

Test(session, cell_up_processes_are_members_of_the_cell_and_its_one_record)
{
	char *up[] = {t.cell, (char *)"up", (char *)"-d", NULL};
	char *down[] = {t.cell, (char *)"down", NULL};
	_cleanup_free_ char *out = th_join(t.proj, "probe.out"), *text = NULL;
	struct th_result r;
	char *json;

	write_config("{\"mode\": \"proxy\"}, \"processes\": {"
		     "\"srv\": {\"exec\": \"exec python3 net.py 'own 2' 'sleep 60'\"}, "
		     "\"probe\": {\"exec\": \"python3 net.py 'tcp 127.0.0.1 22' > probe.out\", "
		     "\"depends_on\": [\"srv\"]}}");
	th_run_as(t.uid, t.gid, t.proj, up, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	/* each is in the cell's cgroup: its policy (the host's port 22 refused by the kernel) */
	cr_assert(th_wait_for_file(out, 20));
	for (int i = 0; i < 100 && !strstr(text = th_read(out), "\n"); i++) {
		free(TAKE_PTR(text));
		usleep(50000);
	}
	cr_assert(eq(str, text, "errno 1\n"));
	cr_assert(eq(int, session_members(), 1));
	th_run_as(t.uid, t.gid, t.proj, down, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	/* its counters: srv's two connects and probe's refused one, in one record */
	json = stats_json();
	cr_assert(eq(ullong, stat_of(json, "cells"), 1), "%s", json);
	cr_assert(eq(ullong, stat_of(json, "connects_allowed"), 2), "%s", json);
	cr_assert(eq(ullong, stat_of(json, "connects_denied"), 1), "%s", json);
	free(json);
	cr_assert(eq(int, user_cells(), 0));
	cr_assert(eq(int, session_members(), -1));
}

Test(session, two_cells_of_a_project_at_once_make_two_records)
{
	char *argv[] = {t.cell,
			(char *)"run",
			(char *)"--new",
			(char *)"--",
			(char *)"/usr/bin/python3",
			(char *)"net.py",
			(char *)"own 2",
			(char *)"sleep 0.5",
			NULL};
	pid_t a = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	pid_t b = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	int sa, sb;
	char *json;

	cr_assert(eq(int, waitpid(a, &sa, 0), a));
	cr_assert(eq(int, waitpid(b, &sb, 0), b));
	cr_assert(eq(int, sa, 0));
	cr_assert(eq(int, sb, 0));
	json = stats_json();
	cr_assert(eq(ullong, stat_of(json, "cells"), 2), "%s", json);
	cr_assert(eq(ullong, stat_of(json, "connects_allowed"), 4), "%s", json);
	free(json);
	cr_assert(eq(int, user_cells(), 0));
}

/* SIGKILL of a session's proxy: its members go on (without a network: the proxy's socket is
 * gone, nothing else is let through), and the session still closes and records once. */
Test(session, a_killed_proxy_leaves_the_members_and_the_record)
{
	char *first[] = {
		t.cell,
		(char *)"run",
		(char *)"--",
		(char *)"/bin/sh",
		(char *)"-c",
		probe("exec python3 net.py 'fetch http://registry.test:%u/hello' 'sleep 30' "
		      "> fetched",
		      t.port),
		NULL};
	char *second[] = {t.cell,
			  (char *)"run",
			  (char *)"--",
			  (char *)"/usr/bin/python3",
			  (char *)"net.py",
			  (char *)"proxy",
			  (char *)"tcp 127.0.0.1 22",
			  NULL};
	pid_t a = th_spawn_as(t.uid, t.gid, t.proj, first, t.env);
	_cleanup_free_ char *fetched = th_join(t.proj, "fetched"), *text = NULL;
	unsigned long long proxy = 0;
	struct th_result r;
	char *json;
	int sa;

	/* the first fetch starts the proxy; it is killed once that fetch is done (killed during
	 * it, the fetch fails and the first cell ends) */
	cr_assert(th_wait_for_file(fetched, 20));
	for (int i = 0; i < 200 && !strstr(text = th_read(fetched), "\n"); i++) {
		free(TAKE_PTR(text));
		usleep(50000);
	}
	cr_assert(eq(str, text, "200 6\n"), "%s", text);
	for (int i = 0; i < 200 && proxy == 0; i++) {
		char *status = cell_out("status", "--json", NULL);

		if (strstr(status, "\"proxy\":"))
			proxy = stat_of(status, "proxy");
		free(status);
		if (proxy == 0)
			usleep(50000);
	}
	cr_assert(gt(ullong, proxy, 0), "the proxy never started");
	cr_assert(eq(int, kill((pid_t)proxy, SIGKILL), 0));
	th_run_as(t.uid, t.gid, t.proj, second, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	/* (the kernel lets through only the proxy's own socket, which died with it) */
	cr_assert(eq(str, r.out, "errno 1\nerrno 1\n"), "%s", r.out);
	th_result_done(&r);
	kill(a, SIGTERM);
	cr_assert(eq(int, waitpid(a, &sa, 0), a));
	json = stats_json();
	cr_assert(eq(ullong, stat_of(json, "cells"), 1), "%s", json);
	free(json);
	cr_assert(eq(int, user_cells(), 0));
	cr_assert(eq(sz, running_files(), 0));
	free(first[5]);
}

/* A port one member of a session listens on is the session's: another member reaches it (the
 * kernel lets a cell's sockets reach what its own cgroup bound), a cell of its own does not. */
Test(session, a_server_of_one_member_is_reached_by_another)
{
	static const char server[] = "import socket\n"
				     "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(4)\n"
				     "open('port', 'w').write(str(s.getsockname()[1]))\n"
				     "while True: s.accept()[0].close()\n";
	char *argv[] = {t.cell,
			(char *)"run",
			(char *)"--",
			(char *)"/usr/bin/python3",
			(char *)"server.py",
			NULL};
	char *port_file = th_join(t.proj, "port"), *port, *probe_arg;
	pid_t a;
	struct th_result r;
	char *joined[] = {t.cell,	    (char *)"run", (char *)"--", (char *)"/usr/bin/python3",
			  (char *)"net.py", NULL,	   NULL};
	char *separate[] = {t.cell,
			    (char *)"run",
			    (char *)"--new",
			    (char *)"--",
			    (char *)"/usr/bin/python3",
			    (char *)"net.py",
			    NULL,
			    NULL};
	int status;

	free(th_write(t.proj, "server.py", server));
	th_chown_r(t.proj, t.uid, t.gid);
	a = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	cr_assert(th_wait_for_file(port_file, 10), "the server did not start");
	usleep(100000);
	port = th_read(port_file);
	cr_assert(ge(int, asprintf(&probe_arg, "tcp 127.0.0.1 %s", port), 0));
	joined[5] = probe_arg;
	th_run_as(t.uid, t.gid, t.proj, joined, t.env, &r);
	cr_assert(eq(str, r.out, "ok\n"), "a member could not reach another's server: %s %s", r.out,
		  r.err);
	th_result_done(&r);
	separate[6] = probe_arg;
	th_run_as(t.uid, t.gid, t.proj, separate, t.env, &r);
	cr_assert(eq(str, r.out, "errno 1\n"), "a cell of its own reached the session's server: %s",
		  r.out);
	th_result_done(&r);
	kill(a, SIGTERM);
	waitpid(a, &status, 0);
	free(probe_arg);
	free(port);
	free(port_file);
}

/*
 * A cell with limits whose keeper is gone: its reap (by another process, from the record
 * cell-session keeps of where they are) removes its limits' directories too, and says what the
 * limits saw.
 */
Test(session, a_reaped_cells_limits_go_with_it)
{
	const struct cell_policy policy = {0};
	const struct cell_limits limits = {.memory = 64 << 20, .pids = 16};
	struct cell_limits_usage usage = {0};
	struct cell_session *s = NULL;
	char id[48], name[96], **dirs = NULL, *record;
	int pidfd = -1;
	pid_t child;

	snprintf(id, sizeof(id), "limits-%d", (int)getpid());
	snprintf(name, sizeof(name), "%u-%s", (unsigned)t.uid, id);
	cr_assert(eq(int, cell_session_open(t.slice, t.uid, id, &policy, &limits, &s), 0));
	child = cell_session_fork(s, &pidfd);
	if (child == 0) {
		/* as cell-session's child (whose exec drops the session's lock): into the
		 * limits, then a little memory */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (cell_session_limit_self(s) < 0)
			_exit(1);
		close(s->dir_fd);
		volatile char *p = malloc(4 << 20);

		for (size_t i = 0; p && i < (4 << 20); i += 4096)
			p[i] = 1;
		pause();
		_exit(0);
	}
	cr_assert(gt(int, child, 0));
	close(pidfd);
	record = th_join(CELL_LIMITS_DIR, name);
	if (cell_limits_load(CELL_LIMITS_DIR, name, &dirs) == -ENOENT) {
		/* a unified host: the limits are in the cell's own cgroup2 directory */
		cell_session_free(s);
		cr_assert(eq(
			int,
			cell_session_reap(t.slice, t.uid, id, CELL_SESSION_KILL_ANY, NULL, &usage),
			0));
		cr_assert(eq(int, waitpid(child, NULL, 0), child));
		free(record);
		return;
	}
	cr_assert(ge(sz, cell_strv_length(dirs), 2), "memory and pids");
	for (char **d = dirs; *d; d++) {
		_cleanup_free_ char *procs = NULL, *want = NULL,
				    *file = th_join(*d, "cgroup.procs");

		cr_assert(ge(int, asprintf(&want, "%d\n", (int)child), 0));
		for (int i = 0; i < 100; i++) {
			free(procs);
			procs = th_read(file);
			if (strstr(procs, want))
				break;
			usleep(10 * 1000);
		}
		cr_assert(not(eq(ptr, strstr(procs, want), NULL)), "%s: %s", *d, procs);
	}
	usleep(100 * 1000);
	cell_session_free(s); /* the keeper is gone: its lock is free */
	/* (the child is root's: root's close) */
	cr_assert(eq(int,
		     cell_session_reap(t.slice, t.uid, id, CELL_SESSION_KILL_ANY, NULL, &usage),
		     0));
	cr_assert(eq(int, waitpid(child, NULL, 0), child));
	cr_assert(ge(u64, usage.memory_peak, 4 << 20));
	for (char **d = dirs; *d; d++)
		cr_assert(not(eq(int, access(*d, F_OK), 0)), "%s is left", *d);
	cr_assert(not(eq(int, access(record, F_OK), 0)), "%s is left", record);
	cell_strv_free(dirs);
	free(record);
}

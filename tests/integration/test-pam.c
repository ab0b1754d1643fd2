/* SPDX-License-Identifier: MIT */
/*
 * pam_cell.so through real Linux-PAM: a driver that opens and closes a session as sshd does
 * (tests/pam/pam-driver.c), and runuser -l, a real login program, with a service file of the
 * test's (bound over runuser-l's in a mount namespace of its own: the system's stays as it is).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <stdbool.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "limit.h"
#include "macro.h"
#include "project.h"
#include "session.h"
#include "syscell.h"

/* in a service's lines: the module staged where the account can reach its shim (write_service) */
#define MODULE "@MODULE@"
#define DRIVER CELL_TEST_BUILD "/test-pam-driver"

static const char upstream_py[] =
	"import http.server, functools, sys\n"
	"class H(http.server.SimpleHTTPRequestHandler):\n"
	"    def log_message(self, *a): pass\n"
	"s = http.server.HTTPServer(('127.0.0.1', 0), functools.partial(H, directory=sys.argv[1]))\n"
	"print(s.server_address[1], flush=True)\n"
	"s.serve_forever()\n";

/* In the session, as the account: where it is, a direct connection (the shim takes it to the
 * proxy, which refuses the address; without the shim, the kernel refuses it), one through the
 * proxy, one that ignores the proxy variables (the shim takes it there). */
static const char probe_py[] =
	"import os, socket, stat, subprocess, sys, urllib.request\n"
	"if 'CELL_SHIM_CONF' in os.environ:\n"
	"    st = os.stat(os.environ['CELL_SHIM_CONF'])\n"
	"    print('shim settings', stat.filemode(st.st_mode), st.st_uid == os.getuid())\n"
	"print('cgroup', [l for l in open('/proc/self/cgroup').read().split() if "
	"l.startswith('0::')][0][3:])\n"
	"try: socket.create_connection(('192.0.2.1', 80), timeout=5); print('direct connected')\n"
	"except OSError as e: print('direct errno', e.errno, flush=True)\n"
	"subprocess.run([sys.executable, '-c', 'import socket\\ntry: "
	"socket.create_connection((\"192.0.2.1\", 80), timeout=5)\\nexcept OSError as e: "
	"print(\"kernel errno\", e.errno)'], env=dict(os.environ, LD_PRELOAD=''))\n"
	"print('proxy', urllib.request.urlopen('http://registry.test:%s/hello' % sys.argv[1], "
	"timeout=10).status)\n"
	"print('shim', urllib.request.build_opener(urllib.request.ProxyHandler({})).open("
	"'http://registry.test:%s/hello' % sys.argv[1], timeout=10).status)\n";

static struct {
	char *tmp, *proj, *www, *slice, service[64], *service_path, *state_home;
	uid_t uid;
	gid_t gid;
	pid_t upstream;
	unsigned port;
	int lock_fd; /* the suite's tests one at a time: they count the test user's pam cells */
	struct th_stage stage;
	bool shell_changed; /* the test user's login shell, to be /bin/bash again at teardown */
	bool in_nogroup;    /* the test user in nogroup, to leave it at teardown */
} t;

/* Writes the test's service file with lines (MODULE in them: the staged module's path). */
static void write_service(const char *lines)
{
	_cleanup_free_ char *text = malloc(strlen(lines) + strlen(t.stage.pam_module) + 1);
	const char *at = strstr(lines, MODULE);

	cr_assert(not(eq(ptr, text, NULL)));
	if (at)
		sprintf(text, "%.*s%s%s", (int)(at - lines), lines, t.stage.pam_module,
			at + strlen(MODULE));
	else
		strcpy(text, lines);
	free(th_write("/etc/pam.d", t.service, text));
}

static void setup(void)
{
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)upstream_py, NULL, NULL};
	char *config;

	if (geteuid() != 0)
		th_skip("needs root (a PAM session module opens cells as root)");
	memset(&t, 0, sizeof(t));
	t.lock_fd = open("/run/cell-test-pam.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert(ge(int, t.lock_fd, 0));
	cr_assert(eq(int, flock(t.lock_fd, LOCK_EX), 0));
	th_test_user(&t.uid, &t.gid);
	t.tmp = th_mkdtemp();
	chmod(t.tmp, 0755);
	th_stage(&t.stage);
	t.proj = th_join(t.tmp, "work");
	t.www = th_join(t.tmp, "www");
	free(th_write(t.www, "hello", "hello\n"));
	argv[3] = t.www;
	t.upstream = th_spawn_server(NULL, argv, (char *[]){NULL}, "%u", &t.port);
	cr_assert(ge(int,
		     asprintf(&config,
			      "{\"name\": \"agent\", \"network\": {\"mode\": \"proxy\", \"allow\": "
			      "[\"registry.test:%u\"], \"resolve\": {\"registry.test\": "
			      "\"127.0.0.1\"}}}\n",
			      t.port),
		     0));
	free(th_write(t.proj, ".cell.json", config));
	free(config);
	free(th_write(t.proj, "probe.py", probe_py));
	chmod(t.proj, 0755);
	snprintf(t.service, sizeof(t.service), "cell-test-%d", (int)getpid());
	t.service_path = th_join("/etc/pam.d", t.service);
	cr_assert(eq(int, cell_session_slice("/proc/self/mountinfo", &t.slice), 0));
}

static void login_shell(const char *shell);
static void nogroup_member(bool member);

static void teardown(void)
{
	if (t.shell_changed)
		login_shell("/bin/bash");
	if (t.in_nogroup)
		nogroup_member(false);
	if (t.service_path)
		unlink(t.service_path);
	if (t.upstream > 0) {
		kill(t.upstream, SIGKILL);
		waitpid(t.upstream, NULL, 0);
	}
	if (t.tmp)
		th_rm_rf(t.tmp);
	free(t.tmp);
	free(t.proj);
	free(t.www);
	free(t.slice);
	free(t.service_path);
	th_stage_done(&t.stage);
	if (t.lock_fd > 0)
		close(t.lock_fd);
}

TestSuite(pam, .init = setup, .fini = teardown, .timeout = 90);

/* The test user's cells (pam-*) in the slice, and state files of them, as a count. */
static unsigned leftovers(void)
{
	char prefix[32];
	unsigned n = 0;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "%u-pam-", (unsigned)t.uid);
	d = opendir(t.slice);
	for (struct dirent *e; d && (e = readdir(d));)
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	snprintf(prefix, sizeof(prefix), "pam-%u-", (unsigned)t.uid);
	d = opendir(CELL_SYSCELL_STATE_DIR);
	for (struct dirent *e; d && (e = readdir(d));)
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return n;
}

/* The driver's output for a session of the test user running argv (NULL: no command). */
static struct th_result drive(char *const cmd[])
{
	char *argv[16] = {(char *)DRIVER, t.service, (char *)TH_TEST_USER};
	char *env[] = {(char *)"PATH=/usr/bin:/bin", NULL};
	struct th_result r;
	size_t n = 3;

	for (size_t i = 0; cmd && cmd[i] && n < ELEMENTSOF(argv) - 1; i++)
		argv[n++] = cmd[i];
	argv[n] = NULL;
	th_run(t.tmp, argv, env, &r);
	return r;
}

/* The account's ledger for the project, as text ("" if none). */
static char *ledger(void)
{
	struct cell_project *p = NULL;
	struct cell_diag d = {0};
	struct passwd *pw = getpwnam(TH_TEST_USER);
	char *path, *text;

	cr_assert(not(eq(ptr, pw, NULL)));
	cr_assert(eq(int, cell_project_open_system(t.proj, NULL, &p, &d), 0));
	cr_assert(ge(
		int,
		asprintf(&path, "%s/.local/state/cell/projects/%s/ledger.jsonl", pw->pw_dir, p->id),
		0));
	cell_project_free(p);
	text = th_read(path);
	free(path);
	return text ? text : strdup("");
}

Test(pam, a_session_is_confined_to_its_cell_and_recorded_when_it_closes)
{
	char *service, *cmd[] = {(char *)"/usr/bin/python3", NULL, NULL, NULL}, want[512], *l;
	char port[16];
	struct th_result r;

	cr_assert(ge(int,
		     asprintf(&service, "session required " MODULE " project=%s debug\n", t.proj),
		     0));
	write_service(service);
	free(service);
	cmd[1] = th_join(t.proj, "probe.py");
	snprintf(port, sizeof(port), "%u", t.port);
	cmd[2] = port;
	r = drive(cmd);
	free(cmd[1]);
	cr_assert(eq(int, r.status, 0), "%s\n%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "open: Success\n"), NULL)), "%s", r.out);
	/* the variables the session's processes get */
	cr_assert(not(eq(ptr, strstr(r.out, "env: HTTP_PROXY=http://127.0.0.1:"), NULL)), "%s",
		  r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "env: CELL_NAME=agent\n"), NULL)), "%s", r.out);
	snprintf(want, sizeof(want), "env: CELL_ID=pam-%u-", (unsigned)t.uid);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "%s", r.out);
	/* in the cell: nothing but the proxy, and through it the allowed host */
	snprintf(want, sizeof(want), "/" CELL_SESSION_SLICE "/%u-pam-%u-", (unsigned)t.uid,
		 (unsigned)t.uid);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "%s", r.out);
	cr_assert(
		not(eq(ptr,
		       strstr(r.out,
			      "direct errno 111\nkernel errno 1\nproxy 200\nshim 200\nstatus: 0\n"),
		       NULL)),
		"%s\n%s", r.out, r.err);
	snprintf(want, sizeof(want), "env: LD_PRELOAD=%s\n", t.stage.shim);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "close: Success\n"), NULL)), "%s", r.out);
	/* the shim's settings name the cell's proxy: the account's alone */
	cr_assert(not(eq(ptr, strstr(r.out, "shim settings -rw------- True\n"), NULL)), "%s",
		  r.out);
	th_result_done(&r);
	/* closed: nothing left, and the account's ledger has the cell and its proxy */
	cr_assert(eq(uint, leftovers(), 0));
	l = ledger();
	cr_assert(not(eq(ptr, strstr(l, "\"kind\":\"cell\""), NULL)), "%s", l);
	cr_assert(not(eq(ptr, strstr(l, "\"connects_denied\":1,"), NULL)), "%s", l);
	cr_assert(not(eq(ptr, strstr(l, "\"registry.test\":{\"requests\":1,"), NULL)), "%s", l);
	free(l);
}

/* open_session with the service's line for pam_cell.so: the driver's output. */
static struct th_result open_with(const char *line)
{
	char *service;

	cr_assert(ge(int, asprintf(&service, "%s\n", line), 0));
	write_service(service);
	free(service);
	return drive(NULL);
}

/* A syslog of the test's: what is sent to it goes to a file, a line each. */
static const char syslog_py[] =
	"import socket, sys\n"
	"s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
	"s.bind(sys.argv[1])\n"
	"print(1, flush=True)\n"
	"with open(sys.argv[2], 'a') as f:\n"
	"    while True:\n"
	"        f.write(s.recv(4096).decode(errors='replace') + '\\n'); f.flush()\n";

/*
 * The driver's open_session with the service's line for pam_cell.so, its syslog caught: /dev/log
 * in a mount namespace of the driver's own leads to the test's syslog. The log in *ret_log.
 */
static struct th_result open_logged(const char *line, char **ret_log)
{
	char *sock = th_join(t.tmp, "log.sock"), *log = th_join(t.tmp, "syslog"), *script;
	char *server[] = {
		(char *)"/usr/bin/python3", (char *)"-c", (char *)syslog_py, sock, log, NULL};
	char *argv[] = {(char *)"/usr/bin/unshare",
			(char *)"-m",
			(char *)"/bin/sh",
			(char *)"-c",
			NULL,
			NULL};
	struct th_result r;
	unsigned one;
	pid_t pid;

	unlink(sock);
	unlink(log);
	free(th_write(t.tmp, "syslog", ""));
	pid = th_spawn_server(NULL, server, (char *[]){NULL}, "%u", &one);
	write_service(line);
	cr_assert(ge(int,
		     asprintf(&script,
			      "mount --make-rprivate / && mount -t tmpfs tmpfs /dev && "
			      "ln -s %s /dev/log && " DRIVER " %s " TH_TEST_USER,
			      sock, t.service),
		     0));
	argv[4] = script;
	th_run(t.tmp, argv, (char *[]){(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL}, &r);
	free(script);
	/* the datagrams are in the socket's queue before the driver ends: read them all */
	for (int i = 0; i < 100; i++) {
		char *text = th_read(log);
		bool some = text && strstr(text, "pam_cell");

		free(text);
		if (some)
			break;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	*ret_log = th_read(log);
	free(sock);
	free(log);
	return r;
}

Test(pam, refusals_are_said_in_syslog)
{
	char *line, *log, *config = th_join(t.proj, ".cell.json");
	struct th_result r;

	r = open_logged("session required " MODULE " project=/srv/x netwrk=none\n", &log);
	cr_assert(eq(int, r.status, 1), "%s\n%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(log, "pam_cell("), NULL)), "%s", log);
	cr_assert(not(eq(ptr, strstr(log, "bad arguments: unknown or bad argument 'netwrk=none'"),
			 NULL)),
		  "%s", log);
	th_result_done(&r);
	free(log);
	chmod(config, 0666);
	cr_assert(ge(int, asprintf(&line, "session required " MODULE " project=%s\n", t.proj), 0));
	r = open_logged(line, &log);
	free(line);
	chmod(config, 0644);
	cr_assert(eq(int, r.status, 1));
	cr_assert(not(eq(ptr, strstr(log, "no cell for this session: "), NULL)), "%s", log);
	cr_assert(not(eq(ptr,
			 strstr(log, ".cell.json: must be a regular file owned by root and "
				     "writable by no one else (it is a file, owner 0, mode 0666)"),
			 NULL)),
		  "%s", log);
	th_result_done(&r);
	free(log);
	free(config);
}

Test(pam, bad_arguments_and_configs_deny_the_session_and_leave_nothing)
{
	char *config = th_join(t.proj, ".cell.json"), *line;
	struct th_result r;

	/* an argument pam_cell.so does not know: the service is misconfigured */
	cr_assert(ge(int,
		     asprintf(&line, "session required " MODULE " project=%s netwrk=none", t.proj),
		     0));
	r = open_with(line);
	free(line);
	cr_assert(eq(int, r.status, 1));
	cr_assert(not(eq(ptr, strstr(r.out, "open: Error in service module\n"), NULL)), "%s",
		  r.out);
	th_result_done(&r);
	/* a project that is not there */
	r = open_with("session required " MODULE " project=/nonexistent/work");
	cr_assert(eq(int, r.status, 1));
	cr_assert(not(eq(ptr,
			 strstr(r.out, "open: Cannot make/remove an entry for the specified "
				       "session\n"),
			 NULL)),
		  "%s", r.out);
	th_result_done(&r);
	cr_assert(ge(int, asprintf(&line, "session required " MODULE " project=%s", t.proj), 0));
	/* a config others may write, or the account itself */
	chmod(config, 0666);
	r = open_with(line);
	cr_assert(eq(int, r.status, 1));
	cr_assert(not(eq(ptr, strstr(r.out, "open: Cannot make/remove"), NULL)), "%s", r.out);
	th_result_done(&r);
	chmod(config, 0644);
	cr_assert(eq(int, chown(config, t.uid, t.gid), 0));
	r = open_with(line);
	cr_assert(eq(int, r.status, 1));
	cr_assert(eq(ptr, strstr(r.out, "env: CELL_ID="), NULL), "%s", r.out);
	th_result_done(&r);
	cr_assert(eq(int, chown(config, 0, 0), 0));
	/* a root-owned config in a directory the account owns (it could swap the file) */
	cr_assert(eq(int, chown(t.proj, t.uid, t.gid), 0));
	r = open_with(line);
	cr_assert(eq(int, r.status, 1));
	cr_assert(eq(ptr, strstr(r.out, "env: CELL_ID="), NULL), "%s", r.out);
	th_result_done(&r);
	cr_assert(eq(int, chown(t.proj, 0, 0), 0));
	free(line);
	/* nothing half-made by any of them */
	cr_assert(eq(uint, leftovers(), 0));
	/* optional: the session goes on without a cell */
	r = open_with("session required pam_permit.so\n"
		      "session optional " MODULE " project=/nonexistent/work");
	cr_assert(eq(int, r.status, 0), "%s", r.out);
	cr_assert(eq(ptr, strstr(r.out, "env: CELL_ID="), NULL), "%s", r.out);
	th_result_done(&r);
	free(config);
}

Test(pam, close_without_open_or_twice_is_fine)
{
	char *line;
	struct th_result r;

	/* a close with no cell to close (the driver's process is in none) */
	cr_assert(ge(int, asprintf(&line, "session required " MODULE " project=%s", t.proj), 0));
	write_service(line);
	free(line);
	{
		char *argv[] = {
			(char *)"/usr/bin/python3", (char *)"-c",
			(char *)"import ctypes, sys\n"
				"pam = ctypes.CDLL('libpam.so.0')\n"
				"h = ctypes.c_void_p()\n"
				"class C(ctypes.Structure): _fields_ = [('f', ctypes.c_void_p), "
				"('d', ctypes.c_void_p)]\n"
				"c = C()\n"
				"print(pam.pam_start(sys.argv[1].encode(), b'" TH_TEST_USER
				"', ctypes.byref(c), ctypes.byref(h)))\n"
				"print(pam.pam_close_session(h, 0))\n"
				"print(pam.pam_close_session(h, 0))\n",
			t.service, NULL};

		th_run(t.tmp, argv, (char *[]){(char *)"PATH=/usr/bin:/bin", NULL}, &r);
	}
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, (char *)"0\n0\n0\n"), "%s", r.err);
	th_result_done(&r);
	cr_assert(eq(uint, leftovers(), 0));
}

/* The config's limits hold a login's cell too (its cgroup2 directory, or v1 directories on a
 * hybrid host, which the login joins and leaves with the cell): a process over the memory limit
 * is killed, the account's ledger has what the limits saw, and nothing of them is left. */
Test(pam, a_logins_cell_is_held_to_the_configs_limits)
{
	char *line, *l, *config;
	char *cmd[] = {(char *)"/usr/bin/python3", (char *)"-c",
		       (char *)"print(open('/proc/self/cgroup').read(), flush=True)\n"
			       "b = bytearray(256 << 20); print('alive')\n",
		       NULL};
	struct th_result r;
	char want[64];

	cr_assert(ge(
		int,
		asprintf(&config,
			 "{\"name\": \"agent\", \"limits\": {\"memory\": \"64M\", \"pids\": 64}, "
			 "\"network\": {\"mode\": \"proxy\", \"allow\": [\"registry.test:%u\"]}}\n",
			 t.port),
		0));
	free(th_write(t.proj, ".cell.json", config));
	free(config);
	cr_assert(ge(int, asprintf(&line, "session required " MODULE " project=%s", t.proj), 0));
	write_service(line);
	free(line);
	r = drive(cmd);
	cr_assert(not(eq(ptr, strstr(r.out, "open: Success\n"), NULL)), "%s\n%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "status: 137\n"), NULL)), "%s\n%s", r.out, r.err);
	cr_assert(eq(ptr, strstr(r.out, "alive"), NULL), "%s", r.out);
	/* (on a hybrid host, its v1 directories: named as its cgroup2 one) */
	snprintf(want, sizeof(want), "/" CELL_SESSION_SLICE "/%u-pam-", (unsigned)t.uid);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "close: Success\n"), NULL)), "%s\n%s", r.out, r.err);
	th_result_done(&r);
	cr_assert(eq(uint, leftovers(), 0));
	/* nothing of its limits is left: no record of its v1 directories */
	{
		char prefix[32];
		DIR *d = opendir(CELL_LIMITS_DIR);
		unsigned n = 0;

		snprintf(prefix, sizeof(prefix), "%u-pam-", (unsigned)t.uid);
		for (struct dirent *e; d && (e = readdir(d));)
			n += !strncmp(e->d_name, prefix, strlen(prefix));
		if (d)
			closedir(d);
		cr_assert(eq(uint, n, 0));
	}
	l = ledger();
	cr_assert(not(eq(ptr, strstr(l, "\"limits\":{\"memory_peak\":"), NULL)), "%s", l);
	cr_assert(eq(ptr, strstr(l, "\"oom_kills\":0"), NULL), "%s", l);
	cr_assert(not(eq(ptr, strstr(l, "\"oom_kills\":"), NULL)), "%s", l);
	free(l);
}

/* network=none overrides the config's proxy: no proxy, no variables, nothing reachable */
Test(pam, network_none_gives_a_session_no_network)
{
	char *line, port[16];
	char *cmd[] = {(char *)"/usr/bin/python3", (char *)"-c",
		       (char *)"import socket, sys\n"
			       "try: socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
			       "except OSError as e: print('upstream errno', e.errno)\n",
		       port, NULL};
	struct th_result r;

	snprintf(port, sizeof(port), "%u", t.port);
	cr_assert(ge(int,
		     asprintf(&line, "session required " MODULE " project=%s network=none", t.proj),
		     0));
	write_service(line);
	free(line);
	r = drive(cmd);
	cr_assert(eq(int, r.status, 0), "%s\n%s", r.out, r.err);
	cr_assert(eq(ptr, strstr(r.out, "PROXY="), NULL), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "env: CELL_ID=pam-"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "upstream errno 1\n"), NULL)), "%s", r.out);
	th_result_done(&r);
	cr_assert(eq(uint, leftovers(), 0));
}

/* In the session, as the account: ptrace(PTRACE_ATTACH) of the keeper (python, ctypes), whose
 * pid is in the file argv[1] names; prints "attach R ERRNO". */
static const char attach_py[] = "import ctypes, sys\n"
				"libc = ctypes.CDLL(None, use_errno=True)\n"
				"k = int(open(sys.argv[1]).read())\n"
				"r = libc.ptrace(16, k, 0, 0)\n"
				"print('attach', r, ctypes.get_errno(), flush=True)\n";

/*
 * The keeper runs outside the cell: nothing of the login may take it over. In none mode it is
 * sleep, holding the cell's directory and nothing else (none of the caller's descriptors), as
 * the account with a group of its own, so that the login cannot trace it (tracing needs every
 * id to match); checked by root while the session runs.
 */
Test(pam, a_keeper_holds_only_the_cell_and_cannot_be_traced)
{
	char *dir = th_join(t.tmp, "k"), *line, *pidfile = th_join(dir, "keeper"),
	     *go = th_join(dir, "go"), *attach = th_join(dir, "attach.py"),
	     *outfile = th_join(t.tmp, "out"), script[1024];
	char *cmd[] = {(char *)"/bin/sh", (char *)"-c", script, NULL};
	char path[64], link[PATH_MAX], *status, *text, want[64];
	struct group *nogroup = getgrnam("nogroup");
	size_t fds = 0;
	pid_t bg, keeper;
	DIR *d;

	/* (a place the account can write) */
	free(th_write(dir, "attach.py", attach_py));
	th_chown_r(dir, t.uid, t.gid);
	snprintf(script, sizeof(script),
		 "pgrep -u " TH_TEST_USER " -x -f 'sleep infinity' > %s.new && mv %s.new %s; "
		 "python3 %s %s; "
		 "for i in $(seq 400); do test -e %s && break; sleep 0.05; done",
		 pidfile, pidfile, pidfile, attach, pidfile, go);
	cr_assert(ge(int,
		     asprintf(&line, "session required " MODULE " project=%s network=none", t.proj),
		     0));
	write_service(line);
	free(line);
	bg = th_fork();
	if (bg == 0) {
		struct th_result r = drive(cmd);

		free(th_write(t.tmp, "out", r.out));
		_exit(0);
	}
	cr_assert(th_wait_for_file(pidfile, 20), "no keeper found in the session");
	text = th_read(pidfile);
	keeper = (pid_t)atoi(text);
	free(text);
	cr_assert(gt(int, keeper, 0));
	/* sleep, its descriptors 0 to 2 and the cell's directory */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)keeper);
	cr_assert(gt(long, (long)readlink(path, link, sizeof(link) - 1), 0L));
	cr_assert(not(eq(ptr, strstr(link, "sleep"), NULL)), "%s", link);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)keeper);
	d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		fds += e->d_name[0] != '.';
	closedir(d);
	cr_assert(eq(sz, fds, 4), "the keeper holds %zu descriptors", fds);
	snprintf(path, sizeof(path), "/proc/%d/fd/3", (int)keeper);
	memset(link, 0, sizeof(link));
	cr_assert(gt(long, (long)readlink(path, link, sizeof(link) - 1), 0L));
	cr_assert(not(eq(ptr, strstr(link, "/" CELL_SESSION_SLICE "/"), NULL)), "%s", link);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)keeper);
	status = th_read(path);
	snprintf(want, sizeof(want), "\nGid:\t%u\t", nogroup ? (unsigned)nogroup->gr_gid : 65534u);
	cr_assert(not(eq(ptr, strstr(status, want), NULL)), "%s", status);
	free(status);
	free(th_write(dir, "go", ""));
	cr_assert(eq(int, waitpid(bg, NULL, 0), bg));
	text = th_read(outfile);
	/* the login could not trace it */
	cr_assert(not(eq(ptr, strstr(text, "attach -1 1\n"), NULL)), "%s", text);
	cr_assert(not(eq(ptr, strstr(text, "close: Success\n"), NULL)), "%s", text);
	free(text);
	cr_assert(eq(uint, leftovers(), 0));
	free(pidfile);
	free(go);
	free(attach);
	free(outfile);
	free(dir);
}

/* The test user in nogroup (a supplementary group), or not. */
static void nogroup_member(bool member)
{
	char *argv[] = {(char *)"/usr/bin/gpasswd", (char *)(member ? "-a" : "-d"),
			(char *)TH_TEST_USER, (char *)"nogroup", NULL};

	th_run_ok(NULL, argv, (char *[]){NULL});
	t.in_nogroup = member;
}

/*
 * An account in the keeper's group could take that group for its real one (sg nogroup) and
 * then trace the keeper, which runs outside the cell: no cell for it. The attack, in the
 * session: sg nogroup, then ptrace(PTRACE_ATTACH) of the keeper.
 */
Test(pam, an_account_in_the_keepers_group_gets_no_cell)
{
	char *dir = th_join(t.tmp, "g"), *line, *log, script[1024];
	char *cmd[] = {(char *)"/bin/sh", (char *)"-c", script, NULL};
	struct th_result r;

	free(th_write(dir, "attach.py", attach_py));
	th_chown_r(dir, t.uid, t.gid);
	snprintf(script, sizeof(script),
		 "pgrep -u " TH_TEST_USER " -x -f 'sleep infinity' > %s/keeper; "
		 "sg nogroup -c 'python3 %s/attach.py %s/keeper'",
		 dir, dir, dir);
	cr_assert(ge(int,
		     asprintf(&line, "session required " MODULE " project=%s network=none", t.proj),
		     0));
	nogroup_member(true);
	write_service(line);
	r = drive(cmd);
	cr_assert(eq(ptr, strstr(r.out, "attach 0 "), NULL), "the keeper was traced: %s", r.out);
	cr_assert(eq(int, r.status, 1), "%s\n%s", r.out, r.err);
	cr_assert(eq(int, r.status, 1), "%s\n%s", r.out, r.err);
	th_result_done(&r);
	r = open_logged(line, &log);
	cr_assert(eq(int, r.status, 1), "%s\n%s", r.out, r.err);
	cr_assert(not(eq(ptr,
			 strstr(log, TH_TEST_USER " is in the group nogroup (65534), which a "
						  "cell's keeper runs as"),
			 NULL)),
		  "%s", log);
	th_result_done(&r);
	free(log);
	nogroup_member(false);
	/* and without it, a cell as before */
	r = drive(NULL);
	cr_assert(eq(int, r.status, 0), "%s\n%s", r.out, r.err);
	th_result_done(&r);
	cr_assert(eq(uint, leftovers(), 0));
	free(line);
	free(dir);
}

Test(pam, a_session_whose_proxy_died_still_closes_cleanly)
{
	/* the keeper (the proxy) runs as the account, which may kill it: the command does. It is
	 * found by its command line, which names this test's project (other suites run cells as
	 * the same user meanwhile) */
	char script[2048], *cmd[] = {(char *)"/bin/sh", (char *)"-c", script, NULL};
	struct th_result r;
	char *line, want[512];

	/* a fresh cell proxy, exec'd: nothing of the PAM caller's memory (sshd's keys); what it
	 * will hold is not the account's to read, nor is it the account's to trace */
	snprintf(script, sizeof(script),
		 "k=$(pgrep -u " TH_TEST_USER " -f '^cell-proxy --system %s '); "
		 "echo \"keeper: $(tr '\\0' ' ' </proc/$k/cmdline)\"; "
		 "pgrep -u " TH_TEST_USER " -x test-pam-driver || echo no fork of the caller; "
		 "cat /proc/$k/environ >/dev/null 2>&1 && echo keeper readable || "
		 "echo keeper unreadable; "
		 "python3 -c 'import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
		 "print(\"attach\", libc.ptrace(16, int(sys.argv[1]), 0, 0), "
		 "ctypes.get_errno())' $k; "
		 "kill -KILL $k; for i in $(seq 200); do kill -0 $k 2>/dev/null || break; "
		 "sleep 0.01; done; "
		 "python3 -c 'import os, socket; socket.create_connection((\"127.0.0.1\", "
		 "int(os.environ[\"HTTP_PROXY\"].rsplit(\":\", 1)[1])))' 2>&1 | tail -n 1",
		 t.proj);
	cr_assert(ge(int, asprintf(&line, "session required " MODULE " project=%s", t.proj), 0));
	write_service(line);
	free(line);
	r = drive(cmd);
	cr_assert(eq(int, r.status, 0), "%s\n%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "keeper unreadable\n"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "attach -1 1\n"), NULL)), "%s", r.out);
	snprintf(want, sizeof(want), "keeper: cell-proxy --system %s --peer-cgroup ", t.proj);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "no fork of the caller\n"), NULL)), "%s", r.out);
	/* the proxy is gone: refused, not left hanging; its port is no longer the cell's (the
	 * kernel's EPERM: whatever listens there next is not the cell's proxy) */
	cr_assert(not(eq(ptr, strstr(r.out, "PermissionError"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "close: Success\n"), NULL)), "%s", r.out);
	th_result_done(&r);
	cr_assert(eq(uint, leftovers(), 0));
}

/* runuser -l, a real login program, with the test's service in place of runuser-l's (in a
 * mount namespace of its own: the system's file is never touched). */
Test(pam, a_login_by_runuser_runs_in_the_cell)
{
	char *service = th_join(t.tmp, "runuser-l"), *script, *l;
	struct th_result r;
	char *argv[] = {(char *)"/usr/bin/unshare",
			(char *)"-m",
			(char *)"/bin/sh",
			(char *)"-c",
			NULL,
			NULL};
	char text[512];

	snprintf(text, sizeof(text),
		 "auth sufficient pam_rootok.so\naccount required pam_permit.so\n"
		 "session required pam_unix.so\nsession required %s project=%s\n",
		 t.stage.pam_module, t.proj);
	free(th_write(t.tmp, "runuser-l", text));
	cr_assert(ge(int,
		     asprintf(&script,
			      "mount --make-rprivate / && mount --bind %s /etc/pam.d/runuser-l && "
			      "runuser -l " TH_TEST_USER " -c 'python3 %s/probe.py %u'",
			      service, t.proj, t.port),
		     0));
	argv[4] = script;
	th_run(t.tmp, argv, (char *[]){(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL}, &r);
	free(script);
	cr_assert(eq(int, r.status, 0), "%s\n%s", r.out, r.err);
	snprintf(text, sizeof(text), "/" CELL_SESSION_SLICE "/%u-pam-", (unsigned)t.uid);
	cr_assert(not(eq(ptr, strstr(r.out, text), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr,
			 strstr(r.out, "direct errno 111\nkernel errno 1\nproxy 200\nshim 200\n"),
			 NULL)),
		  "%s\n%s", r.out, r.err);
	th_result_done(&r);
	cr_assert(eq(uint, leftovers(), 0));
	l = ledger();
	cr_assert(not(eq(ptr, strstr(l, "\"connects_denied\":1,"), NULL)), "%s", l);
	free(l);
	free(service);
}

/* cell-login-shell (a link to cell, as an account's shell in /etc/passwd would name it) with
 * -c, as sshd runs a command: in the project's bubblewrap cell, within the login's cell. */
Test(pam, the_login_shell_adds_the_filesystem_cell)
{
	char *link = th_join(t.tmp, "cell-login-shell"), *line, *script;
	/* (a sanitizer build of cell must not start with the session's shim preloaded: ASan wants
	 * to come first) */
#ifdef __SANITIZE_ADDRESS__
	char *cmd[] = {
		(char *)"/usr/bin/env", (char *)"LD_PRELOAD=", link, (char *)"-c", NULL, NULL};
	const int at = 4;
#else
	char *cmd[] = {link, (char *)"-c", NULL, NULL};
	const int at = 2;
#endif
	struct th_result r;

	cr_assert(eq(int, symlink(t.stage.cell, link), 0));
	/* the account's workspace: its config is root's, elsewhere (in the project the account
	 * could put another file in its place) */
	cr_assert(eq(int, chown(t.proj, t.uid, t.gid), 0));
	{
		char *config = th_join(t.proj, ".cell.json"), *text = th_read(config);

		free(th_write(t.tmp, "agent.json", text));
		free(text);
		free(config);
	}
	cr_assert(ge(int,
		     asprintf(&line, "session required " MODULE " project=%s config=%s/agent.json",
			      t.proj, t.tmp),
		     0));
	write_service(line);
	free(line);
	cr_assert(ge(int,
		     asprintf(&script,
			      "cd \"$CELL_ROOT\" && python3 probe.py %u; "
			      "test -e /etc/shadow && echo shadow; test -d ~/.ssh && echo ssh; "
			      "touch /usr/x 2>/dev/null || echo usr read-only; echo in $PWD",
			      t.port),
		     0));
	cmd[at] = script;
	free(th_write("/home/" TH_TEST_USER, ".ssh/known_hosts", "x\n"));
	r = drive(cmd);
	free(script);
	cr_assert(eq(int, r.status, 0), "%s\n%s", r.out, r.err);
	/* the kernel's rules still hold (the session's cell), the proxy's variables came in */
	cr_assert(not(eq(ptr,
			 strstr(r.out, "direct errno 111\nkernel errno 1\nproxy 200\nshim 200\n"),
			 NULL)),
		  "%s\n%s", r.out, r.err);
	/* and now the filesystem is a cell's: no ~/.ssh, the system read-only */
	cr_assert(eq(ptr, strstr(r.out, "\nssh\n"), NULL), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "usr read-only\n"), NULL)), "%s", r.out);
	/* nothing of the session's shim in the cell (its path is not there) */
	cr_assert(eq(ptr, strstr(r.err, "ld.so"), NULL), "%s", r.err);
	th_result_done(&r);
	/* outside a login's cell it refuses to start a shell at all */
	{
		char *argv[] = {link, (char *)"-c", (char *)"echo ran", NULL};

		th_run_as(t.uid, t.gid, t.tmp, argv,
			  (char *[]){(char *)"CELL_ROOT=/tmp", (char *)"PATH=/usr/bin:/bin", NULL},
			  &r);
	}
	cr_assert(eq(int, r.status, 1));
	cr_assert(eq(ptr, strstr(r.out, "ran"), NULL));
	cr_assert(not(eq(ptr, strstr(r.err, "not in its login's cell"), NULL)), "%s", r.err);
	th_result_done(&r);
	free(link);
}

/* The test user's cells (in the slice) whose id is id. */
static bool user_cell_exists(const char *id)
{
	char name[128];
	char *path;
	bool there;

	snprintf(name, sizeof(name), "%u-%s", (unsigned)t.uid, id);
	path = th_join(t.slice, name);
	there = access(path, F_OK) == 0;
	free(path);
	return there;
}

/*
 * A login's processes have no no_new_privs: a setuid cell-session runs as root for them. From
 * inside the login's cell it must open no sibling cell with a policy of the account's choosing
 * (a proxy port and local ports of its own, a bwrap that binds everything).
 */
Test(pam, the_helper_opens_no_cell_from_inside_a_logins_cell)
{
	char *line, *cmd[] = {t.stage.helper,
			      (char *)"open",
			      (char *)"--id",
			      (char *)"squat",
			      (char *)"--status-fd",
			      (char *)"2",
			      (char *)"--local-port",
			      (char *)"5432",
			      (char *)"--",
			      (char *)"/usr/bin/bwrap",
			      (char *)"--bind",
			      (char *)"/",
			      (char *)"/",
			      (char *)"/bin/sh",
			      (char *)"-c",
			      (char *)"echo opened",
			      NULL};
	struct th_result r;

	th_stage_setuid(&t.stage);
	cr_assert(ge(int, asprintf(&line, "session required " MODULE " project=%s\n", t.proj), 0));
	write_service(line);
	free(line);
	r = drive(cmd);
	cr_assert(not(eq(ptr, strstr(r.out, "open: Success\n"), NULL)), "%s", r.out);
	cr_assert(eq(ptr, strstr(r.out, "opened"), NULL), "%s\n%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "status: 1\n"), NULL)), "%s\n%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "open: refused inside a cell"), NULL)), "%s", r.err);
	th_result_done(&r);
	cr_assert(not(user_cell_exists("squat")));
	cr_assert(eq(uint, leftovers(), 0));
	/* the positive control: outside any cell, the same request opens that cell */
	th_run_as(t.uid, t.gid, t.tmp, cmd, (char *[]){(char *)"PATH=/usr/bin:/bin", NULL}, &r);
	cr_assert(eq(int, r.status, 0), "%s\n%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "opened\n"), NULL)), "%s", r.out);
	th_result_done(&r);
}

/* Sets the test user's login shell (usermod, as an administrator would). */
static void login_shell(const char *shell)
{
	char *argv[] = {(char *)"/usr/sbin/usermod", (char *)"-s", (char *)shell,
			(char *)TH_TEST_USER, NULL};

	th_run_ok(NULL, argv, (char *[]){NULL});
	t.shell_changed = !streq(shell, "/bin/bash");
}

/* require_login_shell: a login whose shell is not cell-login-shell would run outside the
 * filesystem cell (its shell on the host's filesystem): refused. */
Test(pam, require_login_shell_refuses_another_shell)
{
	char *line, *shell = th_join(t.stage.dir, "bin/cell-login-shell");
	struct th_result r;

	cr_assert(ge(int,
		     asprintf(&line, "session required " MODULE " project=%s require_login_shell",
			      t.proj),
		     0));
	login_shell("/bin/bash");
	r = open_with(line);
	cr_assert(eq(int, r.status, 1), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "open: Cannot make/remove"), NULL)), "%s", r.out);
	cr_assert(eq(ptr, strstr(r.out, "env: CELL_ID="), NULL), "%s", r.out);
	th_result_done(&r);
	cr_assert(eq(uint, leftovers(), 0));
	/* the same login with cell-login-shell as its shell opens its cell */
	cr_assert(eq(int, symlink(t.stage.cell, shell), 0));
	login_shell(shell);
	r = open_with(line);
	login_shell("/bin/bash");
	cr_assert(eq(int, r.status, 0), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "env: CELL_ID="), NULL)), "%s", r.out);
	th_result_done(&r);
	free(line);
	free(shell);
}

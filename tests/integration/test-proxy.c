/* SPDX-License-Identifier: MIT */
/*
 * The proxy with real sockets on 127.0.0.1: a real `cell proxy`, real curl, and a local
 * upstream that answers with what it received. Host names reach 127.0.0.1 only through the
 * config's resolve map.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fileio.h"
#include "helpers.h"
#include "macro.h"

#define CELL CELL_TEST_BUILD "/cell"

static struct {
	char *tmp, *proj, *env[8];
	char *hosts; /* an /etc/hosts for the proxy (in a mount namespace of its own), or NULL */
	pid_t upstream, proxy;
	unsigned upstream_port, proxy_port;
	int proxy_out;
} t;

/* Reads a request head (and a Content-Length body) and answers with what it saw. */
static void serve(int fd)
{
	char req[16384] = "", resp[20000];
	size_t len = 0, sunk = 0;
	char *end = NULL, *cl;
	long body = 0;
	int n;

	while (len < sizeof(req) - 1 && !(end = strstr(req, "\r\n\r\n"))) {
		ssize_t r = read(fd, req + len, sizeof(req) - 1 - len);

		if (r <= 0)
			return;
		len += (size_t)r;
		req[len] = '\0';
	}
	/* (a first read that filled req left the loop before looking) */
	end = strstr(req, "\r\n\r\n");
	if (!end)
		return;
	cl = strcasestr(req, "\r\nContent-Length: ");
	if (cl && cl < end)
		body = strtol(cl + 18, NULL, 10);
	/* a chunked body: until its last chunk and empty trailer */
	cl = strcasestr(req, "\r\nTransfer-Encoding: chunked\r\n");
	while (cl && cl < end && len < sizeof(req) - 1 && !strstr(end + 2, "\r\n0\r\n\r\n")) {
		ssize_t r = read(fd, req + len, sizeof(req) - 1 - len);

		if (r <= 0)
			return;
		len += (size_t)r;
		req[len] = '\0';
	}
	/* (a body larger than req: the rest is read and dropped; what came is echoed) */
	while ((long)(len + sunk) < (end - req) + 4 + body) {
		bool room = len < sizeof(req) - 1;
		ssize_t r = room ? read(fd, req + len, sizeof(req) - 1 - len)
				 : read(fd, resp, sizeof(resp));

		if (r <= 0)
			break;
		if (!room) {
			sunk += (size_t)r;
			continue;
		}
		len += (size_t)r;
		req[len] = '\0';
	}
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
		     len, req);
	(void)!write(fd, resp, (size_t)n);
}

static void stop_upstream(void)
{
	if (t.upstream > 0) {
		kill(t.upstream, SIGKILL);
		waitpid(t.upstream, NULL, 0);
		t.upstream = 0;
	}
}

/*
 * Starts an upstream (in place of the one before) on a free port of the IPv4 address at:
 * handle(c) gets each connection, in a child of its own when concurrent, and closes it. Returns
 * the port; the server is killed at teardown.
 */
static unsigned start_server_at(struct in_addr at, void (*handle)(int c), bool concurrent)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = at};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	stop_upstream();
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, listen(fd, 128), 0));
	getsockname(fd, (struct sockaddr *)&a, &alen);
	t.upstream = th_fork();
	if (t.upstream == 0) {
		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				continue;
			if (!concurrent) {
				handle(c);
				continue;
			}
			if (fork() == 0) {
				handle(c);
				_exit(0);
			}
			close(c);
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		}
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* The same on a free loopback port. */
static unsigned start_server(void (*handle)(int c), bool concurrent)
{
	return start_server_at((struct in_addr){htonl(INADDR_LOOPBACK)}, handle, concurrent);
}

/*
 * Starts `cell proxy` with argv and waits for "listening on 127.0.0.1:PORT"; with a socket
 * activation_fd >= 0, it is handed over as systemd does (descriptor 3, LISTEN_FDS=1,
 * LISTEN_PID=the proxy's pid).
 */
static void start_proxy_argv(char *const argv[], int activation_fd)
{
	int out[2];
	char line[128] = "";
	size_t n = 0;

	cr_assert(eq(int, pipe(out), 0));
	t.proxy = th_fork();
	if (t.proxy == 0) {
		char *envp[16], fds[] = "LISTEN_FDS=1", pid[32];
		size_t k = 0;

		dup2(out[1], 1);
		close(out[0]);
		if (chdir(t.proj) < 0)
			_exit(126);
		if (t.hosts && (unshare(CLONE_NEWNS) < 0 ||
				mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
				mount(t.hosts, "/etc/hosts", NULL, MS_BIND, NULL) < 0))
			_exit(124);
		for (; t.env[k] && k < ELEMENTSOF(envp) - 3; k++)
			envp[k] = t.env[k];
		if (activation_fd >= 0) {
			if (activation_fd == 3 ? fcntl(3, F_SETFD, 0) < 0
					       : dup2(activation_fd, 3) < 0)
				_exit(125);
			snprintf(pid, sizeof(pid), "LISTEN_PID=%d", (int)getpid());
			envp[k++] = fds;
			envp[k++] = pid;
		}
		envp[k] = NULL;
		execve(CELL, argv, envp);
		_exit(127);
	}
	close(out[1]);
	t.proxy_out = out[0];
	while (n < sizeof(line) - 1 && !strchr(line, '\n')) {
		struct pollfd p = {out[0], POLLIN, 0};
		ssize_t r;

		cr_assert(gt(int, poll(&p, 1, 10000), 0), "the proxy did not start");
		r = read(out[0], line + n, sizeof(line) - 1 - n);
		cr_assert(gt(long, (long)r, 0), "the proxy exited");
		n += (size_t)r;
		line[n] = '\0';
	}
	cr_assert(eq(int, sscanf(line, "listening on 127.0.0.1:%u", &t.proxy_port), 1), "%s", line);
}

/* Starts `cell proxy` with extra arguments on a port of its own choosing. */
static void start_proxy(const char *extra1, const char *extra2)
{
	char *argv[] = {(char *)CELL,
			(char *)"proxy",
			(char *)"--listen",
			(char *)"127.0.0.1:0",
			(char *)"--flush-interval",
			(char *)"200",
			(char *)extra1,
			(char *)extra2,
			NULL};

	start_proxy_argv(argv, -1);
}

/* Writes the project's config and allows it. */
static void set_config(const char *json)
{
	char *argv[] = {(char *)CELL, (char *)"allow", NULL};
	struct th_result r;

	free(th_write(t.proj, ".cell.json", json));
	th_run(t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
}

/* The test's config, with more allow rules and more of network (",\"budget\": {...}"). */
static void write_config_with(const char *extra_allow, const char *extra_network)
{
	char json[1024];

	snprintf(
		json, sizeof(json),
		"{\"name\": \"px\", \"network\": {\"allow\": [\"registry.test:%u\", \"*.corp.test:%u\", "
		"\"localhost:%u\"%s], \"deny\": [\"bad.corp.test\"], \"resolve\": {"
		"\"registry.test\": \"127.0.0.1\", \"a.corp.test\": \"127.0.0.1\", "
		"\"bad.corp.test\": \"127.0.0.1\", \"corp.test\": \"127.0.0.1\", "
		"\"later.test\": \"127.0.0.1\"}%s}}",
		t.upstream_port, t.upstream_port, t.upstream_port, extra_allow, extra_network);
	set_config(json);
}

static void write_config(const char *extra_allow)
{
	write_config_with(extra_allow, "");
}

static void setup(void)
{
	memset(&t, 0, sizeof(t));
	t.tmp = th_mkdtemp();
	t.proj = th_join(t.tmp, "proj");
	cr_assert(ge(int, asprintf(&t.env[0], "HOME=%s/home", t.tmp), 0));
	cr_assert(ge(int, asprintf(&t.env[1], "XDG_DATA_HOME=%s/data", t.tmp), 0));
	cr_assert(ge(int, asprintf(&t.env[2], "XDG_STATE_HOME=%s/state", t.tmp), 0));
	cr_assert(ge(int, asprintf(&t.env[3], "XDG_CONFIG_HOME=%s/config", t.tmp), 0));
	t.env[4] = strdup("PATH=/usr/bin:/bin");
	t.upstream_port = start_server(serve, true);
	write_config("");
}

static void stop_proxy(void)
{
	int status;

	if (t.proxy <= 0)
		return;
	kill(t.proxy, SIGTERM);
	waitpid(t.proxy, &status, 0);
	t.proxy = 0;
	close(t.proxy_out);
}

static void teardown(void)
{
	stop_proxy();
	stop_upstream();
	for (int i = 0; t.env[i]; i++)
		free(t.env[i]);
	th_rm_rf(t.tmp);
	free(t.tmp);
	free(t.proj);
	free(t.hosts);
}

TestSuite(proxy, .init = setup, .fini = teardown, .timeout = 60);

/* curl through the proxy with the NULL-terminated arguments args. */
static struct th_result curl_args(const char *const *args)
{
	char proxy[64];
	char *argv[24] = {(char *)"/usr/bin/curl",
			  (char *)"-sS",
			  (char *)"--max-time",
			  (char *)"20",
			  (char *)"-x",
			  proxy};
	struct th_result r;
	int n = 6;

	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", t.proxy_port);
	while (*args && n < 23)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	th_run(NULL, argv, t.env, &r);
	return r;
}

/* curl through the proxy; extra is "-p" for a CONNECT tunnel, or NULL. */
static struct th_result curl(const char *url, const char *extra, const char *data)
{
	const char *args[6];
	int n = 0;

	if (extra)
		args[n++] = extra;
	if (data) {
		args[n++] = "--data-binary";
		args[n++] = data;
	}
	args[n++] = url;
	args[n] = NULL;
	return curl_args(args);
}

/* A new connection to the proxy, with len bytes sent on it. */
static int send_to_proxy(const char *bytes, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)t.proxy_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	if (len)
		cr_assert(eq(long, (long)write(fd, bytes, len), (long)len));
	return fd;
}

/* Reads what comes within 10 s into buf (NUL-terminated); the last read's errno (0: EOF). */
static int read_until_end(int fd, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;

		buf[n] = '\0';
		if (poll(&p, 1, 10000) <= 0)
			return ETIMEDOUT;
		r = read(fd, buf + n, size - 1 - n);
		if (r <= 0)
			return r == 0 ? 0 : errno;
		n += (size_t)r;
	}
}

/* Raw bytes to the proxy; returns what came back before it closed (or 10 s passed). */
static char *raw(const char *bytes, size_t len)
{
	int fd = send_to_proxy(bytes, len);
	char *out = calloc(1, 65536);

	read_until_end(fd, out, 65536);
	close(fd);
	return out;
}

static bool contains(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle);
}

static char *url(const char *host, const char *path)
{
	char *s;

	cr_assert(ge(int, asprintf(&s, "http://%s:%u%s", host, t.upstream_port, path), 0));
	return s;
}

Test(proxy, forwards_plain_http)
{
	char *u = url("registry.test", "/pkg/x?y=1");
	struct th_result r;

	start_proxy(NULL, NULL);
	r = curl(u, NULL, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(int, strncmp(r.out, "GET /pkg/x?y=1 HTTP/1.1\r\n", 25), 0), "%s", r.out);
	/* one request per upstream connection, and hop-by-hop fields not passed on */
	cr_assert(not(eq(ptr, strstr(r.out, "Connection: close\r\n"), NULL)), "%s", r.out);
	cr_assert(eq(ptr, strstr(r.out, "Proxy-Connection"), NULL), "%s", r.out);
	th_result_done(&r);
	free(u);
}

Test(proxy, tunnels_connect)
{
	char *u = url("registry.test", "/through/tunnel");
	struct th_result r;

	start_proxy(NULL, NULL);
	r = curl(u, "-p", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	/* through a tunnel the upstream sees the origin-form request curl wrote itself */
	cr_assert(eq(int, strncmp(r.out, "GET /through/tunnel HTTP/1.1\r\n", 30), 0), "%s", r.out);
	th_result_done(&r);
	free(u);
}

Test(proxy, forwards_a_request_body)
{
	char *u = url("a.corp.test", "/upload");
	struct th_result r;

	start_proxy(NULL, NULL);
	r = curl(u, NULL, "payload=1234");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(int, strncmp(r.out, "POST /upload HTTP/1.1\r\n", 23), 0), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "\r\n\r\npayload=1234"), NULL)), "%s", r.out);
	th_result_done(&r);
	free(u);
}

Test(proxy, drops_hop_by_hop_fields)
{
	char req[512], *resp;

	start_proxy(NULL, NULL);
	snprintf(req, sizeof(req),
		 "GET http://registry.test:%u/h HTTP/1.1\r\nHost: registry.test:%u\r\n"
		 "Proxy-Authorization: Basic c2VjcmV0\r\nConnection: close, X-Secret\r\n"
		 "X-Secret: 1\r\nKeep-Alive: 5\r\nX-Kept: yes\r\n\r\n",
		 t.upstream_port, t.upstream_port);
	resp = raw(req, strlen(req));
	cr_assert(eq(int, strncmp(resp, "HTTP/1.1 200 OK\r\n", 17), 0), "%s", resp);
	cr_assert(not(eq(ptr, strstr(resp, "X-Kept: yes"), NULL)), "%s", resp);
	cr_assert(eq(ptr, strstr(resp, "Proxy-Authorization"), NULL), "%s", resp);
	cr_assert(eq(ptr, strstr(resp, "X-Secret"), NULL), "%s", resp);
	cr_assert(eq(ptr, strstr(resp, "Keep-Alive"), NULL), "%s", resp);
	free(resp);
}

Test(proxy, policy_decides_with_a_human_403)
{
	char *denied = url("example.net", "/"), *deny_rule = url("bad.corp.test", "/");
	char *apex = url("corp.test", "/"), *sub = url("a.corp.test", "/"), want[256];
	struct th_result r;

	start_proxy(NULL, NULL);
	r = curl(denied, NULL, NULL);
	/* (the port is not a default one: the fix names it) */
	snprintf(want, sizeof(want),
		 "cell: example.net:%u is not in px's network allowlist (cell allow-host "
		 "example.net:%u)\n",
		 t.upstream_port, t.upstream_port);
	cr_assert(eq(str, r.out, want));
	th_result_done(&r);
	r = curl(deny_rule, "-p", NULL);
	cr_assert(not(eq(int, r.status, 0)), "a denied tunnel must not open");
	th_result_done(&r);
	/* (no allow-host can undo a deny rule: none is suggested) */
	r = curl(deny_rule, NULL, NULL);
	snprintf(want, sizeof(want),
		 "cell: bad.corp.test:%u is refused by px's network.deny (bad.corp.test)\n",
		 t.upstream_port);
	cr_assert(eq(str, r.out, want));
	th_result_done(&r);
	/* *.corp.test does not match corp.test itself */
	r = curl(apex, NULL, NULL);
	cr_assert(not(eq(ptr, strstr(r.out, "corp.test:"), NULL)), "%s", r.out);
	th_result_done(&r);
	r = curl(sub, NULL, NULL);
	snprintf(want, sizeof(want), "GET / HTTP/1.1\r\n");
	cr_assert(eq(int, strncmp(r.out, want, strlen(want)), 0), "%s", r.out);
	th_result_done(&r);
	free(denied);
	free(deny_rule);
	free(apex);
	free(sub);
}

Test(proxy, refuses_rebinding_to_loopback)
{
	/* localhost is allowed by name, but it resolves to loopback and no pin or rule says so */
	char *u = url("localhost", "/");
	struct th_result r;

	start_proxy(NULL, NULL);
	r = curl(u, NULL, NULL);
	cr_assert(contains(r.out, "resolves to 127.0.0.1, a loopback address, where a name may "
				  "not lead (a pin in px's network.resolve can let localhost reach "
				  "it)\n"),
		  "%s", r.out);
	th_result_done(&r);
	free(u);
}

Test(proxy, address_rules_decide_for_every_form_of_an_ipv4_address)
{
	char json[512], *mapped, *denied;
	struct th_result r;

	snprintf(json, sizeof(json),
		 "{\"name\": \"px\", \"network\": {\"allow\": [\"127.0.0.1:%u\", "
		 "\"127.0.0.2:%u\"], \"deny\": [\"[::ffff:127.0.0.2]\"]}}",
		 t.upstream_port, t.upstream_port);
	set_config(json);
	start_proxy(NULL, NULL);
	/* the IPv4 rule allows the address written as IPv6, and the request goes through */
	mapped = url("[::ffff:127.0.0.1]", "/mapped");
	r = curl(mapped, NULL, NULL);
	cr_assert(eq(int, strncmp(r.out, "GET /mapped HTTP/1.1\r\n", 22), 0), "%s", r.out);
	th_result_done(&r);
	/* a deny rule written as IPv6 holds the plain IPv4 address */
	denied = url("127.0.0.2", "/");
	r = curl(denied, NULL, NULL);
	{
		char want[128];

		snprintf(
			want, sizeof(want),
			"cell: 127.0.0.2:%u is refused by px's network.deny ([::ffff:127.0.0.2])\n",
			t.upstream_port);
		cr_assert(eq(str, r.out, want));
	}
	th_result_done(&r);
	free(mapped);
	free(denied);
}

/* An IPv4 address of this machine's that is in no special range (loopback, private...). */
static bool own_ordinary_address(struct in_addr *ret)
{
	struct ifaddrs *list, *i;

	cr_assert(eq(int, getifaddrs(&list), 0));
	for (i = list; i; i = i->ifa_next) {
		const unsigned char *a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		*ret = ((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
		a = (const unsigned char *)&ret->s_addr;
		if (a[0] != 0 && a[0] != 127 && a[0] != 10 &&
		    !(a[0] == 172 && (a[1] & 0xf0) == 16) && !(a[0] == 192 && a[1] == 168) &&
		    !(a[0] == 100 && (a[1] & 0xc0) == 64) && !(a[0] == 169 && a[1] == 254) &&
		    a[0] < 224)
			break;
	}
	freeifaddrs(list);
	return i != NULL;
}

Test(proxy, refuses_a_name_that_resolves_to_this_machine)
{
	char own[INET_ADDRSTRLEN], json[512], req[256], want[128], *u, *resp;
	struct in_addr at;
	struct th_result r;

	if (geteuid() != 0)
		th_skip("an /etc/hosts of the proxy's own needs a mount namespace: root");
	if (!own_ordinary_address(&at))
		th_skip("this machine has no IPv4 address outside the special ranges");
	inet_ntop(AF_INET, &at, own, sizeof(own));
	/* a service of the host's that listens on that address, not on loopback */
	t.upstream_port = start_server_at(at, serve, true);
	snprintf(json, sizeof(json),
		 "{\"name\": \"px\", \"network\": {\"allow\": [\"own.test:%u\", "
		 "\"pinned.test:%u\"], \"resolve\": {\"pinned.test\": \"%s\"}}}",
		 t.upstream_port, t.upstream_port, own);
	set_config(json);
	/* own.test is looked up, as any name: the proxy's /etc/hosts has it */
	snprintf(json, sizeof(json), "%s own.test\n", own);
	t.hosts = th_write(t.tmp, "hosts", json);
	start_proxy(NULL, NULL);

	/* pinned there by the resolve map: the user's own choice, and the service answers */
	u = url("pinned.test", "/");
	r = curl(u, NULL, NULL);
	cr_assert(eq(int, strncmp(r.out, "GET / HTTP/1.1\r\n", 16), 0), "%s", r.out);
	th_result_done(&r);
	free(u);
	/* allowed by name, but the name leads to this machine */
	u = url("own.test", "/");
	r = curl(u, NULL, NULL);
	snprintf(want, sizeof(want), " resolves to %s, an address of this machine", own);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "%s", r.out);
	th_result_done(&r);
	free(u);
	snprintf(req, sizeof(req), "CONNECT own.test:%u HTTP/1.1\r\n\r\n", t.upstream_port);
	resp = raw(req, strlen(req));
	cr_assert(eq(int, strncmp(resp, "HTTP/1.1 403 Forbidden\r\n", 24), 0), "%s", resp);
	free(resp);
}

struct hostile {
	char in[256];
	char status[48];
};

ParameterizedTestParameters(proxy, hostile_requests)
{
	static struct hostile cases[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"CONNECT registry.test HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"CONNECT :443 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"CONNECT registry.test:99999 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"GET http://registry.test/ HTTP/1.1\n\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "HTTP/1.1 400 Bad Request\r\n"},
		{"POST http://registry.test/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		 "HTTP/1.1 400 Bad Request\r\n"},
		{"GET http://registry.test/ HTTP/1.1\r\nX: a\0b\r\n\r\n",
		 "HTTP/1.1 400 Bad Request\r\n"},
		{"POST http://registry.test/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
		 "HTTP/1.1 400 Bad Request\r\n"},
		{"POST http://registry.test/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		 "HTTP/1.1 400 Bad Request\r\n"},
		{"GET http://registry.test/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		 "HTTP/1.1 400 Bad Request\r\n"},
	};
	return cr_make_param_array(struct hostile, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct hostile *c, proxy, hostile_requests)
{
	size_t len = strlen(c->in);
	char *resp;

	/* the NUL case: send through the NUL */
	if (strstr(c->in, "X: a"))
		len = strlen(c->in) + 1 + strlen(c->in + strlen(c->in) + 1);
	start_proxy(NULL, NULL);
	resp = raw(c->in, len);
	cr_assert(eq(int, strncmp(resp, c->status, strlen(c->status)), 0), "for %s: %s", c->in,
		  resp);
	free(resp);
	/* and the proxy is still there */
	resp = raw("CONNECT a:1 HTTP/1.1\r\n\r\n", 24);
	cr_assert(not(eq(str, resp, "")));
	free(resp);
}

Test(proxy, keeps_the_client_connection_alive_and_checks_each_request)
{
	char *one = url("registry.test", "/one"), *two = url("a.corp.test", "/two");
	char *three = url("example.net", "/three");
	const char *args[] = {"-w", "[%{num_connects} %{http_code}]", one, two, three, NULL};
	struct th_result r;
	char *p;

	start_proxy(NULL, NULL);
	r = curl_args(args);
	/* curl opened one connection to the proxy and used it for all three */
	p = strstr(r.out, "GET /one HTTP/1.1\r\n");
	cr_assert(not(eq(ptr, p, NULL)), "%s", r.out);
	p = strstr(p, "[1 200]GET /two HTTP/1.1\r\n");
	cr_assert(not(eq(ptr, p, NULL)), "%s", r.out);
	/* the third request names another host: checked again, and refused */
	p = strstr(p, "[0 200]cell: example.net:");
	cr_assert(not(eq(ptr, p, NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(p, "[0 403]"), NULL)), "%s", r.out);
	th_result_done(&r);
	free(one);
	free(two);
	free(three);
}

Test(proxy, answers_pipelined_requests_in_order_and_checks_the_second)
{
	char req[512], *resp, *first, *second;

	start_proxy(NULL, NULL);
	snprintf(req, sizeof(req),
		 "GET http://registry.test:%u/first HTTP/1.1\r\n\r\n"
		 "GET http://example.net/second HTTP/1.1\r\n\r\n",
		 t.upstream_port);
	resp = raw(req, strlen(req));
	first = strstr(resp, "HTTP/1.1 200 OK\r\n");
	cr_assert(not(eq(ptr, first, NULL)), "%s", resp);
	cr_assert(not(eq(ptr, strstr(first, "GET /first HTTP/1.1\r\n"), NULL)), "%s", resp);
	/* the upstream saw the first request alone */
	cr_assert(eq(ptr, strstr(first, "GET /second"), NULL), "%s", resp);
	second = strstr(first, "HTTP/1.1 403 Forbidden\r\n");
	cr_assert(not(eq(ptr, second, NULL)), "%s", resp);
	free(resp);
}

Test(proxy, forwards_a_chunked_request_body)
{
	char *u = url("registry.test", "/chunked");
	const char *args[] = {"-H", "Transfer-Encoding: chunked", "--data-binary", "hello there", u,
			      NULL};
	struct th_result r;
	char req[512], *resp;

	start_proxy(NULL, NULL);
	r = curl_args(args);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "Transfer-Encoding: chunked\r\n"), NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "\r\n\r\nb\r\nhello there\r\n0\r\n\r\n"), NULL)), "%s",
		  r.out);
	th_result_done(&r);
	/* a malformed chunk size is refused before anything goes upstream */
	snprintf(req, sizeof(req),
		 "POST http://registry.test:%u/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "zz\r\nhello\r\n0\r\n\r\n",
		 t.upstream_port);
	resp = raw(req, strlen(req));
	cr_assert(eq(int, strncmp(resp, "HTTP/1.1 400 Bad Request\r\n", 26), 0), "%s", resp);
	cr_assert(not(eq(ptr, strstr(resp, "chunked body"), NULL)), "%s", resp);
	free(resp);
	free(u);
}

/* An upstream that reads a request head and answers with canned, whatever was asked. */
static const char *canned;

static void serve_canned(int fd)
{
	char req[16384];
	size_t len = 0;

	while (len < sizeof(req) - 1) {
		ssize_t r = read(fd, req + len, sizeof(req) - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	(void)!write(fd, canned, strlen(canned));
	close(fd);
}

struct framing {
	char response[256];
	char method[8]; /* curl -X, or "" (an array: the cases are copied to the test) */
	char want[160]; /* curl's output for two requests */
};

ParameterizedTestParameters(proxy, passes_each_response_framing_and_reuses_what_it_can)
{
	static struct framing cases[] = {
		/* chunked, with extensions and a trailer field: the connection is reused */
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		 "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
		 "", "hello world[1]hello world[0]"},
		/* an interim 100 before the response */
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "",
		 "ok[1]ok[0]"},
		/* bytes after the Content-Length are not a second response */
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 Smuggled\r\n"
		 "Content-Length: 3\r\n\r\nbad",
		 "", "ok[1]ok[0]"},
		/* a body until the close: the proxy has to close the client connection too */
		{"HTTP/1.0 200 OK\r\n\r\nuntil close", "", "until close[1]until close[1]"},
		/* no body for HEAD, whatever Content-Length says */
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", "[1][0]"},
		{"HTTP/1.1 204 No Content\r\n\r\n", "", "[1][0]"},
	};
	return cr_make_param_array(struct framing, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct framing *c, proxy, passes_each_response_framing_and_reuses_what_it_can)
{
	char *u;
	const char *args[8] = {"-w", "[%{num_connects}]"};
	struct th_result r;
	int n = 2;

	canned = c->response;
	t.upstream_port = start_server(serve_canned, true);
	write_config("");
	start_proxy(NULL, NULL);
	u = url("registry.test", "/");
	if (c->method[0]) {
		args[n++] = "-X";
		args[n++] = c->method;
		args[n++] = "-I";
	}
	args[n++] = u;
	args[n++] = u;
	r = curl_args(args);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	if (c->method[0]) {
		/* -I prints heads: keep only the counts */
		char *w = r.out;

		for (char *p = r.out; *p; p++)
			if (*p == '[' || (w > r.out && w[-1] != ']' && (p[-1] == '[' || *p == ']')))
				*w++ = *p;
			else if (w > r.out && w[-1] == '[')
				*w++ = *p;
		*w = '\0';
	}
	cr_assert(eq(str, r.out, c->want), "%s", r.err);
	th_result_done(&r);
	free(u);
}

Test(proxy, answers_in_its_own_http_version_and_framing)
{
	char req[256], *resp;

	canned = "HTTP/1.0 200 Fine\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nbody";
	t.upstream_port = start_server(serve_canned, true);
	write_config("");
	start_proxy(NULL, NULL);
	snprintf(req, sizeof(req), "GET http://registry.test:%u/ HTTP/1.1\r\n\r\n",
		 t.upstream_port);
	resp = raw(req, strlen(req));
	/* its version, not the upstream's; the upstream's hop-by-hop fields gone; a body that
	 * runs until the close, so the connection to the client closes too */
	cr_assert(eq(str, resp, "HTTP/1.1 200 Fine\r\nConnection: close\r\n\r\nbody"));
	free(resp);
}

Test(proxy, a_bad_or_missing_response_is_a_502)
{
	char *u;
	struct th_result r;

	canned = "HTTP/1.1 2000 What\r\n\r\n";
	t.upstream_port = start_server(serve_canned, true);
	write_config("");
	start_proxy(NULL, NULL);
	u = url("registry.test", "/");
	r = curl(u, NULL, NULL);
	cr_assert(not(eq(ptr, strstr(r.out, "sent a bad response: a bad status line"), NULL)), "%s",
		  r.out);
	th_result_done(&r);
	canned = "";
	stop_proxy();
	t.upstream_port = start_server(serve_canned, true);
	write_config("");
	start_proxy(NULL, NULL);
	free(u);
	u = url("registry.test", "/");
	r = curl(u, NULL, NULL);
	cr_assert(not(eq(ptr, strstr(r.out, "closed the connection without a response"), NULL)),
		  "%s", r.out);
	th_result_done(&r);
	free(u);
}

/* Starts argv (in dir) as the upstream, in place of the one before: th_spawn_server. */
static unsigned start_upstream_program(const char *dir, char *const argv[], const char *fmt)
{
	unsigned port = 0;

	stop_upstream();
	t.upstream = th_spawn_server(dir, argv, t.env, fmt, &port);
	return port;
}

/* A TLS server (python's ssl, a self-signed certificate for registry.test) behind a tunnel. */
Test(proxy, tls_through_a_tunnel_with_curl_and_python)
{
	static const char server[] = "import http.server, ssl\n"
				     "class H(http.server.BaseHTTPRequestHandler):\n"
				     "    def do_GET(self):\n"
				     "        body = b'hello over tls ' + self.path.encode()\n"
				     "        self.send_response(200)\n"
				     "        self.send_header('Content-Length', str(len(body)))\n"
				     "        self.end_headers()\n"
				     "        self.wfile.write(body)\n"
				     "    def log_message(self, *a):\n"
				     "        pass\n"
				     "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
				     "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
				     "c.load_cert_chain('cert.pem', 'key.pem')\n"
				     "s.socket = c.wrap_socket(s.socket, server_side=True)\n"
				     "print(s.server_address[1], flush=True)\n"
				     "s.serve_forever()\n";
	static const char client[] =
		"import ssl, sys, urllib.request\n"
		"ctx = ssl.create_default_context(cafile='cert.pem')\n"
		"print(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=20).read().decode())\n";
	char *openssl[] = {(char *)"/usr/bin/openssl",
			   (char *)"req",
			   (char *)"-x509",
			   (char *)"-newkey",
			   (char *)"rsa:2048",
			   (char *)"-nodes",
			   (char *)"-keyout",
			   (char *)"key.pem",
			   (char *)"-out",
			   (char *)"cert.pem",
			   (char *)"-days",
			   (char *)"1",
			   (char *)"-subj",
			   (char *)"/CN=registry.test",
			   (char *)"-addext",
			   (char *)"subjectAltName=DNS:registry.test",
			   NULL};
	char *serve_argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)server, NULL};
	char *u, proxy_env[64], *env[8], *curl_argv[12];
	char *py[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)client, NULL, NULL};
	struct th_result r;
	int n = 0;

	th_run_ok(t.tmp, openssl, t.env);
	t.upstream_port = start_upstream_program(t.tmp, serve_argv, "%u");
	write_config("");
	start_proxy(NULL, NULL);
	cr_assert(ge(int, asprintf(&u, "https://registry.test:%u/secret", t.upstream_port), 0));

	/* curl tunnels https on its own; it checks the certificate against the name */
	{
		char cacert[4096];

		snprintf(cacert, sizeof(cacert), "%s/cert.pem", t.tmp);
		curl_argv[n++] = (char *)"--cacert";
		curl_argv[n++] = cacert;
		curl_argv[n++] = u;
		curl_argv[n] = NULL;
		r = curl_args((const char *const *)curl_argv);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		cr_assert(eq(str, r.out, "hello over tls /secret"), "%s", r.out);
		th_result_done(&r);
	}

	/* python's urllib through HTTPS_PROXY */
	snprintf(proxy_env, sizeof(proxy_env), "HTTPS_PROXY=http://127.0.0.1:%u", t.proxy_port);
	for (n = 0; t.env[n]; n++)
		env[n] = t.env[n];
	env[n++] = proxy_env;
	env[n] = NULL;
	py[3] = u;
	th_run(t.tmp, py, env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, "hello over tls /secret\n"), "%s", r.err);
	th_result_done(&r);
	free(u);
}

/* git clone over http:// (the dumb protocol, from python's http.server) through the proxy. */
Test(proxy, git_clone_over_http_through_the_proxy)
{
	char *git_init[] = {(char *)"/usr/bin/git", (char *)"init", (char *)"-q", (char *)"src",
			    NULL};
	char *git_commit[] = {(char *)"/usr/bin/git",
			      (char *)"-C",
			      (char *)"src",
			      (char *)"-c",
			      (char *)"user.name=t",
			      (char *)"-c",
			      (char *)"user.email=t@t.test",
			      (char *)"commit",
			      (char *)"-qam",
			      (char *)"first",
			      NULL};
	char *git_add[] = {(char *)"/usr/bin/git", (char *)"-C",     (char *)"src",
			   (char *)"add",	   (char *)"README", NULL};
	char *git_bare[] = {
		(char *)"/usr/bin/git", (char *)"clone",	(char *)"-q", (char *)"--bare",
		(char *)"src",		(char *)"srv/repo.git", NULL};
	char *git_info[] = {(char *)"/usr/bin/git", (char *)"-C", (char *)"srv/repo.git",
			    (char *)"update-server-info", NULL};
	char *serve_argv[] = {(char *)"/usr/bin/python3",
			      (char *)"-u",
			      (char *)"-m",
			      (char *)"http.server",
			      (char *)"--bind",
			      (char *)"127.0.0.1",
			      (char *)"0",
			      NULL};
	char proxy_opt[64], *u, *readme;
	char *git_clone[] = {(char *)"/usr/bin/git", (char *)"-c", proxy_opt,	  (char *)"clone",
			     (char *)"-q",	     NULL,	   (char *)"dst", NULL};
	char *src;

	src = th_join(t.tmp, "src");
	th_run_ok(t.tmp, git_init, t.env);
	free(th_write(src, "README", "cloned through the cell proxy\n"));
	th_run_ok(t.tmp, git_add, t.env);
	th_run_ok(t.tmp, git_commit, t.env);
	th_run_ok(t.tmp, git_bare, t.env);
	th_run_ok(t.tmp, git_info, t.env);
	{
		char *srv = th_join(t.tmp, "srv");

		t.upstream_port = start_upstream_program(srv, serve_argv,
							 "Serving HTTP on 127.0.0.1 port %u");
		free(srv);
	}
	write_config("");
	start_proxy(NULL, NULL);
	snprintf(proxy_opt, sizeof(proxy_opt), "http.proxy=http://127.0.0.1:%u", t.proxy_port);
	cr_assert(ge(int, asprintf(&u, "http://registry.test:%u/repo.git", t.upstream_port), 0));
	git_clone[5] = u;
	th_run_ok(t.tmp, git_clone, t.env);
	{
		char *path = th_join(t.tmp, "dst/README");

		readme = th_read(path);
		free(path);
	}
	cr_assert(eq(str, readme, "cloned through the cell proxy\n"));
	free(readme);
	free(u);
	free(src);
}

Test(proxy, huge_heads_and_slow_heads_are_cut_off)
{
	char *big = malloc(70000), *resp;
	size_t n = (size_t)sprintf(big, "GET http://registry.test/ HTTP/1.1\r\n");
	time_t t0;

	start_proxy("--head-timeout", "500");
	while (n < 60000)
		n += (size_t)sprintf(big + n, "X-Padding: %s\r\n",
				     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	resp = raw(big, n);
	cr_assert(eq(int, strncmp(resp, "HTTP/1.1 431 ", 13), 0), "%.100s", resp);
	free(resp);
	/* slowloris: half a head, then nothing; closed at the head timeout, not never */
	t0 = time(NULL);
	resp = raw("GET http://registry.test/ HTTP/1.1\r\nX-Slow: ", 44);
	cr_assert(eq(int, strncmp(resp, "HTTP/1.1 408 ", 13), 0), "%s", resp);
	cr_assert(lt(long, (long)(time(NULL) - t0), 5L));
	free(resp);
	free(big);
}

Test(proxy, over_the_tunnel_limit_clients_get_503)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int held[2];
	char *resp;

	start_proxy("--max-tunnels", "2");
	a.sin_port = htons((uint16_t)t.proxy_port);
	for (int i = 0; i < 2; i++) {
		held[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert(eq(int, connect(held[i], (struct sockaddr *)&a, sizeof(a)), 0));
	}
	/* the two held ones are counted once the proxy has accepted them */
	usleep(300000);
	resp = raw("", 0);
	cr_assert(eq(int, strncmp(resp, "HTTP/1.1 503 ", 13), 0), "%s", resp);
	free(resp);
	close(held[0]);
	close(held[1]);
}

/* The lines of the project's request log FILE (proxy.log, proxy.log.1, ...), or "" if none. */
static char *request_log(const char *file)
{
	char pattern[4096], *text;
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s/state/cell/projects/*/%s", t.tmp, file);
	if (glob(pattern, 0, NULL, &g) != 0)
		return strdup("");
	text = th_read(g.gl_pathv[0]);
	globfree(&g);
	return text;
}

static void unlink_request_log(const char *file)
{
	char pattern[4096];
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s/state/cell/projects/*/%s", t.tmp, file);
	if (glob(pattern, 0, NULL, &g) == 0) {
		unlink(g.gl_pathv[0]);
		globfree(&g);
	}
}

/* Each line of text is a JSON object; returns how many. */
static int json_lines(char *text)
{
	int n = 0;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *j = cJSON_Parse(line);

		cr_assert(cJSON_IsObject(j), "not a JSON object: %s", line);
		cJSON_Delete(j);
		n++;
	}
	return n;
}

Test(proxy, logs_each_request_and_tunnel_and_rotates_the_log)
{
	char *ok = url("registry.test", "/logged"), *no = url("example.net", "/"), *log, *p;
	char denied[128];
	int lines = 0;

	start_proxy(NULL, NULL);
	th_result_done((struct th_result[]){curl(ok, NULL, NULL)});
	th_result_done((struct th_result[]){curl(ok, "-p", NULL)});
	th_result_done((struct th_result[]){curl(no, NULL, NULL)});
	free(raw("GET / HTTP/1.1\r\n\r\n", 18));
	stop_proxy();
	log = request_log("proxy.log");
	/* a forwarded request, with the rule that allowed it and the bytes both ways */
	p = strstr(log, "\"kind\":\"request\",\"method\":\"GET\",\"path\":\"/logged\","
			"\"host\":\"registry.test\"");
	cr_assert(not(eq(ptr, p, NULL)), "%s", log);
	cr_assert(eq(int, strncmp(strchr(p, ','), ",\"method\"", 9), 0));
	cr_assert(
		not(eq(ptr, strstr(p, "\"decision\":\"allowed\",\"rule\":\"registry.test:"), NULL)),
		"%s", log);
	cr_assert(not(eq(ptr, strstr(p, "\"status\":200,\"up\":"), NULL)), "%s", log);
	/* a tunnel */
	cr_assert(not(eq(ptr, strstr(log, "\"kind\":\"tunnel\",\"host\":\"registry.test\""), NULL)),
		  "%s", log);
	/* a denial, with its reason */
	snprintf(denied, sizeof(denied),
		 "\"host\":\"example.net\",\"port\":%u,\"decision\":\"denied\",\"status\":403",
		 t.upstream_port);
	p = strstr(log, denied);
	cr_assert(not(eq(ptr, p, NULL)), "%s", log);
	cr_assert(not(eq(ptr, strstr(p, "\"reason\":\"example.net:"), NULL)), "%s", log);
	/* a bad request names no host */
	cr_assert(
		not(eq(ptr, strstr(log, "\"kind\":\"request\",\"decision\":\"bad\",\"status\":400"),
		       NULL)),
		"%s", log);
	cr_assert(eq(int, json_lines(log), 4));
	free(log);

	/*
	 * past --log-max the log moves to proxy.log.1, then .2, lines whole: with lines of about
	 * 200 bytes, two to a file, eight requests fill four files of which the three newest stay
	 */
	unlink_request_log("proxy.log");
	start_proxy("--log-max", "500");
	for (int i = 0; i < 8; i++)
		th_result_done((struct th_result[]){curl(ok, NULL, NULL)});
	stop_proxy();
	for (int i = 0; i < 3; i++) {
		static const char *const files[] = {"proxy.log", "proxy.log.1", "proxy.log.2"};

		log = request_log(files[i]);
		cr_assert(le(sz, strlen(log), 500), "%s is %zu bytes", files[i], strlen(log));
		lines += json_lines(log);
		free(log);
	}
	cr_assert(eq(int, lines, 6));
	log = request_log("proxy.log.3");
	cr_assert(eq(str, log, ""), "only two old files are kept");
	free(log);
	free(ok);
	free(no);
}

Test(proxy, counts_go_to_the_ledger_and_to_cell_stats)
{
	char *ok = url("registry.test", "/count"), *no = url("example.net", "/");
	char *argv[] = {(char *)CELL, (char *)"stats", (char *)"--json", NULL};
	struct th_result r;

	start_proxy(NULL, NULL);
	th_result_done((r = curl(ok, NULL, NULL), &r));
	th_result_done((r = curl(ok, "-p", NULL), &r));
	th_result_done((r = curl(no, NULL, NULL), &r));
	stop_proxy();
	th_run(t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "\"registry.test\":{\"requests\":1,\"tunnels\":1,"),
			 NULL)),
		  "%s", r.out);
	cr_assert(
		not(eq(ptr,
		       strstr(r.out,
			      "\"example.net\":{\"requests\":0,\"tunnels\":0,\"up\":0,\"down\":0,\"denied\":1}"),
		       NULL)),
		"%s", r.out);
	th_result_done(&r);
	free(ok);
	free(no);
}

/* Whether the file an inotify descriptor watches (IN_OPEN) was opened within 10 s. */
static bool opened(int in)
{
	char ev[sizeof(struct inotify_event) + NAME_MAX + 1];
	struct pollfd p = {in, POLLIN, 0};

	return poll(&p, 1, 10000) == 1 && read(in, ev, sizeof(ev)) > 0;
}

Test(proxy, relays_while_a_reader_holds_the_ledger)
{
	char *ok = url("registry.test", "/count"), *ledger;
	char *argv[] = {(char *)CELL, (char *)"stats", (char *)"--json", NULL};
	struct th_result r;
	glob_t g;
	int fd, in;

	start_proxy(NULL, NULL);
	th_result_done((r = curl(ok, NULL, NULL), &r));
	/* the first flush (every 200 ms here) makes the ledger */
	ledger = th_join(t.tmp, "state/cell/projects/*/ledger.jsonl");
	for (int i = 0; i < 1000 && glob(ledger, 0, NULL, &g) != 0; i++)
		usleep(10000);
	cr_assert(eq(sz, g.gl_pathc, 1), "no ledger at %s", ledger);
	/* a reader holds the ledger's lock; the proxy counts a request and tries to write it */
	fd = open(g.gl_pathv[0], O_RDONLY | O_CLOEXEC);
	cr_assert(eq(int, flock(fd, LOCK_EX), 0));
	in = inotify_init1(IN_CLOEXEC);
	cr_assert(ge(int, inotify_add_watch(in, g.gl_pathv[0], IN_OPEN), 0));
	th_result_done((r = curl(ok, "-p", NULL), &r));
	cr_assert(opened(in), "the proxy never tried to write its record");
	close(in);
	/* a request while the record waits for the lock goes through all the same (the lock
	 * goes before the verdict: a proxy stuck in flock could not be stopped) */
	r = curl(ok, NULL, NULL);
	close(fd);
	cr_assert(eq(int, r.status, 0), "curl: %d %s", r.status, r.err);
	cr_assert(eq(int, strncmp(r.out, "GET /count HTTP/1.1\r\n", 20), 0), "%s", r.out);
	th_result_done(&r);
	/* and no record is lost */
	stop_proxy();
	th_run(t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "\"registry.test\":{\"requests\":2,\"tunnels\":1,"),
			 NULL)),
		  "%s", r.out);
	th_result_done(&r);
	globfree(&g);
	free(ledger);
	free(ok);
}

/*
 * A cell that asks for ever new names it is refused cannot grow the ledger without end: a record
 * names the first 64 of them, the rest together (each record, every 10 s, would name them all:
 * megabytes a minute).
 */
Test(proxy, a_record_names_at_most_64_refused_hosts)
{
	enum { NAMES = 300, MAX = 64 };
	char *argv[] = {(char *)CELL, (char *)"stats", (char *)"--json", NULL}, req[128], buf[256];
	const cJSON *hosts, *other;
	struct th_result r;
	cJSON *j;

	/* one record for all of them */
	start_proxy("--flush-interval", "600000");
	for (int i = 0; i < NAMES; i++) {
		int fd;

		snprintf(req, sizeof(req), "CONNECT n%d.example.net:443 HTTP/1.1\r\n\r\n", i);
		fd = send_to_proxy(req, strlen(req));
		cr_assert(eq(int, read_until_end(fd, buf, sizeof(buf)), 0));
		cr_assert(eq(int, strncmp(buf, "HTTP/1.1 403 ", 13), 0), "%s", buf);
		close(fd);
	}
	stop_proxy();
	th_run(t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	j = cJSON_Parse(r.out);
	hosts = cJSON_GetObjectItemCaseSensitive(j, "hosts");
	cr_assert(cJSON_IsObject(hosts), "%s", r.out);
	/* the first 64 names, and the rest together */
	cr_assert(eq(int, cJSON_GetArraySize(hosts), MAX + 1));
	other = cJSON_GetObjectItemCaseSensitive(hosts, "other-hosts.invalid");
	cr_assert(eq(int, cJSON_GetObjectItemCaseSensitive(other, "denied")->valueint, NAMES - MAX),
		  "%s", r.out);
	cJSON_Delete(j);
	th_result_done(&r);
}

Test(proxy, a_thousand_concurrent_tunnels)
{
	enum { N = 1000 };
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct rlimit rl;
	socklen_t alen = sizeof(a);
	int sink = socket(AF_INET, SOCK_STREAM, 0), *fds = calloc(N, sizeof(int)), ok = 0;
	char req[128];

	/* the test holds N sockets itself */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < 3 * N)
		th_skip("RLIMIT_NOFILE's hard limit is %lu", (unsigned long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	/* an upstream that completes every TCP handshake from its backlog and then holds still */
	cr_assert(eq(int, bind(sink, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, listen(sink, 4096), 0));
	getsockname(sink, (struct sockaddr *)&a, &alen);
	t.upstream_port = ntohs(a.sin_port);
	{
		char extra[64];

		snprintf(extra, sizeof(extra), ", \"127.0.0.1:%u\"", t.upstream_port);
		write_config(extra);
	}
	start_proxy(NULL, NULL);
	snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", t.upstream_port);
	a.sin_port = htons((uint16_t)t.proxy_port);
	for (int i = 0; i < N; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert(eq(int, connect(fds[i], (struct sockaddr *)&a, sizeof(a)), 0), "%d: %s",
			  i, strerror(errno));
		cr_assert(eq(long, (long)write(fds[i], req, strlen(req)), (long)strlen(req)));
	}
	for (int i = 0; i < N; i++) {
		struct pollfd p = {fds[i], POLLIN, 0};
		char buf[128] = "";

		if (poll(&p, 1, 20000) > 0 && read(fds[i], buf, sizeof(buf) - 1) > 0 &&
		    strncmp(buf, "HTTP/1.1 200 ", 13) == 0)
			ok++;
	}
	cr_assert(eq(int, ok, N));
	for (int i = 0; i < N; i++)
		close(fds[i]);
	free(fds);
	close(sink);
}

/* What sending_upstream() sends on each connection: `send_bytes` bytes, or "bye" if 0. */
static size_t send_bytes;

static void send_and_close(int c)
{
	static char chunk[65536];
	size_t sent = 0;

	if (send_bytes == 0)
		(void)!write(c, "bye", 3);
	while (sent < send_bytes) {
		ssize_t w = write(c, chunk,
				  sizeof(chunk) < send_bytes - sent ? sizeof(chunk)
								    : send_bytes - sent);

		if (w <= 0)
			break;
		sent += (size_t)w;
	}
	close(c);
}

static unsigned sending_upstream(size_t bytes)
{
	send_bytes = bytes;
	return start_server(send_and_close, false);
}

static int tunnel(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)t.proxy_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char req[128], buf[64] = "";
	const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";

	snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", port);
	cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(long, (long)write(fd, req, strlen(req)), (long)strlen(req)));
	/* exactly the 200, so that what follows is the upstream's */
	cr_assert(eq(long, (long)read(fd, buf, sizeof(ok) - 1), (long)(sizeof(ok) - 1)));
	cr_assert(eq(str, buf, (char *)ok));
	return fd;
}

static void allow_port(unsigned port)
{
	char extra[64];

	snprintf(extra, sizeof(extra), ", \"127.0.0.1:%u\"", port);
	write_config(extra);
}

/* Reads fd until EOF or an error, closes it; how many bytes came. */
static size_t read_to_end(int fd)
{
	char buf[65536];
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	close(fd);
	return got;
}

Test(proxy, a_tunnel_delivers_everything_to_a_slow_reader)
{
	enum { SIZE = 8 * 1024 * 1024 };
	unsigned port = sending_upstream(SIZE);
	size_t got;
	int fd;

	allow_port(port);
	start_proxy(NULL, NULL);
	fd = tunnel(port);
	shutdown(fd, SHUT_WR);
	/* the proxy's buffers fill and the upstream closes before we read anything */
	sleep(1);
	got = read_to_end(fd);
	cr_assert(eq(sz, got, (size_t)SIZE));
}

static double cpu_seconds(pid_t pid)
{
	char path[64], *s, *p;
	unsigned long utime = 0, stime = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	s = th_read(path);
	cr_assert(not(eq(ptr, s, NULL)));
	/* fields 14 and 15, after the ')' that closes the command name */
	p = strrchr(s, ')');
	sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
	free(s);
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

Test(proxy, a_tunnel_whose_upstream_reset_costs_no_cpu)
{
	unsigned port = sending_upstream(0);
	char buf[16];
	double before;
	int fd;

	allow_port(port);
	start_proxy(NULL, NULL);
	fd = tunnel(port);
	cr_assert(eq(long, (long)read(fd, buf, 3), 3L));
	/* the upstream is gone; this makes its end answer with a reset */
	(void)!write(fd, "hello", 5);
	usleep(200000);
	before = cpu_seconds(t.proxy);
	sleep(1);
	/* an idle proxy: far below a second of CPU in a second */
	cr_assert(lt(dbl, cpu_seconds(t.proxy) - before, 0.2));
	close(fd);
}

/*
 * The proxy's own socket (through pidfd_getfd) of the connection from the client at
 * 127.0.0.1:client_port, or (client_port 0) of one to the upstream at upstream_port; -1 if the
 * proxy holds none (yet, or any more).
 */
static int proxy_leg(unsigned client_port, unsigned upstream_port)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, t.proxy, 0);
	char dir[64];
	int found = -1;
	glob_t g;

	cr_assert(ge(int, pidfd, 0), "pidfd_open: %s", strerror(errno));
	snprintf(dir, sizeof(dir), "/proc/%d/fd/*", (int)t.proxy);
	cr_assert(eq(int, glob(dir, 0, NULL, &g), 0));
	for (size_t i = 0; i < g.gl_pathc && found < 0; i++) {
		int n = atoi(strrchr(g.gl_pathv[i], '/') + 1), domain = 0;
		_cleanup_close_ int fd = (int)syscall(SYS_pidfd_getfd, pidfd, n, 0);
		struct sockaddr_in6 self, peer; /* the ports are where sockaddr_in has them too */
		socklen_t len = sizeof(domain), slen = sizeof(self), plen = sizeof(peer);

		if (fd < 0 && errno == EPERM)
			th_skip("pidfd_getfd of the proxy's sockets is not allowed here");
		if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
		    (domain != AF_INET && domain != AF_INET6) ||
		    getsockname(fd, (struct sockaddr *)&self, &slen) < 0 ||
		    getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
			continue;
		if (client_port ? ntohs(self.sin6_port) == t.proxy_port &&
					  ntohs(peer.sin6_port) == client_port
				: ntohs(peer.sin6_port) == upstream_port)
			found = TAKE_FD(fd);
	}
	globfree(&g);
	return found;
}

/* What read_then_send() sends: an HTTP head first (for a forwarded request) or not; a byte to
 * sent[1] once it has sent it all and closed. */
static bool send_head;
static int sent[2];

/* Reads all the client sends, to its end of file, then sends send_bytes (after a head if
 * send_head) and closes (nothing unread: a close, not a reset). */
static void read_then_send(int c)
{
	char buf[4096], head[128];

	while (read(c, buf, sizeof(buf)) > 0)
		;
	if (send_head) {
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
			 send_bytes);
		(void)!write(c, head, strlen(head));
	}
	send_and_close(c);
	(void)!write(sent[1], "", 1);
}

/*
 * A client that sends its end of file and then reads nothing, from an upstream that sends more
 * than the proxy holds and closes: the proxy waits for the client, without spinning on the
 * upstream's hang-up (which epoll reports whatever the proxy asked for).
 */
static void stuck_reader_costs_no_cpu(bool forwarded)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	unsigned port;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 2048, leg;
	char req[256], buf[64];
	double before;

	/* more than the proxy's buffer (256 KiB) and the two small socket buffers on the client's
	 * side hold, less than what the proxy's socket from the upstream takes at first */
	send_bytes = 256 * 1024 + 40 * 1024;
	send_head = forwarded;
	cr_assert(eq(int, pipe2(sent, O_CLOEXEC), 0));
	port = start_server(read_then_send, false);
	allow_port(port);
	start_proxy(NULL, NULL);
	cr_assert(eq(int, setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0));
	a.sin_port = htons((uint16_t)t.proxy_port);
	cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, getsockname(fd, (struct sockaddr *)&a, &alen), 0));
	/* the proxy's socket to us gets the smallest send buffer, which it would not grow */
	for (int i = 0; i < 1000 && (leg = proxy_leg(ntohs(a.sin_port), 0)) < 0; i++)
		usleep(10000);
	cr_assert(ge(int, leg, 0), "the proxy did not take the connection");
	cr_assert(eq(int, setsockopt(leg, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0));
	close(leg);
	if (forwarded)
		snprintf(req, sizeof(req),
			 "POST http://127.0.0.1:%u/ HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
			 "Content-Length: 100\r\n\r\nabc",
			 port, port);
	else
		snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", port);
	cr_assert(eq(long, (long)write(fd, req, strlen(req)), (long)strlen(req)));
	if (!forwarded)
		cr_assert(gt(long, (long)read(fd, buf, sizeof(buf)), 0L));
	shutdown(fd, SHUT_WR);
	/* the upstream sends and closes; the proxy's buffer for us is full, its socket from the
	 * upstream has the rest and the end of file: hung up both ways (it passed ours on) */
	{
		struct pollfd p = {sent[0], POLLIN, 0};

		cr_assert(eq(int, poll(&p, 1, 10000), 1), "the upstream did not send it all");
	}
	before = cpu_seconds(t.proxy);
	sleep(1);
	/* a waiting proxy: far below a second of CPU in a second */
	cr_assert(lt(dbl, cpu_seconds(t.proxy) - before, 0.2), "%s: the proxy spins",
		  forwarded ? "forwarded" : "tunnel");
	close(fd);
	close(sent[0]);
	close(sent[1]);
}

Test(proxy, a_tunnel_whose_client_stopped_reading_costs_no_cpu)
{
	stuck_reader_costs_no_cpu(false);
}

Test(proxy, a_forwarded_request_whose_client_stopped_reading_costs_no_cpu)
{
	stuck_reader_costs_no_cpu(true);
}

/* The fix a refusal suggests, run as it is printed, lets exactly that request through: the port
 * named when the host is allowed on others (the host is not what is missing), and when the
 * port is not a default one. */
Test(proxy, the_fix_a_refusal_suggests_lets_the_request_through)
{
	char *other = url("later.test", "/o"), *reg = NULL, body[512], *fix, *end;
	struct th_result r;

	write_config(", \"later.test\"");
	cr_assert(ge(int, asprintf(&reg, "http://registry.test/r"), 0));
	start_proxy(NULL, NULL);
	for (int round = 0; round < 2; round++) {
		char *u = round == 0 ? other : reg, *argv[8] = {(char *)CELL};
		bool through = false;
		int n = 1;

		r = curl(u, NULL, NULL);
		snprintf(body, sizeof(body), "%s", r.out);
		th_result_done(&r);
		if (round == 0)
			/* later.test is allowed, on 80 and 443 */
			cr_assert(contains(body, "later.test is allowed on ports 80 and 443 only "),
				  "%s", body);
		else
			/* registry.test is allowed on the upstream's port only; this is port 80 */
			cr_assert(contains(body, "cell: registry.test:80 is not in px's network "
						 "allowlist: registry.test is allowed on port "),
				  "%s", body);
		fix = strstr(body, "(cell allow-host ");
		cr_assert(not(eq(ptr, fix, NULL)), "%s", body);
		fix += strlen("(cell ");
		end = strchr(fix, ')');
		cr_assert(not(eq(ptr, end, NULL)));
		*end = '\0';
		/* the suggested command, word by word */
		for (char *save = NULL, *w = strtok_r(fix, " ", &save); w && n < 7;
		     w = strtok_r(NULL, " ", &save))
			argv[n++] = w;
		th_run(t.proj, argv, t.env, &r);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		th_result_done(&r);
		if (round == 1)
			break; /* (nothing listens on port 80 here: allowed is what is checked) */
		for (int i = 0; i < 50 && !through; i++) {
			r = curl(u, NULL, NULL);
			through = strncmp(r.out, "GET /o HTTP/1.1\r\n", 17) == 0;
			snprintf(body, sizeof(body), "%s", r.out);
			th_result_done(&r);
			if (!through)
				usleep(100000);
		}
		cr_assert(through, "the suggested fix did not let the request through: %s", body);
	}
	/* registry.test:80 is allowed now: the proxy no longer refuses it (it is only not there) */
	for (int i = 0; i < 50; i++) {
		r = curl(reg, NULL, NULL);
		if (!contains(r.out, "allowlist")) {
			th_result_done(&r);
			break;
		}
		th_result_done(&r);
		cr_assert(lt(int, i, 49), "registry.test:80 is still refused");
		usleep(100000);
	}
	free(other);
	free(reg);
}

Test(proxy, reloads_an_allowed_change_and_ignores_an_untrusted_one)
{
	char *later = url("later.test", "/now"), *reg = url("registry.test", "/still"), host[64];
	char *argv[] = {(char *)CELL, (char *)"allow-host", host, NULL};
	struct th_result r;
	bool allowed = false;

	start_proxy(NULL, NULL);
	r = curl(later, NULL, NULL);
	cr_assert(contains(r.out, "later.test:") && contains(r.out, "px's network allowlist"), "%s",
		  r.out);
	th_result_done(&r);
	snprintf(host, sizeof(host), "later.test:%u", t.upstream_port);
	th_run(t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	/* the running proxy picks the allowed change up: poll, bounded */
	for (int i = 0; i < 50 && !allowed; i++) {
		r = curl(later, NULL, NULL);
		allowed = strncmp(r.out, "GET /now HTTP/1.1\r\n", 19) == 0;
		th_result_done(&r);
		if (!allowed)
			usleep(100000);
	}
	cr_assert(allowed, "the proxy did not reload its policy");
	/* an edit nobody allowed changes nothing: registry.test stays allowed */
	free(th_write(t.proj, ".cell.json", "{\"name\": \"px\"}"));
	usleep(300000);
	r = curl(reg, NULL, NULL);
	cr_assert(eq(int, strncmp(r.out, "GET /still HTTP/1.1\r\n", 21), 0), "%s", r.out);
	th_result_done(&r);
	/* until `cell allow` trusts it: that changes only the trust records, which are watched */
	{
		char *allow[] = {(char *)CELL, (char *)"allow", NULL};
		bool denied = false;

		th_run(t.proj, allow, t.env, &r);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		th_result_done(&r);
		for (int i = 0; i < 50 && !denied; i++) {
			r = curl(reg, NULL, NULL);
			denied = strstr(r.out, "registry.test:") &&
				 strstr(r.out, "is not in px's network allowlist");
			th_result_done(&r);
			if (!denied)
				usleep(100000);
		}
		cr_assert(denied, "the proxy did not take the allowed edit");
	}
	free(later);
	free(reg);
}

/* What trickling_upstream() sends: `trickle_chunks` small chunks, one every `trickle_ms`. */
static int trickle_chunks, trickle_ms;

static void trickle_and_close(int c)
{
	for (int i = 0; i < trickle_chunks; i++) {
		if (write(c, "0123456789abcdef", 16) != 16)
			break;
		usleep((useconds_t)trickle_ms * 1000);
	}
	close(c);
}

static unsigned trickling_upstream(int chunks, int ms)
{
	trickle_chunks = chunks;
	trickle_ms = ms;
	return start_server(trickle_and_close, false);
}

Test(proxy, a_tunnel_that_keeps_moving_is_never_idle)
{
	/* 30 chunks over about 1.5 s, with an idle timeout of 300 ms: bytes keep moving */
	unsigned port = trickling_upstream(30, 50);
	size_t got;
	int fd;

	allow_port(port);
	start_proxy("--idle-timeout", "300");
	fd = tunnel(port);
	got = read_to_end(fd);
	cr_assert(eq(sz, got, (size_t)30 * 16));
}

Test(proxy, an_idle_tunnel_adds_no_empty_records)
{
	char *argv[] = {(char *)CELL, (char *)"stats", NULL};
	struct th_result r;
	int fd;

	allow_port(t.upstream_port);
	start_proxy(NULL, NULL);
	fd = tunnel(t.upstream_port);
	/* about six flushes go by (--flush-interval 200) with the tunnel open and silent */
	usleep(1200 * 1000);
	close(fd);
	stop_proxy();
	th_run(t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	/* the one that counted the tunnel; none for the quiet flushes after it */
	cr_assert(not(eq(ptr, strstr(r.out, "px: 1 record\n"), NULL)), "%s", r.out);
	th_result_done(&r);
}

/* A listening TCP socket on 127.0.0.1, port chosen by the kernel; its port in *ret_port. */
static int listening_socket(unsigned *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, listen(fd, 16), 0));
	getsockname(fd, (struct sockaddr *)&a, &alen);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

Test(proxy, takes_its_socket_from_socket_activation)
{
	char *argv[] = {(char *)CELL, (char *)"proxy", (char *)"--flush-interval", (char *)"200",
			NULL};
	char *u = url("registry.test", "/activated");
	unsigned port;
	int fd = listening_socket(&port);
	struct th_result r;

	start_proxy_argv(argv, fd);
	close(fd);
	/* it serves on the socket it was given, not on one of its own */
	cr_assert(eq(u32, t.proxy_port, port));
	r = curl(u, NULL, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(int, strncmp(r.out, "GET /activated HTTP/1.1\r\n", 25), 0), "%s", r.out);
	th_result_done(&r);
	free(u);
}

struct bad_activation {
	char fds[16];	 /* LISTEN_FDS */
	bool file;	 /* descriptor 3 a file, not a socket */
	bool listen_too; /* --listen as well */
	char says[64];
};

static struct bad_activation bad_activations[] = {
	/* (more than one needs their names: LISTEN_FDNAMES) */
	{"2", false, false, "takes one listening socket, or up to 40 named ones"},
	{"x", false, false, "takes one listening socket, or up to 40 named ones"},
	{"1", true, false, "(proxy) is not what its name says"},
	{"1", false, true, "cannot be used together"},
};

ParameterizedTestParameters(proxy, bad_socket_activation_is_a_usage_error)
{
	return cr_make_param_array(struct bad_activation, bad_activations,
				   ELEMENTSOF(bad_activations));
}

ParameterizedTest(struct bad_activation *b, proxy, bad_socket_activation_is_a_usage_error)
{
	char script[512];
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", script, NULL};
	struct th_result r;

	/* python3 sets descriptor 3 up and becomes cell proxy (same pid: LISTEN_PID holds) */
	snprintf(
		script, sizeof(script),
		"import os, socket\n"
		"s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
		"fd = os.open('/dev/null', os.O_RDONLY) if %d else s.fileno()\n"
		"os.dup2(fd, 3); os.set_inheritable(3, True)\n"
		"os.environ.update(LISTEN_FDS='%s', LISTEN_PID=str(os.getpid()))\n"
		"os.execv('%s', ['cell', 'proxy'] + (['--listen', '127.0.0.1:0'] if %d else []))\n",
		b->file, b->fds, CELL, b->listen_too);
	th_run(t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 64), "exit %d: %s", r.status, r.err);
	cr_assert(not(eq(ptr, strstr(r.err, b->says), NULL)), "%s", r.err);
	th_result_done(&r);
}

Test(proxy, another_processs_socket_activation_is_ignored)
{
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c",
			(char *)"import os, sys\n"
				"os.environ.update(LISTEN_FDS='1', LISTEN_PID='1')\n"
				"os.execv(sys.argv[1], ['cell', 'proxy', '--listen', 'bad'])\n",
			(char *)CELL, NULL};
	struct th_result r;

	/* not ours: the variables are left alone and --listen is used (and refused here) */
	th_run(t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 64), "exit %d: %s", r.status, r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "cannot listen on 'bad'"), NULL)), "%s", r.err);
	th_result_done(&r);
}

/* The body of the proxy's answer to GET PATH (its own resources), and its status in *status. */
static char *own(const char *path, int *status)
{
	char req[512], *out, *body;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: cell\r\n\r\n", path);
	out = raw(req, strlen(req));
	cr_assert(eq(int, sscanf(out, "HTTP/1.1 %d", status), 1), "%s", out);
	body = strstr(out, "\r\n\r\n");
	cr_assert(not(eq(ptr, body, NULL)), "%s", out);
	body = strdup(body + 4);
	free(out);
	return body;
}

/* The proxy answers GET PATH (its own resources) with status, and with body if not NULL. */
static void expect_own(const char *path, int status, const char *body)
{
	int got;
	char *b = own(path, &got);

	cr_assert(eq(int, got, status), "%s: %s", path, b);
	if (body)
		cr_assert(eq(str, b, (char *)body), "%s", path);
	free(b);
}

Test(proxy, hands_out_fake_addresses_for_names_and_maps_them_back)
{
	start_proxy(NULL, NULL);
	expect_own("/cell/resolve/Registry.Test.", 200, "198.18.0.1 2001:2::1\n");
	/* the same name, the same addresses; another name, the next ones */
	expect_own("/cell/resolve/registry.test", 200, "198.18.0.1 2001:2::1\n");
	expect_own("/cell/resolve/a.corp.test", 200, "198.18.0.2 2001:2::2\n");
	expect_own("/cell/name/198.18.0.2", 200, "a.corp.test\n");
	expect_own("/cell/name/2001:2::1", 200, "registry.test\n");
	expect_own("/cell/name/198.18.0.77", 404,
		   "cell: 198.18.0.77 stands for no name in this cell\n");
	expect_own("/cell/name/10.0.0.1", 400, NULL);
	expect_own("/cell/resolve/bad_name!", 400, "cell: 'bad_name!' is not a host name\n");
	expect_own("/cell/resolve/10.1.2.3", 400, NULL);
	expect_own("/cell/other", 404, "cell: the proxy has no /cell/other\n");
}

Test(proxy, a_request_to_a_fake_address_goes_to_its_name)
{
	char *u, *log;
	struct th_result r;

	start_proxy(NULL, NULL);
	expect_own("/cell/resolve/registry.test", 200, "198.18.0.1 2001:2::1\n");
	/* a tunnel and a forwarded request to 198.18.0.1 reach registry.test (allowed, and
	 * resolved through the config's resolve map) */
	cr_assert(ge(int, asprintf(&u, "http://198.18.0.1:%u/fake", t.upstream_port), 0));
	r = curl(u, "-p", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(int, strncmp(r.out, "GET /fake HTTP/1.1\r\n", 20), 0), "%s", r.out);
	th_result_done(&r);
	r = curl(u, NULL, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(int, strncmp(r.out, "GET /fake HTTP/1.1\r\n", 20), 0), "%s", r.out);
	th_result_done(&r);
	free(u);
	/* one that was never handed out */
	cr_assert(ge(int, asprintf(&u, "http://198.18.0.9:%u/", t.upstream_port), 0));
	r = curl(u, "-p", NULL);
	cr_assert(not(eq(int, r.status, 0)));
	th_result_done(&r);
	r = curl(u, NULL, NULL);
	cr_assert(not(eq(ptr, strstr(r.out, "198.18.0.9 is a fake address that stands for no name"),
			 NULL)),
		  "%s", r.out);
	th_result_done(&r);
	free(u);
	/* the log names the host, not the address */
	stop_proxy();
	log = request_log("proxy.log");
	cr_assert(not(eq(ptr, strstr(log, "\"host\":\"registry.test\""), NULL)), "%s", log);
	cr_assert(eq(ptr, strstr(log, "\"host\":\"198.18.0.1\""), NULL), "%s", log);
	free(log);
}

Test(proxy, processes_resolving_at_once_get_one_table)
{
	/* 8 processes ask for the same 40 names at once, each in its own order: every name gets
	 * one address whoever asked, and no two names share one */
	char port[16],
		*argv[] = {
			(char *)"/usr/bin/python3", (char *)"-c",
			(char *)"import multiprocessing, random, socket, sys\n"
				"port = int(sys.argv[1])\n"
				"def ask(name):\n"
				"    s = socket.create_connection(('127.0.0.1', port))\n"
				"    s.sendall(b'GET /cell/resolve/%s HTTP/1.1\\r\\n\\r\\n' % name.encode())\n"
				"    out = b''\n"
				"    while True:\n"
				"        b = s.recv(4096)\n"
				"        if not b: break\n"
				"        out += b\n"
				"    return out.split(b'\\r\\n\\r\\n', 1)[1].decode().split()[0]\n"
				"def worker(seed):\n"
				"    names = ['n%d.test' % i for i in range(40)]\n"
				"    random.Random(seed).shuffle(names)\n"
				"    return {n: ask(n) for n in names}\n"
				"with multiprocessing.Pool(8) as p:\n"
				"    maps = p.map(worker, range(8))\n"
				"ok = all(m == maps[0] for m in maps) and len(set(maps[0].values())) == 40\n"
				"print('ok' if ok else maps)\n",
			port, NULL};
	struct th_result r;

	start_proxy(NULL, NULL);
	snprintf(port, sizeof(port), "%u", t.proxy_port);
	th_run(NULL, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, "ok\n"));
	th_result_done(&r);
}

Test(proxy, an_early_connect_is_answered_before_the_upstream_and_reset_if_it_fails)
{
	static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
	static const char early[] = "CONNECT registry.test:1 HTTP/1.1\r\nHost: registry.test:1\r\n"
				    "Cell-Early: 1\r\n\r\n";
	static const char plain[] =
		"CONNECT registry.test:1 HTTP/1.1\r\nHost: registry.test:1\r\n\r\n";
	char req[256], buf[4096], *log;
	int fd;

	/* an allowed host whose port nothing listens on */
	write_config(", \"registry.test:1\"");
	start_proxy(NULL, NULL);
	fd = send_to_proxy(early, strlen(early));
	/* 200 first, then the connection is reset once the upstream refuses */
	cr_assert(eq(int, read_until_end(fd, buf, sizeof(buf)), ECONNRESET), "%s", buf);
	cr_assert(eq(str, buf, (char *)ok));
	close(fd);
	/* without the field: the upstream's refusal is a 502 with the reason */
	fd = send_to_proxy(plain, strlen(plain));
	cr_assert(eq(int, read_until_end(fd, buf, sizeof(buf)), 0));
	cr_assert(eq(int, strncmp(buf, "HTTP/1.1 502 ", 13), 0), "%s", buf);
	cr_assert(not(eq(ptr, strstr(buf, "refused the connection"), NULL)), "%s", buf);
	close(fd);
	/* an early tunnel that works carries the client's bytes, sent right after the 200 */
	snprintf(req, sizeof(req),
		 "CONNECT registry.test:%u HTTP/1.1\r\nHost: x\r\nCell-Early: 1\r\n\r\n"
		 "GET /early HTTP/1.0\r\n\r\n",
		 t.upstream_port);
	fd = send_to_proxy(req, strlen(req));
	cr_assert(eq(int, read_until_end(fd, buf, sizeof(buf)), 0));
	cr_assert(eq(int, strncmp(buf, ok, strlen(ok)), 0), "%s", buf);
	cr_assert(not(eq(ptr, strstr(buf + strlen(ok), "GET /early HTTP/1.0"), NULL)), "%s", buf);
	close(fd);
	/* the log says what became of the early one */
	stop_proxy();
	log = request_log("proxy.log");
	cr_assert(not(eq(ptr,
			 strstr(log, "\"kind\":\"tunnel\",\"host\":\"registry.test\",\"port\":1,"
				     "\"decision\":\"failed\""),
			 NULL)),
		  "%s", log);
	free(log);
}

/* The TCP_NODELAY option of a socket, or -1 for none. */
static int nodelay(int fd)
{
	int on = -1;
	socklen_t len = sizeof(on);

	if (fd >= 0)
		cr_assert(eq(int, getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0));
	return on;
}

/* What proxy_leg() sees of the proxy's two legs of a connection: TCP_NODELAY on each. */
static void proxy_legs(unsigned client_port, int *ret_client, int *ret_upstream)
{
	_cleanup_close_ int client = proxy_leg(client_port, 0),
			    upstream = proxy_leg(0, t.upstream_port);

	*ret_client = nodelay(client);
	*ret_upstream = nodelay(upstream);
}

Test(proxy, both_legs_of_every_relayed_connection_send_at_once)
{
	/* each way a connection is relayed: a tunnel, a tunnel answered early (the shim's), a
	 * tunnel to a fake address (the shim's name service), a forwarded request whose body is
	 * still to come */
	static const char *const kinds[] = {"CONNECT", "early CONNECT", "fake-address CONNECT",
					    "forwarded request"};
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	char req[256];

	start_proxy(NULL, NULL);
	expect_own("/cell/resolve/registry.test", 200, "198.18.0.1 2001:2::1\n");
	for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
		int client = -1, upstream = -1, fd;

		if (k == 3)
			snprintf(
				req, sizeof(req),
				"POST http://registry.test:%u/ HTTP/1.1\r\nHost: registry.test:%u\r\n"
				"Content-Length: 10\r\n\r\nhalf",
				t.upstream_port, t.upstream_port);
		else
			snprintf(req, sizeof(req), "CONNECT %s:%u HTTP/1.1\r\nHost: x\r\n%s\r\n",
				 k == 2 ? "198.18.0.1" : "registry.test", t.upstream_port,
				 k == 1 ? "Cell-Early: 1\r\n" : "");
		fd = send_to_proxy(req, strlen(req));
		cr_assert(eq(int, getsockname(fd, (struct sockaddr *)&a, &alen), 0));
		/* until the proxy holds both legs (the upstream's is connected by then) */
		for (int i = 0; i < 1000 && (client < 0 || upstream < 0); i++) {
			proxy_legs(ntohs(a.sin_port), &client, &upstream);
			if (client < 0 || upstream < 0)
				usleep(10000);
		}
		cr_assert(eq(int, client, 1), "%s: TCP_NODELAY on the client's leg", kinds[k]);
		cr_assert(eq(int, upstream, 1), "%s: TCP_NODELAY on the upstream's leg", kinds[k]);
		close(fd);
		/* until the proxy let both go, so that the next upstream leg is the next one's */
		for (int i = 0; i < 1000 && (client >= 0 || upstream >= 0); i++) {
			proxy_legs(ntohs(a.sin_port), &client, &upstream);
			if (client >= 0 || upstream >= 0)
				usleep(10000);
		}
		cr_assert(eq(int, upstream, -1), "%s: the upstream's leg outlives the client's",
			  kinds[k]);
	}
}

/* A real tinyproxy on a port of the test's, logging every connection to dir/tinyproxy.log:
 * an organisation's proxy. */
static pid_t start_tinyproxy(unsigned *ret_port, char **ret_log)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char *conf, *text, *log = th_join(t.tmp, "tinyproxy.log");
	char *argv[] = {(char *)"/usr/bin/tinyproxy", (char *)"-d", (char *)"-c", NULL, NULL};
	pid_t pid;

	if (access(argv[0], X_OK) != 0)
		th_skip("tinyproxy is not installed (make deps)");
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, getsockname(fd, (struct sockaddr *)&a, &len), 0));
	close(fd);
	*ret_port = ntohs(a.sin_port);
	cr_assert(ge(int,
		     asprintf(&text,
			      "Port %u\nListen 127.0.0.1\nTimeout 30\nLogFile \"%s\"\n"
			      "LogLevel Connect\nMaxClients 20\nAllow 127.0.0.1\n",
			      *ret_port, log),
		     0));
	conf = th_write(t.tmp, "tinyproxy.conf", text);
	argv[3] = conf;
	pid = th_spawn_as((uid_t)-1, (gid_t)-1, t.tmp, argv, t.env);
	for (int i = 0; i < 100; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool up = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;

		close(s);
		if (up)
			break;
		usleep(50000);
	}
	free(text);
	free(conf);
	*ret_log = log;
	return pid;
}

/* The user's config: this upstream proxy, and these NO_PROXY entries. */
static char *upstream_config(unsigned port, const char *no_proxy)
{
	char *text, *path;

	cr_assert(ge(int,
		     asprintf(&text,
			      "{\"network\": {\"upstream_proxy\": \"http://127.0.0.1:%u\", "
			      "\"upstream_no_proxy\": [%s]}}",
			      port, no_proxy),
		     0));
	path = th_write(t.tmp, "config/cell/config.json", text);
	free(text);
	return path;
}

/* Behind an organisation's proxy: the allowlist decides first, then allowed hosts are reached
 * through it, as CONNECT tunnels and as absolute-form requests; denied ones never reach it;
 * NO_PROXY's hosts ("." and a final dot as NO_PROXY has them) and pinned names go straight. */
Test(proxy, allowed_hosts_go_through_the_upstream_proxy_and_denied_ones_never_reach_it)
{
	unsigned port;
	char *log, *user, *text, *u = NULL, extra[64];
	pid_t tiny = start_tinyproxy(&port, &log);
	struct th_result r;

	/* an address rule: the upstream proxy is asked for what the rule names */
	snprintf(extra, sizeof(extra), ", \"127.0.0.1:%u\"", t.upstream_port);
	write_config(extra);
	user = upstream_config(port, "\".corp.test.\"");
	start_proxy(NULL, NULL);
	cr_assert(ge(int, asprintf(&u, "http://127.0.0.1:%u/via", t.upstream_port), 0));
	r = curl(u, NULL, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(int, strncmp(r.out, "GET /via HTTP/1.1\r\n", 19), 0), "%s", r.out);
	th_result_done(&r);
	r = curl(u, "-p", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(int, strncmp(r.out, "GET /via HTTP/1.1\r\n", 19), 0), "%s", r.out);
	th_result_done(&r);
	free(u);
	/* a host the allowlist does not have: the cell's proxy says no, the upstream never hears */
	r = curl("http://denied.test/", NULL, NULL);
	cr_assert(contains(r.out, "is not in px's network allowlist"), "%s", r.out);
	th_result_done(&r);
	/* a pinned name and a NO_PROXY one: straight to the address */
	u = url("registry.test", "/pinned");
	r = curl(u, NULL, NULL);
	cr_assert(eq(int, strncmp(r.out, "GET /pinned HTTP/1.1\r\n", 22), 0), "%s", r.out);
	th_result_done(&r);
	free(u);
	u = url("a.corp.test", "/noproxy");
	r = curl(u, NULL, NULL);
	cr_assert(eq(int, strncmp(r.out, "GET /noproxy HTTP/1.1\r\n", 23), 0), "%s", r.out);
	th_result_done(&r);
	free(u);
	stop_proxy();
	kill(tiny, SIGTERM);
	waitpid(tiny, NULL, 0);
	text = th_read(log);
	cr_assert(contains(text, "GET http://127.0.0.1:"), "%s", text);
	cr_assert(contains(text, "CONNECT 127.0.0.1:"), "%s", text);
	cr_assert(not(contains(text, "denied.test")), "%s", text);
	cr_assert(not(contains(text, "registry.test")), "%s", text);
	cr_assert(not(contains(text, "corp.test")), "%s", text);
	free(text);
	unlink(user);
	free(user);
	free(log);
}

/* Through the upstream proxy the rules for addresses hold all the same: a name allowed by the
 * config that is this machine's loopback (localhost) is refused here, not handed to an upstream
 * that runs here too; and a fake address of the shim's reaches the upstream as the name it
 * stands for, which the allowlist saw. */
Test(proxy, the_upstream_proxy_is_never_asked_for_the_hosts_loopback_or_a_fake_address)
{
	unsigned port;
	char *log, *user, *text, *u = NULL, req[256], *out, fake[64] = "";
	pid_t tiny = start_tinyproxy(&port, &log);
	struct th_result r;

	write_config(", \"only-upstream.test\"");
	user = upstream_config(port, "");
	start_proxy(NULL, NULL);
	cr_assert(ge(int, asprintf(&u, "http://localhost:%u/loop", t.upstream_port), 0));
	r = curl(u, "-p", NULL);
	cr_assert(not(contains(r.out, "GET /loop")), "%s", r.out);
	th_result_done(&r);
	r = curl(u, NULL, NULL);
	cr_assert(contains(r.out, "resolves to 127.0.0.1"), "%s", r.out);
	th_result_done(&r);
	free(u);
	snprintf(req, sizeof(req), "GET /cell/resolve/only-upstream.test HTTP/1.1\r\n\r\n");
	out = raw(req, strlen(req));
	cr_assert(eq(int, sscanf(strstr(out, "\r\n\r\n") + 4, "%63s", fake), 1), "%s", out);
	free(out);
	snprintf(req, sizeof(req), "GET http://%s/faked HTTP/1.1\r\nHost: %s\r\n\r\n", fake, fake);
	free(raw(req, strlen(req)));
	stop_proxy();
	kill(tiny, SIGTERM);
	waitpid(tiny, NULL, 0);
	text = th_read(log);
	cr_assert(not(contains(text, "localhost")), "%s", text);
	cr_assert(contains(text, "GET http://only-upstream.test:80/faked"), "%s", text);
	cr_assert(not(contains(text, fake)), "%s", text);
	free(text);
	unlink(user);
	free(user);
	free(log);
}

/* An upstream proxy that writes its answer's head in pieces, slowly, is waited for, not spun on. */
Test(proxy, a_slow_upstream_answer_is_waited_for_without_spinning)
{
	static const char slow_py[] =
		"import socket, sys, time\n"
		"l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(4)\n"
		"print(l.getsockname()[1], flush=True)\n"
		"c = l.accept()[0]; c.recv(4096)\n"
		"c.sendall(b'HTTP/1.1 200 Connection established\\r\\n'); time.sleep(2)\n"
		"c.sendall(b'\\r\\nafter-the-head')\n"
		"time.sleep(5)\n";
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)slow_py, NULL};
	unsigned port;
	pid_t slow = th_spawn_server(NULL, argv, t.env, "%u", &port);
	char *user, *u = NULL, stat_path[64], *stat, *out;
	unsigned long utime = 0, stime = 0;

	write_config(", \"only-upstream.test\"");
	user = upstream_config(port, "");
	start_proxy(NULL, NULL);
	cr_assert(ge(int, asprintf(&u, "CONNECT only-upstream.test:443 HTTP/1.1\r\n\r\n"), 0));
	out = raw(u, strlen(u));
	/* our answer, then what came after the upstream's head: the tunnel's first bytes */
	cr_assert(contains(out, "HTTP/1.1 200 Connection Established\r\n\r\nafter-the-head"), "%s",
		  out);
	free(out);
	snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)t.proxy);
	stat = th_read(stat_path);
	cr_assert(eq(int,
		     sscanf(strrchr(stat, ')') + 2,
			    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime),
		     2));
	/* two seconds of waiting: well under a tenth of that on the CPU */
	cr_assert(lt(ulong, (utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK), 200UL),
		  "the proxy spent %lu ticks", utime + stime);
	free(stat);
	stop_proxy();
	kill(slow, SIGKILL);
	waitpid(slow, NULL, 0);
	unlink(user);
	free(user);
	free(u);
}

/* A Connection field that names what frames the request is refused: passed on without it, the
 * next hop (an upstream proxy) would take the body for requests of their own. */
Test(proxy, a_connection_field_naming_the_framing_is_refused)
{
	char *u = url("registry.test", "/post"), req[512], *out;

	start_proxy(NULL, NULL);
	snprintf(req, sizeof(req),
		 "POST %s HTTP/1.1\r\nHost: registry.test:%u\r\nContent-Length: 40\r\n"
		 "Connection: Content-Length\r\n\r\nGET http://denied.test/ HTTP/1.1\r\n\r\n...",
		 u, t.upstream_port);
	out = raw(req, strlen(req));
	cr_assert(contains(out, "HTTP/1.1 400 Bad Request"), "%s", out);
	cr_assert(contains(out, "its Connection field names Content-Length"), "%s", out);
	free(out);
	free(u);
}

/* Without a config of its own, the proxy takes the HTTPS_PROXY it was started with; a project's
 * config may not name one (where the user's traffic goes is the user's to say). */
Test(proxy, the_environments_proxy_is_the_default_and_a_project_may_not_choose_one)
{
	unsigned port;
	char *log, *u = NULL, *text, *json, extra[64];
	pid_t tiny = start_tinyproxy(&port, &log);
	char *cellallow[] = {(char *)CELL, (char *)"explain", NULL};
	struct th_result r;

	cr_assert(ge(int, asprintf(&t.env[5], "HTTPS_PROXY=http://127.0.0.1:%u/", port), 0));
	snprintf(extra, sizeof(extra), ", \"127.0.0.1:%u\"", t.upstream_port);
	write_config(extra);
	start_proxy(NULL, NULL);
	cr_assert(ge(int, asprintf(&u, "http://127.0.0.1:%u/env", t.upstream_port), 0));
	r = curl(u, "-p", NULL);
	cr_assert(eq(int, strncmp(r.out, "GET /env HTTP/1.1\r\n", 19), 0), "%s %s", r.out, r.err);
	th_result_done(&r);
	free(u);
	stop_proxy();
	kill(tiny, SIGTERM);
	waitpid(tiny, NULL, 0);
	text = th_read(log);
	cr_assert(contains(text, "CONNECT 127.0.0.1:"), "%s", text);
	free(text);
	free(log);
	cr_assert(ge(int,
		     asprintf(&json,
			      "{\"name\": \"px\", \"network\": {\"upstream_proxy\": "
			      "\"http://127.0.0.1:%u\"}}",
			      port),
		     0));
	free(th_write(t.proj, ".cell.json", json));
	free(json);
	th_run(t.proj, cellallow, t.env, &r);
	cr_assert(eq(int, r.status, 2), "%s", r.err);
	cr_assert(contains(r.err, "network.upstream_proxy: belongs in your own config"), "%s",
		  r.err);
	th_result_done(&r);
}

/* A relayed port (network.forward's, on the host's loopback: any user may connect) has at most
 * a quarter of the proxy's connections: holding them all leaves the cell's own traffic served. */
Test(proxy, relayed_ports_have_a_quarter_of_the_connections)
{
	char script[2048];
	char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", script, NULL};
	struct th_result r;

	snprintf(script, sizeof(script),
		 "import os, socket, subprocess, sys, time\n"
		 "p = socket.socket(); p.bind(('127.0.0.1', 0)); p.listen(64)\n"
		 "f = socket.socket(); f.bind(('127.0.0.1', 0)); f.listen(64)\n"
		 "pid = os.fork()\n"
		 "if pid == 0:\n"
		 "    os.dup2(os.open('/dev/null', os.O_WRONLY), 1)\n"
		 "    os.dup2(p.fileno(), 3); os.dup2(f.fileno(), 4)\n"
		 "    os.set_inheritable(3, True); os.set_inheritable(4, True)\n"
		 "    os.environ.update(LISTEN_FDS='2', LISTEN_FDNAMES='proxy:host.%u',\n"
		 "                      LISTEN_PID=str(os.getpid()))\n"
		 "    os.execv('%s', ['cell', 'proxy', '--max-tunnels', '8'])\n"
		 "time.sleep(0.5)\n"
		 "held = []\n"
		 "for i in range(4):\n"
		 "    s = socket.create_connection(f.getsockname()); held.append(s)\n"
		 "time.sleep(0.5)\n"
		 "alive = 0\n"
		 "for s in held:\n"
		 "    s.settimeout(0.5)\n"
		 "    try: alive += s.recv(1) != b''\n"
		 "    except socket.timeout: alive += 1\n"
		 "    except OSError: pass\n"
		 "c = socket.create_connection(p.getsockname())\n"
		 "c.sendall(b'GET http://registry.test:%u/own HTTP/1.0\\r\\n\\r\\n')\n"
		 "c.settimeout(5); line = c.recv(64).split(b'\\r\\n')[0].decode()\n"
		 "print(alive, line, flush=True)\n"
		 "os.kill(pid, 15); os.waitpid(pid, 0)\n",
		 t.upstream_port, CELL, t.upstream_port);
	th_run(t.proj, argv, t.env, &r);
	/* two of the four held (a quarter of 8), the proxy's own request answered */
	cr_assert(eq(str, r.out, "2 HTTP/1.1 200 OK\n"), "%s %s", r.out, r.err);
	th_result_done(&r);
}

/* The project's ledger, once the proxy's first flush made it. */
static char *the_ledger(void)
{
	char *pattern = th_join(t.tmp, "state/cell/projects/*/ledger.jsonl"), *path;
	glob_t g;

	for (int i = 0; i < 1000 && glob(pattern, 0, NULL, &g) != 0; i++)
		usleep(10000);
	cr_assert(eq(sz, g.gl_pathc, 1), "no ledger at %s", pattern);
	path = strdup(g.gl_pathv[0]);
	globfree(&g);
	free(pattern);
	return path;
}

/* Another writer's record of bytes sent to registry.test, ended at end. */
static void ledger_record(const char *ledger, int64_t end, unsigned up)
{
	char *line = NULL;
	FILE *f = fopen(ledger, "a");

	cr_assert(ge(int,
		     asprintf(&line,
			      "{\"v\":1,\"kind\":\"proxy\",\"project\":\"x\",\"name\":\"px\","
			      "\"start\":%lld,\"end\":%lld,\"hosts\":{\"registry.test\":{"
			      "\"requests\":1,\"tunnels\":0,\"up\":%u,\"down\":0,\"denied\":0}}}\n",
			      (long long)end - 5, (long long)end, up),
		     0));
	cr_assert(not(eq(ptr, f, NULL)));
	fputs(line, f);
	fclose(f);
	free(line);
}

static int64_t start_of_today(void)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

/* A POST of n bytes to registry.test through the proxy: curl's result. */
static struct th_result post(size_t n)
{
	char *body = th_join(t.tmp, "body"), *at = NULL, *u = url("registry.test", "/up");
	char *data = malloc(n + 1);
	struct th_result r;

	memset(data, 'x', n);
	data[n] = '\0';
	free(th_write(t.tmp, "body", data));
	cr_assert(ge(int, asprintf(&at, "@%s", body), 0));
	r = curl(u, NULL, at);
	free(data);
	free(at);
	free(body);
	free(u);
	return r;
}

/*
 * A budget is the project's, not one proxy's: a second proxy (a second cell) counts what the
 * first sent; a request that would go past it is cut there, the next answered 429 with why;
 * records of the day before do not count, another writer's record of today counts as soon as
 * it is in the ledger. The clock is the test's through the records' times.
 */
Test(proxy, a_budget_counts_every_proxys_records_of_the_period)
{
	char *argv[] = {(char *)CELL, (char *)"stats", NULL}, *ledger, *text = NULL;
	int64_t today = start_of_today();
	size_t len;
	struct th_result r;

	write_config_with("", ", \"budget\": {\"out\": \"100K/day\"}");
	start_proxy(NULL, NULL);
	r = post(60 * 1024);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "POST /up HTTP/1.1"), "%s", r.out);
	th_result_done(&r);
	stop_proxy();
	/* the second proxy: 40 KiB left of 100, a 60 KiB body is cut off past them */
	start_proxy(NULL, NULL);
	r = post(60 * 1024);
	cr_assert(not(contains(r.out, "POST /up HTTP/1.1")), "went through: %s", r.out);
	th_result_done(&r);
	r = post(10);
	cr_assert(contains(r.out, "cell: px has used its budget of 100.0 KiB out per day "
				  "(network.budget.out; 100.0 KiB used); it starts again at "),
		  "%s %s", r.out, r.err);
	th_result_done(&r);
	stop_proxy();
	th_run(t.proj, argv, t.env, &r);
	cr_assert(contains(r.out, "budget: out 100.0 KiB of 100.0 KiB per day (100%)"), "%s",
		  r.out);
	th_result_done(&r);

	/* the same records, ended yesterday: today starts from nothing */
	ledger = the_ledger();
	cr_assert(eq(int, cell_read_file(ledger, 0, 1 << 20, &text, &len), 0));
	cr_assert(eq(int, unlink(ledger), 0));
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *o = cJSON_Parse(line);
		const cJSON *hosts = cJSON_GetObjectItem(o, "hosts");
		const cJSON *h = cJSON_GetObjectItem(hosts, "registry.test");
		const cJSON *up = cJSON_GetObjectItem(h, "up");

		if (cJSON_IsNumber(up))
			ledger_record(ledger, today - 1, (unsigned)up->valuedouble);
		cJSON_Delete(o);
	}
	free(text);
	start_proxy(NULL, NULL);
	r = post(60 * 1024);
	cr_assert(contains(r.out, "POST /up HTTP/1.1"), "refused: %s %s", r.out, r.err);
	th_result_done(&r);
	/* another cell's record of today: the running proxy reads it at its next flush */
	ledger_record(ledger, today + 1, 50 * 1024);
	usleep(600 * 1000);
	r = post(10);
	cr_assert(contains(r.out, "cell: px has used its budget of 100.0 KiB out per day"), "%s",
		  r.out);
	th_result_done(&r);
	free(ledger);
}

/* A tunnel gets no byte past the budget: it is closed there; the next CONNECT gets a 429. */
Test(proxy, a_tunnel_stops_at_the_budget_and_the_next_is_refused)
{
	unsigned port = sending_upstream(1024 * 1024);
	char extra[64], *answer, req[128];
	size_t got;
	int fd;

	snprintf(extra, sizeof(extra), ", \"127.0.0.1:%u\"", port);
	write_config_with(extra, ", \"budget\": {\"per_host_in\": \"100K/hour\"}");
	start_proxy(NULL, NULL);
	fd = tunnel(port);
	shutdown(fd, SHUT_WR);
	got = read_to_end(fd);
	cr_assert(eq(sz, got, (size_t)100 * 1024));
	snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", port);
	answer = raw(req, strlen(req));
	cr_assert(contains(answer, "HTTP/1.1 429 Too Many Requests\r\n"), "%s", answer);
	cr_assert(contains(answer, "100.0 KiB in per hour to any one host "
				   "(network.budget.per_host_in; 127.0.0.1: 100.0 KiB used)"),
		  "%s", answer);
	free(answer);
}

Test(proxy, connections_per_period_are_counted)
{
	char *u = url("registry.test", "/c");
	int64_t day = start_of_today();
	struct th_result r;

	write_config_with("", ", \"budget\": {\"connections\": \"3/day\"}");
	start_proxy(NULL, NULL);
	for (int i = 0; i < 3; i++) {
		r = curl(u, NULL, NULL);
		cr_assert(contains(r.out, "GET /c HTTP/1.1"), "%d: %s", i, r.out);
		th_result_done(&r);
	}
	r = curl(u, NULL, NULL);
	if (start_of_today() != day)
		cr_skip_test("SKIP: midnight passed during the test");
	cr_assert(contains(r.out, "its budget of 3 connections per day"), "%s", r.out);
	th_result_done(&r);
	free(u);
}

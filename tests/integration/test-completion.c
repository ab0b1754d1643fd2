/* SPDX-License-Identifier: MIT */
/*
 * Tab completion in the real shells (shell/completion.{bash,zsh,fish}), driven through tmux:
 * type, press Tab, read the screen. The commands and options come from the cell binary this
 * build made (cell help --complete), the hosts from a project's request log.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "macro.h"

static struct {
	char *tmp, *home, *sock, *proj;
	char *env[12];
} t;

static void setup(void)
{
	char *log = NULL;
	size_t n = 0;

	memset(&t, 0, sizeof(t));
	if (access("/usr/bin/tmux", X_OK) != 0)
		th_skip("tmux is not installed (make deps)");
	t.tmp = th_mkdtemp();
	t.home = th_join(t.tmp, "home");
	t.sock = th_join(t.tmp, "tmux.sock");
	t.proj = th_join(t.tmp, "web");
	free(th_write(t.home, ".keep", ""));
	free(th_write(t.proj, ".cell.json", "{\"name\": \"web\"}\n"));
	cr_assert(ge(int, asprintf(&t.env[n++], "HOME=%s", t.home), 0));
	cr_assert(ge(int, asprintf(&t.env[n++], "PATH=%s:/usr/bin:/bin", CELL_TEST_BUILD), 0));
	t.env[n++] = strdup("TERM=xterm");
	t.env[n++] = strdup("LANG=C.UTF-8");
	t.env[n++] = strdup("FISH_UNIT_TESTS_RUNNING=1");
	cr_assert(ge(int, asprintf(&t.env[n++], "XDG_STATE_HOME=%s/state", t.tmp), 0));
	cr_assert(ge(int, asprintf(&t.env[n++], "XDG_CONFIG_HOME=%s/config", t.tmp), 0));
	cr_assert(ge(int, asprintf(&t.env[n++], "XDG_DATA_HOME=%s/data", t.tmp), 0));
	/* the project's request log: a host its proxy refused */
	{
		char *argv[] = {(char *)CELL_TEST_BUILD "/cell", (char *)"stats", (char *)"--json",
				NULL};
		struct th_result r;
		const char *at;

		th_run(t.proj, argv, t.env, &r);
		at = strstr(r.out ? r.out : "", "\"project\":\"");
		cr_assert(not(eq(ptr, (void *)at, NULL)), "%s %s", r.out, r.err);
		cr_assert(ge(int,
			     asprintf(&log, "state/cell/projects/%.*s/proxy.log",
				      (int)strcspn(at + 11, "\""), at + 11),
			     0));
		th_result_done(&r);
	}
	free(th_write(
		t.tmp, log,
		"{\"time\":\"2026-12-04T00:00:00.000Z\",\"kind\":\"request\",\"method\":\"GET\","
		"\"path\":\"/\",\"host\":\"evil-exfil.test\",\"port\":80,\"decision\":"
		"\"denied\",\"status\":403,\"up\":0,\"down\":0,\"ms\":0}\n"));
	free(log);
}

static void teardown(void)
{
	char *stop[] = {(char *)"/usr/bin/tmux", (char *)"-S", t.sock, (char *)"kill-server", NULL};
	struct th_result r;

	if (!t.tmp)
		return;
	th_run(NULL, stop, t.env, &r);
	th_result_done(&r);
	usleep(200 * 1000);
	th_rm_rf(t.tmp);
	for (size_t i = 0; i < ELEMENTSOF(t.env); i++)
		free(t.env[i]);
	free(t.tmp);
	free(t.home);
	free(t.sock);
	free(t.proj);
}

TestSuite(completion, .init = setup, .fini = teardown, .timeout = 60);

static void tmux(const char *a, ...)
{
	char *argv[16] = {(char *)"/usr/bin/tmux", (char *)"-S", t.sock, (char *)a};
	size_t n = 4;
	struct th_result r;
	va_list ap;

	va_start(ap, a);
	while (n < ELEMENTSOF(argv) - 1 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	th_run(t.proj, argv, t.env, &r);
	cr_assert(eq(int, r.status, 0), "tmux %s: %s", a, r.err);
	th_result_done(&r);
}

/* The screen, once a line of it starts with want (within 10 s); NULL otherwise. */
static char *screen_with(const char *want)
{
	char *argv[] = {(char *)"/usr/bin/tmux", (char *)"-S", t.sock,
			(char *)"capture-pane",	 (char *)"-p", NULL};

	for (int i = 0; i < 100; i++) {
		struct th_result r;

		th_run(NULL, argv, t.env, &r);
		if (r.out && strstr(r.out, want)) {
			char *out = strdup(r.out);

			th_result_done(&r);
			return out;
		}
		th_result_done(&r);
		usleep(100 * 1000);
	}
	return NULL;
}

/* Types text, presses Tab, and expects the line to read want. */
static void complete(const char *text, const char *want)
{
	char *screen;

	tmux("send-keys", "-l", "--", text, NULL);
	tmux("send-keys", "Tab", NULL);
	screen = screen_with(want);
	cr_assert(not(eq(ptr, screen, NULL)), "'%s' + Tab did not give '%s'", text, want);
	free(screen);
	tmux("send-keys", "C-u", NULL);
	/* (fish and zsh clear the line with C-u; bash too) */
}

static void shell(const char *command, const char *load, const char *ready)
{
	char *screen;

	tmux("new-session", "-d", "-x", "150", "-y", "40", command, NULL);
	tmux("send-keys", "-l", "--", load, NULL);
	tmux("send-keys", "Enter", NULL);
	tmux("send-keys", "-l", "--", "echo ready-", NULL);
	tmux("send-keys", "-l", "--", ready, NULL);
	tmux("send-keys", "Enter", NULL);
	screen = screen_with("ready-for-tab");
	cr_assert(not(eq(ptr, screen, NULL)), "the shell did not start: %s", command);
	free(screen);
}

/* A command's name, an option of it, and a host the project's proxy refused. */
static void completes_in_each_way(void)
{
	complete("cell lea", "cell learn");
	complete("cell metrics --te", "cell metrics --textfile");
	complete("cell allow-host evil", "cell allow-host evil-exfil.test");
}

Test(completion, bash)
{
	shell("bash --norc --noprofile -i", "source " CELL_TEST_SRC "/shell/completion.bash",
	      "for-tab");
	completes_in_each_way();
}

Test(completion, zsh)
{
	if (access("/usr/bin/zsh", X_OK) != 0)
		th_skip("zsh is not installed (make deps)");
	/* (installed as _cell in a directory of fpath) */
	{
		char *src = th_read(CELL_TEST_SRC "/shell/completion.zsh"), *load = NULL;

		free(th_write(t.tmp, "zfunc/_cell", src));
		free(src);
		cr_assert(ge(int,
			     asprintf(&load,
				      "fpath=(%s/zfunc $fpath); autoload -Uz compinit; compinit -u",
				      t.tmp),
			     0));
		shell("zsh -f -i", load, "for-tab");
		free(load);
	}
	completes_in_each_way();
}

Test(completion, fish)
{
	if (access("/usr/bin/fish", X_OK) != 0)
		th_skip("fish is not installed (make deps)");
	shell("fish --no-config", "source " CELL_TEST_SRC "/shell/completion.fish", "for-tab");
	completes_in_each_way();
}

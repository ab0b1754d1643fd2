/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf.h"
#include "fileio.h"
#include "helpers.h"
#include "macro.h"

#define CELL CELL_TEST_BUILD "/cell"

static char *tmp, *home, *envp[9];

static void setup(void)
{
	tmp = th_mkdtemp();
	home = th_join(tmp, "home");
	cr_assert(eq(int, cell_mkdir_p(home, 0755), 0));
	cr_assert(ge(int, asprintf(&envp[0], "HOME=%s", home), 0));
	cr_assert(ge(int, asprintf(&envp[1], "XDG_CONFIG_HOME=%s/config", tmp), 0));
	cr_assert(ge(int, asprintf(&envp[2], "XDG_DATA_HOME=%s/data", tmp), 0));
	envp[3] = strdup("PATH=/usr/bin:/bin");
	envp[4] = strdup("USER=tester");
	envp[5] = strdup("LC_ALL=C");
	cr_assert(ge(int, asprintf(&envp[6], "XDG_STATE_HOME=%s/state", tmp), 0));
	envp[7] = NULL;
}

static void teardown(void)
{
	for (int i = 0; envp[i]; i++)
		free(envp[i]);
	th_rm_rf(tmp);
	free(tmp);
	free(home);
}

TestSuite(cli, .init = setup, .fini = teardown);

/* Runs cell with the given arguments (NULL-terminated) in dir (relative to tmp, or NULL). */
static struct th_result cell(const char *dir, ...)
{
	char *argv[16] = {(char *)CELL};
	struct th_result r;
	char *cwd = dir ? th_join(tmp, dir) : strdup(tmp);
	va_list ap;
	int n = 1;

	va_start(ap, dir);
	while (n < 15 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	th_run(cwd, argv, envp, &r);
	free(cwd);
	return r;
}

static size_t allow_records(void)
{
	char *dir = th_join(tmp, "data/cell/allow");
	size_t n = th_count_entries(dir);

	free(dir);
	return n;
}

static bool contains(const char *haystack, const char *needle)
{
	return strstr(haystack, needle) != NULL;
}

Test(cli, version_and_help)
{
	struct th_result r = cell(NULL, "--version", NULL);

	cr_assert(eq(int, r.status, 0));
	cr_assert(eq(str, r.out, "cell " CELL_VERSION "\n"));
	th_result_done(&r);
	r = cell(NULL, "version", NULL);
	cr_assert(eq(str, r.out, "cell " CELL_VERSION "\n"));
	th_result_done(&r);
	r = cell(NULL, "help", NULL);
	cr_assert(eq(int, r.status, 0));
	cr_assert(contains(r.out, "  explain   "));
	th_result_done(&r);
	r = cell(NULL, "help", "init", NULL);
	cr_assert(eq(int, r.status, 0));
	cr_assert(contains(r.out, "usage: cell init [--name NAME] [DIR]\n"));
	th_result_done(&r);
}

Test(cli, no_command_and_unknown_command_are_usage_errors)
{
	struct th_result r = cell(NULL, NULL);

	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "usage: cell"));
	th_result_done(&r);
	r = cell(NULL, "alow", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "cell: unknown command 'alow'; did you mean 'cell allow'?\n"));
	th_result_done(&r);
	r = cell(NULL, "--frobnicate", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "cell: unknown option '--frobnicate'\n"));
	th_result_done(&r);
}

struct verb {
	char name[16];
	char usage[96];
};

ParameterizedTestParameters(cli, every_command_has_help_and_rejects_bad_options)
{
	static struct verb verbs[] = {
		{"allow", "usage: cell allow [--yes] [DIR]\n"},
		{"deny", "usage: cell deny [DIR]\n"},
		{"explain", "usage: cell explain [--write-seccomp FILE] [DIR]\n"},
		{"enter",
		 "usage: cell enter [--new] [--user NAME] [--allow-root] [--leave-to FILE] [DIR]\n"},
		{"hook", "usage: cell hook bash|zsh|fish | --status\n"},
		{"doctor", "usage: cell doctor [--escape [--user NAME] [--allow-root] [DIR]]\n"},
		{"init", "usage: cell init [--name NAME] [DIR]\n"},
		{"import", "usage: cell import devenv [--force] [DIR]\n"},
		{"version", "usage: cell version\n"},
	};
	return cr_make_param_array(struct verb, verbs, sizeof(verbs) / sizeof(verbs[0]));
}

/* s with the usage's wrapped lines joined again (a newline and the indent: one space). */
static char *unwrapped(const char *s)
{
	char *out = strdup(s), *w = out;

	for (const char *p = s; *p; p++) {
		if (p[0] == '\n' && p[1] == ' ' && p > s && p[-1] != '\n') {
			while (p[1] == ' ')
				p++;
			*w++ = ' ';
			continue;
		}
		*w++ = *p;
	}
	*w = '\0';
	return out;
}

ParameterizedTest(struct verb *v, cli, every_command_has_help_and_rejects_bad_options)
{
	struct th_result r = cell(NULL, v->name, "--help", NULL);
	char want[160], *got;

	cr_assert(eq(int, r.status, 0));
	got = unwrapped(r.out);
	cr_assert(eq(int, strncmp(got, v->usage, strlen(v->usage)), 0), "%s", r.out);
	free(got);
	th_result_done(&r);

	r = cell(NULL, v->name, "--bogus", NULL);
	snprintf(want, sizeof(want), "cell %s: unknown option '--bogus'\n%s", v->name, v->usage);
	cr_assert(eq(int, r.status, 64));
	got = unwrapped(r.err);
	cr_assert(eq(int, strncmp(got, want, strlen(want)), 0), "%s", r.err);
	free(got);
	th_result_done(&r);

	r = cell(NULL, v->name, "a", "b", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "unexpected argument"));
	th_result_done(&r);
}

Test(cli, trust_round_trip)
{
	char *cfg = th_write(tmp, "proj/.cell.json", "{\"name\": \"proj\"}\n");
	struct th_result r;
	char want[512];

	r = cell("proj", "explain", NULL);
	cr_assert(eq(int, r.status, 0));
	cr_assert(contains(r.out, "(NOT TRUSTED)"));
	snprintf(
		want, sizeof(want),
		"cell: %s is not allowed; nothing above takes effect until you run 'cell allow %s/proj'\n",
		cfg, tmp);
	cr_assert(eq(str, r.err, want));
	th_result_done(&r);

	r = cell("proj", "allow", NULL);
	cr_assert(eq(int, r.status, 0));
	/* and a line of what it opens */
	snprintf(want, sizeof(want),
		 "cell: allowed %s\n  network: no host (its proxy refuses every one); mounts: 0; "
		 "env: 0 variables\n",
		 cfg);
	cr_assert(eq(str, r.out, want));
	th_result_done(&r);
	r = cell(NULL, "explain", "proj", NULL);
	cr_assert(contains(r.out, "(trusted)"));
	cr_assert(eq(str, r.err, ""));
	th_result_done(&r);

	/* one byte more: untrusted */
	free(th_write(tmp, "proj/.cell.json", "{\"name\": \"proj\"} \n"));
	r = cell("proj", "explain", NULL);
	cr_assert(contains(r.out, "(NOT TRUSTED)"));
	th_result_done(&r);

	r = cell("proj", "allow", NULL);
	cr_assert(eq(int, r.status, 0));
	th_result_done(&r);
	r = cell("proj", "deny", NULL);
	cr_assert(eq(int, r.status, 0));
	snprintf(want, sizeof(want), "cell: denied %s\n", cfg);
	cr_assert(eq(str, r.out, want));
	th_result_done(&r);
	r = cell("proj", "explain", NULL);
	cr_assert(contains(r.out, "(NOT TRUSTED)"));
	th_result_done(&r);
	cr_assert(eq(sz, allow_records(), 0));
	free(cfg);
}

Test(cli, invalid_config_is_not_allowed_and_explain_exits_2)
{
	char *cfg =
		th_write(tmp, "proj/.cell.json", "{\n  \"network\": {\"mode\": \"proxi\"}\n}\n");
	struct th_result r;
	char want[512];

	snprintf(
		want, sizeof(want),
		"cell: %s:2:23: network.mode: \"proxi\" is not a network mode (proxy, none, host); did you mean \"proxy\"?\n"
		"    2 |   \"network\": {\"mode\": \"proxi\"}\n"
		"      |                       ^\n",
		cfg);
	r = cell("proj", "explain", NULL);
	cr_assert(eq(int, r.status, 2));
	cr_assert(eq(str, r.err, want));
	cr_assert(eq(str, r.out, ""));
	th_result_done(&r);

	r = cell("proj", "allow", NULL);
	cr_assert(eq(int, r.status, 2));
	cr_assert(contains(r.err, "cell: nothing was allowed; fix the problem above first\n"));
	th_result_done(&r);
	cr_assert(eq(sz, allow_records(), 0));
	free(cfg);
}

Test(cli, deny_works_on_a_config_that_no_longer_parses)
{
	struct th_result r;

	free(th_write(tmp, "proj/.cell.json", "{}"));
	r = cell("proj", "allow", NULL);
	cr_assert(eq(int, r.status, 0));
	th_result_done(&r);
	free(th_write(tmp, "proj/.cell.json", "{oops"));
	r = cell("proj", "deny", NULL);
	cr_assert(eq(int, r.status, 0));
	cr_assert(contains(r.out, "cell: denied "));
	th_result_done(&r);
	cr_assert(eq(sz, allow_records(), 0));
}

Test(cli, no_project_says_so)
{
	char *dir = th_join(tmp, "empty");
	struct th_result r;
	char want[512];

	cr_assert(eq(int, cell_mkdir_p(dir, 0755), 0));
	r = cell("empty", "explain", NULL);
	cr_assert(eq(int, r.status, 1));
	snprintf(
		want, sizeof(want),
		"cell: no .cell.json in '%s' or any directory above it (create one with 'cell init')\n",
		dir);
	cr_assert(eq(str, r.err, want));
	th_result_done(&r);
	free(dir);
}

Test(cli, paths_with_spaces_and_quotes_are_quoted_in_advice)
{
	char *cfg = th_write(tmp, "it's my project/.cell.json", "{}");
	struct th_result r = cell("it's my project", "explain", NULL);
	char want[512];

	snprintf(want, sizeof(want), "until you run 'cell allow '%s/it'\\''s my project''\n", tmp);
	cr_assert(contains(r.err, want), "%s", r.err);
	th_result_done(&r);
	free(cfg);
}

Test(cli, user_config_is_merged_from_xdg_config_home)
{
	struct th_result r;

	free(th_write(tmp, "config/cell/config.json",
		      "{\"network\": {\"allow\": [\"pypi.org\"]}}"));
	free(th_write(tmp, "proj/.cell.json", "{\"network\": {\"allow\": [\"github.com\"]}}"));
	r = cell("proj", "explain", NULL);
	cr_assert(eq(int, r.status, 0));
	cr_assert(contains(r.out, "    pypi.org "));
	cr_assert(contains(r.out, "config/cell/config.json: network.allow[0]\n"));
	cr_assert(contains(r.out, "    github.com "));
	th_result_done(&r);

	free(th_write(tmp, "config/cell/config.json", "{\"network\": {\"allow\": [7]}}"));
	r = cell("proj", "explain", NULL);
	cr_assert(eq(int, r.status, 2));
	cr_assert(contains(
		r.err,
		"config/cell/config.json:1:24: network.allow[0]: expected a string or a rule object, got a number\n"));
	th_result_done(&r);
}

struct init_case {
	char marker[24];
	char presets[40];
};

ParameterizedTestParameters(cli, init_detects_the_project_type)
{
	static struct init_case cases[] = {
		{"package.json", "[\"node\"]"},
		{"pyproject.toml", "[\"python\"]"},
		{"requirements.txt", "[\"python\"]"},
		{"Cargo.toml", "[\"rust\"]"},
		{"go.mod", "[\"go\"]"},
		{"flake.nix", "[\"nix\"]"},
		{"shell.nix", "[\"nix\"]"},
		{"README", "[]"},
	};
	return cr_make_param_array(struct init_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct init_case *c, cli, init_detects_the_project_type)
{
	char *marker, *cfg, *text;
	char want[128];
	struct th_result r;

	marker = th_write(tmp, "my-app/x", "");
	free(marker);
	free(th_write(tmp, "my-app/sub/.keep", ""));
	marker = th_join("my-app", c->marker);
	free(th_write(tmp, marker, "{}"));
	free(marker);
	r = cell("my-app", "init", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "review it, then run 'cell allow "));
	th_result_done(&r);

	cfg = th_join(tmp, "my-app/.cell.json");
	text = th_read(cfg);
	snprintf(want, sizeof(want), "  \"presets\": %s,\n", c->presets);
	cr_assert(contains(text, want), "%s", text);
	cr_assert(contains(text, "  \"name\": \"my-app\",\n"));
	free(text);

	/* what init writes loads, and explain from a subdirectory finds it */
	r = cell("my-app/sub", "explain", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "name: my-app\n"));
	th_result_done(&r);

	/* and init never overwrites */
	free(th_write(tmp, "my-app/.cell.json", "{\"name\": \"mine\"}"));
	r = cell("my-app", "init", NULL);
	cr_assert(eq(int, r.status, 1));
	cr_assert(contains(r.err, "already exists; cell init does not overwrite it"));
	th_result_done(&r);
	text = th_read(cfg);
	cr_assert(eq(str, text, "{\"name\": \"mine\"}"));
	free(text);
	free(cfg);
}

Test(cli, init_with_several_types_and_a_name)
{
	struct th_result r;
	char *text, *cfg;

	free(th_write(tmp, "mono/package.json", "{}"));
	free(th_write(tmp, "mono/go.mod", "module x"));
	r = cell(NULL, "init", "--name", "mono-repo", "mono", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	cfg = th_join(tmp, "mono/.cell.json");
	text = th_read(cfg);
	cr_assert(contains(text, "\"name\": \"mono-repo\""));
	cr_assert(contains(text, "\"presets\": [\"node\", \"go\"]"));
	free(text);
	free(cfg);

	r = cell(NULL, "init", "--name", "bad\"name", "mono", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "'bad\"name' is not a cell name"));
	th_result_done(&r);
	r = cell(NULL, "init", "--name", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "cell init: option '--name' needs a value\n"));
	th_result_done(&r);
}

/* A devenv, mise or devbox project: the presets its files and languages need, and the provider
 * env.provider "auto" would pick, written out; what loads in cell explain. */
Test(cli, init_recognises_devenv_mise_and_devbox_projects)
{
	static const struct {
		const char *dir, *file, *text, *presets, *provider;
	} cases[] = {
		{"dv", "devenv.nix",
		 "{ pkgs, ... }: {\n  languages.python.enable = true;\n  languages.rust.enable = "
		 "false;\n  languages.javascript.enable=true;\n}\n",
		 "[\"nix\", \"python\", \"node\"]", "devenv"},
		{"ms", "mise.toml", "[tools]\nnode = \"20\"\n", "[]", "mise"},
		{"rc", ".envrc", "use flake\n", "[]", "direnv"},
		{"db", "devbox.json", "{}", "[\"nix\"]", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = th_join(cases[i].dir, cases[i].file), *cfg, *text, want[128];
		struct th_result r;

		free(th_write(tmp, path, cases[i].text));
		free(path);
		r = cell(NULL, "init", cases[i].dir, NULL);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		if (!cases[i].provider)
			cr_assert(contains(r.out, "devbox generate direnv"), "%s", r.out);
		else
			cr_assert(contains(r.out, "outside the cell, as you"), "%s", r.out);
		th_result_done(&r);
		cfg = th_join(cases[i].dir, ".cell.json");
		path = th_join(tmp, cfg);
		text = th_read(path);
		snprintf(want, sizeof(want), "\"presets\": %s,", cases[i].presets);
		cr_assert(contains(text, want), "%s", text);
		snprintf(want, sizeof(want), "\"provider\": \"%s\"",
			 cases[i].provider ? cases[i].provider : "");
		cr_assert(cases[i].provider ? contains(text, want) : !contains(text, "provider"),
			  "%s", text);
		free(text);
		r = cell(cases[i].dir, "explain", NULL);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		th_result_done(&r);
		free(path);
		free(cfg);
	}
}

Test(cli, import_devenv_writes_a_config_explain_accepts)
{
	struct th_result r;
	char *cfg, *text;

	free(th_write(tmp, "config/devenv/devenv.yaml",
		      "sandbox:\n  mounts:\n    - path: $HOME/.cache/pip\n      mode: read-write\n"
		      "      optional: true\n"));
	free(th_write(tmp, "dev/devenv.yaml",
		      "inputs: {}\nsandbox:\n  enable: true\n  network:\n    enable: false\n"
		      "  mounts:\n    - path: /nix/store\n    - path: ./data\n"
		      "      mode: overlay-tmpfs\n"));
	free(th_write(tmp, "dev/data/.keep", ""));
	r = cell("dev", "import", "devenv", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "review it, then run 'cell allow "), "%s", r.out);
	cr_assert(contains(r.err, "cell: note: "), "%s", r.err);
	cr_assert(contains(r.err, "'/nix/store' dropped"), "%s", r.err);
	th_result_done(&r);
	cfg = th_join(tmp, "dev/.cell.json");
	text = th_read(cfg);
	cr_assert(contains(text,
			   "{\"path\": \"~/.cache/pip\", \"mode\": \"rw\", \"optional\": true}"),
		  "%s", text);
	cr_assert(contains(text,
			   "{\"path\": \"./data\", \"mode\": \"overlay\", \"ephemeral\": true}"),
		  "%s", text);
	cr_assert(contains(text, "\"mode\": \"none\""), "%s", text);
	free(text);

	/* untrusted until allowed, and then explain takes it */
	r = cell("dev", "explain", NULL);
	cr_assert(contains(r.out, "(NOT TRUSTED)"), "%s", r.out);
	th_result_done(&r);
	/* (devenv's read-write bind of a cache outside the project is said, and needs --yes) */
	r = cell(NULL, "allow", "dev", NULL);
	cr_assert(eq(int, r.status, 1), "%s", r.err);
	cr_assert(contains(r.err, "/.cache/pip read-write: what the cell writes there stays"), "%s",
		  r.err);
	th_result_done(&r);
	r = cell(NULL, "allow", "--yes", "dev", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	r = cell("dev", "explain", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "(trusted)"), "%s", r.out);
	cr_assert(contains(r.out, "name: dev\n"), "%s", r.out);
	th_result_done(&r);

	/* never over a config without --force; with it, the file is new, so untrusted again */
	r = cell(NULL, "import", "devenv", "dev", NULL);
	cr_assert(eq(int, r.status, 1));
	cr_assert(contains(r.err, "already exists; cell import replaces it only with --force"));
	th_result_done(&r);
	free(th_write(tmp, "dev/devenv.local.yaml", "sandbox:\n  network: {enable: true}\n"));
	r = cell(NULL, "import", "--force", "devenv", "dev", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.err, "cell allow-host HOST"), "%s", r.err);
	th_result_done(&r);
	text = th_read(cfg);
	cr_assert(contains(text, "\"mode\": \"proxy\""), "%s", text);
	free(text);
	r = cell("dev", "explain", NULL);
	cr_assert(contains(r.out, "(NOT TRUSTED)"), "%s", r.out);
	th_result_done(&r);
	free(cfg);
}

/* A project's devenv.yaml that is a FIFO (the import would hang) or a link is not read. */
Test(cli, import_devenv_reads_no_fifo_and_no_link)
{
	char *fifo = th_join(tmp, "odd/devenv.yaml"), *dir = th_join(tmp, "odd");
	struct th_result r;

	cr_assert(eq(int, mkdir(dir, 0755), 0));
	cr_assert(eq(int, mkfifo(fifo, 0644), 0));
	r = cell(NULL, "import", "devenv", "odd", NULL);
	cr_assert(eq(int, r.status, 1));
	cr_assert(contains(r.err, "not a regular file"), "%s", r.err);
	th_result_done(&r);
	cr_assert(eq(int, unlink(fifo), 0));
	cr_assert(eq(int, symlink("/etc/passwd", fifo), 0));
	r = cell(NULL, "import", "devenv", "odd", NULL);
	cr_assert(eq(int, r.status, 1));
	cr_assert(contains(r.err, "a symbolic link"), "%s", r.err);
	th_result_done(&r);
	free(fifo);
	free(dir);
}

Test(cli, import_devenv_names_the_bad_line_and_writes_nothing)
{
	struct th_result r;
	char *cfg;

	free(th_write(tmp, "bad/devenv.yaml",
		      "sandbox:\n  mounts:\n    - path: /opt\n      mode: tmpfz\n"));
	r = cell(NULL, "import", "devenv", "bad", NULL);
	cr_assert(eq(int, r.status, 2));
	cr_assert(contains(r.err, "/bad/devenv.yaml:4:13: sandbox.mounts[0].mode: \"tmpfz\" is "
				  "not a mount mode"),
		  "%s", r.err);
	cr_assert(contains(r.err, "    4 |       mode: tmpfz\n"), "%s", r.err);
	th_result_done(&r);
	cfg = th_join(tmp, "bad/.cell.json");
	cr_assert(ne(int, access(cfg, F_OK), 0));

	free(th_write(tmp, "bad/devenv.yaml", "sandbox:\n  mounts:\n    - path: [\n"));
	r = cell("bad", "import", "devenv", NULL);
	cr_assert(eq(int, r.status, 2));
	cr_assert(contains(r.err, "/bad/devenv.yaml:4:1: YAML syntax error: "), "%s", r.err);
	th_result_done(&r);
	cr_assert(ne(int, access(cfg, F_OK), 0));

	/* no devenv file, or no sandbox: in it */
	free(th_write(tmp, "none/x", ""));
	r = cell("none", "import", "devenv", NULL);
	cr_assert(eq(int, r.status, 1));
	cr_assert(contains(r.err, "no devenv.yaml or devenv.local.yaml in "), "%s", r.err);
	th_result_done(&r);
	r = cell(NULL, "import", "nix", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "unexpected argument 'nix' (cell imports from devenv)"));
	th_result_done(&r);
	free(cfg);
}

Test(cli, doctor_reports_this_machine)
{
	struct th_result r = cell(NULL, "doctor", NULL);

	/* make deps installs bubblewrap, so this machine can build cells */
	cr_assert(eq(int, r.status, 0), "%s", r.out);
	cr_assert(contains(r.out, "  ok    bubblewrap "));
	cr_assert(contains(r.out, "cgroup2"));
	cr_assert(contains(r.out, "cell can build cells on this machine\n"));
	/* root (CI) runs cell-session from the build tree */
	cr_assert(contains(r.out,
			   geteuid() == 0 && cell_bpf_has_unix_hooks()
				   ? "  ok    network: proxy cells are held to their proxy by BPF"
				   : "  ok    network: proxy cells get a network namespace of "
				     "their own (netns): "),
		  "%s", r.out);
	cr_assert(
		contains(r.out, geteuid() != 0 ? "  ok    abstract Unix sockets: closed to cells "
						 "(their own network namespace)"
				: cell_bpf_has_unix_hooks()
					? "  ok    abstract Unix sockets: closed to cells (cgroup/"
					: "  warn  abstract Unix sockets: "),
		"%s", r.out);
	/* the pin directory is root's alone here (made by cell-session, or not yet) */
	cr_assert(contains(r.out, "  ok    BPF pin directory /sys/fs/bpf/cell: "), "%s", r.out);
	if (geteuid() == 0)
		cr_assert(
			contains(r.out, "/sys/fs/bpf/cell: fine\n") ||
				contains(r.out, "/sys/fs/bpf/cell: missing (made on first use)\n"),
			"%s", r.out);
	/* the providers it finds (make deps installs direnv), and those it does not */
	cr_assert(contains(r.out, access("/usr/bin/direnv", X_OK) == 0
					  ? "  ok    env.provider direnv: /usr/bin/direnv\n"
					  : "  warn  env.provider direnv: not installed"),
		  "%s", r.out);
	cr_assert(contains(r.out, "env.provider devenv: "), "%s", r.out);
	th_result_done(&r);
}

Test(cli, doctor_escape_takes_its_options_only_with_escape_and_an_allowed_project)
{
	struct th_result r = cell(NULL, "doctor", "--user", "nobody", NULL);

	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "cell doctor: --user and --allow-root go with --escape\n"), "%s",
		  r.err);
	th_result_done(&r);
	r = cell(NULL, "doctor", "--escape", "a", "b", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "cell doctor: unexpected argument 'b'\n"), "%s", r.err);
	th_result_done(&r);
	/* a project is tried as it is trusted, or not at all */
	free(th_write(tmp, "proj/.cell.json", "{\"name\": \"proj\"}\n"));
	r = geteuid() == 0 ? cell(NULL, "doctor", "--escape", "--allow-root", "proj", NULL)
			   : cell(NULL, "doctor", "--escape", "proj", NULL);
	cr_assert(eq(int, r.status, 1));
	cr_assert(contains(r.err, "/proj/.cell.json is not allowed; run 'cell allow "), "%s",
		  r.err);
	cr_assert(eq(str, r.out, ""));
	th_result_done(&r);
	/* root names the user its cell is for */
	if (geteuid() == 0) {
		r = cell(NULL, "doctor", "--escape", "proj", NULL);
		cr_assert(eq(int, r.status, 1));
		cr_assert(contains(r.err, "cell: refusing to run a cell as root"), "%s", r.err);
		th_result_done(&r);
	}
}

Test(cli, stray_arguments_are_usage_errors)
{
	struct th_result r = cell(NULL, "version", ".", NULL);

	cr_assert(eq(int, r.status, 64));
	th_result_done(&r);
	r = cell(NULL, "doctor", ".", NULL);
	cr_assert(eq(int, r.status, 64));
	th_result_done(&r);
}

Test(cli, deny_finds_the_config_that_stopped_loading)
{
	char *cfg, *real, *sub;
	struct th_result r;

	cfg = th_write(tmp, "proj/.cell.json", "{}");
	sub = th_join(tmp, "proj/sub");
	cr_assert(eq(int, cell_mkdir_p(sub, 0755), 0));
	r = cell("proj", "allow", NULL);
	cr_assert(eq(int, r.status, 0));
	th_result_done(&r);
	/* the config becomes a symlink: it no longer loads, but deny must still find it */
	real = th_join(tmp, "proj/real.json");
	cr_assert(eq(int, rename(cfg, real), 0));
	cr_assert(eq(int, symlink("real.json", cfg), 0));
	r = cell("proj/sub", "deny", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "cell: denied "), "%s", r.out);
	th_result_done(&r);
	cr_assert(eq(sz, allow_records(), 0));
	free(cfg);
	free(real);
	free(sub);
}

Test(cli, verbose_logs_what_it_found)
{
	struct th_result r;

	free(th_write(tmp, "proj/.cell.json", "{}"));
	r = cell("proj", "-v", "explain", NULL);
	cr_assert(eq(int, r.status, 0));
	cr_assert(contains(r.err, "cell: project '"), "%s", r.err);
	th_result_done(&r);
}

Test(cli, run_needs_a_command_and_known_options)
{
	struct th_result r = cell(NULL, "run", NULL);

	cr_assert(eq(int, r.status, 64));
	{
		char *err = unwrapped(r.err);

		cr_assert(contains(err,
				   "cell run: no command given\nusage: cell run [-C DIR] [--new] "
				   "[--quiet] [--user NAME] [--allow-root] [--] COMMAND "
				   "[ARGS...]\n"),
			  "%s", r.err);
		free(err);
	}
	th_result_done(&r);
	r = cell(NULL, "run", "--bogus", "--", "true", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "cell run: unknown option '--bogus'\n"));
	th_result_done(&r);
	r = cell(NULL, "run", "-C", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "cell run: option '-C' needs a value\n"));
	th_result_done(&r);
}

/*
 * Whether out has a line that starts with name, then spaces to the same column as every other
 * rule's, then rest: the column is where the line of ioctl(TIOCSTI) has its result.
 */
static bool filter_line(const char *out, const char *name, const char *rest)
{
	const char *first = strstr(out, "\n  ioctl(TIOCSTI) "), *line = strstr(out, name);
	size_t column, at;

	if (!first || !line)
		return false;
	column = strspn(first + 1 + strlen("  ioctl(TIOCSTI)"), " ") + strlen("  ioctl(TIOCSTI)");
	at = strlen(name) + strspn(line + strlen(name), " ");
	return at == column && !strncmp(line + at, rest, strlen(rest));
}

Test(cli, explain_shows_the_bwrap_argv_and_the_filter)
{
	struct th_result r;
	char *bpf;

	free(th_write(tmp, "proj/.cell.json", "{\"network\": {\"mode\": \"host\"}}"));
	bpf = th_join(tmp, "filter.bpf");
	r = cell("proj", "explain", "--write-seccomp", bpf, NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "\n  --unshare-user\n"));
	cr_assert(contains(r.out, "\n  --seccomp\n  3\n"));
	cr_assert(contains(r.out, "\n  /run/cell/init\n  --ready-fd\n  5\n  --\n  COMMAND\n"));
	/* a column for each: the name, the result, why (the names padded to the longest) */
	cr_assert(filter_line(r.out, "  ioctl(TIOCSTI) ", "EPERM        pushing input"), "%s",
		  r.out);
	cr_assert(filter_line(r.out, "  socket(other family) ",
			      "EAFNOSUPPORT only unix, inet, inet6 and netlink: vsock reaches the "
			      "hypervisor"),
		  "%s", r.out);
	cr_assert(filter_line(r.out, "  setsockopt(SO_ATTACH_REUSEPORT_CBPF) ",
			      "EPERM        as for "),
		  "%s", r.out);
	cr_assert(contains(r.out, "WARNING: network.mode is \"host\""));
	/* host mode: no --unshare-net */
	cr_assert(not(contains(r.out, "--unshare-net")));
	th_result_done(&r);
	{
		struct stat st;

		/* a BPF program is a whole number of 8-byte instructions */
		cr_assert(eq(int, stat(bpf, &st), 0));
		cr_assert(gt(sz, (size_t)st.st_size, 0));
		cr_assert(eq(sz, (size_t)st.st_size % 8, 0));
	}
	free(bpf);
}

Test(cli, explain_warns_about_secrets)
{
	struct th_result r;
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"mounts\": [{\"path\": \"~/.ssh\", \"optional\": true}, "
		 "{\"path\": \"~\", \"mode\": \"rw\", \"dest\": \"/mnt/home\"}]}");
	free(th_write(tmp, "proj/.cell.json", json));
	free(th_write(home, ".ssh/id_ed25519", "key"));
	r = cell("proj", "explain", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "WARNING: "), "%s", r.out);
	cr_assert(contains(r.out, "exposes ~/.ssh, which holds credentials"), "%s", r.out);
	cr_assert(contains(r.out, "binds your home directory read-write"), "%s", r.out);
	th_result_done(&r);
}

/* The table row of host with its columns single-spaced (static buffer). */
static char *row(const char *out, const char *host)
{
	static char buf[256];
	const char *p = strstr(out, host);
	size_t n = 0;
	bool space = false;

	buf[0] = '\0';
	if (!p)
		return buf;
	for (; *p && *p != '\n' && n + 1 < sizeof(buf); p++) {
		if (*p == ' ') {
			space = true;
			continue;
		}
		if (space && n)
			buf[n++] = ' ';
		space = false;
		buf[n++] = *p;
	}
	buf[n] = '\0';
	return buf;
}

Test(cli, stats_sums_the_ledger_per_host)
{
	struct th_result r;
	char *ledger, *id;

	free(th_write(tmp, "web/.cell.json", "{\"name\": \"web\"}"));
	r = cell("web", "explain", NULL);
	cr_assert(eq(int, r.status, 0));
	id = strstr(r.out, "id: ") + 4;
	*strchr(id, '\n') = '\0';
	ledger = NULL;
	cr_assert(ge(int, asprintf(&ledger, "projects/%s/ledger.jsonl", id), 0));
	free(th_write(tmp, "state/x", ""));
	{
		char *dir = th_join(tmp, "state/cell");

		free(th_write(
			dir, ledger,
			"{\"v\":1,\"kind\":\"proxy\",\"start\":10,\"end\":20,\"hosts\":{"
			"\"github.com\":{\"requests\":0,\"tunnels\":2,\"up\":1000,\"down\":3000000,"
			"\"denied\":0},\"example.net\":{\"denied\":2}}}\n"
			"garbage\n"
			"{\"v\":1,\"kind\":\"proxy\",\"start\":30,\"end\":40,\"hosts\":{"
			"\"github.com\":{\"tunnels\":1,\"up\":24,\"down\":0}}}\n"));
		free(dir);
	}
	th_result_done(&r);
	r = cell("web", "stats", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "web: 2 records\n"), "%s", r.out);
	cr_assert(eq(str, row(r.out, "github.com"), "github.com 0 3 1.0 KiB 2.9 MiB 0"), "%s",
		  r.out);
	cr_assert(eq(str, row(r.out, "example.net"), "example.net 0 0 0 B 0 B 2"), "%s", r.out);
	cr_assert(eq(str, row(r.out, "total"), "total 0 3 1.0 KiB 2.9 MiB 2"), "%s", r.out);
	cr_assert(contains(r.err, "1 line of '"), "%s", r.err);
	th_result_done(&r);
	r = cell("web", "stats", "--json", NULL);
	cr_assert(eq(int, r.status, 0));
	cr_assert(contains(r.out,
			   "\"start\":10,\"end\":40,\"hosts\":{\"github.com\":{\"requests\":0,"
			   "\"tunnels\":3,\"up\":1024,\"down\":3000000,\"denied\":0}"),
		  "%s", r.out);
	th_result_done(&r);
	free(ledger);
}

Test(cli, allow_host_adds_the_rule_and_keeps_the_trust)
{
	struct th_result r;
	char *cfg, *text;

	cfg = th_write(
		tmp, "proj/.cell.json",
		"{\"name\": \"p\", \"network\": {\"mode\": \"proxy\", \"allow\": [\"github.com\"]},"
		" \"env\": {\"pass\": [\"TERM\"]}}");
	r = cell("proj", "allow-host", "registry.npmjs.org", NULL);
	cr_assert(eq(int, r.status, 1), "an untrusted config is not widened: %s", r.err);
	cr_assert(contains(r.err, "is not allowed as it is; review it and run 'cell allow "));
	th_result_done(&r);
	r = cell("proj", "allow", NULL);
	th_result_done(&r);
	r = cell("proj", "allow-host", "Registry.NPMjs.org.", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.out, "now allows registry.npmjs.org (and is allowed)"), "%s", r.out);
	th_result_done(&r);
	text = th_read(cfg);
	/* keys keep their order, the rule is canonical and appended */
	cr_assert(lt(long, (long)(strstr(text, "\"name\"") - text),
		     (long)(strstr(text, "\"network\"") - text)));
	cr_assert(lt(long, (long)(strstr(text, "\"network\"") - text),
		     (long)(strstr(text, "\"env\"") - text)));
	cr_assert(contains(text, "\"github.com\", \"registry.npmjs.org\""), "%s", text);
	free(text);
	r = cell("proj", "explain", NULL);
	cr_assert(contains(r.out, "(trusted)"));
	cr_assert(contains(r.out, "    registry.npmjs.org "));
	th_result_done(&r);
	r = cell("proj", "allow-host", "registry.npmjs.org", NULL);
	cr_assert(eq(int, r.status, 0));
	cr_assert(contains(r.out, "already allows registry.npmjs.org"));
	th_result_done(&r);
	r = cell("proj", "allow-host", "https://x.test/", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(contains(r.err, "is not a host rule: it is a URL"));
	th_result_done(&r);
	free(cfg);
}

Test(cli, allow_host_adds_a_network_section_when_there_is_none)
{
	struct th_result r;
	char *cfg = th_write(tmp, "proj/.cell.json", "{\"name\": \"p\"}"), *text;

	th_result_done((r = cell("proj", "allow", NULL), &r));
	r = cell("proj", "allow-host", "*.example.com:8443", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	th_result_done(&r);
	text = th_read(cfg);
	cr_assert(contains(text, "\"allow\":"), "%s", text);
	cr_assert(contains(text, "\"*.example.com:8443\""), "%s", text);
	free(text);
	free(cfg);
}

/* Inside a cell, allow-host refuses, also when --help comes after its host (only --help right
 * after the verb is help; there it would be taken as the directory and the host added). */
Test(cli, allow_host_refuses_inside_a_cell)
{
	char *cfg = th_write(tmp, "proj/.cell.json", "{}"), *dir = th_join(tmp, "proj"), *text;
	char *env[10];
	int n = 0;

	for (; envp[n]; n++)
		env[n] = envp[n];
	env[n++] = (char *)"CELL_ID=proj-123";
	env[n] = NULL;
	for (int later = 0; later < 2; later++) {
		char *argv[] = {(char *)CELL, (char *)"allow-host", (char *)"evil.example",
				later ? (char *)"--help" : NULL, NULL};
		struct th_result r;

		th_run(dir, argv, env, &r);
		cr_assert(eq(int, r.status, 1), "%s", r.err);
		cr_assert(
			contains(r.err,
				 "cell: you are inside a cell; run 'cell allow-host' outside it\n"),
			"%s", r.err);
		th_result_done(&r);
	}
	{
		char *argv[] = {(char *)CELL, (char *)"allow-host", (char *)"--help", NULL};
		struct th_result r;

		th_run(dir, argv, env, &r);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		cr_assert(contains(r.out, "usage: cell allow-host"), "%s", r.out);
		th_result_done(&r);
	}
	text = th_read(cfg);
	cr_assert(eq(str, text, (char *)"{}"));
	free(text);
	free(dir);
	free(cfg);
}

Test(cli, enter_leave_to_empties_only_a_shell_hooks_file)
{
	char *precious = th_write(tmp, "precious", "not a hook's\n"), *text;
	struct th_result r = cell(NULL, "enter", "--leave-to", precious, NULL);

	cr_assert(eq(int, r.status, 1));
	cr_assert(not(eq(ptr, strstr(r.err, "not a shell hook's file of yours"), NULL)), "%s",
		  r.err);
	th_result_done(&r);
	text = th_read(precious);
	cr_assert(eq(str, text, (char *)"not a hook's\n"));
	free(text);
	free(precious);
}

Test(cli, hook_prints_each_shells_code_and_refuses_others)
{
	struct th_result r = cell(NULL, "hook", "bash", NULL);

	cr_assert(eq(int, r.status, 0));
	cr_assert(not(eq(ptr, strstr(r.out, "PROMPT_COMMAND"), NULL)));
	cr_assert(eq(ptr, strstr(r.out, "@CELL@"), NULL));
	th_result_done(&r);
	r = cell(NULL, "hook", "tcsh", NULL);
	cr_assert(eq(int, r.status, 64));
	cr_assert(not(eq(ptr, strstr(r.err, "'tcsh' is not a shell cell has a hook for"), NULL)));
	th_result_done(&r);
	/* run by this test, not by a shell with the hook */
	r = cell(NULL, "hook", "--status", NULL);
	cr_assert(eq(int, r.status, 1));
	cr_assert(not(eq(ptr, strstr(r.out, "not active in this shell"), NULL)));
	th_result_done(&r);
}

/* What an ELF file says about its hardening. */
struct hardening {
	bool pie, relro, bind_now, stack_protector, fortified;
};

static void read_hardening(const char *path, struct hardening *h)
{
	_cleanup_free_ char *elf = NULL;
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph;
	const Elf64_Shdr *sh;
	size_t len = 0;

	*h = (struct hardening){0};
	cr_assert(eq(int, cell_read_file(path, 0, 64 << 20, &elf, &len), 0), "%s", path);
	eh = (const Elf64_Ehdr *)elf;
	cr_assert(ge(sz, len, sizeof(*eh)));
	cr_assert(eq(int, memcmp(eh->e_ident, ELFMAG, SELFMAG), 0));
	cr_assert(eq(int, eh->e_ident[EI_CLASS], ELFCLASS64));
	ph = (const Elf64_Phdr *)(elf + eh->e_phoff);
	sh = (const Elf64_Shdr *)(elf + eh->e_shoff);
	for (int i = 0; i < eh->e_phnum; i++)
		h->relro |= ph[i].p_type == PT_GNU_RELRO;
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_DYNAMIC) {
			const Elf64_Dyn *d = (const Elf64_Dyn *)(elf + sh[i].sh_offset);

			for (size_t k = 0; k < sh[i].sh_size / sizeof(*d); k++) {
				h->bind_now |=
					(d[k].d_tag == DT_FLAGS &&
					 (d[k].d_un.d_val & DF_BIND_NOW)) ||
					(d[k].d_tag == DT_FLAGS_1 && (d[k].d_un.d_val & DF_1_NOW));
				h->pie |= eh->e_type == ET_DYN && d[k].d_tag == DT_FLAGS_1 &&
					  (d[k].d_un.d_val & DF_1_PIE);
			}
		}
		if (sh[i].sh_type == SHT_DYNSYM) {
			const Elf64_Sym *sym = (const Elf64_Sym *)(elf + sh[i].sh_offset);
			const char *names = elf + sh[sh[i].sh_link].sh_offset;

			for (size_t k = 0; k < sh[i].sh_size / sizeof(*sym); k++) {
				const char *n = names + sym[k].st_name;

				h->stack_protector |= streq(n, "__stack_chk_fail");
				h->fortified |= startswith(n, "__") && endswith(n, "_chk") &&
						!streq(n, "__stack_chk_fail");
			}
		}
	}
}

/* The setuid helper (the build without sanitizers, the one that is ever installed setuid) is
 * built as a distribution hardens its programs. */
Test(cli, the_privileged_helper_is_hardened)
{
	struct hardening h;

	read_hardening(CELL_TEST_SETUID_HELPER, &h);
	cr_assert(h.pie, "not a position-independent executable");
	cr_assert(h.relro, "no RELRO segment");
	cr_assert(h.bind_now, "symbols not bound at start (-z now)");
	cr_assert(h.stack_protector, "no stack protector");
	cr_assert(h.fortified, "no fortified libc calls (_FORTIFY_SOURCE)");
}

/* man cell (the page make built) has every command `cell help` lists, with the same usage: one
 * table makes both. */
Test(cli, the_man_page_has_every_command_of_cell_help)
{
	char *man[] = {(char *)"/usr/bin/man", (char *)"-l", (char *)CELL_TEST_BUILD "/man/cell.1",
		       NULL};
	char *env_man[] = {(char *)"MANWIDTH=300", (char *)"LC_ALL=C.UTF-8",
			   (char *)"PATH=/usr/bin:/bin", NULL};
	struct th_result page, help = cell(NULL, "help", NULL);
	size_t seen = 0;

	if (access("/usr/bin/man", X_OK) != 0 || access(CELL_TEST_BUILD "/man/cell.1", R_OK) != 0)
		th_skip("man or the built page is missing (make deps; make)");
	th_run(NULL, man, env_man, &page);
	cr_assert(eq(int, page.status, 0), "%s", page.err);
	for (char *line = strtok(help.out, "\n"); line; line = strtok(NULL, "\n")) {
		char name[64], usage[512], *want = NULL;
		struct th_result one;

		char *joined;

		/* (a summary's later lines are indented further) */
		if (sscanf(line, "  %63s", name) != 1 || line[0] != ' ' || line[2] == ' ')
			continue;
		one = cell(NULL, "help", name, NULL);
		/* "usage: cell NAME ARGS" as the man page's "cell NAME ARGS" */
		joined = unwrapped(one.out);
		snprintf(usage, sizeof(usage), "%.*s", (int)strcspn(joined, "\n"), joined);
		free(joined);
		cr_assert(eq(int, strncmp(usage, "usage: ", 7), 0), "%s", one.out);
		cr_assert(ge(int, asprintf(&want, "       %s\n", usage + 7), 0));
		cr_assert(contains(page.out, want), "man cell lacks '%s'", usage + 7);
		free(want);
		th_result_done(&one);
		seen++;
	}
	cr_assert(gt(sz, seen, 20));
	th_result_done(&help);
	th_result_done(&page);
}

/* cell allow in risky/, on a terminal (script(1) gives it one), answer typed a second later. */
static struct th_result allow_on_a_terminal(const char *answer)
{
	char *dir = th_join(tmp, "risky"), *line = NULL;
	char *sh[] = {(char *)"/bin/sh", (char *)"-c", NULL, NULL};
	struct th_result r;

	cr_assert(ge(int,
		     asprintf(&line,
			      "{ sleep 1; printf '%s\\n'; sleep 1; } | "
			      "/usr/bin/script -qec '%s allow' /dev/null",
			      answer, CELL),
		     0));
	sh[2] = line;
	th_run(dir, sh, envp, &r);
	free(line);
	free(dir);
	return r;
}

/*
 * What weakens the cell is said when it is allowed, and asked about on a terminal; without a
 * terminal, only --yes allows it. A plain config is allowed at once (trust_round_trip).
 */
Test(cli, allowing_a_risky_config_says_why_and_asks)
{
	struct th_result r;

	free(th_write(tmp, "risky/.cell.json",
		      "{\"name\": \"risky\", \"network\": {\"mode\": \"host\"}, "
		      "\"mounts\": [{\"path\": \"~/.ssh\", \"mode\": \"ro\"}]}\n"));
	cr_assert(eq(int, cell_mkdir_p(home, 0755), 0));
	{
		char *ssh = th_join(home, ".ssh");

		cr_assert(eq(int, cell_mkdir_p(ssh, 0700), 0));
		free(ssh);
	}
	/* no terminal, no --yes: said, and nothing allowed */
	r = cell("risky", "allow", NULL);
	cr_assert(eq(int, r.status, 1), "%s", r.err);
	cr_assert(contains(r.err, "WARNING: network.mode is \"host\": the cell reaches any host"),
		  "%s", r.err);
	cr_assert(contains(r.err, "mounts[0] exposes ~/.ssh, which holds credentials"), "%s",
		  r.err);
	cr_assert(contains(r.err, "cell: nothing was allowed: allow it anyway with 'cell allow "
				  "--yes'\n"),
		  "%s", r.err);
	th_result_done(&r);
	r = cell("risky", "explain", NULL);
	cr_assert(contains(r.out, "(NOT TRUSTED)"), "%s", r.out);
	th_result_done(&r);
	/* on a terminal: asked; no is no */
	r = allow_on_a_terminal("n");
	cr_assert(contains(r.out, "allow anyway? [y/N]"), "%s", r.out);
	cr_assert(contains(r.out, "cell: nothing was allowed"), "%s", r.out);
	th_result_done(&r);
	r = cell("risky", "explain", NULL);
	cr_assert(contains(r.out, "(NOT TRUSTED)"), "%s", r.out);
	th_result_done(&r);
	/* yes is yes */
	r = allow_on_a_terminal("y");
	cr_assert(contains(r.out, "cell: allowed "), "%s", r.out);
	cr_assert(contains(r.out, "network: the host's, unfiltered; mounts: 1"), "%s", r.out);
	th_result_done(&r);
	r = cell("risky", "explain", NULL);
	cr_assert(contains(r.out, "(trusted)"), "%s", r.out);
	th_result_done(&r);
	/* and a script says --yes */
	free(th_write(tmp, "risky/.cell.json",
		      "{\"name\": \"risky\", \"hardening\": {\"allow_userns\": true}}\n"));
	r = cell("risky", "allow", "--yes", NULL);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(contains(r.err, "WARNING: hardening.allow_userns"), "%s", r.err);
	th_result_done(&r);
}

/*
 * What a bind reaches is judged by where its links lead: a link in the project to ~/.ssh is
 * ~/.ssh, and a read-write bind of a startup file outside the project is said too.
 */
Test(cli, allowing_says_what_a_link_reaches)
{
	char *ssh = th_join(home, ".ssh"), *link = th_join(tmp, "sneaky/keys");
	struct th_result r;

	free(th_write(tmp, "sneaky/.cell.json",
		      "{\"name\": \"sneaky\", \"mounts\": [{\"path\": \"./keys\", \"dest\": "
		      "\"/k\"}, {\"path\": \"~/.bashrc\", \"mode\": \"rw\"}]}\n"));
	free(th_write(home, ".bashrc", "# the user's\n"));
	cr_assert(eq(int, cell_mkdir_p(ssh, 0700), 0));
	cr_assert(eq(int, symlink(ssh, link), 0));
	r = cell("sneaky", "allow", NULL);
	cr_assert(eq(int, r.status, 1), "%s", r.err);
	cr_assert(contains(r.err, "mounts[0] exposes ~/.ssh, which holds credentials"), "%s",
		  r.err);
	cr_assert(contains(r.err, "/.bashrc read-write: what the cell writes there stays"), "%s",
		  r.err);
	cr_assert(contains(r.err, "cell: nothing was allowed"), "%s", r.err);
	th_result_done(&r);
	free(link);
	free(ssh);
}

/* Your home (or /) cannot be a project: cell init and cell allow say so and write nothing. */
Test(cli, home_is_not_a_project)
{
	char *cfg = th_join(home, ".cell.json");
	struct th_result r;

	r = cell("home", "init", NULL);
	cr_assert(eq(int, r.status, 1), "%s", r.err);
	cr_assert(contains(r.err, "holds your home directory"), "%s", r.err);
	cr_assert(not(eq(int, access(cfg, F_OK), 0)), "cell init wrote %s", cfg);
	th_result_done(&r);
	r = cell(NULL, "init", "/", NULL);
	cr_assert(eq(int, r.status, 1), "%s", r.err);
	cr_assert(contains(r.err, "the project root cannot be '/'"), "%s", r.err);
	th_result_done(&r);
	free(th_write(home, ".cell.json", "{\"name\": \"home\"}\n"));
	r = cell("home", "allow", NULL);
	cr_assert(eq(int, r.status, 1), "%s", r.err);
	cr_assert(contains(r.err, "holds your home directory"), "%s", r.err);
	cr_assert(contains(r.err, "cell: nothing was allowed\n"), "%s", r.err);
	th_result_done(&r);
	r = cell("home", "explain", NULL);
	cr_assert(contains(r.out, "(NOT TRUSTED)"), "%s", r.out);
	th_result_done(&r);
	free(cfg);
}

/*
 * cell allow-host keeps the file as its author wrote it: the rule goes in as a line of its own
 * with the array's indent, keys keep their order, the final newline stays; git diff shows one
 * line added. A network without allow gets it as a line of its own too.
 */
Test(cli, allow_host_adds_one_line_to_the_file_as_written)
{
	static const char *const configs[] = {
		"{\n  \"name\": \"p\",\n  \"network\": {\n    \"mode\": \"proxy\",\n"
		"    \"allow\": [\n      \"github.com\",\n      \"x.test\"\n    ]\n  },\n"
		"  \"env\": {\"pass\": [\"TERM\"]}\n}\n",
		"{\n\t\"name\": \"p\",\n\t\"network\": {\n\t\t\"mode\": \"proxy\"\n\t}\n}\n",
	};

	for (size_t i = 0; i < ELEMENTSOF(configs); i++) {
		char *dir = th_join(tmp, "gitproj"), *cfg, *text;
		char *git[] = {(char *)"/bin/sh", (char *)"-c",
			       (char *)"git init -q . && git add .cell.json && "
				       "git -c user.name=t -c user.email=t@t commit -qm c",
			       NULL};
		char *diff[] = {(char *)"/usr/bin/git", (char *)"diff", (char *)"--numstat", NULL};
		char *body[] = {(char *)"/usr/bin/git", (char *)"diff", (char *)"-U0", NULL};
		struct th_result r;

		th_rm_rf(dir);
		cfg = th_write(dir, ".cell.json", configs[i]);
		th_run(dir, git, envp, &r);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		th_result_done(&r);
		th_result_done((r = cell("gitproj", "allow", NULL), &r));
		r = cell("gitproj", "allow-host", "api.test:8443", NULL);
		cr_assert(eq(int, r.status, 0), "%s", r.err);
		th_result_done(&r);
		th_run(dir, diff, envp, &r);
		cr_assert(eq(str, r.out, "1\t0\t.cell.json\n"), "%s", r.out);
		th_result_done(&r);
		th_run(dir, body, envp, &r);
		cr_assert(contains(r.out, i == 0 ? "\n+      \"api.test:8443\",\n"
						 : "\n+\t\t\"allow\": [\"api.test:8443\"],\n"),
			  "%s", r.out);
		th_result_done(&r);
		text = th_read(cfg);
		cr_assert(eq(chr, text[strlen(text) - 1], '\n'));
		free(text);
		/* and what it wrote is allowed and in force */
		r = cell("gitproj", "explain", NULL);
		cr_assert(contains(r.out, "(trusted)"), "%s", r.out);
		cr_assert(contains(r.out, "api.test:8443"), "%s", r.out);
		th_result_done(&r);
		free(cfg);
		free(dir);
	}
}

/*
 * Every command of the table takes --help: its usage, what it does, and a line for each of its
 * options (every -X and --name its usage names starts a line of the help).
 */
Test(cli, every_command_of_the_table_explains_its_options)
{
	struct th_result list = cell(NULL, "help", "--complete", "commands", NULL);
	char *save = NULL, *lines = strdup(list.out);
	size_t n = 0;

	cr_assert(eq(int, list.status, 0), "%s", list.err);
	for (char *line = strtok_r(lines, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char verb[32], want[64], *usage, *end;
		struct th_result r;

		snprintf(verb, sizeof(verb), "%.*s", (int)strcspn(line, "\t"), line);
		r = cell(NULL, verb, "--help", NULL);
		cr_assert(eq(int, r.status, 0), "cell %s --help: %s", verb, r.err);
		snprintf(want, sizeof(want), "usage: cell %s", verb);
		cr_assert(eq(int, strncmp(r.out, want, strlen(want)), 0), "%s", r.out);
		usage = unwrapped(r.out);
		end = strchr(usage, '\n');
		cr_assert(not(eq(ptr, end, NULL)));
		*end = '\0';
		/* each option of the usage line: a word -X or --name (after [ or |), up to ] or =
		 */
		for (char *w_save = NULL, *w = strtok_r(usage, " ", &w_save); w;
		     w = strtok_r(NULL, " ", &w_save)) {
			char opt[40], first[48], later[48];

			w += strspn(w, "[(|");
			if (w[0] != '-' || streq(w, "--") || strlen(w) < 2)
				continue;
			snprintf(opt, sizeof(opt), "%.*s", (int)strcspn(w, "]|=)"), w);
			snprintf(first, sizeof(first), "\n  %s", opt);
			snprintf(later, sizeof(later), ", %s", opt);
			cr_assert(contains(r.out, first) || contains(r.out, later),
				  "cell %s --help has no line for %s:\n%s", verb, opt, r.out);
		}
		free(usage);
		th_result_done(&r);
		n++;
	}
	cr_assert(ge(sz, n, (size_t)25), "%s", list.out);
	free(lines);
	th_result_done(&list);
}

#ifdef __SANITIZE_ADDRESS__
#define THIS_BUILD_SANITIZE "SANITIZE=1"
#else
#define THIS_BUILD_SANITIZE "SANITIZE=0"
#endif

/* make install PREFIX=... puts everything under the prefix, pam_cell.so too; make uninstall
 * with the same variables takes back exactly that. (The build the tests run: nothing is
 * built.) */
Test(cli, install_stays_under_its_prefix_and_uninstall_takes_it_back)
{
	char *dest = th_join(tmp, "dest"), *script = NULL;
	char *sh[] = {(char *)"/bin/sh", (char *)"-c", NULL, NULL};
	struct th_result r;

	if (access("/usr/bin/make", X_OK) != 0)
		th_skip("no make (make deps)");
	cr_assert(ge(int,
		     asprintf(&script,
			      "set -e; m='make -s --no-print-directory -C %s BUILD=%s %s "
			      "PREFIX=/opt/cell-test DESTDIR=%s'; $m install >/dev/null; "
			      "find %s -type f | sort; echo @@uninstall; $m uninstall; "
			      "find %s -type f; test -d %s/opt/cell-test/libexec/cell || "
			      "echo libexec gone",
			      CELL_TEST_SRC, CELL_TEST_BUILD, THIS_BUILD_SANITIZE, dest, dest, dest,
			      dest),
		     0));
	sh[2] = script;
	th_run(NULL, sh, envp, &r);
	cr_assert(eq(int, r.status, 0), "%s%s", r.out, r.err);
	{
		char *want = NULL;

		cr_assert(
			ge(int,
			   asprintf(&want,
				    "%1$s/opt/cell-test/bin/cell\n"
				    "%1$s/opt/cell-test/lib/security/pam_cell.so\n"
				    "%1$s/opt/cell-test/libexec/cell/cell-init\n"
				    "%1$s/opt/cell-test/libexec/cell/cell-proxy\n"
				    "%1$s/opt/cell-test/libexec/cell/cell-session\n"
				    "%1$s/opt/cell-test/libexec/cell/libcellshim.so\n"
				    "%1$s/opt/cell-test/share/bash-completion/completions/cell\n"
				    "%1$s/opt/cell-test/share/fish/vendor_completions.d/cell.fish\n"
				    "%1$s/opt/cell-test/share/man/man1/cell.1\n"
				    "%1$s/opt/cell-test/share/man/man5/cell.json.5\n"
				    "%1$s/opt/cell-test/share/man/man8/pam_cell.8\n"
				    "%1$s/opt/cell-test/share/zsh/site-functions/_cell\n"
				    "@@uninstall\nlibexec gone\n",
				    dest),
			   0));
		cr_assert(eq(str, r.out, want), "%s", r.err);
		free(want);
	}
	th_result_done(&r);
	free(script);
	free(dest);
}

/* make demo checks what each step shows: a step that does not hold ends it, non-zero, naming
 * the step (here cell doctor says nothing of the machine: the first step). */
Test(cli, the_demo_fails_naming_a_step_that_does_not_hold)
{
	char *fake = th_write(tmp, "fake-cell",
			      "#!/bin/sh\n"
			      "[ \"$1\" = doctor ] && { echo 'cell 0 doctor'; exit 0; }\n"
			      "exec " CELL " \"$@\"\n");
	char *argv[] = {(char *)"/bin/bash", (char *)CELL_TEST_SRC "/examples/demo/demo.sh", fake,
			NULL};
	struct th_result r;

	cr_assert(eq(int, chmod(fake, 0755), 0));
	th_run(tmp, argv, envp, &r);
	cr_assert(eq(int, r.status, 1), "%s%s", r.out, r.err);
	cr_assert(contains(r.err, "make demo: the step \"What this machine offers\" did not hold: "
				  "the last command printed no line matching"),
		  "%s", r.err);
	th_result_done(&r);
	free(fake);
}

/* make test's last line says what its four runs say, and fails where one did not pass. */
Test(cli, make_tests_last_line_sums_up_its_runs)
{
	char *logs[4],
		*argv[8] = {(char *)"/usr/bin/python3", (char *)CELL_TEST_SRC "/tests/summary.py"};
	static const char *const says[4] = {
		"3 | Passing: 3 | Failing: 0", "5 | Passing: 5 | Failing: 0",
		"3 | Passing: 3 | Failing: 0", "5 | Passing: 4 | Failing: 1"};
	struct th_result r;

	for (int i = 0; i < 4; i++) {
		char name[16], *text = NULL;

		snprintf(name, sizeof(name), "log%d", i);
		cr_assert(
			ge(int,
			   asprintf(&text, "SKIP: x\n[====] Synthesis: Tested: %s | Crashing: 0 \n",
				    says[i]),
			   0));
		logs[i] = th_write(tmp, name, text);
		argv[2 + i] = logs[i];
		free(text);
	}
	th_run(NULL, argv, envp, &r);
	cr_assert(eq(int, r.status, 1));
	cr_assert(contains(r.err, "log3: 1 of 5 tests failed"), "%s", r.err);
	th_result_done(&r);
	free(th_write(tmp, "log3",
		      "[====] Synthesis: Tested: 5 | Passing: 5 | Failing: 0 | Crashing: 0 \n"));
	th_run(NULL, argv, envp, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(
		str, r.out,
		"make test: all 8 tests passed (3 unit, 5 integration), also under ASan+UBSan\n"));
	th_result_done(&r);
	for (int i = 0; i < 4; i++)
		free(logs[i]);
}

/* cell deny where there is no config says what cell run says; a mount whose source is missing
 * is named by its line and column, and cell explain still shows the rest, the mount marked. */
Test(cli, deny_without_a_config_and_a_missing_mount_source)
{
	char *cfg, want[512];
	struct th_result r = cell(NULL, "deny", NULL), run;

	run = cell(NULL, "run", "--allow-root", "--", "true", NULL);
	cr_assert(eq(int, r.status, 1), "%s", r.out);
	cr_assert(eq(str, r.err, run.err));
	cr_assert(contains(r.err, "no .cell.json in '"), "%s", r.err);
	th_result_done(&r);
	th_result_done(&run);
	cfg = th_write(
		tmp, "m/.cell.json",
		"{\n  \"name\": \"m\",\n  \"network\": {\"mode\": \"none\"},\n  \"mounts\": [\n"
		"    {\"path\": \"/nonexistent/data\", \"mode\": \"ro\"}\n  ]\n}\n");
	r = cell("m", "explain", NULL);
	cr_assert(eq(int, r.status, 2), "%s", r.err);
	snprintf(want, sizeof(want), "cell: %s:5:5: mounts[0]: '/nonexistent/data' does not exist",
		 cfg);
	cr_assert(contains(r.err, want), "%s", r.err);
	cr_assert(contains(r.out, "          ERROR: '/nonexistent/data' does not exist"), "%s",
		  r.out);
	/* the rest is there */
	cr_assert(contains(r.out, "\nenv:\n"), "%s", r.out);
	cr_assert(contains(r.out, "\nbwrap_args: (none)\n"), "%s", r.out);
	cr_assert(contains(r.err, "is not allowed; nothing above takes effect"), "%s", r.err);
	th_result_done(&r);
	free(cfg);
}

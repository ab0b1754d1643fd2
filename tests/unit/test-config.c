/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "netpolicy.h"
#include "preset.h"
#include "strv.h"
#include "suggest.h"

#define ROOT "/src/web"
#define FILE_ "/src/web/.cell.json"
#define USER_FILE "/home/u/.config/cell/config.json"

static const struct cell_config_env env = {"/home/u", "u", "/run/user/1000"};
static const struct cell_config_env env_no_runtime = {"/home/u", "u", NULL};

/* Applies the user config (or none) and the project config as the loader does. */
static int load2(const char *user, const char *json, const struct cell_config_env *e,
		 struct cell_config **ret, struct cell_diag *d)
{
	struct cell_config *c = NULL;
	int r;

	cr_assert(eq(int, cell_config_new(&c), 0));
	r = user ? cell_config_apply_user(c, USER_FILE, user, strlen(user), ROOT, e, d) : 0;
	if (r >= 0)
		r = cell_config_apply(c, FILE_, json, strlen(json), ROOT, e, d);
	if (r >= 0)
		r = cell_config_finish(c, ROOT, e, d);
	if (r < 0) {
		cell_config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static struct cell_config *load_ok(const char *json)
{
	struct cell_diag d = {0};
	struct cell_config *c = NULL;
	int r = load2(NULL, json, &env, &c, &d);

	cr_assert(eq(int, r, 0), "unexpected error: %s", d.message ? d.message : "?");
	cell_diag_clear(&d);
	return c;
}

/* Asserts that json is rejected with exactly this formatted message. */
static void expect_error_env(const char *user, const char *json, const struct cell_config_env *e,
			     const char *want)
{
	struct cell_diag d = {0};
	struct cell_config *c = NULL;
	char *got;
	int r = load2(user, json, e, &c, &d);

	cr_assert(eq(int, r, -EINVAL), "accepted: %s", json);
	got = cell_diag_format(&d);
	cr_assert(eq(str, got, (char *)want));
	free(got);
	cell_diag_clear(&d);
}

static void expect_error(const char *json, const char *want)
{
	expect_error_env(NULL, json, &env, want);
}

static const char full[] =
	"{\n"
	"  \"name\": \"webapp\",\n"
	"  \"presets\": [\"node\"],\n"
	"  \"shell\": \"/bin/bash\",\n"
	"  \"mounts\": [\n"
	"    {\"path\": \"/nix/store\", \"mode\": \"ro\", \"optional\": true},\n"
	"    {\"path\": \"~/.cargo\", \"mode\": \"state\"},\n"
	"    {\"path\": \"./target\", \"mode\": \"tmpfs\"},\n"
	"    {\"path\": \"$XDG_RUNTIME_DIR/podman/podman.sock\", \"dest\": \"/var/run/docker.sock\", "
	"\"mode\": \"rw\"},\n"
	"    {\"path\": \"~/src/shared-lib\", \"mode\": \"overlay\", \"canonicalize\": true}\n"
	"  ],\n"
	"  \"network\": {\n"
	"    \"mode\": \"proxy\",\n"
	"    \"allow\": [\"@npm\", \"github.com\", \"*.githubusercontent.com\", "
	"\"api.example.com:8443\"],\n"
	"    \"deny\": [\"telemetry.example.com\"],\n"
	"    \"local_ports\": [5432],\n"
	"    \"resolve\": {\"registry.test\": \"127.0.0.1\"}\n"
	"  },\n"
	"  \"env\": {\"pass\": [\"TERM\", \"EDITOR\"], \"set\": {\"NODE_ENV\": \"development\"}},\n"
	"  \"limits\": {\"memory\": \"4G\", \"pids\": 1024},\n"
	"  \"hardening\": {\"allow_userns\": false, \"allow_io_uring\": true}\n"
	"}\n";

Test(config, full_example_is_parsed_into_the_struct)
{
	struct cell_config *c = load_ok(full);

	cr_assert(eq(str, c->name, "webapp"));
	cr_assert(eq(str, c->shell, "/bin/bash"));
	cr_assert(eq(str, c->presets[0], "node"));
	cr_assert(eq(ptr, c->presets[1], NULL));

	/* the node preset's two mounts first, then the five of the file, in order */
	cr_assert(eq(sz, c->n_mounts, 7));
	cr_assert(eq(str, c->mounts[0].path, "/home/u/.npm"));
	cr_assert(eq(int, c->mounts[0].mode, CELL_MOUNT_STATE));
	cr_assert(eq(str, c->mounts[0].origin, "preset node"));
	cr_assert(eq(str, c->mounts[1].path, "/home/u/.nvm"));
	cr_assert(c->mounts[1].optional);
	cr_assert(eq(str, c->mounts[2].path, "/nix/store"));
	cr_assert(c->mounts[2].optional);
	cr_assert(eq(str, c->mounts[2].origin, FILE_ ": mounts[0]"));
	cr_assert(eq(str, c->mounts[3].path, "/home/u/.cargo"));
	cr_assert(eq(int, c->mounts[3].mode, CELL_MOUNT_STATE));
	cr_assert(eq(str, c->mounts[4].path, ROOT "/target"));
	cr_assert(eq(int, c->mounts[4].mode, CELL_MOUNT_TMPFS));
	cr_assert(eq(str, c->mounts[5].path, "/run/user/1000/podman/podman.sock"));
	cr_assert(eq(str, c->mounts[5].dest, "/var/run/docker.sock"));
	cr_assert(eq(int, c->mounts[5].mode, CELL_MOUNT_RW));
	cr_assert(eq(str, c->mounts[6].dest, "/home/u/src/shared-lib"));
	cr_assert(eq(int, c->mounts[6].mode, CELL_MOUNT_OVERLAY));
	cr_assert(c->mounts[6].canonicalize);

	cr_assert(eq(int, c->network.mode, CELL_NET_PROXY));
	cr_assert(eq(sz, c->network.n_allow, 5));
	cr_assert(eq(str, c->network.allow[0].text, "registry.npmjs.org"));
	cr_assert(eq(str, c->network.allow[0].origin, FILE_ ": network.allow[0] (@npm)"));
	cr_assert(eq(str, c->network.allow[1].text, "registry.yarnpkg.com"));
	cr_assert(eq(str, c->network.allow[2].text, "github.com"));
	cr_assert(eq(str, c->network.allow[3].text, "*.githubusercontent.com"));
	cr_assert(eq(str, c->network.allow[4].text, "api.example.com:8443"));
	cr_assert(eq(sz, c->network.n_deny, 1));
	cr_assert(eq(str, c->network.deny[0].text, "telemetry.example.com"));
	cr_assert(eq(sz, c->network.n_local_ports, 1));
	cr_assert(eq(u16, c->network.local_ports[0], 5432));
	cr_assert(eq(sz, c->network.n_resolve, 1));
	cr_assert(eq(str, c->network.resolve[0].key, "registry.test"));
	cr_assert(eq(str, c->network.resolve[0].value, "127.0.0.1"));

	cr_assert(eq(str, c->env.pass[0], "TERM"));
	cr_assert(eq(str, c->env.pass[1], "EDITOR"));
	cr_assert(eq(sz, c->env.n_set, 1));
	cr_assert(eq(str, c->env.set[0].key, "NODE_ENV"));
	cr_assert(eq(str, c->env.set[0].value, "development"));
	cr_assert(eq(u64, c->limits.memory, 4ULL << 30));
	cr_assert(eq(u32, c->limits.pids, 1024));
	cr_assert(not(c->hardening.allow_userns));
	cr_assert(c->hardening.allow_io_uring);
	cell_config_free(c);
}

Test(config, empty_object_gives_defaults)
{
	struct cell_config *c = load_ok("{}");

	cr_assert(eq(str, c->name, "web"));
	cr_assert(eq(ptr, c->shell, NULL));
	cr_assert(eq(int, c->network.mode, CELL_NET_PROXY));
	cr_assert(eq(sz, c->network.n_allow, 0));
	cr_assert(eq(sz, c->n_mounts, 0));
	cr_assert(eq(u64, c->limits.memory, 0));
	cr_assert(not(c->hardening.allow_userns));
	cell_config_free(c);
}

Test(config, syntax_error_names_line_and_column)
{
	expect_error("{\n  \"name\": \"web\",\n  \"network\": {\"allow\": [\"a.com\",]}\n}\n",
		     FILE_ ":3:33: syntax error: unexpected ']' after a trailing comma");
}

Test(config, syntax_error_at_end_of_file)
{
	expect_error("{\n  \"name\": \"web\"\n", FILE_
		     ":3:1: syntax error: unexpected end of file (is a '}', ']' or '\"' missing?)");
}

Test(config, syntax_error_comment_and_quotes)
{
	expect_error("{\"name\": \"web\" // mine\n}",
		     FILE_ ":1:16: syntax error: unexpected '/' (JSON has no comments)");
	expect_error("{'name': 'web'}",
		     FILE_ ":1:2: syntax error: unexpected \"'\" (JSON strings use double quotes)");
	expect_error(
		"{\"name\": \"web\n}", FILE_
		":1:14: syntax error: a control character inside a string (write it as an escape)");
	expect_error("{\"name\": \"web}",
		     FILE_ ":1:11: syntax error: a string is not closed (a '\"' is missing)");
	expect_error("{\"name\": \"web\"} trailing", FILE_ ":1:17: syntax error: unexpected 't'");
}

Test(config, syntax_error_columns_count_characters_not_bytes)
{
	expect_error("{\"name\": \"web\", \"env\": {\"set\": {\"X\": \"é\"}},}",
		     FILE_ ":1:44: syntax error: unexpected '}' after a trailing comma");
}

Test(config, empty_file_and_wrong_top_level)
{
	expect_error(" \n", FILE_ ": the file is empty; a config is a JSON object, at least {}");
	expect_error("[1]", FILE_ ":1:1: expected an object at the top level, got an array");
}

Test(config, wrong_type_names_the_json_path)
{
	expect_error("{\n  \"network\": {\n    \"allow\": [\"a.com\", \"b.com\", 3]\n  }\n}", FILE_
		     ":3:33: network.allow[2]: expected a string or a rule object, got a number");
	expect_error("{\"presets\": \"node\"}",
		     FILE_ ":1:13: presets: expected an array of preset names, got a string");
	expect_error("{\"hardening\": {\"allow_userns\": \"yes\"}}",
		     FILE_ ":1:32: hardening.allow_userns: expected true or false, got a string");
	expect_error(
		"{\"mounts\": [\"/opt\"]}", FILE_
		":1:13: mounts[0]: expected an object with \"path\" (and \"mode\", \"dest\", \"optional\", \"canonicalize\", \"ephemeral\"), got a string");
}

Test(config, bad_enum_lists_values_and_suggests)
{
	expect_error("{\"mounts\": [{}, {}, {}, {\"path\": \"/x\", \"mode\": \"rox\"}]}",
		     FILE_ ":1:13: mounts[0]: a mount needs \"path\"");
	expect_error(
		"{\"mounts\": [{\"path\": \"/a\"}, {\"path\": \"/b\"}, {\"path\": \"/c\"}, "
		"{\"path\": \"/x\", \"mode\": \"rox\"}]}",
		FILE_
		":1:84: mounts[3].mode: \"rox\" is not a mount mode (ro, rw, dev, tmpfs, overlay, state); did you mean \"ro\"?");
	expect_error(
		"{\"network\": {\"mode\": \"proxi\"}}", FILE_
		":1:22: network.mode: \"proxi\" is not a network mode (proxy, none, host); did you mean \"proxy\"?");
	expect_error("{\"network\": {\"mode\": \"open\"}}", FILE_
		     ":1:22: network.mode: \"open\" is not a network mode (proxy, none, host)");
}

Test(config, unknown_key_suggests_or_lists)
{
	expect_error("{\n  \"name\": \"web\",\n  \"netwrk\": {}\n}",
		     FILE_ ":3:3: netwrk: unknown key; did you mean \"network\"?");
	expect_error("{\"network\": {\"alow\": []}}",
		     FILE_ ":1:14: network.alow: unknown key; did you mean \"allow\"?");
	expect_error(
		"{\"colour\": 1}", FILE_
		":1:2: colour: unknown key (known keys here: name, presets, shell, mounts, network, env, limits, hardening, scripts, hooks, bwrap_args, processes, secrets)");
}

Test(config, duplicate_key_is_an_error)
{
	expect_error("{\"name\": \"web\", \"name\": \"api\"}",
		     FILE_ ":1:17: name: duplicate key; each key may appear once");
	expect_error("{\"env\": {\"set\": {\"A\": \"1\", \"A\": \"2\"}}}",
		     FILE_ ":1:28: env.set.A: duplicate key; each key may appear once");
}

Test(config, bad_ports)
{
	expect_error("{\"network\": {\"local_ports\": [5432, 70000]}}",
		     FILE_ ":1:36: network.local_ports[1]: 70000 is not a port (1..65535)");
	expect_error("{\"network\": {\"local_ports\": [0]}}",
		     FILE_ ":1:30: network.local_ports[0]: 0 is not a port (1..65535)");
	expect_error("{\"network\": {\"local_ports\": [80.5]}}",
		     FILE_ ":1:30: network.local_ports[0]: 80.5 is not a port (1..65535)");
	expect_error("{\"network\": {\"local_ports\": [\"5432\"]}}",
		     FILE_ ":1:30: network.local_ports[0]: expected an integer, got a string");
	expect_error(
		"{\"network\": {\"allow\": [\"a.com:0\"]}}", FILE_
		":1:24: network.allow[0]: \"a.com:0\" is not a host rule: the port is not a number from 1 to 65535");
}

Test(config, unknown_variable_is_named)
{
	expect_error(
		"{\"mounts\": [{\"path\": \"$FOO/x\"}]}", FILE_
		":1:22: mounts[0].path: \"$FOO/x\": unknown variable $FOO (only ~, $HOME, $USER, $XDG_RUNTIME_DIR and a leading ./ expand)");
	expect_error(
		"{\"mounts\": [{\"path\": \"/x\", \"dest\": \"${PWD}/y\"}]}", FILE_
		":1:36: mounts[0].dest: \"${PWD}/y\": unknown variable $PWD (only ~, $HOME, $USER, $XDG_RUNTIME_DIR and a leading ./ expand)");
}

Test(config, paths_expand_and_normalise)
{
	struct cell_config *c = load_ok(
		"{\"mounts\": [{\"path\": \"./../common\"}, {\"path\": \"${HOME}/a//b/./c/\"}, "
		"{\"path\": \"/home/$USER/x\"}, {\"path\": \".\"}, {\"path\": \"~\"}]}");

	cr_assert(eq(str, c->mounts[0].path, "/src/common"));
	cr_assert(eq(str, c->mounts[1].path, "/home/u/a/b/c"));
	cr_assert(eq(str, c->mounts[2].path, "/home/u/x"));
	cr_assert(eq(str, c->mounts[3].path, ROOT));
	cr_assert(eq(str, c->mounts[4].path, "/home/u"));
	cell_config_free(c);
}

Test(config, relative_and_tilde_user_paths_are_errors)
{
	expect_error(
		"{\"mounts\": [{\"path\": \"target\"}]}", FILE_
		":1:22: mounts[0].path: \"target\": a relative path; start it with ./ for a path in the project, ~/ for one in your home, or /");
	expect_error(
		"{\"mounts\": [{\"path\": \"~root/x\"}]}", FILE_
		":1:22: mounts[0].path: \"~root/x\": ~user is not supported (only ~, $HOME, $USER, $XDG_RUNTIME_DIR and a leading ./ expand)");
}

Test(config, unset_variable_skips_an_optional_mount_only)
{
	struct cell_config *c = NULL;
	struct cell_diag d = {0};

	cr_assert(eq(int,
		     load2(NULL,
			   "{\"mounts\": [{\"path\": \"$XDG_RUNTIME_DIR/s\", \"optional\": true}, "
			   "{\"path\": \"/opt\"}]}",
			   &env_no_runtime, &c, &d),
		     0));
	cr_assert(eq(sz, c->n_mounts, 1));
	cr_assert(eq(str, c->mounts[0].path, "/opt"));
	cell_config_free(c);
	expect_error_env(
		NULL, "{\"mounts\": [{\"path\": \"$XDG_RUNTIME_DIR/s\"}]}", &env_no_runtime,
		FILE_ ":1:22: mounts[0].path: \"$XDG_RUNTIME_DIR/s\": $XDG_RUNTIME_DIR is not set");
}

Test(config, user_config_merges_under_project)
{
	const char *user =
		"{\"name\": \"mine\", \"network\": {\"mode\": \"none\", "
		"\"allow\": [\"pypi.org\", \"github.com\"], \"local_ports\": [8080], "
		"\"resolve\": {\"a.test\": \"10.0.0.1\", \"b.test\": \"10.0.0.2\"}}, "
		"\"env\": {\"pass\": [\"LC_*\"], \"set\": {\"A\": \"user\", \"B\": \"user\"}}, "
		"\"mounts\": [{\"path\": \"/opt\"}], \"limits\": {\"pids\": 10}, "
		"\"hardening\": {\"allow_userns\": true}}";
	const char *project =
		"{\"name\": \"web\", \"network\": {\"mode\": \"proxy\", "
		"\"allow\": [\"GitHub.com.\", \"crates.io\"], \"local_ports\": [5432, 8080], "
		"\"resolve\": {\"b.test\": \"::1\"}}, "
		"\"env\": {\"pass\": [\"EDITOR\"], \"set\": {\"B\": \"project\"}}, "
		"\"mounts\": [{\"path\": \"/srv\"}]}";
	struct cell_config *c = NULL;
	struct cell_diag d = {0};

	cr_assert(eq(int, load2(user, project, &env, &c, &d), 0));
	/* scalars: the project wins where it speaks, the user's stay where it is silent */
	cr_assert(eq(str, c->name, "web"));
	cr_assert(eq(int, c->network.mode, CELL_NET_PROXY));
	cr_assert(eq(u32, c->limits.pids, 10));
	cr_assert(c->hardening.allow_userns);
	/* lists: user first, then project, without duplicates (after normalisation) */
	cr_assert(eq(sz, c->network.n_allow, 3));
	cr_assert(eq(str, c->network.allow[0].text, "pypi.org"));
	cr_assert(eq(str, c->network.allow[0].origin, USER_FILE ": network.allow[0]"));
	cr_assert(eq(str, c->network.allow[1].text, "github.com"));
	cr_assert(eq(str, c->network.allow[2].text, "crates.io"));
	cr_assert(eq(sz, c->network.n_local_ports, 2));
	cr_assert(eq(u16, c->network.local_ports[0], 8080));
	cr_assert(eq(u16, c->network.local_ports[1], 5432));
	cr_assert(eq(str, c->env.pass[0], "LC_*"));
	cr_assert(eq(str, c->env.pass[1], "EDITOR"));
	cr_assert(eq(sz, c->n_mounts, 2));
	cr_assert(eq(str, c->mounts[0].path, "/opt"));
	cr_assert(eq(str, c->mounts[1].path, "/srv"));
	/* maps: merged by key, the project's value wins */
	cr_assert(eq(sz, c->network.n_resolve, 2));
	cr_assert(eq(str, c->network.resolve[1].key, "b.test"));
	cr_assert(eq(str, c->network.resolve[1].value, "::1"));
	cr_assert(eq(sz, c->env.n_set, 2));
	cr_assert(eq(str, c->env.set[0].value, "user"));
	cr_assert(eq(str, c->env.set[1].value, "project"));
	cell_config_free(c);
}

Test(config, error_in_user_config_names_the_user_file)
{
	expect_error_env("{\"network\": {\"mode\": 1}}", "{}", &env,
			 USER_FILE ":1:22: network.mode: expected a string, got a number");
}

Test(config, presets_expand_to_rules_and_mounts)
{
	struct cell_config *c = load_ok("{\"presets\": [\"rust\", \"github\"]}");
	bool crates = false, github = false;

	for (size_t i = 0; i < c->network.n_allow; i++) {
		if (streq(c->network.allow[i].text, "crates.io")) {
			crates = true;
			cr_assert(eq(str, c->network.allow[i].origin, "preset rust (@crates)"));
		}
		github = github || streq(c->network.allow[i].text, "codeload.github.com");
	}
	cr_assert(crates);
	cr_assert(github);
	cr_assert(eq(str, c->mounts[0].path, "/home/u/.cargo/registry"));
	cr_assert(eq(int, c->mounts[0].mode, CELL_MOUNT_STATE));
	cr_assert(eq(str, c->mounts[2].path, "/home/u/.cargo/bin"));
	cr_assert(eq(int, c->mounts[2].mode, CELL_MOUNT_RO));
	cell_config_free(c);
}

Test(config, every_preset_loads_and_every_preset_host_is_a_rule)
{
	size_t n, nn;
	const struct cell_preset *p = cell_presets(&n);
	const struct cell_netpreset *np = cell_netpresets(&nn);

	for (size_t i = 0; i < n; i++) {
		char json[128];
		struct cell_config *c;

		snprintf(json, sizeof(json), "{\"presets\": [\"%s\"]}", p[i].name);
		c = load_ok(json);
		cr_assert(gt(sz, c->network.n_allow, 0), "preset %s allows nothing", p[i].name);
		cell_config_free(c);
	}
	for (size_t i = 0; i < nn; i++) {
		for (const char *const *h = np[i].hosts; h && *h; h++) {
			struct cell_netrule rule;
			const char *why;

			cr_assert(eq(int, cell_netrule_parse(*h, &rule, &why), 0), "%s", *h);
			cr_assert(eq(int, rule.kind, CELL_NETRULE_HOST));
		}
		/* a request preset's hosts are names (their certificates are made for them) */
		for (const struct cell_netpreset_rule *r = np[i].rules; r && r->host; r++) {
			struct cell_netrule rule;
			const char *why;

			cr_assert(eq(int, cell_netrule_parse(r->host, &rule, &why), 0), "%s",
				  r->host);
			cr_assert(rule.kind == CELL_NETRULE_HOST ||
				  rule.kind == CELL_NETRULE_SUFFIX);
		}
	}
}

Test(config, unknown_presets_suggest)
{
	expect_error(
		"{\"presets\": [\"node\", \"pyton\"]}", FILE_
		":1:22: presets[1]: \"pyton\" is not a preset (node, python, rust, go, nix, nix-daemon, github); did you mean \"python\"?");
	expect_error(
		"{\"network\": {\"allow\": [\"@npmm\"]}}", FILE_
		":1:24: network.allow[0]: \"@npmm\" is not a host preset (@npm, @pypi, @crates, @go, @nix, @github, @github-read, @npm-install); did you mean \"@npm\"?");
	expect_error(
		"{\"network\": {\"deny\": [\"@ads\"]}}", FILE_
		":1:23: network.deny[0]: \"@ads\" is not a host preset (@npm, @pypi, @crates, @go, @nix, @github, @github-read, @npm-install)");
}

Test(config, bad_host_rules_say_why)
{
	expect_error(
		"{\"network\": {\"allow\": [\"https://x.com/\"]}}", FILE_
		":1:24: network.allow[0]: \"https://x.com/\" is not a host rule: it is a URL; write the host name only (\"example.com\")");
	expect_error(
		"{\"network\": {\"allow\": [\"*.com\"]}}", FILE_
		":1:24: network.allow[0]: \"*.com\" is not a host rule: \"*.\" needs a domain below a top-level domain (\"*.example.com\", not \"*.com\")");
	expect_error(
		"{\"network\": {\"allow\": [\"*\"]}}", FILE_
		":1:24: network.allow[0]: \"*\" is not a host rule: a lone \"*\" would allow every host; set network.mode to \"host\" to turn filtering off");
	expect_error(
		"{\"network\": {\"resolve\": {\"a.test\": \"localhost\"}}}", FILE_
		":1:36: network.resolve[\"a.test\"]: \"localhost\" is not an IPv4 or IPv6 address");
}

Test(config, names_sizes_and_env)
{
	struct cell_config *c = load_ok(
		"{\"name\": \"my.app_2-x\", \"limits\": {\"memory\": \"1.5G\", \"pids\": 1}}");

	cr_assert(eq(str, c->name, "my.app_2-x"));
	cr_assert(eq(u64, c->limits.memory, 3ULL << 29));
	cell_config_free(c);
	c = load_ok("{\"limits\": {\"memory\": 1048576}}");
	cr_assert(eq(u64, c->limits.memory, 1048576));
	cell_config_free(c);
	c = load_ok("{\"limits\": {\"memory\": \"512MiB\"}}");
	cr_assert(eq(u64, c->limits.memory, 512ULL << 20));
	cell_config_free(c);
	c = load_ok("{\"limits\": {\"cpu\": \"2\"}}");
	cr_assert(eq(u32, c->limits.cpu, 2000));
	cell_config_free(c);
	c = load_ok("{\"limits\": {\"cpu\": \"50%\"}}");
	cr_assert(eq(u32, c->limits.cpu, 500));
	cell_config_free(c);
	c = load_ok("{\"limits\": {\"cpu\": 1.5}}");
	cr_assert(eq(u32, c->limits.cpu, 1500));
	cell_config_free(c);
	expect_error(
		"{\"limits\": {\"cpu\": \"two\"}}", FILE_
		":1:20: limits.cpu: \"two\" is not a number of CPUs (\"2\", \"0.5\") or a percentage of one (\"50%\")");
	expect_error(
		"{\"limits\": {\"cpu\": \"0.1%\"}}", FILE_
		":1:20: limits.cpu: \"0.1%\" is outside 1% (\"0.01\") to 1024 CPUs, or finer than a thousandth of one");
	expect_error("{\"limits\": {\"cpu\": 0}}", FILE_
		     ":1:20: limits.cpu: 0 is not a number of CPUs (0.01..1024, to a thousandth)");

	expect_error(
		"{\"name\": \"-web\"}", FILE_
		":1:10: name: \"-web\" is not a cell name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)");
	expect_error(
		"{\"limits\": {\"memory\": \"4 gigs\"}}", FILE_
		":1:23: limits.memory: \"4 gigs\" is not a size (a number with K, M, G or T: \"512M\", \"4G\")");
	expect_error("{\"limits\": {\"memory\": \"1K\"}}",
		     FILE_ ":1:23: limits.memory: \"1K\" is less than the smallest limit, 1M");
	expect_error("{\"limits\": {\"pids\": 0}}",
		     FILE_ ":1:21: limits.pids: 0 is not a number of processes (1..4194304)");
	expect_error("{\"env\": {\"set\": {\"CELL_NAME\": \"x\"}}}",
		     FILE_ ":1:18: env.set.CELL_NAME: CELL_* variables are set by cell itself");
	expect_error(
		"{\"env\": {\"pass\": [\"A-B\"]}}", FILE_
		":1:19: env.pass[0]: \"A-B\" is not a variable name (letters, digits and '_', not starting with a digit; a final '*' matches a prefix)");
	expect_error("{\"shell\": \"bash\"}",
		     FILE_ ":1:11: shell: \"bash\" is not an absolute path (\"/bin/bash\")");
}

Test(config, nul_byte_and_bom)
{
	struct cell_config *c = NULL;
	struct cell_diag d = {0};
	const char bom[] = "\xEF\xBB\xBF{\"name\": \"bom\"}";
	const char nul[] = "{\"name\": \"a\0b\"}";

	cr_assert(eq(int, cell_config_new(&c), 0));
	cr_assert(eq(int, cell_config_apply(c, FILE_, bom, sizeof(bom) - 1, ROOT, &env, &d), 0));
	cr_assert(eq(str, c->name, "bom"));
	cr_assert(eq(int, cell_config_apply(c, FILE_, nul, sizeof(nul) - 1, ROOT, &env, &d),
		     -EINVAL));
	cr_assert(eq(str, d.message, "the file contains a NUL byte"));
	cr_assert(eq(u32, d.line, 1));
	cr_assert(eq(u32, d.column, 12));
	cell_diag_clear(&d);
	cell_config_free(c);
}

Test(config, suggest_only_close_words)
{
	static const char *const words[] = {"allow", "deny", "mode", "local_ports"};

	cr_assert(eq(str, (char *)cell_suggest("alow", words, 4), "allow"));
	cr_assert(eq(str, (char *)cell_suggest("Mode", words, 4), "mode"));
	cr_assert(eq(str, (char *)cell_suggest("local_port", words, 4), "local_ports"));
	cr_assert(eq(ptr, (void *)cell_suggest("x", words, 4), NULL));
	cr_assert(eq(ptr, (void *)cell_suggest("colour", words, 4), NULL));
}

Test(config, control_characters_and_nul_escapes_are_refused)
{
	/* a config must not be able to rewrite the terminal of the user reviewing it */
	expect_error("{\"name\": \"a\\u001b[2Kb\"}",
		     FILE_ ":1:10: name: a string holds a control character");
	expect_error("{\"env\": {\"set\": {\"A\\tB\": \"x\"}}}",
		     FILE_ ":1:18: env.set[\"A\\u0009B\"]: a key holds a control character");
	/* cJSON would cut the string at the NUL: "github.com" would be allowed */
	expect_error(
		"{\"network\": {\"allow\": [\"github.com\\u0000.evil.com\"]}}", FILE_
		":1:35: syntax error: \"\\u0000\" would cut the string short; it is not allowed");
	/* cJSON takes any byte up to 0x20 as white space; JSON does not */
	expect_error("{\"name\": \"a\"\v}",
		     FILE_ ":1:13: syntax error: a control character outside a string");
}

Test(config, keys_that_are_not_identifiers_are_quoted_in_paths)
{
	expect_error(
		"{\"network\": {\"resolve\": {\"ok.com\": 1}}}", FILE_
		":1:36: network.resolve[\"ok.com\"]: expected an IP address as a string, got a number");
}

Test(config, sizes_are_parsed_strictly)
{
	expect_error(
		"{\"limits\": {\"memory\": \"0x100000\"}}", FILE_
		":1:23: limits.memory: \"0x100000\" is not a size (a number with K, M, G or T: \"512M\", \"4G\")");
	expect_error(
		"{\"limits\": {\"memory\": \"1e6M\"}}", FILE_
		":1:23: limits.memory: \"1e6M\" is not a size (a number with K, M, G or T: \"512M\", \"4G\")");
	expect_error(
		"{\"limits\": {\"memory\": \"9007199254740993\"}}", FILE_
		":1:23: limits.memory: \"9007199254740993\" is not a size (a number with K, M, G or T: \"512M\", \"4G\")");
	expect_error(
		"{\"limits\": {\"memory\": 1e400}}", FILE_
		":1:23: limits.memory: inf is not a size in bytes (1048576..9007199254740992)");
}

Test(config, lists_are_capped)
{
	size_t n = 1025, len = 0;
	char *json = malloc(n * 8 + 64);
	char want[128];

	len += (size_t)sprintf(json, "{\"network\": {\"local_ports\": [");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(json + len, "%s%zu", i ? "," : "", i + 1);
	strcpy(json + len, "]}}");
	snprintf(want, sizeof(want),
		 FILE_ ":1:29: network.local_ports: has 1025 entries; at most 1024 are allowed");
	expect_error(json, want);
	free(json);
}

Test(config, identical_mounts_from_user_and_project_are_one)
{
	const char *m =
		"{\"mounts\": [{\"path\": \"/opt\", \"optional\": true}], \"presets\": [\"node\"]}";
	struct cell_config *c = NULL;
	struct cell_diag d = {0};

	cr_assert(eq(int,
		     load2(m,
			   "{\"mounts\": [{\"path\": \"/opt\", \"optional\": true}, "
			   "{\"path\": \"~/.npm\", \"mode\": \"state\"}]}",
			   &env, &c, &d),
		     0));
	/* /opt once; ~/.npm once (the project's, the preset's identical one dropped) */
	cr_assert(eq(sz, c->n_mounts, 3));
	cr_assert(eq(str, c->mounts[0].path, "/home/u/.nvm"));
	cr_assert(eq(str, c->mounts[1].path, "/opt"));
	cr_assert(eq(str, c->mounts[2].path, "/home/u/.npm"));
	cr_assert(eq(str, c->mounts[2].origin, FILE_ ": mounts[1]"));
	cell_config_free(c);
}

Test(config, byte_order_mark_takes_no_column)
{
	expect_error("\xEF\xBB\xBF{\"nam\": 1}",
		     FILE_ ":1:2: nam: unknown key; did you mean \"name\"?");
}

Test(config, env_files_scripts_and_hooks)
{
	struct cell_config *c =
		load_ok("{\"env\": {\"files\": [\"./.env\", \"config/dev.env\", \".env\"]},"
			" \"scripts\": {\"test\": \"pytest -q\", \"fmt.all\": \"ruff format .\"},"
			" \"hooks\": {\"enter\": [\"echo ready\", \"export A=1\"]}}");

	cr_assert(eq(str, c->env.files[0], (char *)".env"));
	cr_assert(eq(str, c->env.files[1], (char *)"config/dev.env"));
	cr_assert(eq(ptr, c->env.files[2], NULL));
	cr_assert(eq(sz, c->n_scripts, 2));
	cr_assert(eq(str, c->scripts[1].key, (char *)"fmt.all"));
	cr_assert(eq(str, c->hooks.enter[1], (char *)"export A=1"));
	/* a provider only when asked for (it evaluates the project's files outside the cell) */
	cr_assert(eq(int, c->env.provider, CELL_PROVIDER_NONE));
	cell_config_free(c);
	c = load_ok("{\"env\": {\"provider\": \"auto\", \"required\": true}}");
	cr_assert(eq(int, c->env.provider, CELL_PROVIDER_AUTO));
	cr_assert(c->env.required);
	cell_config_free(c);
	expect_error("{\"env\": {\"provider\": \"nixx\"}}",
		     FILE_ ":1:22: env.provider: \"nixx\" is not an environment provider (auto, "
			   "devenv, nix, direnv, mise, none); did you mean \"nix\"?");

	expect_error("{\"env\": {\"files\": [\"../secrets.env\"]}}",
		     FILE_ ":1:20: env.files[0]: \"../secrets.env\" is not a path in the project "
			   "(relative to its root, without \"..\")");
	expect_error("{\"env\": {\"files\": [\"/home/u/.env\"]}}",
		     FILE_ ":1:20: env.files[0]: \"/home/u/.env\" is not a path in the project "
			   "(relative to its root, without \"..\")");
	expect_error("{\"env\": {\"files\": [\"a/../../b\"]}}",
		     FILE_ ":1:20: env.files[0]: \"a/../../b\" is not a path in the project "
			   "(relative to its root, without \"..\")");
	expect_error("{\"scripts\": {\"../x\": \"true\"}}", FILE_
		     ":1:14: scripts[\"../x\"]: \"../x\" is not a script name (1 to 64 of letters, "
		     "digits, '.', '_' and '-', not starting with '.' or '-')");
	expect_error("{\"scripts\": {\"t\": \"\"}}",
		     FILE_ ":1:19: scripts.t: a script needs a command");
	expect_error("{\"scripts\": {\"t\": [\"a\"]}}",
		     FILE_ ":1:19: scripts.t: expected a shell command, got an array");
	expect_error("{\"hooks\": {\"enter\": \"echo\"}}",
		     FILE_ ":1:21: hooks.enter: expected an array of shell commands, got a string");
}

Test(config, processes_are_parsed_with_their_defaults)
{
	struct cell_config *c =
		load_ok("{\"processes\": {\n"
			"  \"web\": {\"exec\": \"npm run dev\", \"ready\": {\"port\": 3000}, "
			"\"depends_on\": [\"db\", \"db\"]},\n"
			"  \"db\": {\"exec\": \"postgres -D pg\", \"restart\": \"on-failure\", "
			"\"ready\": {\"command\": \"pg_isready\"}},\n"
			"  \"jobs\": {\"exec\": \"make worker\", \"restart\": \"always\"}\n"
			"}}");
	const struct cell_process *web = cell_config_process(c, "web");
	const struct cell_process *db = cell_config_process(c, "db");
	const struct cell_process *jobs = cell_config_process(c, "jobs");

	cr_assert(eq(sz, c->n_processes, 3));
	cr_assert(web && db && jobs);
	cr_assert(eq(str, web->exec, "npm run dev"));
	cr_assert(eq(u16, web->ready_port, 3000));
	cr_assert(eq(ptr, web->ready_command, NULL));
	cr_assert(eq(int, (int)web->restart, CELL_RESTART_NO));
	/* a repeated dependency counts once */
	cr_assert(eq(sz, cell_strv_length(web->depends_on), 1));
	cr_assert(eq(str, web->depends_on[0], "db"));
	cr_assert(eq(str, db->ready_command, "pg_isready"));
	cr_assert(eq(int, (int)db->restart, CELL_RESTART_ON_FAILURE));
	cr_assert(eq(int, (int)jobs->restart, CELL_RESTART_ALWAYS));
	cr_assert(eq(ptr, (void *)cell_config_process(c, "nope"), NULL));
	cell_config_free(c);
}

Test(config, a_project_process_replaces_the_user_configs_of_that_name)
{
	struct cell_diag d = {0};
	struct cell_config *c = NULL;

	cr_assert(eq(int,
		     load2("{\"processes\": {\"db\": {\"exec\": \"a\", \"restart\": \"always\"}, "
			   "\"x\": {\"exec\": \"b\"}}}",
			   "{\"processes\": {\"db\": {\"exec\": \"c\", \"depends_on\": [\"x\"]}}}",
			   &env, &c, &d),
		     0));
	cr_assert(eq(sz, c->n_processes, 2));
	cr_assert(eq(str, cell_config_process(c, "db")->exec, "c"));
	cr_assert(eq(int, (int)cell_config_process(c, "db")->restart, CELL_RESTART_NO));
	cell_config_free(c);
}

Test(config, bad_processes_name_the_json_path)
{
	expect_error("{\"processes\": {\"web\": {}}}",
		     FILE_ ":1:23: processes.web: a process needs \"exec\": the command it runs");
	expect_error("{\"processes\": {\"-x\": {\"exec\": \"a\"}}}", FILE_
		     ":1:16: processes[\"-x\"]: \"-x\" is not a process name (1 to 32 of letters, "
		     "digits, '.', '_' and '-', starting with a letter or digit)");
	expect_error("{\"processes\": {\"w\": {\"exec\": \"a\", \"restart\": \"sometimes\"}}}",
		     FILE_ ":1:46: processes.w.restart: \"sometimes\" is not a restart policy (no, "
			   "on-failure, always)");
	expect_error("{\"processes\": {\"w\": {\"exec\": \"a\", \"ready\": {\"port\": 0}}}}",
		     FILE_ ":1:53: processes.w.ready.port: 0 is not a port (1..65535)");
	expect_error("{\"processes\": {\"w\": {\"exec\": \"a\", \"ready\": {}}}}",
		     FILE_ ":1:44: processes.w.ready: ready needs a port or a command");
	expect_error(
		"{\"processes\": {\"w\": {\"exec\": \"a\", \"ready\": {\"port\": 1, \"command\": \"x\"}}}}",
		FILE_ ":1:44: processes.w.ready: ready is a port or a command, not both");
	expect_error("{\"processes\": {\"w\": {\"exec\": \"a\", \"depends_on\": [\"db\"]}}}",
		     FILE_ ":1:50: processes.w.depends_on[0]: no process is named \"db\"");
	expect_error("{\"processes\": {\"w\": {\"exec\": \"a\", \"depends_on\": [\"w\"]}}}",
		     FILE_ ":1:50: processes.w.depends_on[0]: a process cannot wait for itself");
	expect_error("{\"processes\": {\"a\": {\"exec\": \"x\", \"depends_on\": [\"b\"]},\n"
		     "               \"b\": {\"exec\": \"x\", \"depends_on\": [\"a\"]}}}",
		     FILE_ ":1:15: processes: process \"a\" waits for itself through its "
			   "depends_on: no order can start them");
}

/* Each of 32 processes waits for every one before it: checked for cycles in a walk that visits
 * each once (one that followed every path took 44 s on this, for any command that reads the
 * config: the hook's cd, cell explain reviewing it). */
Test(config, many_dependencies_are_checked_at_once, .timeout = 20)
{
	char *json = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&json, &len);
	struct cell_config *c;

	fputs("{\"processes\": {", f);
	for (int i = 0; i < 32; i++) {
		fprintf(f, "%s\"p%030d\": {\"exec\": \"x\", \"depends_on\": [", i ? ", " : "", i);
		for (int k = 0; k < i; k++)
			fprintf(f, "%s\"p%030d\"", k ? ", " : "", k);
		fputs("]}", f);
	}
	fputs("}}", f);
	cr_assert(eq(int, fclose(f), 0));
	c = load_ok(json);
	cr_assert(eq(sz, c->n_processes, 32));
	cell_config_free(c);
	free(json);
}

Test(config, network_isolation_and_forward)
{
	struct cell_config *c = load_ok("{\"network\": {\"isolation\": \"netns\", "
					"\"forward\": [3000, \"8080:80\"]}}");

	cr_assert(eq(int, c->network.isolation, CELL_ISOLATION_NETNS));
	cr_assert(eq(sz, c->network.n_forward, 2));
	cr_assert(eq(u16, c->network.forward[0].host_port, 3000));
	cr_assert(eq(u16, c->network.forward[0].cell_port, 3000));
	cr_assert(eq(u16, c->network.forward[1].host_port, 8080));
	cr_assert(eq(u16, c->network.forward[1].cell_port, 80));
	cell_config_free(c);
	c = load_ok("{}");
	cr_assert(eq(int, c->network.isolation, CELL_ISOLATION_AUTO));
	cr_assert(eq(sz, c->network.n_forward, 0));
	cell_config_free(c);
	expect_error("{\"network\": {\"isolation\": \"netn\"}}",
		     FILE_ ":1:27: network.isolation: \"netn\" is not an isolation (auto, bpf, "
			   "netns); did you mean \"netns\"?");
	expect_error("{\"network\": {\"forward\": [\"8080:\"]}}",
		     FILE_ ":1:26: network.forward[0]: \"8080:\" is not HOSTPORT:CELLPORT (ports "
			   "1-65535, as in \"8080:8000\")");
	expect_error("{\"network\": {\"forward\": [\"8080:80x\"]}}", FILE_
		     ":1:26: network.forward[0]: \"8080:80x\" is not HOSTPORT:CELLPORT (ports "
		     "1-65535, as in \"8080:8000\")");
	expect_error("{\"network\": {\"forward\": [\"70000:80\"]}}", FILE_
		     ":1:26: network.forward[0]: \"70000:80\" is not HOSTPORT:CELLPORT (ports "
		     "1-65535, as in \"8080:8000\")");
	expect_error("{\"network\": {\"forward\": [0]}}",
		     FILE_ ":1:26: network.forward[0]: 0 is not a port or \"HOSTPORT:CELLPORT\" "
			   "(1..65535)");
	expect_error("{\"network\": {\"forward\": [3000, \"3000:80\"]}}",
		     FILE_ ":1:32: network.forward[1]: the host's port 3000 is forwarded already");
	expect_error("{\"network\": {\"forward\": 3000}}",
		     FILE_ ":1:25: network.forward: expected an array of ports and "
			   "\"HOSTPORT:CELLPORT\" strings, got a number");
}

/* Which proxy the user's traffic goes through is the user's to say, never a project's. */
Test(config, upstream_proxy_is_the_users_alone)
{
	struct cell_diag d = {0};
	struct cell_config *c = NULL;

	cr_assert(eq(int,
		     load2("{\"network\": {\"upstream_proxy\": \"http://proxy.corp:8080\", "
			   "\"upstream_no_proxy\": [\".corp\", \"10.1.2.3\"]}}",
			   "{}", &env, &c, &d),
		     0),
		  "%s", d.message ? d.message : "?");
	cr_assert(eq(str, c->network.upstream_proxy, "http://proxy.corp:8080"));
	cr_assert(eq(str, c->network.upstream_no_proxy[1], "10.1.2.3"));
	cr_assert(c->network.upstream_no_proxy_set);
	cell_config_free(c);
	expect_error("{\"network\": {\"upstream_proxy\": \"http://evil.example:8080\"}}",
		     FILE_ ":1:14: network.upstream_proxy: belongs in your own config "
			   "(~/.config/cell/config.json): a project does not choose which proxy "
			   "your traffic goes through");
	expect_error_env("{\"network\": {\"upstream_proxy\": \"https://p:443\"}}", "{}", &env,
			 USER_FILE ":1:32: network.upstream_proxy: \"https://p:443\" is not "
				   "\"http://HOST:PORT\" or \"none\": only http:// proxies are "
				   "supported");
}

Test(config, allow_rule_objects_read_methods_paths_and_inspect)
{
	struct cell_config *c =
		load_ok("{\"network\": {\"allow\": [\"github.com\", {\"host\": \"API.github.com\", "
			"\"inspect\": true, \"methods\": [\"GET\", \"HEAD\", \"GET\"], \"paths\": "
			"[\"/repos/acme/*\"]}, {\"host\": \"github.com\"}]}}");

	/* the plain object is the string rule again: once */
	cr_assert(eq(sz, c->network.n_allow, 2));
	cr_assert(eq(str, c->network.allow[1].text, "api.github.com"));
	cr_assert(c->network.allow[1].inspect);
	cr_assert(eq(sz, cell_strv_length(c->network.allow[1].methods), 2));
	cr_assert(eq(str, c->network.allow[1].paths[0], "/repos/acme/*"));
	cr_assert(not(c->network.allow[0].inspect));
	cell_config_free(c);
}

Test(config, allow_rule_objects_are_checked)
{
	expect_error("{\"network\": {\"allow\": [{\"host\": \"a.test\", \"methods\": [\"GET\"]}]}}",
		     FILE_ ":1:24: network.allow[0]: methods and paths of a.test over HTTPS are "
			   "seen only with \"inspect\": true (or give the rule a plain HTTP port, "
			   "as \"a.test:80\")");
	expect_error("{\"network\": {\"allow\": [{\"host\": \"a.test\", \"inspect\": true, "
		     "\"methods\": [\"get\"]}]}}",
		     FILE_ ":1:72: network.allow[0].methods[0]: \"get\" is not an HTTP method "
			   "(capitals, as \"GET\" or \"POST\")");
	expect_error(
		"{\"network\": {\"allow\": [{\"host\": \"a.test:80\", \"paths\": [\"x/*\"]}]}}",
		FILE_ ":1:56: network.allow[0].paths[0]: \"x/*\" is not a path rule: it does "
		      "not start with '/'");
	expect_error(
		"{\"network\": {\"allow\": [{\"host\": \"a.test:80\", \"paths\": [\"/x?y=1\"]}]}}",
		FILE_ ":1:56: network.allow[0].paths[0]: \"/x?y=1\" is not a path rule: a path "
		      "rule matches the path without its query ('?') or fragment ('#')");
	expect_error("{\"network\": {\"allow\": [{\"inspect\": true}]}}",
		     FILE_ ":1:24: network.allow[0]: a rule object needs \"host\"");
	expect_error("{\"network\": {\"allow\": [{\"host\": \"10.0.0.0/8\", \"inspect\": true}]}}",
		     FILE_
		     ":1:24: network.allow[0]: \"inspect\" needs a host name (the certificate "
		     "the cell sees is made for it), not an address");
	expect_error("{\"network\": {\"deny\": [{\"host\": \"a.test\"}]}}",
		     FILE_ ":1:23: network.deny[0]: network.deny takes host rules (strings): a "
			   "denied host is denied whatever the request");
	expect_error("{\"network\": {\"allow\": [{\"host\": \"a.test\", \"inspekt\": true}]}}",
		     FILE_
		     ":1:43: network.allow[0].inspekt: unknown key; did you mean \"inspect\"?");
}

Test(config, secrets_come_from_the_users_config_only)
{
	struct cell_diag d = {0};
	struct cell_config *c = NULL;
	int r = load2("{\"secrets\": {\"github\": {\"command\": [\"pass\", \"show\", \"gh\"]}, "
		      "\"npm\": {\"file\": \"~/.npmtoken\"}, \"pypi\": {\"env\": \"PYPI_TOKEN\"}}}",
		      "{\"network\": {\"allow\": [{\"host\": \"api.github.com\", \"inspect\": "
		      "true, \"inject\": {\"header\": \"Authorization\", \"value\": \"Bearer "
		      "${secret:github}\"}}]}}",
		      &env, &c, &d);

	cr_assert(eq(int, r, 0), "%s", d.message ? d.message : "");
	cr_assert(eq(sz, c->n_secrets, 3));
	cr_assert(eq(str, c->secrets[0].command[2], "gh"));
	cr_assert(eq(str, c->secrets[1].where, "/home/u/.npmtoken"));
	cr_assert(eq(int, (int)c->secrets[2].source, (int)CELL_SECRET_ENV));
	cr_assert(eq(str, c->network.allow[0].inject_value, "Bearer ${secret:github}"));
	cell_config_free(c);
	/* a project names no secret */
	expect_error("{\"secrets\": {\"github\": {\"env\": \"T\"}}}", FILE_
		     ":1:2: secrets: belongs in your own config (~/.config/cell/config.json): "
		     "a project does not choose what its cell's requests carry");
}

Test(config, inject_is_checked)
{
	expect_error_env(
		"{\"secrets\": {\"gh\": {\"env\": \"T\"}}}",
		"{\"network\": {\"allow\": [{\"host\": \"a.test\", \"inject\": {\"header\": "
		"\"Authorization\", \"value\": \"${secret:gh}\"}}]}}",
		&env,
		FILE_ ":1:24: network.allow[0]: \"inject\" needs \"inspect\": true (the proxy "
		      "sets the header only in requests it sees)");
	expect_error_env(
		"{\"secrets\": {\"gh\": {\"env\": \"T\"}}}",
		"{\"network\": {\"allow\": [{\"host\": \"a.test\", \"inspect\": true, "
		"\"inject\": {\"header\": \"Authorization\", \"value\": \"${secret:other}\"}}]}}",
		&env,
		FILE_ ": network.allow[0]: inject names secret \"other\", which \"secrets\" in "
		      "your own config (~/.config/cell/config.json) does not define");
	expect_error(
		"{\"network\": {\"allow\": [{\"host\": \"a.test\", \"inspect\": true, \"inject\": "
		"{\"header\": \"Bad Header\", \"value\": \"x\"}}]}}",
		FILE_ ":1:81: network.allow[0].inject.header: \"Bad Header\" is not a header's "
		      "name");
	expect_error(
		"{\"network\": {\"allow\": [{\"host\": \"a.test\", \"inspect\": true, \"inject\": "
		"{\"header\": \"X\", \"value\": \"${HOME}\"}}]}}",
		FILE_ ":1:95: network.allow[0].inject.value: \"${HOME}\": \"${\" starts a "
		      "secret's name here, as ${secret:NAME}");
	expect_error_env("{\"secrets\": {\"gh\": {\"env\": \"T\", \"file\": \"/x\"}}}", "{}", &env,
			 USER_FILE ":1:33: secrets.gh.file: a secret has one source: \"command\", "
				   "\"file\" or \"env\"");
	expect_error_env("{\"secrets\": {\"gh\": {\"command\": [\"bin/gh\"]}}}", "{}", &env,
			 USER_FILE
			 ":1:32: secrets.gh.command: \"bin/gh\": a command is a name (found "
			 "in /usr/local/bin, /usr/bin or /bin) or an absolute path");
	expect_error_env("{\"secrets\": {\"g h\": {\"env\": \"T\"}}}", "{}", &env,
			 USER_FILE ":1:14: secrets[\"g h\"]: a secret's name has 1 to 64 letters, "
				   "digits, '.', '_' or '-'");
}

Test(config, request_presets_expand_to_inspected_rules)
{
	struct cell_config *c = load_ok("{\"network\": {\"allow\": [\"@github-read\"]}}");
	const struct cell_rule *post = NULL;

	for (size_t i = 0; i < c->network.n_allow; i++) {
		cr_assert(c->network.allow[i].inspect, "%s", c->network.allow[i].text);
		cr_assert(not(eq(ptr, c->network.allow[i].methods, NULL)));
		if (cell_strv_contains(c->network.allow[i].methods, "POST"))
			post = &c->network.allow[i];
	}
	cr_assert(not(eq(ptr, (void *)post, NULL)));
	cr_assert(eq(str, post->paths[0], "/*/git-upload-pack"));
	cr_assert(eq(str, post->origin, FILE_ ": network.allow[0] (@github-read)"));
	cell_config_free(c);
	expect_error("{\"network\": {\"deny\": [\"@npm-install\"]}}", FILE_
		     ":1:23: network.deny[0]: @npm-install allows some requests to its hosts: "
		     "network.deny takes host presets");
}

Test(config, a_budget_per_period)
{
	struct cell_config *c = load_ok(
		"{\"network\": {\"budget\": {\"out\": \"50M/day\", \"per_host_out\": \"10M/hour\", "
		"\"connections\": \"60/minute\"}}}");

	cr_assert(eq(u64, c->network.budget.rate[CELL_BUDGET_OUT].amount, 50ull << 20));
	cr_assert(eq(u32, c->network.budget.rate[CELL_BUDGET_OUT].period, CELL_PERIOD_DAY));
	cr_assert(eq(u64, c->network.budget.rate[CELL_BUDGET_HOST_OUT].amount, 10ull << 20));
	cr_assert(eq(u32, c->network.budget.rate[CELL_BUDGET_HOST_OUT].period, CELL_PERIOD_HOUR));
	cr_assert(eq(u64, c->network.budget.rate[CELL_BUDGET_CONNECTIONS].amount, 60));
	cr_assert(eq(u64, c->network.budget.rate[CELL_BUDGET_IN].amount, 0));
	cell_config_free(c);
	expect_error("{\"network\": {\"budget\": {\"out\": \"50M\"}}}", FILE_
		     ":1:32: network.budget.out: \"50M\" is not a budget: expected a size per "
		     "period, such as \"50M/day\" or \"5M/hour\"");
	expect_error("{\"network\": {\"budget\": {\"in\": \"5G/month\"}}}",
		     FILE_ ":1:31: network.budget.in: \"5G/month\" is not a budget: the period is "
			   "minute, hour or day");
	expect_error("{\"network\": {\"budget\": {\"connections\": 60}}}",
		     FILE_ ":1:40: network.budget.connections: expected a number per period "
			   "(\"60/minute\"), got a number");
	expect_error("{\"network\": {\"budget\": {\"bytes\": \"1M/day\"}}}",
		     FILE_ ":1:25: network.budget.bytes: unknown key (known keys here: out, in, "
			   "per_host_out, per_host_in, connections)");
}

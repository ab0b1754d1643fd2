/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "devenvimport.h"
#include "strv.h"

#define ROOT "/src/web"
#define USER_YAML "/home/u/.config/devenv/devenv.yaml"
#define PROJECT_YAML ROOT "/devenv.yaml"
#define LOCAL_YAML ROOT "/devenv.local.yaml"

static const struct cell_config_env env = {"/home/u", "u", "/run/user/1000"};
static char *const envp[] = {"HOME=/home/u",	 "PIP=/srv/pip",
			     "CACHE=/var/cache", "XDG_RUNTIME_DIR=/run/user/1000",
			     "USER=u",		 NULL};

/* Converts the three files (NULL: missing) as cell import devenv does. */
static int convert3(const char *user, const char *project, const char *local,
		    const struct cell_config_env *e, struct cell_devenvimport_result *ret,
		    struct cell_diag *d)
{
	const struct cell_devenvimport_file files[] = {
		{USER_YAML, user, user ? strlen(user) : 0, false},
		{PROJECT_YAML, project, project ? strlen(project) : 0, true},
		{LOCAL_YAML, local, local ? strlen(local) : 0, true},
	};

	return cell_devenvimport_convert(files, 3, envp, ROOT, e, ret, d);
}

static struct cell_devenvimport_result ok3(const char *user, const char *project, const char *local)
{
	struct cell_devenvimport_result res = {0};
	struct cell_diag d = {0};
	int r = convert3(user, project, local, &env, &res, &d);

	cr_assert(eq(int, r, 0), "%s:%u:%u: %s", d.file, d.line, d.column, d.message);
	cell_diag_clear(&d);
	return res;
}

static struct cell_devenvimport_result ok(const char *project)
{
	return ok3(NULL, project, NULL);
}

/* The one mount line of res, without its indentation. */
static char *mount_line(const struct cell_devenvimport_result *res)
{
	const char *s = strstr(res->json, "  \"mounts\": [\n    ");
	const char *end;

	cr_assert(not(eq(ptr, (void *)s, NULL)), "%s", res->json);
	s += strlen("  \"mounts\": [\n    ");
	end = strchr(s, '\n');
	return strndup(s, (size_t)(end - s));
}

static bool has_note(const struct cell_devenvimport_result *res, const char *part)
{
	for (size_t i = 0; res->notes && res->notes[i]; i++)
		if (strstr(res->notes[i], part))
			return true;
	return false;
}

/* Asserts an error at file:line:column whose message holds says; nothing is returned. */
static void expect_error(const char *user, const char *project, const char *local, const char *file,
			 unsigned line, unsigned column, const char *says)
{
	struct cell_devenvimport_result res = {0};
	struct cell_diag d = {0};
	int r = convert3(user, project, local, &env, &res, &d);

	cr_assert(eq(int, r, -EINVAL), "accepted: %s", res.json ? res.json : "");
	cr_assert(eq(str, d.file, (char *)file));
	cr_assert(eq(u32, d.line, line), "line %u: %s", d.line, d.message);
	cr_assert(eq(u32, d.column, column), "column %u: %s", d.column, d.message);
	cr_assert(not(eq(ptr, strstr(d.message, says), NULL)), "%s", d.message);
	cr_assert(eq(ptr, res.json, NULL));
	cell_diag_clear(&d);
}

struct mode_case {
	char mode[16];
	char line[96];
	char note[40]; /* a note that must be there, or "" */
};

ParameterizedTestParameters(devenvimport, every_mode)
{
	static struct mode_case cases[] = {
		{"read-only", "{\"path\": \"/opt/x\", \"mode\": \"ro\"}", ""},
		{"ro", "{\"path\": \"/opt/x\", \"mode\": \"ro\"}", ""},
		{"read-write", "{\"path\": \"/opt/x\", \"mode\": \"rw\"}", ""},
		{"rw", "{\"path\": \"/opt/x\", \"mode\": \"rw\"}", ""},
		{"device", "{\"path\": \"/opt/x\", \"mode\": \"dev\"}", ""},
		{"dev", "{\"path\": \"/opt/x\", \"mode\": \"dev\"}", ""},
		{"tmpfs", "{\"path\": \"/opt/x\", \"mode\": \"tmpfs\"}", ""},
		{"overlay", "{\"path\": \"/opt/x\", \"mode\": \"overlay\"}", ""},
		{"overlay-tmpfs",
		 "{\"path\": \"/opt/x\", \"mode\": \"overlay\", \"ephemeral\": true}", ""},
		{"overlay-ro", "{\"path\": \"/opt/x\", \"mode\": \"ro\"}",
		 "cell has no read-only overlay"},
		{"state-dir", "{\"path\": \"/opt/x\", \"mode\": \"state\"}", ""},
	};
	return cr_make_param_array(struct mode_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct mode_case *c, devenvimport, every_mode)
{
	struct cell_devenvimport_result res;
	char yaml[128];
	char *line;

	snprintf(yaml, sizeof(yaml), "sandbox:\n  mounts:\n    - path: /opt/x\n      mode: %s\n",
		 c->mode);
	res = ok(yaml);
	line = mount_line(&res);
	cr_assert(eq(str, line, c->line));
	if (c->note[0])
		cr_assert(has_note(&res, c->note));
	free(line);
	cell_devenvimport_result_done(&res);
}

Test(devenvimport, writes_the_whole_file)
{
	struct cell_devenvimport_result res = ok("sandbox:\n"
						 "  enable: true\n"
						 "  network:\n"
						 "    enable: false\n"
						 "  mounts:\n"
						 "    - path: $HOME/.cache/pip\n"
						 "      mode: read-write\n");

	cr_assert(eq(str, res.json,
		     "{\n"
		     "  \"name\": \"web\",\n"
		     "  \"presets\": [\"nix\"],\n"
		     "  \"network\": {\n"
		     "    \"mode\": \"none\"\n"
		     "  },\n"
		     "  \"mounts\": [\n"
		     "    {\"path\": \"~/.cache/pip\", \"mode\": \"rw\"}\n"
		     "  ],\n"
		     "  \"env\": {\n"
		     "    \"provider\": \"devenv\"\n"
		     "  }\n"
		     "}\n"));
	cr_assert(eq(sz, cell_strv_length(res.notes), 0));
	cell_devenvimport_result_done(&res);
}

Test(devenvimport, what_it_writes_means_what_devenv_said)
{
	struct cell_devenvimport_result res = ok("sandbox:\n"
						 "  mounts:\n"
						 "    - path: data\n"
						 "      mode: overlay-tmpfs\n"
						 "    - path: ${XDG_RUNTIME_DIR}/x\n"
						 "      dest: /cache\n"
						 "      mode: rw\n"
						 "      optional: true\n"
						 "      canonicalize: true\n");
	struct cell_config *c = NULL;
	struct cell_diag d = {0};

	cr_assert(eq(int, cell_config_new(&c), 0));
	cr_assert(
		eq(int, cell_config_apply(c, "x", res.json, strlen(res.json), ROOT, &env, &d), 0));
	cr_assert(eq(sz, c->n_mounts, 2));
	cr_assert(eq(str, c->mounts[0].path, ROOT "/data"));
	cr_assert(eq(int, c->mounts[0].mode, CELL_MOUNT_OVERLAY));
	cr_assert(c->mounts[0].ephemeral);
	cr_assert(eq(str, c->mounts[1].path, "/run/user/1000/x"));
	cr_assert(eq(str, c->mounts[1].dest, "/cache"));
	cr_assert(eq(int, c->mounts[1].mode, CELL_MOUNT_RW));
	cr_assert(c->mounts[1].optional);
	cr_assert(c->mounts[1].canonicalize);
	cr_assert(not(c->mounts[1].ephemeral));
	cr_assert(eq(str, c->env.provider == CELL_PROVIDER_DEVENV ? "devenv" : "other", "devenv"));
	cell_config_free(c);
	cell_devenvimport_result_done(&res);
}

Test(devenvimport, late_is_dropped_with_a_note)
{
	struct cell_devenvimport_result res =
		ok("sandbox:\n  mounts:\n    - path: /opt/x\n      late: true\n");
	char *line = mount_line(&res);

	cr_assert(eq(str, line, "{\"path\": \"/opt/x\", \"mode\": \"ro\"}"));
	cr_assert(has_note(&res, PROJECT_YAML ":4: sandbox.mounts[0]: late dropped"));
	free(line);
	cell_devenvimport_result_done(&res);
	/* late: false changes nothing, and says nothing about late */
	res = ok("sandbox:\n  mounts:\n    - path: /opt/x\n      late: false\n");
	cr_assert(not(has_note(&res, "late")));
	cell_devenvimport_result_done(&res);
}

Test(devenvimport, network_enable_true_is_the_proxy_with_a_note)
{
	struct cell_devenvimport_result res = ok("sandbox:\n  network:\n    enable: true\n");

	cr_assert(not(
		eq(ptr, strstr(res.json, "    \"mode\": \"proxy\",\n    \"allow\": []\n"), NULL)));
	cr_assert(has_note(&res, PROJECT_YAML ":3: sandbox.network.enable is true"));
	cr_assert(has_note(&res, "cell allow-host HOST"));
	cell_devenvimport_result_done(&res);
	/* no network.enable at all: cell's default, said as much */
	res = ok("sandbox:\n  enable: true\n");
	cr_assert(not(eq(ptr, strstr(res.json, "\"mode\": \"proxy\""), NULL)));
	cr_assert(has_note(&res, "no file sets sandbox.network.enable"));
	cr_assert(eq(ptr, strstr(res.json, "\"mounts\""), NULL));
	cell_devenvimport_result_done(&res);
}

Test(devenvimport, enable_false_still_writes_with_a_note)
{
	struct cell_devenvimport_result res =
		ok("sandbox:\n  enable: false\n  network: {enable: false}\n");

	cr_assert(not(eq(ptr, strstr(res.json, "\"mode\": \"none\""), NULL)));
	cr_assert(has_note(&res, PROJECT_YAML ":2: sandbox.enable is false"));
	cell_devenvimport_result_done(&res);
}

/* Only the variables cell's config expands itself, written as variables: another's value would
 * be written into the project, where the cell reads it (a token in $GITHUB_TOKEN). */
Test(devenvimport, keeps_only_cells_own_variables)
{
	struct cell_devenvimport_result res = ok("sandbox:\n"
						 "  mounts:\n"
						 "    - path: $XDG_RUNTIME_DIR/wheels\n"
						 "      dest: ${HOME}/.cache/pip\n"
						 "    - path: /x/$HOME/$USER\n"
						 "    - path: ~/.npm\n"
						 "    - path: ../common/./lib/\n");

	cr_assert(not(eq(ptr,
			 strstr(res.json, "{\"path\": \"${XDG_RUNTIME_DIR}/wheels\", \"dest\": "
					  "\"~/.cache/pip\", \"mode\": \"ro\"},\n"),
			 NULL)),
		  "%s", res.json);
	/* only a leading $HOME becomes ~ (cell's config expands ~ nowhere else) */
	cr_assert(not(eq(ptr, strstr(res.json, "{\"path\": \"/x/${HOME}/${USER}\""), NULL)), "%s",
		  res.json);
	cr_assert(not(eq(ptr, strstr(res.json, "{\"path\": \"~/.npm\""), NULL)));
	cr_assert(not(eq(ptr, strstr(res.json, "{\"path\": \"./../common/./lib/\""), NULL)), "%s",
		  res.json);
	cr_assert(eq(ptr, strstr(res.json, "/home/u"), NULL), "%s", res.json);
	cell_devenvimport_result_done(&res);
}

Test(devenvimport, another_variable_or_an_unset_one_is_named_at_its_place)
{
	static char *const no_user[] = {"HOME=/home/u", NULL};
	static const char text[] = "sandbox:\n  mounts:\n    - path: /a/$USER/b\n";
	const struct cell_devenvimport_file file = {PROJECT_YAML, text, sizeof(text) - 1, true};
	struct cell_devenvimport_result res = {0};
	struct cell_diag d = {0};

	cr_assert(eq(int, cell_devenvimport_convert(&file, 1, no_user, ROOT, &env, &res, &d),
		     -EINVAL));
	cr_assert(eq(u32, d.line, 3));
	cr_assert(eq(u32, d.column, 16));
	cr_assert(not(eq(ptr, strstr(d.message, "$USER is not set"), NULL)), "%s", d.message);
	cell_diag_clear(&d);
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: /a/$PIP/b\n", NULL, PROJECT_YAML, 3,
		     16, "$PIP: cell import keeps only $HOME, $USER and $XDG_RUNTIME_DIR");
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: \"/a/${CACHE}\"\n", NULL, PROJECT_YAML,
		     3, 17, "$CACHE: cell import keeps only");
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: /a\n      dest: /x/$\n", NULL,
		     PROJECT_YAML, 4, 16, "a '$' without a variable name");
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: ${NOPE\n", NULL, PROJECT_YAML, 3, 13,
		     "a '$' without a variable name");
}

Test(devenvimport, a_bad_mode_or_key_is_an_error_at_its_place)
{
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: /x\n      mode: tmpfz\n", NULL,
		     PROJECT_YAML, 4, 13, "\"tmpfz\" is not a mount mode");
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: /x\n      mode: tmpfz\n", NULL,
		     PROJECT_YAML, 4, 13, "did you mean \"tmpfs\"?");
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: /x\n      mod: ro\n", NULL,
		     PROJECT_YAML, 4, 7, "unknown key \"mod\"");
	expect_error(NULL, "sandbox:\n  netwrk:\n    enable: true\n", NULL, PROJECT_YAML, 2, 3,
		     "did you mean \"network\"?");
	expect_error(NULL, "sandbox:\n  enable: true\n  enable: false\n", NULL, PROJECT_YAML, 3, 3,
		     "\"enable\" is given twice");
	expect_error(NULL, "sandbox:\n  enable: yes\n", NULL, PROJECT_YAML, 2, 11,
		     "expected true or false");
	expect_error(NULL, "sandbox:\n  mounts:\n    - mode: ro\n", NULL, PROJECT_YAML, 3, 7,
		     "a mount needs \"path\"");
	expect_error(NULL, "sandbox:\n  mounts: /x\n", NULL, PROJECT_YAML, 2, 11,
		     "expected a list");
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: ~root/x\n", NULL, PROJECT_YAML, 3, 13,
		     "~user is not supported");
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: \"/a\\0b\"\n", NULL, PROJECT_YAML, 3,
		     13, "NUL");
	expect_error(NULL, "- sandbox\n", NULL, PROJECT_YAML, 1, 1,
		     "expected a mapping at the top level");
}

Test(devenvimport, a_yaml_syntax_error_is_located)
{
	expect_error(NULL, "sandbox:\n  mounts:\n    - path: /x\n     mode: tmpfs\n", NULL,
		     PROJECT_YAML, 4, 6, "YAML syntax error");
	expect_error(NULL, "sandbox:\n  mounts: [\n", NULL, PROJECT_YAML, 3, 1,
		     "YAML syntax error");
	expect_error("sandbox: {enable: *nope}\n", "sandbox: {}\n", NULL, USER_YAML, 1, 19,
		     "undefined alias");
	expect_error(NULL, "sandbox: {}\n---\nx: 1\n", NULL, PROJECT_YAML, 3, 1,
		     "a second YAML document");
}

Test(devenvimport, later_files_win_and_mounts_add_up)
{
	struct cell_devenvimport_result res =
		ok3("sandbox:\n  enable: false\n  network: {enable: true}\n"
		    "  mounts: [{path: /user}]\n",
		    "sandbox:\n  enable: true\n  network: {enable: true}\n"
		    "  mounts: [{path: /project}]\n",
		    "sandbox:\n  network: {enable: false}\n  mounts: [{path: /local}]\n");
	const char *u = strstr(res.json, "/user"), *p = strstr(res.json, "/project"),
		   *l = strstr(res.json, "/local");

	cr_assert(u && p && l && u < p && p < l, "%s", res.json);
	cr_assert(not(eq(ptr, strstr(res.json, "\"mode\": \"none\""), NULL)));
	/* enable: the project's true replaced the user's false; network: the local file's */
	cr_assert(not(has_note(&res, "sandbox.enable is false")));
	cr_assert(not(has_note(&res, "network.enable is true")));
	cell_devenvimport_result_done(&res);

	/* the user's file alone says what the project's leave unsaid */
	res = ok3("sandbox:\n  network: {enable: false}\n", "sandbox: {}\n", NULL);
	cr_assert(not(eq(ptr, strstr(res.json, "\"mode\": \"none\""), NULL)));
	cell_devenvimport_result_done(&res);
}

Test(devenvimport, mounts_cell_gives_are_dropped)
{
	struct cell_devenvimport_result res = ok("sandbox:\n"
						 "  mounts:\n"
						 "    - path: /nix/store\n"
						 "    - path: /dev/kvm\n"
						 "      mode: device\n"
						 "    - path: /dev\n"
						 "      mode: dev\n"
						 "    - path: /proc/self\n"
						 "    - path: /tmp/x\n"
						 "      dest: /sys/x\n"
						 "    - path: /opt/tools\n");
	char *line = mount_line(&res);

	cr_assert(eq(str, line, "{\"path\": \"/opt/tools\", \"mode\": \"ro\"}"));
	cr_assert(eq(ptr, strstr(res.json, "/nix/store"), NULL));
	cr_assert(has_note(&res, PROJECT_YAML ":3: sandbox.mounts[0] '/nix/store' dropped"));
	cr_assert(has_note(&res, PROJECT_YAML ":4: sandbox.mounts[1] '/dev/kvm' dropped"));
	cr_assert(has_note(&res, "sandbox.mounts[2] '/dev' dropped"));
	cr_assert(has_note(&res, "sandbox.mounts[3] '/proc/self' dropped"));
	cr_assert(has_note(&res, "sandbox.mounts[4] '/sys/x' dropped"));
	free(line);
	cell_devenvimport_result_done(&res);
}

Test(devenvimport, nothing_to_import)
{
	struct cell_devenvimport_result res = {0};
	struct cell_diag d = {0};

	cr_assert(eq(int, convert3("sandbox: {}\n", NULL, NULL, &env, &res, &d), -ENOENT));
	cr_assert(not(eq(ptr, strstr(d.message, "no devenv.yaml or devenv.local.yaml"), NULL)));
	cell_diag_clear(&d);
	/* the user's sandbox: alone is not the project's */
	cr_assert(eq(int, convert3("sandbox: {}\n", "inputs: {}\n", "", &env, &res, &d), -ENOENT));
	cr_assert(not(eq(ptr, strstr(d.message, "has a sandbox: section"), NULL)), "%s", d.message);
	cell_diag_clear(&d);
	cr_assert(eq(ptr, res.json, NULL));
	/* an empty sandbox: is one */
	res = ok3(NULL, NULL, "sandbox:\n");
	cell_devenvimport_result_done(&res);
}

Test(devenvimport, a_mount_cell_refuses_is_blamed_on_its_yaml)
{
	static const struct cell_config_env no_home = {NULL, "u", NULL};
	struct cell_devenvimport_result res = {0};
	struct cell_diag d = {0};

	cr_assert(eq(int,
		     convert3(NULL, "sandbox:\n  mounts:\n    - path: /a\n    - path: ~/x\n", NULL,
			      &no_home, &res, &d),
		     -EINVAL));
	cr_assert(eq(str, d.file, PROJECT_YAML));
	cr_assert(eq(u32, d.line, 4));
	cr_assert(eq(u32, d.column, 7));
	cr_assert(eq(str, d.json_path, "sandbox.mounts[1]"));
	cr_assert(not(eq(ptr, strstr(d.message, "cell's config refuses this mount"), NULL)), "%s",
		  d.message);
	cell_diag_clear(&d);
}

/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"
#include "review.h"
#include "strv.h"

/* A config from text, through the real loader (home /home/u). */
static struct cell_config *config(const char *json)
{
	static const struct cell_config_env env = {"/home/u", "u", NULL};
	struct cell_config *c = NULL;
	struct cell_diag d = {0};

	cr_assert(eq(int, cell_config_new(&c), 0));
	cr_assert(eq(int, cell_config_apply(c, "/p/.cell.json", json, strlen(json), "/p", &env, &d),
		     0),
		  "%s", d.message ? d.message : "");
	cr_assert(eq(int, cell_config_finish(c, "/p", &env, &d), 0), "%s",
		  d.message ? d.message : "");
	return c;
}

/* The warnings of json for a user whose home is home, one string, a line each. */
static char *warnings_for(const char *json, const char *home)
{
	struct cell_config *c = config(json);
	char **w = NULL, *all = strdup("");

	cr_assert(eq(int, cell_review_warnings(c, "/p", home, &w), 0));
	for (size_t i = 0; w && w[i]; i++) {
		char *more = NULL;

		cr_assert(ge(int, asprintf(&more, "%s%s\n", all, w[i]), 0));
		free(all);
		all = more;
	}
	cell_strv_free(w);
	cell_config_free(c);
	return all;
}

static char *warnings_of(const char *json)
{
	return warnings_for(json, "/home/u");
}

Test(review, a_plain_config_has_no_warning)
{
	char *w = warnings_of("{\"network\": {\"allow\": [\"github.com\"]}}");

	cr_assert(eq(str, w, ""));
	free(w);
}

/* Each thing that weakens the cell is said. */
Test(review, what_weakens_the_cell_is_said)
{
	static const struct {
		const char *json, *said;
	} cases[] = {
		{"{\"network\": {\"mode\": \"host\"}}", "network.mode is \"host\""},
		{"{\"mounts\": [{\"path\": \"~\", \"mode\": \"rw\"}]}",
		 "binds your home directory read-write"},
		{"{\"mounts\": [{\"path\": \"~/.ssh\", \"mode\": \"ro\"}]}",
		 "exposes ~/.ssh, which holds credentials"},
		{"{\"mounts\": [{\"path\": \"~/.aws\", \"mode\": \"ro\"}]}", "exposes ~/.aws"},
		{"{\"mounts\": [{\"path\": \"~/.gnupg/private-keys-v1.d\", \"mode\": \"ro\"}]}",
		 "exposes ~/.gnupg"},
		{"{\"hardening\": {\"allow_userns\": true}}", "hardening.allow_userns"},
		{"{\"hardening\": {\"allow_io_uring\": true}}", "hardening.allow_io_uring"},
		{"{\"hardening\": {\"git_writable\": true}}", "hardening.git_writable"},
		{"{\"presets\": [\"nix-daemon\"]}", "preset nix-daemon"},
		{"{\"mounts\": [{\"path\": \"~/.bashrc\", \"mode\": \"rw\"}]}",
		 "binds /home/u/.bashrc read-write: what the cell writes there stays, outside the "
		 "project"},
		{"{\"mounts\": [{\"path\": \"~/.config/cell\", \"mode\": \"rw\"}]}",
		 "binds /home/u/.config/cell read-write"},
		{"{\"mounts\": [{\"path\": \"/dev/dri\", \"mode\": \"dev\"}]}",
		 "binds /dev/dri with its device files"},
		{"{\"mounts\": [{\"path\": \"/run/user/1000\", \"mode\": \"ro\"}]}",
		 "binds /run/user/1000, where services of this machine listen"},
		{"{\"mounts\": [{\"path\": \"/tmp/.X11-unix\", \"mode\": \"ro\"}]}",
		 "where services of this machine listen"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *w = warnings_of(cases[i].json);

		cr_assert(not(eq(ptr, strstr(w, cases[i].said), NULL)), "%s: %s", cases[i].json, w);
		free(w);
	}
}

/* The line cell allow prints: the hosts (a preset's by its name, once), mounts, variables. */
Test(review, the_summary_says_what_the_config_opens)
{
	struct cell_config *c = config(
		"{\"network\": {\"allow\": [\"@npm\", \"github.com\", \"api.test:8443\", \"x.test\"]}, "
		"\"mounts\": [{\"path\": \"/data\", \"mode\": \"ro\"}], \"env\": {\"set\": {\"A\": \"1\"}}}");
	char line[512];

	cr_assert(eq(int, cell_review_summary(c, line, sizeof(line)), 0));
	cr_assert(not(eq(ptr, strstr(line, "network: "), NULL)), "%s", line);
	cr_assert(not(eq(ptr, strstr(line, " hosts (@npm, github.com, api.test:8443, ...)"), NULL)),
		  "%s", line);
	cr_assert(not(eq(ptr, strstr(line, "; mounts: 1; env: 1 variable"), NULL)), "%s", line);
	cell_config_free(c);
	c = config("{\"network\": {\"mode\": \"none\"}}");
	cr_assert(eq(int, cell_review_summary(c, line, sizeof(line)), 0));
	cr_assert(eq(str, line, "network: none; mounts: 0; env: 0 variables"));
	cell_config_free(c);
}

/* A bind inside the project, read-write or not, and read-only binds of ordinary places outside
 * it weaken nothing. */
Test(review, binds_that_weaken_nothing_are_not_warned_of)
{
	char *w = warnings_of("{\"mounts\": [{\"path\": \"./cache\", \"mode\": \"rw\"}, "
			      "{\"path\": \"/p/out\", \"dest\": \"/out\", \"mode\": \"rw\"}, "
			      "{\"path\": \"/usr/share/dict\", \"mode\": \"ro\"}, "
			      "{\"path\": \"~/.cache/x\", \"mode\": \"state\"}, "
			      "{\"path\": \"./build\", \"mode\": \"tmpfs\"}]}");

	cr_assert(eq(str, w, ""));
	free(w);
}

/*
 * A path is judged by where it leads: a link to ~/.ssh, and /proc/self/root/... (the same file
 * by another name), expose ~/.ssh; a link to a socket binds a socket.
 */
Test(review, a_path_is_judged_by_where_its_links_lead)
{
	char *tmp = th_mkdtemp(), *home = th_join(tmp, "home"), *json = NULL, *sock;
	char *ssh = th_join(home, ".ssh");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	char *all;

	cr_assert(eq(int, mkdir(home, 0700), 0));
	cr_assert(eq(int, mkdir(ssh, 0700), 0));
	{
		char *link = th_join(tmp, "keys");

		cr_assert(eq(int, symlink(ssh, link), 0));
		free(link);
	}
	sock = th_join(tmp, "agent.sock");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
	{
		char *link = th_join(tmp, "agent");

		cr_assert(eq(int, symlink(sock, link), 0));
		free(link);
	}
	cr_assert(ge(int,
		     asprintf(&json,
			      "{\"mounts\": [{\"path\": \"%s/keys\"}, "
			      "{\"path\": \"/proc/self/root%s/.ssh/config\", \"optional\": true}, "
			      "{\"path\": \"%s/agent\"}]}",
			      tmp, home, tmp),
		     0));
	all = warnings_for(json, home);
	cr_assert(not(eq(ptr, strstr(all, "mounts[0] exposes ~/.ssh"), NULL)), "%s", all);
	cr_assert(not(eq(ptr, strstr(all, "mounts[1] exposes ~/.ssh"), NULL)), "%s", all);
	cr_assert(not(eq(ptr, strstr(all, "where services of this machine listen"), NULL)), "%s",
		  all);
	free(all);
	close(fd);
	th_rm_rf(tmp);
	free(json);
	free(sock);
	free(ssh);
	free(home);
	free(tmp);
}

/* What the cell reaches past the allowlist's hosts is in the line: this machine's ports, and
 * the names pinned to an address (a special one said as such). */
Test(review, the_summary_says_the_ports_and_pins)
{
	struct cell_config *c = config(
		"{\"network\": {\"allow\": [\"registry.test\"], \"local_ports\": [5432, 6379], "
		"\"resolve\": {\"registry.test\": \"127.0.0.1\"}}}");
	char line[512];

	cr_assert(eq(int, cell_review_summary(c, line, sizeof(line)), 0));
	cr_assert(not(eq(ptr,
			 strstr(line, "network: 1 host (registry.test); this machine's ports: "
				      "5432, 6379; pinned: registry.test at 127.0.0.1 (a loopback "
				      "address); mounts: 0"),
			 NULL)),
		  "%s", line);
	cell_config_free(c);
}

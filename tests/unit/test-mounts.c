/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

#include "fileio.h"
#include "helpers.h"
#include "mounts.h"

static char *tmp, *root, *home, *state;

static void setup(void)
{
	tmp = th_mkdtemp();
	root = th_join(tmp, "src/proj");
	home = th_join(tmp, "home");
	state = th_join(tmp, "state/projects/proj-1");
	free(th_write(root, ".cell.json", "{}"));
	free(th_write(home, ".bashrc", "# rc"));
	free(th_write(home, ".gitconfig", "[user]"));
	free(th_write(home, ".ssh/id_ed25519", "key"));
}

static void teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
	free(root);
	free(home);
	free(state);
}

TestSuite(mounts, .init = setup, .fini = teardown);

/* Plans for config mounts given as (path, dest, mode, origin) quadruples. */
static int plan(const struct cell_mount *ms, size_t n, struct cell_mount_plan *ret,
		struct cell_diag *d)
{
	struct cell_config c = {.mounts = (struct cell_mount *)ms, .n_mounts = n};
	struct cell_mounts_input in = {.root = root, .home = home, .state_dir = state};

	return cell_mounts_plan(&c, &in, ret, d);
}

static const struct cell_mount_op *find(const struct cell_mount_plan *p, const char *dest,
					size_t *ret_index)
{
	for (size_t i = 0; i < p->n; i++)
		if (streq(p->ops[i].dest, dest)) {
			if (ret_index)
				*ret_index = i;
			return &p->ops[i];
		}
	return NULL;
}

static char *in_tmp(const char *rel)
{
	return th_join(tmp, rel);
}

Test(mounts, defaults_home_project_and_protected_paths)
{
	struct cell_mount_plan p = {0};
	char *cfg = th_join(root, ".cell.json"), *ssh = th_join(home, ".ssh"), *rc;
	size_t ih, ip, ic;

	cr_assert(eq(int, plan(NULL, 0, &p, NULL), 0));
	cr_assert(not(eq(ptr, (void *)find(&p, "/usr", NULL), NULL)));
	cr_assert(eq(int, find(&p, "/usr", NULL)->kind, CELL_OP_RO_BIND));
	cr_assert(eq(int, find(&p, "/proc", NULL)->kind, CELL_OP_PROC));
	cr_assert(eq(int, find(&p, "/tmp", NULL)->kind, CELL_OP_TMPFS));
	cr_assert(eq(int, find(&p, home, &ih)->kind, CELL_OP_TMPFS));
	rc = th_join(home, ".bashrc");
	cr_assert(eq(int, find(&p, rc, NULL)->kind, CELL_OP_RO_BIND));
	/* never the user's secrets */
	cr_assert(eq(ptr, (void *)find(&p, ssh, NULL), NULL));
	cr_assert(eq(int, find(&p, root, &ip)->kind, CELL_OP_BIND));
	cr_assert(eq(int, find(&p, cfg, &ic)->kind, CELL_OP_RO_BIND));
	cr_assert(eq(int, find(&p, cfg, NULL)->class, CELL_CLASS_PROTECTED));
	/* parents before children */
	cr_assert(lt(sz, ih, ip));
	cr_assert(lt(sz, ip, ic));
	cell_mount_plan_done(&p);
	free(cfg);
	free(ssh);
	free(rc);
}

Test(mounts, merged_usr_links_stay_links)
{
	struct cell_mount_plan p = {0};
	char target[64];
	ssize_t n = readlink("/bin", target, sizeof(target) - 1);

	if (n < 0)
		th_skip("/bin is not a symlink on this machine");
	target[n] = '\0';
	cr_assert(eq(int, plan(NULL, 0, &p, NULL), 0));
	cr_assert(eq(int, find(&p, "/bin", NULL)->kind, CELL_OP_SYMLINK));
	cr_assert(eq(str, find(&p, "/bin", NULL)->src, target));
	cell_mount_plan_done(&p);
}

Test(mounts, git_is_read_only_as_a_whole)
{
	struct cell_mount_plan p = {0};
	char *git = th_join(root, ".git"), *hooks = th_join(root, ".git/hooks");

	free(th_write(root, ".git/config", "[core]"));
	cr_assert(eq(int, plan(NULL, 0, &p, NULL), 0));
	cr_assert(eq(int, find(&p, git, NULL)->kind, CELL_OP_RO_BIND));
	cr_assert(eq(ptr, (void *)find(&p, hooks, NULL), NULL));
	cell_mount_plan_done(&p);
	free(git);
	free(hooks);
}

Test(mounts, writable_git_keeps_hooks_and_config_read_only)
{
	struct cell_config c = {.hardening.git_writable = true};
	struct cell_mounts_input in;
	struct cell_mount_plan p = {0};
	char *git = th_join(root, ".git"), *hooks = th_join(root, ".git/hooks");
	char *cfg = th_join(root, ".git/config");

	free(th_write(root, ".git/config", "[core]"));
	in = (struct cell_mounts_input){.root = root, .home = home, .state_dir = state};
	cr_assert(eq(int, cell_mounts_plan(&c, &in, &p, NULL), 0));
	/* bound onto itself: it cannot be renamed away from the mounts inside it */
	cr_assert(eq(int, find(&p, git, NULL)->kind, CELL_OP_BIND));
	cr_assert(eq(int, find(&p, hooks, NULL)->kind, CELL_OP_RO_TMPFS));
	cr_assert(eq(int, find(&p, cfg, NULL)->kind, CELL_OP_RO_BIND));
	cell_mount_plan_done(&p);
	free(git);
	free(hooks);
	free(cfg);
}

Test(mounts, hooks_path_inside_the_project_is_protected)
{
	struct cell_mount_plan p = {0};
	char *husky = th_join(root, ".husky");

	free(th_write(root, ".git/config", "[core]\n\thooksPath = .husky\n"));
	free(th_write(root, ".husky/pre-commit", "#!/bin/sh\n"));
	cr_assert(eq(int, plan(NULL, 0, &p, NULL), 0));
	cr_assert(eq(int, find(&p, husky, NULL)->kind, CELL_OP_RO_BIND));
	cr_assert(eq(str, find(&p, husky, NULL)->origin, "protected (git hooks)"));
	cell_mount_plan_done(&p);
	free(husky);
}

Test(mounts, a_symlinked_protected_path_stops_the_cell)
{
	struct cell_mount_plan p = {0};
	struct cell_diag d = {0};
	char *envrc = th_join(root, ".envrc"), want[512];

	free(th_write(root, "tools/envrc", "use nix\n"));
	cr_assert(eq(int, symlink("tools/envrc", envrc), 0));
	cr_assert(eq(int, plan(NULL, 0, &p, &d), -ELOOP));
	snprintf(
		want, sizeof(want),
		"'%s' is a symbolic link; cell keeps it read-only only as a real file or directory (a link could be re-pointed from inside the cell)",
		envrc);
	cr_assert(eq(str, d.message, want));
	cell_diag_clear(&d);
	free(envrc);
}

Test(mounts, missing_editor_dirs_get_read_only_stand_ins)
{
	struct cell_mount_plan p = {0};
	char *vscode = th_join(root, ".vscode"), *envrc = th_join(root, ".envrc");

	cr_assert(eq(int, plan(NULL, 0, &p, NULL), 0));
	cr_assert(eq(int, find(&p, vscode, NULL)->kind, CELL_OP_RO_TMPFS));
	/* a new .envrc needs `direnv allow` before it runs: no stand-in */
	cr_assert(eq(ptr, (void *)find(&p, envrc, NULL), NULL));
	cell_mount_plan_done(&p);
	free(vscode);
	free(envrc);
}

Test(mounts, a_source_in_the_project_may_not_lead_out_of_it)
{
	char *cache = th_join(root, "cache"), want[512];
	struct cell_mount ms[] = {
		{.path = cache,
		 .dest = (char *)"/opt/cache",
		 .mode = CELL_MOUNT_RW,
		 .origin = (char *)"f: mounts[0]"},
	};
	struct cell_mount_plan p = {0};
	struct cell_diag d = {0};

	/* what the cell could do between two runs: the source becomes a link to the home */
	cr_assert(eq(int, symlink(home, cache), 0));
	cr_assert(eq(int, plan(ms, 1, &p, &d), -EPERM));
	snprintf(want, sizeof(want),
		 "f: mounts[0]: '%s' now leads outside the project (to '%s'); refusing to mount it",
		 cache, home);
	cr_assert(eq(str, d.message, want));
	cell_diag_clear(&d);
	free(cache);
}

Test(mounts, config_order_does_not_matter)
{
	char *a = in_tmp("data"), *ab = in_tmp("data/sub");
	struct cell_mount ms[] = {
		{.path = ab,
		 .dest = (char *)"/opt/data/sub",
		 .mode = CELL_MOUNT_RO,
		 .origin = (char *)"m[0]"},
		{.path = a,
		 .dest = (char *)"/opt/data",
		 .mode = CELL_MOUNT_RW,
		 .origin = (char *)"m[1]"},
	};
	struct cell_mount_plan p = {0};
	size_t i_parent, i_child;

	free(th_write(tmp, "data/sub/f", "x"));
	cr_assert(eq(int, plan(ms, 2, &p, NULL), 0));
	cr_assert(eq(int, find(&p, "/opt/data", &i_parent)->kind, CELL_OP_BIND));
	cr_assert(eq(int, find(&p, "/opt/data/sub", &i_child)->kind, CELL_OP_RO_BIND));
	cr_assert(lt(sz, i_parent, i_child));
	cell_mount_plan_done(&p);
	free(a);
	free(ab);
}

Test(mounts, two_config_mounts_at_one_place_name_both)
{
	struct cell_mount ms[] = {
		{.path = (char *)"/usr",
		 .dest = (char *)"/opt/x",
		 .origin = (char *)"f: mounts[0]"},
		{.path = (char *)"/etc",
		 .dest = (char *)"/opt/x",
		 .origin = (char *)"f: mounts[3]"},
	};
	struct cell_mount_plan p = {0};
	struct cell_diag d = {0};

	cr_assert(eq(int, plan(ms, 2, &p, &d), -EINVAL));
	cr_assert(eq(str, d.message, "f: mounts[0] and f: mounts[3] both mount '/opt/x'"));
	cell_diag_clear(&d);
}

Test(mounts, config_replaces_a_default_and_a_preset)
{
	struct cell_mount ms[] = {
		{.path = (char *)"/etc",
		 .dest = (char *)"/opt",
		 .mode = CELL_MOUNT_RO,
		 .from_preset = true,
		 .origin = (char *)"preset x"},
		{.path = (char *)"/usr",
		 .dest = (char *)"/opt",
		 .mode = CELL_MOUNT_RO,
		 .origin = (char *)"f: mounts[0]"},
	};
	struct cell_mount_plan p = {0};

	cr_assert(eq(int, plan(ms, 2, &p, NULL), 0));
	cr_assert(eq(str, find(&p, "/opt", NULL)->src, "/usr"));
	cr_assert(eq(str, find(&p, "/opt", NULL)->origin, "f: mounts[0]"));
	cell_mount_plan_done(&p);
}

Test(mounts, protected_paths_and_the_project_cannot_be_mounted_over)
{
	char *cfg = th_join(root, ".cell.json");
	struct cell_mount over_cfg[] = {
		{.path = (char *)"/etc/hostname", .dest = cfg, .origin = (char *)"f: mounts[0]"},
	};
	struct cell_mount over_root[] = {
		{.path = (char *)"/usr",
		 .dest = root,
		 .mode = CELL_MOUNT_TMPFS,
		 .origin = (char *)"f: mounts[1]"},
	};
	struct cell_mount over_all[] = {
		{.path = (char *)"/usr", .dest = (char *)"/", .origin = (char *)"f: mounts[2]"},
	};
	struct cell_mount_plan p = {0};
	struct cell_diag d = {0};
	char want[512];

	cr_assert(eq(int, plan(over_cfg, 1, &p, &d), -EINVAL));
	snprintf(want, sizeof(want), "protected and f: mounts[0] both mount '%s'", cfg);
	cr_assert(eq(str, d.message, want));
	cr_assert(eq(int, plan(over_root, 1, &p, &d), -EINVAL));
	snprintf(want, sizeof(want), "project and f: mounts[1] both mount '%s'", root);
	cr_assert(eq(str, d.message, want));
	cr_assert(eq(int, plan(over_all, 1, &p, &d), -EINVAL));
	cr_assert(eq(str, d.message, "f: mounts[2]: a mount cannot replace the root of the cell"));
	cell_diag_clear(&d);
	free(cfg);
}

Test(mounts, missing_sources_fail_unless_optional)
{
	char *gone = in_tmp("gone");
	struct cell_mount ms[] = {
		{.path = gone, .dest = gone, .optional = true, .origin = (char *)"f: mounts[0]"},
	};
	struct cell_mount_plan p = {0};
	struct cell_diag d = {0};
	char want[512];

	cr_assert(eq(int, plan(ms, 1, &p, &d), 0));
	cr_assert(eq(ptr, (void *)find(&p, gone, NULL), NULL));
	cell_mount_plan_done(&p);
	ms[0].optional = false;
	cr_assert(eq(int, plan(ms, 1, &p, &d), -ENOENT));
	snprintf(want, sizeof(want),
		 "f: mounts[0]: '%s' does not exist (\"optional\": true skips a missing source)",
		 gone);
	cr_assert(eq(str, d.message, want));
	cell_diag_clear(&d);
	free(gone);
}

Test(mounts, state_and_overlay_dirs_live_in_the_projects_state)
{
	char *lib = in_tmp("lib"), *cache = th_join(home, ".cache/my%tool"), *want;
	struct cell_mount ms[] = {
		{.path = cache, .dest = cache, .mode = CELL_MOUNT_STATE, .origin = (char *)"m[0]"},
		{.path = lib, .dest = lib, .mode = CELL_MOUNT_OVERLAY, .origin = (char *)"m[1]"},
	};
	struct cell_mount_plan p = {0};
	const struct cell_mount_op *op;

	free(th_write(tmp, "lib/a", "x"));
	cr_assert(eq(int, plan(ms, 2, &p, NULL), 0));
	op = find(&p, cache, NULL);
	cr_assert(eq(int, op->kind, CELL_OP_BIND));
	/* one flat, reversible name per place: '/' and '%' escaped */
	{
		char escaped[1024];
		size_t n = 0;

		for (const char *ch = cache + 1; *ch && n + 4 < sizeof(escaped); ch++)
			n += (size_t)(*ch == '/'   ? sprintf(escaped + n, "%%2F")
				      : *ch == '%' ? sprintf(escaped + n, "%%25")
						   : sprintf(escaped + n, "%c", *ch));
		cr_assert(ge(int, asprintf(&want, "%s/state/%s", state, escaped), 0));
	}
	cr_assert(eq(str, op->src, want));
	free(want);
	op = find(&p, lib, NULL);
	cr_assert(eq(int, op->kind, CELL_OP_OVERLAY));
	cr_assert(eq(str, op->src, lib));
	cr_assert(eq(int, strncmp(op->upper_dir, state, strlen(state)), 0));
	cr_assert(not(eq(ptr, strstr(op->upper_dir, "/overlay/"), NULL)));
	/* nothing is created until the cell starts */
	cr_assert(eq(int, access(state, F_OK), -1));
	cr_assert(eq(int, cell_mounts_prepare(&p), 0));
	{
		char *upper = th_join(op->upper_dir, "upper"),
		     *work = th_join(op->upper_dir, "work");

		cr_assert(eq(int, access(upper, F_OK), 0));
		cr_assert(eq(int, access(work, F_OK), 0));
		free(upper);
		free(work);
	}
	cell_mount_plan_done(&p);
	free(lib);
	free(cache);
}

Test(mounts, an_overlay_cannot_cover_other_mounts)
{
	char *lib = in_tmp("lib"), *sub = in_tmp("lib/sub");
	struct cell_mount ms[] = {
		{.path = lib, .dest = lib, .mode = CELL_MOUNT_OVERLAY, .origin = (char *)"m[0]"},
		{.path = (char *)"/usr",
		 .dest = sub,
		 .mode = CELL_MOUNT_RO,
		 .origin = (char *)"m[1]"},
	};
	struct cell_mount_plan p = {0};
	struct cell_diag d = {0};
	char want[512];

	free(th_write(tmp, "lib/a", "x"));
	cr_assert(eq(int, plan(ms, 2, &p, &d), -EINVAL));
	snprintf(want, sizeof(want), "m[0]: the overlay at '%s' would cover m[1] at '%s'", lib,
		 sub);
	cr_assert(eq(str, d.message, want));
	cell_diag_clear(&d);
	free(lib);
	free(sub);
}

Test(mounts, canonicalize_resolves_symlinks_in_the_source)
{
	char *real = in_tmp("real"), *link = in_tmp("link");
	struct cell_mount ms[] = {
		{.path = link,
		 .dest = (char *)"/opt/x",
		 .canonicalize = true,
		 .origin = (char *)"m[0]"},
		{.path = link, .dest = (char *)"/opt/y", .origin = (char *)"m[1]"},
	};
	struct cell_mount_plan p = {0};

	free(th_write(tmp, "real/f", "x"));
	cr_assert(eq(int, symlink("real", link), 0));
	cr_assert(eq(int, plan(ms, 2, &p, NULL), 0));
	cr_assert(eq(str, find(&p, "/opt/x", NULL)->src, real));
	cr_assert(eq(str, find(&p, "/opt/y", NULL)->src, link));
	cell_mount_plan_done(&p);
	free(real);
	free(link);
}

Test(mounts, a_project_holding_the_home_is_refused)
{
	struct cell_mount_plan p = {0};
	struct cell_config c = {0};
	struct cell_mounts_input in = {.root = tmp, .home = home, .state_dir = state};
	struct cell_diag d = {0};

	cr_assert(eq(int, cell_mounts_plan(&c, &in, &p, &d), -EINVAL));
	cr_assert(not(eq(ptr, strstr(d.message, "holds your home directory"), NULL)));
	cell_diag_clear(&d);
}

/* The project (or a directory holding it) bound read-write at another place gets the same
 * read-only parts there: .git and .cell.json are not writable through /workspace either. */
Test(mounts, the_project_elsewhere_keeps_its_read_only_parts)
{
	struct cell_mount_plan p = {0};
	struct cell_mount ms[] = {
		{.path = root, .dest = (char *)"/workspace", .mode = CELL_MOUNT_RW, .origin = "t"},
		{.path = tmp, .dest = (char *)"/all", .mode = CELL_MOUNT_RW, .origin = "t"},
	};
	char *git = th_join(root, ".git");
	const struct cell_mount_op *op;

	free(th_write(root, ".git/config", "[core]"));
	cr_assert(eq(int, plan(ms, 2, &p, NULL), 0));
	op = find(&p, "/workspace/.git", NULL);
	cr_assert(not(eq(ptr, (void *)op, NULL)));
	cr_assert(eq(int, op->kind, CELL_OP_RO_BIND));
	cr_assert(eq(str, op->src, git));
	cr_assert(eq(int, find(&p, "/workspace/.cell.json", NULL)->kind, CELL_OP_RO_BIND));
	cr_assert(eq(int, find(&p, "/workspace/.vscode", NULL)->kind, CELL_OP_RO_TMPFS));
	cr_assert(eq(int, find(&p, "/all/src/proj/.git", NULL)->kind, CELL_OP_RO_BIND));
	cell_mount_plan_done(&p);
	free(git);
}

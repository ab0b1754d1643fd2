/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bwrap.h"
#include "shimproto.h"
#include "macro.h"
#include "plan.h"
#include "process.h"
#include "strv.h"

static const char *const bwrap_paths[] = {"/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"};

int cell_bwrap_find(char **ret)
{
	for (size_t i = 0; i < ELEMENTSOF(bwrap_paths); i++) {
		struct stat st;

		if (stat(bwrap_paths[i], &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (access(bwrap_paths[i], X_OK) < 0)
			continue;
		*ret = strdup(bwrap_paths[i]);
		return *ret ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

int cell_version_compare(const char *a, const char *b)
{
	while (*a || *b) {
		char *ea, *eb;
		unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);

		if (x != y)
			return x < y ? -1 : 1;
		a = *ea == '.' ? ea + 1 : ea + strlen(ea);
		b = *eb == '.' ? eb + 1 : eb + strlen(eb);
	}
	return 0;
}

int cell_bwrap_version(const char *bwrap, char **ret)
{
	char *argv[] = {(char *)bwrap, (char *)"--version", NULL};
	_cleanup_free_ char *out = NULL;
	char *v, *end;
	int r;

	r = cell_run_capture(argv, 4096, &out);
	if (r < 0)
		return r;
	if (r != 0 || !out)
		return -EIO;
	/* "bubblewrap 0.8.0\n" */
	v = strrchr(out, ' ');
	v = v ? v + 1 : out;
	end = v + strcspn(v, "\n");
	*end = '\0';
	if (!*v)
		return -EIO;
	*ret = strdup(v);
	return *ret ? 0 : -ENOMEM;
}

static int push(char ***argv, const char *a)
{
	return cell_strv_extend(argv, a);
}

/* an option and its values: a fixed count, checked by the compiler */
static int push2(char ***argv, const char *a, const char *b)
{
	return cell_strv_extend_many(argv, a, b, (char *)NULL);
}

static int push3(char ***argv, const char *a, const char *b, const char *c)
{
	return cell_strv_extend_many(argv, a, b, c, (char *)NULL);
}

/*
 * What cell-init needs (in the cell's own user namespace) to mount overlays: mounting, reaching
 * the staging directories, and emptying its bounding set before the command runs.
 */
static const char *const init_caps[] = {"CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_SETPCAP"};

static bool has_overlay(const struct cell_plan *p)
{
	for (size_t i = 0; i < p->mounts.n; i++)
		if (p->mounts.ops[i].kind == CELL_OP_OVERLAY)
			return true;
	return false;
}

static int push_op(char ***argv, const struct cell_mount_op *op, unsigned *overlay_n)
{
	char stage[64], lower[96], rw[96];

	switch (op->kind) {
	case CELL_OP_RO_BIND:
		return push3(argv, "--ro-bind", op->src, op->dest);
	case CELL_OP_BIND:
		return push3(argv, "--bind", op->src, op->dest);
	case CELL_OP_DEV_BIND:
		return push3(argv, "--dev-bind", op->src, op->dest);
	case CELL_OP_TMPFS:
		return push2(argv, "--tmpfs", op->dest);
	case CELL_OP_RO_TMPFS: {
		int r = push2(argv, "--tmpfs", op->dest);

		return r < 0 ? r : push2(argv, "--remount-ro", op->dest);
	}
	case CELL_OP_SYMLINK:
		return push3(argv, "--symlink", op->src, op->dest);
	case CELL_OP_PROC:
		return push2(argv, "--proc", op->dest);
	case CELL_OP_DEV:
		return push2(argv, "--dev", op->dest);
	case CELL_OP_OVERLAY: {
		int r;

		/* staged here, mounted at dest by cell-init once bwrap is done */
		snprintf(stage, sizeof(stage), CELL_OVERLAY_STAGING "/%u", (*overlay_n)++);
		snprintf(lower, sizeof(lower), "%s/lower", stage);
		snprintf(rw, sizeof(rw), "%s/rw", stage);
		r = push3(argv, "--ro-bind", op->src, lower);
		if (r >= 0)
			r = op->upper_dir ? push3(argv, "--bind", op->upper_dir, rw)
					  : push2(argv, "--dir", rw);
		if (r >= 0)
			r = push2(argv, "--dir", op->dest);
		return r;
	}
	}
	return -EINVAL;
}

bool cell_bwrap_netns_proxy(const struct cell_plan *p)
{
	return p->net_mode == CELL_NET_PROXY && p->isolation == CELL_ISOLATION_NETNS;
}

int cell_bwrap_net_fd(const struct cell_plan *p)
{
	return (int)(CELL_BWRAP_FD_FILES + p->n_files + (p->session ? 1 : 0));
}

int cell_bwrap_argv(const char *bwrap, const struct cell_plan *p, char ***ret)
{
	static const char *const unshare[] = {"--unshare-user", "--unshare-pid", "--unshare-ipc",
					      "--unshare-uts", "--unshare-cgroup"};
	_cleanup_strv_free_ char **argv = NULL;
	char num[32];
	unsigned overlay_n = 0;
	int r = push(&argv, bwrap);

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(unshare); i++)
		r = push(&argv, unshare[i]);
	/* proxy: the host's network, which the cell's cgroup confines (bpf/cell.bpf.c), or one of
	 * its own, whose loopback has the proxy's socket (netns.h) */
	if (r >= 0 && (p->net_mode == CELL_NET_NONE || cell_bwrap_netns_proxy(p)))
		r = push(&argv, "--unshare-net");
	if (r >= 0)
		r = push2(&argv, "--hostname", p->hostname);
	if (r >= 0)
		r = push2(&argv, "--die-with-parent", "--as-pid-1");
	/* with overlays, cell-init gets what it needs to mount them, and drops it all before the
	 * command runs */
	if (r >= 0)
		r = push2(&argv, "--cap-drop", "ALL");
	for (size_t i = 0; r >= 0 && i < (has_overlay(p) ? ELEMENTSOF(init_caps) : 0); i++)
		r = push2(&argv, "--cap-add", init_caps[i]);
	snprintf(num, sizeof(num), "%d", CELL_BWRAP_FD_SECCOMP);
	if (r >= 0)
		r = push2(&argv, "--seccomp", num);
	snprintf(num, sizeof(num), "%d", CELL_BWRAP_FD_INFO);
	if (r >= 0)
		r = push2(&argv, "--info-fd", num);
	for (size_t i = 0; r >= 0 && i < p->mounts.n; i++)
		r = push_op(&argv, &p->mounts.ops[i], &overlay_n);
	/* the config's own, before the files and binds cell-init and the shim rely on */
	for (size_t i = 0; r >= 0 && p->bwrap_args && p->bwrap_args[i]; i++)
		r = push(&argv, p->bwrap_args[i]);
	for (size_t i = 0; r >= 0 && i < p->n_files; i++) {
		char perms[16];

		snprintf(perms, sizeof(perms), "%04o", p->files[i].mode);
		if (p->files[i].mode)
			r = push2(&argv, "--perms", perms);
		snprintf(num, sizeof(num), "%zu", CELL_BWRAP_FD_FILES + i);
		if (r >= 0)
			r = push3(&argv, "--ro-bind-data", num, p->files[i].dest);
	}
	if (r >= 0)
		r = push3(&argv, "--ro-bind", p->init, CELL_INIT_PATH);
	if (r >= 0 && p->shim)
		r = push3(&argv, "--ro-bind", p->shim, CELL_SHIM_PATH);
	if (r >= 0)
		r = push2(&argv, "--chdir", p->cwd);
	snprintf(num, sizeof(num), "%d", CELL_BWRAP_FD_READY);
	if (r >= 0)
		r = push2(&argv, "--", CELL_INIT_PATH);
	if (r >= 0)
		r = push2(&argv, "--ready-fd", num);
	if (r >= 0 && p->shim)
		r = push2(&argv, "--preload", CELL_SHIM_PATH);
	if (r >= 0 && p->enter_hooks)
		r = push2(&argv, "--enter-hooks", p->enter_hooks);
	snprintf(num, sizeof(num), "%d", cell_bwrap_net_fd(p));
	if (r >= 0 && cell_bwrap_netns_proxy(p))
		r = push2(&argv, "--net-fd", num);
	snprintf(num, sizeof(num), "%u", (unsigned)p->nproc);
	if (r >= 0 && p->nproc)
		r = push2(&argv, "--nproc", num);
	overlay_n = 0;
	for (size_t i = 0; r >= 0 && i < p->mounts.n; i++) {
		const struct cell_mount_op *op = &p->mounts.ops[i];

		if (op->kind != CELL_OP_OVERLAY)
			continue;
		snprintf(num, sizeof(num), "%u", overlay_n++);
		r = push3(&argv, op->upper_dir ? "--overlay" : "--tmp-overlay", num, op->dest);
	}
	/* a session's cell-init holds the cell for its members, who join it (join.h), while its
	 * keeper's pipe (after the files: launch.c) is open */
	snprintf(num, sizeof(num), "%zu", CELL_BWRAP_FD_FILES + p->n_files);
	if (r >= 0 && p->session)
		r = push3(&argv, "--keeper-fd", num, "--session");
	if (r >= 0 && !p->session)
		r = push(&argv, "--");
	for (size_t i = 0; r >= 0 && !p->session && p->argv[i]; i++)
		r = push(&argv, p->argv[i]);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(argv);
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "mounts.h"
#include "path.h"
#include "project.h"

/* System directories bound read-only when they exist (merged-/usr symlinks stay symlinks). */
static const char *const system_dirs[] = {
	"/usr",	  "/bin",    "/sbin", "/lib", "/lib32",
	"/lib64", "/libx32", "/etc",  "/opt", "/nix/store",
};

/* The user's files that shells and git read at start, bound read-only into the private $HOME. */
static const char *const home_files[] = {
	".bashrc",  ".bash_profile", ".bash_login", ".profile",	   ".bash_logout",
	".inputrc", ".zshenv",	     ".zprofile",   ".zshrc",	   ".zlogin",
	".zlogout", ".config/fish",  ".gitconfig",  ".config/git",
};

/*
 * Inside the project, paths through which code in the cell could reach outside it later: a git
 * hook or git config (core.fsmonitor, core.hooksPath, commondir, submodules) runs the moment the
 * user runs git outside, so .git is read-only as a whole unless hardening.git_writable; .envrc
 * runs under direnv, and the other files a provider evaluates outside (provider.h) as well;
 * editor settings run tasks; .cell.json would widen the cell.
 */
static const char *const protected_paths[] = {
	".git",
	".cell.json",
	".envrc",
	".vscode",
	".idea",
	"devenv.nix",
	"devenv.yaml",
	"devenv.lock",
	"flake.nix",
	"flake.lock",
	"mise.toml",
	".mise.toml",
	".tool-versions",
	"devenv.local.nix",
	"devenv.local.yaml",
	"mise.local.toml",
	".mise.local.toml",
	"mise",
	".mise",
	".config/mise",
	".config/mise.toml",
	NULL,
};

static const char *const class_names[] = {
	[CELL_CLASS_DEFAULT] = "default",     [CELL_CLASS_PROJECT] = "project",
	[CELL_CLASS_PRESET] = "preset",	      [CELL_CLASS_CONFIG] = "config",
	[CELL_CLASS_PROTECTED] = "protected",
};

static void op_done(struct cell_mount_op *o)
{
	free(o->src);
	free(o->dest);
	free(o->upper_dir);
	free(o->origin);
}

void cell_mount_plan_done(struct cell_mount_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		op_done(&p->ops[i]);
	free(p->ops);
	*p = (struct cell_mount_plan){0};
}

/* Appends an op; the strings are copied. */
static int add(struct cell_mount_plan *p, enum cell_mount_op_kind kind, enum cell_mount_class class,
	       const char *src, const char *dest, const char *upper, const char *origin)
{
	struct cell_mount_op *ops = reallocarray(p->ops, p->n + 1, sizeof(*ops));
	struct cell_mount_op *op;

	if (!ops)
		return -ENOMEM;
	p->ops = ops;
	op = &ops[p->n];
	*op = (struct cell_mount_op){
		.kind = kind,
		.class = class,
		.src = src ? strdup(src) : NULL,
		.dest = strdup(dest),
		.upper_dir = upper ? strdup(upper) : NULL,
		.origin = strdup(origin ? origin : class_names[class]),
	};
	p->n++;
	if ((src && !op->src) || !op->dest || (upper && !op->upper_dir) || !op->origin)
		return -ENOMEM;
	return 0;
}

int cell_mount_plan_add(struct cell_mount_plan *p, enum cell_mount_op_kind kind, const char *src,
			const char *dest, const char *origin)
{
	return add(p, kind, CELL_CLASS_DEFAULT, src, dest, NULL, origin);
}

static int add_system(struct cell_mount_plan *p)
{
	for (size_t i = 0; i < ELEMENTSOF(system_dirs); i++) {
		const char *d = system_dirs[i];
		char target[PATH_MAX];
		struct stat st;
		ssize_t n;
		int r;

		if (lstat(d, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			n = readlink(d, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			r = add(p, CELL_OP_SYMLINK, CELL_CLASS_DEFAULT, target, d, NULL, NULL);
		} else if (S_ISDIR(st.st_mode)) {
			r = add(p, CELL_OP_RO_BIND, CELL_CLASS_DEFAULT, d, d, NULL, NULL);
		} else {
			continue;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_home(struct cell_mount_plan *p, const struct cell_mounts_input *in)
{
	int r;

	r = add(p, CELL_OP_TMPFS, CELL_CLASS_DEFAULT, NULL, in->home, NULL, NULL);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(home_files); i++) {
		_cleanup_free_ char *f = cell_path_join(in->home, home_files[i]);
		struct stat st;

		if (!f)
			return -ENOMEM;
		if (stat(f, &st) < 0)
			continue;
		r = add(p, CELL_OP_RO_BIND, CELL_CLASS_DEFAULT, f, f, NULL, NULL);
	}
	return r;
}

static int refuse_symlink(const char *path, struct cell_diag *diag)
{
	return cell_diag_set(diag, -ELOOP, NULL, NULL,
			     "'%s' is a symbolic link; cell keeps it read-only only as a real file "
			     "or directory (a link could be re-pointed from inside the cell)",
			     path);
}

/* core.hooksPath from .git/config, if set: a plain scan of the [core] section. */
static char *hooks_path(const char *git)
{
	_cleanup_free_ char *cfg = cell_path_join(git, "config"), *text = NULL;
	char *save = NULL;
	bool core = false;

	if (!cfg || cell_read_file(cfg, O_NOFOLLOW, CELL_FILE_MAX, &text, NULL) < 0)
		return NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line + strspn(line, " \t"), *v;

		if (*p == '[') {
			core = strncasecmp(p, "[core]", 6) == 0;
			continue;
		}
		if (!core || strncasecmp(p, "hookspath", 9) != 0)
			continue;
		v = strchr(p, '=');
		if (!v)
			continue;
		v += 1 + strspn(v + 1, " \t\"");
		v[strcspn(v, "\"\r")] = '\0';
		return strdup(v);
	}
	return NULL;
}

/*
 * Where git looks for hooks, when that is inside the project but outside .git: core.hooksPath
 * (husky and friends) or a .git/hooks that is a symlink. Such a place stays read-only too.
 */
static int add_hooks_elsewhere(struct cell_mount_plan *p, const char *root, const char *git)
{
	_cleanup_free_ char *configured = hooks_path(git), *link = cell_path_join(git, "hooks");
	_cleanup_free_ char *target = NULL, *abs = NULL;
	struct stat st;

	if (configured && configured[0] && configured[0] != '~') {
		abs = configured[0] == '/' ? strdup(configured) : cell_path_join(root, configured);
		if (abs && cell_path_normalize(abs) >= 0)
			target = realpath(abs, NULL);
	} else if (link && lstat(link, &st) == 0 && S_ISLNK(st.st_mode)) {
		target = realpath(link, NULL);
	}
	if (!target || !cell_path_is_below(target, root) || cell_path_is_below(target, git) ||
	    stat(target, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	return add(p, CELL_OP_RO_BIND, CELL_CLASS_PROTECTED, target, target, NULL,
		   "protected (git hooks)");
}

static int add_git(struct cell_mount_plan *p, const char *root, const char *git, bool writable,
		   struct cell_diag *diag)
{
	static const char *const inside[] = {"hooks", "config", "commondir", "config.worktree"};
	struct stat st;
	int r;

	/* none yet: an empty read-only one (unless hardening.git_writable), so that no repository
	 * can be made whose config (a core.fsmonitor) the user's git, or a prompt's, runs outside;
	 * git passes over an empty .git as if there were none */
	if (lstat(git, &st) < 0)
		return writable ? 0
				: add(p, CELL_OP_RO_TMPFS, CELL_CLASS_PROTECTED, NULL, git, NULL,
				      NULL);
	if (S_ISLNK(st.st_mode))
		return refuse_symlink(git, diag);
	/* a file (a worktree's or submodule's pointer to its git dir) is simply kept as it is */
	if (!S_ISDIR(st.st_mode) || !writable) {
		r = add(p, CELL_OP_RO_BIND, CELL_CLASS_PROTECTED, git, git, NULL, NULL);
		if (r < 0 || !S_ISDIR(st.st_mode))
			return r;
		return add_hooks_elsewhere(p, root, git);
	}
	/* writable: bound onto itself all the same, so it cannot be renamed away from the
	 * read-only mounts inside it */
	r = add(p, CELL_OP_BIND, CELL_CLASS_PROTECTED, git, git, NULL, NULL);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(inside); i++) {
		_cleanup_free_ char *path = cell_path_join(git, inside[i]);

		if (!path)
			return -ENOMEM;
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && !streq(inside[i], "hooks"))
			r = refuse_symlink(path, diag);
		else if (lstat(path, &st) == 0)
			r = add(p, CELL_OP_RO_BIND, CELL_CLASS_PROTECTED, path, path, NULL, NULL);
		else if (streq(inside[i], "hooks"))
			/* no hooks dir yet: an empty read-only one, so none can be planted */
			r = add(p, CELL_OP_RO_TMPFS, CELL_CLASS_PROTECTED, NULL, path, NULL, NULL);
	}
	return r < 0 ? r : add_hooks_elsewhere(p, root, git);
}

static int add_protected(struct cell_mount_plan *p, const char *root, bool git_writable,
			 struct cell_diag *diag)
{
	for (const char *const *rel = protected_paths; *rel; rel++) {
		_cleanup_free_ char *path = cell_path_join(root, *rel);
		struct stat st;
		int r = 0;

		if (!path)
			return -ENOMEM;
		if (streq(*rel, ".git"))
			r = add_git(p, root, path, git_writable, diag);
		else if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			r = refuse_symlink(path, diag);
		else if (lstat(path, &st) == 0)
			r = add(p, CELL_OP_RO_BIND, CELL_CLASS_PROTECTED, path, path, NULL, NULL);
		else if (streq(*rel, ".vscode") || streq(*rel, ".idea"))
			/* none yet: an empty read-only one, so no editor tasks can be planted */
			r = add(p, CELL_OP_RO_TMPFS, CELL_CLASS_PROTECTED, NULL, path, NULL, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "home/u/.npm" from "/home/u/.npm" with '%' and '/' escaped: a flat, reversible dir name. */
static char *escape_dest(const char *dest)
{
	size_t n = 0;
	char *s = malloc(strlen(dest) * 3 + 1);

	if (!s)
		return NULL;
	for (const char *c = dest + 1; *c; c++) {
		if (*c == '/' || *c == '%') {
			n += (size_t)sprintf(s + n, "%%%02X", (unsigned char)*c);
		} else {
			s[n++] = *c;
		}
	}
	s[n] = '\0';
	return s;
}

static char *state_path(const struct cell_mounts_input *in, const char *kind, const char *dest)
{
	_cleanup_free_ char *name = escape_dest(dest);
	char *s;

	if (!name || asprintf(&s, "%s/%s/%s", in->state_dir, kind, name) < 0)
		return NULL;
	return s;
}

/*
 * The directories a provider keeps its state in (devenv's .devenv, direnv's .direnv: profiles,
 * caches, and the .rc files nix-direnv sources outside) are per-project state directories in the
 * cell, bound over the project's: nothing written in them inside is read outside later. Only in
 * projects that use the provider (its file or its directory is there).
 */
static int add_provider_state(struct cell_mount_plan *p, const struct cell_mounts_input *in,
			      struct cell_diag *diag)
{
	static const char *const dirs[][2] = {{".devenv", "devenv.nix"}, {".direnv", ".envrc"}};

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_free_ char *dest = cell_path_join(in->root, dirs[i][0]),
				    *input = cell_path_join(in->root, dirs[i][1]), *src = NULL;
		struct stat st;
		int r;

		if (!dest || !input)
			return -ENOMEM;
		if (lstat(dest, &st) == 0 && S_ISLNK(st.st_mode))
			return refuse_symlink(dest, diag);
		if (lstat(dest, &st) < 0 && lstat(input, &st) < 0)
			continue;
		src = state_path(in, "state", dest);
		if (!src)
			return -ENOMEM;
		r = add(p, CELL_OP_BIND, CELL_CLASS_PROTECTED, src, dest, src,
			"the provider's state, the cell's own");
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_config_mount(struct cell_mount_plan *p, const struct cell_mount *m,
			    const struct cell_mounts_input *in, struct cell_diag *diag)
{
	static const enum cell_mount_op_kind kinds[] = {
		[CELL_MOUNT_RO] = CELL_OP_RO_BIND,	[CELL_MOUNT_RW] = CELL_OP_BIND,
		[CELL_MOUNT_DEV] = CELL_OP_DEV_BIND,	[CELL_MOUNT_TMPFS] = CELL_OP_TMPFS,
		[CELL_MOUNT_OVERLAY] = CELL_OP_OVERLAY, [CELL_MOUNT_STATE] = CELL_OP_BIND,
	};
	enum cell_mount_class class = m->from_preset ? CELL_CLASS_PRESET : CELL_CLASS_CONFIG;
	_cleanup_free_ char *src = NULL, *upper = NULL;
	struct stat st;

	if (streq(m->dest, "/"))
		return cell_diag_set(diag, -EINVAL, NULL, NULL,
				     "%s: a mount cannot replace the root of the cell", m->origin);
	switch (m->mode) {
	case CELL_MOUNT_TMPFS:
		break;
	case CELL_MOUNT_STATE:
		src = state_path(in, "state", m->dest);
		if (!src)
			return -ENOMEM;
		break;
	default:
		if (stat(m->path, &st) < 0) {
			if (errno == ENOENT && m->optional)
				return 0;
			/* (where in its file the mount is: FILE:LINE:COL) */
			return cell_diag_set(
				diag, negative_errno(), NULL, NULL, "%s: '%s' %s%s",
				m->where ? m->where : m->origin, m->path,
				errno == ENOENT ? "does not exist" : strerror(errno),
				errno == ENOENT ? " (\"optional\": true skips a missing source)"
						: "");
		}
		if (m->mode == CELL_MOUNT_OVERLAY && !S_ISDIR(st.st_mode))
			return cell_diag_set(diag, -ENOTDIR, NULL, NULL,
					     "%s: '%s' is not a directory; overlay needs one",
					     m->origin, m->path);
		src = m->canonicalize ? realpath(m->path, NULL) : strdup(m->path);
		if (!src && m->canonicalize && errno != ENOMEM)
			return cell_diag_set(diag, negative_errno(), NULL, NULL, "%s: '%s': %s",
					     m->origin, m->path, strerror(errno));
		if (!src)
			return -ENOMEM;
		if (cell_path_is_below(m->path, in->root)) {
			/* the cell can write here: between two cells it could turn the source into
			 * a symlink to anywhere, so the real path is bound, and it must still be
			 * inside the project */
			_cleanup_free_ char *real = realpath(m->path, NULL);

			if (!real || !cell_path_is_below(real, in->root))
				return cell_diag_set(
					diag, -EPERM, NULL, NULL,
					"%s: '%s' now leads outside the project (to '%s'); "
					"refusing to mount it",
					m->origin, m->path, real ? real : "?");
			free(src);
			src = TAKE_PTR(real);
		}
		if (m->mode == CELL_MOUNT_OVERLAY && !m->ephemeral) {
			upper = state_path(in, "overlay", m->dest);
			if (!upper)
				return -ENOMEM;
		}
		break;
	}
	return add(p, kinds[m->mode], class, src, m->dest,
		   m->mode == CELL_MOUNT_STATE ? src : upper, m->origin);
}

static size_t depth(const char *path)
{
	size_t n = 0;

	for (const char *c = path; *c; c++)
		n += *c == '/';
	return streq(path, "/") ? 0 : n;
}

/*
 * Two ops at one dest: the stronger class wins and the other is dropped, except that two
 * config mounts, or a config mount over a protected path or the project root, are errors.
 */
static int resolve_duplicates(struct cell_mount_plan *p, struct cell_diag *diag)
{
	for (size_t i = 0; i < p->n; i++)
		for (size_t j = i + 1; j < p->n; j++) {
			struct cell_mount_op *a = &p->ops[i], *b = &p->ops[j], *loser;
			enum cell_mount_class lo = a->class < b->class ? a->class : b->class;
			enum cell_mount_class hi = a->class < b->class ? b->class : a->class;

			if (!streq(a->dest, b->dest))
				continue;
			if ((lo == CELL_CLASS_CONFIG && hi == CELL_CLASS_CONFIG) ||
			    (hi == CELL_CLASS_PROTECTED && lo >= CELL_CLASS_PRESET) ||
			    (lo == CELL_CLASS_PROJECT && hi >= CELL_CLASS_PRESET))
				return cell_diag_set(diag, -EINVAL, NULL, NULL,
						     "%s and %s both mount '%s'", a->origin,
						     b->origin, a->dest);
			loser = a->class < b->class ? a : b;
			op_done(loser);
			memmove(loser, loser + 1,
				(size_t)(p->ops + p->n - loser - 1) * sizeof(*loser));
			p->n--;
			i = (size_t)-1;
			break;
		}
	return 0;
}

/* An overlay is mounted after every other mount, so it must not cover any of them. */
static int check_overlays(const struct cell_mount_plan *p, struct cell_diag *diag)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->ops[i].kind != CELL_OP_OVERLAY)
			continue;
		for (size_t j = 0; j < p->n; j++)
			if (j != i && cell_path_is_below(p->ops[j].dest, p->ops[i].dest))
				return cell_diag_set(
					diag, -EINVAL, NULL, NULL,
					"%s: the overlay at '%s' would cover %s at '%s'",
					p->ops[i].origin, p->ops[i].dest, p->ops[j].origin,
					p->ops[j].dest);
	}
	return 0;
}

/* Stable insertion sort by depth: parents before children, written order otherwise. */
static void sort_by_depth(struct cell_mount_plan *p)
{
	for (size_t i = 1; i < p->n; i++) {
		struct cell_mount_op op = p->ops[i];
		size_t d = depth(op.dest), j = i;

		while (j > 0 && depth(p->ops[j - 1].dest) > d) {
			p->ops[j] = p->ops[j - 1];
			j--;
		}
		p->ops[j] = op;
	}
}

/*
 * The project bound read-write somewhere else too (a mount of the project, or of a directory
 * holding it, at another place: /workspace): there it would be without what add_protected puts
 * over it, so the same read-only ops go there as well.
 */
static int protect_elsewhere(struct cell_mount_plan *p, const char *root)
{
	size_t n = p->n;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct cell_mount_op *op = &p->ops[i];
		size_t len;

		if ((op->kind != CELL_OP_BIND && op->kind != CELL_OP_DEV_BIND) || !op->src ||
		    streq(op->src, op->dest) || !cell_path_is_below(root, op->src))
			continue;
		len = strlen(op->src);
		for (size_t k = 0; r >= 0 && k < n; k++) {
			const struct cell_mount_op *pr = &p->ops[k];
			_cleanup_free_ char *dest = NULL, *src = NULL, *origin = NULL;
			enum cell_mount_op_kind kind = pr->kind;

			if (pr->class != CELL_CLASS_PROTECTED ||
			    !cell_path_is_below(pr->dest, op->src))
				continue;
			/* (op's src may be "/": then all of the path follows) */
			dest = cell_path_join(op->dest, pr->dest + (len > 1 ? len : 0));
			src = pr->src ? strdup(pr->src) : NULL;
			origin = strdup(pr->origin);
			if (!dest || (pr->src && !src) || !origin)
				return -ENOMEM;
			r = add(p, kind, CELL_CLASS_PROTECTED, src, dest, NULL, origin);
			op = &p->ops[i]; /* (add may move the array) */
		}
	}
	return r;
}

/*
 * A mount whose destination is in the project, below a link there (a link the cell can make):
 * bubblewrap sets up mounts while the host's / is still at /oldroot and would follow the link,
 * making the mount point (a directory, an empty file) wherever it names on the host. Refused.
 * (The link itself as a destination is the ops' own business: protected paths refuse it.)
 */
static int check_links_on_the_way(const struct cell_mount_plan *p, const char *root,
				  struct cell_diag *diag)
{
	size_t n = strlen(root);

	for (size_t i = 0; i < p->n; i++) {
		const char *dest = p->ops[i].dest;
		_cleanup_free_ char *path = NULL;

		if (!cell_path_is_below(dest, root) || streq(dest, root))
			continue;
		path = strdup(dest);
		if (!path)
			return -ENOMEM;
		/* each directory between the root and the destination */
		for (char *slash = path + n + 1; (slash = strchr(slash, '/')); slash++) {
			struct stat st;
			int r;

			*slash = '\0';
			r = lstat(path, &st);
			if (r == 0 && S_ISLNK(st.st_mode))
				return cell_diag_set(
					diag, -ELOOP, NULL, NULL,
					"'%s' is a symbolic link, and %s mounts at '%s' below it: "
					"bubblewrap would follow it (a link could be made from inside "
					"the cell); make it a directory",
					path, p->ops[i].origin, dest);
			*slash = '/';
			if (r < 0)
				break;
		}
	}
	return 0;
}

int cell_mounts_plan(const struct cell_config *c, const struct cell_mounts_input *in,
		     struct cell_mount_plan *ret, struct cell_diag *diag)
{
	struct cell_mount_plan p = {0};
	int r;

	r = cell_project_root_check(in->root, in->home, diag);
	if (r < 0)
		return r;
	r = add_system(&p);
	if (r >= 0)
		r = add(&p, CELL_OP_PROC, CELL_CLASS_DEFAULT, NULL, "/proc", NULL, NULL);
	if (r >= 0)
		r = add(&p, CELL_OP_DEV, CELL_CLASS_DEFAULT, NULL, "/dev", NULL, NULL);
	if (r >= 0)
		r = add(&p, CELL_OP_TMPFS, CELL_CLASS_DEFAULT, NULL, "/tmp", NULL, NULL);
	if (r >= 0)
		r = add(&p, CELL_OP_TMPFS, CELL_CLASS_DEFAULT, NULL, "/var/tmp", NULL, NULL);
	if (r >= 0 && in->home)
		r = add_home(&p, in);
	if (r >= 0)
		r = add(&p, CELL_OP_BIND, CELL_CLASS_PROJECT, in->root, in->root, NULL, NULL);
	if (r >= 0)
		r = add_protected(&p, in->root, c->hardening.git_writable, diag);
	if (r >= 0)
		r = add_provider_state(&p, in, diag);
	for (size_t i = 0; r >= 0 && i < c->n_mounts; i++)
		r = add_config_mount(&p, &c->mounts[i], in, diag);
	if (r >= 0)
		r = protect_elsewhere(&p, in->root);
	if (r >= 0)
		r = resolve_duplicates(&p, diag);
	if (r >= 0)
		r = check_overlays(&p, diag);
	if (r >= 0)
		r = check_links_on_the_way(&p, in->root, diag);
	if (r < 0) {
		if (r == -ENOMEM && diag && !diag->message)
			cell_diag_set(diag, r, NULL, NULL, "out of memory");
		cell_mount_plan_done(&p);
		return r;
	}
	sort_by_depth(&p);
	*ret = p;
	return 0;
}

int cell_mounts_prepare(const struct cell_mount_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct cell_mount_op *op = &p->ops[i];
		_cleanup_free_ char *upper = NULL, *work = NULL;
		int r;

		if (!op->upper_dir)
			continue;
		if (op->kind != CELL_OP_OVERLAY) {
			r = cell_mkdir_p(op->upper_dir, 0700);
			if (r < 0)
				return r;
			continue;
		}
		upper = cell_path_join(op->upper_dir, "upper");
		work = cell_path_join(op->upper_dir, "work");
		if (!upper || !work)
			return -ENOMEM;
		r = cell_mkdir_p(upper, 0700);
		if (r >= 0)
			r = cell_mkdir_p(work, 0700);
		if (r < 0)
			return r;
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "providercell.h"
#include "secrets.h"
#include "strv.h"

/* In the home: where the providers keep what they write, and whose they are (a bit for each
 * provider: direnv's `use flake` runs nix, devenv is nix). */
#define P(x) (1u << CELL_PROVIDER_##x)
static const struct {
	const char *path;
	unsigned providers;
} home_written[] = {
	{".cache/nix", P(NIX) | P(DEVENV) | P(DIRENV)},
	{".local/state/nix", P(NIX) | P(DEVENV) | P(DIRENV)},
	{".local/share/nix", P(NIX) | P(DEVENV) | P(DIRENV)},
	{".cache/devenv", P(DEVENV)},
	{".local/share/devenv", P(DEVENV)},
	{".cache/direnv", P(DIRENV)},
	{".local/share/direnv", P(DIRENV)},
	{".cache/mise", P(MISE)},
	{".local/share/mise", P(MISE)},
	{".local/state/mise", P(MISE)},
};

/* In the project: the providers' own directories (nix-direnv's caches, devenv's state). */
static const struct {
	const char *path;
	unsigned providers;
} project_written[] = {{".direnv", P(DIRENV)}, {".devenv", P(DEVENV)}};

int cell_provider_cell_prepare(const struct cell_provider_cell *in, enum cell_env_provider p)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(home_written); i++) {
		_cleanup_free_ char *path = cell_path_join(in->home, home_written[i].path);

		if (!path)
			return -ENOMEM;
		if (home_written[i].providers & (1u << p))
			r = cell_mkdir_p(path, 0700);
	}
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(project_written); i++) {
		_cleanup_free_ char *path = cell_path_join(in->root, project_written[i].path);
		struct stat st;

		if (!path)
			return -ENOMEM;
		/* (a link, which a cell could have made, would lead the rw bind anywhere) */
		if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode))
			return -ELOOP;
		if (project_written[i].providers & (1u << p))
			r = cell_mkdir_p(path, 0755);
	}
	return r;
}

/* dir/rel written in the sandbox, if it is a directory (not a link to one). */
static int bind_try(char ***argv, const char *dir, const char *rel)
{
	_cleanup_free_ char *path = cell_path_join(dir, rel);
	struct stat st;

	if (!path)
		return -ENOMEM;
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	return cell_strv_extend_many(argv, "--bind", path, path, (char *)NULL);
}

/* An empty tmpfs over each credential directory there is (a file: an empty one over it). */
static int hide_secrets(char ***argv, const char *home)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < cell_n_secret_dirs; i++) {
		_cleanup_free_ char *path = cell_path_join(home, cell_secret_dirs[i]);
		struct stat st;

		if (!path)
			return -ENOMEM;
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			r = cell_strv_extend_many(argv, "--tmpfs", path, (char *)NULL);
		else
			r = cell_strv_extend_many(argv, "--ro-bind", "/dev/null", path,
						  (char *)NULL);
	}
	return r;
}

int cell_provider_cell_argv(const struct cell_provider_cell *in, char *const *command, char ***ret)
{
	_cleanup_strv_free_ char **argv = NULL;
	struct stat st;
	int r = cell_strv_extend_many(&argv, in->bwrap, "--unshare-user", "--unshare-pid",
				      "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
				      "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
				      "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
				      "--bind-try", "/nix", "/nix", (char *)NULL);

	/* (what /tmp's tmpfs hid that the provider needs: the project, the home, its TMPDIR) */
	if (r >= 0 && cell_path_is_below(in->root, "/tmp"))
		r = cell_strv_extend_many(&argv, "--ro-bind", in->root, in->root, (char *)NULL);
	if (r >= 0 && cell_path_is_below(in->home, "/tmp") &&
	    !cell_path_is_below(in->root, in->home))
		r = cell_strv_extend_many(&argv, "--ro-bind", in->home, in->home, (char *)NULL);
	if (r >= 0 && in->tmpdir && cell_path_is_below(in->tmpdir, "/tmp"))
		r = cell_strv_extend_many(&argv, "--bind-try", in->tmpdir, in->tmpdir,
					  (char *)NULL);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(home_written); i++)
		r = bind_try(&argv, in->home, home_written[i].path);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(project_written); i++)
		r = bind_try(&argv, in->root, project_written[i].path);
	if (r >= 0 && in->nix_state)
		r = cell_strv_extend_many(&argv, "--bind", in->nix_state, in->nix_state,
					  (char *)NULL);
	if (r >= 0)
		r = hide_secrets(&argv, in->home);
	/* the session bus (systemd-run --user), agents' sockets, the Wayland socket */
	if (r >= 0 && in->runtime_dir && stat(in->runtime_dir, &st) == 0 && S_ISDIR(st.st_mode))
		r = cell_strv_extend_many(&argv, "--tmpfs", in->runtime_dir, (char *)NULL);
	if (r >= 0)
		r = cell_strv_extend_many(&argv, "--chdir", in->root, "--", (char *)NULL);
	for (size_t i = 0; r >= 0 && command[i]; i++)
		r = cell_strv_extend(&argv, command[i]);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(argv);
	return 0;
}

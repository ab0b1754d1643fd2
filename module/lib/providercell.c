/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "providercell.h"
#include "strv.h"

/* The providers' settings, read-only in the empty home (each only if it is there). */
static const char *const config_read[] = {"direnv", "nix", "mise", "devenv"};
static const char *const data_read[] = {"direnv", "nix", "mise", "devenv"};
static const char *const state_read[] = {"nix", "mise"};
static const char *const home_read[] = {
	".direnvrc", ".nix-profile", ".nix-defexpr", ".nix-channels", ".tool-versions",
};

int cell_provider_cell_prepare(const struct cell_provider_cell *in, enum cell_env_provider p,
			       int *ret_fd, const char **ret_dir)
{
	const char *dir = p == CELL_PROVIDER_DIRENV   ? ".direnv"
			  : p == CELL_PROVIDER_DEVENV ? ".devenv"
						      : NULL;
	_cleanup_free_ char *path = dir ? cell_path_join(in->root, dir) : NULL;
	int r = cell_mkdir_p(in->state, 0700), fd;

	*ret_fd = -1;
	*ret_dir = NULL;
	if (r < 0 || !dir)
		return r;
	if (!path)
		return -ENOMEM;
	/* (mkdir makes no link; one that is there stays and fails the open) */
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_PATH | O_NOFOLLOW | O_DIRECTORY);
	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ? -ELOOP : -errno;
	*ret_fd = fd;
	*ret_dir = dir;
	return 0;
}

/* base/rel read-only in the sandbox, if it is there. */
static int read_only(char ***argv, const char *base, const char *rel)
{
	_cleanup_free_ char *path = cell_path_join(base, rel);

	if (!path)
		return -ENOMEM;
	return cell_strv_extend_many(argv, "--ro-bind-try", path, path, (char *)NULL);
}

/* An XDG directory: the variable's, else the home's default. */
static int xdg_read_only(char ***argv, const char *home, const char *set, const char *fallback,
			 const char *const *names, size_t n)
{
	_cleanup_free_ char *base = set ? strdup(set) : cell_path_join(home, fallback);
	int r = base ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < n; i++)
		r = read_only(argv, base, names[i]);
	return r;
}

/* The runtime directories: $XDG_RUNTIME_DIR and /run/user/UID (set or not). */
static int hide_runtime(char ***argv, const char *runtime_dir)
{
	char run[64];
	struct stat st;
	int r = 0;

	snprintf(run, sizeof(run), "/run/user/%u", (unsigned)getuid());
	if (stat(run, &st) == 0 && S_ISDIR(st.st_mode))
		r = cell_strv_extend_many(argv, "--tmpfs", run, (char *)NULL);
	if (r >= 0 && runtime_dir && !streq(runtime_dir, run) && stat(runtime_dir, &st) == 0 &&
	    S_ISDIR(st.st_mode))
		r = cell_strv_extend_many(argv, "--tmpfs", runtime_dir, (char *)NULL);
	return r;
}

int cell_provider_cell_argv(const struct cell_provider_cell *in, char *const *command, char ***ret)
{
	_cleanup_strv_free_ char **argv = NULL;
	int r = cell_strv_extend_many(&argv, in->bwrap, "--unshare-user", "--unshare-pid",
				      "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
				      "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
				      "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
				      "--bind-try", "/nix", "/nix", (char *)NULL);

	/* the home empty (its credentials are more than any list names), then what is needed */
	if (r >= 0 && !streq(in->home, "/"))
		r = cell_strv_extend_many(&argv, "--tmpfs", in->home, (char *)NULL);
	if (r >= 0)
		r = hide_runtime(&argv, in->runtime_dir);
	if (r >= 0)
		r = xdg_read_only(&argv, in->home, in->config_home, ".config", config_read,
				  ELEMENTSOF(config_read));
	if (r >= 0)
		r = xdg_read_only(&argv, in->home, in->data_home, ".local/share", data_read,
				  ELEMENTSOF(data_read));
	if (r >= 0)
		r = xdg_read_only(&argv, in->home, in->state_home, ".local/state", state_read,
				  ELEMENTSOF(state_read));
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(home_read); i++)
		r = read_only(&argv, in->home, home_read[i]);
	/* (what the tmpfs mounts hid of the project) */
	if (r >= 0)
		r = cell_strv_extend_many(&argv, "--ro-bind", in->root, in->root, (char *)NULL);
	if (r >= 0)
		r = cell_strv_extend_many(&argv, "--bind", in->state, in->state, (char *)NULL);
	/* the provider's own directory in the project, as opened: a link swapped in since is
	 * not followed */
	if (r >= 0 && in->project_dir_fd >= 0) {
		_cleanup_free_ char *src = NULL, *dest = cell_path_join(in->root, in->project_dir);

		/* (bubblewrap closes it once mounted: the provider has no way back up from it) */
		if (asprintf(&src, "%d", in->project_dir_fd) < 0 || !dest)
			return -ENOMEM;
		r = cell_strv_extend_many(&argv, "--bind-fd", src, dest, (char *)NULL);
	}
	if (r >= 0)
		r = cell_strv_extend_many(&argv, "--chdir", in->root, "--", (char *)NULL);
	for (size_t i = 0; r >= 0 && command[i]; i++)
		r = cell_strv_extend(&argv, command[i]);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(argv);
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "user.h"

int cell_user_become(const char *name, struct cell_diag *diag)
{
	static const char *const dropped[] = {"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
					      "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"};
	char runtime[64];
	struct passwd *pw;
	struct stat st;
	uid_t uid;
	gid_t gid;

	errno = 0;
	pw = getpwnam(name);
	if (!pw)
		return cell_diag_set(diag, errno ? -errno : -ESRCH, NULL, NULL, "no user '%s'",
				     name);
	if (pw->pw_uid == 0)
		return cell_diag_set(diag, -EPERM, NULL, NULL,
				     "'%s' is root; a cell runs as an ordinary user", name);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (initgroups(pw->pw_name, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return cell_diag_set(diag, negative_errno(), NULL, NULL,
				     "cannot become user '%s': %s", name, strerror(errno));
	/* for good: no way back to root */
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    setuid(0) == 0)
		return cell_diag_set(diag, -EPERM, NULL, NULL, "could not drop root for good");
	for (size_t i = 0; i < ELEMENTSOF(dropped); i++)
		unsetenv(dropped[i]);
	snprintf(runtime, sizeof(runtime), "/run/user/%u", (unsigned)uid);
	if (stat(runtime, &st) == 0 && st.st_uid == uid)
		setenv("XDG_RUNTIME_DIR", runtime, 1);
	if (setenv("HOME", pw->pw_dir, 1) < 0 || setenv("USER", pw->pw_name, 1) < 0 ||
	    setenv("LOGNAME", pw->pw_name, 1) < 0 ||
	    setenv("SHELL", pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh", 1) < 0)
		return cell_diag_set(diag, -ENOMEM, NULL, NULL, "out of memory");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * test-pam-driver SERVICE USER [CMD [ARGS...]]: a login's session through a real Linux-PAM
 * stack, as sshd or su drive it. Prints "open: RESULT", the PAM environment ("env: NAME=VALUE"
 * each), runs CMD as USER with that environment in the session (in this process's cgroup, as a
 * login shell would be) and prints "status: N", then "close: RESULT". Exits 0 if both
 * succeeded.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <security/pam_appl.h>

static int no_conversation(int n, const struct pam_message **msg, struct pam_response **resp,
			   void *data)
{
	(void)n;
	(void)msg;
	(void)resp;
	(void)data;
	return PAM_CONV_ERR;
}

static int run(pam_handle_t *h, const char *user, char **argv)
{
	struct passwd *pw = getpwnam(user);
	char **env = pam_getenvlist(h);
	int status;
	pid_t pid;

	if (!pw || !env)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
		    setuid(pw->pw_uid) < 0)
			_exit(126);
		execvpe(argv[0], argv, env);
		_exit(127);
	}
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	free(env);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char *argv[])
{
	struct pam_conv conv = {no_conversation, NULL};
	pam_handle_t *h = NULL;
	int r, open_r, close_r;
	char **env;

	if (argc < 3) {
		fprintf(stderr, "usage: test-pam-driver SERVICE USER [CMD [ARGS...]]\n");
		return 2;
	}
	r = pam_start(argv[1], argv[2], &conv, &h);
	if (r != PAM_SUCCESS) {
		fprintf(stderr, "pam_start: %s\n", pam_strerror(h, r));
		return 2;
	}
	open_r = pam_open_session(h, 0);
	printf("open: %s\n", pam_strerror(h, open_r));
	env = pam_getenvlist(h);
	for (size_t i = 0; env && env[i]; i++) {
		printf("env: %s\n", env[i]);
		free(env[i]);
	}
	free(env);
	if (open_r == PAM_SUCCESS && argc > 3)
		printf("status: %d\n", run(h, argv[2], argv + 3));
	close_r = open_r == PAM_SUCCESS ? pam_close_session(h, 0) : PAM_SUCCESS;
	printf("close: %s\n", pam_strerror(h, close_r));
	pam_end(h, close_r);
	return open_r == PAM_SUCCESS && close_r == PAM_SUCCESS ? 0 : 1;
}

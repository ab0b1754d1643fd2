/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "fileio.h"
#include "macro.h"
#include "process.h"
#include "secrets.h"

const char *const cell_secret_dirs[] = {
	".ssh",	      ".gnupg",		 ".aws",
	".config/gh", ".docker",	 ".kube",
	".netrc",     ".password-store", ".local/share/cell",
};
const size_t cell_n_secret_dirs = ELEMENTSOF(cell_secret_dirs);

#define SECRET_MAX (64 * 1024)

/*
 * name as execve wants it: itself when it has a '/', else the first executable in the system's
 * directories, never the caller's PATH (which a project's environment may have put a directory
 * of the project's in: direnv's PATH_add node_modules/.bin, and the cell can write there).
 */
static char *program_path(const char *name)
{
	char dirs[] = "/usr/local/bin:/usr/bin:/bin", *save = NULL;

	if (strchr(name, '/'))
		return strdup(name);
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *candidate = NULL;

		if (d[0] != '/' || asprintf(&candidate, "%s/%s", d, name) < 0)
			continue;
		if (access(candidate, X_OK) == 0)
			return candidate;
		free(candidate);
	}
	return NULL;
}

/* The secret's bytes in *ret (malloc'd), *ret_len; an error in why. */
static int read_secret(const struct cell_secret *sec, char **ret, size_t *ret_len, char *why,
		       size_t why_size)
{
	char *out = NULL;
	size_t len = 0;
	int r;

	switch (sec->source) {
	case CELL_SECRET_COMMAND: {
		_cleanup_free_ char *prog = program_path(sec->command[0]);
		char **argv = sec->command;
		char *saved = argv[0];

		if (!prog) {
			snprintf(
				why, why_size,
				"its command '%s' is not in /usr/local/bin, /usr/bin or /bin (give its path)",
				argv[0]);
			return -ENOENT;
		}
		argv[0] = prog;
		r = cell_run_capture(argv, SECRET_MAX, &out);
		argv[0] = saved;
		if (r != 0) {
			if (out)
				explicit_bzero(out, strlen(out));
			free(out);
			snprintf(why, why_size, "its command '%s' %s %d", saved,
				 r < 0 ? "could not run:" : "exited with status", r < 0 ? -r : r);
			return -EIO;
		}
		len = strlen(out);
		break;
	}
	case CELL_SECRET_FILE:
		r = cell_read_file(sec->where, O_NOFOLLOW, SECRET_MAX, &out, &len);
		if (r < 0) {
			snprintf(why, why_size, "cannot read '%s': %s", sec->where, strerror(-r));
			return r;
		}
		len = strcspn(out, "\n");
		break;
	case CELL_SECRET_ENV: {
		const char *v = getenv(sec->where);

		if (!v) {
			snprintf(why, why_size, "the variable %s is not set", sec->where);
			return -ENOENT;
		}
		out = strdup(v);
		if (!out)
			return -ENOMEM;
		len = strlen(out);
		break;
	}
	}
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		len--;
	out[len] = '\0';
	if (len == 0 || memchr(out, '\n', len) || memchr(out, '\r', len)) {
		explicit_bzero(out, len);
		free(out);
		snprintf(why, why_size, len == 0 ? "it is empty" : "it has more than one line");
		return -EINVAL;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

int cell_secrets_load(const struct cell_config *c, struct cell_secret_values **ret,
		      struct cell_diag *diag)
{
	struct cell_secret_values *s;

	*ret = NULL;
	if (c->n_secrets == 0)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->v = calloc(c->n_secrets, sizeof(*s->v)))) {
		free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_secrets; i++) {
		struct cell_secret_value *v = &s->v[s->n];
		char why[256];
		int r = read_secret(&c->secrets[i], &v->value, &v->len, why, sizeof(why));

		if (r < 0) {
			cell_secrets_free(s);
			return cell_diag_set(diag, r, NULL, NULL, "secret \"%s\": %s",
					     c->secrets[i].name, why);
		}
		s->n++;
		v->name = strdup(c->secrets[i].name);
		/* (kept out of swap where the limit allows; a core dump is refused by the
		 * proxy's PR_SET_DUMPABLE) */
		(void)mlock(v->value, v->len + 1);
		if (!v->name) {
			cell_secrets_free(s);
			return -ENOMEM;
		}
	}
	*ret = s;
	return 0;
}

const struct cell_secret_value *cell_secrets_find(const struct cell_secret_values *s,
						  const char *name, size_t len)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (strlen(s->v[i].name) == len && !strncmp(s->v[i].name, name, len))
			return &s->v[i];
	return NULL;
}

void cell_secrets_free(struct cell_secret_values *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].value) {
			explicit_bzero(s->v[i].value, s->v[i].len);
			(void)munlock(s->v[i].value, s->v[i].len + 1);
		}
		free(s->v[i].value);
		free(s->v[i].name);
	}
	free(s->v);
	free(s);
}

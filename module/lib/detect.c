/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "detect.h"
#include "fileio.h"
#include "macro.h"
#include "provider.h"

/* Files that name a project type, and the preset each one implies. */
static const struct {
	const char *file;
	const char *preset;
} markers[] = {
	{"package.json", "node"}, {"pyproject.toml", "python"}, {"requirements.txt", "python"},
	{"setup.py", "python"},	  {"Cargo.toml", "rust"},	{"go.mod", "go"},
	{"flake.nix", "nix"},	  {"shell.nix", "nix"},		{"default.nix", "nix"},
	{"devenv.nix", "nix"},	  {"devenv.yaml", "nix"},	{"devbox.json", "nix"},
};

/* devenv's languages.NAME and the preset each needs. */
static const struct {
	const char *language;
	const char *preset;
} languages[] = {
	{"javascript", "node"}, {"typescript", "node"}, {"python", "python"},
	{"rust", "rust"},	{"go", "go"},
};

static void add_preset(struct cell_detected *d, const char *preset)
{
	for (size_t k = 0; k < d->n_presets; k++)
		if (streq(d->presets[k], preset))
			return;
	if (d->n_presets < CELL_DETECT_MAX)
		d->presets[d->n_presets++] = preset;
}

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* "languages.NAME.enable = true" in devenv.nix (the form devenv's own templates write). */
static void scan_languages(const char *text, struct cell_detected *d)
{
	for (const char *p = strstr(text, "languages."); p; p = strstr(p + 1, "languages.")) {
		const char *name = p + strlen("languages."), *q = name;
		size_t name_len;

		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'))
			continue;
		while (isalnum((unsigned char)*q) || *q == '_' || *q == '-')
			q++;
		name_len = (size_t)(q - name);
		if (strncmp(q, ".enable", 7))
			continue;
		q = skip_blanks(q + 7);
		if (*q != '=')
			continue;
		q = skip_blanks(q + 1);
		if (strncmp(q, "true", 4) || isalnum((unsigned char)q[4]))
			continue;
		for (size_t i = 0; i < ELEMENTSOF(languages); i++)
			if (strlen(languages[i].language) == name_len &&
			    !strncmp(name, languages[i].language, name_len))
				add_preset(d, languages[i].preset);
	}
}

int cell_detect(int dirfd, const char *root, struct cell_detected *ret)
{
	struct cell_detected d = {.provider = CELL_PROVIDER_NONE};
	_cleanup_close_ int fd = -1;

	for (size_t i = 0; i < ELEMENTSOF(markers); i++)
		if (faccessat(dirfd, markers[i].file, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			add_preset(&d, markers[i].preset);
	fd = openat(dirfd, "devenv.nix", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;

		if (cell_read_full_fd(fd, CELL_FILE_MAX, &text, &len) >= 0)
			scan_languages(text, &d);
	}
	d.provider = cell_provider_pick(root, CELL_PROVIDER_AUTO);
	if (faccessat(dirfd, "devbox.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	    d.provider == CELL_PROVIDER_NONE)
		d.notes[d.n_notes++] = "devbox.json: cell has no devbox provider; 'devbox generate "
				       "direnv' writes an .envrc that cell's direnv provider reads";
	if (d.provider != CELL_PROVIDER_NONE)
		d.notes[d.n_notes++] = "env.provider evaluates the project's files outside the "
				       "cell, as you, each time they change and are allowed";
	*ret = d;
	return 0;
}

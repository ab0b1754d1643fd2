/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "diag.h"
#include "hash.h"

#define CELL_CONFIG_FILE ".cell.json"

/* A project: the directory holding a .cell.json, and the bytes of that file as read once. */
struct cell_project {
	char *root;	   /* real path of the project directory */
	char *config_path; /* root + "/.cell.json" */
	char *id;	   /* "<dirname>-<12 hex>": stable per project path, safe as a file name */
	char *text;	   /* the config's bytes, NUL-terminated; trust and parsing use these */
	size_t len;
};

/*
 * Walks up from dir to "/" and takes the first directory holding a .cell.json. Returns -ENOENT
 * when there is none, -ELOOP when the one found is a symlink (cell reads only a regular file);
 * other errors fill diag.
 */
int cell_project_find(const char *dir, struct cell_project **ret, struct cell_diag *diag);
void cell_project_free(struct cell_project *p);
/*
 * Whether root can be a project: not '/' (the cell would be the whole system) and not your home
 * directory nor above it (a cell there would expose all of it, and every cell below would be
 * this one). home: the user's, or NULL. -EINVAL and diag says why.
 */
int cell_project_root_check(const char *root, const char *home, struct cell_diag *diag);
/*
 * The project at root for a cell root opens for someone else (pam_cell.so): its config is
 * config, or root/.cell.json, and must be a regular file owned by root and writable by no
 * one else (-EPERM). Nothing is looked for above root.
 */
int cell_project_open_system(const char *root, const char *config, struct cell_project **ret,
			     struct cell_diag *diag);
/*
 * Loads the effective config: built-in defaults, then user_config (NULL or a missing file: none),
 * then the project's bytes, then presets. On error fills diag and returns a negative errno.
 */
int cell_project_load_config(const struct cell_project *p, const char *user_config,
			     const struct cell_config_env *env, struct cell_config **ret,
			     struct cell_diag *diag);
/* The expansion environment of this process: $HOME (or the password database), $USER, ... */
struct cell_config_env cell_config_env_from_process(void);

static inline void cell_project_freep(struct cell_project **p)
{
	cell_project_free(*p);
}
#define _cleanup_project_ _cleanup_(cell_project_freep)

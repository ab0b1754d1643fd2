/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "diag.h"
#include "mounts.h"
#include "project.h"
#include "seccomp.h"

/* A file the cell gets that exists nowhere on disk (a generated shell rc), read-only. */
struct cell_plan_file {
	char *dest;
	char *content;
};

/*
 * Everything that decides how a cell runs, validated, and nothing done yet: phase two of
 * JSON → plan → executor. cell explain prints it; cell_launch() runs it.
 */
struct cell_plan {
	char *name;
	char *hostname;
	struct cell_mount_plan mounts;
	struct cell_plan_file *files;
	size_t n_files;
	char **env;		     /* the cell's whole environment, NAME=value */
	char *cwd;		     /* the working directory in the cell */
	char **argv;		     /* what runs in the cell */
	enum cell_net_mode net_mode; /* the mode in effect */
	struct cell_seccomp_options seccomp;
	char *init;	 /* host path of cell-init */
	char *shim;	 /* host path of libcellshim.so, bound at CELL_SHIM_PATH (NULL: none) */
	char **notices;	 /* things the user should know before the cell starts */
	char **warnings; /* risky choices the config made, for cell explain */
};

struct cell_plan_input {
	const char *cwd;      /* where the command was started */
	char *const *command; /* what to run */
	char *const *environ; /* the environment outside */
	const char *home;     /* the user's home */
	const char *user;
	const char *shell;	/* the shell the cell's SHELL names */
	const char *state_home; /* $XDG_STATE_HOME/cell */
	const char *init;	/* host path of cell-init */
};

int cell_plan_build(const struct cell_project *p, const struct cell_config *c,
		    const struct cell_plan_input *in, struct cell_plan **ret,
		    struct cell_diag *diag);
/* Sets NAME=value in the cell's environment, replacing an earlier value. */
int cell_plan_setenv(struct cell_plan *plan, const char *name, const char *value);
/* Adds a generated read-only file at dest. */
int cell_plan_add_file(struct cell_plan *plan, const char *dest, const char *content);
void cell_plan_free(struct cell_plan *plan);

static inline void cell_plan_freep(struct cell_plan **p)
{
	cell_plan_free(*p);
}
#define _cleanup_plan_ _cleanup_(cell_plan_freep)

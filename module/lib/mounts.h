/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "diag.h"

/* One step of building the cell's filesystem, in the order bwrap performs them. */
enum cell_mount_op_kind {
	CELL_OP_RO_BIND,  /* src read-only at dest */
	CELL_OP_BIND,	  /* src read-write at dest */
	CELL_OP_DEV_BIND, /* src read-write with device access at dest */
	CELL_OP_TMPFS,	  /* an empty private tmpfs at dest */
	CELL_OP_RO_TMPFS, /* an empty read-only tmpfs (a protected path that does not exist yet) */
	CELL_OP_SYMLINK,  /* a symlink at dest pointing at src */
	CELL_OP_PROC,	  /* a new /proc for the cell's pid namespace */
	CELL_OP_DEV,	  /* a minimal /dev */
	CELL_OP_OVERLAY,  /* src as the lower layer, writes to upper_dir (NULL: thrown away) */
};

/* Where an op comes from; for two ops at one dest, the higher class decides (see mounts.c). */
enum cell_mount_class {
	CELL_CLASS_DEFAULT,
	CELL_CLASS_PROJECT,
	CELL_CLASS_PRESET,
	CELL_CLASS_CONFIG,
	CELL_CLASS_PROTECTED,
};

struct cell_mount_op {
	enum cell_mount_op_kind kind;
	enum cell_mount_class class;
	char *src;	 /* host path (binds, overlay lower), symlink target, or NULL */
	char *dest;	 /* absolute path in the cell */
	char *upper_dir; /* overlay: host dir holding upper/ and work/; state: the dir itself */
	char *origin;	 /* "default", "project", "protected", "preset node", "FILE: mounts[2]" */
};

struct cell_mount_plan {
	struct cell_mount_op *ops;
	size_t n;
};

struct cell_mounts_input {
	const char *root;      /* the project root, a real path */
	const char *home;      /* the user's home; a private tmpfs in the cell */
	const char *state_dir; /* this project's $XDG_STATE_HOME/cell/projects/<id> */
};

/*
 * The ordered mount plan for a config: the system read-only, /proc, /dev, private /tmp and
 * $HOME (with the user's shell rc files and git config read-only), the project read-write, its
 * protected paths read-only, and the config's mounts. Parents come before children whatever the
 * order written. Checks sources (a missing one is an error unless optional) and conflicts (two
 * config mounts at one place, a mount over a protected path or the project root, an overlay
 * holding other mounts); errors name the mounts involved. Creates nothing.
 */
int cell_mounts_plan(const struct cell_config *c, const struct cell_mounts_input *in,
		     struct cell_mount_plan *ret, struct cell_diag *diag);
/* Appends a bind (or another op without an upper dir) after the plan's own: for a file cell
 * itself puts in the cell, whose place nothing else claims. */
int cell_mount_plan_add(struct cell_mount_plan *p, enum cell_mount_op_kind kind, const char *src,
			const char *dest, const char *origin);
/* Creates the state and overlay directories the plan needs (mode 0700). */
int cell_mounts_prepare(const struct cell_mount_plan *p);
void cell_mount_plan_done(struct cell_mount_plan *p);

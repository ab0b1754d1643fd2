/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/*
 * bwrap is looked up only in fixed system locations, never in $PATH: the program that builds
 * the sandbox must not be whatever a project put first in $PATH.
 */
int cell_bwrap_find(char **ret);
/* The oldest bubblewrap with every option cell passes (--as-pid-1, --info-fd, --seccomp,
 * --remount-ro, --ro-bind-data, --die-with-parent). */
#define CELL_BWRAP_MIN_VERSION "0.5.0"
/* Compares dotted versions ("0.10.0" > "0.8.0"); <0, 0, >0 like strcmp. */
int cell_version_compare(const char *a, const char *b);
/* "0.8.0" from `bwrap --version`. */
int cell_bwrap_version(const char *bwrap, char **ret);

struct cell_plan;

/* The fixed descriptors bwrap gets from cell_launch(): the seccomp program, bwrap's info
 * output, the pipe on which cell-init says it is up, then one per generated file of the plan. */
enum {
	CELL_BWRAP_FD_SECCOMP = 3,
	CELL_BWRAP_FD_INFO = 4,
	CELL_BWRAP_FD_READY = 5,
	CELL_BWRAP_FD_FILES = 6,
};

/* Where cell-init and the overlay staging directories are in every cell. */
#define CELL_INIT_PATH "/run/cell/init"
#define CELL_OVERLAY_STAGING "/run/cell/overlay"

/* A proxy cell in a network namespace of its own (netns.h): its cell-init gets --net-fd. */
bool cell_bwrap_netns_proxy(const struct cell_plan *p);
/* Which descriptor that is: after the files, and after a session's keeper pipe. */
int cell_bwrap_net_fd(const struct cell_plan *p);

/* The whole argv that runs the plan under bwrap (argv[0] is bwrap). */
int cell_bwrap_argv(const char *bwrap, const struct cell_plan *p, char ***ret);

/* SPDX-License-Identifier: MIT */
#pragma once

#include "diag.h"

/*
 * For a root caller: becomes user `name` for good (supplementary groups, gid, uid, each checked,
 * and a failed attempt to get root back), and points HOME, USER, LOGNAME and SHELL at them; the
 * caller's XDG base directories are dropped, XDG_RUNTIME_DIR is the user's if it exists.
 * Refuses a user whose uid is 0.
 */
int cell_user_become(const char *name, struct cell_diag *diag);

/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * bwrap is looked up only in fixed system locations, never in $PATH: the program that builds
 * the sandbox must not be whatever a project put first in $PATH.
 */
int cell_bwrap_find(char **ret);
/* "0.8.0" from `bwrap --version`. */
int cell_bwrap_version(const char *bwrap, char **ret);

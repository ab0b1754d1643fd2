/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* Where a home keeps credentials (relative to it): cell explain warns when a mount exposes
 * one, and a provider's sandbox does not see them. */
extern const char *const cell_secret_dirs[];
extern const size_t cell_n_secret_dirs;

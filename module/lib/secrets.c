/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "secrets.h"

const char *const cell_secret_dirs[] = {
	".ssh", ".gnupg", ".aws", ".config/gh", ".docker", ".kube", ".netrc", ".password-store",
};
const size_t cell_n_secret_dirs = ELEMENTSOF(cell_secret_dirs);

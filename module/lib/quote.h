/* SPDX-License-Identifier: MIT */
#pragma once

/* s as one word for a POSIX shell: unchanged when it is plain, else in single quotes. */
char *cell_shell_quote(const char *s);

/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

enum cell_log_level {
	CELL_LOG_ERR,
	CELL_LOG_WARNING,
	CELL_LOG_NOTICE,
	CELL_LOG_INFO,
	CELL_LOG_DEBUG,
};

/* Messages above this level are dropped; CELL_LOG=debug|info|notice|warning|err sets it. */
void cell_log_set_level(enum cell_log_level level);
enum cell_log_level cell_log_get_level(void);
int cell_log_parse_level(const char *s, enum cell_log_level *ret);

void cell_log(enum cell_log_level level, const char *fmt, ...) _printf_(2, 3);
/* Logs with strerror(-r) appended and returns r, so callers can `return cell_log_errno(r, ...)`. */
int cell_log_errno(int r, const char *fmt, ...) _printf_(2, 3);

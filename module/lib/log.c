/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static enum cell_log_level max_level = CELL_LOG_NOTICE;

static const char *const level_names[] = {
	[CELL_LOG_ERR] = "err",	  [CELL_LOG_WARNING] = "warning", [CELL_LOG_NOTICE] = "notice",
	[CELL_LOG_INFO] = "info", [CELL_LOG_DEBUG] = "debug",
};

void cell_log_set_level(enum cell_log_level level)
{
	max_level = level;
}

enum cell_log_level cell_log_get_level(void)
{
	return max_level;
}

int cell_log_parse_level(const char *s, enum cell_log_level *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
		if (streq(s, level_names[i])) {
			*ret = (enum cell_log_level)i;
			return 0;
		}
	return -EINVAL;
}

static void log_va(enum cell_log_level level, int r, const char *fmt, va_list ap)
{
	int saved = errno;
	char buf[2048];

	if (level > max_level)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (r < 0)
		fprintf(stderr, "cell: %s: %s\n", buf, strerror(-r));
	else
		fprintf(stderr, "cell: %s\n", buf);
	errno = saved;
}

void cell_log(enum cell_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(level, 0, fmt, ap);
	va_end(ap);
}

int cell_log_errno(int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(CELL_LOG_ERR, r, fmt, ap);
	va_end(ap);
	return r;
}

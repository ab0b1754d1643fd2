/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "units.h"

int cell_size_parse(const char *s, uint64_t *ret)
{
	static const char units[] = "KMGT";
	const char *p = s, *u;
	double v, mult = 1;

	/* by hand first: strtod alone would take "0x10", "1e6" and "inf" */
	p += strspn(p, "0123456789");
	if (p == s)
		return -EINVAL;
	if (*p == '.') {
		size_t frac = strspn(p + 1, "0123456789");

		if (frac == 0)
			return -EINVAL;
		p += 1 + frac;
	}
	if (*p) {
		u = strchr(units, toupper((unsigned char)*p));
		if (!u || !*u)
			return -EINVAL;
		mult = ldexp(1.0, 10 * (int)(u - units + 1));
		p++;
		if (streq(p, "iB") || streq(p, "B"))
			p += strlen(p);
		if (*p)
			return -EINVAL;
	}
	if (mult == 1 && *p == '\0' && !strchr(s, '.')) {
		/* whole bytes: exact, not through a double */
		unsigned long long b;

		errno = 0;
		b = strtoull(s, NULL, 10);
		if (errno != 0 || b > (1ULL << 53))
			return -EINVAL;
		*ret = b;
		return 0;
	}
	v = strtod(s, NULL) * mult;
	/* 2^53: above it a double no longer counts every byte */
	if (v > 9007199254740992.0 || v != floor(v))
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

int cell_count_parse(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long n;

	if (!(*s >= '0' && *s <= '9'))
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end || n > (1ULL << 53))
		return -EINVAL;
	*ret = (uint64_t)n;
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include "jsonpos.h"

struct scan {
	const char *s;
	size_t len, pos;
};

static void skip_ws(struct scan *sc)
{
	while (sc->pos < sc->len) {
		char c = sc->s[sc->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		sc->pos++;
	}
}

static char peek(const struct scan *sc)
{
	return sc->pos < sc->len ? sc->s[sc->pos] : '\0';
}

static bool skip_string(struct scan *sc)
{
	if (peek(sc) != '"')
		return false;
	for (sc->pos++; sc->pos < sc->len; sc->pos++) {
		if (sc->s[sc->pos] == '\\')
			sc->pos++;
		else if (sc->s[sc->pos] == '"') {
			sc->pos++;
			return true;
		}
	}
	return false;
}

static bool is_delimiter(char c)
{
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skips one value; nesting is tracked with a counter, strings are skipped whole. */
static bool skip_value(struct scan *sc)
{
	size_t nest = 0;
	bool started = false;

	skip_ws(sc);
	for (;;) {
		char c = peek(sc);

		if (c == '\0')
			return false;
		if (nest == 0 && started && is_delimiter(c))
			return true;
		started = true;
		if (c == '"') {
			if (!skip_string(sc))
				return false;
			if (nest == 0)
				return true;
			continue;
		}
		sc->pos++;
		if (c == '{' || c == '[') {
			nest++;
		} else if (c == '}' || c == ']') {
			if (nest == 0)
				return false;
			if (--nest == 0)
				return true;
		}
	}
}

long cell_json_locate(const char *text, size_t len, const size_t *ordinals, size_t depth,
		      bool at_key)
{
	struct scan sc = {.s = text, .len = len, .pos = 0};

	/* a UTF-8 byte order mark is not part of the document */
	if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
	    (unsigned char)text[2] == 0xBF)
		sc.pos = 3;
	skip_ws(&sc);
	for (size_t level = 0; level < depth; level++) {
		char open = peek(&sc);
		bool object = open == '{';

		if (open != '{' && open != '[')
			return -1;
		sc.pos++;
		for (size_t i = 0;; i++) {
			size_t key_pos;

			skip_ws(&sc);
			key_pos = sc.pos;
			if (object) {
				if (!skip_string(&sc))
					return -1;
				skip_ws(&sc);
				if (peek(&sc) != ':')
					return -1;
				sc.pos++;
			}
			skip_ws(&sc);
			if (i == ordinals[level]) {
				if (at_key && object && level + 1 == depth)
					return (long)key_pos;
				break;
			}
			if (!skip_value(&sc))
				return -1;
			skip_ws(&sc);
			if (peek(&sc) != ',')
				return -1;
			sc.pos++;
		}
	}
	return (long)sc.pos;
}

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Finds where a value sits in JSON text that has already been parsed successfully. cJSON keeps no
 * positions, but it keeps members in document order, so a path of ordinals (the n-th member of an
 * object, the n-th element of an array) identifies one place in the text, duplicate keys
 * included. With at_key the offset of the final member's key is returned instead of its value.
 * Returns the byte offset, or -1 when the text does not have that shape.
 */
long cell_json_locate(const char *text, size_t len, const size_t *ordinals, size_t depth,
		      bool at_key);

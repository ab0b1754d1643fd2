/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/*
 * Building one line of JSON in a fixed buffer: each call appends at out[*n..size) and returns
 * false, leaving the line unfinished, when it does not fit.
 */
bool cell_json_put(char *out, size_t size, size_t *n, const char *fmt, ...) _printf_(4, 5);
/* s as a JSON string, escaped (control characters, and bytes past ASCII as \u00XX). */
bool cell_json_put_string(char *out, size_t size, size_t *n, const char *s);
/* ,"key":"value" when value is not NULL. */
bool cell_json_put_field(char *out, size_t size, size_t *n, const char *key, const char *value);
/* A wall-clock time in milliseconds as a JSON string, UTC: "2026-11-23T10:00:00.000Z". */
bool cell_json_put_time(char *out, size_t size, size_t *n, int64_t time_ms);

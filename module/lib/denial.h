/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "cell.h"

/*
 * A denial by the kernel (a struct cell_event from a cell's ring buffer) as one line of JSON,
 * which cell appends to the project's denials.log:
 *
 *   {"kind":"denial","time":"2026-11-23T10:00:00.000Z","cell":ID,"pid":P,"tid":T,
 *    "cell_pid":C,"comm":"curl","family":"ipv4","protocol":"tcp","address":"192.0.2.1",
 *    "port":443,"reason":"not-loopback"}
 *
 * pid and tid are as the host sees them, cell_pid as the cell does (left out when unknown);
 * family is ipv4, ipv6, unix or packet; protocol tcp, udp or a number; an abstract Unix
 * socket's address is "@" and the first 16 bytes of its name.
 */
#define CELL_DENIAL_LINE_MAX 1024
#define CELL_DENIAL_PREFIX "{\"kind\":\"denial\","

/*
 * On cell-session's status pipe a denial is the raw event, {"event":"HEX"}: the keeper, which
 * holds privilege, only copies bytes; the caller (cell, as the user) decodes and formats it.
 */
#define CELL_EVENT_PREFIX "{\"event\":\""
#define CELL_EVENT_LINE_MAX (sizeof(CELL_EVENT_PREFIX) + 2 * sizeof(struct cell_event) + 2)

/* The event's pipe line (no newline) into buf; -E2BIG if it does not fit. */
int cell_event_encode(const struct cell_event *e, char *buf, size_t size);
/* A pipe line back into the event; -EINVAL unless it is exactly one. */
int cell_event_decode(const char *line, struct cell_event *ret);
/* An event's time (CLOCK_BOOTTIME nanoseconds) as wall-clock milliseconds. */
int64_t cell_denial_wall_ms(uint64_t boot_ns);

/* The line (no newline) into buf; -E2BIG if it does not fit. */
int cell_denial_json(const char *cell, const struct cell_event *e, int64_t time_ms, pid_t cell_pid,
		     char *buf, size_t size);
/* The denial for the person at the cell's terminal, one line with its newline: "cell: blocked
 * 192.0.2.1:443 by curl: REASON"; its length, or -E2BIG. */
int cell_denial_notice(const struct cell_event *e, char *buf, size_t size);
/* The reason's key in the line ("not-loopback", ...), and what it means, for people. */
const char *cell_denial_reason_key(unsigned reason);
const char *cell_denial_reason_text(const char *key);
/* The pid in its own (innermost) pid namespace of the host's pid, from /proc; 0 if gone. */
pid_t cell_denial_ns_pid(pid_t pid);

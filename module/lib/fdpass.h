/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Descriptors passed with a message over a Unix socket (SCM_RIGHTS); one message at most this
 * many. */
#define CELL_FDPASS_MAX 4

/*
 * Sends the bytes of text (its NUL not included) in one message, with the n (at most
 * CELL_FDPASS_MAX) descriptors in fds. Never raises SIGPIPE. Returns 0 or a negative errno.
 */
int cell_fdpass_send(int sock, const char *text, const int *fds, size_t n);
/*
 * Receives one message into buf (NUL-terminated: at most size - 1 bytes) and up to n
 * descriptors that came with it into ret_fds (close-on-exec; -1 where none came; any more are
 * closed). Returns the message's length, 0 at the end of the stream, or a negative errno.
 */
ssize_t cell_fdpass_recv(int sock, char *buf, size_t size, int *ret_fds, size_t n);

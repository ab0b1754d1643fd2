/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hash.h"

/*
 * The escapes `cell doctor --escape` tries from inside a real cell (README, "What a cell
 * stops"), each one real attempt whose answer is the kernel's. The command plans them
 * outside, passes them to the hidden `cell __escape-probe` in the cell as words
 * ("read:/home/me/.ssh/id_ed25519"), which makes them and prints one result line each. Made
 * outside a cell, they all succeed where the user may do so (the unit tests' controls).
 */
enum cell_escape_kind {
	CELL_ESCAPE_READ,      /* arg: a file, read whole (at most CELL_ESCAPE_READ_MAX) */
	CELL_ESCAPE_WRITE,     /* arg: a file, opened for writing and left as it was (made and
				* removed, with the directories it needed, if missing) */
	CELL_ESCAPE_SQUAT,     /* arg: a port P: bind 127.0.0.2:P, then connect 127.0.0.1:P */
	CELL_ESCAPE_CONNECT,   /* arg: "IPV4:PORT", a non-blocking TCP connect */
	CELL_ESCAPE_RAW,       /* a raw IPv4 socket (ICMP) */
	CELL_ESCAPE_SOCKET,    /* arg: "vsock", "bluetooth" or "alg": a socket of that family */
	CELL_ESCAPE_TIOCSTI,   /* TIOCSTI on a terminal of its own (a new pty) */
	CELL_ESCAPE_USERNS,    /* unshare(CLONE_NEWUSER), in a child */
	CELL_ESCAPE_ABSTRACT,  /* arg: NAME: connect to the abstract Unix socket @NAME */
	CELL_ESCAPE_REUSEPORT, /* arg: a port P the user listens on at 127.0.0.1 with SO_REUSEPORT:
				* join the group (bind 127.0.0.1:P with SO_REUSEPORT) */
};

#define CELL_ESCAPE_READ_MAX (16 * 1024 * 1024)

struct cell_escape {
	enum cell_escape_kind kind;
	const char *arg; /* NULL for the kinds that take none */
};

/*
 * The result of one attempt: error 0 when it worked (for a read, detail is "SIZE SHA256"), an
 * errno when it failed (detail may say at which step), or skipped (detail says why it could
 * not be tried here).
 */
struct cell_escape_result {
	int error;
	bool skipped;
	char detail[160];
};

/* "KIND" or "KIND:ARG" (malloc'd). */
char *cell_escape_format(const struct cell_escape *e);
/* The attempt in s (its arg points into s); -EINVAL for an unknown kind or a missing arg. */
int cell_escape_parse(const char *s, struct cell_escape *ret);
/* The family word of a CELL_ESCAPE_SOCKET ("vsock") as the kernel names it ("AF_VSOCK"), or NULL.
 */
const char *cell_escape_family_name(const char *word);

/* Makes the attempt. */
void cell_escape_try(const struct cell_escape *e, struct cell_escape_result *ret);

/*
 * A result as one line ("ok DETAIL", "err ERRNO DETAIL", "skip WHY", without the newline) and
 * back; parsing refuses anything else with -EINVAL.
 */
int cell_escape_result_line(const struct cell_escape_result *r, char *buf, size_t size);
int cell_escape_result_parse(const char *line, struct cell_escape_result *ret);

/* "SIZE SHA256" of a file's contents: what a read that worked says. */
int cell_escape_file_digest(const char *path, char *buf, size_t size);

/*
 * A file of the user's secrets for the read attempts: the first real one in home/dir whose
 * name matches pattern (a private key before a .pub), or, where there is none, a marker file
 * planted there (dir made for it if missing), or where none can be planted, any file there the
 * user can read. cell_escape_secret_done removes what was planted and made.
 */
struct cell_escape_secret {
	char *path;	/* the file to read */
	char *made_dir; /* home/dir, made for the marker, or NULL */
	bool planted;	/* path is a marker of ours */
	char digest[32 + CELL_SHA256_HEX_LEN];
};
int cell_escape_secret_find(const char *home, const char *dir, const char *pattern,
			    struct cell_escape_secret *ret);
void cell_escape_secret_done(struct cell_escape_secret *s);

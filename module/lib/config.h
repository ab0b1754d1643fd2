/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "diag.h"

enum cell_mount_mode {
	CELL_MOUNT_RO,
	CELL_MOUNT_RW,
	CELL_MOUNT_DEV,
	CELL_MOUNT_TMPFS,
	CELL_MOUNT_OVERLAY,
	CELL_MOUNT_STATE,
	_CELL_MOUNT_MAX,
};

/* Who evaluates the project's dev environment, outside the cell (provider.h). */
enum cell_env_provider {
	CELL_PROVIDER_AUTO,
	CELL_PROVIDER_DEVENV,
	CELL_PROVIDER_NIX,
	CELL_PROVIDER_DIRENV,
	CELL_PROVIDER_MISE,
	CELL_PROVIDER_NONE,
	_CELL_PROVIDER_MAX,
};

enum cell_net_mode {
	CELL_NET_PROXY,
	CELL_NET_NONE,
	CELL_NET_HOST,
	_CELL_NET_MAX,
};

/* How a proxy cell is held to its proxy (network.isolation; docs/design.md §3). */
enum cell_isolation {
	CELL_ISOLATION_AUTO,  /* BPF where it can be had in full, else its own namespace */
	CELL_ISOLATION_BPF,   /* the host's network namespace, the cell's cgroup's BPF programs */
	CELL_ISOLATION_NETNS, /* a network namespace of its own, the proxy's socket made in it */
	_CELL_ISOLATION_MAX,
};

struct cell_mount {
	char *path; /* expanded, normalised, absolute */
	char *dest; /* where it appears in the cell; path when not given */
	enum cell_mount_mode mode;
	bool optional;
	bool canonicalize;
	bool ephemeral; /* overlay: writes go to a tmpfs and are gone when the cell ends */
	bool from_preset;
	char *origin; /* "FILE: mounts[2]" or "preset node" */
	char *where;  /* a file's: "FILE:LINE:COL: mounts[2]", for errors; else NULL */
};

/* An allow or deny rule in canonical form, and where it came from. */
struct cell_rule {
	char *text;
	char *origin;
	/* an allow rule written as an object (docs/design.md §11): the requests it allows (NULL:
	 * any method, any path), and whether the proxy terminates the host's TLS to see them */
	char **methods; /* "GET", "HEAD" */
	char **paths;	/* exact ("/repos/acme/x"), or with a "*" that matches anything */
	bool inspect;
	/* "inject": the proxy sets this header on every request to the host, its value with
	 * each ${secret:NAME} replaced by the secret (an inspected rule's only) */
	char *inject_header;
	char *inject_value;
};

/* "secrets" (the user's config only): where the proxy reads a secret, outside the cell. */
enum cell_secret_source {
	CELL_SECRET_COMMAND, /* its output, the trailing newline dropped */
	CELL_SECRET_FILE,    /* the file's first line */
	CELL_SECRET_ENV,     /* a variable of the proxy's environment (the user's) */
};

struct cell_secret {
	char *name;
	enum cell_secret_source source;
	char **command; /* COMMAND: argv, argv[0] a path or a name looked up in PATH */
	char *where;	/* FILE: the path (expanded); ENV: the variable's name */
};

/* What a process of `cell up` does when it ends (procs.h). */
enum cell_restart {
	CELL_RESTART_NO,
	CELL_RESTART_ON_FAILURE,
	CELL_RESTART_ALWAYS,
	_CELL_RESTART_MAX,
};

/* One of "processes": what `cell up` runs in the project's session. */
struct cell_process {
	char *name;
	char *exec; /* a shell command (sh -c in the cell) */
	enum cell_restart restart;
	uint16_t ready_port; /* ready once 127.0.0.1 or ::1 accepts on it in the cell; 0: no */
	char *ready_command; /* ready once this shell command succeeds in the cell; NULL: no */
	char **depends_on;   /* started once each of these is ready */
};

/* network.forward: the host's 127.0.0.1:host_port reaches the cell's 127.0.0.1:cell_port. */
struct cell_forward {
	uint16_t host_port;
	uint16_t cell_port;
};
#define CELL_FORWARDS_MAX 16

/* One member of a map: network.resolve (host → address), env.set (name → value). */
struct cell_kv {
	char *key;
	char *value;
};

/*
 * The merged, validated configuration of one project: built-in defaults, then the user's
 * config.json, then the project's .cell.json, then presets expanded. Owned as a whole; free with
 * cell_config_free().
 */
struct cell_config {
	char *name;
	char *shell; /* NULL: the user's login shell */
	char **presets;
	struct cell_mount *mounts;
	size_t n_mounts;
	struct {
		enum cell_net_mode mode;
		enum cell_isolation isolation;
		struct cell_rule *allow;
		size_t n_allow;
		struct cell_rule *deny;
		size_t n_deny;
		uint16_t *local_ports;
		size_t n_local_ports;
		struct cell_forward *forward;
		size_t n_forward;
		/* the user's config only: "http://HOST:PORT", or "none"; NULL: the environment's */
		char *upstream_proxy;
		char **upstream_no_proxy; /* NULL: the environment's NO_PROXY */
		bool upstream_no_proxy_set;
		struct cell_kv *resolve; /* host → address */
		size_t n_resolve;
		struct cell_budget budget;
	} network;
	struct {
		char **pass;
		struct cell_kv *set; /* name → value */
		size_t n_set;
		char **files; /* dotenv files, relative to the project root, applied in order */
		enum cell_env_provider provider;
		bool required; /* a provider that fails or is missing stops the cell */
	} env;
	struct cell_kv *scripts; /* name → shell command, each a program on the cell's PATH */
	size_t n_scripts;
	struct {
		char **enter; /* shell commands run in the cell before its shell or command */
	} hooks;
	struct {
		uint64_t memory; /* bytes; 0: no limit */
		uint32_t pids;	 /* 0: no limit */
		uint32_t cpu;	 /* thousandths of one CPU ("2": 2000, "50%": 500); 0: no limit */
	} limits;
	struct {
		bool allow_userns;
		bool allow_io_uring;
		bool git_writable; /* .git writable in the cell (hooks and config stay read-only) */
		bool raw_bwrap_args; /* a project's config may give bwrap_args */
	} hardening;
	struct cell_process *processes; /* in the order the files give them */
	size_t n_processes;
	struct cell_secret *secrets; /* the user's config's */
	size_t n_secrets;
	/* raw bubblewrap arguments after cell's own mounts (rawargs.h says which pass) */
	char **bwrap_args;
	/* Set while the last file that gave bwrap_args is being read: the error to give if that
	 * file is the project's and hardening.raw_bwrap_args is not true (cell_project_config
	 * decides once both files are read; the flag may come later in the file). */
	struct cell_diag bwrap_args_objection;
};

/* The values that path expansion may use; tests pass their own. NULL means unset. */
struct cell_config_env {
	const char *home;
	const char *user;
	const char *xdg_runtime_dir;
};

const char *cell_mount_mode_to_string(enum cell_mount_mode m);
const char *cell_net_mode_to_string(enum cell_net_mode m);
const char *cell_isolation_to_string(enum cell_isolation i);
const char *cell_env_provider_to_string(enum cell_env_provider p);
const char *cell_restart_to_string(enum cell_restart r);
/* The process named name in c, or NULL. */
const struct cell_process *cell_config_process(const struct cell_config *c, const char *name);

int cell_config_new(struct cell_config **ret);
void cell_config_free(struct cell_config *c);
/*
 * Validates one config file's text (NUL-terminated at len) and applies it on top of c: scalars
 * replace, lists append (without duplicates), maps merge by key. `./` in paths is relative to
 * project_root. On error fills diag (file, line, column, JSON path, message) and returns -EINVAL; c
 * is then half-updated and must be freed, never used.
 */
int cell_config_apply(struct cell_config *c, const char *file, const char *text, size_t len,
		      const char *project_root, const struct cell_config_env *env,
		      struct cell_diag *diag);
/* The same for the user's own config, which may also say what is the user's alone (which
 * proxy the user's traffic goes through: network.upstream_proxy, network.upstream_no_proxy). */
int cell_config_apply_user(struct cell_config *c, const char *file, const char *text, size_t len,
			   const char *project_root, const struct cell_config_env *env,
			   struct cell_diag *diag);
/* Expands presets and fills defaults (the name from the project directory). */
int cell_config_finish(struct cell_config *c, const char *project_root,
		       const struct cell_config_env *env, struct cell_diag *diag);
/* 1 to 64 of [A-Za-z0-9._-], starting with a letter or digit. */
bool cell_config_valid_name(const char *s);

static inline void cell_config_freep(struct cell_config **c)
{
	cell_config_free(*c);
}
#define _cleanup_config_ _cleanup_(cell_config_freep)

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"
#include "netpolicy.h"
#include "path.h"
#include "review.h"
#include "secrets.h"
#include "strv.h"

static int warn(char ***warnings, const char *fmt, ...) _printf_(2, 3);
static int warn(char ***warnings, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	return cell_strv_consume(warnings, s);
}

/* path with the links of its longest existing part resolved (where it will lead once the rest
 * is made), or NULL: no memory (path is absolute and normalised). */
static char *leads_to(const char *path)
{
	_cleanup_free_ char *parent = NULL, *real_parent = NULL;
	char *real = realpath(path, NULL);

	if (real || streq(path, "/"))
		return real ? real : strdup(path);
	parent = strdup(path);
	if (!parent)
		return NULL;
	cell_path_dirname(parent);
	real_parent = leads_to(parent);
	return real_parent ? cell_path_join(real_parent, cell_path_basename(path)) : NULL;
}

/* Whether path is where this machine's services listen: a socket, or the run-time directories
 * that hold theirs (/run, X11's). */
static bool holds_sockets(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		return true;
	return cell_path_is_below(path, "/run") || cell_path_is_below(path, "/tmp/.X11-unix") ||
	       (!streq(path, "/") && cell_path_is_below("/run", path));
}

/*
 * path: the mount's own, links resolved (where it exists: /proc/self/root/home/u/.ssh, or a
 * link to ~/.ssh, is ~/.ssh); home and root likewise.
 */
static int warn_mount(char ***warnings, const struct cell_mount *m, const char *path,
		      const char *root, const char *home)
{
	bool writable = m->mode == CELL_MOUNT_RW || m->mode == CELL_MOUNT_DEV;
	bool home_said = false;
	int r = 0;

	if (streq(path, "/"))
		r = warn(warnings, "%s binds / into the cell: the whole system is visible",
			 m->origin);
	else if (home && streq(path, home) && writable)
		r = warn(warnings, "%s binds your home directory read-write", m->origin);
	else if (home && streq(path, home))
		r = warn(warnings, "%s binds your home directory: every secret in it is readable",
			 m->origin);
	home_said = streq(path, "/") || (home && streq(path, home));
	for (size_t k = 0; home && r >= 0 && k < cell_n_secret_dirs; k++) {
		_cleanup_free_ char *secret = cell_path_join(home, cell_secret_dirs[k]);

		if (!secret)
			return -ENOMEM;
		if (m->mode != CELL_MOUNT_TMPFS && m->mode != CELL_MOUNT_STATE &&
		    (cell_path_is_below(path, secret) ||
		     (cell_path_is_below(secret, path) && !home_said)))
			r = warn(warnings, "%s exposes ~/%s, which holds credentials", m->origin,
				 cell_secret_dirs[k]);
	}
	/* (a preset's mounts are cell's own; the one that reaches outside is warned of above) */
	if (r < 0 || m->from_preset || m->mode == CELL_MOUNT_TMPFS || m->mode == CELL_MOUNT_STATE)
		return r;
	if (m->mode == CELL_MOUNT_DEV)
		r = warn(warnings,
			 "%s binds %s with its device files: the cell reaches those devices "
			 "directly",
			 m->origin, path);
	else if (writable && !home_said && !(root && cell_path_is_below(path, root)))
		r = warn(warnings,
			 "%s binds %s read-write: what the cell writes there stays, outside the "
			 "project (a shell's startup file, a program on your PATH and cell's own "
			 "config are such places)",
			 m->origin, path);
	if (r >= 0 && m->mode != CELL_MOUNT_OVERLAY && !streq(path, "/") && holds_sockets(path))
		r = warn(warnings,
			 "%s binds %s, where services of this machine listen: the cell can ask "
			 "them to act for it, outside the cell (read-only does not stop that)",
			 m->origin, path);
	return r;
}

int cell_review_warnings(const struct cell_config *c, const char *root, const char *home,
			 char ***warnings)
{
	_cleanup_free_ char *real_home = home ? leads_to(home) : NULL;
	_cleanup_free_ char *real_root = root ? leads_to(root) : NULL;
	int r = 0;

	if ((home && !real_home) || (root && !real_root))
		return -ENOMEM;
	home = real_home;
	root = real_root;
	if (c->network.mode == CELL_NET_HOST)
		r = warn(warnings,
			 "network.mode is \"host\": the cell reaches any host, unfiltered "
			 "and uncounted");
	if (r >= 0 && cell_strv_contains(c->presets, "nix-daemon"))
		r = warn(
			warnings,
			"preset nix-daemon: the cell asks the nix daemon for builds, which run "
			"outside the cell, with the network, past the proxy, and land in the store "
			"every cell and the host use");
	for (size_t i = 0; i < c->n_mounts && r >= 0; i++) {
		_cleanup_free_ char *real = leads_to(c->mounts[i].path);

		r = real ? warn_mount(warnings, &c->mounts[i], real, root, home) : -ENOMEM;
	}
	if (r >= 0 && c->hardening.allow_userns)
		r = warn(warnings, "hardening.allow_userns: a user namespace in the cell regains "
				   "every capability there, and the kernel's code behind them");
	if (r >= 0 && c->hardening.allow_io_uring)
		r = warn(warnings,
			 "hardening.allow_io_uring: io_uring's sockets bypass the shim, and "
			 "its code is a frequent way into the kernel");
	if (r >= 0 && c->hardening.git_writable)
		r = warn(warnings, "hardening.git_writable: the cell can rewrite the project's git "
				   "history and refs (its hooks and config stay read-only)");
	if (r >= 0 && c->bwrap_args && c->bwrap_args[0])
		r = warn(warnings, "bwrap_args adds raw bubblewrap arguments (after cell's own "
				   "mounts): cell cannot vouch for what they do to the cell");
	return r;
}

/* "@npm" for a rule a preset brought ("ORIGIN (@npm)"), else the rule's text. */
static const char *rule_name(const struct cell_rule *r, char *buf, size_t size)
{
	const char *at = r->origin ? strstr(r->origin, " (@") : NULL;
	size_t n;

	if (!at)
		return r->text;
	at += 2;
	n = strcspn(at, ")");
	snprintf(buf, size, "%.*s", (int)n, at);
	return buf;
}

/* The allow rules as "N hosts (a, b, c, ...)": a preset's rules by the preset's name, once. */
static void allowed(const struct cell_config *c, char *buf, size_t size)
{
	char names[3][128], one[128];
	size_t n_names = 0, at;
	bool more = false;

	for (size_t i = 0; i < c->network.n_allow; i++) {
		const char *name = rule_name(&c->network.allow[i], one, sizeof(one));
		bool seen = false;

		for (size_t k = 0; k < n_names && !seen; k++)
			seen = streq(names[k], name);
		if (seen)
			continue;
		if (n_names < ELEMENTSOF(names))
			snprintf(names[n_names++], sizeof(names[0]), "%s", name);
		else
			more = true;
	}
	if (!c->network.n_allow) {
		snprintf(buf, size, "no host (its proxy refuses every one)");
		return;
	}
	at = (size_t)snprintf(buf, size, "%zu host%s", c->network.n_allow,
			      c->network.n_allow == 1 ? "" : "s");
	for (size_t k = 0; k < n_names && at < size; k++)
		at += (size_t)snprintf(buf + at, size - at, "%s%s", k ? ", " : " (", names[k]);
	if (n_names && at < size)
		snprintf(buf + at, size - at, "%s)", more ? ", ..." : "");
}

/*
 * What the cell reaches on this machine and its network past the allowlist's hosts, after net
 * (at its end): "; this machine's ports: 5432, 6379" (network.local_ports), "; pinned:
 * registry.test at 127.0.0.1 (a loopback address)" (network.resolve, which lets a pinned name
 * reach a special address the proxy refuses otherwise).
 */
static void beyond(const struct cell_config *c, char *net, size_t size)
{
	size_t at = strlen(net);

	for (size_t i = 0; i < c->network.n_local_ports && at < size; i++)
		at += (size_t)snprintf(
			net + at, size - at, "%s%u",
			i ? ", " : "; this machine's ports: ", c->network.local_ports[i]);
	for (size_t i = 0; i < c->network.n_resolve && at < size; i++) {
		const struct cell_kv *pin = &c->network.resolve[i];
		const char *special = cell_address_special(pin->value);

		at += (size_t)snprintf(net + at, size - at, "%s%s at %s%s%s%s",
				       i ? ", " : "; pinned: ", pin->key, pin->value,
				       special ? " (" : "", special ? special : "",
				       special ? ")" : "");
	}
}

int cell_review_summary(const struct cell_config *c, char *buf, size_t size)
{
	char net[1024];
	size_t n_env = c->env.n_set + cell_strv_length(c->env.files);
	int n;

	switch (c->network.mode) {
	case CELL_NET_NONE:
		snprintf(net, sizeof(net), "none");
		break;
	case CELL_NET_HOST:
		snprintf(net, sizeof(net), "the host's, unfiltered");
		break;
	default:
		allowed(c, net, sizeof(net));
		beyond(c, net, sizeof(net));
		break;
	}
	n = snprintf(buf, size, "network: %s; mounts: %zu; env: %zu variable%s%s", net, c->n_mounts,
		     c->env.n_set, c->env.n_set == 1 ? "" : "s",
		     n_env > c->env.n_set ? " and its dotenv files" : "");
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

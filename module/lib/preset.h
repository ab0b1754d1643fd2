/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "config.h"

/* A rule of a request preset: an inspected host, the methods and paths it allows. */
struct cell_netpreset_rule {
	const char *host;
	const char *const *methods; /* NULL: any */
	const char *const *paths;   /* NULL: any */
};

/*
 * A named list of hosts, written "@name" in network.allow and network.deny; or (rules set) of
 * inspected hosts and the requests they allow, in network.allow only ("@github-read").
 */
struct cell_netpreset {
	const char *name; /* "@npm" */
	const char *const *hosts;
	const struct cell_netpreset_rule *rules; /* ended by a NULL host */
};

struct cell_preset_mount {
	const char *path;
	enum cell_mount_mode mode;
	bool optional;
};

/* A project preset: "presets": ["node"] adds its network rules and mounts. */
struct cell_preset {
	const char *name;
	const char *summary;
	const char *netpreset; /* the hosts it allows: "@npm" */
	const struct cell_preset_mount *mounts;
	size_t n_mounts;
};

const struct cell_preset *cell_preset_find(const char *name);
const struct cell_netpreset *cell_netpreset_find(const char *name);
/* The tables, for listing and for "did you mean". */
const struct cell_preset *cell_presets(size_t *ret_n);
const struct cell_netpreset *cell_netpresets(size_t *ret_n);

/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "preset.h"

#define HOSTS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define RULES(...) ((const struct cell_netpreset_rule[]){__VA_ARGS__, {NULL, NULL, NULL}})
#define MOUNTS(...)                        \
	(const struct cell_preset_mount[]) \
	{                                  \
		__VA_ARGS__                \
	}
#define NMOUNTS(...) ELEMENTSOF(((const struct cell_preset_mount[]){__VA_ARGS__}))

/* Keep README.md's preset reference in step with these tables. */
static const struct cell_netpreset netpresets[] = {
	{"@npm", HOSTS("registry.npmjs.org", "registry.yarnpkg.com"), NULL},
	{"@pypi", HOSTS("pypi.org", "files.pythonhosted.org"), NULL},
	{"@crates", HOSTS("crates.io", "index.crates.io", "static.crates.io"), NULL},
	{"@go", HOSTS("proxy.golang.org", "sum.golang.org"), NULL},
	{"@nix", HOSTS("cache.nixos.org", "channels.nixos.org", "releases.nixos.org"), NULL},
	{"@github",
	 HOSTS("github.com", "api.github.com", "codeload.github.com",
	       "objects.githubusercontent.com", "raw.githubusercontent.com"),
	 NULL},
	/* clone and fetch over HTTPS (git's smart protocol: GET info/refs, POST git-upload-pack),
	 * the API and downloads read-only; a push (POST git-receive-pack) is refused */
	{"@github-read", NULL,
	 RULES({"github.com", LIST("GET", "HEAD"), NULL},
	       {"github.com", LIST("POST"), LIST("/*/git-upload-pack")},
	       {"api.github.com", LIST("GET", "HEAD"), NULL},
	       {"codeload.github.com", LIST("GET", "HEAD"), NULL},
	       {"*.githubusercontent.com", LIST("GET", "HEAD"), NULL})},
	/* what npm install fetches: packages and their metadata (no publish, no audit) */
	{"@npm-install", NULL, RULES({"registry.npmjs.org", LIST("GET", "HEAD"), NULL})},
};

#define PRESET(n, s, a, ...)                                       \
	{                                                          \
		n, s, a, MOUNTS(__VA_ARGS__), NMOUNTS(__VA_ARGS__) \
	}

static const struct cell_preset presets[] = {
	PRESET("node", "npm registry; a per-project npm cache; nvm's node read-only", "@npm",
	       {"~/.npm", CELL_MOUNT_STATE, false}, {"~/.nvm", CELL_MOUNT_RO, true}),
	PRESET("python", "PyPI; a per-project pip cache; pyenv's pythons read-only", "@pypi",
	       {"~/.cache/pip", CELL_MOUNT_STATE, false}, {"~/.pyenv", CELL_MOUNT_RO, true}),
	PRESET("rust", "crates.io; per-project cargo registry and git caches; toolchains read-only",
	       "@crates", {"~/.cargo/registry", CELL_MOUNT_STATE, false},
	       {"~/.cargo/git", CELL_MOUNT_STATE, false}, {"~/.cargo/bin", CELL_MOUNT_RO, true},
	       {"~/.rustup", CELL_MOUNT_RO, true}),
	PRESET("go",
	       "the Go module proxy and checksum database; per-project module and build caches",
	       "@go", {"~/go/pkg/mod", CELL_MOUNT_STATE, false},
	       {"~/.cache/go-build", CELL_MOUNT_STATE, false}),
	PRESET("nix", "the NixOS binary cache and channels; the store and profiles read-only",
	       "@nix", {"/nix/store", CELL_MOUNT_RO, true},
	       {"/nix/var/nix/profiles", CELL_MOUNT_RO, true},
	       {"~/.nix-profile", CELL_MOUNT_RO, true}),
	PRESET("nix-daemon",
	       "as nix, and the nix daemon's socket: builds run outside the cell, with the network",
	       "@nix", {"/nix/store", CELL_MOUNT_RO, true},
	       {"/nix/var/nix/profiles", CELL_MOUNT_RO, true},
	       {"~/.nix-profile", CELL_MOUNT_RO, true},
	       {"/nix/var/nix/daemon-socket", CELL_MOUNT_RW, true}),
	{"github", "GitHub over HTTPS (clone, API, release downloads)", "@github", NULL, 0},
};

const struct cell_preset *cell_preset_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(presets); i++)
		if (streq(presets[i].name, name))
			return &presets[i];
	return NULL;
}

const struct cell_netpreset *cell_netpreset_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(netpresets); i++)
		if (streq(netpresets[i].name, name))
			return &netpresets[i];
	return NULL;
}

const struct cell_preset *cell_presets(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(presets);
	return presets;
}

const struct cell_netpreset *cell_netpresets(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(netpresets);
	return netpresets;
}

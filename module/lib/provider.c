/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "hash.h"
#include "macro.h"
#include "path.h"
#include "process.h"
#include "provider.h"
#include "providercell.h"
#include "providerread.h"
#include "strv.h"

#define CACHE_FILE "env.json"
#define OUT_MAX (16 * 1024 * 1024)
#define ERR_MAX (64 * 1024)
#define INPUT_MAX (16 * 1024 * 1024)
#define TIMEOUT_MS_DEFAULT (5 * 60 * 1000)
#define PROVIDER_VARS_MAX 4096
#define VAR_MAX (128 * 1024)
#define VARS_TOTAL_MAX (1024 * 1024)

static const char *const inputs_devenv[] = {"devenv.nix",	"devenv.yaml",	     "devenv.lock",
					    "devenv.local.nix", "devenv.local.yaml", NULL};
static const char *const inputs_nix[] = {"flake.nix", "flake.lock", NULL};
static const char *const inputs_direnv[] = {".envrc", NULL};
static const char *const inputs_mise[] = {
	"mise.toml",
	".mise.toml",
	".tool-versions",
	"mise.local.toml",
	".mise.local.toml",
	"mise/config.toml",
	".mise/config.toml",
	".config/mise.toml",
	".config/mise/config.toml",
	NULL,
};

static const char *const *inputs_of(enum cell_env_provider p);

const char *cell_provider_input(size_t i)
{
	for (enum cell_env_provider p = CELL_PROVIDER_DEVENV; p < CELL_PROVIDER_NONE; p++)
		for (const char *const *in = inputs_of(p); *in; in++)
			if (i-- == 0)
				return *in;
	return NULL;
}

static const char *const *inputs_of(enum cell_env_provider p)
{
	switch (p) {
	case CELL_PROVIDER_DEVENV:
		return inputs_devenv;
	case CELL_PROVIDER_NIX:
		return inputs_nix;
	case CELL_PROVIDER_DIRENV:
		return inputs_direnv;
	case CELL_PROVIDER_MISE:
		return inputs_mise;
	default:
		return NULL;
	}
}

/* The program each provider is run as. */
static const char *program_of(enum cell_env_provider p)
{
	static const char *const programs[_CELL_PROVIDER_MAX] = {
		[CELL_PROVIDER_DEVENV] = "devenv",
		[CELL_PROVIDER_NIX] = "nix",
		[CELL_PROVIDER_DIRENV] = "direnv",
		[CELL_PROVIDER_MISE] = "mise",
	};

	return p < _CELL_PROVIDER_MAX ? programs[p] : NULL;
}

static bool exists_at(const char *root, const char *rel)
{
	_cleanup_free_ char *path = cell_path_join(root, rel);
	struct stat st;

	return path && lstat(path, &st) == 0;
}

enum cell_env_provider cell_provider_pick(const char *root, enum cell_env_provider configured)
{
	static const enum cell_env_provider order[] = {CELL_PROVIDER_DEVENV, CELL_PROVIDER_NIX,
						       CELL_PROVIDER_DIRENV, CELL_PROVIDER_MISE};

	if (configured != CELL_PROVIDER_AUTO)
		return configured;
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		const char *const *in = inputs_of(order[i]);

		/* (devenv.lock and flake.lock alone say nothing: their .nix picks) */
		for (size_t k = 0; in[k]; k++)
			if (!endswith(in[k], ".lock") && exists_at(root, in[k]))
				return order[i];
	}
	return CELL_PROVIDER_NONE;
}

char *cell_provider_find(enum cell_env_provider p, const char *home)
{
	static const char *const dirs[] = {"/run/current-system/sw/bin",
					   "/nix/var/nix/profiles/default/bin",
					   "~/.nix-profile/bin", "/usr/local/bin", "/usr/bin"};
	const char *name = program_of(p);

	for (size_t i = 0; name && i < ELEMENTSOF(dirs); i++) {
		char *path = NULL;
		struct stat st;

		if (dirs[i][0] == '~'
			    ? !home || asprintf(&path, "%s%s/%s", home, dirs[i] + 1, name) < 0
			    : asprintf(&path, "%s/%s", dirs[i], name) < 0)
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

void cell_provider_env_done(struct cell_provider_env *e)
{
	for (size_t i = 0; i < e->n_vars; i++) {
		free(e->vars[i].key);
		free(e->vars[i].value);
	}
	free(e->vars);
	free(e->path);
	free(e->shell_hook);
	cell_strv_free(e->unset);
	*e = (struct cell_provider_env){.provider = CELL_PROVIDER_NONE};
}

static int var_add(struct cell_provider_env *e, const char *key, const char *value)
{
	struct cell_kv *kv;

	/* (a shell environment is a few hundred variables; past this it is not one) */
	if (e->n_vars >= PROVIDER_VARS_MAX)
		return -EBADMSG;
	/* a name that is no variable's ("A=B", "", "1X") would not be one in the cell either */
	if (!*key || (*key >= '0' && *key <= '9') ||
	    strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
		    strlen(key))
		return 0;
	kv = reallocarray(e->vars, e->n_vars + 1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	e->vars = kv;
	kv[e->n_vars] = (struct cell_kv){strdup(key), strdup(value)};
	e->n_vars++;
	return kv[e->n_vars - 1].key && kv[e->n_vars - 1].value ? 0 : -ENOMEM;
}

/*
 * What a nix development shell exports that belongs to the build, not to the shell (nix
 * develop leaves these out too), and the bash state print-dev-env records.
 */
static bool build_only(const char *name)
{
	static const char *const names[] = {
		"BASHOPTS",
		"HOME",
		"NIX_BUILD_TOP",
		"NIX_ENFORCE_PURITY",
		"NIX_LOG_FD",
		"NIX_REMOTE",
		"PPID",
		"SHELL",
		"SHELLOPTS",
		"SSL_CERT_FILE",
		"TEMP",
		"TEMPDIR",
		"TERM",
		"TMP",
		"TMPDIR",
		"TZ",
		"UID",
		"PWD",
		"OLDPWD",
		"SHLVL",
		"NIX_BUILD_CORES",
		"shellHook",
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (streq(name, names[i]))
			return true;
	return false;
}

/* The entries of path that base does not have, in order ("a:b"), or NULL if none. */
static char *entries_before(const char *path, const char *base)
{
	_cleanup_free_ char *copy = strdup(path), *padded = NULL;
	char *out = NULL, *save = NULL;

	if (!copy || asprintf(&padded, ":%s:", base ? base : "") < 0)
		return NULL;
	for (char *e = strtok_r(copy, ":", &save); e; e = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *key = NULL;
		char *grown = NULL;

		/* (nix's placeholder when the shell has no PATH of its own) */
		if (!*e || streq(e, "/path-not-set") || asprintf(&key, ":%s:", e) < 0)
			continue;
		if (strstr(padded, key))
			continue;
		if (asprintf(&grown, "%s%s%s", out ? out : "", out ? ":" : "", e) < 0) {
			free(out);
			return NULL;
		}
		free(out);
		out = grown;
	}
	return out;
}

static int parse_nix(const cJSON *root, struct cell_provider_env *e)
{
	const cJSON *vars = cJSON_GetObjectItemCaseSensitive(root, "variables"), *v;
	int r = 0;

	if (!cJSON_IsObject(vars))
		return -EBADMSG;
	cJSON_ArrayForEach(v, vars)
	{
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
		const cJSON *value = cJSON_GetObjectItemCaseSensitive(v, "value");

		if (!cJSON_IsString(type) || !streq(type->valuestring, "exported") ||
		    !cJSON_IsString(value))
			continue;
		if (streq(v->string, "shellHook")) {
			free(e->shell_hook);
			e->shell_hook = strdup(value->valuestring);
			r = e->shell_hook ? 0 : -ENOMEM;
		} else if (streq(v->string, "PATH")) {
			free(e->path);
			e->path = entries_before(value->valuestring, NULL);
		} else if (!build_only(v->string))
			r = var_add(e, v->string, value->valuestring);
		if (r < 0)
			return r;
	}
	return 0;
}

/* direnv and mise: {NAME: value}; direnv's null means "unset", and its own DIRENV_* go. */
static int parse_flat(const cJSON *root, const char *base_path, struct cell_provider_env *e)
{
	const cJSON *v;
	int r = 0;

	if (!cJSON_IsObject(root))
		return -EBADMSG;
	cJSON_ArrayForEach(v, root)
	{
		if (startswith(v->string, "DIRENV_"))
			continue;
		if (cJSON_IsNull(v) && !streq(v->string, "PATH")) {
			if (e->n_vars + cell_strv_length(e->unset) >= PROVIDER_VARS_MAX)
				return -EBADMSG;
			if (cell_strv_extend(&e->unset, v->string) < 0)
				return -ENOMEM;
			continue;
		}
		if (!cJSON_IsString(v))
			continue;
		if (streq(v->string, "PATH")) {
			free(e->path);
			e->path = entries_before(v->valuestring, base_path);
		} else
			r = var_add(e, v->string, v->valuestring);
		if (r < 0)
			return r;
	}
	return 0;
}

/* What execve takes: a variable of at most 128 KiB (MAX_ARG_STRLEN), and all of them within
 * a part of ARG_MAX that leaves the command line room. */
static int check_sizes(const struct cell_provider_env *e)
{
	size_t total = e->path ? strlen(e->path) : 0;

	for (size_t i = 0; i < e->n_vars; i++) {
		size_t n = strlen(e->vars[i].key) + strlen(e->vars[i].value) + 2;

		if (n > VAR_MAX)
			return -E2BIG;
		total += n;
	}
	if (e->shell_hook)
		total += strlen(e->shell_hook);
	return total > VARS_TOTAL_MAX ? -E2BIG : 0;
}

int cell_provider_parse(enum cell_env_provider p, const char *json, size_t len,
			const char *base_path, struct cell_provider_env *ret)
{
	struct cell_provider_env e = {.provider = p};
	cJSON *root = len ? cJSON_ParseWithLength(json, len) : cJSON_CreateObject();
	int r;

	if (!root)
		return -EBADMSG;
	r = p == CELL_PROVIDER_NIX || p == CELL_PROVIDER_DEVENV ? parse_nix(root, &e)
								: parse_flat(root, base_path, &e);
	cJSON_Delete(root);
	if (r >= 0)
		r = check_sizes(&e);
	if (r < 0) {
		cell_provider_env_done(&e);
		return r;
	}
	*ret = e;
	return 0;
}

/* The value of NAME=... in env, or NULL. */
static const char *env_value(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

/* What of the outside environment a provider gets: who and where the user is, and its own
 * settings (never direnv's state of the shell it was started from). */
static bool provider_passes(const char *entry)
{
	static const char *const names[] = {
		"HOME=", "USER=", "LOGNAME=", "PATH=", "LANG=", "TZ=", "TMPDIR=", "TERM="};
	static const char *const prefixes[] = {"LC_",	"XDG_",	   "NIX_",
					       "MISE_", "DEVENV_", "SSL_CERT_"};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (startswith(entry, names[i]))
			return true;
	/* (MISE_ENV would make mise read mise.$MISE_ENV.toml, which trust does not cover) */
	if (startswith(entry, "MISE_ENV="))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
		if (startswith(entry, prefixes[i]))
			return true;
	return false;
}

/* The provider's output and its words. */
/* The first line of what the provider said on stderr, for a notice (at most 300 bytes). */
static void first_line(const char *err, char *out, size_t size)
{
	const char *s = err ? err : "";
	size_t n;

	/* the last line that says "error" (nix's "error: ...", direnv's "direnv: error ..."),
	 * else the last line that says anything */
	bool error = false;

	for (const char *line = s; *line;) {
		size_t len = strcspn(line, "\n");
		_cleanup_free_ char *copy = strndup(line, len);
		/* (nix's "error: ...", direnv's "direnv: error ...", mise's "mise ERROR ...", but
		 * not the lines that only say how to learn more) */
		bool says_error =
			copy &&
			(startswith(copy, "error:") || startswith(copy, "direnv: error ") ||
			 startswith(copy, "mise ERROR ")) &&
			!strstr(copy, "--verbose") && !strstr(copy, "--show-trace") &&
			!strstr(copy, "ERROR Version:");

		if ((len > 0 && !error) || says_error) {
			s = line;
			error = error || says_error;
		}
		line += len + (line[len] == '\n');
	}
	n = strcspn(s, "\n");
	if (n > 300)
		n = 300;
	snprintf(out, size, "%.*s", (int)n, s);
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* The argv a provider is run with. */
/*
 * The flake to evaluate: the project as git sees it (".": its tracked files) when it is a
 * repository, else the directory as it is ("path:ROOT"; nix would take the empty .git a cell
 * leaves as its mount point for a repository and find no flake).
 */
static char *flake_ref(const char *root)
{
	_cleanup_free_ char *head = cell_path_join(root, ".git/HEAD"),
			    *git = cell_path_join(root, ".git");
	struct stat st;
	char *ref = NULL;

	if (!head || !git)
		return NULL;
	if (stat(head, &st) == 0 || (lstat(git, &st) == 0 && S_ISREG(st.st_mode)))
		return strdup(".");
	return asprintf(&ref, "path:%s", root) < 0 ? NULL : ref;
}

static int argv_of(enum cell_env_provider p, const char *program, const char *root,
		   const char *state_dir, char ***ret)
{
	_cleanup_free_ char *profile = cell_path_join(state_dir, "nix-profile"),
			    *ref = p == CELL_PROVIDER_NIX ? flake_ref(root) : strdup(".");
	char **argv = NULL;
	int r = cell_strv_extend(&argv, program);

	switch (p) {
	case CELL_PROVIDER_DEVENV:
		if (r >= 0)
			r = cell_strv_extend_many(&argv, "print-dev-env", "--json", (char *)NULL);
		break;
	case CELL_PROVIDER_NIX:
		/* the profile keeps the environment's store paths from the garbage collector */
		if (r >= 0)
			r = cell_strv_extend_many(&argv, "--extra-experimental-features",
						  "nix-command flakes", "print-dev-env", "--json",
						  "--no-write-lock-file", "--profile", profile,
						  ref ? ref : ".", (char *)NULL);
		break;
	case CELL_PROVIDER_DIRENV:
		if (r >= 0)
			r = cell_strv_extend_many(&argv, "export", "json", (char *)NULL);
		break;
	default:
		if (r >= 0)
			r = cell_strv_extend_many(&argv, "env", "--json", (char *)NULL);
		break;
	}
	if (r < 0 || !profile || !ref) {
		cell_strv_free(argv);
		return -ENOMEM;
	}
	*ret = argv;
	return 0;
}

/*
 * What the cache is keyed by: the program and the input files, by metadata (fast) and by bytes
 * (a touched file that did not change keeps the cache).
 */
struct key {
	char *meta;
	char *state; /* key_state's part, also in the hash */
	char hash[CELL_SHA256_HEX_LEN + 1];
};

static void key_done(struct key *k)
{
	free(k->meta);
	free(k->state);
}

static int meta_add(char **meta, const char *name, const struct stat *st)
{
	char *grown = NULL;
	int n = st ? asprintf(&grown, "%s%s %lld %lld.%09ld %llu %llu\n", *meta ? *meta : "", name,
			      (long long)st->st_size, (long long)st->st_mtim.tv_sec,
			      st->st_mtim.tv_nsec, (unsigned long long)st->st_ino,
			      (unsigned long long)st->st_dev)
		   : asprintf(&grown, "%s%s -\n", *meta ? *meta : "", name);

	if (n < 0)
		return -ENOMEM;
	free(*meta);
	*meta = grown;
	return 0;
}

/*
 * What decides the provider's answer besides its files: direnv's allow and deny lists and mise's
 * trusted and untrusted configs (a direnv allow or mise trust after a refusal must be seen), by
 * their directories' metadata.
 */
static int key_state(enum cell_env_provider p, char *const *environ, const char *home, char **meta)
{
	static const char *const direnv[] = {"direnv/allow", "direnv/deny", NULL};
	static const char *const mise[] = {"mise/trusted-configs", "mise/untrusted-configs", NULL};
	/* direnv's lists are in $XDG_DATA_HOME, mise's in $XDG_STATE_HOME */
	const char *var = p == CELL_PROVIDER_DIRENV ? "XDG_DATA_HOME=" : "XDG_STATE_HOME=";
	const char *fallback = p == CELL_PROVIDER_DIRENV ? ".local/share" : ".local/state";
	const char *const *dirs = p == CELL_PROVIDER_DIRENV ? direnv
				  : p == CELL_PROVIDER_MISE ? mise
							    : NULL;
	const char *base = NULL;
	int r = 0;

	for (size_t i = 0; dirs && environ && environ[i]; i++)
		if (startswith(environ[i], var) && environ[i][strlen(var)] == '/')
			base = environ[i] + strlen(var);
	for (size_t i = 0; r >= 0 && dirs && dirs[i]; i++) {
		_cleanup_free_ char *path = NULL;
		struct stat st;

		if ((base ? asprintf(&path, "%s/%s", base, dirs[i])
			  : asprintf(&path, "%s/%s/%s", home ? home : "", fallback, dirs[i])) < 0) {
			path = NULL;
			return -ENOMEM;
		}
		r = meta_add(meta, path, stat(path, &st) == 0 ? &st : NULL);
	}
	return r;
}

static int key_meta(enum cell_env_provider p, const char *program, const char *root,
		    char *const *read, struct key *k)
{
	const char *const *in = inputs_of(p);
	struct stat st;
	int r = meta_add(&k->meta, program, stat(program, &st) == 0 ? &st : NULL);

	for (size_t i = 0; r >= 0 && in[i]; i++) {
		_cleanup_free_ char *path = cell_path_join(root, in[i]);

		r = path ? meta_add(&k->meta, in[i], stat(path, &st) == 0 ? &st : NULL) : -ENOMEM;
	}
	/* (what it said it read last time: an .envrc.local the .envrc sources) */
	for (size_t i = 0; r >= 0 && read && read[i]; i++)
		r = meta_add(&k->meta, read[i], stat(read[i], &st) == 0 ? &st : NULL);
	return r;
}

/* One file's name and bytes into pieces (a file not there, a link or not a file: its name and
 * a mark, as trust.c does). */
static int hash_file(const char *name, const char *path, struct cell_hash_piece *pieces, size_t *n,
		     char **text)
{
	size_t len = 0;
	int r = cell_read_file(path, O_NOFOLLOW | O_NONBLOCK, INPUT_MAX, text, &len);

	pieces[(*n)++] = (struct cell_hash_piece){name, strlen(name) + 1};
	if (r == -ENOENT || r == -ELOOP || r == -EINVAL || r == -EISDIR) {
		pieces[(*n)++] = (struct cell_hash_piece){"\1", 1};
		return 0;
	}
	if (r >= 0)
		pieces[(*n)++] = (struct cell_hash_piece){*text, len + 1};
	return r;
}

/* The hash of the program's metadata and the input files' (and those it read) names and
 * bytes. */
static int key_hash(enum cell_env_provider p, const char *program, const char *root,
		    char *const *read, struct key *k)
{
	const char *const *in = inputs_of(p);
	size_t n_files = cell_strv_length((char *const *)in) + cell_strv_length(read), n = 0;
	_cleanup_free_ struct cell_hash_piece *pieces = calloc(2 + 2 * n_files, sizeof(*pieces));
	_cleanup_free_ char **texts = calloc(n_files + 1, sizeof(*texts));
	size_t t = 0;
	int r = pieces && texts ? 0 : -ENOMEM;

	if (r >= 0) {
		pieces[n++] = (struct cell_hash_piece){program, strlen(program) + 1};
		/* (the state beside the files, as key_state put it in the metadata) */
		pieces[n++] = (struct cell_hash_piece){k->state ? k->state : "",
						       k->state ? strlen(k->state) + 1 : 1};
	}
	for (size_t i = 0; in[i] && r >= 0; i++) {
		_cleanup_free_ char *path = cell_path_join(root, in[i]);

		r = path ? hash_file(in[i], path, pieces, &n, &texts[t++]) : -ENOMEM;
	}
	for (size_t i = 0; read && read[i] && r >= 0; i++)
		r = hash_file(read[i], read[i], pieces, &n, &texts[t++]);
	if (r >= 0)
		r = cell_sha256_hex(pieces, n, k->hash);
	for (size_t i = 0; i < t; i++)
		free(texts[i]);
	return r;
}

/* The cache, if there is one for p: its key, and what it holds. */
struct cache {
	cJSON *json;
	const char *meta, *hash, *failed;
	char **read; /* what the provider said it read, or NULL */
};

static void cache_load(const char *path, enum cell_env_provider p, struct cache *c)
{
	_cleanup_free_ char *text = NULL;
	const cJSON *v, *item;
	size_t len;

	*c = (struct cache){0};
	if (cell_read_file(path, O_NOFOLLOW, OUT_MAX + 4096, &text, &len) < 0)
		return;
	c->json = cJSON_ParseWithLength(text, len);
	v = cJSON_GetObjectItemCaseSensitive(c->json, "provider");
	if (!cJSON_IsString(v) || !streq(v->valuestring, cell_env_provider_to_string(p))) {
		cJSON_Delete(c->json);
		*c = (struct cache){0};
		return;
	}
	v = cJSON_GetObjectItemCaseSensitive(c->json, "meta");
	c->meta = cJSON_IsString(v) ? v->valuestring : NULL;
	v = cJSON_GetObjectItemCaseSensitive(c->json, "hash");
	c->hash = cJSON_IsString(v) ? v->valuestring : NULL;
	v = cJSON_GetObjectItemCaseSensitive(c->json, "failed");
	c->failed = cJSON_IsString(v) ? v->valuestring : NULL;
	v = cJSON_GetObjectItemCaseSensitive(c->json, "read");
	cJSON_ArrayForEach(item, v)
	{
		if (cJSON_IsString(item) && item->valuestring[0] == '/' &&
		    cell_strv_length(c->read) < CELL_PROVIDER_READ_MAX)
			(void)cell_strv_extend(&c->read, item->valuestring);
	}
}

static void cache_done(struct cache *c)
{
	cJSON_Delete(c->json);
	cell_strv_free(c->read);
	*c = (struct cache){0};
}

/* The environment the cache holds (its "env": the provider's output as it was). */
static int cache_env(const struct cache *c, enum cell_env_provider p, const char *base_path,
		     struct cell_provider_env *ret)
{
	const cJSON *out = cJSON_GetObjectItemCaseSensitive(c->json, "output");
	const cJSON *base = cJSON_GetObjectItemCaseSensitive(c->json, "base_path");
	int r;

	if (!cJSON_IsString(out))
		return -EBADMSG;
	r = cell_provider_parse(p, out->valuestring, strlen(out->valuestring),
				cJSON_IsString(base) ? base->valuestring : base_path, ret);
	if (r >= 0)
		ret->cached = true;
	return r;
}

/* Writes the cache: the key, the output (when the provider gave one), and a failed hash. */
static int cache_save(const char *path, enum cell_env_provider p, const struct key *k,
		      const char *output, const char *base_path, const char *failed,
		      char *const *read)
{
	cJSON *j = cJSON_CreateObject(), *list = cJSON_CreateArray();
	_cleanup_free_ char *text = NULL;
	int r = -ENOMEM;

	for (size_t i = 0; list && read && read[i]; i++)
		if (!cJSON_AddItemToArray(list, cJSON_CreateString(read[i])))
			break;
	if (j && list && (cJSON_AddItemToObject(j, "read", list) ? (list = NULL, true) : false) &&
	    cJSON_AddStringToObject(j, "provider", cell_env_provider_to_string(p)) &&
	    cJSON_AddStringToObject(j, "meta", k->meta) &&
	    cJSON_AddStringToObject(j, "hash", k->hash) &&
	    (!output || cJSON_AddStringToObject(j, "output", output)) &&
	    (!base_path || cJSON_AddStringToObject(j, "base_path", base_path)) &&
	    (!failed || cJSON_AddStringToObject(j, "failed", failed)))
		text = cJSON_PrintUnformatted(j);
	if (text) {
		r = cell_mkdir_parent(path, 0700);
		if (r >= 0)
			r = cell_write_file_atomic(path, text, strlen(text), 0600, false);
	}
	cJSON_Delete(list);
	cJSON_Delete(j);
	return r;
}

/* Says why there is no environment: an error with required, else a notice. */
static int missing(const struct cell_provider_request *req, char **ret_notice, struct cell_diag *d,
		   const char *fmt, ...) _printf_(4, 5);
static int missing(const struct cell_provider_request *req, char **ret_notice, struct cell_diag *d,
		   const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	if (req->required) {
		cell_diag_set(d, -ENOENT, NULL, "env.provider", "%s (env.required)", text);
		free(text);
		return -ENOENT;
	}
	*ret_notice = text;
	return 0;
}

/* argv, to be run in the provider's sandbox (providercell.h). */
static int sandboxed(const struct cell_provider_request *req, enum cell_env_provider p,
		     const char *state, char ***argv, int *ret_fd)
{
	struct cell_provider_cell in = {
		.bwrap = req->bwrap,
		.home = req->home,
		.config_home = env_value(req->environ, "XDG_CONFIG_HOME"),
		.data_home = env_value(req->environ, "XDG_DATA_HOME"),
		.state_home = env_value(req->environ, "XDG_STATE_HOME"),
		.runtime_dir = env_value(req->environ, "XDG_RUNTIME_DIR"),
		.root = req->root,
		.state = state,
	};
	char **wrapped = NULL;
	int r;

	/* (the home would be there again with the project: a cell refuses such a project too) */
	if (req->home && cell_path_is_below(req->home, req->root))
		return -EXDEV;
	r = cell_provider_cell_prepare(&in, p, &in.project_dir_fd, &in.project_dir);

	*ret_fd = in.project_dir_fd;
	if (r >= 0)
		r = cell_provider_cell_argv(&in, *argv, &wrapped);
	if (r < 0)
		return r;
	cell_strv_free(*argv);
	*argv = wrapped;
	return 0;
}

/* Runs the provider and parses what it gave; the output in *ret_output for the cache. */
static int evaluate(const struct cell_provider_request *req, enum cell_env_provider p,
		    const char *program, struct cell_provider_env *ret, char **ret_output,
		    char *why, size_t why_size)
{
	_cleanup_free_ char **env = NULL, *state = cell_path_join(req->state_dir, "provider");
	_cleanup_free_ char *cache = state ? cell_path_join(state, "cache") : NULL,
			    *cache_var = NULL;
	_cleanup_close_ int dir_fd = -1;
	char **argv = NULL;
	struct cell_run_result res;
	const struct cell_run_limits limits = {
		.timeout_ms = req->timeout_ms ? req->timeout_ms : TIMEOUT_MS_DEFAULT,
		.out_max = OUT_MAX,
		.err_max = ERR_MAX,
	};
	size_t n = 0;
	int r;

	/* git, which nix runs on a repository, runs no hook or fsmonitor of the project's (a
	 * cell may write .git when hardening.git_writable) */
	static char *const git_env[] = {
		(char *)"GIT_CONFIG_COUNT=2",		(char *)"GIT_CONFIG_KEY_0=core.fsmonitor",
		(char *)"GIT_CONFIG_VALUE_0=false",	(char *)"GIT_CONFIG_KEY_1=core.hooksPath",
		(char *)"GIT_CONFIG_VALUE_1=/dev/null",
	};

	env = calloc(cell_strv_length(req->environ) + ELEMENTSOF(git_env) + 3, sizeof(*env));
	if (!env || !cache || asprintf(&cache_var, "XDG_CACHE_HOME=%s", cache) < 0)
		return -ENOMEM;
	/* (its caches and temporary files its sandbox's own: the user's are read-only there, and
	 * the host's /tmp is not there) */
	for (size_t i = 0; req->environ && req->environ[i]; i++)
		if (provider_passes(req->environ[i]) &&
		    !startswith(req->environ[i], "XDG_CACHE_HOME=") &&
		    !startswith(req->environ[i], "TMPDIR="))
			env[n++] = req->environ[i];
	env[n++] = cache_var;
	env[n++] = (char *)"TMPDIR=/tmp";
	for (size_t i = 0; i < ELEMENTSOF(git_env); i++)
		env[n++] = git_env[i];
	r = argv_of(p, program, req->root, state, &argv);
	/* (never outside its sandbox) */
	if (r >= 0)
		r = req->bwrap ? sandboxed(req, p, state, &argv, &dir_fd) : -ENOPKG;
	if (r >= 0)
		r = cell_run_session(argv, req->root, env, &limits, &res);
	cell_strv_free(argv);
	if (r == -ETIMEDOUT)
		snprintf(why, why_size, "it did not finish within %u s", limits.timeout_ms / 1000);
	else if (r == -EFBIG)
		snprintf(why, why_size, "it printed more than %d MiB", OUT_MAX >> 20);
	else if (r == -ELOOP)
		snprintf(why, why_size,
			 "the project's .direnv or .devenv is not a directory (a link "
			 "made in a cell?)");
	else if (r == -EXDEV)
		snprintf(why, why_size, "the project holds your home directory");
	else if (r == -ENOPKG)
		snprintf(why, why_size,
			 "bubblewrap is not installed, and a provider runs only in "
			 "a sandbox");
	else if (r < 0)
		snprintf(why, why_size, "%s", strerror(-r));
	if (r < 0)
		return r;
	if (res.status != 0) {
		char line[320];

		first_line(res.err, line, sizeof(line));
		snprintf(why, why_size, "exit status %d%s%s", res.status, *line ? ": " : "", line);
		cell_run_result_done(&res);
		return -EIO;
	}
	r = cell_provider_parse(p, res.out ? res.out : "", res.out_len,
				env_value(req->environ, "PATH"), ret);
	if (r == -E2BIG)
		snprintf(why, why_size,
			 "a variable longer than %d KiB, or more than %d MiB of them (no program "
			 "could start with them)",
			 VAR_MAX >> 10, VARS_TOTAL_MAX >> 20);
	else if (r < 0)
		snprintf(why, why_size, "its output is not the JSON it should print");
	else
		*ret_output = res.out ? TAKE_PTR(res.out) : strdup("");
	cell_run_result_done(&res);
	return r;
}

/*
 * The cache after an evaluation, keyed by what the provider said it read as well (an
 * .envrc.local its .envrc sources: an edit of it is seen at the next entry).
 */
static int save_evaluated(const char *cache_path, enum cell_env_provider p, const char *program,
			  const char *root, struct key *k, const char *output,
			  const char *base_path)
{
	_cleanup_strv_free_ char **read = NULL;
	int r = cell_provider_read_list(p, root, output, &read);

	if (r >= 0 && read) {
		free(k->meta);
		k->meta = NULL;
		r = key_meta(p, program, root, read, k);
		if (r >= 0 && k->state)
			r = meta_add(&k->meta, k->state, NULL);
		if (r >= 0)
			r = key_hash(p, program, root, read, k);
	}
	if (r < 0)
		return r;
	return cache_save(cache_path, p, k, output, base_path, NULL, read);
}

int cell_provider_env(const struct cell_provider_request *req, struct cell_provider_env *ret,
		      char **ret_notice, struct cell_diag *diag)
{
	enum cell_env_provider p = cell_provider_pick(req->root, req->provider);
	const char *name = cell_env_provider_to_string(p);
	_cleanup_free_ char *program = NULL, *cache_path = NULL, *output = NULL;
	const char *base_path = env_value(req->environ, "PATH");
	struct key k _cleanup_(key_done) = {0};
	struct cache c = {0};
	char why[512] = "";
	int r;

	*ret = (struct cell_provider_env){.provider = CELL_PROVIDER_NONE};
	*ret_notice = NULL;
	if (p == CELL_PROVIDER_NONE)
		return 0;
	program = cell_provider_find(p, req->home);
	if (!program)
		return missing(req, ret_notice, diag,
			       "the project's environment comes from %s, which is not installed "
			       "(looked in /run/current-system/sw/bin, "
			       "/nix/var/nix/profiles/default/bin, ~/.nix-profile/bin, "
			       "/usr/local/bin, /usr/bin): the cell has none of it",
			       program_of(p));
	cache_path = cell_path_join(req->state_dir, CACHE_FILE);
	if (!cache_path)
		return -ENOMEM;
	cache_load(cache_path, p, &c);
	r = key_state(p, req->environ, req->home, &k.state);
	if (r >= 0)
		r = key_meta(p, program, req->root, c.read, &k);
	if (r >= 0 && k.state)
		r = meta_add(&k.meta, k.state, NULL);
	if (r < 0) {
		cache_done(&c);
		return r;
	}
	/* fresh by metadata: no file read */
	if (!req->refresh && c.json && c.meta && streq(c.meta, k.meta) && !c.failed) {
		r = cache_env(&c, p, base_path, ret);
		cache_done(&c);
		return r;
	}
	r = key_hash(p, program, req->root, c.read, &k);
	if (r < 0) {
		cache_done(&c);
		return r;
	}
	/* touched, not changed; or changed to what failed already (said then, once) */
	if (!req->refresh && c.json && c.hash &&
	    (streq(c.hash, k.hash) || (c.failed && streq(c.failed, k.hash)))) {
		bool failed = c.failed && streq(c.failed, k.hash);

		if (failed && req->required) {
			cache_done(&c);
			return missing(
				req, ret_notice, diag,
				"%s could not evaluate the project's environment when its "
				"files were as they are now (cell env --refresh tries again)",
				name);
		}
		r = cache_env(&c, p, base_path, ret);
		if (r >= 0 && !failed)
			(void)cache_save(
				cache_path, p, &k,
				cJSON_GetStringValue(cJSON_GetObjectItem(c.json, "output")),
				base_path, NULL, c.read);
		cache_done(&c);
		return failed && r < 0 ? 0 : r;
	}
	if (req->cache_only) {
		cache_done(&c);
		return 0;
	}
	r = evaluate(req, p, program, ret, &output, why, sizeof(why));
	if (r >= 0) {
		(void)save_evaluated(cache_path, p, program, req->root, &k, output, base_path);
		cache_done(&c);
		return 0;
	}
	/* failed: the last good environment if there is one, said once */
	{
		const char *last =
			c.json ? cJSON_GetStringValue(cJSON_GetObjectItem(c.json, "output")) : NULL;
		const cJSON *lb = c.json ? cJSON_GetObjectItem(c.json, "base_path") : NULL;
		struct key failed_key = {.meta = k.meta};

		snprintf(failed_key.hash, sizeof(failed_key.hash), "%s", c.hash ? c.hash : "");
		(void)cache_save(cache_path, p, c.hash ? &failed_key : &k, last,
				 cJSON_GetStringValue(lb), k.hash, c.read);
		if (last && !req->required)
			(void)cell_provider_parse(p, last, strlen(last), cJSON_GetStringValue(lb),
						  ret);
		cache_done(&c);
		return missing(req, ret_notice, diag,
			       "%s could not evaluate the project's environment (%s)%s", name, why,
			       last ? ": the cell has the last environment it gave"
				    : ": the cell has none of it");
	}
}

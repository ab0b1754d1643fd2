/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "jsonpos.h"
#include "path.h"
#include "bwrap.h"
#include "launch.h"
#include "log.h"
#include "member.h"
#include "network-proxy.h"
#include "network.h"
#include "procstate.h"
#include "quote.h"
#include "strv.h"
#include "trust.h"
#include "user.h"
#include "xdg.h"

/* The command table, as main() registers it: usage words come from it, without this file
 * knowing the commands. */
static const struct cli_command *table;
static size_t table_len;

void cli_usage_table(const struct cli_command *commands, size_t n)
{
	table = commands;
	table_len = n;
}

/* Where a line of room columns breaks text: at its last space outside [brackets], else at its
 * last space, else at its first. */
static size_t break_at(const char *text, size_t room)
{
	size_t any = 0, outside = 0;
	int depth = 0;

	for (size_t i = 0; i <= room && text[i]; i++) {
		depth += text[i] == '[';
		depth -= text[i] == ']' && depth > 0;
		if (text[i] == ' ') {
			any = i;
			outside = depth == 0 ? i : outside;
		}
	}
	return outside ? outside : any ? any : strcspn(text, " ");
}

void cli_put_wrapped(FILE *f, const char *text, size_t at, size_t indent)
{
	if (!*text)
		fputc('\n', f);
	while (*text) {
		size_t room = at < 79 ? 79 - at : 20, n = strlen(text);

		if (n > room)
			n = break_at(text, room);
		fprintf(f, "%.*s\n", (int)n, text);
		text += n;
		while (*text == ' ')
			text++;
		if (*text)
			fprintf(f, "%*s", (int)indent, "");
		at = indent;
	}
}

void cli_usage(const char *verb, bool to_stderr)
{
	const struct cli_command *c = NULL;
	FILE *f = to_stderr ? stderr : stdout;

	for (size_t i = 0; i < table_len && !c; i++)
		if (streq(table[i].name, verb))
			c = &table[i];
	if (!c)
		return;
	fprintf(f, "usage: cell %s%s", c->name, c->args[0] ? " " : "");
	cli_put_wrapped(f, c->args[0] ? c->args : "", strlen("usage: cell  ") + strlen(c->name),
			strlen("usage: cell  ") + strlen(c->name));
	if (!to_stderr) {
		_cleanup_free_ char *summary = NULL;

		if (asprintf(&summary, "%s.", c->summary) >= 0) {
			fputc('\n', f);
			cli_put_wrapped(f, summary, 0, 0);
		}
	}
	if (!to_stderr && c->help)
		fprintf(f, "\n%s\n", c->help);
}

int cli_bad_usage(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cell %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_usage(verb, true);
	fprintf(stderr, "Try 'cell %s --help' for more.\n", verb);
	return CELL_EXIT_USAGE;
}

int cli_parse_dir_only(int argc, char *argv[], const char **ret_dir)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		if (c == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		return cli_bad_option(argv, c);
	}
	if (argc - optind > 1)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	*ret_dir = optind < argc ? argv[optind] : NULL;
	return -1;
}

int cli_bad_option(char *argv[], int c)
{
	if (c == ':')
		return cli_bad_usage(argv[0], "option '%s' needs a value", argv[optind - 1]);
	return cli_bad_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
}

int cli_parse_cell_options(int argc, char *argv[], bool with_dir, struct cli_cell_options *o)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"directory", required_argument, NULL, 'C'},
		{"user", required_argument, NULL, 'u'},
		{"allow-root", no_argument, NULL, 'R'},
		{"leave-to", required_argument, NULL, 'L'},
		{"new", no_argument, NULL, 'N'},
		{"quiet", no_argument, NULL, 'q'},
		{0},
	};
	const char *allow_root = getenv("CELL_ALLOW_ROOT");
	int c;

	/* the shell hook's way to say --allow-root for root's shells */
	o->allow_root = allow_root && streq(allow_root, "1");
	opterr = 0;
	/* '+': a command's own options are not ours */
	while ((c = getopt_long(argc, argv, with_dir ? "+:hC:u:q" : "+:hu:", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		case 'C':
			if (!with_dir)
				return cli_bad_option(argv, '?');
			o->dir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'R':
			o->allow_root = true;
			break;
		case 'L':
			if (with_dir)
				return cli_bad_option(argv, '?');
			o->leave_to = optarg;
			break;
		case 'N':
			o->new_cell = true;
			break;
		case 'q':
			if (!with_dir)
				return cli_bad_option(argv, '?');
			o->quiet = true;
			break;
		default:
			return cli_bad_option(argv, c);
		}
	}
	return -1;
}

void cli_put_safe(FILE *f, const char *s)
{
	cell_diag_put_safe(f, s);
}

void cli_print_diag(const struct cell_diag *d)
{
	cell_diag_print(stderr, d);
}

int cli_find_project(const char *dir, struct cell_project **ret)
{
	_cleanup_diag_ struct cell_diag d = {0};
	int r;

	r = cell_project_find(dir, ret, &d);
	if (r >= 0)
		cell_log(CELL_LOG_DEBUG, "project '%s', config '%s', id %s", (*ret)->root,
			 (*ret)->config_path, (*ret)->id);
	if (r == -ENOENT && !d.message) {
		_cleanup_free_ char *real = realpath(dir, NULL);

		fprintf(stderr,
			"cell: no %s in '%s' or any directory above it (create one with 'cell init')\n",
			CELL_CONFIG_FILE, real ? real : dir);
		return CELL_EXIT_FAILURE;
	}
	if (r < 0) {
		if (d.message)
			cli_print_diag(&d);
		else
			fprintf(stderr, "cell: cannot look for %s from '%s': %s\n",
				CELL_CONFIG_FILE, dir, strerror(-r));
		/* the file is there but not one cell will read: a config problem */
		return r == -ELOOP || r == -EFBIG || r == -EISDIR || r == -EINVAL
			       ? CELL_EXIT_CONFIG
			       : CELL_EXIT_FAILURE;
	}
	return -1;
}

bool cli_trusted(const struct cell_project *p, char **ret_dir)
{
	_cleanup_free_ char *dir = NULL;
	bool trusted = false;

	if (cell_trust_dir(&dir) < 0 || cell_trust_check(dir, p, &trusted) < 0)
		trusted = false;
	cell_log(CELL_LOG_DEBUG, "trust records in '%s': %s", dir ? dir : "?",
		 trusted ? "trusted" : "not trusted");
	if (ret_dir)
		*ret_dir = TAKE_PTR(dir);
	return trusted;
}

char *cli_user_config_path(void)
{
	_cleanup_free_ char *dir = NULL;

	if (cell_xdg_dir(CELL_XDG_CONFIG, &dir) < 0)
		return NULL;
	return cell_path_join(dir, "config.json");
}

int cli_load_config(const struct cell_project *p, struct cell_config **ret)
{
	_cleanup_diag_ struct cell_diag d = {0};
	_cleanup_free_ char *user = cli_user_config_path();
	struct cell_config_env env = cell_config_env_from_process();
	int r;

	cell_log(CELL_LOG_DEBUG, "user config '%s'", user ? user : "(none)");
	r = cell_project_load_config(p, user, &env, ret, &d);
	if (r < 0) {
		if (d.message)
			cli_print_diag(&d);
		else
			fprintf(stderr, "cell: cannot load the config of '%s': %s\n", p->root,
				strerror(-r));
		return CELL_EXIT_CONFIG;
	}
	return -1;
}

int cli_open_project(const char *dir, struct cell_project **ret_project,
		     struct cell_config **ret_config)
{
	_cleanup_project_ struct cell_project *p = NULL;
	int r;

	r = cli_find_project(dir ? dir : ".", &p);
	if (r >= 0)
		return r;
	r = cli_load_config(p, ret_config);
	if (r >= 0)
		return r;
	*ret_project = TAKE_PTR(p);
	return -1;
}

char *cli_allow_command(const struct cell_project *p)
{
	_cleanup_free_ char *q = cell_shell_quote(p->root);
	char *s;

	if (!q || asprintf(&s, "cell allow %s", q) < 0)
		return NULL;
	return s;
}

int cli_become_user(const struct cli_cell_options *o)
{
	_cleanup_diag_ struct cell_diag d = {0};
	const char *user = o->user;

	if (geteuid() != 0) {
		if (o->user) {
			fprintf(stderr, "cell: --user needs root\n");
			return CELL_EXIT_USAGE;
		}
		return -1;
	}
	if (!user) {
		const char *sudo = getenv("SUDO_USER");

		if (sudo && *sudo && !streq(sudo, "root"))
			user = sudo;
	}
	if (!user) {
		if (o->allow_root)
			return -1;
		fprintf(stderr,
			"cell: refusing to run a cell as root; name its user with --user NAME "
			"(or pass --allow-root)\n");
		return CELL_EXIT_FAILURE;
	}
	if (cell_user_become(user, &d) < 0) {
		cli_print_diag(&d);
		return CELL_EXIT_FAILURE;
	}
	return -1;
}

int cli_cell_open(const struct cli_cell_options *o, struct cell_project **ret_project,
		  struct cell_config **ret_config, char **ret_cwd)
{
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *cwd = NULL, *allow = NULL;
	int r;

	r = cli_become_user(o);
	if (r >= 0)
		return r;
	cwd = realpath(o->dir ? o->dir : ".", NULL);
	if (!cwd) {
		fprintf(stderr, "cell: cannot resolve '%s': %s\n", o->dir ? o->dir : ".",
			strerror(errno));
		return CELL_EXIT_FAILURE;
	}
	r = cli_find_project(cwd, &p);
	if (r >= 0)
		return r;
	r = cli_load_config(p, &c);
	if (r >= 0)
		return r;
	if (!cli_trusted(p, NULL)) {
		const char *home = cell_home();
		size_t n = home ? strlen(home) : 0;
		bool tilde = n > 1 && !strncmp(p->config_path, home, n) && p->config_path[n] == '/';

		/* from within the project (the shell hook, cell run there), plain 'cell allow' */
		allow = o->dir ? cli_allow_command(p) : NULL;
		fprintf(stderr, "cell: %s%s is not allowed; run %s%s%s to trust it\n",
			tilde ? "~" : "", p->config_path + (tilde ? n : 0),
			allow && strchr(allow, '\'') ? "" : "'", allow ? allow : "cell allow",
			allow && strchr(allow, '\'') ? "" : "'");
		return CELL_EXIT_FAILURE;
	}
	*ret_project = TAKE_PTR(p);
	*ret_config = TAKE_PTR(c);
	*ret_cwd = TAKE_PTR(cwd);
	return -1;
}

int cli_plan_preview(const struct cell_project *p, const struct cell_config *c,
		     char *const *command, struct cell_plan **ret)
{
	_cleanup_diag_ struct cell_diag d = {0};
	_cleanup_host_ struct cell_host host = {0};
	int r;

	r = cell_host_probe(&host, &d);
	if (r < 0) {
		cli_print_diag(&d);
		return CELL_EXIT_FAILURE;
	}
	r = cell_instance_preview(p, c, &host,
				  &(struct cell_instance_args){.cwd = p->root, .command = command},
				  ret, &d);
	if (r < 0) {
		if (d.message)
			cli_print_diag(&d);
		else
			fprintf(stderr, "cell: cannot plan the cell: %s\n", strerror(-r));
		return r == -ENOMEM ? CELL_EXIT_FAILURE : CELL_EXIT_CONFIG;
	}
	return -1;
}

int cli_instance_open(const struct cell_project *p, const struct cell_config *c,
		      const struct cell_instance_args *a, struct cell_instance **ret)
{
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_instance *inst = NULL;
	int r;

	r = cell_instance_open(p, c, a, &inst, &d);
	if (r < 0) {
		bool config = inst && inst->plan_failed && r != -ENOMEM;

		cli_print_diag(&d);
		cell_instance_close(inst);
		return config ? CELL_EXIT_CONFIG : CELL_EXIT_FAILURE;
	}
	*ret = inst;
	return -1;
}

/* Ctrl-C ended the command: end ourselves by the same signal, so that a shell running cell in a
 * loop stops too (it only does when its child died of SIGINT). */
static int exit_like(int status, int terminal_sig)
{
	if (terminal_sig && status == 128 + terminal_sig) {
		signal(terminal_sig, SIG_DFL);
		raise(terminal_sig);
	}
	return status;
}

static void print_notices(char **notices)
{
	/* (a provider's notice quotes what it said of files a cell may have written) */
	for (size_t i = 0; notices && notices[i]; i++) {
		fputs("cell: ", stderr);
		cli_put_safe(stderr, notices[i]);
		fputc('\n', stderr);
	}
}

/* cell run's: the denials of its cell said when its command ends (cli_say_denials). */
static bool say_denials;

void cli_say_denials(bool on)
{
	say_denials = on;
}

/*
 * The cell's notices file, and in *ret_from where this command's lines start: a session's,
 * held open from before its command runs (its keeper removes it when the last member leaves,
 * which may be this one; what is there before is not this command's); a cell of its own's,
 * opened once its command ended (its proxy made it anew when the cell started, and removes it
 * when the cell closes), from its start (ret_from NULL). -1: none to say.
 */
static int denials_open(const char *notices, off_t *ret_from)
{
	struct stat st;
	int fd;

	if (!say_denials || !notices)
		return -1;
	fd = open(notices, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		return -1;
	}
	if (ret_from)
		*ret_from = fd >= 0 ? st.st_size : 0;
	return fd;
}

/* What the cell's notices file gained since from (its lines, a denial or a proxy's word each),
 * to stderr as the prompt shows them (control characters made harmless); closes fd. */
static void print_denials(int fd, off_t from)
{
	char buf[16384];
	ssize_t n;

	if (fd < 0)
		return;
	n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = buf, *end; *line; line = end + 1) {
		bool said = false;

		end = strchr(line, '\n');
		if (!end)
			break; /* (a line still being written) */
		*end = '\0';
		/* (once each: a client that tries every address of a name is refused each time) */
		for (char *before = buf; before < line && !said; before += strlen(before) + 1)
			said = streq(before, line);
		if (said)
			continue;
		cli_put_safe(stderr, line);
		fputc('\n', stderr);
	}
	if ((size_t)n == sizeof(buf) - 1)
		fputs("cell: (and more; all of what the cell was refused: cell log)\n", stderr);
}

int cli_instance_run(struct cell_instance *inst)
{
	_cleanup_diag_ struct cell_diag d = {0};
	int status = 0, terminal_sig = 0, r;

	print_notices(inst->plan->notices);
	if (cell_plan_say_once(inst->cell.project->id, inst->plan->notice_once))
		print_notices((char *[]){inst->plan->notice_once, NULL});
	r = cell_instance_run(inst, &status, &terminal_sig, &d);
	print_denials(denials_open(inst->plan->notices_path, NULL), 0);
	cell_instance_close(inst);
	if (r < 0) {
		cli_print_diag(&d);
		return r == -ECHILD ? CELL_EXIT_CELL : CELL_EXIT_FAILURE;
	}
	return exit_like(status, terminal_sig);
}

int cli_session_join(const struct cell_project *p, const struct cell_config *c,
		     const struct cell_instance_args *a, struct cell_member **ret, char *ret_other)
{
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_member *m = NULL;
	int r = cell_member_open(p, c, a, &m, &d);

	if (r == -EXDEV) {
		snprintf(ret_other, CELL_SHA256_HEX_LEN + 1, "%s", m->other_hash);
		cell_member_free(m);
		return -2;
	}
	if (r < 0) {
		bool config = m && m->plan_failed;

		if (d.message)
			cli_print_diag(&d);
		cell_member_free(m);
		/* (the keeper said why it could not open the cell) */
		return config || (r == -EINVAL && !d.message) ? CELL_EXIT_CONFIG
		       : r == -ECHILD			      ? CELL_EXIT_CELL
							      : CELL_EXIT_FAILURE;
	}
	print_notices(m->notices);
	if (cell_plan_say_once(p->id, m->plan->notice_once))
		print_notices((char *[]){m->plan->notice_once, NULL});
	*ret = m;
	return -1;
}

int cli_session_run(const struct cell_project *p, const struct cell_config *c,
		    const struct cell_instance_args *a, int (*joined)(const char *leave_to),
		    const char *leave_to)
{
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_member *m = NULL;
	int status = 0, terminal_sig = 0, denials, r;
	off_t from = 0;

	char other[CELL_SHA256_HEX_LEN + 1];

	r = cli_session_join(p, c, a, &m, other);
	if (r == -2) {
		fprintf(stderr,
			"cell: %s's open session runs its config as it was (%.12s); this command "
			"gets a cell of its own for the config as it is now (leave the session's "
			"other commands to have it everywhere)\n",
			c->name, other);
		return -1;
	}
	if (r >= 0)
		return r;
	r = joined ? joined(leave_to) : 0;
	if (r < 0) {
		fprintf(stderr, "cell: --leave-to '%s': %s\n", leave_to, strerror(-r));
		cell_member_free(m);
		return CELL_EXIT_FAILURE;
	}
	denials = denials_open(m->plan->notices_path, &from);
	r = cell_member_run(m, &status, &terminal_sig, &d);
	print_denials(denials, from);
	if (r >= 0 && m->oom && c->limits.memory)
		cell_network_say_oom(c->name, c->limits.memory);
	cell_member_free(m);
	if (r < 0) {
		cli_print_diag(&d);
		return CELL_EXIT_FAILURE;
	}
	return exit_like(status, terminal_sig);
}

int cli_cell_run(const struct cell_project *p, const struct cell_config *c,
		 const struct cell_instance_args *a)
{
	struct cell_instance *inst = NULL;
	int r = cli_instance_open(p, c, a, &inst);

	return r >= 0 ? r : cli_instance_run(inst);
}

int cli_up_dir(const struct cell_project *p, char **ret)
{
	_cleanup_free_ char *state_home = NULL;
	int r = cell_xdg_dir(CELL_XDG_STATE, &state_home);

	if (r >= 0)
		r = cell_up_dir(state_home, p->id, ret);
	if (r < 0) {
		fprintf(stderr, "cell: cannot find the project's state directory: %s\n",
			strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	return -1;
}

int cli_up_dir_of_args(int argc, char *argv[], char **ret)
{
	_cleanup_project_ struct cell_project *p = NULL;
	const char *where = NULL;
	int r = cli_parse_dir_only(argc, argv, &where);

	if (r < 0)
		r = cli_find_project(where ? where : ".", &p);
	return r < 0 ? cli_up_dir(p, ret) : r;
}

/* The ordinal of key among o's members, or -1. */
static long ordinal(const cJSON *o, const char *key)
{
	long i = 0;
	const cJSON *m;

	cJSON_ArrayForEach(m, o)
	{
		if (m->string && streq(m->string, key))
			return i;
		i++;
	}
	return -1;
}

/* Where the array that opens at text[at] closes (its ']'), strings skipped; -1 if it does not. */
static long array_close(const char *text, size_t len, size_t at)
{
	int depth = 0;

	for (size_t i = at; i < len; i++) {
		if (text[i] == '"') {
			for (i++; i < len && text[i] != '"'; i++)
				i += text[i] == '\\';
			continue;
		}
		depth += text[i] == '[' || text[i] == '{';
		depth -= text[i] == ']' || text[i] == '}';
		if (depth == 0)
			return text[i] == ']' ? (long)i : -1;
	}
	return -1;
}

/* entries as JSON strings, sep between them (", ", or ",\n" and an indent). */
static char *json_strings(char *const *entries, const char *sep)
{
	char *out = strdup(""), *more;

	for (size_t i = 0; out && entries[i]; i++) {
		cJSON *v = cJSON_CreateString(entries[i]);
		char *json = v ? cJSON_PrintUnformatted(v) : NULL;

		cJSON_Delete(v);
		more = NULL;
		if (!json || asprintf(&more, "%s%s%s", out, json, entries[i + 1] ? sep : "") < 0)
			more = NULL;
		free(json);
		free(out);
		out = more;
	}
	return out;
}

/*
 * The indent of the first line after the bracket or brace at text[at], if what it opens goes
 * on over lines ("[\n    \"a\"": "    "); NULL when it does not (or is empty).
 */
static char *indent_after(const char *text, size_t len, size_t at)
{
	size_t i = at + 1, from;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
		i++;
	if (i >= len || text[i] != '\n')
		return NULL;
	from = ++i;
	while (i < len && (text[i] == ' ' || text[i] == '\t'))
		i++;
	if (i >= len || text[i] == ']' || text[i] == '}' || text[i] == '\n')
		return NULL;
	return strndup(text + from, i - from);
}

/* text with what inserted at offset at (NULL on failure). */
static char *spliced(const char *text, size_t len, size_t at, const char *what)
{
	char *out;

	if (!what ||
	    asprintf(&out, "%.*s%s%.*s", (int)at, text, what, (int)(len - at), text + at) < 0)
		return NULL;
	return out;
}

/*
 * Where a new first line goes inside the container at text[at] written over lines: after the
 * newline that follows its bracket.
 */
static size_t first_line(const char *text, size_t at)
{
	return (size_t)(strchr(text + at, '\n') - text) + 1;
}

/*
 * The config with entries added to its network.allow array, and everything else as it was:
 * an array written over lines gets them as lines of their own at its top, with its indent (a
 * diff shows only lines added); one written on a line, at its end. A config without the array
 * (or without network) gets it as the first member of network (or of the file), the same way.
 * NULL when the text does not have that shape.
 */
static char *insert_allow(const struct cell_project *p, const cJSON *root, char *const *entries)
{
	const cJSON *network = cJSON_GetObjectItemCaseSensitive(root, "network");
	long net = ordinal(root, "network"), allow = network ? ordinal(network, "allow") : -1;
	size_t path[2] = {(size_t)net, (size_t)allow}, depth = net < 0 ? 0 : allow < 0 ? 1 : 2;
	_cleanup_free_ char *indent = NULL, *list = NULL, *what = NULL;
	long at = cell_json_locate(p->text, p->len, path, depth, false), close, last;

	if (at < 0 || (network && !cJSON_IsObject(network)) ||
	    p->text[at] != (depth == 2 ? '[' : '{'))
		return NULL;
	indent = indent_after(p->text, p->len, (size_t)at);
	if (indent && depth == 2) {
		/* a line each: INDENT"rule",\n */
		_cleanup_free_ char *sep = NULL, *lines = NULL;

		if (asprintf(&sep, ",\n%s", indent) < 0)
			return NULL;
		lines = json_strings(entries, sep);
		if (!lines || asprintf(&what, "%s%s,\n", indent, lines) < 0)
			return NULL;
		return spliced(p->text, p->len, first_line(p->text, (size_t)at), what);
	}
	list = json_strings(entries, ", ");
	if (!list)
		return NULL;
	if (indent) {
		if (asprintf(&what,
			     depth == 1 ? "%s\"allow\": [%s],\n"
					: "%s\"network\": {\"allow\": [%s]},\n",
			     indent, list) < 0)
			return NULL;
		return spliced(p->text, p->len, first_line(p->text, (size_t)at), what);
	}
	if (depth < 2) {
		/* (after the brace; a comma unless the object is empty) */
		size_t i = (size_t)at + 1;
		bool empty;

		while (i < p->len && strchr(" \t\r\n", p->text[i]))
			i++;
		empty = i < p->len && p->text[i] == '}';
		if (asprintf(&what,
			     depth == 1 ? "\"allow\": [%s]%s" : "\"network\": {\"allow\": [%s]}%s",
			     list, empty ? "" : ", ") < 0)
			return NULL;
		return spliced(p->text, p->len, (size_t)at + 1, what);
	}
	close = array_close(p->text, p->len, (size_t)at);
	if (close < 0)
		return NULL;
	for (last = close - 1; last > at && strchr(" \t\r\n", p->text[last]); last--)
		;
	if (asprintf(&what, "%s%s", last > at ? ", " : "", list) < 0)
		return NULL;
	return spliced(p->text, p->len, (size_t)last + 1, what);
}

char *cli_config_with_allow(const struct cell_project *p, char *const *entries)
{
	cJSON *root = cJSON_ParseWithLength(p->text, p->len);
	char *out = cJSON_IsObject(root) ? insert_allow(p, root, entries) : NULL;

	cJSON_Delete(root);
	return out;
}

int cli_config_replace(struct cell_project *p, char *text, const char *trust)
{
	_cleanup_config_ struct cell_config *check = NULL;
	_cleanup_free_ char *old = NULL;
	int r;

	/* the new text must load before it replaces the old one */
	old = TAKE_PTR(p->text);
	p->text = text;
	p->len = strlen(p->text);
	r = cli_load_config(p, &check);
	if (r >= 0)
		return r;
	/*
	 * Trust first, then the file: a running proxy reloads the moment the file changes, and
	 * must find it allowed. If the write fails, the old bytes get their record back.
	 */
	r = cell_trust_allow(trust, p);
	if (r >= 0) {
		r = cell_write_file_atomic(p->config_path, p->text, p->len, 0644, true);
		if (r < 0) {
			free(p->text);
			p->text = TAKE_PTR(old);
			p->len = strlen(p->text);
			(void)cell_trust_allow(trust, p);
		}
	}
	if (r < 0) {
		fprintf(stderr, "cell: cannot update %s: %s\n", p->config_path, strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	return -1;
}

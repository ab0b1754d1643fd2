/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "learn.h"
#include "netpolicy.h"
#include "path.h"
#include "psl.h"
#include "reqlog.h"
#include "strv.h"
#include "xdg.h"

/* What the run asked of one host:port that no rule allowed. */
struct seen {
	char *host;
	uint16_t port;
	unsigned refused, passed;
	char *who;   /* the processes, "comm (exe)", comma-separated */
	char *what;  /* a few requests, "GET /x" */
	char *other; /* why a request was refused if not for want of a rule (method, path) */
};

struct run {
	int64_t since_ms;
	struct seen *v;
	size_t n;
};

/* Appends item to a comma-separated list (at most a few), if not in it yet. */
static void list_add(char **list, const char *item)
{
	char *grown = NULL;
	size_t count = 1;

	if (!item || !*item || (*list && strstr(*list, item)))
		return;
	for (const char *c = *list; c && (c = strstr(c, ", ")); c += 2)
		count++;
	if (*list && count >= 4)
		return;
	if (asprintf(&grown, "%s%s%s", *list ? *list : "", *list ? ", " : "", item) < 0)
		return;
	free(*list);
	*list = grown;
}

static struct seen *seen_of(struct run *run, const char *host, uint16_t port)
{
	struct seen *grown;

	for (size_t i = 0; i < run->n; i++)
		if (run->v[i].port == port && streq(run->v[i].host, host))
			return &run->v[i];
	grown = reallocarray(run->v, run->n + 1, sizeof(*grown));
	if (!grown)
		return NULL;
	run->v = grown;
	run->v[run->n] = (struct seen){.host = strdup(host), .port = port};
	return run->v[run->n].host ? &run->v[run->n++] : NULL;
}

/* Whether a log time ("2026-12-03T23:51:09.410Z") is at or after ms. */
static bool at_or_after(const char *time_s, int64_t ms)
{
	struct tm tm = {0};
	const char *rest = time_s ? strptime(time_s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	int frac = 0;

	if (!rest)
		return false;
	sscanf(rest, ".%3d", &frac);
	return (int64_t)timegm(&tm) * 1000 + frac >= ms;
}

/* One line of the request log: what a learn cell's proxy saw since the run began. */
static int take(const char *line, size_t len, void *data)
{
	struct run *run = data;
	cJSON *o = cJSON_ParseWithLength(line, len);
	const char *learn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "learn")),
		   *host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "host")),
		   *decision =
			   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "decision")),
		   *rule = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "rule")),
		   *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "method")),
		   *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "path")),
		   *comm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "comm")),
		   *exe = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "exe")),
		   *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "reason"));
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(o, "port");
	bool learned = decision && streq(decision, "learned");
	/* refused for want of a rule: the default deny (network.deny names a rule) */
	bool refused = decision && streq(decision, "denied") && !rule;
	struct seen *s;
	char who[PATH_MAX + 64], what[256];

	if (!learn || !host || !cJSON_IsNumber(port) ||
	    !at_or_after(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "time")),
			 run->since_ms) ||
	    !(learned || (decision && streq(decision, "denied"))) ||
	    !(s = seen_of(run, host, (uint16_t)port->valuedouble))) {
		cJSON_Delete(o);
		return 0;
	}
	/* a name that resolved to a special address: a rule for the name would not pass it, and
	 * one for the address would open the proxy's guard (never proposed) */
	if (refused && reason && strstr(reason, ": it resolves to "))
		refused = false;
	if (!learned && !refused) {
		/* a rule's methods or paths, or network.deny: not for cell learn to widen */
		list_add(&s->other, reason ? reason : "refused by a rule");
		cJSON_Delete(o);
		return 0;
	}
	s->refused += refused;
	s->passed += learned;
	snprintf(who, sizeof(who), "%s%s%s%s", comm ? comm : "", exe ? " (" : "", exe ? exe : "",
		 exe ? ")" : "");
	list_add(&s->who, who);
	if (method && path) {
		snprintf(what, sizeof(what), "%s %.200s", method, path);
		list_add(&s->what, what);
	}
	cJSON_Delete(o);
	return 0;
}

/* The request log (and its rotated files) of project p, taken in order. */
static void read_log(const struct cell_project *p, struct run *run)
{
	_cleanup_free_ char *log = NULL;

	if (cell_project_state_file(p->id, "proxy.log", &log) >= 0)
		(void)cell_reqlog_read(log, take, run);
}

/* diff -u of the config before and after, labelled with its path. */
static void print_diff(const struct cell_project *p, const char *new_text)
{
	_cleanup_free_ char *tmp = NULL, *label = NULL;
	char dir[] = "/tmp/cell-learn-XXXXXX";
	pid_t pid;

	if (!mkdtemp(dir))
		return;
	tmp = cell_path_join(dir, "new.json");
	if (!tmp || cell_write_file_atomic(tmp, new_text, strlen(new_text), 0600, false) < 0 ||
	    asprintf(&label, "%s (proposed)", p->config_path) < 0) {
		if (tmp)
			unlink(tmp);
		rmdir(dir);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl("/usr/bin/diff", "diff", "-u", "--label", p->config_path, "--label", label,
		      p->config_path, tmp, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	unlink(tmp);
	rmdir(dir);
}

/* text with what could drive a terminal (control bytes, escapes) shown as '?': a process in
 * the cell names itself (comm, its executable's path). */
static void put_clean(const char *text)
{
	for (const unsigned char *c = (const unsigned char *)text; *c; c++)
		putchar(*c < 0x20 || *c == 0x7f ? '?' : *c);
}

static void report(const struct run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		const struct seen *s = &run->v[i];

		const char *special = cell_address_special(s->host);

		printf("  %s:%u  %s %u time%s", s->host, (unsigned)s->port,
		       s->passed ? "let through" : "refused", s->passed ? s->passed : s->refused,
		       (s->passed ? s->passed : s->refused) == 1 ? "" : "s");
		if (s->who) {
			printf(", by ");
			put_clean(s->who);
		}
		if (s->what) {
			printf("; ");
			put_clean(s->what);
		}
		if (special)
			printf("\n    not proposed: %s (a rule for it would let the cell reach it)",
			       special);
		if (s->other) {
			printf("\n    also refused, not proposed (edit the rules by hand): ");
			put_clean(s->other);
		}
		printf("\n");
	}
}

static const char banner[] =
	"cell learn --permissive: THIS CELL MAY REACH ANY HOST that network.deny does not name.\n"
	"Every connection is recorded. Run only what you would run outside a cell.\n";

/* The proposal for what the run needed, printed as a diff (and written with apply). */
static int propose(struct cell_project *p, const struct cell_config *c, struct run *run, bool apply)
{
	_cleanup_free_ struct cell_learn_need *needs = calloc(run->n + 1, sizeof(*needs));
	_cleanup_strv_free_ char **rules = NULL, **allow = NULL;
	_cleanup_free_ char *text = NULL, *trust = NULL;
	struct cell_psl *psl = NULL;
	size_t n = 0;
	int r;

	if (!needs)
		return CELL_EXIT_FAILURE;
	for (size_t i = 0; i < run->n; i++)
		if ((run->v[i].refused || run->v[i].passed) &&
		    !cell_address_special(run->v[i].host))
			needs[n++] = (struct cell_learn_need){run->v[i].host, run->v[i].port};
	for (size_t i = 0; i < c->network.n_allow; i++)
		if (cell_strv_extend(&allow, c->network.allow[i].text) < 0)
			return CELL_EXIT_FAILURE;
	/* (without the public suffix list, no wildcard: it could be everyone's) */
	if (cell_psl_load(CELL_PSL_PATH, &psl) < 0)
		psl = NULL;
	r = cell_learn_propose(needs, n, allow, cell_strv_length(allow), psl, &rules);
	cell_psl_free(psl);
	if (r < 0)
		return CELL_EXIT_FAILURE;
	if (!rules[0]) {
		if (run->n) {
			printf("cell learn: refused, and nothing to propose:\n");
			report(run);
		}
		printf("cell learn: the run needed no host that %s does not allow\n",
		       p->config_path);
		return CELL_EXIT_OK;
	}
	printf("cell learn: what the run needed, and no rule allowed:\n");
	report(run);
	text = cli_config_with_allow(p, rules);
	if (!text) {
		fprintf(stderr, "cell: cannot add the rules to %s\n", p->config_path);
		return CELL_EXIT_FAILURE;
	}
	printf("\nThe smallest change to network.allow that lets it through:\n\n");
	print_diff(p, text);
	if (!apply) {
		printf("\n(cell learn --apply writes it and allows it)\n");
		return CELL_EXIT_OK;
	}
	/* trusting the result must not trust other edits along with it */
	if (!cli_trusted(p, &trust)) {
		fprintf(stderr, "cell: %s changed since the run; not applied\n", p->config_path);
		return CELL_EXIT_FAILURE;
	}
	r = cli_config_replace(p, TAKE_PTR(text), trust);
	if (r >= 0)
		return r;
	printf("\ncell: %s now allows what the run needed (and is allowed)\n", p->config_path);
	return CELL_EXIT_OK;
}

int cmd_learn(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"directory", required_argument, NULL, 'C'},
		{"permissive", no_argument, NULL, 'p'},
		{"apply", no_argument, NULL, 'a'},
		{"user", required_argument, NULL, 'u'},
		{"allow-root", no_argument, NULL, 'R'},
		{0},
	};
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *cwd = NULL;
	struct cli_cell_options o = {.new_cell = true};
	struct cell_instance_args a;
	struct run run = {0};
	struct timespec now;
	bool permissive = false, apply = false;
	int opt, r, status;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:hC:u:", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt == 'C')
			o.dir = optarg;
		else if (opt == 'p')
			permissive = true;
		else if (opt == 'a')
			apply = true;
		else if (opt == 'u')
			o.user = optarg;
		else if (opt == 'R')
			o.allow_root = true;
		else
			return cli_bad_option(argv, opt);
	}
	r = cli_cell_open(&o, &p, &c, &cwd);
	if (r >= 0)
		return r;
	if (permissive)
		fputs(banner, stderr);
	clock_gettime(CLOCK_REALTIME, &now);
	run.since_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	/* a cell of its own (never the project's session: its proxy is the one that records);
	 * the command, or the shell */
	a = (struct cell_instance_args){
		.cwd = cwd,
		.command = optind < argc ? argv + optind : NULL,
		.interactive = optind >= argc,
		.learn = permissive ? CELL_LEARN_PERMISSIVE : CELL_LEARN_RECORD,
	};
	status = cli_cell_run(p, c, &a);
	if (permissive)
		fputs(banner, stderr);
	read_log(p, &run);
	r = propose(p, c, &run, apply);
	for (size_t i = 0; i < run.n; i++) {
		free(run.v[i].host);
		free(run.v[i].who);
		free(run.v[i].what);
		free(run.v[i].other);
	}
	free(run.v);
	return r != CELL_EXIT_OK ? r : status;
}

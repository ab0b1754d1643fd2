/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "ledger.h"
#include "listen.h"
#include "metrics.h"
#include "network.h"
#include "path.h"
#include "project.h"
#include "running.h"
#include "stats.h"
#include "xdg.h"

/* One project's ledger, merged, and its name as its records give it. */
struct ledger_sum {
	struct cell_stats stats;
	char name[128];
};

static int add_record(const char *line, size_t len, void *data)
{
	struct ledger_sum *l = data;
	cJSON *o;

	if (cell_stats_merge_record(&l->stats, line, len) < 0)
		return 0;
	o = cJSON_ParseWithLength(line, len);
	if (cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name")))
		snprintf(l->name, sizeof(l->name), "%s",
			 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name")));
	cJSON_Delete(o);
	return 0;
}

struct open_cells {
	const char *project;
	const char *live; /* cell-session's lines about the open cells */
	struct cell_stats *stats;
	unsigned n;
};

static int count_open(const struct cell_running *c, void *data)
{
	struct open_cells *o = data;

	if (!streq(c->project, o->project) || !cell_process_alive(c->keeper, c->keeper_start))
		return 0;
	o->n++;
	/* what the kernel counted of it so far (the record comes when it closes) */
	if (!c->netns)
		cell_network_bpf_live_counters(o->live, c->id, o->stats);
	return 0;
}

/* The budget of the project at the root its proxy noted, and what was used of it. */
static cJSON *budget_of(const char *id, const char *ledger)
{
	_cleanup_free_ char *path = NULL, *root = NULL, *user = NULL;
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_diag_ struct cell_diag d = {0};
	_cleanup_(cell_budget_meter_freep) struct cell_budget_meter *m = NULL;
	struct cell_config_env env = cell_config_env_from_process();
	const struct cell_budget *b;
	int64_t now = (int64_t)time(NULL);
	cJSON *arr;

	if (cell_project_state_file(id, "root", &path) < 0 ||
	    cell_read_file(path, O_NOFOLLOW, 8192, &root, NULL) < 0)
		return NULL;
	root[strcspn(root, "\n")] = '\0';
	user = cli_user_config_path();
	if (cell_project_find(root, &p, &d) < 0 || !streq(p->id, id) ||
	    cell_project_load_config(p, user, &env, &c, &d) < 0)
		return NULL;
	b = &c->network.budget;
	if (!cell_budget_any(b) || cell_budget_meter_new(ledger, NULL, &m) < 0 ||
	    cell_budget_meter_refresh(m, b, now) < 0)
		return NULL;
	arr = cJSON_CreateArray();
	for (size_t k = 0; arr && k < CELL_BUDGET_N; k++) {
		const struct cell_rate *r = &b->rate[k];
		cJSON *o;
		uint64_t used = 0;

		if (!r->amount)
			continue;
		(void)cell_budget_meter_top(m, b, (enum cell_budget_kind)k, &used);
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o))
			break;
		cJSON_AddStringToObject(o, "kind", cell_budget_key((enum cell_budget_kind)k));
		cJSON_AddStringToObject(o, "period", cell_period_name(r->period));
		cJSON_AddNumberToObject(o, "limit", (double)r->amount);
		cJSON_AddNumberToObject(o, "used", (double)used);
	}
	return arr;
}

/* One project of the user's: its summary, added to arr. */
static void collect_project(const char *user, const char *id, const char *live, cJSON *arr)
{
	_cleanup_free_ char *ledger = NULL, *line = NULL;
	struct ledger_sum l = {0};
	struct open_cells o = {.project = id, .live = live, .stats = &l.stats};
	cJSON *p, *rec;

	if (cell_ledger_path(id, &ledger) < 0 || access(ledger, F_OK) != 0)
		return;
	(void)cell_ledger_read(ledger, add_record, &l);
	cell_running_list(count_open, &o);
	if (!l.name[0])
		snprintf(l.name, sizeof(l.name), "%.*s", (int)strcspn(id, "-"), id);
	if (cell_stats_record(&l.stats, "total", id, l.name, l.stats.first_start, l.stats.last_end,
			      &line) < 0 ||
	    !(rec = cJSON_Parse(line))) {
		cell_stats_done(&l.stats);
		return;
	}
	p = cJSON_CreateObject();
	if (p && cJSON_AddItemToArray(arr, p)) {
		cJSON *budget = budget_of(id, ledger);

		cJSON_AddStringToObject(p, "user", user);
		cJSON_AddStringToObject(p, "project_id", id);
		cJSON_AddStringToObject(p, "name", l.name);
		cJSON_AddNumberToObject(p, "open", o.n);
		cJSON_AddItemToObject(p, "record", rec);
		if (budget)
			cJSON_AddItemToObject(p, "budget", budget);
	} else {
		cJSON_Delete(p);
		cJSON_Delete(rec);
	}
	cell_stats_done(&l.stats);
}

/* The projects in this process's state directory ($XDG_STATE_HOME/cell/projects). */
static void collect_user(const char *user, cJSON *arr)
{
	_cleanup_free_ char *state = NULL, *dir = NULL, *live = NULL;
	struct dirent *e;
	DIR *d;

	if (cell_xdg_dir(CELL_XDG_STATE, &state) < 0 ||
	    !(dir = cell_path_join(state, "projects")) || !(d = opendir(dir)))
		return;
	live = cell_network_bpf_live();
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			collect_project(user, e->d_name, live, arr);
	closedir(d);
}

#define OTHER_DEADLINE_MS 10000
#define OTHER_MAX (32 * 1024 * 1024)

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/*
 * Another user's projects (root): read as that user, in a child that drops to it, whose home's
 * files are then opened with no more right than the user has; its summaries come back as JSON.
 */
static void collect_other(const struct passwd *pw, cJSON *arr)
{
	_cleanup_free_ char *projects = NULL, *out = NULL;
	char buf[65536];
	size_t len = 0;
	int pipefd[2], status;
	struct stat st;
	pid_t pid;
	cJSON *got, *item;

	if (asprintf(&projects, "%s/.local/state/cell/projects", pw->pw_dir) < 0 ||
	    stat(projects, &st) < 0 || st.st_uid != pw->pw_uid || pipe2(pipefd, O_CLOEXEC) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		cJSON *mine = cJSON_CreateArray();
		char *text;

		if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
			_exit(1);
		setenv("HOME", pw->pw_dir, 1);
		setenv("USER", pw->pw_name, 1);
		unsetenv("XDG_STATE_HOME");
		unsetenv("XDG_CONFIG_HOME");
		unsetenv("XDG_DATA_HOME");
		collect_user(pw->pw_name, mine);
		text = cJSON_PrintUnformatted(mine);
		if (!text || cell_write_all(pipefd[1], text, strlen(text)) < 0)
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return;
	}
	/* the child is the user's (it may stop, block on a FIFO, or never end): it has
	 * OTHER_DEADLINE_MS and OTHER_MAX bytes, then it is killed and its projects left out */
	for (long left = OTHER_DEADLINE_MS;;) {
		struct pollfd p = {pipefd[0], POLLIN, 0};
		long before = now_ms();
		ssize_t n;
		char *grown;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0 || len > OTHER_MAX) {
			fprintf(stderr, "cell: %s's projects are left out: reading them %s\n",
				pw->pw_name, len > OTHER_MAX ? "gave too much" : "took too long");
			kill(pid, SIGKILL);
			free(out);
			out = NULL;
			break;
		}
		left -= now_ms() - before;
		n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		grown = realloc(out, len + (size_t)n + 1);
		if (!grown)
			break;
		out = grown;
		memcpy(out + len, buf, (size_t)n);
		len += (size_t)n;
		out[len] = '\0';
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	got = out ? cJSON_Parse(out) : NULL;
	while (got && (item = cJSON_DetachItemFromArray(got, 0)))
		/* (the user field is the child's word: the name is ours) */
		if (cJSON_ReplaceItemInObjectCaseSensitive(item, "user",
							   cJSON_CreateString(pw->pw_name)))
			cJSON_AddItemToArray(arr, item);
		else
			cJSON_Delete(item);
	cJSON_Delete(got);
}

/* The metrics text of the user's projects (root: every user's). */
static int metrics_text(char **ret)
{
	cJSON *arr = cJSON_CreateArray();
	struct passwd *pw = getpwuid(getuid());
	int r;

	if (!arr)
		return -ENOMEM;
	collect_user(pw ? pw->pw_name : "?", arr);
	if (getuid() == 0) {
		setpwent();
		while ((pw = getpwent()))
			if (pw->pw_uid != 0 && pw->pw_dir && pw->pw_dir[0] == '/')
				collect_other(pw, arr);
		endpwent();
	}
	r = cell_metrics_format(arr, ret);
	cJSON_Delete(arr);
	return r;
}

/* Answers one scrape: GET /metrics (or /) gets the text, anything else 404. */
static void serve_one(int fd)
{
	static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
					"Content-Length: 26\r\nConnection: close\r\n\r\n"
					"only /metrics is served.\r\n";
	_cleanup_free_ char *text = NULL, *head = NULL;
	static const struct timeval send_limit = {.tv_sec = 5};
	long deadline = now_ms() + 5000;
	char req[4096];
	size_t n = 0;

	/* one scrape at a time: a client that sends or reads slowly has 5 s */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof(send_limit));
	while (n < sizeof(req) - 1) {
		struct pollfd p = {fd, POLLIN, 0};
		long left = deadline - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return;
		r = read(fd, req + n, sizeof(req) - 1 - n);
		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (!startswith(req, "GET /metrics ") && !startswith(req, "GET /metrics?") &&
	    !startswith(req, "GET / ")) {
		(void)cell_write_all(fd, not_found, sizeof(not_found) - 1);
		return;
	}
	if (metrics_text(&text) < 0 ||
	    asprintf(&head,
		     "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     strlen(text)) < 0)
		return;
	if (cell_write_all(fd, head, strlen(head)) >= 0)
		(void)cell_write_all(fd, text, strlen(text));
}

static int serve(const char *spec)
{
	_cleanup_free_ char *desc = NULL;
	_cleanup_close_ int fd = -1;
	int r = cell_proxy_listen(spec, &fd, &desc);

	if (r < 0) {
		fprintf(stderr, "cell: cannot listen on '%s': %s\n", spec, strerror(-r));
		return r == -EINVAL ? CELL_EXIT_USAGE : CELL_EXIT_FAILURE;
	}
	printf("listening on %s\n", desc);
	fflush(stdout);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int c;

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return CELL_EXIT_FAILURE;
		c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_one(c);
		close(c);
	}
}

int cmd_metrics(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"textfile", required_argument, NULL, 't'},
		{"listen", required_argument, NULL, 'l'},
		{0},
	};
	_cleanup_free_ char *text = NULL, *path = NULL;
	const char *textfile = NULL, *listen_on = NULL;
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt == 't')
			textfile = optarg;
		else if (opt == 'l')
			listen_on = optarg;
		else
			return cli_bad_option(argv, opt);
	}
	if (optind < argc)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	if (textfile && listen_on)
		return cli_bad_usage(argv[0], "--textfile and --listen cannot be used together");
	if (listen_on)
		return serve(listen_on);
	r = metrics_text(&text);
	if (r < 0) {
		fprintf(stderr, "cell: cannot gather the metrics: %s\n", strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	if (!textfile) {
		fputs(text, stdout);
		return CELL_EXIT_OK;
	}
	/* node_exporter's textfile collector reads DIR's .prom files; a scrape never sees half a
	 * file */
	path = cell_path_join(textfile, "cell.prom");
	r = path ? cell_write_file_atomic(path, text, strlen(text), 0644, false) : -ENOMEM;
	if (r < 0) {
		fprintf(stderr, "cell: cannot write '%s': %s\n", path ? path : textfile,
			strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	return CELL_EXIT_OK;
}

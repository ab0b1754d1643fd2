/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "path.h"
#include "stats.h"
#include "xdg.h"

#define RECENT_MAX 6

/* One host of one project as the last two looks saw it. */
struct host_row {
	char *host;
	uint64_t up, down, requests, denied; /* so far, summed over the project's proxies */
	double up_rate, down_rate;	     /* bytes per second */
	double changed;			     /* when the counts last moved */
};

struct project_view {
	char *id, *name;
	size_t conns, proxies;
	struct host_row *hosts;
	size_t n_hosts;
	uint64_t log_off; /* the request log is read from here for denials */
	bool log_known;
};

struct top {
	struct project_view *v;
	size_t n;
	size_t current; /* the project shown (terminal) */
	char *recent[RECENT_MAX];
	size_t n_recent;
	double last; /* when the last look was, seconds */
	bool terminal;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct project_view *view_of(struct top *t, const char *id)
{
	struct project_view *grown;

	for (size_t i = 0; i < t->n; i++)
		if (streq(t->v[i].id, id))
			return &t->v[i];
	grown = reallocarray(t->v, t->n + 1, sizeof(*grown));
	if (!grown)
		return NULL;
	t->v = grown;
	t->v[t->n] = (struct project_view){.id = strdup(id)};
	return t->v[t->n].id ? &t->v[t->n++] : NULL;
}

static struct host_row *row_of(struct project_view *v, const char *host)
{
	struct host_row *grown;

	for (size_t i = 0; i < v->n_hosts; i++)
		if (streq(v->hosts[i].host, host))
			return &v->hosts[i];
	grown = reallocarray(v->hosts, v->n_hosts + 1, sizeof(*grown));
	if (!grown)
		return NULL;
	v->hosts = grown;
	v->hosts[v->n_hosts] = (struct host_row){.host = strdup(host)};
	return v->hosts[v->n_hosts].host ? &v->hosts[v->n_hosts++] : NULL;
}

/* A refusal from the project's request log, for the recent list. */
static void remember(struct top *t, const struct project_view *v, const char *line, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(line, len);
	const char *decision =
			   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "decision")),
		   *host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "host")),
		   *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "method")),
		   *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "path")),
		   *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "reason"));
	char when[16];
	time_t sec = time(NULL);
	char *s = NULL;

	if (decision && (streq(decision, "denied") || streq(decision, "over-budget"))) {
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&sec));
		if (asprintf(&s, "%s  %s  %s %s%s%s  %s", when, v->name ? v->name : v->id, decision,
			     method ? method : "CONNECT", method ? " " : " ", host ? host : "?",
			     reason ? reason : "") >= 0) {
			(void)path;
			if (t->n_recent == RECENT_MAX) {
				free(t->recent[0]);
				memmove(t->recent, t->recent + 1,
					(RECENT_MAX - 1) * sizeof(t->recent[0]));
				t->n_recent--;
			}
			t->recent[t->n_recent++] = s;
			if (!t->terminal)
				printf("%s\n", s);
		}
	}
	cJSON_Delete(o);
}

/* What the project's request log gained since the last look. */
static void read_denials(struct top *t, struct project_view *v, const char *dir)
{
	_cleanup_free_ char *log = cell_path_join(dir, "proxy.log"), *text = NULL;
	_cleanup_close_ int fd = log ? open(log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	struct stat st;
	size_t len = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		return;
	if (!v->log_known || (uint64_t)st.st_size < v->log_off) {
		/* (from now on: what came before is cell log's) */
		v->log_off = (uint64_t)st.st_size;
		v->log_known = true;
		return;
	}
	if (lseek(fd, (off_t)v->log_off, SEEK_SET) < 0 ||
	    cell_read_full_fd(fd, 4 * 1024 * 1024, &text, &len) < 0)
		return;
	for (char *line = text, *end; (end = memchr(line, '\n', len - (size_t)(line - text)));
	     line = end + 1) {
		v->log_off += (uint64_t)(end + 1 - line);
		remember(t, v, line, (size_t)(end - line));
	}
}

/* One proxy's live file into its project's view (hosts summed into fresh). */
static void read_live(struct project_view *v, struct cell_stats *fresh, const char *path)
{
	_cleanup_free_ char *text = NULL;
	cJSON *o, *rec;
	const cJSON *pid, *conns, *name;
	char proc[32];

	if (cell_read_file(path, O_NOFOLLOW, 4 * 1024 * 1024, &text, NULL) < 0)
		return;
	o = cJSON_Parse(text);
	pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
	conns = cJSON_GetObjectItemCaseSensitive(o, "conns");
	rec = cJSON_GetObjectItemCaseSensitive(o, "record");
	snprintf(proc, sizeof(proc), "/proc/%d", cJSON_IsNumber(pid) ? (int)pid->valuedouble : 0);
	/* a proxy that is gone (killed: it could not remove its file) counts no more */
	if (!cJSON_IsNumber(pid) || access(proc, F_OK) != 0 || !rec) {
		cJSON_Delete(o);
		return;
	}
	name = cJSON_GetObjectItemCaseSensitive(rec, "name");
	if (cJSON_IsString(name) && !v->name)
		v->name = strdup(name->valuestring);
	v->proxies++;
	v->conns += cJSON_IsNumber(conns) ? (size_t)conns->valuedouble : 0;
	{
		char *line = cJSON_PrintUnformatted(rec);

		if (line)
			(void)cell_stats_merge_record(fresh, line, strlen(line));
		free(line);
	}
	cJSON_Delete(o);
}

/* A look at every open proxy of the user's projects. */
static void look(struct top *t)
{
	_cleanup_free_ char *state = NULL, *projects = NULL;
	double now = now_s(), dt = t->last ? now - t->last : 0;
	struct dirent *e;
	DIR *d;

	t->last = now;
	if (cell_xdg_dir(CELL_XDG_STATE, &state) < 0 ||
	    !(projects = cell_path_join(state, "projects")) || !(d = opendir(projects)))
		return;
	while ((e = readdir(d))) {
		_cleanup_free_ char *dir = NULL, *live = NULL;
		struct project_view *v;
		struct cell_stats fresh = {0};
		struct dirent *f;
		DIR *ld;

		if (e->d_name[0] == '.' || !(dir = cell_path_join(projects, e->d_name)) ||
		    !(live = cell_path_join(dir, "live")) || !(ld = opendir(live)))
			continue;
		v = view_of(t, e->d_name);
		if (!v) {
			closedir(ld);
			continue;
		}
		v->conns = v->proxies = 0;
		while ((f = readdir(ld))) {
			_cleanup_free_ char *path = NULL;

			if (endswith(f->d_name, ".json") &&
			    (path = cell_path_join(live, f->d_name)))
				read_live(v, &fresh, path);
		}
		closedir(ld);
		for (size_t i = 0; i < fresh.n_hosts; i++) {
			const struct cell_host_stats *h = &fresh.hosts[i];
			struct host_row *row = row_of(v, h->host);

			if (!row)
				continue;
			/* proxies write their counts once a second: rates are over the time since
			 * they last changed (a proxy that ended takes its counts along: no
			 * negative rates) */
			if (h->bytes_up != row->up || h->bytes_down != row->down) {
				double span = row->changed ? now - row->changed : dt;

				row->up_rate = span > 0 && h->bytes_up >= row->up
						       ? (double)(h->bytes_up - row->up) / span
						       : 0;
				row->down_rate =
					span > 0 && h->bytes_down >= row->down
						? (double)(h->bytes_down - row->down) / span
						: 0;
				row->changed = now;
			} else if (now - row->changed > 1.5) {
				row->up_rate = row->down_rate = 0;
			}
			row->up = h->bytes_up;
			row->down = h->bytes_down;
			row->requests = h->requests + h->tunnels;
			row->denied = h->denied;
		}
		cell_stats_done(&fresh);
		read_denials(t, v, dir);
	}
	closedir(d);
}

static void rate(double bps, char *buf, size_t size)
{
	char h[32];

	cell_stats_human((uint64_t)bps, h, sizeof(h));
	snprintf(buf, size, "%s/s", h);
}

/* Not on a terminal: a line per host that moved, and the refusals as they come. */
static void print_lines(const struct top *t)
{
	char when[16];
	time_t sec = time(NULL);

	strftime(when, sizeof(when), "%H:%M:%S", localtime(&sec));
	for (size_t i = 0; i < t->n; i++) {
		const struct project_view *v = &t->v[i];

		for (size_t k = 0; v->proxies && k < v->n_hosts; k++) {
			const struct host_row *h = &v->hosts[k];
			char up[40], down[40];

			rate(h->up_rate, up, sizeof(up));
			rate(h->down_rate, down, sizeof(down));
			printf("%s  %s  %s  connections %zu  up %s  down %s  requests %llu  "
			       "denied %llu\n",
			       when, v->name ? v->name : v->id, h->host, v->conns, up, down,
			       (unsigned long long)h->requests, (unsigned long long)h->denied);
		}
	}
	fflush(stdout);
}

/* On a terminal: the open cells' projects, the one chosen in detail, the last refusals. */
static void draw(const struct top *t)
{
	size_t shown = 0, open = 0;

	printf("\033[H\033[2J");
	for (size_t i = 0; i < t->n; i++)
		open += t->v[i].proxies > 0;
	printf("cell top: %zu project%s with open cells  (Tab/n: next project, p: previous, "
	       "q: quit)\n\n",
	       open, open == 1 ? "" : "s");
	for (size_t i = 0; i < t->n; i++) {
		const struct project_view *v = &t->v[i];

		if (!v->proxies)
			continue;
		printf("%s %-24s %zu proxy  %zu connections\n", i == t->current ? ">" : " ",
		       v->name ? v->name : v->id, v->proxies, v->conns);
		shown++;
	}
	if (t->current < t->n && t->v[t->current].proxies) {
		const struct project_view *v = &t->v[t->current];

		printf("\n%s\n%-36s %12s %12s %10s %7s\n", v->name ? v->name : v->id, "host", "up",
		       "down", "requests", "denied");
		for (size_t k = 0; k < v->n_hosts; k++) {
			const struct host_row *h = &v->hosts[k];
			char up[40], down[40];

			rate(h->up_rate, up, sizeof(up));
			rate(h->down_rate, down, sizeof(down));
			printf("%-36s %12s %12s %10llu %7llu\n", h->host, up, down,
			       (unsigned long long)h->requests, (unsigned long long)h->denied);
		}
	}
	if (!shown)
		printf("(no open cell has a proxy now)\n");
	printf("\nrefused lately:\n");
	for (size_t i = 0; i < t->n_recent; i++)
		printf("  %s\n", t->recent[i]);
	fflush(stdout);
}

/* The next project with open cells after (or before) the current one. */
static void switch_project(struct top *t, int step)
{
	for (size_t k = 1; k <= t->n; k++) {
		size_t i = (t->current + t->n + (size_t)((long)k * step)) % t->n;

		if (t->v[i].proxies) {
			t->current = i;
			return;
		}
	}
}

static void top_done(struct top *t)
{
	for (size_t i = 0; i < t->n; i++) {
		for (size_t k = 0; k < t->v[i].n_hosts; k++)
			free(t->v[i].hosts[k].host);
		free(t->v[i].hosts);
		free(t->v[i].id);
		free(t->v[i].name);
	}
	free(t->v);
	for (size_t i = 0; i < t->n_recent; i++)
		free(t->recent[i]);
}

static struct termios saved;

static void restore_terminal(void)
{
	tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	printf("\n");
}

int cmd_top(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"iterations", required_argument, NULL, 'n'},
		{"delay", required_argument, NULL, 'd'},
		{0},
	};
	struct top t = {0};
	long iterations = -1, delay_ms = 1000;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:hn:d:", options, NULL)) >= 0) {
		char *end;

		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt == 'n') {
			iterations = strtol(optarg, &end, 10);
			if (*end || iterations < 1)
				return cli_bad_usage(argv[0], "-n '%s': expected a count", optarg);
		} else if (opt == 'd') {
			double s = strtod(optarg, &end);

			if (*end || !(s >= 0.1 && s <= 3600))
				return cli_bad_usage(
					argv[0], "-d '%s': expected seconds (0.1..3600)", optarg);
			delay_ms = (long)(s * 1000);
		} else {
			return cli_bad_option(argv, opt);
		}
	}
	if (optind < argc)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	t.terminal = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	if (t.terminal) {
		struct termios raw;

		tcgetattr(STDIN_FILENO, &saved);
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		atexit(restore_terminal);
	}
	look(&t);
	for (long i = 0; iterations < 0 || i < iterations; i++) {
		struct pollfd in = {STDIN_FILENO, POLLIN, 0};
		char key = 0;

		if (t.terminal && poll(&in, 1, (int)delay_ms) > 0 &&
		    read(STDIN_FILENO, &key, 1) == 1) {
			if (key == 'q')
				break;
			if (key == '\t' || key == 'n' || key == 'p')
				switch_project(&t, key == 'p' ? -1 : 1);
			i--; /* (a key is no refresh) */
			draw(&t);
			continue;
		}
		if (!t.terminal)
			usleep((useconds_t)delay_ms * 1000);
		look(&t);
		if (t.current >= t.n || !t.v[t.current].proxies)
			switch_project(&t, 1);
		if (t.terminal)
			draw(&t);
		else
			print_lines(&t);
	}
	top_done(&t);
	return CELL_EXIT_OK;
}

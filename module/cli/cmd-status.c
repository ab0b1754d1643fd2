/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "keeper.h"
#include "xdg.h"
#include "commands.h"
#include "running.h"
#include "stats.h"

struct listing {
	const char *live; /* cell-session's lines, or NULL */
	bool json;
	unsigned n;
};

static const char *state_of(const struct cell_running *c)
{
	if (cell_process_alive(c->keeper, c->keeper_start))
		return "open";
	return cell_process_alive(c->owner, c->owner_start) ? "starting" : "cut short";
}

static void show_json(const struct cell_running *c, const struct cell_stats *s, bool live)
{
	_cleanup_free_ char *cgroup = NULL, *line = NULL;
	cJSON *o = cJSON_CreateObject();

	if (asprintf(&cgroup, "cell.slice/%u-%s", (unsigned)getuid(), c->id) < 0 || !o)
		goto out;
	if (!cJSON_AddStringToObject(o, "id", c->id) ||
	    !cJSON_AddStringToObject(o, "project", c->project) ||
	    !cJSON_AddStringToObject(o, "name", c->name) ||
	    !cJSON_AddStringToObject(o, "state", state_of(c)) ||
	    !cJSON_AddStringToObject(o, "mode", "proxy") ||
	    !cJSON_AddNumberToObject(o, "start", (double)c->start) ||
	    !cJSON_AddNumberToObject(o, "pid", c->owner) ||
	    !cJSON_AddNumberToObject(o, "keeper", c->keeper) ||
	    !cJSON_AddNumberToObject(o, "proxy", c->proxy) ||
	    !cJSON_AddNumberToObject(o, "proxy_port", c->proxy_port) ||
	    !cJSON_AddStringToObject(o, "cgroup", cgroup))
		goto out;
	if (live) {
		cJSON *k = cJSON_AddObjectToObject(o, "kernel");

		for (size_t i = 0; k && i < cell_counter_n_fields; i++)
			cJSON_AddNumberToObject(k, cell_counter_fields[i].key,
						(double)cell_counter_get(&s->kernel, i));
	}
	line = cJSON_PrintUnformatted(o);
	if (line)
		printf("%s\n", line);
out:
	cJSON_Delete(o);
}

static int show(const struct cell_running *c, void *data)
{
	struct listing *l = data;
	struct cell_stats s = {0};
	/* (a netns cell's kernel counters, where cell-session opened it for its limits, would
	 * count its loopback twice: its proxy counts it) */
	bool live = !c->netns && cell_network_bpf_live_counters(l->live, c->id, &s);
	time_t start = (time_t)c->start;
	char when[32] = "?", counts[96] = "-";
	struct tm tm;

	l->n++;
	if (l->json) {
		show_json(c, &s, live);
		return 0;
	}
	if (localtime_r(&start, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (live)
		snprintf(counts, sizeof(counts), "%llu/%llu, %llu/%llu B",
			 (unsigned long long)s.kernel.connects_allowed,
			 (unsigned long long)s.kernel.connects_denied,
			 (unsigned long long)s.kernel.bytes_in,
			 (unsigned long long)s.kernel.bytes_out);
	printf("%-22s %-16s %-19s %-9s %7d %6u  %s\n", c->id, c->name, when, state_of(c),
	       (int)c->owner, (unsigned)c->proxy_port, counts);
	return 0;
}

static const char *when(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, size, "?");
	return buf;
}

static void show_session_json(const struct cell_keeper_info *k)
{
	_cleanup_free_ char *line = NULL;
	cJSON *o = cJSON_CreateObject(), *members = o ? cJSON_AddArrayToObject(o, "members") : NULL;

	if (!members || !cJSON_AddStringToObject(o, "session", k->id) ||
	    !cJSON_AddStringToObject(o, "project", k->project) ||
	    !cJSON_AddStringToObject(o, "mode", cell_net_mode_to_string(k->mode)) ||
	    !cJSON_AddNumberToObject(o, "start", (double)k->start) ||
	    !cJSON_AddNumberToObject(o, "keeper", k->keeper))
		goto out;
	for (size_t i = 0; i < k->n_members; i++) {
		cJSON *m = cJSON_CreateObject();

		if (!m || !cJSON_AddItemToArray(members, m)) {
			cJSON_Delete(m);
			goto out;
		}
		cJSON_AddNumberToObject(m, "pid", k->members[i].pid);
		cJSON_AddStringToObject(m, "tty", k->members[i].tty);
		cJSON_AddStringToObject(m, "command", k->members[i].what);
		cJSON_AddNumberToObject(m, "since", (double)k->members[i].since);
	}
	if (k->mode == CELL_NET_PROXY &&
	    !cJSON_AddStringToObject(o, "isolation", cell_isolation_to_string(k->isolation)))
		goto out;
	for (size_t i = 0; i < k->n_forward; i++) {
		cJSON *f = cJSON_CreateObject(),
		      *all = cJSON_GetObjectItem(o, "forward")
				     ?: cJSON_AddArrayToObject(o, "forward");

		if (!f || !all || !cJSON_AddItemToArray(all, f)) {
			cJSON_Delete(f);
			goto out;
		}
		cJSON_AddNumberToObject(f, "host_port", k->forward[i].host_port);
		cJSON_AddNumberToObject(f, "cell_port", k->forward[i].cell_port);
	}
	line = cJSON_PrintUnformatted(o);
	if (line)
		printf("%s\n", line);
out:
	cJSON_Delete(o);
}

/* The user's open project sessions (keeper.h), each with its members. */
static unsigned show_sessions(bool json)
{
	_cleanup_free_ char *state_home = NULL;
	_cleanup_close_ int dir_fd = -1;
	unsigned n = 0;
	DIR *d;

	int list_fd;

	if (cell_xdg_dir(CELL_XDG_STATE, &state_home) < 0 ||
	    cell_keeper_dir(state_home, &dir_fd) < 0)
		return 0;
	list_fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = list_fd >= 0 ? fdopendir(list_fd) : NULL;
	if (!d) {
		if (list_fd >= 0)
			close(list_fd);
		return 0;
	}
	for (struct dirent *e; (e = readdir(d));) {
		struct cell_keeper_info k;
		char project[256], buf[32];
		_cleanup_close_ int fd = -1;
		size_t len = strlen(e->d_name);

		if (len < 6 || len - 5 >= sizeof(project) || !endswith(e->d_name, ".sock"))
			continue;
		snprintf(project, sizeof(project), "%.*s", (int)(len - 5), e->d_name);
		if (cell_keeper_connect(dir_fd, project, &fd) < 0 || cell_keeper_status(fd, &k) < 0)
			continue;
		if (n++ == 0 && !json)
			printf("\n%-22s %-16s %-19s %-6s %7s\n", "session", "project", "since",
			       "mode", "members");
		if (json) {
			show_session_json(&k);
			continue;
		}
		printf("%-22s %-16.16s %-19s %-6s %7zu\n", k.id, k.project,
		       when(k.start, buf, sizeof(buf)), cell_net_mode_to_string(k.mode),
		       k.n_members);
		for (size_t i = 0; i < k.n_members; i++)
			printf("  member %7d  %-10s %-20s since %s\n", (int)k.members[i].pid,
			       k.members[i].tty, k.members[i].what,
			       when(k.members[i].since, buf, sizeof(buf)));
		for (size_t i = 0; i < k.n_forward; i++)
			printf("  forward 127.0.0.1:%u -> the cell's port %u\n",
			       (unsigned)k.forward[i].host_port, (unsigned)k.forward[i].cell_port);
	}
	closedir(d);
	return n;
}

int cmd_status(int argc, char *argv[])
{
	static const struct option options[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	_cleanup_free_ char *live = NULL;
	struct listing l = {0};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt != 'j')
			return cli_bad_option(argv, opt);
		l.json = true;
	}
	if (optind < argc)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	live = cell_network_bpf_live();
	l.live = live;
	if (!l.json)
		printf("%-22s %-16s %-19s %-9s %7s %6s  %s\n", "cell", "project", "since", "state",
		       "pid", "proxy", "connects ok/denied, bytes in/out");
	if (cell_running_list(show, &l) < 0)
		return CELL_EXIT_FAILURE;
	if (l.n == 0 && !l.json)
		printf("(no open cells)\n");
	if (show_sessions(l.json) == 0 && !l.json)
		printf("(no open sessions)\n");
	return CELL_EXIT_OK;
}

/* SPDX-License-Identifier: MIT */
/*
 * network.mode "proxy", enforced by the kernel: the cell's own proxy, started as the user at the
 * cell's first connection, and the cell opened by cell-session so that the kernel lets its
 * sockets reach that proxy only (docs/design.md §3, §4). When the cell is over, its record (the
 * kernel's counters) goes to the project's ledger; the proxy writes its per-host counts there
 * itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "denial.h"
#include "fileio.h"
#include "ledger.h"
#include "log.h"
#include "network-proxy.h"
#include "network.h"
#include "process.h"
#include "proxy.h"
#include "reqlog.h"
#include "running.h"
#include "session.h"
#include "stats.h"
#include "strv.h"
#include "xdg.h"

/* The cell's proxy's socket: listening on an ephemeral loopback port, whose number it returns. */
static int proxy_socket(int *ret_fd, uint16_t *ret_port)
{
	_cleanup_free_ char *desc = NULL;
	const char *colon;
	int fd, r;

	r = cell_proxy_listen("127.0.0.1:0", &fd, &desc);
	if (r < 0)
		return r;
	/* "127.0.0.1:PORT" */
	colon = strrchr(desc, ':');
	*ret_port = (uint16_t)strtoul(colon + 1, NULL, 10);
	*ret_fd = fd;
	return 0;
}

struct reaping {
	char *helper; /* looked for at the first cell to reap: most calls find none */
	bool looked;
	void (*closed)(const struct cell_running *c, void *data);
	void *data;
	unsigned n;
};

/* A cell cut short: neither the cell command that opened it nor its keeper is alive. */
static int reap_if_orphaned(const struct cell_running *c, void *data)
{
	struct reaping *g = data;

	const char *why;

	if (cell_process_alive(c->owner, c->owner_start) ||
	    cell_process_alive(c->keeper, c->keeper_start))
		return 0;
	if (!g->looked) {
		g->helper = cell_host_helper(&why);
		g->looked = true;
	}
	cell_network_reap(c, g->helper, c->keeper != 0);
	if (g->closed)
		g->closed(c, g->data);
	g->n++;
	return 0;
}

char *cell_network_bpf_live(void)
{
	const char *why;
	_cleanup_free_ char *helper = cell_host_helper(&why);
	char *argv[] = {helper, (char *)"list", (char *)"--status-fd", (char *)"1", NULL};
	char *out = NULL;

	if (!helper || cell_run_capture(argv, 1024 * 1024, &out) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

bool cell_network_bpf_live_counters(const char *live, const char *id, struct cell_stats *s)
{
	char key[96];
	const char *line, *end;

	snprintf(key, sizeof(key), "{\"id\":\"%s\"", id);
	line = live ? strstr(live, key) : NULL;
	if (!line)
		return false;
	end = strchr(line, '\n');
	return cell_stats_merge_kernel(s, line, end ? (size_t)(end - line) : strlen(line)) >= 0;
}

bool cell_network_bpf_oom(const char *id)
{
	_cleanup_free_ char *live = cell_network_bpf_live();
	struct cell_stats s = {0};
	bool oom = cell_network_bpf_live_counters(live, id, &s) && s.oom_kills;

	cell_stats_done(&s);
	return oom;
}

unsigned cell_network_bpf_reap(void (*closed)(const struct cell_running *c, void *data), void *data)
{
	struct reaping g = {.closed = closed, .data = data};

	cell_running_list(reap_if_orphaned, &g);
	free(g.helper);
	return g.n;
}

/* The kernel's denials of a project's cells, next to its ledger, rotated like the proxy's log. */
#define DENIALS_LOG "denials.log"
#define DENIALS_LOG_MAX (10 * 1024 * 1024)

/* A proxy cell's own state (cell_instance's net_state). */
struct keeping {
	struct cell_proxy_cell pc;   /* (first: the session's callbacks get &pc) */
	struct cell_reqlog *denials; /* opened at the first denial */
	bool failed;
};

/* A denial from cell-session: formatted here, as the user, and kept. */
static void denied(const char *line, void *data)
{
	struct keeping *k = data;
	struct cell_proxy_cell *pc = &k->pc;
	char buf[CELL_DENIAL_LINE_MAX + 1];
	struct cell_event e;
	int r = 0;

	if (cell_event_decode(line, &e) < 0 ||
	    cell_denial_json(pc->running.id, &e, cell_denial_wall_ms(e.time_ns),
			     cell_denial_ns_pid((pid_t)e.tgid), buf, sizeof(buf) - 1) < 0)
		return;
	if (!k->denials && !k->failed) {
		_cleanup_free_ char *path = NULL;

		r = cell_project_state_file(pc->running.project, DENIALS_LOG, &path);
		if (r >= 0)
			r = cell_reqlog_open(path, DENIALS_LOG_MAX, &k->denials);
	}
	if (k->denials) {
		size_t n = strlen(buf);

		buf[n++] = '\n';
		r = cell_reqlog_append(k->denials, buf, n);
	}
	if (pc->notices_fd >= 0) {
		char notice[256];
		int n = cell_denial_notice(&e, notice, sizeof(notice));

		if (n > 0)
			(void)!write(pc->notices_fd, notice, (size_t)n);
	}
	if (r < 0 && !k->failed) {
		k->failed = true;
		fprintf(stderr, "cell: cannot keep the cell's denials in %s: %s\n", DENIALS_LOG,
			strerror(-r));
	}
}

static int bpf_open(struct cell_network_cell *c, struct cell_diag *d)
{
	struct keeping *k;
	int r;

	if (c->config->network.n_local_ports > CELL_LOCAL_PORTS_MAX)
		return cell_diag_set(d, -E2BIG, c->project->config_path, "network.local_ports",
				     "at most %d ports can be listed", CELL_LOCAL_PORTS_MAX);
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	cell_proxy_cell_init(&k->pc, c->project);
	c->state = k;
	r = proxy_socket(&k->pc.listen_fd, &c->proxy_port);
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot make the cell's proxy socket: %s",
				     strerror(-r));
	cell_log(CELL_LOG_DEBUG, "the cell's proxy: 127.0.0.1:%u, started at the first connection",
		 (unsigned)c->proxy_port);
	return 0;
}

static int bpf_start(struct cell_network_cell *c, struct cell_launch_session **ret,
		     struct cell_diag *d)
{
	struct keeping *k = c->state;
	const struct cell_config *conf = c->config;
	_cleanup_free_ char *slice = NULL;
	int r;

	/* the cell's cgroup (cell-session names it <uid>-<id>): the proxy serves only its
	 * processes */
	r = cell_session_slice("/proc/self/mountinfo", &slice);
	if (r >= 0 &&
	    asprintf(&k->pc.peer_cgroup, "%s/%u-%s", slice, (unsigned)getuid(), c->id) < 0) {
		k->pc.peer_cgroup = NULL;
		r = -ENOMEM;
	}
	if (r < 0)
		return cell_diag_set(d, r, NULL, NULL, "cannot find the cells' cgroup: %s",
				     strerror(-r));
	r = cell_proxy_cell_start(&k->pc, c, d);
	if (r < 0)
		return r;
	k->pc.session.helper = c->host->helper;
	k->pc.session.denied = denied;
	k->pc.session.limits =
		(struct cell_limits){conf->limits.memory, conf->limits.pids, conf->limits.cpu};
	k->pc.session.policy.n_local_ports = (__u16)conf->network.n_local_ports;
	for (size_t i = 0; i < conf->network.n_local_ports; i++)
		k->pc.session.policy.local_ports[i] = conf->network.local_ports[i];
	*ret = &k->pc.session;
	return 0;
}

static int bpf_close(struct cell_network_cell *c, int launch_r, struct cell_diag *d)
{
	struct keeping *k = c->state;
	struct cell_proxy_cell *pc;

	(void)d; /* (what goes wrong here is said on stderr: the cell's command has ended) */
	if (!k)
		return 0;
	pc = &k->pc;
	cell_reqlog_free(k->denials);
	cell_proxy_cell_end(pc);
	cell_proxy_cell_record(pc, launch_r, c->config->limits.memory);
	cell_proxy_cell_done(pc);
	free(k);
	c->state = NULL;
	return 0;
}

const struct cell_network cell_network_bpf = {
	.name = "proxy",
	.open = bpf_open,
	.start = bpf_start,
	.close = bpf_close,
};

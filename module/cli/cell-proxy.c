/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bpf.h"
#include "cli.h"
#include "commands.h"
#include "fileio.h"
#include "log.h"
#include "ledger.h"
#include "netpolicy.h"
#include "secrets.h"
#include "tls.h"
#include "xdg.h"
#include "proxy.h"
#include "strv.h"
#include "trust.h"

/* What the proxy runs on, and what a reload replaces. */
struct served {
	struct cell_project *project;
	struct cell_config *config; /* the policy points into it */
	struct cell_netpolicy *policy;
	char hash[CELL_SHA256_HEX_LEN + 1]; /* the trust hash of the config in force */
	char *trust_dir;
};

/*
 * .cell.json changed: the new policy takes over only if the new file loads and is allowed
 * (cell allow-host allows what it writes); otherwise the old one stays, and we say so.
 */
static void reload(void *data, const struct cell_netpolicy **policy)
{
	struct served *s = data;
	_cleanup_project_ struct cell_project *p = NULL;
	struct cell_config *c = NULL;
	struct cell_netpolicy *np = NULL;

	char hash[CELL_SHA256_HEX_LEN + 1] = "";

	if (cli_find_project(s->project->root, &p) >= 0 || !streq(p->root, s->project->root)) {
		fprintf(stderr, "cell: %s is gone; keeping the policy in force\n",
			s->project->config_path);
		return;
	}
	/* the same bytes (another project's record came or went, or a write of the same) */
	if (cell_trust_hash(p, hash) < 0)
		hash[0] = '\0';
	else if (streq(hash, s->hash))
		return;
	if (!cli_trusted(p, NULL)) {
		fprintf(stderr,
			"cell: %s changed and is not allowed; keeping the policy in force\n",
			p->config_path);
		return;
	}
	if (cli_load_config(p, &c) >= 0 || cell_netpolicy_new(c, &np) < 0) {
		cell_config_free(c);
		fprintf(stderr, "cell: keeping the policy in force\n");
		return;
	}
	cell_netpolicy_free(s->policy);
	cell_config_free(s->config);
	s->policy = np;
	s->config = c;
	memcpy(s->hash, hash, sizeof(hash));
	*policy = np;
	fprintf(stderr, "cell: %s reloaded\n", p->config_path);
}

/* Socket activation's first descriptor (sd_listen_fds(3)). */
#define LISTEN_FDS_START 3
/* The most descriptors socket activation may hand us: the proxy's, relays, the cell's pair. */
#define LISTEN_FDS_MAX 40

/* What socket activation handed us. */
struct activation {
	int listen_fd; /* the proxy's (named "proxy", or the only one); -1: none came */
	struct cell_proxy_relay relays[LISTEN_FDS_MAX];
	size_t n_relays;
	int cell_net_fd; /* "cellnet": the socket pair to the cell's init (netns.h), or -1 */
};

/* A relay's descriptor by its name: "into.PORT" (to the cell's PORT) or "host.PORT" (to the
 * host's); counted as "forward:HOSTPORT" or "local:PORT". */
static int relay_of(int fd, const char *name, struct cell_proxy_relay *ret)
{
	struct sockaddr_in at;
	socklen_t len = sizeof(at);
	bool into = startswith(name, "into.");
	char *end;
	unsigned long port;

	if (!into && !startswith(name, "host."))
		return -EINVAL;
	port = strtoul(name + 5, &end, 10);
	if (*end || port == 0 || port > 65535 || cell_proxy_adopt(fd) < 0 ||
	    getsockname(fd, (struct sockaddr *)&at, &len) < 0 || at.sin_family != AF_INET)
		return -EINVAL;
	*ret = (struct cell_proxy_relay){
		.listen_fd = fd, .to_port = (uint16_t)port, .into_cell = into};
	snprintf(ret->name, sizeof(ret->name), into ? "forward:%u" : "local:%u",
		 into ? (unsigned)ntohs(at.sin_port) : (unsigned)port);
	return 0;
}

/*
 * The sockets handed over by socket activation, as systemd does it and as cell does to start
 * the proxy at a cell's first connection: LISTEN_PID is ours, LISTEN_FDS says how many from
 * descriptor 3, LISTEN_FDNAMES names them (':'-separated; without it, the one socket is the
 * proxy's). The variables are gone after.
 */
static int activated(struct activation *ret)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS"),
		   *names = getenv("LISTEN_FDNAMES");
	_cleanup_free_ char *n_fds = fds ? strdup(fds) : NULL;
	char all[1024], *end, *save = NULL, *name;
	long who, n;
	int r;

	*ret = (struct activation){.listen_fd = -1, .cell_net_fd = -1};
	if (!pid || !fds)
		return 0;
	if (!n_fds)
		return -ENOMEM;
	who = strtol(pid, &end, 10);
	/* another process's: not for us (sd_listen_fds does the same) */
	if (!*pid || *end || who != (long)getpid())
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	n = strtol(n_fds, &end, 10);
	if ((size_t)snprintf(all, sizeof(all), "%s", names ? names : "") >= sizeof(all) || *end ||
	    n < 1 || n > LISTEN_FDS_MAX || (n > 1 && !names)) {
		fprintf(stderr,
			"cell: LISTEN_FDS=%s: the proxy takes one listening socket, or up to %d "
			"named ones (LISTEN_FDNAMES)\n",
			n_fds, LISTEN_FDS_MAX);
		return -EINVAL;
	}
	name = names ? strtok_r(all, ":", &save) : (char *)"proxy";
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n; fd++) {
		if (!name)
			r = -EINVAL;
		else if (streq(name, "proxy") && ret->listen_fd < 0)
			r = cell_proxy_adopt(ret->listen_fd = fd);
		else if (streq(name, "cellnet") && ret->cell_net_fd < 0)
			r = fcntl(ret->cell_net_fd = fd, F_SETFD, FD_CLOEXEC) < 0 ? -errno : 0;
		else
			r = relay_of(fd, name, &ret->relays[ret->n_relays++]);
		if (r < 0) {
			fprintf(stderr,
				"cell: descriptor %d from socket activation (%s) is not what its name "
				"says: %s\n",
				fd, name ? name : "unnamed", strerror(-r));
			return -EINVAL;
		}
		name = names ? strtok_r(NULL, ":", &save) : NULL;
	}
	if (ret->listen_fd < 0) {
		fprintf(stderr, "cell: socket activation handed the proxy no socket of its own\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < ret->n_relays; i++)
		if (ret->relays[i].into_cell && ret->cell_net_fd < 0) {
			fprintf(stderr, "cell: socket activation handed the proxy a port into the "
					"cell (into.N) and no way into it (cellnet)\n");
			return -EINVAL;
		}
	return 0;
}

/* The first of the variables (curl's order) that is set and not empty. */
static const char *first_env(const char *const *names, const char **ret_name)
{
	for (size_t i = 0; names[i]; i++) {
		const char *v = getenv(names[i]);

		if (v && *v) {
			*ret_name = names[i];
			return v;
		}
	}
	return NULL;
}

/*
 * The proxy allowed hosts are reached through: network.upstream_proxy (the user's config), else
 * the HTTPS_PROXY or HTTP_PROXY we were started with (cell's own, never the cell's); and what
 * goes direct (network.upstream_no_proxy, else NO_PROXY). 0 and *ret_set false: straight.
 */
static int upstream_of(const struct cell_config *c, struct cell_upstream *ret, bool *ret_set)
{
	static const char *const urls[] = {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY",
					   NULL};
	static const char *const no[] = {"no_proxy", "NO_PROXY", NULL};
	const char *url = c->network.upstream_proxy, *from = "network.upstream_proxy", *why = NULL;
	const char *skip = NULL;
	int r;

	*ret_set = false;
	if (!url)
		url = first_env(urls, &from);
	if (!url || streq(url, "none"))
		return 0;
	if (cell_upstream_parse(url, ret, &why) < 0) {
		/* (the config's was checked when it was read) */
		/* (not the URL itself: it may hold a password) */
		fprintf(stderr,
			"cell: not using %s as the upstream proxy (%s): allowed hosts are reached "
			"directly\n",
			from, why);
		return 0;
	}
	if (c->network.upstream_no_proxy_set)
		r = cell_upstream_no_proxy_list(c->network.upstream_no_proxy, &ret->no_proxy);
	else
		r = cell_upstream_no_proxy(first_env(no, &skip), &ret->no_proxy);
	if (r < 0)
		return r;
	*ret_set = true;
	return 0;
}

/*
 * A login's cell's project (pam_cell.so's keeper execs us so): its config is root's, writable by
 * no one else, and obeyed as it is: no trust records, no user config merged under it, no
 * reload.
 */
static int open_system(const char *dir, const char *config, struct cell_project **ret_p,
		       struct cell_config **ret_c)
{
	_cleanup_diag_ struct cell_diag d = {0};
	struct cell_config_env env = cell_config_env_from_process();
	int r = cell_project_open_system(dir, config, ret_p, &d);

	if (r >= 0)
		r = cell_project_load_config(*ret_p, NULL, &env, ret_c, &d);
	if (r < 0) {
		if (d.message)
			cli_print_diag(&d);
		else
			fprintf(stderr, "cell: cannot load the system cell '%s': %s\n", dir,
				strerror(-r));
		return CELL_EXIT_CONFIG;
	}
	return -1;
}

/* The project's proxy in the foreground: "listening on ADDR" first, once it accepts. */
/* The project's root in its state directory's "root" (a line), when it is not there yet. */
static void note_root(const struct cell_project *p)
{
	_cleanup_free_ char *path = NULL, *old = NULL, *line = NULL;
	size_t len = 0;

	if (cell_project_state_file(p->id, "root", &path) < 0 ||
	    asprintf(&line, "%s\n", p->root) < 0) {
		return;
	}
	if (cell_read_file(path, 0, 8192, &old, &len) >= 0 && len == strlen(line) &&
	    memcmp(old, line, len) == 0)
		return;
	if (cell_mkdir_parent(path, 0700) >= 0)
		(void)cell_write_file_atomic(path, line, strlen(line), 0600, false);
}

/* --print-ca: the user's CA for inspected hosts, made on first use (a plan asks for it); as the
 * user sudo names, as the proxy is run (root's own CA, never made in the user's home). */
static int print_ca(void)
{
	_cleanup_free_ char *dir = NULL, *pem = NULL;
	int r = cli_become_user(&(struct cli_cell_options){.allow_root = true});

	if (r >= 0)
		return r;
	/* the CA's key is held here: not for the user's other processes to dump or trace */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	r = cell_ca_dir(&dir);

	if (r >= 0)
		r = cell_tls_ca_ensure(dir, &pem);
	if (r < 0) {
		fprintf(stderr, "cell: cannot make or load your CA%s%s: %s\n", dir ? " in " : "",
			dir ? dir : "", strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	fputs(pem, stdout);
	return fflush(stdout) == 0 ? CELL_EXIT_OK : CELL_EXIT_FAILURE;
}

/*
 * cell-proxy: `cell proxy`, a program of its own so that OpenSSL (TLS for inspected hosts) is
 * loaded by the proxy alone, never at every cell command. cell proxy execs it; a cell's proxy
 * and a login's are started as it. Its messages and usage are cell proxy's.
 */
int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"directory", required_argument, NULL, 'C'},
		{"listen", required_argument, NULL, 'l'},
		{"max-head", required_argument, NULL, 'H'},
		{"head-timeout", required_argument, NULL, 'T'},
		{"connect-timeout", required_argument, NULL, 'c'},
		{"idle-timeout", required_argument, NULL, 'i'},
		{"max-tunnels", required_argument, NULL, 'm'},
		{"flush-interval", required_argument, NULL, 'f'},
		{"log-max", required_argument, NULL, 'L'},
		{"notices", required_argument, NULL, 'n'},
		{"system", required_argument, NULL, 'S'},
		{"config", required_argument, NULL, 'F'},
		{"peer-cgroup", required_argument, NULL, 'P'},
		{"learn", optional_argument, NULL, 'E'},
		{"print-ca", no_argument, NULL, 'A'},
		{0},
	};
	static const struct cli_command proxy_command[] = {
		{"proxy", NULL, CELL_PROXY_ARGS, CELL_PROXY_SUMMARY, CELL_PROXY_HELP}};
	const char *level = getenv("CELL_LOG");
	enum cell_log_level l;
	struct cell_proxy_options po = {0};
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_free_ char *cwd = NULL, *ledger = NULL, *desc = NULL, *name = NULL, *log = NULL,
			    *tls_dir = NULL;
	struct cell_netpolicy *policy = NULL;
	struct cell_proxy *proxy = NULL;
	struct cli_cell_options o = {0};
	struct served served = {0};
	const char *listen_on = NULL, *notices = NULL, *system_dir = NULL, *system_config = NULL;
	struct activation act;
	_cleanup_(cell_upstream_done) struct cell_upstream upstream = {0};
	_cleanup_diag_ struct cell_diag secrets_diag = {0};
	_cleanup_(cell_secrets_freep) struct cell_secret_values *secrets = NULL;
	bool via = false;
	int fd = -1, opt, r;

	cli_usage_table(proxy_command, ELEMENTSOF(proxy_command));
	if (argc < 1)
		return CELL_EXIT_USAGE;
	if (level && cell_log_parse_level(level, &l) >= 0)
		cell_log_set_level(l);
	argv[0] = (char *)"proxy";
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:hC:l:", options, NULL)) >= 0) {
		if (opt == 'h') {
			cli_usage(argv[0], false);
			return CELL_EXIT_OK;
		}
		if (opt == 'A')
			return optind < argc ? cli_bad_usage(argv[0], "unexpected argument '%s'",
							     argv[optind])
					     : print_ca();
		if (opt == 'C') {
			o.dir = optarg;
		} else if (opt == 'l') {
			listen_on = optarg;
		} else if (opt == 'n') {
			notices = optarg;
		} else if (opt == 'S' && optarg[0] == '/') {
			system_dir = optarg;
		} else if (opt == 'F' && optarg[0] == '/') {
			system_config = optarg;
		} else if (opt == 'E') {
			/* cell learn's cell (plan.h): record, or let through, what is refused */
			if (!optarg || streq(optarg, "record"))
				po.learn = CELL_LEARN_RECORD;
			else if (streq(optarg, "permissive"))
				po.learn = CELL_LEARN_PERMISSIVE;
			else if (streq(optarg, "off"))
				po.learn = CELL_LEARN_OFF;
			else
				return cli_bad_usage(
					argv[0], "--learn=%s: expected record, permissive or off",
					optarg);
		} else if (opt == 'P') {
			/* the cell's cgroup: only its processes are served */
			r = cell_bpf_cgroup_id(optarg, &po.peer_cgroup);
			if (r < 0)
				return cli_bad_usage(argv[0], "--peer-cgroup '%s': %s", optarg,
						     strerror(-r));
		} else if (strchr("HTcimfL", opt) && opt) {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (!*optarg || *end || v == 0 || v > 100000000)
				return cli_bad_usage(argv[0], "'%s' is not a positive number",
						     optarg);
			if (opt == 'H')
				po.max_head = v;
			else if (opt == 'T')
				po.head_timeout_ms = (int)v;
			else if (opt == 'c')
				po.connect_timeout_ms = (int)v;
			else if (opt == 'i')
				po.idle_timeout_ms = (int)v;
			else if (opt == 'm')
				po.max_conns = v;
			else if (opt == 'L')
				po.log_max = v;
			else
				po.flush_ms = (int)v;
		} else {
			return cli_bad_option(argv, opt);
		}
	}
	if (optind < argc)
		return cli_bad_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	if (activated(&act) < 0)
		return CELL_EXIT_USAGE;
	fd = act.listen_fd;
	po.relays = act.relays;
	po.n_relays = act.n_relays;
	po.cell_net_fd = act.cell_net_fd;
	if (fd >= 0 && listen_on)
		return cli_bad_usage(argv[0], "--listen and socket activation (LISTEN_FDS) "
					      "cannot be used together");
	if (system_config && !system_dir)
		return cli_bad_usage(argv[0], "--config is for --system");
	/* a login's cell's proxy runs as the account, whose whole login is the cell: what it will
	 * hold (the credentials it puts into requests) is not for the account's ptrace or
	 * /proc/PID/mem */
	if (system_dir && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return CELL_EXIT_FAILURE;
	/* (exec'd from a descriptor, we would be "5" in ps) */
	if (system_dir)
		prctl(PR_SET_NAME, "cell-proxy", 0, 0, 0);
	o.allow_root = true; /* the proxy is not a cell: it runs as whoever starts it */
	r = system_dir ? open_system(system_dir, system_config, &p, &c)
		       : cli_cell_open(&o, &p, &c, &cwd);
	if (r >= 0)
		return r;
	if (cell_netpolicy_new(c, &policy) < 0)
		return CELL_EXIT_FAILURE;
	if (upstream_of(c, &upstream, &via) < 0) {
		cell_netpolicy_free(policy);
		return CELL_EXIT_FAILURE;
	}
	po.upstream = via ? &upstream : NULL;
	/* (made when a tunnel is first inspected; without it, inspected hosts get 502). Not in a
	 * login's cell: its proxy runs as the login's user, whose home its cell has */
	if (!system_dir && cell_ca_dir(&tls_dir) >= 0)
		po.tls_dir = tls_dir;
	/* the CA's key and the user's secrets are held in this process only, which no one may
	 * dump or trace (the user's other processes included) */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* the user's secrets, read here, outside the cell */
	if (c->n_secrets > 0) {
		if (cell_secrets_load(c, &secrets, &secrets_diag) < 0) {
			fprintf(stderr, "cell: %s\n",
				secrets_diag.message ? secrets_diag.message
						     : "cannot read the secrets");
			po.secrets_error = secrets_diag.message;
		}
		po.secrets = secrets;
	}
	/* the request log lives next to the ledger */
	if (cell_ledger_path(p->id, &ledger) < 0 ||
	    cell_project_state_file(p->id, "proxy.log", &log) < 0) {
		cell_netpolicy_free(policy);
		return CELL_EXIT_FAILURE;
	}
	/* where the project is, next to its ledger: cell metrics finds its budget there */
	if (!system_dir)
		note_root(p);
	/* two descriptors a tunnel: as many as the hard limit allows */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (fd >= 0) {
		r = cell_proxy_describe(fd, &desc);
	} else {
		if (!listen_on)
			listen_on = "127.0.0.1:0";
		r = cell_proxy_listen(listen_on, &fd, &desc);
	}
	if (r < 0) {
		fprintf(stderr, "cell: cannot listen on '%s': %s\n", listen_on ? listen_on : "fd 3",
			strerror(-r));
		cell_netpolicy_free(policy);
		return r == -EINVAL ? CELL_EXIT_USAGE : CELL_EXIT_FAILURE;
	}
	/* the config is served's from here on: a reload replaces it, and the name we show
	 * must not point into it */
	name = strdup(c->name);
	served = (struct served){.project = p, .config = TAKE_PTR(c), .policy = policy};
	if (!system_dir &&
	    (cell_trust_hash(p, served.hash) < 0 || cell_trust_dir(&served.trust_dir) < 0))
		served.hash[0] = '\0';
	r = name ? 0 : -ENOMEM;
	/* (a system cell's config is root's to change: it is not reloaded) */
	if (r >= 0)
		r = cell_proxy_new(&(struct cell_proxy_project){policy, p->id, name, ledger, log,
								system_dir ? NULL : p->root,
								CELL_CONFIG_FILE, served.trust_dir,
								reload, &served, notices},
				   &po, fd, &proxy);
	if (r >= 0) {
		printf("listening on %s\n", desc);
		fflush(stdout);
		r = cell_proxy_run(proxy);
	}
	cell_proxy_free(proxy);
	/* a reload may have replaced them */
	cell_netpolicy_free(served.policy);
	cell_config_free(served.config);
	free(served.trust_dir);
	if (r < 0) {
		fprintf(stderr, "cell: the proxy failed: %s\n", strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	return CELL_EXIT_OK;
}

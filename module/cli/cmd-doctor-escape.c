/* SPDX-License-Identifier: MIT */
/*
 * cell doctor --escape [--user NAME] [--allow-root] [DIR]: what a cell really stops on this
 * machine. Opens a real cell of the project around DIR (or, with no project there, of a default
 * one: a temporary directory with a minimal config, network "proxy" where cell-session can
 * open kernel-enforced cells here, else "none") and tries, from inside, the escapes the escape
 * suite tries that make sense on a user's machine. One line each:
 *
 *   blocked  WHAT  (the kernel's answer, e.g. EPERM)
 *   OPEN     WHAT  (what worked)
 *   skipped  WHAT  (why it cannot be tried here)
 *
 * Exits 0 when nothing is open, 1 when something is (or the cell did not run). The attempts are
 * made in the cell by `cell __escape-probe ATTEMPT...` (lib/escape.c: cell is bound into every
 * cell at its own path), against things of this command's own outside: a listener on
 * 127.0.0.1, an abstract Unix socket, marker files where the user has no secret of that kind.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "escape.h"
#include "fileio.h"
#include "path.h"
#include "strv.h"
#include "xdg.h"

#define MAX_ATTEMPTS 16

struct attempt {
	struct cell_escape e;
	char *arg;	    /* e.arg's memory */
	char what[160];	    /* for the user */
	const char *digest; /* a read: what the file holds outside */
	char skip[160];	    /* not tried: why */
	struct cell_escape_result result;
};

struct escape_run {
	struct attempt a[MAX_ATTEMPTS];
	size_t n;
	struct cell_escape_secret secrets[3];
	int squat_fd, reuseport_fd, abstract_fd;
	char *default_root;  /* a default project made for the run, removed after it */
	char *default_state; /* its state directory */
};

static int remove_one(const char *path, _unused_ const struct stat *st, int flag,
		      _unused_ struct FTW *f)
{
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void escape_run_done(struct escape_run *run)
{
	for (size_t i = 0; i < run->n; i++)
		free(run->a[i].arg);
	for (size_t i = 0; i < ELEMENTSOF(run->secrets); i++)
		cell_escape_secret_done(&run->secrets[i]);
	if (run->squat_fd >= 0)
		close(run->squat_fd);
	if (run->reuseport_fd >= 0)
		close(run->reuseport_fd);
	if (run->abstract_fd >= 0)
		close(run->abstract_fd);
	if (run->default_root)
		nftw(run->default_root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	if (run->default_state)
		nftw(run->default_state, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(run->default_root);
	free(run->default_state);
}

static struct attempt *add(struct escape_run *run, enum cell_escape_kind kind, const char *arg,
			   const char *fmt, ...) _printf_(4, 5);
static struct attempt *add(struct escape_run *run, enum cell_escape_kind kind, const char *arg,
			   const char *fmt, ...)
{
	struct attempt *a = &run->a[run->n];
	va_list ap;

	if (run->n >= MAX_ATTEMPTS || (arg && !(a->arg = strdup(arg))))
		return NULL;
	run->n++;
	a->e = (struct cell_escape){kind, a->arg};
	va_start(ap, fmt);
	vsnprintf(a->what, sizeof(a->what), fmt, ap);
	va_end(ap);
	return a;
}

/* path with the home directory shown as ~. */
static const char *tilde(const char *path, const char *home, char *buf, size_t size)
{
	size_t n = strlen(home);

	if (n > 1 && !strncmp(path, home, n) && path[n] == '/')
		snprintf(buf, size, "~%s", path + n);
	else
		snprintf(buf, size, "%s", path);
	return buf;
}

/* Reads of the user's secrets: real files where there are, else markers planted there. */
static int add_secrets(struct escape_run *run, const char *home)
{
	static const struct {
		const char *dir, *pattern, *none;
	} secrets[] = {
		{".ssh", "id_*", "no key"},
		{".aws", "credentials", "no credentials"},
		{".gnupg", "*", "no file"},
	};
	char shown[PATH_MAX];

	for (size_t i = 0; i < ELEMENTSOF(secrets); i++) {
		struct cell_escape_secret *s = &run->secrets[i];
		struct attempt *a;
		int r = cell_escape_secret_find(home, secrets[i].dir, secrets[i].pattern, s);

		if (r < 0) {
			a = add(run, CELL_ESCAPE_READ, NULL, "read ~/%s", secrets[i].dir);
			if (a)
				snprintf(
					a->skip, sizeof(a->skip),
					"no file of yours there, and no marker could be planted: %s",
					strerror(-r));
		} else if (s->planted) {
			a = add(run, CELL_ESCAPE_READ, s->path, "read ~/%s/ (%s: a marker)",
				secrets[i].dir, secrets[i].none);
		} else {
			a = add(run, CELL_ESCAPE_READ, s->path, "read %s",
				tilde(s->path, home, shown, sizeof(shown)));
		}
		if (!a)
			return -ENOMEM;
		a->digest = s->path ? s->digest : NULL;
	}
	return 0;
}

/* Writes to the paths of the project that run code outside it later. */
static int add_protected(struct escape_run *run, const char *root)
{
	_cleanup_free_ char *hook = NULL, *config = NULL, *cell_json = NULL;

	if (asprintf(&hook, "%s/.git/hooks/cell-escape-%d", root, (int)getpid()) < 0)
		return -ENOMEM;
	config = cell_path_join(root, ".git/config");
	cell_json = cell_path_join(root, CELL_CONFIG_FILE);
	if (!config || !cell_json ||
	    !add(run, CELL_ESCAPE_WRITE, hook, "write .git/hooks/ (a new hook)") ||
	    !add(run, CELL_ESCAPE_WRITE, config, "write .git/config") ||
	    !add(run, CELL_ESCAPE_WRITE, cell_json, "write %s", CELL_CONFIG_FILE))
		return -ENOMEM;
	return 0;
}

/* A TCP listener of ours on 127.0.0.1 (port 0: any): its port. */
static int listen_loopback(bool reuseport, int *ret_fd, unsigned *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return negative_errno();
	*ret_port = ntohs(a.sin_port);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* An abstract Unix socket of ours listening at @name. */
static int listen_abstract(const char *name, int *ret_fd)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t n = strlen(name);

	memcpy(a.sun_path + 1, name, n);
	if (fd < 0 ||
	    bind(fd, (struct sockaddr *)&a,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0 ||
	    listen(fd, 4) < 0)
		return negative_errno();
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* The network and kernel attempts, with what they reach outside made first. */
static int add_network(struct escape_run *run)
{
	static const char *const families[] = {"vsock", "bluetooth", "alg"};
	char port[16], name[64];
	uint32_t token = 0;
	unsigned p;
	int r;

	r = listen_loopback(false, &run->squat_fd, &p);
	if (r < 0)
		return r;
	snprintf(port, sizeof(port), "%u", p);
	if (!add(run, CELL_ESCAPE_SQUAT, port,
		 "squat 127.0.0.2:%u, connect 127.0.0.1:%u (ours, outside)", p, p))
		return -ENOMEM;
	r = listen_loopback(true, &run->reuseport_fd, &p);
	if (r < 0)
		return r;
	snprintf(port, sizeof(port), "%u", p);
	if (!add(run, CELL_ESCAPE_REUSEPORT, port,
		 "join the SO_REUSEPORT group of 127.0.0.1:%u (ours, outside)", p) ||
	    !add(run, CELL_ESCAPE_CONNECT, "203.0.113.1:80",
		 "connect 203.0.113.1:80 (not loopback)") ||
	    !add(run, CELL_ESCAPE_RAW, NULL, "raw socket"))
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(families); i++) {
		const char *family = cell_escape_family_name(families[i]);
		struct attempt *a = add(run, CELL_ESCAPE_SOCKET, families[i], "%s socket", family);
		struct cell_escape_result outside = {0};

		if (!a)
			return -ENOMEM;
		/* the control: where the kernel has no such family, there is nothing to stop */
		cell_escape_try(&a->e, &outside);
		if (outside.error == EAFNOSUPPORT)
			snprintf(a->skip, sizeof(a->skip), "this kernel has no %s", family);
	}
	if (getrandom(&token, sizeof(token), 0) < 0)
		return negative_errno();
	snprintf(name, sizeof(name), "cell-escape-%08x", (unsigned)token);
	r = listen_abstract(name, &run->abstract_fd);
	if (r < 0)
		return r;
	if (!add(run, CELL_ESCAPE_TIOCSTI, NULL, "TIOCSTI (type into a terminal)") ||
	    !add(run, CELL_ESCAPE_USERNS, NULL, "nested user namespace") ||
	    !add(run, CELL_ESCAPE_ABSTRACT, name, "abstract Unix socket @%s (ours, outside)", name))
		return -ENOMEM;
	return 0;
}

/* Writes text to root/rel, its directories made. */
static int write_below(const char *root, const char *rel, const char *text)
{
	_cleanup_free_ char *path = cell_path_join(root, rel);
	int r = path ? cell_mkdir_parent(path, 0700) : -ENOMEM;

	return r < 0 ? r : cell_write_file_atomic(path, text, strlen(text), 0600, false);
}

/*
 * A default project for the run: a new directory under $TMPDIR (or /tmp) with a minimal config
 * (network "proxy", as a project's by default) and a .git to protect. Its config is ours, so it
 * needs no trust record; the user's own config.json applies to it, as to every cell. Returns -1, or
 * an exit code.
 */
static int default_project(struct escape_run *run, struct cell_project **ret_project,
			   struct cell_config **ret_config)
{
	_cleanup_free_ char *dir = NULL, *json = NULL, *state = NULL;
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_diag_ struct cell_diag d = {0};
	const char *tmp = getenv("TMPDIR");
	int r;

	if (asprintf(&dir, "%s/cell-escape-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp") < 0 ||
	    asprintf(&json, "{\"name\": \"escape-check\", \"network\": {\"mode\": \"proxy\"}}\n") <
		    0)
		return CELL_EXIT_FAILURE;
	if (!mkdtemp(dir) || !(run->default_root = realpath(dir, NULL))) {
		fprintf(stderr, "cell: cannot make a directory for a default project: %s\n",
			strerror(errno));
		return CELL_EXIT_FAILURE;
	}
	r = write_below(run->default_root, CELL_CONFIG_FILE, json);
	if (r >= 0)
		r = write_below(run->default_root, ".git/config", "[core]\n\tbare = false\n");
	if (r >= 0)
		r = write_below(run->default_root, ".git/hooks/README", "hooks\n");
	if (r >= 0)
		r = cell_project_find(run->default_root, &p, &d);
	if (r >= 0)
		r = cell_xdg_dir(CELL_XDG_STATE, &state);
	if (r >= 0 && asprintf(&run->default_state, "%s/projects/%s", state, p->id) < 0)
		r = -ENOMEM;
	if (r < 0) {
		fprintf(stderr, "cell: cannot make a default project in '%s': %s\n",
			run->default_root, strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	r = cli_load_config(p, ret_config);
	if (r >= 0)
		return r;
	*ret_project = TAKE_PTR(p);
	return -1;
}

/*
 * The project around dir, which must be allowed, or a default one where there is none.
 * Returns -1, or an exit code.
 */
static int open_project(const struct cli_cell_options *o, struct escape_run *run,
			struct cell_project **ret_project, struct cell_config **ret_config)
{
	_cleanup_free_ char *cwd = realpath(o->dir ? o->dir : ".", NULL), *ignored = NULL;
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_diag_ struct cell_diag d = {0};
	int r;

	if (!cwd) {
		fprintf(stderr, "cell: cannot resolve '%s': %s\n", o->dir ? o->dir : ".",
			strerror(errno));
		return CELL_EXIT_FAILURE;
	}
	r = cell_project_find(cwd, &p, &d);
	if (r == -ENOENT && !d.message)
		return default_project(run, ret_project, ret_config);
	if (r < 0) {
		_cleanup_project_ struct cell_project *again = NULL;

		r = cli_find_project(cwd, &again); /* says why */
		return r >= 0 ? r : CELL_EXIT_FAILURE;
	}
	/* (we are the cell's user already) */
	return cli_cell_open(&(struct cli_cell_options){.dir = cwd, .allow_root = o->allow_root},
			     ret_project, ret_config, &ignored);
}

/*
 * cell __escape-probe and the attempts not skipped already, as the cell's command: through env
 * with LD_PRELOAD empty, which the shim of a proxy cell leaves so (README, "The shim"), since
 * the answers are the kernel's: nothing of the shim's runs in the probe, and a sanitizer build
 * of cell, whose runtime must come first, starts there too.
 */
static int plan_probe(const struct escape_run *run, const struct cell_project *p,
		      const struct cell_config *c, struct cell_plan **ret)
{
	_cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
	_cleanup_strv_free_ char **argv = NULL;
	int r = self ? cell_strv_extend_many(&argv, "/usr/bin/env", "LD_PRELOAD=", self,
					     CELL_ESCAPE_PROBE_VERB, (char *)NULL)
		     : -ENOMEM;

	for (size_t i = 0; i < run->n && r >= 0; i++) {
		if (!run->a[i].skip[0])
			r = cell_strv_consume(&argv, cell_escape_format(&run->a[i].e));
	}
	if (r < 0) {
		fprintf(stderr, "cell: %s\n", strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	return cli_plan_preview(p, c, argv, ret);
}

/* The probe's lines (out, changed) to the attempts they answer, in order: whether all got one. */
static bool take_answers(struct escape_run *run, char *out)
{
	size_t at = 0;

	for (char *line = out, *end; line && *line; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (end)
			*end = '\0';
		while (at < run->n && run->a[at].skip[0])
			at++;
		if (at >= run->n || cell_escape_result_parse(line, &run->a[at].result) < 0)
			return false;
		at++;
	}
	while (at < run->n && run->a[at].skip[0])
		at++;
	return at == run->n;
}

/*
 * Runs the plan as cell run would, its output on a pipe: the probe's lines go to the attempts
 * they answer. Returns -1 when each attempt got its answer, or an exit code.
 */
static int run_probe(struct escape_run *run, const struct cell_project *p,
		     const struct cell_config *c, struct cell_plan *plan)
{
	_cleanup_free_ char *out = NULL;
	void (*old_int)(int), (*old_quit)(int);
	int pipes[2], status = 0, r;
	size_t len = 0;
	pid_t pid;

	if (pipe2(pipes, O_CLOEXEC) < 0)
		return CELL_EXIT_FAILURE;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(pipes[1], STDOUT_FILENO) < 0)
			_exit(CELL_EXIT_FAILURE);
		_exit(cli_cell_run(
			p, c, &(struct cell_instance_args){.cwd = p->root, .command = plan->argv}));
	}
	close(pipes[1]);
	/* as system(3) does: Ctrl-C is the cell's (it ends the probe), then we clean up */
	old_int = signal(SIGINT, SIG_IGN);
	old_quit = signal(SIGQUIT, SIG_IGN);
	r = pid < 0 ? -errno : cell_read_full_fd(pipes[0], CELL_FILE_MAX, &out, &len);
	close(pipes[0]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	signal(SIGINT, old_int);
	signal(SIGQUIT, old_quit);
	if (r < 0 || !take_answers(run, out)) {
		fprintf(stderr,
			"cell: the cell of '%s' did not answer every attempt (it exited with %d)\n",
			p->root, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return CELL_EXIT_FAILURE;
	}
	return -1;
}

enum verdict { BLOCKED, OPEN, SKIPPED };

/* What an attempt's answer means, and the words in its parentheses. */
static enum verdict judge(const struct attempt *a, char *why, size_t size)
{
	const struct cell_escape_result *r = &a->result;
	const char *name;

	if (a->skip[0] || r->skipped) {
		snprintf(why, size, "%s", a->skip[0] ? a->skip : r->detail);
		return SKIPPED;
	}
	if (r->error) {
		name = strerrorname_np(r->error);
		snprintf(why, size, "%s%s%s", name ? name : "?", r->detail[0] ? " " : "",
			 r->detail);
		return BLOCKED;
	}
	/* a file there that is not the one outside is no secret of the user's */
	if (a->e.kind == CELL_ESCAPE_READ && a->digest && !streq(r->detail, a->digest)) {
		snprintf(why, size, "another file stands there, not the one outside");
		return BLOCKED;
	}
	if (a->e.kind == CELL_ESCAPE_READ)
		snprintf(why, size, "read it: %zu bytes, the same as outside",
			 (size_t)strtoull(r->detail, NULL, 10));
	else
		snprintf(why, size, "%s", r->detail[0] ? r->detail : "it worked");
	return OPEN;
}

/* One line per attempt, then the count; 0 when nothing is open. */
static int report(const struct escape_run *run)
{
	static const char *const tags[] = {
		[BLOCKED] = "blocked", [OPEN] = "OPEN", [SKIPPED] = "skipped"};
	unsigned counts[3] = {0};
	int width = 0;

	for (size_t i = 0; i < run->n; i++)
		if ((int)strlen(run->a[i].what) > width)
			width = (int)strlen(run->a[i].what);
	for (size_t i = 0; i < run->n; i++) {
		char why[256];
		enum verdict v = judge(&run->a[i], why, sizeof(why));

		counts[v]++;
		printf("%-9s%-*s  (%s)\n", tags[v], width, run->a[i].what, why);
	}
	if (counts[OPEN])
		printf("%u OPEN, %u blocked, %u skipped: this cell lets out what is OPEN above\n",
		       counts[OPEN], counts[BLOCKED], counts[SKIPPED]);
	else
		printf("%u blocked, %u skipped: this cell stopped every escape tried\n",
		       counts[BLOCKED], counts[SKIPPED]);
	return counts[OPEN] ? CELL_EXIT_FAILURE : CELL_EXIT_OK;
}

/* The network a cell of this plan gets here, and how the kernel holds a proxy cell to it. */
static const char *network_words(const struct cell_plan *plan)
{
	if (plan->net_mode == CELL_NET_PROXY)
		return plan->isolation == CELL_ISOLATION_BPF
			       ? "proxy, held to it by BPF"
			       : "proxy, in a network namespace of its own";
	return cell_net_mode_to_string(plan->net_mode);
}

int cli_doctor_escape(const struct cli_cell_options *o)
{
	_cleanup_(escape_run_done) struct escape_run run = {
		.squat_fd = -1, .reuseport_fd = -1, .abstract_fd = -1};
	_cleanup_project_ struct cell_project *p = NULL;
	_cleanup_config_ struct cell_config *c = NULL;
	_cleanup_plan_ struct cell_plan *plan = NULL;
	const char *home;
	int r;

	r = cli_become_user(o);
	if (r < 0)
		r = open_project(o, &run, &p, &c);
	if (r >= 0)
		return r;
	home = cell_home();
	r = home ? add_secrets(&run, home) : -ENOENT;
	if (r >= 0)
		r = add_protected(&run, p->root);
	if (r >= 0)
		r = add_network(&run);
	if (r < 0) {
		fprintf(stderr, "cell: cannot prepare the attempts: %s\n", strerror(-r));
		return CELL_EXIT_FAILURE;
	}
	r = plan_probe(&run, p, c, &plan);
	if (r >= 0)
		return r;
	printf("cell doctor --escape: %s cell of %s (network: %s)\n",
	       run.default_root ? "a default" : "the", p->root, network_words(plan));
	r = run_probe(&run, p, c, plan);
	if (r >= 0)
		return r;
	return report(&run);
}

/* In the cell: each attempt, one result line each (escape.h). */
int cmd_escape_probe(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		struct cell_escape_result r = {.skipped = true};
		struct cell_escape e;
		char line[256];

		if (cell_escape_parse(argv[i], &e) < 0)
			snprintf(r.detail, sizeof(r.detail), "not an attempt this cell knows");
		else
			cell_escape_try(&e, &r);
		if (cell_escape_result_line(&r, line, sizeof(line)) < 0)
			snprintf(line, sizeof(line), "skip the answer was too long");
		printf("%s\n", line);
		fflush(stdout);
	}
	return CELL_EXIT_OK;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "fileio.h"
#include "log.h"
#include "procs.h"
#include "procstate.h"
#include "process.h"
#include "running.h"
#include "strv.h"

#define TICK_MS 50
#define STOP_GRACE_MS 10000
#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 30000
#define STEADY_MS 10000 /* a run this long starts the backoff over */
#define PORT_PROBE_MS 250
#define COMMAND_PROBE_MS 1000
#define LINE_BYTES 4096
#define DRAIN_READS 16
#define STOP_ALL_MS 30000 /* then whatever still runs is killed */

enum pstate { P_WAITING, P_STARTING, P_RUNNING, P_BACKOFF, P_EXITED, P_STOPPING, _P_MAX };

static const char *const state_names[_P_MAX] = {
	[P_WAITING] = "waiting", [P_STARTING] = "starting", [P_RUNNING] = "running",
	[P_BACKOFF] = "backoff", [P_EXITED] = "exited",	    [P_STOPPING] = "stopping",
};

struct sup;

struct proc {
	struct sup *sup;
	const struct cell_process *conf;
	enum pstate state;
	pid_t pid, probe;
	bool ready, ever_ready, failed_early, termed;
	unsigned restarts;
	int status;
	long at; /* the next probe, or the restart */
	long started, backoff, kill_at;
	int64_t since;
	struct cell_event_source out; /* the read end of the pipe all its starts write to */
	int out_w;
	int log;
	off_t log_size;
	char line[LINE_BYTES];
	size_t len;
};

struct sup {
	struct cell_member *m;
	const struct cell_procs_options *o;
	struct cell_event_loop *loop;
	struct cell_event_source sig;
	struct proc procs[CELL_PROCESSES_MAX];
	size_t n;
	int width, null_fd, ready_fd;
	int64_t start;
	uint64_t supervisor_start;
	long stop_all_at;
	bool stopping, hard, dirty, failed;
};

static long now(const struct sup *s)
{
	return cell_event_now(s->loop);
}

static void set_state(struct proc *p, enum pstate st)
{
	p->state = st;
	p->since = (int64_t)time(NULL);
	p->sup->dirty = true;
}

/* Output of the process (or a line of ours about it) to its log, rotated when full. */
static void log_write(struct proc *p, const char *text, size_t len)
{
	struct sup *s = p->sup;

	if (p->log >= 0 && p->log_size + (off_t)len > CELL_UP_LOG_MAX && p->log_size > 0) {
		close(p->log);
		p->log = -1;
		if (cell_up_log_rotate(s->o->up_dir, p->conf->name) < 0 ||
		    cell_up_log_open(s->o->up_dir, p->conf->name, &p->log, &p->log_size) < 0)
			p->log = -1;
	}
	if (p->log >= 0 && cell_write_all(p->log, text, len) >= 0)
		p->log_size += (off_t)len;
}

/* In the foreground: each whole line (or LINE_BYTES of one) on our output after its name. */
static void show(struct proc *p, const char *text, size_t len)
{
	struct sup *s = p->sup;

	for (size_t i = 0; s->o->foreground && i < len; i++) {
		_cleanup_free_ char *out = NULL;
		int n;

		p->line[p->len++] = text[i];
		if (text[i] != '\n' && p->len < sizeof(p->line))
			continue;
		n = asprintf(&out, "%-*s | %.*s", s->width, p->conf->name, (int)p->len, p->line);
		if (n > 0)
			(void)cell_write_all(STDOUT_FILENO, out, (size_t)n);
		p->len = 0;
	}
}

static void emit(struct proc *p, const char *text, size_t len)
{
	log_write(p, text, len);
	show(p, text, len);
}

static void say(struct proc *p, const char *fmt, ...) _printf_(2, 3);
static void say(struct proc *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "[cell up] ");

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	emit(p, line, (size_t)n);
}

/* To cell up -d's caller, while it waits. */
static void tell(struct sup *s, const char *fmt, ...) _printf_(2, 3);
static void tell(struct sup *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (s->ready_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (n > 0)
		(void)cell_write_all(s->ready_fd, line, (size_t)n);
}

/* One read of the process's output (the loop comes back while there is more: a process that
 * writes without end does not keep the loop from its signals and ticks); true if there was. */
static bool read_output(struct proc *p)
{
	char buf[4096];
	ssize_t n = read(p->out.fd, buf, sizeof(buf));

	if (n <= 0)
		return false;
	emit(p, buf, (size_t)n);
	return true;
}

/* What the process wrote before it ended, ahead of our line about its end (bounded: what it
 * left running may write on). */
static void drain(struct proc *p)
{
	for (int i = 0; i < DRAIN_READS && read_output(p); i++)
		;
}

static void on_output(struct cell_event_source *src, uint32_t events)
{
	struct proc *p = (struct proc *)((char *)src - offsetof(struct proc, out));

	(void)events;
	read_output(p);
}

static char *const *shell(const char *command, char *argv[4])
{
	argv[0] = (char *)"/bin/sh";
	argv[1] = (char *)"-c";
	argv[2] = (char *)command;
	argv[3] = NULL;
	return argv;
}

static void start(struct proc *p)
{
	struct sup *s = p->sup;
	char *argv[4];
	int r = cell_member_spawn(s->m, s->o->root, shell(p->conf->exec, argv), p->out_w, &p->pid);

	if (r < 0) {
		say(p, "cannot start: %s", strerror(-r));
		tell(s, "cell up: %s cannot start: %s\n", p->conf->name, strerror(-r));
		p->pid = 0;
		p->status = -1;
		p->failed_early = true;
		s->failed = true;
		set_state(p, P_EXITED);
		return;
	}
	p->started = now(s);
	p->ready = !p->conf->ready_port && !p->conf->ready_command;
	p->termed = false;
	p->at = p->started + (p->conf->ready_port ? PORT_PROBE_MS / 2 : COMMAND_PROBE_MS / 2);
	say(p, "started (pid %d)", (int)p->pid);
	set_state(p, p->ready ? P_RUNNING : P_STARTING);
	if (p->ready && !p->ever_ready) {
		p->ever_ready = true;
		tell(s, "cell up: %s started\n", p->conf->name);
	}
}

static void probe(struct proc *p)
{
	struct sup *s = p->sup;
	char *argv[4];
	int r = p->conf->ready_port
			? cell_member_probe_port(s->m, p->conf->ready_port, &p->probe)
			: cell_member_spawn(s->m, s->o->root, shell(p->conf->ready_command, argv),
					    s->null_fd, &p->probe);

	if (r < 0) {
		p->probe = 0;
		p->at = now(s) + COMMAND_PROBE_MS;
	}
}

static void probe_ended(struct proc *p, int status)
{
	struct sup *s = p->sup;

	p->probe = 0;
	if (p->state != P_STARTING)
		return;
	if (status != 0) {
		p->at = now(s) + (p->conf->ready_port ? PORT_PROBE_MS : COMMAND_PROBE_MS);
		return;
	}
	p->ready = true;
	set_state(p, P_RUNNING);
	say(p, "ready");
	if (!p->ever_ready)
		tell(s, "cell up: %s is ready\n", p->conf->name);
	p->ever_ready = true;
}

static bool restarts(const struct proc *p, int status)
{
	return p->conf->restart == CELL_RESTART_ALWAYS ||
	       (p->conf->restart == CELL_RESTART_ON_FAILURE && status != 0);
}

static void ended(struct proc *p, int status)
{
	struct sup *s = p->sup;
	long ran = now(s) - p->started;

	drain(p);
	p->pid = 0;
	p->status = status;
	p->ready = false;
	if (p->probe > 0)
		kill(p->probe, SIGKILL);
	if (s->stopping) {
		say(p, "stopped (status %d)", status);
		set_state(p, P_EXITED);
		return;
	}
	if (!p->ever_ready && !p->failed_early) {
		p->failed_early = true;
		tell(s, "cell up: %s ended with status %d before it was ready (cell logs %s)\n",
		     p->conf->name, status, p->conf->name);
	}
	if (!restarts(p, status)) {
		say(p, "ended with status %d", status);
		s->failed = s->failed || status != 0;
		set_state(p, P_EXITED);
		return;
	}
	if (ran >= STEADY_MS || !p->backoff)
		p->backoff = BACKOFF_FIRST_MS;
	p->at = now(s) + p->backoff;
	say(p, "ended with status %d; starting again in %.1f s", status, p->backoff / 1000.0);
	p->backoff = p->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff * 2;
	set_state(p, P_BACKOFF);
}

static struct proc *find(struct sup *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->procs[i].conf->name, name))
			return &s->procs[i];
	return NULL;
}

/* 1: each process p waits for is ready (or has done its work); 0: not yet; -1: one never will
 * be (*ret_dead names it). */
static int deps_ready(struct sup *s, const struct proc *p, const struct proc **ret_dead)
{
	int r = 1;

	for (size_t i = 0; p->conf->depends_on && p->conf->depends_on[i]; i++) {
		const struct proc *d = find(s, p->conf->depends_on[i]);

		if (!d)
			continue;
		if (d->state == P_EXITED && d->status == 0)
			continue;
		if (d->state == P_EXITED) {
			*ret_dead = d;
			return -1;
		}
		if (d->state != P_RUNNING || !d->ready)
			r = 0;
	}
	return r;
}

static void reap(struct sup *s)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (size_t i = 0; i < s->n; i++) {
			struct proc *p = &s->procs[i];

			if (pid == p->pid)
				ended(p, cell_exit_code(status));
			else if (pid == p->probe)
				probe_ended(p, cell_exit_code(status));
		}
}

static void begin_stop(struct sup *s)
{
	s->stopping = true;
	s->stop_all_at = now(s) + STOP_ALL_MS;
	for (size_t i = 0; i < s->n; i++) {
		struct proc *p = &s->procs[i];

		if (p->probe > 0)
			kill(p->probe, SIGKILL);
		if (p->state == P_WAITING || p->state == P_BACKOFF)
			set_state(p, P_EXITED);
	}
}

static void on_signal(struct cell_event_source *src, uint32_t events)
{
	struct sup *s = (struct sup *)((char *)src - offsetof(struct sup, sig));
	struct signalfd_siginfo si;

	(void)events;
	while (read(src->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap(s);
		else if (s->stopping)
			s->hard = true;
		else
			begin_stop(s);
	}
}

/* Whether a running process waits for p (it is stopped first). */
static bool waited_for(struct sup *s, const struct proc *p)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct proc *q = &s->procs[i];

		if (q->pid > 0 && cell_strv_contains(q->conf->depends_on, p->conf->name))
			return true;
	}
	return false;
}

/* A step of stopping: true once nothing of ours runs. */
static bool stop_step(struct sup *s)
{
	bool alive = false;

	for (size_t i = 0; i < s->n; i++) {
		struct proc *p = &s->procs[i];

		alive = alive || p->pid > 0 || p->probe > 0;
		if (p->pid <= 0)
			continue;
		/* its process group: what its command started in the cell too */
		if (!p->termed && !waited_for(s, p)) {
			kill(-p->pid, SIGTERM);
			p->termed = true;
			p->kill_at = now(s) + STOP_GRACE_MS;
			set_state(p, P_STOPPING);
		}
		if (s->hard || now(s) >= s->stop_all_at || (p->termed && now(s) >= p->kill_at))
			kill(-p->pid, SIGKILL);
	}
	return !alive;
}

/* cell up -d's caller is told once each process is ready, ended, or failed before it was. */
static void settle(struct sup *s)
{
	if (s->ready_fd < 0)
		return;
	for (size_t i = 0; i < s->n; i++) {
		const struct proc *p = &s->procs[i];

		if (!(p->state == P_RUNNING && p->ready) && p->state != P_EXITED &&
		    !p->failed_early)
			return;
	}
	tell(s, s->failed ? "failed\n" : "ok\n");
	if (s->o->log_fd >= 0)
		dup2(s->o->log_fd, STDERR_FILENO);
	close(s->ready_fd);
	s->ready_fd = -1;
}

static void save_state(struct sup *s)
{
	struct cell_up_state st = {
		.supervisor = getpid(), .supervisor_start = s->supervisor_start, .start = s->start};

	for (size_t i = 0; i < s->n; i++) {
		const struct proc *p = &s->procs[i];
		struct cell_up_proc *u = &st.procs[st.n++];

		snprintf(u->name, sizeof(u->name), "%s", p->conf->name);
		snprintf(u->state, sizeof(u->state), "%s", state_names[p->state]);
		u->pid = p->pid > 0 ? p->pid : 0;
		u->restarts = p->restarts;
		u->ready = !p->conf->ready_port && !p->conf->ready_command ? -1 : p->ready;
		u->since = p->since;
		u->status = p->status;
	}
	if (cell_up_state_write(s->o->up_dir, &st) < 0)
		cell_log(CELL_LOG_WARNING, "cannot write %s/up.state", s->o->up_dir);
	s->dirty = false;
}

static void tick(void *data)
{
	struct sup *s = data;
	bool done = true;

	if (s->stopping) {
		if (stop_step(s))
			cell_event_loop_quit(s->loop);
		if (s->dirty)
			save_state(s);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		struct proc *p = &s->procs[i];
		const struct proc *dead = NULL;
		int r;

		switch (p->state) {
		case P_WAITING:
			r = deps_ready(s, p, &dead);
			if (r > 0) {
				start(p);
			} else if (r < 0) {
				say(p, "not started: %s ended with status %d", dead->conf->name,
				    dead->status);
				p->status = -1;
				p->failed_early = s->failed = true;
				set_state(p, P_EXITED);
			}
			break;
		case P_BACKOFF:
			if (now(s) >= p->at) {
				p->restarts++;
				start(p);
			}
			break;
		case P_STARTING:
			if (p->probe <= 0 && now(s) >= p->at)
				probe(p);
			break;
		default:
			break;
		}
		done = done && p->state == P_EXITED;
	}
	settle(s);
	if (s->dirty)
		save_state(s);
	if (done)
		cell_event_loop_quit(s->loop);
}

/* The processes to run: those named and what they wait for, in the config's order. */
static int choose(struct sup *s, const struct cell_config *c, char *const *names,
		  struct cell_diag *d)
{
	bool want[CELL_PROCESSES_MAX] = {false};
	bool more = true;

	for (size_t i = 0; i < c->n_processes; i++)
		want[i] = !names || cell_strv_contains(names, c->processes[i].name);
	for (size_t k = 0; names && names[k]; k++)
		if (!cell_config_process(c, names[k]))
			return cell_diag_set(d, -ENOENT, NULL, NULL,
					     "the config has no process \"%s\"", names[k]);
	while (more) {
		more = false;
		for (size_t i = 0; i < c->n_processes; i++)
			for (size_t k = 0;
			     want[i] && c->processes[i].depends_on && c->processes[i].depends_on[k];
			     k++)
				for (size_t j = 0; j < c->n_processes; j++)
					if (!want[j] && streq(c->processes[j].name,
							      c->processes[i].depends_on[k]))
						want[j] = more = true;
	}
	for (size_t i = 0; i < c->n_processes; i++)
		if (want[i])
			s->procs[s->n++] = (struct proc){.sup = s,
							 .conf = &c->processes[i],
							 .status = -1,
							 .out = {.fd = -1, .on_event = on_output},
							 .out_w = -1,
							 .log = -1};
	return 0;
}

static int prepare(struct sup *s)
{
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	s->sig = (struct cell_event_source){.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK),
					    .on_event = on_signal};
	s->null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (s->sig.fd < 0 || s->null_fd < 0)
		return negative_errno();
	r = cell_event_loop_new(&s->loop);
	if (r >= 0)
		r = cell_event_watch(s->loop, &s->sig, EPOLLIN);
	for (size_t i = 0; r >= 0 && i < s->n; i++) {
		struct proc *p = &s->procs[i];
		int fds[2];

		if ((int)strlen(p->conf->name) > s->width)
			s->width = (int)strlen(p->conf->name);
		if (pipe2(fds, O_CLOEXEC) < 0)
			return negative_errno();
		p->out.fd = fds[0];
		p->out_w = fds[1];
		r = fcntl(p->out.fd, F_SETFL, O_NONBLOCK) < 0 ? negative_errno() : 0;
		if (r >= 0)
			r = cell_up_log_open(s->o->up_dir, p->conf->name, &p->log, &p->log_size);
		if (r >= 0)
			r = cell_event_watch(s->loop, &p->out, EPOLLIN);
		if (r >= 0)
			set_state(p, P_WAITING);
	}
	return r;
}

static void cleanup(struct sup *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct proc *p = &s->procs[i];

		if (p->out.fd >= 0)
			cell_event_close(&p->out);
		closep(&p->out_w);
		closep(&p->log);
	}
	if (s->sig.fd >= 0)
		cell_event_close(&s->sig);
	closep(&s->null_fd);
	closep(&s->ready_fd);
	cell_event_loop_free(s->loop);
}

int cell_procs_run(struct cell_member *m, const struct cell_config *c,
		   const struct cell_procs_options *o, struct cell_diag *diag)
{
	struct sup *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	*s = (struct sup){.m = m,
			  .o = o,
			  .sig = {.fd = -1},
			  .null_fd = -1,
			  .ready_fd = o->ready_fd,
			  .start = (int64_t)time(NULL),
			  .supervisor_start = cell_process_start(getpid())};
	r = choose(s, c, o->names, diag);
	if (r >= 0) {
		r = prepare(s);
		if (r < 0)
			cell_diag_set(diag, r, NULL, NULL, "cannot supervise the processes: %s",
				      strerror(-r));
	}
	if (r >= 0) {
		tick(s);
		r = cell_event_loop_run(s->loop, TICK_MS, tick, s);
		if (r < 0) {
			/* (what still runs ends with us: each member's parent death signal) */
			cell_diag_set(diag, r, NULL, NULL, "the processes' loop failed: %s",
				      strerror(-r));
		}
	}
	if (s->loop && !s->stopping)
		save_state(s);
	cell_member_leave(m);
	if (r >= 0)
		r = s->failed ? 1 : 0;
	cleanup(s);
	free(s);
	return r;
}

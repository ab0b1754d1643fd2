/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config-processes.h"
#include "macro.h"
#include "strv.h"

static const char *const restarts[_CELL_RESTART_MAX] = {
	[CELL_RESTART_NO] = "no",
	[CELL_RESTART_ON_FAILURE] = "on-failure",
	[CELL_RESTART_ALWAYS] = "always",
};

/* The state of one pass over "processes"; s first, as config.c's ctx. */
struct pctx {
	struct cell_schema s;
	struct cell_config *c;
	const cJSON *all; /* the "processes" object being read */
	struct cell_process *p;
};

static struct pctx *pctx_of(struct cell_schema *s)
{
	return (struct pctx *)((char *)s - offsetof(struct pctx, s));
}

const char *cell_restart_to_string(enum cell_restart r)
{
	return r < _CELL_RESTART_MAX ? restarts[r] : NULL;
}

const struct cell_process *cell_config_process(const struct cell_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_processes; i++)
		if (streq(c->processes[i].name, name))
			return &c->processes[i];
	return NULL;
}

static void process_done(struct cell_process *p)
{
	free(p->name);
	free(p->exec);
	free(p->ready_command);
	cell_strv_free(p->depends_on);
	*p = (struct cell_process){0};
}

void cell_config_processes_free(struct cell_process *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		process_done(&p[i]);
	free(p);
}

/* A process's name is a word of the log's file name and of cell up's prefix. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CELL_PROCESS_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static int oom(struct cell_schema *s)
{
	return cell_schema_fail(s, false, "out of memory");
}

static int apply_exec(struct cell_schema *s, const cJSON *v)
{
	struct cell_process *p = pctx_of(s)->p;
	int r = cell_schema_expect(s, v, cJSON_IsString, "a shell command");

	if (r < 0)
		return r;
	if (!*v->valuestring)
		return cell_schema_fail(s, false, "a process needs a command");
	free(p->exec);
	p->exec = strdup(v->valuestring);
	return p->exec ? 0 : oom(s);
}

static int apply_restart(struct cell_schema *s, const cJSON *v)
{
	int i, r;

	r = cell_schema_get_enum(s, v, restarts, _CELL_RESTART_MAX, "a restart policy", &i);
	if (r < 0)
		return r;
	pctx_of(s)->p->restart = (enum cell_restart)i;
	return 0;
}

static int apply_ready_port(struct cell_schema *s, const cJSON *v)
{
	double port;
	int r = cell_schema_get_int(s, v, 1, 65535, "a port", &port);

	if (r < 0)
		return r;
	pctx_of(s)->p->ready_port = (uint16_t)port;
	return 0;
}

static int apply_ready_command(struct cell_schema *s, const cJSON *v)
{
	struct cell_process *p = pctx_of(s)->p;
	int r = cell_schema_expect(s, v, cJSON_IsString, "a shell command");

	if (r < 0)
		return r;
	if (!*v->valuestring)
		return cell_schema_fail(s, false, "an empty command is never a check");
	free(p->ready_command);
	p->ready_command = strdup(v->valuestring);
	return p->ready_command ? 0 : oom(s);
}

static int apply_ready(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"port", apply_ready_port},
		{"command", apply_ready_command},
	};
	struct cell_process *p = pctx_of(s)->p;
	int r;

	p->ready_port = 0;
	free(p->ready_command);
	p->ready_command = NULL;
	r = cell_schema_members(s, v, "an object ({\"port\": N} or {\"command\": \"...\"})",
				members, ELEMENTSOF(members));
	if (r < 0)
		return r;
	if (p->ready_port && p->ready_command)
		return cell_schema_fail(s, false, "ready is a port or a command, not both");
	if (!p->ready_port && !p->ready_command)
		return cell_schema_fail(s, false, "ready needs a port or a command");
	return 0;
}

static int depends_one(struct cell_schema *s, const cJSON *v)
{
	struct pctx *x = pctx_of(s);
	int r = cell_schema_expect(s, v, cJSON_IsString, "a process's name");

	if (r < 0)
		return r;
	if (streq(v->valuestring, x->p->name))
		return cell_schema_fail(s, false, "a process cannot wait for itself");
	if (!cell_config_process(x->c, v->valuestring) &&
	    !cJSON_GetObjectItemCaseSensitive(x->all, v->valuestring))
		return cell_schema_fail(s, false, "no process is named \"%s\"", v->valuestring);
	if (cell_strv_contains(x->p->depends_on, v->valuestring))
		return 0;
	return cell_strv_extend(&x->p->depends_on, v->valuestring) < 0 ? oom(s) : 0;
}

static int apply_depends_on(struct cell_schema *s, const cJSON *v)
{
	struct cell_process *p = pctx_of(s)->p;

	cell_strv_free(p->depends_on);
	p->depends_on = NULL;
	return cell_schema_elements(s, v, "an array of process names", depends_one);
}

/* The process of that name in c, added (empty but for its name) if it is not there yet. */
static int process_slot(struct cell_config *c, const char *name, struct cell_process **ret)
{
	struct cell_process *n;

	for (size_t i = 0; i < c->n_processes; i++)
		if (streq(c->processes[i].name, name)) {
			process_done(&c->processes[i]);
			c->processes[i].name = strdup(name);
			*ret = &c->processes[i];
			return c->processes[i].name ? 0 : -ENOMEM;
		}
	if (c->n_processes == CELL_PROCESSES_MAX)
		return -E2BIG;
	n = reallocarray(c->processes, c->n_processes + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->processes = n;
	n[c->n_processes] = (struct cell_process){.name = strdup(name)};
	if (!n[c->n_processes].name)
		return -ENOMEM;
	*ret = &n[c->n_processes++];
	return 0;
}

static int process_one(struct cell_schema *s, const cJSON *v)
{
	static const struct cell_schema_member members[] = {
		{"exec", apply_exec},
		{"ready", apply_ready},
		{"restart", apply_restart},
		{"depends_on", apply_depends_on},
	};
	struct pctx *x = pctx_of(s);
	int r;

	if (!valid_name(v->string))
		return cell_schema_fail(s, true,
					"\"%s\" is not a process name (1 to %d of letters, digits, "
					"'.', '_' and '-', starting with a letter or digit)",
					v->string, CELL_PROCESS_NAME_MAX);
	r = process_slot(x->c, v->string, &x->p);
	if (r == -E2BIG)
		return cell_schema_fail(s, true, "more than %d processes", CELL_PROCESSES_MAX);
	if (r < 0)
		return oom(s);
	r = cell_schema_members(s, v, "an object ({\"exec\": \"...\", ...})", members,
				ELEMENTSOF(members));
	if (r < 0)
		return r;
	if (!x->p->exec)
		return cell_schema_fail(s, false, "a process needs \"exec\": the command it runs");
	return 0;
}

/* Depth-first from process i: the first process met again while its own walk is open (a
 * cycle), or NULL. Each process is walked once: done[] marks those finished. */
static const struct cell_process *cycle_from(const struct cell_config *c, size_t i, bool *open,
					     bool *done)
{
	const struct cell_process *p = &c->processes[i];

	if (done[i])
		return NULL;
	if (open[i])
		return p;
	open[i] = true;
	for (size_t k = 0; p->depends_on && p->depends_on[k]; k++) {
		const struct cell_process *d = cell_config_process(c, p->depends_on[k]);
		const struct cell_process *found =
			d ? cycle_from(c, (size_t)(d - c->processes), open, done) : NULL;

		if (found)
			return found;
	}
	open[i] = false;
	done[i] = true;
	return NULL;
}

int cell_config_apply_processes(struct cell_schema *s, const cJSON *v, struct cell_config *c)
{
	bool open[CELL_PROCESSES_MAX] = {false}, done[CELL_PROCESSES_MAX] = {false};
	struct pctx x = {.s = *s, .c = c, .all = v};
	int r;

	r = cell_schema_map(&x.s, v, "an object mapping process names to processes", process_one);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->n_processes; i++) {
		const struct cell_process *p = cycle_from(c, i, open, done);

		if (p)
			return cell_schema_fail(s, false,
						"process \"%s\" waits for itself through its "
						"depends_on: no order can start them",
						p->name);
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "path.h"
#include "procstate.h"

#define STATE_MAGIC "cell-up 1\n"
#define LOCK_TRIES 20
#define STATE_MAX (64 * 1024)

int cell_up_dir(const char *state_home, const char *project_id, char **ret)
{
	_cleanup_free_ char *dir = NULL, *logs = NULL;
	int r;

	if (asprintf(&dir, "%s/projects/%s/up", state_home, project_id) < 0)
		return -ENOMEM;
	logs = cell_path_join(dir, "logs");
	if (!logs)
		return -ENOMEM;
	r = cell_mkdir_p(logs, 0700);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(dir);
	return 0;
}

static int open_lock(const char *dir)
{
	_cleanup_free_ char *path = cell_path_join(dir, "up.lock");

	if (!path)
		return -ENOMEM;
	return open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

int cell_up_lock(const char *dir, int *ret_fd)
{
	_cleanup_close_ int fd = open_lock(dir);

	if (fd < 0)
		return fd == -ENOMEM ? fd : negative_errno();
	/* cell ps and cell down hold it shared for a moment: a while, then it is a cell up's */
	for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; tries++) {
		if (errno != EWOULDBLOCK)
			return negative_errno();
		if (tries == LOCK_TRIES)
			return -EBUSY;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

bool cell_up_running(const char *dir)
{
	_cleanup_close_ int fd = open_lock(dir);

	/* (a shared lock: two cell ps at once each see the cell up, not each other) */
	if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0)
		return false;
	return errno == EWOULDBLOCK;
}

int cell_up_state_write(const char *dir, const struct cell_up_state *s)
{
	_cleanup_free_ char *path = cell_path_join(dir, "up.state"), *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!path || !f) {
		if (f)
			fclose(f);
		return -ENOMEM;
	}
	fprintf(f, STATE_MAGIC "supervisor %d %" PRIu64 " %" PRId64 "\n", (int)s->supervisor,
		s->supervisor_start, s->start);
	for (size_t i = 0; i < s->n; i++) {
		const struct cell_up_proc *p = &s->procs[i];

		fprintf(f, "process %s %d %s %u %d %" PRId64 " %d\n", p->name, (int)p->pid,
			p->state, p->restarts, p->ready, p->since, p->status);
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	return cell_write_file_atomic(path, text, len, 0600, false);
}

void cell_up_state_remove(const char *dir)
{
	_cleanup_free_ char *path = cell_path_join(dir, "up.state");

	if (path)
		(void)unlink(path);
}

/* (the scanf width below) */
_Static_assert(CELL_PROCESS_NAME_MAX == 32, "process %32s");

static int parse_process(const char *line, struct cell_up_proc *p)
{
	int pid, n = 0;

	*p = (struct cell_up_proc){0};
	if (sscanf(line, "process %32s %d %15s %u %d %" SCNd64 " %d%n", p->name, &pid, p->state,
		   &p->restarts, &p->ready, &p->since, &p->status, &n) != 7 ||
	    line[n] != '\0' || pid < 0)
		return -EBADMSG;
	p->pid = pid;
	return 0;
}

int cell_up_state_read(const char *dir, struct cell_up_state *ret)
{
	_cleanup_free_ char *path = cell_path_join(dir, "up.state"), *text = NULL;
	struct cell_up_state s = {0};
	char *line, *save = NULL;
	size_t len;
	int pid, n = 0, r;

	if (!path)
		return -ENOMEM;
	r = cell_read_file(path, O_NOFOLLOW, STATE_MAX, &text, &len);
	if (r < 0)
		return r;
	if (strlen(text) != len || !startswith(text, STATE_MAGIC))
		return -EBADMSG;
	line = strtok_r(text + strlen(STATE_MAGIC), "\n", &save);
	if (!line ||
	    sscanf(line, "supervisor %d %" SCNu64 " %" SCNd64 "%n", &pid, &s.supervisor_start,
		   &s.start, &n) != 3 ||
	    line[n] != '\0' || pid <= 0)
		return -EBADMSG;
	s.supervisor = pid;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (s.n == CELL_PROCESSES_MAX || parse_process(line, &s.procs[s.n]) < 0)
			return -EBADMSG;
		s.n++;
	}
	*ret = s;
	return 0;
}

char *cell_up_log_path(const char *dir, const char *name, unsigned generation)
{
	char *s;
	int n = generation ? asprintf(&s, "%s/logs/%s.log.%u", dir, name, generation)
			   : asprintf(&s, "%s/logs/%s.log", dir, name);

	return n < 0 ? NULL : s;
}

int cell_up_log_open(const char *dir, const char *name, int *ret_fd, off_t *ret_size)
{
	_cleanup_free_ char *path = cell_up_log_path(dir, name, 0);
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0)
		return negative_errno();
	*ret_size = st.st_size;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cell_up_log_rotate(const char *dir, const char *name)
{
	for (unsigned g = CELL_UP_LOGS_KEPT; g > 0; g--) {
		_cleanup_free_ char *from = cell_up_log_path(dir, name, g - 1),
				    *to = cell_up_log_path(dir, name, g);

		if (!from || !to)
			return -ENOMEM;
		if (rename(from, to) < 0 && errno != ENOENT)
			return negative_errno();
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "ledger.h"
#include "macro.h"
#include "xdg.h"

#define LEDGER_MAX (64 * 1024 * 1024)

int cell_ledger_path(const char *project_id, char **ret)
{
	return cell_project_state_file(project_id, "ledger.jsonl", ret);
}

static int lock(int fd, int op)
{
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return negative_errno();
	return 0;
}

/* Appends line under the ledger's lock, taken with op (LOCK_EX, or LOCK_EX | LOCK_NB). */
static int append(const char *path, const char *line, int op)
{
	_cleanup_free_ char *dir = NULL, *rec = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len;
	int r;

	if (strchr(line, '\n'))
		return -EINVAL;
	r = cell_mkdir_parent(path, 0700);
	if (r < 0)
		return r;
	/* read-write: the last byte is read to find a torn line */
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	r = lock(fd, op);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	len = strlen(line);
	rec = malloc(len + 2);
	if (!rec)
		return -ENOMEM;
	len = 0;
	if (st.st_size > 0) {
		char last = '\n';

		/* a writer that died mid-line left it open: close it so our record stands alone */
		if (pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
			rec[len++] = '\n';
	}
	strcpy(rec + len, line);
	len += strlen(line);
	rec[len++] = '\n';
	r = cell_write_all(fd, rec, len);
	/* written is written: an fdatasync that fails cannot be undone by writing it again */
	if (r >= 0)
		(void)fdatasync(fd);
	/* closing the fd releases the lock */
	return r;
}

int cell_ledger_append(const char *path, const char *line)
{
	return append(path, line, LOCK_EX);
}

int cell_ledger_try_append(const char *path, const char *line)
{
	return append(path, line, LOCK_EX | LOCK_NB);
}

struct record {
	struct record *next;
	char line[];
};

/* how often a writer tries again while someone else holds the ledger's lock */
#define LOCKED_RETRY_MS 50

struct cell_ledger_writer {
	char *path;
	int retry_ms, finish_ms;
	long give_up; /* ms, monotonic: once stopping, when what is queued is given up */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* a record queued, or stop */
	struct record *head, **tail;
	size_t queued;
	bool stop;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits on w->wake (w->lock held) for up to ms, or until woken. */
static void wait_ms(struct cell_ledger_writer *w, int ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&w->wake, &w->lock, &until);
}

static void *writer_main(void *data)
{
	struct cell_ledger_writer *w = data;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct record *rec = w->head;
		int r;

		if (!rec) {
			if (w->stop)
				break;
			pthread_cond_wait(&w->wake, &w->lock);
			continue;
		}
		/* the record stays queued (and counted) until it is in the ledger */
		pthread_mutex_unlock(&w->lock);
		r = cell_ledger_try_append(w->path, rec->line);
		pthread_mutex_lock(&w->lock);
		if (r >= 0) {
			w->head = rec->next;
			if (!w->head)
				w->tail = &w->head;
			w->queued--;
			free(rec);
			continue;
		}
		if (w->stop && now_ms() >= w->give_up)
			break;
		wait_ms(w, r == -EWOULDBLOCK || w->stop ? LOCKED_RETRY_MS : w->retry_ms);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int cell_ledger_writer_new(const char *path, int retry_ms, int finish_ms,
			   struct cell_ledger_writer **ret)
{
	struct cell_ledger_writer *w = calloc(1, sizeof(*w));
	pthread_condattr_t attr;
	sigset_t all, old;
	int r;

	if (!w)
		return -ENOMEM;
	w->path = strdup(path);
	if (!w->path) {
		free(w);
		return -ENOMEM;
	}
	w->retry_ms = retry_ms > 0 ? retry_ms : 1000;
	w->finish_ms = finish_ms;
	w->tail = &w->head;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &attr);
	pthread_condattr_destroy(&attr);
	/* the thread starts with every signal blocked: they are the caller's to take */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		free(w->path);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int cell_ledger_writer_add(struct cell_ledger_writer *w, const char *line)
{
	size_t len = strlen(line);
	struct record *rec;

	if (memchr(line, '\n', len))
		return -EINVAL;
	rec = malloc(sizeof(*rec) + len + 1);
	if (!rec)
		return -ENOMEM;
	rec->next = NULL;
	memcpy(rec->line, line, len + 1);
	pthread_mutex_lock(&w->lock);
	if (w->queued >= CELL_LEDGER_QUEUE_MAX) {
		pthread_mutex_unlock(&w->lock);
		free(rec);
		return -EAGAIN;
	}
	*w->tail = rec;
	w->tail = &rec->next;
	w->queued++;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

size_t cell_ledger_writer_free(struct cell_ledger_writer *w)
{
	size_t lost;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	w->give_up = now_ms() + w->finish_ms;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	lost = w->queued;
	while (w->head) {
		struct record *rec = w->head;

		w->head = rec->next;
		free(rec);
	}
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w->path);
	free(w);
	return lost;
}

/* The "end" of the first whole line at or after off (0 when there is none, or it has none). */
static int64_t end_after(int fd, uint64_t off, uint64_t size, uint64_t *ret_line)
{
	char buf[8192];
	ssize_t n;
	char *nl, *end;

	if (off > 0) {
		/* (the line that off falls in belongs to the search before it) */
		n = pread(fd, buf, sizeof(buf) - 1, (off_t)off - 1);
		if (n <= 0)
			return 0;
		buf[n] = '\0';
		nl = memchr(buf, '\n', (size_t)n);
		if (!nl)
			return 0;
		off += (uint64_t)(nl - buf);
	}
	if (off >= size)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, (off_t)off);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	*ret_line = off;
	end = strstr(buf, "\"end\":");
	nl = memchr(buf, '\n', (size_t)n);
	return end && (!nl || end < nl) ? strtoll(end + 6, NULL, 10) : 0;
}

int cell_ledger_seek(const char *path, int64_t since, uint64_t *ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint64_t lo = 0, hi, line = 0;
	struct stat st;

	if (fd < 0)
		return errno == ENOENT ? (*ret = 0, 0) : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	hi = (uint64_t)st.st_size;
	/* records are appended about in the order they end (a writer waits for the lock some
	 * seconds at most): an hour's margin, then the first line ending before it */
	while (hi - lo > 8192) {
		uint64_t mid = lo + (hi - lo) / 2;
		int64_t end = end_after(fd, mid, (uint64_t)st.st_size, &line);

		if (end && end < since - 3600)
			lo = mid;
		else
			hi = mid;
	}
	line = 0;
	if (lo > 0)
		(void)end_after(fd, lo, (uint64_t)st.st_size, &line);
	*ret = line;
	return 0;
}

int cell_ledger_read_from(const char *path, uint64_t *offset, bool wait,
			  int (*fn)(const char *line, size_t len, void *data), void *data)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t done = 0;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno != ENOENT ? negative_errno() : *offset ? -ESTALE : 0;
	/* (a writer holds the lock for a line and its fdatasync: without wait, the caller tries
	 * again later) */
	r = lock(fd, wait ? LOCK_SH : LOCK_SH | LOCK_NB);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if ((uint64_t)st.st_size < *offset)
		return -ESTALE;
	if ((uint64_t)st.st_size - *offset > LEDGER_MAX)
		return -EFBIG;
	if (lseek(fd, (off_t)*offset, SEEK_SET) < 0)
		return negative_errno();
	r = cell_read_full_fd(fd, LEDGER_MAX, &text, &done);
	if (r < 0)
		return r;
	/* up to the last complete line: a record being written is read next time */
	for (char *p = text, *nl; (nl = memchr(p, '\n', done - (size_t)(p - text))); p = nl + 1) {
		*offset += (uint64_t)(nl + 1 - p);
		if (nl == p)
			continue;
		r = fn(p, (size_t)(nl - p), data);
		if (r != 0)
			return r;
	}
	return 0;
}

int cell_ledger_read(const char *path, int (*fn)(const char *line, size_t len, void *data),
		     void *data)
{
	uint64_t offset = 0;

	return cell_ledger_read_from(path, &offset, true, fn, data);
}

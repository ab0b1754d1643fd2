/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "netpolicy.h"
#include "resolver.h"

struct job {
	struct job *next;
	char host[CELL_HOST_MAX + 1];
	char port[8];
	struct cell_resolved res;
};

struct cell_resolver {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *todo, *todo_tail, *done;
	bool stop;
	int efd;
	pthread_t *threads;
	unsigned n_threads, max_threads, idle;
};

static void lookup(struct job *j)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG};
	struct addrinfo *ai = NULL;

	j->res.gai_error = getaddrinfo(j->host, j->port, &hints, &ai);
	for (struct addrinfo *a = ai; a && j->res.n < CELL_RESOLVE_MAX_ADDRS; a = a->ai_next) {
		if (a->ai_addrlen > sizeof(j->res.addrs[0]))
			continue;
		memcpy(&j->res.addrs[j->res.n], a->ai_addr, a->ai_addrlen);
		j->res.lens[j->res.n++] = a->ai_addrlen;
	}
	if (ai)
		freeaddrinfo(ai);
}

static void *worker(void *arg)
{
	struct cell_resolver *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct job *j;
		uint64_t one = 1;

		r->idle++;
		while (!r->todo && !r->stop)
			pthread_cond_wait(&r->wake, &r->lock);
		r->idle--;
		if (r->stop && !r->todo)
			break;
		j = r->todo;
		r->todo = j->next;
		if (!r->todo)
			r->todo_tail = NULL;
		pthread_mutex_unlock(&r->lock);
		lookup(j);
		pthread_mutex_lock(&r->lock);
		j->next = r->done;
		r->done = j;
		(void)!write(r->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int cell_resolver_new(unsigned threads, unsigned max_threads, struct cell_resolver **ret)
{
	struct cell_resolver *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		int e = negative_errno();

		cell_resolver_free(r);
		return e;
	}
	r->max_threads = max_threads > threads ? max_threads : threads;
	r->threads = calloc(r->max_threads, sizeof(*r->threads));
	if (!r->threads) {
		cell_resolver_free(r);
		return -ENOMEM;
	}
	for (; r->n_threads < threads; r->n_threads++)
		if (pthread_create(&r->threads[r->n_threads], NULL, worker, r) != 0) {
			cell_resolver_free(r);
			return -EAGAIN;
		}
	*ret = r;
	return 0;
}

static void free_jobs(struct job *j)
{
	while (j) {
		struct job *next = j->next;

		free(j);
		j = next;
	}
}

void cell_resolver_free(struct cell_resolver *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	free_jobs(r->todo);
	r->todo = r->todo_tail = NULL;
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < r->n_threads; i++)
		pthread_join(r->threads[i], NULL);
	free_jobs(r->done);
	free(r->threads);
	if (r->efd >= 0)
		close(r->efd);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int cell_resolver_fd(const struct cell_resolver *r)
{
	return r->efd;
}

int cell_resolver_submit(struct cell_resolver *r, uint64_t id, const char *host, uint16_t port)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	if (strlen(host) > CELL_HOST_MAX) {
		free(j);
		return -EINVAL;
	}
	j->res.id = id;
	strcpy(j->host, host);
	snprintf(j->port, sizeof(j->port), "%u", port);
	pthread_mutex_lock(&r->lock);
	if (r->todo_tail)
		r->todo_tail->next = j;
	else
		r->todo = j;
	r->todo_tail = j;
	/* every worker busy (slow lookups): one more, up to the limit */
	if (r->idle == 0 && r->n_threads < r->max_threads &&
	    pthread_create(&r->threads[r->n_threads], NULL, worker, r) == 0)
		r->n_threads++;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void cell_resolver_drain(struct cell_resolver *r,
			 void (*fn)(const struct cell_resolved *res, void *data), void *data)
{
	struct job *done;
	uint64_t count;

	(void)!read(r->efd, &count, sizeof(count));
	pthread_mutex_lock(&r->lock);
	done = r->done;
	r->done = NULL;
	pthread_mutex_unlock(&r->lock);
	while (done) {
		struct job *next = done->next;

		fn(&done->res, data);
		free(done);
		done = next;
	}
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "macro.h"

struct cell_event_loop {
	int epfd;
	bool quit;
	long now; /* ms, monotonic: read once a round, after the wait, not once an event */
};

static long clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int cell_event_loop_new(struct cell_event_loop **ret)
{
	struct cell_event_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = negative_errno();

		free(l);
		return r;
	}
	l->now = clock_ms();
	*ret = l;
	return 0;
}

void cell_event_loop_free(struct cell_event_loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l);
}

int cell_event_watch(struct cell_event_loop *l, struct cell_event_source *s, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = s};

	if (events == s->events && (s->watched || events == 0))
		return 0;
	if (epoll_ctl(l->epfd, s->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return negative_errno();
	s->watched = true;
	s->events = events;
	return 0;
}

int cell_event_unwatch(struct cell_event_loop *l, struct cell_event_source *s)
{
	if (!s->watched)
		return 0;
	s->watched = false;
	s->events = 0;
	return epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL) < 0 ? negative_errno() : 0;
}

void cell_event_close(struct cell_event_source *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->watched = false;
	s->events = 0;
}

void cell_event_loop_quit(struct cell_event_loop *l)
{
	l->quit = true;
}

long cell_event_now(const struct cell_event_loop *l)
{
	return l->now;
}

int cell_event_loop_run(struct cell_event_loop *l, int tick_ms, void (*tick)(void *data),
			void *data)
{
	struct epoll_event evs[64];
	long next_tick;

	l->now = clock_ms();
	next_tick = l->now + tick_ms;
	while (!l->quit) {
		long wait = next_tick - l->now;
		int n = epoll_wait(l->epfd, evs, (int)ELEMENTSOF(evs), wait > 0 ? (int)wait : 0);

		if (n < 0 && errno != EINTR)
			return negative_errno();
		l->now = clock_ms();
		for (int i = 0; i < n && !l->quit; i++) {
			struct cell_event_source *s = evs[i].data.ptr;

			s->on_event(s, evs[i].events);
		}
		if (l->now >= next_tick) {
			next_tick = l->now + tick_ms;
			if (tick)
				tick(data);
		}
	}
	return 0;
}

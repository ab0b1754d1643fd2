/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * A small epoll loop: one callback type for I/O, one periodic tick for timers (deadlines are
 * checked by the owner on each tick; a coarse tick is enough for timeouts counted in seconds).
 * Level-triggered: a callback that leaves data unread is called again.
 */
struct cell_event_loop;

struct cell_event_source {
	int fd;
	void (*on_event)(struct cell_event_source *s, uint32_t events);
	/* the loop's: whether epoll has the fd, and for what (so no-op changes cost nothing) */
	bool watched;
	uint32_t events;
};

int cell_event_loop_new(struct cell_event_loop **ret);
void cell_event_loop_free(struct cell_event_loop *l);
/* Watches s->fd for events (EPOLLIN, EPOLLOUT); again with other events: modifies. */
int cell_event_watch(struct cell_event_loop *l, struct cell_event_source *s, uint32_t events);
int cell_event_unwatch(struct cell_event_loop *l, struct cell_event_source *s);
/* Closes s->fd, which takes it out of the loop too (cell never duplicates a watched fd). */
void cell_event_close(struct cell_event_source *s);
/* Runs until cell_event_loop_quit(); tick runs every tick_ms. */
int cell_event_loop_run(struct cell_event_loop *l, int tick_ms, void (*tick)(void *data),
			void *data);
void cell_event_loop_quit(struct cell_event_loop *l);
/* The loop's clock (ms, monotonic), read after each wait: "now" for callbacks and the tick. */
long cell_event_now(const struct cell_event_loop *l);

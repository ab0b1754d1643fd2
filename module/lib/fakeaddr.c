/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fakeaddr.h"
#include "macro.h"

#define V4_BASE 0xC6120000u /* 198.18.0.0 */
#define NONE UINT32_MAX
#define NAME_MAX_LEN 253

/* 2001:2::/48: the first six bytes */
static const uint8_t v6_prefix[6] = {0x20, 0x01, 0x00, 0x02, 0x00, 0x00};

void cell_fakeaddr_v4(uint32_t index, struct in_addr *ret)
{
	ret->s_addr = htonl(V4_BASE + 1 + index);
}

void cell_fakeaddr_v6(uint32_t index, struct in6_addr *ret)
{
	uint32_t low = htonl(1 + index);

	memset(ret, 0, sizeof(*ret));
	memcpy(ret->s6_addr, v6_prefix, sizeof(v6_prefix));
	memcpy(ret->s6_addr + 12, &low, sizeof(low));
}

static bool index_of(uint32_t offset, uint32_t *ret)
{
	if (offset == 0 || offset > CELL_FAKEADDR_MAX)
		return false;
	*ret = offset - 1;
	return true;
}

bool cell_fakeaddr_index_v4(const struct in_addr *a, uint32_t *ret)
{
	uint32_t h = ntohl(a->s_addr);

	return (h & 0xFFFE0000u) == V4_BASE && index_of(h - V4_BASE, ret);
}

bool cell_fakeaddr_index_v6(const struct in6_addr *a, uint32_t *ret)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	uint32_t low;

	memcpy(&low, a->s6_addr + 12, sizeof(low));
	if (!memcmp(a->s6_addr, mapped, sizeof(mapped))) {
		struct in_addr v4 = {low};

		return cell_fakeaddr_index_v4(&v4, ret);
	}
	for (size_t i = sizeof(v6_prefix); i < 12; i++)
		if (a->s6_addr[i])
			return false;
	return !memcmp(a->s6_addr, v6_prefix, sizeof(v6_prefix)) && index_of(ntohl(low), ret);
}

bool cell_fakeaddr_parse(const char *text, uint32_t *ret)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, text, &a4) == 1)
		return cell_fakeaddr_index_v4(&a4, ret);
	return inet_pton(AF_INET6, text, &a6) == 1 && cell_fakeaddr_index_v6(&a6, ret);
}

struct entry {
	char *name; /* NULL: free */
	uint64_t hash;
	uint32_t prev, next; /* in the use order, most recent first */
};

struct cell_fakeaddr {
	struct entry *entries;
	size_t capacity, used;
	uint32_t *slots; /* open addressing, linear probing: index + 1, 0 empty */
	size_t n_slots;	 /* a power of two, at least twice capacity */
	uint32_t newest, oldest;
};

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

int cell_fakeaddr_new(size_t capacity, struct cell_fakeaddr **ret)
{
	struct cell_fakeaddr *t;

	if (capacity == 0 || capacity > CELL_FAKEADDR_MAX)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->capacity = capacity;
	t->n_slots = 16;
	while (t->n_slots < 2 * capacity)
		t->n_slots *= 2;
	t->entries = calloc(capacity, sizeof(*t->entries));
	t->slots = calloc(t->n_slots, sizeof(*t->slots));
	t->newest = t->oldest = NONE;
	if (!t->entries || !t->slots) {
		cell_fakeaddr_free(t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

void cell_fakeaddr_free(struct cell_fakeaddr *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->entries && i < t->used; i++)
		free(t->entries[i].name);
	free(t->entries);
	free(t->slots);
	free(t);
}

size_t cell_fakeaddr_count(const struct cell_fakeaddr *t)
{
	return t->used;
}

static void unlink_entry(struct cell_fakeaddr *t, uint32_t i)
{
	struct entry *e = &t->entries[i];

	if (e->prev != NONE)
		t->entries[e->prev].next = e->next;
	else
		t->newest = e->next;
	if (e->next != NONE)
		t->entries[e->next].prev = e->prev;
	else
		t->oldest = e->prev;
}

/* Makes entry i the most recently used. */
static void touch(struct cell_fakeaddr *t, uint32_t i)
{
	struct entry *e = &t->entries[i];

	if (t->newest == i)
		return;
	if (e->prev != NONE || e->next != NONE || t->oldest == i)
		unlink_entry(t, i);
	e->prev = NONE;
	e->next = t->newest;
	if (t->newest != NONE)
		t->entries[t->newest].prev = i;
	t->newest = i;
	if (t->oldest == NONE)
		t->oldest = i;
}

/* The slot that holds name, or the empty one where it would go. */
static size_t find_slot(const struct cell_fakeaddr *t, const char *name, uint64_t h)
{
	size_t mask = t->n_slots - 1, s = (size_t)h & mask;

	while (t->slots[s]) {
		const struct entry *e = &t->entries[t->slots[s] - 1];

		if (e->hash == h && streq(e->name, name))
			break;
		s = (s + 1) & mask;
	}
	return s;
}

/* Takes the entry in slot s out, moving later entries of its run back (no tombstones). */
static void remove_slot(struct cell_fakeaddr *t, size_t s)
{
	size_t mask = t->n_slots - 1, next = (s + 1) & mask;

	t->slots[s] = 0;
	for (; t->slots[next]; next = (next + 1) & mask) {
		size_t home = (size_t)t->entries[t->slots[next] - 1].hash & mask;

		/* moves back into the hole unless its home lies after the hole, up to next */
		if ((next > s && (home <= s || home > next)) ||
		    (next < s && (home <= s && home > next))) {
			t->slots[s] = t->slots[next];
			t->slots[next] = 0;
			s = next;
		}
	}
}

int cell_fakeaddr_get(struct cell_fakeaddr *t, const char *name, uint32_t *ret)
{
	uint64_t h;
	uint32_t i;
	char *copy;
	size_t s;

	if (!*name || strlen(name) > NAME_MAX_LEN)
		return -EINVAL;
	h = hash_name(name);
	s = find_slot(t, name, h);
	if (t->slots[s]) {
		i = t->slots[s] - 1;
		touch(t, i);
		*ret = i;
		return 0;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	if (t->used < t->capacity) {
		i = (uint32_t)t->used++;
		t->entries[i].prev = t->entries[i].next = NONE;
	} else {
		/* full: the least recently used name gives its index up */
		i = t->oldest;
		remove_slot(t, find_slot(t, t->entries[i].name, t->entries[i].hash));
		free(t->entries[i].name);
		s = find_slot(t, name, h);
	}
	t->entries[i].name = copy;
	t->entries[i].hash = h;
	t->slots[s] = i + 1;
	touch(t, i);
	*ret = i;
	return 0;
}

const char *cell_fakeaddr_name(struct cell_fakeaddr *t, uint32_t index)
{
	if (index >= t->used || !t->entries[index].name)
		return NULL;
	touch(t, index);
	return t->entries[index].name;
}

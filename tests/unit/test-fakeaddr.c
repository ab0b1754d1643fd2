/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeaddr.h"

static char *text4(uint32_t index)
{
	static char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	cell_fakeaddr_v4(index, &a);
	return (char *)inet_ntop(AF_INET, &a, buf, sizeof(buf));
}

static char *text6(uint32_t index)
{
	static char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;

	cell_fakeaddr_v6(index, &a);
	return (char *)inet_ntop(AF_INET6, &a, buf, sizeof(buf));
}

Test(fakeaddr, the_ranges_are_the_benchmarking_ones_without_their_first_address)
{
	cr_assert(eq(str, text4(0), "198.18.0.1"));
	cr_assert(eq(str, text6(0), "2001:2::1"));
	cr_assert(eq(str, text4(255), "198.18.1.0"));
	cr_assert(eq(str, text4(CELL_FAKEADDR_MAX - 1), "198.19.255.254"));
	cr_assert(eq(str, text6(CELL_FAKEADDR_MAX - 1), "2001:2::1:fffe"));
}

Test(fakeaddr, fake_addresses_parse_back_to_their_index)
{
	const char *yes[][2] = {{"198.18.0.1", "0"},	    {"198.19.255.254", "131069"},
				{"2001:2::1", "0"},	    {"2001:2::1:fffe", "131069"},
				{"::ffff:198.18.0.9", "8"}, {"198.18.1.0", "255"}};
	const char *no[] = {"198.18.0.0", "198.19.255.255", "198.17.255.255",
			    "198.20.0.1", "2001:2::",	    "2001:2::2:0",
			    "2001:3::1",  "2001:2:0:1::1",  "::ffff:198.17.0.1",
			    "127.0.0.1",  "example.com",    ""};
	uint32_t i;

	for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
		cr_assert(cell_fakeaddr_parse(yes[k][0], &i), "%s", yes[k][0]);
		cr_assert(eq(u32, i, (uint32_t)strtoul(yes[k][1], NULL, 10)), "%s", yes[k][0]);
	}
	for (size_t k = 0; k < sizeof(no) / sizeof(no[0]); k++)
		cr_assert(not(cell_fakeaddr_parse(no[k], &i)), "%s", no[k]);
}

Test(fakeaddr, a_name_keeps_its_index_and_names_get_their_own)
{
	struct cell_fakeaddr *t;
	uint32_t a, b, again;

	cr_assert(eq(int, cell_fakeaddr_new(100, &t), 0));
	cr_assert(eq(int, cell_fakeaddr_get(t, "registry.npmjs.org", &a), 0));
	cr_assert(eq(int, cell_fakeaddr_get(t, "pypi.org", &b), 0));
	cr_assert(eq(int, cell_fakeaddr_get(t, "registry.npmjs.org", &again), 0));
	cr_assert(eq(u32, a, again));
	cr_assert(not(eq(u32, a, b)));
	cr_assert(eq(str, (char *)cell_fakeaddr_name(t, a), "registry.npmjs.org"));
	cr_assert(eq(str, (char *)cell_fakeaddr_name(t, b), "pypi.org"));
	cr_assert(eq(ptr, (void *)cell_fakeaddr_name(t, 2), NULL));
	cr_assert(eq(sz, cell_fakeaddr_count(t), 2));
	cell_fakeaddr_free(t);
}

Test(fakeaddr, bad_names_and_sizes_are_refused)
{
	struct cell_fakeaddr *t;
	char long_name[300];
	uint32_t i;

	cr_assert(eq(int, cell_fakeaddr_new(0, &t), -EINVAL));
	cr_assert(eq(int, cell_fakeaddr_new(CELL_FAKEADDR_MAX + 1, &t), -EINVAL));
	cr_assert(eq(int, cell_fakeaddr_new(4, &t), 0));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	cr_assert(eq(int, cell_fakeaddr_get(t, "", &i), -EINVAL));
	cr_assert(eq(int, cell_fakeaddr_get(t, long_name, &i), -EINVAL));
	cr_assert(eq(sz, cell_fakeaddr_count(t), 0));
	cell_fakeaddr_free(t);
}

Test(fakeaddr, when_full_the_least_recently_used_name_gives_its_index_up)
{
	struct cell_fakeaddr *t;
	uint32_t a, b, c, d, i;

	cr_assert(eq(int, cell_fakeaddr_new(3, &t), 0));
	cr_assert(eq(int, cell_fakeaddr_get(t, "a.test", &a), 0));
	cr_assert(eq(int, cell_fakeaddr_get(t, "b.test", &b), 0));
	cr_assert(eq(int, cell_fakeaddr_get(t, "c.test", &c), 0));
	/* a is used again (a connect to its address): b is now the oldest */
	cr_assert(eq(str, (char *)cell_fakeaddr_name(t, a), "a.test"));
	cr_assert(eq(int, cell_fakeaddr_get(t, "d.test", &d), 0));
	cr_assert(eq(u32, d, b));
	cr_assert(eq(str, (char *)cell_fakeaddr_name(t, b), "d.test"));
	cr_assert(eq(sz, cell_fakeaddr_count(t), 3));
	/* the others keep theirs; b comes back as a new name, in c's place */
	cr_assert(eq(int, cell_fakeaddr_get(t, "a.test", &i), 0));
	cr_assert(eq(u32, i, a));
	cr_assert(eq(int, cell_fakeaddr_get(t, "b.test", &i), 0));
	cr_assert(eq(u32, i, c));
	cell_fakeaddr_free(t);
}

Test(fakeaddr, many_names_through_a_small_table_stay_consistent)
{
	enum { CAP = 257, NAMES = 5000 };
	static uint32_t index_of[NAMES];
	struct cell_fakeaddr *t;
	char name[32];

	cr_assert(eq(int, cell_fakeaddr_new(CAP, &t), 0));
	for (int n = 0; n < NAMES; n++) {
		snprintf(name, sizeof(name), "host%d.test", n);
		cr_assert(eq(int, cell_fakeaddr_get(t, name, &index_of[n]), 0));
		cr_assert(lt(u32, index_of[n], CAP));
		/* the CAP most recent names are all still there, each at its own index (looked at
		 * oldest first, which keeps the order of use the order of insertion) */
		if (n % 97 == 0)
			for (int k = n >= CAP - 1 ? n - CAP + 1 : 0; k <= n; k++) {
				snprintf(name, sizeof(name), "host%d.test", k);
				cr_assert(eq(str, (char *)cell_fakeaddr_name(t, index_of[k]), name),
					  "name %d at %u after %d", k, index_of[k], n);
			}
	}
	cr_assert(eq(sz, cell_fakeaddr_count(t), CAP));
	cell_fakeaddr_free(t);
}

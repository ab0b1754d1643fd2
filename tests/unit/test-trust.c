/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash.h"
#include "helpers.h"
#include "trust.h"

static char *tmp, *allow_dir;

static void setup(void)
{
	tmp = th_mkdtemp();
	allow_dir = th_join(tmp, "data/cell/allow");
}

static void teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
	free(allow_dir);
}

TestSuite(trust, .init = setup, .fini = teardown);

static struct cell_project *find(const char *rel)
{
	struct cell_project *p = NULL;
	char *dir = th_join(tmp, rel);

	cr_assert(eq(int, cell_project_find(dir, &p, NULL), 0), "no project in %s", dir);
	free(dir);
	return p;
}

static bool trusted(const char *rel)
{
	struct cell_project *p = find(rel);
	bool t = true;

	cr_assert(eq(int, cell_trust_check(allow_dir, p, &t), 0));
	cell_project_free(p);
	return t;
}

static size_t records(void)
{
	return th_count_entries(allow_dir);
}

Test(trust, sha256_is_the_real_thing)
{
	struct cell_hash_piece abc[] = {{"a", 1}, {"bc", 2}};
	char hex[CELL_SHA256_HEX_LEN + 1];

	/* FIPS 180-2, appendix B.1 */
	cr_assert(eq(int, cell_sha256_hex(abc, 2, hex), 0));
	cr_assert(eq(str, hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

Test(trust, hash_covers_path_and_bytes)
{
	struct cell_project p = {.root = (char *)"/p",
				 .config_path = (char *)"/p/.cell.json",
				 .text = (char *)"{}",
				 .len = 2};
	char hex[CELL_SHA256_HEX_LEN + 1];

	/* printf '/p/.cell.json\0{}' | sha256sum */
	cr_assert(eq(int, cell_trust_hash(&p, hex), 0));
	cr_assert(eq(str, hex, "a6a1155f48d3dc57240c16e0910bf8fafc8abd2b718d54eaab35dae10d01c91d"));
}

Test(trust, allow_then_trusted)
{
	struct cell_project *p;
	struct stat st;

	free(th_write(tmp, "proj/.cell.json", "{\"name\": \"proj\"}"));
	cr_assert(not(trusted("proj")));
	p = find("proj");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cell_project_free(p);
	cr_assert(trusted("proj"));
	/* the allow directory is private to the user */
	cr_assert(eq(int, stat(allow_dir, &st), 0));
	cr_assert(eq(u32, st.st_mode & 0777, 0700));
}

Test(trust, editing_one_byte_untrusts)
{
	struct cell_project *p;

	free(th_write(tmp, "proj/.cell.json", "{\"name\": \"proj\"}"));
	p = find("proj");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cell_project_free(p);
	free(th_write(tmp, "proj/.cell.json", "{\"name\": \"proK\"}"));
	cr_assert(not(trusted("proj")));
	/* and back to the allowed bytes: trusted again, as in direnv */
	free(th_write(tmp, "proj/.cell.json", "{\"name\": \"proj\"}"));
	cr_assert(trusted("proj"));
}

Test(trust, deny_untrusts_every_record_of_the_path)
{
	struct cell_project *p;
	unsigned removed = 0;

	free(th_write(tmp, "proj/.cell.json", "{}"));
	p = find("proj");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cr_assert(eq(int, cell_trust_deny(allow_dir, p->config_path, &removed), 0));
	cr_assert(eq(u32, removed, 1));
	cr_assert(not(trusted("proj")));
	cr_assert(eq(int, cell_trust_deny(allow_dir, p->config_path, &removed), 0));
	cr_assert(eq(u32, removed, 0));
	cell_project_free(p);
}

Test(trust, same_bytes_at_another_path_are_not_trusted)
{
	struct cell_project *p;

	free(th_write(tmp, "a/.cell.json", "{}"));
	free(th_write(tmp, "b/.cell.json", "{}"));
	p = find("a");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cell_project_free(p);
	cr_assert(trusted("a"));
	cr_assert(not(trusted("b")));
}

Test(trust, moving_the_project_untrusts)
{
	struct cell_project *p;
	char *from = th_join(tmp, "a"), *to = th_join(tmp, "moved");

	free(th_write(tmp, "a/.cell.json", "{}"));
	p = find("a");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cell_project_free(p);
	cr_assert(eq(int, rename(from, to), 0));
	cr_assert(not(trusted("moved")));
	free(from);
	free(to);
}

Test(trust, reallow_replaces_the_old_record)
{
	struct cell_project *p;

	free(th_write(tmp, "a/.cell.json", "{}"));
	free(th_write(tmp, "b/.cell.json", "{}"));
	p = find("a");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cell_project_free(p);
	p = find("b");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cell_project_free(p);
	free(th_write(tmp, "a/.cell.json", "{ }"));
	p = find("a");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cell_project_free(p);
	/* a's old record went, b's stays */
	cr_assert(eq(sz, records(), 2));
	cr_assert(trusted("a"));
	cr_assert(trusted("b"));
}

Test(trust, deny_without_allow_dir_is_fine)
{
	unsigned removed = 7;

	cr_assert(eq(int, cell_trust_deny(allow_dir, "/x/.cell.json", &removed), 0));
	cr_assert(eq(u32, removed, 0));
}

/* What a provider evaluates outside the cell is trusted with the config. */
Test(trust, a_provider_input_that_changes_or_appears_needs_allow_again)
{
	struct cell_project *p;

	free(th_write(tmp, "proj/.cell.json", "{\"name\": \"proj\"}"));
	free(th_write(tmp, "proj/flake.nix", "{ outputs = { self }: { }; }\n"));
	p = find("proj");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cell_project_free(p);
	cr_assert(trusted("proj"));
	free(th_write(tmp, "proj/flake.nix", "{ outputs = { self }: { x = 1; }; }\n"));
	cr_assert(not(trusted("proj")));
	p = find("proj");
	cr_assert(eq(int, cell_trust_allow(allow_dir, p), 0));
	cell_project_free(p);
	cr_assert(trusted("proj"));
	free(th_write(tmp, "proj/.envrc", "export A=1\n"));
	cr_assert(not(trusted("proj")));
	/* a FIFO in its place is not waited for: it is simply not trusted */
	{
		char *envrc = th_join(tmp, "proj/.envrc");

		cr_assert(eq(int, unlink(envrc), 0));
		cr_assert(eq(int, mkfifo(envrc, 0600), 0));
		cr_assert(not(trusted("proj")));
		free(envrc);
	}
}
